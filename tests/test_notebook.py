"""notebooks/quickstart.ipynb runs top to bottom on a fresh kernel."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).parent.parent / "notebooks"


@pytest.mark.slow  # runs a Jupyter kernel
def test_notebook_quickstart_executes():
    notebook = nbformat.read(NOTEBOOKS / "quickstart.ipynb", as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    outputs = [o.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
               for o in cell.get("outputs", [])]
    assert any("relations" in text for text in outputs)
    shown = [o["data"]["text/html"] for cell in notebook.cells for o in cell.get("outputs", [])
             if "text/html" in o.get("data", {})]
    assert any("<iframe" in page and "Marie Curie" in page for page in shown)  # kgx.serve.viz
    assert not [o for cell in notebook.cells for o in cell.get("outputs", [])
                if o.get("output_type") == "error"]
