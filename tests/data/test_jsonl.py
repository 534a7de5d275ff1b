"""Character-span JSONL in and out: hand examples, the alignment policies, every bad record, and
the round trip text + spans -> words + tags -> text + spans (property-based)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tfner
from tfner.data.jsonl import character_spans, read_jsonl, sentence_from_record, write_spans
from tfner.errors import DataFormatError

TEXT = "Alice Smith flew to New York."


def _lines(path, *records):
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("record", [
    {"text": TEXT, "entities": [[0, 11, "PER"], [20, 28, "LOC"]]},
    {"text": TEXT, "spans": [{"start": 20, "end": 28, "label": "LOC"}, {"start": 0, "end": 11, "label": "PER"}]},
    {"text": TEXT, "label": [[0, 11, "PER"], [20, 28, "LOC"]]},  # doccano
])
def test_every_record_layout_reads_to_the_same_tagged_words(tmp_path, record):
    (s,) = read_jsonl(_lines(tmp_path / "a.jsonl", record))
    assert s.words == ("Alice", "Smith", "flew", "to", "New", "York", ".")
    assert s.tags == ("B-PER", "I-PER", "O", "O", "B-LOC", "I-LOC", "O")
    assert s.text == TEXT and s.line == 1
    assert [(x.start, x.end, x.label, x.text) for x in character_spans(s)] == [
        (0, 11, "PER", "Alice Smith"), (20, 28, "LOC", "New York")]


def test_a_record_whose_text_holds_no_word_is_skipped_with_a_warning_naming_its_line(tmp_path):
    path = _lines(tmp_path / "a.jsonl", {"text": "Bob.", "entities": [[0, 3, "PER"]]}, {"text": " \t "},
                  {"text": ""}, {"text": "Rome", "entities": [[0, 4, "LOC"]]})
    with pytest.warns(UserWarning, match=r"a\.jsonl: 2 record\(s\) with no word in their text skipped \(line 2, 3\)"):
        sentences = read_jsonl(path)
    assert [(s.words, s.line) for s in sentences] == [(("Bob", "."), 1), (("Rome",), 4)]


def test_a_class_label_beside_the_entities_is_not_a_second_span_key(tmp_path):
    (s,) = read_jsonl(_lines(tmp_path / "a.jsonl", {"text": "Bob.", "entities": [[0, 3, "PER"]], "label": "news"}))
    assert s.tags == ("B-PER", "O")


def test_each_line_is_a_document_and_blank_lines_are_skipped(tmp_path):
    path = _lines(tmp_path / "a.jsonl", {"text": "Bob.", "entities": [[0, 3, "PER"]]}, "",
                  {"text": "Rome", "entities": [[0, 4, "LOC"]]})
    sentences = tfner.read_jsonl(path)
    assert [(s.words, s.line, s.document) for s in sentences] == [(("Bob", "."), 1, 0), (("Rome",), 3, 1)]


@pytest.mark.parametrize("alignment, tags, warned", [
    ("contract", ("O", "B-PER", "O", "O", "O", "O", "O"), "1 were adjusted and 0 dropped"),
    ("expand", ("B-PER", "I-PER", "I-PER", "O", "O", "O", "O"), "1 were adjusted and 0 dropped"),
])
def test_a_span_off_word_boundaries_is_contracted_or_expanded_with_a_warning(tmp_path, alignment, tags, warned):
    path = _lines(tmp_path / "a.jsonl", {"text": TEXT, "entities": [[2, 13, "PER"]]})  # "ice Smith f"
    with pytest.raises(DataFormatError, match=r"a\.jsonl:1: span \[2, 13, 'PER'\] \('ice Smith f'\) does not"):
        read_jsonl(path)
    with pytest.warns(UserWarning, match=warned):
        (s,) = read_jsonl(path, alignment=alignment)
    assert s.tags == tags


def test_contract_drops_a_span_holding_no_whole_word_and_says_so(tmp_path):
    path = _lines(tmp_path / "a.jsonl", {"text": TEXT, "entities": [[1, 4, "PER"], [20, 28, "LOC"]]})
    with pytest.warns(UserWarning, match="0 were adjusted and 1 dropped"):
        (s,) = read_jsonl(path, alignment="contract")
    assert s.tags == ("O", "O", "O", "O", "B-LOC", "I-LOC", "O")


@pytest.mark.parametrize("line, message", [
    ('{"text": "Alice", "entities": [[0, 5, "PER"]', r"a\.jsonl:1: not valid JSON"),
    ('["Alice"]', r'a\.jsonl:1: expected an object with a "text" string'),
    ('{"entities": []}', r'a\.jsonl:1: expected an object with a "text" string'),
    ('{"text": 5}', r'a\.jsonl:1: expected an object with a "text" string'),
    ('{"text": "Alice", "entities": [[0, 5]]}', r"list of \[start, end, label\] triples"),
    ('{"text": "Alice", "entities": {"0": 5}}', r"list of \[start, end, label\] triples"),
    ('{"text": "Alice", "spans": [{"start": 0, "label": "PER"}]}', r"a span lacks 'end'"),
    ('{"text": "Alice", "spans": [[0, 5, "PER"]]}', r'"spans" to be a list of'),
    ('{"text": "Alice", "entities": [[3, 1, "PER"]]}', r"span \[3, 1, 'PER'\]: expected 0 <= start < end <= 5"),
    ('{"text": "Alice", "entities": [[2, 2, "PER"]]}', r"span \[2, 2, 'PER'\]: expected 0 <= start < end"),
    ('{"text": "Alice", "entities": [[0, 9, "PER"]]}', r"span \[0, 9, 'PER'\]: expected 0 <= start < end <= 5"),
    ('{"text": "Alice", "entities": [[-1, 5, "PER"]]}', r"span \[-1, 5, 'PER'\]: expected 0 <= start"),
    ('{"text": "Alice", "entities": [[0.0, 5, "PER"]]}', r"start and end must be integers"),
    ('{"text": "Alice", "entities": [[0, 5, ""]]}', r"the label must be a non-empty string"),
    ('{"text": "Alice", "entities": [[0, 5, "P E R"]]}', r"the label must be a non-empty string without spaces"),
    ('{"text": "Alice Smith", "entities": [[0, 11, "PER"], [6, 11, "PER"]]}',
     r"span \[6, 11, 'PER'\] overlaps span \[0, 11, 'PER'\]"),
    # two span keys: one would be read and the other's entities dropped
    ('{"text": "Alice", "entities": [[0, 5, "PER"]], "spans": []}', r"a\.jsonl:1: a record holds 'spans' and 'entities'"),
    ('{"text": "Alice", "entities": [], "label": [[0, 5, "PER"]]}', r"holds 'entities' and 'label': give its spans"),
])
def test_bad_records_name_file_line_and_what_was_expected(tmp_path, line, message):
    with pytest.raises(DataFormatError, match=message):
        read_jsonl(_lines(tmp_path / "a.jsonl", line))


def test_spans_overlapping_only_after_expansion_are_an_error(tmp_path):
    path = _lines(tmp_path / "a.jsonl", {"text": "Alice Smith", "entities": [[0, 3, "PER"], [3, 5, "ORG"]]})
    with pytest.raises(DataFormatError, match="adjusted to word boundaries .*overlaps another span at the word 'Alice'"):
        read_jsonl(path, alignment="expand")


def test_fit_reads_jsonl_and_evaluate_writes_jsonl_predictions(tmp_path, fitted):
    from tests.conftest import DEV

    records = [{"text": " ".join(words), "entities": []} for words, _ in DEV]
    gold = tfner.read_conll(_conll(tmp_path / "dev.txt", DEV))
    for record, sentence in zip(records, gold, strict=True):
        record["entities"] = [[s.start, s.end, s.label] for s in character_spans(sentence)]
    path = _lines(tmp_path / "dev.jsonl", *records)
    by_file, by_jsonl = fitted.evaluate(str(tmp_path / "dev.txt")), fitted.evaluate(path)
    assert by_jsonl.f1 == by_file.f1 and by_jsonl.entities == by_file.entities
    fitted.evaluate(path, predictions_path=tmp_path / "pred.jsonl")
    written = [json.loads(line) for line in (tmp_path / "pred.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [w["text"] for w in written] == [r["text"] for r in records]
    assert [[[g["start"], g["end"], g["label"]] for g in w["gold"]] for w in written] == [r["entities"] for r in records]
    # the predicted spans are predict()'s on the same texts (words split the same way)
    predicted = fitted.predict([r["text"] for r in records])
    assert [[(p["start"], p["end"], p["label"]) for p in w["spans"]] for w in written] == \
        [[(s.start, s.end, s.label) for s in spans] for spans in predicted]


def _conll(path, pairs):
    path.write_text("\n\n".join("\n".join(f"{w} {t}" for w, t in zip(ws, ts, strict=True)) for ws, ts in pairs) + "\n")
    return path


def test_write_spans_reads_back_with_read_jsonl(tmp_path):
    texts = ["Ann met Bob in Rome.", "Nothing here", "東京で会った"]
    spans = [[tfner.Span(0, 3, "PER", 0.9), tfner.Span(8, 11, "PER", 0.8), tfner.Span(15, 19, "LOC", 0.7)], [],
             [tfner.Span(0, 2, "LOC", 0.5)]]
    path = write_spans(tmp_path / "out.jsonl", texts, spans)
    back = read_jsonl(path)
    assert [[(s.start, s.end, s.label) for s in character_spans(b)] for b in back] == \
        [[(s.start, s.end, s.label) for s in row] for row in spans]
    assert "東京" in path.read_text(encoding="utf-8")  # UTF-8 as is, not \u escapes


WORD = st.text(alphabet="abcXYZé東京-.,'0", min_size=1, max_size=6)
GAP = st.sampled_from([" ", "  ", "\t", "\n", " \u00a0 "])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(WORD, GAP), min_size=1, max_size=15), st.data())
def test_aligned_spans_round_trip_through_words_and_tags(pieces, data):
    text = "".join(w + g for w, g in pieces).rstrip(" \t\n\u00a0")
    words = sentence_from_record(text, [], alignment="strict", source="t", line=1)[0]
    n = len(words.words)
    cuts = sorted(data.draw(st.sets(st.integers(0, n), max_size=8)))
    spans = []
    for a, b in zip(cuts, cuts[1:], strict=False):
        if data.draw(st.booleans()):
            spans.append((words.offsets[a][0], words.offsets[b - 1][1], data.draw(st.sampled_from(["PER", "LOC"]))))
    sentence, adjusted = sentence_from_record(text, spans, alignment="strict", source="t", line=1)
    assert adjusted == (0, 0)
    assert [(s.start, s.end, s.label) for s in character_spans(sentence)] == spans
    assert [text[s:e] for s, e in sentence.offsets] == list(sentence.words)  # no character of a word lost
