"""Write one API page per module of the package, found by walking it (so new modules appear by
themselves), into ``api/generated/``: the module's docstring, a toctree of its submodules, summary tables of
the classes, exceptions and functions it defines, then every public member it defines, in source order
(classes with their members, functions, documented module attributes).

Why not ``autosummary :recursive:``: it finds a module through its parent's attributes, so a package that
re-exports a function under its module's name (``analysis.population`` exports ``pca`` from ``pca.py``)
would get the function's page instead of the module's. Here modules are imported by name. Private
modules (a name part starting with ``_``, ``__main__`` included) are left out.
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

from sphinx.pycode import ModuleAnalyzer
from sphinx.util import logging

logger = logging.getLogger(__name__)


def module_names(package: str) -> list[str]:
    """The package and every public module under it, sorted."""
    root = importlib.import_module(package)
    names = [package]
    for info in pkgutil.walk_packages(root.__path__, prefix=package + "."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        names.append(info.name)
    return sorted(names)


def defined_members(module) -> dict[str, list[str]]:
    """Public members ``module`` defines (not those it imports), in source order, by kind: ``classes``,
    ``exceptions``, ``functions``, and ``data`` (module attributes with a ``#:`` comment or a docstring)."""
    analyzer = ModuleAnalyzer.for_module(module.__name__)
    documented = {name for scope, name in analyzer.find_attr_docs() if scope == ""}
    order = analyzer.tagorder
    out = {"classes": [], "exceptions": [], "functions": [], "data": []}
    for name, value in vars(module).items():
        if name.startswith("_"):
            continue
        if inspect.isclass(value) or inspect.isfunction(value):
            if getattr(value, "__module__", None) != module.__name__:
                continue
            kind = ("exceptions" if issubclass(value, BaseException) else "classes") if inspect.isclass(value) \
                else "functions"
        elif name in documented:
            kind = "data"
        else:
            continue
        out[kind].append(name)
    for items in out.values():
        items.sort(key=lambda n: order.get(n, len(order)))
    return out


DIRECTIVES = {"classes": "autoclass", "exceptions": "autoexception", "functions": "autofunction", "data": "autodata"}
HEADINGS = {"classes": "Classes", "exceptions": "Exceptions", "functions": "Functions"}


def page(name: str, children: list[str]) -> str:
    """The reStructuredText of module ``name``'s page: docstring, submodules, summary tables, members."""
    module = importlib.import_module(name)
    title = name.replace("_", r"\_")
    lines = [title, "=" * len(title), "", f".. automodule:: {name}", "   :no-members:", ""]
    if children:
        lines += [".. rubric:: Modules", "", ".. toctree::", "   :maxdepth: 1", ""]
        lines += [f"   {child}" for child in children] + [""]
    members = defined_members(module)
    for kind, heading in HEADINGS.items():
        if members[kind]:
            lines += [f".. rubric:: {heading}", "", ".. autosummary::", "   :nosignatures:", ""]
            lines += [f"   {item}" for item in members[kind]] + [""]
    everything = sorted(((kind, item) for kind, items in members.items() for item in items),
                        key=lambda ki: ModuleAnalyzer.for_module(name).tagorder.get(ki[1], 10**9))
    if everything:
        lines += [".. rubric:: Reference", ""]
    for kind, item in everything:
        lines += [f".. {DIRECTIVES[kind]}:: {item}", ""]
    return "\n".join(lines)


def write_pages(package: str, outdir: Path) -> list[str]:
    """Write (only where changed) one page per module into ``outdir``; remove stale ones. Returns the names."""
    outdir.mkdir(parents=True, exist_ok=True)
    names = module_names(package)
    wanted = set()
    for name in names:
        children = [n for n in names if n.rsplit(".", 1)[0] == name and n != name]
        text = page(name, children)
        path = outdir / f"{name}.rst"
        wanted.add(path.name)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
    for stale in outdir.glob("*.rst"):
        if stale.name not in wanted:
            stale.unlink()
    return names


def _on_builder_inited(app):
    names = write_pages(app.config.api_pages_package, Path(app.srcdir) / "api" / "generated")
    logger.info(f"api_pages: {len(names)} module pages")


def setup(app):
    app.add_config_value("api_pages_package", "", "env")
    app.connect("builder-inited", _on_builder_inited)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
