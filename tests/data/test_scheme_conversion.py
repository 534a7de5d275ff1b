"""Every tagging scheme: hand-written examples, exhaustive and property-based round trips, and
validity checked against a second route (the set of every way the scheme writes any spans)."""

from __future__ import annotations

import itertools
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tfner
from tfner.data.schemes import PREFIXES, convert, detect_scheme, invalid_at, spans_of, tags_of
from tfner.errors import DataFormatError

SCHEMES = tuple(PREFIXES)
TYPES = ("PER", "LOC")

# One sentence of 8 words: PER [0,2) touching PER [2,3), LOC [4,5), LOC [5,8).
SPANS = [(0, 2, "PER"), (2, 3, "PER"), (4, 5, "LOC"), (5, 8, "LOC")]
BY_HAND = {
    "iob1": ["I-PER", "I-PER", "B-PER", "O", "I-LOC", "B-LOC", "I-LOC", "I-LOC"],
    "iob2": ["B-PER", "I-PER", "B-PER", "O", "B-LOC", "B-LOC", "I-LOC", "I-LOC"],
    "ioe1": ["I-PER", "E-PER", "I-PER", "O", "E-LOC", "I-LOC", "I-LOC", "I-LOC"],
    "ioe2": ["I-PER", "E-PER", "E-PER", "O", "E-LOC", "I-LOC", "I-LOC", "E-LOC"],
    "bioes": ["B-PER", "E-PER", "S-PER", "O", "S-LOC", "B-LOC", "I-LOC", "E-LOC"],
    "bilou": ["B-PER", "L-PER", "U-PER", "O", "U-LOC", "B-LOC", "I-LOC", "L-LOC"],
    "bmes": ["B-PER", "E-PER", "S-PER", "O", "S-LOC", "B-LOC", "M-LOC", "E-LOC"],
}


@pytest.mark.parametrize("scheme", SCHEMES)
def test_each_scheme_writes_and_reads_the_hand_example(scheme):
    assert tags_of(SPANS, 8, scheme) == BY_HAND[scheme]
    assert spans_of(BY_HAND[scheme]) == SPANS
    assert invalid_at(BY_HAND[scheme], scheme) is None
    assert detect_scheme([BY_HAND[scheme]]) == scheme
    for other in SCHEMES:
        assert convert(BY_HAND[scheme], other) == BY_HAND[other]


def all_span_sets(n):
    """Every set of non-overlapping typed spans over n words."""
    def from_(i):
        if i >= n:
            yield []
            return
        yield from from_(i + 1)  # word i outside
        for j in range(i + 1, n + 1):
            for t in TYPES:
                for rest in from_(j):
                    yield [(i, j, t), *rest]
    yield from from_(0)


def test_every_span_set_up_to_six_words_round_trips_in_every_scheme():
    # by hand for 2 words: OO, O+X, X+O, X+Y, one 2-word X (X, Y in 2 types): 1 + 2 + 2 + 4 + 2
    assert [len(list(all_span_sets(n))) for n in range(3)] == [1, 3, 11]
    for n in range(7):
        for spans in all_span_sets(n):
            for scheme in SCHEMES:
                tags = tags_of(spans, n, scheme)
                assert spans_of(tags) == spans, (scheme, spans, tags)
                assert invalid_at(tags, scheme) is None


@pytest.mark.parametrize("scheme", ["iob2", "ioe2", "bioes", "bilou", "bmes"])
def test_validity_equals_being_some_span_sets_writing(scheme):
    # second route: a sequence is valid iff it is how the scheme writes some span set
    tags = ["O"] + [f"{p}-{t}" for p in sorted(PREFIXES[scheme]) for t in TYPES]
    for n in range(5):
        writings = {tuple(tags_of(spans, n, scheme)) for spans in all_span_sets(n)}
        for seq in itertools.product(tags, repeat=n):
            assert (invalid_at(list(seq), scheme) is None) == (seq in writings), seq


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_conversion_between_any_two_schemes_keeps_the_spans(data):
    n = data.draw(st.integers(0, 40))
    cuts = sorted(data.draw(st.sets(st.integers(0, n), max_size=12)))
    spans = []
    for a, b in itertools.pairwise(cuts):
        if data.draw(st.booleans()):
            spans.append((a, b, data.draw(st.sampled_from(["PER", "LOC", "creative-work"]))))
    first, second = data.draw(st.sampled_from(SCHEMES)), data.draw(st.sampled_from(SCHEMES))
    tags = tags_of(spans, n, first)
    assert spans_of(convert(tags, second)) == spans
    assert convert(convert(tags, second), first) == tags


def _write(path, sentences):
    path.write_text("\n\n".join("\n".join(f"{w} {t}" for w, t in zip(ws, ts, strict=True)) for ws, ts in sentences)
                    + "\n", encoding="utf-8")
    return path


WORDS = ["Ann", "Lee", "Bo", "met", "Rome", "New", "York", "City"]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_files_in_every_scheme_read_as_the_same_iob2(tmp_path, scheme):
    sentences = tfner.read_conll(_write(tmp_path / f"{scheme}.txt", [(WORDS, BY_HAND[scheme])]))
    assert [s.tags for s in sentences] == [tuple(BY_HAND["iob2"])]
    assert sentences[0].scheme == scheme
    explicit = tfner.read_conll(tmp_path / f"{scheme}.txt", scheme=scheme)
    assert explicit == sentences


