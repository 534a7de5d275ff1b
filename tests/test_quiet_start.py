"""A quiet start (tfner.logs): TensorFlow's and transformers' start-up lines hidden, nothing else.

The in-process tests drive the capture with lines written to file descriptor 2 from C; the
slow ones run a default fit, the command line and the demo in fresh processes, as a user does,
with no TF_CPP_* variable set.
"""

from __future__ import annotations

import ctypes
import os
import re
import subprocess
import sys

import pytest

from tests.conftest import REPO, TRAIN, write_pretrained_tiny_encoder
from tfner import logs

#: What a start used to print besides tfner's lines (issue 24): TensorFlow's, then transformers'.
NOISE = ("All log messages before absl::InitializeLog()", "oneDNN custom operations are on",
         "Could not find cuda drivers", "failed call to cuInit", "oneDNN supports DT_",
         "TensorFlow and JAX classes are deprecated", "Some weights of the PyTorch model were not used",
         "This IS expected", "This IS NOT expected", "newly initialized", "You should probably TRAIN this model",
         "were not initialized", "were not used", "Memory patch applied")

ABSL = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
ONEDNN = ("I0000 00:00:1796206715.866509    3485 port.cc:153] oneDNN custom operations are on. You may see slightly "
          "different numerical results due to floating-point round-off errors from different computation orders. "
          "To turn them off, set the environment variable `TF_ENABLE_ONEDNN_OPTS=0`.\n")
NO_CUDA = ("I0000 00:00:1796206715.867001    3485 cudart_stub.cc:31] Could not find cuda drivers on your machine, "
           "GPU will not be used.\n")
CUINIT = ("E0000 00:00:1796206752.872649    3898 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: "
          "Failed call to cuInit: UNKNOWN ERROR (303)\n")
KNOWN = (ABSL, ONEDNN, NO_CUDA, CUINIT)


def _c_write(text: str) -> None:
    """Write to file descriptor 2 from C, as TensorFlow's logging does."""
    data = text.encode()
    assert ctypes.CDLL(None).write(2, data, len(data)) == len(data)


def test_known_lines_are_matched_by_source_file_and_message():
    assert all(logs.is_known_start_up_line(line) for line in KNOWN)
    for unknown in (
        "E0000 00:00:1796206752.872649    3898 util.cc:131] oneDNN supports DT_INT64 only on platforms with AVX-512.",
        "I0000 00:00:1796206715.866509    3485 port.cc:153] something else port.cc says",  # file right, message not
        "E0000 00:00:1796206715.866509    3485 made_up.cc:7] oneDNN custom operations are on.",  # message right, file not
        "oneDNN custom operations are on.",  # the message without absl's prefix
        "Traceback (most recent call last):",
    ):
        assert not logs.is_known_start_up_line(unknown), unknown


def test_unknown_lines_come_through_in_order_and_known_ones_do_not(capfd, monkeypatch):
    monkeypatch.delenv(logs.ENV, raising=False)
    with logs.start_up_lines_hidden():
        for i, known in enumerate(KNOWN):
            _c_write(known)
            _c_write(f"E0000 00:00:1796206752.872649    3898 made_up.cc:{i}] unknown {i}\n")
        os.write(2, b"a last line without its newline")
    _c_write("\nafter the window\n")
    err = capfd.readouterr().err
    assert err == "".join(f"E0000 00:00:1796206752.872649    3898 made_up.cc:{i}] unknown {i}\n" for i in range(4)) \
        + "a last line without its newline\nafter the window\n"


def test_the_captured_lines_come_out_when_the_body_raises(capfd, monkeypatch):
    monkeypatch.delenv(logs.ENV, raising=False)
    with pytest.raises(RuntimeError, match="failed"), logs.start_up_lines_hidden():
        _c_write(ONEDNN + "a real error\n")
        raise RuntimeError("failed")
    _c_write("descriptor 2 is back\n")
    assert capfd.readouterr().err == "a real error\ndescriptor 2 is back\n"


