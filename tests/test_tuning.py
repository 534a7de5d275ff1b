"""tfner.search: Optuna trials of fit, scored on dev entity F1, pruned after an epoch, best returned."""

from __future__ import annotations

import optuna
import pytest

import tfner
from tests.conftest import DEV, TINY_OPTIONS, TRAIN
from tfner.config import TaggerConfig

FIXED = {**{k: v for k, v in TINY_OPTIONS.items() if k not in ("learning_rate", "epochs")}, "restore_best": True}
SPACE = {"learning_rate": (3e-4, 5e-3, "log"), "epochs": [1, 2, 3]}


def test_search_runs_three_trials_and_returns_the_best(tiny_encoder, capsys):
    result = tfner.search(TRAIN, DEV, space=SPACE, trials=3, pruner=None, encoder=tiny_encoder, **FIXED)
    assert len(result.trials) == 3 and {t.state for t in result.trials} == {"complete"}
    assert sorted(t.number for t in result.trials) == [0, 1, 2]
    for t in result.trials:
        assert 3e-4 <= t.params["learning_rate"] <= 5e-3 and t.params["epochs"] in (1, 2, 3)
        assert len(t.dev_f1_per_epoch) == t.params["epochs"]
        assert t.dev_f1 == max(t.dev_f1_per_epoch)  # restore_best=True: the tagger of the best epoch
    f1s = [t.dev_f1 for t in result.trials]
    assert f1s == sorted(f1s, reverse=True) and result.best_f1 == f1s[0]
    assert result.best_config == TaggerConfig(encoder=tiny_encoder, **FIXED, **result.trials[0].params)
    # the value agrees with scoring the kept tagger's predictions afresh
    assert result.best_tagger.evaluate(DEV).f1 == pytest.approx(result.best_f1, abs=1e-12)
    # trials read dev once a round, for its F1: no Keras pass for val_loss
    history = result.best_tagger.history_
    assert "val_loss" not in history and len(history["val_entity_f1"]) == result.trials[0].params["epochs"]
    assert [t.number for t in result.study.trials if t.value == result.best_f1]
    lines = result.table().splitlines()
    assert len(lines) == 4 and lines[0].split()[:4] == ["rank", "trial", "state", "dev"]
    assert [int(line.split()[1]) for line in lines[1:]] == [t.number for t in result.trials]
    printed = capsys.readouterr().out
    assert printed.count("trial ") >= 3 and "-> dev F1" in printed


def test_a_pruned_trial_stops_after_the_epoch_it_is_pruned_at(tiny_encoder):
    # no F1 reaches 1.01: the pruner stops every trial once its first epoch is scored
    with pytest.warns(UserWarning, match="no trial completed"):
        result = tfner.search(TRAIN, DEV, space={"learning_rate": [1e-3, 2e-3]}, trials=2, verbose=0,
                              pruner=optuna.pruners.ThresholdPruner(lower=1.01), encoder=tiny_encoder,
                              **{**FIXED, "epochs": 3})
    assert [t.state for t in result.trials] == ["pruned", "pruned"]
    assert all(len(t.dev_f1_per_epoch) == 1 for t in result.trials)
    assert [t.state.name for t in result.study.trials] == ["PRUNED", "PRUNED"]
    assert result.best_config is None and result.best_tagger is None


@pytest.mark.parametrize("space,message", [
    ({"learnin_rate": [1e-3]}, "did you mean 'learning_rate'"),
    ({"learning_rate": (1e-3, 1e-4)}, "finite low < high"),
    ({"learning_rate": (0.0, 1e-4, "log")}, "low > 0"),
    ({"learning_rate": (1e-5, 1e-4, "ln")}, "only be 'log'"),
    ({"batch_size": []}, "empty list"),
    ({"batch_size": 16}, "must be a list of choices"),
    ({}, "non-empty"),
])
def test_a_bad_space_is_a_config_error(space, message):
    with pytest.raises(tfner.ConfigError, match=message):
        tfner.search(TRAIN, DEV, space=space, trials=1)


def test_a_field_in_both_space_and_options_and_a_missing_dev_are_errors(tiny_encoder):
    with pytest.raises(tfner.ConfigError, match="in both space and the fixed options"):
        tfner.search(TRAIN, DEV, space={"epochs": [1, 2]}, epochs=3)
    # a field config sets away from its default is as fixed as an option: the space would silently override it
    with pytest.raises(tfner.ConfigError, match="learning_rate: in both space and the fixed options"):
        tfner.search(TRAIN, DEV, space={"learning_rate": [1e-3, 2e-3]}, trials=1, verbose=0,
                     config=TaggerConfig(learning_rate=3e-5, encoder=tiny_encoder, **{**FIXED, "epochs": 1}))
    with pytest.raises(tfner.ConfigError, match="pass dev data"):
        tfner.search(TRAIN, None, space={"epochs": [1, 2]})
    with pytest.raises(tfner.ConfigError, match="trials must be"):
        tfner.search(TRAIN, DEV, space={"epochs": [1, 2]}, trials=0)


NO_HEAD = {k: v for k, v in FIXED.items() if k != "head"}


def test_a_failing_trial_is_recorded_and_the_search_goes_on(tiny_encoder, capsys):
    # label_all_subtokens=True refuses the CRF head: the trial that picks it fails, the other one trains
    grid = optuna.samplers.GridSampler({"head": ["crf", "softmax"]}, seed=0)
    with pytest.warns(UserWarning, match=r"failed \(ConfigError: .*label_all_subtokens.*the search goes on"):
        result = tfner.search(TRAIN, DEV, space={"head": ["crf", "softmax"]}, trials=2, sampler=grid,
                              encoder=tiny_encoder, label_all_subtokens=True, **{**NO_HEAD, "epochs": 1})
    states = {t.params["head"]: t for t in result.trials}
    assert states["crf"].state == "failed" and "label_all_subtokens" in states["crf"].error
    assert states["softmax"].state == "complete" and states["softmax"].error is None
    assert result.trials[0] is states["softmax"]  # a completed trial ranks first
    assert result.best_config.head == "softmax" and result.best_tagger is not None
    assert sorted(t.state.name for t in result.study.trials) == ["COMPLETE", "FAIL"]
    assert "-> failed: ConfigError" in capsys.readouterr().out


def test_failures_in_a_row_end_the_search_with_the_error(tiny_encoder):
    from tfner import tuning

    with pytest.warns(UserWarning, match="the search goes on") as warned, \
            pytest.raises(tfner.ConfigError, match="label_all_subtokens"):
        tfner.search(TRAIN, DEV, space={"head": ["crf"]}, trials=5, verbose=0, encoder=tiny_encoder,
                     label_all_subtokens=True, **{**NO_HEAD, "epochs": 1})
    # the first failures are passed over; the MAX_CONSECUTIVE_FAILURES-th in a row raises
    assert len([w for w in warned if "goes on" in str(w.message)]) == tuning.MAX_CONSECUTIVE_FAILURES - 1


def test_a_search_whose_every_trial_failed_raises_the_error(tiny_encoder, tmp_path):
    # fewer trials than MAX_CONSECUTIVE_FAILURES: a dev path with a typo must not end as "no trial completed"
    with pytest.warns(UserWarning, match="the search goes on"), pytest.raises(tfner.DataNotFoundError):
        tfner.search(TRAIN, tmp_path / "dve.conll", space={"learning_rate": [1e-3, 2e-3]}, trials=2, verbose=0,
                     encoder=tiny_encoder, **{**FIXED, "epochs": 1})
