"""The documentation's code: every ```python block of the hand-written pages runs, printing what its
comments say it prints, and the docs build's notebook staging agrees with the notebook test.

A page's blocks run in order in one namespace, with the working directory a temporary directory. An
expected output is a comment line ``# <text>`` right after a line that calls ``print(`` (or after
another expected line); the printed lines must equal them, in order. Blocks written as
```{code-block} python``` are illustrations and are not run (the pages say why).
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
GENERATED = ("_build", "_executed", "notebooks", "api/generated")
PAGES = sorted(p for p in DOCS.rglob("*.md")
               if not any(p.relative_to(DOCS).as_posix().startswith(g) for g in GENERATED))
FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def blocks(page: Path) -> list[str]:
    return FENCE.findall(page.read_text(encoding="utf-8"))


def expected_output(code: str) -> list[str]:
    """The ``# text`` comment lines that follow a ``print(`` line (or another expected line)."""
    out, after_print = [], False
    for line in code.splitlines():
        if after_print and line.startswith("# "):
            out.append(line[2:])
            continue
        after_print = "print(" in line
    return out


RUNNABLE = [p for p in PAGES if blocks(p)]


def test_the_pages_with_code_are_found():
    names = {p.relative_to(DOCS).as_posix() for p in RUNNABLE}
    assert {"concepts/pytrees.md", "concepts/engine.md", "concepts/batching.md", "concepts/randomness.md"} <= names


@pytest.mark.parametrize("page", RUNNABLE, ids=lambda p: p.relative_to(DOCS).as_posix())
def test_page_code_runs_and_prints_what_it_says(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    for i, code in enumerate(blocks(page)):
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(code, f"{page.name}[block {i + 1}]", "exec"), namespace)
        assert printed.getvalue().splitlines() == expected_output(code), f"{page.name}, block {i + 1}"


def _load_extension(name: str):
    pytest.importorskip("sphinx")
    spec = importlib.util.spec_from_file_location(name, DOCS / "_ext" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_executed_notebook_stamps_are_what_the_docs_build_checks(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    from tests.test_notebooks import save_executed

    staging = _load_extension("executed_notebooks")
    monkeypatch.setenv("MOTORNET_FN_EXECUTED_NOTEBOOKS", str(tmp_path / "executed"))
    source = tmp_path / "01_demo.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")])
    nbformat.write(nb, source)
    saved = save_executed(nbformat.read(source, as_version=4), source)
    assert saved.parent == staging.executed_dir(DOCS)
    assert staging.is_current(saved, source)
    source.write_text(source.read_text().replace("1 + 1", "2 + 2"))
    assert not staging.is_current(saved, source)  # a changed notebook makes its copy stale


def test_docs_build_refuses_missing_notebooks_when_told_not_to_execute(tmp_path, monkeypatch):
    staging = _load_extension("executed_notebooks")
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "01_demo.ipynb").write_text("{}")
    monkeypatch.setenv("MOTORNET_FN_EXECUTED_NOTEBOOKS", str(tmp_path / "nothing"))
    monkeypatch.setenv("MOTORNET_FN_DOCS_EXECUTE", "never")
    with pytest.raises(staging.NotebooksNotExecuted, match=r"01_demo.ipynb.*python -m pytest -q tests/test_notebooks.py"):
        staging.stage(tmp_path, tmp_path, tmp_path / "staged")


def test_api_pages_cover_every_public_module():
    api = _load_extension("api_pages")
    names = api.module_names("motornet_fn")
    assert {"motornet_fn", "motornet_fn.core.muscles.rigid_tendon", "motornet_fn.analysis.population.pca",
            "motornet_fn.cli"} <= set(names)
    assert not [n for n in names if any(part.startswith("_") for part in n.split("."))]  # no __main__, _module
    # the module, not the function analysis.population re-exports under the same name
    text = api.page("motornet_fn.analysis.population.pca", [])
    assert ".. automodule:: motornet_fn.analysis.population.pca" in text and "   PCAResult" in text


def test_internal_link_check_finds_broken_links(tmp_path):
    links = _load_extension("internal_links")
    (tmp_path / "a.html").write_text('<p id="here"></p><a href="b.html#there">b</a><a href="#here">self</a>'
                                     '<a href="https://example.org/x">external</a>')
    (tmp_path / "b.html").write_text('<p id="there"></p><a href="missing.html">gone</a>'
                                     '<a href="a.html#nowhere">bad anchor</a><img src="_images/x.png">')
    problems = links.broken_links(tmp_path)
    assert [(page, link) for page, link, _ in problems] == [
        ("b.html", "missing.html"), ("b.html", "a.html#nowhere"), ("b.html", "_images/x.png")]
