"""Generate ``exercises/`` from ``solutions/``: ``python -m lrcourse exercises [--check]``.

``solutions/NN_topic.ipynb`` is the single source.  Every region between
``### BEGIN SOLUTION`` and ``### END SOLUTION`` (nbgrader's markers, so nbgrader's
``generate_assignment`` works on the same files) becomes, at the marker's indentation::

    # YOUR CODE HERE
    raise NotImplementedError("MyAdam.step: your code here")

(in Markdown cells: ``YOUR ANSWER HERE``).  Outputs and execution counts are cleared,
and every code cell that will fail because it runs an unfinished stub — directly, through
a function that calls one, or through a name such a cell never got to define — is
tagged ``raises-exception``, so nbval runs the fresh exercise without error.

``--check`` writes nothing: it regenerates in memory and exits 1 if ``exercises/`` is
missing a notebook, has an extra one, or differs from what the solutions give (CI).
"""
from __future__ import annotations

import argparse
import ast
import copy
import pathlib
import re
import sys

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
RAISES = "raises-exception"
# The repository (editable install); from elsewhere, the current folder.
ROOT = next((p for p in (pathlib.Path(__file__).resolve().parent.parent, pathlib.Path.cwd())
             if (p / "solutions").is_dir()), pathlib.Path.cwd())


# --------------------------------------------------------------------------- stripping
def _stub_name(lines: list[str]) -> str:
    """'Class.method' or 'function' enclosing the region, from the lines before it."""
    func = cls = None
    for ln in reversed(lines):
        m = re.match(r"\s*def\s+(\w+)", ln)
        if m and func is None:
            func = m.group(1)
        m = re.match(r"class\s+(\w+)", ln)
        if m:
            cls = m.group(1)
            break
        if func and re.match(r"(def|class)\s", ln):
            break
    if cls and func:
        return f"{cls}.{func}"
    return func or cls or "this part"


def strip_solutions(source: str, markdown: bool = False) -> tuple[str, int]:
    """The source with each solution region replaced by a stub; and how many regions."""
    out, inside, n = [], False, 0
    for ln in source.split("\n"):
        stripped = ln.strip()
        if stripped == BEGIN:
            if inside:
                raise ValueError(f"nested {BEGIN}")
            inside, n = True, n + 1
            indent = ln[: len(ln) - len(ln.lstrip())]
            if markdown:
                out.append(indent + "YOUR ANSWER HERE")
            else:
                out.append(f"{indent}# YOUR CODE HERE")
                out.append(f'{indent}raise NotImplementedError("{_stub_name(out)}: your code here")')
            continue
        if stripped == END:
            if not inside:
                raise ValueError(f"{END} without {BEGIN}")
            inside = False
            continue
        if not inside:
            out.append(ln)
    if inside:
        raise ValueError(f"{BEGIN} without {END}")
    return "\n".join(out), n


# --------------------------------------------------------------------------- which cells raise
def _python(source: str) -> str:
    return "\n".join("" if ln.lstrip().startswith(("%", "!")) else ln for ln in source.split("\n"))


def _is_stub(node) -> bool:
    return (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)
            and getattr(node.exc.func, "id", None) == "NotImplementedError")


