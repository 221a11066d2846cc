"""Parity of lrcourse.optimizers with torch.optim (2.13), computed here against the installed torch.

Nothing is hard-coded: every expected number comes from running the torch twin
``getattr(torch.optim, type(opt).__name__)([p], **opt.hyperparameters())`` in the same test.

Tolerances (see docs/torch-conventions.md):
  float64: rtol 1e-12 plus atol 1e-13 * max|field|;   float32: rtol 1e-5 plus atol 1e-6 * max|field|.

Run with ``-s`` to see the largest errors measured per optimizer and dtype.
SparseAdam, and Adagrad and SGD given sparse gradients, have the same tests in test_sparse.py.
"""
from __future__ import annotations

import collections
import dataclasses
import inspect
import os

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lrcourse import fast
from lrcourse import optimizers as O
from lrcourse.optimizers import SGD, Adam, AdamW, NAdam, RMSprop

# hypothesis examples per test; LRCOURSE_HYPOTHESIS_EXAMPLES=1000 for a thorough run
N_EXAMPLES = int(os.environ.get("LRCOURSE_HYPOTHESIS_EXAMPLES", 25))

DTYPES = (np.float64, np.float32)
TORCH_DTYPE = {np.dtype(np.float64): torch.float64, np.dtype(np.float32): torch.float32}
# (rtol, atol as a fraction of the field's largest magnitude)
TOL = {np.dtype(np.float64): (1e-12, 1e-13), np.dtype(np.float32): (1e-5, 1e-6)}

# Every option torch offers, one at a time and in combination: each class's `variants` (the same
# sets `python -m lrcourse verify` checks).  Their learning rates are chosen so that the
# whole-trajectory test (b) runs on a contractive problem (no chaos to amplify 1-ulp noise).
CONFIGS = [(cls, kw) for cls in O.OPTIMIZERS for kw in cls.variants]


def _config_id(cfg):
    cls, kw = cfg
    return cls.__name__ + "(" + ",".join(f"{k}={v}" for k, v in kw.items()) + ")"


CONFIG_IDS = [_config_id(c) for c in CONFIGS]
N_STEPS = 300


def lr_factors(n: int = N_STEPS) -> np.ndarray:
    """A schedule that changes the LR mid-run: LR 0 at update 0 (as LambdaLR(min(e/10, 1)) gives),
    linear warm-up, a plateau, a step down, then a cosine decay to 5 %."""
    t = np.arange(n, dtype=np.float64)
    f = np.ones(n)
    f[:20] = t[:20] / 20
    f[120:200] = 0.3
    tail = t[200:] - 200
    f[200:] = 0.05 + 0.25 * (1 + np.cos(np.pi * tail / (n - 200))) / 2
    return f


def lr_arg(opt, factor: float):
    """The lr= argument for our step: None (use opt.lr) on the plateau, so that path is tested too."""
    return None if factor == 1.0 else float(opt.lr * factor)


# --------------------------------------------------------------------------- torch glue
def torch_twin(opt, p: np.ndarray):
    tp = torch.from_numpy(np.array(p, copy=True)).requires_grad_()
    topt = getattr(torch.optim, type(opt).__name__)([tp], **opt.hyperparameters())
    return tp, topt


def torch_step(topt, tp, grad: np.ndarray, lr: float) -> None:
    topt.param_groups[0]["lr"] = lr
    tp.grad = torch.from_numpy(np.array(grad, copy=True))
    topt.step()


def snapshot(topt, tp) -> dict:
    """A copy of torch's per-parameter state (torch updates it in place)."""
    return {k: (v.detach().clone() if torch.is_tensor(v) else v) for k, v in topt.state[tp].items()}


def to_ours(opt, p: np.ndarray, tstate: dict):
    """torch's per-parameter state as our state NamedTuple (init() when torch has none yet)."""
    ref = opt.init(p)
    if not tstate:
        return ref
    extra = set(tstate) - set(ref._fields)
    assert not extra, f"torch keeps state {extra} that {type(ref).__name__} has no field for"
    kw = {}
    for name in ref._fields:
        v = tstate.get(name)
        if v is None:
            kw[name] = None
        elif name == "step":
            kw[name] = int(v.item())
        elif name == "mu_product":
            kw[name] = float(v.item())
        else:
            kw[name] = v.detach().numpy().copy()
    return type(ref)(**kw)


