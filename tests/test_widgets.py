"""lrcourse.widgets, headless: every panel for every method, driven through its controls.

The assertions are on what the panels compute and say (results, verdict texts, error
messages, the torch code the composer prints), not only on "no exception".  The real-browser
check of the same panels is tests/test_browser.py.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import math
import re
import subprocess
import sys

import ipywidgets as W
import numpy as np
import pytest
from learners import EpsInsideSqrt

from lrcourse import optimizers as O
from lrcourse import problems as P
from lrcourse import runs, widgets
from lrcourse import schedules as S
from lrcourse.widgets import OptimizerPlayground, ScheduleComposer, VerificationPanel

SETTINGS = {"problem", "noise", "steps", "device", "dtype"}
MATCH = re.compile(r"^MATCH — max rel\. error \d\.\de[+-]\d\d ≤ 1e-12 over (\d+) steps on cpu/float64$")
ALL_SCHEDULES = S.SCHEDULES + (S.ReduceLROnPlateau,)


def _pixels(png: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def _non_white_fraction(png: bytes) -> float:
    return float(np.mean(np.any(_pixels(png) < 250, axis=-1)))


def _digest(png: bytes) -> str:
    return hashlib.sha256(png).hexdigest()


def _assert_matches(panel, steps):
    assert panel.error is None, panel.verdict
    assert isinstance(panel.result, runs.Comparison) and panel.result.passed, panel.verdict
    m = MATCH.match(panel.verdict)
    assert m, panel.verdict
    assert int(m.group(1)) == panel.result.steps
    assert panel.verdict == panel.result.verdict
    assert panel.verdict in html_unescape(panel.verdict_html.value)
    if panel.kind != "plateau":
        assert panel.result.steps == steps


# --------------------------------------------------------------------------- verification panel
def test_import_is_headless_and_never_touches_pyplot():
    # torch hidden (NumPy-only panels) keeps the subprocess quick; pyplot must stay unimported either way
    code = ("import sys; sys.modules['torch'] = None; "
            "from lrcourse import optimizers, schedules; from lrcourse.widgets import *; "
            "VerificationPanel(optimizers.Adam(lr=0.05), problem='Rosenbrock', steps=20); "
            "ScheduleComposer(steps=50); OptimizerPlayground(steps=20); "
            "assert 'matplotlib.pyplot' not in sys.modules, 'a panel imported pyplot'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_lesson_one_liner_shows_and_reports():
    panel = VerificationPanel(O.Adam(lr=0.05), problem="Rosenbrock")
    assert isinstance(panel, W.VBox)
    _assert_matches(panel, 300)
    assert panel.method == O.Adam(lr=0.05)
    r = panel.result
    assert r.kind == "optimizer" and r.numpy_params.shape == r.torch_params.shape == (301, 2)
    np.testing.assert_allclose(r.numpy_curve, r.torch_curve, rtol=1e-9)
    bundle = panel._repr_mimebundle_()
    assert bundle["text/plain"] == "VerificationPanel(Adam, problem='Rosenbrock', steps=300)"
    assert "application/vnd.jupyter.widget-view+json" in bundle and bundle["image/png"]
    assert _pixels(panel.png()).shape[1] > 600 and _non_white_fraction(panel.png()) > 0.05
    assert "torch.optim.Adam" in panel.header.value and "torch 2." in panel.header.value


@pytest.mark.parametrize("problem", widgets.PANEL_PROBLEMS)
@pytest.mark.parametrize("cls", O.OPTIMIZERS, ids=lambda c: c.__name__)
def test_every_optimizer_on_every_problem_matches(cls, problem):
    """The comparison a panel makes, for every pair (its figure is driven below, once per optimizer)."""
    prob = P.make_problem(problem)
    c = runs.compare(widgets.example(cls), prob, 60)
    assert c.passed and c.steps == 60, c.verdict
    assert MATCH.match(c.verdict), c.verdict
    assert c.numpy_curve[0] == pytest.approx(prob.loss(prob.x0))


# each optimizer's panel on one problem, every problem by two or three optimizers
PANEL_PAIRS = [(cls, widgets.PANEL_PROBLEMS[i % len(widgets.PANEL_PROBLEMS)]) for i, cls in enumerate(O.OPTIMIZERS)]


@pytest.mark.parametrize("cls, problem", PANEL_PAIRS, ids=[f"{c.__name__}-{p}" for c, p in PANEL_PAIRS])
def test_every_optimizer_panel_matches_and_redraws(cls, problem):
    panel = VerificationPanel(cls, problem=problem, steps=60)
    _assert_matches(panel, 60)
    assert type(panel.method) is cls
    # the curves are the problem's losses along the two trajectories
    prob = panel._build_problem()
    assert panel.result.numpy_curve[0] == pytest.approx(prob.loss(prob.x0))
    # the path of the first two weights (over the contours of a 2-D problem), as the numbers say
    x, y = panel._artists["np_traj"].get_data()
    np.testing.assert_array_equal(np.c_[x, y], panel.result.numpy_params[:, :2])
    assert (panel._artists["contour"] is not None) == (prob.dim == 2)
    before, redraws = _digest(panel.png()), panel.redraws
    panel.controls["lr"].value = panel.controls["lr"].value * 0.5
    assert panel.method.lr == pytest.approx(example_lr(cls) * 0.5)
    _assert_matches(panel, 60)
    assert panel.redraws == redraws + 1 and _digest(panel.png()) != before


def example_lr(cls):
    return widgets.example(cls).lr


@pytest.mark.parametrize("cls", ALL_SCHEDULES, ids=lambda c: c.__name__)
def test_every_schedule_matches_and_its_controls_are_generated(cls):
    panel = VerificationPanel(cls, steps=200)
    _assert_matches(panel, 200)
    fields = [f.name for f in dataclasses.fields(cls) if f.init]
    assert set(panel.controls) - SETTINGS == set(fields)
    kind = "plateau" if cls is S.ReduceLROnPlateau else "schedule"
    assert panel.kind == kind == panel.result.kind
    # schedules train nothing: no problem menu; ReduceLROnPlateau needs one for its metrics
    assert (panel.controls["problem"].layout.display == "none") == (kind == "schedule")
    curve = panel.result.numpy_curve
    if kind == "schedule":
        np.testing.assert_array_equal(curve, panel.method(np.arange(200)))


def _other_value(w):
    """A different value a user could set with this control (None: not editable)."""
    if isinstance(w, W.HTML) or isinstance(w, widgets._Literal):
        return None
    if isinstance(w, widgets._LogOrZero):
        return 0.0 if w.value > 0 else 1e-3
    if isinstance(w, W.Checkbox):
        return not w.value
    if isinstance(w, W.Dropdown):
        return next(o for o in w.options if o != w.value)
    if isinstance(w, widgets._IntList):
        return ", ".join(str(int(m) + 7) for m in w.parsed)
    if isinstance(w, W.FloatLogSlider):
        return w.value * 3 if math.log10(w.value * 3) <= w.max else w.value / 3
    if isinstance(w, W.IntSlider):
        return w.value + 1 if w.value + 1 <= w.max else w.value - 1
    if isinstance(w, W.FloatSlider):
        return (w.value + (w.max if w.value < w.max else w.min)) / 2
    raise AssertionError(f"no rule for {type(w).__name__}")


@pytest.mark.parametrize("cls", O.OPTIMIZERS + ALL_SCHEDULES, ids=lambda c: c.__name__)
def test_every_control_recomputes_or_explains(cls):
    """Each hyperparameter control, moved: the method follows, and the verdict is a MATCH or
    the library's ValueError message; moved back, the panel matches again."""
    steps = 40
    panel = VerificationPanel(cls, problem="Rosenbrock", steps=steps)
    checked = 0
    for name, w in list(panel.controls.items()):
        if name in SETTINGS:
            continue
        new = _other_value(w)
        if new is None:
            continue
        old, redraws = w.value, panel.redraws
        w.value = new
        if panel.error is None:
            _assert_matches(panel, steps)
            field = "betas" if name.startswith("beta") else name
            value = getattr(panel.method, field)
            if name.startswith("beta"):
                value = value[int(name[-1]) - 1]
            if isinstance(w, widgets._IntList):
                assert value == w.parsed
            elif isinstance(new, (bool, str)):
                assert value == new, name
            else:
                assert value == pytest.approx(new), name
            assert panel.redraws == redraws + 1
        else:
            assert panel.verdict == f"INVALID SETTINGS — {panel.error}" and panel.result is None
            assert len(panel.error) > 10 and panel.redraws == redraws
        w.value = old
        _assert_matches(panel, steps)
        checked += 1
    assert checked >= 1


