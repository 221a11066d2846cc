"""Graded predictions: each answer is what torch measures in the notebook's experiment, and grading is all or nothing.

``lrcourse.grading.predictions`` computes every answer with lrcourse at grading time; here the
same experiment is run with torch (float64) and the two must agree.  Then the solution notebooks'
predictions score full points, the exercises' stubs and wrong values score 0, the static reader
takes only plain values, and ``check_prediction`` says right or wrong without giving the answer.
"""
from __future__ import annotations

import math
import pathlib

import nbformat
import numpy as np
import pytest
import torch

from lrcourse import problems
from lrcourse.feedback import CheckFailed, NotWrittenYet, check_prediction
from lrcourse.grading import questions
from lrcourse.grading.notebook import notebook_cells
from lrcourse.grading.predictions import EXPLAIN, PREDICTIONS, find_prediction, judge, read_prediction
from lrcourse.grading.scoring import manual_result, score_prediction

ROOT = pathlib.Path(__file__).resolve().parent.parent
ALL = [p for ps in PREDICTIONS.values() for p in ps]
T = torch.float64


def _steps(opt_class, grads, p0, **kw):
    """torch's optimizer on a fixed gradient sequence: (final params, state, the steps p_k - p_{k+1})."""
    p = torch.tensor(p0, dtype=T, requires_grad=True)
    opt, steps = opt_class([p], **kw), []
    for g in grads:
        before = p.detach().clone()
        p.grad = torch.as_tensor(np.asarray(g, dtype=np.float64))
        opt.step()
        steps.append((before - p.detach()).numpy())
    return p.detach().numpy(), opt.state[p], steps


def _lrs(make, n):
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.1 if make.__name__ != "one_cycle" else 1.0)
    sched, out = make(opt), []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return np.array(out)


def one_cycle(opt):
    return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.187, total_steps=300, pct_start=0.3, div_factor=25.0,
                                               final_div_factor=1e4)


def _torch_answer(name):
    sch = torch.optim.lr_scheduler
    q = problems.IllConditionedQuadratic()
    if name == "contraction_at_best":
        lam = np.linalg.eigvalsh(q.A)
        lr = 2 / (lam.max() + lam.min())
        return float(np.max(np.abs(1 - lr * lam)))
    if name == "lr_sum_ratio":
        return (_lrs(lambda o: sch.MultiStepLR(o, [60, 90], 0.1), 100).sum()
                / _lrs(lambda o: sch.StepLR(o, 30, 0.1), 100).sum())
    if name == "updates_to_halve":
        lrs = _lrs(lambda o: sch.ExponentialLR(o, (1e-3 / 0.1) ** (1 / 200)), 201)
        assert math.isclose(lrs[200], 1e-3, rel_tol=1e-9)
        return math.log(0.5) / math.log(lrs[1] / lrs[0])
    if name == "mean_lr":
        return _lrs(lambda o: sch.CosineAnnealingLR(o, T_max=30, eta_min=0.001), 30).mean()
    if name == "first_cut_epoch":
        p = torch.zeros(1, requires_grad=True)
        opt = torch.optim.SGD([p], lr=0.1)
        plateau = sch.ReduceLROnPlateau(opt, patience=3)
        for epoch, m in enumerate([1.0, 0.8, 0.7, 0.65, 0.62] + [0.62] * 15, start=1):
            plateau.step(m)
            if opt.param_groups[0]["lr"] < 0.1:
                return epoch
    if name == "warmup_lr_3":
        return _lrs(lambda o: sch.LinearLR(o, start_factor=0.1, total_iters=5), 4)[3] / 0.1 * 0.01
    if name == "lr_55":
        return _lrs(lambda o: sch.SequentialLR(o, [sch.LinearLR(o, start_factor=0.1, total_iters=10),
                                                   sch.CosineAnnealingLR(o, T_max=90)], milestones=[10]), 56)[55]
    if name == "step_100":
        return _steps(torch.optim.SGD, np.ones((100, 1)), [0.0], lr=0.01, momentum=0.9)[2][-1][0]
    if name == "rare_over_frequent":
        rng = np.random.default_rng(0)
        grads = rng.standard_normal((200, 4)) * (rng.random((200, 4)) < [1.0, 0.5, 0.3, 0.1])
        s = _steps(torch.optim.Adagrad, grads, np.zeros(4), lr=0.1, eps=1e-10)[1]["sum"].numpy()
        eff = 0.1 / (np.sqrt(s) + 1e-10)
        return eff[3] / eff[0]
    if name == "first_step_over_lr":
        return _steps(torch.optim.RMSprop, [[1.0]], [0.0], lr=0.01, alpha=0.99, eps=1e-8)[2][0][0] / 0.01
    if name == "first_step_size":
        return np.abs(_steps(torch.optim.Adadelta, [q.grad(q.x0)], q.x0)[2][0]).max()
    if name == "tiny_gradient_step":
        return abs(_steps(torch.optim.Adam, [[1e-6]], [0.0], lr=1e-3)[2][0][0])
    if name == "adam_over_amsgrad":
        grads, eff = [[10.0]] + [[0.01]] * 2000, []
        for ams in (False, True):
            st = _steps(torch.optim.Adam, grads, [0.0], lr=1e-3, betas=(0.9, 0.99), amsgrad=ams)[1]
            v = (st["max_exp_avg_sq"] if ams else st["exp_avg_sq"]).numpy()
            eff.append(1e-3 / (np.sqrt(v / (1 - 0.99 ** float(st["step"]))) + 1e-8))
        return eff[0][0] / eff[1][0]
    if name == "l2_shrinks":
        rng = np.random.default_rng(1)
        grads = np.column_stack([100 * rng.standard_normal(200), 0.01 * rng.standard_normal(200)])
        p = _steps(torch.optim.Adam, grads, np.ones(2), lr=0.01, weight_decay=0.1)[0]
        return "large" if abs(p[0]) < abs(p[1]) else "small"
    if name == "mu_1":
        return float(_steps(torch.optim.NAdam, [[1.0]], [0.0])[1]["mu_product"])
    if name == "nadam_floats":
        st = _steps(torch.optim.NAdam, [np.ones((64, 32))], np.zeros((64, 32)))[1]
        return sum(v.numel() for v in st.values() if v.dim() > 0) / (64 * 32)
    if name == "peak_update":
        return int(np.argmax(_lrs(one_cycle, 300)))
    if name == "rare_row_travel":   # 10,000 zero gradients, then 1, then 20 zeros: the row's distance in units of lr
        return -_steps(torch.optim.Adam, [[0.0]] * 10_000 + [[1.0]] + [[0.0]] * 20, [0.0], lr=0.01)[0][0] / 0.01
    raise KeyError(name)


