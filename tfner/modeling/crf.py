"""A linear-chain CRF over word-level scores: log-partition, path score, NLL, Viterbi, IOB2 constraints.

Shapes: ``emissions`` ``[batch, time, labels]`` (one row of label scores per word, padded),
``lengths`` ``[batch]`` (words per sequence), ``tags`` ``[batch, time]``. A path ``y`` of a
sequence of length ``n`` scores ``start[y_0] + sum_t emissions[t, y_t] + sum_t
transitions[y_{t-1}, y_t] + end[y_{n-1}]``; ``log_partition`` is the log-sum-exp of that over
every path, ``viterbi`` its best path. A sequence of length 0 has one (empty) path, score 0.
``time`` must be at least 1, and ``tags`` past a sequence's length must be valid label ids
(0 will do): they are masked out, never read as labels.

The tagging scheme's rules are hard constraints, not learned hopes: :func:`iob2_constraints`
gives which transitions IOB2 allows (``I-X`` only after ``B-X`` or ``I-X``; no sequence starts
with ``I-X``), and :func:`constrain` adds a large negative score to everything else, so no
decoded path ever contains a forbidden transition. Written with plain TensorFlow ops
(``tf.scan``), so it runs under any distribution strategy and inside exported signatures.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from tfner.data.schemes import split_tag

#: The score of a forbidden transition: exp(FORBIDDEN) is 0 in float32, and no real score is near it.
FORBIDDEN = -1e4


def iob2_constraints(labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(allowed [L, L], may_start [L])`` under IOB2 for the label list ``labels``.

    >>> allowed, may_start = iob2_constraints(["O", "B-PER", "I-PER", "I-LOC"])
    >>> allowed.astype(int).tolist()
    [[1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 0], [1, 1, 0, 1]]
    >>> may_start.astype(int).tolist()
    [1, 1, 0, 0]
    """
    parts = [split_tag(label) for label in labels]
    allowed = np.ones((len(labels), len(labels)), bool)
    may_start = np.ones(len(labels), bool)
    for j, (prefix, kind) in enumerate(parts):
        if prefix != "I":
            continue
        may_start[j] = False
        for i, (p, k) in enumerate(parts):
            allowed[i, j] = p in ("B", "I") and k == kind
    return allowed, may_start


def constrain(transitions, start, allowed, may_start):
    """Transitions and start scores with ``FORBIDDEN`` added where the scheme forbids them."""
    transitions = tf.convert_to_tensor(transitions, tf.float32)
    start = tf.convert_to_tensor(start, tf.float32)
    return (transitions + tf.where(tf.constant(allowed), 0.0, FORBIDDEN),
            start + tf.where(tf.constant(may_start), 0.0, FORBIDDEN))


def _mask(lengths, time):
    return tf.sequence_mask(lengths, time)


# Time-major tensors are made without transposing integers or booleans: oneDNN has no such
# kernel without AVX-512, falls back and logs an error line ("oneDNN supports DT_BOOL only...").
def _time_major_mask(lengths, time):
    """``_mask(lengths, time)`` transposed: ``[time, batch]``."""
    return tf.range(time)[:, None] < tf.cast(lengths, tf.int32)[None, :]


def sequence_score(emissions, tags, lengths, transitions, start, end):
    """Score of the path ``tags`` for each sequence: ``[batch]``."""
    emissions = tf.convert_to_tensor(emissions, tf.float32)
    tags = tf.cast(tags, tf.int32)
    time = tf.shape(emissions)[1]
    mask = tf.cast(_mask(lengths, time), tf.float32)
    emit = tf.reduce_sum(tf.gather(emissions, tags, batch_dims=2) * mask, axis=1)
    pairs = tf.stack([tags[:, :-1], tags[:, 1:]], axis=-1)
    trans = tf.reduce_sum(tf.gather_nd(transitions, pairs) * mask[:, 1:], axis=1)
    last = tf.gather(tags, tf.maximum(lengths - 1, 0), batch_dims=1)
    edges = tf.gather(start, tags[:, 0]) + tf.gather(end, last)
    return tf.where(lengths > 0, emit + trans + edges, 0.0)


