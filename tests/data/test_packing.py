"""Packed windows (``context="packed"``): a document's sentences end to end in full windows, every
word labelled once, by the window where it has the most context.

The checks are computed independently of the packer: each window is located in the document's
sub-token stream by its own ids, the words it contains are listed from that stream, and a word's
context in a window is counted by hand (the smaller of the sub-tokens before and after it).
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from tfner.data import alignment
from tfner.data.alignment import IGNORE, collect, document_runs, encode

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
L2I = {t: i for i, t in enumerate(LABELS)}
WORDS = ["alice", "bob", "paris", "flew", "to", "and", "zed", "qx", "wvut", "abcdefghij", "."]


def random_corpus(rng: random.Random):
    """Sentences (some empty), IOB2 tags and document ids in runs, as a reader gives them."""
    sentences, tags, documents = [], [], []
    for doc in range(rng.randint(1, 4)):
        for _ in range(rng.randint(1, 9)):
            words = [rng.choice(WORDS) for _ in range(rng.choice([0, 1, 3, 7, 12, 25]))]
            sentences.append(words)
            tags.append([rng.choice(LABELS[::2]) if w != "." else "O" for w in words])
            documents.append(doc)
    return sentences, tags, documents


def context(span: tuple[int, int], start: int, size: int) -> int:
    """A word's context in a window: the smaller of the sub-tokens before it and after it."""
    return min(span[0] - start, start + size - span[1])


def pieces_of(tok, words):
    return [tok(w, add_special_tokens=False)["input_ids"] or [tok.unk_token_id] for w in words]


def test_document_runs_split_at_documents_and_at_the_limit():
    assert document_runs([]) == []
    assert document_runs([3]) == [range(0, 1)]
    assert document_runs([0, 0, 0, 0, 0], limit=2) == [range(0, 2), range(2, 4), range(4, 5)]
    assert document_runs([0, 1, 1, 2, 0], limit=9) == [range(0, 1), range(1, 3), range(3, 4), range(4, 5)]


@pytest.mark.filterwarnings("ignore:.*sub-tokens and keep only their first")
@pytest.mark.parametrize("seed", range(40))
def test_every_word_is_labelled_once_by_the_window_where_it_has_the_most_context(tiny_tokenizer, seed, monkeypatch):
    rng = random.Random(seed)
    tok = tiny_tokenizer
    sentences, tags, documents = random_corpus(rng)
    max_length = rng.choice([8, 12, 16, 32])
    overlap = rng.randint(0, (max_length - 2) // 2)
    limit = rng.choice([1, 2, 64])
    content = max_length - 2
    monkeypatch.setattr(alignment, "PACK_SENTENCES", limit)
    windows = encode(tok, sentences, tags, L2I, max_length=max_length, overlap=overlap, documents=documents,
                     packed=True)

    owners: dict[tuple[int, int], list[int]] = {}
    by_run: dict[int, list[int]] = {}
    for run_no, run in enumerate(document_runs(documents, limit)):
        # the run's words as a stream of sub-tokens, each word's [start, end) in it (words cut to `content`)
        stream, where, word_of = [], [], []
        for s in run:
            for w, p in enumerate(pieces_of(tok, sentences[s])):
                where.append((len(stream), len(stream) + min(len(p), content)))
                word_of.append((s, w))
                stream.extend(p[:content])
        run_windows = [k for k, win in enumerate(windows) if win.sentence in run]
        by_run[run_no] = run_windows
        located = []
        for k in run_windows:
            win = windows[k]
            assert win.length <= max_length and win.input_ids[0] == tok.cls_token_id \
                and win.input_ids[-1] == tok.sep_token_id
            body = win.input_ids[1:-1].tolist()
            pos, sent, word = win.owned()
            if not word_of:  # a run of empty sentences: one window of [CLS] [SEP]
                assert body == [] and len(pos) == 0
                continue
            assert len(pos), f"window {k} labels no word"  # a window that labels nothing would be wasted work
            a0 = where[word_of.index((int(sent[0]), int(word[0])))][0] - (int(pos[0]) - 1)
            assert stream[a0:a0 + len(body)] == body, f"window {k} is not a stretch of its document"
            inside = [i for i, (a, b) in enumerate(where) if a0 <= a and b <= a0 + len(body)]
            assert sum(where[i][1] - where[i][0] for i in inside) == len(body)  # whole words only
            located.append((k, a0, len(body), inside))
        for k, a0, _, inside in located:
            pos, sent, word = windows[k].owned()
            for p, s, w in zip(pos, sent, word, strict=True):
                i = word_of.index((int(s), int(w)))
                assert i in inside and p - 1 == where[i][0] - a0  # the label sits on the word's first sub-token
                owners.setdefault((int(s), int(w)), []).append(k)
                row = windows[k].labels
                assert row[p] == L2I[tags[s][w]]
            unowned = np.ones(windows[k].length, bool)
            unowned[pos] = False
            assert (windows[k].labels[unowned] == IGNORE).all()

        for i, (s, w) in enumerate(word_of):
            [k] = owners[(s, w)]  # exactly one window labels it
            best = max(context(where[i], a0, n) for _, a0, n, inside in located if i in inside)
            mine = next(context(where[i], a0, n) for kk, a0, n, _ in located if kk == k)
            assert mine == best, f"sentence {s} word {w}: context {mine} in its window, {best} in another"
        # full windows: all but the run's last end where the next word would not fit
        for k, _, n, inside in located[:-1]:
            following = max(inside) + 1
            assert n + (where[following][1] - where[following][0]) > content, f"window {k} could hold another word"
    assert sum(len(s) for s in sentences) == len(owners)
    assert sorted(k for ks in by_run.values() for k in ks) == list(range(len(windows)))  # no window spans two runs


@pytest.mark.parametrize("seed", range(10))
def test_collect_puts_every_packed_value_back_on_its_word(tiny_tokenizer, seed):
    rng = random.Random(100 + seed)
    sentences, _, documents = random_corpus(rng)
    windows = encode(tiny_tokenizer, sentences, None, None, max_length=16, overlap=rng.randint(0, 7),
                     documents=documents, packed=True)
    values = []
    for win in windows:  # each owned position's value names its word; the rest is noise that must not leak
        v = rng.choices(range(-99, -1), k=win.length)
        pos, sent, word = win.owned()
        for p, s, w in zip(pos, sent, word, strict=True):
            v[p] = 1000 * int(s) + int(w)
        values.append(np.asarray(v))
    out = collect(windows, [len(s) for s in sentences], values)
    for s, got in enumerate(out):
        assert got.tolist() == [1000 * s + w for w in range(len(sentences[s]))]


def test_packed_windows_are_fuller_than_sentence_windows(tiny_tokenizer):
    rng = random.Random(7)
    sentences = [[rng.choice(WORDS[:6]) for _ in range(rng.randint(3, 8))] for _ in range(40)]
    sentence_windows = encode(tiny_tokenizer, sentences, None, None, max_length=32, overlap=4)
    packed = encode(tiny_tokenizer, sentences, None, None, max_length=32, overlap=4, packed=True)
    real = sum(len(pieces_of(tiny_tokenizer, s)) for s in sentences)  # these words are one piece each
    assert len(packed) < len(sentence_windows) / 3
    assert all(w.length == 32 for w in packed[:-1])
    # each packed window repeats at most `overlap` tokens of context; the sentence windows add 2 specials each
    assert sum(w.length for w in packed) <= real + len(packed) * (2 + 4)
