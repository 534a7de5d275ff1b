"""The in-graph text path (``predict_text``, ``Tagger.predict``) against an independent Python route.

The reference route splits with :func:`split_words`, tags the words with ``predict_tags``
(the fast tokenizer, Python windows, the ``serving_default`` computation) and chunks them with
:func:`entities`. The tiny tagger has ``max_length=32`` and ``window_overlap=4``, so texts of
a few dozen words already span several windows.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import reference_spans
from tfner.data.words import split_words

CASES = {
    "plain": "Alice flew to Paris.",
    "several_entities": "Bob went to London and met Carol in Rome!",
    "combining_marks": "Ca\u0301fe\u0301 Alice, cafe\u0301 Bob",  # NFD input
    "fullwidth": "Ａｌｉｃｅ ｆｌｅｗ ｔｏ Ｒｏｍｅ",
    "zero_width": "Al\u200bice flew to Pa\u00adris \ufeffBob",  # ZWSP, soft hyphen, BOM inside words
    "emoji": "😀 Alice 👩‍👩‍👧 met Bob 🇫🇷 in Paris",  # emoji, ZWJ sequence, flag
    "cjk": "中文 Alice 在 Rome 见到 Bob。",  # ideographs and CJK punctuation
    "rtl": "مرحبا Alice שלום Bob",  # Arabic and Hebrew
    "compatibility": "İstanbul ß ﬁ ² Carol",  # ligature, superscript, ß, dotted capital I
    "special_token_text": "[CLS] Alice [SEP] Bob [UNK]",
    "whitespace_kinds": "Tabs\tand\nnewlines\r\nAlice\u3000Bob\u00a0Carol",
    "control_characters": "a\x01b Alice\x7f Bob",
    "spaces_only": "   ",
    "punctuation_only": "...!!!???",
    "empty": "",
}
HAND_MADE = list(CASES.values())


def graph_spans(tagger, texts):
    return [[(s.start, s.end, s.label, s.score) for s in row] for row in tagger.predict(texts)]


def assert_same_spans(got, want, context=""):
    assert [g[:3] for g in got] == [w[:3] for w in want], context
    np.testing.assert_allclose([g[3] for g in got], [w[3] for w in want], atol=1e-4, err_msg=context)


@pytest.mark.parametrize("case", list(CASES))
def test_hand_made_text_gives_the_reference_spans(fitted, case):
    text = CASES[case]
    (alone,) = graph_spans(fitted, [text])
    assert_same_spans(alone, reference_spans(fitted, text), repr(text))
    for span in fitted.predict([text])[0]:
        assert text[span.start:span.end] == span.text and span.text.strip() == span.text


def test_hand_made_texts_in_one_batch_give_what_they_give_alone(fitted):
    together = graph_spans(fitted, HAND_MADE)
    for text, got in zip(HAND_MADE, together, strict=True):
        assert_same_spans(got, graph_spans(fitted, [text])[0], repr(text))
    # the toy model really finds entities in them (the comparisons are not vacuous)
    assert sum(len(row) for row in together) >= 15


def test_long_texts_are_windowed_like_the_python_path(fitted):
    rng = random.Random(7)
    vocab = ["Alice", "Bob", "Carol", "Paris", "London", "Rome", "flew", "to", "went", "met", "in", "and", "acme",
             ".", "!", "zzqx", "Ａlice", "café"]
    texts = [" ".join(rng.choice(vocab) for _ in range(n)) for n in (25, 31, 60, 200, 450)]
    assert max(len(t.split()) for t in texts) > 10 * 30  # far beyond one 32-token window
    for text, got in zip(texts, graph_spans(fitted, texts), strict=True):
        assert_same_spans(got, reference_spans(fitted, text), text[:40])


def test_predict_overlap_windows_the_graph_like_the_python_path(fitted):
    """``predict_overlap`` (here 12; trained with 4) reaches the text graph an export saves, not only Python."""
    from tfner import Tagger
    from tfner.tagging.state import from_model

    state = fitted._check_fitted()
    wide = Tagger()
    wide._take(from_model(state.config.replace(predict_overlap=12), state.labels, state.tokenizer, state.model,
                          state.tasks))
    rng = random.Random(8)
    vocab = ["Alice", "Bob", "Carol", "Paris", "London", "Rome", "flew", "to", "went", "met", "in", "and", "."]
    texts = [" ".join(rng.choice(vocab) for _ in range(n)) for n in (40, 90, 300)]
    got = graph_spans(wide, texts)
    for text, spans in zip(texts, got, strict=True):
        assert_same_spans(spans, reference_spans(wide, text), text[:40])
    narrow = graph_spans(fitted, texts)
    assert any(len(a) != len(b) or any(abs(x[3] - y[3]) > 1e-4 for x, y in zip(a, b, strict=False))
               for a, b in zip(got, narrow, strict=True))  # the overlap changes what comes out: 12 is not 4


def test_offsets_index_the_text_in_code_points_and_bytes(fitted):
    texts = ["😀 Alice met Bob in Rome", "Ｃａｒｏｌ flew to Paris", "中文Alice中 Bob"]
    out = {k: v.numpy() for k, v in fitted.module_.predict_text(tf.constant([t.encode() for t in texts])).items()}
    found = 0
    for i, text in enumerate(texts):
        for j in range(int(out["num_entities"][i])):
            start, end = int(out["entity_start"][i, j]), int(out["entity_end"][i, j])
            assert 0 <= start < end <= len(text)
            assert int(out["entity_start_byte"][i, j]) == len(text[:start].encode())
            assert int(out["entity_end_byte"][i, j]) == len(text[:end].encode())
            found += 1
        # padding past the count is unmistakable
        assert (out["entity_start"][i, int(out["num_entities"][i]):] == -1).all()
        assert (out["entity_label"][i, int(out["num_entities"][i]):] == b"").all()
    assert found >= 4


def test_an_empty_batch_gives_empty_dense_outputs(fitted):
    out = fitted.module_.predict_text(tf.constant([], tf.string))
    assert out["num_entities"].shape == (0,)
    for name in ("entity_start", "entity_end", "entity_label", "entity_score"):
        assert out[name].shape == (0, 0)
    assert fitted.predict([]) == []


@pytest.mark.parametrize("text", ["", " ", "\t\n ", "!!!", ". , ; :", "\u200b\u200b", "\x00", "\ufffd"])
def test_texts_of_only_spaces_punctuation_or_invisible_characters(fitted, text):
    (got, other), (alone,) = graph_spans(fitted, [text, "Alice flew to Paris"]), graph_spans(fitted, [text])
    assert_same_spans(got, reference_spans(fitted, text))
    assert_same_spans(alone, got)
    if not split_words(text):
        assert got == []  # no word, no entity
    assert_same_spans(other, graph_spans(fitted, ["Alice flew to Paris"])[0])  # the batch-mate is unaffected


def test_a_10000_character_text(fitted):
    rng = random.Random(3)
    text = " ".join(rng.choice(["Alice", "flew", "to", "Paris", "and", "Bob", "!"]) for _ in range(2500))[:10_000]
    assert len(text) == 10_000
    (got,) = graph_spans(fitted, [text])
    assert_same_spans(got, reference_spans(fitted, text))
    assert len(got) > 100


def test_invalid_utf8_is_decoded_with_replacement_characters(fitted):
    raw = [b"Alice \xff flew to Paris", b"Bob \xe2\x82 Rome", b"\xed\xa0\xbd Carol", b"\xc0\xaf London"]
    out = {k: v.numpy() for k, v in fitted.module_.predict_text(tf.constant(raw)).items()}
    for i, data in enumerate(raw):
        text = data.decode("utf-8", "replace")  # Python's policy: one U+FFFD per maximal invalid subpart
        want = reference_spans(fitted, text)
        got = [(int(out["entity_start"][i, j]), int(out["entity_end"][i, j]),
                out["entity_label"][i, j].decode(), float(out["entity_score"][i, j]))
               for j in range(int(out["num_entities"][i]))]
        assert_same_spans(got, want, repr(data))


def test_a_lone_surrogate_does_not_fail_the_batch(fitted):
    texts = ["Alice flew to Paris", "Bob \ud83d went to Rome", "\ud83d"]
    rows = fitted.predict(texts)  # no TypeError/UnicodeEncodeError for the whole batch
    assert [s.text for s in rows[0]] == ["Alice", "Paris"]
    # a lone surrogate counts as one U+FFFD character
    assert [(s.start, s.end, s.label) for s in rows[2]] == [
        (s.start, s.end, s.label) for s in fitted.predict(["\ufffd"])[0]]
    for span in rows[1]:
        assert texts[1][span.start:span.end] == span.text  # offsets still index the caller's string
    clean = fitted.predict(["Bob \ufffd went to Rome"])[0]
    assert [(s.start, s.end, s.label) for s in rows[1]] == [(s.start, s.end, s.label) for s in clean]


def test_word_pieces_match_the_fast_tokenizer_word_by_word(fitted, tiny_tokenizer):
    text_tagger = fitted.module_.text
    words = sorted({w for text in HAND_MADE for w, _, _ in split_words(text)})
    graph_words, pieces = text_tagger.word_pieces(tf.constant([w.encode() for w in words]))
    assert graph_words["row"].numpy().tolist() == list(range(len(words)))  # each is one word to the graph too
    fast = tiny_tokenizer(words, add_special_tokens=False)["input_ids"]
    fast = [ids or [tiny_tokenizer.unk_token_id] for ids in fast]
    assert pieces.to_list() == fast


@pytest.mark.parametrize("seed", range(12))
def test_window_plan_and_ownership_in_graph_are_the_python_rules(seed):
    """The graph's windows and owners over random texts, against tfner.data.alignment's plan_windows.

    Every third seed draws texts that each fit one window (at most 4 words of at most 2 pieces), the
    graph's path without the planning loop; the others, texts of up to 400 words (the loop).
    """
    from tfner.data.alignment import plan_windows
    from tfner.serving.graph_windows import own_starts, plan

    rng = random.Random(seed)
    content, overlap = rng.choice([(126, 32), (30, 4), (8, 3)])
    if seed % 3 == 0:
        texts = [[rng.randint(1, 2) for _ in range(rng.randint(0, 4))] for _ in range(rng.randint(1, 6))]
    else:
        texts = [[rng.choice([1, 1, 2, 3, rng.randint(1, content + 4)]) for _ in range(rng.randint(0, 400))]
                 for _ in range(rng.randint(1, 4))]
    costs, word_rows, rows, starts, ends, want = [], [], [], [], [], []
    for t, pieces in enumerate(texts):
        base = len(costs)
        costs += [min(p, content) for p in pieces]  # the graph cuts a word to the window's content
        word_rows += [t] * len(pieces)
        for a, b, own_a, _ in plan_windows(pieces, content, overlap) if pieces else []:
            rows.append(t)
            starts.append(base + a)
            ends.append(base + b)
            want.append(base + own_a)
    got_plan = plan(tf.constant(costs, tf.int64), tf.constant(word_rows, tf.int64), tf.constant(len(texts), tf.int64),
                    content=content, overlap=overlap)
    assert [x.numpy().tolist() for x in got_plan] == [rows, starts, ends]
    q = np.concatenate([[0], np.cumsum(costs)]).astype(np.int64)
    got = own_starts(tf.constant(q), tf.constant(rows, tf.int64), tf.constant(starts, tf.int64),
                     tf.constant(ends, tf.int64))
    assert got.numpy().tolist() == want
