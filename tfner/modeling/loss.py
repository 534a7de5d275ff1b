"""The masked token-classification loss.

Cross-entropy averaged over the *real* labelled tokens of the **global** batch: positions
labelled ``IGNORE`` (padding, special tokens, sub-token continuations) get weight 0
(weights, not ``tf.boolean_mask``, so the shapes stay static and XLA-safe), and the sum is
divided by the number of labelled tokens summed over all replicas. Each replica returns
``local_sum / global_count``; Keras sums gradients over replicas, so the step is the same
on 1 or N replicas for the same global batch. The loss uses ``Reduction.SUM`` so that
Keras does not rescale it by the replica count a second time.
"""

from __future__ import annotations

import tensorflow as tf

from tfner.data.alignment import IGNORE


def masked_loss_sum_and_count(labels: tf.Tensor, logits: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Sum of token cross-entropies over labelled positions, and the number of such positions."""
    labels = tf.cast(labels, tf.int32)
    weights = tf.cast(tf.not_equal(labels, IGNORE), tf.float32)
    safe = tf.where(tf.equal(labels, IGNORE), tf.zeros_like(labels), labels)
    per_token = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=safe, logits=tf.cast(logits, tf.float32))
    return tf.reduce_sum(per_token * weights), tf.reduce_sum(weights)


class MaskedTokenLoss(tf.keras.losses.Loss):
    """Sparse categorical cross-entropy over labelled tokens, normalised by the global count."""

    def __init__(self, name: str = "masked_token_loss"):
        super().__init__(reduction=tf.keras.losses.Reduction.SUM, name=name)

    def call(self, y_true, y_pred):
        return self.local_sum(y_true, y_pred) / global_label_count(y_true)

    def local_sum(self, y_true, y_pred):
        """This replica's summed cross-entropy (the numerator), float32."""
        return masked_loss_sum_and_count(y_true, y_pred)[0]


def global_label_count(y_true) -> tf.Tensor:
    """Labelled positions of ``y_true`` summed over all replicas (at least 1): both heads' normaliser."""
    count = tf.reduce_sum(tf.cast(tf.not_equal(tf.cast(y_true, tf.int32), IGNORE), tf.float32))
    ctx = tf.distribute.get_replica_context()
    if ctx is not None and ctx.num_replicas_in_sync > 1:
        count = ctx.all_reduce(tf.distribute.ReduceOp.SUM, count)
    return tf.maximum(count, 1.0)


class GlobalLossDisplay(tf.keras.losses.Loss):
    """Wraps a replica-local loss (``MaskedTokenLoss``, ``CrfLoss``) so Keras *shows* the global loss.

    Each replica's value ``v_r`` is its share of the global batch loss ``L = sum_r v_r``, and
    the gradients Keras sums over replicas are right. Keras' loss metric, though, shows
    ``sum_r R * v_r * n_r / sum_r n_r`` for ``R`` replicas holding ``n_r`` rows: ``L`` only
    when every replica holds as many rows (a 2/1 split showed 2.04 for a true 1.64; a one-row
    batch on 2 replicas showed twice its loss). This wrapper adds a gradient-free constant
    to each replica's value so that sum comes out as ``L`` (an empty replica has weight 0
    in the metric and gets none); its gradient stays the inner loss's. On one replica it
    returns the inner value unchanged.
    """

    def __init__(self, inner: tf.keras.losses.Loss):
        super().__init__(reduction=tf.keras.losses.Reduction.SUM, name=inner.name)
        self.inner = inner

    def call(self, y_true, y_pred):
        value = self.inner(y_true, y_pred)
        ctx = tf.distribute.get_replica_context()
        if ctx is None or ctx.num_replicas_in_sync == 1:
            return value
        rows = tf.cast(tf.shape(y_true)[0], tf.float32)
        total, all_rows, holding = ctx.all_reduce(
            tf.distribute.ReduceOp.SUM, [value, rows, tf.cast(rows > 0, tf.float32)])
        shown = tf.math.divide_no_nan(total * all_rows, ctx.num_replicas_in_sync * rows * holding)
        return value + tf.stop_gradient(shown - value)


class MultiTaskLoss(tf.keras.losses.Loss):
    """``sum_t weight_t * L_t``: each task's own loss on its slice of the logits and its label column.

    ``y_true`` is ``[batch, tokens, tasks]`` (one label column per task, ``IGNORE`` where that
    task has no loss), ``y_pred`` the classifier's logits ``[batch, tokens, sum(sizes)]``, the
    main task's ``sizes[0]`` first. ``losses[t]`` is task ``t``'s replica-local loss (the main
    task's may be a :class:`~tfner.modeling.crf_head.CrfLoss`, the others are
    :class:`MaskedTokenLoss`), each normalised by its own labelled-token count, so ``L_t`` is that
    task's mean loss whatever the others label.
    """

    def __init__(self, losses, sizes, weights, name: str = "multi_task_loss"):
        super().__init__(reduction=tf.keras.losses.Reduction.SUM, name=name)
        if not len(losses) == len(sizes) == len(weights):
            raise ValueError("one loss, size and weight per task")
        self.losses, self.sizes, self.weights = list(losses), [int(n) for n in sizes], [float(w) for w in weights]

    def task_losses(self, y_true, y_pred) -> list[tf.Tensor]:
        """Every task's (unweighted) loss ``L_t``, the main task first."""
        y_true = tf.cast(y_true, tf.int32)
        logits = tf.split(y_pred, self.sizes, axis=-1)
        return [loss.call(y_true[..., t], part) for t, (loss, part) in enumerate(zip(self.losses, logits, strict=True))]

    def call(self, y_true, y_pred):
        y_true = tf.cast(y_true, tf.int32)
        logits = tf.split(y_pred, self.sizes, axis=-1)
        total = tf.constant(0.0)
        for t, (loss, part, weight) in enumerate(zip(self.losses, logits, self.weights, strict=True)):
            if weight:  # a task weighted 0 costs nothing and its head gets no gradient
                total += weight * loss.call(y_true[..., t], part)
        return total
