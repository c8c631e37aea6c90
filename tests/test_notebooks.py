"""Every notebook runs top to bottom in a real Jupyter kernel, on the embedded model, at a small size."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


def test_there_is_a_notebook_for_each_guide():
    names = [p.name for p in NOTEBOOKS]
    assert names == [
        "01-quickstart.ipynb",
        "02-preset-topologies.ipynb",
        "03-learning-a-topology.ipynb",
        "04-agentsnet.ipynb",
        "05-gpus-and-processes.ipynb",
        "06-simulations.ipynb",
    ]


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_top_to_bottom_in_a_kernel(path, tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTLAB_NOTEBOOK_ITEMS", "2" if "agentsnet" in path.name else "4")
    notebook = nbformat.read(path, as_version=4)
    # cwd: notebooks write runs/ next to themselves; a cell that raises fails the test with its traceback
    NotebookClient(
        notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert any("text/html" in o.get("data", {}) for o in outputs), "no rich output was rendered"
