"""lrcourse.momentum (lesson 08's theory of the heavy ball) against brute force: runs of the library's
SGD and of torch.optim.SGD on quadratics, NumPy's eigenvalues, grid searches.

Nothing here is copied from the module: every expected value is measured from a run, computed by
NumPy's linear algebra or by torch in the test.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from lrcourse import momentum as M
from lrcourse import optimizers as O
from lrcourse import problems as P
from lrcourse import runs

RNG_POINTS = np.random.default_rng(2017).uniform([0.002, 0.0], [0.2, 0.97], size=(40, 2))  # (lr, momentum)


def sgd_path(lr, momentum, problem, steps, nesterov=False):
    return runs.run(O.SGD(lr=lr, momentum=momentum, nesterov=nesterov), problem, steps).params


def torch_path(lr, momentum, problem, steps, nesterov=False):
    p = torch.tensor(problem.x0, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr, momentum=momentum, nesterov=nesterov)
    out = [problem.x0.copy()]
    for t in range(steps):
        p.grad = torch.tensor(problem.grad(p.detach().numpy(), t))
        opt.step()
        out.append(p.detach().numpy().copy())
    return np.array(out)


def eigen_coordinates(problem, path):
    """x = Q^T (p - p_star), one column per eigenvalue (ascending, as eigh gives them)."""
    lam, Q = np.linalg.eigh(problem.A)
    return lam, (path - problem.x_star) @ Q


def assert_same_path(a, b):
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13 * np.abs(b).max())


@pytest.mark.parametrize("nesterov", [False, True])
def test_the_iteration_matrix_is_what_sgd_and_torch_do_in_each_eigen_direction(nesterov):
    q = P.IllConditionedQuadratic(condition=25.0)
    for lr, mom in [(1 / 9, 4 / 9), (0.02, 0.9), (0.05, 0.3), (0.07, 0.0)]:
        lib = sgd_path(lr, mom, q, 200, nesterov and mom > 0)
        ref = torch_path(lr, mom, q, 200, nesterov and mom > 0)
        assert_same_path(lib, ref)
        lam, X = eigen_coordinates(q, ref)
        for i in range(2):
            theory = M.eigen_run(lr, mom, lam[i], X[0, i], 200, nesterov and mom > 0)
            np.testing.assert_allclose(theory, X[:, i], rtol=1e-11, atol=1e-12 * np.abs(X).max())


def test_roots_are_the_eigenvalues_of_the_matrix_and_the_rate_their_largest_modulus():
    lam = np.array([0.3, 1.0, 7.0, 25.0])
    for lr, mom in RNG_POINTS:
        for nesterov in (False, True):
            R = M.iteration_matrix(lr, mom, lam, nesterov)
            assert R.shape == (4, 2, 2)
            brute = np.linalg.eigvals(R)
            s1, s2 = M.roots(lr, mom, lam, nesterov)
            np.testing.assert_allclose(np.sort_complex(np.stack([s1, s2], -1)), np.sort_complex(brute), atol=1e-7)
            np.testing.assert_allclose(M.rate(lr, mom, lam, nesterov), np.abs(brute).max(-1), rtol=1e-7, atol=1e-12)


def test_the_predicted_rate_is_the_measured_decay_of_sgd_runs():
    q = P.IllConditionedQuadratic(condition=25.0)
    checked = 0
    for lr, mom in RNG_POINTS:
        r = float(M.worst_rate(lr, mom, q.mu, q.L))
        if not 0.3 < r < 0.97:   # too fast to measure over 100 steps in float64, or too slow
            continue
        measured = M.decay_rate(sgd_path(lr, mom, q, 400), 150, 400, window=40)
        assert measured == pytest.approx(r, rel=0.01), (lr, mom)
        checked += 1
    assert checked >= 10


def test_nesterov_rate_is_measured_too():
    q = P.IllConditionedQuadratic(condition=25.0)
    for lr, mom in [(0.02, 0.9), (0.05, 0.5), (0.03, 0.7)]:
        r = float(M.worst_rate(lr, mom, q.mu, q.L, nesterov=True))
        measured = M.decay_rate(torch_path(lr, mom, q, 400, nesterov=True), 150, 400, window=40)
        assert measured == pytest.approx(r, rel=0.01)


def test_the_optimal_pair_beats_its_neighbours_and_a_grid_search():
    q = P.IllConditionedQuadratic(condition=25.0)
    lr, mom, r = M.optimal(q.mu, q.L)
    assert r == pytest.approx((5 - 1) / (5 + 1), rel=1e-12) and mom == pytest.approx(r**2, rel=1e-12)
    best = M.decay_rate(sgd_path(lr, mom, q, 300), 150, 300, window=30)
    # the double root decays like t r^t: within 1% of r over these steps
    assert best == pytest.approx(r, rel=0.01)
    for dl in (0.9, 1.1):
        for dm in (-0.05, 0.05):
            for point in ((lr * dl, mom), (lr, mom + dm), (lr * dl, mom + dm)):
                assert M.decay_rate(sgd_path(*point, q, 300), 150, 300, window=30) > best
    lrs, moms = np.meshgrid(np.linspace(0.01, 0.2, 400), np.linspace(0.0, 0.95, 400))
    grid = M.worst_rate(lrs, moms, q.mu, q.L)
    assert grid.min() >= r - 1e-12
    i = np.unravel_index(grid.argmin(), grid.shape)
    assert abs(lrs[i] - lr) < 0.002 and abs(moms[i] - mom) < 0.01
    # plain GD's best, for the lesson's comparison: (kappa - 1) / (kappa + 1)
    assert M.worst_rate(np.linspace(0.01, 0.079, 2000), 0.0, q.mu, q.L).min() == pytest.approx(12 / 13, rel=1e-3)


def sign_flips(x):
    s = np.sign(x)
    return np.count_nonzero(s[1:] != s[:-1])


def test_regions_match_what_the_runs_do():
    """Each region is recognised in a 1-D run of the library's SGD on curvature lam."""
    lam = 25.0
    seen = set()
    lrs, moms = np.meshgrid(np.linspace(0.004, 0.2, 25), np.linspace(0.0, 0.95, 20))
    for lr, mom in zip(lrs.ravel(), moms.ravel()):
        name = M.region(lr, mom, lam)
        S, Pd = 1 + mom - lr * lam, mom
        if abs(S * S - 4 * Pd) < 1e-3 or abs(M.rate(lr, mom, lam) - 1) < 1e-2:
            continue  # on a boundary: a finite run cannot tell
        x = sgd_path(lr, mom, P.Quadratic([[lam]], x0=[1.0]), 120)[:, 0]
        late = x[60:]
        if name == "divergent":
            assert abs(x[-1]) > abs(x[0]) * 10, (lr, mom)
        else:
            assert abs(x[-1]) < abs(x[0]), (lr, mom)
            flips = sign_flips(late)
            if name == "monotone":
                assert flips == 0, (lr, mom)
            elif name == "alternating":
                assert flips == len(late) - 1, (lr, mom)
            else:
                assert 0 < flips < len(late) - 1 or float(M.rate(lr, mom, lam)) ** 60 < 1e-250, (lr, mom)
        seen.add(name)
    assert seen == set(M.REGIONS) - {"critical"}   # a boundary: tested below


