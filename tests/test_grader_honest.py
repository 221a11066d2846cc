"""Honest answers score full marks, however they are written, and check() agrees with the grader.

Each submission below is a correct answer written the way some learners do (loops, in-place
updates, ``state._replace``, type hints, ``%%time``, a library public method, a byte-order
mark).  The grader must give every one full marks, and ``check()`` — fed the same cells, as
it reads them from the kernel's history — must pass it too.
"""
from __future__ import annotations

import json
import pathlib

import nbformat
import numpy as np
import pytest

from lrcourse import feedback
from lrcourse.feedback import CheckFailed, check
from lrcourse.grading import batch, notebook, questions, reports

ROOT = pathlib.Path(__file__).resolve().parent.parent
SETUP = "%matplotlib inline\nimport numpy as np\nimport math\nfrom lrcourse import optimizers, schedules\nfrom lrcourse.feedback import check"
FIRST_UPDATE = """
def adam_first_update(lr, betas, eps, g):
    g = np.asarray(g, dtype=np.float64)
    return -lr * g / (np.abs(g) + eps)
"""

PREDICTION = "tiny_gradient_step = 1e-3 * 1e-6 / (1e-6 + 1e-8)"   # the prediction (graded, predictions.py)

ADAM_VARIANTS = {
    "loops, one coordinate at a time": """
class MyAdam(optimizers.Adam):
    def step(self, params, grad, state, lr=None):
        if lr is None:
            lr = self.lr
        b1, b2 = self.betas
        t = state.step + 1
        p, m, v = params.copy(), state.exp_avg.copy(), state.exp_avg_sq.copy()
        for i in range(len(p)):
            g = grad[i] + self.weight_decay * params[i]
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            p[i] = p[i] - lr / (1 - b1**t) * m[i] / (math.sqrt(v[i]) / math.sqrt(1 - b2**t) + self.eps)
        return p, optimizers.AdamState(t, m, v, None)
""",
    "in-place updates and state._replace, with type hints": """
from __future__ import annotations
from typing import Optional, Tuple

class MyAdam(optimizers.Adam):
    def step(self, params: np.ndarray, grad: np.ndarray, state: optimizers.AdamState,
             lr: Optional[float] = None) -> Tuple[np.ndarray, optimizers.AdamState]:
        lr = self.lr if lr is None else lr
        beta1, beta2 = self.betas
        t: int = state.step + 1
        g = grad + self.weight_decay * params
        m = state.exp_avg.copy()
        m *= beta1
        m += (1 - beta1) * g
        v = state.exp_avg_sq * beta2
        v += (1 - beta2) * g**2
        p = params.copy()
        p -= lr * (m / (1 - beta1**t)) / (np.sqrt(v) / math.sqrt(1 - beta2**t) + self.eps)
        return p, state._replace(step=t, exp_avg=m, exp_avg_sq=v)
""",
    "%%time on the answer cell, a helper in another cell": ["""
def bias_correction(beta, t):
    return 1 - beta**t
""", """%%time
class MyAdam(optimizers.Adam):
    def step(self, params, grad, state, lr=None):
        lr = self.lr if lr is None else lr
        beta1, beta2 = self.betas
        t = state.step + 1
        g = grad + self.weight_decay * params
        m = beta1 * state.exp_avg + (1 - beta1) * g
        v = beta2 * state.exp_avg_sq + (1 - beta2) * g * g
        denom = np.sqrt(v) / math.sqrt(bias_correction(beta2, t)) + self.eps
        return params - lr * m / bias_correction(beta1, t) / denom, optimizers.AdamState(t, m, v, None)
"""],
}

PLATEAU_WITH_IS_BETTER = """
class MyPlateau(schedules.ReduceLROnPlateau):
    def step(self, state, metric):
        current = float(metric)
        lr, best, bad, cool = state.lr, state.best, state.num_bad_epochs, state.cooldown_counter
        if self.is_better(current, best):
            best, bad = current, 0
        else:
            bad += 1
        if cool > 0:
            cool, bad = cool - 1, 0
        if bad > self.patience:
            new_lr = max(lr * self.factor, self.min_lr)
            if lr - new_lr > self.eps:
                lr = new_lr
            cool, bad = self.cooldown, 0
        return schedules.PlateauState(lr, best, bad, cool, state.last_epoch + 1)
"""