# --------------------------------------------------------------------------- comparisons
ERRORS: dict = collections.defaultdict(float)  # (optimizer, dtype, test) -> max |ours-torch| / max|torch|


def assert_close(actual, expected, dtype, what: str, record=None):
    """Same shape, dtype, NaN/inf pattern; finite entries within rtol + atol * max|expected|."""
    dtype = np.dtype(dtype)
    rtol, afrac = TOL[dtype]
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != torch's {expected.shape}"
    assert actual.dtype == dtype, f"{what}: dtype {actual.dtype}, expected {dtype}"
    assert expected.dtype == dtype, f"{what}: torch's dtype {expected.dtype}"
    fin = np.isfinite(expected)
    # this runs 10^5 times: the three patterns are looked at only where some entry is not finite
    if not (fin.all() and np.isfinite(actual).all()):
        for pattern, name in ((np.isnan, "NaN"), (np.isposinf, "+inf"), (np.isneginf, "-inf")):
            np.testing.assert_array_equal(pattern(actual), pattern(expected), err_msg=f"{what}: {name} pattern")
    a, e = actual[fin].astype(np.float64), expected[fin].astype(np.float64)
    scale = float(np.max(np.abs(e), initial=0.0))
    err = np.abs(a - e)
    bound = afrac * scale + rtol * np.abs(e)
    if record is not None and err.size:
        ERRORS[record] = max(ERRORS[record], float(err.max()) / (scale or 1.0))
    if np.any(err > bound):
        i = int(np.argmax(err - bound))
        raise AssertionError(
            f"{what}: max |ours - torch| = {err.max():.3e} exceeds rtol={rtol:g} + atol={afrac * scale:.3e}; "
            f"worst entry ours={a[i]!r} torch={e[i]!r}"
        )


def assert_state_matches(ours, tstate: dict, dtype, what: str, record=None):
    """Our state has exactly torch's keys (others None) and the same values."""
    present = {f for f in ours._fields if getattr(ours, f) is not None}
    assert present == set(tstate), f"{what}: our non-None fields {sorted(present)} != torch's keys {sorted(tstate)}"
    for name, tv in tstate.items():
        ov = getattr(ours, name)
        if name == "step":
            assert type(ov) is int, f"{what}: step should be a Python int, got {type(ov)}"
            assert ov == tv.item(), f"{what}: step {ov} != torch's {tv.item()}"
        elif name == "mu_product":
            assert type(ov) is float, f"{what}: mu_product should be a Python float"
            assert ov == float(np.float32(ov)), f"{what}: mu_product is not rounded to float32 as torch's is"
            assert ov == tv.item(), f"{what}: mu_product {ov!r} != torch's {tv.item()!r}"
        else:
            assert isinstance(ov, (np.ndarray, np.generic)), f"{what}: state.{name} is {type(ov)}"
            assert_close(ov, tv.detach().numpy(), dtype, f"{what} state.{name}", record)


# --------------------------------------------------------------------------- a test problem
class Quadratic:
    """f(p) = 1/2 p·A p - b·p with A positive definite (eigenvalues in [0.5, 2]), plus seeded noise.

    grad(p, t) is computed by NumPy in p's dtype, so both sides get bit-identical gradients from
    identical parameters.  ``sign=-1`` gives the gradient of -f, for maximize=True."""

    def __init__(self, shape, dtype, seed=0, noise=0.1, steps=N_STEPS, sign=1.0):
        rng = np.random.default_rng(seed)
        n = int(np.prod(shape))
        q, _ = np.linalg.qr(rng.standard_normal((n, n)))
        self.shape, self.dtype = shape, np.dtype(dtype)
        self.A = ((q * np.linspace(0.5, 2.0, n)) @ q.T).astype(dtype)
        self.b = rng.standard_normal(n).astype(dtype)
        self.noise = (noise * rng.standard_normal((steps, n))).astype(dtype)
        self.sign = sign
        self.p0 = rng.standard_normal(shape).astype(dtype)

    def grad(self, p, t):
        g = self.A @ np.asarray(p, self.dtype).reshape(-1) - self.b + self.noise[t]
        return (g if self.sign > 0 else -g).reshape(self.shape).astype(self.dtype, copy=False)


