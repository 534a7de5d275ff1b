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
