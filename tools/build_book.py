"""Build the course website from the committed notebooks:  ``make book``  (``SOLUTIONS=1`` adds the solutions).

    python tools/build_book.py [--out build/book] [--solutions]

Stages the sources next to the output (``<out>-src``: notebooks/, exercises/, docs/instructors.md, and
solutions/ when asked), changing only the copies:

* the index gets the syllabus as the site's navigation (a hidden toctree);
* under every panel's saved picture, one line on how to run it live;
* the notebooks' own launch cells (``tools/launch_cells.py``) are hidden: the theme's launch buttons
  give the same Binder and Colab links on every page.

then runs ``sphinx-build -W`` (warnings are errors) with ``book/conf.py``. Nothing is executed: outputs are
shown as committed. The site opens from disk (``<out>/index.html``) or from any static host.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import subprocess
import sys
import time

import nbformat

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lrcourse import colab  # noqa: E402

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
PANEL_NOTE = "*The panel's saved picture: to move its controls, launch this page (buttons above) or run `make lab`.*"


def _syllabus(solutions: bool) -> str:
    lessons = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb") if not p.stem.startswith("00"))
    exercises = sorted(p.stem for p in (ROOT / "exercises").glob("*.ipynb"))
    parts = [("Lessons", [f"/notebooks/{s}" for s in lessons]),
             ("Interactive panels", ["/notebooks/widgets_tour"]),
             ("Exercises", [f"/exercises/{s}" for s in exercises])]
    if solutions:
        parts.append(("Solutions", [f"/solutions/{p.stem}" for p in sorted((ROOT / "solutions").glob("*.ipynb"))]))
    parts.append(("For instructors", ["/docs/instructors"]))
    return "\n\n".join(f"```{{toctree}}\n:hidden:\n:caption: {caption}\n\n" + "\n".join(docs) + "\n```"
                       for caption, docs in parts)


def staged_notebook(path: pathlib.Path, syllabus: str | None = None):
    """The notebook as the site shows it (see the module docstring)."""
    nb = nbformat.read(path, as_version=4)
    cells = []
    for cell in nb.cells:
        tags = cell.metadata.get("tags", [])
        if colab.LINKS_TAG in tags or colab.INSTALL_TAG in tags:
            cell.metadata["tags"] = [*tags, "remove-cell"]
        cells.append(cell)
        if cell.cell_type == "code" and any(WIDGET_VIEW in o.get("data", {}) for o in cell.get("outputs", [])):
            cells.append(nbformat.v4.new_markdown_cell(PANEL_NOTE))
    if syllabus:
        cells.append(nbformat.v4.new_markdown_cell(syllabus))
    nb.cells = cells
    for i, cell in enumerate(nb.cells):  # the added cells need ids that do not clash
        cell.id = f"c{i}"
    return nb


def _write_if_changed(path: pathlib.Path, text: str) -> None:
    """Unchanged sources keep their mtime, so a rebuild only re-reads what changed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def stage(src: pathlib.Path, solutions: bool) -> tuple[list[str], bool]:
    """Write the book's sources into ``src``; returns their paths relative to it, and whether any went away."""
    folders = ["notebooks", "exercises"] + (["solutions"] if solutions else [])
    wanted = {}
    for folder in folders:
        for path in sorted((ROOT / folder).glob("*.ipynb")):
            syllabus = _syllabus(solutions) if path.stem == "00_index" else None
            wanted[f"{folder}/{path.name}"] = nbformat.writes(staged_notebook(path, syllabus))
    wanted["docs/instructors.md"] = (ROOT / "docs" / "instructors.md").read_text()
    for rel, text in wanted.items():
        _write_if_changed(src / rel, text)
    removed = [p for p in src.rglob("*") if p.is_file() and p.suffix in (".ipynb", ".md")
               and p.relative_to(src).as_posix() not in wanted]
    for stale in removed:
        stale.unlink()
    return sorted(wanted), bool(removed)


def build(out: pathlib.Path, solutions: bool = False, jobs: str = "auto") -> float:
    """Stage and build; returns the wall time in seconds. Raises CalledProcessError on any warning."""
    t0 = time.monotonic()
    out = out.resolve()
    src = out.with_name(out.name + "-src")
    _, removed = stage(src, solutions)
    if removed:  # Sphinx keeps the pages of removed sources (the solutions, say): start from an empty site
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(src / ".doctrees", ignore_errors=True)
    env = dict(os.environ, LRCOURSE_BOOK_SOLUTIONS="1" if solutions else "0", PYDEVD_DISABLE_FILE_VALIDATION="1")
    subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-q", "-j", jobs,
                    "-c", str(ROOT / "book"), "-d", str(src / ".doctrees"), str(src), str(out)],
                   check=True, env=env)
    return time.monotonic() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=pathlib.Path, default=ROOT / "build" / "book")
    ap.add_argument("--solutions", action="store_true", help="add the solution notebooks (not for learners)")
    ap.add_argument("--clean", action="store_true", help="remove the output and the staged sources first")
    ap.add_argument("-j", "--jobs", default="auto", help="sphinx-build processes (default: one per core)")
    args = ap.parse_args(argv)
    if args.clean:
        shutil.rmtree(args.out, ignore_errors=True)
        shutil.rmtree(args.out.with_name(args.out.name + "-src"), ignore_errors=True)
    try:
        seconds = build(args.out, args.solutions, args.jobs)
    except subprocess.CalledProcessError as e:
        print(f"the book did not build (sphinx-build exit status {e.returncode}; warnings count as errors)",
              file=sys.stderr)
        return 1
    print(f"built {args.out / 'index.html'} in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
