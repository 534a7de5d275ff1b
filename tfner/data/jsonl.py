"""Character-span JSONL, in and out (annotation tools: doccano, Label Studio exports, spaCy-style spans).

One JSON object per line, the text and its entities as half-open character offsets::

    {"text": "Alice flew to Paris.", "entities": [[0, 5, "PER"], [14, 19, "LOC"]]}
    {"text": "Alice flew to Paris.", "spans": [{"start": 0, "end": 5, "label": "PER"}]}
    {"text": "...", "label": [[0, 5, "PER"]]}                       (doccano's export)

Reading splits the text into words where :func:`tfner.data.words.split_words` splits (as
``predict`` does) and tags the words of each span (IOB2). A span must start at a word's
start and end at a word's end; ``alignment`` says what happens otherwise, as spaCy's
``Doc.char_span(alignment_mode=...)``: ``"strict"`` raises naming file, line and span;
``"contract"`` keeps the words wholly inside the span (none left: the span is dropped);
``"expand"`` takes every word the span touches — both with a warning saying how many spans
moved or were dropped. Overlapping, reversed, empty and out-of-range spans raise. Each line is
its own document. For aligned spans, text + spans -> words + tags -> text + spans is the identity.
A lone surrogate in a text (``"\\ud83d"``, half an emoji) is read as U+FFFD, one character for one.
"""

from __future__ import annotations

import bisect
import json
import os
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tfner.data.readers import Sentence, _decoded_lines
from tfner.data.schemes import spans_of
from tfner.data.spans import Span
from tfner.data.words import replace_lone_surrogates, split_words
from tfner.errors import ConfigError, DataFormatError

ALIGNMENTS = ("strict", "contract", "expand")
JSONL_SUFFIXES = (".jsonl", ".ndjson")


