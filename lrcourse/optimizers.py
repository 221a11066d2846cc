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
    "Optimizer", "SGD", "Adagrad", "RMSprop", "Adadelta", "Adam", "AdamW", "NAdam",
    "SGDState", "AdagradState", "RMSpropState", "AdadeltaState", "AdamState", "NAdamState",
    "OPTIMIZERS",
]


# --------------------------------------------------------------------------- checks
def _check_nonneg(name: str, value: float, label: str | None = None) -> None:
    # `not value >= 0` also rejects NaN, which a plain `value < 0` lets through.
    if not value >= 0.0:
        raise ValueError(f"Invalid {label or name} value: {value}")


def _check_beta(index: int, value: float) -> None:
    if not 0.0 <= value < 1.0:
        raise ValueError(f"Invalid beta parameter at index {index}: {value}")


def _as_float(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {value!r} of type {type(value).__name__}")
    return float(value)


def _ema(avg, x, beta: float):
    """beta * avg + (1 - beta) * x, evaluated from the nearer end as torch's ``lerp`` does.

    The same number up to rounding, but the form decides how infinities spread: once an
    infinite gradient has made avg = inf, avg + w * (x - avg) is inf - inf = NaN at the next
    step in torch, and the plain beta * avg + (1 - beta) * x would stay inf.
    """
    w = 1 - beta
    return avg + w * (x - avg) if w < 0.5 else x - (x - avg) * (1 - w)


class Optimizer:
    """Base class: field coercion, array checks and the ``lr=`` override.

    Subclasses are frozen dataclasses that define ``init`` and ``step``.
    """

    def __post_init__(self) -> None:
        # Store numbers as Python floats (see the module docstring) and betas as a tuple.
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.type in ("float", float):
                object.__setattr__(self, f.name, _as_float(f.name, value))
            elif f.type in ("bool", bool):
                if not isinstance(value, (bool, np.bool_)):
                    raise TypeError(f"{f.name} must be True or False, got {value!r}")
                object.__setattr__(self, f.name, bool(value))
            elif f.name == "betas":
                try:
                    b1, b2 = value
                except (TypeError, ValueError):
                    raise ValueError(f"betas must be a pair (beta1, beta2), got {value!r}") from None
                object.__setattr__(self, "betas", (_as_float("betas[0]", b1), _as_float("betas[1]", b2)))
        self._validate()

    def _validate(self) -> None:
        _check_nonneg("lr", self.lr, "learning rate")
        if hasattr(self, "eps"):
            _check_nonneg("eps", self.eps, "epsilon")
        _check_nonneg("weight_decay", self.weight_decay)

    def hyperparameters(self) -> dict:
        """The fields as keyword arguments for the torch class of the same name."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

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
        g = np.asarray(grad)
        if g.shape != p.shape:
            raise ValueError(f"grad has shape {g.shape} but params have shape {p.shape}")
        if g.dtype != p.dtype:
            raise TypeError(f"grad has dtype {g.dtype} but params have dtype {p.dtype}; they must match")
        for name, value in zip(state._fields, state):
            if isinstance(value, np.ndarray) and (value.shape != p.shape or value.dtype != p.dtype):
                raise ValueError(
                    f"state.{name} has shape {value.shape} and dtype {value.dtype} but params have "
                    f"shape {p.shape} and dtype {p.dtype}: was the state made by init() for these params?"
                )
        return p, g

    def _grad(self, p: np.ndarray, g: np.ndarray) -> np.ndarray:
        """The gradient the update sees: negated to maximize, plus the L2 term wd * p."""
        if self.maximize:
            g = -g
        if self.weight_decay != 0 and not getattr(self, "decoupled_weight_decay", False):
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
    """

    lr: float = 1e-3
    momentum: float = 0.0
    dampening: float = 0.0
    weight_decay: float = 0.0
    nesterov: bool = False
    maximize: bool = False

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
        p, g = self._arrays(params, grad, state)
        lr = self._lr(lr)
        mu = self.momentum
        g = self._grad(p, g)
        b = state.momentum_buffer
        if mu != 0:
            b = g.copy() if b is None else mu * b + (1 - self.dampening) * g
            g = g + mu * b if self.nesterov else b
        return p - lr * g, SGDState(momentum_buffer=b)


# --------------------------------------------------------------------------- Adagrad
class AdagradState(NamedTuple):
    step: int
    sum: np.ndarray


@dataclasses.dataclass(frozen=True)
class Adagrad(Optimizer):
    r"""Adagrad (Duchi et al., 2011): a per-coordinate LR from the sum of squared gradients.

    Update rule::

        t   = t + 1
        g   = -grad if maximize else grad
        g   = g + weight_decay * p
        clr = lr / (1 + (t - 1) * lr_decay)
        sum = sum + g * g                      # starts at initial_accumulator_value
        p   = p - clr * g / (sqrt(sum) + eps)  # eps outside the square root

    The effective LR of coordinate i, clr / (sqrt(sum_i) + eps), can only shrink.
    """

    lr: float = 1e-2
    lr_decay: float = 0.0
    weight_decay: float = 0.0
    initial_accumulator_value: float = 0.0
    eps: float = 1e-10
    maximize: bool = False

    def _validate(self) -> None:
        super()._validate()
        _check_nonneg("lr_decay", self.lr_decay)
        _check_nonneg("initial_accumulator_value", self.initial_accumulator_value)

    def init(self, params) -> AdagradState:
        p = self._params(params)
        return AdagradState(step=0, sum=np.full_like(p, self.initial_accumulator_value))

    def step(self, params, grad, state: AdagradState, lr=None):
        p, g = self._arrays(params, grad, state)
        lr = self._lr(lr)
        t = state.step + 1
        g = self._grad(p, g)
        clr = lr / (1 + (t - 1) * self.lr_decay)
        s = state.sum + g * g
        p = p - clr * (g / (np.sqrt(s) + self.eps))
        return p, AdagradState(step=t, sum=s)


# --------------------------------------------------------------------------- RMSprop
class RMSpropState(NamedTuple):
    step: int
    square_avg: np.ndarray
    momentum_buffer: np.ndarray | None  # present only when momentum > 0
    grad_avg: np.ndarray | None         # present only when centered


@dataclasses.dataclass(frozen=True)
class RMSprop(Optimizer):
    r"""RMSprop (Hinton, 2012): Adagrad's sum replaced by an exponential moving average.

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
    """

    lr: float = 1e-2
    alpha: float = 0.99
    eps: float = 1e-8
    weight_decay: float = 0.0
    momentum: float = 0.0
    centered: bool = False
    maximize: bool = False

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


# --------------------------------------------------------------------------- Adadelta
class AdadeltaState(NamedTuple):
    step: int
    square_avg: np.ndarray
    acc_delta: np.ndarray


@dataclasses.dataclass(frozen=True)
class Adadelta(Optimizer):
    r"""Adadelta (Zeiler, 2012): RMSprop with the units corrected by a second average.

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
    """

    lr: float = 1.0
    rho: float = 0.9
    eps: float = 1e-6
    weight_decay: float = 0.0
    maximize: bool = False

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


# --------------------------------------------------------------------------- Adam family
class AdamState(NamedTuple):
    step: int
    exp_avg: np.ndarray                   # m
    exp_avg_sq: np.ndarray                # v
    max_exp_avg_sq: np.ndarray | None  # max of v so far; present only when amsgrad


def _adam_moments(beta1: float, beta2: float, m, v, g):
    # Both moments, the docstring's formulas (shared with NAdam).  Adam._step_blocked does
    # the same operations in place, block by block, for large arrays.
    m = _ema(m, g, beta1)  # = beta1 * m + (1 - beta1) * g, as torch evaluates it
    v = beta2 * v + (1 - beta2) * (g * g)
    return m, v


def _adam_update(p, m, v_max, step_size: float, bc2_sqrt: float, eps: float):
    return p - step_size * (m / (np.sqrt(v_max) / bc2_sqrt + eps))


def _blocks(n: int, size: int = 1 << 16):
    """Slices that cover range(n) in cache-sized blocks."""
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


_POOL = None
_THREADS = None


def _pool():
    # NumPy releases the GIL inside ufuncs, so threads over blocks use every core,
    # and each block's data stays in cache between its operations instead of streaming through memory.
    global _POOL, _THREADS
    if _POOL is None:
        import concurrent.futures
        import os
        _THREADS = min(8, os.cpu_count() or 1)
        _POOL = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, _THREADS - 1))
    return _POOL


