"""Verdicts: does an output match the expected one, where does it first differ, which known
mistake does it repeat.  Shared by ``check()`` (in the notebook) and the batch's scoring.

Every comparison goes through ``runs.rel_error``, the course's one error rule (compare,
verify, check() and the grader), per step and per state field, to the question's ``tol``.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from ..runs import rel_error
from .questions import Mistake, Question, expected_output

__all__ = ["Diff", "compare_output", "validate_output", "matching_mistakes", "describe_difference",
           "format_values", "digits_to_show", "looks_float32", "FLOAT32_HINT"]



@dataclasses.dataclass
class Diff:
    """Where an output first differs from the expected one."""

    step: int | None      # step / epoch / t index (None for function answers)
    field: str | None
    yours: Any
    expected: Any
    error: float

    def where(self) -> str:
        at = [] if self.step is None else [f"step {self.step}"]
        if self.field:
            at.append(f"field {self.field}")
        return ", ".join(at) or "the returned value"


FLOAT32_HINT = ("your values are exactly representable in float32: compute in float64 "
                "(np.asarray(x, dtype=np.float64)); answers are compared to 1e-9, float32 holds about 1e-7")


def digits_to_show(error: float) -> int:
    """Significant digits that make a relative difference of ``error`` visible (6 .. 17)."""
    if not math.isfinite(error) or error >= 1e-4:
        return 6
    return int(min(17, max(6, math.ceil(-math.log10(max(error, 1e-17))) + 2)))


def format_values(value, digits: int = 6) -> str:
    """Numbers as a learner reads them, to ``digits`` significant digits; never raises."""
    if value is None:
        return "None"
    try:
        arr = np.asarray(value, dtype=np.float64)
        return np.array2string(arr, precision=digits - 1, threshold=12, floatmode="maxprec",
                               formatter={"float_kind": lambda x: f"{x:.{digits}g}"})
    except (TypeError, ValueError, OverflowError):
        text = repr(value)
        return text if len(text) <= 120 else text[:117] + "..."


def looks_float32(value) -> bool:
    """True if every number is a float32 value (and not all are small integers): a float32 computation."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        return False
    if arr.size == 0 or not np.all(np.isfinite(arr)) or np.all(arr == np.round(arr)):
        return False
    with np.errstate(over="ignore"):
        return bool(np.all(arr.astype(np.float32).astype(np.float64) == arr))


def describe_difference(diff) -> str:
    """'yours [...], expected [...] (relative difference 3e-08)', printed to the digits that differ."""
    n = digits_to_show(diff.error)
    text = (f"yours {format_values(diff.yours, n)}, expected {format_values(diff.expected, n)} "
            f"(relative difference {diff.error:.1e})")
    return text + (f"; {FLOAT32_HINT}" if looks_float32(diff.yours) else "")


def _update(rows, k, start):
    """p_k - p_(k-1) of a trajectory (p_(-1) = the case's start), or None if not numbers."""
    try:
        before = start if k == 0 else rows[k - 1]["params"]
        return (np.asarray(rows[k]["params"], dtype=np.float64) - np.asarray(before, dtype=np.float64)).tolist()
    except (IndexError, KeyError, TypeError, ValueError, OverflowError):
        return None


def compare_output(q: Question, out, expected, case: dict | None = None) -> Diff | None:
    """None if ``out`` matches ``expected`` within the question's tolerance.

    Optimizers: per step, the params, the update p_new - p_old (with ``case``: on its own
    scale, so a wrong eps or bias correction shows even when lr is tiny), then the fields.
    """
    if q.kind in ("optimizer", "plateau"):
        fields = ("params",) + q.fields if q.kind == "optimizer" else q.fields
        rows = out if isinstance(out, list) else []
        for k, exp_row in enumerate(expected):
            row = rows[k] if k < len(rows) and isinstance(rows[k], dict) else {}
            for f in fields:
                err = rel_error(row.get(f), exp_row[f])
                if not err <= q.tol:
                    return Diff(k, f, row.get(f), exp_row[f], err)
                if f == "params" and case is not None:
                    yours, exp = _update(rows, k, case["params"]), _update(expected, k, case["params"])
                    err = rel_error(yours, exp)
                    if not err <= q.tol:
                        return Diff(k, "update (params - previous params)", yours, exp, err)
        return None
    if q.kind == "schedule":
        for k, exp in enumerate(expected):
            got = out[k] if isinstance(out, list) and k < len(out) else None
            err = rel_error(got, exp)
            if not err <= q.tol:
                return Diff(k, None, got, exp, err)
        return None
    err = rel_error(out, expected)
    return None if err <= q.tol else Diff(None, None, out, expected, err)


def _numbers(value, depth=0) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    if isinstance(value, list) and depth < 3:
        return all(_numbers(v, depth + 1) for v in value)
    return False


def validate_output(q: Question, out) -> str | None:
    """Type-check an output that came from an untrusted process; a message if malformed."""
    if q.kind in ("optimizer", "plateau"):
        if not isinstance(out, list) or not all(isinstance(r, dict) for r in out):
            return "expected a list of per-step records"
        allowed = {"params", *q.fields}
        for row in out:
            for k, v in row.items():
                if k not in allowed or not (v is None or _numbers(v)):
                    return "a per-step record holds something other than numbers"
        return None
    if q.kind == "schedule":
        return None if isinstance(out, list) and all(_numbers(v) and not isinstance(v, list) for v in out) \
            else "expected a list of numbers"
    return None if (out is None or _numbers(out)) else "expected a number or a list of numbers"


def matching_mistakes(q: Question, case: dict, out, diff: Diff | None = None) -> list[Mistake]:
    """The known mistakes whose output equals ``out`` on this case (whole case, else at the first difference)."""
    full, partial = [], []
    for m in q.mistakes:
        try:
            wrong = expected_output(q, case, m.impl)
        except Exception:  # noqa: BLE001 — a mistake variant may itself fail on a case
            continue
        if compare_output(q, out, wrong, case) is None:
            full.append(m)
        elif diff is not None and _same_at(q, wrong, diff):
            partial.append(m)
    return full or partial


def _same_at(q: Question, wrong, diff: Diff) -> bool:
    try:
        if diff.field and diff.field.startswith("update"):
            return False
        if q.kind in ("optimizer", "plateau"):
            value = wrong[diff.step][diff.field]
        elif q.kind == "schedule":
            value = wrong[diff.step]
        else:
            value = wrong
    except (IndexError, KeyError, TypeError):
        return False
    return rel_error(diff.yours, value) <= q.tol
