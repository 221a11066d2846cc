"""Sphinx configuration of the course website (``make book``; ``tools/build_book.py`` stages the sources).

Sphinx + MyST-NB + sphinx-book-theme: every page is rendered from the committed notebooks with their
committed outputs (no execution), math is typeset by a copy of MathJax 3 served with the site (SVG output:
no web fonts, so it also renders from file://), search is Sphinx's own (an index in the site, no server).
"""
from __future__ import annotations

import shutil
import sys
from importlib import util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "book")]

from lrcourse import __version__, colab  # noqa: E402

project = "lrcourse"
author = "the lrcourse authors"
copyright = "the lrcourse authors, MIT licence"
version = release = __version__
root_doc = "notebooks/00_index"
exclude_patterns = [".doctrees", "_build"]
extensions = ["myst_nb"]

# ---------------------------------------------------------------- notebooks: as committed, never executed
nb_execution_mode = "off"
# A panel (ipywidgets) has no saved widget state, so its live view cannot render on a static page: show the
# picture its _repr_mimebundle_ saved with the notebook instead (tools/build_book.py adds a note under it).
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None)]
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_dmath_double_inline = True  # $$...$$ inside a paragraph, as Jupyter renders it
myst_heading_anchors = 4
myst_heading_slug_func = "anchors.jupyter_anchor"  # book/anchors.py: JupyterLab's anchors

# ---------------------------------------------------------------- math: MathJax 3 from the site itself
mathjax_path = "mathjax/tex-svg.js"


def _copy_mathjax(app, exc):
    """Ship MathJax 3.2.2 (from the sphinx-mathjax-offline wheel) in _static/mathjax; SVG output needs no fonts."""
    if exc is not None or app.builder.format != "html":
        return
    spec = util.find_spec("sphinx-mathjax-offline")
    if spec is None or spec.origin is None:
        raise RuntimeError("MathJax is served with the site: pip install -e '.[book]' (sphinx-mathjax-offline)")
    source = Path(spec.origin).parent / "static" / "mathjax"
    target = Path(app.outdir) / "_static" / "mathjax"
    if not (target / "tex-svg.js").exists():
        # what tex-svg.js loads: itself, the TeX extensions it autoloads, the menu; not the CHTML fonts or speech
        shutil.copytree(source, target, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("chtml", "sre", "tex-chtml*", "tex-mml*", "mml-*", "node-main.js"))


def _landing_page(app, exc):
    """index.html at the site's root opens the course's index (static hosts and file:// alike)."""
    if exc is None and app.builder.format == "html":
        target = "notebooks/00_index.html"
        (Path(app.outdir) / "index.html").write_text(
            f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>lrcourse</title>\n'
            f'<meta http-equiv="refresh" content="0; url={target}"></head>\n'
            f'<body><p><a href="{target}">The course starts here.</a></p></body></html>\n')


def setup(app):
    app.connect("build-finished", _copy_mathjax)
    app.connect("build-finished", _landing_page)


# ---------------------------------------------------------------- the site
html_theme = "sphinx_book_theme"
html_title = f"lrcourse {__version__}"
# the theme's sidebar without its second search field: the header's field searches the same index
html_sidebars = {"**": ["navbar-logo.html", "icon-links.html", "sbt-sidebar-nav.html"]}
html_static_path = ["_static"]
html_css_files = ["lrcourse.css"]
html_last_updated_fmt = None
html_show_sphinx = False
html_theme_options = {
    "repository_url": colab.REPOSITORY,
    "repository_branch": colab.BRANCH,
    "path_to_docs": "",  # the book's pages keep the repository's layout: notebooks/, exercises/, docs/
    "use_repository_button": True,
    "launch_buttons": {"binderhub_url": colab.BINDER, "colab_url": colab.COLAB, "notebook_interface": "jupyterlab"},
    "home_page_in_toc": True,
    "show_toc_level": 2,
    "navigation_with_keys": False,
}
