r"""Heavy-ball (and Nesterov) momentum on a quadratic, in closed form: lesson 08's theory.

torch's ``SGD(lr, momentum)`` (dampening 0) at a constant ``lr`` is Polyak's heavy ball in the
form Goh (2017) analyses (``z = beta z + grad f(w)``, ``w -= alpha z``), with alpha = ``lr``,
beta = ``momentum``::

    b_t = momentum * b_{t-1} + g_t        (b_0 = 0, so b_1 = g_1: torch's first buffer)
    p_t = p_{t-1} - lr * b_t

On f(p) = 1/2 (p - p_star)^T A (p - p_star), A = Q diag(lam) Q^T, the gradient is A (p - p_star),
so each eigen-direction q (curvature ``lam``) moves on its own: with x = q^T (p - p_star) and
c = q^T b,

    c_t = momentum * c_{t-1} + lam * x_{t-1}
    x_t = x_{t-1} - lr * c_t  =  -lr * momentum * c_{t-1} + (1 - lr * lam) * x_{t-1}

that is (c_t, x_t) = R (c_{t-1}, x_{t-1}) with the 2x2 iteration matrix
R = [[momentum, lam], [-lr * momentum, 1 - lr * lam]]  (``iteration_matrix``).  Its eigenvalues
``sigma`` solve  sigma^2 - S sigma + P = 0  with S = trace R = 1 + momentum - lr * lam and
P = det R = momentum (``roots``), and the direction shrinks like ``rate = max |sigma|`` per step
(times t where the two roots coincide).  The functions below are vectorised: arrays of ``lr``,
``momentum`` and ``lam`` broadcast, which is how the panel draws the rate over the plane.

Nesterov (``nesterov=True``, torch's form p -= lr (g + momentum b)) gives
R = [[momentum, lam], [-lr * momentum**2, 1 - lr * lam * (1 + momentum)]],
S = (1 + momentum)(1 - lr * lam), P = momentum (1 - lr * lam).

References: B. T. Polyak (1964), https://doi.org/10.1016/0041-5553(64)90137-5 ;
G. Goh (2017), Why momentum really works, Distill, https://distill.pub/2017/momentum/ .
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import optimizers as _opt
from . import runs as _runs

__all__ = [
    "REGIONS", "iteration_matrix", "roots", "rate", "worst_rate", "optimal", "critical_momentum",
    "max_stable_lr", "region", "eigen_run", "decay_rate", "plane", "PointRun", "run_point",
]

#: the names ``region`` answers, in its codes' order
REGIONS = ("monotone", "ripples", "alternating", "divergent", "critical")


def _real(name: str, value, low=None, low_ok=True):
    """``value`` as a float array, refused with a teaching error if it is not finite or too small."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number (or an array of them), got {value!r}") from None
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if low is not None and not np.all(arr >= low if low_ok else arr > low):
        raise ValueError(f"{name} must be {'>=' if low_ok else '>'} {low:g}, got {value!r}")
    return arr


def _args(lr, momentum, lam):
    return _real("lr", lr, 0.0), _real("momentum", momentum, 0.0), _real("lam (a curvature)", lam, 0.0)


def _trace_det(lr, momentum, lam, nesterov):
    lr, momentum, lam = _args(lr, momentum, lam)
    if nesterov:
        return (1 + momentum) * (1 - lr * lam), momentum * (1 - lr * lam)
    return 1 + momentum - lr * lam, momentum + 0 * lr * lam


def iteration_matrix(lr, momentum, lam, nesterov=False) -> np.ndarray:
    """The matrix R with (c_t, x_t) = R (c_{t-1}, x_{t-1}) for one eigen-direction of curvature ``lam``.

    Heavy ball: R = [[momentum, lam], [-lr * momentum, 1 - lr * lam]]; Nesterov (torch's form):
    R = [[momentum, lam], [-lr * momentum**2, 1 - lr * lam * (1 + momentum)]].  Scalars give a
    (2, 2) array, arrays a (..., 2, 2) stack.

    >>> iteration_matrix(0.1, 0.5, 4.0).tolist()
    [[0.5, 4.0], [-0.05, 0.6]]
    """
    lr, momentum, lam = np.broadcast_arrays(*_args(lr, momentum, lam))
    mom_x = momentum**2 if nesterov else momentum
    x_x = 1 - lr * lam * (1 + momentum) if nesterov else 1 - lr * lam
    return np.stack([np.stack([momentum, lam], -1), np.stack([-lr * mom_x, x_x], -1)], -2)