def _cells(answer) -> list[str]:
    return [SETUP, FIRST_UPDATE, PREDICTION] + (answer if isinstance(answer, list) else [answer])


def _write(path: pathlib.Path, cells: list[str]) -> pathlib.Path:
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c.strip("\n")) for c in cells]), path)
    return path


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    d = tmp_path_factory.mktemp("honest")
    paths = [_write(d / f"12_adam_{i}.ipynb", _cells(a)) for i, a in enumerate(ADAM_VARIANTS.values())]
    paths.append(_write(d / "05_reduce_on_plateau.ipynb", [SETUP, PLATEAU_WITH_IS_BETTER, "first_cut_epoch = 9"]))
    paths.append(d / "12_adam_bom.ipynb")
    paths[-1].write_bytes(b"\xef\xbb\xbf" + (ROOT / "solutions" / "12_adam.ipynb").read_bytes())
    return dict(zip(list(ADAM_VARIANTS) + ["is_better", "bom"], batch.grade_paths(paths, workers=2)))


@pytest.mark.parametrize("name", list(ADAM_VARIANTS) + ["is_better", "bom"])
def test_unusual_honest_answers_score_full_marks(graded, name):
    r = graded[name]
    assert r.max_score > 0 and r.score == r.max_score, "\n".join(q.output() for q in r.questions)


@pytest.mark.parametrize("answer", list(ADAM_VARIANTS.values()) + [PLATEAU_WITH_IS_BETTER], ids=lambda a: str(a)[:30])
def test_check_reads_cells_as_the_grader_does_and_passes(answer, monkeypatch, capsys):
    cells = _cells(answer) if "MyAdam" in str(answer) else [SETUP, answer]
    monkeypatch.setattr(feedback, "_notebook_cells", lambda: cells)
    target = "MyAdam" if "MyAdam" in str(answer) else "MyPlateau"
    q = questions.find_target(target)
    source, why = notebook.extract_source(cells, target)
    assert source is not None, why
    obj, problems = feedback._as_graded(type(target, (), {"__name__": target}), q)
    assert problems == [] and obj.__name__ == target
    check(obj, use_torch=False)
    assert capsys.readouterr().out.startswith(f"✓ {q.what} matches lrcourse")


def test_check_refuses_what_the_grader_refuses(monkeypatch, capsys):
    """A cell the grader cannot use (a %%bash cell, a forbidden import) fails check() the same way."""
    cells = [SETUP, "%%bash\necho hi", "import os\n\n" + ADAM_VARIANTS["loops, one coordinate at a time"]
             .replace("if lr is None:", "if os.sep and lr is None:")]
    monkeypatch.setattr(feedback, "_notebook_cells", lambda: cells)
    q = questions.find_target("MyAdam")
    _, problems = feedback._as_graded(type("MyAdam", (), {}), q)
    assert any("imports os" in p for p in problems), problems
    with pytest.raises(CheckFailed, match="rules of graded code"):
        check(type("MyAdam", (), {}))
    assert "would score 0 when graded" in capsys.readouterr().out


def test_syntax_errors_are_reported_with_their_line():
    cells = [SETUP, "x = 1\nclass MyAdam(optimizers.Adam):\n    def step(self, params, grad, state lr=None):\n        pass"]
    source, why = notebook.extract_source(cells, "MyAdam")
    assert source is None and "code cell 2" in why and "line 3" in why and "def step(self" in why, why


