"""Redraw latency of the lrcourse.widgets panels, driven programmatically.

    .venv/bin/python benchmarks/bench_widgets.py [--repeats 16] [--steps 300] [--only Momentum] [--idle 0.9]

Each case builds a panel, then sets one control to a sequence of *new* values (no cache can
help), the way a learner releasing a slider does -- dropdowns cycle through their options, as
benchmarks/bench_browser.py does, so there settings seen before are reused -- and times
``control.value = v``: the recompute (for the verification panel, ``runs.compare`` against
torch), the figure update and the PNG sent to the browser -- everything but the page.  The cases
are the controls bench_browser.py times in Chromium, so the two tables read side by side.  Prints the median and p90 per
case, the split into compute / draw+render, and how many redraws needed a full draw of the
axes (the rest only redraw the data lines on the saved background).

Goal (see the issue): median < 100 ms for 300-step runs on a 2-core machine, ideally 50 ms.
The load average is printed too: other processes on the machine slow every number here; the
"cpu med" column (CPU time of this process per redraw) is what an idle machine's wall time
would be, near enough.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from lrcourse import optimizers, schedules  # noqa: E402
from lrcourse.widgets import MomentumPanel, OptimizerPlayground, ScheduleComposer, VerificationPanel  # noqa: E402


def cases(steps: int, n: int):
    """(name, panel factory, control getter, values) for each case: the controls of bench_browser.py's panels."""
    geo = lambda lo, hi: list(np.geomspace(lo, hi, n))  # noqa: E731
    ints = lambda lo, by=1: [int(v) for v in lo + by * np.arange(n)]  # noqa: E731
    cycle = lambda options: [options[i % len(options)] for i in range(n)]  # noqa: E731
    adam = lambda: VerificationPanel(optimizers.Adam(lr=0.05), problem="Rosenbrock", steps=steps)  # noqa: E731
    step_lr = lambda: VerificationPanel(schedules.StepLR(0.1, step_size=30), steps=steps)  # noqa: E731
    play = lambda: OptimizerPlayground(problem="Rosenbrock", steps=steps)  # noqa: E731
    control = lambda name: (lambda p: p.controls[name])  # noqa: E731
    return [
        (f"Verification Adam / Rosenbrock, lr ({steps} steps)", adam, control("lr"), geo(0.051, 0.08)),
        ("Verification Adam / Rosenbrock, beta1", adam, control("beta1"), list(np.linspace(0.89, 0.85, n))),
        ("Verification Adam / Rosenbrock, steps", adam, control("steps"), ints(steps + 10, 10)),
        ("Verification Adam, problem (cycling the four)", adam, control("problem"),
         cycle(["noisy quadratic", "logistic regression", "ill-conditioned quadratic", "Rosenbrock"])),
        ("Verification Adam / Rosenbrock, dtype", adam, control("dtype"), cycle(["float32", "float64"])),
        ("Verification SGD+momentum / quadratic, momentum",
         lambda: VerificationPanel(optimizers.SGD(lr=0.02, momentum=0.5), steps=steps), control("momentum"),
         list(np.linspace(0.51, 0.9, n))),
        ("Verification StepLR, lr", step_lr, control("lr"), geo(0.11, 0.2)),
        ("Verification StepLR, step_size", step_lr, control("step_size"), ints(31)),
        ("Verification ReduceLROnPlateau / logistic regr., patience",
         lambda: VerificationPanel(schedules.ReduceLROnPlateau(0.1, patience=5, threshold=1e-3),
                                   problem="logistic regression", steps=steps), control("patience"), ints(6)),
        ("ScheduleComposer, warm-up steps", lambda: ScheduleComposer(steps=steps), control("warmup_steps"),
         ints(21)),
        ("Playground 5 optimizers / Rosenbrock, Adam lr", play, lambda p: p.lr_sliders["Adam"], geo(0.051, 0.08)),
        ("Playground, gradient noise", play, control("noise"), list(0.05 * np.arange(1, n + 1))),
        ("Playground, steps", play, control("steps"), ints(steps + 10, 10)),
        ("Playground, surface (cycling the three)", play, control("problem"),
         cycle(["ill-conditioned quadratic", "saddle", "Rosenbrock"])),
        ("Momentum, lr", MomentumPanel, control("lr"), list(np.linspace(0.011, 0.019, n))),
        ("Momentum, momentum", MomentumPanel, control("momentum"), list(np.linspace(0.89, 0.8, n))),
        ("Momentum, condition", MomentumPanel, control("condition"), [26.0 + i for i in range(n)]),
        ("Momentum, steps", MomentumPanel, control("steps"), [min(400, 160 + 10 * i) for i in range(n)]),
    ]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=16, help="inputs per case")
    ap.add_argument("--only", default=None, help="cases whose name contains this text")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--idle", type=float, default=0.0,
                    help="seconds of sleep before each input, as between a learner's inputs: an idle CPU "
                         "(here a virtual machine's) is slower for its first tens of ms of work")
    args = ap.parse_args(argv)
    print(f"cpus: {os.cpu_count()}, load average before: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'case':<86} {'median':>8} {'p90':>8} {'cpu med':>8} {'compute':>8} {'render':>8} {'full':>5}")
    rows = []
    for name, make, control, values in cases(args.steps, args.repeats):
        if args.only is not None and args.only not in name:
            continue
        panel = make()
        w = control(panel)
        if isinstance(values[0], (int, float)) and not isinstance(values[0], bool):  # the first input after the layout
            w.value = values[0] * 1.0001 if isinstance(values[0], float) else values[0] + 1
        full0 = panel.full_draws
        totals, cpus, computes, renders = [], [], [], []
        for v in values:
            if args.idle:
                time.sleep(args.idle)
            t0, c0 = time.perf_counter(), time.process_time()
            w.value = v
            totals.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
            assert panel.error is None, panel.error
            computes.append(panel.timings["compute"])
            renders.append(panel.timings["draw"] + panel.timings["render"])
        q = lambda xs, p: 1e3 * float(np.percentile(xs, p))  # noqa: E731
        med, p90 = 1e3 * statistics.median(totals), q(totals, 90)
        rows.append((name, med, p90, 1e3 * statistics.median(cpus)))
        print(f"{name:<86} {med:7.1f}ms {p90:7.1f}ms {1e3 * statistics.median(cpus):7.1f}ms "
              f"{1e3 * statistics.median(computes):7.1f}ms "
              f"{1e3 * statistics.median(renders):7.1f}ms {panel.full_draws - full0:>3}/{len(values)}")
    print(f"load average after: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    worst, worst_cpu = max(r[1] for r in rows), max(r[3] for r in rows)
    print(f"worst median {worst:.1f} ms wall ({'within' if worst < 100 else 'OVER'} the 100 ms goal), "
          f"{worst_cpu:.1f} ms CPU ({'within' if worst_cpu < 100 else 'OVER'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
