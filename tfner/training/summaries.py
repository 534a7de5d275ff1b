"""TensorBoard beyond scalars: the run's hyperparameters, dev examples as text, an entity confusion matrix.

With ``logdir`` set, :class:`DevSummaries` (placed after :class:`~tfner.training.callbacks.DevEvaluation`)
writes

* at the start, the HParams dashboard's experiment and session (every ``TaggerConfig``
  field); at the end its metric ``final_dev_entity_f1``: the dev entity F1 of the weights
  the run ends with (the best epoch's under ``restore_best``), beside the per-epoch series;
* after each epoch, into the ``validation`` run: ``dev_examples``, a Markdown table of a few
  dev sentences with their gold and predicted entities, and ``entity_confusion``, a PNG of
  :func:`tfner.metrics.entity_confusion` (missed and spurious entities included) drawn with
  matplotlib.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf

from tfner.data.schemes import entities
from tfner.metrics import entity_confusion


def confusion_png(counts: np.ndarray, names: Sequence[str], title: str) -> bytes:
    """The matrix drawn as a labelled heat map (:func:`tfner.plots.confusion_figure`), PNG bytes."""
    from tfner import plots

    return plots.png_bytes(plots.confusion_figure(counts, names, title))


def examples_markdown(words: Sequence[Sequence[str]], gold: Sequence[Sequence[str]],
                      pred: Sequence[Sequence[str]], limit: int = 5) -> str:
    """A Markdown table of the first ``limit`` sentences: text, gold entities, predicted entities."""

    def shown(ws, tags):
        return "; ".join(f"{' '.join(ws[a:b])} [{t}]" for a, b, t in entities(tags)) or "-"

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    rows = ["| sentence | gold | predicted |", "|---|---|---|"]
    for ws, g, p in list(zip(words, gold, pred, strict=True))[:limit]:
        rows.append(f"| {cell(' '.join(ws))} | {cell(shown(ws, g))} | {cell(shown(ws, p))} |")
    return "\n".join(rows)


class DevSummaries(tf.keras.callbacks.Callback):
    """HParams at the start; dev examples and the entity confusion matrix after each epoch.

    ``latest()`` returns ``(words, gold tags, predicted tags)`` of the dev set as scored
    after the epoch that just ended; ``final()`` the dev entity F1 the run ends with.
    """

    def __init__(self, logdir: str | os.PathLike, hparams: dict, types: Sequence[str],
                 latest: Callable[[], tuple[Sequence[Sequence[str]], Sequence[Sequence[str]], Sequence[Sequence[str]]]],
                 final: Callable[[], float | None], examples: int = 5):
        super().__init__()
        self.logdir = os.fspath(logdir)
        self.hparams = {k: _hparam_value(v) for k, v in hparams.items()}
        self.types = list(types)
        self.latest = latest
        self.final = final
        self.examples = examples
        self._writer = None

    def on_train_begin(self, logs=None):
        from tensorboard.plugins.hparams import api as hp

        with tf.summary.create_file_writer(self.logdir).as_default():
            hp.hparams_config(
                hparams=[hp.HParam(name) for name in self.hparams],
                metrics=[hp.Metric("final_dev_entity_f1", display_name="dev entity F1 (final)"),
                         hp.Metric("epoch_entity_f1", group="validation", display_name="dev entity F1 (per epoch)")],
            )
            hp.hparams(self.hparams)
        self._writer = tf.summary.create_file_writer(os.path.join(self.logdir, "validation"))

    def on_epoch_end(self, epoch, logs=None):
        words, gold, pred = self.latest()
        counts, names = entity_confusion(gold, pred, self.types)
        png = confusion_png(counts, names, f"dev entities, epoch {epoch + 1}")
        with self._writer.as_default():
            tf.summary.text("dev_examples", examples_markdown(words, gold, pred, self.examples), step=epoch)
            tf.summary.image("entity_confusion", tf.io.decode_png(png)[None], step=epoch)
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
        final = self.final()
        if final is not None:
            with tf.summary.create_file_writer(self.logdir).as_default():
                tf.summary.scalar("final_dev_entity_f1", final, step=0)


def _hparam_value(value):
    if isinstance(value, (bool, int, float, str)):
        return value
    return "None" if value is None else str(value)
