"""Words -> sub-word windows with aligned labels, and window predictions -> word tags.

Alignment rules (the contract the tests check):

* Each word's **first** sub-token carries the word's label; later sub-tokens and the
  special tokens carry ``IGNORE`` (-100). With ``label_all_subtokens=True`` later
  sub-tokens carry the word's label too, a ``B-X`` turned into ``I-X``.
* A word that tokenizes to no sub-token at all (e.g. ``"\\ufeff"``) gets ``[UNK]``, so
  every word has a position and a prediction.
* A sentence longer than ``max_length - 2`` sub-tokens is cut into overlapping windows at
  word boundaries. Each word is *owned* by exactly one window, the one where it has the
  most context on both sides (counted in sub-tokens, :func:`own_start`); only owned words
  carry labels and predictions, so no word is lost and none is counted twice. A single
  word longer than a whole window keeps its first ``max_length - 2`` sub-tokens (its label
  sits on the first), with a warning.
* **Packed** (``packed=True``): a document's sentences are laid end to end and windowed as one
  word sequence by the same rule, so windows are full and every word of the document is owned
  by one of them. Each owned position still names its sentence (``Window.sentences``), so
  labels, scores and decoding stay per sentence.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping, Sequence

import numpy as np

IGNORE = -100

#: At most this many consecutive sentences of one document are packed together (a file without
#: ``-DOCSTART-`` lines, or a list of sentences, is one document: it is packed in runs of this many).
PACK_SENTENCES = 64


@dataclasses.dataclass(frozen=True)
class Window:
    """One model input: a slice of one sentence (or, packed, of consecutive sentences), with [CLS]/[SEP] added."""

    sentence: int  # the (first) sentence whose words the window holds
    input_ids: np.ndarray  # int32 [T]
    labels: np.ndarray  # int32 [T], IGNORE where no loss; [T, tasks] with several tasks (with_task_labels)
    word_index: np.ndarray  # int32 [T]: index (in its sentence) of the owned word whose first sub-token this is, else -1
    sentences: np.ndarray | None = None  # int32 [T], packed windows: the sentence of that owned word, else -1

    def owned(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(positions, sentences, words)`` of the owned words' first sub-tokens, in window order."""
        pos = np.nonzero(self.word_index >= 0)[0]
        sentences = self.sentences[pos] if self.sentences is not None else np.full(len(pos), self.sentence, np.int32)
        return pos, sentences, self.word_index[pos]

    @property
    def length(self) -> int:
        return int(self.input_ids.shape[0])


def plan_windows(pieces: Sequence[int], content: int, overlap: int) -> list[tuple[int, int, int, int]]:
    """Cut words with ``pieces[i]`` sub-tokens into windows of at most ``content`` sub-tokens.

    Returns ``(first_word, end_word, owned_first, owned_end)`` per window. Both ends strictly
    increase from one window to the next; the owned ranges partition ``range(len(pieces))``,
    each word owned by the window where it has more context (:func:`own_start`).

    >>> plan_windows([1, 1, 1, 1, 1, 1, 1], content=5, overlap=3)
    [(0, 5, 0, 4), (2, 7, 4, 7)]
    """
    n = len(pieces)
    if n == 0:
        return [(0, 0, 0, 0)]
    cost = [min(p, content) for p in pieces]
    spans: list[tuple[int, int]] = []
    start = 0
    while True:
        end, total = start, 0
        while end < n and total + cost[end] <= content:
            total += cost[end]
            end += 1
        spans.append((start, end))
        if end == n:
            break
        nxt, shared = end, 0
        while nxt - 1 > start and shared + cost[nxt - 1] <= overlap:
            nxt -= 1
            shared += cost[nxt]
        if shared + cost[end] > content:  # no room for the next word beside that context:
            nxt = end  # start afresh, so every window reaches further than the one before
        start = nxt
    prefix = [0]
    for c in cost:
        prefix.append(prefix[-1] + c)
    starts = [0] + [own_start(prefix, spans[k - 1], spans[k]) for k in range(1, len(spans))]
    return [(a, b, starts[k], starts[k + 1] if k + 1 < len(spans) else n) for k, (a, b) in enumerate(spans)]


