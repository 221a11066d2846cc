"""The autograder: ``python -m lrcourse grade SUBMISSION.ipynb ... --out DIR``.

Trust boundary: this process (the grader) never executes a line a student wrote.  For
each submission it

1. decides the exercise from the assignment (``--stem``, ``--config``, else the file name;
   never the notebook's metadata, which is only compared and flagged);
2. reads the notebook as JSON and extracts, statically, the definitions each question
   grades (the target class/function plus the top-level helpers it refers to);
3. checks that code's syntax tree for the from-scratch rule (``static_problems``);
4. runs each question in its own child process (``_grader_child.py``) — a sandbox folder
   with its own copy of numpy, scrubbed environment, unprivileged user when run as root,
   resource limits, Landlock and seccomp applied by the child to itself, an audit hook,
   wall-clock timeout, whole process group killed afterwards — on public cases plus hidden
   cases drawn from ``os.urandom`` for this run, sent through a pipe (never to disk);
5. reads back at most a bounded number of bytes of JSON lines, parses them strictly,
   type-checks them and compares them here with the reference outputs computed here.
   Points come from the hidden cases (a public case weighs ``public_weight``, default 0).

Outputs: ``DIR/grades.csv``, one row per submission, always — a crash, a hang or a
malformed notebook costs the affected questions and is explained in the row's message —
and ``DIR/submissions/<submission>/results.json`` in Gradescope's schema.
"""
from __future__ import annotations

import argparse
import ast
import concurrent.futures as cf
import csv
import dataclasses
import functools
import json
import math
import os
import pathlib
import re
import shutil
import subprocess
import symtable
import sys
import tempfile
import threading
import time
import zlib

from . import _grader_child as _child

__all__ = ["main", "gradescope_main", "grade_paths", "static_problems", "extract_source", "GradingRun"]

CHILD = pathlib.Path(__file__).with_name("_grader_child.py")
PROVIDED = frozenset({"np", "numpy", "math", "optimizers", "schedules"})  # the child supplies these names
MAX_NOTEBOOK_BYTES = 20 * 2**20
MAX_RESULT_BYTES = 16 * 2**20     # the most a child may write as results (a question sets less)
MAX_PRINTED_BYTES = 8 * 2**20     # the most a child may print before it is stopped
ALLOWED_IMPORTS = _child.ALLOWED_MODULES          # the same lists the child enforces at run time
FORBIDDEN_NAMES = _child.BLOCKED_BUILTINS | frozenset(
    "torch lrcourse runs problems widgets feedback grader importlib sys os subprocess builtins "
    "ctypes pickle marshal shutil pathlib io socket signal resource gc inspect "
    "attrgetter methodcaller".split())   # operator's attribute access by string, like getattr
NAMEDTUPLE_API = frozenset({"_replace", "_asdict", "_fields", "_make", "_field_defaults"})
FORBIDDEN_ATTRS = frozenset(
    "sys os subprocess builtins modules importlib load loads save savez savez_compressed savetxt loadtxt "
    "genfromtxt fromfile tofile fromregex dump dumps memmap ctypes ctypeslib f2py distutils testing lib "
    "DataSource open system popen gi_frame gi_code f_back f_globals f_locals f_builtins f_code tb_frame "
    "tb_next cr_frame ag_frame co_code attrgetter methodcaller".split())
ALLOWED_DUNDERS = frozenset({"__init__", "__post_init__", "__name__", "__qualname__"})


# CPython 3.11 keeps the AST constructor's recursion counter per interpreter, not per thread: two
# batch threads parsing at once can fail with "AST constructor recursion depth mismatch" (seen here:
# an honest submission lost a question to it). The grader's threads therefore parse one at a time.
_AST_LOCK = threading.RLock()


def _parse(source: str) -> ast.Module:
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


def _defined_names(stmt) -> list[str]:
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
    return f"{where} has a syntax error{at}: {msg}" + (f": `{_printable(text, 80)}`" if text else "")


def _definitions(sources: list[str]) -> tuple[dict, list[str]]:
    """name -> the last top-level statement that binds it; plus notes on unparsable cells."""
    defs, notes = {}, []
    for i, raw in enumerate(sources):
        src = _python_only(raw)
        if src is None:
            continue
        try:
            tree = _parse(src)
        except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
            note = syntax_error_note(exc, f"code cell {i + 1}")
            notes.append(note)
            for m in re.finditer(r"^(?:class|def)\s+([A-Za-z_]\w*)", src, re.M):
                defs[m.group(1)] = note  # defined in a cell that cannot run
            continue
        lines = src.split("\n")
        for stmt in tree.body:
            names = _defined_names(stmt)
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
        return {n.id for n in ast.walk(_parse(source)) if isinstance(n, ast.Name)}
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


# --------------------------------------------------------------------------- the from-scratch rule
def _library_class(base: str | None):
    if base is None:
        return None
    from . import optimizers, schedules
    return getattr(optimizers, base, None) or getattr(schedules, base, None)


def _library_names() -> set:
    from . import optimizers, schedules
    return {n for n in dir(optimizers) + dir(schedules) if n[:1].isupper() and not n.endswith("State")}


