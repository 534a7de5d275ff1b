"""strategy="multi_worker": two worker processes on 127.0.0.1 train like one process with the same global batch.

Every run sets ``restore_best=True`` (the best dev epoch's weights at the end, whatever its lead, so a
resumed run must also bring back the best weights it had before the kill); the two-worker runs
that write to an ``output_dir`` back up after every step. One uninterrupted two-worker run is the reference of both tests: for one process, and for a killed and resumed run.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, write_tiny_encoder

WORKER = r"""
import json, os, pathlib, signal, time
import tfner

import tensorflow as tf


class Kill(tf.keras.callbacks.Callback):  # every worker dies after the same step, before its backup
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == 1 and batch == 2:
            # a barrier in files, not a collective: a worker killed while its peer still waits for
            # the step's last all-reduce message fails the peer with an error (rc 1), not the kill
            here = pathlib.Path(os.environ["KILL"])
            (here / str(json.loads(os.environ["TF_CONFIG"])["task"]["index"])).touch()
            while len(list(here.iterdir())) < 2:
                time.sleep(0.01)
            os.kill(os.getpid(), signal.SIGKILL)


backups = dict(output_dir=os.environ["OUT"], backup_every=1) if os.environ.get("OUT") else {}
from tests.training.test_multi_worker import fit_and_summarise

print(json.dumps(fit_and_summarise(os.environ["ENC"], os.environ["STRATEGY"], [Kill()] if os.environ.get("KILL") else [],
                                   **backups)))
"""


def fit_and_summarise(encoder: str, strategy, callbacks=(), **backups) -> dict:
    """The fit every run of this file makes (33 windows in global batches of 8: the last batch has one
    row, so one worker's replica gets none), and what the tests compare of it."""
    import numpy as np

    import tfner
    from tests.conftest import DEV, TINY_OPTIONS, TRAIN

    t = tfner.fit(TRAIN + TRAIN[:1], DEV, encoder=encoder, strategy=strategy, verbose=0, callbacks=list(callbacks),
                  **dict(TINY_OPTIONS, epochs=3, restore_best=True, **backups))
    return dict(resumed=t.train_stats_["resumed_at_step"], replicas=t.train_stats_["replicas"],
                iterations=int(t.model_.optimizer.iterations.numpy()),
                weights={v.name.split("/", 1)[1]: float(np.abs(v.numpy()).sum()) for v in t.model_.trainable_variables},
                loss=t.history_["loss"], f1=t.history_["val_entity_f1"])


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def run(env: dict, timeout: float) -> subprocess.Popen:
    full = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2", **env}
    return subprocess.Popen([sys.executable, "-c", WORKER], env=full, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def result(proc: subprocess.Popen, timeout: float) -> dict:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-4000:]
    return json.loads(out.strip().splitlines()[-1])


def two_workers(env: dict, *, killed: Path | None = None) -> list[dict]:
    """Two workers on loopback; with ``killed`` (an empty folder for their barrier), both die after the same step."""
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}  # loopback only: the gRPC server listens on all interfaces
    workers = [run({**env, "STRATEGY": "multi_worker", "KILL": str(killed) if killed else "",
                    "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})}, 300)
               for i in range(2)]
    try:
        if killed:
            for w in workers:
                _, err = w.communicate(timeout=300)
                assert w.returncode == -signal.SIGKILL, (w.returncode, err[-4000:])
            return []
        return [result(w, 300) for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait()


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    return write_tiny_encoder(tmp_path_factory.mktemp("enc"), dropout=0.0)  # comparable to float precision


@pytest.fixture(scope="module")
def uninterrupted(encoder, tmp_path_factory) -> tuple[list[dict], Path]:
    """Two workers training with backups into ``output_dir`` from start to end: their results, and the folder."""
    plain = tmp_path_factory.mktemp("plain")
    return two_workers({"ENC": str(encoder), "OUT": str(plain)}), plain


@pytest.mark.slow
def test_two_workers_on_loopback_end_with_the_weights_of_one_process(encoder, uninterrupted):
    results, _ = uninterrupted
    single = fit_and_summarise(str(encoder), "auto")  # one process: this one (its one device for "auto")
    assert [r["replicas"] for r in results] == [2, 2] and single["replicas"] == 1
    assert results[0]["iterations"] == results[1]["iterations"] == single["iterations"] == 3 * 5
    assert results[0]["weights"] == results[1]["weights"]  # kept identical by the all-reduce
    # Against one process: the same losses and dev F1, and the same weights up to float
    # round-off as Adam magnifies it (a gradient near 0 gives a near full-size step of either
    # sign). Attention key biases are left out: their gradient is 0 in exact arithmetic (a
    # bias shared by all keys cancels in the softmax), so they move by round-off alone.
    assert results[0]["loss"] == pytest.approx(single["loss"], rel=5e-3)
    assert results[0]["f1"] == pytest.approx(single["f1"], abs=1e-6)
    for name, value in single["weights"].items():
        if "attention/self/key/bias" not in name:
            assert results[0]["weights"][name] == pytest.approx(value, rel=2e-2), name


@pytest.mark.slow
def test_two_workers_killed_mid_epoch_resume_from_the_chiefs_backup(encoder, uninterrupted, tmp_path):
    results, plain = uninterrupted
    plain_result = results[0]  # the chief's
    killed = tmp_path / "killed"
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    two_workers({"ENC": str(encoder), "OUT": str(killed)}, killed=barrier)
    assert (killed / "backup" / "chief").is_dir() and not (killed / "tagger").exists()
    assert [p.name for p in (killed / "backup").iterdir()] == ["chief"]  # the other worker's copies were temporary
    resumed = two_workers({"ENC": str(encoder), "OUT": str(killed)})
    steps = 5  # 33 windows, global batches of 8
    assert [r["resumed"] for r in resumed] == [steps + 2] * 2  # epoch 1 and two steps of epoch 2
    assert plain_result["resumed"] == 0
    for r in resumed:
        assert r["iterations"] == 3 * steps and len(r["f1"]) == 3  # no step run twice, no epoch counted twice
        assert r["f1"] == pytest.approx(plain_result["f1"], abs=1e-6)
        # epoch 2's loss is the mean over the steps run after the resume only (Keras keeps no
        # metric state in a backup); epoch 1's comes from the first run, epoch 3's is whole
        assert [r["loss"][0], r["loss"][2]] == pytest.approx([plain_result["loss"][i] for i in (0, 2)], rel=1e-5)
        for name, value in plain_result["weights"].items():
            assert r["weights"][name] == pytest.approx(value, rel=1e-5), name
    # the chief saved the finished tagger and removed the backup; nothing else was written
    assert sorted(p.name for p in killed.iterdir()) == sorted(p.name for p in plain.iterdir())
    assert (killed / "tagger").is_dir() and not (killed / "backup").exists()
