"""Will a given TF Serving release load this SavedModel? Checked offline, node by node.

A stock ``tensorflow_model_server`` registers TensorFlow core's ops plus the TF-Text
``ops_lib`` of the version it links (2.12.1 for servers 2.14 … 2.19, 2.20.0 for 2.20). It
refuses a SavedModel whose graph, or any function of its library, holds an op it lacks
("Op type not registered") or a node that sets an attribute its OpDef lacks ("NodeDef
mentions attr ... not in Op"). TensorFlow 2.21 writes such attributes: ``debug_name`` on
every ``VarHandleOp`` (added in 2.15) and default-valued attributes added since 2.14
(``grad_x``/``grad_y`` on ``BatchMatMulV2``, ...).

:func:`make_servable` removes what an older server would refuse and cannot miss: attributes
its OpDef lacks whose value is the current default (TensorFlow's own ``strip_default_attrs``
rule: the node means the same without them) and the informational ``debug_name``.
:func:`check_servable` then lists every remaining problem: ops the server lacks, attributes
it does not know, attribute values it does not allow. Op sets and OpDefs ship as package data
(``opsets/``, see its SOURCE.md). TF-Text ops are checked by name only (no OpDefs shipped).
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import os
from collections import Counter
from importlib import resources
from pathlib import Path

from tfner.errors import ExportError

#: The oldest server release an export must load on, unless the caller names another.
DEFAULT_SERVING_VERSION = "2.14"
#: server release -> (core op list, OpDefs used for attributes, TF-Text ops_lib version)
_SERVERS = {
    "2.14": ("2.14.0", "2.14.0", "2.12.1"),
    "2.15": ("2.15.0", "2.14.0", "2.12.1"),
    "2.16": ("2.16.1", "2.14.0", "2.12.1"),
    "2.17": ("2.16.1", "2.14.0", "2.12.1"),
    "2.18": ("2.18.0", "2.14.0", "2.12.1"),
    "2.19": ("2.18.0", "2.14.0", "2.12.1"),
    "2.20": ("2.20.0", "2.20.0", "2.20.0"),
}
SERVING_VERSIONS = tuple(_SERVERS)
# Attributes that only name things for debugging; a node means the same without them.
_INFORMATIONAL = frozenset({"debug_name"})


@dataclasses.dataclass(frozen=True)
class Problem:
    """One reason a server would refuse the model."""

    kind: str  # "op" (not registered), "attr" (unknown attribute), "value" (value not allowed)
    op: str
    detail: str
    where: str  # the graph or the library function holding the node
    certain: bool = True  # False: added between 2.14 and 2.20, and tfner has no OpDefs of the releases between

    def __str__(self) -> str:
        what = {"op": "op not registered", "attr": "unknown attribute", "value": "value not allowed"}[self.kind]
        maybe = "" if self.certain else " (present by 2.20; not known for this release)"
        return f"{self.op}: {what}{': ' + self.detail if self.detail else ''}{maybe} (in {self.where})"


@dataclasses.dataclass(frozen=True)
class ServabilityReport:
    """What :func:`check_servable` found for one SavedModel and one server release."""

    path: str
    serving_version: str
    ops: tuple[str, ...]
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        if self.ok:
            return f"{self.path}: loads on TF Serving {self.serving_version} ({len(self.ops)} op types checked)"
        counts = Counter(str(p) for p in self.problems)
        lines = [f"  {text}" + (f" (x{n})" if n > 1 else "") for text, n in sorted(counts.items())]
        verdict = "would" if any(p.certain for p in self.problems) else "may"
        return f"{self.path}: TF Serving {self.serving_version} {verdict} refuse it:\n" + "\n".join(lines)

    __str__ = summary


def serving_release(version: str) -> str:
    """``"2.14.1"`` or ``"2.14"`` -> ``"2.14"``; an unknown release raises :class:`ExportError`."""
    parts = str(version).split(".")
    key = ".".join(parts[:2])
    if key not in _SERVERS:
        raise ExportError(f"serving_version must be a TF Serving release from {SERVING_VERSIONS[0]} to "
                          f"{SERVING_VERSIONS[-1]} (the releases whose op sets tfner ships), got {version!r}")
    return key


def _data(name: str) -> bytes:
    return resources.files(__package__).joinpath("opsets", name).read_bytes()


@functools.cache
def _op_names(kind: str, version: str) -> frozenset[str]:
    text = _data(f"tf_{kind}_ops_{version}.txt").decode("utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip())


@functools.cache
def _op_defs(version: str) -> dict:
    from google.protobuf import text_format
    from tensorflow.core.framework import op_def_pb2

    op_list = op_def_pb2.OpList()
    text_format.Parse(gzip.decompress(_data(f"tf_core_opdefs_{version}.pbtxt.gz")).decode("utf-8"), op_list)
    return {op.name: op for op in op_list.op}


def _read(path: Path):
    from tensorflow.core.protobuf import saved_model_pb2

    pb = path / "saved_model.pb"
    if not pb.exists():
        raise ExportError(f"{path} is not a SavedModel directory (no saved_model.pb)")
    model = saved_model_pb2.SavedModel()
    model.ParseFromString(pb.read_bytes())
    return model


def _nodes(model):
    """Every node of every graph and library function, with where it sits; calls to library functions skipped."""
    for meta in model.meta_graphs:
        graph = meta.graph_def
        functions = {f.signature.name for f in graph.library.function}
        for node in graph.node:
            if node.op not in functions:
                yield node, "graph"
        for fn in graph.library.function:
            for node in fn.node_def:
                if node.op not in functions:
                    yield node, fn.signature.name


def _allowed(attr_def, value) -> bool:
    if not attr_def.HasField("allowed_values"):
        return True
    allowed = attr_def.allowed_values.list
    if attr_def.type == "type":
        return value.type in allowed.type
    if attr_def.type == "list(type)":
        return all(t in allowed.type for t in value.list.type)
    if attr_def.type == "string":
        return value.s in allowed.s
    return True


def make_servable(path: str | os.PathLike, serving_version: str = DEFAULT_SERVING_VERSION) -> dict[str, int]:
    """Strip, in place, attributes the target server's OpDefs lack but that change nothing.

    Returns how many attributes were removed, by ``op.attr``. Rewrites ``fingerprint.pb``
    to match the edited graph.
    """
    from tensorflow.python.framework import op_def_registry

    path = Path(path)
    release = serving_release(serving_version)
    target = _op_defs(_SERVERS[release][1])
    model = _read(path)
    removed: Counter[str] = Counter()
    for node, _ in _nodes(model):
        op_def = target.get(node.op)
        if op_def is None:
            continue  # not a core op of the target: check_servable reports it if the server lacks it
        known = {a.name for a in op_def.attr}
        current = op_def_registry.get(node.op)
        defaults = {a.name: a.default_value for a in current.attr if a.HasField("default_value")} if current else {}
        for name in [n for n in node.attr if not n.startswith("_") and n not in known]:
            if name in _INFORMATIONAL or (name in defaults and node.attr[name] == defaults[name]):
                del node.attr[name]
                removed[f"{node.op}.{name}"] += 1
    if removed:
        (path / "saved_model.pb").write_bytes(model.SerializeToString(deterministic=True))
        _rewrite_fingerprint(path)
    return dict(removed)


def _rewrite_fingerprint(path: Path) -> None:
    from tensorflow.python.saved_model.pywrap_saved_model import fingerprinting

    if (path / "fingerprint.pb").exists():
        (path / "fingerprint.pb").write_bytes(fingerprinting.CreateFingerprintDef(str(path)))


def check_servable(path: str | os.PathLike, serving_version: str = DEFAULT_SERVING_VERSION) -> ServabilityReport:
    """Check a SavedModel directory against what TF Serving ``serving_version`` registers.

    Works for any SavedModel, not only tfner's. ``report.ok`` says whether the server would
    load it; ``print(report)`` lists the offending ops and attributes.
    """
    path = Path(path)
    release = serving_release(serving_version)
    core_version, opdef_version, text_version = _SERVERS[release]
    core, text = _op_names("core", core_version), _op_names("text", text_version)
    target = _op_defs(opdef_version)
    newest = _op_defs(_SERVERS[SERVING_VERSIONS[-1]][1])
    problems: list[Problem] = []
    seen: set[str] = set()
    for node, where in _nodes(_read(path)):
        seen.add(node.op)
        if node.op in text:
            continue
        if node.op not in core:
            problems.append(Problem("op", node.op, "", where))
            continue
        op_def = target.get(node.op)
        if op_def is None:
            continue
        attr_defs = {a.name: a for a in op_def.attr}
        for name, value in node.attr.items():
            if name.startswith("_"):
                continue  # internal attributes (_output_shapes, _class, ...) every loader accepts
            if name not in attr_defs:
                later = opdef_version != core_version and name in {a.name for a in newest[node.op].attr} \
                    if node.op in newest else False
                problems.append(Problem("attr", node.op, name, where, certain=not later))
            elif not _allowed(attr_defs[name], value):
                problems.append(Problem("value", node.op, f"{name}={str(value).strip()}", where))
    return ServabilityReport(str(path), release, tuple(sorted(seen)), tuple(problems))
