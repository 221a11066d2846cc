"""Small seeded problems with a loss and a hand-written gradient.

Every problem has ``x0`` (float64 start), ``loss(x)`` and ``grad(x, t=0)``.  Stochastic
problems draw their noise or minibatch from ``t`` (the update number) and their seed, so
the same gradient sequence can be replayed for the NumPy optimizer and its torch twin.
Data are synthetic, generated with a fixed seed, except one real data set that ships with the
package (``load_breast_cancer``, see ``lrcourse/data/README.md`` for its source and licence):
nothing is downloaded.
"""
from __future__ import annotations

import functools
import gzip
import math
import pathlib

import numpy as np

__all__ = [
    "Problem", "Quadratic", "IllConditionedQuadratic", "Rosenbrock", "Saddle", "Noisy", "NoisyQuadratic", "Negated",
    "BinaryData", "make_binary_data", "load_breast_cancer", "minibatch", "LogisticRegression", "MLPClassifier", "ResidualMLP",
    "PROBLEMS", "make_problem",
    "plot_window", "contour_grid", "contour_levels",
]


class Problem:
    """Base class of the problems: ``x0``, ``loss(x)``, ``grad(x, t)``; 2-D ones also ``grid_loss``.

    ``grad(x, t)`` is the gradient update t uses (t matters only for stochastic problems),
    in x's dtype.  ``dim == 2`` problems can be drawn as contour plots (see ``grid_loss``).
    """

    name = "problem"
    x0: np.ndarray
    stochastic = False

    @property
    def dim(self) -> int:
        return self.x0.size

    def loss(self, x) -> float:
        raise NotImplementedError

    def grad(self, x, t: int = 0) -> np.ndarray:
        raise NotImplementedError

    def grid_loss(self, X, Y) -> np.ndarray:
        """The loss on a mesh grid (2-D problems only), vectorised for contour plots."""
        raise NotImplementedError(f"{self.name} is not a 2-D problem")

    def __repr__(self):
        return f"{type(self).__name__}({self.name!r})"


class Quadratic(Problem):
    r"""A quadratic bowl: f(x) = 1/2 (x - x_star)^T A (x - x_star); grad = A (x - x_star).

    Gradient descent with a constant LR is stable iff lr < 2 / L, L = the largest
    eigenvalue of A (lesson 01); ``L`` and ``mu`` (the smallest) are attributes.

    Args:
        A: the symmetric positive (semi-)definite curvature matrix.
        x0: the start.
        x_star: the minimizer (default 0).
        name: the display name.

    Example:
        >>> q = Quadratic([[2.0, 0.0], [0.0, 8.0]], x0=[1.0, 1.0])
        >>> q.loss(q.x0), q.grad(q.x0).tolist(), q.L
        (5.0, [2.0, 8.0], 8.0)
    """

    def __init__(self, A, x0, x_star=None, name="quadratic"):
        self.A = np.asarray(A, dtype=np.float64)
        self.x0 = np.asarray(x0, dtype=np.float64)
        self.x_star = np.zeros_like(self.x0) if x_star is None else np.asarray(x_star, dtype=np.float64)
        if self.A.shape != (self.x0.size, self.x0.size):
            raise ValueError(f"A has shape {self.A.shape}, expected {(self.x0.size, self.x0.size)}")
        self.name = name
        eig = np.linalg.eigvalsh((self.A + self.A.T) / 2)
        self.L, self.mu = float(eig.max()), float(eig.min())

    def loss(self, x):
        d = np.asarray(x) - self.x_star.astype(np.asarray(x).dtype)
        return float(0.5 * d @ (self.A @ d))

    def grad(self, x, t=0):
        x = np.asarray(x)
        return (self.A.astype(x.dtype) @ (x - self.x_star.astype(x.dtype))).astype(x.dtype)

    def grid_loss(self, X, Y):
        dX, dY = X - self.x_star[0], Y - self.x_star[1]
        A = self.A
        return 0.5 * (A[0, 0] * dX**2 + (A[0, 1] + A[1, 0]) * dX * dY + A[1, 1] * dY**2)


