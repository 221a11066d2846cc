"""Learning-rate schedules in closed form, matching ``torch.optim.lr_scheduler`` (2.13).

A schedule is an immutable dataclass: ``lr`` is the base learning rate, the other fields
are the torch scheduler's, with the same names and defaults.  ``sched(t)`` is the LR used
by update ``t`` (updates numbered 0, 1, 2, ...), i.e. the ``param_groups[0]["lr"]`` that
torch's scheduler gives the (t+1)-th ``optimizer.step()`` when ``scheduler.step()`` is
called once after every ``optimizer.step()``.  It is vectorised: ``sched(np.arange(100))``.

torch computes most schedules recursively (multiplying the current LR by a ratio);
the closed forms here are the formulas the lessons derive.  The two agree to a few ulp;
CosineAnnealingLR's recursion drifts by about 1e-13 of the base LR after 1000 steps
(measured in tests/test_schedules.py).

The torch twin of a schedule (not for SequentialLR, which takes scheduler objects)::

    sched_t = getattr(torch.optim.lr_scheduler, type(s).__name__)(optimizer, **s.torch_kwargs())

ReduceLROnPlateau is the one stateful schedule: ``pstate = plateau.step(pstate, metric)``.
Every schedule class also knows ``kind`` ("schedule", or "plateau" for ReduceLROnPlateau),
``example(lr, steps)`` (a typical instance for a run of ``steps`` updates, used by the panels)
and ``variants(lr, steps)`` (the instances ``python -m lrcourse verify`` checks against torch).

The cyclic schedules:

* ``CosineAnnealingWarmRestarts(lr, T_0, T_mult=1, eta_min=0.0)`` (SGDR): cosine annealing
  restarted after T_0, T_0*T_mult, T_0*T_mult**2, ... updates; ``cycle_position(t)`` gives
  (T_cur, T_i).
* ``OneCycleLR(max_lr, total_steps=None, epochs=None, steps_per_epoch=None, pct_start=0.3,
  anneal_strategy="cos", cycle_momentum=True, base_momentum=0.85, max_momentum=0.95,
  div_factor=25.0, final_div_factor=1e4, three_phase=False)``: torch's base LR is max_lr, so
  that is the field and ``lr`` is a read-only alias of it.  ``momentum(t)`` is the momentum
  (SGD) or beta1 (Adam) torch writes into the param group for update t; ``sched(t)`` raises
  ValueError for t >= total_steps, as torch does once stepped past the cycle.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

__all__ = [
    "Schedule", "ConstantLR", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR",
    "LinearLR", "LambdaLR", "SequentialLR", "ReduceLROnPlateau", "PlateauState", "SCHEDULES",
    "CosineAnnealingWarmRestarts", "OneCycleLR",
]


def _check_lr(lr) -> float:
    if isinstance(lr, bool) or not isinstance(lr, (int, float, np.integer, np.floating)):
        raise TypeError(f"lr must be a real number, got {lr!r}")
    lr = float(lr)
    if not (lr >= 0.0 and math.isfinite(lr)):
        raise ValueError(f"Invalid learning rate: {lr}")
    return lr


def _check_int(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < low:
        raise ValueError(f"Invalid {name} value: {value} (must be >= {low})")
    return int(value)


def _check_real(name: str, value, low: float = -math.inf, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not low <= value <= high:
        raise ValueError(f"Invalid {name} value: {value} (must be in [{low}, {high}])")
    return value


def _steps(t) -> np.ndarray:
    """Update numbers as an int64 array; rejects negatives and non-integers."""
    arr = np.asarray(t)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.floor(arr)):
            raise ValueError(f"update numbers t must be whole numbers, got {t!r}")
    elif arr.dtype.kind not in "iu":
        raise TypeError(f"update numbers t must be integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if np.any(arr < 0):
        raise ValueError(f"update numbers t must be >= 0 (the first update is t = 0), got {t!r}")
    return arr


class _Scheduler:
    """What every schedule shares: the checked base ``lr``, ``kind``, torch's keyword arguments,
    an ``example`` and the ``variants`` worth verifying."""

    kind = "schedule"

    def __post_init__(self) -> None:
        object.__setattr__(self, "lr", _check_lr(self.lr))
        self._validate()

    def _validate(self) -> None:
        pass

    def torch_kwargs(self) -> dict:
        """The fields other than ``lr`` as keyword arguments for the torch scheduler."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "lr"}

    @classmethod
    def example(cls, lr: float = 0.1, steps: int = 300):
        """A typical instance for a run of ``steps`` updates from base LR ``lr`` (the panels' default)."""
        return cls(lr)

    @classmethod
    def variants(cls, lr: float = 0.1, steps: int = 300) -> tuple:
        """The instances checked against torch by ``python -m lrcourse verify``."""
        return (cls.example(lr, steps),)


