"""What the panels reuse to answer a control quickly (issue 12's latency goal), and that what they show is
still the current setting: saved backgrounds per layout, contours per problem, runs that go on from a
shorter one.  Each reuse is checked against the same thing computed afresh."""
from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest
from test_widgets import _pixels  # the same decoding as the widget tests

from lrcourse import optimizers as O
from lrcourse import runs
from lrcourse.widgets import MomentumPanel, OptimizerPlayground, ScheduleComposer, VerificationPanel, _Pasted


def _drawn_afresh(panel) -> np.ndarray:
    """The panel's current state drawn in full, no saved background used."""
    panel._bg = None
    panel._render()
    return _pixels(panel.png())


@pytest.mark.parametrize("make, control, value", [
    (lambda: VerificationPanel(O.Adam(lr=0.05), problem="Rosenbrock", steps=100), "lr", 0.051),
    (lambda: ScheduleComposer(steps=100), "warmup_steps", 21),
    (lambda: OptimizerPlayground(steps=100), "lr:Adam", 0.051),
    (lambda: MomentumPanel(steps=100), "lr", 0.021),
])
def test_the_first_input_after_the_layout_redraws_no_axes(make, control, value):
    """The background saved at the first draw is keyed by the axes' positions after the layout, so the
    first slider move that changes only the data draws only the data."""
    panel = make()
    full = panel.full_draws
    panel.controls[control].value = value
    assert panel.full_draws == full and panel.error is None


def test_problems_seen_before_redraw_no_axes_and_show_the_current_problem():
    """One figure and one layout for every problem (a 2-D problem's path over its contours, logistic
    regression's first two weights), with its saved backgrounds, each problem's contours and loss limits: going back to a problem is a blit, and the picture is the one a
    full draw of the same state gives (the right contours, limits and legend)."""
    panel = VerificationPanel(O.Adam(lr=0.05), problem="Rosenbrock", steps=60)
    order = ["noisy quadratic", "logistic regression", "ill-conditioned quadratic", "Rosenbrock"]
    fig, where = panel.figure, [ax.get_position().bounds for ax in panel.figure.axes]
    for name in order:  # each problem once: it keeps its own limits, so the next visit finds its axes
        panel.controls["problem"].value = name
    assert panel.figure is fig and [ax.get_position().bounds for ax in fig.axes] == where  # never laid out again
    full = panel.full_draws
    for name in order:
        panel.controls["problem"].value = name
        assert panel.result.passed and panel.error is None
        assert len(panel.figure.axes) == 3
        x, y = panel._artists["np_traj"].get_data()
        np.testing.assert_array_equal(np.c_[x, y], panel.result.numpy_params[:, :2])
        visible = [c for c, _, _ in panel._artists["contours"].values() if c.get_visible()]
        assert visible == ([] if name == "logistic regression" else [panel._artists["contour"]])
    assert panel.full_draws == full
    for name in order:  # each blit against a full draw of the same state (done last: it drops the saved ones)
        panel.controls["problem"].value = name
        assert np.array_equal(_pixels(panel.png()), _drawn_afresh(panel)), name


def test_a_failed_draw_lays_its_figure_out_afresh_and_the_panel_recovers():
    panel = VerificationPanel(O.Adam(lr=0.05), problem="Rosenbrock", steps=40)
    panel.controls["problem"].value = "logistic regression"
    before = panel.figure
    real = panel._draw
    panel._draw = lambda r, problem: 1 / 0
    panel.controls["lr"].value = 0.04
    assert panel.error is not None and panel.stale
    panel._draw = real
    panel.controls["lr"].value = 0.03
    assert panel.error is None and panel.result.passed and panel.figure is not before
    assert len(panel.figure.axes) == 3 and np.array_equal(_pixels(panel.png()), _drawn_afresh(panel))
    panel.controls["problem"].value = "Rosenbrock"
    assert len(panel.figure.axes) == 3 and np.array_equal(_pixels(panel.png()), _drawn_afresh(panel))