class IllConditionedQuadratic(Quadratic):
    """A 2-D quadratic valley with curvatures 1 and ``condition``, rotated by ``angle``.

    A = R diag(1, condition) R^T with R the rotation by ``angle``; the rotation couples the
    coordinates, so a per-coordinate LR (Adagrad, Adam) cannot simply undo the conditioning.

    Example:
        >>> q = IllConditionedQuadratic(condition=25.0)
        >>> round(q.L, 6), round(q.mu, 6), q.x0.tolist()
        (25.0, 1.0, [-4.0, 2.5])
    """

    def __init__(self, condition=25.0, angle=math.pi / 6, x0=(-4.0, 2.5)):
        c, s = math.cos(angle), math.sin(angle)
        R = np.array([[c, -s], [s, c]])
        super().__init__(R @ np.diag([1.0, float(condition)]) @ R.T, x0, name="ill-conditioned quadratic")
        self.condition = float(condition)


class Rosenbrock(Problem):
    r"""Rosenbrock's banana: f(x, y) = (a - x)^2 + b (y - x^2)^2, minimum at (a, a^2).

    A curved, narrow valley: its curvature across the valley is about 200 times that along it.

    Args:
        a, b: the shape (1, 100); x0: the start (-1.2, 1).

    Example:
        >>> r = Rosenbrock()
        >>> r.loss(r.x_star), round(r.loss(r.x0), 2)
        (0.0, 24.2)

    References:
        Rosenbrock, 1960, https://doi.org/10.1093/comjnl/3.3.175
    """

    def __init__(self, a=1.0, b=100.0, x0=(-1.2, 1.0)):
        self.a, self.b = float(a), float(b)
        self.x0 = np.asarray(x0, dtype=np.float64)
        self.x_star = np.array([self.a, self.a**2])
        self.name = "Rosenbrock"

    def loss(self, x):
        x, y = np.asarray(x, dtype=np.float64)
        return float((self.a - x) ** 2 + self.b * (y - x * x) ** 2)

    def grad(self, x, t=0):
        x = np.asarray(x)
        u, w = x[0], x[1]
        r = w - u * u
        return np.array([-2 * (self.a - u) - 4 * self.b * u * r, 2 * self.b * r], dtype=x.dtype)

    def grid_loss(self, X, Y):
        return (self.a - X) ** 2 + self.b * (Y - X**2) ** 2


class Saddle(Problem):
    r"""f(x, y) = x^2 / 2 - y^2 / 2 + y^4 / 4: a saddle at the origin, minima at (0, +-1).

    Started near the saddle's stable axis, plain GD lingers; momentum and adaptive
    methods escape at different speeds.

    Example:
        >>> s = Saddle()
        >>> s.grad([0.0, 0.0]).tolist(), s.loss([0.0, 1.0])   # a critical point; a minimum
        ([0.0, 0.0], -0.25)
    """

    def __init__(self, x0=(2.0, 1e-3)):
        self.x0 = np.asarray(x0, dtype=np.float64)
        self.x_star = np.array([0.0, 1.0])
        self.name = "saddle"

    def loss(self, x):
        u, w = np.asarray(x, dtype=np.float64)
        return float(0.5 * u * u - 0.5 * w * w + 0.25 * w**4)

    def grad(self, x, t=0):
        x = np.asarray(x)
        return np.array([x[0], -x[1] + x[1] ** 3], dtype=x.dtype)

    def grid_loss(self, X, Y):
        return 0.5 * X**2 - 0.5 * Y**2 + 0.25 * Y**4


# --------------------------------------------------------------------------- wrappers: noise, sign
@functools.lru_cache(maxsize=2048)
def _cached_noise(seed: int, t: int, shape: tuple) -> np.ndarray:
    xi = np.random.default_rng((seed, t)).standard_normal(shape)
    xi.flags.writeable = False
    return xi


def _noise(seed: int, t: int, shape: tuple) -> np.ndarray:
    """xi_t, seeded with (seed, t).  A race asks for the same draws once per optimizer (and again on every
    rerun of a panel), and seeding a generator costs more than the step: small draws are kept."""
    if math.prod(shape) <= 256:
        return _cached_noise(seed, t, tuple(shape))
    return np.random.default_rng((seed, t)).standard_normal(shape)