def test_region_codes_for_arrays():
    codes = M.region(np.array([0.01, 0.01, 0.07, 0.2]), np.array([0.9, 0.1, 0.0, 0.9]), 25.0)
    assert [M.REGIONS[c] for c in codes] == ["ripples", "monotone", "alternating", "divergent"]


@pytest.mark.parametrize("nesterov", [False, True])
def test_the_divergence_boundary_is_where_torch_runs_start_to_blow_up(nesterov):
    q = P.Quadratic([[25.0]], x0=[1.0])
    for mom in (0.2, 0.5, 0.9):
        edge = float(M.max_stable_lr(mom, 25.0, nesterov))
        inside = torch_path(edge * 0.98, mom, q, 600, nesterov)[:, 0]
        outside = torch_path(edge * 1.02, mom, q, 600, nesterov)[:, 0]
        assert abs(inside[-1]) < 1e-2 and abs(outside[-1]) > 1e2, mom


def test_critical_damping_is_a_double_root():
    for lr in (0.01, 0.03, 1 / 9):
        for lam in (1.0, 25.0):
            mom = float(M.critical_momentum(lr, lam))
            if mom >= 1:
                continue
            ev = np.linalg.eigvals(M.iteration_matrix(lr, mom, lam))
            assert abs(ev[0] - ev[1]) < 1e-6
            assert M.region(lr, mom, lam) == "critical"
            assert M.region(lr, mom + 1e-3, lam) == "ripples"
            assert M.region(lr, max(mom - 1e-3, 0), lam) in ("monotone", "alternating")