@pytest.mark.parametrize("scheme, tags, line, expected", [
    ("iob2", ["O", "I-PER"], 2, "'B-PER'"),
    ("bioes", ["B-PER", "O"], 1, "'S-PER'"),
    ("bioes", ["I-LOC", "E-LOC"], 1, "'B-LOC'"),
    ("bmes", ["B-LOC", "M-LOC"], 2, "'E-LOC'"),
    ("bilou", ["U-PER", "L-PER"], 2, "'U-PER'"),
    ("ioe2", ["I-PER", "O"], 1, "'E-PER'"),
])
def test_an_invalid_sequence_names_file_line_and_the_expected_tag(tmp_path, scheme, tags, line, expected):
    path = _write(tmp_path / "bad.txt", [(WORDS[:len(tags)], tags)])
    with pytest.raises(DataFormatError, match=rf"bad\.txt:{line}\b.*expected {expected}"):
        tfner.read_conll(path, scheme=scheme)


def test_repair_reads_by_the_tolerant_rule_and_warns(tmp_path):
    path = _write(tmp_path / "bad.txt", [(["Ann", "Lee", "met"], ["B-PER", "I-PER", "O"]),
                                        (["in", "Rome"], ["O", "E-LOC"])])
    with pytest.raises(DataFormatError):
        tfner.read_conll(path, scheme="bioes")
    with pytest.warns(UserWarning, match="2 sentence"):
        repaired = tfner.read_conll(path, scheme="bioes", invalid_tags="repair")
    assert [s.tags for s in repaired] == [("B-PER", "I-PER", "O"), ("O", "B-LOC")]


def test_a_prefix_the_scheme_never_uses_is_an_error_even_in_repair_mode(tmp_path):
    path = _write(tmp_path / "bad.txt", [(["Ann", "Lee"], ["B-PER", "M-PER"])])
    with pytest.raises(DataFormatError, match=r"bad\.txt:2\b.*prefix 'M'.*iob2"):
        tfner.read_conll(path, scheme="iob2", invalid_tags="repair")


def test_bmes_chinese_characters_one_per_line(tmp_path):
    # 张三在北京市工作 : 张三 PER, 北京市 LOC; 李 a one-character PER
    chars = list("张三在北京市工作") + ["。"]
    tags = ["B-PER", "E-PER", "O", "B-LOC", "M-LOC", "E-LOC", "O", "O", "O"]
    path = _write(tmp_path / "zh.bmes", [(chars, tags), (["李", "来", "了"], ["S-PER", "O", "O"])])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sentences = tfner.read_conll(path)
    assert sentences[0].scheme == "bmes"
    assert spans_of(list(sentences[0].tags)) == [(0, 2, "PER"), (3, 6, "LOC")]
    assert sentences[1].tags == ("B-PER", "O", "O")


def test_a_chinese_bmes_corpus_trains_evaluates_and_predicts_with_character_offsets(tmp_path):
    import json

    from tests.conftest import TINY_OPTIONS, write_tiny_encoder

    people, places = ["张三", "李四", "王"], ["北京市", "上海", "广州"]
    enc = write_tiny_encoder(tmp_path / "enc")
    chars = sorted(set("".join(people + places) + "在工作去了。"))
    with open(enc / "vocab.txt", "a", encoding="utf-8") as f:
        f.write("\n".join(chars) + "\n")
    config = json.loads((enc / "config.json").read_text())
    config["vocab_size"] = len((enc / "vocab.txt").read_text(encoding="utf-8").splitlines())
    (enc / "config.json").write_text(json.dumps(config))

    def bmes(word, kind):
        return [f"S-{kind}"] if len(word) == 1 else [f"B-{kind}"] + [f"M-{kind}"] * (len(word) - 2) + [f"E-{kind}"]

    sentences = []
    for p, (q, verb) in itertools.product(people, zip(places, ["在", "去", "在"], strict=True)):
        text = [*p, verb, *q, "了", "。"]
        sentences.append((text, bmes(p, "PER") + ["O"] + bmes(q, "LOC") + ["O", "O"]))
    train = _write(tmp_path / "train.bmes", sentences * 3)
    tagger = tfner.fit(str(train), str(train), encoder=str(enc), verbose=0, **dict(TINY_OPTIONS, epochs=15))
    assert tagger.evaluate(str(train), predictions_path=tmp_path / "pred.txt").f1 == 1.0
    written = (tmp_path / "pred.txt").read_text(encoding="utf-8").split("\n\n")[0].splitlines()
    assert [line.split() for line in written[:3]] == [["张", "B-PER", "B-PER"], ["三", "E-PER", "E-PER"],
                                                     ["在", "O", "O"]]  # written back in BMES
    spans = tagger.predict(["王去北京市了。"])[0]  # raw text, no spaces: one word per character
    assert [(s.start, s.end, s.label, s.text) for s in spans] == [(0, 1, "PER", "王"), (2, 5, "LOC", "北京市")]
