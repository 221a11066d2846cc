"""Put the launch links and the Colab install cell at the top of every notebook, without running any.

    python tools/launch_cells.py            # insert or update, in notebooks/ and solutions/
    python tools/launch_cells.py --check    # write nothing; exit 1 if a notebook lacks the cells or has stale ones
    python -m lrcourse exercises            # then: exercises/ gets the cells from solutions/

Each notebook gets two cells, found again by their tags (so a rerun updates them in place):

* ``launch-links`` (markdown, the first cell): Binder and Colab links to the notebook. A solution notebook
  links to its *exercise* (``exercises/NN_topic.ipynb``): exercises are generated from solutions, and the
  learner opens the exercise.
* ``colab-install`` (code, just before the first other code cell): installs lrcourse at this version where
  it is missing; a no-op with no output where it is installed (``lrcourse/colab.py``).

Outputs are kept as committed. Execution counts are renumbered 1..n in cell order (the install cell, which
prints nothing where lrcourse is installed, takes count 1), as ``tools/nbrun.py`` numbers them.
"""
from __future__ import annotations

import argparse
import pathlib
import sys

import nbformat

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lrcourse import colab  # noqa: E402  (the repository's copy, installed or not)

FOLDERS = {"notebooks": "notebooks", "solutions": "exercises"}  # folder -> where its links point


def _tagged(nb, tag):
    return [c for c in nb.cells if tag in c.metadata.get("tags", [])]


def with_launch_cells(nb, link_path: str, version: str = colab.__version__, repository: str = colab.REPOSITORY,
                      branch: str = colab.BRANCH):
    """A copy of ``nb`` with up-to-date launch cells (idempotent: applying it twice changes nothing)."""
    nb = nbformat.from_dict(nb)  # a deep copy
    old = {id(c) for c in _tagged(nb, colab.LINKS_TAG) + _tagged(nb, colab.INSTALL_TAG)}
    cells = [c for c in nb.cells if id(c) not in old]
    links = nbformat.v4.new_markdown_cell(colab.links_markdown(link_path, repository, branch),
                                          metadata={"tags": [colab.LINKS_TAG]})
    install = nbformat.v4.new_code_cell(colab.install_cell_source(version, repository),
                                        metadata={"tags": [colab.INSTALL_TAG]})
    links.id, install.id = colab.LINKS_TAG, colab.INSTALL_TAG  # stable ids: reruns give the same file
    first_code = next((i for i, c in enumerate(cells) if c.cell_type == "code"), len(cells))
    cells.insert(first_code, install)
    cells.insert(0, links)
    count = 0
    for cell in cells:
        if cell.cell_type == "code":
            count += 1
            cell.execution_count = count
            for out in cell.get("outputs", []):
                if "execution_count" in out:
                    out["execution_count"] = count
    nb.cells = cells
    return nb


def notebooks(root: pathlib.Path = ROOT):
    """(path, the path its launch links open) for every notebook that carries launch cells."""
    for folder, target in FOLDERS.items():
        for path in sorted((root / folder).glob("*.ipynb")):
            yield path, f"{target}/{path.name}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="write nothing; exit 1 if any notebook is not up to date")
    ap.add_argument("--root", type=pathlib.Path, default=ROOT, help="repository root (default: this one)")
    args = ap.parse_args(argv)
    stale = []
    for path, link_path in notebooks(args.root):
        text = path.read_text()
        new = nbformat.writes(with_launch_cells(nbformat.reads(text, as_version=4), link_path)) + "\n"
        if new != text:
            stale.append(path)
            if not args.check:
                path.write_text(new)
                print(f"updated {path.relative_to(args.root)}")
    if args.check and stale:
        for path in stale:
            print(f"launch cells missing or out of date: {path.relative_to(args.root)}")
        print("run `python tools/launch_cells.py`, then `python -m lrcourse exercises`", file=sys.stderr)
        return 1
    if args.check:
        print("launch cells up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
