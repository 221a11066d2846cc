"""Time one optimizer step of lrcourse (NumPy) beside torch.optim's on the CPU, in the same run.

    .venv/bin/python benchmarks/bench_step.py            # 1e6 and 1e7 float32 parameters
    .venv/bin/python benchmarks/bench_step.py --quick    # 1e6 only, fewer repeats

For every optimizer (torch defaults, SGD with momentum 0.9) it reports the median wall time of one
step after a warm-up (the three timed round-robin, so load from other processes hits them alike):
lrcourse's pure ``opt.step(p, grad, state)`` (new arrays out), torch's default
CPU step (``foreach=None``, which on the CPU is the single-tensor for-loop implementation) and torch
with ``foreach=True``, and the ratios lrcourse / torch.  A ratio <= 1 means lrcourse is as fast or faster.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np
import torch

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


def lrcourse_stepper(opt, n: int):
    rng = np.random.default_rng(0)
    p = rng.standard_normal(n, dtype=np.float32)
    g = rng.standard_normal(n, dtype=np.float32)
    box = [p, opt.init(p)]

    def step():
        box[0], box[1] = opt.step(box[0], g, box[1])

    return step


def torch_stepper(opt, n: int, foreach):
    gen = torch.Generator().manual_seed(0)
    p = torch.randn(n, generator=gen, dtype=torch.float32).requires_grad_()
    p.grad = torch.randn(n, generator=gen, dtype=torch.float32)
    return getattr(torch.optim, type(opt).__name__)([p], foreach=foreach, **opt.hyperparameters()).step


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


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1e6 parameters only, fewer repeats")
    ap.add_argument("--sizes", type=float, nargs="+", help="parameter counts (default 1e6 1e7)")
    ap.add_argument("--repeats", type=int, help="timed steps per measurement (median taken)")
    ap.add_argument("--only", nargs="+", help="optimizer labels to run, e.g. Adam AdamW")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in (args.sizes or ([1e6] if args.quick else [1e6, 1e7]))]
    configs = [c for c in CONFIGS if not args.only or c[0] in args.only]

    print(f"torch {torch.__version__} ({torch.get_num_threads()} threads), numpy {np.__version__}, "
          f"python {platform.python_version()}, {os.cpu_count()} CPUs ({platform.processor() or platform.machine()})")
    print("float32 parameters; median of one step in milliseconds; ratios lrcourse / torch of the medians,")
    print("and in [brackets] of the fastest steps (less sensitive to load from other processes)\n")
    head = (f"{'optimizer':18s} {'n':>6s} {'lrcourse':>9s} {'torch':>9s} {'foreach':>9s} "
            f"{'lrc/torch':>17s} {'lrc/foreach':>17s}")
    print(head)
    print("-" * len(head))
    for n in sizes:
        repeats = args.repeats or (7 if args.quick else (15 if n <= 2_000_000 else 7))
        for label, opt in configs:
            (ours, ours_min), (loop, loop_min), (fe, fe_min) = median_times(
                [lrcourse_stepper(opt, n), torch_stepper(opt, n, None), torch_stepper(opt, n, True)], repeats)
            print(f"{label:18s} {n:>6.0e} {ours * 1e3:9.2f} {loop * 1e3:9.2f} {fe * 1e3:9.2f} "
                  f"{ours / loop:9.2f} [{ours_min / loop_min:5.2f}] {ours / fe:9.2f} [{ours_min / fe_min:5.2f}]",
                  flush=True)
        print()


if __name__ == "__main__":
    main()
