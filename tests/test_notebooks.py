"""The tutorial notebooks: committed clean, and executed top to bottom (each ends by asserting what it shows).

Each notebook runs in a fresh ``python3`` kernel whose working directory is a temporary directory, so
nothing is written into the repository. The kernel gets ``OMP_NUM_THREADS=1``: the notebooks' tensors
are tiny, and on a shared 2-core machine extra intra-op threads made training 15x slower.
"""
from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
TIMEOUT = 300  # seconds per cell; the slowest notebook (09) takes about a minute on 2 cores


def test_the_notebooks_are_numbered_and_committed_without_outputs():
    assert len(NOTEBOOKS) >= 9 and [p.name[:2] for p in NOTEBOOKS] == [f"{i:02d}" for i in range(1, len(NOTEBOOKS) + 1)], \
        [p.name for p in NOTEBOOKS]
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        assert nb.nbformat == 4 and nb.metadata["kernelspec"]["name"] == "python3", path.name
        assert nb.cells[0].cell_type == "markdown" and nb.cells[-1].cell_type == "code", path.name
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: strip outputs"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom(path, tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # inherited by the kernel process
    before = sorted(p.name for p in NOTEBOOK_DIR.iterdir())
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, with the cell's traceback, if any cell fails
    errors = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
              if out.output_type == "error"]
    assert not errors
    assert sorted(p.name for p in NOTEBOOK_DIR.iterdir()) == before  # nothing written next to the notebooks
