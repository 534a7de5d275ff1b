"""PretrainConfig: pretrain's options as one frozen value, checked as TaggerConfig's are."""

from __future__ import annotations

import dataclasses

import pytest

import tfner
from tfner.pretraining import PretrainConfig


def test_options_override_the_config_and_the_config_stays_frozen():
    base = PretrainConfig(epochs=2, mask_rate=0.2)
    changed = base.replace(epochs=3)
    assert (changed.epochs, changed.mask_rate, base.epochs) == (3, 0.2, 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        base.epochs = 5  # type: ignore[misc]
    assert PretrainConfig(**changed.to_dict()) == changed


@pytest.mark.parametrize("options, message", [
    ({"epoch": 2}, "unknown pretrain option"),
    ({"epochs": 0}, "epochs and batch_size"),
    ({"held_out": 1.0}, "held_out"),
    ({"mask_rate": 0.0}, "mask_rate"),
    # review: these trained (a negative rate backwards, windows of 2 cut texts into empty windows), or were Python's
    # TypeError, or a ValueError once the texts were read
    ({"learning_rate": -1.0}, "learning_rate must be > 0"),
    ({"learning_rate": float("nan")}, "learning_rate must be a finite number"),
    ({"max_length": 2}, r"max_length must be in \[8, 512\]"),
    ({"epochs": 1.5}, "epochs"),
    ({"batch_size": "4"}, "batch_size"),
    ({"precision": "bogus"}, "precision must be one of"),
    ({"warmup_ratio": 1.0}, "warmup_ratio"),
])
def test_bad_options_are_config_errors_before_anything_is_read(tmp_path, options, message):
    with pytest.raises(tfner.ConfigError, match=message):
        tfner.pretrain(tmp_path / "never-read.txt", tmp_path / "out", verbose=0, **options)
