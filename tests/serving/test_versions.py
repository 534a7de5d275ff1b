"""Version folders: listing, latest, next and pruning, as TF Serving sees them."""

from __future__ import annotations

import pytest

import tfner
from tfner.serving.versions import latest_version, list_versions, next_version, prune_versions


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
    removed = prune_versions(tmp_path, keep=2)
    assert removed == [tmp_path / "1", tmp_path / "2"]
    assert list_versions(tmp_path) == [3, 4]
    assert (tmp_path / ".tmp-x").is_dir() and (tmp_path / "models.config").exists()
    assert prune_versions(tmp_path, keep=5) == []
    with pytest.raises(tfner.ExportError, match="at least 1"):
        prune_versions(tmp_path, keep=0)
