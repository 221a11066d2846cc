"""What graded code sees when it is defined: the child's namespace, shared with ``check()``.

Builtins without the blocked ones and with a guarded ``__import__``, numpy and math, and the
stand-in ``optimizers`` / ``schedules`` (built here from the sources ``standins`` generates
from the library).  The child defines the submission in this namespace, and ``check(...)``
defines the learner's cells in it too, so code that passes in the notebook is graded as is.
Standard library and numpy only: the child imports this module from its sandbox.
"""
from __future__ import annotations

import builtins
import math
import sys
import types

import numpy as np

ALLOWED_MODULES = frozenset({"numpy", "math", "cmath", "functools", "itertools", "operator", "typing", "__future__"})

# Builtins the graded code does not get (the static rules refuse them by name too); every
# other public builtin is available, so code that passes check() in the notebook runs here.
BLOCKED_BUILTINS = frozenset(
    "open exec eval compile globals locals vars getattr setattr delattr breakpoint input help exit quit "
    "memoryview copyright credits license aiter anext".split())


class _Namespace:
    def __init__(self, name, **members):
        self.__name__ = name
        self.__dict__.update(members)


def stub_modules(sources):
    """The ``optimizers`` and ``schedules`` names a graded cell sees, built from the stand-in sources
    generated from the library (``standins.standin_sources``): the library's classes with every
    field and public method, and a ``step`` that raises NotImplementedError."""
    spaces = []
    for name in ("optimizers", "schedules"):
        module = types.ModuleType(f"lrcourse_standin_{name}")
        sys.modules[module.__name__] = module   # dataclasses look the module up while decorating
        try:
            exec(compile(sources[name], f"<lrcourse {name} stand-ins>", "exec"), module.__dict__)  # noqa: S102
        finally:
            del sys.modules[module.__name__]
        members = {k: v for k, v in vars(module).items()
                   if not k.startswith("_") and getattr(v, "__module__", None) == module.__name__}
        spaces.append(_Namespace(name, **members))
    return tuple(spaces)


def restricted_builtins() -> dict:
    safe = {name: value for name, value in vars(builtins).items()
            if not name.startswith("_") and name not in BLOCKED_BUILTINS}
    safe["__build_class__"] = builtins.__build_class__
    real_import = builtins.__import__

    def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level != 0 or name.partition(".")[0] not in ALLOWED_MODULES:
            raise ImportError(f"import {name!r}: graded code may import only {sorted(ALLOWED_MODULES)}")
        return real_import(name, globals, locals, fromlist, level)

    safe["__import__"] = guarded_import
    return safe


def graded_namespace(standin_sources: dict) -> dict:
    """A fresh module namespace for graded code: restricted builtins, np, math and the stand-ins."""
    optimizers, schedules = stub_modules(standin_sources)
    return {"__builtins__": restricted_builtins(), "__name__": "submission", "np": np, "numpy": np,
            "math": math, "optimizers": optimizers, "schedules": schedules}
