"""The stand-in base classes graded code derives from, generated from the library's own source.

Every field, default, validation, ``init`` and public method (``is_better``, ``effective_lr``,
...) as the learner has them in the notebook, with each algorithm method's body replaced by a
raise: there is no copy to keep in step by hand, and nothing for ``super().step`` or
``optimizers.Adam.step(self, ...)`` to delegate to.  The child builds its ``optimizers`` and
``schedules`` names from these sources (``namespace.stub_modules``), and so does ``check()``.
"""
from __future__ import annotations

import ast
import functools
import inspect

from .. import optimizers, schedules
from .notebook import defined_names, parse

LIBRARY = {"optimizers": optimizers, "schedules": schedules}
# Every optimizer class of the library (dense or sparse), and the one stateful schedule (the
# others are functions of t, which exercises write from scratch): a new optimizer gets its stand-in.
STANDIN_CLASSES = {"optimizers": tuple(name for name, cls in vars(optimizers).items() if isinstance(cls, type)
                                       and issubclass(cls, optimizers.Optimizer) and cls is not optimizers.Optimizer),
                   "schedules": (schedules.ReduceLROnPlateau.__name__,)}
ALGORITHM_METHODS = frozenset({"step", "__call__", "_lr_at", "lrs", "_grad"})   # _grad: weight decay
STANDIN_IMPORTS = frozenset({"__future__", "dataclasses", "math", "typing", "collections", "numpy"})


def _stub_body(cls: str, name: str) -> list:
    message = (f"{cls}.{name}: the graded code must implement {name} itself "
               "(the library's is not available when grading)")
    return parse(f"raise NotImplementedError({message!r})").body


@functools.lru_cache(maxsize=1)
def standin_sources() -> dict:
    """The stand-in modules' sources, by module name (generated once per process)."""
    return {m: standin_source(m) for m in STANDIN_CLASSES}


def standin_source(module_name: str) -> str:
    """Source of the stand-in module for ``lrcourse.<module_name>``: see STANDIN_CLASSES."""
    tree = parse(inspect.getsource(LIBRARY[module_name]))
    top = {}
    for stmt in tree.body:
        for name in defined_names(stmt):
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

