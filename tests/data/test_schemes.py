"""IOB1/IOB2 conversion and chunking.

Hand examples, then exhaustive and random checks against a second route: tags are built
from known entity spans (in IOB2 and in IOB1) and must chunk back to exactly those spans.
"""

from __future__ import annotations

import itertools
import random

import pytest

from tfner.data.schemes import entities, iob2_violation, split_tag, to_iob2

TYPES = ("PER", "LOC")
TAGS = ("O",) + tuple(f"{p}-{t}" for t in TYPES for p in "BI")


# --- hand examples ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "tags, iob2, spans",
    [
        # IOB1 as in CoNLL-2003: an entity starts with I- after O.
        (["I-PER", "I-PER", "O", "I-LOC"], ["B-PER", "I-PER", "O", "B-LOC"], [(0, 2, "PER"), (3, 4, "LOC")]),
        # B-X right after I-X of the same type opens a second entity.
        (["I-PER", "B-PER", "I-PER"], ["B-PER", "B-PER", "I-PER"], [(0, 1, "PER"), (1, 3, "PER")]),
        # I-Y right after I-X is a new entity of type Y.
        (["I-PER", "I-LOC"], ["B-PER", "B-LOC"], [(0, 1, "PER"), (1, 2, "LOC")]),
        # I-Y right after B-X, likewise.
        (["B-PER", "I-LOC", "I-LOC"], ["B-PER", "B-LOC", "I-LOC"], [(0, 1, "PER"), (1, 3, "LOC")]),
        # Valid IOB2 is left alone; entities touching both ends of the sentence.
        (["B-LOC", "O", "B-PER", "I-PER"], ["B-LOC", "O", "B-PER", "I-PER"], [(0, 1, "LOC"), (2, 4, "PER")]),
        # Hyphenated types (WNUT-17).
        (["O", "I-creative-work", "I-creative-work"], ["O", "B-creative-work", "I-creative-work"],
         [(1, 3, "creative-work")]),
        (["O", "O"], ["O", "O"], []),
        ([], [], []),
    ],
)
def test_to_iob2_and_entities_on_hand_examples(tags, iob2, spans):
    original = list(tags)
    assert to_iob2(tags) == iob2
    assert entities(tags) == spans
    assert tags == original  # inputs are never mutated


def test_to_iob2_accepts_tuples_and_returns_a_new_list():
    tags = ("I-PER", "O")
    out = to_iob2(tags)
    assert out == ["B-PER", "O"] and isinstance(out, list)


@pytest.mark.parametrize(
    "tag, expected",
    [("O", ("O", None)), ("B-PER", ("B", "PER")), ("I-creative-work", ("I", "creative-work"))],
)
def test_split_tag(tag, expected):
    assert split_tag(tag) == expected


@pytest.mark.parametrize("tag", ["", "o", "B-", "X-PER", "B_PER", "BPER", "B-PER X", "E-PER", "S-PER"])
def test_split_tag_rejects_malformed_tags(tag):
    with pytest.raises(ValueError):
        split_tag(tag)


@pytest.mark.parametrize(
    "tags, index",
    [
        (["B-PER", "I-PER", "O"], None),
        (["O", "I-PER"], 1),
        (["I-PER"], 0),
        (["B-PER", "I-LOC"], 1),
        (["B-PER", "O", "B-LOC", "I-LOC", "I-PER"], 4),
    ],
)
def test_iob2_violation_finds_first_bad_i_tag(tags, index):
    assert iob2_violation(tags) == index


# --- second route: tags built from known spans -----------------------------------------


def random_spans(rng: random.Random, n: int) -> list[tuple[int, int, str]]:
    """Non-overlapping, sorted spans over n words, adjacent ones allowed."""
    spans, i = [], 0
    while i < n:
        if rng.random() < 0.5:
            end = rng.randint(i + 1, n)
            end = min(end, i + 3)
            spans.append((i, end, rng.choice(TYPES)))
            i = end
        else:
            i += 1
    return spans


def iob2_from_spans(spans, n):
    tags = ["O"] * n
    for a, b, t in spans:
        tags[a:b] = [f"B-{t}"] + [f"I-{t}"] * (b - a - 1)
    return tags


def iob1_from_spans(spans, n):
    """IOB1: I- everywhere, B- only on the first word of an entity that directly follows
    an entity of the same type."""
    tags = ["O"] * n
    prev_end, prev_type = None, None
    for a, b, t in spans:
        first = "B" if (prev_end == a and prev_type == t) else "I"
        tags[a:b] = [f"{first}-{t}"] + [f"I-{t}"] * (b - a - 1)
        prev_end, prev_type = b, t
    return tags


def test_spans_round_trip_through_iob1_and_iob2_tags():
    rng = random.Random(20240601)
    for _ in range(3000):
        n = rng.randint(0, 12)
        spans = random_spans(rng, n)
        iob2, iob1 = iob2_from_spans(spans, n), iob1_from_spans(spans, n)
        assert entities(iob2) == spans
        assert entities(iob1) == spans
        assert to_iob2(iob1) == iob2
        assert to_iob2(iob2) == iob2


# --- properties over every tag sequence up to length 5, and random longer ones ---------


def reference_entities(tags):
    """A second chunker: split on O, on B-, and on a type change."""
    out, start = [], None
    for i, tag in enumerate(list(tags) + ["O"]):
        kind = None if tag == "O" else tag[2:]
        cur = None if start is None else tags[start][2:]
        if start is not None and (kind != cur or tag.startswith("B-")):
            out.append((start, i, cur))
            start = None
        if kind is not None and start is None:
            start = i
    return out


def all_sequences():
    for n in range(6):
        yield from (list(t) for t in itertools.product(TAGS, repeat=n))
    rng = random.Random(7)
    for _ in range(2000):
        yield [rng.choice(TAGS) for _ in range(rng.randint(6, 30))]


def test_to_iob2_properties_on_every_short_sequence_and_random_long_ones():
    checked = 0
    for tags in all_sequences():
        iob2 = to_iob2(tags)
        assert to_iob2(iob2) == iob2  # idempotent
        assert entities(iob2) == entities(tags)  # conversion keeps the entities
        assert entities(tags) == reference_entities(tags)
        assert iob2_violation(iob2) is None  # the output is valid IOB2
        if iob2_violation(tags) is None:
            assert iob2 == tags  # valid IOB2 is the identity
        # O stays O and types never change
        assert [t == "O" for t in iob2] == [t == "O" for t in tags]
        assert [t[2:] for t in iob2] == [t[2:] for t in tags]
        checked += 1
    assert checked == sum(len(TAGS) ** n for n in range(6)) + 2000
