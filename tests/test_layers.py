"""The stage layering in pyproject.toml is enforced, not hoped for.

``make test`` runs ``lint-imports`` on the real tree. These tests show that the contracts can
fail: each copies the package, adds one import that breaks a rule, and checks that
``lint-imports`` rejects that copy and names the offending import. A contract that names a
module wrongly would pass everything, so each rule is tried once.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

# (module file that gets the import, module it imports, the broken rule's importer -> imported)
VIOLATIONS = [
    ("data/alignment.py", "tfner.modeling.loss", "tfner.data is not allowed to import tfner.modeling"),
    ("data/readers.py", "tfner.tagger", "tfner.data is not allowed to import tfner.tagger"),
    ("modeling/encoder.py", "tfner.training.optim", "tfner.modeling is not allowed to import tfner.training"),
    ("modeling/loss.py", "tfner.serving.export", "tfner.modeling is not allowed to import tfner.serving"),
    ("serving/export.py", "tfner.training.strategy", "tfner.serving is not allowed to import tfner.training"),
    ("training/optim.py", "tfner.serving.export", "tfner.training is not allowed to import tfner.serving"),
    ("training/callbacks.py", "tfner.tagger", "tfner.training is not allowed to import tfner.tagger"),
    ("config.py", "tfner.modeling.encoder", "tfner.config is not allowed to import tfner.modeling"),
    ("tagger.py", "tfner.demo", "tfner.tagger is not allowed to import tfner.demo"),
    ("serving/export.py", "tfner.cli", "tfner.serving is not allowed to import tfner.cli"),
    # the estimator's steps sit between the stages and the estimator; only tfner.tagger uses them
    ("training/backup.py", "tfner.tagging.state", "tfner.training is not allowed to import tfner.tagging"),
    ("pretraining.py", "tfner.tagging.inputs", "tfner.pretraining is not allowed to import tfner.tagging"),
    ("tuning.py", "tfner.tagging.scoring", "tfner.tuning is not allowed to import tfner.tagging"),
    # inside tfner.tagging, steps build on lower ones only
    ("tagging/state.py", "tfner.tagging.prediction", "tfner.tagging.state is not allowed to import "
                                                     "tfner.tagging.prediction"),
    ("tagging/inputs.py", "tfner.tagging.fit_run", "tfner.tagging.inputs is not allowed to import "
                                                   "tfner.tagging.fit_run"),
]

# (module file that gets the import, the sibling it imports, the package the circle is in, the edge named)
CIRCLES = [
    ("data/readers.py", "tfner.data.sources", "tfner.data", ".readers -> .sources"),
    ("serving/server_files.py", "tfner.serving.export", "tfner.serving", ".server_files -> .export"),
    ("tagging/saved_tagger.py", "tfner.tagger", "tfner", ".tagging -> .tagger"),
]


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    if not LINT_IMPORTS.exists():
        pytest.fail(f"{LINT_IMPORTS} is missing: install the test extras (pip install -e '.[test]')")
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--no-logo"], cwd=root, capture_output=True,
                          text=True, timeout=120)


def copy_package(dest: Path) -> Path:
    shutil.copytree(REPO / "tfner", dest / "tfner", ignore=shutil.ignore_patterns("__pycache__", "*.conll"))
    shutil.copy(REPO / "pyproject.toml", dest / "pyproject.toml")
    return dest


def lint_with_import(tmp_path: Path, where: str, target: str) -> subprocess.CompletedProcess:
    """``lint-imports`` on a copy of the package whose module ``where`` also imports ``target``; it must fail."""
    root = copy_package(tmp_path)
    module = root / "tfner" / where
    module.write_text(module.read_text(encoding="utf-8") + f"\nimport {target}  # noqa: E402,F401\n",
                      encoding="utf-8")
    proc = lint_imports(root)
    assert proc.returncode != 0, proc.stdout
    return proc


def test_the_package_keeps_every_contract(tmp_path):
    proc = lint_imports(copy_package(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


@pytest.mark.parametrize("where, target, message", VIOLATIONS, ids=[v[0] + "->" + v[1] for v in VIOLATIONS])
def test_an_upward_import_breaks_the_build(tmp_path, where, target, message):
    proc = lint_with_import(tmp_path, where, target)
    assert message in proc.stdout, proc.stdout
    importer = "tfner." + where.removesuffix(".py").replace("/", ".")
    assert f"{importer} -> {target}" in proc.stdout, proc.stdout


@pytest.mark.parametrize("where, target, package, edge", CIRCLES, ids=[c[0] + "->" + c[1] for c in CIRCLES])
def test_an_import_circle_breaks_the_build(tmp_path, where, target, package, edge):
    # readers <- sources is how data flows; readers -> sources would close a circle (as readers and
    # jsonl once imported each other)
    proc = lint_with_import(tmp_path, where, target)
    assert f"No cycles are allowed in {package}." in proc.stdout, proc.stdout
    assert edge in proc.stdout, proc.stdout
