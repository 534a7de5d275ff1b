"""Batching in the in-graph text path: a request's windows are sorted by length and run through the
model in chunks, each padded to its own longest window; what a text gets must not depend on that.

The tiny tagger has ``max_length=32``, so the longer texts below span several windows and a small
``chunk_tokens`` splits a request into many chunks of different widths.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import reference_spans
from tfner.serving.servability import check_servable
from tfner.serving.text_graph import TextTagger, text_options

WORDS = ["Alice", "Bob", "Carol", "Paris", "London", "Rome", "flew", "to", "went", "met", "in", "and", "acme",
         ".", "!", "zzqx", "café"]


def mixed_texts(n: int = 64, seed: int = 5) -> list[str]:
    """``n`` texts from empty to several windows long, in no particular order."""
    rng = random.Random(seed)
    lengths = [0, 0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89] + [rng.randint(0, 40) for _ in range(n - 12)]
    rng.shuffle(lengths)
    texts = [" ".join(rng.choice(WORDS) for _ in range(k)) for k in lengths]
    texts[texts.index("")] = "   "  # spaces only: no word at all
    return texts


TEXTS = mixed_texts()


def rows(out) -> list[list[tuple]]:
    """Each text's entities from ``predict_text``'s dense outputs: ``(start, end, label, score)``."""
    out = {k: v.numpy() for k, v in out.items()}
    return [[(int(out["entity_start"][i, j]), int(out["entity_end"][i, j]), out["entity_label"][i, j].decode(),
              float(out["entity_score"][i, j])) for j in range(int(out["num_entities"][i]))]
            for i in range(len(out["num_entities"]))]


def assert_same_rows(got, want):
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        assert [s[:3] for s in g] == [s[:3] for s in w], f"text {i}"
        np.testing.assert_allclose([s[3] for s in g], [s[3] for s in w], atol=1e-4, err_msg=f"text {i}")


def encode(texts):
    return tf.constant([t.encode("utf-8") for t in texts], tf.string)


def text_tagger(fitted, *, chunk_tokens: int, decode: str = "argmax", head=None, tasks=(), logits_fn=None):
    """A :class:`TextTagger` on ``fitted``'s model with a chosen chunk size, as a traced function."""
    options = text_options(fitted.tokenizer_, max_length=fitted.config_.max_length,
                           overlap=fitted.config_.window_overlap, decode=decode)
    tagger = TextTagger(logits_fn or fitted.module_._logits, fitted.labels_, head=head, tasks=tasks,
                        chunk_tokens=chunk_tokens, **options)
    return tf.function(tagger.tag, input_signature=[tf.TensorSpec([None], tf.string)])


@pytest.fixture(scope="module")
def together(fitted):
    """The 64 texts in one request through the tagger's own ``predict_text``."""
    return rows(fitted.module_.predict_text(encode(TEXTS)))


def test_a_text_among_63_others_gets_what_it_gets_alone(fitted, together):
    assert max(len(t.split()) for t in TEXTS) > 2 * fitted.config_.max_length  # several windows
    assert sum(len(r) for r in together) >= 40  # the toy model finds entities: the comparison is not vacuous
    by_length = sorted(range(len(TEXTS)), key=lambda i: len(TEXTS[i]))
    for i in [*by_length[:3], *by_length[30:33], *by_length[-3:]]:
        (alone,) = rows(fitted.module_.predict_text(encode([TEXTS[i]])))
        assert_same_rows([together[i]], [alone])
        assert_same_rows([together[i]], [reference_spans(fitted, TEXTS[i])])  # the Python route, independent


@pytest.fixture(scope="module")
def small_chunks(fitted):
    """One window of up to 32 tokens, or a few short ones, per chunk: many chunks per request."""
    return text_tagger(fitted, chunk_tokens=40)


