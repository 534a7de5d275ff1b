"""The integer version folders TF Serving polls under an export's base path.

TF Serving serves the largest integer folder under ``<base>/`` (skipping other names, such as
tfner's hidden ``.tmp-*`` staging folders and the config files beside them). Exports never
overwrite a version; :func:`prune_versions` is the one way tfner removes old ones, and it only
removes versions tfner wrote.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from tfner.errors import ExportError

# ASCII digits only: str.isdigit and \d also accept "٣" or "３", which the server does not parse
_VERSION = re.compile(r"[0-9]+")
#: the server reads a version as a signed 64-bit integer; a larger number is not a version to it
_MAX_VERSION = 2**63 - 1
#: every tfner export carries this asset (package versions and the oldest TF Serving it targets)
EXPORT_MARKER = "tfner_export.json"


def _numbered(base: Path, *, folders_only: bool = True) -> list[tuple[int, Path]]:
    """``(number, path)`` of the entries named by an integer, by number (then name: "7" before "007")."""
    if not base.is_dir():
        return []
    found = [(int(p.name), p) for p in base.iterdir()
             if _VERSION.fullmatch(p.name) and int(p.name) <= _MAX_VERSION and (p.is_dir() or not folders_only)]
    return sorted(found, key=lambda item: (item[0], len(item[1].name), item[1].name))


def list_versions(base: str | os.PathLike) -> list[int]:
    """The version numbers under ``base``, ascending (``[]`` if none or no such folder).

    >>> import tempfile; d = Path(tempfile.mkdtemp()); _ = [(d / n).mkdir() for n in ("2", "10", ".tmp-x", "a")]
    >>> list_versions(d)
    [2, 10]
    """
    return [number for number, _ in _numbered(Path(base))]


def latest_version(base: str | os.PathLike) -> Path | None:
    """The folder TF Serving would serve (the largest version), or ``None``."""
    numbered = _numbered(Path(base))
    return numbered[-1][1] if numbered else None


def next_version(base: str | os.PathLike) -> int:
    """One past the largest number naming anything under ``base`` (1 for a new base).

    A plain file named ``"3"`` is not a version, but it holds the name: the next export is 4.
    """
    numbered = _numbered(Path(base), folders_only=False)
    return numbered[-1][0] + 1 if numbered else 1


def is_tfner_export(version_dir: str | os.PathLike) -> bool:
    """Whether ``version_dir`` is a version tfner's export wrote (it carries :data:`EXPORT_MARKER`)."""
    return (Path(version_dir) / "assets" / EXPORT_MARKER).is_file()


def prune_versions(base: str | os.PathLike, keep: int) -> list[Path]:
    """Delete tfner's versions older than the ``keep`` newest under ``base``; return what was deleted.

    ``keep`` must be at least 1: the version being served is never removed. The ``keep`` newest
    are counted over every version folder; of the older ones, only those tfner exported (see
    :func:`is_tfner_export`) are deleted, so a version written by other tools stays, and so does a
    symbolic link (its target is not tfner's to delete). If one cannot be deleted, ``ExportError``
    names it and the ones already deleted.
    """
    if keep < 1:
        raise ExportError(f"keep must be at least 1 (the served version stays), got {keep}")
    removed: list[Path] = []
    for _, path in _numbered(Path(base))[:-keep]:
        if path.is_symlink() or not is_tfner_export(path):
            continue
        try:
            shutil.rmtree(path)
        except OSError as err:
            raise ExportError(f"could not delete {path} ({err}); deleted before it: "
                              f"{[p.name for p in removed] or 'none'}") from err
        removed.append(path)
    return removed