def roots(lr, momentum, lam, nesterov=False) -> tuple[np.ndarray, np.ndarray]:
    """The two eigenvalues of ``iteration_matrix``: sigma = (S +- sqrt(S^2 - 4 P)) / 2 (complex).

    S = 1 + momentum - lr * lam and P = momentum for the heavy ball (see the module's docstring
    for Nesterov).  The larger modulus comes first.

    >>> [complex(s) for s in roots(0.1, 0.5, 4.0)]     # S = 1.1, P = 0.5: complex, |sigma| = sqrt(0.5)
    [(0.55+0.4444097208657794j), (0.55-0.4444097208657794j)]
    """
    S, P = _trace_det(lr, momentum, lam, nesterov)
    d = np.sqrt((S * S - 4 * P).astype(np.complex128))
    s1, s2 = (S + d) / 2, (S - d) / 2
    swap = np.abs(s2) > np.abs(s1)
    return np.where(swap, s2, s1), np.where(swap, s1, s2)


def rate(lr, momentum, lam, nesterov=False) -> np.ndarray:
    """The convergence rate of one eigen-direction: max |sigma| over the two roots.

    Complex roots (S^2 < 4 P) have |sigma| = sqrt(P), for the heavy ball sqrt(momentum); with
    ``momentum=0`` the rate is gradient descent's |1 - lr * lam|.  < 1 converges, >= 1 does not.

    >>> round(float(rate(0.1, 0.0, 4.0)), 12), round(float(rate(0.1, 0.5, 4.0)) ** 2, 12)
    (0.6, 0.5)
    """
    return np.abs(roots(lr, momentum, lam, nesterov)[0])


def worst_rate(lr, momentum, m, L, nesterov=False) -> np.ndarray:
    """The rate of a quadratic whose curvatures lie in [m, L]: max(rate at m, rate at L).

    The endpoints suffice for the heavy ball: as lam grows, max |sigma| falls from 1 (lam = 0)
    to sqrt(momentum) while the roots are real and positive, stays sqrt(momentum) while they are
    complex, and rises again once they are real and negative, so no lam inside [m, L] is worse.

    >>> float(worst_rate(2 / 26, 0.0, 1.0, 25.0)) == 12 / 13     # best plain GD: (kappa-1)/(kappa+1)
    True
    """
    return np.maximum(rate(lr, momentum, m, nesterov), rate(lr, momentum, L, nesterov))


def optimal(m, L) -> tuple[float, float, float]:
    """(lr, momentum, rate) of the heavy ball that minimise ``worst_rate`` on curvatures [m, L].

    The rate is at least sqrt(P) = sqrt(momentum) (the roots' product is momentum); it equals
    sqrt(momentum) for every lam with complex or double roots, (1 - sqrt(momentum))^2 <= lr * lam
    <= (1 + sqrt(momentum))^2.  The smallest momentum that fits [m, L] in that band makes both
    ends tight: sqrt(lr m) = 1 - sqrt(momentum), sqrt(lr L) = 1 + sqrt(momentum), so
    lr = (2 / (sqrt(L) + sqrt(m)))^2, momentum = ((sqrt(kappa) - 1) / (sqrt(kappa) + 1))^2 and
    rate = (sqrt(kappa) - 1) / (sqrt(kappa) + 1), kappa = L / m.

    >>> lr, momentum, r = optimal(1.0, 25.0)
    >>> round(lr, 12), round(momentum, 12), round(r, 12)           # 1/9, 4/9, 2/3
    (0.111111111111, 0.444444444444, 0.666666666667)
    """
    m, L = float(_real("m", m, 0.0, low_ok=False)), float(_real("L", L, 0.0, low_ok=False))
    if m > L:
        raise ValueError(f"m is the smallest curvature and L the largest: need m <= L, got m={m:g}, L={L:g}")
    sm, sL = m**0.5, L**0.5
    return (2 / (sL + sm)) ** 2, ((sL - sm) / (sL + sm)) ** 2, (sL - sm) / (sL + sm)


