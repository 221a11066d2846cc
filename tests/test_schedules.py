"""Parity of lrcourse.schedules with torch.optim.lr_scheduler (2.13), computed here against the installed torch.

Convention checked: ``sched(t)`` is the LR that update t (t = 0, 1, ...) uses, i.e. what
``optimizer.param_groups[0]["lr"]`` holds just before the (t+1)-th ``optimizer.step()`` when
``scheduler.step()`` is called once after every ``optimizer.step()``.
"""
from __future__ import annotations

import math
import os
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lrcourse import schedules as S
from lrcourse.schedules import (
    ConstantLR,
    CosineAnnealingLR,
    ExponentialLR,
    LambdaLR,
    LinearLR,
    MultiStepLR,
    ReduceLROnPlateau,
    SequentialLR,
    StepLR,
)

# hypothesis examples per test; LRCOURSE_HYPOTHESIS_EXAMPLES=1000 for a thorough run
N_EXAMPLES = int(os.environ.get("LRCOURSE_HYPOTHESIS_EXAMPLES", 25))

RTOL = 1e-12


# The keyword arguments each case was built with, so its torch twin can be built from them directly
# (not only from our own torch_kwargs(), which would hide a field our constructor mangled).
RAW: dict = {}


def mk(cls, *args, **kw):
    sched = cls(*args, **kw)
    RAW[id(sched)] = kw
    return sched


def torch_scheduler(optimizer, sched, raw: bool = False):
    """The torch twin of one of our schedules, on `optimizer` (SequentialLR: its children's twins).
    raw=True builds it from the arguments the case was constructed with, else from sched.torch_kwargs()."""
    if isinstance(sched, SequentialLR):
        children = [torch_scheduler(optimizer, c, raw) for c in sched.schedulers]
        milestones = RAW[id(sched)]["milestones"] if raw else sched.milestones
        return torch.optim.lr_scheduler.SequentialLR(optimizer, schedulers=children, milestones=list(milestones))
    kwargs = RAW[id(sched)] if raw else sched.torch_kwargs()
    return getattr(torch.optim.lr_scheduler, type(sched).__name__)(optimizer, **kwargs)


def torch_lrs(sched, n: int, raw: bool = False) -> np.ndarray:
    """The LR of updates 0 .. n-1 according to torch, read before each optimizer.step()."""
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=sched.lr)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "scheduler.step() before optimizer.step()" would be a bug here
        ts = torch_scheduler(opt, sched, raw)
        out = []
        for _ in range(n):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            ts.step()
    return np.asarray(out, dtype=np.float64)


# (schedule, its length T); every case runs for at least 3 T updates
CASES = {
    "ConstantLR-default": (mk(ConstantLR, 0.1), 5),
    "ConstantLR": (mk(ConstantLR, 0.1, factor=0.5, total_iters=4), 4),
    "ConstantLR-factor1": (mk(ConstantLR, 0.3, factor=1.0, total_iters=3), 3),
    "StepLR": (mk(StepLR, 0.1, step_size=3, gamma=0.5), 3 * 4),
    "StepLR-default-gamma": (mk(StepLR, 1.0, step_size=7), 7 * 3),
    "StepLR-1": (mk(StepLR, 0.1, step_size=1, gamma=0.9), 10),
    "MultiStepLR": (mk(MultiStepLR, 0.1, milestones=[3, 7, 12], gamma=0.5), 12),
    "MultiStepLR-repeated": (mk(MultiStepLR, 0.1, milestones=[2, 5, 5, 9, 9, 9], gamma=0.5), 9),
    "MultiStepLR-unsorted": (mk(MultiStepLR, 0.2, milestones=[9, 2, 5]), 9),
    "MultiStepLR-at-0": (mk(MultiStepLR, 0.2, milestones=[0, 4], gamma=0.3), 4),
    "ExponentialLR": (mk(ExponentialLR, 0.1, gamma=0.9), 30),
    "ExponentialLR-slow": (mk(ExponentialLR, 0.5, gamma=0.999), 100),
    "CosineAnnealingLR": (mk(CosineAnnealingLR, 0.1, T_max=10), 10),
    "CosineAnnealingLR-eta_min": (mk(CosineAnnealingLR, 0.1, T_max=7, eta_min=0.01), 7),
    "CosineAnnealingLR-T1": (mk(CosineAnnealingLR, 0.1, T_max=1), 4),
    "CosineAnnealingLR-long": (mk(CosineAnnealingLR, 1.0, T_max=100, eta_min=1e-3), 100),
    "LinearLR-default": (mk(LinearLR, 0.1), 5),
    "LinearLR-warmup": (mk(LinearLR, 0.1, start_factor=0.1, end_factor=1.0, total_iters=10), 10),
    "LinearLR-decay": (mk(LinearLR, 0.1, start_factor=1.0, end_factor=0.1, total_iters=8), 8),
    "LinearLR-to-zero": (mk(LinearLR, 0.1, start_factor=0.5, end_factor=0.0, total_iters=6), 6),
    "LambdaLR-warmup": (mk(LambdaLR, 0.1, lr_lambda=lambda e: min(e / 10, 1)), 10),
    "LambdaLR-exp": (mk(LambdaLR, 0.1, lr_lambda=lambda e: 0.95 ** e), 20),
    "SequentialLR-warmup-cosine": (mk(SequentialLR, schedulers=(
        mk(LinearLR, 0.1, start_factor=0.1, total_iters=5), mk(CosineAnnealingLR, 0.1, T_max=20)),
        milestones=[5]), 25),
    "SequentialLR-3-stages": (mk(SequentialLR, schedulers=(
        mk(LinearLR, 0.2, start_factor=0.25, total_iters=4), mk(ConstantLR, 0.2, factor=0.5, total_iters=6),
        mk(CosineAnnealingLR, 0.2, T_max=10, eta_min=0.02)), milestones=[4, 10]), 20),
    "SequentialLR-constant-exponential": (mk(SequentialLR, schedulers=(
        mk(ConstantLR, 0.1, factor=0.1, total_iters=3), mk(ExponentialLR, 0.1, gamma=0.9)),
        milestones=[3]), 20),
    "SequentialLR-step-multistep": (mk(SequentialLR, schedulers=(
        mk(StepLR, 0.1, step_size=2, gamma=0.5), mk(MultiStepLR, 0.1, milestones=[3, 3, 6])),
        milestones=[5]), 11),
    "SequentialLR-one": (mk(SequentialLR, schedulers=(mk(ExponentialLR, 0.1, gamma=0.8),), milestones=[]), 10),
}