class Noisy(Problem):
    r"""Any problem with Gaussian gradient noise: grad(x, t) = base.grad(x, t) + noise * xi_t.

    xi_t ~ N(0, I) comes from a generator seeded with (seed, t), so every optimizer (and the
    torch twin) sees the same gradient sequence.  The loss, ``x0``, ``x_star``, the contour
    grid and every other attribute (``A``, ``L``, ...) are the wrapped problem's.

    Args:
        base: the problem whose gradient gets the noise.
        noise: the standard deviation of each coordinate's noise (>= 0).
        seed: with t, seeds the noise of update t.

    Example:
        >>> noisy = Noisy(Saddle(), noise=0.5, seed=1)
        >>> bool((noisy.grad(noisy.x0, 7) == noisy.grad(noisy.x0, 7)).all())   # replayable
        True
        >>> noisy.loss(noisy.x0) == Saddle().loss(noisy.x0), noisy.name
        (True, 'saddle + noise 0.5')
    """

    stochastic = True

    def __init__(self, base: Problem, noise=1.0, seed=0, name=None):
        if not float(noise) >= 0:
            raise ValueError(f"noise must be >= 0, got {noise}")
        self.base, self.noise, self.seed = base, float(noise), int(seed)
        self.x0 = base.x0
        self.name = name or f"{base.name} + noise {self.noise:g}"

    def __getattr__(self, attr):
        # Only called for attributes not found on the wrapper itself: x_star, A, L, val_loss...
        if attr == "base":
            raise AttributeError(attr)
        return getattr(self.base, attr)

    def loss(self, x):
        return self.base.loss(x)

    def grad(self, x, t=0):
        g = self.base.grad(x, t)
        return (g + self.noise * _noise(self.seed, int(t), np.shape(g))).astype(g.dtype)

    def grid_loss(self, X, Y):
        return self.base.grid_loss(X, Y)


class NoisyQuadratic(Noisy):
    r"""The ill-conditioned quadratic with Gaussian gradient noise: ``Noisy(IllConditionedQuadratic(...))``.

    grad(x, t) = A (x - x_star) + noise * xi_t, xi_t ~ N(0, I) seeded with (seed, t).  ``A``,
    ``L``, ``mu``, ``x_star`` and ``condition`` are the quadratic's.  With a constant LR, SGD
    does not converge to x_star but to a noise floor proportional to lr * noise**2 (lesson 02).

    Args:
        noise: the standard deviation of each coordinate's noise.
        condition, angle, x0: the quadratic's (see IllConditionedQuadratic).
        seed: with t, seeds the noise of update t.

    Example:
        >>> p = NoisyQuadratic(noise=0.0)
        >>> bool(np.allclose(p.grad(p.x0, 3), p.A @ p.x0)), p.L
        (True, 10.0)
    """

    def __init__(self, noise=1.0, condition=10.0, angle=math.pi / 6, x0=(-4.0, 2.5), seed=0):
        super().__init__(IllConditionedQuadratic(condition, angle, x0), noise, seed, name="noisy quadratic")


class Negated(Problem):
    """-f: maximizing it with ``maximize=True`` walks the same path as minimizing f.

    Example:
        >>> Negated(Saddle()).loss([1.0, 0.0])
        -0.5
    """

    def __init__(self, base: Problem):
        self.base, self.x0, self.name = base, base.x0, "negated " + base.name

    def loss(self, x):
        return -self.base.loss(x)

    def grad(self, x, t=0):
        return -self.base.grad(x, t)


# --------------------------------------------------------------------------- classification
class BinaryData:
    """A train/validation split of a binary-classification data set.

    Attributes: ``X_train``, ``y_train``, ``X_val``, ``y_val`` and the teacher ``w_true`` (None for real data).
    """

    def __init__(self, X_train, y_train, X_val, y_val, w_true=None):
        self.X_train, self.y_train, self.X_val, self.y_val, self.w_true = X_train, y_train, X_val, y_val, w_true

    def __repr__(self):
        return (f"BinaryData(train={self.X_train.shape}, val={self.X_val.shape}, "
                f"positives={self.y_train.mean():.2f})")


