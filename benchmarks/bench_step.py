"""Time one optimizer step of lrcourse (NumPy) beside torch.optim's on the CPU, in the same run.

    .venv/bin/python benchmarks/bench_step.py            # 1e5, 1e6 and 1e7 float32 parameters
    .venv/bin/python benchmarks/bench_step.py --quick    # 1e6 only, fewer repeats

For every optimizer (torch defaults, SGD with momentum 0.9) it reports the wall time of one step
after a warm-up, the fastest of the timed steps (``--median``: their median), all timed
round-robin so that load from other processes hits them alike:
lrcourse's reference ``opt.step(p, grad, state)`` (new arrays out), for Adam and AdamW also
``lrcourse.fast.adam_step`` (the same numbers, in place, blocked, threaded), torch's default CPU step
(``foreach=None``, which on the CPU is the single-tensor for-loop implementation), torch with
``foreach=True`` and torch with ``fused=True`` (where torch has a fused CPU kernel), and the ratios
of the fastest lrcourse path to torch's default and fused steps (<= 1: lrcourse as fast or faster).
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np
import torch

from lrcourse import fast
from lrcourse import optimizers as O

CONFIGS = [
    ("SGD(momentum=0.9)", O.SGD(momentum=0.9)),
    ("Adagrad", O.Adagrad()),
    ("RMSprop", O.RMSprop()),
    ("Adadelta", O.Adadelta()),
    ("Adam", O.Adam()),
    ("Adam(amsgrad)", O.Adam(amsgrad=True)),
    ("AdamW", O.AdamW()),
    ("NAdam", O.NAdam()),
]


def lrcourse_stepper(opt, n: int, path=None):
    """One step of opt.step, or of path(opt, ...) (fast.adam_step), on n float32 parameters."""
    rng = np.random.default_rng(0)
    p = rng.standard_normal(n, dtype=np.float32)
    g = rng.standard_normal(n, dtype=np.float32)
    box = [p, opt.init(p)]
    step_fn = opt.step if path is None else (lambda *a: path(opt, *a))

    def step():
        box[0], box[1] = step_fn(box[0], g, box[1])

    return step


def torch_stepper(opt, n: int, **impl):
    """One step of the torch twin with impl (foreach=None / True, fused=True); None if torch refuses."""
    gen = torch.Generator().manual_seed(0)
    p = torch.randn(n, generator=gen, dtype=torch.float32).requires_grad_()
    p.grad = torch.randn(n, generator=gen, dtype=torch.float32)
    try:
        topt = getattr(torch.optim, type(opt).__name__)([p], **impl, **opt.hyperparameters())
        topt.step()
    except (RuntimeError, TypeError, ValueError):  # no fused kernel for this optimizer on the CPU
        return None
    return topt.step


def median_times(steppers, repeats: int, warmup: int = 2):
    """Median seconds per step of each stepper, timed round-robin so that a change in the
    machine's load (other processes) hits all of them alike."""
    for fn in steppers:
        for _ in range(warmup):
            fn()
    times = [[] for _ in steppers]
    for _ in range(repeats):
        for fn, ts in zip(steppers, times):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
    return [(statistics.median(ts), min(ts)) for ts in times]


def _ms(x):
    return f"{x * 1e3:9.2f}" if x is not None else f"{'-':>9s}"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1e6 parameters only, fewer repeats")
    ap.add_argument("--sizes", type=float, nargs="+", help="parameter counts (default 1e5 1e6 1e7)")
    ap.add_argument("--repeats", type=int, help="timed steps per measurement (median taken)")
    ap.add_argument("--only", nargs="+", help="optimizer labels to run, e.g. Adam AdamW")
    ap.add_argument("--median", action="store_true", help="report medians instead of the fastest steps")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in (args.sizes or ([1e6] if args.quick else [1e5, 1e6, 1e7]))]
    configs = [c for c in CONFIGS if not args.only or c[0] in args.only]

    print(f"torch {torch.__version__} ({torch.get_num_threads()} threads), numpy {np.__version__}, "
          f"python {platform.python_version()}, {os.cpu_count()} CPUs ({platform.processor() or platform.machine()})")
    print(f"float32 parameters; one step in milliseconds, the {'median' if args.median else 'fastest'} of the timed steps "
          f"(the fastest is the least disturbed by other processes);")
    print("'best' is the faster lrcourse path; ratios best / torch (< 1: lrcourse faster); '-': no such path\n")
    head = (f"{'optimizer':18s} {'n':>6s} {'reference':>9s} {'fast':>9s} {'torch':>9s} {'foreach':>9s} "
            f"{'fused':>9s} {'best/torch':>10s} {'best/fused':>10s}")
    print(head)
    print("-" * len(head))
    for n in sizes:
        repeats = args.repeats or (7 if args.quick else (15 if n <= 2_000_000 else 7))
        for label, opt in configs:
            steppers = [lrcourse_stepper(opt, n),
                        lrcourse_stepper(opt, n, fast.adam_step) if isinstance(opt, O.Adam) else None,
                        torch_stepper(opt, n, foreach=None), torch_stepper(opt, n, foreach=True),
                        torch_stepper(opt, n, fused=True)]
            timed = iter(median_times([s for s in steppers if s is not None], repeats))
            pick = 0 if args.median else 1  # median_times gives (median, min) per stepper
            ref, fst, loop, fe, fused = (next(timed)[pick] if s is not None else None for s in steppers)
            best = min(t for t in (ref, fst) if t is not None)
            ratio_fused = f"{best / fused:10.2f}" if fused is not None else f"{'-':>10s}"
            print(f"{label:18s} {n:>6.0e} {_ms(ref)} {_ms(fst)} {_ms(loop)} {_ms(fe)} {_ms(fused)} "
                  f"{best / loop:10.2f} {ratio_fused}", flush=True)
        print()


if __name__ == "__main__":
    main()