def test_worst_rate_at_the_ends_is_the_worst_over_the_whole_spectrum():
    lam = np.linspace(1.0, 25.0, 500)
    for lr, mom in RNG_POINTS:
        assert float(M.worst_rate(lr, mom, 1.0, 25.0)) == pytest.approx(M.rate(lr, mom, lam).max(), rel=1e-12)


@pytest.mark.parametrize("call, message", [
    (lambda: M.rate(-0.1, 0.9, 1.0), "lr must be >= 0"),
    (lambda: M.rate(0.1, -0.5, 1.0), "momentum must be >= 0"),
    (lambda: M.rate(0.1, 0.5, float("nan")), "must be finite"),
    (lambda: M.rate("fast", 0.5, 1.0), "lr must be a real number"),
    (lambda: M.optimal(25.0, 1.0), "need m <= L"),
    (lambda: M.optimal(0.0, 1.0), "m must be > 0"),
    (lambda: M.max_stable_lr(1.2, 1.0), "momentum must be < 1"),
    (lambda: M.decay_rate(np.ones(10), 5, 20), "len(errors) = 10"),
    (lambda: M.eigen_run(0.1, 0.5, 1.0, 1.0, -3), "steps must be >= 0"),
])
def test_bad_input_gets_a_teaching_error(call, message):
    with pytest.raises((ValueError, TypeError)) as info:
        call()
    assert message in str(info.value)


def test_run_point_is_the_run_of_sgd_and_torch_beside_the_theory():
    q = P.IllConditionedQuadratic(condition=25.0)
    for lr, mom in [(0.02, 0.9), (1 / 9, 4 / 9), (0.05, 0.3)]:
        r = M.run_point(lr, mom, q, 240)
        np.testing.assert_array_equal(r.history.params, sgd_path(lr, mom, q, 240))
        dist = np.linalg.norm(torch_path(lr, mom, q, 240) - q.x_star, axis=1)
        np.testing.assert_allclose(r.distance, dist, rtol=1e-12, atol=1e-15)
        assert r.predicted == float(M.worst_rate(lr, mom, q.mu, q.L))
        np.testing.assert_allclose(r.envelope, dist[0] * r.predicted ** np.arange(241), rtol=1e-12)
        # a double root (the optimum) decays like t r^t: (240/120)^(1/120) = 1.006 above r
        assert r.measured == pytest.approx(r.predicted, rel=0.01)
        assert r.regions == {"m": M.region(lr, mom, q.mu), "L": M.region(lr, mom, q.L)}
    diverging = M.run_point(0.15, 0.2, q, 100)
    assert diverging.measured is None and diverging.regions["L"] == "divergent"


def test_plane_is_worst_rate_on_its_grid():
    lrs, moms, rates = M.plane(1.0, 25.0, 0.176, 0.99, n=(30, 20))
    assert lrs[0] > 0 and lrs[-1] == 0.176 and moms[0] == 0 and moms[-1] == 0.99
    for j in (0, 7, 19):
        for i in (0, 13, 29):
            assert rates[j, i] == float(M.worst_rate(lrs[i], moms[j], 1.0, 25.0))


@pytest.mark.parametrize("call, message", [
    (lambda: M.run_point(0.0, 0.5, P.IllConditionedQuadratic(), 50), "with lr = 0 nothing moves"),
    (lambda: M.run_point(0.01, 0.5, P.IllConditionedQuadratic(), 1), "steps must be >= 2"),
    (lambda: M.plane(1.0, 25.0, 0.0), "lr_max must be > 0"),
])
def test_run_point_and_plane_refuse_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()
