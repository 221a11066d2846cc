"""The from-scratch rule, read from the syntax tree: what graded code may not do.

Graded code may use numpy and math (plus functools/itertools/operator) and the library
classes as *bases* only.  ``static_problems`` names every offence with its line; the batch
refuses such code before it runs (the question scores 0 and the row says why), and
``check()`` applies the same function in the notebook, so nobody is surprised by a zero.
A second, runtime layer in the child (its namespace and audit hook) enforces the same.
"""
from __future__ import annotations

import ast

from .. import optimizers, schedules
from .namespace import ALLOWED_MODULES, BLOCKED_BUILTINS
from .notebook import parse

ALLOWED_IMPORTS = ALLOWED_MODULES          # the same lists the child enforces at run time
FORBIDDEN_NAMES = BLOCKED_BUILTINS | frozenset(
    "torch lrcourse runs problems widgets feedback grader grading importlib sys os subprocess builtins "
    "ctypes pickle marshal shutil pathlib io socket signal resource gc inspect "
    "attrgetter methodcaller".split())   # operator's attribute access by string, like getattr
NAMEDTUPLE_API = frozenset({"_replace", "_asdict", "_fields", "_make", "_field_defaults"})
FORBIDDEN_ATTRS = frozenset(
    "sys os subprocess builtins modules importlib load loads save savez savez_compressed savetxt loadtxt "
    "genfromtxt fromfile tofile fromregex dump dumps memmap ctypes ctypeslib f2py distutils testing lib "
    "DataSource open system popen gi_frame gi_code f_back f_globals f_locals f_builtins f_code tb_frame "
    "tb_next cr_frame ag_frame co_code attrgetter methodcaller".split())
ALLOWED_DUNDERS = frozenset({"__init__", "__post_init__", "__name__", "__qualname__"})
LIBRARY_NAMES = frozenset(n for n in dir(optimizers) + dir(schedules) if n[:1].isupper() and not n.endswith("State"))


def _library_class(base: str | None):
    return None if base is None else getattr(optimizers, base, None) or getattr(schedules, base, None)


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
        tree = parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        return [f"the graded code does not parse: {getattr(exc, 'msg', exc)}"]
    problems = []
    base_cls = _library_class(getattr(q, "base", None))
    helpers = {n for n in dir(base_cls) if n.startswith("_") and not n.startswith("__")} if base_cls else set()
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
            if (isinstance(owner, ast.Name) and owner.id in ("optimizers", "schedules") and attr in LIBRARY_NAMES
                    and id(node) not in base_positions):
                bad(node, f"uses {owner.id}.{attr} other than as the base class: that is the reference "
                          "implementation, which graded code may not call")
    if q is not None and q.kind in ("optimizer", "plateau"):
        cls = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == q.target), None)
        if cls is not None and not any(isinstance(n, ast.FunctionDef) and n.name == "step" for n in cls.body):
            problems.append(f"{q.target} does not define step")
    return problems

