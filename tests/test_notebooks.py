"""The tutorial notebooks: committed clean, and executed top to bottom (each ends by asserting what it shows).

Each notebook runs in a fresh ``python3`` kernel whose working directory is a temporary directory, so
nothing is written next to the notebooks. The kernel gets ``OMP_NUM_THREADS=1``: the notebooks' tensors
are tiny, and on a shared 2-core machine extra intra-op threads made training 15x slower.

Each executed notebook is saved, with its outputs, to ``$MOTORNET_FN_EXECUTED_NOTEBOOKS`` (default: the
git-ignored ``docs/_executed/``), stamped with the sha256 of the notebook it ran
(``metadata.motornet_fn.source_sha256``): the documentation build renders these copies instead of running
the notebooks a second time (``docs/conf.py``).
"""
from __future__ import annotations

from pathlib import Path

import hashlib
import os

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
EXECUTED_DIR_DEFAULT = Path(__file__).resolve().parents[1] / "docs" / "_executed"
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
    save_executed(nb, path)


def executed_dir() -> Path:
    """Where executed notebooks are saved for the documentation build (docs/conf.py reads the same)."""
    return Path(os.environ.get("MOTORNET_FN_EXECUTED_NOTEBOOKS") or EXECUTED_DIR_DEFAULT)


def save_executed(nb, source: Path) -> Path:
    """Write the executed notebook ``nb`` of ``source``, stamped with the source's sha256, atomically."""
    nb.metadata["motornet_fn"] = {"source_sha256": hashlib.sha256(source.read_bytes()).hexdigest()}
    out = executed_dir() / source.name
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    nbformat.write(nb, tmp)
    os.replace(tmp, out)
    return out
