"""tfner.tagging.inputs: where data errors point, read through the public fit/evaluate routes."""

from __future__ import annotations

import json

import pytest

import tfner
from tests.conftest import TINY_OPTIONS, TRAIN


def test_an_unseen_entity_type_in_jsonl_is_named_at_the_records_line(fitted, tmp_path):
    # record 1 is fine; record 2 (line 2 of the file) has ORG, which train never has, on its third word
    dev = tmp_path / "dev.jsonl"
    def spans(*triples):
        return [{"start": a, "end": b, "label": label} for a, b, label in triples]

    records = [{"text": "Alice flew to Paris", "spans": spans((0, 5, "PER"), (14, 19, "LOC"))},
               {"text": "Bob met Acme in Rome", "spans": spans((0, 3, "PER"), (8, 12, "ORG"), (16, 20, "LOC"))}]
    dev.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    with pytest.raises(tfner.DataFormatError, match=r"dev\.jsonl:2: .*'ORG'") as caught:
        fitted.evaluate(str(dev))
    assert "dev.jsonl:4" not in str(caught.value)  # not line + word index (word 2)


def test_an_unseen_entity_type_in_a_column_file_is_named_at_its_words_line(tiny_encoder, tmp_path):
    dev = tmp_path / "dev.conll"  # line 6: "Acme B-ORG", the second word of the second sentence
    dev.write_text("Alice B-PER\nflew O\nto O\nParis B-LOC\n\nBob B-PER\nAcme B-ORG\n", encoding="utf-8")
    with pytest.raises(tfner.DataFormatError, match=r"dev\.conll:7: .*'ORG'"):
        tfner.fit(TRAIN[:4], str(dev), encoder=tiny_encoder, verbose=0, **{**TINY_OPTIONS, "epochs": 1})


def test_packed_training_windows_hold_a_quarter_of_the_sentences_alone_and_dev_keeps_its_documents(tiny_encoder):
    import itertools

    from tfner.config import TaggerConfig
    from tfner.data.readers import Sentence
    from tfner.modeling.encoder import load_tokenizer
    from tfner.tagging import inputs

    words = ["Alice", "flew", "to", "Paris"]  # 4 one-piece words: 8 sentences (32 sub-words) fill 2 windows of 32
    train = [Sentence(words, ["B-PER", "O", "O", "B-LOC"], document=i // 8) for i in range(64)]  # 8 documents of 8
    cfg = TaggerConfig(context="packed", max_length=32, batch_size=4, learning_rate=1e-3, seed=2, sentences_alone=0.25)
    corpus = inputs.Corpus(train, train[:16], ["O", "B-LOC", "B-PER"], [], None)
    data = inputs.build_inputs(cfg, corpus, load_tokenizer(tiny_encoder), train)
    kept = inputs.alone(train, cfg)
    moved = [s for s in kept if s.document >= 8]
    assert len(moved) == 16 and len({s.document for s in moved}) == 16  # 0.25 of 64, a document each
    rest = [s for s in kept if s.document < 8]
    position = {id(s): i for i, s in enumerate(train)}
    assert len(rest) == 48 and [position[id(s)] for s in rest] == sorted(position[id(s)] for s in rest)  # in order
    assert data.labelled == 64 * 4  # every word labelled once, alone or packed
    runs = [len(list(g)) for _, g in itertools.groupby(s.document for s in kept)]
    assert len(runs) == len({s.document for s in kept})  # no document cut in two by a sentence taken out of it
    # a run of n sentences (4n sub-words) is cut into windows of 30 overlapping by 15: 1 window up to 7 sentences
    assert data.windows == sum(1 if n <= 7 else 2 for n in runs)
    # under packed context a batch holds as many positions as 4 full windows of 32: buckets (8, 16, 24), windows
    # up to 8 sub-words 4 * 32 / 8 = 16 a batch, up to 16: 8, up to 24: 5 (128 // 24), full ones 4
    assert data.buckets == (8, 16, 24) and data.batch_sizes == (16, 8, 5, 4)
    # dev is scored with its documents whole: 2 documents of 8 sentences (32 sub-words), 2 windows each
    assert len(data.dev_windows) == 2 * 2
    assert all(len({int(i) for i in w.sentences if i >= 0}) > 1 for w in data.dev_windows)