def make_binary_data(n=600, d=10, seed=0, val_fraction=0.25, sparsity=0.0, label_noise=0.05, nonlinear=False):
    """Synthetic binary classification with a fixed seed.

    Features are Gaussian; with ``sparsity`` s > 0 each feature is zero with probability s,
    and feature j is present with a frequency that falls off as 1/(j+1) (rare features:
    the setting where Adagrad's per-coordinate LR is said to help).  Labels come from a
    teacher ``w_true`` (a quadratic teacher when ``nonlinear``), with ``label_noise`` flips.

    >>> data = make_binary_data(n=400, d=5)
    >>> data.X_train.shape, data.X_val.shape, set(data.y_train.tolist())
    ((300, 5), (100, 5), {0.0, 1.0})
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    if sparsity > 0:
        keep_prob = (1.0 - sparsity) * np.minimum(1.0, 3.0 / (np.arange(d) + 1.0))
        X = X * (rng.random((n, d)) < keep_prob)
    w_true = rng.standard_normal(d)
    score = X @ w_true
    if nonlinear:
        score = score + 0.8 * (X[:, 0] ** 2 - X[:, 1] ** 2) - 0.3
    y = (score > 0).astype(np.float64)
    flip = rng.random(n) < label_noise
    y[flip] = 1.0 - y[flip]
    n_val = int(round(n * val_fraction))
    return BinaryData(X[n_val:], y[n_val:], X[:n_val], y[:n_val], w_true)


_DATA = pathlib.Path(__file__).with_name("data")


def load_breast_cancer(seed=0, val_fraction=0.25):
    """The Wisconsin diagnostic breast-cancer data (569 tumours, 30 features), a real binary task.

    Label 1 = malignant (212 of 569).  The split is a seeded random permutation (``seed``); each
    feature is standardised with the training split's mean and standard deviation (the raw
    features range from about 1e-3 to 4e3, lesson 16).  The file ships with lrcourse
    (``lrcourse/data/breast_cancer.csv.gz``): nothing is downloaded.

    Source: W. Wolberg, O. Mangasarian, N. Street, W. Street (1993), Breast Cancer Wisconsin
    (Diagnostic), UCI Machine Learning Repository, https://doi.org/10.24432/C5DW2B (CC BY 4.0),
    in scikit-learn's copy (BSD-3-Clause); see ``lrcourse/data/README.md``.

    >>> data = load_breast_cancer()
    >>> data.X_train.shape, data.X_val.shape, int(data.y_train.sum() + data.y_val.sum())
    ((427, 30), (142, 30), 212)
    """
    with gzip.open(_DATA / "breast_cancer.csv.gz", "rt") as f:
        raw = np.loadtxt(f, delimiter=",", skiprows=1)
    # scikit-learn's copy codes benign as 1; here the class of interest, malignant, is 1
    X, y = raw[:, :-1], 1.0 - raw[:, -1]
    order = np.random.default_rng(seed).permutation(len(y))
    X, y = X[order], y[order]
    n_val = int(round(len(y) * val_fraction))
    mean, std = X[n_val:].mean(axis=0), X[n_val:].std(axis=0)
    X = (X - mean) / std
    return BinaryData(X[n_val:], y[n_val:], X[:n_val], y[:n_val])


def _bce_with_logits(z, y):
    # log(1 + e^z) - y z, computed without overflow
    return np.mean(np.logaddexp(0.0, z) - y * z)


def _sigmoid(z):
    return np.exp(-np.logaddexp(0.0, -z))


@functools.lru_cache(maxsize=8192)
def _batch_indices(n: int, batch_size: int, seed: int, t: int) -> np.ndarray:
    idx = np.random.default_rng((seed, t)).choice(n, batch_size, replace=False)
    idx.flags.writeable = False
    return idx


def minibatch(X, y, batch_size, seed, t):
    """The examples of update ``t``: all of them (``batch_size`` None), else ``batch_size`` drawn without
    replacement by a generator seeded with (seed, t), so a run is the same in any order and on any machine.
    Runs at several LRs draw the same batches: the draws are kept (seeding a generator costs more than
    a small model's gradient)."""
    if batch_size is None:
        return X, y
    if not 1 <= int(batch_size) <= len(y):
        raise ValueError(f"batch_size must be between 1 and the number of training examples, {len(y)} "
                         f"(a minibatch is drawn without replacement), got {batch_size}")
    idx = _batch_indices(len(y), int(batch_size), int(seed), int(t))
    return X[idx], y[idx]


class _Classifier(Problem):
    """What the two classifiers share: minibatches, validation loss and accuracy.

    Subclasses define ``logits(x, X)``, ``loss(x, X=None, y=None)`` and ``grad``.
    """

    def _batch(self, t):
        return minibatch(self.data.X_train, self.data.y_train, self.batch_size, self.seed, t)

    def val_loss(self, x):
        return self.loss(x, self.data.X_val, self.data.y_val)

    def accuracy(self, x, split="val"):
        X, y = (self.data.X_val, self.data.y_val) if split == "val" else (self.data.X_train, self.data.y_train)
        return float(np.mean((self.logits(np.asarray(x), X) > 0) == (y > 0.5)))


class LogisticRegression(_Classifier):
    r"""Binary logistic regression, x = [w, b]; loss = mean BCE + l2/2 |w|^2.

    grad = X^T (sigmoid(Xw + b) - y) / n (+ l2 w), and the mean residual for b.
    With ``batch_size``, update t uses a minibatch drawn with seed (seed, t).

    Args:
        data: a ``BinaryData`` (default ``make_binary_data(seed=seed)``).
        l2: the L2 coefficient on w.
        batch_size: minibatch size (None: the full training set, deterministic).
        seed: the data's seed and, with t, each minibatch's.

    Example:
        >>> task = LogisticRegression()
        >>> round(task.loss(task.x0), 4), task.accuracy(task.x0 + 1.0) > 0   # log 2 at w = 0
        (0.6931, True)
    """

    def __init__(self, data: BinaryData | None = None, l2=0.0, batch_size=None, seed=0):
        self.data = make_binary_data(seed=seed) if data is None else data
        self.l2, self.batch_size, self.seed = float(l2), batch_size, int(seed)
        self.stochastic = batch_size is not None
        self.x0 = np.zeros(self.data.X_train.shape[1] + 1)
        self.name = "logistic regression"

    def logits(self, x, X):
        return X @ x[:-1] + x[-1]

    def loss(self, x, X=None, y=None):
        X = self.data.X_train if X is None else X
        y = self.data.y_train if y is None else y
        x = np.asarray(x, dtype=np.float64)
        return float(_bce_with_logits(self.logits(x, X), y) + 0.5 * self.l2 * x[:-1] @ x[:-1])

    def grad(self, x, t=0):
        x = np.asarray(x)
        X, y = self._batch(t)
        X, y = X.astype(x.dtype, copy=False), y.astype(x.dtype, copy=False)
        w, b = x[:-1], x[-1]
        r = (_sigmoid(X @ w + b) - y) / len(y)
        return np.concatenate([X.T @ r + self.l2 * w, [r.sum()]]).astype(x.dtype)


class MLPClassifier(_Classifier):
    r"""A one-hidden-layer tanh MLP for binary classification, with a hand-written backward pass.

    All weights live in one flat vector x = [W1, b1, w2, b2] so any optimizer of the course
    can train it.  Forward: h = tanh(X W1 + b1), z = h w2 + b2, loss = mean BCE(z, y).
    Backward: dz = (sigmoid(z) - y) / n; dw2 = h^T dz; db2 = sum dz;
    dh = dz w2^T; da = dh (1 - h^2); dW1 = X^T da; db1 = sum da.

    Args:
        data: a ``BinaryData`` (default: ``make_binary_data(nonlinear=True, seed=seed)``).
        hidden: the width of the hidden layer.
        batch_size, seed, l2: as for LogisticRegression (l2 on every weight).

    Example:
        >>> net = MLPClassifier(hidden=4)
        >>> net.dim, [w.shape for w in net.unflatten(net.x0)]
        (49, [(10, 4), (4,), (4,), ()])
    """

    def __init__(self, data: BinaryData | None = None, hidden=16, batch_size=None, seed=0, l2=0.0):
        self.data = make_binary_data(nonlinear=True, seed=seed) if data is None else data
        self.hidden, self.batch_size, self.seed, self.l2 = int(hidden), batch_size, int(seed), float(l2)
        self.stochastic = batch_size is not None
        d = self.data.X_train.shape[1]
        self.shapes = [(d, self.hidden), (self.hidden,), (self.hidden,), ()]
        rng = np.random.default_rng((seed, 1))
        W1 = rng.standard_normal((d, self.hidden)) / math.sqrt(d)
        w2 = rng.standard_normal(self.hidden) / math.sqrt(self.hidden)
        self.x0 = np.concatenate([W1.ravel(), np.zeros(self.hidden), w2, [0.0]])
        self.name = "MLP classifier"

    def unflatten(self, x):
        x = np.asarray(x)
        out, i = [], 0
        for shape in self.shapes:
            n = math.prod(shape)
            out.append(x[i:i + n].reshape(shape))
            i += n
        return out

    def logits(self, x, X):
        W1, b1, w2, b2 = self.unflatten(x)
        return np.tanh(X @ W1 + b1) @ w2 + b2

    def loss(self, x, X=None, y=None):
        X = self.data.X_train if X is None else X
        y = self.data.y_train if y is None else y
        x = np.asarray(x, dtype=np.float64)
        return float(_bce_with_logits(self.logits(x, X), y) + 0.5 * self.l2 * x @ x)

    def grad(self, x, t=0):
        x = np.asarray(x)
        X, y = self._batch(t)
        X, y = X.astype(x.dtype, copy=False), y.astype(x.dtype, copy=False)
        W1, b1, w2, b2 = self.unflatten(x)
        h = np.tanh(X @ W1 + b1)
        z = h @ w2 + b2
        dz = (_sigmoid(z) - y) / len(y)
        da = np.outer(dz, w2) * (1 - h * h)
        g = np.concatenate([(X.T @ da).ravel(), da.sum(0), h.T @ dz, [dz.sum()]])
        return (g + self.l2 * x).astype(x.dtype)


class ResidualMLP(_Classifier):
    r"""A deep residual ReLU network without normalisation, for binary classification (lessons 06, 07, 16).

    Forward: h_0 = X W_0 + b_0; for each of ``depth`` blocks l = 1..L,
    a_l = h_{l-1} U_l + c_l, r_l = relu(a_l), h_l = h_{l-1} + r_l V_l + e_l; z = h_L w + b,
    loss = mean BCE(z, y).  Backward (hand-written): dz = (sigmoid(z) - y) / n; dw = h_L^T dz;
    dh_L = dz w^T; per block, from the last: dV_l = r_l^T dh_l, dr_l = dh_l V_l^T,
    da_l = dr_l [a_l > 0], dU_l = h_{l-1}^T da_l, dh_{l-1} = dh_l + da_l U_l^T; dW_0 = X^T dh_0.

    Every branch starts as a standard layer would (U_l ~ N(0, 2/width), He et al. 2015; V_l ~
    N(0, 1/width)), so each block adds about as much variance as h already has: the activations
    grow with depth, as in residual networks without normalisation (Zhang et al. 2019, Fixup,
    https://arxiv.org/abs/1901.09321), and so does the curvature of the loss at the start.
    That is what makes warm-up necessary on it (lesson 06).

    ``grad_rows(P, X, y)`` is the same backward pass for many weight vectors at once (one per
    row of P), each on its own minibatch: how lessons 06 and 16 train many runs as one array.

    Args:
        data: a ``BinaryData`` (default ``make_binary_data(n=2000, nonlinear=True, seed=seed)``).
        depth: the number of residual blocks; width: the width of h.
        batch_size, seed: as for LogisticRegression (seed also draws the initial weights).

    Example:
        >>> net = ResidualMLP(depth=2, width=4)
        >>> net.dim, [w.shape for w in net.unflatten(net.x0)][:6]
        (129, [(10, 4), (4,), (4, 4), (4,), (4, 4), (4,)])
    """

    def __init__(self, data: BinaryData | None = None, depth=6, width=16, batch_size=None, seed=0):
        self.data = make_binary_data(n=2000, nonlinear=True, seed=seed) if data is None else data
        self.depth, self.width, self.batch_size, self.seed = int(depth), int(width), batch_size, int(seed)
        if self.depth < 0 or self.width < 1:
            raise ValueError(f"depth must be >= 0 and width >= 1, got depth={depth}, width={width}")
        self.stochastic = batch_size is not None
        d, w = self.data.X_train.shape[1], self.width
        self.shapes = [(d, w), (w,)] + [(w, w), (w,), (w, w), (w,)] * self.depth + [(w,), ()]
        rng = np.random.default_rng((seed, 1))
        parts = [rng.standard_normal((d, w)) / math.sqrt(d), np.zeros(w)]
        for _ in range(self.depth):
            parts += [rng.standard_normal((w, w)) * math.sqrt(2 / w), np.zeros(w),
                      rng.standard_normal((w, w)) / math.sqrt(w), np.zeros(w)]
        parts += [rng.standard_normal(w) / math.sqrt(w), np.zeros(())]
        self.x0 = np.concatenate([p.ravel() for p in parts])
        self.name = f"residual MLP ({self.depth} blocks)"

    def unflatten(self, x):
        """The weight arrays of x (leading axes, e.g. one per row, are kept)."""
        x = np.asarray(x)
        out, i = [], 0
        for shape in self.shapes:
            n = math.prod(shape)
            out.append(x[..., i:i + n].reshape(x.shape[:-1] + shape))
            i += n
        return out

    def _forward(self, P, X):
        # P: (rows, dim); X: (rows, n, d) -> logits (rows, n) and what the backward pass needs
        ws = self.unflatten(P)
        h = X @ ws[0] + ws[1][:, None]
        cache = []
        for U, c, V, e in zip(*[iter(ws[2:-2])] * 4):
            a = h @ U + c[:, None]
            r = np.maximum(a, 0.0)
            cache.append((h, a, r))
            h = h + r @ V + e[:, None]
        return np.einsum("rnw,rw->rn", h, ws[-2]) + ws[-1][:, None], h, ws, cache

    def logits(self, x, X):
        return self._forward(np.asarray(x)[None], np.asarray(X)[None])[0][0]

    def loss(self, x, X=None, y=None):
        X = self.data.X_train if X is None else X
        y = self.data.y_train if y is None else y
        with np.errstate(over="ignore", invalid="ignore"):
            return float(_bce_with_logits(self.logits(np.asarray(x, dtype=np.float64), X), y))

    def grad_rows(self, P, X, y, return_loss=False):
        """The gradient of each row's mean BCE: P (rows, dim); X (rows, n, d) or (n, d); y likewise.

        With ``return_loss``, also each row's loss (rows,), from the same forward pass."""
        P = np.asarray(P)
        X = np.broadcast_to(np.asarray(X, dtype=P.dtype), (P.shape[0],) + np.shape(X)[-2:])
        y = np.broadcast_to(np.asarray(y, dtype=P.dtype), (P.shape[0], X.shape[1]))
        z, h, ws, cache = self._forward(P, X)
        dz = (_sigmoid(z) - y) / y.shape[1]
        grads = [dz.sum(1), np.einsum("rnw,rn->rw", h, dz)]   # built from the end: b, w, then block L ...
        dh = dz[..., None] * ws[-2][:, None, :]
        for (U, _, V, _), (h_prev, a, r) in zip(reversed(list(zip(*[iter(ws[2:-2])] * 4))), reversed(cache)):
            da = (dh @ V.transpose(0, 2, 1)) * (a > 0)
            grads += [dh.sum(1), r.transpose(0, 2, 1) @ dh, da.sum(1), h_prev.transpose(0, 2, 1) @ da]
            dh = dh + da @ U.transpose(0, 2, 1)
        grads += [dh.sum(1), X.transpose(0, 2, 1) @ dh]
        G = np.concatenate([g.reshape(P.shape[0], -1) for g in reversed(grads)], axis=1)
        return (G, np.mean(np.logaddexp(0.0, z) - y * z, axis=1)) if return_loss else G

    def grad(self, x, t=0):
        x = np.asarray(x)
        X, y = self._batch(t)
        return self.grad_rows(x[None], X, y)[0].astype(x.dtype)


def train_rows(opt, nets, lrs, steps, schedule=None):
    """Train one run per (net, base LR) pair, all as rows of one array (the grid trick of lesson 16).

    Every optimizer of the course takes steps p - lr * u with u and the new state independent of
    lr, so one ``opt.step(P, G, state, lr=1.0)`` gives p - u for every row, and each row then moves
    by its own LR.  ``nets`` are problems with ``grad_rows`` and a ``batch_size`` (typically one
    per seed: its data, initial weights and minibatches); ``schedule`` is a function of the update
    t giving the LR as a multiple of the base LR (e.g. ``schedules.LinearLR(1.0, ...)``), or None.

    Returns ``(P, losses)``: the final weights, shape (nets, LRs, dim), and the minibatch loss
    before each update, shape (steps, nets, LRs); a run that overflowed has loss inf from then on.

    >>> nets = [ResidualMLP(depth=2, width=4, batch_size=8, seed=s) for s in (0, 1)]
    >>> from lrcourse.optimizers import SGD
    >>> P, losses = train_rows(SGD(), nets, [0.01, 0.1], steps=3)
    >>> P.shape, losses.shape
    ((2, 2, 129), (3, 2, 2))
    """
    lrs = np.asarray(lrs, dtype=np.float64)
    if lrs.ndim != 1 or not lrs.size or not np.all(np.isfinite(lrs) & (lrs >= 0)):
        raise ValueError(f"lrs must be a non-empty list of LRs >= 0, got {lrs.tolist()}")
    if not nets or not all(hasattr(net, "grad_rows") and getattr(net, "batch_size", None) for net in nets):
        raise ValueError("nets must be problems with grad_rows and a batch_size, e.g. "
                         "[ResidualMLP(batch_size=128, seed=s) for s in range(5)]")
    if schedule is not None and (not callable(schedule) or getattr(schedule, "kind", None) == "plateau"):
        raise TypeError(f"schedule must be a function of t (a closed-form schedule such as LinearLR(1.0, ...)), "
                        f"got {schedule!r}; ReduceLROnPlateau reacts to each run and cannot be shared by the rows")
    S, L = len(nets), len(lrs)
    P = np.repeat(np.stack([net.x0 for net in nets]), L, axis=0)
    state = opt.init(P)
    lr_rows = np.tile(lrs, S)[:, None]
    losses = np.empty((steps, S * L))
    with np.errstate(all="ignore"):
        for t in range(steps):
            batches = [net._batch(t) for net in nets]
            X = np.repeat(np.stack([b[0] for b in batches]), L, axis=0)
            y = np.repeat(np.stack([b[1] for b in batches]), L, axis=0)
            G, losses[t] = nets[0].grad_rows(P, X, y, return_loss=True)
            factor = 1.0 if schedule is None else float(schedule(t))
            P1, state = opt.step(P, G, state, lr=1.0)
            P = P + factor * lr_rows * (P1 - P)
    losses[np.logical_or.accumulate(~np.isfinite(losses), axis=0)] = np.inf
    return P.reshape(S, L, -1), losses.reshape(steps, S, L)


PROBLEMS = {
    "ill-conditioned quadratic": IllConditionedQuadratic,
    "Rosenbrock": Rosenbrock,
    "noisy quadratic": NoisyQuadratic,
    "saddle": Saddle,
    "logistic regression": LogisticRegression,
    "MLP classifier": MLPClassifier,
    "residual MLP": ResidualMLP,
}


def make_problem(name: str, **kwargs) -> Problem:
    """Build a problem by its display name, e.g. ``make_problem("noisy quadratic", noise=0.5)``."""
    try:
        return PROBLEMS[name](**kwargs)
    except KeyError:
        raise ValueError(f"unknown problem {name!r}; choose one of {sorted(PROBLEMS)}") from None


# --------------------------------------------------------------------------- contour grids
def plot_window(problem: Problem, spread=0.75, pad=0.5):
    """(xmin, xmax, ymin, ymax): a square around the start x0 and the minimizer x_star (2-D)."""
    x0 = np.asarray(problem.x0, dtype=np.float64)
    if x0.size != 2:
        raise NotImplementedError(f"{problem.name} is not a 2-D problem")
    star = np.asarray(getattr(problem, "x_star", x0), dtype=np.float64)
    center = (x0 + star) / 2
    half = float(np.max(np.abs(x0 - star))) * spread + pad
    return center[0] - half, center[0] + half, center[1] - half, center[1] + half


def contour_grid(problem: Problem, n=121, window=None):
    """(X, Y, Z) for a contour plot of a 2-D problem: an n x n mesh over ``plot_window``."""
    xmin, xmax, ymin, ymax = plot_window(problem) if window is None else window
    X, Y = np.meshgrid(np.linspace(xmin, xmax, n), np.linspace(ymin, ymax, n))
    return X, Y, problem.grid_loss(X, Y)


def contour_levels(Z, n=14):
    """Contour levels crowded towards the minimum (quantiles of Z at squared spacings)."""
    Z = np.asarray(Z, dtype=np.float64)
    levels = np.unique(np.quantile(Z[np.isfinite(Z)], np.linspace(0.0, 1.0, n + 2)[1:-1] ** 2))
    return levels if levels.size else np.array([0.0])
