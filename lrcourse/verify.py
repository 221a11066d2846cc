"""``python -m lrcourse verify``: every optimizer and schedule against torch, as a table.

Each optimizer runs with each of its option variants on a problem where its default-ish
settings converge, with a cosine schedule changing the LR every step; each schedule is
compared over 3 of its periods.  Exit status 1 if anything fails.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from . import optimizers as O
from . import problems as P
from . import schedules as S
from .runs import compare

STEPS = 300


def optimizer_cases():
    """(options label, optimizer) pairs: every option torch offers, one at a time and combined."""
    return [
        ("plain", O.SGD(lr=0.05)),
        ("momentum", O.SGD(lr=0.05, momentum=0.9)),
        ("momentum, dampening", O.SGD(lr=0.05, momentum=0.9, dampening=0.5)),
        ("nesterov", O.SGD(lr=0.05, momentum=0.9, nesterov=True)),
        ("weight decay, maximize", O.SGD(lr=0.05, momentum=0.5, weight_decay=0.1, maximize=True)),
        ("plain", O.Adagrad(lr=0.5)),
        ("lr_decay, initial_accumulator_value", O.Adagrad(lr=0.5, lr_decay=0.01, initial_accumulator_value=0.1)),
        ("weight decay, maximize", O.Adagrad(lr=0.5, weight_decay=0.1, maximize=True)),
        ("plain", O.RMSprop(lr=0.01)),
        ("centered", O.RMSprop(lr=0.01, centered=True)),
        ("momentum", O.RMSprop(lr=0.01, momentum=0.9)),
        ("centered, momentum, weight decay", O.RMSprop(lr=0.01, centered=True, momentum=0.5, weight_decay=0.1)),
        ("maximize", O.RMSprop(lr=0.01, maximize=True)),
        ("plain", O.Adadelta()),
        ("lr, rho, weight decay", O.Adadelta(lr=0.5, rho=0.95, weight_decay=0.1)),
        ("maximize", O.Adadelta(maximize=True)),
        ("plain", O.Adam(lr=0.05)),
        ("amsgrad (AMSGrad)", O.Adam(lr=0.05, amsgrad=True)),
        ("weight decay (L2)", O.Adam(lr=0.05, weight_decay=0.1)),
        ("decoupled weight decay", O.Adam(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True)),
        ("maximize", O.Adam(lr=0.05, maximize=True)),
        ("plain", O.AdamW(lr=0.05)),
        ("amsgrad, weight decay", O.AdamW(lr=0.05, amsgrad=True, weight_decay=0.1)),
        ("maximize", O.AdamW(lr=0.05, maximize=True)),
        ("plain", O.NAdam(lr=0.05)),
        ("momentum_decay, weight decay (L2)", O.NAdam(lr=0.05, momentum_decay=0.01, weight_decay=0.1)),
        ("decoupled weight decay", O.NAdam(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True)),
        ("maximize", O.NAdam(lr=0.05, maximize=True)),
    ]


def schedule_cases():
    lr = 0.1
    cases = [
        ("step_size=10", S.StepLR(lr, step_size=10, gamma=0.5)),
        ("milestones=[10, 30, 30]", S.MultiStepLR(lr, milestones=[10, 30, 30], gamma=0.5)),
        ("gamma=e^-0.05", S.ExponentialLR(lr, gamma=0.951229424500714)),
        ("T_max=40, past T_max", S.CosineAnnealingLR(lr, T_max=40, eta_min=0.001)),
        ("warm-up 0.1 -> 1", S.LinearLR(lr, start_factor=0.1, total_iters=20)),
        ("decay 1 -> 0.05", S.LinearLR(lr, start_factor=1.0, end_factor=0.05, total_iters=50)),
        ("min(t/10, 1)", S.LambdaLR(lr, lr_lambda=_warmup_lambda)),
        ("factor=0.25", S.ConstantLR(lr, factor=0.25, total_iters=15)),
        ("linear warm-up, cosine", S.SequentialLR(
            schedulers=(S.LinearLR(lr, start_factor=0.1, total_iters=10), S.CosineAnnealingLR(lr, T_max=90)),
            milestones=(10,))),
    ]
    for name in ("OneCycleLR", "CosineAnnealingWarmRestarts"):  # added with the lesson on cycles
        if hasattr(S, name):
            cls = getattr(S, name)
            cases.append((f"total_steps={STEPS}", cls(lr, total_steps=STEPS)) if name == "OneCycleLR"
                         else ("T_0=20, T_mult=2", cls(lr, T_0=20, T_mult=2)))
    return cases


def _warmup_lambda(t):
    return min(t / 10, 1.0)


def _problem_for(opt):
    # Maximizing the negated quadratic is the same descent; the other options use it too.
    if getattr(opt, "maximize", False):
        return _Negated(P.IllConditionedQuadratic())
    return P.IllConditionedQuadratic()


class _Negated(P.Problem):
    """-f: maximizing it with maximize=True walks the same path as minimizing f."""

    def __init__(self, base):
        self.base, self.x0, self.name = base, base.x0, "negated " + base.name

    def loss(self, x):
        return -self.base.loss(x)

    def grad(self, x, t=0):
        return -self.base.grad(x, t)


def rows(device="cpu", dtype="float64"):
    for label, opt in optimizer_cases():
        sched = S.CosineAnnealingLR(opt.lr, T_max=100)
        c = compare(opt, _problem_for(opt), STEPS, schedule=sched, device=device, dtype=dtype)
        yield type(opt).__name__, label, c
    plateau = S.ReduceLROnPlateau(0.1, patience=2, cooldown=1, threshold=0.01)
    yield "ReduceLROnPlateau", "patience=2, cooldown=1", compare(
        plateau, P.LogisticRegression(batch_size=32), STEPS, device=device, dtype=dtype)
    for label, sched in schedule_cases():
        yield type(sched).__name__, label, compare(sched, steps=STEPS, device=device, dtype=dtype)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lrcourse verify", description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    ap.add_argument("--json", action="store_true", help="one JSON object per line instead of a table")
    args = ap.parse_args(argv)
    failed, t0 = 0, time.perf_counter()
    if not args.json:
        print(f"{'method':<29}{'options':<38}{'device':<7}{'dtype':<9}{'steps':>6}{'max error':>11}"
              f"{'tolerance':>11}  result")
    try:
        for method, label, c in rows(args.device, args.dtype):
            ok = c.passed
            failed += not ok
            if args.json:
                print(json.dumps({"method": method, "options": label, "device": c.device, "dtype": c.dtype,
                                  "steps": c.steps, "max_error": c.max_error, "tolerance": c.tolerance,
                                  "passed": ok, "verdict": c.verdict}))
            else:
                print(f"{method:<29}{label:<38}{c.device:<7}{c.dtype:<9}{c.steps:>6}{c.max_error:>11.1e}"
                      f"{c.tolerance:>11.0e}  {'PASS' if ok else 'FAIL'}")
                if not ok:
                    print(f"    {c.verdict}")
    except ValueError as e:  # e.g. --device cuda without a GPU, or float64 on MPS
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not args.json:
        print(f"\n{'all PASS' if not failed else f'{failed} FAIL'} in {time.perf_counter() - t0:.1f} s")
    return 1 if failed else 0