@pytest.mark.parametrize("p", ALL, ids=lambda p: p.key)
def test_the_answer_is_what_torch_measures(p):
    ours, theirs = p.answer(), _torch_answer(p.name)
    if isinstance(ours, str):
        assert ours == theirs
    else:
        assert math.isclose(ours, theirs, rel_tol=1e-6), (ours, theirs)
        assert p.rel_tol <= 0.15, "a prediction's tolerance should stay modest"


def test_every_exercise_has_a_prediction_and_an_explain_question():
    assert set(PREDICTIONS) == set(EXPLAIN) <= set(questions.STEMS)
    assert set(PREDICTIONS) == set(questions.STEMS)
    assert len({p.name for p in ALL}) == len(ALL), "prediction names are unique in the course"


def _cells(folder, stem):
    return notebook_cells(ROOT / folder / f"{stem}.ipynb")[0]


@pytest.mark.parametrize("p", ALL, ids=lambda p: p.key)
def test_solution_scores_full_points_stub_and_wrong_values_score_zero(p):
    cells = _cells("solutions", p.stem)
    right = score_prediction(p, cells)
    assert right.score == right.max_score == p.points, right.output()
    stub = score_prediction(p, _cells("exercises", p.stem))
    assert stub.score == 0 and "NotImplementedError" in stub.output(), stub.output()
    if p.choices:
        wrong = next(c for c in p.choices if c != p.answer())
        wrong_src = repr(wrong)
    else:
        wrong_src = repr(float(p.answer()) * (1 + 2 * p.rel_tol) + 1.0)
    graded = score_prediction(p, cells + [f"{p.name} = {wrong_src}"])
    assert graded.score == 0 and graded.max_score == p.points, graded.output()
    later = score_prediction(p, cells + [f"{p.name} = {wrong_src}", f"{p.name} = float({p.name})" if not p.choices
                                         else f"{p.name} = str({p.name})"])
    assert later.score == 0, "a keeper line keeps the last plain value"


