"""tfner.tagging.fit_run: a backup resumes only the run it belongs to."""

from __future__ import annotations

import json

import pytest

import tfner
from tests.conftest import DEV, TINY_OPTIONS, TRAIN
from tests.killing import CrashInSecondEpoch


def test_a_backup_is_not_resumed_with_other_training_data(tiny_encoder, tmp_path):
    options = {**TINY_OPTIONS, "epochs": 2}
    with pytest.raises(RuntimeError, match="crash"):
        tfner.fit(TRAIN, DEV, encoder=tiny_encoder, verbose=0, output_dir=tmp_path, backup_every=1,
                  callbacks=[CrashInSecondEpoch()], **options)
    assert (tmp_path / "backup").is_dir()
    # the data fixed after the crash: the same labels, sentences and steps per epoch, one word changed
    fixed = [(["Carol" if w == "Alice" else w for w in words], tags) for words, tags in TRAIN]
    with pytest.raises(tfner.ConfigError, match=r"different run \(other data\)"):
        tfner.fit(fixed, DEV, encoder=tiny_encoder, verbose=0, output_dir=tmp_path, backup_every=1, **options)
    # another dev set (one word changed), or none: the restored rounds' dev scores and best round were of the other
    fixed_dev = [(["Carol" if w == "Alice" else w for w in words], tags) for words, tags in DEV]
    assert fixed_dev != list(DEV)
    for dev, other in ((fixed_dev, "dev"), (None, "dev, recipe")):  # the recipe records whether dev was given
        with pytest.raises(tfner.ConfigError, match=rf"different run \(other {other}\)"):
            tfner.fit(TRAIN, dev, encoder=tiny_encoder, verbose=0, output_dir=tmp_path, backup_every=1, **options)
    # a backup an older tfner wrote (format 1: no "format" in run.json, one best_weights.npz) is refused, by name
    run_json = tmp_path / "run.json"
    current = run_json.read_text()
    run_json.write_text(json.dumps({k: v for k, v in json.loads(current).items() if k != "format"}))
    with pytest.raises(tfner.ConfigError, match=r"another version of tfner \(format 1, this one reads 2\)"):
        tfner.fit(TRAIN, DEV, encoder=tiny_encoder, verbose=0, output_dir=tmp_path, backup_every=1, **options)
    run_json.write_text(current)
    # the same data resumes (the refusal named what differs and changed nothing)
    tagger = tfner.fit(TRAIN, DEV, encoder=tiny_encoder, verbose=0, output_dir=tmp_path, backup_every=1, **options)
    assert tagger.train_stats_["resumed_at_step"] == 4 + 1  # epoch 1 and the step of epoch 2 before the crash


