"""Data sets shipped with tfner. Only WNUT-17 (CC-BY 4.0; see ``wnut17/ATTRIBUTION.md``)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from tfner.errors import ConfigError

SPLITS = ("train", "dev", "test")


def wnut17_path(split: str) -> Path:
    """Path of the shipped WNUT-17 ``split`` ("train", "dev" or "test"), a CoNLL-style file."""
    if split not in SPLITS:
        raise ConfigError(f"split must be one of {SPLITS}, got {split!r}")
    return Path(str(resources.files(__package__).joinpath("wnut17", f"{split}.conll")))
