"""The panels of the lessons and exercises verify the from-scratch code of their own notebook
(issue 12: "every lesson 01-17 and every exercise notebook has a panel verifying the from-scratch
code of that notebook against torch").

Static: the code a panel is given is defined in that notebook, before the panel.  Run: the
notebook's own definitions and its own panel cell are taken from the .ipynb and run here (torch
computed in the test run): they MATCH, a deliberately broken copy of the notebook's code says
MISMATCH at the step where it goes wrong, and an exercise's stub says NOT WRITTEN YET.
"""
from __future__ import annotations

import ast
import dataclasses
import json
import math
import pathlib
import re

import numpy as np
import pytest

from lrcourse import optimizers as O
from lrcourse import problems, runs, schedules

ROOT = pathlib.Path(__file__).resolve().parents[1]

# lesson -> the notebook's own code its panel verifies (01-05, 09-14, 17: tests/test_panels_learner_code.py)
LESSONS = {"06": "linear_lr", "07": "sequential_lr", "08": "sgd_momentum_step", "15": "nadam_torch_names",
           "16": "LinearInLR"}


def _cells(folder: str, number: str) -> list[str]:
    [path] = (ROOT / folder).glob(f"{number}_*.ipynb")
    return ["".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def _defines(stmt, names) -> bool:
    if isinstance(stmt, (ast.FunctionDef, ast.ClassDef)):
        return stmt.name in names
    if isinstance(stmt, ast.Assign):
        return any(isinstance(n, ast.Name) and n.id in names for t in stmt.targets for n in ast.walk(t))
    return False


def _load(cells, *names, replace=()) -> dict:
    """Run the notebook's own top-level definitions of ``names`` (in notebook order), with the
    ``replace`` edits (old, new) applied to their source, in a namespace like the setup cell's."""
    found = []
    for src in cells:
        text = "\n".join("" if ln.lstrip().startswith(("%", "!")) else ln for ln in src.split("\n"))
        found += [ast.get_source_segment(text, s) for s in ast.parse(text).body if _defines(s, names)]
    code = "\n\n".join(found)
    for old, new in replace:
        assert code.count(old) == 1, f"the notebook's code no longer contains {old!r}"
        code = code.replace(old, new)
    ns = {"np": np, "math": math, "dataclasses": dataclasses, "optimizers": O, "schedules": schedules,
          "problems": problems, "runs": runs}
    exec(compile(code, "<notebook>", "exec"), ns)  # noqa: S102 — the repository's own notebook code
    return ns


def _panel_cell(cells, code: str) -> str:
    [src] = [s for s in cells if re.search(rf"= VerificationPanel\(\s*{code}\b", s)]
    return src


def _run_panel(cells, code: str, ns: dict):
    exec(compile(_panel_cell(cells, code), "<panel cell>", "exec"), ns)  # noqa: S102 — the notebook's panel cell
    return ns["panel"]


@pytest.mark.parametrize("number, code", sorted(LESSONS.items()))
def test_a_lessons_panel_is_given_code_the_lesson_defines(number, code):
    cells = _cells("notebooks", number)
    panel = cells.index(_panel_cell(cells, code))
    defined = [i for i, src in enumerate(cells) if re.search(rf"^(def|class) {code}\b", src, re.M)]
    assert defined and min(defined) <= panel


# --------------------------------------------------------------------------- lesson 16: the grid's update
LESSON16 = ("LinearInLR", "OPTS", "FULL_GRID", "SEEDS", "STEPS", "BATCH", "make_task", "TASKS")


@pytest.fixture(scope="module")
def lesson16():
    return _cells("notebooks", "16")


def test_lesson16_trains_its_grid_with_the_class_its_panel_verifies(lesson16):
    [train] = [s for s in lesson16 if "def train_grid(" in s]
    assert "grid = LinearInLR(opt)" in train and "grid.step(P, G, state, lr_now[:, None])" in train
    assert "opt.step(" not in train.split("def train_grid(")[1]   # no other update of the weights


def test_lesson16_panel_matches_torch(lesson16):
    panel = _run_panel(lesson16, "LinearInLR", _load(lesson16, *LESSON16))
    assert panel.result.passed and panel.result.max_error <= 1e-12, panel.verdict
    assert sorted(panel.result.errors) == ["momentum_buffer", "params"] and panel.controls["problem"].value == "MLP classifier"


@pytest.mark.parametrize("opt, lr", [(O.SGD(), 0.3), (O.Adagrad(), 0.1), (O.RMSprop(), 0.01), (O.Adam(), 0.03),
                                     (O.AdamW(), 0.01), (O.NAdam(), 0.01), (O.Adam(amsgrad=True), 0.01)])
def test_lesson16_linear_in_lr_matches_torch_for_every_optimizer_of_the_lesson(lesson16, opt, lr):
    ns = _load(lesson16, *LESSON16)
    c = runs.compare(ns["LinearInLR"](opt), ns["TASKS"]["mlp"][1], 100, like=dataclasses.replace(opt, lr=lr),
                     device="cpu")
    assert c.passed and c.max_error <= 1e-12, c.verdict


def test_lesson16_one_call_advances_rows_at_their_own_lr(lesson16):
    ns = _load(lesson16, "LinearInLR")
    rng = np.random.default_rng(0)
    P, G, lrs = rng.standard_normal((3, 5)), rng.standard_normal((3, 5)), np.array([1e-3, 0.1, 3.0])
    opt = O.Adam()
    new, _ = ns["LinearInLR"](opt).step(P, G, opt.init(P), lrs[:, None])
    for i, lr in enumerate(lrs):   # Adam's state is per coordinate: row i is a run of its own
        np.testing.assert_allclose(new[i], opt.step(P[i], G[i], opt.init(P[i]), lr=lr)[0], rtol=1e-12)


@pytest.mark.parametrize("old, new", [("lr=1.0", "lr=lr"),                                     # lr applied twice
                                      ("params + lr * (p1 - params)", "params - lr * (p1 - params)")])  # sign
def test_lesson16_panel_on_a_broken_copy_says_mismatch(lesson16, old, new):
    panel = _run_panel(lesson16, "LinearInLR", _load(lesson16, *LESSON16, replace=[(old, new)]))
    assert panel.verdict.startswith("MISMATCH at step 0: params differs"), panel.verdict


# --------------------------------------------------------------------------- the exercises: the learner's code
# exercise -> (the learner's code, what else of the notebook it needs, a mistake (old, new) in the solution's
# code, where the panel then says it goes wrong)
EXERCISES = {
    "06": ("linear_warmup_lr", (), ("min(t, total_iters)", "min(t + 1, total_iters)"), "MISMATCH at step 0: lr"),
    "07": ("warmup_cosine_lr", (), ("math.pi * k / (total - warmup)", "math.pi * k / total"),
           "MISMATCH at step 21: lr"),
    "08": ("MomentumSGD", (), ("d = g + self.momentum * b", "d = b + self.momentum * g"),
           "MISMATCH at step 1: params"),
    "15": ("MyNAdam", ("nadam_mu",), ("(1 - mu_product * mu_next)", "(1 - mu_product)"),
           "MISMATCH at step 0: params"),
}


@pytest.mark.parametrize("number", sorted(EXERCISES))
def test_an_exercises_panel_runs_the_learners_code(number):
    code, needs, mistake, where = EXERCISES[number]
    solution, exercise = _cells("solutions", number), _cells("exercises", number)
    assert solution.index(_panel_cell(solution, code)) > solution.index(f"check({code})")   # after the learner's code
    panel = _run_panel(solution, code, _load(solution, *needs, code))
    assert panel.result.passed and panel.result.max_error <= 1e-12, panel.verdict
    panel = _run_panel(solution, code, _load(solution, *needs, code, replace=[mistake]))
    assert panel.verdict.startswith(where), panel.verdict
    # the exercise as shipped: the stub raises NotImplementedError, the panel says so and raises nothing
    panel = _run_panel(exercise, code, _load(exercise, *needs, code))
    assert panel.result is None and panel.verdict.startswith("NOT WRITTEN YET — your code is not written yet"), \
        panel.verdict


def test_exercise_16_has_no_code_with_a_torch_twin_and_checks_its_state_count_on_torchs_state():
    """Exercise 16's functions (near-best width, paired verdict, state size) are statistics of runs, not a
    method torch has: no panel; its state count is run on torch's optimizer state beside the course's."""
    cells = _cells("solutions", "16")
    assert not any("VerificationPanel(" in s for s in cells)
    [state] = [s for s in cells if "topt.state[tp]" in s]
    assert "assert ours == state_floats_per_param(theirs, p)" in state
