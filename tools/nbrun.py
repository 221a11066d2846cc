"""Execute notebooks in place and store clean outputs (for authors, not for learners).

    python tools/nbrun.py notebooks/03_exponential_decay.ipynb [more.ipynb ...] [--timeout 120]

Runs each notebook top to bottom in a fresh kernel from its own folder, the way nbval
does, keeps the outputs (plots included, so the repository shows them), and removes what
is noise in a diff: saved widget state and per-cell timing metadata.  Execution counts are
renumbered 1, 2, 3, ... in cell order (nbval needs a count on every cell with outputs, and
sequential counts do not change from one run to the next).
Cells tagged ``raises-exception`` may fail.  Prints the wall time of each notebook.
"""
from __future__ import annotations

import argparse
import pathlib
import sys
import time

import nbformat
from nbclient import NotebookClient


def clean(nb) -> None:
    nb.metadata.pop("widgets", None)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata.setdefault("language_info", {"name": "python"})
    for lang_key in ("version", "codemirror_mode", "pygments_lexer", "nbconvert_exporter", "mimetype", "file_extension"):
        nb.metadata["language_info"].pop(lang_key, None)
    count = 0
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("ExecuteTime", None)
        if cell.cell_type == "code":
            count += 1
            cell.execution_count = count
            for out in cell.outputs:
                if "execution_count" in out:
                    out["execution_count"] = count


def execute(path: pathlib.Path, timeout: int) -> float:
    nb = nbformat.read(path, as_version=4)
    t0 = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    elapsed = time.perf_counter() - t0
    clean(nb)
    nbformat.validate(nb)
    nbformat.write(nb, path)
    return elapsed


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebooks", nargs="+", type=pathlib.Path)
    ap.add_argument("--timeout", type=int, default=120, help="seconds per cell")
    args = ap.parse_args(argv)
    for path in args.notebooks:
        elapsed = execute(path, args.timeout)
        size = path.stat().st_size / 1e3
        print(f"{path}: {elapsed:.1f} s, {size:.0f} kB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
