"""tfner.tagging.saved_tagger: a failed write leaves what was there before, whole.

The README promises that the finished tagger lands in ``output_dir/tagger`` atomically (written
beside it, then renamed into place) and that an export's version folder appears whole or not at all.
"""

from __future__ import annotations

import hashlib
import os

import pytest

import tfner
from tests.conftest import DEV, TINY_OPTIONS, TRAIN
from tfner.serving import server_files
from tfner.tagging import saved_tagger

TEXTS = ["Alice flew to Paris", "Bob met Carol in Rome"]


def contents(folder) -> dict[str, str]:
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in sorted(os.listdir(folder))}


def test_a_failed_final_save_keeps_the_earlier_tagger_whole(tiny_encoder, tmp_path, monkeypatch):
    options = {**TINY_OPTIONS, "epochs": 1}
    first = tfner.fit(TRAIN, DEV, encoder=tiny_encoder, verbose=0, output_dir=tmp_path, **options)
    before = contents(tmp_path / "tagger")

    def disk_full(state):  # the weights are written, then the assets fail
        raise OSError("No space left on device")

    monkeypatch.setattr(saved_tagger, "asset_files", disk_full)
    with pytest.raises(OSError, match="No space"):
        tfner.fit(TRAIN, DEV, encoder=tiny_encoder, verbose=0, output_dir=tmp_path, overwrite=True,
                  **{**options, "seed": 2})
    assert contents(tmp_path / "tagger") == before  # the earlier tagger, byte for byte
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".tagger")]  # no half-written folder left
    monkeypatch.undo()
    assert tfner.load(tmp_path / "tagger", verbose=0).predict(TEXTS) == first.predict(TEXTS)


def test_saving_over_a_saved_tagger_replaces_it_whole(fitted, tmp_path, monkeypatch):
    path = fitted.save(tmp_path / "saved")
    names = sorted(os.listdir(path))
    (path / saved_tagger.TASKS_FILE).write_text("[not json", encoding="utf-8")  # an earlier tagger's file
    before = contents(path)

    def disk_full(state):  # the weights are written, then the assets fail
        raise OSError("No space left on device")

    monkeypatch.setattr(saved_tagger, "asset_files", disk_full)
    with pytest.raises(OSError, match="No space"):
        fitted.save(path)
    assert contents(path) == before  # the earlier folder, byte for byte
    assert sorted(os.listdir(tmp_path)) == ["saved"]  # nothing half-written beside it
    monkeypatch.undo()
    fitted.save(path)
    assert sorted(os.listdir(path)) == names  # the earlier tagger's extra file did not outlive it
    assert tfner.load(path, verbose=0).predict(TEXTS) == fitted.predict(TEXTS)


def test_a_failed_export_writes_no_version(fitted, tmp_path, monkeypatch):
    first = fitted.export(tmp_path / "ner")

    def broken(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(server_files, "write_warmup", broken)
    with pytest.raises(OSError, match="No space"):
        fitted.export(tmp_path / "ner")
    assert sorted(os.listdir(tmp_path / "ner")) == sorted([first.name, "batching_parameters.txt", "models.config"])


def test_a_config_saved_before_the_auto_defaults_keeps_what_it_was_trained_with():
    from tfner.config import TaggerConfig
    from tfner.tagging.saved_tagger import stored_config

    old = {"max_length": 64, "epochs": 3}  # saved before context, head and window_overlap had "auto"/None defaults
    cfg = stored_config(old)
    assert (cfg.context, cfg.head, cfg.max_length) == ("sentence", "softmax", 64)
    assert cfg.windowing.overlap == 31  # the most a window of 64 allows, under 32
    now = {"context": "packed", "head": "crf", "window_overlap": 31}
    assert stored_config(now).replace() == TaggerConfig(**now)  # what a fit resolved is kept as it is
