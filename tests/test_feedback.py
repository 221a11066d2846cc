"""check(...): passes the solutions, fails every known mistake with its hint, flags rule-breaking code."""
from __future__ import annotations

import linecache
import math
import pathlib

import nbformat
import numpy as np
import pytest

from lrcourse import feedback, optimizers, problems, runs, schedules
from lrcourse.feedback import CheckFailed, check
from lrcourse.grading import notebook, questions

ROOT = pathlib.Path(__file__).resolve().parent.parent
QUESTIONS = [q for qs in questions.QUESTIONS.values() for q in qs]


def learner_namespace(source: str, name: str) -> dict:
    """Define code the way a notebook cell does (its source registered with linecache)."""
    filename = f"<cell {name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    ns = {"np": np, "math": math, "optimizers": optimizers, "schedules": schedules, "problems": problems, "runs": runs}
    exec(compile(source, filename, "exec"), ns)  # noqa: S102 — trusted test code
    return ns


def solution_source(q) -> str:
    nb = nbformat.read(ROOT / "solutions" / f"{q.stem}.ipynb", as_version=4)
    src, why = notebook.extract_source([c.source for c in nb.cells if c.cell_type == "code"], q.target)
    assert src is not None, why
    return src


@pytest.mark.parametrize("q", QUESTIONS, ids=lambda q: q.key)
def test_solutions_pass_and_say_what_was_verified(q, capsys):
    ns = learner_namespace(solution_source(q), q.key)
    check(ns[q.target])
    out = capsys.readouterr().out
    assert out.startswith(f"✓ {q.what} matches lrcourse") and out.count("\n") == 1
    if q.kind in ("optimizer", "plateau") or q.schedule is not None:
        assert "torch" in out


@pytest.mark.parametrize("q", [q for q in QUESTIONS if q.mistakes], ids=lambda q: q.key)
def test_every_known_mistake_fails_with_its_hint(q, capsys):
    for m in q.mistakes:
        with pytest.raises(CheckFailed):
            check(m.impl, question=q.key, cases=12, seed=0, use_torch=False)
        out = capsys.readouterr().out
        assert "first difference at" in out, out
        assert f"looks like {m.name}" in out, f"{q.key}: no hint for '{m.name}':\n{out}"


def test_a_stub_raises_a_friendly_not_implemented_error():
    ns = learner_namespace("class MyAdam(optimizers.Adam):\n    def step(self, params, grad, state, lr=None):\n"
                           "        raise NotImplementedError('MyAdam.step: your code here')\n", "stub")
    with pytest.raises(NotImplementedError, match="not written yet"):
        check(ns["MyAdam"])


@pytest.mark.parametrize("body, words", [
    ("return super().step(params, grad, state, lr)", "calls super().step"),
    ("import torch\n        return params, state", "imports torch"),
    ("g = self._grad(params, grad)\n        return params, state", "self._grad"),
])
def test_code_the_grader_would_refuse_is_flagged(body, words, capsys):
    ns = learner_namespace(f"class MyAdam(optimizers.Adam):\n    def step(self, params, grad, state, lr=None):\n"
                           f"        {body}\n", words)
    with pytest.raises(CheckFailed, match="rules of graded code"):
        check(ns["MyAdam"])
    out = capsys.readouterr().out
    assert "would score 0 when graded" in out and words in out


def test_an_exception_in_learner_code_is_reported_with_the_case(capsys):
    def step_lr(t, lr, step_size, gamma):
        raise ValueError("oops")
    with pytest.raises(CheckFailed, match="raised ValueError"):
        check(step_lr)
    assert "step_lr(t, lr=" in capsys.readouterr().out


def test_a_difference_from_torch_alone_is_reported(monkeypatch, capsys):
    ns = learner_namespace(solution_source(questions.find_target("step_lr")), "step_lr")
    real = feedback._torch_output

    def shifted(q, case):
        out = real(q, case)
        return [out[0] * 1.5] + out[1:]
    monkeypatch.setattr(feedback, "_torch_output", shifted)
    with pytest.raises(CheckFailed, match="torch"):
        check(ns["step_lr"])
    assert "matches lrcourse but not torch" in capsys.readouterr().out


def test_unknown_objects_and_questions():
    with pytest.raises(ValueError, match="does not know"):
        check(lambda t: t)
    with pytest.raises(KeyError):
        check(lambda t: t, question="99_nothing/q1")