def test_controls_follow_the_field_types():
    c = VerificationPanel(O.SGD(lr=0.01, momentum=0.9), steps=20).controls
    assert isinstance(c["lr"], W.FloatLogSlider) and isinstance(c["weight_decay"], widgets._LogOrZero)
    assert isinstance(c["momentum"], W.FloatSlider) and isinstance(c["dampening"], W.FloatSlider)
    assert isinstance(c["nesterov"], W.Checkbox) and isinstance(c["maximize"], W.Checkbox)
    c = VerificationPanel(O.Adam(lr=0.01), steps=20).controls
    assert isinstance(c["beta1"], W.FloatSlider) and c["beta2"].value == 0.999
    assert isinstance(c["eps"], W.FloatLogSlider) and isinstance(c["amsgrad"], W.Checkbox)
    assert "decoupled_weight_decay" not in VerificationPanel(O.AdamW, steps=20).controls  # not a torch argument
    c = VerificationPanel(S.ReduceLROnPlateau(0.1), steps=20).controls
    assert isinstance(c["mode"], W.Dropdown) and c["threshold_mode"].options == ("rel", "abs")
    assert isinstance(c["patience"], W.IntSlider) and isinstance(c["min_lr"], widgets._LogOrZero)
    c = VerificationPanel(S.MultiStepLR(0.1, milestones=(30, 80)), steps=100).controls
    assert isinstance(c["milestones"], W.Text) and c["milestones"].value == "30, 80"
    c = VerificationPanel(S.LambdaLR, steps=20).controls
    assert isinstance(c["lr_lambda"], W.HTML) and "min(t / 10, 1.0)" in c["lr_lambda"].value
    c = VerificationPanel(S.SequentialLR, steps=50).controls
    assert isinstance(c["schedulers"], W.HTML) and "LinearLR" in c["schedulers"].value
    assert isinstance(c["lr"], W.HTML)  # the children's shared LR is not edited here
    # sliders do not recompute while dragged
    assert all(not w.continuous_update for w in c.values() if isinstance(w, (W.FloatSlider, W.IntSlider)))


