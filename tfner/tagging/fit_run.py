"""The run of a fit: callbacks (plain objects), crash-safe resume, Keras' ``fit``, the result.

Nothing here assigns to the estimator: :func:`run` returns a :class:`FitResult` and the
:class:`~tfner.tagger.Tagger` takes it, and the learned state, only once training succeeded.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import tensorflow as tf

from tfner.config import TaggerConfig
from tfner.data import pipeline
from tfner.data import tasks as tasks_lib
from tfner.errors import ConfigError
from tfner.metrics import Evaluation, TagEvaluation
from tfner.tagging import scoring
from tfner.tagging.inputs import Corpus, Inputs
from tfner.tagging.model_setup import ModelSetup, set_encoder_trainable
from tfner.tagging.recipe import Recipe
from tfner.tagging.saved_tagger import OUTPUT_TAGGER
from tfner.tagging.state import TaggerState
from tfner.training import backup
from tfner.training.callbacks import DevEvaluation, EpochProgress, FreezeEncoder, LearningRateLogger, TrainingTimer
from tfner.training.precision import PrecisionChoice
from tfner.training.schedule import Schedule
from tfner.training.strategy import barrier, is_chief, is_multi_worker
from tfner.training.summaries import DevSummaries


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """The estimator's arguments that are not model options (see ``Tagger``)."""

    output_dir: Path | None
    logdir: Path | None
    verbose: int
    backup_every: int
    callbacks: tuple
    dev_loss: bool = True  # Keras' own pass over dev each round for val_loss (History, TensorBoard)
    overwrite: bool = False  # a finished run's tagger in output_dir may be replaced by a new run


def check_options(options: RunOptions) -> None:
    """``options`` checked before any data is read (a refused fit leaves an earlier one as it was).

    ``backup_every`` is an integer >= 1 (Keras refused 0 only once training began). No callback is
    Keras' ``EarlyStopping(restore_best_weights=True)``: it swaps the weights after tfner has scored
    the epoch, so the tagger would hold other weights than ``kept_epoch_`` names (tfner's
    ``patience`` and ``restore_best`` do the same on dev entity F1). And a finished run's
    ``output_dir`` (its tagger saved, no backup left) is not trained over unless ``overwrite``: the
    same call run twice would otherwise train again and replace the finished tagger."""
    every = options.backup_every
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise ConfigError(f"backup_every must be an integer >= 1 (steps between backups), got {every!r}")
    for callback in options.callbacks:
        if isinstance(callback, tf.keras.callbacks.EarlyStopping) and callback.restore_best_weights:
            raise ConfigError("Keras' EarlyStopping(restore_best_weights=True) replaces the weights after tfner "
                              "has chosen which round to keep; use tfner's patience= and restore_best= (on dev "
                              "entity F1), or restore_best_weights=False")
    out = options.output_dir
    if out is None or options.overwrite or not (out / OUTPUT_TAGGER).exists():
        return
    if backup.saved_position(out) is not None:  # killed between its final save and the backup's removal: resumes
        return
    raise ConfigError(f"{out} holds the tagger of a finished run ({out / OUTPUT_TAGGER}); load it with "
                      f"tfner.load({str(out)!r}), pass overwrite=True (tfner train --overwrite) to train again "
                      "and replace it, or use another output_dir")


@dataclasses.dataclass(frozen=True)
class FitResult:
    """What a finished run learned besides the weights: History, dev scores, the run's figures."""

    history: dict
    dev_evaluations: list[Evaluation]
    best_epoch: int | None
    kept_epoch: int | None  # whose weights the model holds: best_epoch or the last (restore_best)
    stopped_epoch: int | None
    train_stats: dict


class DevScorer:
    """Scores dev for :class:`DevEvaluation` each epoch, and keeps what it scored (TensorBoard's
    examples and confusion matrix) and the further tasks' scores, all from one pass of the model."""

    def __init__(self, state: TaggerState, sentences, mode: str):
        self.state, self.sentences, self.mode = state, sentences, mode
        self.scored: list = []
        self.task_scores: dict[str, Evaluation | TagEvaluation] = {}

    def __call__(self) -> Evaluation:
        return scoring.score(self.state, self.sentences, self.mode, keep=self.scored,
                             task_scores=self.task_scores if self.state.tasks else None)

    def task_logs(self) -> dict[str, float]:
        return {(f"{name}_accuracy" if isinstance(r, TagEvaluation) else f"{name}_f1"):
                (r.accuracy if isinstance(r, TagEvaluation) else r.f1) for name, r in self.task_scores.items()}

    def last_scored(self) -> tuple:
        return tuple(self.scored)


