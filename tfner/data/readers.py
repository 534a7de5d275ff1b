"""Reading labelled sentences: CoNLL-style column files and in-memory lists.

Every reader returns a list of :class:`Sentence` with IOB2 tags, whatever scheme the
source used. Nothing is dropped silently: a malformed line raises
:class:`~tfner.errors.DataFormatError` naming the file and line.
"""

from __future__ import annotations

import codecs
import dataclasses
import logging
import os
import re
from collections.abc import Mapping

from tfner.data.schemes import Scheme, normalize_tags
from tfner.data.words import replace_lone_surrogates
from tfner.errors import DataFormatError, DataNotFoundError

logger = logging.getLogger(__name__)

DOCSTART = "-DOCSTART-"
# a line ends at \n, \r\n, \r\r\n (a CRLF file rewritten in Windows text mode) or a lone \r (old Mac)
_LINE_ENDS = re.compile(r"\r*\n|\r")
_LINE_ENDS_BYTES = re.compile(rb"\r*\n|\r")
_COLUMNS = re.compile(r"[ \t]+")  # only spaces and tabs separate columns; a no-break space is part of a word


@dataclasses.dataclass(frozen=True)
class Sentence:
    """One labelled sentence. ``source``/``line`` say where it came from (for messages).

    ``document`` numbers the documents of a file from 0 (each ``-DOCSTART-`` line starts
    a new one; a file without them is one document); ``context="document"`` fills a
    sentence's windows with its neighbours from the same document. ``tags`` are IOB2;
    ``scheme`` is the scheme the source was written in (predictions can be written back in it).
    A lone surrogate in a word or the text is stored as U+FFFD
    (:func:`tfner.data.words.replace_lone_surrogates`).
    """

    words: tuple[str, ...]
    tags: tuple[str, ...]
    source: str = "<memory>"
    line: int | None = None
    document: int = 0
    scheme: str = "iob2"
    #: For sentences read from character-span JSONL: the text and each word's (start, end) in it.
    text: str | None = None
    offsets: tuple[tuple[int, int], ...] | None = None
    #: Multi-task data: the tags of further tasks, ``(task name, one tag per word)`` pairs, as read
    #: (:mod:`tfner.data.tasks` turns span tasks' tags into IOB2).
    aux: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def __post_init__(self):
        # One rule for every route (pairs, Sentence objects, JSONL): a lone surrogate (half an emoji),
        # which the tokenizers refuse, becomes U+FFFD, one character for one (offsets still hold).
        words = tuple(replace_lone_surrogates(w) if isinstance(w, str) else w for w in self.words)
        if words != self.words:
            object.__setattr__(self, "words", words)
        if self.text is not None:
            object.__setattr__(self, "text", replace_lone_surrogates(self.text))
        if len(self.words) != len(self.tags):
            raise DataFormatError(
                self.source, self.line, f"{len(self.words)} words but {len(self.tags)} tags"
            )
        if self.offsets is not None and len(self.offsets) != len(self.words):
            raise DataFormatError(self.source, self.line, f"{len(self.words)} words but {len(self.offsets)} offsets")
        for task, tags in self.aux:
            if len(tags) != len(self.words):
                raise DataFormatError(self.source, self.line, f"{len(self.words)} words but {len(tags)} {task} tags")

    def aux_tags(self, task: str) -> tuple[str, ...]:
        """This sentence's tags for ``task`` (one of ``aux``); ``KeyError`` if it has none."""
        for name, tags in self.aux:
            if name == task:
                return tags
        raise KeyError(task)


PathLike = str | os.PathLike[str]