def own_start(prefix: Sequence[int], before: tuple[int, int], window: tuple[int, int]) -> int:
    """The first word ``window`` owns rather than the window ``before`` it: where it has more context.

    A word's context in a window is the smaller of the sub-tokens before it and after it in
    that window. In the overlap the earlier window's context shrinks word by word and the
    later one's grows; the later window owns from the first word where its context is
    larger (ties stay with the earlier window), or from the earlier window's end.
    """
    (a0, b0), (a1, b1) = before, window
    for w in range(a1, b0):
        earlier = min(prefix[w] - prefix[a0], prefix[b0] - prefix[w + 1])
        later = min(prefix[w] - prefix[a1], prefix[b1] - prefix[w + 1])
        if later > earlier:
            return w
    return b0


@dataclasses.dataclass(frozen=True)
class Windowing:
    """How sentences become windows: the settings ``fit``, ``prepare``, prediction and export share.

    ``max_length``: sub-tokens per window, [CLS] and [SEP] included; ``overlap``: sub-tokens of
    context a window shares with the one before it; ``label_all_subtokens``: later sub-tokens
    carry the word's label too (``B-X`` turned into ``I-X``).

    >>> Windowing(32, 4).to_dict()
    {'max_length': 32, 'window_overlap': 4, 'label_all_subtokens': False}
    """

    max_length: int
    overlap: int
    label_all_subtokens: bool = False

    def to_dict(self) -> dict:
        """The settings under :class:`~tfner.config.TaggerConfig`'s field names (as a prepared folder records them)."""
        return {"max_length": self.max_length, "window_overlap": self.overlap,
                "label_all_subtokens": self.label_all_subtokens}

    def encode(self, tokenizer, sentences: Sequence[Sequence[str]], tags: Sequence[Sequence[str]] | None = None,
               label_to_id: Mapping[str, int] | None = None, documents: Sequence[int] | None = None,
               packed: bool = False) -> list[Window]:
        """:func:`encode` with these settings."""
        return encode(tokenizer, sentences, tags, label_to_id, max_length=self.max_length, overlap=self.overlap,
                      label_all_subtokens=self.label_all_subtokens, documents=documents, packed=packed)


def encode(
    tokenizer,
    sentences: Sequence[Sequence[str]],
    tags: Sequence[Sequence[str]] | None,
    label_to_id: Mapping[str, int] | None,
    *,
    max_length: int,
    overlap: int,
    label_all_subtokens: bool = False,
    documents: Sequence[int] | None = None,
    packed: bool = False,
) -> list[Window]:
    """Encode word lists (and their IOB2 tags, if given) into windows for the model.

    ``documents`` (one document id per sentence; neighbours in the list with the same id
    belong to the same document) turns on document context: a sentence that fits one
    window gets the rest of it filled with the sub-tokens just before and after it in its
    document, about half on each side (more on one side when the other runs out), never
    across a document boundary. Context tokens carry no label and no word index, so loss,
    scores and predictions stay on the sentence's own words. A sentence longer than one
    window is windowed as without context.

    ``packed=True`` packs each document (``documents``; without them, the sentences are one
    document) in runs of at most :data:`PACK_SENTENCES` sentences (:func:`document_runs`): a run's
    words are windowed end to end with ``overlap``, each word labelled in the one window where it
    has the most context. Windows are full but for a run's last.
    """
    if tags is not None and label_to_id is None:
        raise ValueError("label_to_id is required with tags")
    if documents is not None and len(documents) != len(sentences):
        raise ValueError(f"{len(documents)} document ids for {len(sentences)} sentences")
    content = max_length - 2
    pieces_of, truncated = _word_pieces(tokenizer, sentences, content)
    labellers = [_Labeller(t, label_to_id, label_all_subtokens) for t in tags] if tags is not None else None
    if packed:
        windows = [win for run in document_runs(documents if documents is not None else [0] * len(sentences), PACK_SENTENCES)
                   for win in _packed_windows(tokenizer, run, pieces_of, content, overlap, labellers)]
    else:
        windows = _sentence_windows(tokenizer, pieces_of, content, overlap, documents, labellers)
    if truncated:
        s, w = truncated[0]
        warnings.warn(
            f"{len(truncated)} word(s) have more than max_length - 2 = {content} sub-tokens and keep only their "
            f"first {content} (the word still gets its tag); first: sentence {s}, word {w} "
            f"{sentences[s][w][:40]!r}",
            stacklevel=2,
        )
    return windows