def static_problems(source: str, q=None) -> list[str]:
    """Reasons, one per line of offence, why ``source`` breaks the rules of graded code.

    Graded code may use numpy and math (plus functools/itertools/operator) and the
    library classes as *bases* only.  It may not reach torch or lrcourse, call the
    library's step (``super().step``, ``optimizers.Adam.step``), use the library base's
    private helpers (``self._grad``), or use introspection/dynamic code (dunder names,
    getattr, eval/exec/compile, open, ...).  A second, runtime layer in the child enforces
    the same; this one gives the learner a precise message.
    """
    try:
        tree = _parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        return [f"the graded code does not parse: {getattr(exc, 'msg', exc)}"]
    problems = []
    base_cls = _library_class(getattr(q, "base", None))
    helpers = {n for n in dir(base_cls) if n.startswith("_") and not n.startswith("__")} if base_cls else set()
    library = _library_names()
    base_positions = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for b in node.bases:
                base_positions.update(id(n) for n in ast.walk(b))

    def bad(node, why):
        problems.append(f"line {getattr(node, 'lineno', '?')}: {why}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.partition(".")[0] not in ALLOWED_IMPORTS:
                    bad(node, f"imports {a.name} (graded code may import only {', '.join(sorted(ALLOWED_IMPORTS))})")
                elif any(p in FORBIDDEN_ATTRS or p.startswith("_") for p in a.name.split(".")[1:]):
                    bad(node, f"imports {a.name}, which graded code may not use")
        elif isinstance(node, ast.ImportFrom):
            if node.level or (node.module or "").partition(".")[0] not in ALLOWED_IMPORTS:
                bad(node, f"imports from {node.module or '.'} (graded code may import only "
                          f"{', '.join(sorted(ALLOWED_IMPORTS))})")
            for part in (node.module or "").split(".")[1:] + [a.name for a in node.names]:
                if part in FORBIDDEN_NAMES or part in FORBIDDEN_ATTRS or part.startswith("_"):
                    bad(node, f"imports {part} from {node.module}, which graded code may not use")
        elif isinstance(node, ast.Name):
            if node.id in FORBIDDEN_NAMES:
                bad(node, f"uses {node.id}, which graded code may not use")
            elif node.id.startswith("__"):
                bad(node, f"uses the special name {node.id}")
        elif isinstance(node, ast.Attribute):
            attr, owner = node.attr, node.value
            if attr.startswith("__") and attr not in ALLOWED_DUNDERS:
                bad(node, f"uses the special attribute .{attr}")
            elif attr in FORBIDDEN_ATTRS:
                bad(node, f"uses .{attr}, which graded code may not use")
            elif attr.startswith("_") and not attr.startswith("__") and attr not in NAMEDTUPLE_API:
                if not (isinstance(owner, ast.Name) and owner.id in ("self", "cls")):
                    bad(node, f"uses the private attribute .{attr}")
                elif attr in helpers:
                    bad(node, f"uses self.{attr}, a helper of the library's {q.base}: write that part yourself")
            if (isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name) and owner.func.id == "super"
                    and attr not in ALLOWED_DUNDERS):
                bad(node, f"calls super().{attr}: that hands the work to the library's implementation")
            if (isinstance(owner, ast.Name) and owner.id in ("optimizers", "schedules") and attr in library
                    and id(node) not in base_positions):
                bad(node, f"uses {owner.id}.{attr} other than as the base class: that is the reference "
                          "implementation, which graded code may not call")
    if q is not None and q.kind in ("optimizer", "plateau"):
        cls = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == q.target), None)
        if cls is not None and not any(isinstance(n, ast.FunctionDef) and n.name == "step" for n in cls.body):
            problems.append(f"{q.target} does not define step")
    return problems


# --------------------------------------------------------------------------- stand-in classes
# The classes graded code derives from, generated from the library's own source: every field,
# default, validation, ``init`` and public method (``is_better``, ``effective_lr``, ...) as the
# learner has them in the notebook, with each algorithm method's body replaced by a raise.
STANDIN_CLASSES = {"optimizers": ("SGD", "Adagrad", "RMSprop", "Adadelta", "Adam", "AdamW", "NAdam"),
                   "schedules": ("ReduceLROnPlateau",)}
ALGORITHM_METHODS = frozenset({"step", "__call__", "_lr_at", "lrs", "_grad"})   # _grad: weight decay
STANDIN_IMPORTS = frozenset({"__future__", "dataclasses", "math", "typing", "collections", "numpy"})


def _stub_body(cls: str, name: str) -> list:
    message = (f"{cls}.{name}: the graded code must implement {name} itself "
               "(the library's is not available when grading)")
    return _parse(f"raise NotImplementedError({message!r})").body


@functools.lru_cache(maxsize=1)
def standin_sources() -> dict:
    """The stand-in modules' sources, by module name (generated once per process)."""
    return {m: standin_source(m) for m in STANDIN_CLASSES}


def standin_source(module_name: str) -> str:
    """Source of the stand-in module for ``lrcourse.<module_name>``: see STANDIN_CLASSES."""
    import importlib
    import inspect

    module = importlib.import_module(f"{__package__}.{module_name}")
    tree = _parse(inspect.getsource(module))
    top = {}
    for stmt in tree.body:
        for name in _defined_names(stmt):
            top.setdefault(name, stmt)
    states = [n for n, st in top.items() if isinstance(st, ast.ClassDef) and n.endswith("State")]
    todo, kept = list(STANDIN_CLASSES[module_name]) + states, {}
    while todo:
        stmt = top.get(todo.pop())
        if stmt is None or id(stmt) in kept or isinstance(stmt, (ast.Import, ast.ImportFrom)):
            continue
        if isinstance(stmt, ast.ClassDef):
            for item in stmt.body:
                if isinstance(item, ast.FunctionDef) and item.name in ALGORITHM_METHODS:
                    item.body = _stub_body(stmt.name, item.name)
        kept[id(stmt)] = stmt
        todo += [n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)]
    imports = [st for st in tree.body if isinstance(st, (ast.Import, ast.ImportFrom))]
    for st in imports:
        mods = [st.module] if isinstance(st, ast.ImportFrom) else [a.name for a in st.names]
        if getattr(st, "level", 0) or any((m or "").partition(".")[0] not in STANDIN_IMPORTS for m in mods):
            raise ValueError(f"lrcourse.{module_name} imports {ast.unparse(st)}: the stand-ins cannot")
    body = imports + [st for st in tree.body if id(st) in kept]
    return ast.unparse(ast.Module(body=body, type_ignores=[])) + "\n"


# --------------------------------------------------------------------------- one grading run
class GradingRun:
    """Cases and expected outputs for one run: public cases + hidden ones from a fresh seed."""

    def __init__(self, seed: int | None = None, public_weight: float = 0.0):
        self.seed = int.from_bytes(os.urandom(8), "little") if seed is None else int(seed)
        if not 0.0 <= public_weight <= 1.0:
            raise ValueError(f"public_weight must be in [0, 1], not {public_weight}")
        self.public_weight = float(public_weight)   # a public case's weight; a hidden case weighs 1
        self._cache, self._lock = {}, threading.Lock()

    def question_data(self, q):
        """(cases, expected outputs, number of public cases), computed once per run."""
        import numpy as np

        from . import grader_spec as spec
        with self._lock:
            if q.key not in self._cache:
                public = spec.draw_cases(q, spec.public_rng(q), q.public)
                hidden = spec.draw_cases(q, np.random.default_rng([self.seed, zlib.crc32(q.key.encode())]), q.hidden)
                cases = public + hidden
                self._cache[q.key] = (cases, [spec.expected_output(q, c) for c in cases], len(public))
            return self._cache[q.key]