def read_conll(path: PathLike, *, scheme: Scheme = "auto", encoding: str = "utf-8", word_column: int = 0,
               tag_column: int = -1, invalid_tags: str = "error",
               aux_columns: Mapping[str, int] | None = None) -> list[Sentence]:
    """Read a CoNLL-style column file: the word in the first column, the tag in the last.

    >>> from tfner.data.datasets import wnut17_path
    >>> sentences = read_conll(wnut17_path("dev"))
    >>> len(sentences), sentences[0].scheme
    (1009, 'iob2')

    ``word_column`` / ``tag_column`` pick other columns (0-based; negative counts from the
    end); a line without them is an error naming the file and line. ``aux_columns`` (task name ->
    column) keeps further columns as each sentence's ``aux`` tags, as they are written (multi-task
    training: CoNLL-2003's POS and chunk columns).
    Columns are separated by spaces or tabs (other Unicode spaces, such as a no-break space,
    belong to the word). A sentence ends at an empty or whitespace-only line (WNUT-17's train file separates 2,394 sentences with a lone tab).
    ``-DOCSTART-`` lines start a new document (``Sentence.document``). Tags are validated and converted to IOB2
    (:func:`tfner.data.schemes.normalize_tags`); ``scheme="auto"`` detects the scheme (a B/I file in which some
    entity starts with ``I-`` is IOB1, as CoNLL-2003's original release).

    Raises:
        DataFormatError: a line has a word but no tag column, or a tag is malformed,
            naming the file and line.
    """
    path = os.fspath(path)
    # columns a line must have: enough for both indexes, and at least two
    aux_columns = dict(aux_columns or {})
    need = max(2, *(c + 1 if c >= 0 else -c for c in (word_column, tag_column, *aux_columns.values())))
    words: list[list[str]] = []
    tags: list[list[str]] = []
    lines: list[list[int]] = []  # the 1-based line of every word, for messages
    cur_w: list[str] = []
    cur_t: list[str] = []
    cur_l: list[int] = []
    aux: list[list[list[str]]] = []  # per sentence, per aux task: its tags
    cur_a: list[list[str]] = [[] for _ in aux_columns]
    documents: list[int] = []  # the document of every sentence
    document, document_used = 0, False
    width: tuple[int, int] | None = None  # (columns, line) of the first word line: every word line has as many
    for lineno, raw in enumerate(_decoded_lines(path, encoding), start=1):
        cols = _COLUMNS.split(raw.strip(" \t\r\n")) if raw.strip() else []
        # a document start also ends a sentence; a byte-order mark before it comes from files joined by `cat` (the
        # file's own mark is dropped on decoding; one inside a word is kept: it may be the word's)
        if not cols or cols[0].lstrip("\ufeff") == DOCSTART:
            if cur_w:
                words.append(cur_w)
                tags.append(cur_t)
                lines.append(cur_l)
                aux.append(cur_a)
                documents.append(document)
                document_used = True
                cur_w, cur_t, cur_l, cur_a = [], [], [], [[] for _ in aux_columns]
            if cols and document_used:
                document, document_used = document + 1, False
            continue
        if len(cols) < need or word_column % len(cols) == tag_column % len(cols):
            more = "".join(f", {task} column {c}" for task, c in aux_columns.items())
            raise DataFormatError(
                path, lineno, f"expected a word and a tag separated by whitespace (word column {word_column}, tag column "
                f"{tag_column}{more}), got {raw.rstrip(chr(10))!r}"
            )
        width = width or (len(cols), lineno)
        _check_width(cols, width, path, lineno, raw)
        cur_w.append(cols[word_column])
        cur_t.append(cols[tag_column])
        cur_l.append(lineno)
        for column, values in zip(aux_columns.values(), cur_a, strict=True):
            values.append(cols[column])
    if cur_w:
        words.append(cur_w)
        tags.append(cur_t)
        lines.append(cur_l)
        aux.append(cur_a)
        documents.append(document)
    iob2, applied = normalize_tags(tags, scheme, lambda s, w: (path, lines[s][w]), invalid_tags)
    if applied != "iob2":
        logger.info("%s: read as %s and converted to IOB2", path, applied.upper())
    return [Sentence(tuple(w), tuple(t), source=path, line=ln[0], document=d, scheme=applied,
                     aux=tuple((task, tuple(v)) for task, v in zip(aux_columns, a, strict=True)))
            for w, t, ln, d, a in zip(words, iob2, lines, documents, aux, strict=True)]


def _check_width(cols: list[str], width: tuple[int, int], path: str, lineno: int, raw: str) -> None:
    """A word line has as many columns as the file's first (``width``: its columns and line): else a column is
    missing or a word holds a space, and the word, tag and other columns would shift."""
    if len(cols) != width[0]:
        raise DataFormatError(
            path, lineno, f"{len(cols)} columns where line {width[1]} has {width[0]}: a column is missing or a "
            f"word holds a space (the word, tag and other columns would shift), got {raw.rstrip(chr(10))!r}")


def _decoded_lines(path: str, encoding: str) -> list[str]:
    """The file's lines, decoded as a whole (so UTF-16 works) and split on ``\\n``, ``\\r\\n`` or ``\\r``.

    A UTF-8 byte-order mark is dropped (read as ``utf-8-sig``), so it cannot glue itself to
    the first word. ``\\n``, ``\\r\\n`` and a lone ``\\r`` (old Mac files) end a line, as in Python's
    universal newlines: other Unicode line breaks (U+2028, U+0085...) can occur inside tokens and are kept.
    """
    if os.path.isdir(path):
        raise DataFormatError(path, None, "is a directory; expected a CoNLL column file or a .jsonl file")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise DataNotFoundError(path) from None
    codec = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as err:
        # utf-8-sig counts from after a byte-order mark; the file's bytes include it
        start = err.start + (len(codecs.BOM_UTF8) if codec == "utf-8-sig" and data.startswith(codecs.BOM_UTF8) else 0)
        ends = [m.end() for m in _LINE_ENDS_BYTES.finditer(data, 0, start)]
        line = len(ends) + 1
        column = start - (ends[-1] if ends else 0)
        raise DataFormatError(path, line, f"not valid {encoding}: {err.reason} at byte {column} of the line "
                              f"(byte {start} of the file); pass encoding= if the file is in another "
                              "encoding") from None
    except LookupError:
        raise DataFormatError(path, None, f"unknown encoding {encoding!r}") from None
    lines = _LINE_ENDS.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines
