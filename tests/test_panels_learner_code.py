"""The learner's own code in runs.compare and the VerificationPanel: step functions with their
init, exercise classes written from scratch, schedule functions (issue 12, part 1).

Every verdict here is computed against torch in the test run; the mistakes are real ones
(tests/learners.py), and the panel must name the first step and the state field (torch's name).
"""
from __future__ import annotations

import functools
import html
import math

import numpy as np
import pytest
from learners import (
    EpsInsideSqrt,
    PlateauCutsOnPatience,
    ScratchMomentumSGD,
    ScratchPlateau,
    adam_init,
    adam_step,
    adam_step_eps_inside,
    drifting_adam_step,
    step_lr,
)

from lrcourse import optimizers as O
from lrcourse import problems as P
from lrcourse import runs
from lrcourse import schedules as S
from lrcourse.widgets import VerificationPanel


# --------------------------------------------------------------------------- runs.compare
def test_compare_takes_a_step_function_with_its_init():
    c = runs.compare(adam_step, P.Rosenbrock(), 150, like=O.Adam(lr=0.05, betas=(0.8, 0.99)), init=adam_init,
                     device="cpu")
    assert c.passed and c.max_error <= 1e-12 and c.method == "adam_step"
    assert sorted(c.errors) == ["exp_avg", "exp_avg_sq", "max_exp_avg_sq", "params"]  # torch's names
    # the library's own Adam gives the same torch trajectory
    lib = runs.compare(O.Adam(lr=0.05, betas=(0.8, 0.99)), P.Rosenbrock(), 150, device="cpu")
    np.testing.assert_array_equal(c.torch_params, lib.torch_params)
    np.testing.assert_allclose(c.numpy_params, lib.numpy_params, rtol=1e-12)


def test_compare_with_like_alone_keeps_existing_results():
    a = runs.compare(O.SGD(lr=1e-3, momentum=0.9), P.Rosenbrock(), 80, device="cpu")
    b = runs.compare(O.SGD(lr=1e-3, momentum=0.9), P.Rosenbrock(), 80, device="cpu", like=None)
    assert a.verdict == b.verdict and a.method == b.method == "SGD"
    for f in a.errors:
        np.testing.assert_array_equal(a.errors[f], b.errors[f])


def test_a_wrong_step_function_fails_at_step_0_on_params():
    c = runs.compare(adam_step_eps_inside, P.IllConditionedQuadratic(), 50, like=O.Adam(lr=0.01, eps=1e-3),
                     init=adam_init, device="cpu")
    assert not c.passed and c.first_failure[:2] == (0, "params")


def test_a_state_field_the_learner_leaves_out_is_reported_by_torch_name():
    # amsgrad=True: torch keeps max_exp_avg_sq, the learner's dict has no such field
    c = runs.compare(adam_step, P.Rosenbrock(), 20, like=O.Adam(lr=0.05, amsgrad=True), init=adam_init, device="cpu")
    assert not c.passed and c.first_failure[:2] == (0, "max_exp_avg_sq") and math.isinf(c.first_failure[2])


def test_a_drift_in_one_state_field_is_found_at_its_step():
    c = runs.compare(drifting_adam_step("exp_avg", 12, 1e-7), P.Rosenbrock(), 40, like=O.Adam(lr=0.05), init=adam_init, device="cpu")
    step, field, err = c.first_failure
    assert (step, field) == (11, "exp_avg") and err == pytest.approx(1e-7, rel=1e-3)


def test_init_defaults_to_the_library_state_and_a_default_init_matches():
    def adam_step_nt(params, grad, state, lr, betas, eps):  # state: the library's AdamState
        p, s = adam_step(params, grad, state._asdict(), lr, betas, eps)
        return p, O.AdamState(s["step"], s["exp_avg"], s["exp_avg_sq"], None)

    assert runs.compare(adam_step_nt, P.IllConditionedQuadratic(), 60, like=O.Adam(lr=0.05), device="cpu").passed