CORE = {ConstantLR, StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, LinearLR, LambdaLR, SequentialLR}


def test_every_core_schedule_is_covered():
    # (schedules added later, e.g. OneCycleLR, are tested in their own files)
    assert CORE <= set(S.SCHEDULES)
    assert {type(s) for s, _ in CASES.values()} == CORE


@pytest.mark.parametrize("cls", S.SCHEDULES, ids=lambda c: c.__name__)
def test_every_schedule_class_variants_and_example_match_torch(cls):
    """Each closed-form class's own ``variants`` (what `verify` checks) and its panel ``example``,
    over 300 updates: so a schedule added to SCHEDULES is checked against torch with no edit here."""
    made = tuple(cls.variants(0.1, 300)) + (cls.example(0.1, 300),)
    assert made and all(type(s) is cls for s in made)
    for sched in made:
        expected = torch_lrs(sched, 300)
        np.testing.assert_allclose(sched(np.arange(300)), expected, rtol=RTOL, atol=1e-12 * sched.lr,
                                   err_msg=repr(sched))


@pytest.mark.parametrize("name", CASES)
def test_matches_torch(name):
    sched, T = CASES[name]
    n = 3 * T + 5
    expected = torch_lrs(sched, n, raw=True)  # torch built from the arguments we were given
    # the documented twin, built from sched.torch_kwargs(), is the same scheduler
    np.testing.assert_array_equal(torch_lrs(sched, n), expected)
    got = sched(np.arange(n))
    assert got.dtype == np.float64 and got.shape == (n,)
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=1e-12 * sched.lr)
    # and one update at a time
    np.testing.assert_allclose([sched(t) for t in range(n)], expected, rtol=RTOL, atol=1e-12 * sched.lr)


def test_constant_factor_zero():
    """torch accepts factor=0 but then divides by it when the constant phase ends (a torch bug):
    ours agrees up to there, and gives lr afterwards as the formula says."""
    sched = ConstantLR(0.3, factor=0.0, total_iters=3)
    np.testing.assert_array_equal(sched(np.arange(2)), torch_lrs(sched, 2))
    with pytest.raises(ZeroDivisionError):
        torch_lrs(sched, 3)  # the third scheduler.step() reaches total_iters and divides by factor
    np.testing.assert_array_equal(sched(np.arange(3, 6)), [0.3, 0.3, 0.3])


def test_constant_total_iters_zero():
    """torch applies the factor at construction and, with total_iters=0, never undoes it."""
    sched = ConstantLR(0.3, factor=0.5, total_iters=0)
    np.testing.assert_allclose(sched(np.arange(10)), torch_lrs(sched, 10), rtol=RTOL)
    assert sched(9) == pytest.approx(0.15)


