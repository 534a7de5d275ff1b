"""A lone surrogate (half an emoji) in data is one U+FFFD character on every route (issue 21, defect 7).

``predict`` already cleans its texts; ``fit``, ``evaluate`` and ``predict_tags`` failed with an
opaque ``TypeError`` from the tokenizer. The replacement keeps one character for one, so the
offsets of a JSONL text still index it.
"""

from __future__ import annotations

import json

import pytest

import tfner
from tests.conftest import DEV, TINY_OPTIONS, TRAIN
from tfner.data.words import replace_lone_surrogates

HALF = "\ud83d"  # the high half of 😀 (U+1F600) alone
TEXT = f"Alice {HALF} flew to Paris"  # Alice: 0-5, the surrogate: 6, Paris: 16-21
PAIRS = [(["Alice", f"x{HALF}", "Paris"], ["B-PER", "O", "B-LOC"])]


@pytest.fixture(scope="module")
def tagger(tiny_encoder):
    return tfner.fit(TRAIN, DEV, encoder=tiny_encoder, verbose=0, **{**TINY_OPTIONS, "epochs": 1})


@pytest.fixture
def jsonl_file(tmp_path):
    path = tmp_path / "data.jsonl"
    record = {"text": TEXT, "entities": [[0, 5, "PER"], [16, 21, "LOC"]]}
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")  # json writes the surrogate as \ud83d
    return path


def test_replacement_keeps_one_character_for_one():
    assert replace_lone_surrogates(TEXT) == TEXT.replace(HALF, "\ufffd")
    assert len(replace_lone_surrogates(TEXT)) == len(TEXT)
    assert replace_lone_surrogates("\U0001F600 ok") == "\U0001F600 ok"  # a whole emoji stays


def test_jsonl_text_is_read_with_the_surrogate_replaced_and_the_offsets_kept(jsonl_file):
    (sentence,) = tfner.data.jsonl.read_jsonl(jsonl_file)
    assert sentence.text == TEXT.replace(HALF, "\ufffd")
    assert sentence.words == ("Alice", "\ufffd", "flew", "to", "Paris")
    assert sentence.tags == ("B-PER", "O", "O", "O", "B-LOC")


def test_evaluate_takes_a_jsonl_text_with_a_lone_surrogate(tagger, jsonl_file, tmp_path):
    result = tagger.evaluate(jsonl_file, predictions_path=tmp_path / "out.jsonl")
    assert 0.0 <= result.f1 <= 1.0
    written = json.loads((tmp_path / "out.jsonl").read_text(encoding="utf-8"))
    assert written["text"] == TEXT.replace(HALF, "\ufffd")
    assert {(s["start"], s["end"], s["label"]) for s in written["gold"]} == {(0, 5, "PER"), (16, 21, "LOC")}


def test_evaluate_takes_pairs_with_a_lone_surrogate_in_a_word(tagger):
    assert 0.0 <= tagger.evaluate(PAIRS).f1 <= 1.0


def test_fit_takes_both(tiny_encoder, jsonl_file):
    fitted = tfner.fit(TRAIN[:8] + PAIRS, jsonl_file, encoder=tiny_encoder, verbose=0,
                       **{**TINY_OPTIONS, "epochs": 1})
    assert len(fitted.dev_evaluations_) == 1


def test_predict_tags_takes_a_word_with_a_lone_surrogate_as_predict_takes_a_text(tagger):
    words = ["Alice", f"x{HALF}", "Paris"]
    assert tagger.predict_tags([words]) == tagger.predict_tags([[replace_lone_surrogates(w) for w in words]])
    assert len(tagger.predict([" ".join(words)])) == 1
