"""widgets.MomentumPanel (lesson 08): it draws, what it draws is lrcourse.momentum's theory and the runs
the theory tests use (runs.run of the library's SGD, equal to torch.optim.SGD computed here), and it
answers bad input with a teaching error while keeping its last valid picture.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from lrcourse import momentum as M
from lrcourse import optimizers as O
from lrcourse import problems as P
from lrcourse import runs
from lrcourse.widgets import MomentumPanel


def torch_distances(lr, momentum, problem, steps):
    p = torch.tensor(problem.x0, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr, momentum=momentum)
    out = [np.linalg.norm(problem.x0 - problem.x_star)]
    for _ in range(steps):
        p.grad = torch.tensor(problem.grad(p.detach().numpy()))
        opt.step()
        out.append(np.linalg.norm(p.detach().numpy() - problem.x_star))
    return np.array(out)


@pytest.fixture(scope="module")
def panel():
    return MomentumPanel(lr=0.02, momentum=0.9, steps=200)


def test_it_draws_a_png_with_three_axes(panel):
    assert panel.png()[:8] == b"\x89PNG\r\n\x1a\n" and panel.redraws >= 1
    assert len(panel.figure.axes) == 4   # heat map (+ its colour bar), path, distance
    assert panel.error is None and not panel.stale


def test_the_curve_is_the_run_and_matches_torch(panel):
    q = P.IllConditionedQuadratic(condition=25.0)
    h = runs.run(O.SGD(lr=0.02, momentum=0.9), q, 200)
    np.testing.assert_array_equal(panel.history.params, h.params)
    point = M.run_point(0.02, 0.9, q, 200)                      # what the theory tests check against torch
    np.testing.assert_array_equal(panel.point.distance, point.distance)
    assert (panel.predicted, panel.measured, panel.regions) == (point.predicted, point.measured, point.regions)
    t, dist = panel.artists["distance"].get_data()
    np.testing.assert_array_equal(t, np.arange(201))
    np.testing.assert_allclose(dist, torch_distances(0.02, 0.9, q, 200), rtol=1e-12, atol=1e-15)
    path_x, path_y = panel.artists["path"].get_data()
    np.testing.assert_array_equal(np.c_[path_x, path_y], h.params[:61])


def test_marker_rates_and_regions_come_from_the_theory_and_match_the_run(panel):
    assert [float(v[0]) for v in panel.artists["point"].get_data()] == [0.02, 0.9]
    lr, mom, r = M.optimal(1.0, 25.0)
    np.testing.assert_allclose([v[0] for v in panel.artists["optimum"].get_data()], [lr, mom], rtol=1e-15)
    assert panel.predicted == pytest.approx(0.9**0.5, rel=1e-12)          # ripples: sqrt(momentum)
    assert panel.regions == {"m": "ripples", "L": "ripples"}
    dist = torch_distances(0.02, 0.9, P.IllConditionedQuadratic(condition=25.0), 200)
    assert panel.measured == pytest.approx(M.decay_rate(dist, 100, 200, window=20), rel=1e-9)
    assert panel.measured == pytest.approx(panel.predicted, rel=0.01)
    _, env = panel.artists["envelope"].get_data()
    np.testing.assert_allclose(env, dist[0] * panel.predicted ** np.arange(201), rtol=1e-12)
    assert f"{panel.predicted:.4f}" in panel.readout.value and f"{panel.measured:.4f}" in panel.readout.value


def test_heat_map_and_boundaries_are_the_theory_on_the_plane(panel):
    lrs, moms, rates = panel.grid
    assert lrs[-1] == pytest.approx(4.4 / 25) and moms[-1] == 0.99 and rates.shape == (moms.size, lrs.size)
    # the problem's curvatures come from eigvalsh: 1 and 25 to a few ulp
    np.testing.assert_allclose(rates, M.worst_rate(lrs[None, :], moms[:, None], 1.0, 25.0), rtol=1e-12)
    np.testing.assert_array_equal(rates, M.plane(panel.problem.mu, panel.problem.L, 4.4 / panel.problem.L)[2])
    img = np.asarray(panel.artists["heat map"].get_array())
    np.testing.assert_array_equal(img, np.where(rates >= 1, 1.5, rates))
    assert (rates >= 1).any() and (rates < 1).any()
    x, y = panel.artists["divergence"].get_data()
    np.testing.assert_allclose(x * 25.0, 2 + 2 * y, rtol=1e-12)
    x, y = panel.artists["critical L"].get_data()
    ok = np.isfinite(y)
    np.testing.assert_allclose(y[ok], (1 - np.sqrt(x[ok] * 25.0)) ** 2, rtol=1e-12)


def test_the_optimum_button_and_a_new_condition_number():
    p = MomentumPanel(steps=150)
    p.optimal_button.click()
    assert (p.controls["lr"].value, p.controls["momentum"].value) == pytest.approx(M.optimal(1.0, 25.0)[:2], rel=1e-12)
    assert p.regions == {"m": "critical", "L": "critical"}
    # a double root decays like t r^t: over steps 75..150 that is (150/75)^(1/75) = 1.009 times r
    assert p.measured == pytest.approx(2 / 3 * 2 ** (1 / 75), rel=0.005)
    full = p.full_draws
    p.set(condition=100.0)          # the plane shrinks to lr <= 4.4 / 100: lr is brought inside
    assert p.controls["lr"].max == pytest.approx(0.044) and p.controls["lr"].value <= p.controls["lr"].max
    assert p.full_draws > full and p.grid[0][-1] == pytest.approx(0.044) and p.regions["L"] == "divergent"
    p.set(lr="optimal")
    assert p.regions == {"m": "critical", "L": "critical"}
    assert p.measured == pytest.approx(9 / 11 * 2 ** (1 / 75), rel=0.005)


def test_a_divergent_point_is_shown_and_said():
    p = MomentumPanel(lr=0.15, momentum=0.2, steps=100)
    assert p.regions["L"] == "divergent" and p.predicted > 1 and p.measured is None
    assert "the run diverges" in p.readout.value and p.error is None and p.png()[:4] == b"\x89PNG"


def test_a_slider_moved_in_the_browser_recomputes():
    p = MomentumPanel(steps=100)
    n = p.redraws
    p.controls["momentum"].value = 0.5
    assert p.redraws == n + 1 and p.predicted == pytest.approx(float(M.worst_rate(p.controls["lr"].value, 0.5, 1, 25)))


@pytest.mark.parametrize("values, error, message", [
    (dict(lr=-0.1), ValueError, "lr must be in [0, 0.176]"),
    (dict(lr=0.5), ValueError, "larger LRs diverge for every momentum"),
    (dict(momentum=1.0), ValueError, "momentum >= 1 never converges"),
    (dict(momentum=float("nan")), TypeError, "momentum must be a finite real number"),
    (dict(lr="fast"), TypeError, "lr must be a finite real number, got 'fast'"),
    (dict(steps=1), ValueError, "steps must be in [20, 400]"),
    (dict(beta=0.9), KeyError, "the controls are ['condition', 'lr', 'momentum', 'steps']"),
])
def test_bad_values_are_refused_and_the_panel_keeps_its_point(panel, values, error, message):
    before = (panel.controls["lr"].value, panel.controls["momentum"].value, panel.redraws)
    with pytest.raises(error) as info:
        panel.set(**values)
    assert message in str(info.value)
    assert (panel.controls["lr"].value, panel.controls["momentum"].value, panel.redraws) == before


@pytest.mark.parametrize("kwargs, message", [
    (dict(condition=1.0), "condition must be in [2, 100]"),
    (dict(steps=1000), "steps must be in [20, 400]"),
    (dict(momentum=1.5), "momentum >= 1 never converges"),
    (dict(lr=1.0), "lr must be in [0, 0.176]"),
])
def test_bad_construction_gets_a_teaching_error(kwargs, message):
    with pytest.raises(ValueError) as info:
        MomentumPanel(**kwargs)
    assert message in str(info.value)


def test_lr_zero_from_the_slider_is_answered_beside_it():
    p = MomentumPanel(steps=100)
    p.controls["lr"].value = 0.0
    assert p.error == "lr must be > 0: with lr = 0 nothing moves" and p.stale
    assert "nothing moves" in p.notes[p.controls["lr"]].value and "STALE" in p.stale_html.value
    p.controls["lr"].value = 0.01
    assert p.error is None and not p.stale


def test_a_new_condition_number_or_more_steps_redraw_the_data_on_the_same_axes():
    """Latency: the plane, contours and run are drawn over the saved axes while the axes hold (the lr
    axis stays at a round number the plane fills 2/3 of); what is drawn is still the new setting."""
    p = MomentumPanel(steps=160)          # the step axis ends at 200
    p.controls["lr"].value = 0.015
    full, png = p.full_draws, p.png()
    p.set(condition=30.0)
    assert p.full_draws == full and p.png() != png
    lrs, moms, rates = p.grid
    assert lrs[-1] == pytest.approx(4.4 / 30) and p.figure.axes[0].get_xlim() == (0.0, 0.2)
    np.testing.assert_array_equal(rates, M.plane(1.0, 30.0, 4.4 / 30)[2])
    np.testing.assert_array_equal(p.artists["heat map"].get_array(), np.where(rates >= 1, 1.5, rates))
    assert max_stable_lr_everywhere_below(lrs[-1], moms)
    png = p.png()
    p.set(steps=170)
    assert p.full_draws == full and p.png() != png
    t, dist = p.artists["distance"].get_data()
    np.testing.assert_array_equal(t, np.arange(171))
    np.testing.assert_array_equal(dist, M.run_point(0.015, 0.9, P.IllConditionedQuadratic(condition=30.0), 170).distance)
    p.set(condition=100.0)   # the plane would fill a fifth of the old axis: new axes, drawn in full
    assert p.full_draws == full + 1 and p.figure.axes[0].get_xlim() == (0.0, 0.05)


def max_stable_lr_everywhere_below(lr_max, moms):
    """Beyond the plane (lr > LR_MAX / L) the axes show the colour of a rate >= 1: every momentum drawn diverges there."""
    return bool(np.all(M.max_stable_lr(moms, 30.0) < lr_max))


def test_the_panel_is_on_the_common_layout_and_fonts():
    from lrcourse.widgets import FONT

    p = MomentumPanel(steps=100)
    assert p.figure.legends and not any(ax.get_legend() for ax in p.figure.axes)
    for ax in p.figure.axes:
        assert all(t.get_fontsize() >= FONT for t in ax.get_xticklabels() + ax.get_yticklabels())
    boxes = [ax.get_tightbbox(p._canvas.get_renderer()) for ax in p.figure.axes[:3]]
    assert all(a.x1 <= b.x0 for a, b in zip(boxes, boxes[1:]))       # side by side, nothing overlapping
    assert all(0 <= b.x0 and b.x1 <= p.figure.bbox.width for b in boxes)