def test_the_default_recipe_scores_a_held_out_tenth_by_updates_stops_and_says_so(tiny_encoder, monkeypatch,
                                                                                  capsys, tmp_path):
    from tfner.training import schedule

    monkeypatch.setattr(schedule, "MIN_UPDATES", 16)  # the tiny corpus's budget: 10 passes, not 600 updates
    # dev=0.1: a tenth of train held out; a learning rate too small to change a prediction: dev F1 is flat, so the
    # run stops after PATIENCE rounds
    tagger = tfner.fit(TRAIN, 0.1, encoder=tiny_encoder, pretrained=False, max_length=32, window_overlap=4,
                       learning_rate=1e-9, verbose=2, output_dir=tmp_path)
    stats = tagger.train_stats_
    assert stats["recipe"]["dev"] == "held out" and stats["windows"] == 29  # round(0.1 * 32) = 3 held out
    assert json.loads((tmp_path / "run.json").read_text())["recipe"] == stats["recipe"]
    steps = stats["steps_per_epoch"]  # 29 sentences in batches of 16 (the recipe's, under 5,000 sentences)
    assert tagger.config_.batch_size == 16 and tagger.config_.epochs is None
    per_round = -(-10 * steps // 8)  # 10 passes (above the patched minimum), in 8 rounds
    assert stats["schedule"]["round_updates"] == per_round and stats["schedule"]["rounds"] == 8
    assert stats["total_steps"] == 8 * per_round  # the learning-rate schedule spans the whole budget
    assert [e.f1 for e in tagger.dev_evaluations_] == [tagger.dev_evaluations_[0].f1] * 4  # flat, 4 rounds
    assert (tagger.best_epoch_, tagger.stopped_epoch_) == (0, 3)
    # restore_best="significant" (the default): round 1 ties the last round on every dev sentence, so no resample puts
    # it above; the last round's weights stay
    assert tagger.kept_epoch_ == 3 == stats["selection"]["kept"] and stats["selection"]["rule"] == "significant"
    assert stats["selection"]["share"] == 0.0
    assert int(tagger.model_.optimizer.iterations) == 4 * per_round
    out = capsys.readouterr().out
    assert tagger.config_.head == "crf" and tagger.model_.crf_head is not None  # head="auto": the CRF
    assert ("recipe: batch 16 (under 5,000 train sentences), learning rate 1e-09 (as asked), crf head (the default); "
            f"{8 * per_round} updates ({8 * per_round / steps:.1f} epochs of {steps}; 10 epochs), dev scored every "
            f"{per_round}, stopping after 3 without a better dev F1; dev: 3 of 32 train sentences held out as "
            "asked (dev=0.1, seed 0)") in out
    assert "round 4/8:" in out and "round 5/8" not in out
    assert "has not risen more than 0.0 for 3 round(s) since round 1" in out
    assert "keeping the last round's weights: round 1's dev entity F1" in out and "is not clearly better" in out
    assert [ax.get_xlabel() for ax in tagger.plot_history().axes] == ["round", "round"]


def test_a_run_on_the_recipes_budget_resumes_mid_round_to_the_uninterrupted_weights(tiny_encoder, monkeypatch,
                                                                                     tmp_path):
    """The default budget counts rounds, not passes: 3 updates a round over 4 batches a pass, so the crash
    (round 2's third update, before its backup) falls inside the second pass over train, and the resumed run must pick
    up the data order, the learning rate and the dev history mid-round."""
    import numpy as np

    from tfner.training import schedule

    monkeypatch.setattr(schedule, "MIN_UPDATES", 16)
    monkeypatch.setattr(schedule, "UPDATES_PER_EPOCH", 6)  # 6 passes of 4 batches: 24 updates, 8 rounds of 3
    # batch 8 as given; every round runs; the kept round is chosen by a paired bootstrap over dev's sentences, so
    # the resumed run must read each round's per-sentence counts back from the backup
    options = {**TINY_OPTIONS, "epochs": None, "patience": 8, "restore_best": "significant"}

    def weights(tagger):
        return [w.numpy() for w in tagger.model_.trainable_weights]

    whole = tfner.fit(TRAIN, DEV, encoder=tiny_encoder, verbose=0, **options)
    assert whole.train_stats_["steps_per_epoch"] == 4 and whole.train_stats_["schedule"]["round_updates"] == 3
    with pytest.raises(RuntimeError, match="crash"):
        tfner.fit(TRAIN, DEV, encoder=tiny_encoder, verbose=0, output_dir=tmp_path, backup_every=1,
                  callbacks=[CrashInSecondEpoch(batch=2)], **options)
    resumed = tfner.fit(TRAIN, DEV, encoder=tiny_encoder, verbose=0, output_dir=tmp_path, backup_every=1, **options)
    # round 1, and the 2 of round 2's updates backed up before the crash: the 2nd pass's first batch is done
    assert resumed.train_stats_["resumed_at_step"] == 3 + 2
    assert int(resumed.model_.optimizer.iterations) == int(whole.model_.optimizer.iterations) == 24
    assert resumed.history_["val_entity_f1"] == whole.history_["val_entity_f1"]
    assert len(resumed.dev_evaluations_) == 8 and resumed.best_epoch_ == whole.best_epoch_
    assert [e.sentence_counts for e in resumed.dev_evaluations_] == [e.sentence_counts for e in whole.dev_evaluations_]
    assert all(len(e.sentence_counts) == len(DEV) for e in whole.dev_evaluations_)
    assert resumed.kept_epoch_ == whole.kept_epoch_ and resumed.train_stats_["selection"] == whole.train_stats_["selection"]
    for a, b in zip(weights(resumed), weights(whole), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_a_kill_between_progress_and_checkpoint_keeps_the_best_epoch_before_it(tiny_encoder, tmp_path, monkeypatch):
    import numpy as np
    import tensorflow as tf

    from tfner.training import backup

    options = {**TINY_OPTIONS, "epochs": 2, "restore_best": True}
    real = backup.TrainingBackup.on_epoch_end

    def killed_in_the_second_checkpoint(self, epoch, logs=None):
        if epoch == 1:  # progress (with epoch 1 the new best, and its weights) written; the checkpoint is not
            self.before_backup(epoch, logs)
            raise RuntimeError("killed")
        real(self, epoch, logs)

    monkeypatch.setattr(backup.TrainingBackup, "on_epoch_end", killed_in_the_second_checkpoint)
    with pytest.raises(RuntimeError, match="killed"):
        tfner.fit(TRAIN, DEV, encoder=tiny_encoder, verbose=0, output_dir=tmp_path, **options)
    progress = json.loads((tmp_path / "progress.json").read_text())
    first = [tfner.metrics.Evaluation(**e).f1 for e in progress["evaluations"]]
    assert first[1] > first[0] > 0 and progress["best_epoch"] == 1  # epoch 1 was a new best when the kill came
    assert sorted(p.name for p in tmp_path.glob("best_weights*")) == ["best_weights-0.npz", "best_weights-1.npz"]
    monkeypatch.setattr(backup.TrainingBackup, "on_epoch_end", real)

    class WorseSecondTime(tf.keras.callbacks.Callback):
        """The re-run of epoch 1 ends worse than epoch 0 (as a non-deterministic run may): no entity predicted."""

        def on_train_batch_end(self, batch, logs=None):
            if batch == 3:  # the epoch's last step (4 a pass), before dev is scored
                dense = self.model.classifier
                dense.kernel.assign(tf.zeros_like(dense.kernel))
                bias = np.full(dense.bias.shape, -10.0, np.float32)
                bias[self.model.config.label2id["O"]] = 10.0
                dense.bias.assign(bias)

    tagger = tfner.fit(TRAIN, DEV, encoder=tiny_encoder, verbose=0, output_dir=tmp_path,
                       callbacks=[WorseSecondTime()], **options)
    assert tagger.train_stats_["resumed_at_step"] == 4  # epoch 0's end: epoch 1 ran again
    assert [e.f1 for e in tagger.dev_evaluations_] == [first[0], 0.0]
    # epoch 0 stayed the best, with its weights: the kept model scores as it did then
    assert (tagger.best_epoch_, tagger.kept_epoch_) == (0, 0)
    assert tagger.evaluate(DEV).f1 == pytest.approx(first[0])
    assert not list(tmp_path.glob("best_weights*"))  # a finished run leaves no weights file behind


def test_a_finished_runs_folder_is_not_trained_over_unless_overwrite(tiny_encoder, tmp_path):
    import tensorflow as tf

    class Steps(tf.keras.callbacks.Callback):
        count = 0

        def on_train_batch_end(self, batch, logs=None):
            Steps.count += 1

    options = {**TINY_OPTIONS, "epochs": 1}
    first = tfner.fit(TRAIN, DEV, encoder=tiny_encoder, verbose=0, output_dir=tmp_path, callbacks=[Steps()], **options)
    saved = {p.relative_to(tmp_path): p.read_bytes() for p in (tmp_path / "tagger").rglob("*") if p.is_file()}
    assert Steps.count == 4 and saved and not (tmp_path / "backup").exists()
    # the same call again (a script run twice): refused before any step, the finished tagger kept byte for byte
    with pytest.raises(tfner.ConfigError, match=r"holds the tagger of a finished run .* overwrite=True"):
        tfner.fit(TRAIN, DEV, encoder=tiny_encoder, verbose=0, output_dir=tmp_path, callbacks=[Steps()], **options)
    assert Steps.count == 4
    assert {p.relative_to(tmp_path): p.read_bytes() for p in (tmp_path / "tagger").rglob("*") if p.is_file()} == saved
    # overwrite=True trains afresh (other learning rate) and replaces it
    again = tfner.fit(TRAIN, DEV, encoder=tiny_encoder, verbose=0, output_dir=tmp_path, callbacks=[Steps()],
                      overwrite=True, **{**options, "learning_rate": options["learning_rate"] / 2})
    assert Steps.count == 8 and again.train_stats_["resumed_at_step"] == 0
    reloaded = tfner.load(tmp_path, verbose=0)
    assert reloaded.config_.learning_rate == again.config_.learning_rate != first.config_.learning_rate
    # review: save into the run's folder wrote beside tagger/, and tfner.load(that folder) gave the run's tagger back
    with pytest.raises(tfner.ConfigError, match=r"holds a fit's output .* into .*tagger to replace"):
        first.save(tmp_path)
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(tfner.ExportError, match="it is a file"):
        first.save(tmp_path / "a-file")
    # a damaged file of a save is named (it was json's bare "Expecting value: line 1 column 7")
    labels = tmp_path / "tagger" / "labels.json"
    whole = labels.read_text()
    labels.write_text(whole[:-3])
    with pytest.raises(tfner.ExportError, match=r"labels\.json is damaged"):
        tfner.load(tmp_path, verbose=0)
    labels.write_text(whole)
    for name in ("vocab.txt", "tokenizer.json"):  # a tokenizer without its vocabulary: transformers' bare TypeError
        (tmp_path / "tagger" / name).unlink()
    with pytest.raises(tfner.EncoderError, match="could not load a tokenizer"):
        tfner.load(tmp_path / "tagger", verbose=0)


def test_options_keras_would_refuse_late_or_that_undo_tfners_choice_are_refused_before_anything(tiny_encoder, tmp_path):
    import tensorflow as tf

    out = tmp_path / "run"
    for every in (0, -3, 2.5, True):  # 0 failed inside Keras after the data was read, -3 was taken
        with pytest.raises(tfner.ConfigError, match="backup_every must be an integer >= 1"):
            tfner.fit(TRAIN, DEV, encoder=tiny_encoder, verbose=0, output_dir=out, backup_every=every, **TINY_OPTIONS)
    # Keras' restore_best_weights swapped the weights after tfner chose the round: kept_epoch_ named other weights
    early = tf.keras.callbacks.EarlyStopping("val_entity_f1", mode="max", restore_best_weights=True)
    with pytest.raises(tfner.ConfigError, match="restore_best_weights"):
        tfner.fit(TRAIN, DEV, encoder=tiny_encoder, verbose=0, output_dir=out, callbacks=[early], **TINY_OPTIONS)
    assert not out.exists()  # nothing written


def test_a_resumed_auto_precision_run_goes_on_in_the_policy_it_began_in(tiny_encoder, tmp_path, monkeypatch):
    # review: "auto" timed a matmul again on resume; another machine (or a busy one) finished a bfloat16 run in float32
    from tfner.training import precision

    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"amx_bf16"}))
    monkeypatch.setattr(precision, "bf16_matmul_speedup", lambda **_: 3.0)  # this machine: bfloat16 pays
    options = {**TINY_OPTIONS, "epochs": 2, "precision": "auto"}
    with pytest.raises(RuntimeError, match="crash"):
        tfner.fit(TRAIN, DEV, encoder=tiny_encoder, verbose=0, output_dir=tmp_path, backup_every=1,
                  callbacks=[CrashInSecondEpoch()], **options)
    assert json.loads((tmp_path / "run.json").read_text())["precision"] == "mixed_bfloat16"
    monkeypatch.setattr(precision, "bf16_matmul_speedup", lambda **_: 1.0)  # the resuming machine: it would not
    tagger = tfner.fit(TRAIN, DEV, encoder=tiny_encoder, verbose=0, output_dir=tmp_path, backup_every=1, **options)
    assert tagger.train_stats_["resumed_at_step"] > 0
    assert tagger.train_stats_["precision"] == tagger.model_.dtype_policy.name == "mixed_bfloat16"


def test_best_weights_files_keep_the_best_as_of_the_last_two_epochs(tmp_path):
    import types

    import tensorflow as tf

    from tfner.tagging.fit_run import RunBackup

    model = tf.keras.Sequential([tf.keras.layers.Dense(2, input_shape=(3,))])
    dev_eval = types.SimpleNamespace(best_epoch=None, evaluations=[])
    run = RunBackup(tmp_path, {}, True, model, dev_eval, restore_best=True)
    (tmp_path / "best_weights.npz").write_bytes(b"format 1's")  # an older tfner's file: never needed again
    bests = [0, 1, 1, 1, 4, 5]
    kept = []
    for epoch, best in enumerate(bests):
        dev_eval.best_epoch = best
        run.write_progress(epoch, {"loss": 1.0})
        kept.append(sorted(int(p.stem.split("-")[1]) for p in tmp_path.glob("best_weights*.npz")))
    # each epoch: its best's file, and the one of the epoch before (a kill before this epoch's checkpoint resumes there)
    assert kept == [[0], [0, 1], [1], [1], [1, 4], [4, 5]]
    assert json.loads((tmp_path / "progress.json").read_text())["bests"] == bests