def test_set_changes_several_controls_with_one_redraw():
    panel = VerificationPanel(O.Adam(lr=0.05), problem="Rosenbrock", steps=80)
    redraws = panel.redraws
    panel.set(lr=0.01, betas=(0.8, 0.99), amsgrad=True, problem="ill-conditioned quadratic")
    assert panel.redraws == redraws + 1
    assert panel.method == O.Adam(lr=0.01, betas=(0.8, 0.99), amsgrad=True)
    assert panel.result.numpy_params[0].tolist() == P.IllConditionedQuadratic().x0.tolist()
    assert "max_exp_avg_sq" in panel.result.errors
    _assert_matches(panel, 80)
    with pytest.raises(KeyError, match="no control 'momentum'"):
        panel.set(momentum=0.9)


def test_options_override_hyperparameters_and_settings():
    panel = VerificationPanel(O.RMSprop, problem="noisy quadratic", steps=50, lr=0.003, centered=True, noise=0.25,
                              dtype="float32")
    assert panel.method == O.RMSprop(lr=0.003, centered=True)
    assert panel._build_problem().noise == 0.25 and panel.controls["noise"].layout.display is None
    assert panel.verdict.startswith("MATCH") and "≤ 1e-05 over 50 steps on cpu/float32" in panel.verdict
    with pytest.raises(TypeError, match="unknown option"):
        VerificationPanel(O.SGD, momentun=0.9)


def test_noise_control_changes_the_problem():
    panel = VerificationPanel(O.SGD(lr=0.01), problem="noisy quadratic", steps=50)
    first = panel.result.numpy_params.copy()
    panel.controls["noise"].value = 2.0
    assert panel._build_problem().noise == 2.0 and not np.array_equal(first, panel.result.numpy_params)
    _assert_matches(panel, 50)
    panel.controls["problem"].value = "Rosenbrock"
    assert panel.controls["noise"].layout.display == "none"


def test_a_problem_instance_can_be_given():
    panel = VerificationPanel(O.Adam(lr=0.01), problem=P.Saddle(), steps=40)
    assert "saddle" in panel.controls["problem"].options and panel.controls["problem"].value == "saddle"
    assert panel.result.numpy_params[0].tolist() == [2.0, 1e-3]
    _assert_matches(panel, 40)


# -- learners' subclasses
class MyAdam(O.Adam):
    """A correct learner implementation: Adam's update written out again."""

    def step(self, params, grad, state, lr=None):
        return super().step(params, grad, state, lr=lr)


class DriftingSecondMoment(O.Adam):
    """Right parameters, but the stored v is off by 1e-6 after the 17th update."""

    def step(self, params, grad, state, lr=None):
        p, s = super().step(params, grad, state, lr=lr)
        return p, (s._replace(exp_avg_sq=s.exp_avg_sq * (1 + 1e-6)) if s.step == 17 else s)


def test_a_correct_learner_subclass_matches_and_is_named():
    panel = VerificationPanel(MyAdam(lr=0.05), problem="Rosenbrock", steps=100)
    _assert_matches(panel, 100)
    assert "your <code>MyAdam</code> (a subclass of <code>lrcourse.optimizers.Adam</code>)" in panel.header.value
    assert "torch.optim.Adam" in panel.header.value
    panel.controls["amsgrad"].value = True
    assert type(panel.method) is MyAdam and panel.method.amsgrad
    _assert_matches(panel, 100)


