"""Writing one benchmark result: ``results/<name>-<UTC time>.json`` with the command, the machine and the versions."""

from __future__ import annotations

import datetime
import json
import os
import platform
import sys
from importlib import metadata
from pathlib import Path

#: the CPU features that decide which matmul kernels run
FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
PACKAGES = ("tensorflow", "tf-keras", "transformers", "tensorflow-text", "tfner")
THREAD_VARIABLES = ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OPENBLAS_CORETYPE")


def cpu() -> dict:
    """Model, family/model numbers, cores and the :data:`FLAGS` this CPU has (``/proc/cpuinfo``)."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    flags = set(fields.get("flags", "").split())
    return {"model": fields.get("model name", platform.processor()), "family": fields.get("cpu family"),
            "model_number": fields.get("model"), "cores": os.cpu_count(),
            "flags": {f: f in flags for f in FLAGS}}


def machine() -> dict:
    """The CPU, the platform, the package versions and the thread settings a figure depends on."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    threads = {v: os.environ.get(v) for v in THREAD_VARIABLES}
    threads["tensorflow"] = "intra-op and inter-op pools at TensorFlow's defaults (every core) unless set above"
    return {"cpu": cpu(), "platform": platform.platform(), "python": platform.python_version(),
            "versions": versions, "threads": threads}


def write(out: Path, name: str, figures: dict) -> Path:
    """``figures`` plus when, the command and :func:`machine`, as ``out/<name>-<time>.json``; prints the path."""
    when = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    record = {"when": when, "command": " ".join([f"bench/{Path(sys.argv[0]).name}", *sys.argv[1:]]),
              "machine": machine(), **figures}
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}-{when}.json"
    path.write_text(json.dumps(record, indent=2))
    print(f"wrote {path}")
    return path
