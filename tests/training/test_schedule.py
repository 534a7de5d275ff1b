"""tfner.training.schedule: the budget of a fit without ``epochs``, each figure worked out by hand."""

from __future__ import annotations

import math

import pytest

from tfner.training import schedule
from tfner.training.schedule import plan


def test_explicit_epochs_are_exactly_those_passes_with_dev_after_each():
    s = plan(439, 3, None, True)
    assert (s.updates, s.round_updates, s.rounds, s.patience, s.auto) == (1317, 439, 3, None, False)
    assert plan(10, 4, 2, True).patience == 2  # patience as asked, counted in epochs
    assert plan(10, 4, 2, True).rounds_for_epochs(1) == 1


def test_a_small_corpus_gets_the_minimum_budget_in_eight_rounds():
    # 50 sentences in batches of 16: 4 updates a pass; 10 passes (40) < 600, so 600 updates = 8 rounds of 75
    s = plan(4, None, None, True)
    assert (s.updates, s.round_updates, s.rounds, s.patience) == (600, 75, 8, 3)
    assert s.epochs == 150.0
    assert plan(4, None, None, False).patience is None  # nothing to stop on without dev
    assert plan(4, None, 5, True).patience == 5  # patience as asked, counted in evaluations
    assert s.rounds_for_epochs(1) == 1  # the first pass lies in round 1
    assert s.rounds_for_epochs(20) == 2  # 80 updates: rounds 1 and 2 (75 each)


def test_a_mid_sized_corpus_trains_ten_epochs():
    # 1,000 sentences in batches of 16: 63 updates a pass; 630 updates, rounded up to 8 rounds of ceil(630/8) = 79
    s = plan(63, None, None, True)
    assert (s.round_updates, s.rounds, s.updates) == (79, 8, 632)


def test_a_large_corpus_is_capped_but_sees_every_sentence_four_times():
    # WNUT-17 in batches of 16: 213 a pass; 2,130 capped at 1,500 (>= 4 passes, 852): 8 rounds of ceil(1500/8) = 188
    assert (plan(213, None, None, True).round_updates, plan(213, None, None, True).updates) == (188, 1504)
    # CoNLL-2003 in batches of 32: 441 a pass; 4 passes (1,764) are above the cap: 8 rounds of ceil(1764/8) = 221
    assert (plan(441, None, None, True).round_updates, plan(441, None, None, True).updates) == (221, 1768)
    # where 4 passes are under the cap, the cap holds: 370 a pass, 4 passes 1,480 < 1,500
    assert plan(370, None, None, True).updates == 1504
    # a corpus where 4 passes are far above the cap: 4 passes of 1,000 = 4,000 = 8 rounds of 500
    assert (plan(1000, None, None, True).round_updates, plan(1000, None, None, True).updates) == (500, 4000)


def test_the_rules_hold_for_every_pass_length():
    for steps in range(1, 3001):
        s = plan(steps, None, None, True)
        wanted = max(min(max(10 * steps, 600), 1500), 4 * steps)
        assert s.rounds == 8 and wanted <= s.updates < wanted + 8, steps
        assert s.updates >= 4 * steps and s.updates >= 600
        assert s.updates <= max(1500, 4 * steps) + 7
        assert s.round_updates == math.ceil(wanted / 8)


def test_the_line_says_why():
    assert "the minimum for a small corpus" in plan(4, None, None, True).describe()
    assert "10 epochs" in plan(100, None, None, True).describe()
    assert "the cap for a large corpus" in plan(213, None, None, True).describe()
    assert "at least 4 epochs" in plan(441, None, None, True).describe()  # 4 passes (1,764) above the cap
    assert "stopping after 3" in plan(4, None, None, True).describe()
    assert "stopping" not in plan(4, None, None, False).describe()
    assert plan(439, 3, None, True).describe() == "3 epochs as asked (1,317 updates)"
    with pytest.raises(ValueError):
        plan(0, None, None, True)


def test_the_module_constants_are_what_the_doc_says():
    assert (schedule.MIN_UPDATES, schedule.MAX_UPDATES, schedule.UPDATES_PER_EPOCH, schedule.MIN_EPOCHS,
            schedule.EVALUATIONS, schedule.PATIENCE) == (600, 1500, 10, 4, 8, 3)
