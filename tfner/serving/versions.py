"""The integer version folders TF Serving polls under an export's base path.

TF Serving serves the largest integer folder under ``<base>/`` (skipping other names, such as
tfner's hidden ``.tmp-*`` staging folders and the config files beside them). Exports never
overwrite a version; :func:`prune_versions` is the one way tfner removes old ones.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from tfner.errors import ExportError

_VERSION = re.compile(r"\d+")


def list_versions(base: str | os.PathLike) -> list[int]:
    """The version numbers under ``base``, ascending (``[]`` if none or no such folder).

    >>> import tempfile; d = Path(tempfile.mkdtemp()); _ = [(d / n).mkdir() for n in ("2", "10", ".tmp-x", "a")]
    >>> list_versions(d)
    [2, 10]
    """
    base = Path(base)
    if not base.is_dir():
        return []
    return sorted(int(p.name) for p in base.iterdir() if p.is_dir() and _VERSION.fullmatch(p.name))


def latest_version(base: str | os.PathLike) -> Path | None:
    """The folder TF Serving would serve (the largest version), or ``None``."""
    versions = list_versions(base)
    return Path(base) / str(versions[-1]) if versions else None


def next_version(base: str | os.PathLike) -> int:
    """One past the largest version (1 for a new base)."""
    versions = list_versions(base)
    return versions[-1] + 1 if versions else 1


def prune_versions(base: str | os.PathLike, keep: int) -> list[Path]:
    """Delete all but the ``keep`` newest versions under ``base``; return what was deleted.

    ``keep`` must be at least 1: the version being served is never removed.
    """
    if keep < 1:
        raise ExportError(f"keep must be at least 1 (the served version stays), got {keep}")
    base = Path(base)
    removed = [base / str(v) for v in list_versions(base)[:-keep]]
    for path in removed:
        shutil.rmtree(path)
    return removed
