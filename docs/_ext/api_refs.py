"""Cross-references as the package's docstrings write them.

* :func:`resolve` (``missing-reference``): a Python reference that Sphinx cannot find links to the object's
  documentation when :func:`candidates_for` finds exactly one documented object for it: a full name where
  the object is re-exported (``motornet_fn.core.tasks.Draw``, defined in ``motornet_fn.core.tasks.base``);
  a member the class in context inherits from a documented base; a name the module in context imports
  (``ReluMuscle`` in :mod:`motornet_fn.effector` is :class:`motornet_fn.muscle.ReluMuscle`); else a short name
  that only one documented object ends with (preferring the module, then the package, in context).
  Anything else stays unresolved: a warning under ``-n``.
* :func:`split_ivar_groups`: an ``Attributes:`` entry naming several fields (``low, high: bounds``) becomes
  one field per name.
* :func:`napoleon_as_prose` replaces napoleon's ``autodoc-process-docstring`` handler: napoleon reads the
  first line of an attribute's docstring as ``type: description``, so ``#: seconds spent in the first
  call: {...}`` would become a type named "seconds spent in the first call". The package writes attribute
  docstrings as prose (their types are in the annotations), so attribute, data and property docstrings go
  through napoleon as a function's would: sections still parse, the first line stays text.
"""
from __future__ import annotations

import importlib
import inspect
import re

from sphinx.util.nodes import make_refnode

PY_ROLES_TO_TYPES = {
    "class": ("class", "exception", "data", "attribute"), "exc": ("exception", "class"),
    "func": ("function", "method"), "meth": ("method", "function", "property"),
    "attr": ("attribute", "property", "data"), "data": ("data", "attribute"), "mod": ("module",),
    "obj": ("class", "exception", "function", "method", "property", "attribute", "data", "module"),
    "const": ("data", "attribute"),
}


def _by_import(target: str) -> str | None:
    """The defining name (module.qualname) of a dotted ``target`` found by importing its longest module prefix."""
    parts = target.split(".")
    for i in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
        return f"{module}.{qualname}" if module and qualname else None
    return None


def _import_object(module: str, qualname: str):
    try:
        obj = importlib.import_module(module)
        for attr in qualname.split("."):
            obj = getattr(obj, attr)
        return obj
    except (ImportError, AttributeError):
        return None


def candidates_for(target: str, objects: dict, types: tuple, package: str, module: str | None,
                   cls: str | None) -> list[str]:
    """Documented names that ``target`` can designate (see the module docstring)."""
    if target.startswith(package + "."):  # a full name: where the object is defined
        defined = _by_import(target)
        return [defined] if defined in objects else []
    if module and cls:  # a member of the class in context, inherited from a documented base
        owner = _import_object(module, cls)
        for base in inspect.getmro(owner) if inspect.isclass(owner) else ():
            name = f"{base.__module__}.{base.__qualname__}.{target}"
            if name in objects:
                return [name]
    if module:  # a name the module in context imported or defines
        obj = _import_object(module, target)
        name = f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}"
        if obj is not None and name in objects:
            return [name]
    suffix = "." + target
    found = [name for name, entry in objects.items()
             if name.endswith(suffix) and entry.objtype in types and not entry.aliased]
    if len(found) > 1 and module:  # prefer the module in context, then its package
        for scope in (module, module.rsplit(".", 1)[0]):
            near = [name for name in found if name.startswith(scope + ".")]
            if near:
                return near
    return found


def resolve(app, env, node, contnode):
    if node.get("refdomain") != "py":
        return None
    objects = env.get_domain("py").objects
    types = PY_ROLES_TO_TYPES.get(node.get("reftype"), PY_ROLES_TO_TYPES["obj"])
    found = candidates_for(node["reftarget"].lstrip("~."), objects, types, app.config.api_refs_package,
                           node.get("py:module"), node.get("py:class"))
    if len(found) != 1:
        return None
    entry = objects[found[0]]
    return make_refnode(app.builder, node["refdoc"], entry.docname, entry.node_id, contnode, found[0])


IVAR_GROUP = re.compile(r"^(\s*):ivar ([^:`]+,[^:`]*):(.*)$")


def split_ivar_groups(lines: list[str]) -> list[str]:
    """``:ivar a, b: text`` (napoleon's rendering of ``a, b: text`` under Attributes) as one field per name:
    Sphinx would read ``a,`` as the type of ``b``."""
    out, i = [], 0
    while i < len(lines):
        match = IVAR_GROUP.match(lines[i])
        if not match:
            out.append(lines[i])
            i += 1
            continue
        indent, names, first = match.groups()
        body = [first]
        i += 1
        while i < len(lines) and lines[i].strip() and len(lines[i]) - len(lines[i].lstrip()) > len(indent):
            body.append(lines[i])
            i += 1
        for field in (n.strip() for n in names.split(",") if n.strip()):
            out += [f"{indent}:ivar {field}:{body[0]}", *body[1:]]
    return out


def napoleon_as_prose(app, what, name, obj, options, lines):
    from sphinx.ext.napoleon import _process_docstring

    prose = what in ("attribute", "data", "property")
    _process_docstring(app, "function" if prose else what, name, obj, options, lines)
    lines[:] = split_ivar_groups(lines)


def setup(app):
    from sphinx.ext.napoleon import _process_docstring

    app.setup_extension("sphinx.ext.napoleon")
    for listener in list(app.events.listeners.get("autodoc-process-docstring", [])):
        if listener.handler is _process_docstring:
            app.disconnect(listener.id)
            app.connect("autodoc-process-docstring", napoleon_as_prose, priority=listener.priority)
    app.add_config_value("api_refs_package", "", "env")
    app.connect("missing-reference", resolve)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