def test_an_exercise_class_written_from_scratch():
    c = runs.compare(ScratchMomentumSGD, P.Rosenbrock(), 100, like=O.SGD(lr=1e-3, momentum=0.9), device="cpu")
    assert c.passed and c.method == "ScratchMomentumSGD"
    c = runs.compare(ScratchMomentumSGD(), P.Rosenbrock(), 100, like=O.SGD(lr=1e-3, momentum=0.9, dampening=0.5),
                     device="cpu")  # dampening is not in the learner's code
    assert not c.passed and c.first_failure[:2] == (1, "params")


@pytest.mark.parametrize("fn, like", [
    (step_lr, S.StepLR(0.1, step_size=30, gamma=0.5)),                       # vectorised
    (lambda t, lr, T_max, eta_min: eta_min + (lr - eta_min) * (1 + math.cos(math.pi * t / T_max)) / 2
     if t <= T_max else eta_min, S.CosineAnnealingLR(0.1, T_max=60, eta_min=1e-3)),  # scalar code
    (functools.partial(lambda t, lr0, gamma: lr0 * gamma**t, lr0=0.1), S.ExponentialLR(0.1, gamma=0.97)),
])
def test_compare_takes_a_schedule_function(fn, like):
    c = runs.compare(fn, steps=60, like=like)
    assert c.passed and c.kind == "schedule"
    np.testing.assert_allclose(c.numpy_curve, like(np.arange(60)), rtol=1e-12)


def test_a_wrong_schedule_function_names_its_step():
    c = runs.compare(lambda t, lr, step_size, gamma: lr * gamma ** ((t + 1) // step_size), steps=50,
                     like=S.StepLR(0.1, step_size=10))
    assert not c.passed and c.first_failure[:2] == (9, "lr")


@pytest.mark.parametrize("call, message", [
    (lambda: runs.compare(adam_step, P.Rosenbrock(), 5), "say which method it stands for: like="),
    (lambda: runs.compare(lambda p, g, s: (p, s), P.Rosenbrock(), 5, like=O.SGD(lr=0.1)),
     "must take (params, grad, state, lr)"),
    (lambda: runs.compare(lambda t, lr0, step_size: lr0, steps=5, like=S.StepLR(0.1, step_size=3)),
     "requires lr0, which StepLR does not have"),
    (lambda: runs.compare(adam_step, P.Rosenbrock(), 5, like=O.Adam(), init=lambda p: {"m": p}),
     "state field(s) m are not in torch's Adam state"),
    (lambda: runs.compare(adam_step, P.Rosenbrock(), 5, like=O.Adam(), init=lambda p: [p]),
     "init must return the state as a NamedTuple or a dict"),
    (lambda: runs.compare(lambda p, g, s, lr: p, P.Rosenbrock(), 5, like=O.SGD(lr=0.1)), "must return (params, state)"),
    (lambda: runs.compare(step_lr, steps=5, like=S.ReduceLROnPlateau(0.1)), "subclass schedules.ReduceLROnPlateau"),
    (lambda: runs.compare(O.Adam(), P.Rosenbrock(), 5, like=O.Adam()), "pass it without like="),
])
def test_bad_learner_code_gets_a_teaching_error(call, message):
    with pytest.raises(TypeError, match=None) as info:
        call()
    assert message in str(info.value), str(info.value)


# --------------------------------------------------------------------------- the panel
def test_panel_verifies_a_lesson_step_function_and_offers_what_it_takes():
    panel = VerificationPanel(adam_step, init=adam_init, like=O.Adam(lr=0.05), problem="Rosenbrock", steps=100,
                              device="cpu")
    assert panel.result.passed and panel.verdict.startswith("MATCH — ") and panel.error is None
    assert repr(panel) == "VerificationPanel(adam_step, problem='Rosenbrock', steps=100)"
    assert "your <code>adam_step</code> (standing for <code>lrcourse.optimizers.Adam</code>)" in panel.header.value
    assert "torch.optim.Adam" in panel.header.value
    # adam_step takes lr, betas and eps: sliders; amsgrad, weight_decay...: fixed, said so
    assert hasattr(panel.controls["beta1"], "min") and hasattr(panel.controls["eps"], "min")
    assert "your function does not take it" in panel.controls["amsgrad"].value
    assert "your function does not take it" in panel.controls["weight_decay"].value
    panel.set(lr=0.01, betas=(0.8, 0.99), eps=1e-6)
    assert panel.method.like == O.Adam(lr=0.01, betas=(0.8, 0.99), eps=1e-6) and panel.result.passed
    ref = runs.compare(O.Adam(lr=0.01, betas=(0.8, 0.99), eps=1e-6), P.Rosenbrock(), 100,
                       device="cpu")
    np.testing.assert_array_equal(panel.result.torch_curve, ref.torch_curve)
    panel.controls["dtype"].value = "float32"
    assert panel.result.passed and panel.result.tolerance == 1e-5 and "cpu/float32" in panel.verdict


def test_panel_names_first_step_and_state_field_of_a_wrong_step_function():
    panel = VerificationPanel(drifting_adam_step("exp_avg_sq", 17, 1e-6), init=adam_init, like=O.Adam, problem="Rosenbrock", steps=60)
    assert panel.verdict.startswith("MISMATCH at step 16: exp_avg_sq differs by 1.0e-06"), panel.verdict
    assert "First difference: update 16" in panel.info.value and "<code>exp_avg_sq</code> (torch's name)" in \
        panel.info.value
    assert "MISMATCH at step 16" in panel.verdict_html.value
    # the note says what was compared and by how much (issue 12, part 4)
    assert "started from torch's parameters and state before that update, with the same gradient, it differs " \
           "from torch's by 1.0e-06 (relative), above the tolerance 1e-12; every update before it matched" in \
        panel.info.value


def test_panel_verifies_an_exercise_class_written_from_scratch():
    panel = VerificationPanel(ScratchMomentumSGD, like=O.SGD(lr=1e-3, momentum=0.9), problem="Rosenbrock", steps=80)
    assert panel.result.passed and "your <code>ScratchMomentumSGD</code>" in panel.header.value
    panel.controls["momentum"].value = 0.5
    assert panel.result.passed and panel.method.like.momentum == 0.5
    assert "your function does not take it" in panel.controls["dampening"].value


def test_panel_verifies_a_schedule_function():
    panel = VerificationPanel(step_lr, like=S.StepLR(0.1, step_size=30), steps=100)
    assert panel.kind == "schedule" and panel.result.passed
    panel.controls["gamma"].value = 0.5
    assert panel.result.passed and panel.method.like.gamma == 0.5
    np.testing.assert_allclose(panel.result.numpy_curve, S.StepLR(0.1, step_size=30, gamma=0.5)(np.arange(100)),
                               rtol=1e-12)
    assert panel.controls["step_size"].min == 1  # torch's rule (step_size >= 1): the slider offers no 0

    def multistep_lr(t, lr, milestones, gamma=0.1):
        return lr * gamma ** np.searchsorted(np.asarray(milestones), t, side="right")

    panel = VerificationPanel(multistep_lr, like=S.MultiStepLR(0.1, milestones=(30, 60)), steps=100)
    assert panel.result.passed
    panel.controls["milestones"].value = "30, -5"  # the library's message, beside the control
    assert panel.result is None and "Invalid milestone value: -5 (must be >= 0)" in panel.error
    assert "Invalid milestone value: -5" in panel.notes[panel.controls["milestones"]].value and panel.stale
    panel.controls["milestones"].value = "20, 50, 70"
    assert panel.result.passed and panel.method.like.milestones == (20, 50, 70) and not panel.stale


def test_panel_shows_errors_in_learner_code_without_raising():
    def unfinished(params, grad, state, lr):
        raise NotImplementedError("write the update")

    panel = VerificationPanel(unfinished, like=O.SGD(lr=0.1), steps=10)
    assert panel.result is None and panel.verdict.startswith("NOT WRITTEN YET — your code is not written yet "
                                                             "(write the update): fill in the cell above")
    assert "Traceback" not in panel.verdict_html.value
    with pytest.raises(TypeError, match="like=optimizers.Adam"):
        VerificationPanel(adam_step)


# --------------------------------------------------------------------------- ReduceLROnPlateau from scratch
def test_a_plateau_class_from_scratch_matches_torch_and_its_panel_follows_the_controls():
    metrics = [1.0, 0.9, 0.9, 0.9, 0.9, 0.95, 0.85, 0.85, 0.86, 0.87, 0.88, 0.9] * 5
    like = S.ReduceLROnPlateau(0.1, patience=2, cooldown=1, threshold=0.01)
    c = runs.compare(ScratchPlateau, None, metrics=metrics, like=like)
    assert c.passed and c.method == "ScratchPlateau" and c.kind == "plateau"
    np.testing.assert_array_equal(c.numpy_curve, like.lrs(metrics))
    assert len(set(c.torch_curve)) >= 3  # the LR was cut at least twice: the check saw cuts
    panel = VerificationPanel(ScratchPlateau, like=S.ReduceLROnPlateau, problem="logistic regression", steps=120)
    assert panel.result.passed and repr(panel) == "VerificationPanel(ScratchPlateau, problem='logistic regression', steps=120)"
    panel.set(patience=1, factor=0.5)
    assert panel.result.passed and panel.method.like.patience == 1 and panel.controls["factor"].max < 1


def test_a_wrong_or_incomplete_plateau_class_is_named_by_field():
    metrics = [1.0, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]
    c = runs.compare(PlateauCutsOnPatience, None, metrics=metrics, like=S.ReduceLROnPlateau(0.1, patience=2))
    assert not c.passed and c.first_failure[:2] == (3, "lr")  # one epoch too early

    class NoCooldown:  # keeps no cooldown_counter at all
        def __init__(self, lr):
            self.lr, self.best, self.num_bad_epochs = lr, float("inf"), 0

        def step(self, metric):
            self.best = min(self.best, metric)

    c = runs.compare(NoCooldown, None, metrics=metrics, like=S.ReduceLROnPlateau(0.1))
    assert not c.passed and c.first_failure[:2] == (0, "cooldown_counter") and math.isinf(c.first_failure[2])


# --------------------------------------------------------------------------- hints from the grader's catalogue
def test_a_known_mistake_gets_the_catalogue_hint():
    from lrcourse.grading import questions as grader_spec

    hints = {m.hint for qs in grader_spec.QUESTIONS.values() for q in qs for m in q.mistakes
             if m.name == "eps inside the square root" and q.reference is O.Adam}
    for method, kw in [(adam_step_eps_inside, dict(init=adam_init, like=O.Adam(lr=0.01, eps=1e-3))),
                       (EpsInsideSqrt(lr=0.01, eps=1e-3), {})]:
        panel = VerificationPanel(method, problem="ill-conditioned quadratic", steps=60, **kw)
        assert not panel.result.passed
        [(name, hint)] = panel.hints  # one hint per mistake, as the catalogue words it
        assert name == "eps inside the square root" and hint in hints
        assert f"<b>eps inside the square root</b>: {hint}" in html.unescape(panel.info.value)


def test_no_hint_for_a_mistake_the_catalogue_does_not_know_nor_for_a_match():
    panel = VerificationPanel(drifting_adam_step("exp_avg", 5, 1e-6), init=adam_init, like=O.Adam(lr=0.05), steps=60)
    assert not panel.result.passed and panel.hints == [] and "known mistake" not in panel.info.value
    panel = VerificationPanel(adam_step, init=adam_init, like=O.Adam(lr=0.05), steps=60)
    assert panel.result.passed and panel.hints == []


def test_like_must_be_an_instance_in_compare():
    with pytest.raises(TypeError, match=r"like= takes an instance, e.g. like=Adam.example\(\)"):
        runs.compare(adam_step, P.Rosenbrock(), 5, like=O.Adam)


def test_without_torch_learner_code_is_run_not_checked(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "torch", None)
    panel = VerificationPanel(adam_step, init=adam_init, like=O.Adam(lr=0.05), problem="Rosenbrock", steps=40)
    assert panel.verdict.startswith("NOT CHECKED — torch is not installed") and panel.result.method == "adam_step"
    np.testing.assert_allclose(panel.result.numpy_params, runs.run(O.Adam(lr=0.05), P.Rosenbrock(), 40).params,
                               rtol=1e-12)
    sched = VerificationPanel(step_lr, like=S.StepLR(0.1, step_size=10), steps=40)
    np.testing.assert_allclose(sched.result.numpy_curve, S.StepLR(0.1, step_size=10)(np.arange(40)), rtol=1e-12)
    plateau = VerificationPanel(ScratchPlateau, like=S.ReduceLROnPlateau(0.1, patience=3),
                                problem="logistic regression", steps=60)
    assert plateau.verdict.startswith("NOT CHECKED") and plateau.result.method == "ScratchPlateau"


# --------------------------------------------------------------------------- a lesson's own names (names=)
def lesson_adam_step(p, g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
    """As lesson 12 writes it: the state as arrays, t = 1, 2, ... this update's number."""
    g = g + weight_decay * p
    m, v = beta1 * m + (1 - beta1) * g, beta2 * v + (1 - beta2) * g * g
    return p - lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps), m, v


def lesson_adagrad_step(p, g, s, t, lr, lr_decay=0.0, eps=1e-10):
    """As lesson 09 writes it: s is torch's 'sum', t its 'step' (returned: the new p and s)."""
    s = s + g * g
    return p - lr / (1 + (t - 1) * lr_decay) * (g / (np.sqrt(s) + eps)), s


ADAM_NAMES = {"m": "exp_avg", "v": "exp_avg_sq", "t": "step"}


@pytest.mark.parametrize("fn, like, names, fields", [
    (lesson_adam_step, O.Adam(lr=0.05, betas=(0.8, 0.99), weight_decay=0.1), ADAM_NAMES,
     ["exp_avg", "exp_avg_sq", "max_exp_avg_sq", "params"]),
    (lesson_adagrad_step, O.Adagrad(lr=0.5, lr_decay=0.01, initial_accumulator_value=0.1), {"s": "sum", "t": "step"},
     ["params", "sum"]),
])
def test_a_lesson_step_function_with_array_state_matches_torch(fn, like, names, fields):
    code = runs.learner_code(fn, like, names=names)
    assert code.arrays and "lr" in code.takes
    c = runs.compare(code, P.Rosenbrock(), 200, device="cpu")
    assert c.passed and c.max_error <= 1e-12 and sorted(c.errors) == fields
    # the same numbers as the library's own optimizer
    np.testing.assert_allclose(c.numpy_params, runs.run(like, P.Rosenbrock(), 200).params, rtol=1e-12)


def test_a_lesson_step_function_off_by_one_in_t_is_named_at_step_0():
    def late_t(p, g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8):
        return lesson_adam_step(p, g, m, v, t + 1, lr, beta1, beta2, eps)

    c = runs.compare(runs.learner_code(late_t, O.Adam(lr=0.05), names=ADAM_NAMES), P.Rosenbrock(), 30, device="cpu")
    assert not c.passed and c.first_failure[:2] == (0, "params")


def test_a_schedule_with_the_lessons_names_and_a_conversion():
    def exp_lr(t, lr0, k):
        return lr0 * np.exp(-k * np.asarray(t, dtype=np.float64))

    like = S.ExponentialLR(0.1, gamma=0.97)
    code = runs.learner_code(exp_lr, like, names={"lr0": "lr", "k": ("gamma", lambda gamma: -math.log(gamma))})
    assert code.takes == ("lr", "gamma")
    c = runs.compare(code, steps=300)
    assert c.passed and c.max_error <= 1e-12
    panel = VerificationPanel(exp_lr, like=like, names={"lr0": "lr", "k": ("gamma", lambda gamma: -math.log(gamma))},
                              steps=120)
    panel.controls["gamma"].value = 0.9
    assert panel.result.passed and panel.method.like.gamma == 0.9
    np.testing.assert_allclose(panel.result.numpy_curve, 0.1 * 0.9 ** np.arange(120), rtol=1e-12)


def test_one_cycle_answering_lr_and_momentum_is_read_for_its_lr():
    like = S.OneCycleLR(0.1, total_steps=100)

    def one_cycle(t, max_lr, total_steps):
        return like(t), np.zeros_like(np.asarray(t, dtype=np.float64))  # (lr, momentum)

    assert runs.compare(one_cycle, steps=100, like=like).passed


def test_panel_on_a_lesson_adam_step_offers_beta_sliders_and_follows_them():
    panel = VerificationPanel(lesson_adam_step, like=O.Adam(lr=0.05), names=ADAM_NAMES, problem="Rosenbrock",
                              steps=80)
    assert panel.result.passed and "your <code>lesson_adam_step</code>" in panel.header.value
    assert "your function does not take it" in panel.controls["amsgrad"].value
    panel.set(betas=(0.7, 0.95), weight_decay=0.05)
    assert panel.result.passed and panel.method.like.betas == (0.7, 0.95) and panel.method.like.weight_decay == 0.05


@pytest.mark.parametrize("call, message", [
    (lambda: runs.learner_code(lesson_adam_step, O.Adam(), names={"m": "exp_avg", "v": "second_moment", "t": "step"}),
     "names= maps 'v' to 'second_moment', which is not a hyperparameter or state field of Adam"),
    (lambda: runs.learner_code(lesson_adagrad_step, O.Adagrad(), names={"s": "sum", "t": "step", "x": "lr"}),
     "names= maps 'x', which lesson_adagrad_step does not take"),
    (lambda: runs.learner_code(step_lr, S.StepLR(0.1, step_size=3), names={"lr": 5}),
     "names['lr'] must be torch's name"),
    (lambda: runs.compare(runs.learner_code(lambda p, g, exp_avg, lr: p, O.Adam()), P.Rosenbrock(), 5),
     "must return (params, exp_avg), the new params then the state it takes; got ndarray"),
    (lambda: runs.learner_code(lambda t, lr0: lr0, S.StepLR(0.1, step_size=3)),
     "map with names={'lr0': torch's name}"),
    (lambda: runs.learner_code(step_lr, names={"lr0": "lr"}), "init= and names= go with like="),
])
def test_bad_names_get_a_teaching_error(call, message):
    with pytest.raises(TypeError) as info:
        call()
    assert message in str(info.value), str(info.value)


# --------------------------------------------------------------------------- the lessons
LESSONS_ON_OWN_CODE = {"01": "gd_step", "02": "step_lr", "03": "exp_lr", "04": "cosine_lr", "05": "Plateau",
                       "09": "adagrad_step", "10": "rmsprop_step", "11": "adadelta_step", "12": "adam_step",
                       "13": "amsgrad_step", "14": "adamw_step", "17": "one_cycle"}


@pytest.mark.parametrize("number, code", sorted(LESSONS_ON_OWN_CODE.items()))
def test_a_lessons_panel_verifies_the_lessons_own_code(number, code):
    """The panel of the lesson runs the from-scratch code the lesson builds (defined in the notebook)."""
    import json
    from pathlib import Path

    [path] = (Path(__file__).resolve().parents[1] / "notebooks").glob(f"{number}_*.ipynb")
    cells = ["".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    panels = [i for i, src in enumerate(cells) if "= VerificationPanel(" in src]
    assert any(f"VerificationPanel({code}, like=" in cells[i] for i in panels), path.name
    defined = [i for i, src in enumerate(cells) if f"def {code}(" in src or f"class {code}" in src]
    assert defined and min(defined) <= max(panels)


def test_a_step_function_without_betas_gets_no_beta_sliders_and_still_matches():
    """A learner's Adam with the default betas written in: the panel offers no beta sliders and runs it."""
    import math

    def adam_fixed_betas(params, grad, state, lr, eps):
        t = state.step + 1
        m = 0.9 * state.exp_avg + 0.1 * grad
        v = 0.999 * state.exp_avg_sq + 0.001 * grad * grad
        denom = np.sqrt(v) / math.sqrt(1 - 0.999 ** t) + eps
        return params - (lr / (1 - 0.9 ** t)) * m / denom, state._replace(step=t, exp_avg=m, exp_avg_sq=v)

    panel = VerificationPanel(adam_fixed_betas, like=O.Adam(lr=0.03))
    assert "beta1" not in panel.controls and panel.result.passed, panel.verdict
    panel.set(lr=0.01)
    assert panel.result.passed and panel.method.like.betas == (0.9, 0.999), panel.verdict
