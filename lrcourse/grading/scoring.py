"""Scoring: one grading run's cases and expected outputs, and the points of each question.

Points come from the hidden cases, drawn fresh for each run from ``os.urandom``; a public
case (the same in every run, so its answer can be copied) weighs ``public_weight``
(default 0).  Hidden cases are named in the feedback, never shown.
"""
from __future__ import annotations

import dataclasses
import os
import threading
import zlib

import numpy as np

from . import questions as spec
from . import verdicts
from .notebook import printable
from .predictions import RUBRICS, judge, read_prediction
from .sandbox import ChildResult


class GradingRun:
    """Cases and expected outputs for one run: public cases + hidden ones from a fresh seed."""

    def __init__(self, seed: int | None = None, public_weight: float = 0.0):
        self.seed = int.from_bytes(os.urandom(8), "little") if seed is None else int(seed)
        if not 0.0 <= public_weight <= 1.0:
            raise ValueError(f"public_weight must be in [0, 1], not {public_weight}")
        self.public_weight = float(public_weight)   # a public case's weight; a hidden case weighs 1
        self._cache, self._lock = {}, threading.Lock()

    def question_data(self, q):
        """(cases, expected outputs, number of public cases), computed once per run."""
        with self._lock:
            if q.key not in self._cache:
                public = spec.draw_cases(q, spec.public_rng(q), q.public)
                hidden = spec.draw_cases(q, np.random.default_rng([self.seed, zlib.crc32(q.key.encode())]), q.hidden)
                cases = public + hidden
                self._cache[q.key] = (cases, [spec.expected_output(q, c) for c in cases], len(public))
            return self._cache[q.key]


# --------------------------------------------------------------------------- scoring
@dataclasses.dataclass
class QuestionResult:
    key: str
    title: str
    score: float
    max_score: float
    passed: int
    total: int
    lines: list
    summary: str = ""     # one line for the CSV: the tally and the first failure

    def output(self) -> str:
        return "\n".join(self.lines)


@dataclasses.dataclass
class SubmissionResult:
    path: str
    name: str
    stem: str | None
    questions: list
    message: str
    seconds: float = 0.0
    isolation: str = ""   # the layers that held for this batch (and a WARNING where some are missing)

    @property
    def score(self) -> float:
        return round(sum(q.score for q in self.questions), 3)

    @property
    def max_score(self) -> float:
        return sum(q.max_score for q in self.questions)


def _case_label(i, n_public) -> str:
    return f"public case {i + 1}" if i < n_public else f"hidden case {i - n_public + 1}"


def score_question(q, run: GradingRun, child: ChildResult | None, blocked: str | None) -> QuestionResult:
    """Points for one question from the child's outputs; hidden cases are named, never shown.

    Points come from the hidden cases, drawn fresh for this run; a public case (the same in
    every run, so its answer can be copied) weighs ``run.public_weight`` (default 0).
    ``child`` is None where the question was not run (``blocked`` says why).
    """
    cases, expected, n_public = run.question_data(q)
    head = f"{q.qid} — {q.title} ({q.what})"
    if blocked or child is None or child.fatal:
        why = blocked or (child.fatal if child else "not run")
        if child and child.problem and not child.fatal:
            why = child.problem
        return QuestionResult(q.key, q.title, 0.0, q.points, 0, len(cases), [f"{head}: 0/{q.points:g}", f"  {why}"],
                              why)
    passed, lines, first_fail = [False] * len(cases), [], None
    for i, case in enumerate(cases):
        label = _case_label(i, n_public)
        got = child.outputs.get(i)
        if got is None:
            msg = f"  {label}: no result ({child.problem or 'the process stopped early'})"
        elif got[0] == "error":
            msg = f"  {label}: your code raised {got[1]}"
        elif bad := verdicts.validate_output(q, got[1]):
            msg = f"  {label}: malformed output ({bad})"
        elif (diff := verdicts.compare_output(q, got[1], expected[i], case)) is None:
            passed[i] = True
            lines.append(f"  {label}: passed")
            continue
        else:
            hints = verdicts.matching_mistakes(q, case, got[1], diff)
            if i < n_public:
                msg = f"  {label}: differs at {diff.where()}: {verdicts.describe_difference(diff)}"
            else:
                msg = f"  {label}: differs at {diff.where()}"
                if verdicts.looks_float32(diff.yours):
                    msg += f" ({verdicts.FLOAT32_HINT})"
            for h in hints[:2]:
                msg += f"\n      looks like: {h.name} — {h.hint}"
        lines.append(msg)
        first_fail = first_fail or msg.strip().split("\n")[0]
    w = run.public_weight
    weights = [w] * n_public + [1.0] * (len(cases) - n_public)
    score = round(q.points * sum(wt for wt, ok in zip(weights, passed) if ok) / sum(weights), 3)
    n_hidden, hidden_ok, public_ok = len(cases) - n_public, sum(passed[n_public:]), sum(passed[:n_public])
    tally = (f"hidden cases {hidden_ok} of {n_hidden} passed, public {public_ok} of {n_public}"
             + ("" if w == 0 else f" (a public case weighs {w:g})"))
    summary = tally if first_fail is None else f"{tally}; first failure: {first_fail}"
    return QuestionResult(q.key, q.title, score, q.points, sum(passed), len(cases),
                          [f"{head}: {score:g}/{q.points:g} ({tally})"] + lines, summary)


# --------------------------------------------------------------------------- predictions, explain questions
def score_prediction(p, sources: list[str]) -> QuestionResult:
    """Points for a prediction (``predictions.Prediction``), read from the cells without running them."""
    head = f"{p.qid} — {p.title} (prediction: {p.name}, {p.what})"
    value, why = read_prediction(sources, p.name)
    if why is None:
        right, why = judge(p, value)
        if right:
            return QuestionResult(p.key, p.title, p.points, p.points, 1, 1,
                                  [f"{head}: {p.points:g}/{p.points:g}", f"  {p.name} = {value!r}: right"], "right")
        why = why or f"{p.name} = {printable(repr(value), 60)} is not what the experiment measures"
    return QuestionResult(p.key, p.title, 0.0, p.points, 0, 1, [f"{head}: 0/{p.points:g}", f"  {why}"], why)


def manual_result(e) -> QuestionResult:
    """An explain question (``predictions.Explain``): graded by hand in nbgrader, 0 automatic points."""
    points = f"{e.points:g} point" + ("" if e.points == 1 else "s")
    line = (f"{e.qid} — {e.title}: manually graded (nbgrader cell {e.grade_id}, {points}, rubric in "
            f"{RUBRICS}); 0 automatic points")
    return QuestionResult(e.key, e.title, 0.0, 0.0, 0, 0, [line], "manually graded")