class RunBackup:
    """``output_dir``'s backup of one run (:mod:`tfner.training.backup`): its identity, resuming,
    and the progress written before every checkpoint. Every worker reads; only the chief writes."""

    def __init__(self, out: Path, identity: dict, chief: bool, model, dev_eval: DevEvaluation | None,
                 restore_best: bool | str):
        self.out, self.identity, self.chief = out, json.loads(json.dumps(identity)), chief
        self.dev_eval, self.restore_best = dev_eval, restore_best
        self.epoch_logs: list[dict] = []
        self.bests: list[int | None] = []  # the best epoch as of each finished epoch
        self.stopped_epoch: int | None = None  # the epoch after which a callback stopped training (stop_training)
        self.model = model

    def resume(self, steps: int, verbose: int) -> int:
        """Steps an earlier run in ``out`` already did (0 for a new run); restores its epochs and dev state."""
        position = backup.saved_position(self.out)
        if position is None:
            if self.chief:
                self.out.mkdir(parents=True, exist_ok=True)
                for path in [self.out / backup.PROGRESS, *backup.best_weights_files(self.out)]:
                    path.unlink(missing_ok=True)
                backup.write_json_atomic(self.out / backup.RUN, self.identity)
            return 0
        earlier = json.loads((self.out / backup.RUN).read_text(encoding="utf-8"))
        if earlier.get("format", 1) != self.identity["format"]:
            raise ConfigError(f"{self.out} holds a backup written by another version of tfner (format "
                              f"{earlier.get('format', 1)}, this one reads {self.identity['format']}); delete its "
                              "backup/ folder to start afresh, or finish the run with the tfner that began it")
        # a backup of an older tfner has no precision: it resumes as before
        different = sorted(k for k in {*earlier, *self.identity} if earlier.get(k) != self.identity.get(k)
                           and (k in earlier or k != "precision"))
        if different:
            raise ConfigError(f"{self.out} holds the backup of a different run (other {', '.join(different)}); "
                              "use another output_dir, or delete its backup/ folder to start afresh")
        done = backup.steps_done(position, steps)
        file = self.out / backup.PROGRESS
        progress = json.loads(file.read_text(encoding="utf-8")) if file.exists() else \
            {"epoch_logs": [], "evaluations": [], "bests": []}
        finished = done // steps  # epochs whose end (and dev scoring) the backup has seen
        self.epoch_logs = progress["epoch_logs"][:finished]
        # the best as of the last finished epoch: progress may already hold the next epoch's (a crash between
        # progress and its checkpoint), whose new best then is not the one to go on from
        self.bests = progress["bests"][:finished]
        stopped = progress.get("stopped_epoch")
        self.stopped_epoch = stopped if stopped is not None and stopped < finished else None
        if self.dev_eval is not None:
            best = self.bests[-1] if self.bests else None
            weights = backup.load_weights(self.out / backup.BEST_WEIGHTS.format(epoch=best)) \
                if best is not None and self.restore_best else None
            self.dev_eval.restore([Evaluation(**e) for e in progress["evaluations"][:finished]], best, weights)
        if verbose:
            print(f"resuming from {self.out}: {done} of {steps * self.identity['rounds']} steps done "
                  f"(round {done // steps + 1})")
        return done

    def write_progress(self, epoch: int, logs: dict | None) -> None:
        """Before each epoch-end checkpoint: the epoch's logs, dev scores and best weights."""
        self.epoch_logs.append({k: float(v) for k, v in (logs or {}).items()})
        dev_eval = self.dev_eval
        best = dev_eval.best_epoch if dev_eval else None
        self.bests.append(best)
        if getattr(self.model, "stop_training", False):  # asked by a callback before the backup (the user's)
            self.stopped_epoch = epoch
        if not self.chief:
            return
        if dev_eval is not None and best == epoch and self.restore_best:
            backup.save_weights_atomic(self.out / backup.BEST_WEIGHTS.format(epoch=epoch), self.model)
        backup.write_json_atomic(self.out / backup.PROGRESS, {
            "epoch_logs": self.epoch_logs, "best_epoch": best, "bests": self.bests, "stopped_epoch": self.stopped_epoch,
            "evaluations": [dataclasses.asdict(e) for e in (dev_eval.evaluations if dev_eval else [])]})
        # kept: this epoch's best, and the one before it until this epoch's checkpoint is written
        keep = {backup.BEST_WEIGHTS.format(epoch=b) for b in self.bests[-2:]}
        for path in backup.best_weights_files(self.out):
            if path.name not in keep:
                path.unlink(missing_ok=True)


def dev_evaluation(cfg: TaggerConfig, state: TaggerState, corpus: Corpus, verbose: int,
                   plan: Schedule) -> tuple[DevEvaluation, DevScorer]:
    scorer = DevScorer(state, corpus.dev, cfg.eval_mode)
    types = sorted({t[2:] for t in corpus.labels if t != "O"})
    return DevEvaluation(scorer, restore_best=cfg.restore_best, verbose=verbose, types=types, patience=plan.patience,
                         min_delta=cfg.min_delta, extra_logs=scorer.task_logs if state.tasks else None,
                         unit="round" if plan.auto else "epoch", seed=cfg.seed), scorer