def test_the_playground_takes_a_new_number_of_steps_from_its_runs_and_shows_the_run_from_the_start():
    race = OptimizerPlayground(problem="Rosenbrock", steps=100, noise=0.3)
    for steps in (140, 60, 200, 100):
        race.controls["steps"].value = steps
        for label, base in race.racers.items():
            opt = dataclasses.replace(base, lr=float(race.lr_sliders[label].value))
            fresh = runs.run(opt, race.problem, steps, record_states=True)
            np.testing.assert_array_equal(race.histories[label].params, fresh.params)
            np.testing.assert_array_equal(race.histories[label].losses, fresh.losses)
            eff = np.array([np.broadcast_to(runs.effective_lr(opt, s), (2,)) for s in fresh.states])
            np.testing.assert_array_equal(race.effective_lrs[label], eff)
            tr, lo, _, _ = race._lines[label]
            assert len(lo.get_xdata()) == steps + 1
        assert f"after {steps} steps" in race.status.value
    race.lr_sliders["Adam"].value = 0.02                     # only Adam's run is new: it starts from scratch
    opt = dataclasses.replace(race.racers["Adam"], lr=0.02)
    np.testing.assert_array_equal(race.histories["Adam"].params, runs.run(opt, race.problem, 100).params)


def test_a_new_condition_number_is_drawn_as_a_full_draw_would():
    panel = MomentumPanel(steps=160)
    panel.controls["lr"].value = 0.015
    full = panel.full_draws
    for condition in (27.0, 31.0):
        panel.controls["condition"].value = condition
        assert panel.full_draws == full
        assert np.array_equal(_pixels(panel.png()), _drawn_afresh(panel))
        full = panel.full_draws


def test_a_new_range_of_the_colour_bar_redraws_no_axes_and_shows_as_drawn_in_full():
    """Condition 32 -> 33 moves the colour bar's range (from the optimum's rate, floored to a tenth: 0.5 -> 0.6).
    The bar is drawn over the saved axes, and pasted from its pixels kept per range when a range comes back:
    either way the figure is the one drawn in full, bar included."""
    panel = MomentumPanel(steps=160)
    panel.controls["condition"].value = 32.0
    bar = next(a for a in panel._dynamic if isinstance(a, _Pasted))
    full, shown = panel.full_draws, []
    for condition, low in ((33.0, 0.6), (32.0, 0.5), (33.0, 0.6)):
        panel.controls["condition"].value = condition
        assert panel._heat.get_clim() == (low, 1.0) and panel.full_draws == full
        shown.append(_pixels(panel.png()))
    assert len(bar._pixels) == 2  # the third figure's bar was pasted
    for condition, pixels in ((33.0, shown[2]), (32.0, shown[1]), (33.0, shown[0])):
        panel.controls["condition"].value = condition
        bar._pixels.clear()
        assert np.array_equal(pixels, _drawn_afresh(panel)), condition


def _sent_by_the_browser(widget, value):
    """What ipywidgets does with a value from the page (the property locked while it is applied)."""
    widget.set_state({"value": value})


@pytest.mark.parametrize("make, control, burst", [
    (lambda: VerificationPanel(O.Adam(lr=0.05), problem="Rosenbrock", steps=40), "lr", [0.01, 0.02, 0.03, 0.04]),
    (lambda: MomentumPanel(steps=60), "momentum", [0.5, 0.6, 0.7, 0.8]),
    (lambda: OptimizerPlayground(steps=40), "steps", [50, 60, 70, 80]),
])
def test_a_burst_from_the_browser_computes_the_last_value(make, control, burst):
    """Values the browser sends while a computation runs are not computed one by one: once it is done, the
    latest settings are computed (on a worker thread; the kernel keeps reading messages meanwhile)."""
    panel = make()
    seen = []
    real = panel.recompute

    def recompute():
        with panel._lock:             # what the computation reads: the controls' values once it has the lock
            seen.append(panel.controls[control].value)
            real()

    panel.recompute = recompute
    with panel._lock:                 # a computation under way: the burst arrives meanwhile
        for v in burst:
            _sent_by_the_browser(panel.controls[control], v)
        assert panel._worker is not None and seen == []
    assert panel.wait(60)
    assert seen and set(seen) == {burst[-1]} and len(seen) <= 2, seen
    _idle(panel)
    assert panel.error is None and panel._worker is None
    fresh = make()
    fresh.controls[control].value = burst[-1]
    if isinstance(panel, VerificationPanel):
        assert panel.result.passed and panel.method.lr == burst[-1] and panel.verdict == fresh.verdict
    elif isinstance(panel, MomentumPanel):
        assert panel.predicted == fresh.predicted and panel.summary == fresh.summary
    else:
        assert f"after {burst[-1]} steps" in panel.status.value and panel.summary == fresh.summary


def _idle(panel):
    """Wait for the worker's work ahead too (wait() returns once the browser's value is shown)."""
    worker = panel._worker
    if worker is not None:
        worker.join(60)
        assert not worker.is_alive()


