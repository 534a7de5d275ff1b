"""The notebooks run, top to bottom, with small settings (their "parameters" cell replaced), as in CI.

They are stored without outputs and call only the public API; each runs in its own folder.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.conftest import REPO

# Only that the cells run is checked, not how well the tagger learns: one epoch on a few sentences
# (a notebook's cost is mostly fixed: starting TensorFlow, loading the encoder, tracing).
SMALL = {
    "quickstart": "EPOCHS = 1\nTRAIN_SENTENCES = 32\nEVAL_SENTENCES = 16\n",
    "serving": "EPOCHS = 1\nTRAIN_SENTENCES = 16\n",
    "tensorboard": "EPOCHS = 1\nTRAIN_SENTENCES = 32\nDEV_SENTENCES = 16\n",
}


def test_notebooks_are_stored_without_outputs_and_have_a_parameters_cell():
    for name in SMALL:
        book = json.loads((REPO / "notebooks" / f"{name}.ipynb").read_text(encoding="utf-8"))
        code = [c for c in book["cells"] if c["cell_type"] == "code"]
        assert all(not c["outputs"] and c["execution_count"] is None for c in code), name
        assert sum("parameters" in c["metadata"].get("tags", []) for c in code) == 1, name


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SMALL))
def test_notebook_runs(name, tmp_path):
    import nbformat
    from nbclient import NotebookClient

    book = nbformat.read(REPO / "notebooks" / f"{name}.ipynb", as_version=4)
    for cell in book.cells:
        if "parameters" in cell.metadata.get("tags", []):
            cell.source = SMALL[name]
    started = time.time()
    client = NotebookClient(book, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    try:
        client.execute(env={**os.environ, "TFNER_LIBRARY_LOGS": ""})
    finally:
        _stop_tensorboards_started_in(tmp_path, started)
    outputs = [o for c in book.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    if name == "quickstart":  # the rendering and both figures came out
        kinds = {k for o in outputs for k in o.get("data", {})}
        assert {"text/html", "image/png"} <= kinds


def _stop_tensorboards_started_in(folder: Path, started: float) -> None:
    """Stop the TensorBoards the notebook started: since ``started``, working in ``folder``.

    Another test's TensorBoard (on the other xdist worker) runs elsewhere and is left alone.
    """
    from tensorboard import manager

    for info in manager.get_all():
        try:
            if info.start_time >= started - 1 and Path(os.readlink(f"/proc/{info.pid}/cwd")) == folder.resolve():
                os.kill(info.pid, signal.SIGTERM)
        except OSError:  # already gone
            pass