def test_lambda_warmup_starts_at_zero():
    """torch applies lr_lambda(0) at construction: the first update uses LR 0."""
    sched = LambdaLR(0.1, lr_lambda=lambda e: min(e / 10, 1))
    assert torch_lrs(sched, 1)[0] == 0.0
    assert sched(0) == 0.0


def test_cosine_is_periodic_past_T_max():
    sched, T = CASES["CosineAnnealingLR"]
    t = np.arange(2 * T, 6 * T)
    np.testing.assert_allclose(sched(t), sched(t - 2 * T), rtol=1e-12, atol=1e-15)
    assert sched(3 * T // 2) < sched.lr and sched(2 * T) == pytest.approx(sched.lr)


def test_linear_lr_ends_where_torch_does():
    """torch's LinearLR decay ends at 0.10000000000000007, not 0.1 (its recursion's rounding)."""
    sched = LinearLR(1.0, start_factor=1.0, end_factor=0.1, total_iters=10)
    expected = torch_lrs(sched, 30)
    np.testing.assert_allclose(sched(np.arange(30)), expected, rtol=RTOL, atol=1e-12)
    assert sched(29) == pytest.approx(0.1, rel=1e-14)


@pytest.mark.parametrize("T_max", [1000, 100, 7])
def test_cosine_recursive_drift(T_max):
    """torch's CosineAnnealingLR is recursive: measure its drift from the closed form over 1000 updates."""
    sched = CosineAnnealingLR(1.0, T_max=T_max, eta_min=0.0)
    n = 1000
    rec = torch_lrs(sched, n)
    closed = np.array([(1 + math.cos(math.pi * t / T_max)) / 2 for t in range(n)])
    drift = np.abs(rec - closed).max() / sched.lr
    print(f"\nCosineAnnealingLR(T_max={T_max}) recursive-vs-closed drift over {n} updates: {drift:.2e} * lr")
    assert drift < 1e-12
    # ours is the closed form (to the ulp) and so within the same bound of torch's
    assert np.abs(sched(np.arange(n)) - closed).max() <= 4e-16
    np.testing.assert_allclose(sched(np.arange(n)), rec, rtol=0, atol=1e-12 * sched.lr)


@pytest.mark.parametrize("name", CASES)
def test_vectorised_equals_scalar(name):
    """sched(array) gives exactly the scalar calls' values (a float for a scalar t).

    Bit for bit: a scalar t is evaluated as a 1-element array, because NumPy's scalar pow
    (0.1 ** 2 = 0.010000000000000002) and its SIMD array loop (0.01 on AVX-512) can differ by an ulp."""
    sched, T = CASES[name]
    ts = np.arange(3 * T + 5)
    vec = sched(ts)
    assert isinstance(vec, np.ndarray) and vec.dtype == np.float64
    for t in ts:
        for arg in (int(t), np.int64(t), np.asarray(t)):
            v = sched(arg)
            assert type(v) is float, f"sched({arg!r}) returned {type(v)}"
            assert v == vec[t], (t, v, vec[t])
    # any shape: a 2-D array of update numbers gives a 2-D array
    grid = ts[: (len(ts) // 2) * 2].reshape(2, -1)
    np.testing.assert_array_equal(sched(grid), vec[: grid.size].reshape(grid.shape))
    assert sched(np.array([], dtype=int)).shape == (0,)


# --------------------------------------------------------------------------- ReduceLROnPlateau
def plateau_pair(plateau, metrics):
    """Run ours and torch's on the same metrics; compare everything after every step."""
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=plateau.lr)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ts = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **plateau.torch_kwargs())
    ps = plateau.init()
    assert ps.lr == opt.param_groups[0]["lr"] and ps.best == ts.best
    lrs = []
    for k, m in enumerate(metrics):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            ts.step(m)
        ps = plateau.step(ps, m)
        where = f"after metric #{k} = {m!r} of {list(metrics)!r}"
        assert ps.lr == opt.param_groups[0]["lr"], f"lr {where}"
        assert ps.best == ts.best or (math.isnan(ps.best) and math.isnan(ts.best)), f"best {where}"
        assert ps.num_bad_epochs == ts.num_bad_epochs, f"num_bad_epochs {where}"
        assert ps.cooldown_counter == ts.cooldown_counter, f"cooldown_counter {where}"
        assert ps.last_epoch == ts.last_epoch, f"last_epoch {where}"
        lrs.append(ps.lr)
    np.testing.assert_array_equal(plateau.lrs(metrics), np.asarray(lrs, dtype=np.float64).reshape(-1))
    return lrs


nan, inf = math.nan, math.inf
PLATEAU_METRICS = {
    "random-walk": list(np.cumsum(np.random.default_rng(0).normal(0, 1, 200))),
    "decreasing-then-flat": [10 - k for k in range(10)] + [0.0] * 40,
    "all-equal": [1.0] * 60,
    "tiny-improvements": [1.0 - 1e-6 * k for k in range(60)],  # below the default rel threshold
    "negative": [-1.0 - 0.01 * k for k in range(20)] + [-1.2] * 40,
    "negative-rising": [-5.0 + 0.001 * k for k in range(60)],
    "with-nan": [3.0, 2.0, nan, 1.0, nan, nan, nan, nan] + [1.0] * 30,
    "nan-first": [nan] * 15 + [1.0, 0.5] + [0.5] * 20,
    "with-inf": [inf, 5.0, -inf, 4.0, inf] + [0.0] * 30,
    "zeros": [0.0] * 40,
    "oscillating": [1.0, 2.0] * 40,
}
PLATEAU_CONFIGS = {
    "default": dict(),
    "max": dict(mode="max"),
    "abs": dict(threshold_mode="abs", threshold=0.05),
    "max-abs": dict(mode="max", threshold_mode="abs", threshold=0.05),
    "patience0-cooldown": dict(patience=0, cooldown=3, factor=0.5),
    "patience2-cooldown1": dict(patience=2, cooldown=1, factor=0.5),
    "min_lr": dict(patience=1, factor=0.1, min_lr=1e-3),
    "min_lr-eps": dict(patience=0, factor=0.5, min_lr=0.009, eps=1e-3),  # eps leaves lr just above min_lr
    "big-eps": dict(patience=0, eps=1.0),  # no cut is ever larger than eps
    "eps-equals-cut": dict(patience=0, factor=0.5, eps=0.05),  # 0.1 - 0.05 == eps exactly: not cut
    "threshold0": dict(threshold=0.0, patience=3),
    "max-rel-big": dict(mode="max", threshold=0.5, patience=1, factor=0.7),
    "factor0": dict(factor=0.0, patience=2),
}


@pytest.mark.parametrize("config", PLATEAU_CONFIGS)
@pytest.mark.parametrize("seq", PLATEAU_METRICS)
def test_plateau_matches_torch(seq, config):
    metrics = PLATEAU_METRICS[seq]
    lrs = plateau_pair(ReduceLROnPlateau(0.1, **PLATEAU_CONFIGS[config]), metrics)
    assert len(lrs) == len(metrics)


def test_plateau_cuts_on_the_patience_plus_one_th_bad_epoch():
    """Documents the rule with torch computing the answer: patience=2 cuts at the 3rd bad epoch."""
    lrs = plateau_pair(ReduceLROnPlateau(1.0, patience=2, factor=0.5), [1.0, 1.0, 1.0, 1.0, 1.0])
    assert lrs == [1.0, 1.0, 1.0, 0.5, 0.5]


metric_values = st.one_of(
    st.sampled_from([0.0, 1.0, -1.0, 1.0 + 1e-12, 0.5, nan, inf, -inf]),  # repeats make plateaus
    st.floats(-10, 10, allow_nan=False),
)
plateau_configs = st.fixed_dictionaries(dict(
    lr=st.floats(1e-6, 10.0),
    mode=st.sampled_from(["min", "max"]),
    factor=st.floats(0.0, 0.99),
    patience=st.integers(0, 5),
    threshold=st.one_of(st.just(0.0), st.floats(0.0, 0.5)),
    threshold_mode=st.sampled_from(["rel", "abs"]),
    cooldown=st.integers(0, 4),
    min_lr=st.one_of(st.just(0.0), st.floats(0.0, 1e-2)),
    eps=st.one_of(st.just(1e-8), st.floats(0.0, 1e-2)),
))


@settings(max_examples=6 * N_EXAMPLES, deadline=None)
@given(config=plateau_configs, metrics=st.lists(metric_values, max_size=80))
def test_plateau_hypothesis(config, metrics):
    plateau_pair(ReduceLROnPlateau(**config), metrics)


def test_plateau_state_is_immutable():
    plateau = ReduceLROnPlateau(0.1, patience=0)
    s0 = plateau.init()
    s1 = plateau.step(s0, 1.0)
    s2 = plateau.step(s1, 2.0)
    assert s0 == plateau.init() and s1.best == 1.0 and s2.num_bad_epochs == 0 and s2.lr == pytest.approx(0.01)