def test_values_set_from_code_are_computed_at_once_in_the_callers_thread():
    panel = VerificationPanel(O.Adam(lr=0.05), problem="Rosenbrock", steps=40)
    panel.controls["lr"].value = 0.02
    panel.set(problem="logistic regression")
    assert panel._worker is None and panel.method.lr == 0.02 and panel.result.passed  # nothing computed ahead


def test_after_a_value_from_the_browser_the_other_problems_are_compared_ahead(monkeypatch):
    """Once the browser's value is shown, the worker compares the same settings on the panel's other
    problems, a few updates at a time: choosing one of them then runs no torch update, and shows
    exactly the comparison a fresh panel computes."""
    panel = VerificationPanel(O.Adam(lr=0.05, amsgrad=True), problem="Rosenbrock", steps=120)
    _sent_by_the_browser(panel.controls["noise"], 0.3)   # the noisy quadratic of this noise level is compared ahead
    _sent_by_the_browser(panel.controls["lr"], 0.02)
    assert panel.wait(60)
    _idle(panel)
    updates = []
    torch_update = runs._torch_update
    monkeypatch.setattr(runs, "_torch_update", lambda *a: updates.append(1) or torch_update(*a))
    for name in ["ill-conditioned quadratic", "noisy quadratic", "logistic regression"]:
        updates.clear()
        panel.controls["problem"].value = name
        assert updates == [], f"{name}: torch ran {len(updates)} updates, none were left to run"
        fresh = runs.compare(panel.method, panel._build_problem(), 120)
        assert panel.method.lr == 0.02 and panel.result.steps == 120 and panel.verdict == fresh.verdict
        for f in fresh.errors:
            np.testing.assert_array_equal(panel.result.errors[f], fresh.errors[f])
        np.testing.assert_array_equal(panel.result.torch_params, fresh.torch_params)
        np.testing.assert_array_equal(panel.result.numpy_params, fresh.numpy_params)
    assert np.array_equal(_pixels(panel.png()), _drawn_afresh(panel))


def test_after_a_value_from_the_browser_the_other_problems_are_drawn_ahead_and_show_as_a_fresh_panel():
    """The work ahead also draws the background each other problem needs (a first visit's full draw), then
    puts the figure back: the shown figure is unchanged, a first visit to another problem then draws no
    axes, and shows exactly the figure of a panel that never worked ahead."""
    panel = VerificationPanel(O.Adam(lr=0.05), problem="Rosenbrock", steps=120)
    _sent_by_the_browser(panel.controls["lr"], 0.02)
    assert panel.wait(60)
    shown, key, full = _pixels(panel.png()), panel._static_key(), panel.full_draws
    _idle(panel)
    others = ["ill-conditioned quadratic", "noisy quadratic", "logistic regression"]
    assert panel.ahead_draws == len(others) and panel.full_draws == full
    panel._render()   # the figure itself is put back: drawn again (on its saved background), it is the same
    assert panel._static_key() == key and panel.full_draws == full and np.array_equal(_pixels(panel.png()), shown)
    fresh = VerificationPanel(O.Adam(lr=0.02), problem="Rosenbrock", steps=120)   # values from code: no work ahead
    for name in others:
        panel.controls["problem"].value = name
        fresh.controls["problem"].value = name
        assert panel.full_draws == full, f"{name}: its axes were drawn again"
        assert np.array_equal(_pixels(panel.png()), _pixels(fresh.png())), name
    assert np.array_equal(_pixels(panel.png()), _drawn_afresh(panel))
    assert fresh.ahead_draws == 0


def test_backgrounds_are_drawn_ahead_only_once_the_browser_is_quiet():
    """Backgrounds are drawn ahead only after DRAW_AHEAD_AFTER seconds without a new value: values that
    follow each other sooner never wait for one, and a value ends the wait at once."""
    panel = VerificationPanel(O.Adam(lr=0.05), problem="Rosenbrock", steps=60)
    panel.DRAW_AHEAD_AFTER = 2.0
    _sent_by_the_browser(panel.controls["lr"], 0.02)
    assert panel.wait(60)
    time.sleep(0.6)                    # the comparisons ahead are done (60 updates x 3 problems); no draw yet
    assert panel.ahead_draws == 0 and panel._worker is not None
    start = time.monotonic()
    _sent_by_the_browser(panel.controls["lr"], 0.03)
    assert panel.wait(60)
    assert time.monotonic() - start < 1.0 and panel.method.lr == 0.03 and panel.ahead_draws == 0
    _idle(panel)
    assert panel.ahead_draws == 3


