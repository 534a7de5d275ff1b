"""Crash-safe training: back up during ``fit``; a later ``fit`` with the same ``output_dir`` resumes.

``output_dir/`` holds, while a run is under way:

* ``backup/`` - Keras' :class:`~tf.keras.callbacks.BackupAndRestore` checkpoint (weights,
  optimizer state with its step counter, epoch and step reached), written every
  ``backup_every`` steps and at the end of every epoch (after dev scoring);
* ``progress.json`` - what Keras does not keep: every finished epoch's logs (History) and
  dev evaluations, and the best epoch as of each of them; ``best_weights-<epoch>.npz`` - the
  best epoch's weights by variable name (for ``restore_best``; by name, as layers frozen for
  some epochs change the order of ``model.get_weights()``), one file per best epoch, the
  previous one kept until the next epoch's end. Both are written atomically *before* the checkpoint
  they go with, and trimmed to the checkpoint's finished epochs on resume, so a crash between the
  two never counts an epoch twice, and never forgets the best epoch before it with its weights.

On resume Keras restores the checkpoint and continues at the next step; tfner skips the
same number of batches of the (seeded, hence identical) input stream, so the data order,
the learning-rate schedule and the step count continue as if nothing had happened.
After a successful fit the finished tagger lands in ``output_dir/tagger`` (written beside
it, then renamed into place), then the backup is deleted (``run.json`` and
``progress.json`` stay as a record) - not before: if saving fails, a rerun finds the backup at
the last step, trains nothing and saves; TensorBoard logs go to ``output_dir/logs`` unless
``logdir`` says otherwise.

Several workers (MultiWorkerMirroredStrategy): ``output_dir`` must be one folder every worker
sees (shared storage across machines). The chief writes everything above; the other workers
save each backup to a temporary folder inside ``backup/`` that Keras removes at once, and
read the chief's backup and ``progress.json`` to resume. ``fit`` ends with a barrier so the
chief removes ``backup/`` only after every worker is done with it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import tensorflow as tf

from tfner.training.weights import weight_values

BACKUP = "backup"
PROGRESS = "progress.json"
BEST_WEIGHTS = "best_weights-{epoch}.npz"  # the best epoch's weights, one file per best epoch
RUN = "run.json"
TAGGER = "tagger"
# the layout of backup/, progress.json and the weights files; a backup of another layout is not resumed
FORMAT = 2


def best_weights_files(output_dir: Path) -> list[Path]:
    """Every best-weights file in ``output_dir`` (:data:`BEST_WEIGHTS`, and format 1's ``best_weights.npz``)."""
    return sorted(output_dir.glob("best_weights*.npz"))


def saved_position(output_dir: str | os.PathLike) -> tuple[int, int] | None:
    """``(epoch, batch)`` of the last backup in ``output_dir`` (0-based), or ``None``."""
    latest = tf.train.latest_checkpoint(os.path.join(output_dir, BACKUP, "chief"))
    if latest is None:
        return None
    reader = tf.train.load_checkpoint(latest)
    epoch = int(reader.get_tensor("ckpt_saved_epoch/.ATTRIBUTES/VARIABLE_VALUE"))
    batch = int(reader.get_tensor("ckpt_saved_batch/.ATTRIBUTES/VARIABLE_VALUE"))
    return (epoch, batch) if epoch >= 0 else None


def steps_done(position: tuple[int, int] | None, steps_per_epoch: int) -> int:
    """Training steps completed at ``position`` (a backup is taken after its step ran)."""
    if position is None:
        return 0
    epoch, batch = position
    return epoch * steps_per_epoch + batch + 1


def write_json_atomic(path: Path, data) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_weights_atomic(path: Path, model: tf.keras.Model) -> None:
    """Every weight of ``model`` to ``path`` (``.npz``), keyed by name (:mod:`tfner.training.weights`),
    written beside it and renamed into place."""
    values = weight_values(model)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".npz")
    with os.fdopen(fd, "wb") as f:
        np.savez(f, **values)  # type: ignore[arg-type]  # weight names, never savez's allow_pickle
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_weights(path: Path) -> dict[str, np.ndarray]:
    """The weights :func:`save_weights_atomic` wrote, by name; put them back with
    :func:`tfner.training.weights.assign_weights` (or :meth:`DevEvaluation.restore`)."""
    with np.load(path) as data:
        return {name: data[name] for name in data.files}


def replace_dir(build: Callable[[Path], object], target: Path) -> Path:
    """Write a folder with ``build(tmp)`` beside ``target``, then put it in ``target``'s place."""
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    try:
        build(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if target.exists():
        # a fresh empty folder (rename may replace one): a leftover of an earlier crash is never in the way
        old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-old-"))
        os.replace(target, old)
    os.replace(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return target


def finish(output_dir: Path) -> None:
    """After a finished run: drop the backup (a new fit starts afresh); keep run.json and progress.json."""
    shutil.rmtree(output_dir / BACKUP, ignore_errors=True)
    for path in best_weights_files(output_dir):
        path.unlink(missing_ok=True)


class TrainingBackup(tf.keras.callbacks.BackupAndRestore):
    """BackupAndRestore every ``every`` steps and at each epoch's end; ``before_backup(epoch, logs)``
    writes tfner's own state first. Put it after the callbacks whose epoch logs it should keep.

    The backup outlives ``model.fit``: only :func:`finish`, called once the tagger is saved,
    removes it. A save that fails (a full disk) thus leaves the last epoch's backup, and the
    next ``fit`` resumes after the last step: it trains nothing and only saves.
    """

    def __init__(self, output_dir: str | os.PathLike, every: int, steps_per_epoch: int,
                 before_backup: Callable[[int, dict | None], None]):
        super().__init__(os.path.join(output_dir, BACKUP), save_freq=every, delete_checkpoint=False)
        self.steps_per_epoch = steps_per_epoch
        self.before_backup = before_backup

    def on_train_batch_end(self, batch, logs=None):
        if batch == self.steps_per_epoch - 1:
            return  # the epoch's end backs up after dev scoring
        super().on_train_batch_end(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self.before_backup(epoch, logs)
        self._training_state._ckpt_saved_batch.assign(self.steps_per_epoch - 1)
        self._backup(epoch=epoch, batch=self.steps_per_epoch - 1)
        self._batches_count = 0
