"""Optimizers from scratch in NumPy, in course order, matching ``torch.optim`` (2.13).

Every optimizer is an immutable (frozen) dataclass whose fields are exactly the
hyperparameters of the torch class of the same name, with the same defaults, so
its torch twin is one line::

    torch_opt = getattr(torch.optim, type(opt).__name__)([p], **opt.hyperparameters())

The update is pure::

    state = opt.init(params)
    params, state = opt.step(params, grad, state, lr=None)   # new arrays out

``state`` is a NamedTuple whose fields carry torch's per-parameter state names
(``step``, ``exp_avg``, ``exp_avg_sq``, ...), so it can be compared with
``torch_opt.state[p]`` field by field.  ``lr=`` overrides the learning rate for
that one step; that is how a schedule drives an optimizer.

Each ``step`` is the reference a lesson's LaTeX reads against, line by line, in its symbols.
What else a method knows lives on its class: ``effective_lr(state)`` (the per-coordinate
step size), ``example_lr`` (an LR that converges on the course's 2-D problems, for the panels)
and ``variants`` (the option sets that the tests and ``python -m lrcourse verify`` check
against torch).  ``lrcourse.fast`` holds a faster Adam step for large arrays, bit-for-bit equal.

Sparse gradients (lesson 18): a gradient that touches only some rows of a parameter of shape
(rows, ...), such as an embedding table's, is a ``SparseGrad(indices, values)``: the row of
each entry and its values, duplicates allowed (summed, as torch's ``coalesce`` sums them), the
NumPy form of the sparse COO tensor that ``nn.Embedding(sparse=True)`` gives as its gradient.
``SparseAdam`` takes only these; ``Adagrad`` and ``SGD`` take either kind, as in torch.

float32 stays float32: hyperparameters are stored as Python floats, and every
scalar such as a bias correction is computed as a Python float, because NumPy 2
would upcast a float32 array multiplied by an ``np.float64`` scalar.
"""
from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import numpy as np

__all__ = [
    "Optimizer", "SGD", "Adagrad", "RMSprop", "Adadelta", "Adam", "AdamW", "NAdam", "SparseAdam",
    "SGDState", "AdagradState", "RMSpropState", "AdadeltaState", "AdamState", "NAdamState", "SparseAdamState",
    "SparseGrad", "OPTIMIZERS", "SPARSE_OPTIMIZERS",
]


# --------------------------------------------------------------------------- checks
def _check_nonneg(name: str, value: float, label: str | None = None) -> None:
    # `not value >= 0` also rejects NaN, which a plain `value < 0` lets through.
    if not value >= 0.0:
        raise ValueError(f"Invalid {label or name} value: {value}")


def _check_betas(betas) -> None:
    for index, value in enumerate(betas):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"Invalid beta parameter at index {index}: {value}")


def _no_sparse_weight_decay(opt) -> None:
    # torch adds weight_decay * p to the gradient, which would make every row's gradient nonzero.
    if opt.weight_decay != 0:
        raise ValueError(
            f"weight_decay option is not compatible with sparse gradients (torch's {type(opt).__name__} raises "
            f"the same): weight_decay={opt.weight_decay} would give every row a gradient; use weight_decay=0"
        )