def test_work_ahead_starts_only_once_the_browser_is_quiet(monkeypatch):
    """No work ahead until AHEAD_AFTER seconds pass without a new value (the page is drawing the figure just
    sent meanwhile): values that follow each other sooner run no update ahead, and a value ends the wait at once."""
    panel = VerificationPanel(O.Adam(lr=0.05), problem="Rosenbrock", steps=60)
    panel.AHEAD_AFTER = 2.0
    updates = []
    torch_update = runs._torch_update
    monkeypatch.setattr(runs, "_torch_update", lambda *a: updates.append(panel.method.lr) or torch_update(*a))
    _sent_by_the_browser(panel.controls["lr"], 0.02)
    assert panel.wait(60)
    updates.clear()
    time.sleep(0.6)
    assert updates == [] and panel._worker is not None   # waiting for quiet, nothing compared ahead
    start = time.monotonic()
    _sent_by_the_browser(panel.controls["lr"], 0.03)
    assert panel.wait(60)
    assert time.monotonic() - start < 1.0 and panel.method.lr == 0.03 and len(updates) == 60  # only its own
    _idle(panel)
    assert len(updates) == 60 + 3 * 60   # then the three other problems, once it was quiet


def test_a_value_from_the_browser_cuts_a_background_drawn_ahead_short():
    """A background drawn ahead is drawn one axes (or legend) at a time and given up as soon as the browser
    sends a value: the value waits for one axes, not the figure, and no half-drawn background is kept."""
    panel = VerificationPanel(O.Adam(lr=0.05), problem="Rosenbrock", steps=60)
    _sent_by_the_browser(panel.controls["lr"], 0.02)
    assert panel.wait(60)
    ax = panel.figure.axes[0]   # the first artist a full draw draws
    draw, drawn = ax.draw, []

    def draw_then_send(renderer):
        draw(renderer)
        drawn.append(panel.method.lr)
        if len(drawn) == 1:     # the first background drawn ahead: a value comes while it is drawn
            _sent_by_the_browser(panel.controls["lr"], 0.03)

    keep, kept = panel._keep_background, []
    ax.draw = draw_then_send
    panel._keep_background = lambda key: kept.append(panel.method.lr) or keep(key)
    _idle(panel)
    assert drawn[0] == 0.02 and panel.method.lr == 0.03
    assert 0.02 not in kept    # the background under way when 0.03 came was given up
    full = panel.full_draws
    fresh = VerificationPanel(O.Adam(lr=0.03), problem="Rosenbrock", steps=60)
    for name in ["ill-conditioned quadratic", "noisy quadratic", "logistic regression"]:
        panel.controls["problem"].value = name
        fresh.controls["problem"].value = name
        assert panel.full_draws == full and np.array_equal(_pixels(panel.png()), _pixels(fresh.png())), name


def test_after_a_value_from_the_browser_the_playground_races_and_draws_the_other_surfaces_ahead(monkeypatch):
    """Once the browser's value is shown, the playground races the same LRs on its other surfaces and draws
    their backgrounds, then puts the figure back: a first visit to another surface then runs no update and
    draws no axes, and shows the runs (from the start) and the pixels of a playground that never worked ahead."""
    race = OptimizerPlayground(steps=120)
    _sent_by_the_browser(race.controls["lr:Adam"], 0.04)
    assert race.wait(60)
    shown, key, full = _pixels(race.png()), race._static_key(), race.full_draws
    _idle(race)
    assert race.ahead_draws == 2 and race.full_draws == full
    race._render()
    assert race._static_key() == key and race.full_draws == full and np.array_equal(_pixels(race.png()), shown)
    fresh = OptimizerPlayground(steps=120)   # values from code: no work ahead
    fresh.controls["lr:Adam"].value = 0.04
    updates = []
    steps = runs._steps
    monkeypatch.setattr(runs, "_steps", lambda opt, problem, ts, *a: updates.extend(ts) or steps(opt, problem, ts, *a))
    for name in ("ill-conditioned quadratic", "saddle"):
        updates.clear()
        race.controls["problem"].value = name
        assert updates == [] and race.full_draws == full, name
        fresh.controls["problem"].value = name
        for label in race.racers:
            np.testing.assert_array_equal(race.histories[label].params, fresh.histories[label].params)
            np.testing.assert_array_equal(race.effective_lrs[label], fresh.effective_lrs[label])
        assert np.array_equal(_pixels(race.png()), _pixels(fresh.png())), name
    assert fresh.ahead_draws == 0


