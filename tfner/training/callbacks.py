"""Keras callbacks: per-epoch dev evaluation, early stopping, learning-rate logging, best-epoch restore.

Values are added to the epoch ``logs``, so Keras' ``History`` keeps them and Keras'
``TensorBoard`` callback (placed after this one) writes them: ``val_*`` keys go to the
``validation`` run (dev loss, ``entity_f1`` and ``f1_<type>`` per entity type), the
others to ``train`` (loss, ``learning_rate``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import tensorflow as tf

from tfner.metrics import Evaluation, paired_bootstrap
from tfner.training.weights import assign_weights, weight_values

#: ``restore_best="significant"``: the best epoch's weights only when dev says it is better than the last's
#: in at least SIGNIFICANT_SHARE of RESAMPLES paired bootstrap resamples of dev's sentences.
SIGNIFICANT, SIGNIFICANT_SHARE, RESAMPLES = "significant", 0.95, 1000


class LearningRateLogger(tf.keras.callbacks.Callback):
    """Adds ``logs["learning_rate"]``: the schedule's rate for the step after the epoch's last.

    That is the value Keras' TensorBoard callback writes for a schedule too, so History
    and TensorBoard agree; after the last epoch it is 0 (the end of the linear decay).
    """

    def __init__(self, schedule: tf.keras.optimizers.schedules.LearningRateSchedule):
        super().__init__()
        self.schedule = schedule

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.schedule(self.model.optimizer.iterations))


class TrainingTimer(tf.keras.callbacks.Callback):
    """Wall-clock seconds spent in training steps only (not in dev loss or dev scoring).

    With ``tokens_per_epoch`` (real, non-padding sub-word tokens), adds the epoch's
    throughput to the logs as ``real_tokens_per_s`` (History, and TensorBoard's train run).
    ``epoch_seconds`` keeps each epoch's share (the first includes tracing the step).
    """

    def __init__(self, tokens_per_epoch: int | None = None):
        super().__init__()
        self.tokens_per_epoch = tokens_per_epoch
        self.seconds = 0.0
        self.epoch_seconds: list[float] = []
        self._start = self._last = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = self._last = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self._last = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = self._last - self._start
        self.seconds += seconds
        self.epoch_seconds.append(seconds)
        if logs is not None and self.tokens_per_epoch is not None and seconds > 0:
            logs["real_tokens_per_s"] = self.tokens_per_epoch / seconds


class DevEvaluation(tf.keras.callbacks.Callback):
    """Scores the dev set after every epoch; stops early; optionally ends with the best epoch's weights.

    ``types``: every entity type of the label set; each gets ``val_f1_<type>`` every epoch
    (0.0 when it is neither in dev's gold tags nor in the predictions), so every History
    series has one value per epoch. ``patience``: stop after that many epochs in a row
    without dev entity F1 rising more than ``min_delta`` above the best so far (Keras'
    EarlyStopping rule); ``None`` never stops early. The best epoch is the last one that
    improved so. ``extra_logs``, called after each evaluation, gives more dev figures (a
    multi-task tagger's other tasks: ``pos_accuracy``, ``chunk_f1``), logged as ``val_<name>``
    and printed; they do not select the epoch.

    ``restore_best`` says which weights training ends with: ``True`` the best epoch's (Keras'
    ``restore_best_weights``), ``False`` the last epoch's, ``"significant"`` the best epoch's only
    when it beats the last on dev in at least ``SIGNIFICANT_SHARE`` of the paired bootstrap
    resamples of dev's sentences (:func:`tfner.metrics.paired_bootstrap`, ``RESAMPLES``, seeded
    by ``seed``), else the last's: a best epoch that leads by less than dev's sampling noise
    does not undo the training after it. After training, ``kept_epoch`` is the epoch whose weights
    the model holds and ``selection`` says why.

    The best epoch's weights are kept by variable name (:mod:`tfner.training.weights`), so
    they go back into the right variables whatever was frozen or unfrozen since. A resumed
    run hands back what an earlier process had with :meth:`restore`; :meth:`state` is what
    to keep for that.
    """

    def __init__(self, evaluate: Callable[[], Evaluation], *, restore_best: bool | str, verbose: int = 1,
                 types: Sequence[str] = (), patience: int | None = None, min_delta: float = 0.0,
                 extra_logs: Callable[[], dict[str, float]] | None = None, unit: str = "epoch", seed: int = 0):
        super().__init__()
        if restore_best not in (True, False, SIGNIFICANT):
            raise ValueError(f"restore_best must be True, False or {SIGNIFICANT!r}, got {restore_best!r}")
        self.evaluate = evaluate
        self.seed = seed
        self.kept_epoch: int | None = None
        self.selection: dict = {}
        self.unit = unit  # what one call of on_epoch_end is: an epoch, or a round of tfner's schedule
        self.restore_best = restore_best
        self.verbose = verbose
        self.types = list(types)
        self.patience = patience
        self.min_delta = min_delta
        self.extra_logs = extra_logs
        self.evaluations: list[Evaluation] = []
        self.best_epoch: int | None = None
        self.stopped_epoch: int | None = None
        self._best_f1 = -1.0
        self._best_weights: dict[str, np.ndarray] | None = None

    def state(self) -> dict:
        """What a resumed run needs back (:meth:`restore`): ``evaluations`` (one per finished epoch),
        ``best_epoch`` (0-based, or ``None``) and ``best_weights`` (that epoch's weights by name,
        ``None`` without ``restore_best``, or once training has ended)."""
        return {"evaluations": list(self.evaluations), "best_epoch": self.best_epoch,
                "best_weights": self._best_weights}

    def restore(self, evaluations: Sequence[Evaluation], best_epoch: int | None,
                best_weights: Mapping[str, np.ndarray] | None = None) -> None:
        """Continue from an earlier run's :meth:`state`: the finished epochs' ``evaluations``, the best
        of them and (with ``restore_best``) its weights by name, as :func:`tfner.training.weights.weight_values`
        gives them. Raises ``ValueError`` if ``best_epoch`` is not one of ``evaluations`` or its weights are
        missing under ``restore_best``.

        If those epochs had already stopped training early (``patience``), ``stopped_epoch`` says so
        again: the caller then fits no further epoch (``epochs=stopped_epoch + 1``)."""
        if best_epoch is not None and not 0 <= best_epoch < len(evaluations):
            raise ValueError(f"best_epoch {best_epoch} is not one of the {len(evaluations)} evaluated epochs")
        if self.restore_best and best_epoch is not None and best_weights is None:
            raise ValueError("restore_best needs the best epoch's weights")
        self.evaluations = list(evaluations)
        self.best_epoch = best_epoch
        self._best_f1 = self.evaluations[best_epoch].f1 if best_epoch is not None else -1.0
        self._best_weights = dict(best_weights) if self.restore_best and best_weights is not None else None
        last = len(self.evaluations) - 1
        stopped = self.patience is not None and best_epoch is not None and last - best_epoch >= self.patience
        self.stopped_epoch = last if stopped else None

    def on_epoch_end(self, epoch, logs=None):
        ev = self.evaluate()
        self.evaluations.append(ev)
        per_type = {**dict.fromkeys(self.types, 0.0), **ev.per_type_f1()}
        extra = self.extra_logs() if self.extra_logs is not None else {}
        if logs is not None:
            logs["val_entity_f1"] = ev.f1
            for kind, f1 in sorted(per_type.items()):
                logs[f"val_f1_{kind}"] = f1
            for name, value in extra.items():
                logs[f"val_{name}"] = value
        if self.verbose:
            shown = "  ".join(f"{k}={v:.4f}" for k, v in sorted(per_type.items()))
            speed = f" | {logs['real_tokens_per_s']:,.0f} real tokens/s" if logs and "real_tokens_per_s" in logs else ""
            more = "".join(f" | {name} {value:.4f}" for name, value in extra.items())
            print(f"{self.unit} {epoch + 1}: dev entity F1 {ev.f1:.4f} (P {ev.precision:.4f} R {ev.recall:.4f}) | {shown}"
                  + more + speed)
        if self.best_epoch is None or ev.f1 - self.min_delta > self._best_f1:
            self._best_f1, self.best_epoch = ev.f1, epoch
            if self.restore_best:
                self._best_weights = weight_values(self.model)
        elif self.patience is not None and epoch - self.best_epoch >= self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True
            if self.verbose:
                print(f"stopping early: dev entity F1 has not risen more than {self.min_delta} for "
                      f"{self.patience} {self.unit}(s) since {self.unit} {self.best_epoch + 1}")

    def final_f1(self) -> float | None:
        """Dev entity F1 of the weights training ends with (``kept_epoch``'s once training has ended)."""
        if not self.evaluations:
            return None
        if self.kept_epoch is not None:
            return self.evaluations[self.kept_epoch].f1
        if self.restore_best is True and self.best_epoch is not None:
            return self.evaluations[self.best_epoch].f1
        return self.evaluations[-1].f1

    def choose(self) -> tuple[int, dict]:
        """The epoch whose weights training ends with under ``restore_best``, and why (a dict: ``rule``,
        ``best``, ``last``, ``kept``, ``reason``; ``share``: the paired bootstrap's, where one ran)."""
        last, best = len(self.evaluations) - 1, self.best_epoch
        rule = "best" if self.restore_best is True else "last" if self.restore_best is False else SIGNIFICANT
        why: dict = {"rule": rule, "best": best, "last": last}
        if best is None or best == last:
            return last, {**why, "kept": last, "reason": f"the last {self.unit} has the best dev entity F1"}
        if self.restore_best is False:
            return last, {**why, "kept": last, "reason": "restore_best=False keeps the last weights"}
        if self.restore_best is True:
            return best, {**why, "kept": best, "reason": "restore_best=True keeps the best dev entity F1"}
        ev_best, ev_last = self.evaluations[best], self.evaluations[last]
        if not ev_best.sentence_counts or len(ev_best.sentence_counts) != len(ev_last.sentence_counts):
            # evaluations read back from an older backup hold no per-sentence counts: the best, as before
            return best, {**why, "kept": best, "reason": "no per-sentence dev counts to compare: the best"}
        share = paired_bootstrap(ev_best, ev_last, resamples=RESAMPLES, seed=self.seed)
        kept = best if share >= SIGNIFICANT_SHARE else last
        verdict = "clearly better" if kept == best else "not clearly better"
        return kept, {**why, "kept": kept, "share": share,
                      "reason": f"{self.unit} {best + 1}'s dev entity F1 {ev_best.f1:.4f} is {verdict} than the last "
                                f"{self.unit}'s {ev_last.f1:.4f} (above it in {share:.0%} of {RESAMPLES:,} paired "
                                f"bootstrap resamples of dev's sentences; {SIGNIFICANT_SHARE:.0%} needed)"}

    def on_train_end(self, logs=None):
        if self.evaluations:
            self.kept_epoch, self.selection = self.choose()
            last = len(self.evaluations) - 1
            if self.kept_epoch != last and self._best_weights is not None:
                if self.verbose:
                    print(f"restoring the weights of {self.unit} {self.kept_epoch + 1}: {self.selection['reason']}")
                assign_weights(self.model, self._best_weights)
            elif self.verbose and self.best_epoch is not None and self.best_epoch != last:
                print(f"keeping the last {self.unit}'s weights: {self.selection['reason']}")
        self._best_weights = None


class EpochProgress(tf.keras.callbacks.Callback):
    """The console of a fit: ``verbose=1`` a progress bar per epoch (loss), ``verbose=2`` one
    line per epoch (loss, real tokens/s, seconds); the dev line adds real tokens/s. Place it after :class:`TrainingTimer` and before
    :class:`DevEvaluation` (whose line follows). Keras' own progress output is off, so no
    value is printed twice."""

    def __init__(self, epochs: int, steps_per_epoch: int, verbose: int, name: str = "Epoch"):
        super().__init__()
        self.epochs, self.steps, self.verbose, self.name = epochs, steps_per_epoch, verbose, name
        self._bar: tf.keras.utils.Progbar | None = None
        self._start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        if self.verbose == 1:
            print(f"{self.name} {epoch + 1}/{self.epochs}")
            self._bar = tf.keras.utils.Progbar(self.steps, stateful_metrics=["loss"], unit_name="step")

    def on_train_batch_end(self, batch, logs=None):
        if self._bar is not None and logs and "loss" in logs and batch + 1 < self.steps:  # the last: at epoch end
            self._bar.update(batch + 1, [("loss", float(logs["loss"]))])

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        shown = [("loss", float(logs.get("loss", float("nan"))))]
        if "real_tokens_per_s" in logs:
            shown.append(("real tokens/s", round(float(logs["real_tokens_per_s"]))))
        if self._bar is not None:
            self._bar.update(self.steps, shown[:1], finalize=True)
            self._bar = None
        elif self.verbose >= 2:
            print(f"{self.name.lower()} {epoch + 1}/{self.epochs}: " + ", ".join(f"{n} {v:.4g}" for n, v in shown)
                  + f" ({time.perf_counter() - self._start:.0f} s)")


class FreezeEncoder(tf.keras.callbacks.Callback):
    """The encoder fixed for the first ``epochs`` epochs, then trained with the rest.

    ``set_trainable(bool)`` switches the encoder (and whatever must stay fixed afterwards,
    e.g. frozen embeddings). The optimizer must already hold slots for every variable the
    model will train (``optimizer.build(model.trainable_variables)`` before freezing), so
    unfreezing only retraces the step; the schedule and step count run on unchanged. A resumed
    run calls ``on_epoch_begin`` with the epoch it resumes in, so it freezes or not as the
    uninterrupted run would have.
    """

    def __init__(self, epochs: int, set_trainable: Callable[[bool], None]):
        super().__init__()
        self.epochs, self.set_trainable = epochs, set_trainable
        self.frozen: bool | None = None

    def on_epoch_begin(self, epoch, logs=None):
        frozen = epoch < self.epochs
        if frozen != self.frozen:
            self.set_trainable(not frozen)
            self.frozen = frozen
            # trainable_variables are read when the step is traced: trace it again
            self.model.make_train_function(force=True)


class EverySteps(tf.keras.callbacks.Callback):
    """Calls ``action(step)`` after every ``every``-th step of an epoch but its last (steps counted
    from the epoch's start, ``offset`` of them done before a resume); the caller handles the
    epoch's end itself (after its held-out scoring)."""

    def __init__(self, every: int, offset: int, action: Callable[[int], None]):
        super().__init__()
        self.every, self.offset, self.action = every, offset, action

    def on_train_batch_end(self, batch, logs=None):
        step = self.offset + batch + 1
        if step % self.every == 0 and batch + 1 < self.params["steps"]:
            self.action(step)
