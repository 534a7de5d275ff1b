"""Whatever a user passes as ``train``/``dev`` -> a list of IOB2 :class:`Sentence`.

The one entry point of the data stage for ``fit``, ``evaluate`` and ``prepare``: a CoNLL column
file (:mod:`tfner.data.readers`), a JSONL file of texts and character spans
(:mod:`tfner.data.jsonl`), or a Python list of :class:`Sentence` or ``(words, tags)`` pairs. It
sits above both readers, so neither imports the other's caller.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tfner.data import jsonl
from tfner.data.readers import PathLike, Sentence, read_conll
from tfner.data.schemes import Scheme, normalize_tags
from tfner.errors import DataFormatError

#: What ``fit``/``evaluate`` accept as data: a path to a CoNLL or JSONL file, or (words, tags) pairs.
DataLike = PathLike | Sequence[Sentence] | Sequence[tuple[Sequence[str], Sequence[str]]]


def as_sentences(data: DataLike, *, name: str = "data", scheme: Scheme = "auto",
                 invalid_tags: str = "error", span_alignment: str = "strict", tag_column: int = -1,
                 aux_columns: Mapping[str, int] | None = None) -> list[Sentence]:
    """Turn what a user passes as ``train``/``dev`` into a list of IOB2 :class:`Sentence`.

    Accepts a path to a CoNLL file, a list of :class:`Sentence`, or a list of
    ``(words, tags)`` pairs (one document, like a file without ``-DOCSTART-``). Errors name
    ``name[i]`` and the word position for lists. ``tag_column`` / ``aux_columns``: as
    :func:`read_conll`'s, for column files; with ``aux_columns`` a list must hold
    :class:`Sentence` with those ``aux`` tasks (a JSONL file has no such columns).
    """
    if isinstance(data, (str, os.PathLike)):
        if jsonl.is_jsonl(data):
            if aux_columns:
                raise DataFormatError(os.fspath(data), None, "a JSONL file holds entity spans only; multi-task "
                                      "training needs CoNLL column files (or Sentence objects with aux tags)")
            read = jsonl.read_jsonl(data, alignment=span_alignment)
        else:
            read = read_conll(data, scheme=scheme, invalid_tags=invalid_tags, tag_column=tag_column,
                              aux_columns=aux_columns)
        if not read:
            raise DataFormatError(os.fspath(data), None, f"{name} holds no sentences (the file is empty or has only "
                                  "blank and -DOCSTART- lines)")
        return read
    if not isinstance(data, Iterable):
        raise DataFormatError(name, None, f"expected a file path or a list of (words, tags), got {type(data).__name__}")
    raw: list[tuple[tuple[str, ...], tuple[str, ...], str, int | None, int, Sentence | None]] = []
    item: Any
    raw_words: Any
    raw_tags: Any
    for i, item in enumerate(data):
        if aux_columns and not (isinstance(item, Sentence) and {t for t, _ in item.aux} >= set(aux_columns)):
            raise DataFormatError(f"{name}[{i}]", None, f"multi-task training needs the tags of every task "
                                  f"({', '.join(aux_columns)}) for every sentence: pass CoNLL column files, or "
                                  "Sentence objects with aux=((task, tags), ...)")
        if isinstance(item, Sentence):  # its tags are IOB2 whatever ``scheme`` the user's files are in
            _check_words(item.words, f"{name}[{i}]")
            where = item.source if item.line is not None else f"{name}[{i}]"  # a file's line, else the list's index
            raw.append((item.words, item.tags, where, item.line, item.document, item))
            continue
        try:
            raw_words, raw_tags = item
        except (TypeError, ValueError):
            raise DataFormatError(f"{name}[{i}]", None, "expected a (words, tags) pair") from None
        if isinstance(raw_words, str) or isinstance(raw_tags, str):
            raise DataFormatError(f"{name}[{i}]", None, "words and tags must be lists of strings, not a string")
        try:
            words, tags = tuple(raw_words), tuple(raw_tags)
        except TypeError:
            raise DataFormatError(f"{name}[{i}]", None, "words and tags must be lists of strings") from None
        if len(words) != len(tags):
            raise DataFormatError(f"{name}[{i}]", None, f"{len(words)} words but {len(tags)} tags")
        _check_words(words, f"{name}[{i}]")
        raw.append((words, tags, f"{name}[{i}]", None, 0, None))

    if not raw:  # as an empty file: not a run without dev scoring, nor an evaluation of nothing
        raise DataFormatError(name, None, f"{name} holds no sentences (an empty list)")

    iob2, applied = _to_iob2(raw, scheme, invalid_tags)
    return [dataclasses.replace(r[5], tags=tuple(t)) if r[5] is not None else
            Sentence(r[0], tuple(t), r[2], r[3], r[4], applied) for r, t in zip(raw, iob2, strict=True)]


def _to_iob2(raw: list, scheme: Scheme, invalid_tags: str) -> tuple[list[list[str]], str]:
    """Every item's tags as IOB2, and the scheme the pairs were read in. Sentence objects hold IOB2 (read_conll
    converted them; Sentence's contract): they are checked as IOB2, not re-read in ``scheme``, which names the
    scheme of the user's files and pairs (their BIOES tags were once re-checked as BIOES and refused)."""

    def locate(s: int, w: int) -> tuple[str, int | None]:
        _, _, source, line, _, _ = raw[s]
        return (source, line + w) if line is not None else (f"{source}, word {w}", None)

    def convert(group: list[int], group_scheme: Scheme) -> tuple[list[list[str]], str]:
        def where(s: int, w: int) -> tuple[str, int | None]:
            return locate(group[s], w)

        return normalize_tags([raw[k][1] for k in group], group_scheme, where, invalid_tags)

    iob2: list[list[str]] = [[] for _ in raw]
    objects = [k for k, r in enumerate(raw) if r[5] is not None]
    if objects:
        try:
            converted, _ = convert(objects, "iob2")
        except DataFormatError as err:
            raise DataFormatError(err.source, err.line, f"{err.message} (Sentence tags are IOB2; pass (words, tags) "
                                  "pairs, or read the file with scheme=, to convert from another scheme)") from None
        for k, t in zip(objects, converted, strict=True):
            iob2[k] = t
    pairs = [k for k, r in enumerate(raw) if r[5] is None]
    applied = "iob2"
    if pairs:
        converted, applied = convert(pairs, scheme)
        for k, t in zip(pairs, converted, strict=True):
            iob2[k] = t
    return iob2, applied


def _check_words(words, where: str) -> None:
    for w, word in enumerate(words):
        if not isinstance(word, str) or not word:
            raise DataFormatError(where, None, f"word {w} must be a non-empty string, got {word!r}")
