"""Reproducible fits that leave the caller's random streams alone.

``fit(seed=s)`` must give the same data order, initialisation and dropout every time, also
the first time in a process; and it must not reset the user's own Python, NumPy or
TensorFlow random streams as a side effect. :func:`isolated_seed` seeds all three for
the duration of a fit, before the input pipeline or the model exist, and afterwards puts
back Python's and NumPy's states exactly and TensorFlow's global seed value (TensorFlow
keeps no readable stream state: a user who had set ``tf.random.set_seed(n)`` gets seed
``n`` back, its sequence of op seeds restarted; one who had none gets none again).
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator

import numpy as np
import tensorflow as tf


@contextlib.contextmanager
def deterministic_ops(enabled: bool) -> Iterator[None]:
    """With ``enabled``, TensorFlow's op determinism for the duration (then as it was before).

    Deterministic kernels give the same result for the same inputs on every run, also on
    GPUs, at some cost in speed; an op without a deterministic kernel then raises instead of
    running. The switch is process-wide, hence restored afterwards.
    """
    from tensorflow.python.framework import config as tf_config  # the only way to read the switch back

    before = tf_config.is_op_determinism_enabled()
    if enabled and not before:
        tf.config.experimental.enable_op_determinism()
    try:
        yield
    finally:
        if enabled and not before:
            tf_config.disable_op_determinism()


@contextlib.contextmanager
def isolated_seed(seed: int) -> Iterator[None]:
    from tensorflow.python.eager import context  # the global seed's only reader and writer

    python_state = random.getstate()
    numpy_state = np.random.get_state()
    tf_seed = context.global_seed()
    tf.keras.utils.set_random_seed(seed)
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
        context.set_global_seed(tf_seed)

