"""Sphinx configuration of the motornet_fn documentation.

Build from the repository root: ``python -m sphinx -W -n --keep-going -b html docs docs/_build/html``.
The notebooks are rendered from the copies the notebook test executed (``docs/_ext/executed_notebooks.py``);
links inside the site are checked after the build (``docs/_ext/internal_links.py``).
"""
from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))  # document this checkout's package, wherever sphinx is run from
sys.path.insert(0, str(DOCS / "_ext"))

import motornet_fn  # noqa: E402

project = "motornet_fn"
author = "the motornet_fn developers"
copyright = "the motornet_fn developers; GPL-3.0-or-later"
release = version = motornet_fn.__version__

extensions = [
    "myst_nb",  # Markdown pages and the notebooks (it includes myst_parser)
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",  # the summary tables of the module pages
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # serves MathJax from _static/mathjax: equations render without internet
    "api_pages",  # docs/_ext: one API page per module of the package, found by walking it
    "api_refs",  # docs/_ext: references to re-exported names and short names resolve
    "executed_notebooks",  # docs/_ext: renders the notebook test's executed copies (no second run)
    "internal_links",  # docs/_ext: fails the build on a link to a missing local file
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "_executed", "**.ipynb_checkpoints", "README.md"]
root_doc = "index"

# ------------------------------------------------------------------------------------------- HTML
html_theme = "furo"
html_title = f"motornet_fn {release}"
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_show_sourcelink = False
html_last_updated_fmt = None

# ------------------------------------------------------------------------------------------- math
# MathJax 3 comes with the site (sphinx-mathjax-offline copies it into _static/mathjax); setup() below
# picks its SVG output, which needs no web fonts (a page opened from file:// may not load fonts).

# --------------------------------------------------------------------------------------- MyST / nb
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
nb_execution_mode = "off"  # the executed copies come from the notebook test (see the module docstring)
nb_output_stderr = "show"
nb_merge_streams = True

# ----------------------------------------------------------------------------------------- autodoc
api_pages_package = api_refs_package = "motornet_fn"
autosummary_generate = False  # the pages come from docs/_ext/api_pages.py; autosummary only draws tables
autodoc_default_options = {
    "members": True,
    "undoc-members": True,
    "ignore-module-all": True,
    "member-order": "bysource",
    "show-inheritance": True,
}
add_module_names = False  # "HillParams(...)", not "motornet_fn.core.muscles.rigid_tendon.HillParams(...)"
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
autodoc_class_signature = "mixed"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True  # NamedTuple "Attributes:" become fields, not duplicate attribute entries
napoleon_use_rtype = False

# Every cross-reference must resolve (-n). The build has no internet, so there is no intersphinx:
# references to the standard library, torch, numpy, matplotlib and friends are left unlinked.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(.*\.)?_.*"),  # private names (bases such as RecordedModule, helpers): not documented by design
    # external types in signatures (torch.Tensor, numpy.ndarray, pathlib.Path, ...)
    (r"py:.*", r"(torch|numpy|np|pathlib|matplotlib|contextlib|argparse|gymnasium|threading)(\..*)?"),
]

# -------------------------------------------------------------------------------------- linkcheck
# Links inside the site are checked by docs/_ext/internal_links.py in every html build. Should someone run
# `-b linkcheck` offline, it would only check local links:
linkcheck_ignore = [r"https?://.*", r"mailto:.*"]
linkcheck_anchors = False


# --------------------------------------------------------------------------------------- notebooks
executed_notebooks_root = str(ROOT)  # docs/_ext/executed_notebooks.py stages ROOT/notebooks/*.ipynb


# ------------------------------------------------------------------------------------------- hooks
def skip_member(app, what, name, obj, skip, options):
    """Leave out NamedTuple field accessors ("Alias for field number N"): the class docstring's
    Attributes block describes the fields."""
    doc = getattr(obj, "__doc__", None) or ""
    if isinstance(doc, str) and doc.startswith("Alias for field number"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", skip_member)
    # after the sphinx-mathjax-offline extension, which points mathjax_path at its CHTML bundle
    app.config.mathjax_path = "mathjax/tex-svg.js"
