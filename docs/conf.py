"""Sphinx configuration of the skmoe documentation.

Build from the repository root (no network needed):

    python -m pip install ".[docs]"
    sphinx-build -W --keep-going -b html docs docs/_build/html

The user guide and the landing page are Markdown (MyST, with ``$...$``
math); the API reference is generated from the numpydoc docstrings; the
gallery runs every script of ``examples/`` with sphinx-gallery.
"""

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# document (and run the gallery against) the working tree's skmoe, and find
# the gallery helpers next to this file
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))
os.environ.setdefault("MPLBACKEND", "Agg")

import skmoe  # noqa: E402

project = "skmoe"
author = "the skmoe developers"
copyright = "the skmoe developers, BSD-3-Clause"
release = skmoe.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    # a copy of MathJax in the built site, so that formulas render offline too
    "sphinx-mathjax-offline",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.json", "auto_examples/*.md5",
                    "auto_examples/*.codeobj.json"]
templates_path = ["_templates"]

# -- Markdown (MyST) ------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath"]
# $$...$$ on a continuation line of a paragraph or list item is display math
myst_dmath_double_inline = True
myst_heading_anchors = 3

# -- API reference ------------------------------------------------------------------
autosummary_generate = True
autodoc_typehints = "none"
autodoc_default_options = {"members": True, "inherited-members": True}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
# the page's table of contents lists "fit", not "MixtureOfExpertsRegressor.fit"
toc_object_entries_show_parents = "hide"

# -- gallery ----------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    # run every script, not only plot_*.py (quickstart.py too)
    "filename_pattern": r"\.py$",
    "within_subsection_order": "gallery_helpers.ExampleOrder",
    # each script takes --out PATH for its figure; point it into the build tree
    "reset_argv": "gallery_helpers.reset_argv",
    "doc_module": ("skmoe",),
    "backreferences_dir": "gen_modules/backreferences",
    "reference_url": {"skmoe": None},
    "abort_on_example_error": True,
    "remove_config_comments": True,
    "show_memory": False,
    "download_all_examples": False,
    "min_reported_time": 0,
}

# -- HTML -------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"skmoe {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "footer_start": ["copyright"],
    "footer_end": [],
    "secondary_sidebar_items": ["page-toc"],
}
html_show_sourcelink = False


# -- docstring clean-up ------------------------------------------------------------
# Two things in docstrings would otherwise be Sphinx warnings:
# * methods inherited from scikit-learn (score, get_params, set_*_request, ...)
#   refer to labels and glossary terms of scikit-learn's own documentation,
#   which is not available offline: those roles become plain text;
# * in numpydoc type specifications such as ``ndarray of shape (n_iter_ + 1,)``
#   a bare name ending in ``_`` is reStructuredText for a link: it is escaped.
import re  # noqa: E402

_SKLEARN_ROLE = re.compile(r":(?:ref|term):`([^`<]*?)\s*(?:<[^`>]*>)?`")
_TYPE_LINE = re.compile(r"^(\s*\w[\w, ]* : )(.*)$")
_TRAILING_UNDERSCORE = re.compile(r"(?<![`\w])([A-Za-z]\w*?)_(?=[\s,)+\]]|$)")


def _clean_docstring(app, what, name, obj, options, lines):
    module = getattr(obj, "__module__", "") or ""
    if module.startswith("sklearn"):
        lines[:] = [_SKLEARN_ROLE.sub(r"\1", line) for line in lines]
    for i, line in enumerate(lines):
        match = _TYPE_LINE.match(line)
        if match:
            head, spec = match.groups()
            lines[i] = head + _TRAILING_UNDERSCORE.sub(r"\1\\_", spec)


def setup(app):
    # before numpydoc (priority 500) turns the sections into reST
    app.connect("autodoc-process-docstring", _clean_docstring, priority=100)