def callbacks(cfg: TaggerConfig, setup: ModelSetup, inputs: Inputs, options: RunOptions, chief: bool,
              dev: tuple[DevEvaluation, DevScorer] | None, types: Sequence[str],
              plan: Schedule) -> list[tf.keras.callbacks.Callback]:
    """The run's callbacks in the order they run: tfner's own, the user's once dev is scored (their logs hold
    ``val_entity_f1`` and ``learning_rate``; at the end, the weights ``restore_best`` kept), then TensorBoard's
    writers (and, in :func:`run`, the backup). Keras' epochs are ``plan``'s rounds."""
    tokens_per_round = round(inputs.tokens * plan.round_updates / inputs.steps)  # a pass's, with epochs given
    own: list[tf.keras.callbacks.Callback] = [TrainingTimer(tokens_per_round), LearningRateLogger(setup.schedule)]
    if cfg.freeze_encoder_epochs:
        own.append(FreezeEncoder(plan.rounds_for_epochs(cfg.freeze_encoder_epochs),
                                 functools.partial(set_encoder_trainable, setup.model, cfg)))
    if options.verbose:
        own.append(EpochProgress(plan.rounds, plan.round_updates, options.verbose,
                                 "Epoch" if not plan.auto else "Round"))
    if dev is not None:
        own.append(dev[0])
    own.extend(options.callbacks)
    logdir = options.logdir
    if logdir is None and options.output_dir is not None:
        logdir = options.output_dir / "logs"
    if logdir is not None and not chief:  # only the chief writes logs
        logdir = Path(tempfile.mkdtemp(prefix="tfner-worker-logs-"))
    if logdir is not None:
        if dev is not None:
            own.append(DevSummaries(logdir, cfg.to_dict(), types, dev[1].last_scored, dev[0].final_f1))
        own.append(tf.keras.callbacks.TensorBoard(log_dir=os.fspath(logdir), write_graph=False, profile_batch=0))
    return own


def resumed_precision(options: RunOptions, requested: str) -> PrecisionChoice | None:
    """The policy the run in ``options.output_dir`` trains in, where it is resumed with ``precision="auto"``.

    "auto" times a matmul at each fit: on another machine, or on a busy one, a resumed run could
    otherwise go on in another policy than it began in and end with other weights than it would have.
    None for a new run, an explicit precision (the backup's identity then checks it), or a backup
    written before tfner recorded the policy."""
    out = options.output_dir
    if out is None or requested != "auto" or backup.saved_position(out) is None:
        return None
    try:
        policy = json.loads((out / backup.RUN).read_text(encoding="utf-8")).get("precision")
    except (OSError, ValueError):
        return None  # resume() names what is wrong with the backup
    return PrecisionChoice(policy, f"the policy the run in {out} began in, resumed") if policy else None


