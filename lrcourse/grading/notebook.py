"""Notebook extraction: the code a question grades, read statically from the notebook's JSON.

The grader never runs a notebook.  It reads the code cells as text (magics blanked as
IPython would run them, non-Python cells left out), finds the last top-level definition of
the question's target and the top-level definitions it refers to, and hands that source on.
``check()`` reads the learner's cells through the same functions, so what it checks is
what is graded.
"""
from __future__ import annotations

import ast
import dataclasses
import json
import pathlib
import re
import symtable
import threading

PROVIDED = frozenset({"np", "numpy", "math", "optimizers", "schedules"})  # the child supplies these names
MAX_NOTEBOOK_BYTES = 20 * 2**20

# CPython 3.11 keeps the AST constructor's recursion counter per interpreter, not per thread: two
# batch threads parsing at once can fail with "AST constructor recursion depth mismatch" (seen here:
# an honest submission lost a question to it). The grader's threads therefore parse one at a time.
_AST_LOCK = threading.RLock()


def parse(source: str) -> ast.Module:
    with _AST_LOCK:
        return ast.parse(source)


def _symtable(source: str, filename: str, mode: str):
    with _AST_LOCK:
        return symtable.symtable(source, filename, mode)


# --------------------------------------------------------------------------- extraction
def notebook_cells(path: pathlib.Path) -> tuple[list[str], dict]:
    """The code cells' sources and the notebook metadata; raises ValueError if unreadable."""
    if path.stat().st_size > MAX_NOTEBOOK_BYTES:
        raise ValueError(f"the notebook is larger than {MAX_NOTEBOOK_BYTES // 2**20} MB")
    try:
        nb = json.loads(path.read_bytes().decode("utf-8-sig"))     # a byte-order mark is allowed
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"not a notebook (invalid JSON: {exc})") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise ValueError("not a notebook (no list of cells)")
    sources = []
    for cell in nb["cells"]:
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            src = cell.get("source", "")
            if isinstance(src, list):
                src = "".join(s for s in src if isinstance(s, str))
            if isinstance(src, str):
                sources.append(src)
    meta = nb.get("metadata") if isinstance(nb.get("metadata"), dict) else {}
    return sources, meta


# Cell magics whose body is Python that IPython runs as is (timed, profiled or with its output captured).
PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun"})


def _python_only(src: str) -> str | None:
    """A cell's source as the Python IPython runs; None for cells that are not Python (%%bash, %%html, ...).

    ``%%time`` & co. keep their body (the first line is blanked, so line numbers stay those of
    the cell); line magics and shell escapes (``%matplotlib``, ``!pip``) become blank lines.
    """
    src = src.lstrip("\ufeff")
    head = src.lstrip()
    if head.startswith("%%"):
        magic = head[2:].split(None, 1)[0] if head[2:].strip() else ""
        if magic not in PYTHON_CELL_MAGICS:
            return None
        first, _, body = src.partition("\n")
        src = "\n" + body
    lines = src.split("\n")
    return "\n".join("" if ln.lstrip().startswith(("%", "!")) else ln for ln in lines)


def defined_names(stmt) -> list[str]:
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [stmt.name]
    if isinstance(stmt, ast.Assign):
        names = []
        for t in stmt.targets:
            elts = t.elts if isinstance(t, (ast.Tuple, ast.List)) else [t]
            names += [e.id for e in elts if isinstance(e, ast.Name)]
        return names
    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
        return [stmt.target.id]
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return [(a.asname or a.name).partition(".")[0] for a in stmt.names if a.name != "*"]
    return []


@dataclasses.dataclass
class _Def:
    order: tuple
    names: list
    source: str
    node: ast.AST


def syntax_error_note(exc: BaseException, where: str) -> str:
    """'code cell 3 has a syntax error at line 4: invalid syntax: `def step(self)`' (what a learner needs)."""
    msg = getattr(exc, "msg", None) or type(exc).__name__
    line = getattr(exc, "lineno", None)
    text = (getattr(exc, "text", None) or "").strip()
    at = f" at line {line}" if line else ""
    return f"{where} has a syntax error{at}: {msg}" + (f": `{printable(text, 80)}`" if text else "")


def _definitions(sources: list[str]) -> tuple[dict, list[str]]:
    """name -> the last top-level statement that binds it; plus notes on unparsable cells."""
    defs, notes = {}, []
    for i, raw in enumerate(sources):
        src = _python_only(raw)
        if src is None:
            continue
        try:
            tree = parse(src)
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            note = syntax_error_note(exc, f"code cell {i + 1}")
            notes.append(note)
            for m in re.finditer(r"^(?:class|def)\s+([A-Za-z_]\w*)", src, re.M):
                defs[m.group(1)] = note  # defined in a cell that cannot run
            continue
        lines = src.split("\n")
        for stmt in tree.body:
            names = defined_names(stmt)
            if not names:
                continue
            decorators = getattr(stmt, "decorator_list", [])
            start = min([stmt.lineno] + [d.lineno for d in decorators])
            if decorators:
                text = "\n".join(lines[start - 1:stmt.end_lineno])
            else:  # exactly the statement, even when it shares a line with another (a; b)
                text = ast.get_source_segment(src, stmt) or ""
            d = _Def((i, start), names, text, stmt)
            for n in names:
                defs[n] = d
    return defs, notes


def _global_names(source: str) -> set:
    """The global names a top-level statement refers to (its parameters and locals excluded)."""
    try:
        top = _symtable(source, "<definition>", "exec")
    except (SyntaxError, ValueError, RecursionError):
        return {n.id for n in ast.walk(parse(source)) if isinstance(n, ast.Name)}
    names, stack = {s.get_name() for s in top.get_symbols() if s.is_referenced()}, list(top.get_children())
    while stack:
        table = stack.pop()
        names |= {s.get_name() for s in table.get_symbols() if s.is_global() and s.is_referenced()}
        stack.extend(table.get_children())
    return names


def extract_source(sources: list[str], target: str) -> tuple[str | None, str | None]:
    """The graded code for ``target``: its definition and the top-level ones it refers to.

    Returns (source, None) or (None, why-not).  Names the child provides (np, math,
    optimizers, schedules) are never taken from the notebook.
    """
    defs, notes = _definitions(sources)
    if target not in defs:
        return None, f"{target} is not defined in the notebook" + (f" ({'; '.join(notes)})" if notes else "")
    if isinstance(defs[target], str):
        return None, f"{target} cannot be graded: {defs[target]}"
    todo, chosen = [defs[target]], {}
    while todo:
        d = todo.pop()
        if id(d) in chosen:
            continue
        chosen[id(d)] = d
        for name in _global_names(d.source):
            if name in defs and name not in PROVIDED:
                dep = defs[name]
                if isinstance(dep, str):
                    return None, f"{target} needs {name}, which cannot be graded: {dep}"
                todo.append(dep)
    parts = sorted(chosen.values(), key=lambda d: d.order)
    return "\n\n".join(p.source for p in parts) + "\n", None


def printable(text: str, limit=300) -> str:
    """``text`` as one line of printable characters, cut to ``limit`` (what a report may show of untrusted text)."""
    text = "".join(ch if ch.isprintable() else " " for ch in str(text))
    return text if len(text) <= limit else text[:limit - 3] + "..."

