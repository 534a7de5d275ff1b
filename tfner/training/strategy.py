"""Choosing the tf.distribute strategy."""

from __future__ import annotations

import tensorflow as tf

from tfner.errors import ConfigError


def resolve_strategy(strategy) -> tf.distribute.Strategy:
    """``"auto"``: MirroredStrategy over all visible GPUs (also with one GPU), else the default strategy.

    A ``tf.distribute.Strategy`` instance is used as it is.
    """
    if isinstance(strategy, tf.distribute.Strategy):
        return strategy
    if strategy == "auto":
        gpus = tf.config.list_logical_devices("GPU")
        if gpus:
            return tf.distribute.MirroredStrategy([d.name for d in gpus])
        return tf.distribute.get_strategy()
    raise ConfigError(f"strategy must be 'auto' or a tf.distribute.Strategy, got {strategy!r}")