def critical_momentum(lr, lam) -> np.ndarray:
    """The momentum of critical damping, where the two roots coincide: (1 - sqrt(lr * lam))^2.

    S^2 = 4 P with S = 1 + momentum - lr * lam, P = momentum means 1 + momentum - lr * lam =
    +-2 sqrt(momentum), i.e. lr * lam = (1 -+ sqrt(momentum))^2.  Above this momentum the roots
    are complex (ripples), below it real.

    >>> round(float(critical_momentum(1 / 9, 1.0)), 12), round(float(critical_momentum(1 / 9, 25.0)), 12)  # 4/9
    (0.444444444444, 0.444444444444)
    """
    lr, _, lam = _args(lr, 0.0, lam)
    return (1 - np.sqrt(lr * lam)) ** 2


def max_stable_lr(momentum, lam, nesterov=False) -> np.ndarray:
    """The largest lr that converges in a direction of curvature ``lam`` (for momentum < 1).

    Both roots of sigma^2 - S sigma + P lie inside the unit circle iff |P| < 1 and |S| < 1 + P
    (the Schur-Cohn / Jury test).  Heavy ball: |1 + momentum - lr lam| < 1 + momentum, i.e.
    0 < lr * lam < 2 + 2 momentum.  Nesterov: 0 < lr * lam < (2 + 2 momentum) / (1 + 2 momentum).

    >>> float(max_stable_lr(0.0, 25.0)), float(max_stable_lr(0.9, 25.0))
    (0.08, 0.152)
    """
    _, momentum, lam = _args(0.0, momentum, _real("lam (a curvature)", lam, 0.0, low_ok=False))
    if not np.all(momentum < 1):
        raise ValueError(f"momentum must be < 1 for any lr to converge, got {momentum!r}")
    bound = (2 + 2 * momentum) / (1 + 2 * momentum) if nesterov else 2 + 2 * momentum
    return bound / lam


def region(lr, momentum, lam, nesterov=False):
    """How one eigen-direction behaves: 'monotone', 'ripples', 'alternating', 'divergent' or 'critical'.

    * divergent: rate >= 1;
    * critical: a double root (S^2 = 4 P, to 1e-9 relative: critical damping, the boundary
      between ripples and real roots, where the optimal pair puts both ends of the spectrum);
    * ripples: complex roots (S^2 < 4 P), x_t = r^t cos(theta t + phi) with r = sqrt(P): it
      crosses zero every pi / theta steps, theta = the roots' argument;
    * alternating: real roots and S < 0: the dominant root is negative, x_t flips sign every step;
    * monotone: real roots and S >= 0: the dominant root is positive, x_t keeps its sign once the
      smaller root has died out.

    A scalar gives the name, arrays an array of codes into ``REGIONS``.

    >>> region(0.01, 0.9, 25.0), region(0.01, 0.1, 25.0), region(0.07, 0.0, 25.0), region(0.2, 0.9, 25.0)
    ('ripples', 'monotone', 'alternating', 'divergent')
    >>> region(1 / 9, 4 / 9, 1.0), region(1 / 9, 4 / 9, 25.0)          # the optimal pair for [1, 25]
    ('critical', 'critical')
    """
    S, P = _trace_det(lr, momentum, lam, nesterov)
    r = rate(lr, momentum, lam, nesterov)
    disc = S * S - 4 * P
    code = np.where(r >= 1, 3, np.where(np.abs(disc) <= 1e-9 * np.maximum(1, S * S), 4,
                                        np.where(disc < 0, 1, np.where(S < 0, 2, 0))))
    return REGIONS[int(code)] if code.ndim == 0 else code


def eigen_run(lr, momentum, lam, x0, steps: int, nesterov=False) -> np.ndarray:
    """x_0 .. x_steps of one eigen-direction by the matrix alone: (c_t, x_t) = R^t (0, x0).

    Starts from an empty buffer, c_0 = 0 (torch's first buffer is then c_1 = lam x_0 = g_1).

    >>> eigen_run(0.1, 0.5, 4.0, 1.0, 3).round(6).tolist()   # c_1 = 4, x_1 = 1 - 0.1 * 4; c_2 = 2 + 2.4, x_2 = 0.6 - 0.44
    [1.0, 0.6, 0.16, -0.124]
    """
    steps = int(steps)
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    R = iteration_matrix(float(lr), float(momentum), float(lam), nesterov)
    v = np.array([0.0, float(_real("x0", x0))])
    out = [v[1]]
    for _ in range(steps):
        v = R @ v
        out.append(v[1])
    return np.array(out)