class Schedule(_Scheduler):
    """Base class of the closed forms: ``sched(t)`` validates ``t`` and returns a float (scalar t)
    or an array, the LR of update t."""

    def __call__(self, t):
        ts = _steps(t)
        # Always evaluate on a 1-D array: NumPy's scalar and array powers can differ by an
        # ulp, and sched(7) must equal sched(np.arange(10))[7] exactly.
        out = np.asarray(self._lr_at(ts.reshape(-1)), dtype=np.float64).reshape(ts.shape)
        return float(out) if np.ndim(t) == 0 else out

    def _lr_at(self, t: np.ndarray) -> np.ndarray:
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class ConstantLR(Schedule):
    r"""A constant factor for the first updates: lr_t = lr * factor for t < total_iters, then lr.

    torch quirk, matched here: with total_iters = 0 torch applies the factor when the
    scheduler is built and never takes it back, so every update uses lr * factor.

    Args (torch's names and defaults; ``lr`` is the optimizer's base LR):
        factor: the multiplier while t < total_iters (1/3).
        total_iters: how many updates use the reduced LR (5).

    Example:
        >>> ConstantLR(0.1, factor=0.5, total_iters=2)(range(4)).tolist()
        [0.05, 0.05, 0.1, 0.1]

    References:
        torch: https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.ConstantLR.html
    """

    lr: float
    factor: float = 1.0 / 3
    total_iters: int = 5

    def _validate(self):
        if not 0.0 <= self.factor <= 1.0:
            raise ValueError(f"Constant multiplicative factor expected to be between 0 and 1, got factor={self.factor}")
        object.__setattr__(self, "factor", float(self.factor))
        object.__setattr__(self, "total_iters", _check_int("total_iters", self.total_iters, 0))

    @classmethod
    def example(cls, lr=0.1, steps=300):
        return cls(lr, factor=0.5, total_iters=max(steps // 10, 1))

    @classmethod
    def variants(cls, lr=0.1, steps=300):
        return (cls(lr, factor=0.25, total_iters=15),)

    def _lr_at(self, t):
        scaled = (t < self.total_iters) | (self.total_iters == 0)
        return np.where(scaled, self.lr * self.factor, self.lr)


@dataclasses.dataclass(frozen=True)
class StepLR(Schedule):
    r"""Step decay: lr_t = lr * gamma ** floor(t / step_size).

    Args (torch's names and defaults; ``lr`` is the optimizer's base LR):
        step_size: updates between two cuts.
        gamma: the factor of each cut (0.1).

    Example:
        >>> StepLR(1.0, step_size=2, gamma=0.5)(range(6)).tolist()
        [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]

    References:
        torch: https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.StepLR.html
    """

    lr: float
    step_size: int
    gamma: float = 0.1

    def _validate(self):
        object.__setattr__(self, "step_size", _check_int("step_size", self.step_size, 1))
        object.__setattr__(self, "gamma", _check_real("gamma", self.gamma, 0.0))

    @classmethod
    def example(cls, lr=0.1, steps=300):
        return cls(lr, step_size=max(steps // 4, 1), gamma=0.5)

    @classmethod
    def variants(cls, lr=0.1, steps=300):
        return (cls(lr, step_size=10, gamma=0.5),)

    def _lr_at(self, t):
        return self.lr * self.gamma ** (t // self.step_size)


@dataclasses.dataclass(frozen=True)
class MultiStepLR(Schedule):
    r"""Cuts at chosen updates: lr_t = lr * gamma ** (number of milestones <= t).

    A repeated milestone counts twice, as in torch.

    Args (torch's names and defaults; ``lr`` is the optimizer's base LR):
        milestones: the updates at which the LR is multiplied by gamma.
        gamma: the factor of each cut (0.1).

    Example:
        >>> MultiStepLR(1.0, milestones=[1, 3, 3], gamma=0.5)(range(5)).tolist()
        [1.0, 0.5, 0.5, 0.125, 0.125]

    References:
        torch: https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.MultiStepLR.html
    """

    lr: float
    milestones: tuple
    gamma: float = 0.1

    def _validate(self):
        try:
            ms = tuple(_check_int("milestone", m, 0) for m in self.milestones)
        except TypeError as e:
            raise TypeError(f"milestones must be a list of integers, got {self.milestones!r}") from e
        object.__setattr__(self, "milestones", tuple(sorted(ms)))
        object.__setattr__(self, "gamma", _check_real("gamma", self.gamma, 0.0))

    @classmethod
    def example(cls, lr=0.1, steps=300):
        return cls(lr, milestones=(steps // 3, 2 * steps // 3), gamma=0.1)

    @classmethod
    def variants(cls, lr=0.1, steps=300):
        return (cls(lr, milestones=[10, 30, 30], gamma=0.5),)

    def _lr_at(self, t):
        passed = np.searchsorted(np.asarray(self.milestones, dtype=np.int64), t, side="right")
        return self.lr * self.gamma ** passed

    def torch_kwargs(self):
        return {"milestones": list(self.milestones), "gamma": self.gamma}


@dataclasses.dataclass(frozen=True)
class ExponentialLR(Schedule):
    r"""Exponential decay: lr_t = lr * gamma ** t.  The seed formula lr * exp(-k t) is gamma = exp(-k).

    Args (torch's names; ``lr`` is the optimizer's base LR):
        gamma: the factor per update.

    Example:
        >>> ExponentialLR(1.0, gamma=0.5)(range(4)).tolist()
        [1.0, 0.5, 0.25, 0.125]

    References:
        torch: https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.ExponentialLR.html
    """

    lr: float
    gamma: float

    def _validate(self):
        object.__setattr__(self, "gamma", _check_real("gamma", self.gamma, 0.0))

    @classmethod
    def example(cls, lr=0.1, steps=300):
        return cls(lr, gamma=0.99)

    @classmethod
    def variants(cls, lr=0.1, steps=300):
        return (cls(lr, gamma=math.exp(-0.05)),)

    def _lr_at(self, t):
        return self.lr * self.gamma ** t.astype(np.float64)


@dataclasses.dataclass(frozen=True)
class CosineAnnealingLR(Schedule):
    r"""Half a cosine from lr to eta_min: lr_t = eta_min + (lr - eta_min) * (1 + cos(pi * t / T_max)) / 2.

    Not clamped at T_max: like torch's, it is periodic with period 2 * T_max, climbing back
    to lr after reaching eta_min (use SequentialLR with a ConstantLR tail to hold eta_min).
    torch computes it recursively; the two agree to about 1e-13 of lr after 1000 updates.

    Args (torch's names and defaults; ``lr`` is the optimizer's base LR):
        T_max: the update at which the LR reaches eta_min (half the period).
        eta_min: the lowest LR (0).

    Example:
        >>> CosineAnnealingLR(1.0, T_max=4)(range(9)).round(4).tolist()   # back up after T_max
        [1.0, 0.8536, 0.5, 0.1464, 0.0, 0.1464, 0.5, 0.8536, 1.0]

    References:
        torch: https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.CosineAnnealingLR.html
        Loshchilov & Hutter, 2017, SGDR: https://arxiv.org/abs/1608.03983
    """

    lr: float
    T_max: int
    eta_min: float = 0.0

    def _validate(self):
        object.__setattr__(self, "T_max", _check_int("T_max", self.T_max, 1))
        object.__setattr__(self, "eta_min", _check_real("eta_min", self.eta_min, 0.0))

    @classmethod
    def example(cls, lr=0.1, steps=300):
        return cls(lr, T_max=max(steps, 1))

    @classmethod
    def variants(cls, lr=0.1, steps=300):
        return (cls(lr, T_max=40, eta_min=0.001),)  # 300 updates: past T_max, periodic

    def _lr_at(self, t):
        return self.eta_min + (self.lr - self.eta_min) * (1 + np.cos(np.pi * t / self.T_max)) / 2


@dataclasses.dataclass(frozen=True)
class LinearLR(Schedule):
    r"""Linear warm-up (or decay) of the factor, then constant.

    lr_t = lr * (start_factor + (end_factor - start_factor) * min(t, total_iters) / total_iters).

    torch forbids start_factor = 0, so a LinearLR warm-up never starts at LR 0
    (LambdaLR can).  torch's recursion ends at 0.10000000000000007 where this closed form
    gives 0.1.

    Args (torch's names and defaults; ``lr`` is the optimizer's base LR):
        start_factor: the factor of update 0, in (0, 1] (1/3).
        end_factor: the factor from update total_iters on, in [0, 1] (1).
        total_iters: the length of the ramp (5).

    Example:
        >>> LinearLR(1.0, start_factor=0.25, total_iters=3)(range(5)).tolist()
        [0.25, 0.5, 0.75, 1.0, 1.0]

    References:
        torch: https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.LinearLR.html
        Goyal et al., 2017 (gradual warm-up): https://arxiv.org/abs/1706.02677
    """

    lr: float
    start_factor: float = 1.0 / 3
    end_factor: float = 1.0
    total_iters: int = 5

    def _validate(self):
        if not 0.0 < self.start_factor <= 1.0:
            raise ValueError(
                "Starting multiplicative factor expected to be greater than 0 and less or equal to 1, "
                f"got start_factor={self.start_factor}"
            )
        if not 0.0 <= self.end_factor <= 1.0:
            raise ValueError(f"Ending multiplicative factor expected to be between 0 and 1, got end_factor={self.end_factor}")
        object.__setattr__(self, "start_factor", float(self.start_factor))
        object.__setattr__(self, "end_factor", float(self.end_factor))
        object.__setattr__(self, "total_iters", _check_int("total_iters", self.total_iters, 1))

    @classmethod
    def example(cls, lr=0.1, steps=300):
        return cls(lr, start_factor=0.1, total_iters=max(steps // 10, 1))

    @classmethod
    def variants(cls, lr=0.1, steps=300):
        return (cls(lr, start_factor=0.1, total_iters=20), cls(lr, start_factor=1.0, end_factor=0.05, total_iters=50))

    def _lr_at(self, t):
        frac = np.minimum(t, self.total_iters) / self.total_iters
        return self.lr * (self.start_factor + (self.end_factor - self.start_factor) * frac)


def _warmup_lambda(t):
    """LambdaLR example: linear warm-up over 10 updates (LR 0 at the first update)."""
    return min(t / 10, 1.0)


@dataclasses.dataclass(frozen=True)
class LambdaLR(Schedule):
    r"""Any factor you write: lr_t = lr * lr_lambda(t), with t passed as a Python int, as torch does.

    torch applies lr_lambda(0) when the scheduler is constructed, so update 0 uses
    lr * lr_lambda(0): ``lambda t: min(t / 10, 1)`` makes the first update use LR 0.

    Args (torch's names; ``lr`` is the optimizer's base LR):
        lr_lambda: a function of the update number t that returns the factor.

    Example:
        >>> LambdaLR(0.5, lr_lambda=lambda t: min(t / 2, 1))(range(4)).tolist()
        [0.0, 0.25, 0.5, 0.5]

    References:
        torch: https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.LambdaLR.html
    """

    lr: float
    lr_lambda: Callable[[int], float]

    def _validate(self):
        if not callable(self.lr_lambda):
            raise TypeError(f"lr_lambda must be a function of the update number, got {self.lr_lambda!r}")

    @classmethod
    def example(cls, lr=0.1, steps=300):
        return cls(lr, lr_lambda=_warmup_lambda)

    def _lr_at(self, t):
        factors = np.array([float(self.lr_lambda(int(k))) for k in t.reshape(-1)], dtype=np.float64)
        return self.lr * factors.reshape(t.shape)


@dataclasses.dataclass(frozen=True)
class SequentialLR(Schedule):
    r"""Schedules one after another: ``schedulers[i]`` from update milestones[i-1] on, restarted at its t = 0.

    lr_t = schedulers[i](t - milestones[i-1])  for milestones[i-1] <= t < milestones[i].
    All schedulers share one base LR (as torch's all share one optimizer); ``lr`` is it.
    The torch twin takes scheduler objects: build it with ``runs.torch_scheduler``.

    Args (torch's names):
        schedulers: the closed-form schedules, in order.
        milestones: the updates at which the next one takes over (one fewer than schedulers).

    Example: a 2-update linear warm-up, then cosine annealing over 4 updates.

        >>> warm_cos = SequentialLR(schedulers=(LinearLR(1.0, start_factor=0.5, total_iters=2),
        ...                                     CosineAnnealingLR(1.0, T_max=4)), milestones=(2,))
        >>> warm_cos(range(6)).round(4).tolist()
        [0.5, 0.75, 1.0, 0.8536, 0.5, 0.1464]

    References:
        torch: https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.SequentialLR.html
    """

    schedulers: tuple
    milestones: tuple
    lr: float = None  # the children's shared base LR; filled in from them

    def __post_init__(self):
        scheds = tuple(self.schedulers)
        if len(scheds) < 1:
            raise ValueError("SequentialLR expects at least one scheduler, but got no scheduler.")
        for i, s in enumerate(scheds):
            if not isinstance(s, Schedule):
                raise ValueError(f"SequentialLR needs closed-form schedules; got {type(s).__name__} at index {i}")
        lrs = {s.lr for s in scheds}
        if len(lrs) != 1 or (self.lr is not None and float(self.lr) not in lrs):
            raise ValueError(f"all schedulers of a SequentialLR must share one base lr, got {sorted(lrs)}")
        ms = tuple(_check_int("milestone", m, 0) for m in self.milestones)
        if len(ms) != len(scheds) - 1:
            raise ValueError(
                "Sequential Schedulers expects number of schedulers provided to be one more than the number "
                f"of milestone points, but got number of schedulers {len(scheds)} and the number of milestones "
                f"to be equal to {len(ms)}"
            )
        if list(ms) != sorted(ms):
            raise ValueError(f"milestones must be increasing, got {ms}")
        object.__setattr__(self, "schedulers", scheds)
        object.__setattr__(self, "milestones", ms)
        object.__setattr__(self, "lr", scheds[0].lr)

    @classmethod
    def example(cls, lr=0.1, steps=300):
        k = max(steps // 10, 1)
        return cls(schedulers=(LinearLR(lr, start_factor=0.1, total_iters=k),
                               CosineAnnealingLR(lr, T_max=max(steps - k, 1))), milestones=(k,))

    @classmethod
    def variants(cls, lr=0.1, steps=300):
        return (cls(schedulers=(LinearLR(lr, start_factor=0.1, total_iters=10), CosineAnnealingLR(lr, T_max=90)),
                    milestones=(10,)),)

    def _lr_at(self, t):
        idx = np.searchsorted(np.asarray(self.milestones, dtype=np.int64), t, side="right")
        starts = np.asarray((0,) + self.milestones, dtype=np.int64)
        out = np.empty(t.shape, dtype=np.float64)
        for i, s in enumerate(self.schedulers):
            sel = idx == i
            if np.any(sel):
                out[sel] = s(t[sel] - starts[i])
        return out

    def torch_kwargs(self):
        raise TypeError("SequentialLR's torch twin takes scheduler objects: see lrcourse.runs.torch_scheduler")


# --------------------------------------------------------------------------- ReduceLROnPlateau
class PlateauState(NamedTuple):
    lr: float
    best: float
    num_bad_epochs: int
    cooldown_counter: int
    last_epoch: int


@dataclasses.dataclass(frozen=True)
class ReduceLROnPlateau(_Scheduler):
    r"""Cut the LR by ``factor`` when a monitored metric stops improving (torch's rules).

    The one stateful schedule: not a function of t, so not a ``Schedule``.
    With ``pstate = plateau.step(pstate, metric)`` once per epoch:

    * improvement (mode min): metric < best * (1 - threshold) (rel) or < best - threshold (abs);
      mode max: metric > best * (1 + threshold) or > best + threshold.  Equal is not better.
      In rel mode a negative best flips the meaning of the margin (torch does the same).
    * otherwise num_bad_epochs += 1; during cooldown the counter is held at 0;
    * when num_bad_epochs > patience (the (patience+1)-th bad epoch in a row):
      new_lr = max(lr * factor, min_lr), applied only if lr - new_lr > eps;
      then cooldown_counter = cooldown and num_bad_epochs = 0.
    * a NaN metric is never better, so it counts as a bad epoch.

    Args (torch's names and defaults; ``lr`` is the optimizer's base LR):
        mode: "min" (a loss) or "max" (an accuracy).
        factor: the LR's multiplier at a cut (0.1).
        patience: bad epochs tolerated before a cut (10).
        threshold: the margin an improvement must beat (1e-4).
        threshold_mode: "rel" (a fraction of best) or "abs".
        cooldown: epochs after a cut during which bad epochs are not counted (0).
        min_lr: the LR never goes below it (0).
        eps: a cut smaller than eps is skipped (1e-8).

    Example:
        >>> plateau = ReduceLROnPlateau(1.0, patience=1, factor=0.5)
        >>> plateau.lrs([3.0, 2.0, 2.0, 2.0, 1.0, 1.5, 1.5]).tolist()   # cut on the 2nd bad epoch in a row
        [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25]

    References:
        torch: https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.ReduceLROnPlateau.html
    """

    kind = "plateau"

    lr: float
    mode: str = "min"
    factor: float = 0.1
    patience: int = 10
    threshold: float = 1e-4
    threshold_mode: str = "rel"
    cooldown: int = 0
    min_lr: float = 0.0
    eps: float = 1e-8

    def _validate(self):
        if self.mode not in ("min", "max"):
            raise ValueError(f"mode {self.mode!r} is unknown! Use 'min' or 'max'.")
        if self.threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold mode {self.threshold_mode!r} is unknown! Use 'rel' or 'abs'.")
        factor = _check_real("factor", self.factor)
        if factor >= 1.0:
            raise ValueError(f"Factor should be < 1.0, got factor={factor}")
        object.__setattr__(self, "factor", factor)
        object.__setattr__(self, "patience", _check_int("patience", self.patience, 0))
        object.__setattr__(self, "cooldown", _check_int("cooldown", self.cooldown, 0))
        object.__setattr__(self, "threshold", _check_real("threshold", self.threshold))
        object.__setattr__(self, "min_lr", _check_real("min_lr", self.min_lr, 0.0))
        object.__setattr__(self, "eps", _check_real("eps", self.eps, 0.0))

    @classmethod
    def example(cls, lr=0.1, steps=300):
        return cls(lr, patience=5, threshold=1e-3)

    @classmethod
    def variants(cls, lr=0.1, steps=300):
        return (cls(lr, patience=2, cooldown=1, threshold=0.01),)

    def init(self) -> PlateauState:
        worst = math.inf if self.mode == "min" else -math.inf
        return PlateauState(lr=self.lr, best=worst, num_bad_epochs=0, cooldown_counter=0, last_epoch=0)

    def is_better(self, a: float, best: float) -> bool:
        if self.mode == "min":
            return a < (best * (1.0 - self.threshold) if self.threshold_mode == "rel" else best - self.threshold)
        return a > (best * (self.threshold + 1.0) if self.threshold_mode == "rel" else best + self.threshold)

    def step(self, state: PlateauState, metric) -> PlateauState:
        current = float(metric)
        lr, best, bad, cooldown_counter = state.lr, state.best, state.num_bad_epochs, state.cooldown_counter
        if self.is_better(current, best):
            best, bad = current, 0
        else:
            bad += 1
        if cooldown_counter > 0:
            cooldown_counter -= 1
            bad = 0  # bad epochs during cooldown are ignored
        if bad > self.patience:
            new_lr = max(lr * self.factor, self.min_lr)
            if lr - new_lr > self.eps:
                lr = new_lr
            cooldown_counter, bad = self.cooldown, 0
        return PlateauState(lr=lr, best=best, num_bad_epochs=bad, cooldown_counter=cooldown_counter,
                            last_epoch=state.last_epoch + 1)

    def lrs(self, metrics) -> np.ndarray:
        """The LR after each metric of a sequence: lrs[k] is the LR for epoch k + 1."""
        state, out = self.init(), []
        for m in metrics:
            state = self.step(state, m)
            out.append(state.lr)
        return np.asarray(out, dtype=np.float64)


# --------------------------------------------------------------------------- cyclic schedules
def _check_positive_int(name: str, value) -> int:
    # torch raises ValueError (not TypeError) for these, with this wording.
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"Expected positive integer {name}, but got {value!r}")
    return int(value)


@dataclasses.dataclass(frozen=True)
class CosineAnnealingWarmRestarts(Schedule):
    r"""SGDR (Loshchilov & Hutter, 2017): cosine annealing restarted every T_i updates.

    lr_t = eta_min + (lr - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2, where cycle i has
    length T_i = T_0 * T_mult**i and T_cur = t - (start of the cycle t falls in).  Cycle i
    starts at update T_0 * (T_mult**i - 1) / (T_mult - 1) (T_mult = 1: at i * T_0).
    The LR jumps back to lr at each restart and never reaches eta_min exactly
    (T_cur stops at T_i - 1).

    torch counts T_cur up one per ``scheduler.step()``; the closed form finds the cycle with
    integer arithmetic, so it is exact at any t (torch's ``step(epoch)`` path uses a
    truncating float log instead, which can pick the wrong cycle at a boundary).

    Args (torch's names and defaults; ``lr`` is the optimizer's base LR):
        T_0: the length of the first cycle.
        T_mult: each cycle is T_mult times longer than the one before (1).
        eta_min: the LR the cosine heads for (0).

    Example:
        >>> sgdr = CosineAnnealingWarmRestarts(1.0, T_0=2, T_mult=2)
        >>> sgdr(range(7)).round(4).tolist(), sgdr.cycle_starts(6).tolist()
        ([1.0, 0.5, 1.0, 0.8536, 0.5, 0.1464, 1.0], [0, 2, 6])

    References:
        torch: https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.CosineAnnealingWarmRestarts.html
        Loshchilov & Hutter, 2017, SGDR: Stochastic Gradient Descent with Warm Restarts:
        https://arxiv.org/abs/1608.03983
    """

    lr: float
    T_0: int
    T_mult: int = 1
    eta_min: float = 0.0

    def _validate(self):
        object.__setattr__(self, "T_0", _check_positive_int("T_0", self.T_0))
        if isinstance(self.T_mult, bool) or not isinstance(self.T_mult, (int, np.integer)) or self.T_mult < 1:
            raise ValueError(f"Expected integer T_mult >= 1, but got {self.T_mult!r}")
        object.__setattr__(self, "T_mult", int(self.T_mult))
        if isinstance(self.eta_min, bool) or not isinstance(self.eta_min, (int, float, np.integer, np.floating)):
            raise ValueError(f"Expected float or int eta_min, but got {self.eta_min!r} of type {type(self.eta_min)}")
        eta_min = float(self.eta_min)
        if not (eta_min >= 0.0 and math.isfinite(eta_min)):
            raise ValueError(f"Invalid eta_min value: {eta_min} (must be finite and >= 0)")
        object.__setattr__(self, "eta_min", eta_min)

    @classmethod
    def example(cls, lr=0.1, steps=300):
        return cls(lr, T_0=max(steps // 7, 1), T_mult=2)

    @classmethod
    def variants(cls, lr=0.1, steps=300):
        return (cls(lr, T_0=20, T_mult=2),)

    def cycle_starts(self, until: int) -> np.ndarray:
        """The updates at which a cycle starts (0, T_0, ...), all those <= ``until``."""
        starts, length, s = [], self.T_0, 0
        while s <= int(until):
            starts.append(s)
            s += length
            length *= self.T_mult
        return np.asarray(starts, dtype=np.int64)

    def cycle_position(self, t):
        """(T_cur, T_i) of update t: updates since the last restart and the current cycle length."""
        ts = _steps(t)
        starts = self.cycle_starts(int(ts.max(initial=0)))
        i = np.searchsorted(starts, ts, side="right") - 1
        T_cur = ts - starts[i]
        T_i = self.T_0 * np.asarray(self.T_mult, dtype=np.int64) ** i
        return (int(T_cur), int(T_i)) if np.ndim(t) == 0 else (T_cur, T_i)

    def _lr_at(self, t):
        T_cur, T_i = self.cycle_position(t)
        return self.eta_min + (self.lr - self.eta_min) * (1 + np.cos(np.pi * T_cur / T_i)) / 2


@dataclasses.dataclass(frozen=True)
class OneCycleLR(Schedule):
    r"""The 1cycle policy (Smith & Topin, 2019), torch's version: warm up, then anneal far down.

    Unlike every other schedule here, torch's base LR is ``max_lr`` (the optimizer's own lr
    is overwritten), so the field is called ``max_lr`` as in torch and ``lr`` is a read-only
    alias of it (the scale of the schedule).  With N = total_steps (or epochs *
    steps_per_epoch), initial_lr = max_lr / div_factor, min_lr = initial_lr / final_div_factor:

    * two phases (default): initial_lr -> max_lr over updates 0 .. pct_start*N - 1, then
      max_lr -> min_lr until update N - 1;
    * ``three_phase=True`` (the paper's): initial_lr -> max_lr -> initial_lr symmetrically,
      then initial_lr -> min_lr.

    Phase k runs from s_k to e_k (s_0 = 0, e_0 = pct_start*N - 1, e_last = N - 1, a float
    as in torch) and uses pct = (t - s_k) / (e_k - s_k) in
    cos: end + (start - end) * (1 + cos(pi * pct)) / 2   or   linear: start + (end - start) * pct.
    ``momentum(t)`` anneals the same way between max_momentum and base_momentum, inversely to
    the LR: torch writes it into the group's ``momentum`` (SGD, RMSprop) or ``betas[0]``
    (Adam family) when ``cycle_momentum`` is true.

    ``sched(t)`` raises ValueError for t >= N: torch raises once stepped past N (it still
    returns an extrapolated value for t = N, which no update of the cycle uses).
    Stricter than torch: if total_steps and epochs * steps_per_epoch are both given they must
    agree (torch silently uses total_steps), and a phase of zero length is refused (torch
    divides by zero: at construction when pct_start * N = 1, at the last scheduler.step()
    when the last phase is empty, e.g. pct_start = 1 with two phases).

    Args (torch's names and defaults):
        max_lr: the peak LR.
        total_steps, epochs, steps_per_epoch: N, directly or as epochs * steps_per_epoch.
        pct_start: the fraction of N spent warming up (0.3).
        anneal_strategy: "cos" or "linear".
        cycle_momentum, base_momentum, max_momentum: the momentum / beta1 cycle (0.85 .. 0.95).
        div_factor: initial_lr = max_lr / div_factor (25).
        final_div_factor: min_lr = initial_lr / final_div_factor (1e4).
        three_phase: the paper's symmetric warm-up and cool-down, then the final anneal.

    Example:
        >>> one = OneCycleLR(1.0, total_steps=5, pct_start=0.4, anneal_strategy="linear", div_factor=4.0,
        ...                  final_div_factor=2.0)
        >>> one(range(5)).round(4).tolist()          # up to max_lr, then down to max_lr / 4 / 2
        [0.25, 1.0, 0.7083, 0.4167, 0.125]
        >>> one.momentum(range(5)).round(4).tolist()  # the momentum moves the other way
        [0.95, 0.85, 0.8833, 0.9167, 0.95]

    References:
        torch: https://pytorch.org/docs/stable/generated/torch.optim.lr_scheduler.OneCycleLR.html
        Smith & Topin, 2019, Super-Convergence: https://arxiv.org/abs/1708.07120
    """

    max_lr: float
    total_steps: int = None
    epochs: int = None
    steps_per_epoch: int = None
    pct_start: float = 0.3
    anneal_strategy: str = "cos"
    cycle_momentum: bool = True
    base_momentum: float = 0.85
    max_momentum: float = 0.95
    div_factor: float = 25.0
    final_div_factor: float = 1e4
    three_phase: bool = False

    @property
    def lr(self) -> float:
        """The schedule's scale: max_lr (torch's base; it ignores the optimizer's lr)."""
        return self.max_lr

    @classmethod
    def example(cls, lr=0.1, steps=300):
        return cls(lr, total_steps=steps)

    @property
    def num_steps(self) -> int:
        """N, the number of updates in the cycle: total_steps, or epochs * steps_per_epoch."""
        return self.total_steps if self.total_steps is not None else self.epochs * self.steps_per_epoch

    @property
    def initial_lr(self) -> float:
        return self.max_lr / self.div_factor

    @property
    def min_lr(self) -> float:
        return self.initial_lr / self.final_div_factor

    def __post_init__(self):
        object.__setattr__(self, "max_lr", _check_lr(self.max_lr))
        if self.total_steps is not None:
            object.__setattr__(self, "total_steps", _check_positive_int("total_steps", self.total_steps))
            if self.epochs is not None and self.steps_per_epoch is not None:
                n = _check_positive_int("epochs", self.epochs) * _check_positive_int("steps_per_epoch",
                                                                                      self.steps_per_epoch)
                if n != self.total_steps:
                    raise ValueError(f"total_steps={self.total_steps} but epochs * steps_per_epoch = {n}: "
                                     "give one or the other (torch would silently use total_steps)")
        elif self.epochs is not None and self.steps_per_epoch is not None:
            object.__setattr__(self, "epochs", _check_positive_int("epochs", self.epochs))
            object.__setattr__(self, "steps_per_epoch", _check_positive_int("steps_per_epoch", self.steps_per_epoch))
        else:
            raise ValueError("You must define either total_steps OR (epochs AND steps_per_epoch)")
        for name in ("epochs", "steps_per_epoch"):
            v = getattr(self, name)
            if v is not None:
                object.__setattr__(self, name, _check_positive_int(name, v))
        if isinstance(self.pct_start, bool) or not isinstance(self.pct_start, (int, float, np.integer, np.floating)) \
                or not 0.0 <= self.pct_start <= 1.0:
            raise ValueError(f"Expected float between 0 and 1 pct_start, but got {self.pct_start!r}")
        object.__setattr__(self, "pct_start", float(self.pct_start))
        if self.anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"anneal_strategy must be one of 'cos' or 'linear', instead got {self.anneal_strategy!r}")
        for name in ("cycle_momentum", "three_phase"):
            v = getattr(self, name)
            if not isinstance(v, (bool, np.bool_)):
                raise TypeError(f"{name} must be True or False, got {v!r}")
            object.__setattr__(self, name, bool(v))
        for name in ("base_momentum", "max_momentum"):
            object.__setattr__(self, name, _check_real(name, getattr(self, name), 0.0, 1.0))
        for name in ("div_factor", "final_div_factor"):
            v = _check_real(name, getattr(self, name))
            if not (v > 0 and math.isfinite(v)):
                raise ValueError(f"Invalid {name} value: {v} (must be a finite number > 0)")
            object.__setattr__(self, name, v)
        # torch divides by each phase's length; two cases make it divide by zero: a warm-up of
        # zero length (at construction), and a last phase of zero length (at the final
        # scheduler.step() of an N-update loop, e.g. pct_start=1 with two phases).
        ends = [ph[0] for ph in self.phases()]
        if ends[0] == 0:
            raise ValueError("pct_start * total_steps = 1 leaves the warm-up phase zero updates long "
                             "(torch fails with ZeroDivisionError); use a longer cycle or another pct_start")
        if ends[-2] == ends[-1]:
            raise ValueError(f"pct_start={self.pct_start} with three_phase={self.three_phase} leaves the last phase "
                             "zero updates long (torch's final scheduler.step() fails with ZeroDivisionError); "
                             "use a smaller pct_start")

    def phases(self) -> list:
        """torch's phases: (end_step, start_lr, end_lr, start_momentum, end_momentum) each."""
        n, p = self.num_steps, self.pct_start
        i, m, lo = self.initial_lr, self.max_lr, self.min_lr
        b, M = self.base_momentum, self.max_momentum
        if self.three_phase:
            return [(float(p * n) - 1, i, m, M, b), (float(2 * p * n) - 2, m, i, b, M), (n - 1, i, lo, M, M)]
        return [(float(p * n) - 1, i, m, M, b), (n - 1, m, lo, b, M)]

    def _anneal(self, start, end, pct):
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (np.cos(np.pi * pct) + 1)
        return (end - start) * pct + start

    def _both(self, t: np.ndarray):
        """(lr, momentum) of updates t, by torch's phase search, vectorised."""
        if np.any(t >= self.num_steps):
            raise ValueError(f"OneCycleLR covers updates 0 .. {self.num_steps - 1} (total_steps = {self.num_steps}); "
                             f"got t = {int(t.max())}. torch raises when stepped past total_steps.")
        tf = t.astype(np.float64)
        lr, mom = np.empty(t.shape), np.empty(t.shape)
        done = np.zeros(t.shape, dtype=bool)
        start_step, phases = 0.0, self.phases()
        for k, (end_step, lr0, lr1, m0, m1) in enumerate(phases):
            sel = ~done & ((tf <= end_step) | (k == len(phases) - 1))
            if np.any(sel):
                if end_step - start_step == 0:
                    raise ValueError(f"phase {k} of this OneCycleLR has zero length")
                pct = (tf[sel] - start_step) / (end_step - start_step)
                lr[sel] = self._anneal(lr0, lr1, pct)
                mom[sel] = self._anneal(m0, m1, pct)
                done |= sel
            start_step = end_step
        return lr, mom

    def _lr_at(self, t):
        return self._both(t)[0]

    def momentum(self, t):
        """The momentum (SGD, RMSprop) or beta1 (Adam, AdamW, NAdam) torch sets for update t.

        Only meaningful with ``cycle_momentum=True`` (otherwise torch leaves the optimizer's
        momentum alone, and this raises ValueError).
        """
        if not self.cycle_momentum:
            raise ValueError("cycle_momentum=False: OneCycleLR leaves the optimizer's momentum / beta1 unchanged")
        ts = _steps(t)
        out = self._both(ts)[1]
        return float(out) if np.ndim(t) == 0 else out


SCHEDULES = (ConstantLR, StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, LinearLR, LambdaLR, SequentialLR,
             CosineAnnealingWarmRestarts, OneCycleLR)
