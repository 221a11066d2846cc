"""The case runners: one loop per kind of question, shared by every side of grading.

The same loop runs the reference (to compute expected outputs), the learner's code in
``check(...)``, and the submission inside the sandboxed child, so all three are driven
identically.  Outputs are plain lists and numbers (JSON data).  NumPy and the standard
library only: the child imports this module from its sandbox, where nothing else exists.
"""
from __future__ import annotations

import math

import numpy as np


def plain(value):
    """An output value as JSON data: None, a float, or (nested) lists of floats."""
    if value is None:
        return None
    arr = np.asarray(value, dtype=np.float64)
    return float(arr) if arr.ndim == 0 else arr.tolist()


def finite(value) -> bool:
    """True if every number in a runner's output (None, floats, lists, dicts of those) is finite."""
    if isinstance(value, dict):
        return all(finite(v) for v in value.values())
    if isinstance(value, list):
        return all(finite(v) for v in value)
    return value is None or (isinstance(value, (int, float)) and math.isfinite(value))


def fields_of(state, fields):
    return {f: plain(getattr(state, f)) for f in fields}


def run_optimizer_case(cls, case, fields):
    """Per step: the params and the requested state fields after that step."""
    opt = cls(**case["hyper"])
    p = np.array(case["params"], dtype=np.float64)
    state = opt.init(p)
    lrs = case.get("lrs")
    out = []
    for k, g in enumerate(case["grads"]):
        g = np.array(g, dtype=np.float64)
        if lrs is None:
            p, state = opt.step(p, g, state)
        else:
            p, state = opt.step(p, g, state, lr=lrs[k])
        row = {"params": plain(p)}
        row.update(fields_of(state, fields))
        out.append(row)
    return out


def run_plateau_case(cls, case, fields):
    sched = cls(**case["hyper"])
    state = sched.init()
    out = []
    for m in case["metrics"]:
        state = sched.step(state, m)
        out.append(fields_of(state, fields))
    return out


def run_schedule_case(fn, case, fields=()):
    """fn(t, **kwargs) for t = t0 .. t0 + steps - 1, as floats."""
    t0 = case.get("t0", 0)
    return [float(np.asarray(fn(t, **case["kwargs"]), dtype=np.float64)) for t in range(t0, t0 + case["steps"])]


def run_function_case(fn, case, fields=()):
    return plain(fn(**case["kwargs"]))


RUNNERS = {"optimizer": run_optimizer_case, "plateau": run_plateau_case,
           "schedule": run_schedule_case, "function": run_function_case}


def run_case(kind, target, case, fields=()):
    return RUNNERS[kind](target, case, tuple(fields))

