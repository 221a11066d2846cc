"""Invalid input: lrcourse raises ValueError / TypeError from its own checks, with a message naming the
parameter and the value; and for each check torch's constructor makes, torch rejects the same input
(so this file documents the parity of the checks, not only of the numbers)."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from lrcourse import optimizers as O
from lrcourse import schedules as S


def _torch_param():
    return [torch.zeros(2, requires_grad=True)]


def _torch_opt(name, **kw):
    return getattr(torch.optim, name)(_torch_param(), **kw)


def _torch_sched(name, **kw):
    opt = torch.optim.SGD(_torch_param(), lr=0.1)
    return getattr(torch.optim.lr_scheduler, name)(opt, **kw)


# --------------------------------------------------------------------------- optimizers
# (optimizer, kwargs, words the message must contain (parameter name and value))
OPT_CASES = []
for _cls in O.OPTIMIZERS:  # the checks of torch's shared fields, for every class that has the field
    OPT_CASES.append((_cls, dict(lr=-0.1), ["learning rate", "-0.1"]))
    OPT_CASES.append((_cls, dict(weight_decay=-1e-3), ["weight_decay", "-0.001"]))
    if "eps" in _cls.__dataclass_fields__:
        OPT_CASES.append((_cls, dict(eps=-1e-8), ["epsilon", "-1e-08"]))
    if "betas" not in _cls.__dataclass_fields__:
        continue
    OPT_CASES += [
        (_cls, dict(betas=(1.0, 0.999)), ["beta parameter at index 0", "1.0"]),
        (_cls, dict(betas=(-0.1, 0.999)), ["beta parameter at index 0", "-0.1"]),
        (_cls, dict(betas=(0.9, 1.0)), ["beta parameter at index 1", "1.0"]),
        (_cls, dict(betas=(0.9, 1.5)), ["beta parameter at index 1", "1.5"]),
    ]
OPT_CASES += [
    (O.SGD, dict(momentum=-0.5), ["momentum", "-0.5"]),
    (O.SGD, dict(nesterov=True), ["Nesterov", "momentum=0.0"]),
    (O.SGD, dict(nesterov=True, momentum=-0.1), ["momentum", "-0.1"]),
    (O.SGD, dict(nesterov=True, momentum=0.9, dampening=0.1), ["Nesterov", "dampening=0.1"]),
    (O.Adagrad, dict(lr_decay=-0.01), ["lr_decay", "-0.01"]),
    (O.Adagrad, dict(initial_accumulator_value=-1.0), ["initial_accumulator_value", "-1.0"]),
    (O.RMSprop, dict(momentum=-0.9), ["momentum", "-0.9"]),
    (O.RMSprop, dict(alpha=-0.99), ["alpha", "-0.99"]),
    (O.Adadelta, dict(rho=1.5), ["rho", "1.5"]),
    (O.Adadelta, dict(rho=-0.1), ["rho", "-0.1"]),
    (O.NAdam, dict(momentum_decay=-4e-3), ["momentum_decay", "-0.004"]),
    # SparseAdam (sparse gradients only, lesson 18): torch requires lr > 0 and eps > 0, not >= 0
    (O.SparseAdam, dict(lr=-0.1), ["learning rate", "-0.1"]),
    (O.SparseAdam, dict(lr=0.0), ["learning rate", "0.0"]),
    (O.SparseAdam, dict(eps=-1e-8), ["epsilon", "-1e-08"]),
    (O.SparseAdam, dict(eps=0.0), ["epsilon", "0.0"]),
    (O.SparseAdam, dict(betas=(1.0, 0.999)), ["beta parameter at index 0", "1.0"]),
    (O.SparseAdam, dict(betas=(0.9, 1.5)), ["beta parameter at index 1", "1.5"]),
]


def _case_id(case):
    cls, kw, _ = case
    return cls.__name__ + "-" + ",".join(f"{k}={v}" for k, v in kw.items())


@pytest.mark.parametrize("case", OPT_CASES, ids=[_case_id(c) for c in OPT_CASES])
def test_optimizer_rejects_like_torch(case):
    cls, kw, words = case
    with pytest.raises(ValueError) as err:
        cls(**kw)
    for w in words:
        assert w in str(err.value), f"message {str(err.value)!r} should mention {w!r}"
    with pytest.raises(ValueError):  # torch's constructor has the same check
        _torch_opt(cls.__name__, **kw)


@pytest.mark.parametrize("cls", O.OPTIMIZERS + (O.SparseAdam,), ids=lambda c: c.__name__)
def test_nan_hyperparameters_rejected(cls):
    """`not value >= 0` catches NaN too (torch's `value < 0` lets NaN through for some classes)."""
    with pytest.raises(ValueError, match="nan"):
        cls(lr=float("nan"))


@pytest.mark.parametrize("bad", ["0.1", None, True, [0.1]])
def test_non_number_hyperparameter_is_type_error(bad):
    with pytest.raises(TypeError, match="lr must be a real number"):
        O.Adam(lr=bad)
    with pytest.raises(TypeError, match="must be True or False"):
        O.Adam(amsgrad="yes")
    with pytest.raises((TypeError, ValueError), match="betas"):
        O.Adam(betas=0.9)


@pytest.mark.parametrize("cls", O.OPTIMIZERS, ids=lambda c: c.__name__)
def test_negative_lr_override_rejected(cls):
    """lr= in step() gets the same check as the constructor's (torch has no per-step check)."""
    opt = cls()
    p = np.zeros(3)
    with pytest.raises(ValueError, match=re.escape("Invalid learning rate value: -0.5")):
        opt.step(p, np.ones(3), opt.init(p), lr=-0.5)


@pytest.mark.parametrize("cls", O.OPTIMIZERS, ids=lambda c: c.__name__)
def test_shape_mismatch(cls):
    opt = cls()
    p = np.zeros((2, 3))
    for g in (np.ones((3, 2)), np.ones(3), np.ones((1, 3))):  # also shapes that would broadcast
        with pytest.raises(ValueError) as err:
            opt.step(p, g, opt.init(p))
        assert str(g.shape) in str(err.value) and "(2, 3)" in str(err.value), str(err.value)
    # torch refuses such a gradient as well
    tp = torch.zeros((2, 3), requires_grad=True)
    with pytest.raises(RuntimeError):
        tp.grad = torch.ones((3, 2))


@pytest.mark.parametrize("cls", O.OPTIMIZERS, ids=lambda c: c.__name__)
def test_dtype_mismatch(cls):
    opt = cls()
    p = np.zeros(3, dtype=np.float32)
    with pytest.raises(TypeError) as err:
        opt.step(p, np.ones(3, dtype=np.float64), opt.init(p))
    assert "float64" in str(err.value) and "float32" in str(err.value), str(err.value)
    tp = torch.zeros(3, dtype=torch.float32, requires_grad=True)
    with pytest.raises(RuntimeError):
        tp.grad = torch.ones(3, dtype=torch.float64)


@pytest.mark.parametrize("cls", O.OPTIMIZERS, ids=lambda c: c.__name__)
def test_state_from_other_params(cls):
    """A state made for other params (shape or dtype) is refused, naming both."""
    opt = cls(momentum=0.9) if cls is O.SGD else cls()
    p = np.zeros(3)
    _, state = opt.step(p, np.ones(3), opt.init(p))  # SGD's buffer exists after one step
    for q in (np.zeros(4), np.zeros(3, dtype=np.float32)):
        with pytest.raises(ValueError) as err:
            opt.step(q, np.ones_like(q), state)
        msg = str(err.value)
        assert "state." in msg and str(q.shape) in msg and str(q.dtype) in msg, msg


@pytest.mark.parametrize("cls", O.OPTIMIZERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.bool_, np.complex128, np.float16])
def test_non_float_params(cls, dtype):
    opt = cls()
    p = np.zeros(3, dtype=dtype)
    with pytest.raises(TypeError, match=f"params must be a float32 or float64 array, got dtype {np.dtype(dtype)}"):
        opt.init(p)
    with pytest.raises(TypeError, match="params must be a float32 or float64 array"):
        opt.step(p, p, opt.init(np.zeros(3)))
    with pytest.raises(TypeError, match="params must be a float32 or float64 array"):
        opt.step([1, 2, 3], [1, 2, 3], opt.init(np.zeros(3)))