def test_a_wrong_learner_subclass_gets_a_mismatch_naming_step_and_field():
    panel = VerificationPanel(EpsInsideSqrt(lr=0.01, eps=1e-3), problem="ill-conditioned quadratic", steps=100)
    assert not panel.result.passed
    assert re.match(r"^MISMATCH at step 0: params differs by \d\.\de[+-]\d\d \(tolerance 1e-12, cpu/float64\)$",
                    panel.verdict), panel.verdict
    assert "MISMATCH at step 0: params" in panel.verdict_html.value

    panel = VerificationPanel(DriftingSecondMoment(lr=0.05), problem="Rosenbrock", steps=100)
    assert panel.verdict.startswith("MISMATCH at step 16: exp_avg_sq differs by 1.0e-06"), panel.verdict
    assert panel.result.first_failure[:2] == (16, "exp_avg_sq")
    # a tolerance looser than the bug turns it into a match, with the numbers stated
    panel = VerificationPanel(DriftingSecondMoment(lr=0.05), problem="Rosenbrock", steps=100, tolerance=1e-5)
    assert panel.verdict.startswith("MATCH — max rel. error 1.0e-06 ≤ 1e-05 over 100 steps")


def test_a_learner_schedule_subclass_is_checked_too():
    class OffByOne(S.StepLR):
        def _lr_at(self, t):
            return super()._lr_at(t + 1)

    panel = VerificationPanel(OffByOne(0.1, step_size=10), steps=50)
    assert panel.verdict.startswith("MISMATCH at step 9: lr differs by"), panel.verdict
    panel.controls["gamma"].value = 1.0  # no decay: nothing to be off by
    _assert_matches(panel, 50)


# -- invalid settings
def test_invalid_settings_show_the_library_message_and_the_panel_recovers():
    panel = VerificationPanel(O.SGD(lr=1e-3, momentum=0.9, nesterov=True), problem="Rosenbrock", steps=50)
    _assert_matches(panel, 50)
    png, redraws = panel.png(), panel.redraws
    panel.controls["momentum"].value = 0.0
    assert panel.error == ("Nesterov momentum requires a momentum and zero dampening "
                           "(got momentum=0.0, dampening=0.0)")
    assert panel.verdict == "INVALID SETTINGS — " + panel.error and panel.result is None
    assert "Nesterov momentum requires a momentum" in panel.verdict_html.value
    assert panel.redraws == redraws and panel.png() == png  # the last valid figure stays
    panel.controls["momentum"].value = 0.5
    _assert_matches(panel, 50)
    assert panel.method.momentum == 0.5 and panel.method.nesterov


@pytest.mark.parametrize("method, control, value, message", [
    (S.MultiStepLR(0.1, milestones=(30, 60)), "milestones", "30, sixty", "must be whole numbers"),
    (S.MultiStepLR(0.1, milestones=(30, 60)), "milestones", "-5", "Invalid milestone value: -5 (must be >= 0)"),
    (S.OneCycleLR(0.1, total_steps=100), "steps", 150, "OneCycleLR covers updates 0 .. 99"),
    (O.SGD(lr=0.01, momentum=0.9, nesterov=True), "dampening", 0.5, "Nesterov momentum requires a momentum and zero"),
])
def test_invalid_combinations(method, control, value, message):
    panel = VerificationPanel(method, problem="Rosenbrock", steps=100)
    assert panel.error is None and not panel.stale
    png = panel.png()
    panel.controls[control].value = value
    assert panel.result is None and message in panel.error, panel.verdict
    assert panel.verdict.startswith("INVALID SETTINGS — ")
    # the answer sits beside the control that was changed, and the old figure is marked stale
    note = panel.notes.get(panel.controls[control])
    if note is not None:  # the hyperparameters have notes; the setup row (steps) answers in the verdict
        assert message in html_unescape(note.value)
    assert panel.stale and "STALE" in panel.stale_html.value and panel.png() == png
    assert sum(bool(n.value) for n in panel.notes.values()) == (note is not None)


@pytest.mark.parametrize("method, control, refused, nearest", [
    (S.CosineAnnealingLR(0.1, T_max=100), "T_max", 0, 1),
    (S.StepLR(0.1, step_size=30), "step_size", 0, 1),
    (S.LinearLR(0.1, start_factor=0.5), "start_factor", 0.0, 0.01),
    (S.LinearLR(0.1, start_factor=0.5), "total_iters", 0, 1),
    (S.ReduceLROnPlateau(0.1), "factor", 1.0, 0.99),
    (S.OneCycleLR(0.1, total_steps=100), "total_steps", 0, 1),
])
def test_sliders_offer_only_values_torch_accepts(method, control, refused, nearest):
    with pytest.raises(ValueError):  # the library (torch's rule) refuses the value ...
        dataclasses.replace(method, **{control: refused})
    panel = VerificationPanel(method, problem="Rosenbrock", steps=100)
    w = panel.controls[control]
    assert not w.min <= refused <= w.max and w.min <= nearest <= w.max  # ... so the slider does not offer it
    w.value = refused  # set from code: the nearest value the slider offers
    assert w.value == nearest
    if control == "total_steps":  # 1 is a valid total_steps, but a 100-step run goes past it
        assert panel.error.startswith("OneCycleLR covers updates 0 .. 0 (total_steps = 1)")
    else:
        assert panel.error is None and panel.result.passed and not panel.stale


