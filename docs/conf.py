"""Sphinx configuration of the twinflow documentation (build: sphinx-build -W -b html docs docs/_build/html)."""
import re
from importlib import metadata

project = "twinflow"
author = "the twinflow developers"
copyright = "2026, the twinflow developers"
try:
    release = metadata.version("twinflow")
except metadata.PackageNotFoundError:   # building from a checkout that is not installed
    release = "unknown"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",       # NumPy-style docstring sections
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "myst_parser",               # the pages are Markdown
    "sphinx_gallery.gen_gallery",  # examples/gallery/plot_*.py run at build time, pictures included
]
sphinx_gallery_conf = {
    "examples_dirs": "../examples/gallery",
    "gallery_dirs": "gallery",
    "filename_pattern": "/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "image_scrapers": ("matplotlib",),
}
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
exclude_patterns = ["_build", "gallery/*.md5", "gallery/*.py", "gallery/*.ipynb"]

autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_mock_imports = ["cupy", "cupyx"]
napoleon_numpy_docstring = True
napoleon_google_docstring = False
napoleon_use_ivar = True          # "Attributes" sections as fields: dataclass members are not described twice
nitpicky = False
# ref.python: type texts such as "(n, d) array" make ambiguous cross-references to attributes named d or x
suppress_warnings = ["myst.header", "ref.python"]

html_theme = "alabaster"
html_title = f"twinflow {release}"


# The docstrings are plain text with mathematics written inline (|x|, Σ*, *shape, mass_n - mass_0): escape the
# characters that reStructuredText would read as markup, before napoleon reads the NumPy sections. ``literals``
# and :role:`targets` are left as they are.
_LITERAL = re.compile(r"(``.+?``|:[a-z:]+:`[^`]+`)")


def _escape(text: str) -> str:
    parts = _LITERAL.split(text)
    for i in range(0, len(parts), 2):
        parts[i] = parts[i].replace("\\", "\\\\").replace("*", "\\*").replace("|", "\\|").replace("_ ", "\\_ ")
    return "".join(parts)


def _plain_text_docstrings(app, what, name, obj, options, lines):  # noqa: ANN001 - Sphinx event signature
    for i, line in enumerate(lines):
        stripped = line.lstrip()
        bullet = stripped.startswith(("* ", "- "))
        head, body = (line[: len(line) - len(stripped) + 2], stripped[2:]) if bullet else ("", line)
        lines[i] = head + _escape(body)


def setup(app):  # noqa: ANN001
    app.connect("autodoc-process-docstring", _plain_text_docstrings, priority=100)   # before napoleon (500)
