"""A tiny XLM-RoBERTa encoder folder as users have it: a SentencePiece ``sentencepiece.bpe.model``.

tests/modeling/test_encoder_families.py builds XLM-R's tokenizer with the ``tokenizers``
library alone (``tokenizer.json`` only). A real XLM-R checkpoint also ships the binary
SentencePiece model, and with the ``sentencepiece`` package installed transformers copies it
whenever the tokenizer is saved. Here a unigram SentencePiece model is trained at test time on
the toy corpus and WNUT-17's dev words (a few seconds), and put beside a tiny
``XLMRobertaConfig`` (hidden 32, 2 layers), as :func:`tests.conftest.write_tiny_encoder` does for BERT.
"""

from __future__ import annotations

import io
from pathlib import Path

from tests.conftest import TRAIN
from tfner.data.datasets import wnut17_path

SENTENCEPIECE_FILE = "sentencepiece.bpe.model"


def _texts() -> list[str]:
    words = [line.split("\t")[0] for line in wnut17_path("dev").read_text(encoding="utf-8").splitlines()
             if line.strip()]
    toy = [" ".join(w) for w, _ in TRAIN]
    return [" ".join(words[i:i + 20]) for i in range(0, len(words), 20)] + toy * 20


def write_tiny_xlmr(path: Path, vocab_size: int = 200) -> str:
    """A Hugging Face folder with a tiny random XLM-R: SentencePiece model, fast tokenizer, config."""
    import sentencepiece as spm
    from transformers import XLMRobertaConfig, XLMRobertaTokenizerFast

    path.mkdir(parents=True, exist_ok=True)
    model = io.BytesIO()
    # XLM-R's layout: SentencePiece's <unk>=0, <s>=1, </s>=2; transformers adds <pad> and <mask> around them
    spm.SentencePieceTrainer.train(sentence_iterator=iter(_texts()), model_writer=model, vocab_size=vocab_size,
                                   model_type="unigram", character_coverage=1.0, hard_vocab_limit=False,
                                   unk_id=0, bos_id=1, eos_id=2, pad_id=-1, num_threads=1, minloglevel=2)
    (path / SENTENCEPIECE_FILE).write_bytes(model.getvalue())
    tokenizer = XLMRobertaTokenizerFast(vocab_file=str(path / SENTENCEPIECE_FILE))
    tokenizer.save_pretrained(path)  # tokenizer.json, the configs, and the SentencePiece model again
    XLMRobertaConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=64, pad_token_id=1, bos_token_id=0,
                     eos_token_id=2).save_pretrained(path)
    return str(path)
