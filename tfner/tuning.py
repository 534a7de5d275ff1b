"""Hyperparameter search: trials of :func:`tfner.fit` chosen by Optuna, weak ones pruned on dev F1.

>>> space = {"learning_rate": (1e-5, 1e-4, "log"), "batch_size": [16, 32], "epochs": [2, 3]}
>>> result = tfner.search("train.conll", "dev.conll", space=space, trials=10)  # doctest: +SKIP
>>> print(result.table())                                    # doctest: +SKIP
>>> tagger = result.best_tagger                               # doctest: +SKIP
>>> again = tfner.Tagger(result.best_config).fit("train.conll", "dev.conll")  # doctest: +SKIP

A space maps :class:`~tfner.config.TaggerConfig` fields to what a trial may pick:

* a **list** of choices: ``[16, 32]``, ``["softmax", "crf"]``;
* a **range** ``(low, high)``: integers if both ends are, else floats, uniform;
  ``(low, high, "log")`` log-uniform (learning rates);
* an Optuna distribution (``optuna.distributions.FloatDistribution(...)``), used as it is.

Each trial fits a tagger with the picked values (everything else from ``config`` and
``**options``) and scores dev entity F1 after every round (an epoch when the trial's ``epochs`` is
set; the recipe's equal parts of its budget when not, :mod:`tfner.training.schedule`); the pruner
(Optuna's median rule by default: stop a trial whose dev F1 after a round is below the median of
earlier trials' at the same round) ends weak trials early. A trial's value is the dev F1 of the
tagger ``fit`` returns (of the round whose weights it keeps: ``kept_epoch_``, under ``restore_best``). The result lists every trial, best first,
and keeps the best trial's fitted tagger, so the search needs no refit.

Optuna is an optional dependency: ``pip install "tfner[search]"``.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
import warnings
from collections.abc import Mapping
from typing import Any

import tensorflow as tf

from tfner.config import TaggerConfig, check_options
from tfner.errors import ConfigError, MissingDependencyError
from tfner.tagger import DataLike, Tagger

#: What ``space=None`` searches: the settings the BERT fine-tuning literature varies, but the batch size and the
#: length of training, which the recipe sizes to the corpus (:mod:`tfner.tagging.recipe`; its budget of updates,
#: scored in 8 rounds: a fixed 2-4 epochs would give a 50-sentence corpus some 10 updates where ``fit`` gives 600).
DEFAULT_SPACE: dict[str, Any] = {
    "learning_rate": (1e-5, 1e-4, "log"),
    "warmup_ratio": (0.0, 0.2),
    "head": ["softmax", "crf"],
}
#: A search ends, raising, after this many failed trials in a row (Keras Tuner's ``max_consecutive_failed_trials``):
#: one bad combination is recorded and passed over, a systematic failure is not retried for every trial.
MAX_CONSECUTIVE_FAILURES = 3


@dataclasses.dataclass(frozen=True)
class Trial:
    """One trial: what it picked, how it ended (``complete``, ``pruned`` or ``failed``: ``error`` says why),
    its dev F1 per epoch."""

    number: int
    state: str
    params: dict[str, Any]
    dev_f1: float | None
    dev_f1_per_epoch: tuple[float, ...]
    seconds: float
    error: str | None = None


@dataclasses.dataclass(frozen=True)
class SearchResult:
    """Every trial, best first (complete trials by dev F1, then pruned and failed ones by the best dev F1
    they reached; a failed trial's ``error`` says why); the best complete trial's configuration, dev F1 and fitted tagger, and the
    Optuna study (for its own plots and analyses). ``best_*`` are None when no trial completed."""

    trials: tuple[Trial, ...]
    best_config: TaggerConfig | None
    best_f1: float | None
    best_tagger: Tagger | None
    study: Any

    def table(self) -> str:
        """The trials as a text table, best first."""
        names = sorted({k for t in self.trials for k in t.params})
        head = ["rank", "trial", "state", "dev F1", "epochs run", *names, "seconds"]
        rows = [[str(i + 1), str(t.number), t.state, "-" if t.dev_f1 is None else f"{t.dev_f1:.4f}",
                 str(len(t.dev_f1_per_epoch)), *(_show(t.params.get(n)) for n in names), f"{t.seconds:.0f}"]
                for i, t in enumerate(self.trials)]
        widths = [max(len(r[c]) for r in [head, *rows]) for c in range(len(head))]
        return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(r, widths, strict=True)) for r in [head, *rows])

    def __str__(self) -> str:
        return self.table()


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return "-" if value is None else str(value)


def _optuna():
    try:
        import optuna
    except ImportError:
        raise MissingDependencyError('tfner.search needs Optuna: pip install "tfner[search]"') from None
    return optuna


def _distributions(space: Mapping[str, Any]) -> dict[str, Any]:
    """The space as Optuna distributions; ConfigError for an unknown field or a malformed entry."""
    optuna = _optuna()
    dist = optuna.distributions
    if not isinstance(space, Mapping) or not space:
        raise ConfigError("space must be a non-empty dict of TaggerConfig field -> choices or range")
    check_options(dict(space))
    out = {}
    for name, spec in space.items():
        if isinstance(spec, dist.BaseDistribution):
            out[name] = spec
        elif isinstance(spec, list):
            if not spec:
                raise ConfigError(f"space[{name!r}]: an empty list of choices")
            out[name] = dist.CategoricalDistribution(spec)
        elif isinstance(spec, tuple) and len(spec) in (2, 3) and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in spec[:2]):
            low, high = spec[0], spec[1]
            log = len(spec) == 3
            if log and spec[2] != "log":
                raise ConfigError(f"space[{name!r}]: a range's third item can only be 'log', got {spec[2]!r}")
            if not (math.isfinite(low) and math.isfinite(high) and low < high) or (log and low <= 0):
                raise ConfigError(f"space[{name!r}]: a range needs finite low < high (low > 0 for 'log'), got {spec}")
            if isinstance(low, int) and isinstance(high, int):
                out[name] = dist.IntDistribution(low, high, log=log)
            else:
                out[name] = dist.FloatDistribution(float(low), float(high), log=log)
        else:
            raise ConfigError(f"space[{name!r}] must be a list of choices, a (low, high[, 'log']) range or an "
                              f"Optuna distribution, got {spec!r}")
    return out


class _ReportEpochs(tf.keras.callbacks.Callback):
    """Reports each epoch's dev F1 to the trial as the next epoch starts (Keras' History holds it by
    then) and prunes there: a pruned trial stops before training another epoch."""

    def __init__(self, trial, optuna):
        super().__init__()
        self.trial, self.optuna = trial, optuna
        self.reported: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 0:
            return
        f1 = float(self.model.history.history["val_entity_f1"][-1])
        self.trial.report(f1, epoch - 1)
        self.reported.append(f1)
        if self.trial.should_prune():
            raise self.optuna.TrialPruned(f"dev entity F1 {f1:.4f} after epoch {epoch}")


def _suggest(trial, name: str, d, optuna) -> Any:
    """The trial's pick from distribution ``d``, through Optuna's public suggest API."""
    dist = optuna.distributions
    if isinstance(d, dist.FloatDistribution):
        return trial.suggest_float(name, d.low, d.high, log=d.log, step=d.step)
    if isinstance(d, dist.IntDistribution):
        return trial.suggest_int(name, d.low, d.high, log=d.log, step=d.step)
    if isinstance(d, dist.CategoricalDistribution):
        return trial.suggest_categorical(name, d.choices)
    raise ConfigError(f"space[{name!r}]: unsupported Optuna distribution {type(d).__name__}")


def search(train: DataLike, dev: DataLike, *, space: Mapping[str, Any] | None = None, trials: int = 20,
           config: TaggerConfig | None = None, pruner: Any = "median", sampler: Any = None,
           timeout: float | None = None, strategy: Any = "auto", verbose: int = 1, **options: Any) -> SearchResult:
    """Search ``space`` with ``trials`` fits on ``train``, each scored on ``dev`` (entity F1).

    Args:
        space: TaggerConfig field -> a list of choices, a ``(low, high[, "log"])`` range or an
            Optuna distribution; ``None`` searches :data:`DEFAULT_SPACE`.
        trials: how many trials (fewer if ``timeout`` seconds pass first).
        config, options: the settings every trial shares (a field may not be both here and in ``space``;
            in ``config``, a field set to other than its default counts as fixed).
        pruner: ``"median"`` (Optuna's MedianPruner: two trials first, then every epoch), ``None``
            (no pruning) or any ``optuna.pruners`` object.
        sampler: an ``optuna.samplers`` object; default TPE seeded with the trials' ``seed`` option
            (the same search twice picks the same trials).
        verbose: 0 silent; 1 one line per trial; 2 also each fit's own console.

    A trial that raises (a combination the options refuse, out of memory) is recorded as ``failed`` with its
    error, and the search goes on; :data:`MAX_CONSECUTIVE_FAILURES` failures in a row end it with the last error,
    as does a search whose every trial failed.

    The trials fit with ``dev_loss=False`` (:class:`~tfner.Tagger`): dev is read once a round, for
    its F1, so ``best_tagger.history_`` has no ``val_loss``.
    """
    optuna = _optuna()
    if dev is None:
        raise ConfigError("search scores every trial on dev entity F1: pass dev data")
    if not (isinstance(trials, int) and not isinstance(trials, bool) and trials >= 1):
        raise ConfigError(f"trials must be an integer >= 1, got {trials!r}")
    distributions = _distributions(DEFAULT_SPACE if space is None else space)
    check_options(options)
    fixed = set(options)
    if config is not None:  # what config sets away from the defaults is as fixed as an option
        defaults = TaggerConfig()
        fixed |= {f.name for f in dataclasses.fields(TaggerConfig)
                  if getattr(config, f.name) != getattr(defaults, f.name)}
    both = sorted(set(distributions) & fixed)
    if both:
        raise ConfigError(f"{', '.join(both)}: in both space and the fixed options; give each field one place")
    base = (config or TaggerConfig()).replace(**options)
    if pruner == "median":
        pruner = optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
    elif pruner is None:
        pruner = optuna.pruners.NopPruner()
    level = optuna.logging.get_verbosity()
    # below verbose 2 a failed trial is tfner's one line and warning, not also Optuna's traceback
    optuna.logging.set_verbosity(optuna.logging.INFO if verbose >= 2 else optuna.logging.ERROR)
    try:
        study = optuna.create_study(direction="maximize", pruner=pruner,
                                    sampler=sampler or optuna.samplers.TPESampler(seed=base.seed))
        done, best = _run(study, optuna, distributions, base, train, dev, trials, timeout, strategy, verbose)
    finally:
        optuna.logging.set_verbosity(level)
    ranked = sorted(done, key=lambda t: (t.state != "complete",
                                         -(t.dev_f1 if t.dev_f1 is not None else max(t.dev_f1_per_epoch, default=-1.0))))
    if not best:
        warnings.warn(f"no trial completed: all {len(done)} were pruned or failed; best_config is None", stacklevel=2)
    return SearchResult(tuple(ranked), best.get("config"), best.get("f1"), best.get("tagger"), study)


def _run(study, optuna, distributions: dict[str, Any], base: TaggerConfig, train: DataLike, dev: DataLike,
         trials: int, timeout: float | None, strategy: Any, verbose: int) -> tuple[list[Trial], dict[str, Any]]:
    best: dict[str, Any] = {}
    done: list[Trial] = []
    errors: list[Exception] = []

    def objective(trial) -> float:
        params = {name: _suggest(trial, name, d, optuna) for name, d in distributions.items()}
        t0 = time.perf_counter()
        report = _ReportEpochs(trial, optuna)
        try:
            cfg = base.replace(**params)
            # a trial is judged by its dev F1 alone: no second pass over dev for Keras' val_loss each round
            tagger = Tagger(cfg, strategy=strategy, verbose=max(0, verbose - 1), callbacks=[report], dev_loss=False)
            tagger.fit(train, dev)
        except optuna.TrialPruned:
            scores = tuple(report.reported)
            done.append(Trial(trial.number, "pruned", params, None, scores, time.perf_counter() - t0))
            _say(verbose, done[-1], trials)
            raise
        except Exception as err:
            errors.append(err)
            error = f"{type(err).__name__}: {err}"
            done.append(Trial(trial.number, "failed", params, None, tuple(report.reported), time.perf_counter() - t0,
                              error))
            _say(verbose, done[-1], trials)
            failures = sum(1 for _ in itertools.takewhile(lambda t: t.state == "failed", reversed(done)))
            if failures >= MAX_CONSECUTIVE_FAILURES:
                raise
            warnings.warn(f"trial {trial.number + 1} failed ({error}); the search goes on", stacklevel=2)
            raise _TrialFailed(error) from err
        scores = tuple(e.f1 for e in tagger.dev_evaluations_)
        trial.report(scores[-1], len(scores) - 1)
        value = scores[tagger.kept_epoch_] if tagger.kept_epoch_ is not None else scores[-1]  # the weights it holds
        done.append(Trial(trial.number, "complete", params, value, scores, time.perf_counter() - t0))
        _say(verbose, done[-1], trials)
        if not best or value > best["f1"]:
            best.update(f1=value, config=cfg, tagger=tagger)
        return value

    study.optimize(objective, n_trials=trials, timeout=timeout, catch=(_TrialFailed,))
    if done and all(t.state == "failed" for t in done):  # fewer than MAX_CONSECUTIVE_FAILURES trials, all failed
        raise errors[-1]
    return done, best


class _TrialFailed(Exception):
    """A trial's error that the search records and passes over (Optuna marks the trial failed)."""


def _say(verbose: int, t: Trial, trials: int) -> None:
    if not verbose:
        return
    picked = ", ".join(f"{k} {_show(v)}" for k, v in t.params.items())
    if t.state == "failed":
        ended = f"failed: {t.error}"
    elif t.state == "complete":
        ended = f"dev F1 {t.dev_f1:.4f}"
    else:
        ended = f"pruned after epoch {len(t.dev_f1_per_epoch)} (dev F1 {t.dev_f1_per_epoch[-1]:.4f})"
    print(f"trial {t.number + 1}/{trials}: {picked} -> {ended} ({t.seconds:.0f} s)", flush=True)