def _sentence_windows(tokenizer, pieces_of: list[list[list[int]]], content: int, overlap: int,
                      documents: Sequence[int] | None, labellers: list[_Labeller] | None) -> list[Window]:
    """Each sentence's own windows (with its document's context around it where ``documents`` are given)."""
    flat = [[t for p in pieces for t in p[:content]] for pieces in pieces_of] if documents is not None else []
    windows: list[Window] = []
    for s, word_pieces in enumerate(pieces_of):
        plan = plan_windows([len(p) for p in word_pieces], content, overlap)
        left: list[int] = []
        right: list[int] = []
        if documents is not None and len(plan) == 1:
            left, right = _context(flat, documents, s, content - len(flat[s]))
        labeller = labellers[s] if labellers is not None else None
        for a, b, own_a, own_b in plan:
            windows.append(_window(tokenizer, s, word_pieces, (a, b, own_a, own_b), content, left, right, labeller))
    return windows


def document_runs(documents: Sequence[int], limit: int = PACK_SENTENCES) -> list[range]:
    """The sentences packed together: runs of consecutive sentences of one document, at most ``limit`` long.

    >>> document_runs([0, 0, 0, 1, 1, 0], limit=2)
    [range(0, 2), range(2, 3), range(3, 5), range(5, 6)]
    """
    runs: list[range] = []
    start = 0
    for s in range(1, len(documents) + 1):
        if s == len(documents) or documents[s] != documents[start] or s - start == limit:
            runs.append(range(start, s))
            start = s
    return runs


def _packed_windows(tokenizer, run: range, pieces_of: list[list[list[int]]], content: int, overlap: int,
                    labellers: list[_Labeller] | None) -> list[Window]:
    """The sentences of ``run`` laid end to end and windowed as one word sequence (:func:`plan_windows`)."""
    words = [(s, w) for s in run for w in range(len(pieces_of[s]))]
    pieces = [pieces_of[s][w][:content] for s, w in words]
    windows = []
    for a, b, own_a, own_b in plan_windows([len(p) for p in pieces], content, overlap):
        ids, labels, index, sentence = [tokenizer.cls_token_id], [IGNORE], [-1], [-1]
        for k in range(a, b):
            (s, w), p = words[k], pieces[k]
            owned = own_a <= k < own_b
            ids.extend(p)
            index.extend([w if owned else -1] + [-1] * (len(p) - 1))
            sentence.extend([s if owned else -1] + [-1] * (len(p) - 1))
            labels.extend(labellers[s](w, len(p)) if labellers is not None and owned else [IGNORE] * len(p))
        ids.append(tokenizer.sep_token_id)
        labels.append(IGNORE)
        index.append(-1)
        sentence.append(-1)
        windows.append(Window(sentence=words[a][0] if a < len(words) else run.start,
                              input_ids=np.asarray(ids, np.int32), labels=np.asarray(labels, np.int32),
                              word_index=np.asarray(index, np.int32), sentences=np.asarray(sentence, np.int32)))
    return windows


def _word_pieces(tokenizer, sentences: Sequence[Sequence[str]],
                 content: int) -> tuple[list[list[list[int]]], list[tuple[int, int]]]:
    """Each word's sub-token ids (``[UNK]`` for a word the tokenizer drops), and the ``(sentence, word)``
    positions of words longer than ``content`` sub-tokens."""
    nonempty = [i for i, s in enumerate(sentences) if len(s)]
    batch = tokenizer([list(sentences[i]) for i in nonempty], is_split_into_words=True, add_special_tokens=False,
                      truncation=False, padding=False, verbose=False)
    by_sentence = {i: k for k, i in enumerate(nonempty)}
    pieces_of: list[list[list[int]]] = []
    truncated: list[tuple[int, int]] = []
    for s, words in enumerate(sentences):
        word_pieces: list[list[int]] = [[] for _ in words]
        if s in by_sentence:
            k = by_sentence[s]
            for tok_id, w in zip(batch["input_ids"][k], batch.word_ids(k), strict=True):
                if w is not None:
                    word_pieces[w].append(tok_id)
        for w, p in enumerate(word_pieces):
            if not p:
                p.append(tokenizer.unk_token_id)
            elif len(p) > content:
                truncated.append((s, w))
        pieces_of.append(word_pieces)
    return pieces_of, truncated


@dataclasses.dataclass(frozen=True)
class _Labeller:
    """The label ids of one sentence's words: the first sub-token's, and the later ones'."""

    tags: Sequence[str]
    label_to_id: Mapping[str, int] | None
    all_subtokens: bool

    def __call__(self, w: int, pieces: int) -> list[int]:
        ids = self.label_to_id or {}
        tag = self.tags[w]
        if not self.all_subtokens:
            return [ids[tag]] + [IGNORE] * (pieces - 1)
        cont = ids["I-" + tag[2:]] if tag.startswith("B-") else ids[tag]
        return [ids[tag]] + [cont] * (pieces - 1)