def _key(opt, dtype, test):
    return (type(opt).__name__, np.dtype(dtype).name, test)


# --------------------------------------------------------------------------- (a) step from torch's state
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("cfg", CONFIGS, ids=CONFIG_IDS)
def test_one_step_from_torch_state(cfg, dtype):
    """At every one of 300 steps (LR changing mid-run), take torch's param and state, do one step
    of ours, and compare params and every state field with torch's next values."""
    cls, kw = cfg
    opt = cls(**kw)
    prob = Quadratic((4, 5), dtype, seed=1, sign=-1.0 if opt.maximize else 1.0)
    tp, topt = torch_twin(opt, prob.p0)
    key = _key(opt, dtype, "one-step")
    for t, f in enumerate(lr_factors()):
        p = tp.detach().numpy().copy()
        before = snapshot(topt, tp)
        state = to_ours(opt, p, before)
        if t == 0 and before:  # torch's constructor-made state (Adagrad's) must equal our init()
            assert_state_matches(opt.init(p), before, dtype, "init", key)
        g = prob.grad(p, t)
        torch_step(topt, tp, g, opt.lr * f)
        p_new, s_new = opt.step(p, g, state, lr=lr_arg(opt, f))
        assert type(s_new) is type(state)
        assert_close(p_new, tp.detach().numpy(), dtype, f"step {t} params", key)
        assert_state_matches(s_new, topt.state[tp], dtype, f"step {t}", key)


# --------------------------------------------------------------------------- (b) whole trajectories
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("cfg", CONFIGS, ids=CONFIG_IDS)
def test_trajectory(cfg, dtype):
    """300 independent steps on each side, each computing its gradient from its own params."""
    cls, kw = cfg
    opt = cls(**kw)
    prob = Quadratic((4, 5), dtype, seed=2, sign=-1.0 if opt.maximize else 1.0)
    tp, topt = torch_twin(opt, prob.p0)
    p, state = prob.p0.copy(), opt.init(prob.p0)
    key = _key(opt, dtype, "trajectory")
    for t, f in enumerate(lr_factors()):
        torch_step(topt, tp, prob.grad(tp.detach().numpy(), t), opt.lr * f)
        p, state = opt.step(p, prob.grad(p, t), state, lr=lr_arg(opt, f))
        assert_close(p, tp.detach().numpy(), dtype, f"step {t} params", key)
    assert_state_matches(state, topt.state[tp], dtype, "final", key)
    # the problem is solved (so the comparison is of a converging run, not of two diverging ones)
    scale = np.abs(np.linalg.solve(prob.A.astype(np.float64), prob.b.astype(np.float64))).max()
    assert np.all(np.isfinite(p)) and np.abs(p).max() < 10 * scale


# --------------------------------------------------------------------------- (c) hypothesis
def _unit(lo=0.0, hi=1.0):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def _maybe_zero(strategy):
    return st.one_of(st.just(0.0), strategy)


# Random hyperparameters by torch's field names, so an optimizer that uses them needs no entry here.
FIELD_STRATEGIES = {
    "momentum": _maybe_zero(_unit(0, 0.999)), "dampening": _maybe_zero(_unit(0, 1)),
    "weight_decay": _maybe_zero(_unit(0, 1)), "lr_decay": _maybe_zero(_unit(0, 1)),
    "initial_accumulator_value": _maybe_zero(_unit(0, 2)), "eps": _unit(0, 1e-2), "alpha": _unit(0, 1),
    "rho": _unit(0, 1), "momentum_decay": _maybe_zero(_unit(0, 0.1)),
    "betas": st.tuples(_unit(0, 0.9999), _unit(0, 0.99999)),
}


def hyper_strategy(cls):
    """Every init field of cls: booleans for flags, lr up to twice its default (at least 1)."""
    out = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        if f.type in ("bool", bool):
            out[f.name] = st.booleans()
        elif f.name == "lr":
            out[f.name] = _unit(0, max(1.0, 2 * f.default))
        else:
            out[f.name] = FIELD_STRATEGIES[f.name]  # a KeyError names a field this table must learn
    return st.fixed_dictionaries(out)