# --------------------------------------------------------------------------- the sandbox
@dataclasses.dataclass
class Sandbox:
    """How children are started: interpreter, user, site folder with numpy only, limits."""

    python: str
    site: str
    child: str
    workdir: str
    user: int | None = None
    group: int | None = None
    timeout: float = 10.0
    case_timeout: float = 3.0
    memory: int = 2**30
    warning: str | None = None
    layers: dict | None = None    # the kernel layers a probe child applied: {"landlock": ABI, "seccomp": bool}
    require: dict | None = None   # what every child must apply before the graded code runs, else it is not run

    def limits(self) -> dict:
        cpu = int(self.timeout) + 1
        limits = {"RLIMIT_CPU": cpu, "RLIMIT_AS": self.memory, "RLIMIT_FSIZE": MAX_RESULT_BYTES,
                  "RLIMIT_NOFILE": 64, "RLIMIT_CORE": 0}
        if self.user is not None:  # counts every process of the user: only meaningful for 'nobody'
            limits["RLIMIT_NPROC"] = 64
        return limits


def _scrubbed_env(home: str) -> dict:
    return {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "HOME": home, "TMPDIR": home,
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


WORKDIR_PREFIX = "lrcourse-grade-"
# What the child never imports from numpy: its tests, type stubs, build helpers (a quarter of its size).
NUMPY_SKIP = shutil.ignore_patterns("tests", "*.pyi", "_pyinstaller", "f2py", "typing", "*.pxd", "include")


def _sweep_stale_workdirs() -> None:
    """Remove sandboxes left by graders of this user that no longer run (a kill -9, a power cut)."""
    for d in [p for t in dict.fromkeys([tempfile.gettempdir(), "/tmp"]) for p in pathlib.Path(t).glob(WORKDIR_PREFIX + "*")]:
        m = re.match(re.escape(WORKDIR_PREFIX) + r"(\d+)-", d.name)
        try:
            if not m or d.is_symlink() or d.stat().st_uid != os.geteuid():
                continue
            os.kill(int(m.group(1)), 0)           # still running: leave it alone
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
        except (OSError, ValueError):
            continue


def _world_traversable(path: str) -> bool:
    parts = pathlib.Path(path).resolve().parts
    return all(os.stat(os.path.join(*parts[:i + 1])).st_mode & 0o001 for i in range(len(parts)))


def _sandbox_parent(drop_privileges: bool) -> str:
    """The temporary folder, unless the unprivileged child could not enter it (a private TMPDIR): then /tmp."""
    tmp = tempfile.gettempdir()
    if drop_privileges and os.geteuid() == 0 and not _world_traversable(tmp) and os.path.isdir("/tmp"):
        return "/tmp"
    return tmp


def _copy_numpy(site: str) -> None:
    """A private, world-readable copy of numpy (and its bundled libraries) in the sandbox's site folder.

    A copy, not a link: the checkout or the virtual environment may live in a folder only
    the instructor can enter (a home directory, a ``mktemp -d``), which the unprivileged
    child could not traverse, and a hard link would let a child running as the grader's
    own user write into the environment's numpy.
    """
    import numpy

    np_dir = os.path.realpath(os.path.dirname(numpy.__file__))
    shutil.copytree(np_dir, os.path.join(site, "numpy"), ignore=NUMPY_SKIP)
    libs = os.path.join(os.path.dirname(np_dir), "numpy.libs")
    if os.path.isdir(libs):
        shutil.copytree(libs, os.path.join(site, "numpy.libs"))
    for top, _dirs, files in os.walk(site):
        os.chmod(top, 0o755)
        for f in files:
            path = os.path.join(top, f)
            os.chmod(path, 0o755 if os.stat(path).st_mode & 0o100 else 0o644)


def make_sandbox(timeout=10.0, drop_privileges=True) -> Sandbox:
    """A fresh folder with the child script and a site folder that holds a copy of numpy alone."""
    _sweep_stale_workdirs()
    work = tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-", dir=_sandbox_parent(drop_privileges))
    try:
        os.chmod(work, 0o755)
        site = os.path.join(work, "site")
        os.mkdir(site, 0o755)
        _copy_numpy(site)
        child = os.path.join(work, "child.py")
        shutil.copyfile(CHILD, child)
        os.chmod(child, 0o644)
        box = Sandbox(sys.executable, site, child, work, timeout=float(timeout), case_timeout=min(3.0, float(timeout)))
        if drop_privileges and os.geteuid() == 0:
            _choose_unprivileged(box)
        _choose_layers(box)
        return box
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def _interpreters() -> list[str]:
    """Interpreters of this Python version, the base (world-executable) one first."""
    v = sys.version_info
    candidates = [getattr(sys, "_base_executable", ""), sys.executable, os.path.realpath(sys.executable),
                  f"/usr/bin/python{v.major}.{v.minor}", f"/usr/local/bin/python{v.major}.{v.minor}",
                  shutil.which(f"python{v.major}.{v.minor}", path="/usr/local/bin:/usr/bin:/bin") or ""]
    return list(dict.fromkeys(c for c in candidates if c and os.path.exists(c)))


def _probe(box: Sandbox, python: str, user: int | None, group: int | None) -> tuple[dict | None, str]:
    """Start a child as ``user`` with ``python``: (the kernel layers it could apply, or None; why not)."""
    kw = dict(user=user, group=group, extra_groups=[]) if user is not None else {}
    try:
        r = subprocess.run([python, "-I", "-S", "-B", box.child, box.site, "probe"], cwd=box.workdir,
                           env=_scrubbed_env(box.workdir), capture_output=True, timeout=30, **kw)
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"{python}: {type(exc).__name__}"
    out = r.stdout.decode("utf-8", "replace").strip()
    if r.returncode == 0 and out.startswith("ok "):
        try:
            return json.loads(out[3:]), ""
        except ValueError:
            pass
    err = r.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [f"exit code {r.returncode}"]
    return None, f"{python}: {_printable(err[0])}"


def _choose_unprivileged(box: Sandbox) -> None:
    """Run children as nobody, with an interpreter that nobody can run and that loads the sandbox's numpy."""
    import pwd

    try:
        pw = pwd.getpwnam("nobody")
    except KeyError:
        box.warning = "no user 'nobody': children run as root"
        return
    tried = []
    for py in _interpreters():
        layers, why = _probe(box, py, pw.pw_uid, pw.pw_gid)
        if layers is not None:
            box.python, box.user, box.group, box.layers = py, pw.pw_uid, pw.pw_gid, layers
            return
        tried.append(why)
    box.warning = ("no Python interpreter of this version can be run by 'nobody' with the sandbox's numpy "
                   f"({'; '.join(tried)}): children run as root")


def _choose_layers(box: Sandbox) -> None:
    """Probe the kernel layers (as this user), require them from every child, and say loudly what is missing."""
    if box.layers is None:
        box.layers, why = _probe(box, box.python, None, None)
        if box.layers is None:
            raise RuntimeError(f"the grader's child cannot start here: {why}")
    missing = []
    abi = int(box.layers.get("landlock") or 0)
    if abi < 1:
        missing.append("Landlock (file access)")
    elif abi < 6:
        missing.append(f"Landlock signal/socket scoping (kernel ABI {abi} < 6)")
    if not box.layers.get("seccomp"):
        missing.append("seccomp")
    if box.user is None and os.geteuid() == 0:
        missing.append("an unprivileged user")
    box.require = {"landlock": abi, "seccomp": bool(box.layers.get("seccomp"))}
    if missing:
        gap = (f"children are NOT fully isolated here: no {', no '.join(missing)}. A submission may read or "
               "signal what this user can; grade untrusted work in the container (docs/instructors.md)")
        box.warning = f"{box.warning}; {gap}" if box.warning else gap


def isolation_summary(box: Sandbox) -> str:
    """One line for every CSV row: which layers held this batch."""
    layers = box.layers or {}
    abi = int(layers.get("landlock") or 0)
    parts = [f"Landlock ABI {abi}" + (" (files, network, signals, abstract sockets)" if abi >= 6 else "")
             if abi else "no Landlock", "seccomp" if layers.get("seccomp") else "no seccomp",
             f"uid {box.user}" if box.user is not None else f"uid {os.geteuid()} (the grader's)",
             "rlimits", "audit hook"]
    return ("WARNING: " + box.warning + " | " if box.warning else "") + ", ".join(parts)


@dataclasses.dataclass
class ChildResult:
    outputs: dict          # case index -> ("out", value) | ("error", message)
    fatal: str | None      # a failure before any case ran
    problem: str | None    # how the process ended, if abnormally
    seconds: float


def result_cap(expected: list) -> int:
    """Bytes of result lines a child may write for these cases: 3x the reference's JSON, plus room for errors."""
    return 3 * sum(len(json.dumps(e)) for e in expected) + 1024 * len(expected) + 4096


def run_child(box: Sandbox, job: dict) -> ChildResult:
    """Run one question's cases in a fresh, limited, unprivileged child and collect its lines.

    The job goes in through a pipe (no case is ever written to disk); results come back
    through another pipe and stdout through a third, each read up to a fixed number of
    bytes: a child that writes more is stopped, and costs the grader no more than that.
    """
    t0 = time.perf_counter()
    cap = int(job.get("result_cap") or MAX_RESULT_BYTES)
    job = {"standins": standin_sources(), "require": box.require or {}} | {
        k: v for k, v in job.items() if k != "result_cap"} | {"case_timeout": box.case_timeout}
    data = json.dumps(job).encode()
    home = tempfile.mkdtemp(prefix="cwd-", dir=box.workdir)            # the child's empty cwd
    os.chmod(home, 0o755)
    res_r, res_w = os.pipe()
    proc = None
    try:
        cmd = [box.python, "-I", "-S", "-B", box.child, box.site, str(res_w), json.dumps(box.limits())]
        kw = dict(user=box.user, group=box.group, extra_groups=[]) if box.user is not None else {}
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                cwd=home, env=_scrubbed_env(home), pass_fds=(res_w,), close_fds=True,
                                start_new_session=True, **kw)
        with _LIVE_LOCK:
            _LIVE.add(proc)
        os.close(res_w)
        res_w = None
        results, tail, problem = _exchange(proc, data, res_r, cap, box.timeout)
        rc = proc.poll()
        if problem is None and rc is not None and rc < 0:
            problem = f"the process was killed by signal {-rc} (a resource limit: CPU time or memory?)"
        elif problem is None and rc not in (None, 0):
            problem = f"the process exited with code {rc} (exit() or a crash in the graded code?)"
        outputs, fatal = parse_results(results, len(job["cases"]))
        if problem is None and fatal is None and len(outputs) < len(job["cases"]):
            last = _printable(tail.decode("utf-8", "replace").strip().splitlines()[-1]) if tail.strip() else ""
            problem = "the process ended before reporting every case" + (f": {last}" if last else "")
        return ChildResult(outputs, fatal, problem, time.perf_counter() - t0)
    finally:
        for fd in (res_r, res_w):
            if fd is not None:
                os.close(fd)
        if proc is not None:
            _kill_group(proc)
            with _LIVE_LOCK:
                _LIVE.discard(proc)
            for stream in (proc.stdin, proc.stdout):
                try:
                    stream.close()
                except OSError:
                    pass
        shutil.rmtree(home, ignore_errors=True)


