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

Learning rate: fine-tuning rates (5e-5) would leave zero-initialised transitions almost at
zero after a few thousand steps, so each stored weight ``w`` scores as ``LR_MULTIPLIER * w``.
Adam's step is about the learning rate whatever the gradient's size, so the head's scores
move ``LR_MULTIPLIER`` times faster than the encoder's weights (the usual BERT-CRF recipe of
a larger learning rate for the CRF, without a second optimizer). In training the gradient
passed back to ``w`` is the gradient of the score itself, not ``LR_MULTIPLIER`` times it, so
the head does not dominate the global gradient norm that clipping measures. Weight decay
skips the head.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from tfner.data.alignment import IGNORE
from tfner.modeling import crf
from tfner.modeling.loss import global_label_count

#: How many times faster the CRF's scores learn than the encoder (see the module docstring).
LR_MULTIPLIER = 100.0


class CrfHead(tf.keras.layers.Layer):
    """Transition, start and end scores for ``labels``, initialised to zero (always float32)."""

    def __init__(self, labels: Sequence[str], lr_multiplier: float = LR_MULTIPLIER, **kwargs):
        super().__init__(name=kwargs.pop("name", "crf_head"), dtype="float32", **kwargs)
        self.labels = list(labels)
        self.lr_multiplier = float(lr_multiplier)
        self.allowed, self.may_start = crf.iob2_constraints(self.labels)
        n = len(self.labels)
        with tf.name_scope(self.name):  # "crf_head/transitions:0": weight decay skips names with "crf_head"
            self.transitions = self.add_weight(name="transitions", shape=[n, n], initializer="zeros")
            self.start = self.add_weight(name="start", shape=[n], initializer="zeros")
            self.end = self.add_weight(name="end", shape=[n], initializer="zeros")
        # the weights exist from here on: a layer left unbuilt is one Keras warns it cannot
        # serialise in full at every SavedModel export
        self.built = True

    def scores(self, *, at_text_start: bool = True, training: bool = False):
        """``(transitions, start, end)`` with the scheme's constraints applied."""
        may_start = self.may_start if at_text_start else np.ones_like(self.may_start)
        scale = _scaled_for_training if training else _scaled
        t, s, e = (scale(tf.convert_to_tensor(v), self.lr_multiplier) for v in (self.transitions, self.start, self.end))
        transitions, start = crf.constrain(t, s, self.allowed, may_start)
        return transitions, start, e

    def call(self, inputs):  # a head is used through scores(); Keras needs call() defined
        return inputs

    def get_values(self) -> dict[str, list]:
        """The learned scores (before constraints), JSON-ready: ``crf.json`` of a saved tagger."""
        m = self.lr_multiplier
        return {"labels": self.labels, "transitions": (m * self.transitions.numpy()).tolist(),
                "start": (m * self.start.numpy()).tolist(), "end": (m * self.end.numpy()).tolist()}

    def copy_shared(self, source: CrfHead | None) -> None:
        """Take ``source``'s stored scores for the labels (and label pairs) both heads have, exactly."""
        if source is None:
            return
        index = {t: i for i, t in enumerate(source.labels)}
        shared = [(j, index[t]) for j, t in enumerate(self.labels) if t in index]
        rows, cols = [j for j, _ in shared], [i for _, i in shared]
        transitions = self.transitions.numpy()
        transitions[np.ix_(rows, rows)] = source.transitions.numpy()[np.ix_(cols, cols)]
        self.transitions.assign(transitions)
        for name in ("start", "end"):
            values = getattr(self, name).numpy()
            values[rows] = getattr(source, name).numpy()[cols]
            getattr(self, name).assign(values)

    def set_values(self, values: dict) -> None:
        if list(values["labels"]) != self.labels:
            raise ValueError(f"CRF values are for labels {values['labels']}, not {self.labels}")
        for name in ("transitions", "start", "end"):
            getattr(self, name).assign(np.asarray(values[name], np.float32) / self.lr_multiplier)


def _scaled(value, multiplier):
    return value * multiplier


def _scaled_for_training(value, multiplier):
    @tf.custom_gradient
    def scaled(x):
        return x * multiplier, lambda dy: dy  # the score's own gradient (see the module docstring)

    return scaled(value)


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
        # the labelled positions are the words the CRF scores: the same count as the softmax head's
        return self.local_sum(y_true, y_pred) / global_label_count(y_true)

    def local_sum(self, y_true, y_pred):
        """This replica's summed sequence negative log-likelihood (the numerator), float32."""
        emissions, tags, lengths = word_sequences(y_true, y_pred)
        transitions, start, end = self.head.scores(at_text_start=False, training=True)
        return tf.reduce_sum(crf.negative_log_likelihood(emissions, tags, lengths, transitions, start, end))
