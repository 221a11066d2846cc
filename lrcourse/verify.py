"""``python -m lrcourse verify``: every optimizer and schedule against torch, as a table.

Each optimizer runs with each of its option variants on a problem where its default-ish
settings converge, with a cosine schedule changing the LR every step; the optimizers that take
sparse gradients (SparseAdam, Adagrad, SGD) run again on an embedding-bag classifier whose
gradients are ``SparseGrad`` rows, as ``nn.Embedding(sparse=True)`` gives them to torch; each
schedule is compared over 3 of its periods.  Exit status 1 if anything fails.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time

from . import optimizers as O
from . import problems as P
from . import schedules as S
from .runs import compare, torch_one_thread
from .sparse_data import EmbeddingBagClassifier, make_zipf_text

STEPS = 300


def label(method) -> str:
    """The options of a method that differ from torch's defaults (lr aside), e.g. "momentum=0.9"."""
    defaults = {f.name: f.default for f in dataclasses.fields(method) if f.default is not dataclasses.MISSING}
    parts = []
    for f in dataclasses.fields(method):
        value = getattr(method, f.name)
        if not f.init or f.name in ("lr", "max_lr") or defaults.get(f.name, dataclasses.MISSING) == value:
            continue
        if isinstance(value, tuple) and value and hasattr(value[0], "lr"):  # SequentialLR's children
            value = "(" + ", ".join(type(s).__name__ for s in value) + ")"
        elif callable(value):
            value = getattr(value, "__name__", "function")
        elif isinstance(value, float):
            value = f"{value:g}"
        parts.append(f"{f.name}={value}")
    return ", ".join(parts) or "plain"


def optimizer_cases():
    """(options, optimizer) for every variant of every optimizer class: every option torch offers,
    one at a time and combined (the classes' ``variants``, the parity tests' configurations too)."""
    return [(label(cls(**kw)), cls(**kw)) for cls in O.OPTIMIZERS for kw in cls.variants]


def sparse_cases():
    """(options, optimizer) for every sparse-gradient variant of the optimizers that take a SparseGrad."""
    return [(label(cls(**kw)), cls(**kw)) for cls in O.SPARSE_OPTIMIZERS for kw in cls.sparse_variants]


def sparse_problem(maximize: bool = False):
    """The problem of the sparse rows: 1000 Zipf-distributed tokens, minibatches of 16 documents."""
    task = EmbeddingBagClassifier(make_zipf_text(vocab=1000, n=400, length=10), batch_size=16)
    return P.Negated(task) if maximize else task


def schedule_cases(steps: int = STEPS):
    """(options, schedule) for every variant of every schedule class (periods fitted to ``steps``),
    ReduceLROnPlateau last."""
    return [(label(s), s) for cls in S.SCHEDULES + (S.ReduceLROnPlateau,) for s in cls.variants(0.1, steps)]


def _problem_for(opt):
    # Maximizing the negated quadratic is the same descent; the other options use it too.
    if getattr(opt, "maximize", False):
        return P.Negated(P.IllConditionedQuadratic())
    return P.IllConditionedQuadratic()


def rows(device="cpu", dtype="float64", steps: int = STEPS):
    for options, opt in optimizer_cases():
        sched = S.CosineAnnealingLR(opt.lr, T_max=100)
        c = compare(opt, _problem_for(opt), steps, schedule=sched, device=device, dtype=dtype)
        yield type(opt).__name__, options, c
    for options, opt in sparse_cases():
        sched = S.CosineAnnealingLR(opt.lr, T_max=100)
        with torch_one_thread():  # small sparse tables: a second thread costs more than it does
            c = compare(opt, sparse_problem(opt.maximize), steps, schedule=sched, device=device, dtype=dtype)
        yield type(opt).__name__ + " (sparse)", options, c
    for options, sched in schedule_cases(steps):
        # ReduceLROnPlateau follows the validation loss of a minibatch run; the others need no problem
        problem = P.LogisticRegression(batch_size=32) if sched.kind == "plateau" else None
        yield type(sched).__name__, options, compare(sched, problem, steps=steps, device=device, dtype=dtype)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lrcourse verify", description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    ap.add_argument("--json", action="store_true", help="one JSON object per line instead of a table")
    ap.add_argument("--steps", type=int, default=STEPS,
                    help=f"updates of each optimizer, LRs of each schedule (default {STEPS})")
    args = ap.parse_args(argv)
    if args.steps < 1:
        ap.error(f"--steps must be at least 1 (one update to compare), got {args.steps}")
    failed, t0 = 0, time.perf_counter()
    if not args.json:
        print(f"{'method':<29}{'options':<38}{'device':<7}{'dtype':<9}{'steps':>6}{'max error':>11}"
              f"{'tolerance':>11}  result")
    try:
        for method, options, c in rows(args.device, args.dtype, args.steps):
            ok = c.passed
            failed += not ok
            if args.json:
                print(json.dumps({"method": method, "options": options, "device": c.device, "dtype": c.dtype,
                                  "steps": c.steps, "max_error": c.max_error, "tolerance": c.tolerance,
                                  "passed": ok, "verdict": c.verdict}))
            else:
                print(f"{method:<29}{options[:37]:<38}{c.device:<7}{c.dtype:<9}{c.steps:>6}{c.max_error:>11.1e}"
                      f"{c.tolerance:>11.0e}  {'PASS' if ok else 'FAIL'}")
                if not ok:
                    print(f"    {c.verdict}")
    except ValueError as e:  # e.g. --device cuda without a GPU, or float64 on MPS
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not args.json:
        print(f"\n{'all PASS' if not failed else f'{failed} FAIL'} in {time.perf_counter() - t0:.1f} s")
    return 1 if failed else 0