def _one_more_step(emissions):
    """``emissions`` with one all-zero step appended (past every length, so masked out).

    ``tf.scan`` over ``time - 1`` steps fails in a graph whose batch size is unknown when
    ``time`` is 1 (a batch of one-word sentences: "Tried to stack elements of an empty list");
    the extra step never changes a score, a path or a gradient.
    """
    emissions = tf.convert_to_tensor(emissions, tf.float32)
    return tf.pad(emissions, [[0, 0], [0, 1], [0, 0]])


def log_partition(emissions, lengths, transitions, start, end):
    """Log of the summed exp-scores of every path (the forward algorithm): ``[batch]``."""
    emissions = _one_more_step(emissions)
    time = tf.shape(emissions)[1]
    steps = tf.transpose(emissions, [1, 0, 2])
    mask = _time_major_mask(lengths, time)
    alpha0 = start[None, :] + steps[0]

    def step(alpha, inputs):
        emit, valid = inputs
        new = tf.reduce_logsumexp(alpha[:, :, None] + transitions[None, :, :], axis=1) + emit
        return tf.where(valid[:, None], new, alpha)

    alphas = tf.scan(step, (steps[1:], mask[1:]), initializer=alpha0)
    final = tf.concat([alpha0[None], alphas], axis=0)[-1]
    return tf.where(lengths > 0, tf.reduce_logsumexp(final + end[None, :], axis=1), 0.0)


def negative_log_likelihood(emissions, tags, lengths, transitions, start, end):
    """``log_partition - sequence_score``: the CRF loss of each sequence, ``[batch]``."""
    return (log_partition(emissions, lengths, transitions, start, end)
            - sequence_score(emissions, tags, lengths, transitions, start, end))


def viterbi(emissions, lengths, transitions, start, end):
    """The best path of each sequence and its score: ``(tags [batch, time] int32, score [batch])``.

    Positions past a sequence's length hold 0.
    """
    given = tf.shape(emissions)[1]
    emissions = _one_more_step(emissions)
    batch, time, n_labels = tf.shape(emissions)[0], tf.shape(emissions)[1], tf.shape(emissions)[2]
    steps = tf.transpose(emissions, [1, 0, 2])
    mask = _time_major_mask(lengths, time)
    delta0 = start[None, :] + steps[0]
    identity = tf.tile(tf.range(n_labels)[None, :], [batch, 1])

    def step(carry, inputs):
        delta, _ = carry
        emit, valid = inputs
        candidates = delta[:, :, None] + transitions[None, :, :]  # [batch, from, to]
        best_from = tf.argmax(candidates, axis=1, output_type=tf.int32)
        new = tf.reduce_max(candidates, axis=1) + emit
        return (tf.where(valid[:, None], new, delta), tf.where(valid[:, None], best_from, identity))

    deltas, pointers = tf.scan(step, (steps[1:], mask[1:]), initializer=(delta0, identity))
    final = tf.concat([delta0[None], deltas], axis=0)[-1]
    scores = final + end[None, :]
    last = tf.argmax(scores, axis=1, output_type=tf.int32)

    def back(tag, pointer):
        return tf.gather(pointer, tag, batch_dims=1)

    earlier = tf.scan(back, pointers, initializer=last, reverse=True)  # tag at t for t = 0 .. time-2
    time_major = tf.concat([earlier, last[None]], axis=0)
    path = tf.cast(tf.transpose(tf.cast(time_major, tf.float32)), tf.int32)[:, :given]  # exact: tags < 2**24
    path = tf.where(_mask(lengths, given), path, 0)
    return path, tf.where(lengths > 0, tf.reduce_max(scores, axis=1), 0.0)
