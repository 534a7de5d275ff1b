"""The optimizer: clipping measures the true gradient norm, also for sparse (embedding) gradients."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfner.training.optim import WarmupLinearDecay, build_optimizer


def _two_steps(second_gradient):
    # Adam's first step hardly depends on the gradient's scale; the second step's size does
    # (relative to the first), so it shows whether and how much the second was clipped.
    var = tf.Variable(np.zeros((4, 2), np.float32))
    opt = build_optimizer(WarmupLinearDecay(0.1, 0, 100), weight_decay=0.0, clipnorm=1.5)
    opt.apply_gradients([(tf.constant(np.full((4, 2), 0.1, np.float32)), var)])
    opt.apply_gradients([(second_gradient, var)])
    return var.numpy()


def test_sparse_gradient_with_repeated_rows_is_clipped_by_its_true_norm():
    # Row 1 seen twice, each time with slice [1, 0]: the gradient is [[0,0],[2,0],[0,0],[0,0]],
    # norm 2 > 1.5, so it is clipped. The slices' own norm is sqrt(2) < 1.5: tf-keras' AdamW
    # measured that and did not clip.
    sparse = tf.IndexedSlices(tf.constant([[1.0, 0.0], [1.0, 0.0]]), tf.constant([1, 1]), tf.constant([4, 2]))
    dense = tf.convert_to_tensor(sparse)
    assert float(tf.norm(dense)) == 2.0
    np.testing.assert_allclose(_two_steps(sparse), _two_steps(dense), rtol=1e-6)
    unclipped = tf.IndexedSlices(sparse.values, tf.constant([1, 2]), sparse.dense_shape)  # norm sqrt(2): no clipping
    assert not np.allclose(_two_steps(sparse), _two_steps(unclipped), rtol=1e-3)