def test_small_chunks_give_the_same_spans_in_input_order(small_chunks, together):
    tag = small_chunks
    assert_same_rows(rows(tag(encode(TEXTS))), together)
    order = random.Random(1).sample(range(len(TEXTS)), len(TEXTS))
    assert_same_rows(rows(tag(encode([TEXTS[i] for i in order]))), [together[i] for i in order])
    assert_same_rows(rows(tag(encode(TEXTS[:8]))), together[:8])


class StandInCrf:
    """A CRF head's scores (transitions, start, end) without a trained head."""

    def __init__(self, n: int):
        rng = np.random.default_rng(0)
        self.values = [tf.constant(rng.normal(size=shape), tf.float32) for shape in ([n, n], [n], [n])]

    def scores(self):
        return tuple(self.values)


def test_crf_decoding_and_a_second_task_are_unchanged_by_chunking(fitted):
    """Viterbi over a stand-in CRF's scores (the constrained decode is the same Viterbi with fixed scores),
    and a second task's logits (the main logits' first three, reversed) riding along in the chunks."""
    def logits_fn(ids, mask):
        logits = fitted.module_._logits(ids, mask)
        return tf.concat([logits, tf.reverse(logits[..., :3], [-1])], -1)

    head, tasks = StandInCrf(len(fitted.labels_)), [("pos", ["NN", "VB", "DT"])]
    outs = [{k: v.numpy() for k, v in text_tagger(fitted, chunk_tokens=budget, decode="crf", head=head, tasks=tasks,
                                                  logits_fn=logits_fn)(encode(TEXTS)).items()}
            for budget in (40, 1 << 20)]  # many chunks against one chunk of every window
    assert set(outs[0]) == set(outs[1]) and {"pos_tag", "pos_score", "num_words"} <= set(outs[0])
    for name, value in outs[1].items():
        if value.dtype.kind == "f":
            np.testing.assert_allclose(outs[0][name], value, atol=1e-4, err_msg=name)
        else:
            np.testing.assert_array_equal(outs[0][name], value, err_msg=name)
    assert outs[0]["num_entities"].sum() > 0


def test_an_empty_batch_and_texts_without_words(fitted, small_chunks):
    tag = small_chunks
    empty = tag(tf.constant([], tf.string))
    assert empty["num_entities"].shape == (0,) and empty["entity_start"].shape == (0, 0)
    out = rows(tag(encode(["", "   ", "Alice flew to Paris", ""])))
    assert out[0] == out[1] == out[3] == []
    assert_same_rows([out[2]], [reference_spans(fitted, "Alice flew to Paris")])


def test_the_export_batches_like_memory_and_stays_servable(fitted_export, together):
    assert check_servable(fitted_export, "2.14").ok
    predict_text = tf.saved_model.load(str(fitted_export)).signatures["predict_text"]
    assert_same_rows(rows(predict_text(text=encode(TEXTS))), together)
    assert rows(predict_text(text=tf.constant([], tf.string))) == []


@pytest.mark.parametrize("chunk_tokens", [1 << 20, 8])  # one call without sorting; the sorting loop
def test_the_model_computes_only_the_requests_windows(fitted, chunk_tokens):
    """The encoder sees the request's windows and nothing more: a one-window text costs its own length
    ([CLS] + its sub-tokens + [SEP], counted by the fast tokenizer), and a request without a word one
    [CLS] [SEP] window (the call gives the outputs their shapes)."""
    computed = tf.Variable(0, dtype=tf.int32)

    def counting(ids, mask):
        computed.assign_add(tf.size(ids))
        return fitted.module_._logits(ids, mask)

    tag = text_tagger(fitted, chunk_tokens=chunk_tokens, logits_fn=counting)
    for text in ["Alice flew to Paris", "Bob met Carol in London and Rome ."]:
        computed.assign(0)
        rows(tag(encode([text])))
        assert int(computed.numpy()) == len(fitted.tokenizer_(text)["input_ids"]) < fitted.config_.max_length
    computed.assign(0)
    assert rows(tag(encode(["", "   "]))) == [[], []]
    assert int(computed.numpy()) == 2
