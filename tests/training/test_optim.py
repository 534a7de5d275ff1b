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


def _numpy_adamw(steps, w0, *, lr, wd, b1=0.9, b2=0.999, eps=1e-8):
    """AdamW from its definition (decoupled decay, then Adam with bias correction), in float64,
    under ``WarmupLinearDecay(lr, 0, 100)``."""
    w, m, v = w0.astype(np.float64), np.zeros_like(w0, np.float64), np.zeros_like(w0, np.float64)
    for t, g in enumerate(steps, start=1):
        lr_t = lr * (100 - (t - 1)) / 100  # WarmupLinearDecay(lr, 0, 100) at step t - 1
        w = w * (1 - lr_t * wd)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        w = w - lr_t * np.sqrt(1 - b2**t) / (1 - b1**t) * m / (np.sqrt(v) + eps)
    return w


def _three_gradients(rng):
    """Per step: a dense kernel gradient, a bias gradient, and an embedding gradient as slices with repeated rows."""
    out = []
    for _ in range(3):
        rows = rng.integers(0, 5, size=9)  # 9 token occurrences of rows 0-4: repeats; row 5 never seen
        out.append((rng.normal(size=(3, 2)), rng.normal(size=2), rows, rng.normal(size=(9, 4))))
    return out


def _run(opt, grads, w0):
    kernel, bias, table = (tf.Variable(w.astype(np.float32), name=n) for w, n in zip(w0, ("kernel", "bias", "table"), strict=True))
    for gk, gb, rows, slices in grads:
        sparse = tf.IndexedSlices(tf.constant(slices, tf.float32), tf.constant(rows), tf.constant([6, 4]))
        opt.apply_gradients([(tf.constant(gk, tf.float32), kernel), (tf.constant(gb, tf.float32), bias),
                             (sparse, table)])
    return kernel.numpy(), bias.numpy(), table.numpy()


def test_the_fused_update_is_adamw_by_its_definition_and_as_tf_keras_computes_it():
    rng = np.random.default_rng(0)
    grads = _three_gradients(rng)
    w0 = (rng.normal(size=(3, 2)), rng.normal(size=2), rng.normal(size=(6, 4)))
    lr, wd = 0.01, 0.1  # large enough that the decay and every step show at float32 precision
    ours = _run(build_optimizer(WarmupLinearDecay(lr, 0, 100), weight_decay=wd, clipnorm=None), grads, w0)

    dense_table = [np.add.at(z := np.zeros((6, 4)), rows, slices) or z for _, _, rows, slices in grads]
    expected = (_numpy_adamw([g[0] for g in grads], w0[0], lr=lr, wd=wd),
                _numpy_adamw([g[1] for g in grads], w0[1], lr=lr, wd=0.0),  # bias: excluded from decay
                _numpy_adamw(dense_table, w0[2], lr=lr, wd=wd))
    for got, want in zip(ours, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # rows no token touched still move (the moments decay and the weights decay), as in dense AdamW
    untouched = sorted(set(range(6)) - {int(r) for g in grads for r in g[2]})
    assert untouched and not np.allclose(ours[2][untouched], w0[2][untouched])

    stock = tf.keras.optimizers.AdamW(learning_rate=WarmupLinearDecay(lr, 0, 100), weight_decay=wd, epsilon=1e-8)
    stock.exclude_from_weight_decay(var_names=["bias"])
    for got, want in zip(ours, _run(stock, grads, w0), strict=True):  # a second route: tf-keras' own AdamW
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert not np.allclose(expected[0], _numpy_adamw([g[0] for g in grads], w0[0], lr=lr, wd=0.0), atol=1e-4)
