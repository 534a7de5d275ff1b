"""Tagging schemes: detection, validation, conversion between any two, and tags -> word spans.

tfner trains and predicts in IOB2 (every entity starts with ``B-``); files in any scheme
below are converted on reading, and predictions can be written back in any of them
(:func:`convert`). A scheme is a way of writing entity spans ``(first_word, end, type)``:

======== ========================================================================
iob1     ``I-`` inside; ``B-`` only to start an entity right after one of its type
iob2     ``B-`` starts every entity, ``I-`` inside (also called BIO)
ioe1     ``I-`` inside; ``E-`` only to end an entity right before one of its type
ioe2     ``E-`` ends every entity, ``I-`` inside
bioes    ``S-`` a one-word entity; else ``B-``, ``I-`` ..., ``E-``
bilou    bioes spelled ``U-`` (unit), ``B-``, ``I-``, ``L-`` (last)
bmes     bioes spelled ``S-``, ``B-``, ``M-`` (middle), ``E-`` (Chinese corpora)
======== ========================================================================

Reading is tolerant (:func:`spans_of`, conlleval's rule generalised): a start prefix (B, S,
U) opens an entity; an inside or end prefix (I, M, E, L) continues the open entity of its
type or else opens one; an end prefix (E, L, S, U) closes it after its word. A sequence is
*valid* in iob2, ioe2, bioes, bilou and bmes when it is exactly how that scheme writes its
own spans; iob1 and ioe1 accept any sequence of their prefixes (the choice of B/E there is
only required between two touching entities of one type). An invalid sequence raises
(naming file and line and the expected tag) or, with ``invalid_tags="repair"``, is read as
the tolerant rule reads it, with a warning.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Literal

from tfner.errors import ConfigError, DataFormatError

Scheme = Literal["auto", "iob1", "iob2", "ioe1", "ioe2", "bioes", "bilou", "bmes"]
SCHEMES: tuple[str, ...] = ("auto", "iob1", "iob2", "ioe1", "ioe2", "bioes", "bilou", "bmes")
#: The prefixes each scheme writes (``O`` aside).
PREFIXES: dict[str, frozenset[str]] = {
    "iob1": frozenset("BI"), "iob2": frozenset("BI"), "ioe1": frozenset("IE"), "ioe2": frozenset("IE"),
    "bioes": frozenset("BIES"), "bilou": frozenset("BILU"), "bmes": frozenset("BMES"),
}
_STARTS, _ENDS = frozenset("BSU"), frozenset("ESLU")
#: Schemes whose valid sequences are exactly their own writing of their spans.
_STRICT = ("iob2", "ioe2", "bioes", "bilou", "bmes")
_ANY_TAG = re.compile(r"^(?:O|([BIESMLU])-(\S+))$")

_TAG = re.compile(r"^(?:O|([BI])-(\S+))$")


def split_tag(tag: str) -> tuple[str, str | None]:
    """``"B-PER" -> ("B", "PER")``, ``"O" -> ("O", None)``. Raises ``ValueError`` if malformed."""
    m = _TAG.match(tag) if isinstance(tag, str) else None
    if m is None:
        raise ValueError(f"tag {tag!r} is not 'O', 'B-<type>' or 'I-<type>'")
    if m.group(1) is None:
        return "O", None
    return m.group(1), m.group(2)


def starts_entity_iob1(prev: str, tag: str) -> bool:
    """Whether ``tag`` opens an entity after ``prev`` under conlleval/IOB1 rules."""
    p, pt = split_tag(prev)
    t, tt = split_tag(tag)
    if t == "O":
        return False
    if t == "B":
        return True
    return p == "O" or pt != tt  # an I- that does not continue the previous type


def iob2_violation(tags: Sequence[str]) -> int | None:
    """Index of the first ``I-X`` that does not continue an ``X`` entity, or ``None``."""
    prev = "O"
    for i, tag in enumerate(tags):
        t, tt = split_tag(tag)
        if t == "I":
            p, pt = split_tag(prev)
            if p == "O" or pt != tt:
                return i
        prev = tag
    return None


def to_iob2(tags: Sequence[str]) -> list[str]:
    """Re-emit ``tags`` in IOB2 using conlleval chunking. Never mutates ``tags``.

    >>> to_iob2(["I-PER", "I-PER", "O", "I-LOC", "B-LOC"])
    ['B-PER', 'I-PER', 'O', 'B-LOC', 'B-LOC']
    """
    out: list[str] = []
    prev = "O"
    for tag in tags:
        t, tt = split_tag(tag)
        if t == "O":
            out.append("O")
        elif starts_entity_iob1(prev, tag):
            out.append(f"B-{tt}")
        else:
            out.append(f"I-{tt}")
        prev = tag
    return out


def entities(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """Entities as ``(first_word, end_word_exclusive, type)`` under conlleval chunking.

    >>> entities(["B-PER", "I-PER", "O", "I-LOC"])
    [(0, 2, 'PER'), (3, 4, 'LOC')]
    """
    found: list[tuple[int, int, str]] = []
    start: int | None = None
    kind: str | None = None
    prev = "O"
    for i, tag in enumerate(tags):
        t, tt = split_tag(tag)
        if start is not None and (t == "O" or starts_entity_iob1(prev, tag)):
            found.append((start, i, kind))  # type: ignore[arg-type]
            start = None
        if t != "O" and start is None:
            start, kind = i, tt
        prev = tag
    if start is not None:
        found.append((start, len(tags), kind))  # type: ignore[arg-type]
    return found


def label_list(tags: Iterable[str]) -> list[str]:
    """The model's labels for IOB2 ``tags``: ``O`` then ``B-X``, ``I-X`` for every type ``X`` seen, types sorted.

    >>> label_list(["B-PER", "O", "I-LOC", "B-LOC"])
    ['O', 'B-LOC', 'I-LOC', 'B-PER', 'I-PER']
    """
    kinds = sorted({t[2:] for t in tags if t != "O"})
    return ["O"] + [f"{p}-{k}" for k in kinds for p in ("B", "I")]


def parse_tag(tag: str) -> tuple[str, str | None]:
    """``"E-PER" -> ("E", "PER")`` for any scheme's prefix; ``"O" -> ("O", None)``. ``ValueError`` if malformed."""
    m = _ANY_TAG.match(tag) if isinstance(tag, str) else None
    if m is None:
        raise ValueError(f"tag {tag!r} is not 'O' or <prefix>-<type> with a prefix of B, I, E, S, M, L, U")
    return ("O", None) if m.group(1) is None else (m.group(1), m.group(2))


