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
        total, count = masked_loss_sum_and_count(y_true, y_pred)
        ctx = tf.distribute.get_replica_context()
        if ctx is not None and ctx.num_replicas_in_sync > 1:
            count = ctx.all_reduce(tf.distribute.ReduceOp.SUM, count)
        return total / tf.maximum(count, 1.0)