def _nadam_mu_product(opt, step):
    """torch's float32 running product of the mu's after `step` steps."""
    mp = torch.tensor(1.0)
    for k in range(1, step + 1):
        mp *= opt.betas[0] * (1.0 - 0.5 * 0.96 ** (k * opt.momentum_decay))
    return mp


def random_torch_state(opt, p, rng, step, sgd_buffer):
    """A plausible mid-run torch state for opt: moments of the right sign, centered RMSprop's
    square_avg >= grad_avg**2, AMSGrad's max >= v."""
    tt = lambda a: torch.from_numpy(np.asarray(a, p.dtype))  # noqa: E731
    pos = lambda: rng.uniform(0.01, 2.0, p.shape) ** 2  # noqa: E731
    st_ = {"step": torch.tensor(float(step))}
    name = type(opt).__name__
    if name == "SGD":
        return {"momentum_buffer": tt(rng.standard_normal(p.shape))} if opt.momentum != 0 and sgd_buffer else {}
    if name == "Adagrad":
        st_["sum"] = tt(opt.initial_accumulator_value + pos())
    elif name == "RMSprop":
        ga = rng.standard_normal(p.shape)
        # square_avg - grad_avg**2 (the centred variance) kept >= a quarter of grad_avg**2: a variance
        # tiny beside the squared mean is a cancellation that float32 cannot resolve in either library
        # (torch's fused addcmul rounds differently), so it would test rounding, not the formula.
        st_["square_avg"] = tt(ga * ga * rng.uniform(1.25, 3.0, p.shape) + pos())
        if opt.momentum > 0:
            st_["momentum_buffer"] = tt(rng.standard_normal(p.shape))
        if opt.centered:
            st_["grad_avg"] = tt(ga)
    elif name == "Adadelta":
        st_["square_avg"], st_["acc_delta"] = tt(pos()), tt(pos() * 1e-2)
    elif name in ("Adam", "AdamW", "NAdam"):
        if name == "NAdam":
            st_["mu_product"] = _nadam_mu_product(opt, step)
        st_["exp_avg"] = tt(rng.standard_normal(p.shape) * 0.1)
        v = pos() * 1e-2
        st_["exp_avg_sq"] = tt(v)
        if getattr(opt, "amsgrad", False):
            st_["max_exp_avg_sq"] = tt(v + rng.choice([0.0, 1.0], p.shape) * pos() * 1e-2)
    else:  # any other optimizer: torch's own state after min(step, 30) random steps
        tp, topt = torch_twin(opt, p)
        for _ in range(min(step, 30)):
            torch_step(topt, tp, rng.standard_normal(p.shape).astype(p.dtype), opt.lr)
        return snapshot(topt, tp)
    return st_