def spans_of(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """Entity spans ``(first_word, end_exclusive, type)`` of tags in any scheme (the tolerant rule).

    >>> spans_of(["S-PER", "B-LOC", "M-LOC", "E-LOC", "I-ORG", "E-ORG", "O"])
    [(0, 1, 'PER'), (1, 4, 'LOC'), (4, 6, 'ORG')]
    """
    found: list[tuple[int, int, str]] = []
    start: int | None = None
    kind: str | None = None
    for i, tag in enumerate(tags):
        p, t = parse_tag(tag)
        if start is not None and (p == "O" or p in _STARTS or t != kind):
            found.append((start, i, kind))  # type: ignore[arg-type]
            start = None
        if p != "O" and start is None:
            start, kind = i, t
        if p in _ENDS and start is not None:
            found.append((start, i + 1, kind))  # type: ignore[arg-type]
            start = None
    if start is not None:
        found.append((start, len(tags), kind))  # type: ignore[arg-type]
    return found


def tags_of(spans: Sequence[tuple[int, int, str]], length: int, scheme: str) -> list[str]:
    """Write non-overlapping ``spans`` over ``length`` words in ``scheme`` (not ``"auto"``)."""
    if scheme not in PREFIXES:
        raise ConfigError(f"scheme must be one of {tuple(PREFIXES)}, got {scheme!r}")
    inside = "M" if scheme == "bmes" else "I"
    single = {"bioes": "S", "bmes": "S", "bilou": "U"}.get(scheme)
    last = {"bioes": "E", "bmes": "E", "bilou": "L", "ioe2": "E"}.get(scheme)
    tags = ["O"] * length
    ordered = sorted(spans)
    for k, (a, b, t) in enumerate(ordered):
        tags[a:b] = [f"{inside}-{t}"] * (b - a)
        touches_before = k > 0 and ordered[k - 1][1] == a and ordered[k - 1][2] == t
        touches_after = k + 1 < len(ordered) and ordered[k + 1][0] == b and ordered[k + 1][2] == t
        if single and b - a == 1:
            tags[a] = f"{single}-{t}"
            continue
        if scheme in ("iob2", "bioes", "bilou", "bmes") or (scheme == "iob1" and touches_before):
            tags[a] = f"B-{t}"
        if last or (scheme == "ioe1" and touches_after):
            tags[b - 1] = f"{last or 'E'}-{t}"
    return tags


def convert(tags: Sequence[str], scheme: str) -> list[str]:
    """The same entities written in ``scheme`` (tags in any scheme in, by the tolerant rule).

    >>> convert(["B-PER", "I-PER", "O", "B-LOC"], "bioes")
    ['B-PER', 'E-PER', 'O', 'S-LOC']
    """
    return tags_of(spans_of(tags), len(tags), scheme)


def detect_scheme(sentences: Sequence[Sequence[str]]) -> str:
    """The scheme a corpus is written in, from the prefixes it uses.

    M -> bmes; L or U -> bilou; S, or E together with B -> bioes; E -> ioe2 if every
    sentence is valid ioe2, else ioe1; B/I only -> iob2 if every sentence is valid IOB2,
    else iob1 (CoNLL-2003's original release). No entity at all: iob2. A BMES corpus whose
    entities all have one or two characters is written exactly as in BIOES and is detected
    as bioes (the spans are the same); pass ``scheme="bmes"`` to write predictions with M-.
    """
    used = {tag[0] for tags in sentences for tag in tags if tag != "O"}
    if "M" in used:
        return "bmes"
    if used & {"L", "U"}:
        return "bilou"
    if "S" in used or {"E", "B"} <= used:
        return "bioes"
    if "E" in used:
        return "ioe2" if all(invalid_at(tags, "ioe2") is None for tags in sentences) else "ioe1"
    return "iob2" if all(invalid_at(tags, "iob2") is None for tags in sentences) else "iob1"


def invalid_at(tags: Sequence[str], scheme: str) -> int | None:
    """Index of the first tag ``scheme`` does not allow there, or ``None``."""
    allowed = PREFIXES[scheme]
    for i, tag in enumerate(tags):
        p, _ = parse_tag(tag)
        if p != "O" and p not in allowed:
            return i
    if scheme not in _STRICT:
        return None
    expected = convert(tags, scheme)
    return next((i for i, (a, b) in enumerate(zip(tags, expected, strict=True)) if a != b), None)


def normalize_tags(
    sentences: Sequence[Sequence[str]],
    scheme: Scheme,
    locate: Callable[[int, int], tuple[str, int | None]],
    invalid: str = "error",
) -> tuple[list[list[str]], str]:
    """Validate every tag and convert the sentences to IOB2.

    Returns the IOB2 tag lists and the scheme they were read in (``"auto"`` detects it,
    :func:`detect_scheme`). ``locate(sentence, word)`` gives the ``(source, line)`` named in
    errors. ``invalid="error"`` raises on the first tag the scheme does not allow there;
    ``"repair"`` reads every sentence by the tolerant rule and warns how many were repaired.
    """
    if scheme not in SCHEMES:
        raise ConfigError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    if invalid not in ("error", "repair"):
        raise ConfigError(f"invalid_tags must be 'error' or 'repair', got {invalid!r}")
    for s, tags in enumerate(sentences):
        for w, tag in enumerate(tags):
            try:
                parse_tag(tag)
            except ValueError as err:
                raise DataFormatError(*locate(s, w), str(err)) from None
    applied = detect_scheme(sentences) if scheme == "auto" else scheme
    repaired = 0
    for s, tags in enumerate(sentences):
        bad = invalid_at(tags, applied)
        if bad is None:
            continue
        if invalid == "repair" and parse_tag(tags[bad])[0] in PREFIXES[applied]:
            repaired += 1
            continue
        raise DataFormatError(*locate(s, bad), _invalid_message(tags, bad, applied, scheme))
    if repaired:
        warnings.warn(f"{repaired} sentence(s) had tag sequences {applied} does not allow; read by the tolerant rule "
                      "(invalid_tags='repair')", stacklevel=3)
    return [convert(tags, "iob2") for tags in sentences], applied


def _invalid_message(tags: Sequence[str], w: int, applied: str, asked: str) -> str:
    tag, prev = tags[w], tags[w - 1] if w else "(sentence start)"
    prefix = parse_tag(tag)[0]
    how = f"scheme {applied!r}" + (" (detected)" if asked == "auto" else "")
    if prefix not in PREFIXES[applied]:
        return (f"tag {tag!r} has prefix {prefix!r}, which {how} does not use (its prefixes: "
                f"{', '.join(sorted(PREFIXES[applied]))} and O); pass the scheme the file is written in")
    expected = convert(tags, applied)[w]
    return (f"tag {tag!r} after {prev!r} is not valid under {how}; expected {expected!r} "
            "(or pass invalid_tags='repair' to read it by the tolerant rule, with a warning)")