def _as_float(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {value!r} of type {type(value).__name__}")
    return float(value)


def _as_pair(name: str, value) -> tuple:
    try:
        a, b = value
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair of numbers, e.g. (0.9, 0.999), got {value!r}") from None
    return _as_float(f"{name}[0]", a), _as_float(f"{name}[1]", b)


def _ema(avg, x, beta: float):
    """beta * avg + (1 - beta) * x, evaluated from the nearer end as torch's ``lerp`` does.

    The same number up to rounding, but the form decides how infinities spread: once an
    infinite gradient has made avg = inf, avg + w * (x - avg) is inf - inf = NaN at the next
    step in torch, and the plain beta * avg + (1 - beta) * x would stay inf.
    """
    w = 1 - beta
    return avg + w * (x - avg) if w < 0.5 else x - (x - avg) * (1 - w)


class SparseGrad(NamedTuple):
    """A row-sparse gradient of a parameter of shape (rows, ...): ``values[k]`` is the gradient of
    row ``indices[k]``; rows not listed have gradient 0; a row listed twice gets the sum.

    torch's form is a sparse COO tensor with ``sparse_dim=1``: ``indices`` is its
    ``_indices()[0]`` and ``values`` its ``_values()`` (``nn.Embedding(sparse=True)`` lists a
    row once per lookup, unsorted, duplicates included).

    Example:
        >>> import numpy as np
        >>> g = SparseGrad(np.array([3, 0, 3]), np.array([[1.0, 2.0], [5.0, 5.0], [0.5, 0.5]]))
        >>> c = g.coalesce()
        >>> c.indices.tolist(), c.values.tolist()         # sorted rows, duplicates summed
        ([0, 3], [[5.0, 5.0], [1.5, 2.5]])
        >>> g.to_dense((4, 2))[3].tolist()
        [1.5, 2.5]
    """

    indices: np.ndarray  # (nnz,) integers: the row of each entry
    values: np.ndarray   # (nnz, *params.shape[1:]): its values

    def __neg__(self) -> SparseGrad:  # the gradient of -f (problems.Negated)
        return SparseGrad(self.indices, -np.asarray(self.values))

    def coalesce(self) -> SparseGrad:
        """Each row once, in increasing order, with the sum of its entries (torch's ``coalesce``)."""
        idx, vals = np.asarray(self.indices), np.asarray(self.values)
        rows, inverse = np.unique(idx, return_inverse=True)
        out = np.zeros((rows.size,) + vals.shape[1:], dtype=vals.dtype)
        # one entry at a time, in the order they came; torch sorts the entries first, so with more than
        # a few duplicates its order of additions, and so the last bit of a sum, can differ
        np.add.at(out, inverse.reshape(-1), vals)
        return SparseGrad(rows.astype(np.int64), out)

    def to_dense(self, shape) -> np.ndarray:
        """The dense gradient of a parameter of ``shape``: zeros except the rows listed."""
        c = self.coalesce()
        out = np.zeros(shape, dtype=np.asarray(self.values).dtype)
        out[c.indices] = c.values
        return out


class Optimizer:
    """Base class: field coercion, array checks, the ``lr=`` override and torch's state.

    Subclasses are frozen dataclasses that define ``init``, ``step`` and ``effective_lr``,
    and the class attributes ``example_lr`` and ``variants``.
    """

    kind = "optimizer"
    example_lr: float = None  # an LR that converges on the course's 2-D problems (panels, examples)
    variants: tuple = ()      # option sets checked against torch by the tests and `verify`
    sparse_variants: tuple = ()  # the same, with SparseGrad gradients (the classes that take them)

    def __post_init__(self) -> None:
        # Store numbers as Python floats (see the module docstring) and pairs as tuples of floats.
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.type in ("float", float):
                object.__setattr__(self, f.name, _as_float(f.name, value))
            elif f.type in ("bool", bool):
                if not isinstance(value, (bool, np.bool_)):
                    raise TypeError(f"{f.name} must be True or False, got {value!r}")
                object.__setattr__(self, f.name, bool(value))
            elif f.type in ("tuple", tuple):
                object.__setattr__(self, f.name, _as_pair(f.name, value))
        self._validate()

    def _validate(self) -> None:
        _check_nonneg("lr", self.lr, "learning rate")
        if hasattr(self, "eps"):
            _check_nonneg("eps", self.eps, "epsilon")
        _check_nonneg("weight_decay", self.weight_decay)

    def hyperparameters(self) -> dict:
        """The fields as keyword arguments for the torch class of the same name."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}

    @classmethod
    def example(cls):
        """An instance that converges on the course's 2-D problems (the panels' default)."""
        return cls() if cls.example_lr is None else cls(lr=cls.example_lr)

    def state_from(self, values: dict, params):
        """This optimizer's state for ``params`` with the fields found in ``values`` (e.g. torch's
        ``optimizer.state[p]`` as NumPy arrays); missing fields are as ``init`` makes them.

        A field that ``init`` makes a Python int or float (``step``, ``mu_product``) becomes one.
        """
        template = self.init(params)
        out = {}
        for name, start in zip(template._fields, template):
            v = values.get(name, start)
            scalar = type(start) if type(start) in (int, float) else None
            out[name] = scalar(np.asarray(v).item()) if v is not None and scalar else v
        return type(template)(**out)

    # -- helpers shared by every step ------------------------------------------------
    def _lr(self, lr) -> float:
        if lr is None:
            return self.lr
        lr = _as_float("lr", lr)
        _check_nonneg("lr", lr, "learning rate")
        return lr

    @staticmethod
    def _params(params) -> np.ndarray:
        p = np.asarray(params)
        if p.dtype not in (np.float32, np.float64):
            raise TypeError(
                f"params must be a float32 or float64 array, got dtype {p.dtype}; "
                f"convert with np.asarray(params, dtype=np.float64)"
            )
        return p

    @classmethod
    def _arrays(cls, params, grad, state):
        p = cls._params(params)
        if isinstance(grad, SparseGrad):
            raise TypeError(
                f"{cls.__name__} takes dense gradients (torch's {cls.__name__} raises on sparse ones too): "
                f"use SparseAdam, Adagrad or SGD for a SparseGrad, or pass grad.to_dense(params.shape)"
            )
        g = np.asarray(grad)
        if g.shape != p.shape:
            raise ValueError(f"grad has shape {g.shape} but params have shape {p.shape}")
        if g.dtype != p.dtype:
            raise TypeError(f"grad has dtype {g.dtype} but params have dtype {p.dtype}; they must match")
        cls._check_state(p, state)
        return p, g

    @staticmethod
    def _check_state(p: np.ndarray, state) -> None:
        for name, value in zip(state._fields, state):
            if isinstance(value, np.ndarray) and (value.shape != p.shape or value.dtype != p.dtype):
                raise ValueError(
                    f"state.{name} has shape {value.shape} and dtype {value.dtype} but params have "
                    f"shape {p.shape} and dtype {p.dtype}: was the state made by init() for these params?"
                )

    def _sparse_arrays(self, params, grad: SparseGrad, state):
        """params, and the gradient coalesced (rows sorted, duplicates summed) and negated if maximize."""
        p = self._params(params)
        if p.ndim == 0:
            raise ValueError("a SparseGrad lists rows: params must have at least one dimension, got a scalar")
        idx, vals = np.asarray(grad.indices), np.asarray(grad.values)
        if idx.ndim != 1 or (idx.size and idx.dtype.kind not in "iu"):
            raise TypeError(f"SparseGrad.indices must be a 1-D array of row numbers (integers), "
                            f"got shape {idx.shape} and dtype {idx.dtype}")
        if vals.shape != idx.shape + p.shape[1:]:
            raise ValueError(f"SparseGrad.values has shape {vals.shape} but {idx.size} indices into params of "
                             f"shape {p.shape} need values of shape {idx.shape + p.shape[1:]} (one row each)")
        if vals.dtype != p.dtype:
            raise TypeError(f"SparseGrad.values has dtype {vals.dtype} but params have dtype {p.dtype}; "
                            f"they must match")
        if idx.size and not (0 <= idx.min() and idx.max() < p.shape[0]):
            bad = idx[(idx < 0) | (idx >= p.shape[0])][0]
            raise ValueError(f"SparseGrad.indices has row {bad}, out of range for params with {p.shape[0]} rows")
        self._check_state(p, state)
        g = SparseGrad(idx, -vals if self.maximize else vals).coalesce()
        return p, g.indices, g.values

    def _grad(self, p: np.ndarray, g: np.ndarray, l2: bool = True) -> np.ndarray:
        """The gradient the update sees: negated to maximize, plus the L2 term wd * p (if l2)."""
        if self.maximize:
            g = -g
        if l2 and self.weight_decay != 0:
            g = g + self.weight_decay * p
        return g


# --------------------------------------------------------------------------- SGD
class SGDState(NamedTuple):
    momentum_buffer: np.ndarray | None  # None until the first step, or when momentum == 0


@dataclasses.dataclass(frozen=True)
class SGD(Optimizer):
    r"""Stochastic gradient descent with optional (Nesterov) momentum, torch's form.

    Update rule, in this code's symbols (``mu`` = momentum, ``tau`` = dampening)::

        g  = -grad if maximize else grad
        g  = g + weight_decay * p                      # L2 penalty in the gradient
        b  = g                         on the first step   (torch: no dampening then)
        b  = mu * b + (1 - tau) * g    afterwards
        d  = g + mu * b  if nesterov else b
        p  = p - lr * d

    Where torch differs from the textbook: the buffer holds the *velocity without the
    learning rate* (Sutskever et al. write v = mu v - lr g, p = p + v), so a learning-rate
    change takes effect at once instead of through the buffer; the first buffer is g itself.

    Args (torch's names and defaults):
        lr: the step size (default 1e-3).
        momentum: mu, the weight of the previous buffer (0: plain gradient descent).
        dampening: tau, scales the gradient's share of the buffer to 1 - tau (not on step 1).
        weight_decay: coefficient of the L2 penalty added to the gradient.
        nesterov: step along g + mu * b instead of b (needs momentum > 0, dampening 0).
        maximize: ascend instead of descend.

    Example:
        >>> import numpy as np
        >>> opt = SGD(lr=0.1, momentum=0.9)
        >>> p = np.array([1.0, -1.0]); state = opt.init(p)
        >>> for _ in range(2):
        ...     p, state = opt.step(p, np.array([1.0, 2.0]), state)
        >>> p.round(6).tolist(), state.momentum_buffer.round(6).tolist()   # b = g, then 0.9 g + g
        ([0.71, -1.58], [1.9, 3.8])

    References:
        torch.optim.SGD: https://pytorch.org/docs/stable/generated/torch.optim.SGD.html
        Sutskever et al., 2013, On the importance of initialization and momentum in deep
        learning: https://proceedings.mlr.press/v28/sutskever13.html
    """

    lr: float = 1e-3
    momentum: float = 0.0
    dampening: float = 0.0
    weight_decay: float = 0.0
    nesterov: bool = False
    maximize: bool = False

    example_lr = 1e-3
    variants = (
        dict(lr=0.05), dict(lr=0.05, momentum=0.9), dict(lr=0.05, momentum=0.9, dampening=0.3),
        dict(lr=0.05, momentum=0.9, nesterov=True), dict(lr=0.05, weight_decay=0.1), dict(lr=0.05, maximize=True),
        dict(lr=0.03, momentum=0.8, nesterov=True, weight_decay=0.05, maximize=True),
    )
    sparse_variants = (  # torch refuses weight_decay with a sparse gradient
        dict(lr=0.05), dict(lr=0.05, momentum=0.9), dict(lr=0.05, momentum=0.9, dampening=0.3),
        dict(lr=0.05, momentum=0.9, nesterov=True), dict(lr=0.05, maximize=True),
        dict(lr=0.03, momentum=0.8, nesterov=True, maximize=True),
    )

    def _validate(self) -> None:
        _check_nonneg("lr", self.lr, "learning rate")
        _check_nonneg("momentum", self.momentum)
        _check_nonneg("weight_decay", self.weight_decay)
        if not math.isfinite(self.dampening):
            raise ValueError(f"Invalid dampening value: {self.dampening}")
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError(
                "Nesterov momentum requires a momentum and zero dampening "
                f"(got momentum={self.momentum}, dampening={self.dampening})"
            )

    def init(self, params) -> SGDState:
        self._params(params)
        return SGDState(momentum_buffer=None)

    def step(self, params, grad, state: SGDState, lr=None):
        if isinstance(grad, SparseGrad):
            return self._sparse_step(params, grad, state, lr)
        p, g = self._arrays(params, grad, state)
        lr = self._lr(lr)
        mu = self.momentum
        g = self._grad(p, g)
        b = state.momentum_buffer
        if mu != 0:
            b = g.copy() if b is None else mu * b + (1 - self.dampening) * g
            g = g + mu * b if self.nesterov else b
        return p - lr * g, SGDState(momentum_buffer=b)

    def _sparse_step(self, params, grad: SparseGrad, state: SGDState, lr=None):
        """A SparseGrad: without momentum only its rows move; with momentum the buffer decays on
        every row, as torch's sparse buffer does (its stored entries are all scaled by mu), so the
        step is the dense one of grad.to_dense()."""
        _no_sparse_weight_decay(self)
        p, rows, g = self._sparse_arrays(params, grad, state)
        if self.momentum != 0:
            dense = np.zeros_like(p)
            dense[rows] = -g if self.maximize else g  # step() negates it again
            return self.step(p, dense, state, lr)
        p = p.copy()
        p[rows] = p[rows] - self._lr(lr) * g
        return p, state

    def effective_lr(self, state: SGDState, lr=None) -> np.ndarray:
        """lr for every coordinate (a scalar until the momentum buffer gives the shape)."""
        lr = self.lr if lr is None else float(lr)
        return np.full(np.shape(state.momentum_buffer) if state.momentum_buffer is not None else (), lr)


# --------------------------------------------------------------------------- Adagrad
class AdagradState(NamedTuple):
    step: int
    sum: np.ndarray


@dataclasses.dataclass(frozen=True)
class Adagrad(Optimizer):
    r"""Adagrad: a per-coordinate LR from the running sum of squared gradients.

    Update rule::

        t   = t + 1
        g   = -grad if maximize else grad
        g   = g + weight_decay * p
        clr = lr / (1 + (t - 1) * lr_decay)
        sum = sum + g * g                      # starts at initial_accumulator_value
        p   = p - clr * g / (sqrt(sum) + eps)  # eps outside the square root

    The effective LR of coordinate i, clr / (sqrt(sum_i) + eps), can only shrink.

    Args (torch's names and defaults):
        lr: the step size (default 1e-2).
        lr_decay: the decay of clr with the step count.
        weight_decay: coefficient of the L2 penalty added to the gradient.
        initial_accumulator_value: the value every entry of ``sum`` starts at.
        eps: added to sqrt(sum), so a coordinate with no gradient yet does not divide by 0.
        maximize: ascend instead of descend.

    Example:
        >>> import numpy as np
        >>> opt = Adagrad(lr=0.5)
        >>> p = np.array([0.0, 0.0]); state = opt.init(p)
        >>> p, state = opt.step(p, np.array([4.0, 0.01]), state)
        >>> p.round(6).tolist()            # the first step is lr * sign(g), whatever |g| is
        [-0.5, -0.5]

    References:
        torch.optim.Adagrad: https://pytorch.org/docs/stable/generated/torch.optim.Adagrad.html
        Duchi, Hazan & Singer, 2011, Adaptive Subgradient Methods:
        https://jmlr.org/papers/v12/duchi11a.html
    """

    lr: float = 1e-2
    lr_decay: float = 0.0
    weight_decay: float = 0.0
    initial_accumulator_value: float = 0.0
    eps: float = 1e-10
    maximize: bool = False

    example_lr = 0.5
    variants = (
        dict(lr=0.2), dict(lr=0.2, lr_decay=0.01), dict(lr=0.2, initial_accumulator_value=0.5),
        dict(lr=0.2, weight_decay=0.05), dict(lr=0.2, eps=1e-3), dict(lr=0.2, maximize=True),
        dict(lr=0.2, lr_decay=0.02, initial_accumulator_value=0.1, weight_decay=0.1, eps=1e-4, maximize=True),
    )
    sparse_variants = (  # torch refuses weight_decay with a sparse gradient
        dict(lr=0.2), dict(lr=0.2, lr_decay=0.01), dict(lr=0.2, initial_accumulator_value=0.5),
        dict(lr=0.2, eps=1e-3), dict(lr=0.2, maximize=True),
        dict(lr=0.2, lr_decay=0.02, initial_accumulator_value=0.1, eps=1e-4, maximize=True),
    )

    def _validate(self) -> None:
        super()._validate()
        _check_nonneg("lr_decay", self.lr_decay)
        _check_nonneg("initial_accumulator_value", self.initial_accumulator_value)

    def init(self, params) -> AdagradState:
        p = self._params(params)
        return AdagradState(step=0, sum=np.full_like(p, self.initial_accumulator_value))

    def step(self, params, grad, state: AdagradState, lr=None):
        if isinstance(grad, SparseGrad):
            return self._sparse_step(params, grad, state, lr)
        p, g = self._arrays(params, grad, state)
        lr = self._lr(lr)
        t = state.step + 1
        g = self._grad(p, g)
        clr = lr / (1 + (t - 1) * self.lr_decay)
        s = state.sum + g * g
        p = p - clr * (g / (np.sqrt(s) + self.eps))
        return p, AdagradState(step=t, sum=s)

    def _sparse_step(self, params, grad: SparseGrad, state: AdagradState, lr=None):
        """A SparseGrad (rows r, coalesced): the same update on its rows only; other rows keep
        their sum and their value (their g is 0, so the dense update would not move them either)."""
        _no_sparse_weight_decay(self)
        p, rows, g = self._sparse_arrays(params, grad, state)
        lr = self._lr(lr)
        t = state.step + 1
        clr = lr / (1 + (t - 1) * self.lr_decay)
        s, p = state.sum.copy(), p.copy()
        s[rows] = s[rows] + g * g
        p[rows] = p[rows] - clr * (g / (np.sqrt(s[rows]) + self.eps))
        return p, AdagradState(step=t, sum=s)

    def effective_lr(self, state: AdagradState, lr=None) -> np.ndarray:
        """clr / (sqrt(sum) + eps), with the clr of the next update."""
        lr = self.lr if lr is None else float(lr)
        clr = lr / (1 + max(state.step, 0) * self.lr_decay)
        return clr / (np.sqrt(state.sum) + self.eps)


# --------------------------------------------------------------------------- RMSprop
class RMSpropState(NamedTuple):
    step: int
    square_avg: np.ndarray
    momentum_buffer: np.ndarray | None  # present only when momentum > 0
    grad_avg: np.ndarray | None         # present only when centered


@dataclasses.dataclass(frozen=True)
class RMSprop(Optimizer):
    r"""RMSprop: Adagrad's sum replaced by an exponential moving average.

    Update rule (``alpha`` is the decay of the average; its memory is 1 / (1 - alpha))::

        t          = t + 1
        g          = -grad if maximize else grad
        g          = g + weight_decay * p
        square_avg = alpha * square_avg + (1 - alpha) * g * g
        if centered:                                   # subtract the squared mean gradient
            grad_avg = alpha * grad_avg + (1 - alpha) * g   # evaluated as torch's lerp (_ema)
            avg      = sqrt(square_avg - grad_avg * grad_avg) + eps
        else:
            avg      = sqrt(square_avg) + eps          # eps outside the square root
        if momentum > 0:
            b = momentum * b + g / avg                 # b starts at zero, unlike SGD's buffer
            p = p - lr * b
        else:
            p = p - lr * g / avg

    No bias correction: from square_avg = 0 the first step is about lr / sqrt(1 - alpha),
    i.e. 10 * lr for the default alpha = 0.99.

    Args (torch's names and defaults):
        lr: the step size (default 1e-2).
        alpha: decay of the averages (0.99).
        eps: added to the root mean square.
        weight_decay: coefficient of the L2 penalty added to the gradient.
        momentum: weight of the previous buffer b (0: no buffer).
        centered: divide by the standard deviation of g instead of its root mean square.
        maximize: ascend instead of descend.

    Example:
        >>> import numpy as np
        >>> opt = RMSprop(lr=0.01)
        >>> p = np.zeros(2); state = opt.init(p)
        >>> p, state = opt.step(p, np.array([3.0, -0.5]), state)
        >>> (p / opt.lr).round(4).tolist()     # -sign(g) / sqrt(1 - alpha): 10 x lr
        [-10.0, 10.0]

    References:
        torch.optim.RMSprop: https://pytorch.org/docs/stable/generated/torch.optim.RMSprop.html
        Hinton, Srivastava & Swersky, 2012, Neural Networks for Machine Learning, lecture 6e:
        https://www.cs.toronto.edu/~tijmen/csc321/slides/lecture_slides_lec6.pdf
        Graves, 2013 (the centered form): https://arxiv.org/abs/1308.0850
    """

    lr: float = 1e-2
    alpha: float = 0.99
    eps: float = 1e-8
    weight_decay: float = 0.0
    momentum: float = 0.0
    centered: bool = False
    maximize: bool = False

    example_lr = 1e-2
    variants = (
        dict(lr=0.01), dict(lr=0.01, alpha=0.9), dict(lr=0.01, centered=True), dict(lr=0.005, momentum=0.9),
        dict(lr=0.01, weight_decay=0.1), dict(lr=0.01, maximize=True),
        dict(lr=0.02, alpha=0.95, centered=True, momentum=0.5, weight_decay=0.05, eps=1e-6, maximize=True),
    )

    def _validate(self) -> None:
        super()._validate()
        _check_nonneg("momentum", self.momentum)
        _check_nonneg("alpha", self.alpha)

    def init(self, params) -> RMSpropState:
        p = self._params(params)
        return RMSpropState(
            step=0,
            square_avg=np.zeros_like(p),
            momentum_buffer=np.zeros_like(p) if self.momentum > 0 else None,
            grad_avg=np.zeros_like(p) if self.centered else None,
        )

    def step(self, params, grad, state: RMSpropState, lr=None):
        p, g = self._arrays(params, grad, state)
        lr = self._lr(lr)
        alpha = self.alpha
        g = self._grad(p, g)
        square_avg = alpha * state.square_avg + (1 - alpha) * g * g
        grad_avg = state.grad_avg
        if self.centered:
            grad_avg = _ema(grad_avg, g, alpha)  # = alpha * grad_avg + (1 - alpha) * g
            avg = np.sqrt(square_avg - grad_avg * grad_avg) + self.eps
        else:
            avg = np.sqrt(square_avg) + self.eps
        b = state.momentum_buffer
        if self.momentum > 0:
            b = self.momentum * b + g / avg
            p = p - lr * b
        else:
            p = p - lr * (g / avg)
        return p, RMSpropState(step=state.step + 1, square_avg=square_avg, momentum_buffer=b, grad_avg=grad_avg)

    def effective_lr(self, state: RMSpropState, lr=None) -> np.ndarray:
        """lr / (sqrt(square_avg) + eps); centered: of square_avg - grad_avg**2."""
        lr = self.lr if lr is None else float(lr)
        v = state.square_avg - (state.grad_avg**2 if self.centered else 0.0)
        return lr / (np.sqrt(v) + self.eps)


# --------------------------------------------------------------------------- Adadelta
class AdadeltaState(NamedTuple):
    step: int
    square_avg: np.ndarray
    acc_delta: np.ndarray


@dataclasses.dataclass(frozen=True)
class Adadelta(Optimizer):
    r"""Adadelta: RMSprop with the units corrected by a second average, of the steps.

    Update rule::

        t          = t + 1
        g          = -grad if maximize else grad
        g          = g + weight_decay * p
        square_avg = rho * square_avg + (1 - rho) * g * g
        delta      = sqrt(acc_delta + eps) / sqrt(square_avg + eps) * g   # eps inside both roots
        acc_delta  = rho * acc_delta + (1 - rho) * delta * delta          # the unscaled delta
        p          = p - lr * delta

    The paper has no learning rate (lr = 1); torch keeps ``lr`` (default 1.0) as a plain
    multiplier on the step, and accumulates the delta *before* that scaling.

    Args (torch's names and defaults):
        lr: multiplies delta (default 1.0, the paper's method).
        rho: decay of both averages (0.9).
        eps: inside both square roots; sets the size of the first steps.
        weight_decay: coefficient of the L2 penalty added to the gradient.
        maximize: ascend instead of descend.

    Example:
        >>> import numpy as np
        >>> opt = Adadelta()
        >>> p = np.zeros(1); state = opt.init(p)
        >>> p, state = opt.step(p, np.array([1.0]), state)
        >>> print(f"{p[0]:.4e}")   # first step: sqrt(eps / (0.1 + eps)), about sqrt(10 eps)
        -3.1623e-03

    References:
        torch.optim.Adadelta: https://pytorch.org/docs/stable/generated/torch.optim.Adadelta.html
        Zeiler, 2012, ADADELTA: An Adaptive Learning Rate Method: https://arxiv.org/abs/1212.5701
    """

    lr: float = 1.0
    rho: float = 0.9
    eps: float = 1e-6
    weight_decay: float = 0.0
    maximize: bool = False

    example_lr = 1.0
    variants = (
        dict(), dict(rho=0.5), dict(lr=0.5), dict(weight_decay=0.1), dict(maximize=True),
        dict(lr=2.0, rho=0.95, eps=1e-5, weight_decay=0.05, maximize=True),
    )

    def _validate(self) -> None:
        super()._validate()
        if not 0.0 <= self.rho <= 1.0:
            raise ValueError(f"Invalid rho value: {self.rho}")

    def init(self, params) -> AdadeltaState:
        p = self._params(params)
        return AdadeltaState(step=0, square_avg=np.zeros_like(p), acc_delta=np.zeros_like(p))

    def step(self, params, grad, state: AdadeltaState, lr=None):
        p, g = self._arrays(params, grad, state)
        lr = self._lr(lr)
        rho, eps = self.rho, self.eps
        g = self._grad(p, g)
        square_avg = rho * state.square_avg + (1 - rho) * g * g
        delta = np.sqrt(state.acc_delta + eps) / np.sqrt(square_avg + eps) * g
        acc_delta = rho * state.acc_delta + (1 - rho) * delta * delta
        return p - lr * delta, AdadeltaState(step=state.step + 1, square_avg=square_avg, acc_delta=acc_delta)

    def effective_lr(self, state: AdadeltaState, lr=None) -> np.ndarray:
        """lr * sqrt(acc_delta + eps) / sqrt(square_avg + eps)."""
        lr = self.lr if lr is None else float(lr)
        return lr * np.sqrt(state.acc_delta + self.eps) / np.sqrt(state.square_avg + self.eps)


# --------------------------------------------------------------------------- Adam family
class AdamState(NamedTuple):
    step: int                          # t
    exp_avg: np.ndarray                # m
    exp_avg_sq: np.ndarray             # v
    max_exp_avg_sq: np.ndarray | None  # max of v so far; present only when amsgrad


@dataclasses.dataclass(frozen=True)
class Adam(Optimizer):
    r"""Adam; with ``amsgrad=True`` it is AMSGrad, with ``decoupled_weight_decay=True`` AdamW.

    Update rule, in this code's symbols (lesson 12's, with beta1, beta2 = betas)::

        t     = t + 1
        g     = -grad if maximize else grad
        if decoupled_weight_decay:  p = p * (1 - lr * weight_decay)   # AdamW (lesson 14)
        else:                       g = g + weight_decay * p          # L2 penalty
        m     = beta1 * m + (1 - beta1) * g        # evaluated as torch's lerp (_ema)
        v     = beta2 * v + (1 - beta2) * g**2
        v_max = max(v_max, v)  if amsgrad else v   # max of the *raw* v (lesson 13)
        m_hat = m / (1 - beta1**t)
        v_hat = v_max / (1 - beta2**t)
        p     = p - lr * m_hat / (sqrt(v_hat) + eps)

    Where torch differs from the papers: eps is added *after* bias-correcting the square
    root, as here (TensorFlow's "eps-hat" adds it before the correction).  torch computes
    sqrt(v) / sqrt(1 - beta2**t) where this code takes sqrt(v_hat): the same number up to
    rounding.  AMSGrad keeps the running max of the uncorrected v, as Reddi et al.'s
    Algorithm 2 does, but then bias-corrects that max, which the paper (having no bias
    correction) does not; implementations that take the max of the corrected v_hat
    instead (e.g. Optax's default) give a different, smaller v_max early on.

    Args (torch's names and defaults):
        lr: the step size; roughly the largest distance a coordinate moves per step (1e-3).
        betas: (beta1, beta2), the decays of m and v (0.9, 0.999).
        eps: added to sqrt(v_hat) (1e-8).
        weight_decay: the L2 coefficient, or with decoupled_weight_decay the decay rate.
        amsgrad: divide by the running max of v instead of v.
        maximize: ascend instead of descend.
        decoupled_weight_decay: decay the weights directly (AdamW) instead of adding an L2 term.

    Example:
        >>> import numpy as np
        >>> opt = Adam(lr=0.1)
        >>> p = np.array([1.0, 1.0]); state = opt.init(p)
        >>> p, state = opt.step(p, np.array([100.0, 0.001]), state)
        >>> p.round(4).tolist()      # m_hat / sqrt(v_hat) = sign(g) at t = 1: a step of lr
        [0.9, 0.9]

    References:
        torch.optim.Adam: https://pytorch.org/docs/stable/generated/torch.optim.Adam.html
        Kingma & Ba, 2015, Adam: A Method for Stochastic Optimization: https://arxiv.org/abs/1412.6980
        Reddi, Kale & Kumar, 2018, On the Convergence of Adam and Beyond:
        https://openreview.net/forum?id=ryQu7f-RZ
    """

    lr: float = 1e-3
    betas: tuple = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    amsgrad: bool = False
    maximize: bool = False
    decoupled_weight_decay: bool = False

    example_lr = 0.05
    variants = (
        dict(lr=0.02), dict(lr=0.02, amsgrad=True), dict(lr=0.02, weight_decay=0.1),
        dict(lr=0.02, weight_decay=0.1, decoupled_weight_decay=True), dict(lr=0.02, maximize=True),
        dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05, amsgrad=True,
             decoupled_weight_decay=True, maximize=True),
    )

    def _validate(self) -> None:
        super()._validate()
        _check_betas(self.betas)

    def init(self, params) -> AdamState:
        p = self._params(params)
        return AdamState(
            step=0,
            exp_avg=np.zeros_like(p),
            exp_avg_sq=np.zeros_like(p),
            max_exp_avg_sq=np.zeros_like(p) if self.amsgrad else None,
        )

    def step(self, params, grad, state: AdamState, lr=None):
        p, g = self._arrays(params, grad, state)
        lr = self._lr(lr)
        beta1, beta2 = self.betas
        t = state.step + 1
        if self.decoupled_weight_decay and self.weight_decay != 0:
            p = p * (1 - lr * self.weight_decay)
        g = self._grad(p, g, l2=not self.decoupled_weight_decay)
        m = _ema(state.exp_avg, g, beta1)  # = beta1 * m + (1 - beta1) * g
        v = beta2 * state.exp_avg_sq + (1 - beta2) * g**2
        v_max = np.maximum(state.max_exp_avg_sq, v) if self.amsgrad else v
        m_hat = m / (1 - beta1**t)
        v_hat = v_max / (1 - beta2**t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + self.eps)
        return p, AdamState(step=t, exp_avg=m, exp_avg_sq=v, max_exp_avg_sq=v_max if self.amsgrad else None)

    def effective_lr(self, state: AdamState, lr=None) -> np.ndarray:
        """lr / (sqrt(v_hat) + eps) of the next update (AMSGrad: v_hat of max v)."""
        lr = self.lr if lr is None else float(lr)
        v = state.max_exp_avg_sq if state.max_exp_avg_sq is not None else state.exp_avg_sq
        return lr / (np.sqrt(v / (1 - self.betas[1] ** max(state.step, 1))) + self.eps)


@dataclasses.dataclass(frozen=True)
class AdamW(Adam):
    r"""AdamW: Adam with decoupled weight decay, always.

    The update is Adam's with ``decoupled_weight_decay=True``::

        p = p * (1 - lr * weight_decay)     # before the moments, with this step's (scheduled) lr
        ... then Adam's update from the undecayed gradient g

    so the decay is not rescaled by 1 / sqrt(v_hat) as an L2 term in g would be.
    Default weight_decay is 1e-2 (Adam's is 0). torch's AdamW has no
    ``decoupled_weight_decay`` argument, so it is not an init field here either.

    Args: Adam's, without decoupled_weight_decay; weight_decay is the decay rate (1e-2).

    Example:
        >>> import numpy as np
        >>> opt = AdamW(lr=0.1, weight_decay=0.5)
        >>> p = np.array([2.0]); state = opt.init(p)
        >>> p, state = opt.step(p, np.array([0.0]), state)   # no gradient: only the decay acts
        >>> p.tolist()                                        # 2 * (1 - 0.1 * 0.5)
        [1.9]

    References:
        torch.optim.AdamW: https://pytorch.org/docs/stable/generated/torch.optim.AdamW.html
        Loshchilov & Hutter, 2019, Decoupled Weight Decay Regularization:
        https://arxiv.org/abs/1711.05101
    """

    lr: float = 1e-3
    betas: tuple = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 1e-2
    amsgrad: bool = False
    maximize: bool = False
    decoupled_weight_decay: bool = dataclasses.field(default=True, init=False, repr=False)

    variants = (
        dict(lr=0.02), dict(lr=0.02, amsgrad=True), dict(lr=0.02, weight_decay=0.2), dict(lr=0.02, maximize=True),
        dict(lr=0.02, betas=(0.85, 0.995), eps=1e-6, weight_decay=0.1, amsgrad=True, maximize=True),
    )


# --------------------------------------------------------------------------- NAdam
class NAdamState(NamedTuple):
    step: int
    mu_product: float  # prod of mu_1 .. mu_t, rounded to float32 as torch keeps it
    exp_avg: np.ndarray
    exp_avg_sq: np.ndarray


@dataclasses.dataclass(frozen=True)
class NAdam(Optimizer):
    r"""NAdam: Adam with Nesterov momentum, with torch's mu schedule.

    Update rule (``psi`` = momentum_decay)::

        t          = t + 1
        g          = -grad if maximize else grad
        if decoupled_weight_decay:  p = p * (1 - lr * weight_decay)
        else:                       g = g + weight_decay * p
        mu         = beta1 * (1 - 0.5 * 0.96 ** (t * psi))         # momentum warm-up schedule
        mu_next    = beta1 * (1 - 0.5 * 0.96 ** ((t + 1) * psi))
        mu_product = mu_product * mu                              # prod of mu_1 .. mu_t
        m          = beta1 * m + (1 - beta1) * g                  # evaluated as torch's lerp (_ema)
        v          = beta2 * v + (1 - beta2) * g**2
        denom      = sqrt(v / (1 - beta2**t)) + eps
        p          = p - lr * (1 - mu) / (1 - mu_product) * g / denom
        p          = p - lr * mu_next / (1 - mu_product * mu_next) * m / denom

    Where torch differs from a textbook NAdam: mu is not constant but follows the schedule
    above (Dozat's), the bias correction of m uses the running product of the mu's, and
    torch keeps ``mu_product`` as a float32 number even for float64 parameters (we round it
    the same way; keeping it in float64 moves the parameters by 1e-10 to 4e-10 relative,
    depending on the problem: lesson 15 measures 1.1e-10).

    Args (torch's names and defaults):
        lr: the step size (default 2e-3).
        betas: (beta1, beta2): beta1 scales the mu schedule, beta2 is v's decay.
        eps: added to sqrt(v / (1 - beta2**t)).
        weight_decay: the L2 coefficient, or with decoupled_weight_decay the decay rate.
        momentum_decay: psi, how fast mu warms up to beta1 (4e-3).
        decoupled_weight_decay: decay the weights directly (as AdamW) instead of an L2 term.
        maximize: ascend instead of descend.

    Example:
        >>> import numpy as np
        >>> opt = NAdam(lr=0.1)
        >>> p = np.zeros(1); state = opt.init(p)
        >>> p, state = opt.step(p, np.array([1.0]), state)
        >>> round(state.mu_product, 6)     # mu_1 = 0.9 * (1 - 0.5 * 0.96**0.004)
        0.450073
        >>> p.round(4).tolist()            # more than lr: the g term plus the look-ahead m term
        [-0.1056]

    References:
        torch.optim.NAdam: https://pytorch.org/docs/stable/generated/torch.optim.NAdam.html
        Dozat, 2016, Incorporating Nesterov Momentum into Adam:
        https://openreview.net/forum?id=OM0jvwB8jIp57ZJjtNEZ
    """

    lr: float = 2e-3
    betas: tuple = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    momentum_decay: float = 4e-3
    decoupled_weight_decay: bool = False
    maximize: bool = False

    example_lr = 0.05
    variants = (
        dict(lr=0.02), dict(lr=0.02, momentum_decay=0.02), dict(lr=0.02, weight_decay=0.1),
        dict(lr=0.02, weight_decay=0.1, decoupled_weight_decay=True), dict(lr=0.02, maximize=True),
        dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6, momentum_decay=0.01, weight_decay=0.05, decoupled_weight_decay=True,
             maximize=True),
    )

    def _validate(self) -> None:
        super()._validate()
        _check_betas(self.betas)
        _check_nonneg("momentum_decay", self.momentum_decay)

    def init(self, params) -> NAdamState:
        p = self._params(params)
        return NAdamState(step=0, mu_product=1.0, exp_avg=np.zeros_like(p), exp_avg_sq=np.zeros_like(p))

    def step(self, params, grad, state: NAdamState, lr=None):
        p, g = self._arrays(params, grad, state)
        lr = self._lr(lr)
        beta1, beta2 = self.betas
        psi = self.momentum_decay
        t = state.step + 1
        if self.decoupled_weight_decay and self.weight_decay != 0:
            p = p * (1 - lr * self.weight_decay)
        g = self._grad(p, g, l2=not self.decoupled_weight_decay)
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (t * psi))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * psi))
        mu_product = float(np.float32(state.mu_product) * np.float32(mu))
        m = _ema(state.exp_avg, g, beta1)  # = beta1 * m + (1 - beta1) * g
        v = beta2 * state.exp_avg_sq + (1 - beta2) * g**2
        denom = np.sqrt(v / (1 - beta2**t)) + self.eps
        p = p - (lr * (1.0 - mu) / (1.0 - mu_product)) * (g / denom)
        p = p - (lr * mu_next / (1.0 - mu_product * mu_next)) * (m / denom)
        return p, NAdamState(step=t, mu_product=mu_product, exp_avg=m, exp_avg_sq=v)

    def effective_lr(self, state: NAdamState, lr=None) -> np.ndarray:
        """lr / (sqrt(v / (1 - beta2**t)) + eps), Adam's: the scale both NAdam terms share."""
        lr = self.lr if lr is None else float(lr)
        return lr / (np.sqrt(state.exp_avg_sq / (1 - self.betas[1] ** max(state.step, 1))) + self.eps)


# --------------------------------------------------------------------------- SparseAdam
class SparseAdamState(NamedTuple):
    step: int               # t: every step counts, whichever rows it touches
    exp_avg: np.ndarray     # m, one row per parameter row
    exp_avg_sq: np.ndarray  # v


@dataclasses.dataclass(frozen=True)
class SparseAdam(Optimizer):
    r"""SparseAdam: Adam's update on the rows a sparse gradient lists; other rows keep p, m and v.

    Takes only ``SparseGrad`` gradients.  Update rule, with r the rows of the coalesced gradient
    (sorted, duplicates summed) and g their values::

        t        = t + 1                           # global: counts every step
        g        = -g if maximize else g
        m[r]     = m[r] + (1 - beta1) * (g - m[r])     # = beta1 m[r] + (1 - beta1) g
        v[r]     = v[r] + (1 - beta2) * (g**2 - v[r])
        step_size = lr * sqrt(1 - beta2**t) / (1 - beta1**t)
        p[r]     = p[r] - step_size * m[r] / (sqrt(v[r]) + eps)

    Rows not in r are untouched: their m and v do not decay while the row is absent (dense Adam
    would shrink them by beta1 and beta2 every step and keep moving the row).  The bias
    correction uses the global t, not the number of times the row was seen, so a row seen for
    the first time at a large t takes a step of lr (1 - beta1) / sqrt(1 - beta2), about 3.2 lr
    with the default betas (lesson 18).  eps is added to sqrt(v) *before* the bias correction
    of the square root, which torch folds into step_size: this is Adam's update with
    eps / sqrt(1 - beta2**t) in place of eps.  A gradient with no entries changes nothing but t.
    There is no weight_decay, as in torch (it would touch every row).

    Args (torch's names and defaults):
        lr: the step size (1e-3); torch requires lr > 0.
        betas: (beta1, beta2), the decays of m and v (0.9, 0.999).
        eps: added to sqrt(v) (1e-8); torch requires eps > 0.
        maximize: ascend instead of descend.

    Example:
        >>> import numpy as np
        >>> opt = SparseAdam(lr=0.1)
        >>> p = np.zeros((3, 2)); state = opt.init(p)
        >>> p, state = opt.step(p, SparseGrad(np.array([2, 2]), np.array([[1.0, -4.0], [1.0, 0.0]])), state)
        >>> p.round(4).tolist()           # row 2 gets g = (2, -4): a step of lr * sign(g) at t = 1
        [[0.0, 0.0], [0.0, 0.0], [-0.1, 0.1]]

    References:
        torch.optim.SparseAdam: https://pytorch.org/docs/stable/generated/torch.optim.SparseAdam.html
        Kingma & Ba, 2015, Adam: A Method for Stochastic Optimization: https://arxiv.org/abs/1412.6980
    """

    lr: float = 1e-3
    betas: tuple = (0.9, 0.999)
    eps: float = 1e-8
    maximize: bool = False

    example_lr = 0.05
    variants = (
        dict(lr=0.02), dict(lr=0.02, betas=(0.8, 0.99)), dict(lr=0.02, eps=1e-4), dict(lr=0.02, maximize=True),
        dict(lr=0.03, betas=(0.85, 0.995), eps=1e-6, maximize=True),
    )
    sparse_variants = variants

    def _validate(self) -> None:
        # torch's own checks (and messages): lr and eps must be positive, not merely >= 0
        if not 0.0 < self.lr:
            raise ValueError(f"Invalid learning rate: {self.lr}")
        if not 0.0 < self.eps:
            raise ValueError(f"Invalid epsilon value: {self.eps}")
        _check_betas(self.betas)

    def init(self, params) -> SparseAdamState:
        p = self._params(params)
        return SparseAdamState(step=0, exp_avg=np.zeros_like(p), exp_avg_sq=np.zeros_like(p))

    def step(self, params, grad, state: SparseAdamState, lr=None):
        if not isinstance(grad, SparseGrad):
            raise TypeError(
                "SparseAdam does not support dense gradients, please consider Adam instead (torch raises the "
                f"same); or pass the rows that have a gradient as SparseGrad(indices, values), got {type(grad).__name__}"
            )
        p, r, g = self._sparse_arrays(params, grad, state)
        lr = self._lr(lr)
        beta1, beta2 = self.betas
        t = state.step + 1
        if r.size == 0:  # torch skips the update but has counted the step
            return p, state._replace(step=t)
        m, v, p = state.exp_avg.copy(), state.exp_avg_sq.copy(), p.copy()
        m[r] = m[r] + (1 - beta1) * (g - m[r])
        v[r] = v[r] + (1 - beta2) * (g**2 - v[r])
        step_size = lr * math.sqrt(1 - beta2**t) / (1 - beta1**t)
        p[r] = p[r] - step_size * (m[r] / (np.sqrt(v[r]) + self.eps))
        return p, SparseAdamState(step=t, exp_avg=m, exp_avg_sq=v)

    def effective_lr(self, state: SparseAdamState, lr=None) -> np.ndarray:
        """The factor on m of a row in the next update: step_size / (sqrt(v) + eps)."""
        lr = self.lr if lr is None else float(lr)
        t = state.step + 1
        beta1, beta2 = self.betas
        return lr * math.sqrt(1 - beta2**t) / (1 - beta1**t) / (np.sqrt(state.exp_avg_sq) + self.eps)


OPTIMIZERS = (SGD, Adagrad, RMSprop, Adadelta, Adam, AdamW, NAdam)  # dense gradients (every one in the panels)
SPARSE_OPTIMIZERS = (SGD, Adagrad, SparseAdam)                     # those that take a SparseGrad, as in torch
