"""Render the notebooks as the notebook test executed them, without running them again.

``tests/test_notebooks.py`` saves the executed copy of every ``notebooks/*.ipynb`` to
``$MOTORNET_FN_EXECUTED_NOTEBOOKS`` (default ``docs/_executed/``), each stamped with the sha256 of the
notebook it ran (``metadata.motornet_fn.source_sha256``). When the configuration is read, :func:`stage`
copies them into ``docs/notebooks/`` (generated, git-ignored), where myst-nb renders them as they are
(``nb_execution_mode = "off"``); new notebooks are picked up by the glob.

A copy that is missing or stale (its notebook changed since it ran) is made by running that test for
those notebooks first: the same code as CI's, so a local build needs no earlier test run. With
``MOTORNET_FN_DOCS_EXECUTE=never`` (what ``.ci/run`` sets, to prove the copies are reused) the build fails
instead, naming the notebooks and the command that saves them.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from sphinx.errors import SphinxError

class NotebooksNotExecuted(SphinxError):
    """A notebook has no current executed copy and the build may not execute it (or executing it failed).
    The message is also printed on its own line first: Sphinx buries an extension's error in a report."""

    category = "Notebooks not executed"

    def __init__(self, message: str):
        print(f"executed_notebooks: error: {message}", file=sys.stderr, flush=True)
        super().__init__(message)


#: the test whose runs save the executed copies
NOTEBOOK_TEST = "tests/test_notebooks.py::test_notebook_runs_top_to_bottom"


def executed_dir(docs: Path) -> Path:
    """Where the notebook test saves executed notebooks (the same rule as the test's)."""
    return Path(os.environ.get("MOTORNET_FN_EXECUTED_NOTEBOOKS") or Path(docs) / "_executed").resolve()


def source_sha256(path: Path) -> str:
    """sha256 of a notebook file, the stamp an executed copy carries."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def is_current(executed: Path, source: Path) -> bool:
    """Whether ``executed`` is an executed copy of the notebook ``source`` as it is now."""
    try:
        stamp = json.loads(Path(executed).read_text(encoding="utf-8"))["metadata"]["motornet_fn"]["source_sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return stamp == source_sha256(source)


def stage(root: Path, docs: Path, staged: Path) -> list[Path]:
    """Copy the executed copy of every ``root/notebooks/*.ipynb`` into ``staged`` (emptied first),
    running the notebook test for any that is missing or stale. Returns the staged files."""
    sources = sorted((Path(root) / "notebooks").glob("*.ipynb"))
    target = executed_dir(docs)
    missing = [p for p in sources if not is_current(target / p.name, p)]
    if missing:
        names = ", ".join(p.name for p in missing)
        command = f"python -m pytest -q {NOTEBOOK_TEST}"
        if os.environ.get("MOTORNET_FN_DOCS_EXECUTE", "auto") == "never":
            raise NotebooksNotExecuted(
                f"no current executed copy of {names} in {target} (MOTORNET_FN_DOCS_EXECUTE=never): run "
                f"`{command}` first (it saves them there), then build the documentation again")
        print(f"executed_notebooks: no current executed copy of {names}; running `{command}` for them "
              f"(it saves them to {target})", flush=True)
        env = {**os.environ, "MOTORNET_FN_EXECUTED_NOTEBOOKS": str(target)}
        selected = [f"{NOTEBOOK_TEST}[{p.stem}]" for p in missing]
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *selected],
                              cwd=root, env=env)
        still = [p.name for p in missing if not is_current(target / p.name, p)]
        if done.returncode or still:
            raise NotebooksNotExecuted(f"the notebook test did not save current executed copies of {still} in {target}")
    staged = Path(staged)
    if staged.exists():
        shutil.rmtree(staged)
    staged.mkdir(parents=True)
    return [Path(shutil.copy2(target / p.name, staged / p.name)) for p in sources]


def _on_config_inited(app, config):
    docs = Path(app.srcdir)
    stage(Path(config.executed_notebooks_root), docs, docs / "notebooks")


def setup(app):
    app.add_config_value("executed_notebooks_root", "..", "env")
    app.connect("config-inited", _on_config_inited)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
