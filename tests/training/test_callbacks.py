"""DevEvaluation: per-epoch scores into the logs, and the best epoch's weights at the end."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tfner.training.callbacks import DevEvaluation


class Scores:
    """Stands in for an Evaluation: the callback reads only these attributes."""

    def __init__(self, f1: float):
        self.f1 = self.precision = self.recall = f1

    def per_type_f1(self):
        return {"PER": self.f1}


def fit_with_scripted_dev_scores(f1s: list[float], restore_best: bool):
    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential([tf.keras.layers.Dense(1, input_shape=(2,))])
    model.compile(optimizer=tf.keras.optimizers.SGD(0.1), loss="mse")
    x, y = np.random.default_rng(0).normal(size=(16, 2)), np.ones((16, 1))
    script = iter(f1s)
    dev = DevEvaluation(lambda: Scores(next(script)), restore_best=restore_best, verbose=0)
    per_epoch = []
    record = tf.keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: per_epoch.append(model.get_weights()))
    history = model.fit(x, y, epochs=len(f1s), verbose=0, callbacks=[dev, record])
    return model, dev, per_epoch, history.history


def test_restore_best_ends_with_the_best_epochs_weights():
    model, dev, per_epoch, history = fit_with_scripted_dev_scores([0.2, 0.9, 0.5], restore_best=True)
    assert dev.best_epoch == 1
    for got, want in zip(model.get_weights(), per_epoch[1], strict=True):
        np.testing.assert_array_equal(got, want)
    assert not np.array_equal(per_epoch[1][0], per_epoch[2][0])  # the weights did move after epoch 2
    assert history["val_entity_f1"] == [0.2, 0.9, 0.5] and history["val_f1_PER"] == [0.2, 0.9, 0.5]


def test_without_restore_best_the_last_weights_stay():
    model, dev, per_epoch, _ = fit_with_scripted_dev_scores([0.2, 0.9, 0.5], restore_best=False)
    assert dev.best_epoch == 1
    for got, want in zip(model.get_weights(), per_epoch[2], strict=True):
        np.testing.assert_array_equal(got, want)


def test_training_timer_leaves_out_what_happens_after_the_last_step():
    import time

    from tfner.training.callbacks import TrainingTimer

    model = tf.keras.Sequential([tf.keras.layers.Dense(1, input_shape=(2,))])
    model.compile(optimizer="sgd", loss="mse")
    timer = TrainingTimer()
    slow_dev = tf.keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: time.sleep(0.4))
    t0 = time.perf_counter()
    model.fit(np.zeros((8, 2)), np.zeros((8, 1)), epochs=3, verbose=0, callbacks=[timer, slow_dev])
    total = time.perf_counter() - t0
    assert timer.seconds > 0
    assert total - timer.seconds >= 3 * 0.4  # the sleeps (standing in for dev scoring) are not counted


def scripted_run(f1s, **options):
    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential([tf.keras.layers.Dense(1, input_shape=(2,))])
    model.compile(optimizer=tf.keras.optimizers.SGD(0.1), loss="mse")
    script = iter(f1s)
    dev = DevEvaluation(lambda: Scores(next(script)), restore_best=True, verbose=0, **options)
    per_epoch = []
    record = tf.keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: per_epoch.append(model.get_weights()))
    history = model.fit(np.ones((8, 2)), np.zeros((8, 1)), epochs=len(f1s), verbose=0, callbacks=[dev, record])
    return model, dev, per_epoch, history.history


# (dev F1 per epoch, patience, min_delta) -> (epochs run, best epoch), worked out by hand
EARLY = [
    ([0.5, 0.6, 0.6, 0.59, 0.7], 2, 0.0, 4, 1),   # a tie is no improvement: epochs 3, 4 are the 2 without
    ([0.5, 0.6, 0.7, 0.8, 0.9], 1, 0.0, 5, 4),    # always improving: never stops
    ([0.5, 0.53, 0.9], 1, 0.05, 2, 0),            # +0.03 is below min_delta: stops after epoch 2
    ([0.5, 0.56, 0.57, 0.58, 0.9], 2, 0.05, 4, 1),  # 0.57, 0.58 rise < 0.05 above 0.56
]


@pytest.mark.parametrize(("f1s", "patience", "min_delta", "ran", "best"), EARLY)
def test_early_stopping_stops_at_the_expected_epoch_with_the_best_weights(f1s, patience, min_delta, ran, best):
    model, dev, per_epoch, history = scripted_run(f1s, patience=patience, min_delta=min_delta)
    assert len(history["val_entity_f1"]) == ran
    assert dev.best_epoch == best
    assert dev.stopped_epoch == (ran - 1 if ran < len(f1s) else None)
    for got, want in zip(model.get_weights(), per_epoch[best], strict=True):
        np.testing.assert_array_equal(got, want)


class Changing(Scores):
    def __init__(self, f1, types):
        super().__init__(f1)
        self.types = types

    def per_type_f1(self):
        return dict.fromkeys(self.types, self.f1)


def test_every_entity_type_gets_a_value_every_epoch():
    model = tf.keras.Sequential([tf.keras.layers.Dense(1, input_shape=(2,))])
    model.compile(optimizer="sgd", loss="mse")
    script = iter([Changing(0.5, ["PER"]), Changing(0.0, []), Changing(0.7, ["LOC", "PER"])])
    dev = DevEvaluation(lambda: next(script), restore_best=False, verbose=0, types=["LOC", "ORG", "PER"])
    history = model.fit(np.ones((4, 2)), np.zeros((4, 1)), epochs=3, verbose=0, callbacks=[dev]).history
    assert history["val_f1_PER"] == [0.5, 0.0, 0.7]
    assert history["val_f1_LOC"] == [0.0, 0.0, 0.7]
    assert history["val_f1_ORG"] == [0.0, 0.0, 0.0]


# --- restore_best="significant" ----------------------------------------------------------------------

class Counted(Scores):
    """An Evaluation stand-in with per-sentence (tp, fp, fn): 200 sentences of one entity each."""

    def __init__(self, wrong: int):  # the first `wrong` sentences hold a wrong entity instead of the right one
        counts = [(0, 1, 1)] * wrong + [(1, 0, 0)] * (200 - wrong)
        super().__init__(2 * (200 - wrong) / (2 * (200 - wrong) + 2 * wrong))
        self.sentence_counts = tuple(counts)


def significant_run(wrong_per_epoch, capsys):
    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential([tf.keras.layers.Dense(1, input_shape=(2,))])
    model.compile(optimizer=tf.keras.optimizers.SGD(0.1), loss="mse")
    script = iter(Counted(w) for w in wrong_per_epoch)
    dev = DevEvaluation(lambda: next(script), restore_best="significant", verbose=1, seed=0, unit="round")
    per_epoch = []
    record = tf.keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: per_epoch.append(model.get_weights()))
    model.fit(np.ones((8, 2)), np.zeros((8, 1)), epochs=len(wrong_per_epoch), verbose=0, callbacks=[dev, record])
    return model, dev, per_epoch, capsys.readouterr().out


# The best round differs from the last on k sentences, each in the best round's favour: a resample puts
# the best above the last exactly when it draws one of them, 1 - (1 - k/200)^200 of the time.
SIGNIFICANT = [
    ([9, 4, 5], 1, 0.633, 2),  # k = 1: 63% of resamples, under 95%: the last round's weights stay
    ([9, 0, 5], 5, 0.993, 1),  # k = 5: 99%: the best round's weights come back
    ([9, 6, 4], 0, None, 2),   # the last round is the best: nothing to compare
]


@pytest.mark.parametrize(("wrong", "k", "share", "kept"), SIGNIFICANT)
def test_significant_restores_the_best_round_only_when_it_is_clearly_better(wrong, k, share, kept, capsys):
    model, dev, per_epoch, out = significant_run(wrong, capsys)
    assert dev.best_epoch == int(np.argmin(wrong)) and dev.kept_epoch == kept
    assert dev.selection["kept"] == kept and dev.selection["rule"] == "significant"
    if share is None:
        assert "share" not in dev.selection and "restoring" not in out and "keeping" not in out
    else:
        assert dev.selection["share"] == pytest.approx(share, abs=0.05)
        assert ("restoring the weights of round 2" in out) == (kept == 1)
        assert ("keeping the last round's weights" in out) == (kept == 2)
    for got, want in zip(model.get_weights(), per_epoch[kept], strict=True):
        np.testing.assert_array_equal(got, want)
    assert dev.final_f1() == dev.evaluations[kept].f1


def test_restore_best_accepts_only_true_false_or_significant():
    with pytest.raises(ValueError, match="restore_best must be True, False or 'significant'"):
        DevEvaluation(lambda: None, restore_best="yes")