def test_int_params_rejected_by_torch_too():
    with pytest.raises(RuntimeError):
        torch.zeros(3, dtype=torch.int64, requires_grad=True)


# --------------------------------------------------------------------------- schedules
SCHED_CASES = [
    # (our constructor, torch's name, torch kwargs or None when torch's constructor has no such check,
    #  words the message must contain)
    (lambda: S.ConstantLR(0.1, factor=1.5), "ConstantLR", dict(factor=1.5), ["factor=1.5"]),
    (lambda: S.ConstantLR(0.1, factor=-0.5), "ConstantLR", dict(factor=-0.5), ["factor=-0.5"]),
    (lambda: S.LinearLR(0.1, start_factor=0.0), "LinearLR", dict(start_factor=0.0), ["start_factor=0"]),
    (lambda: S.LinearLR(0.1, start_factor=1.5), "LinearLR", dict(start_factor=1.5), ["start_factor=1.5"]),
    (lambda: S.LinearLR(0.1, end_factor=1.5), "LinearLR", dict(end_factor=1.5), ["end_factor=1.5"]),
    (lambda: S.LinearLR(0.1, end_factor=-0.1), "LinearLR", dict(end_factor=-0.1), ["end_factor=-0.1"]),
    (lambda: S.ReduceLROnPlateau(0.1, mode="avg"), "ReduceLROnPlateau", dict(mode="avg"), ["mode", "avg"]),
    (lambda: S.ReduceLROnPlateau(0.1, threshold_mode="relative"), "ReduceLROnPlateau",
     dict(threshold_mode="relative"), ["threshold mode", "relative"]),
    (lambda: S.ReduceLROnPlateau(0.1, factor=1.0), "ReduceLROnPlateau", dict(factor=1.0), ["factor=1.0"]),
    (lambda: S.ReduceLROnPlateau(0.1, factor=2.0), "ReduceLROnPlateau", dict(factor=2.0), ["factor=2.0"]),
    # torch has no constructor check for these (see the ZeroDivisionError test below)
    (lambda: S.CosineAnnealingLR(0.1, T_max=0), "CosineAnnealingLR", None, ["T_max", "0"]),
    (lambda: S.CosineAnnealingLR(0.1, T_max=-10), "CosineAnnealingLR", None, ["T_max", "-10"]),
    (lambda: S.StepLR(0.1, step_size=0), "StepLR", None, ["step_size", "0"]),
    (lambda: S.StepLR(0.1, step_size=-2), "StepLR", None, ["step_size", "-2"]),
    (lambda: S.LinearLR(0.1, total_iters=0), "LinearLR", None, ["total_iters", "0"]),
    (lambda: S.ExponentialLR(0.1, gamma=-0.5), "ExponentialLR", None, ["gamma", "-0.5"]),
    (lambda: S.MultiStepLR(0.1, milestones=(3, -1)), "MultiStepLR", None, ["milestone", "-1"]),
    (lambda: S.ExponentialLR(-0.1, gamma=0.9), "ExponentialLR", None, ["learning rate", "-0.1"]),
    (lambda: S.ReduceLROnPlateau(-1.0), "ReduceLROnPlateau", None, ["learning rate", "-1.0"]),
    (lambda: S.ReduceLROnPlateau(0.1, patience=-1), "ReduceLROnPlateau", None, ["patience", "-1"]),
    (lambda: S.ReduceLROnPlateau(0.1, cooldown=-1), "ReduceLROnPlateau", None, ["cooldown", "-1"]),
    (lambda: S.ReduceLROnPlateau(0.1, min_lr=-1e-3), "ReduceLROnPlateau", None, ["min_lr", "-0.001"]),
]
SCHED_IDS = [f"{c[1]}-{i}" for i, c in enumerate(SCHED_CASES)]