@pytest.mark.parametrize("src, value", [("x = 0.1 * 0.5 ** 3", 0.0125), ("x = -(2 + 3) / 4", -1.25), ("x = 'small'", "small"),
                                        ("x = 7\nx = float(x)", 7), ("x = 1\n\nx = 2", 2),
                                        ("x = 2 * math.log(2) / math.log(math.e)", 2 * math.log(2)),
                                        ("x = math.sqrt(1e-6 / 0.1)", math.sqrt(1e-5))])
def test_reader_takes_plain_values_and_arithmetic(src, value):
    assert read_prediction([src], "x") == (value, None)


@pytest.mark.parametrize("src", ["x = np.log(3)", "x = __import__('os').getcwd()", "x = 10 ** 10 ** 10", "x = True",
                                 "x = [1, 2]", "x = 1 / 0", "x = y", "x = -'a'",
                                 "x = math.log(-1)", "x = math.exp(1e6)", "x = os.sqrt(4)", "x = math.floor(2.5)",
                                 "x = " + "9" * 4000, "x = ((((1 + 1) * 2) ** 2000) + 1)", "x = " + "-" * 5000 + "1"])
def test_reader_refuses_anything_else_without_running_it(src):
    value, why = read_prediction([src], "x")
    assert value is None and why and "x" in why


def test_judge_tolerance_and_choices():
    p = find_prediction("updates_to_halve")
    assert judge(p, 30.1 * 1.049)[0] and not judge(p, 30.1 * 1.06)[0] and not judge(p, "30")[0]
    c = find_prediction("l2_shrinks")
    assert judge(c, " Small ")[0] and not judge(c, "large")[0] and not judge(c, "neither")[0]
    assert judge(find_prediction("first_cut_epoch"), 9)[0] and not judge(find_prediction("first_cut_epoch"), 10)[0]


def test_check_prediction_says_right_or_wrong_never_the_answer(capsys):
    p = find_prediction("mean_lr")
    check_prediction("mean_lr", 0.0522)
    assert "✓" in capsys.readouterr().out
    with pytest.raises(CheckFailed):
        check_prediction("mean_lr", 0.0505)
    out = capsys.readouterr().out
    assert "✗" in out and "0.052" not in out and f"{p.answer():.4g}" not in out
    with pytest.raises(NotWrittenYet):
        check_prediction("mean_lr")


def test_explain_questions_are_reported_manual_with_zero_automatic_points():
    for es in EXPLAIN.values():
        r = manual_result(es[0])
        assert r.score == r.max_score == 0 and "manually graded" in r.output() and "docs/rubrics.md" in r.output()
    rubrics = (ROOT / "docs" / "rubrics.md").read_text()
    assert all(f"## {stem}" in rubrics for stem in EXPLAIN)


@pytest.mark.parametrize("p", ALL, ids=lambda p: p.key)
def test_the_prediction_comes_before_its_experiment_and_no_answer_follows_a_question(p):
    """Experiment question -> prediction cell -> locked check -> the experiment; explain question -> its answer cell."""
    for folder in ("solutions", "exercises"):
        cells = nbformat.read(ROOT / folder / f"{p.stem}.ipynb", as_version=4).cells
        ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in cells]
        k = ids.index("p1_prediction")
        assert cells[k - 1].source.startswith("## Experiment") and p.name in cells[k - 1].source
        assert ids[k + 1] == "p1_check" and cells[k + 1].metadata["nbgrader"]["points"] == p.points
        assert cells[k + 1].metadata["nbgrader"]["locked"] and f'check_prediction("{p.name}", {p.name})' in cells[k + 1].source
        assert cells[k + 2].cell_type == "code" and "check_prediction" not in cells[k + 2].source   # the experiment
        e = ids.index("e1_explain")
        meta = cells[e].metadata["nbgrader"]
        assert cells[e].cell_type == "markdown" and meta["grade"] and meta["solution"] and meta["points"] == 1
        assert cells[e - 1].source.startswith("## Explain") and e == len(cells) - 1
        if folder == "exercises":
            assert cells[e].source == "YOUR ANSWER HERE" and "raise NotImplementedError" in cells[k].source


def test_rare_row_travel_is_none_of_the_distances_lesson_18_prints():
    """The lesson prints the first step, the distance ten updates on and the total; the question asks for twenty."""
    p, first, r = find_prediction("rare_row_travel"), 0.1 / math.sqrt(0.001), 0.9 / math.sqrt(0.999)
    for printed in (first, first * (1 - r**11) / (1 - r), first / (1 - r)):
        assert not judge(p, printed)[0], printed