def test_the_playground_works_ahead_on_a_diverging_racer_without_warnings(recwarn):
    """The work ahead runs races on the worker thread, whose NumPy error state is its own: a racer that
    diverges there is reported when its surface is shown, never warned about in the notebook."""
    race = OptimizerPlayground(steps=100)
    _sent_by_the_browser(race.controls["lr:SGD"], 5.0)   # SGD diverges on every surface
    assert race.wait(60)
    _idle(race)
    assert race.ahead_draws == 2 and "diverged: SGD" in race.summary
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)], [str(w.message) for w in recwarn]


@pytest.mark.parametrize("make, control, value, later, names", [
    (lambda: VerificationPanel(O.Adam(lr=0.05), problem="Rosenbrock", steps=60), "lr", 0.005, {"lr": 0.5},
     ["logistic regression", "noisy quadratic", "ill-conditioned quadratic"]),
    (lambda: OptimizerPlayground(steps=80), "lr:SGD", 0.005, {"lr": {"SGD": 0.0005, "Adam": 0.002}},
     ["saddle", "ill-conditioned quadratic"]),
])
def test_what_is_drawn_ahead_never_changes_a_later_figure(make, control, value, later, names):
    """Drawing ahead keeps no limits: after other settings, a first visit to each other problem (surface)
    shows the figure of a panel with the same inputs that never worked ahead."""
    panel, fresh = make(), make()
    _sent_by_the_browser(panel.controls[control], value)
    assert panel.wait(60)
    _idle(panel)
    fresh.controls[control].value = value
    assert panel.ahead_draws == len(names) and fresh.ahead_draws == 0
    for p in (panel, fresh):
        p.set(**later)
    for name in names:
        panel.controls["problem"].value = name
        fresh.controls["problem"].value = name
        assert np.array_equal(_pixels(panel.png()), _pixels(fresh.png())), name


def test_a_value_from_the_browser_stops_the_work_ahead_of_the_last_one(monkeypatch):
    """A new value waits for one piece of the work ahead (AHEAD_UPDATES updates), never for all of it:
    the comparisons ahead of the old value stop, those of the new one are made."""
    panel = VerificationPanel(O.Adam(lr=0.05), problem="Rosenbrock", steps=300)
    pieces = []
    compare = runs.compare

    def counted(method, problem, steps, **kw):
        if panel._worker is not None and kw.get("resume") is not None or steps == panel.AHEAD_UPDATES:
            pieces.append((method.lr, problem.name, steps))
            if len(pieces) == 2:   # the second piece ahead of lr=0.02: the browser sends lr=0.03 meanwhile
                _sent_by_the_browser(panel.controls["lr"], 0.03)
        return compare(method, problem, steps, **kw)

    monkeypatch.setattr(runs, "compare", counted)
    _sent_by_the_browser(panel.controls["lr"], 0.02)
    assert panel.wait(60)
    _idle(panel)
    assert panel.method.lr == 0.03 and panel.result.passed
    old = [p for p in pieces if p[0] == 0.02]
    assert len(old) == 2, old          # the piece under way when lr=0.03 came was the last one for 0.02
    new = [p for p in pieces if p[0] == 0.03]
    assert {(name, steps) for _, name, steps in new if steps == 300} == {
        ("ill-conditioned quadratic", 300), ("noisy quadratic", 300), ("logistic regression", 300)}


def test_the_step_axis_leaves_room_when_a_slider_grows_it_and_fits_a_new_run():
    from matplotlib.figure import Figure

    from lrcourse.widgets import _sticky_right

    ax = Figure().subplots()
    ends = []
    for steps in (300, 310, 400, 490, 510, 200, 20):
        _sticky_right(ax, steps)
        ends.append(ax.get_xlim()[1])
    # a new axis ends at the round number above the run; a slider's step past the end leaves room for more
    # steps; the axis is kept while the run fills it well, and fitted again to a much shorter run
    assert ends == [300, 500, 500, 500, 800, 200, 20]


