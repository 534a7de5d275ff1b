"""A Keras callback that kills its own process with SIGKILL, for the crash-safety tests' subprocesses."""

from __future__ import annotations

import os
import signal

import tensorflow as tf


class KillInSecondEpoch(tf.keras.callbacks.Callback):
    """SIGKILL in epoch 2, after its third step, before any later callback (a backup) sees that step."""

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == 1 and batch == 2:
            os.kill(os.getpid(), signal.SIGKILL)


class CrashInSecondEpoch(tf.keras.callbacks.Callback):
    """Raises ``RuntimeError("crash")`` in epoch 2 after its step ``batch`` (0-based; default the second),
    before any later callback (a backup) sees that step: a crash the test process itself survives."""

    def __init__(self, batch: int = 1):
        super().__init__()
        self.batch = batch

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == 1 and batch == self.batch:
            raise RuntimeError("crash")