@pytest.mark.parametrize("case", SCHED_CASES, ids=SCHED_IDS)
def test_schedule_rejects(case):
    make, torch_name, torch_kw, words = case
    with pytest.raises(ValueError) as err:
        make()
    for w in words:
        assert w in str(err.value), f"message {str(err.value)!r} should mention {w!r}"
    if torch_kw is not None:
        with pytest.raises(ValueError):
            _torch_sched(torch_name, **torch_kw)


@pytest.mark.parametrize("name,kw", [("CosineAnnealingLR", dict(T_max=0)), ("StepLR", dict(step_size=0))])
def test_torch_accepts_zero_period_then_divides_by_it(name, kw):
    """Documents why lrcourse checks T_max >= 1 and step_size >= 1 at construction: torch builds the
    scheduler and fails with ZeroDivisionError at the first scheduler.step()."""
    sched = _torch_sched(name, **kw)
    sched.optimizer.step()
    with pytest.raises(ZeroDivisionError):
        sched.step()


def test_sequential_milestone_count():
    lin, cos = S.LinearLR(0.1, start_factor=0.1, total_iters=5), S.CosineAnnealingLR(0.1, T_max=10)
    for ms in ((), (5, 10)):
        with pytest.raises(ValueError) as err:
            S.SequentialLR(schedulers=(lin, cos), milestones=ms)
        msg = str(err.value)
        assert "milestones" in msg and f"equal to {len(ms)}" in msg and "schedulers 2" in msg, msg
        opt = torch.optim.SGD(_torch_param(), lr=0.1)
        twins = [torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.1, total_iters=5),
                 torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)]
        with pytest.raises(ValueError):
            torch.optim.lr_scheduler.SequentialLR(opt, schedulers=twins, milestones=list(ms))
    with pytest.raises(ValueError, match="at least one scheduler"):
        S.SequentialLR(schedulers=(), milestones=())
    with pytest.raises(ValueError, match="share one base lr"):
        S.SequentialLR(schedulers=(lin, S.CosineAnnealingLR(0.2, T_max=10)), milestones=(5,))
    with pytest.raises(ValueError, match="ReduceLROnPlateau"):
        S.SequentialLR(schedulers=(lin, S.ReduceLROnPlateau(0.1)), milestones=(5,))


