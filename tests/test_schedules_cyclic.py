"""OneCycleLR and CosineAnnealingWarmRestarts against torch.optim.lr_scheduler (2.13).

Every expected number comes from running torch's scheduler in the test: the LR (and for
OneCycleLR the momentum / beta1) in ``param_groups[0]`` before each ``optimizer.step()``,
with ``scheduler.step()`` after each.  Tolerance: rtol 1e-12 plus atol 1e-12 * lr (max_lr).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from lrcourse import runs
from lrcourse import schedules as S
from lrcourse.schedules import CosineAnnealingWarmRestarts, OneCycleLR

RTOL = 1e-12


def torch_trace(sched, make_opt, steps):
    """LR and momentum/beta1 of param group 0 before each of ``steps`` optimizer steps."""
    p = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    opt = make_opt([p], sched.lr)
    tsched = runs.torch_scheduler(sched, opt)
    lrs, moms = [], []
    for _ in range(steps):
        group = opt.param_groups[0]
        lrs.append(group["lr"])
        moms.append(group["betas"][0] if "betas" in group else group["momentum"])
        p.grad = torch.full_like(p, 0.1)
        opt.step()
        tsched.step()
    return np.array(lrs, dtype=np.float64), np.array(moms, dtype=np.float64)


def assert_close(ours, theirs, scale):
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=RTOL * scale)


SGD_MOMENTUM = pytest.param(lambda P, lr: torch.optim.SGD(P, lr=lr, momentum=0.9), id="SGD+momentum")
ADAM = pytest.param(lambda P, lr: torch.optim.Adam(P, lr=lr), id="Adam")
ADAMW = pytest.param(lambda P, lr: torch.optim.AdamW(P, lr=lr), id="AdamW")

ONE_CYCLE = [
    dict(max_lr=0.5, total_steps=100),
    dict(max_lr=0.5, total_steps=100, anneal_strategy="linear"),
    dict(max_lr=0.5, total_steps=100, three_phase=True),
    dict(max_lr=0.5, total_steps=100, three_phase=True, anneal_strategy="linear"),
    dict(max_lr=2e-3, epochs=7, steps_per_epoch=13, pct_start=0.25),
    dict(max_lr=1.0, total_steps=257, pct_start=0.1, div_factor=10.0, final_div_factor=100.0,
         base_momentum=0.8, max_momentum=0.99),
    dict(max_lr=0.1, total_steps=50, pct_start=0.0),
    dict(max_lr=0.1, total_steps=50, pct_start=0.99),
    dict(max_lr=0.1, total_steps=64, pct_start=0.45, three_phase=True),
    dict(max_lr=0.1, total_steps=3),
]


@pytest.mark.parametrize("make_opt", [SGD_MOMENTUM, ADAM, ADAMW])
@pytest.mark.parametrize("kw", ONE_CYCLE, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_one_cycle_matches_torch_lr_and_momentum(kw, make_opt):
    s = OneCycleLR(**kw)
    t = np.arange(s.num_steps)
    lrs, moms = torch_trace(s, make_opt, s.num_steps)
    assert_close(s(t), lrs, s.lr)
    assert_close(s.momentum(t), moms, 1.0)


def test_one_cycle_without_momentum_cycling_matches_torch():
    s = OneCycleLR(0.3, total_steps=40, cycle_momentum=False)
    lrs, moms = torch_trace(s, lambda P, lr: torch.optim.SGD(P, lr=lr, momentum=0.7), 40)
    assert_close(s(np.arange(40)), lrs, s.lr)
    assert np.all(moms == 0.7)  # torch leaves momentum alone
    with pytest.raises(ValueError, match="cycle_momentum"):
        s.momentum(0)


def test_one_cycle_landmarks():
    s = OneCycleLR(1.0, total_steps=101, pct_start=0.2)  # warm-up ends at update 20.2 - 1
    assert s(0) == pytest.approx(1.0 / 25)
    assert s.momentum(0) == pytest.approx(0.95)
    peak = int(np.argmax(s(np.arange(101))))
    assert peak in (19, 20)
    assert s(100) == pytest.approx(1.0 / 25 / 1e4)
    assert s.momentum(100) == pytest.approx(0.95)
    assert s.min_lr == pytest.approx(4e-6) and s.initial_lr == pytest.approx(0.04)
    # momentum mirrors the LR: lowest where the LR peaks
    assert int(np.argmin(s.momentum(np.arange(101)))) == peak


def test_one_cycle_lr_is_max_lr_and_torch_kwargs():
    s = OneCycleLR(0.25, epochs=3, steps_per_epoch=10)
    assert s.lr == 0.25 and s.num_steps == 30
    assert s.torch_kwargs() == {f.name: getattr(s, f.name) for f in dataclasses.fields(s)}
    assert "lr" not in s.torch_kwargs()
    assert OneCycleLR in S.SCHEDULES and CosineAnnealingWarmRestarts in S.SCHEDULES
    assert {"OneCycleLR", "CosineAnnealingWarmRestarts"} <= set(S.__all__)


def test_one_cycle_raises_past_the_cycle():
    s = OneCycleLR(0.1, total_steps=20)
    s(19)
    with pytest.raises(ValueError, match="total_steps"):
        s(20)
    with pytest.raises(ValueError, match="total_steps"):
        s(np.arange(25))
    with pytest.raises(ValueError, match="total_steps"):
        s.momentum(np.array([3, 20]))


@pytest.mark.parametrize("kw", [
    dict(max_lr=0.1, total_steps=100),
    dict(max_lr=0.1, total_steps=100, three_phase=True, anneal_strategy="linear"),
])
def test_one_cycle_vectorised_equals_scalar(kw):
    s = OneCycleLR(**kw)
    t = np.arange(100)
    vec_lr, vec_mom = s(t), s.momentum(t)
    assert vec_lr.shape == (100,) and vec_mom.shape == (100,)
    assert np.array_equal(vec_lr, [s(int(k)) for k in t])
    assert np.array_equal(vec_mom, [s.momentum(int(k)) for k in t])
    assert isinstance(s(5), float) and isinstance(s.momentum(5), float)
    assert np.array_equal(s(t.reshape(4, 25)), vec_lr.reshape(4, 25))
    assert np.array_equal(s(t[::-1]), vec_lr[::-1])


def test_compare_runs_for_the_new_schedules():
    for s, steps in [(OneCycleLR(0.2, total_steps=120, three_phase=True), 120),
                     (CosineAnnealingWarmRestarts(0.2, T_0=7, T_mult=2, eta_min=1e-3), 400)]:
        c = runs.compare(s, steps=steps, device="cpu")
        assert c.passed, c.verdict


# --------------------------------------------------------------------------- warm restarts
WARM = [
    dict(lr=0.1, T_0=10),                       # 20 cycles of 10 in 200 updates
    dict(lr=0.1, T_0=10, eta_min=0.01),
    dict(lr=0.5, T_0=5, T_mult=2),               # 5, 10, 20, 40, 80: 5 cycles start before 200
    dict(lr=0.5, T_0=3, T_mult=3, eta_min=1e-3),  # 3, 9, 27, 81: 4 cycles start before 200
    dict(lr=1.0, T_0=1, T_mult=2),
    dict(lr=0.1, T_0=1),                          # T_cur is always 0: the LR never moves
]


@pytest.mark.parametrize("kw", WARM, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_warm_restarts_match_torch(kw):
    s = CosineAnnealingWarmRestarts(**kw)
    steps = 200
    lrs, _ = torch_trace(s, lambda P, lr: torch.optim.SGD(P, lr=lr), steps)
    assert len(s.cycle_starts(steps - 1)) >= 3
    assert_close(s(np.arange(steps)), lrs, s.lr)


def test_warm_restarts_cycle_structure():
    s = CosineAnnealingWarmRestarts(1.0, T_0=4, T_mult=2, eta_min=0.1)
    assert s.cycle_starts(60).tolist() == [0, 4, 12, 28, 60]
    T_cur, T_i = s.cycle_position(np.arange(29))
    assert T_i.tolist() == [4] * 4 + [8] * 8 + [16] * 16 + [32]
    assert T_cur[[0, 3, 4, 11, 12, 27, 28]].tolist() == [0, 3, 0, 7, 0, 15, 0]
    lr = s(np.arange(60))
    assert np.all(lr[[0, 4, 12, 28]] == 1.0)  # back to lr at every restart
    assert np.all(lr > 0.1)  # never reaches eta_min: T_cur stops at T_i - 1
    assert s.cycle_position(13) == (1, 16)


@pytest.mark.parametrize("T_mult", [1, 2, 3])
def test_warm_restarts_vectorised_equals_scalar(T_mult):
    s = CosineAnnealingWarmRestarts(0.1, T_0=6, T_mult=T_mult, eta_min=1e-4)
    t = np.arange(300)
    vec = s(t)
    assert np.array_equal(vec, [s(int(k)) for k in t])
    assert np.array_equal(s(t[::-1].reshape(3, 100)), vec[::-1].reshape(3, 100))
    assert isinstance(s(7), float)


def test_warm_restarts_large_t_exact():
    # integer cycle search: no float-log truncation at cycle boundaries
    s = CosineAnnealingWarmRestarts(1.0, T_0=3, T_mult=3)
    starts = s.cycle_starts(10**9)
    assert np.all(s(starts) == 1.0)
    T_cur, T_i = s.cycle_position(starts[1:] - 1)  # the last update of each cycle
    assert np.array_equal(T_cur, np.diff(starts) - 1) and np.array_equal(T_i, np.diff(starts))


# --------------------------------------------------------------------------- invalid inputs
@pytest.mark.parametrize("kw, match", [
    (dict(T_0=0), "T_0"), (dict(T_0=-3), "T_0"), (dict(T_0=2.0), "T_0"), (dict(T_0=True), "T_0"),
    (dict(T_0=5, T_mult=0), "T_mult"), (dict(T_0=5, T_mult=1.5), "T_mult"), (dict(T_0=5, T_mult=2.0), "T_mult"),
    (dict(T_0=5, eta_min="0"), "eta_min"), (dict(T_0=5, eta_min=-0.1), "eta_min"),
    (dict(T_0=5, eta_min=float("nan")), "eta_min"),
])
def test_warm_restarts_invalid(kw, match):
    with pytest.raises(ValueError, match=match):
        CosineAnnealingWarmRestarts(0.1, **kw)


def test_warm_restarts_invalid_lr_and_t():
    with pytest.raises(ValueError):
        CosineAnnealingWarmRestarts(-0.1, T_0=5)
    s = CosineAnnealingWarmRestarts(0.1, T_0=5)
    with pytest.raises(ValueError):
        s(-1)
    with pytest.raises(ValueError):
        s(1.5)


@pytest.mark.parametrize("kw, match", [
    (dict(), "total_steps OR"),
    (dict(epochs=3), "total_steps OR"),
    (dict(steps_per_epoch=3), "total_steps OR"),
    (dict(total_steps=0), "total_steps"),
    (dict(total_steps=10.0), "total_steps"),
    (dict(epochs=0, steps_per_epoch=5), "epochs"),
    (dict(epochs=2, steps_per_epoch=-5), "steps_per_epoch"),
    (dict(total_steps=30, epochs=2, steps_per_epoch=10), "epochs \\* steps_per_epoch"),
    (dict(total_steps=100, pct_start=-0.1), "pct_start"),
    (dict(total_steps=100, pct_start=1.1), "pct_start"),
    (dict(total_steps=100, pct_start="0.3"), "pct_start"),
    (dict(total_steps=100, anneal_strategy="cosine"), "anneal_strategy"),
    (dict(total_steps=100, div_factor=0.0), "div_factor"),
    (dict(total_steps=100, final_div_factor=-1.0), "final_div_factor"),
    (dict(total_steps=100, base_momentum=1.5), "base_momentum"),
    (dict(total_steps=100, max_momentum=-0.1), "max_momentum"),
    (dict(total_steps=10, pct_start=0.1), "zero updates"),              # torch: ZeroDivisionError
    (dict(total_steps=50, pct_start=1.0), "zero updates"),              # torch: fails at the last step()
    (dict(total_steps=10, pct_start=0.55, three_phase=True), "zero updates"),
])
def test_one_cycle_invalid(kw, match):
    with pytest.raises(ValueError, match=match):
        OneCycleLR(0.1, **kw)


def test_one_cycle_zero_length_phases_really_break_torch():
    # the cases we refuse are the ones torch cannot run through a full N-update loop
    for kw in [dict(total_steps=10, pct_start=0.1), dict(total_steps=50, pct_start=1.0)]:
        p = torch.zeros(1, requires_grad=True)
        opt = torch.optim.SGD([p], lr=0.1, momentum=0.9)
        with pytest.raises(ZeroDivisionError):
            sched = torch.optim.lr_scheduler.OneCycleLR(opt, 0.1, **kw)
            for _ in range(kw["total_steps"]):
                p.grad = torch.zeros(1)
                opt.step()
                sched.step()


def test_one_cycle_invalid_lr_and_flags():
    with pytest.raises(ValueError):
        OneCycleLR(-1.0, total_steps=10)
    with pytest.raises(TypeError):
        OneCycleLR(0.1, total_steps=10, three_phase="yes")
    with pytest.raises(TypeError):
        OneCycleLR(0.1, total_steps=10, cycle_momentum=1)
    s = OneCycleLR(0.1, total_steps=10)
    with pytest.raises(ValueError):
        s(-1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.max_lr = 1.0