_LIVE: set = set()              # children running now (to stop them all if the grader is stopped)
_LIVE_LOCK = threading.Lock()


def _kill_live_children() -> None:
    with _LIVE_LOCK:
        procs = list(_LIVE)
    for proc in procs:
        try:
            os.killpg(proc.pid, 9)
        except (ProcessLookupError, PermissionError):
            pass


def _exchange(proc, data: bytes, res_fd: int, cap: int, timeout: float) -> tuple[bytes, bytes, str | None]:
    """Feed the job, drain results (at most ``cap`` bytes) and stdout (last 4 KB kept) until the child ends."""
    import selectors

    deadline = time.monotonic() + timeout
    sel = selectors.DefaultSelector()
    os.set_blocking(proc.stdin.fileno(), False)
    sel.register(proc.stdin, selectors.EVENT_WRITE)
    sel.register(proc.stdout, selectors.EVENT_READ)
    sel.register(res_fd, selectors.EVENT_READ)
    results, tail, printed, sent, problem = bytearray(), b"", 0, 0, None
    try:
        while any(k.events & selectors.EVENT_READ for k in sel.get_map().values()):
            left = deadline - time.monotonic()
            if left <= 0:
                problem = f"stopped after {timeout:g} s (time limit; an endless loop?)"
                break
            for key, _ in sel.select(min(left, 1.0)):
                if key.fileobj is proc.stdin:
                    try:
                        sent += os.write(proc.stdin.fileno(), data[sent:sent + 65536])
                    except (BrokenPipeError, OSError):
                        sent = len(data)
                    if sent >= len(data):
                        sel.unregister(proc.stdin)
                        proc.stdin.close()
                    continue
                fd = key.fileobj if isinstance(key.fileobj, int) else key.fileobj.fileno()
                chunk = os.read(fd, 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                elif fd == res_fd:
                    results += chunk
                    if len(results) > cap:
                        problem = f"stopped: it wrote more than {cap} bytes of results"
                        break
                else:
                    printed += len(chunk)
                    tail = (tail + chunk)[-4096:]
                    if printed > MAX_PRINTED_BYTES:
                        problem = f"stopped: it printed more than {MAX_PRINTED_BYTES // 2**20} MB"
                        break
            if problem:
                break
        if problem is None:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                problem = f"stopped after {timeout:g} s (time limit; an endless loop?)"
    finally:
        sel.close()
    return bytes(results[:cap]), tail, problem


def _kill_group(proc) -> None:
    try:
        os.killpg(proc.pid, 9)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def _printable(text: str, limit=300) -> str:
    text = "".join(ch if ch.isprintable() else " " for ch in str(text))
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _strict_int(text: str) -> int:
    if len(text) > 18:                      # |n| < 1e18: a float holds it; anything longer is refused
        raise ValueError("integer too long")
    return int(text)


# A wrong answer may legitimately be nan or inf (a known mistake divides by zero): the three
# IEEE specials are accepted as such and compare unequal to the (always finite) reference.
_SPECIALS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _special(name: str) -> float:
    return _SPECIALS[name]


def parse_results(data: bytes, n_cases: int) -> tuple[dict, str | None]:
    """The child's JSON lines, strictly: floats and short integers only, one record per case; the rest is ignored.

    An integer too large for a float (``1`` followed by 400 zeros) makes its line invalid
    instead of an OverflowError later, in the comparison, for the whole batch.
    """
    outputs, fatal = {}, None
    for raw in data.split(b"\n"):
        if not raw.strip():
            continue
        try:
            msg = json.loads(raw.decode("utf-8"), parse_int=_strict_int, parse_constant=_special)
        except (UnicodeDecodeError, ValueError, RecursionError, OverflowError):
            continue
        if not isinstance(msg, dict):
            continue
        if "fatal" in msg and fatal is None and not outputs:
            fatal = _printable(msg["fatal"])
            continue
        case = msg.get("case")
        if isinstance(case, bool) or not isinstance(case, int) or not 0 <= case < n_cases or case in outputs:
            continue
        if "out" in msg:
            outputs[case] = ("out", msg["out"])
        elif "error" in msg:
            outputs[case] = ("error", _printable(msg["error"]))
    return outputs, fatal


# --------------------------------------------------------------------------- scoring
@dataclasses.dataclass
class QuestionResult:
    key: str
    title: str
    score: float
    max_score: float
    passed: int
    total: int
    lines: list
    summary: str = ""     # one line for the CSV: the tally and the first failure

    def output(self) -> str:
        return "\n".join(self.lines)


@dataclasses.dataclass
class SubmissionResult:
    path: str
    name: str
    stem: str | None
    questions: list
    message: str
    seconds: float = 0.0
    isolation: str = ""   # the layers that held for this batch (and a WARNING where some are missing)

    @property
    def score(self) -> float:
        return round(sum(q.score for q in self.questions), 3)

    @property
    def max_score(self) -> float:
        return sum(q.max_score for q in self.questions)


def _case_label(i, n_public) -> str:
    return f"public case {i + 1}" if i < n_public else f"hidden case {i - n_public + 1}"


def score_question(q, run: GradingRun, child: ChildResult | None, blocked: str | None) -> QuestionResult:
    """Points for one question from the child's outputs; hidden cases are named, never shown.

    Points come from the hidden cases, drawn fresh for this run; a public case (the same in
    every run, so its answer can be copied) weighs ``run.public_weight`` (default 0).
    """
    from . import grader_spec as spec

    cases, expected, n_public = run.question_data(q)
    head = f"{q.qid} — {q.title} ({q.what})"
    if blocked or child is None or child.fatal:
        why = blocked or (child.fatal if child else "not run")
        if child and child.problem and not child.fatal:
            why = child.problem
        return QuestionResult(q.key, q.title, 0.0, q.points, 0, len(cases), [f"{head}: 0/{q.points:g}", f"  {why}"],
                              why)
    passed, lines, first_fail = [False] * len(cases), [], None
    for i, case in enumerate(cases):
        label = _case_label(i, n_public)
        got = child.outputs.get(i)
        if got is None:
            msg = f"  {label}: no result ({child.problem or 'the process stopped early'})"
        elif got[0] == "error":
            msg = f"  {label}: your code raised {got[1]}"
        elif bad := spec.validate_output(q, got[1]):
            msg = f"  {label}: malformed output ({bad})"
        elif (diff := spec.compare_output(q, got[1], expected[i], case)) is None:
            passed[i] = True
            lines.append(f"  {label}: passed")
            continue
        else:
            hints = spec.matching_mistakes(q, case, got[1], diff)
            if i < n_public:
                msg = f"  {label}: differs at {diff.where()}: {spec.describe_difference(diff)}"
            else:
                msg = f"  {label}: differs at {diff.where()}"
                if spec.looks_float32(diff.yours):
                    msg += f" ({spec.FLOAT32_HINT})"
            for h in hints[:2]:
                msg += f"\n      looks like: {h.name} — {h.hint}"
        lines.append(msg)
        first_fail = first_fail or msg.strip().split("\n")[0]
    w = run.public_weight
    weights = [w] * n_public + [1.0] * (len(cases) - n_public)
    score = round(q.points * sum(wt for wt, ok in zip(weights, passed) if ok) / sum(weights), 3)
    n_hidden, hidden_ok, public_ok = len(cases) - n_public, sum(passed[n_public:]), sum(passed[:n_public])
    tally = (f"hidden cases {hidden_ok} of {n_hidden} passed, public {public_ok} of {n_public}"
             + ("" if w == 0 else f" (a public case weighs {w:g})"))
    summary = tally if first_fail is None else f"{tally}; first failure: {first_fail}"
    return QuestionResult(q.key, q.title, score, q.points, sum(passed), len(cases),
                          [f"{head}: {score:g}/{q.points:g} ({tally})"] + lines, summary)


# --------------------------------------------------------------------------- submissions
def stem_from_name(path: pathlib.Path) -> tuple[str | None, str]:
    """The exercise a file name names: an exact stem in it, else a single ``NN_`` number; (None, why) if not one."""
    from .grader_spec import QUESTIONS
    named = {stem for stem in QUESTIONS if stem in path.name}
    if len(named) == 1:
        return named.pop(), ""
    if len(named) > 1:
        return None, f"the file name names several exercises ({', '.join(sorted(named))}): pass --stem"
    numbers = set(re.findall(r"(?<!\d)(\d\d)_", path.name))
    by_number = {stem for stem in QUESTIONS if stem[:2] in numbers}
    if len(by_number) == 1:
        return by_number.pop(), ""
    return None, ("could not tell which exercise this is from its file name "
                  "(name it NN_topic.ipynb, or pass --stem / an assignment config)")


def detect_stem(path: pathlib.Path, meta: dict, forced: str | None = None) -> tuple[str | None, str]:
    """(stem, note): the assignment decides — ``forced`` (``--stem``, config), else the file name.

    The notebook's metadata is the student's to edit, so it never chooses the exercise; when it
    names another one than the graded exercise, the note says so (shown in the row).
    """
    stem, why = (forced, "") if forced else stem_from_name(path)
    tagged = meta.get("lrcourse", {}).get("stem") if isinstance(meta.get("lrcourse"), dict) else None
    if stem is None:
        return None, why
    if tagged is not None and tagged != stem:
        return stem, f"note: the notebook's metadata names {_printable(str(tagged), 60)!r}, graded as {stem}"
    return stem, ""


@dataclasses.dataclass
class _Prepared:
    path: pathlib.Path
    name: str
    stem: str | None
    jobs: dict           # question key -> child job, or a str saying why the question is not run
    message: str


def _prepare(path: pathlib.Path, name: str, forced_stem: str | None, run: GradingRun, skip_static: bool) -> _Prepared:
    from .grader_spec import QUESTIONS
    try:
        sources, meta = notebook_cells(path)
    except (OSError, ValueError) as exc:
        return _Prepared(path, name, forced_stem, {}, f"could not read the submission: {exc}")
    stem, note = detect_stem(path, meta, forced_stem)
    if stem not in QUESTIONS:
        return _Prepared(path, name, None, {}, note or f"unknown exercise {stem!r}")
    jobs = {}
    for q in QUESTIONS[stem]:
        source, why = extract_source(sources, q.target)
        if source is None:
            jobs[q.key] = why
            continue
        problems = [] if skip_static else static_problems(source, q)
        if problems:
            jobs[q.key] = "not graded — the from-scratch rule: " + "; ".join(problems[:5])
            continue
        cases, expected, _ = run.question_data(q)
        jobs[q.key] = {"kind": q.kind, "target": q.target, "base": q.base, "source": source,
                       "cases": cases, "fields": list(q.fields), "result_cap": result_cap(expected)}
    return _Prepared(path, name, stem, jobs, f"graded as {stem}" + (f" ({note})" if note else ""))


def _names_for(paths: list[pathlib.Path]) -> list[str]:
    """A distinct, file-system-safe name per submission (its path, flattened)."""
    resolved = [p.resolve() for p in paths]
    common = os.path.commonpath([str(p.parent) for p in resolved]) if resolved else ""
    names, seen = [], set()
    for p in resolved:
        rel = os.path.relpath(p, common)[: -len(p.suffix) or None]
        base = re.sub(r"[^A-Za-z0-9_.-]+", "_", rel.replace(os.sep, "__")).strip("._") or "submission"
        if len(base) > 100:  # file names have a length limit; keep them distinct with a digest
            base = f"{base[:80]}_{zlib.crc32(rel.encode()):08x}"
        name, k = base, 2
        while name in seen:
            name, k = f"{base}_{k}", k + 1
        seen.add(name)
        names.append(name)
    return names


def grade_paths(paths, workers: int | None = None, seed: int | None = None, stem: str | None = None,
                timeout: float = 10.0, sandbox: Sandbox | None = None, skip_static: bool = False,
                drop_privileges: bool = True, public_weight: float = 0.0, skip_audit: bool = False
                ) -> list[SubmissionResult]:
    """Grade notebooks; one SubmissionResult per path, in order, whatever happens.

    ``skip_static`` and ``skip_audit`` exist for the tests (to show the other layers hold on their own).
    """
    from .grader_spec import question
    paths = [pathlib.Path(p) for p in paths]
    run = GradingRun(seed, public_weight)
    own_box = sandbox is None
    box = sandbox or make_sandbox(timeout, drop_privileges)
    isolation = isolation_summary(box)
    if box.warning:
        print(f"WARNING: {box.warning}", file=sys.stderr)
    print(f"isolation: {isolation}", file=sys.stderr)
    workers = workers or os.cpu_count() or 1
    try:
        prepared = []
        for p, name in zip(paths, _names_for(paths)):
            try:
                prepared.append(_prepare(p, name, stem, run, skip_static))
            except Exception as exc:  # noqa: BLE001 — nothing is lost: the row says what went wrong
                prepared.append(_Prepared(p, name, None, {}, f"internal grader error: {type(exc).__name__}: {exc}"))
        tasks = [(i, key, job | ({"audit": False} if skip_audit else {}))
                 for i, pr in enumerate(prepared) for key, job in pr.jobs.items() if isinstance(job, dict)]
        children = {}
        with cf.ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(run_child, box, job): (i, key) for i, key, job in tasks}
            try:
                for fut in cf.as_completed(futures):
                    try:
                        children[futures[fut]] = fut.result()
                    except Exception as exc:  # noqa: BLE001
                        children[futures[fut]] = ChildResult({}, f"internal grader error: {exc}", None, 0.0)
            except BaseException:   # Ctrl-C, SIGTERM: stop every child now, so the sandbox can go at once
                pool.shutdown(wait=False, cancel_futures=True)
                _kill_live_children()
                raise
        results = []
        for i, pr in enumerate(prepared):
            qs = []
            for key, job in pr.jobs.items():
                q = question(key)
                blocked = job if isinstance(job, str) else None
                try:
                    qs.append(score_question(q, run, children.get((i, key)), blocked))
                except Exception as exc:  # noqa: BLE001 — one failure costs this question only
                    why = f"internal grader error while scoring: {_printable(f'{type(exc).__name__}: {exc}')}"
                    qs.append(QuestionResult(q.key, q.title, 0.0, q.points, 0, 0,
                                             [f"{q.qid} — {q.title}: 0/{q.points:g}", f"  {why}"], why))
            secs = sum(c.seconds for (j, _), c in children.items() if j == i)
            results.append(SubmissionResult(str(pr.path), pr.name, pr.stem, qs, pr.message, secs, isolation))
        return results
    finally:
        if own_box:
            shutil.rmtree(box.workdir, ignore_errors=True)


