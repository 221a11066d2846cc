"""The batch: ``python -m lrcourse grade SUBMISSION.ipynb ... --out DIR``.

Trust boundary: this process (the grader) never executes a line a student wrote.  For
each submission it

1. decides the exercise from the assignment (``--stem``, ``--config``, else the file name;
   never the notebook's metadata, which is only compared and flagged);
2. reads the notebook as JSON and extracts, statically, the definitions each question
   grades (the target class/function plus the top-level helpers it refers to: ``notebook``);
3. checks that code's syntax tree for the from-scratch rule (``rules``);
4. runs each question in its own child process (``sandbox``, ``child``) — a sandbox folder
   with its own copy of numpy, scrubbed environment, unprivileged user when run as root,
   resource limits, Landlock and seccomp applied by the child to itself, an audit hook,
   wall-clock timeout, whole process group killed afterwards — on public cases plus hidden
   cases drawn from ``os.urandom`` for this run, sent through a pipe (never to disk);
5. reads back at most a bounded number of bytes of JSON lines, parses them strictly,
   type-checks them and compares them here with the reference outputs computed here
   (``scoring``, ``verdicts``).  Points come from the hidden cases (a public case weighs
   ``public_weight``, default 0).

Outputs (``reports``): ``DIR/grades.csv``, one row per submission, always — a crash, a hang
or a malformed notebook costs the affected questions and is explained in the row's message —
and ``DIR/submissions/<submission>/results.json`` in Gradescope's schema.
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import dataclasses
import json
import os
import pathlib
import re
import shutil
import signal
import sys
import time
import zlib

from .notebook import extract_source, notebook_cells, printable
from .predictions import EXPLAIN, PREDICTIONS
from .questions import QUESTIONS, question
from .reports import gradescope_json, write_reports
from .rules import static_problems
from .sandbox import (
    ChildResult,
    Sandbox,
    close_servers,
    isolation_summary,
    kill_live_children,
    make_sandbox,
    result_cap,
    run_child,
)
from .scoring import GradingRun, QuestionResult, SubmissionResult, manual_result, score_prediction, score_question

__all__ = ["main", "grade_paths", "read_config", "detect_stem"]


def stem_from_name(path: pathlib.Path) -> tuple[str | None, str]:
    """The exercise a file name names: an exact stem in it, else a single ``NN_`` number; (None, why) if not one."""
    named = {stem for stem in QUESTIONS if stem in path.name}
    if len(named) == 1:
        return named.pop(), ""
    if len(named) > 1:
        return None, f"the file name names several exercises ({', '.join(sorted(named))}): pass --stem"
    numbers = set(re.findall(r"(?<!\d)(\d\d)_", path.name))
    by_number = {stem for stem in QUESTIONS if stem[:2] in numbers}
    if len(by_number) == 1:
        return by_number.pop(), ""
    return None, ("could not tell which exercise this is from its file name "
                  "(name it NN_topic.ipynb, or pass --stem / an assignment config)")


def detect_stem(path: pathlib.Path, meta: dict, forced: str | None = None) -> tuple[str | None, str]:
    """(stem, note): the assignment decides — ``forced`` (``--stem``, config), else the file name.

    The notebook's metadata is the student's to edit, so it never chooses the exercise; when it
    names another one than the graded exercise, the note says so (shown in the row).
    """
    stem, why = (forced, "") if forced else stem_from_name(path)
    tagged = meta.get("lrcourse", {}).get("stem") if isinstance(meta.get("lrcourse"), dict) else None
    if stem is None:
        return None, why
    if tagged is not None and tagged != stem:
        return stem, f"note: the notebook's metadata names {printable(str(tagged), 60)!r}, graded as {stem}"
    return stem, ""


@dataclasses.dataclass
class _Prepared:
    path: pathlib.Path
    name: str
    stem: str | None
    jobs: dict           # question key -> child job, or a str saying why the question is not run
    message: str
    static: list = dataclasses.field(default_factory=list)  # predictions (read, never run) and manual questions


def _prepare(path: pathlib.Path, name: str, forced_stem: str | None, run: GradingRun, skip_static: bool) -> _Prepared:
    try:
        sources, meta = notebook_cells(path)
    except (OSError, ValueError) as exc:
        return _Prepared(path, name, forced_stem, {}, f"could not read the submission: {exc}")
    stem, note = detect_stem(path, meta, forced_stem)
    if stem not in QUESTIONS:
        return _Prepared(path, name, None, {}, note or f"unknown exercise {stem!r}")
    jobs = {}
    for q in QUESTIONS[stem]:
        source, why = extract_source(sources, q.target)
        if source is None:
            jobs[q.key] = why
            continue
        problems = [] if skip_static else static_problems(source, q)
        if problems:
            jobs[q.key] = "not graded — the from-scratch rule: " + "; ".join(problems[:5])
            continue
        cases, expected, _ = run.question_data(q)
        jobs[q.key] = {"kind": q.kind, "target": q.target, "base": q.base, "source": source,
                       "cases": cases, "fields": list(q.fields), "result_cap": result_cap(expected)}
    static = [score_prediction(p, sources) for p in PREDICTIONS.get(stem, ())]
    static += [manual_result(e) for e in EXPLAIN.get(stem, ())]
    return _Prepared(path, name, stem, jobs, f"graded as {stem}" + (f" ({note})" if note else ""), static)


def _names_for(paths: list[pathlib.Path]) -> list[str]:
    """A distinct, file-system-safe name per submission (its path, flattened)."""
    resolved = [p.resolve() for p in paths]
    common = os.path.commonpath([str(p.parent) for p in resolved]) if resolved else ""
    names, seen = [], set()
    for p in resolved:
        rel = os.path.relpath(p, common)[: -len(p.suffix) or None]
        base = re.sub(r"[^A-Za-z0-9_.-]+", "_", rel.replace(os.sep, "__")).strip("._") or "submission"
        if len(base) > 100:  # file names have a length limit; keep them distinct with a digest
            base = f"{base[:80]}_{zlib.crc32(rel.encode()):08x}"
        name, k = base, 2
        while name in seen:
            name, k = f"{base}_{k}", k + 1
        seen.add(name)
        names.append(name)
    return names


def grade_paths(paths, workers: int | None = None, seed: int | None = None, stem: str | None = None,
                timeout: float = 10.0, sandbox: Sandbox | None = None, skip_static: bool = False,
                drop_privileges: bool = True, public_weight: float = 0.0, skip_audit: bool = False
                ) -> list[SubmissionResult]:
    """Grade notebooks; one SubmissionResult per path, in order, whatever happens.

    ``skip_static`` and ``skip_audit`` exist for the tests (to show the other layers hold on their own).
    """
    paths = [pathlib.Path(p) for p in paths]
    run = GradingRun(seed, public_weight)
    own_box = sandbox is None
    box = sandbox or make_sandbox(timeout, drop_privileges)
    isolation = isolation_summary(box)
    if box.warning:
        print(f"WARNING: {box.warning}", file=sys.stderr)
    print(f"isolation: {isolation}", file=sys.stderr)
    workers = workers or os.cpu_count() or 1
    try:
        prepared = []
        for p, name in zip(paths, _names_for(paths)):
            try:
                prepared.append(_prepare(p, name, stem, run, skip_static))
            except Exception as exc:  # noqa: BLE001 — nothing is lost: the row says what went wrong
                prepared.append(_Prepared(p, name, None, {}, f"internal grader error: {type(exc).__name__}: {exc}"))
        tasks = [(i, key, job | ({"audit": False} if skip_audit else {}))
                 for i, pr in enumerate(prepared) for key, job in pr.jobs.items() if isinstance(job, dict)]
        children = {}
        with cf.ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(run_child, box, job): (i, key) for i, key, job in tasks}
            try:
                for fut in cf.as_completed(futures):
                    try:
                        children[futures[fut]] = fut.result()
                    except Exception as exc:  # noqa: BLE001
                        children[futures[fut]] = ChildResult({}, f"internal grader error: {exc}", None, 0.0)
            except BaseException:   # Ctrl-C, SIGTERM: stop every child now, so the sandbox can go at once
                pool.shutdown(wait=False, cancel_futures=True)
                kill_live_children()
                raise
        results = []
        for i, pr in enumerate(prepared):
            qs = []
            for key, job in pr.jobs.items():
                q = question(key)
                blocked = job if isinstance(job, str) else None
                try:
                    qs.append(score_question(q, run, children.get((i, key)), blocked))
                except Exception as exc:  # noqa: BLE001 — one failure costs this question only
                    why = f"internal grader error while scoring: {printable(f'{type(exc).__name__}: {exc}')}"
                    qs.append(QuestionResult(q.key, q.title, 0.0, q.points, 0, 0,
                                             [f"{q.qid} — {q.title}: 0/{q.points:g}", f"  {why}"], why))
            qs += pr.static
            secs = sum(c.seconds for (j, _), c in children.items() if j == i)
            results.append(SubmissionResult(str(pr.path), pr.name, pr.stem, qs, pr.message, secs, isolation))
        return results
    finally:
        close_servers(box)
        if own_box:
            shutil.rmtree(box.workdir, ignore_errors=True)


def _collect(args_paths) -> list[pathlib.Path]:
    paths = []
    for p in map(pathlib.Path, args_paths):
        if p.is_dir():
            paths += sorted(x for x in p.rglob("*.ipynb") if ".ipynb_checkpoints" not in x.parts)
        else:
            paths.append(p)
    return paths


def _cleanup_on_signals() -> None:
    """SIGTERM/SIGHUP (a closed terminal, a job scheduler) unwind like Ctrl-C: the sandbox folder is removed."""
    def stop(signum, frame):
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop)


CONFIG_KEYS = {"stem": str, "public_weight": (int, float), "timeout": (int, float)}


def read_config(path: pathlib.Path) -> dict:
    """The instructor's assignment file: JSON ``{"stem": "12_adam", "public_weight": 0, "timeout": 10}``."""
    try:
        config = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read the assignment config {path}: {exc}") from None
    if not isinstance(config, dict):
        raise ValueError(f"{path}: the assignment config must be a JSON object")
    for key, value in config.items():
        if key not in CONFIG_KEYS:
            raise ValueError(f"{path}: unknown key {key!r} (known: {', '.join(CONFIG_KEYS)})")
        if isinstance(value, bool) or not isinstance(value, CONFIG_KEYS[key]):
            raise ValueError(f"{path}: {key} has the wrong type ({type(value).__name__})")
    if "stem" in config and config["stem"] not in QUESTIONS:
        raise ValueError(f"{path}: unknown exercise {config['stem']!r} (one of {', '.join(QUESTIONS)})")
    if not 0 <= config.get("public_weight", 0) <= 1 or not 0 < config.get("timeout", 10) <= 600:
        raise ValueError(f"{path}: public_weight must be in [0, 1] and timeout in (0, 600] seconds")
    return config


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lrcourse grade", description="Score exercise notebooks in isolation.")
    ap.add_argument("submissions", nargs="+", help="notebooks, or folders searched for *.ipynb")
    ap.add_argument("--out", required=True, type=pathlib.Path,
                    help="folder for grades.csv and submissions/<name>/results.json")
    ap.add_argument("--config", type=pathlib.Path, help="assignment config (JSON: stem, public_weight, timeout)")
    ap.add_argument("--stem", choices=sorted(QUESTIONS), help="grade every submission as this exercise")
    ap.add_argument("--public-weight", type=float, help="weight of a public case relative to a hidden one "
                    "(default 0: points come from the hidden cases only)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="parallel children (default: cores)")
    ap.add_argument("--timeout", type=float, help="seconds per question (default 10)")
    ap.add_argument("--seed", type=int, help="fix the hidden cases (debugging only; default: os.urandom)")
    ap.add_argument("--gradescope-results", type=pathlib.Path,
                    help="also write the (single) submission's results.json here")
    args = ap.parse_args(argv)
    try:
        config = read_config(args.config) if args.config else {}
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stem = args.stem or config.get("stem")
    timeout = args.timeout if args.timeout is not None else float(config.get("timeout", 10.0))
    weight = args.public_weight if args.public_weight is not None else float(config.get("public_weight", 0.0))
    paths = _collect(args.submissions)
    if not paths:
        print("no notebooks to grade", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    _cleanup_on_signals()
    results = grade_paths(paths, workers=args.workers, seed=args.seed, stem=stem, timeout=timeout,
                          public_weight=weight)
    csv_path = write_reports(results, args.out)
    if args.gradescope_results is not None:
        args.gradescope_results.parent.mkdir(parents=True, exist_ok=True)
        args.gradescope_results.write_text(json.dumps(gradescope_json(results[0]), indent=1) + "\n")
    wall = time.perf_counter() - t0
    for r in results:
        print(f"{r.score:6g}/{r.max_score:<4g} {r.stem or '?':32s} {r.path}")
    print(f"{len(results)} submission(s) graded in {wall:.1f} s with {args.workers} worker(s); {csv_path}")
    return 0

