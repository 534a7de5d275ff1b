"""Shared test harness: a tiny random-initialised BERT and a tagger fitted on toy data.

The tiny encoder (2 layers, hidden 32) is written as an ordinary Hugging Face directory,
so the tests exercise the same loading path users take with a local model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

import tfner  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)


def pytest_configure(config):
    """Split the CPU into two logical devices before TensorFlow's runtime starts in a test process.

    MirroredStrategy's tests then run in the test process (``two_devices``), not each in a fresh
    interpreter paying TensorFlow's start-up. Nothing else sees a difference: ops go to
    ``/cpu:0`` as before, both devices share the process' thread pools, and ``strategy="auto"``
    counts GPUs only. A hook, not import-time code: the subprocesses of other tests import this
    module for its data and must keep their one device (multi-worker training among them).
    """
    from tfner.logs import import_tensorflow

    tf = import_tensorflow()  # its first device listing, with the start-up lines (cuInit's) hidden
    try:
        tf.config.set_logical_device_configuration(tf.config.list_physical_devices("CPU")[0],
                                                   [tf.config.LogicalDeviceConfiguration()] * 2)
    except RuntimeError:  # the runtime had started (a plugin ran an op): two_devices says so
        pass


@pytest.fixture(scope="session")
def two_devices():
    """A MirroredStrategy over the test process' two logical CPUs (see ``pytest_configure``)."""
    import tensorflow as tf

    cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
    if len(cpus) < 2:
        pytest.fail(f"the test process has {len(cpus)} logical CPU device(s): TensorFlow's runtime started "
                    "before conftest's pytest_configure could split the CPU in two")
    return tf.distribute.MirroredStrategy(cpus[:2])


REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

WHOLE_WORDS = ["alice", "bob", "carol", "paris", "london", "rome", "flew", "to", "went", "met", "in", "and", "acme"]
LETTERS = "abcdefghijklmnopqrstuvwxyz"
PUNCT = list(".,!?'-")
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WHOLE_WORDS + list(LETTERS) + PUNCT + [f"##{c}" for c in LETTERS]

# A toy corpus the tiny model can learn in a few epochs: names are PER, cities LOC.
TRAIN = [
    (["Alice", "flew", "to", "Paris"], ["B-PER", "O", "O", "B-LOC"]),
    (["Bob", "went", "to", "London", "."], ["B-PER", "O", "O", "B-LOC", "O"]),
    (["Carol", "met", "Bob", "in", "Rome"], ["B-PER", "O", "B-PER", "O", "B-LOC"]),
    (["Alice", "and", "Carol", "went", "to", "Rome", "!"], ["B-PER", "O", "B-PER", "O", "O", "B-LOC", "O"]),
] * 8
DEV = TRAIN[:4]

# head="softmax": the tests of the softmax route (probabilities, argmax and constrained decoding) keep it; the
# default head (auto: the CRF) is tested where the recipe is
TINY_OPTIONS = dict(pretrained=False, epochs=12, learning_rate=3e-3, warmup_ratio=0.0, batch_size=8, max_length=32,
                    window_overlap=4, seed=1, head="softmax")


def write_tiny_encoder(path: Path, *, dropout: float = 0.1) -> Path:
    """The tiny encoder's folder; ``dropout=0.0`` where weights are compared to float precision."""
    from transformers import BertConfig

    path.mkdir(parents=True, exist_ok=True)
    (path / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    (path / "tokenizer_config.json").write_text(
        json.dumps({"do_lower_case": True, "tokenizer_class": "BertTokenizer", "model_max_length": 512})
    )
    BertConfig(vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
               intermediate_size=64, max_position_embeddings=128, hidden_dropout_prob=dropout,
               attention_probs_dropout_prob=dropout).save_pretrained(path)
    return path


def write_pretrained_tiny_encoder(path: Path) -> Path:
    """The tiny encoder with its random weights saved (``tf_model.h5``): it loads as a pre-trained one."""
    from transformers import BertConfig, TFBertForMaskedLM

    write_tiny_encoder(path)
    model = TFBertForMaskedLM(BertConfig.from_pretrained(path))
    model(model.dummy_inputs)
    model.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory) -> str:
    return str(write_tiny_encoder(tmp_path_factory.mktemp("tiny_encoder")))


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_encoder):
    from tfner.modeling.encoder import load_tokenizer

    return load_tokenizer(tiny_encoder)


@pytest.fixture(scope="session")
def fitted(tiny_encoder, tmp_path_factory):
    """A tiny tagger fitted on TRAIN with a dev set and a TensorBoard logdir (shared, do not mutate)."""
    logdir = tmp_path_factory.mktemp("logs")
    tagger = tfner.fit(TRAIN, DEV, encoder=tiny_encoder, logdir=str(logdir), verbose=0, **TINY_OPTIONS)
    tagger.test_logdir = logdir
    return tagger


@pytest.fixture(scope="session")
def fitted_export(fitted, tmp_path_factory) -> Path:
    """``fitted`` exported once to ``<tmp>/ner/1`` (shared by the serving tests: read it, do not write into it)."""
    return fitted.export(tmp_path_factory.mktemp("export") / "ner")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Files holding ``slow`` tests first, the most first (stable otherwise).

    ``make test`` runs the suite on two xdist workers, one file at a time each (``--dist loadfile
    --no-loadscope-reorder``): a long file handed out last would leave the other worker idle.
    """
    def path(item) -> str:
        return item.nodeid.split("::")[0]

    slow = Counter(path(item) for item in items if item.get_closest_marker("slow"))
    items.sort(key=lambda item: -slow[path(item)])



def run_python(code: str, *, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (for logical devices or a TF-only process)."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full_env,
                          timeout=timeout, cwd=str(REPO))
    if proc.returncode != 0:
        raise AssertionError(f"subprocess failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    return proc


def reference_spans(tagger, text: str) -> list[tuple[int, int, str, float]]:
    """Entities of ``text`` by the Python route, independent of the in-graph text path.

    :func:`split_words` -> ``_tag_words`` (fast tokenizer, Python windows, ``serving_default``)
    -> :func:`entities`; a span's score is the mean probability of its words' tags.
    """
    import numpy as np

    from tfner.data.schemes import entities
    from tfner.data.words import split_words

    words = split_words(text)
    if not words:
        return []
    tags, scores = tagger._tag_words([[w for w, _, _ in words]])
    return [(words[a][1], words[b - 1][2], kind, float(np.mean(scores[0][a:b])))
            for a, b, kind in entities(tags[0])]