# --------------------------------------------------------------------------- reports
def gradescope_json(res: SubmissionResult) -> dict:
    tests = [{"name": f"{q.key}: {q.title}", "score": q.score, "max_score": q.max_score, "output": q.output(),
              "status": "passed" if q.score >= q.max_score else "failed", "visibility": "visible"}
             for q in res.questions]
    summary = f"{res.message}. Score {res.score:g}/{res.max_score:g}."
    return {"score": res.score, "output": summary, "tests": tests, "visibility": "visible",
            "stdout_visibility": "hidden"}


def spreadsheet_safe(text: str) -> str:
    """A CSV cell that a spreadsheet shows as text: never a formula (=, +, -, @, tab, CR first)."""
    text = str(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def write_reports(results: list[SubmissionResult], out: pathlib.Path) -> pathlib.Path:
    """``out/grades.csv`` (one row per result, always) and ``out/submissions/<name>/results.json``.

    Per-submission files live in their own folder, so no submission name can collide with
    the CSV; a results.json that cannot be written is reported in that submission's row.
    """
    out.mkdir(parents=True, exist_ok=True)
    keys = []
    for r in results:
        for q in r.questions:
            if q.key not in keys:
                keys.append(q.key)
    failed = {}
    for r in results:
        try:
            d = out / "submissions" / r.name
            d.mkdir(parents=True, exist_ok=True)
            (d / "results.json").write_text(json.dumps(gradescope_json(r), indent=1) + "\n")
        except (OSError, ValueError, TypeError) as exc:
            failed[r.name] = f"results.json not written ({type(exc).__name__}: {exc})"
    csv_path = out / "grades.csv"
    with open(csv_path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["submission", "stem", "score", "max_score"] + keys + ["message", "isolation"])
        for r in results:
            by_key = {q.key: q.score for q in r.questions}
            problems = [f"{q.key} {q.score:g}/{q.max_score:g}: {q.summary}" for q in r.questions
                        if q.score < q.max_score]
            msg = "; ".join([r.message] + problems + ([failed[r.name]] if r.name in failed else []))
            w.writerow([spreadsheet_safe(r.path), spreadsheet_safe(r.stem or ""), f"{r.score:g}", f"{r.max_score:g}"]
                       + [f"{by_key[k]:g}" if k in by_key else "" for k in keys]
                       + [spreadsheet_safe(_printable(msg, 1000)), spreadsheet_safe(r.isolation)])
    return csv_path


def _collect(args_paths) -> list[pathlib.Path]:
    paths = []
    for p in map(pathlib.Path, args_paths):
        if p.is_dir():
            paths += sorted(x for x in p.rglob("*.ipynb") if ".ipynb_checkpoints" not in x.parts)
        else:
            paths.append(p)
    return paths


def _cleanup_on_signals() -> None:
    """SIGTERM/SIGHUP (a closed terminal, a job scheduler) unwind like Ctrl-C: the sandbox folder is removed."""
    import signal

    def stop(signum, frame):
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop)