def run(cfg: TaggerConfig, strategy, corpus: Corpus, inputs: Inputs, setup: ModelSetup, state: TaggerState,
        options: RunOptions, plan: Schedule, recipe: Recipe) -> FitResult:
    """Train ``setup.model`` on ``inputs`` for ``plan``'s rounds (resuming from ``options.output_dir``'s backup)."""
    multi, chief = is_multi_worker(strategy), is_chief(strategy)
    dev = dev_evaluation(cfg, state, corpus, options.verbose, plan) if corpus.dev else None
    types = sorted({t[2:] for t in corpus.labels if t != "O"})
    all_callbacks = callbacks(cfg, setup, inputs, options, chief, dev, types, plan)
    steps = plan.round_updates  # Keras' steps_per_epoch: the updates between two dev evaluations
    timer = next(c for c in all_callbacks if isinstance(c, TrainingTimer))
    train_stream, done, run_backup = inputs.train.repeat(), 0, None
    if options.output_dir is not None:
        identity = {"format": backup.FORMAT, "config": cfg.to_dict(), "labels": tasks_lib.head_names(corpus.labels, corpus.tasks),
                    "steps_per_epoch": inputs.steps, "round_updates": steps, "rounds": plan.rounds,
                    "recipe": recipe.to_dict(), "data": inputs.fingerprint, "dev": inputs.dev_fingerprint,
                    "precision": setup.precision.policy}
        run_backup = RunBackup(options.output_dir, identity, chief, setup.model, dev[0] if dev else None,
                               cfg.restore_best)
        done = run_backup.resume(steps, options.verbose)
        train_stream = train_stream.skip(done)  # the seeded stream is the same as before: skip what was seen
        all_callbacks.append(backup.TrainingBackup(options.output_dir, options.backup_every, steps,
                                                   run_backup.write_progress))
    # without dev_loss only tfner's scoring pass reads dev each round (Keras' loss pass costs as much again)
    fit_input, dev_input, dev_steps = train_stream, inputs.dev if options.dev_loss else None, None
    if multi:
        # Every worker builds the same global batches and keeps its replicas' rows
        # (pipeline.replica_pieces): the same number of steps on every worker, whatever the buckets.
        fit_input = strategy.distribute_datasets_from_function(lambda ctx: pipeline.replica_pieces(train_stream, ctx))
        if dev_input is not None:
            dev_input = strategy.distribute_datasets_from_function(
                lambda ctx: pipeline.replica_pieces(inputs.dev, ctx))
            dev_steps = pipeline.steps_per_epoch(inputs.dev_windows, inputs.batch_sizes, inputs.buckets)
    # a resumed run whose restored epochs already stopped early (patience, or a user's callback) trains no further epoch
    stops = [e for e in (dev[0].stopped_epoch if dev else None, run_backup.stopped_epoch if run_backup else None)
             if e is not None]
    stopped = min(stops) if stops else None
    t0 = time.perf_counter()
    # Repeated with an exact steps_per_epoch: Keras then knows the epoch length (progress bar,
    # schedule) and never runs a stray step past the end of a pass of unknown length.
    history = setup.model.fit(fit_input, steps_per_epoch=steps,
                              epochs=plan.rounds if stopped is None else stopped + 1, validation_data=dev_input,
                              validation_steps=dev_steps, callbacks=all_callbacks,
                              verbose=0).history  # EpochProgress prints instead: no value twice
    elapsed = time.perf_counter() - t0
    if run_backup is not None:  # every epoch, also those before a resume
        logs = run_backup.epoch_logs
        history = {k: [epoch.get(k) for epoch in logs] for k in logs[-1]} if logs else {}
    dev_eval = dev[0] if dev else None
    stats = {
        "windows": inputs.windows, "steps_per_epoch": inputs.steps, "batches_per_epoch": inputs.batches,
        "buckets": list(inputs.buckets), "batch_sizes": list(inputs.batch_sizes),
        "accumulate_steps": cfg.accumulate_steps, "labelled_tokens_per_epoch": inputs.labelled,
        "tokens_per_epoch": inputs.tokens, "warmup_steps": setup.schedule.warmup_steps,
        "total_steps": setup.schedule.total_steps, "seconds": timer.seconds, "epoch_seconds": list(timer.epoch_seconds),
        "fit_seconds": elapsed, "replicas": strategy.num_replicas_in_sync, "precision": setup.precision.policy,
        "precision_reason": setup.precision.reason, "resumed_at_step": done,
        "schedule": plan.to_dict(), "recipe": recipe.to_dict(),
        "selection": dev_eval.selection if dev_eval else {},
    }
    return FitResult(history, dev_eval.evaluations if dev_eval else [], dev_eval.best_epoch if dev_eval else None,
                     dev_eval.kept_epoch if dev_eval else None, dev_eval.stopped_epoch if dev_eval else None, stats)


def save_output(strategy, options: RunOptions, save) -> None:
    """After a finished run with ``output_dir``: the tagger saved to ``output_dir/tagger`` (written
    beside it, then renamed into place), and only then the backup removed."""
    if options.output_dir is None:
        return
    barrier(strategy)  # every worker is done with the backup folder
    if is_chief(strategy):
        backup.replace_dir(save, options.output_dir / OUTPUT_TAGGER)
        backup.finish(options.output_dir)


def print_summary(cfg: TaggerConfig, corpus: Corpus, inputs: Inputs, chosen: PrecisionChoice, strategy) -> None:
    """What is loaded, the data's counts, the precision and replicas: tfner's first lines of a fit."""
    sentences = len(corpus.train) if corpus.manifest is None else corpus.manifest["sentences"]
    loaded = f"the tagger in {cfg.init_from}" if cfg.init_from else \
        f"{cfg.encoder} ({'pre-trained' if cfg.pretrained else 'random initialisation'})"
    print(f"encoder: {loaded}; labels: {', '.join(t[2:] for t in corpus.labels if t.startswith('B-')) or 'none'}"
          + "".join(f"; task {t.name}: {len(t.labels)} {'span labels' if t.kind == tasks_lib.SPANS else 'tags'}"
                    f" (weight {t.weight:g})" for t in corpus.tasks))
    print(f"train: {sentences:,} sentences -> {inputs.windows:,} windows, {inputs.tokens:,} sub-word tokens, "
          f"{inputs.steps:,} steps per epoch" + (f"; dev: {len(corpus.dev):,} sentences" if corpus.dev else
                                                  "; no dev data"))
    print(f"precision: {chosen.policy} ({chosen.reason}); replicas: {strategy.num_replicas_in_sync}")
