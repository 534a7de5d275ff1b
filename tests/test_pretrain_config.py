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
])
def test_bad_options_are_config_errors_before_anything_is_read(tmp_path, options, message):
    with pytest.raises(tfner.ConfigError, match=message):
        tfner.pretrain(tmp_path / "never-read.txt", tmp_path / "out", verbose=0, **options)