def _executed_nodes(node):
    """Nodes that run when ``node`` runs (not the bodies of nested functions or lambdas)."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        for child in ast.iter_child_nodes(n):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                stack.extend(getattr(child, "decorator_list", []))
                continue
            stack.append(child)


def _bound_names(stmt) -> set:
    names = set()
    for n in ast.walk(stmt):
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            names.add(n.id)
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(n.name)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).partition(".")[0] for a in n.names)
    return names


# A panel given a method that is not written yet says so on its face ("NOT WRITTEN YET") instead of raising.
PANELS = ("VerificationPanel",)


def _panel_call(stmt):
    """The call when ``stmt`` is ``VerificationPanel(...)`` (bare, assigned, or as widgets.VerificationPanel)."""
    value = stmt.value if isinstance(stmt, (ast.Expr, ast.Assign)) else None
    if isinstance(value, ast.Call):
        f = value.func
        if (f.id if isinstance(f, ast.Name) else getattr(f, "attr", None)) in PANELS:
            return value
    return None


def raising_cells(sources: list[str | None]) -> list[bool]:
    """For each code cell (None: not code), whether running the notebook in order fails there."""
    broken: set = set()   # functions/classes that reach a stub when used, and names never defined
    undefined: set = set()  # of those, the names never defined (a cell failed before binding them)
    result = []
    for src in sources:
        if src is None:
            result.append(False)
            continue
        try:
            tree = ast.parse(_python(src))
        except SyntaxError:
            result.append(False)
            continue
        raises = False
        for stmt in tree.body:
            if raises:
                broken |= _bound_names(stmt)
                undefined |= _bound_names(stmt)
                continue
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                used = {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)}
                if any(_is_stub(n) for n in ast.walk(stmt)) or used & broken:
                    broken.add(stmt.name)
                else:
                    broken.discard(stmt.name)
                undefined.discard(stmt.name)
                continue
            ran = list(_executed_nodes(stmt))
            names = {n.id for n in ran if isinstance(n, ast.Name)}
            if _panel_call(stmt) is not None and not names & undefined and not any(_is_stub(n) for n in ran):
                continue  # the panel runs the unwritten method itself and reports it
            if any(_is_stub(n) for n in ran) or names & broken:
                raises = True
                broken |= _bound_names(stmt)
                undefined |= _bound_names(stmt)
        result.append(raises)
    return result


# --------------------------------------------------------------------------- notebooks
def exercise_from_solution(nb, stem: str):
    """The exercise notebook (a new object) generated from a solution notebook."""
    ex = copy.deepcopy(nb)
    code_sources = []
    for cell in ex.cells:
        if cell.cell_type == "code":
            cell.source, _ = strip_solutions(cell.source)
            cell.outputs = []
            cell.execution_count = None
            code_sources.append(cell.source)
        else:
            if cell.cell_type == "markdown":
                cell.source, _ = strip_solutions(cell.source, markdown=True)
            code_sources.append(None)
        cell.metadata.pop("execution", None)
    for cell, raises in zip(ex.cells, raising_cells(code_sources)):
        tags = [t for t in cell.metadata.get("tags", []) if t != RAISES]
        if raises:
            tags.append(RAISES)
        if tags:
            cell.metadata["tags"] = tags
        else:
            cell.metadata.pop("tags", None)
    ex.metadata["lrcourse"] = {"stem": stem, "generated_from": f"solutions/{stem}.ipynb",
                               "note": "generated by `python -m lrcourse exercises`; edit the solution instead"}
    return ex


def generate(solutions: pathlib.Path) -> dict[str, str]:
    """file name -> the exercise notebook's text, for every solution notebook."""
    import nbformat

    out = {}
    for path in sorted(solutions.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        ex = exercise_from_solution(nb, path.stem)
        nbformat.validate(ex)
        out[path.name] = nbformat.writes(ex) + "\n"
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lrcourse exercises",
                                 description="Generate exercises/ from solutions/ (nbgrader-style regions).")
    ap.add_argument("--solutions", type=pathlib.Path, default=ROOT / "solutions")
    ap.add_argument("--out", type=pathlib.Path, default=ROOT / "exercises")
    ap.add_argument("--check", action="store_true", help="exit 1 if the exercises are not up to date; write nothing")
    args = ap.parse_args(argv)
    if not args.solutions.is_dir():
        print(f"no solutions folder at {args.solutions}", file=sys.stderr)
        return 2
    try:
        wanted = generate(args.solutions)
    except ImportError as e:  # nbformat comes with the dev/lab extras, not with the core package
        print(f"{e}: install the course's tools with `pip install -e \".[dev]\"` (or run `make env`)",
              file=sys.stderr)
        return 2
    present = {p.name for p in args.out.glob("*.ipynb")} if args.out.is_dir() else set()
    if args.check:
        stale = [n for n, text in wanted.items() if n not in present or (args.out / n).read_text() != text]
        extra = sorted(present - set(wanted))
        for n in stale:
            print(f"out of date: {args.out / n}")
        for n in extra:
            print(f"not generated from any solution: {args.out / n}")
        if stale or extra:
            print("run `python -m lrcourse exercises` to regenerate", file=sys.stderr)
            return 1
        print(f"{len(wanted)} exercise notebook(s) up to date")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for n, text in wanted.items():
        target = args.out / n
        if not target.exists() or target.read_text() != text:
            target.write_text(text)
            print(f"wrote {target}")
    for n in sorted(present - set(wanted)):
        (args.out / n).unlink()
        print(f"removed {args.out / n} (no solution notebook)")
    return 0
