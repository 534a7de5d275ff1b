"""The CRF head: learned label transitions on top of the encoder's per-word scores.

With ``head="crf"`` the token-classification logits of each word's first sub-token are the
CRF's emissions; :class:`CrfHead` holds the learned ``transitions`` / ``start`` / ``end``
scores (float32 under any precision policy) and :class:`CrfLoss` is the sequence negative
log-likelihood, divided by the number of labelled words in the *global* batch (as the
softmax head's loss), so the update is the same on 1 or N replicas.

Constraints: every transition IOB2 forbids (``O -> I-X``, ``B-X -> I-Y``, ``I-X -> I-Y``) is
forbidden in training and decoding. "No ``I-X`` first" holds only in decoding, where a
sequence is a whole text: a training window of a long sentence may begin inside an entity,
and its gold path must stay possible.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from tfner.data.alignment import IGNORE
from tfner.modeling import crf


class CrfHead(tf.keras.layers.Layer):
    """Transition, start and end scores for ``labels``, initialised to zero."""

    def __init__(self, labels: Sequence[str], **kwargs):
        super().__init__(name=kwargs.pop("name", "crf_head"), dtype="float32", **kwargs)
        self.labels = list(labels)
        self.allowed, self.may_start = crf.iob2_constraints(self.labels)
        n = len(self.labels)
        self.transitions = self.add_weight(name="transitions", shape=[n, n], initializer="zeros")
        self.start = self.add_weight(name="start", shape=[n], initializer="zeros")
        self.end = self.add_weight(name="end", shape=[n], initializer="zeros")

    def scores(self, *, at_text_start: bool = True):
        """``(transitions, start, end)`` with the scheme's constraints applied."""
        may_start = self.may_start if at_text_start else np.ones_like(self.may_start)
        transitions, start = crf.constrain(self.transitions, self.start, self.allowed, may_start)
        return transitions, start, tf.convert_to_tensor(self.end)

    def call(self, inputs):  # a head is used through scores(); Keras needs call() defined
        return inputs

    def get_values(self) -> dict[str, list]:
        return {"labels": self.labels, "transitions": self.transitions.numpy().tolist(),
                "start": self.start.numpy().tolist(), "end": self.end.numpy().tolist()}

    def set_values(self, values: dict) -> None:
        if list(values["labels"]) != self.labels:
            raise ValueError(f"CRF values are for labels {values['labels']}, not {self.labels}")
        self.transitions.assign(np.asarray(values["transitions"], np.float32))
        self.start.assign(np.asarray(values["start"], np.float32))
        self.end.assign(np.asarray(values["end"], np.float32))


def word_sequences(labels, logits):
    """The labelled positions of each row, packed: ``(emissions [B, W, L], tags [B, W], lengths [B])``."""
    labels = tf.cast(labels, tf.int32)
    mask = tf.not_equal(labels, IGNORE)
    emissions = tf.ragged.boolean_mask(tf.cast(logits, tf.float32), mask)
    tags = tf.ragged.boolean_mask(labels, mask)
    lengths = tf.cast(emissions.row_lengths(), tf.int32)
    rows = tf.shape(labels, out_type=tf.int64)[0]
    width = tf.maximum(tf.cast(tf.reduce_max(tf.concat([lengths, [0]], 0)), tf.int64), 1)
    n_labels = tf.shape(logits, out_type=tf.int64)[-1]
    return (emissions.to_tensor(0.0, shape=tf.stack([rows, width, n_labels])),
            tags.to_tensor(0, shape=tf.stack([rows, width])), lengths)


class CrfLoss(tf.keras.losses.Loss):
    """CRF negative log-likelihood over labelled words, normalised by the global labelled-word count."""

    def __init__(self, head: CrfHead, name: str = "crf_loss"):
        super().__init__(reduction=tf.keras.losses.Reduction.SUM, name=name)
        self.head = head

    def call(self, y_true, y_pred):
        emissions, tags, lengths = word_sequences(y_true, y_pred)
        transitions, start, end = self.head.scores(at_text_start=False)
        nll = crf.negative_log_likelihood(emissions, tags, lengths, transitions, start, end)
        count = tf.cast(tf.reduce_sum(lengths), tf.float32)
        ctx = tf.distribute.get_replica_context()
        if ctx is not None and ctx.num_replicas_in_sync > 1:
            count = ctx.all_reduce(tf.distribute.ReduceOp.SUM, count)
        return tf.reduce_sum(nll) / tf.maximum(count, 1.0)