def _hyper_test(cls):
    @settings(max_examples=N_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(kw=hyper_strategy(cls), dtype=st.sampled_from(DTYPES), step=st.integers(0, 300), seed=st.integers(0, 2**32 - 1),
           lr_override=st.one_of(st.none(), _unit(0, 1)), sgd_buffer=st.booleans())
    def test(kw, dtype, step, seed, lr_override, sgd_buffer):
        if cls is SGD and kw["nesterov"]:
            kw = dict(kw, dampening=0.0, momentum=kw["momentum"] or 0.5)
        if cls is RMSprop and kw["centered"]:
            # alpha -> 0 makes the centred variance square_avg - grad_avg**2 a cancellation of two
            # equal numbers (0 in exact arithmetic); torch's fused addcmul then returns the rounding
            # error of g*g, of either sign, so 1-ulp differences become O(1).  Not a formula question.
            kw = dict(kw, alpha=max(kw["alpha"], 0.05))
        opt = cls(**kw)
        rng = np.random.default_rng(seed)
        p = rng.standard_normal((3, 4)).astype(dtype)
        g = rng.standard_normal((3, 4)).astype(dtype)
        tp, topt = torch_twin(opt, p)
        topt.state[tp] = random_torch_state(opt, p, rng, step, sgd_buffer)
        state = to_ours(opt, p, snapshot(topt, tp))
        lr = opt.lr if lr_override is None else lr_override
        torch_step(topt, tp, g, lr)
        p_new, s_new = opt.step(p, g, state, lr=lr_override)
        key = _key(opt, dtype, "hypothesis")
        assert_close(p_new, tp.detach().numpy(), dtype, "params", key)
        assert_state_matches(s_new, topt.state[tp], dtype, "state", key)

    test.__name__ = f"test_hypothesis_one_step_{cls.__name__}"
    return test


for _cls in O.OPTIMIZERS:
    globals()[f"test_hypothesis_one_step_{_cls.__name__}"] = _hyper_test(_cls)
del _cls


# --------------------------------------------------------------------------- (d) purity, dtype, shapes
def _arrays_of(state):
    return [v for v in state if isinstance(v, np.ndarray)]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("cfg", CONFIGS, ids=CONFIG_IDS)
def test_pure_and_dtype_preserving(cfg, dtype, rng):
    cls, kw = cfg
    opt = cls(**kw)
    p = rng.standard_normal((3, 4)).astype(dtype)
    state = opt.init(p)
    for t in range(3):  # the first step and later ones (SGD's buffer exists only from step 2 on)
        g = rng.standard_normal(p.shape).astype(dtype)
        ins = [p, g, *_arrays_of(state)]
        copies = [a.copy() for a in ins]
        state_before = state
        p_new, state = opt.step(p, g, state, lr=opt.lr * 0.5 if t == 1 else None)
        for a, c in zip(ins, copies):
            np.testing.assert_array_equal(a, c, err_msg="step() mutated one of its inputs")
        assert type(state) is type(state_before)
        outs = [p_new, *_arrays_of(state)]
        for o in outs:
            assert o.dtype == np.dtype(dtype), f"dtype not preserved: {o.dtype}"
            assert o.shape == p.shape
            for a in ins:
                assert not np.shares_memory(o, a), "an output aliases an input: later in-place use would corrupt it"
        for name in ("step",):
            if name in state._fields:
                assert type(getattr(state, name)) is int
        p = p_new
    assert opt == cls(**kw), "the optimizer object changed"
    with pytest.raises(dataclasses.FrozenInstanceError):
        opt.lr = 1.0


@pytest.mark.parametrize("cfg", CONFIGS, ids=CONFIG_IDS)
def test_numpy_scalar_hyperparameters_keep_float32(cfg, rng):
    """Hyperparameters given as np.float64 scalars are stored as Python floats, so they cannot
    upcast float32 arrays (NumPy 2 makes float32_array * np.float64(x) a float64 array)."""
    cls, kw = cfg
    np_kw = {k: (np.float64(v) if type(v) is float else v) for k, v in kw.items()}
    np_kw["lr"] = np.float64(kw.get("lr", 0.5))
    opt = cls(**np_kw)
    for f in dataclasses.fields(opt):
        v = getattr(opt, f.name)
        assert type(v) in (float, bool, tuple), f"{f.name} stored as {type(v)}"
    p = rng.standard_normal(5).astype(np.float32)
    state = opt.init(p)
    for _ in range(2):
        p, state = opt.step(p, np.ones(5, np.float32), state, lr=np.float64(0.01))
    assert p.dtype == np.float32 and all(a.dtype == np.float32 for a in _arrays_of(state))


@pytest.mark.parametrize("shape", [(), (7,), (2, 3, 4)], ids=["0d", "1d", "3d"])
@pytest.mark.parametrize("cfg", CONFIGS, ids=CONFIG_IDS)
def test_any_shape(cfg, shape, rng):
    """0-d, 1-d and 3-d params: 5 independent steps of each side, float64 and float32."""
    cls, kw = cfg
    opt = cls(**kw)
    for dtype in DTYPES:
        p = np.asarray(rng.standard_normal(shape), dtype=dtype)
        grads = [np.asarray(rng.standard_normal(shape), dtype=dtype) for _ in range(5)]
        tp, topt = torch_twin(opt, p)
        state = opt.init(p)
        for t, g in enumerate(grads):
            torch_step(topt, tp, g, opt.lr)
            p, state = opt.step(p, g, state)
            assert np.shape(p) == shape and p.dtype == np.dtype(dtype)
            assert_close(p, tp.detach().numpy(), dtype, f"{shape} step {t}")
        assert_state_matches(state, topt.state[tp], dtype, f"{shape}")


FAST_CASES = [
    Adam(lr=0.01), Adam(lr=0.01, amsgrad=True), Adam(lr=0.01, weight_decay=0.05),
    Adam(lr=0.01, amsgrad=True, weight_decay=0.1, decoupled_weight_decay=True, maximize=True),
    Adam(lr=0.01, betas=(0.3, 0.9), amsgrad=True), AdamW(lr=0.01, weight_decay=0.1),
]
FAST_IDS = ["plain", "amsgrad", "l2", "amsgrad-decoupled-maximize", "beta1=0.3", "AdamW"]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("opt", FAST_CASES, ids=FAST_IDS)
def test_fast_adam_matches_torch(opt, dtype, rng):
    """lrcourse.fast.adam_step on 300 009 entries (several blocks, the last one partial): the same
    values as torch, one step from torch's state, 3 times, the LR changed at the second."""
    shape = (3, 100_003)
    assert np.prod(shape) > 2 * fast.BLOCK and np.prod(shape) % fast.BLOCK
    p = rng.standard_normal(shape).astype(dtype)
    tp, topt = torch_twin(opt, p)
    key = (type(opt).__name__, np.dtype(dtype).name, "fast")
    for t in range(3):
        p = tp.detach().numpy().copy()
        g = rng.standard_normal(shape).astype(dtype)
        state = to_ours(opt, p, snapshot(topt, tp))
        torch_step(topt, tp, g, opt.lr * (1.0 if t != 1 else 0.5))
        p_new, s_new = fast.adam_step(opt, p, g, state, lr=None if t != 1 else opt.lr * 0.5)
        assert_close(p_new, tp.detach().numpy(), dtype, f"step {t} params", key)
        assert_state_matches(s_new, topt.state[tp], dtype, f"step {t}", key)


@pytest.mark.parametrize("shape", [(600, 500), (7,), (), (fast.BLOCK,)], ids=["blocks", "small", "0d", "one-block"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("opt", FAST_CASES, ids=FAST_IDS)
def test_fast_adam_equals_reference_bit_for_bit(opt, dtype, shape, rng):
    """fast.adam_step is Adam.step cut into blocks: bit-identical params and state over 4 steps,
    NaN and inf included (both branches of the lerp form: beta1 = 0.3 takes the other one),
    and neither path modifies its inputs."""
    p = np.asarray(rng.standard_normal(shape)).astype(dtype)
    grads = [np.sin(p + k).astype(dtype) for k in range(4)]
    if p.size >= 3:
        grads[1].reshape(-1)[:3] = [np.nan, np.inf, -np.inf]
    copies = [p.copy()] + [g.copy() for g in grads]
    qa, sa = qb, sb = p, opt.init(p)
    with np.errstate(all="ignore"):
        for k, g in enumerate(grads):
            lr = None if k != 2 else 0.003
            qa, sa = opt.step(qa, g, sa, lr=lr)
            qb, sb = fast.adam_step(opt, qb, g, sb, lr=lr)
            np.testing.assert_array_equal(qa, qb)
            for a, b in zip(sa, sb):
                np.testing.assert_array_equal(a, b)
    if p.size >= 3:
        assert np.isnan(qa).any() and np.isfinite(qa).any()
    for a, c in zip([p] + grads, copies):
        np.testing.assert_array_equal(a, c, err_msg="an input was modified")


def test_fast_adam_refuses_other_optimizers():
    with pytest.raises(TypeError, match="Adam or AdamW"):
        fast.adam_step(NAdam(), np.zeros(2), np.zeros(2), NAdam().init(np.zeros(2)))


# --------------------------------------------------------------------------- (e) NaN and inf
def _check_nan_inf(opt, dtype, rng):
    shape = (8,)
    grads = [rng.standard_normal(shape).astype(dtype) for _ in range(6)]
    grads[1][[0, 1, 2]] = [np.nan, np.inf, -np.inf]
    grads[3][3] = -np.inf
    grads[4][4] = np.nan
    p0 = rng.standard_normal(shape).astype(dtype)
    # one step at a time from torch's state
    tp, topt = torch_twin(opt, p0)
    for t, g in enumerate(grads):
        p = tp.detach().numpy().copy()
        state = to_ours(opt, p, snapshot(topt, tp))
        torch_step(topt, tp, g, opt.lr)
        with np.errstate(all="ignore"):
            p_new, s_new = opt.step(p, g, state)
        assert_close(p_new, tp.detach().numpy(), dtype, f"step {t} params")
        assert_state_matches(s_new, topt.state[tp], dtype, f"step {t}")
    # independent runs
    tp, topt = torch_twin(opt, p0)
    p, state = p0.copy(), opt.init(p0)
    for t, g in enumerate(grads):
        torch_step(topt, tp, g, opt.lr)
        with np.errstate(all="ignore"):
            p, state = opt.step(p, g, state)
        assert_close(p, tp.detach().numpy(), dtype, f"run step {t} params")
    assert_state_matches(state, topt.state[tp], dtype, "run")
    assert np.isnan(p).any(), "the test should reach NaN params (else it checks nothing)"


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("cfg", CONFIGS, ids=CONFIG_IDS)
def test_nan_inf_propagate_like_torch(cfg, dtype, rng):
    """NaN, +inf and -inf in a gradient: the same NaN/inf pattern in params and state as torch's,
    both one step at a time from torch's state and along independent runs."""
    cls, kw = cfg
    _check_nan_inf(cls(**kw), dtype, rng)


@pytest.mark.parametrize("opt", [
    Adam(betas=(0.3, 0.999)), NAdam(betas=(0.5, 0.999)), RMSprop(alpha=0.2, centered=True),
], ids=["Adam-beta1=0.3", "NAdam-beta1=0.5", "RMSprop-centered-alpha=0.2"])
def test_nan_inf_with_small_decay(opt, rng):
    """torch's lerp() evaluates an average from its nearer end; with weight 1 - beta >= 0.5 that is
    g - (g - m) * beta, which turns an infinite gradient into NaN at once (not inf)."""
    _check_nan_inf(opt, np.float64, rng)


# --------------------------------------------------------------------------- (f) the fields are torch's
NOT_HYPERPARAMETERS = {"params", "foreach", "fused", "capturable", "differentiable"}


@pytest.mark.parametrize("cls", O.OPTIMIZERS + (O.SparseAdam,), ids=lambda c: c.__name__)
def test_fields_are_torch_hyperparameters(cls):
    sig = inspect.signature(getattr(torch.optim, cls.__name__))
    torch_params = [(k, v.default) for k, v in sig.parameters.items() if k not in NOT_HYPERPARAMETERS]
    ours = [(f.name, f.default) for f in dataclasses.fields(cls) if f.init]
    assert [k for k, _ in ours] == [k for k, _ in torch_params], "names or order differ from torch's signature"
    for (name, d_ours), (_, d_torch) in zip(ours, torch_params):
        assert d_ours == d_torch and type(d_ours) in (type(d_torch), float), f"default of {name}"
    opt = cls()
    hp = opt.hyperparameters()
    assert list(hp) == [k for k, _ in torch_params]
    assert hp == dict(torch_params)
    # the twin is built from them and holds the same values in its param group
    topt = getattr(torch.optim, cls.__name__)([torch.zeros(2, requires_grad=True)], **hp)
    for k, v in hp.items():
        assert topt.param_groups[0][k] == v, k


def test_adamw_is_decoupled_adam():
    assert AdamW().decoupled_weight_decay is True
    assert "decoupled_weight_decay" not in AdamW().hyperparameters()
    with pytest.raises(TypeError):
        AdamW(decoupled_weight_decay=False)


@pytest.mark.parametrize("cls", O.OPTIMIZERS + (O.SparseAdam,), ids=lambda c: c.__name__)
def test_every_option_is_varied(cls):
    """Each class's variants switch on every flag and move every number off its default
    (so the parity tests above exercise every torch option), and example() builds."""
    assert cls.variants, f"{cls.__name__}.variants is empty"
    defaults = cls()
    for f in dataclasses.fields(cls):
        if f.init and f.name != "lr":
            assert any(cls(**kw).hyperparameters()[f.name] != getattr(defaults, f.name) for kw in cls.variants), \
                f"no variant of {cls.__name__} changes {f.name}"
    assert isinstance(cls.example(), cls)


# --------------------------------------------------------------------------- report
@pytest.fixture(scope="module", autouse=True)
def _print_errors():
    yield
    if ERRORS:
        print("\nmax |ours - torch| / max|torch| seen (per optimizer, dtype, test):")
        for (name, dt, test), e in sorted(ERRORS.items()):
            print(f"  {name:9s} {dt:8s} {test:11s} {e:.2e}")