def is_jsonl(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in JSONL_SUFFIXES


def _record_spans(record: dict, path: str, line: int) -> list[tuple[int, int, str]]:
    raw: Any
    # "label" holds spans only as a list (doccano); a string beside "entities" is a class label
    keys = [k for k in ("spans", "entities", "label") if k in record and (k != "label" or isinstance(record[k], list))]
    if len(keys) > 1:  # one would be read and the other silently dropped
        raise DataFormatError(path, line, f"a record holds {' and '.join(repr(k) for k in keys)}: give its spans "
                              "under one of them")
    if "spans" in record:
        raw = record["spans"]
        if not isinstance(raw, list) or not all(isinstance(s, dict) for s in raw):
            raise DataFormatError(path, line, 'expected "spans" to be a list of {"start", "end", "label"} objects')
        try:
            return [(s["start"], s["end"], s["label"]) for s in raw]
        except KeyError as err:
            raise DataFormatError(path, line, f"a span lacks {err.args[0]!r} (expected start, end, label)") from None
    key = "entities" if "entities" in record else "label" if "label" in record else None
    if key is None:
        return []
    raw = record[key]
    if not isinstance(raw, list) or not all(isinstance(s, (list, tuple)) and len(s) == 3 for s in raw):
        raise DataFormatError(path, line, f'expected "{key}" to be a list of [start, end, label] triples')
    return [tuple(s) for s in raw]  # type: ignore[misc]


def sentence_from_record(text: str, spans: Sequence[tuple[int, int, str]], *, alignment: str,
                         source: str, line: int | None, document: int = 0) -> tuple[Sentence, tuple[int, int]]:
    """The IOB2 :class:`Sentence` of ``text`` and its character spans; also how many spans were
    adjusted to word boundaries and how many dropped (no word left)."""
    words = split_words(text)
    starts = [s for _, s, _ in words]
    ends = [e for _, _, e in words]
    tags = ["O"] * len(words)
    adjusted, dropped = 0, 0
    for start, end, label in spans:  # checked before sorting: sorting needs integer offsets
        shown = f"[{start}, {end}, {label!r}]"
        if not (type(start) is int and type(end) is int):
            raise DataFormatError(source, line, f"span {shown}: start and end must be integers")
        if not isinstance(label, str) or not label or any(c.isspace() for c in label):
            raise DataFormatError(source, line, f"span {shown}: the label must be a non-empty string without spaces")
        if not 0 <= start < end <= len(text):
            raise DataFormatError(source, line, f"span {shown}: expected 0 <= start < end <= {len(text)} (the "
                                  "text's length; offsets are half-open, in characters)")
    previous: tuple[int, int, str] | None = None
    for start, end, label in sorted(spans):
        shown = f"[{start}, {end}, {label!r}]"
        if previous is not None and start < previous[1]:
            raise DataFormatError(source, line, f"span {shown} overlaps span [{previous[0]}, {previous[1]}, "
                                  f"{previous[2]!r}]; tfner tags each word with one entity")
        previous = (start, end, label)
        first = bisect.bisect_left(ends, start + 1)  # first word ending after start
        last = bisect.bisect_left(starts, end) - 1  # last word starting before end
        inside = [w for w in range(first, last + 1) if starts[w] >= start and ends[w] <= end]
        aligned = first <= last and starts[first] == start and ends[last] == end
        if not aligned:
            if alignment == "strict":
                near = [text[starts[w]:ends[w]] for w in range(max(first - 1, 0), min(last + 2, len(words)))]
                raise DataFormatError(source, line, f"span {shown} ({text[start:end]!r}) does not start and end on "
                                      f"word boundaries (words there: {near}); pass span_alignment='contract' or "
                                      "'expand' to adjust such spans")
            if alignment == "contract" and inside:
                first, last = inside[0], inside[-1]
            if first > last or (alignment == "contract" and not inside):
                dropped += 1  # no word left (contract) or only whitespace inside the span
                continue
            adjusted += 1
        for w in range(first, last + 1):
            if tags[w] != "O":
                raise DataFormatError(source, line, f"span {shown}, adjusted to word boundaries ({alignment}), "
                                      f"overlaps another span at the word {words[w][0]!r}")
            tags[w] = ("B-" if w == first else "I-") + label
    sentence = Sentence(tuple(w for w, _, _ in words), tuple(tags), source=source, line=line, document=document,
                        text=text, offsets=tuple((s, e) for _, s, e in words))
    return sentence, (adjusted, dropped)


def read_jsonl(path: str | os.PathLike, *, alignment: str = "strict", encoding: str = "utf-8") -> list[Sentence]:
    """Read character-span JSONL (see the module docstring) into IOB2 :class:`Sentence`; one document per line.

    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "a.jsonl"
    >>> _ = path.write_text('{"text": "Alice flew to New York.", "entities": [[0, 5, "PER"], [14, 22, "LOC"]]}')
    >>> [(s.words, s.tags) for s in read_jsonl(path)]
    [(('Alice', 'flew', 'to', 'New', 'York', '.'), ('B-PER', 'O', 'O', 'B-LOC', 'I-LOC', 'O'))]
    """
    if alignment not in ALIGNMENTS:
        raise ConfigError(f"span_alignment must be one of {ALIGNMENTS}, got {alignment!r}")
    path = os.fspath(path)
    out: list[Sentence] = []
    adjusted, dropped = 0, 0
    wordless: list[int] = []  # the lines of records whose text holds no word
    for lineno, raw in enumerate(_decoded_lines(path, encoding), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as err:
            raise DataFormatError(path, lineno, f"not valid JSON ({err.msg} at column {err.colno})") from None
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise DataFormatError(path, lineno, 'expected an object with a "text" string and its "entities" or "spans"')
        # a lone surrogate (json reads "\\ud83d" as one) becomes U+FFFD: one character, the offsets still hold
        text = replace_lone_surrogates(record["text"])
        sentence, n = sentence_from_record(text, _record_spans(record, path, lineno), alignment=alignment,
                                           source=path, line=lineno, document=len(out))
        adjusted, dropped = adjusted + n[0], dropped + n[1]
        if sentence.words:
            out.append(sentence)
        else:
            wordless.append(lineno)
    if wordless:
        shown = ", ".join(map(str, wordless[:5])) + (", ..." if len(wordless) > 5 else "")
        warnings.warn(f"{path}: {len(wordless)} record(s) with no word in their text skipped (line {shown}); "
                      "predictions written for this file have one line per record kept", stacklevel=2)
    if adjusted or dropped:
        warnings.warn(f"{path}: of the spans not on word boundaries, {adjusted} were adjusted and {dropped} "
                      f"dropped for holding no whole word ({alignment})", stacklevel=2)
    return out


def character_spans(sentence: Sentence, tags: Sequence[str] | None = None) -> list[Span]:
    """The entities of ``tags`` (default: the sentence's own) as character spans of its text.

    A sentence read from a column file has no text: its words joined by single spaces are its text.
    """
    text, offsets = text_and_offsets(sentence)
    return [Span(offsets[a][0], offsets[b - 1][1], kind, text=text[offsets[a][0]:offsets[b - 1][1]])
            for a, b, kind in spans_of(list(sentence.tags if tags is None else tags))]


def text_and_offsets(sentence: Sentence) -> tuple[str, tuple[tuple[int, int], ...]]:
    if sentence.text is not None and sentence.offsets is not None:
        return sentence.text, sentence.offsets
    offsets, at = [], 0
    for word in sentence.words:
        offsets.append((at, at + len(word)))
        at += len(word) + 1
    return " ".join(sentence.words), tuple(offsets)


def span_dicts(spans: Iterable[Span]) -> list[dict]:
    return [{k: v for k, v in (("start", s.start), ("end", s.end), ("label", s.label), ("score", s.score))
             if v is not None} for s in spans]


def write_jsonl(path: str | os.PathLike, records: Iterable[dict]) -> Path:
    """Write one JSON object per line (UTF-8, non-ASCII kept as is)."""
    path = Path(path)
    with path.open("w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def write_spans(path: str | os.PathLike, texts: Sequence[str], spans: Sequence[Sequence[Span]]) -> Path:
    """``predict``'s output as JSONL: ``{"text": ..., "spans": [{"start", "end", "label", "score"}]}`` per text.

    >>> import tempfile, pathlib
    >>> out = write_spans(pathlib.Path(tempfile.mkdtemp()) / "p.jsonl", ["Bob ran"], [[Span(0, 3, "PER", 0.9)]])
    >>> print(out.read_text(), end="")
    {"text": "Bob ran", "spans": [{"start": 0, "end": 3, "label": "PER", "score": 0.9}]}
    """
    if len(texts) != len(spans):
        raise DataFormatError("spans", None, f"{len(texts)} texts but {len(spans)} span lists")
    return write_jsonl(path, ({"text": t, "spans": span_dicts(s)} for t, s in zip(texts, spans, strict=True)))