@pytest.mark.parametrize("t", [-1, np.int64(-3), np.array([0, 1, -2]), -0.0 - 1.0])
def test_negative_t(t):
    """No torch counterpart (torch's update counter cannot go below 0)."""
    sched = S.CosineAnnealingLR(0.1, T_max=10)
    with pytest.raises(ValueError, match=r"update numbers t must be >= 0"):
        sched(t)


@pytest.mark.parametrize("t", [1.5, np.array([0.0, 0.5]), float("nan"), float("inf")])
def test_fractional_t(t):
    with pytest.raises(ValueError, match="whole numbers"):
        S.StepLR(0.1, step_size=3)(t)


@pytest.mark.parametrize("t", ["3", np.array(["a"]), np.array([1 + 2j])])
def test_non_numeric_t(t):
    with pytest.raises(TypeError, match="update numbers t must be integers"):
        S.ExponentialLR(0.1, gamma=0.9)(t)


# --------------------------------------------------------------------------- problems given to runs
def test_a_problem_may_be_named_as_the_panels_name_it():
    from lrcourse import problems as P
    from lrcourse import runs

    by_name = runs.run(O.Adam(lr=0.05), "Rosenbrock", 20).params
    np.testing.assert_array_equal(by_name, runs.run(O.Adam(lr=0.05), P.Rosenbrock(), 20).params)
    assert runs.compare(O.Adam(lr=0.05), "Rosenbrock", 20, device="cpu").passed


@pytest.mark.parametrize("bad, error, words", [
    ("Rosenbrok", ValueError, ["unknown problem 'Rosenbrok'", "'Rosenbrock'"]),
    (3, TypeError, ["problems.Problem", "int", "x0, loss, grad"]),
    (np.zeros(2), TypeError, ["problems.Problem", "ndarray", "x0, loss, grad"]),
])
def test_what_is_not_a_problem_is_refused_before_the_first_update(bad, error, words):
    from lrcourse import runs

    for call in (lambda: runs.run(O.SGD(lr=0.1), bad, 5), lambda: runs.numpy_only(O.SGD(lr=0.1), bad, 5),
                 lambda: runs.compare(O.SGD(lr=0.1), bad, 5, device="cpu")):
        with pytest.raises(error) as info:
            call()
        assert all(w in str(info.value) for w in words), str(info.value)