def _run_each(work, blocks) -> None:
    for s in blocks:
        work(s)


def _map_blocks(work, n: int) -> None:
    """Call work(s) for every block s of range(n), one share of the blocks per thread.

    The calling thread takes a share too instead of waiting idle, and each pool thread gets
    one task (not one per block), so a step wakes as few threads as possible."""
    pool, blocks = _pool(), _blocks(n)
    futures = [pool.submit(_run_each, work, blocks[i::_THREADS]) for i in range(1, _THREADS)]
    _run_each(work, blocks[0::_THREADS])
    for f in futures:
        f.result()


def _ema_into(out, avg, x, beta: float):
    """out = _ema(avg, x, beta), the same operations in the same order, with no temporary array."""
    w = 1 - beta
    np.subtract(x, avg, out=out)
    if w < 0.5:
        out *= w
        out += avg                     # avg + w * (x - avg)
    else:
        out *= 1 - w
        np.subtract(x, out, out=out)   # x - (x - avg) * (1 - w)
    return out


_BLOCKED_MIN = 1 << 18  # below this size the plain whole-array expressions are faster


@dataclasses.dataclass(frozen=True)
class Adam(Optimizer):
    r"""Adam (Kingma & Ba, 2015); with ``amsgrad=True`` it is AMSGrad (Reddi et al., 2018).

    Update rule, in this code's symbols::

        t      = t + 1
        g      = -grad if maximize else grad
        if weight_decay != 0:
            if decoupled_weight_decay: p = p * (1 - lr * weight_decay)   # AdamW
            else:                      g = g + weight_decay * p          # L2 penalty
        m      = beta1 * m + (1 - beta1) * g            # evaluated as torch's lerp (_ema)
        v      = beta2 * v + (1 - beta2) * g * g
        v_max  = max(v_max, v)  if amsgrad else v       # max of the *raw* v, not of v_hat
        m_hat  = m / (1 - beta1**t)
        p      = p - lr * m_hat / (sqrt(v_max) / sqrt(1 - beta2**t) + eps)

    Where torch differs from the papers: eps is added *after* bias-correcting the square
    root (Kingma & Ba add it to sqrt(v_hat), which is the same; TensorFlow's "eps-hat" adds
    it before the correction).  AMSGrad keeps the running max of the uncorrected v, as
    Reddi et al.'s Algorithm 2 does, but then bias-corrects that max, which the paper
    (having no bias correction) does not; implementations that take the max of the
    corrected v_hat instead (e.g. Optax's default) give a different, smaller v_max early on.
    """

    lr: float = 1e-3
    betas: tuple = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    amsgrad: bool = False
    maximize: bool = False
    decoupled_weight_decay: bool = False

    def _validate(self) -> None:
        super()._validate()
        _check_beta(0, self.betas[0])
        _check_beta(1, self.betas[1])

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
        step_size = lr / (1 - beta1**t)
        bc2_sqrt = (1 - beta2**t) ** 0.5
        if p.size < _BLOCKED_MIN:
            p, g = self._decay_and_grad(p, g, lr)
            m, v = _adam_moments(beta1, beta2, state.exp_avg, state.exp_avg_sq, g)
            v_max = np.maximum(state.max_exp_avg_sq, v) if self.amsgrad else v
            p = _adam_update(p, m, v_max, step_size, bc2_sqrt, self.eps)
        else:
            p, m, v, v_max = self._step_blocked(p, g, state, lr, beta1, beta2, step_size, bc2_sqrt)
        return p, AdamState(step=t, exp_avg=m, exp_avg_sq=v, max_exp_avg_sq=v_max if self.amsgrad else None)

    def _decay_and_grad(self, p, g, lr):
        """p decayed by AdamW's decoupled weight decay, and the gradient the moments see."""
        if self.weight_decay != 0 and self.decoupled_weight_decay:
            p = p * (1 - lr * self.weight_decay)
        return p, self._grad(p, g)

    def _step_blocked(self, p, g, state, lr, beta1, beta2, step_size, bc2_sqrt):
        """The small-array path's formulas, block by block in threads, written into the outputs.

        Each block's operations are those of _adam_moments and _adam_update, in the same order
        (so the results are bit-identical, see tests/test_optimizers.py), but done in place in
        the output arrays: no temporary arrays, and the data of a block stays in cache."""
        shape = p.shape
        flat = [a.reshape(-1) for a in (p, g, state.exp_avg, state.exp_avg_sq)]
        p_out, m_out, v_out = (np.empty(p.size, p.dtype) for _ in range(3))
        vmax_in = state.max_exp_avg_sq.reshape(-1) if self.amsgrad else None
        vmax_out = np.empty(p.size, p.dtype) if self.amsgrad else None

        def work(s):
            p_b, g_b, m_b, v_b = (a[s] for a in flat)
            p_b, g_b = self._decay_and_grad(p_b, g_b, lr)  # (block-sized copies, if any)
            m, v, d = m_out[s], v_out[s], p_out[s]         # d: scratch, then the new p
            _ema_into(m, m_b, g_b, beta1)                   # m = beta1 * m + (1 - beta1) * g
            np.multiply(g_b, g_b, out=v)                    # v = beta2 * v + (1 - beta2) * g * g
            v *= 1 - beta2
            np.multiply(v_b, beta2, out=d)
            v += d
            v_max = np.maximum(vmax_in[s], v, out=vmax_out[s]) if self.amsgrad else v
            np.sqrt(v_max, out=d)                           # p = p - step_size * m / (sqrt(v_max) / bc2_sqrt + eps)
            d /= bc2_sqrt
            d += self.eps
            np.divide(m, d, out=d)
            d *= step_size
            np.subtract(p_b, d, out=d)

        _map_blocks(work, p.size)
        v_max = vmax_out.reshape(shape) if self.amsgrad else None
        return p_out.reshape(shape), m_out.reshape(shape), v_out.reshape(shape), v_max


