"""How fast does the grader go?  200 submissions, measured end to end.

    .venv/bin/python benchmarks/bench_grader.py [--n 200] [--workers 2] [--stem 12_adam] [--hangs 2]

Builds a batch in a temporary folder — a realistic mix per notebook: half honest (the
solution), a quarter with one known mistake, a sixth unfinished (the exercise as shipped),
the rest crashing at import — plus ``--hangs`` submissions whose code never returns, then
runs ``python -m lrcourse grade`` on it exactly as an instructor would and reports:

* wall time for the batch, and per notebook (wall x workers / n: the cost of one notebook
  on one core);
* the latency of grading one notebook on its own, and the sandbox's one-off setup;
* the CPU time the batch used (grader and children), per notebook: a figure other jobs on
  the machine disturb less than wall time;
* the machine's load average while it ran (other processes slow it down).

Without --stem the batch cycles through every exercise notebook of the course.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import nbformat

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lrcourse.grading import questions, sandbox  # noqa: E402

# one plausible mistake per notebook: (text in the solution, its replacement)
MISTAKES = {
    "01_fixed_learning_rate": ("g = grad + self.weight_decay * params", "g = grad"),
    "02_step_decay": ("(t // step_size)", "((t + 1) // step_size)"),
    "03_exponential_decay": ("gamma ** t", "gamma ** (t + 1)"),
    "04_cosine_annealing": ("math.pi * t / T_max", "math.pi * min(t, T_max) / T_max"),
    "05_reduce_on_plateau": ("if bad > self.patience:", "if bad >= self.patience:"),
    "06_warmup": ("min(t / warmup, 1.0)", "min((t + 1) / warmup, 1.0)"),
    "07_combining_schedules": ("k = t - warmup", "k = t"),
    "08_sgd_momentum": ("b = g.copy()", "b = (1 - self.dampening) * g"),
    "09_adagrad": ("(np.sqrt(s) + self.eps)", "np.sqrt(s + self.eps)"),
    "10_rmsprop": ("avg = np.sqrt(square_avg) + self.eps", "avg = np.sqrt(square_avg + self.eps)"),
    "11_adadelta": ("(1 - rho) * delta * delta", "(1 - rho) * (lr * delta) ** 2"),
    "12_adam": ("np.sqrt(v) / math.sqrt(1 - beta2**t) + self.eps", "np.sqrt(v / (1 - beta2**t) + self.eps)"),
    "13_amsgrad": ("np.maximum(state.max_exp_avg_sq, v)", "v"),
    "14_adamw": ("p = params * (1 - lr * self.weight_decay)", "p = params * (1 - self.weight_decay)"),
    "15_nadam": ("mu_next = nadam_mu(t + 1, beta1, self.momentum_decay)", "mu_next = mu"),
    "16_choosing_a_method": ("np.std(d, ddof=1)", "np.std(d)"),
    "17_lr_range_test_and_one_cycle": ("T_i *= T_mult", "T_i = T_i"),
    "18_sparse_gradients": ("r = np.flatnonzero(np.bincount(np.asarray(indices), minlength=len(p)))",
                            "r = np.arange(len(p))"),
}


def variant(stem: str, kind: str) -> nbformat.NotebookNode:
    if kind == "unfinished":
        return nbformat.read(ROOT / "exercises" / f"{stem}.ipynb", as_version=4)
    nb = nbformat.read(ROOT / "solutions" / f"{stem}.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    if kind == "mistake":
        old, new = MISTAKES[stem]
        assert sum(old in c.source for c in code) == 1, (stem, old)
        for c in code:
            c.source = c.source.replace(old, new)
    elif kind == "crash":
        code[2].source = "this is not Python (\n" + code[2].source
    elif kind == "hang":
        target = questions.QUESTIONS[stem][0].target
        for c in code:
            if f"def {target}" in c.source or f"class {target}" in c.source:
                c.source = c.source.replace("### BEGIN SOLUTION", "### BEGIN SOLUTION\n" + " " * 8 + "while True: pass")
    return nb


def build_batch(folder: pathlib.Path, n: int, stem: str | None, hangs: int) -> list[pathlib.Path]:
    stems = [stem] if stem else list(questions.STEMS)
    kinds = ["honest"] * 6 + ["mistake"] * 3 + ["unfinished"] * 2 + ["crash"]
    paths = []
    for i in range(n):
        s = stems[i % len(stems)]
        kind = "hang" if i < hangs else kinds[i % len(kinds)]
        d = folder / f"student{i:03d}"
        d.mkdir(parents=True)
        nbformat.write(variant(s, kind), d / f"{s}.ipynb")
        paths.append(d / f"{s}.ipynb")
    return paths


def _cpu() -> float:
    """CPU seconds (user + system) of every finished child of this process, grandchildren included."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def grade(paths, out, workers, timeout) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the grader and all its children) of one ``python -m lrcourse grade``."""
    t0, c0 = time.perf_counter(), _cpu()
    r = subprocess.run([sys.executable, "-m", "lrcourse", "grade", *map(str, paths), "--out", str(out),
                        "--workers", str(workers), "--timeout", str(timeout)], cwd=ROOT, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    if r.returncode != 0:
        raise SystemExit(r.stdout + r.stderr)
    return wall, cpu


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--stem", choices=questions.STEMS)
    ap.add_argument("--hangs", type=int, default=0, help="submissions that loop forever (each costs --timeout)")
    ap.add_argument("--timeout", type=float, default=10.0)
    args = ap.parse_args(argv)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-grader-"))
    try:
        paths = build_batch(tmp / "subs", args.n, args.stem, args.hangs)
        n_questions = sum(len(questions.QUESTIONS[p.stem]) for p in paths)
        t0 = time.perf_counter()
        box = sandbox.make_sandbox()
        setup = time.perf_counter() - t0
        shutil.rmtree(box.workdir)
        single, _ = grade(paths[args.hangs:args.hangs + 1], tmp / "one", args.workers, args.timeout)
        load0 = os.getloadavg()[0]
        wall, cpu = grade(paths, tmp / "out", args.workers, args.timeout)
        load1 = os.getloadavg()[0]
        rows = (tmp / "out" / "grades.csv").read_text().strip().splitlines()
        assert len(rows) == args.n + 1, "one CSV row per submission"
        print(f"batch: {args.n} submissions ({n_questions} graded questions, {args.hangs} hanging), "
              f"{args.workers} workers: {wall:.1f} s wall")
        print(f"per notebook: {wall * args.workers / args.n:.2f} s of one core "
              f"({wall / args.n:.2f} s of batch wall time); one notebook alone, end to end: {single:.2f} s")
        print(f"CPU time (grader and children, user + system): {cpu:.1f} s, {cpu / args.n:.2f} s per notebook "
              "(less sensitive to other jobs than wall time)")
        print(f"sandbox setup (numpy copy, interpreter and kernel-layer probes), once per batch: {setup:.2f} s; "
              f"isolation: {sandbox.isolation_summary(box)}")
        print(f"load average (1 min) before / after: {load0:.1f} / {load1:.1f} on {os.cpu_count()} cores")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