def decay_rate(errors, start: int, stop: int, window: int = 20) -> float:
    """The measured rate of a run: (E(stop) / E(start)) ** (1 / (stop - start)), where E(t) is the
    largest |error| over the ``window`` steps up to t.

    The window's maximum follows the envelope r^t through the zero crossings of a rippling run.
    ``errors``: one number per step (a distance to the minimum) or one row per step (its norm is used).

    >>> float(decay_rate(0.5 ** np.arange(100), 40, 90))
    0.5
    """
    e = np.abs(np.asarray(errors, dtype=np.float64))
    if e.ndim == 2:
        e = np.linalg.norm(e, axis=1)
    start, stop, window = int(start), int(stop), int(window)
    if not 1 <= window <= start < stop < len(e):
        raise ValueError(f"need 1 <= window <= start < stop < len(errors) = {len(e)}, "
                         f"got window={window}, start={start}, stop={stop}")
    top = [e[t - window + 1: t + 1].max() for t in (start, stop)]
    if top[0] == 0:
        raise ValueError(f"the errors are all 0 in the window before step {start}: no rate to measure")
    return float((top[1] / top[0]) ** (1 / (stop - start)))


def plane(m, L, lr_max, momentum_max=0.99, n=(220, 200)):
    """The rate over the (lr, momentum) plane: (lrs, momentums, rates), rates[j, i] = worst_rate(lrs[i], momentums[j]).

    ``lrs``: ``n[0]`` values in (0, lr_max]; ``momentums``: ``n[1]`` values in [0, momentum_max].

    >>> lrs, moms, rates = plane(1.0, 25.0, 0.176, n=(4, 3))
    >>> lrs.round(3).tolist(), moms.tolist(), rates.shape
    ([0.044, 0.088, 0.132, 0.176], [0.0, 0.495, 0.99], (3, 4))
    """
    lr_max = float(_real("lr_max", lr_max, 0.0, low_ok=False))
    momentum_max = float(_real("momentum_max", momentum_max, 0.0))
    lrs = np.linspace(0.0, lr_max, int(n[0]) + 1)[1:]
    moms = np.linspace(0.0, momentum_max, int(n[1]))
    return lrs, moms, worst_rate(lrs[None, :], moms[:, None], m, L)


class PointRun(NamedTuple):
    """One point of the plane, run and predicted (``run_point``)."""

    history: _runs.History    # runs.run of optimizers.SGD(lr, momentum) on the problem
    distance: np.ndarray      # |p_t - p_star|, t = 0 .. steps
    predicted: float          # worst_rate(lr, momentum, m, L)
    envelope: np.ndarray      # distance[0] * predicted ** t: where the prediction puts the run
    measured: float | None    # decay_rate of distance over the second half; None if it diverges or reaches 0
    regions: dict             # {"m": region at m, "L": region at L}


def run_point(lr, momentum, problem, steps: int) -> PointRun:
    """Run torch's heavy ball (``optimizers.SGD(lr, momentum)``, via ``runs.run``) on a quadratic ``problem``
    (a ``problems.Quadratic``: its ``mu`` and ``L`` are m and L) and set the run beside the theory.

    ``measured`` is ``decay_rate(distance, steps // 2, steps, window=min(20, steps // 2))``.

    >>> from lrcourse import problems
    >>> r = run_point(0.02, 0.9, problems.IllConditionedQuadratic(condition=25.0), 200)
    >>> r.regions, round(r.predicted, 4), round(r.measured, 2)
    ({'m': 'ripples', 'L': 'ripples'}, 0.9487, 0.95)
    """
    lr, momentum = float(_real("lr", lr, 0.0)), float(_real("momentum", momentum, 0.0))
    if lr == 0:
        raise ValueError("lr must be > 0: with lr = 0 nothing moves")
    steps = int(steps)
    if steps < 2:
        raise ValueError(f"steps must be >= 2 to measure a rate, got {steps}")
    m, L = problem.mu, problem.L
    with np.errstate(over="ignore", invalid="ignore"):  # a divergent point overflows: that is its answer
        hist = _runs.run(_opt.SGD(lr=lr, momentum=momentum), problem, steps)
        distance = np.linalg.norm(hist.params - problem.x_star, axis=1)
        predicted = float(worst_rate(lr, momentum, m, L))
        envelope = distance[0] * predicted ** np.arange(steps + 1)
    measured = None
    if predicted < 1 and np.all(np.isfinite(distance)) and distance[-1] > 0:
        measured = decay_rate(distance, steps // 2, steps, window=min(20, steps // 2))
    return PointRun(hist, distance, predicted, envelope, measured,
                    {"m": region(lr, momentum, m), "L": region(lr, momentum, L)})