def _window(tokenizer, s: int, word_pieces: list[list[int]], plan: tuple[int, int, int, int], content: int,
            left: list[int], right: list[int], labeller: _Labeller | None) -> Window:
    """Window ``plan`` = ``(first_word, end_word, owned_first, owned_end)`` of sentence ``s``, with context."""
    a, b, own_a, own_b = plan
    ids, labels, index = [tokenizer.cls_token_id, *left], [IGNORE] * (1 + len(left)), [-1] * (1 + len(left))
    for w in range(a, b):
        p = word_pieces[w][:content]
        owned = own_a <= w < own_b
        ids.extend(p)
        index.extend([w if owned else -1] + [-1] * (len(p) - 1))
        labels.extend(labeller(w, len(p)) if labeller is not None and owned else [IGNORE] * len(p))
    ids.extend([*right, tokenizer.sep_token_id])
    labels.extend([IGNORE] * (len(right) + 1))
    index.extend([-1] * (len(right) + 1))
    return Window(sentence=s, input_ids=np.asarray(ids, np.int32), labels=np.asarray(labels, np.int32),
                  word_index=np.asarray(index, np.int32))


def with_task_labels(windows: Sequence[Window], *others: Sequence[Window]) -> list[Window]:
    """``windows`` (the main task's) with the labels of further tasks as more columns: ``[T, 1 + len(others)]``.

    Each of ``others`` must be the same sentences encoded with the same settings and another task's
    tags, so the same windows of the same sub-tokens (checked).
    """
    out = []
    for k, win in enumerate(windows):
        columns = [win.labels]
        for task_windows in others:
            other = task_windows[k]
            if other.sentence != win.sentence or not np.array_equal(other.input_ids, win.input_ids):
                raise AssertionError(f"window {k}: the tasks' windows differ")  # same words, same settings
            columns.append(other.labels)
        out.append(dataclasses.replace(win, labels=np.stack(columns, axis=-1)))
    return out


def main_labels(window: Window) -> np.ndarray:
    """The main task's labels of ``window`` (its only ones without further tasks)."""
    return window.labels if window.labels.ndim == 1 else window.labels[:, 0]


def _context(flat: list[list[int]], documents: Sequence[int], s: int, room: int) -> tuple[list[int], list[int]]:
    """Up to ``room`` sub-tokens of sentence ``s``'s document around it: ``(before, after)``."""
    if room <= 0:
        return [], []

    def gather(step: int) -> list[int]:
        parts: list[list[int]] = []
        have, t = 0, s + step
        while have < room and 0 <= t < len(flat) and documents[t] == documents[s]:
            parts.append(flat[t])
            have += len(flat[t])
            t += step
        if step < 0:
            parts.reverse()
        return [tok for part in parts for tok in part]

    before, after = gather(-1), gather(1)
    n_before = min(len(before), room // 2)
    n_after = min(len(after), room - n_before)
    n_before = min(len(before), room - n_after)
    return before[len(before) - n_before:], after[:n_after]


def collect(
    windows: Sequence[Window],
    sentence_lengths: Sequence[int],
    token_values: Sequence[np.ndarray],
) -> list[np.ndarray]:
    """Gather per-token values (label ids, scores...) of each window back onto words.

    ``token_values[k]`` holds one value (a scalar or a row, e.g. label probabilities) per
    token of ``windows[k]`` (padding beyond the window's length is ignored). Returns one
    array per sentence, one value per word.
    """
    first = np.asarray(token_values[0]) if len(token_values) else np.zeros(0, np.int32)
    out: list[np.ndarray] = [np.zeros((n, *first.shape[1:]), first.dtype) for n in sentence_lengths]
    filled = [np.zeros(n, bool) for n in sentence_lengths]
    for win, values in zip(windows, token_values, strict=True):
        pos, sentences, words = win.owned()
        values = np.asarray(values)
        for s in np.unique(sentences):
            at = sentences == s
            out[s][words[at]] = values[pos[at]]
            filled[s][words[at]] = True
    for s, ok in enumerate(filled):
        if not ok.all():  # cannot happen by construction; never return a made-up tag
            raise AssertionError(f"sentence {s}: words {np.nonzero(~ok)[0].tolist()} got no prediction")
    return out