CONFIG_KEYS = {"stem": str, "public_weight": (int, float), "timeout": (int, float)}


def read_config(path: pathlib.Path) -> dict:
    """The instructor's assignment file: JSON ``{"stem": "12_adam", "public_weight": 0, "timeout": 10}``."""
    from .grader_spec import QUESTIONS
    try:
        config = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read the assignment config {path}: {exc}") from None
    if not isinstance(config, dict):
        raise ValueError(f"{path}: the assignment config must be a JSON object")
    for key, value in config.items():
        if key not in CONFIG_KEYS:
            raise ValueError(f"{path}: unknown key {key!r} (known: {', '.join(CONFIG_KEYS)})")
        if isinstance(value, bool) or not isinstance(value, CONFIG_KEYS[key]):
            raise ValueError(f"{path}: {key} has the wrong type ({type(value).__name__})")
    if "stem" in config and config["stem"] not in QUESTIONS:
        raise ValueError(f"{path}: unknown exercise {config['stem']!r} (one of {', '.join(QUESTIONS)})")
    if not 0 <= config.get("public_weight", 0) <= 1 or not 0 < config.get("timeout", 10) <= 600:
        raise ValueError(f"{path}: public_weight must be in [0, 1] and timeout in (0, 600] seconds")
    return config


def main(argv=None) -> int:
    from .grader_spec import QUESTIONS
    ap = argparse.ArgumentParser(prog="python -m lrcourse grade", description="Score exercise notebooks in isolation.")
    ap.add_argument("submissions", nargs="+", help="notebooks, or folders searched for *.ipynb")
    ap.add_argument("--out", required=True, type=pathlib.Path,
                    help="folder for grades.csv and submissions/<name>/results.json")
    ap.add_argument("--config", type=pathlib.Path, help="assignment config (JSON: stem, public_weight, timeout)")
    ap.add_argument("--stem", choices=sorted(QUESTIONS), help="grade every submission as this exercise")
    ap.add_argument("--public-weight", type=float, help="weight of a public case relative to a hidden one "
                    "(default 0: points come from the hidden cases only)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="parallel children (default: cores)")
    ap.add_argument("--timeout", type=float, help="seconds per question (default 10)")
    ap.add_argument("--seed", type=int, help="fix the hidden cases (debugging only; default: os.urandom)")
    ap.add_argument("--gradescope-results", type=pathlib.Path,
                    help="also write the (single) submission's results.json here")
    args = ap.parse_args(argv)
    try:
        config = read_config(args.config) if args.config else {}
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stem = args.stem or config.get("stem")
    timeout = args.timeout if args.timeout is not None else float(config.get("timeout", 10.0))
    weight = args.public_weight if args.public_weight is not None else float(config.get("public_weight", 0.0))
    paths = _collect(args.submissions)
    if not paths:
        print("no notebooks to grade", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    _cleanup_on_signals()
    results = grade_paths(paths, workers=args.workers, seed=args.seed, stem=stem, timeout=timeout,
                          public_weight=weight)
    csv_path = write_reports(results, args.out)
    if args.gradescope_results is not None:
        args.gradescope_results.parent.mkdir(parents=True, exist_ok=True)
        args.gradescope_results.write_text(json.dumps(gradescope_json(results[0]), indent=1) + "\n")
    wall = time.perf_counter() - t0
    for r in results:
        print(f"{r.score:6g}/{r.max_score:<4g} {r.stem or '?':32s} {r.path}")
    print(f"{len(results)} submission(s) graded in {wall:.1f} s with {args.workers} worker(s); {csv_path}")
    return 0


# --------------------------------------------------------------------------- Gradescope bundle
RUN_AUTOGRADER = '''#!/usr/bin/env python3
"""Gradescope entry point, generated by `python -m lrcourse gradescope`.

Grades the submitted notebook as the exercise named in assignment.json (never as what the
notebook says it is) and writes /autograder/results/results.json.  AUTOGRADER_ROOT
overrides /autograder (for testing).
"""
import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(os.environ.get("AUTOGRADER_ROOT", "/autograder"))
RESULTS = ROOT / "results" / "results.json"
CONFIG = ROOT / "source" / "assignment.json"
STEM = json.loads(CONFIG.read_text())["stem"]
NEEDS = {needs!r}


def fail(message):
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({{"score": 0, "output": message, "visibility": "visible"}}))


if sys.version_info[:2] < NEEDS:
    fail("The autograder needs Python %d.%d or newer; this image has %s. Please tell your instructor."
         % (NEEDS + (sys.version.split()[0],)))
    sys.exit(0)
found = sorted(p for p in (ROOT / "submission").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
if not found:
    fail("No .ipynb notebook was found in your submission: upload the exercise notebook (%s.ipynb)." % STEM)
    sys.exit(0)
named = [p for p in found if STEM in p.name]
graded = (named or found)[0]
shown = graded.relative_to(ROOT / "submission")
note = "Graded %s as exercise %s" % (shown, STEM)
if len(found) > 1:
    note += " (%d notebooks were uploaded: %s; the one named after the exercise is graded, else the first)" % (
        len(found), ", ".join(str(p.relative_to(ROOT / "submission")) for p in found))
cmd = [sys.executable, "-m", "lrcourse", "grade", str(graded), "--out", str(ROOT / "results" / "lrcourse"),
       "--gradescope-results", str(RESULTS), "--config", str(CONFIG)]
done = subprocess.run(cmd, cwd=ROOT / "source")
if done.returncode != 0 or not RESULTS.exists():
    fail("The autograder itself failed (exit code %d); please tell your instructor." % done.returncode)
    sys.exit(0)
data = json.loads(RESULTS.read_text())
data["output"] = note + ". " + data.get("output", "")
RESULTS.write_text(json.dumps(data, indent=1))
'''

SETUP_SH = """#!/usr/bin/env bash
# Gradescope image setup, generated by `python -m lrcourse gradescope`.
set -euxo pipefail
export DEBIAN_FRONTEND=noninteractive PIP_BREAK_SYSTEM_PACKAGES=1
apt-get update
apt-get install -y --no-install-recommends python3 python3-pip
python3 -c 'import sys; v = sys.version_info[:2]; assert v >= {needs}, "lrcourse needs Python {dotted}+, found %d.%d" % v'
python3 -m pip install --no-cache-dir -r /autograder/source/requirements.txt
cd /autograder/source
python3 -c "import lrcourse.grader as g; b = g.make_sandbox(); print('children run as uid', b.user, 'with', b.python)"
"""

REQUIRES_PYTHON = (3, 10)    # pyproject.toml's requires-python


def build_gradescope_bundle(out: pathlib.Path, stem: str, timeout: float = 10.0, public_weight: float = 0.0
                            ) -> pathlib.Path:
    """Write setup.sh, run_autograder, assignment.json, requirements.txt and the lrcourse sources; zip them."""
    import zipfile

    import numpy

    from .grader_spec import QUESTIONS
    if stem not in QUESTIONS:
        raise ValueError(f"a Gradescope bundle grades one exercise: stem must be one of {', '.join(QUESTIONS)}")
    out.mkdir(parents=True, exist_ok=True)
    needs = REQUIRES_PYTHON
    config = {"stem": stem, "timeout": float(timeout), "public_weight": float(public_weight)}
    files = {"setup.sh": SETUP_SH.format(needs=needs, dotted=f"{needs[0]}.{needs[1]}"),
             "run_autograder": RUN_AUTOGRADER.format(needs=needs),
             "assignment.json": json.dumps(config, indent=1) + "\n",
             "requirements.txt": f"numpy>=1.26,<3  # graded with numpy {numpy.__version__}\n"}
    package = pathlib.Path(__file__).parent
    for py in sorted(package.glob("*.py")):
        files[f"lrcourse/{py.name}"] = py.read_text()
    zpath = out / "autograder.zip"
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in files.items():
            target = out / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            mode = 0o755 if name in ("setup.sh", "run_autograder") else 0o644
            target.chmod(mode)
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, text)
    return zpath


def gradescope_main(argv=None) -> int:
    from .grader_spec import QUESTIONS
    ap = argparse.ArgumentParser(prog="python -m lrcourse gradescope",
                                 description="Build the Gradescope autograder bundle (autograder.zip).")
    ap.add_argument("--out", required=True, type=pathlib.Path, help="folder for the bundle")
    ap.add_argument("--stem", required=True, choices=sorted(QUESTIONS),
                    help="the exercise this assignment grades (one Gradescope assignment per exercise notebook)")
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds per question (default 10)")
    ap.add_argument("--public-weight", type=float, default=0.0, help="weight of a public case (default 0)")
    args = ap.parse_args(argv)
    zpath = build_gradescope_bundle(args.out, args.stem, args.timeout, args.public_weight)
    print(f"wrote {zpath}: upload it as the autograder of the Gradescope assignment for {args.stem}")
    return 0