def test_an_exception_in_learner_code_is_shown_not_raised():
    class Broken(O.SGD):
        def step(self, params, grad, state, lr=None):
            raise RuntimeError("my step is not written yet")

    panel = VerificationPanel(Broken(lr=0.01), steps=10)
    assert panel.verdict == "ERROR — RuntimeError: my step is not written yet" and panel.result is None


# -- without torch, without a GPU
def test_without_torch_the_panels_say_so_and_still_plot(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    assert not runs.torch_available()
    panel = VerificationPanel(O.Adam(lr=0.05), problem="Rosenbrock", steps=60)
    assert panel.verdict == ("NOT CHECKED — torch is not installed, so there is nothing to compare against; "
                             "NumPy run only (60 steps, float64)")
    assert "torch is not installed: NumPy curves only" in panel.header.value
    assert panel.controls["device"].options == ("cpu",)
    r = panel.result
    assert r.reference == "none" and r.torch_curve is None and r.numpy_params.shape == (61, 2)
    np.testing.assert_array_equal(r.numpy_params, runs.run(O.Adam(lr=0.05), P.Rosenbrock(), 60).params)
    assert _non_white_fraction(panel.png()) > 0.05
    panel.controls["lr"].value = 0.01
    assert panel.result.numpy_params.shape == (61, 2) and panel.method.lr == 0.01

    sched = VerificationPanel(S.CosineAnnealingLR(0.1, T_max=30), steps=60)
    np.testing.assert_array_equal(sched.result.numpy_curve, S.CosineAnnealingLR(0.1, T_max=30)(np.arange(60)))
    plateau = VerificationPanel(S.ReduceLROnPlateau(0.1, patience=3), problem="logistic regression", steps=60)
    assert plateau.verdict.startswith("NOT CHECKED") and len(plateau.result.numpy_curve) == 60
    composer = ScheduleComposer(steps=100)
    assert composer.verdict.startswith("NOT CHECKED") and "nothing (torch is not installed)" in composer.verdict_html.value
    assert "SequentialLR(" in composer.code()  # the code is still the code to paste


def test_the_device_menu_offers_cuda_only_when_torch_sees_it(monkeypatch):
    import torch

    if not torch.cuda.is_available():
        panel = VerificationPanel(O.SGD(lr=0.01), steps=10)
        assert panel.controls["device"].options == ("cpu",)
        assert "no CUDA GPU seen by torch, so CPU only" in panel.header.value
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert runs.devices() == ["cpu", "cuda"]


# --------------------------------------------------------------------------- schedule composer
def _torch_lrs_from_code(code: str, steps: int) -> np.ndarray:
    namespace = {}
    exec(code, namespace)  # noqa: S102 — the code a learner pastes
    optimizer, scheduler = namespace["optimizer"], namespace["scheduler"]
    out = []
    for _ in range(steps):
        out.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return np.array(out)


DECAYS = [("step", {}), ("multistep", {}), ("exponential", {}), ("cosine", {}), ("cosine", {"restarts": True}),
          ("cosine", {"auto_T_max": False, "T_max": 90, "eta_min": 1e-3}), ("constant", {})]


@pytest.mark.parametrize("warmup", ScheduleComposer.WARMUPS)
@pytest.mark.parametrize("decay, extra", DECAYS, ids=lambda d: str(d))
def test_composer_code_reproduces_the_plotted_curve(warmup, decay, extra):
    steps = 240
    composer = ScheduleComposer(lr=0.2, steps=steps, warmup=warmup, warmup_steps=15, start_factor=0.25, decay=decay)
    if extra:
        composer.set(**extra)
    assert composer.error is None, composer.verdict
    assert composer.verdict.startswith("MATCH — ") and composer.result.passed
    sched = composer.schedule
    assert isinstance(sched, S.SequentialLR)
    assert len(sched.schedulers) == (1 if warmup == "none" else 2)
    if extra.get("restarts"):
        assert type(sched.schedulers[-1]).__name__ == "CosineAnnealingWarmRestarts"
    plotted = composer._np_line.get_ydata()
    np.testing.assert_array_equal(plotted, sched(np.arange(steps)))
    np.testing.assert_array_equal(composer._t_line.get_ydata(), composer.result.torch_curve)
    code = composer.code()
    assert code.startswith("import torch\nfrom torch.optim.lr_scheduler import ")
    assert "optimizer = torch.optim.SGD(model.parameters(), lr=0.2)" in code
    assert ("SequentialLR(" in code) == (warmup != "none")
    np.testing.assert_allclose(_torch_lrs_from_code(code, steps), plotted, rtol=1e-12, atol=0)
    assert html_unescape(composer.code_html.value).count(code.strip().splitlines()[-1]) == 1


def html_unescape(text):
    import html

    return html.unescape(text)


def test_composer_warmup_shapes_the_start():
    composer = ScheduleComposer(lr=0.1, steps=100, warmup="linear", warmup_steps=10, start_factor=0.1,
                                decay="constant")
    lrs = composer.result.numpy_curve
    assert lrs[0] == pytest.approx(0.01) and lrs[10] == pytest.approx(0.1) and np.all(np.diff(lrs[:11]) > 0)
    assert composer.schedule.milestones == (10,)
    composer.controls["warmup"].value = "constant"
    lrs = composer.result.numpy_curve
    assert np.allclose(lrs[:10], 0.01) and np.allclose(lrs[10:], 0.1)
    composer.controls["warmup_steps"].value = 30
    assert composer.schedule.milestones == (30,) and composer.result.numpy_curve[29] == pytest.approx(0.01)


def test_composer_visibility_follows_the_choices():
    c = ScheduleComposer(decay="step")
    shown = lambda k: c.controls[k].layout.display != "none"  # noqa: E731
    assert shown("step_size") and shown("gamma") and not shown("T_max") and not shown("exp_gamma")
    c.controls["decay"].value = "cosine"
    assert shown("auto_T_max") and not shown("T_max") and shown("restarts") and not shown("T_mult")
    c.set(auto_T_max=False, restarts=True)
    assert shown("T_max") and shown("T_mult")
    c.controls["warmup"].value = "none"
    assert not shown("warmup_steps") and not shown("start_factor")


@pytest.mark.parametrize("milestones, message", [
    ("100, x", "must be whole numbers separated by commas"),
    ("60, -1", "Invalid milestone value: -1 (must be >= 0)"),
])
def test_composer_invalid_settings_and_recovery(milestones, message):
    c = ScheduleComposer(steps=120)
    c.controls["decay"].value = "multistep"
    png, redraws, code = c.png(), c.redraws, c.code()
    c.controls["milestones"].value = milestones
    assert c.result is None and message in c.error and c.verdict.startswith("INVALID SETTINGS — ")
    assert c.png() == png and c.redraws == redraws  # the last valid picture stays, marked stale
    assert c.stale and "the figure and the torch code below show the last valid settings" in c.stale_html.value
    assert message in html_unescape(c.notes[c.controls["milestones"]].value)
    shown = html_unescape(c.code_html.value)
    assert "<b>STALE</b> — this code builds the last valid schedule" in shown and code in shown
    c.set(warmup="linear", warmup_steps=10, start_factor=0.1, decay="exponential")
    assert c.error is None and c.verdict.startswith("MATCH") and not c.stale and c.stale_html.value == ""
    assert all(n.value == "" for n in c.notes.values()) and "STALE" not in c.code_html.value


@pytest.mark.parametrize("control, refused, nearest", [
    ("start_factor", 0.0, 0.01), ("warmup_steps", 0, 1), ("T_max", 0, 1), ("step_size", 0, 1)])
def test_composer_sliders_offer_only_valid_values(control, refused, nearest):
    c = ScheduleComposer(steps=120, decay="step")
    w = c.controls[control]
    assert not w.min <= refused <= w.max and w.min == nearest
    c.controls[control].value = refused
    assert w.value == nearest and c.error is None


def test_composer_prints_round_numbers_that_reproduce_its_schedule():
    c = ScheduleComposer(steps=200, warmup="linear", warmup_steps=20, decay="exponential")
    c.set(lr=0.08912509381337468, start_factor=0.35000000000000003, exp_gamma=0.9905000001)
    code = c.code()
    assert "lr=0.0891)" in code and "start_factor=0.35," in code and "gamma=0.9905)" in code, code
    assert c.schedule.schedulers[0].lr == 0.0891  # the schedule checked is the one printed
    assert c.result.passed
    np.testing.assert_allclose(_torch_lrs_from_code(code, 200), c.result.numpy_curve, rtol=1e-12, atol=0)


# --------------------------------------------------------------------------- optimizer playground
def test_playground_races_the_default_optimizers():
    g = OptimizerPlayground(problem="Rosenbrock", steps=150)
    assert list(g.histories) == list(g.racers) == ["SGD", "SGD + momentum 0.9", "RMSprop", "Adagrad", "Adam"]
    for label, h in g.histories.items():
        assert h.params.shape == (151, 2) and h.losses.shape == (151,)
        np.testing.assert_array_equal(h.params, runs.run(g.racers[label], P.Rosenbrock(), 150).params)
        assert g.effective_lrs[label].shape == (150, 2)
    # SGD's effective LR is its LR; Adam's is runs.effective_lr of its state
    assert np.all(g.effective_lrs["SGD"] == 1e-3)
    h = runs.run(O.Adam(lr=0.05), P.Rosenbrock(), 150, record_states=True)
    np.testing.assert_array_equal(g.effective_lrs["Adam"][-1], runs.effective_lr(O.Adam(lr=0.05), h.states[-1]))
    assert g.summary.startswith("after 150 steps, lowest loss: ")
    assert _non_white_fraction(g.png()) > 0.05


def test_playground_lr_sliders_noise_and_surfaces():
    g = OptimizerPlayground(problem="ill-conditioned quadratic", steps=100)
    before = g.histories["Adam"].params.copy()
    sgd = g.histories["SGD"].params.copy()
    g.lr_sliders["Adam"].value = 0.2
    assert not np.array_equal(before, g.histories["Adam"].params)
    np.testing.assert_array_equal(sgd, g.histories["SGD"].params)  # the others are untouched
    assert g.histories["Adam"].lrs[0] == pytest.approx(0.2)
    g.set(noise=0.5)
    assert isinstance(g.problem, P.Noisy) and g.problem.noise == 0.5
    # the same noisy gradient for every racer: replayable by step number
    np.testing.assert_array_equal(g.problem.grad(np.ones(2), 7), g.problem.grad(np.ones(2), 7))
    expected = runs.run(O.Adam(lr=0.2), P.Noisy(P.IllConditionedQuadratic(), noise=0.5), 100).params
    np.testing.assert_array_equal(g.histories["Adam"].params, expected)
    g.set(problem="saddle", noise=0.0)
    assert g.problem.name == "saddle" and g._lax.get_yscale() == "linear"  # the saddle's loss goes negative
    assert min(h.losses[-1] for h in g.histories.values()) < 0


def test_playground_takes_a_list_including_a_learner_subclass_and_reports_divergence():
    g = OptimizerPlayground([O.SGD(lr=0.02), MyAdam(lr=0.05), O.Adam], problem="Rosenbrock", steps=60)
    assert list(g.racers) == ["SGD", "MyAdam", "Adam"]
    assert "diverged: SGD" in g.summary  # lr 0.02 is far above 2/L on Rosenbrock
    g.lr_sliders["SGD"].value = 1e-4
    assert "diverged" not in g.summary and g.error is None
    with pytest.raises(ValueError, match="unknown surface"):
        OptimizerPlayground(problem="MLP classifier")
    with pytest.raises(TypeError, match="races lrcourse optimizers"):
        OptimizerPlayground({"cosine": S.CosineAnnealingLR(0.1, T_max=10)})


# --------------------------------------------------------------------------- redraw machinery
def test_small_changes_redraw_only_the_data_and_look_like_a_full_draw():
    panel = VerificationPanel(O.Adam(lr=0.05), problem="Rosenbrock", steps=300)
    full = panel.full_draws
    for lr in (0.051, 0.052, 0.053):
        panel.controls["lr"].value = lr
    assert panel.full_draws <= full + 1, "limits should be sticky for small changes"
    blitted = _pixels(panel.png())
    panel._bg = None  # force the full draw of the same state (no saved background to blit on)
    drawn = panel.full_draws
    panel._render()
    assert panel.full_draws == drawn + 1 and np.array_equal(blitted, _pixels(panel.png()))


def test_hold_defers_the_recompute():
    c = ScheduleComposer(steps=100)
    n = c.redraws
    with c.hold():
        c.controls["lr"].value = 0.3
        c.controls["decay"].value = "exponential"
        assert c.redraws == n
    assert c.redraws == n + 1 and c.result.numpy_curve[0] == pytest.approx(0.3 * 0.1)


def test_example_builds_every_method():
    for cls in O.OPTIMIZERS + ALL_SCHEDULES:
        m = widgets.example(cls, steps=100)
        assert type(m) is cls
    assert widgets.example(O.Adam(lr=0.3)) == O.Adam(lr=0.3)


# --------------------------------------------------------------------------- typed numbers (issue 12, part 3)
@pytest.mark.parametrize("typed, message", [
    ("-0.1", "Invalid learning rate value: -0.1 (torch's rule)"),
    ("0", "lr is on a log scale here: positive values only"),
    ("abc", "'abc' is not a number; allowed here: 1e-05 to 10"),
    ("", "empty: type a number; allowed here: 1e-05 to 10"),
    ("inf", "inf is not a finite number"),
])
def test_a_typed_value_the_control_cannot_take_is_answered_beside_it(typed, message):
    panel = VerificationPanel(O.Adam(lr=0.05), problem="Rosenbrock", steps=40)
    lr, before, redraws = panel.controls["lr"], panel.png(), panel.redraws
    assert lr.readout is False  # a slider's own readout would clamp what is typed, silently
    entry = panel.entries[lr]
    assert entry.value == "0.05"
    entry.value = typed
    assert message in panel.refused and panel.refused.endswith("kept 0.05"), panel.refused
    assert message in html_text(panel.notes[lr].value) and "✗" in panel.notes[lr].value
    assert lr.value == 0.05 and entry.value == "0.05" and panel.redraws == redraws and panel.png() == before
    entry.value = "0.01"  # a good value clears the note and recomputes
    assert lr.value == 0.01 and panel.method.lr == 0.01 and panel.result.passed and panel.notes[lr].value == ""


def html_text(value):
    import html

    return html.unescape(value)


def test_a_valid_value_beyond_the_slider_widens_it_and_is_used():
    panel = VerificationPanel(O.SGD(lr=0.01), problem="ill-conditioned quadratic", steps=30)
    panel.entries[panel.controls["lr"]].value = "1e6"  # torch takes any lr >= 0: the run diverges, both sides
    assert panel.controls["lr"].value == 1e6 and panel.controls["lr"].max >= 6 and panel.method.lr == 1e6
    assert panel.refused is None and panel.verdict
    steps = panel.entries[panel.controls["steps"]]
    steps.value = "12.5"
    assert "steps takes a whole number, got 12.5" in panel.refused and panel.controls["steps"].value == 30
    steps.value = "0"
    assert "a run needs updates: at least 1" in panel.refused
    steps.value = "1500"
    assert panel.controls["steps"].value == 1500 and panel.result.steps == 1500


def test_typed_values_in_every_panel_follow_torchs_rules():
    panel = VerificationPanel(O.Adam(lr=0.05), steps=20)
    panel.entries[panel.controls["beta1"]].value = "1.0"
    assert "Invalid beta parameter at index 0: 1.0 (torch's rule)" in panel.refused
    panel.entries[panel.controls["weight_decay"]].value = "0.01"  # a value that may be 0: typed on
    assert panel.method.weight_decay == 0.01
    panel.entries[panel.controls["weight_decay"]].value = "0"
    assert panel.method.weight_decay == 0.0 and not panel.controls["weight_decay"].toggle.value
    composer = ScheduleComposer(steps=100)
    composer.entries[composer.controls["lr"]].value = "-1"
    assert "Invalid learning rate value: -1.0 (torch's rule)" in composer.refused
    composer.entries[composer.controls["T_mult"]].value = "9"
    assert "9 is outside this slider: allowed here: 1 to 4" in composer.refused
    race = OptimizerPlayground(problem="ill-conditioned quadratic", steps=20)
    race.entries[race.lr_sliders["Adam"]].value = "-3"
    assert "Invalid learning rate value: -3.0 (torch's rule)" in race.refused
    race.entries[race.lr_sliders["Adam"]].value = "0.2"
    assert race.lr_sliders["Adam"].value == 0.2


def test_tour_cells_never_change_an_earlier_cells_panel():
    """After Run All each panel still shows the settings its own cell names (issue 12, part 5): no cell
    sets a control of, or calls .set on, a panel made in an earlier cell."""
    import ast
    import json
    from pathlib import Path

    nb = json.loads((Path(__file__).resolve().parents[1] / "notebooks" / "widgets_tour.ipynb").read_text())
    made = {}  # panel name -> the cell that made it
    panels = ("VerificationPanel", "ScheduleComposer", "OptimizerPlayground", "MomentumPanel")
    for i, cell in enumerate(c for c in nb["cells"] if c["cell_type"] == "code"):
        source = "\n".join(line for line in "".join(cell["source"]).splitlines() if not line.startswith(("%", "!")))
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and \
                    getattr(node.value.func, "id", None) in panels:
                made.update({t.id: i for t in node.targets if isinstance(t, ast.Name)})
        for node in ast.walk(tree):
            target = None
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "set":
                target = node.func.value
            elif isinstance(node, ast.Assign):
                for t in node.targets:
                    while isinstance(t, (ast.Attribute, ast.Subscript)):
                        t = t.value
                    target = t if isinstance(t, ast.Name) and isinstance(node.targets[0], (ast.Attribute,
                                                                                           ast.Subscript)) else target
            name = getattr(target, "id", None)
            assert name not in made or made[name] == i, f"code cell {i} changes {name}, the panel of cell {made[name]}"
    assert len(made) >= 6


def test_settings_seen_before_reuse_their_comparison_but_learner_code_runs_again():
    panel = VerificationPanel(O.Adam(lr=0.05), problem="Rosenbrock", steps=40)
    first = panel.result
    panel.controls["amsgrad"].value = True
    assert panel.result is not first and panel.method.amsgrad
    panel.controls["amsgrad"].value = False  # back: the same settings, the same comparison, drawn again
    assert panel.result is first and panel.verdict == first.verdict
    mine = VerificationPanel(EpsInsideSqrt(lr=0.05), problem="Rosenbrock", steps=40)
    result = mine.result
    mine.controls["amsgrad"].value = True
    mine.controls["amsgrad"].value = False
    assert mine.result is not result and mine.result.verdict == result.verdict
    race = OptimizerPlayground(problem="ill-conditioned quadratic", steps=30)
    before = dict(race.histories)
    race.lr_sliders["Adam"].value = 0.02  # one racer's input changed: the others' runs are kept
    assert race.histories["Adam"] is not before["Adam"] and race.histories["SGD"] is before["SGD"]
