"""Reports: ``grades.csv`` (one row per submission, always) and each submission's
``results.json`` in Gradescope's schema.  Every cell a spreadsheet could read as a formula
is written as text."""
from __future__ import annotations

import csv
import json
import pathlib

from .notebook import printable
from .scoring import SubmissionResult


def gradescope_json(res: SubmissionResult) -> dict:
    tests = [{"name": f"{q.key}: {q.title}", "score": q.score, "max_score": q.max_score, "output": q.output(),
              "status": "passed" if q.score >= q.max_score else "failed", "visibility": "visible"}
             for q in res.questions]
    summary = f"{res.message}. Score {res.score:g}/{res.max_score:g}."
    return {"score": res.score, "output": summary, "tests": tests, "visibility": "visible",
            "stdout_visibility": "hidden"}


def spreadsheet_safe(text: str) -> str:
    """A CSV cell that a spreadsheet shows as text: never a formula (=, +, -, @, tab, CR first)."""
    text = str(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def write_reports(results: list[SubmissionResult], out: pathlib.Path) -> pathlib.Path:
    """``out/grades.csv`` (one row per result, always) and ``out/submissions/<name>/results.json``.

    Per-submission files live in their own folder, so no submission name can collide with
    the CSV; a results.json that cannot be written is reported in that submission's row.
    """
    out.mkdir(parents=True, exist_ok=True)
    keys = []
    for r in results:
        for q in r.questions:
            if q.key not in keys:
                keys.append(q.key)
    failed = {}
    for r in results:
        try:
            d = out / "submissions" / r.name
            d.mkdir(parents=True, exist_ok=True)
            (d / "results.json").write_text(json.dumps(gradescope_json(r), indent=1) + "\n")
        except (OSError, ValueError, TypeError) as exc:
            failed[r.name] = f"results.json not written ({type(exc).__name__}: {exc})"
    csv_path = out / "grades.csv"
    with open(csv_path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["submission", "stem", "score", "max_score"] + keys + ["message", "isolation"])
        for r in results:
            by_key = {q.key: q.score for q in r.questions}
            problems = [f"{q.key} {q.score:g}/{q.max_score:g}: {q.summary}" for q in r.questions
                        if q.score < q.max_score]
            msg = "; ".join([r.message] + problems + ([failed[r.name]] if r.name in failed else []))
            w.writerow([spreadsheet_safe(r.path), spreadsheet_safe(r.stem or ""), f"{r.score:g}", f"{r.max_score:g}"]
                       + [f"{by_key[k]:g}" if k in by_key else "" for k in keys]
                       + [spreadsheet_safe(printable(msg, 1000)), spreadsheet_safe(r.isolation)])
    return csv_path