def test_a_new_number_of_steps_goes_on_from_the_comparison_and_shows_the_one_from_the_start(monkeypatch):
    """The steps slider: more updates go on from the comparison shown (compare(resume=)), fewer cut it;
    either way the panel shows exactly the comparison a fresh panel computes for that number of steps."""
    panel = VerificationPanel(O.Adam(lr=0.05, amsgrad=True), problem="noisy quadratic", steps=300)
    updates = []
    torch_update = runs._torch_update
    monkeypatch.setattr(runs, "_torch_update", lambda *a: updates.append(1) or torch_update(*a))
    for steps, new in ((310, 10), (330, 20), (120, 0), (320, 0), (350, 20)):
        updates.clear()
        panel.controls["steps"].value = steps
        assert len(updates) == new, f"{steps} steps: torch ran {len(updates)} updates, not the {new} new ones"
        fresh = runs.compare(panel.method, panel._build_problem(), steps)
        assert panel.result.steps == steps and panel.verdict == fresh.verdict
        for f in fresh.errors:
            np.testing.assert_array_equal(panel.result.errors[f], fresh.errors[f])
        np.testing.assert_array_equal(panel.result.torch_params, fresh.torch_params)
        np.testing.assert_array_equal(panel.result.numpy_params, fresh.numpy_params)
        np.testing.assert_array_equal(panel._artists["np_curve"].get_data()[1], fresh.numpy_curve)
    assert np.array_equal(_pixels(panel.png()), _drawn_afresh(panel))


def test_a_plateau_panels_problems_share_one_lr_axis():
    """A plateau panel's LR axis spans the start LR down to the cuts of every problem seen: a problem
    whose LR is never cut (a flat line on the start LR) keeps it, so a new problem is a blit."""
    from lrcourse import schedules as S

    panel = VerificationPanel(S.ReduceLROnPlateau(0.1, patience=3), problem="logistic regression", steps=200)
    lims = panel._artists["curve_ax"].get_ylim()
    full = panel.full_draws
    for name in ["ill-conditioned quadratic", "Rosenbrock", "noisy quadratic", "logistic regression"]:
        panel.controls["problem"].value = name
        assert panel.result.passed and panel._artists["curve_ax"].get_ylim() == lims
        lrs = panel.result.numpy_curve
        assert lims[0] <= lrs.min() and lrs.max() <= lims[1]
    assert panel.full_draws == full
    panel.controls["problem"].value = "ill-conditioned quadratic"
    assert np.ptp(panel.result.numpy_curve) == 0  # the flat line that fits the shared axis
    assert np.array_equal(_pixels(panel.png()), _drawn_afresh(panel))


def test_log_axes_are_labelled_in_plain_text_as_matplotlib_labels_them():
    """The panels' log axes (widgets._set_scale) label the ticks matplotlib's own log axes label, each with
    its value in plain text (10⁻³, 2×10⁻³), so a full draw after new limits parses no mathtext (3.7 ms of
    CPU a label).  Checked on many decades (decades only labelled) and on under two (some minor ticks too)."""
    import functools
    import re

    from matplotlib import mathtext
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from lrcourse import widgets

    digits = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")
    for lo, hi in ((1e-17, 1e3), (1e-3, 5e-2), (0.2, 3.0)):
        fig = Figure()
        FigureCanvasAgg(fig)
        theirs, ours = fig.subplots(1, 2)
        theirs.set_yscale("log")
        widgets._set_scale(ours, "y", "log")
        for ax in (theirs, ours):
            ax.set_ylim(lo, hi)
        fig.canvas.draw()
        for get in ("get_majorticklabels", "get_minorticklabels"):
            a, b = getattr(ours.yaxis, get)(), getattr(theirs.yaxis, get)()
            assert [t.get_position() for t in a] == [t.get_position() for t in b]
            assert [t.get_text() == "" for t in a] == [t.get_text() == "" for t in b]
            for t in a:
                if t.get_text():
                    m = re.fullmatch(r"(?:(\d+)×)?10([⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+)", t.get_text())
                    assert m, t.get_text()
                    value = int(m.group(1) or 1) * 10.0 ** int(m.group(2).translate(digits))
                    assert value == pytest.approx(t.get_position()[1], rel=1e-9)
        assert any(t.get_text() for t in ours.yaxis.get_majorticklabels())

    parsed = []
    original = mathtext.MathTextParser._parse_cached

    def counting(self, s, *args):
        parsed.append(s)
        return original(self, s, *args)

    mathtext.MathTextParser._parse_cached = functools.lru_cache(50)(counting)
    try:
        p = VerificationPanel(O.Adam(lr=0.05), problem="Rosenbrock", steps=60)
        for lr in (0.5, 0.005, 0.05):  # new limits: full draws
            p.set(lr=lr)
        OptimizerPlayground(steps=30), ScheduleComposer(steps=30), MomentumPanel(steps=30)
    finally:
        mathtext.MathTextParser._parse_cached = original
    assert parsed == []
