"""Choosing the tf.distribute strategy."""

from __future__ import annotations

import os

import tensorflow as tf

from tfner.errors import ConfigError


def resolve_strategy(strategy) -> tf.distribute.Strategy:
    """``"auto"``: MirroredStrategy over all visible GPUs (also with one GPU), else the default strategy.

    ``"multi_worker"``: MultiWorkerMirroredStrategy over the cluster ``TF_CONFIG`` describes
    (all GPUs of each machine, or its CPU). It must be created before TensorFlow runs anything
    in the process, so call ``fit`` first thing, or create the strategy yourself at start-up
    and pass it. A ``tf.distribute.Strategy`` instance is used as it is.
    """
    if isinstance(strategy, tf.distribute.Strategy):
        return strategy
    if strategy == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ConfigError("strategy='multi_worker' reads the cluster from the TF_CONFIG environment variable, "
                              "which is not set")
        try:
            return tf.distribute.MultiWorkerMirroredStrategy()
        except RuntimeError as err:
            raise ConfigError(f"could not start MultiWorkerMirroredStrategy ({err}); it must be created before "
                              "TensorFlow runs anything in the process") from None
    if strategy == "auto":
        gpus = tf.config.list_logical_devices("GPU")
        if gpus:
            return tf.distribute.MirroredStrategy([d.name for d in gpus])
        return tf.distribute.get_strategy()
    raise ConfigError(f"strategy must be 'auto', 'multi_worker' or a tf.distribute.Strategy, got {strategy!r}")


def is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and \
        strategy.extended._in_multi_worker_mode()


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes logs, backups and exports (always, outside multi-worker training)."""
    return not is_multi_worker(strategy) or bool(strategy.extended.should_checkpoint)


def barrier(strategy: tf.distribute.Strategy) -> None:
    """Return on every worker only once all have reached it (a one-number all-reduce).

    Backup saves are not collective, so without it the chief can finish ``fit`` and remove
    the backup folder while another worker still writes its temporary copy inside it.
    """
    if not is_multi_worker(strategy):
        return

    @tf.function
    def meet():
        return strategy.run(lambda: tf.distribute.get_replica_context().all_reduce(
            tf.distribute.ReduceOp.SUM, tf.constant(1.0)))

    meet()