def test_the_switch_lets_everything_through(capfd, monkeypatch):
    monkeypatch.setenv(logs.ENV, "1")
    with logs.start_up_lines_hidden():
        _c_write(ONEDNN + CUINIT)
    assert capfd.readouterr().err == ONEDNN + CUINIT


# --- tfner's own ops ----------------------------------------------------------------------

def _transposed_types(fn, *specs) -> set[str]:
    """The element types that ``fn``'s graph (and the functions inside it) transposes."""
    import tensorflow as tf

    graph = tf.function(fn).get_concrete_function(*specs).graph.as_graph_def()
    nodes = [*graph.node, *(n for f in graph.library.function for n in f.node_def)]
    return {tf.dtypes.as_dtype(n.attr["T"].type).name for n in nodes if n.op in ("Transpose", "ConjugateTranspose")}


@pytest.mark.parametrize("decode", ["argmax", "constrained"])
def test_the_text_graph_transposes_no_integers(tiny_tokenizer, decode):
    """oneDNN has no integer or boolean Transpose without AVX-512: it falls back and logs an
    error line ("oneDNN supports DT_INT64 only on platforms with AVX-512")."""
    import tensorflow as tf

    from tfner.serving.text_graph import TextTagger, text_options

    def logits(input_ids, attention_mask):
        return tf.one_hot(input_ids % 3, 3) * tf.cast(attention_mask, tf.float32)[..., None]

    tagger = TextTagger(logits, ["O", "B-PER", "I-PER"], **text_options(tiny_tokenizer, max_length=32, overlap=4,
                                                                         decode=decode))
    assert _transposed_types(tagger.tag, tf.TensorSpec([None], tf.string)) <= {"float32"}


def test_the_crf_transposes_no_integers_or_booleans():
    import tensorflow as tf

    from tfner.modeling import crf

    specs = (tf.TensorSpec([None, None, 3]), tf.TensorSpec([None], tf.int32), tf.TensorSpec([3, 3]),
             tf.TensorSpec([3]), tf.TensorSpec([3]))
    assert _transposed_types(crf.log_partition, *specs) <= {"float32"}
    assert _transposed_types(crf.viterbi, *specs) <= {"float32"}


# --- fresh processes ----------------------------------------------------------------------

def _run(*args: str, cwd, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TF_CPP_") and k != logs.ENV}
    out = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd, timeout=600,
                         env={**clean, "PYTHONPATH": str(REPO), **env})
    assert out.returncode == 0, out.stderr[-3000:]
    return out


#: Any line of TensorFlow's C++ logging (absl's format): none should be left after a quiet start.
TF_LOG_LINE = re.compile(r"[IWEF]\d{4} [\d:.]+ +\d+ \S+:\d+\] ")


def _noise(out: subprocess.CompletedProcess) -> list[str]:
    return [line for line in (out.stdout + out.stderr).splitlines()
            if any(n in line for n in NOISE) or TF_LOG_LINE.match(line)]


#: The lines a fit prints, and nothing else: not even what TensorFlow prints while its libraries load.
OURS = re.compile(r"^(encoder|train|precision|recipe|Epoch|epoch|restoring|keeping|\d+/\d+ \[)")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """``make demo``'s program in a fresh process (no TF_CPP_* variable, as a user runs it): ``tfner.fit`` on
    WNUT-17's first 8 sentences with the default (offline, pre-trained) encoder, 1 update, then evaluate,
    export and predict; and the CoNLL file the ``--debug`` run trains on. One process serves both the fit's
    lines and the demo's: each is a TensorFlow start-up and a MiniLM fit."""
    folder = tmp_path_factory.mktemp("quiet")
    (folder / "train.conll").write_text("\n\n".join("\n".join(f"{w} {t}" for w, t in zip(*s, strict=True))
                                                    for s in TRAIN[:4]) + "\n", encoding="utf-8")
    out = _run("-m", "tfner.demo", "--epochs", "1", "--max-sentences", "8", "--batch-size", "8", "--learning-rate",
               "1e-3", "--export-dir", str(folder / "export"), "--logdir", str(folder / "logs"), cwd=folder)
    return folder, out


