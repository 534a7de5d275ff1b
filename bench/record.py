"""Writing one benchmark result: ``results/<name>-<UTC time>.json`` with the command and the machine."""

from __future__ import annotations

import datetime
import json
import os
import platform
import sys
from pathlib import Path


def write(out: Path, name: str, figures: dict) -> Path:
    """``figures`` plus when, the command and the machine, as ``out/<name>-<time>.json``; prints the path."""
    when = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    record = {"when": when, "command": " ".join([f"bench/{Path(sys.argv[0]).name}", *sys.argv[1:]]),
              "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                          "python": platform.python_version()}, **figures}
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}-{when}.json"
    path.write_text(json.dumps(record, indent=2))
    print(f"wrote {path}")
    return path
