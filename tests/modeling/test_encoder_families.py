"""Other encoder families through TFAutoModelForTokenClassification: DistilBERT, ELECTRA (WordPiece),
RoBERTa (byte-level BPE) and XLM-RoBERTa (Unigram), offline: tiny random configs, and tokenizers
trained here with the `tokenizers` library on the shipped WNUT-17 text (and the toy corpus's words)."""

from __future__ import annotations

import pytest

import tfner
from tests.conftest import DEV, TINY_OPTIONS, TRAIN
from tfner.data.datasets import wnut17_path
from tfner.data.words import split_words


def _texts():
    words = [line.split("\t")[0] for line in wnut17_path("train").read_text(encoding="utf-8").splitlines()
             if line.strip()]
    toy = [" ".join(w) for w, _ in TRAIN]
    return [" ".join(words[i:i + 20]) for i in range(0, len(words), 20)] + toy * 20


def _write(family, path):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import (
        DistilBertConfig,
        DistilBertTokenizerFast,
        ElectraConfig,
        ElectraTokenizerFast,
        RobertaConfig,
        RobertaTokenizerFast,
        XLMRobertaConfig,
        XLMRobertaTokenizerFast,
    )

    tiny = dict(num_attention_heads=2, max_position_embeddings=64)
    if family in ("distilbert", "electra"):
        specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.normalizer = normalizers.BertNormalizer(lowercase=True)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece()
        tok.train_from_iterator(_texts(), trainers.WordPieceTrainer(vocab_size=600, special_tokens=specials))
        cls = DistilBertTokenizerFast if family == "distilbert" else ElectraTokenizerFast
        fast = cls(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                   sep_token="[SEP]", mask_token="[MASK]")
        config = DistilBertConfig(vocab_size=tok.get_vocab_size(), dim=32, n_layers=2, n_heads=2, hidden_dim=64,
                                  max_position_embeddings=64) if family == "distilbert" else \
            ElectraConfig(vocab_size=tok.get_vocab_size(), embedding_size=32, hidden_size=32, num_hidden_layers=2,
                          intermediate_size=64, **tiny)
    elif family == "roberta":
        specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
        tok = Tokenizer(models.BPE(unk_token="<unk>"))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        tok.train_from_iterator(_texts(), trainers.BpeTrainer(
            vocab_size=600, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
        fast = RobertaTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", cls_token="<s>",
                                    sep_token="</s>", pad_token="<pad>", unk_token="<unk>", mask_token="<mask>")
        config = RobertaConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, num_hidden_layers=2,
                               intermediate_size=64, pad_token_id=1, bos_token_id=0, eos_token_id=2, **tiny)
    else:
        specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
        tok = Tokenizer(models.Unigram())
        tok.normalizer = normalizers.NFKC()
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        tok.decoder = decoders.Metaspace()
        tok.train_from_iterator(_texts(), trainers.UnigramTrainer(vocab_size=600, special_tokens=specials,
                                                                   unk_token="<unk>"))
        fast = XLMRobertaTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", cls_token="<s>",
                                       sep_token="</s>", pad_token="<pad>", unk_token="<unk>", mask_token="<mask>")
        config = XLMRobertaConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, num_hidden_layers=2,
                                  intermediate_size=64, pad_token_id=1, bos_token_id=0, eos_token_id=2, **tiny)
    fast.save_pretrained(path)
    config.save_pretrained(path)
    return str(path)


@pytest.mark.parametrize("family", ["distilbert", "electra", "roberta", "xlm-roberta"])
def test_family_trains_predicts_and_exports(family, tmp_path):
    enc = _write(family, tmp_path / family)
    tagger = tfner.fit(TRAIN, DEV, encoder=enc, verbose=0, **TINY_OPTIONS)
    assert type(tagger.model_).__name__.lower().startswith("tf" + family.replace("-", ""))
    assert tagger.history_["val_entity_f1"][-1] > 0.9
    texts = ["Alice flew to Paris.", "Carol met Bob in Rome !", ""]
    spans = tagger.predict(texts)
    for text, row in zip(texts, spans, strict=True):
        bounds = {b for _, s, e in split_words(text) for b in (s, e)}
        assert all(s.start in bounds and s.end in bounds and text[s.start:s.end] == s.text for s in row)
    assert [(s.text, s.label) for s in spans[0]] == [("Alice", "PER"), ("Paris", "LOC")]
    # predict and predict_tags agree on the words' tags
    assert tagger.predict_tags([["Alice", "flew", "to", "Paris", "."]]) == [["B-PER", "O", "O", "B-LOC", "O"]]
    served = tfner.load(tagger.export(tmp_path / "sm"))
    assert served.predict(texts) == spans
