"""TensorBoard beyond scalars: HParams, dev examples, the entity confusion matrix, read back by a real server."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tfner.config import option_names
from tfner.metrics import NONE, entity_confusion
from tfner.training.summaries import confusion_png, examples_markdown


def test_entity_confusion_counts_exact_spans_by_hand():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O", "B-LOC"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["O", "B-PER", "B-LOC"]]
    counts, names = entity_confusion(gold, pred, ["LOC", "ORG", "PER"])
    assert names == ["LOC", "ORG", "PER", NONE]
    want = np.zeros((4, 4), int)
    want[2, 2] = 1  # Ann Lee: PER -> PER
    want[0, 1] = 1  # the LOC of sentence 1 predicted as ORG on the same word
    want[1, 3] = 1  # the ORG of sentence 2 missed
    want[0, 0] = 1  # the LOC of sentence 2 found
    want[3, 2] = 1  # a PER predicted where gold has nothing
    np.testing.assert_array_equal(counts, want)


def test_examples_markdown_lists_gold_and_predicted_entities():
    text = examples_markdown([["Ann", "|", "Rome"]], [["B-PER", "O", "B-LOC"]], [["B-PER", "O", "O"]])
    rows = text.splitlines()
    assert rows[0] == "| sentence | gold | predicted |" and len(rows) == 3
    assert rows[2] == "| Ann \\| Rome | Ann [PER]; Rome [LOC] | Ann [PER] |"


def test_confusion_png_is_an_image():
    png = confusion_png(np.array([[3, 1], [0, 2]]), ["PER", NONE], "t")
    image = tf.io.decode_png(png).numpy()
    assert image.ndim == 3 and image.shape[0] > 50 and image.shape[1] > 50
    assert len(np.unique(image.reshape(-1, image.shape[-1]), axis=0)) > 2  # something is drawn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, body: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


@pytest.mark.slow
def test_a_real_tensorboard_server_shows_dev_f1_hparams_examples_and_confusion(fitted):
    port = free_port()
    binary = Path(sys.executable).with_name("tensorboard")
    server = subprocess.Popen([str(binary), "--logdir", str(fitted.test_logdir), "--host", "127.0.0.1",
                               "--port", str(port), "--load_fast=false", "--samples_per_plugin=images=100,text=100"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if "validation" in get(f"{base}/data/runs"):
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "tensorboard did not come up"
            time.sleep(0.5)
        epochs = fitted.config_.epochs
        f1 = get(f"{base}/data/plugin/scalars/scalars?run=validation&tag=epoch_entity_f1")
        assert [step for _, step, _ in f1] == list(range(epochs))
        assert [v for _, _, v in f1] == pytest.approx(fitted.history_["val_entity_f1"], rel=1e-6)
        experiment = get(f"{base}/data/plugin/hparams/experiment", {"experimentName": ""})
        assert {h["name"] for h in experiment["hparamInfos"]} == set(option_names())
        groups = get(f"{base}/data/plugin/hparams/session_groups", {
            "experimentName": "", "startIndex": 0, "sliceSize": 10,
            "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
            "colParams": [{"hparam": "learning_rate"}, {"metric": {"group": "", "tag": "final_dev_entity_f1"}}]})
        [group] = groups["sessionGroups"]
        assert group["hparams"]["learning_rate"] == pytest.approx(fitted.config_.learning_rate)
        [final] = group["metricValues"]
        assert final["value"] == pytest.approx(fitted.history_["val_entity_f1"][fitted.kept_epoch_], rel=1e-6)
        images = get(f"{base}/data/plugin/images/images?run=validation&tag=entity_confusion&sample=0")
        assert [i["step"] for i in images] == list(range(epochs))
        texts = get(f"{base}/data/plugin/text/text?run=validation&tag=dev_examples")
        assert len(texts) == epochs and "predicted" in texts[-1]["text"]
    finally:
        server.terminate()
        server.wait(timeout=30)