@dataclasses.dataclass(frozen=True)
class AdamW(Adam):
    r"""AdamW (Loshchilov & Hutter, 2019): Adam with decoupled weight decay, always.

    The update is Adam's with ``decoupled_weight_decay=True``::

        p = p * (1 - lr * weight_decay)     # before the moments, with this step's (scheduled) lr
        ... then Adam's update from the undecayed gradient g

    so the decay is not rescaled by 1 / sqrt(v_hat) as an L2 term in g would be.
    Default weight_decay is 1e-2 (Adam's is 0). torch's AdamW has no
    ``decoupled_weight_decay`` argument, so it is not a field here either.
    """

    lr: float = 1e-3
    betas: tuple = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 1e-2
    amsgrad: bool = False
    maximize: bool = False
    decoupled_weight_decay: bool = dataclasses.field(default=True, init=False, repr=False)

    def hyperparameters(self) -> dict:
        kw = super().hyperparameters()
        del kw["decoupled_weight_decay"]
        return kw


# --------------------------------------------------------------------------- NAdam
class NAdamState(NamedTuple):
    step: int
    mu_product: float  # prod of mu_1 .. mu_t, rounded to float32 as torch keeps it
    exp_avg: np.ndarray
    exp_avg_sq: np.ndarray


@dataclasses.dataclass(frozen=True)
class NAdam(Optimizer):
    r"""NAdam (Dozat, 2016): Adam with Nesterov momentum, with torch's mu schedule.

    Update rule (``psi`` = momentum_decay)::

        t          = t + 1
        g          = -grad if maximize else grad
        if weight_decay != 0:
            if decoupled_weight_decay: p = p * (1 - lr * weight_decay)
            else:                      g = g + weight_decay * p
        mu         = beta1 * (1 - 0.5 * 0.96 ** (t * psi))         # momentum warm-up schedule
        mu_next    = beta1 * (1 - 0.5 * 0.96 ** ((t + 1) * psi))
        mu_product = mu_product * mu                              # prod of mu_1 .. mu_t
        m          = beta1 * m + (1 - beta1) * g                  # evaluated as torch's lerp (_ema)
        v          = beta2 * v + (1 - beta2) * g * g
        denom      = sqrt(v / (1 - beta2**t)) + eps
        p          = p - lr * (1 - mu) / (1 - mu_product) * g / denom
        p          = p - lr * mu_next / (1 - mu_product * mu_next) * m / denom

    Where torch differs from a textbook NAdam: mu is not constant but follows the schedule
    above (Dozat's), the bias correction of m uses the running product of the mu's, and
    torch keeps ``mu_product`` as a float32 number even for float64 parameters (we round it
    the same way; keeping it in float64 moves the parameters by 1e-10 to 4e-10 relative,
    depending on the problem: lesson 15 measures 1.1e-10).
    """

    lr: float = 2e-3
    betas: tuple = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    momentum_decay: float = 4e-3
    decoupled_weight_decay: bool = False
    maximize: bool = False

    def _validate(self) -> None:
        super()._validate()
        _check_beta(0, self.betas[0])
        _check_beta(1, self.betas[1])
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
        if self.weight_decay != 0 and self.decoupled_weight_decay:
            p = p * (1 - lr * self.weight_decay)
        g = self._grad(p, g)
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (t * psi))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * psi))
        mu_product = float(np.float32(state.mu_product) * np.float32(mu))
        m, v = _adam_moments(beta1, beta2, state.exp_avg, state.exp_avg_sq, g)
        denom = np.sqrt(v / (1 - beta2**t)) + self.eps
        p = p - (lr * (1.0 - mu) / (1.0 - mu_product)) * (g / denom)
        p = p - (lr * mu_next / (1.0 - mu_product * mu_next)) * (m / denom)
        return p, NAdamState(step=t, mu_product=mu_product, exp_avg=m, exp_avg_sq=v)


OPTIMIZERS = (SGD, Adagrad, RMSprop, Adadelta, Adam, AdamW, NAdam)