@pytest.mark.slow
def test_the_demo_and_its_fit_print_tfners_lines_only(demo):
    folder, out = demo
    assert not _noise(out)
    assert out.stdout.startswith("Fine-tuning all-MiniLM-L6-v2") and "demo finished" in out.stdout
    lines = out.stdout.splitlines()
    fit = lines[1:next(i for i, line in enumerate(lines) if line.startswith("trained "))]  # what tfner.fit printed
    assert fit[0].startswith("encoder: all-MiniLM-L6-v2 (pre-trained)")
    text = "\n".join(fit)
    for expected in ("train: 8 sentences", "precision: float32", "epoch 1/1: loss", "epoch 1: dev entity F1",
                     "recipe: batch 8 (as asked), learning rate 0.001 (as asked), crf head (the default); 1 epoch as asked "):
        assert expected in text, text
    steps = re.search(r"(\d+) steps per epoch", text)[1]  # windows are batched by length: some batches are partial
    assert f"1 epoch as asked ({steps} update{'s' * (steps != '1')}); dev: 8 sentences given" in text, text
    assert "val_loss" not in text  # Keras' own epoch line (which repeated every value) is off
    assert all(OURS.match(line) for line in fit + out.stderr.splitlines() if line.strip()), fit + [out.stderr]
    predict = _run("-m", "tfner", "predict", "export", "Alice flew to Paris.", cwd=folder)  # the export's base folder
    assert not _noise(predict)
    assert predict.stdout.startswith('{"text": "Alice flew to Paris."')


@pytest.mark.slow
def test_debug_shows_the_start_up_lines_and_transformers_messages(demo):
    """Any pre-trained encoder brings transformers' messages: the tiny one (with weights saved) is the cheapest."""
    folder, _ = demo
    encoder = write_pretrained_tiny_encoder(folder / "tiny-encoder")
    out = _run("-m", "tfner", "--debug", "train", "train.conll", "--epochs", "1", "--output-dir", "debug-run",
               "--encoder", str(encoder), cwd=folder)
    assert ABSL.strip() in out.stderr.splitlines()
    shown = [line for line in out.stderr.splitlines() if logs.is_known_start_up_line(line)]
    assert len(shown) >= 3  # absl's notice and oneDNN's (twice: two libraries load), the rest machine-dependent
    assert "newly initialized" in out.stderr and "TensorFlow and JAX classes are deprecated" in out.stderr


# A line TensorFlow does not print today, written from C while tfner imports TensorFlow.
UNKNOWN_DURING_IMPORT = r"""
import ctypes, importlib.abc, os, sys

class Noisy(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "tensorflow":
            line = b"E0000 00:00:1796206752.872649    1 made_up.cc:1] an error tfner does not know\n"
            ctypes.CDLL(None).write(2, line, len(line))
        return None

sys.meta_path.insert(0, Noisy())
import tfner
tfner.Tagger  # tfner's first import of TensorFlow
os.write(2, b"after the import\n")
"""


@pytest.mark.slow
@pytest.mark.parametrize("switch", ["", "1"])
def test_an_unknown_line_gets_through_a_real_start(tmp_path, switch):
    err = _run("-c", UNKNOWN_DURING_IMPORT, cwd=tmp_path, **{logs.ENV: switch}).stderr.splitlines()
    assert err.index("E0000 00:00:1796206752.872649    1 made_up.cc:1] an error tfner does not know") \
        < err.index("after the import")
    known = [line for line in err if logs.is_known_start_up_line(line)]
    if switch:  # TFNER_LIBRARY_LOGS=1: every start-up line shows
        assert ABSL.strip() in known and len(known) >= 3
    else:
        assert known == [] and len(err) == 2, err
