"""How long a fit trains and when it scores dev: a budget of optimizer updates, evaluations counted in updates.

With ``epochs`` given, a fit trains that many passes and scores dev after each (Keras'
habit). Without it (``epochs=None``, the default) the budget follows the corpus, as spaCy's
default config counts steps rather than epochs:

* **updates** = ``UPDATES_PER_EPOCH`` passes' worth, but at least ``MIN_UPDATES`` (a corpus of 50
  sentences gets hundreds of updates, not six) and at most ``MAX_UPDATES`` (a large corpus gets a
  bounded budget), and never less than ``MIN_EPOCHS`` passes (every sentence seen a few times; on
  a corpus where the cap is under 4 passes, such as CoNLL-2003 in batches of 32, 4 passes beat the
  cap's 3.4: bench/README.md, "The defaults matrix"),
  rounded up to ``EVALUATIONS`` equal rounds (1,500 becomes 1,504);
* dev is scored ``EVALUATIONS`` times, evenly spaced in updates (small and large corpora get the
  same number of evaluations, each costing one pass over dev);
* with dev data, training stops after ``PATIENCE`` evaluations in a row without a better dev
  entity F1, and ends with the best evaluation's weights where dev finds them clearly better than
  the last evaluation's (``restore_best="significant"``: :class:`tfner.training.callbacks.DevEvaluation`),
  else with the last's; the learning-rate schedule spans the
  whole budget (the earliest stop, after round 4 of 8, leaves the rate at about half its peak).

``freeze_encoder_epochs`` counts whole rounds under this budget: the first rounds that cover
that many passes (:meth:`Schedule.rounds_for_epochs`).

A "round" below is what Keras calls an epoch of the run: the updates between two evaluations.
"""

from __future__ import annotations

import dataclasses
import math

MIN_UPDATES = 600
MAX_UPDATES = 1_500
UPDATES_PER_EPOCH = 10  # passes' worth before the bounds
MIN_EPOCHS = 4
EVALUATIONS = 8
PATIENCE = 3


@dataclasses.dataclass(frozen=True)
class Schedule:
    """A fit's budget: ``rounds`` rounds of ``round_updates`` optimizer updates, dev scored after each.

    ``patience``: rounds without a better dev F1 before stopping (None: never stop early).
    ``steps_per_epoch``: updates per pass over the training data. ``auto``: chosen by :func:`plan`
    (``epochs=None``), not asked for."""

    round_updates: int
    rounds: int
    patience: int | None
    steps_per_epoch: int
    auto: bool

    @property
    def updates(self) -> int:
        return self.round_updates * self.rounds

    @property
    def epochs(self) -> float:
        """Passes over the training data the whole budget makes."""
        return self.updates / self.steps_per_epoch

    def rounds_for_epochs(self, epochs: int) -> int:
        """The first rounds that together cover ``epochs`` passes (``freeze_encoder_epochs`` in rounds)."""
        return min(self.rounds, math.ceil(epochs * self.steps_per_epoch / self.round_updates))

    def describe(self) -> str:
        """One line: the budget, and why."""
        if not self.auto:
            return (f"{self.rounds} epoch{'s' * (self.rounds != 1)} as asked "
                    f"({self.updates:,} update{'s' * (self.updates != 1)})")
        s = self.steps_per_epoch
        why = ("the minimum for a small corpus" if MIN_UPDATES > UPDATES_PER_EPOCH * s
               else f"at least {MIN_EPOCHS} epochs" if MIN_EPOCHS * s > MAX_UPDATES
               else "the cap for a large corpus" if UPDATES_PER_EPOCH * s > MAX_UPDATES
               else f"{UPDATES_PER_EPOCH} epochs")
        stop = f", stopping after {self.patience} without a better dev F1" if self.patience else ""
        return (f"{self.updates:,} updates ({self.epochs:.1f} epochs of {self.steps_per_epoch:,}; {why}), "
                f"dev scored every {self.round_updates:,}{stop}")

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "updates": self.updates, "epochs": self.epochs}


def plan(steps_per_epoch: int, epochs: int | None, patience: int | None, has_dev: bool) -> Schedule:
    """The schedule of a fit with ``steps_per_epoch`` updates a pass.

    ``epochs`` given: that many passes, dev after each, ``patience`` as given (in epochs).
    ``epochs=None``: the budget of the module's rules; ``patience`` as given, else ``PATIENCE``
    with dev data (none without).

    >>> s = plan(4, None, None, True)  # 50 sentences in batches of 16
    >>> s.updates, s.round_updates, s.rounds, s.patience
    (600, 75, 8, 3)
    >>> plan(439, 3, None, True).updates  # explicit epochs: exactly those
    1317
    """
    if steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch must be >= 1, got {steps_per_epoch}")
    if epochs is not None:
        return Schedule(steps_per_epoch, epochs, patience, steps_per_epoch, auto=False)
    wanted = min(max(UPDATES_PER_EPOCH * steps_per_epoch, MIN_UPDATES), MAX_UPDATES)
    wanted = max(wanted, MIN_EPOCHS * steps_per_epoch)
    rounds = min(EVALUATIONS, wanted)
    round_updates = math.ceil(wanted / rounds)
    if patience is None and has_dev:
        patience = PATIENCE
    return Schedule(round_updates, rounds, patience if has_dev else None, steps_per_epoch, auto=True)