def test_float32_answers_get_a_precision_hint(tmp_path, monkeypatch, capsys):
    f32 = ADAM_VARIANTS["loops, one coordinate at a time"].replace(
        "p, m, v = params.copy(), state.exp_avg.copy(), state.exp_avg_sq.copy()",
        "p, m, v = params.astype(np.float32), state.exp_avg.astype(np.float32), state.exp_avg_sq.astype(np.float32)")
    [r] = batch.grade_paths([_write(tmp_path / "12_adam.ipynb", _cells(f32))], workers=1)
    assert r.questions[0].score == 0 and "float32" in r.questions[0].output(), r.questions[0].output()
    cells = _cells(f32)
    monkeypatch.setattr(feedback, "_notebook_cells", lambda: cells)
    with pytest.raises(CheckFailed):
        check(type("MyAdam", (), {}), use_torch=False)
    out = capsys.readouterr().out
    assert "precision — your values are exactly representable in float32" in out, out
    yours, expected = [ln.split(None, 1)[1] for ln in out.splitlines() if ln.strip().startswith(("yours", "expected"))]
    assert yours != expected, out         # printed to the digits that differ


def test_check_shows_the_learners_line_and_no_library_traceback(monkeypatch, capsys):
    cells = [SETUP, "class MyAdam(optimizers.Adam):\n    def step(self, params, grad, state, lr=None):\n"
                    "        m = state.exp_avg + grad[7]\n        return params, state"]
    monkeypatch.setattr(feedback, "_notebook_cells", lambda: cells)
    with pytest.raises(CheckFailed) as info:
        check(type("MyAdam", (), {}), use_torch=False)
    out = capsys.readouterr().out
    assert "m = state.exp_avg + grad[7]" in out and "IndexError" in out, out
    assert "lrcourse/" not in out and info.value.__cause__ is None and info.value.__suppress_context__


def test_partial_scores_are_explained_in_the_csv(tmp_path):
    wrong = ADAM_VARIANTS["loops, one coordinate at a time"].replace("self.weight_decay * params[i]", "0.0")
    [r] = batch.grade_paths([_write(tmp_path / "12_adam.ipynb", _cells(wrong))], workers=1)
    csv_path = reports.write_reports([r], tmp_path / "out")
    import csv
    [row] = list(csv.DictReader(open(csv_path, encoding="utf-8")))
    q = r.questions[0]
    if q.score == q.max_score:
        pytest.fail("weight decay ignored scored full marks")
    assert f"12_adam/q1 {q.score:g}/4: hidden cases" in row["message"] and "first failure" in row["message"], row
    assert json.loads((tmp_path / "out" / "submissions" / r.name / "results.json").read_text())["score"] == r.score
    assert np.isclose(r.score, sum(x.score for x in r.questions))


def test_check_in_a_real_kernel_reads_the_history_with_its_magics(tmp_path):
    """In a notebook, check() finds a %%time answer cell and a helper's forbidden import the grader's way."""
    from nbclient import NotebookClient
    helper_cell = "def bias_correction(beta, t):\n    import os\n    return 1 - beta**t"
    answer = ADAM_VARIANTS["%%time on the answer cell, a helper in another cell"]
    cells = [SETUP, answer[0], answer[1], "check(MyAdam, use_torch=False)", helper_cell, answer[1],
             "try:\n    check(MyAdam, use_torch=False)\nexcept Exception as exc:\n    print(type(exc).__name__)",
             "class MyAdam(optimizers.Adam):\n    def step(self, params, grad, state, lr=None):\n"
             "        return params + grad[9], state", "check(MyAdam, use_torch=False)"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(ROOT)}}).execute()
    outs = ["".join(o.get("text", "") for o in c.outputs if o.get("name") == "stdout") for c in nb.cells]
    assert outs[3].startswith("✓ MyAdam.step matches lrcourse"), outs[3]
    assert "would score 0 when graded" in outs[6] and "imports os" in outs[6] and "CheckFailed" in outs[6], outs[6]
    # an error in the learner's code: their line and error printed, then one line — no library source
    assert "in step, line 3: return params + grad[9], state" in outs[8] and "IndexError" in outs[8], outs[8]
    [error] = [o for o in nb.cells[8].outputs if o.output_type == "error"]
    assert error.ename == "CheckFailed" and len(error.traceback) == 1 and "feedback.py" not in error.traceback[0]
