"""Version folders: listing, latest, next and pruning, as TF Serving sees them."""

from __future__ import annotations

import signal

import pytest
import tensorflow as tf

import tfner
from tfner.serving import export as export_lib
from tfner.serving.server_files import check_model_name
from tfner.serving.versions import (
    EXPORT_MARKER,
    is_tfner_export,
    latest_version,
    list_versions,
    next_version,
    prune_versions,
)


def make(base, *names):
    for name in names:
        (base / name).mkdir(parents=True)
    (base / "models.config").write_text("")  # files beside the versions are not versions


def test_versions_are_integer_folders_in_numeric_order(tmp_path):
    make(tmp_path, "1", "10", "9", ".tmp-abc", "v2", "007")
    assert list_versions(tmp_path) == [1, 7, 9, 10]  # numeric, not lexicographic: 10 after 9
    assert latest_version(tmp_path) == tmp_path / "10"
    assert next_version(tmp_path) == 11
    assert list_versions(tmp_path / "absent") == [] and next_version(tmp_path / "absent") == 1
    assert latest_version(tmp_path / "absent") is None


def test_prune_keeps_the_newest_and_nothing_else_is_touched(tmp_path):
    make(tmp_path, "1", "2", "3", "4", ".tmp-x")
    for name in ("1", "2", "3", "4"):
        mark_as_tfner(tmp_path / name)
    removed = prune_versions(tmp_path, keep=2)
    assert removed == [tmp_path / "1", tmp_path / "2"]
    assert list_versions(tmp_path) == [3, 4]
    assert (tmp_path / ".tmp-x").is_dir() and (tmp_path / "models.config").exists()
    assert prune_versions(tmp_path, keep=5) == []
    with pytest.raises(tfner.ExportError, match="at least 1"):
        prune_versions(tmp_path, keep=0)


def test_a_version_is_named_by_ascii_digits_and_latest_is_the_folder_itself(tmp_path):
    make(tmp_path, "3", "007", "\u0663\u0665")  # Arabic-Indic "35": Python's int() reads it, the server does not
    assert list_versions(tmp_path) == [3, 7]
    assert latest_version(tmp_path) == tmp_path / "007"  # the folder that exists, not "7"
    (tmp_path / "12").write_text("a file holds its name, though it is not a version")
    assert list_versions(tmp_path) == [3, 7] and next_version(tmp_path) == 13


def mark_as_tfner(version_dir):
    (version_dir / "assets").mkdir()
    (version_dir / "assets" / EXPORT_MARKER).write_text("{}")


def test_prune_deletes_only_the_versions_tfner_exported(tmp_path):
    make(tmp_path, "1", "2", "3", "4")
    for name in ("1", "3", "4"):
        mark_as_tfner(tmp_path / name)
    (tmp_path / "2" / "saved_model.pb").write_bytes(b"written by another tool")
    assert prune_versions(tmp_path, keep=1) == [tmp_path / "1", tmp_path / "3"]
    assert list_versions(tmp_path) == [2, 4]  # the other tool's version 2 stays, as does the newest
    assert prune_versions(tmp_path, keep=1) == []


def test_prune_leaves_a_symbolic_link_and_a_number_the_server_cannot_read(tmp_path):
    target = tmp_path / "elsewhere"
    make(target, "5")
    mark_as_tfner(target / "5")
    base = tmp_path / "base"
    make(base, "6", "7", "99999999999999999999")  # 2**63 and more: not a version to the server
    for name in ("6", "7"):
        mark_as_tfner(base / name)
    (base / "5").symlink_to(target / "5")
    assert list_versions(base) == [5, 6, 7] and latest_version(base) == base / "7"
    assert prune_versions(base, keep=1) == [base / "6"]
    assert (base / "5").is_symlink() and is_tfner_export(target / "5")  # the link and what it points to stay
    assert (base / "99999999999999999999").is_dir()


class Doubler(tf.Module):
    """The smallest module `export` accepts: one signature, no tagger."""

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
    def serve(self, x):
        return {"y": x * 2.0}

    def signatures(self):
        return {"serving_default": self.serve}


def run_with_alarm(fn, seconds=120):
    """``fn()``, failing instead of hanging if it loops (the bug this guards against was an endless retry)."""
    def fail(*_):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        return fn()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_export_skips_a_number_a_plain_file_holds(tmp_path):
    make(tmp_path, "1")
    (tmp_path / "2").write_text("not a version")
    version = run_with_alarm(lambda: export_lib.export(Doubler(), tmp_path, {}, model_name="m"))
    assert version == tmp_path / "3" and (version / "saved_model.pb").exists()
    assert (tmp_path / "2").read_text() == "not a version"
    loaded = tf.saved_model.load(str(version)).signatures["serving_default"]
    assert loaded(x=tf.constant([1.5]))["y"].numpy().tolist() == [3.0]
    assert is_tfner_export(version)


def test_export_checks_the_model_name_before_writing_anything(tmp_path):
    # REST paths are /v1/models/<name>:predict, taken as sent: a space or an accent cannot be reached
    for name in ("a/b", "a:b", " ", "my model", "modèle", "..", "a%20b"):
        with pytest.raises(tfner.ConfigError, match="model name"):
            export_lib.export(Doubler(), tmp_path / "m", {}, model_name=name)
    assert check_model_name("ner-v2.en_core~1") == "ner-v2.en_core~1"
    with pytest.raises(tfner.ConfigError, match="the base folder's name; pass model_name"):
        export_lib.export(Doubler(), tmp_path / "v1:2", {})
    assert list(tmp_path.rglob("*")) == []  # no version, no staging folder, no base folder


def test_server_files_that_cannot_be_written_are_an_export_error_naming_the_published_version(tmp_path):
    (tmp_path / "models.config").mkdir()  # the config file's name is taken by a folder
    with pytest.raises(tfner.ExportError, match="version .*1 was exported") as caught:
        export_lib.export(Doubler(), tmp_path, {}, model_name="m")
    assert isinstance(caught.value.__cause__, OSError)
    assert list_versions(tmp_path) == [1] and (tmp_path / "1" / "saved_model.pb").exists()
