"""Sparse gradients: SparseAdam, and Adagrad and SGD given a SparseGrad, against torch.optim (2.13)
fed the gradient of ``nn.Embedding(sparse=True)`` (uncoalesced, duplicates included).

As in test_optimizers: every expected number comes from torch run in the test; float64 rtol 1e-12,
float32 rtol 1e-5 (plus an atol of 1e-13 / 1e-6 of the field's largest magnitude).
"""
from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_optimizers import DTYPES, N_EXAMPLES, N_STEPS, assert_close, lr_arg, lr_factors

from lrcourse import optimizers as O
from lrcourse import problems, runs, verify
from lrcourse.optimizers import SparseAdam, SparseGrad
from lrcourse.sparse_data import EmbeddingBagClassifier, make_zipf_text

CONFIGS = [(cls, kw) for cls in O.SPARSE_OPTIMIZERS for kw in cls.sparse_variants]
CONFIG_IDS = [cls.__name__ + "(" + ",".join(f"{k}={v}" for k, v in kw.items()) + ")" for cls, kw in CONFIGS]
ROWS, DIM = 60, 3


@pytest.fixture(autouse=True, scope="module")
def _quiet_torch():
    # One thread (runs.torch_one_thread says why).  Opting in to the invariant checks is also what
    # silences torch's warning.
    with runs.torch_one_thread(), torch.sparse.check_sparse_tensor_invariants(enable=True):
        yield


# --------------------------------------------------------------------------- torch glue
class EmbeddingTask:
    """f(E) = 1/2 sum over a minibatch of lookups k of |E[k] - T[k]|^2, through nn.Embedding(sparse=True).

    The lookups of update t are Zipf-distributed rows (frequent rows repeat within a batch, rare
    ones are absent for many updates), and some updates have none (an empty gradient).  torch's
    autograd gives the sparse gradient; ours is the same entries as a SparseGrad.  ``sign=-1``:
    the gradient of -f, for maximize=True."""

    def __init__(self, dtype, seed=0, steps=N_STEPS, sign=1.0):
        rng = np.random.default_rng(seed)
        probs = 1.0 / np.arange(1, ROWS + 1) ** 1.2
        probs /= probs.sum()
        sizes = rng.integers(0, 9, steps) * (rng.random(steps) > 0.05)
        self.lookups = [rng.choice(ROWS, size=k, p=probs) for k in sizes]
        self.T = rng.standard_normal((ROWS, DIM)).astype(dtype)
        self.p0 = rng.standard_normal((ROWS, DIM)).astype(dtype)
        self.dtype, self.sign = np.dtype(dtype), sign

    def torch_grad(self, weight: np.ndarray, t: int):
        # F.embedding(sparse=True) is nn.Embedding(sparse=True)'s forward, without building a module per update
        w = torch.tensor(weight, requires_grad=True)
        idx = torch.from_numpy(self.lookups[t])
        loss = 0.5 * ((torch.nn.functional.embedding(idx, w, sparse=True) - torch.from_numpy(self.T)[idx]) ** 2
                      ).sum() * self.sign
        loss.backward()
        return w.grad

    def grad(self, weight, t) -> SparseGrad:
        g = self.torch_grad(np.asarray(weight), t)
        return SparseGrad(g._indices()[0].numpy().copy(), g._values().detach().numpy().copy())


def torch_twin(opt, p):
    tp = torch.from_numpy(np.array(p, copy=True)).requires_grad_()
    return tp, getattr(torch.optim, type(opt).__name__)([tp], **opt.hyperparameters())


def torch_step(topt, tp, grad, lr):
    topt.param_groups[0]["lr"] = lr
    tp.grad = grad
    topt.step()


def as_numpy(v):
    if torch.is_tensor(v):
        return (v.to_dense() if v.is_sparse else v).detach().numpy().copy()
    return v


def ours_from_torch(opt, p, tstate):
    return opt.state_from({k: as_numpy(v) for k, v in tstate.items()}, p)


def assert_state(ours, tstate, dtype, what, carried=0.0):
    present = {f for f in ours._fields if getattr(ours, f) is not None}
    assert present == set(tstate), f"{what}: our fields {sorted(present)} != torch's keys {sorted(tstate)}"
    for name, tv in tstate.items():
        ov = getattr(ours, name)
        if name == "step":
            assert type(ov) is int and ov == int(as_numpy(tv)), f"{what}: step {ov!r} != torch's {tv!r}"
        elif torch.is_tensor(tv) and tv.is_sparse and not tv.is_coalesced():
            assert_sum_close(ov, tv, dtype, f"{what} state.{name}", carried)
        else:
            assert_close(ov, as_numpy(tv), dtype, f"{what} state.{name}")


def assert_sum_close(ours, tv, dtype, what, carried=0.0):
    """torch's SGD keeps its momentum buffer after sparse gradients as a sparse tensor that it never
    coalesces: every step scales all its entries by mu and appends the new gradient's, so a row's
    value is the sum of hundreds of entries that cancel as the row converges.  Ours is the dense
    running sum: the same number, rounded in another order, so they agree to the rounding of that
    sum, rtol * (sum of |entries|) per element (the classic bound), not rtol * |value|.  After
    independent runs, ``carried`` adds what the params' own agreement carries into the buffer.
    Among subnormal numbers (a buffer decayed by a tiny momentum) the spacing is absolute, not
    relative: each of a row's entries may add half of the smallest subnormal to the difference
    (hypothesis found momentum=1.4e-45 with entries near 1e-270: a difference of 5e-324)."""
    rtol = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-5}[np.dtype(dtype)]
    dense = tv.to_dense().numpy()
    magnitude = torch.sparse_coo_tensor(tv._indices(), tv._values().abs(), tv.shape).to_dense().numpy()
    entries = torch.sparse_coo_tensor(tv._indices(), torch.ones_like(tv._values()), tv.shape).to_dense().numpy()
    assert ours.shape == dense.shape and ours.dtype == dense.dtype, what
    err = np.abs(ours.astype(np.float64) - dense)
    subnormal = (entries + 1) * np.finfo(dtype).smallest_subnormal
    assert np.all(err <= rtol * magnitude + subnormal + carried), \
        f"{what}: max error / sum|entries| = {np.max(err / np.maximum(magnitude, 1e-300)):.2e}"


def _lr(opt, f):
    return opt.lr * f


# --------------------------------------------------------------------------- (a) one step from torch's state
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("cfg", CONFIGS, ids=CONFIG_IDS)
def test_one_step_from_torch_state(cfg, dtype):
    """300 updates, the LR changing mid-run (0 at update 0): at each, our step from torch's params
    and state, with nn.Embedding's gradient, equals torch's next params and state."""
    cls, kw = cfg
    opt = cls(**kw)
    task = EmbeddingTask(dtype, seed=1, sign=-1.0 if opt.maximize else 1.0)
    tp, topt = torch_twin(opt, task.p0)
    empty = duplicates = 0
    for t, f in enumerate(lr_factors()):
        p = tp.detach().numpy().copy()
        state = ours_from_torch(opt, p, topt.state[tp])
        tg = task.torch_grad(p, t)
        g = SparseGrad(tg._indices()[0].numpy().copy(), tg._values().numpy().copy())
        empty += g.indices.size == 0
        duplicates += g.indices.size > np.unique(g.indices).size
        torch_step(topt, tp, tg, _lr(opt, f))
        p_new, s_new = opt.step(p, g, state, lr=lr_arg(opt, f))
        assert type(s_new) is type(state)
        assert_close(p_new, tp.detach().numpy(), dtype, f"step {t} params")
        assert_state(s_new, topt.state[tp], dtype, f"step {t}")
    assert empty >= 5 and duplicates >= 100, (empty, duplicates)  # the run exercised both


# --------------------------------------------------------------------------- (b) whole trajectories
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("cfg", CONFIGS, ids=CONFIG_IDS)
def test_trajectory(cfg, dtype):
    """300 independent updates on each side, each with the gradient of its own params."""
    cls, kw = cfg
    opt = cls(**kw)
    task = EmbeddingTask(dtype, seed=2, sign=-1.0 if opt.maximize else 1.0)
    tp, topt = torch_twin(opt, task.p0)
    p, state = task.p0.copy(), opt.init(task.p0)
    for t, f in enumerate(lr_factors()):
        torch_step(topt, tp, task.torch_grad(tp.detach().numpy(), t), _lr(opt, f))
        p, state = opt.step(p, task.grad(p, t), state, lr=lr_arg(opt, f))
        assert_close(p, tp.detach().numpy(), dtype, f"step {t} params")
    # The params agree to rtol * max|p| (checked above); the gradient here is E - T, so the buffer, a
    # geometric sum of gradients, agrees to that over (1 - momentum).
    rtol = 1e-12 if np.dtype(dtype) == np.float64 else 1e-5
    carried = rtol * np.abs(p).max() / (1 - getattr(opt, "momentum", 0.0))
    assert_state(state, topt.state[tp], dtype, "final", carried)
    # converging, not diverging: the distance to the targets shrank on the rows seen most
    assert np.abs(p[0] - task.T[0]).max() < np.abs(task.p0[0] - task.T[0]).max()


# --------------------------------------------------------------------------- (c) hypothesis
def _unit(lo, hi):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


HYPER = {
    SparseAdam: st.fixed_dictionaries(dict(lr=_unit(1e-6, 2.0), betas=st.tuples(_unit(0, 0.9999), _unit(0, 0.99999)),
                                           eps=_unit(1e-12, 1e-2), maximize=st.booleans())),
    O.Adagrad: st.fixed_dictionaries(dict(lr=_unit(0, 2.0), lr_decay=_unit(0, 1), eps=_unit(0, 1e-2),
                                          initial_accumulator_value=_unit(0, 2), maximize=st.booleans())),
    O.SGD: st.fixed_dictionaries(dict(lr=_unit(0, 2.0), momentum=_unit(0, 0.999), dampening=_unit(0, 1),
                                      maximize=st.booleans())),
}


def _hyper_test(cls):
    @settings(max_examples=N_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(kw=HYPER[cls], dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**32 - 1), warm=st.integers(0, 30),
           lookups=st.lists(st.integers(0, ROWS - 1), max_size=12), lr_override=st.one_of(st.none(), _unit(0, 1)))
    def test(kw, dtype, seed, warm, lookups, lr_override):
        """torch's state after `warm` random sparse steps, then one step with the given lookups
        (any rows, duplicates, none)."""
        opt = cls(**kw)
        rng = np.random.default_rng(seed)
        p = rng.standard_normal((ROWS, DIM)).astype(dtype)
        tp, topt = torch_twin(opt, p)
        for _ in range(warm):
            idx = rng.integers(0, ROWS, rng.integers(0, 10))
            vals = rng.standard_normal((idx.size, DIM)).astype(dtype)
            torch_step(topt, tp, runs._torch_grad(SparseGrad(idx, vals), tp, torch), opt.lr)
        p = tp.detach().numpy().copy()
        state = ours_from_torch(opt, p, topt.state[tp])
        g = SparseGrad(np.array(lookups, dtype=np.int64), rng.standard_normal((len(lookups), DIM)).astype(dtype))
        lr = opt.lr if lr_override is None else lr_override
        torch_step(topt, tp, runs._torch_grad(g, tp, torch), lr)
        p_new, s_new = opt.step(p, g, state, lr=lr_override)
        assert_close(p_new, tp.detach().numpy(), dtype, "params")
        assert_state(s_new, topt.state[tp], dtype, "state")

    test.__name__ = f"test_hypothesis_one_step_{cls.__name__}"
    return test


for _cls in O.SPARSE_OPTIMIZERS:
    globals()[f"test_hypothesis_one_step_{_cls.__name__}"] = _hyper_test(_cls)
del _cls


# --------------------------------------------------------------------------- (d) SparseGrad and purity
@settings(max_examples=N_EXAMPLES, deadline=None)
@given(lookups=st.lists(st.integers(0, 9), max_size=30), seed=st.integers(0, 2**32 - 1), dtype=st.sampled_from(DTYPES))
def test_coalesce_and_to_dense_are_torchs(lookups, seed, dtype):
    """The same rows and the same sums, to the rounding of a sum: torch adds the duplicates in the order of
    its sort (not stable beyond a few entries), we in the order they came."""
    vals = np.random.default_rng(seed).standard_normal((len(lookups), 2)).astype(dtype)
    g = SparseGrad(np.array(lookups, dtype=np.int64), vals)
    t = torch.sparse_coo_tensor(torch.tensor([lookups], dtype=torch.int64).reshape(1, -1), torch.from_numpy(vals),
                                (10, 2)).coalesce()
    c = g.coalesce()
    np.testing.assert_array_equal(c.indices, t.indices()[0].numpy())
    bound = 32 * np.finfo(dtype).eps * SparseGrad(g.indices, np.abs(vals)).coalesce().values
    assert np.all(np.abs(c.values - t.values().numpy()) <= bound)
    assert np.all(np.abs(g.to_dense((10, 2))[c.indices] - t.to_dense().numpy()[c.indices]) <= bound)
    assert not np.any(np.delete(g.to_dense((10, 2)), c.indices, axis=0))
    np.testing.assert_array_equal((-g).values, -vals)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("cfg", CONFIGS, ids=CONFIG_IDS)
def test_pure_lazy_and_dtype_preserving(cfg, dtype, rng):
    """Inputs unchanged, outputs new arrays of the params' dtype, and rows without a gradient keep
    their value (all three; SGD with momentum moves them through its buffer, as torch's does)."""
    cls, kw = cfg
    opt = cls(**kw)
    p = rng.standard_normal((ROWS, DIM)).astype(dtype)
    state = opt.init(p)
    for _ in range(3):
        g = SparseGrad(np.array([3, 1, 3]), rng.standard_normal((3, DIM)).astype(dtype))
        arrays = [p, g.indices, g.values, *(v for v in state if isinstance(v, np.ndarray))]
        copies = [a.copy() for a in arrays]
        p_new, state = opt.step(p, g, state)
        for a, c in zip(arrays, copies):
            np.testing.assert_array_equal(a, c, err_msg="step() mutated one of its inputs")
        for o in (p_new, *(v for v in state if isinstance(v, np.ndarray))):
            assert o.dtype == np.dtype(dtype) and o.shape == p.shape
            assert not any(np.shares_memory(o, a) for a in arrays)
        untouched = np.setdiff1d(np.arange(ROWS), [1, 3])
        if getattr(opt, "momentum", 0) == 0:
            np.testing.assert_array_equal(p_new[untouched], p[untouched])
        assert not np.array_equal(p_new[3], p[3])
        p = p_new


def test_sparse_adam_first_step_on_a_late_row_is_3_lr():
    """The bias correction uses the global t: a row first seen at t = 10001 (its m and v still 0)
    moves by step_size (1 - beta1) / sqrt(1 - beta2), about 3.16 lr with the defaults, here and in torch."""
    opt, t = SparseAdam(lr=0.01), 10_000
    p = np.zeros((2, 1))
    state = opt.init(p)._replace(step=t)
    g = SparseGrad(np.array([1]), np.array([[1.0]]))
    p1, _ = opt.step(p, g, state)
    b1, b2 = opt.betas
    expected = 0.01 * np.sqrt(1 - b2 ** (t + 1)) / (1 - b1 ** (t + 1)) * (1 - b1) / (np.sqrt(1 - b2) + opt.eps)
    assert abs(-p1[1, 0] - expected) <= 1e-15 and p1[0, 0] == 0.0
    assert 3.16 < expected / opt.lr < 3.17
    tp, topt = torch_twin(opt, p)
    topt.state[tp] = {"step": t, "exp_avg": torch.zeros(2, 1, dtype=torch.float64),
                      "exp_avg_sq": torch.zeros(2, 1, dtype=torch.float64)}
    torch_step(topt, tp, runs._torch_grad(g, tp, torch), opt.lr)
    assert_close(p1, tp.detach().numpy(), np.float64, "late row")


# --------------------------------------------------------------------------- (e) the problem, the runs, verify
def test_embedding_bag_gradient_is_torchs():
    """EmbeddingBagClassifier.grad lists the same entries as nn.EmbeddingBag(mode="mean", sparse=True)
    with cross-entropy, and loss is torch's."""
    task = EmbeddingBagClassifier(make_zipf_text(vocab=300, n=200, length=7, seed=3), batch_size=16, seed=3)
    x = np.random.default_rng(0).standard_normal(task.x0.shape)
    for t in (0, 5):
        tokens, y = task._batch(t)
        bag = torch.nn.EmbeddingBag(300, 2, mode="mean", sparse=True, dtype=torch.float64)
        with torch.no_grad():
            bag.weight.copy_(torch.from_numpy(x))
        loss = torch.nn.functional.cross_entropy(bag(torch.from_numpy(tokens)), torch.from_numpy(y))
        loss.backward()
        tg, g = bag.weight.grad, task.grad(x, t)
        np.testing.assert_array_equal(g.indices, tg._indices()[0].numpy())
        np.testing.assert_allclose(g.values, tg._values().numpy(), rtol=1e-13, atol=1e-17)
        assert abs(task.loss(x, tokens, y) - loss.item()) < 1e-13
        np.testing.assert_array_equal(EmbeddingBagClassifier(task.data, 16, seed=3, sparse=False).grad(x, t),
                                      g.to_dense(x.shape))
    assert task.grad(x.astype(np.float32), 0).values.dtype == np.float32


def test_zipf_data_is_sparse_and_seeded():
    data = make_zipf_text(seed=0)
    counts = np.bincount(data.tokens_train.ravel(), minlength=data.vocab)
    assert data.vocab == 5000 and (counts == 0).mean() > 0.2 and counts[0] > 100 * np.median(counts)
    again = make_zipf_text(seed=0)
    np.testing.assert_array_equal(data.tokens_train, again.tokens_train)
    np.testing.assert_array_equal(data.y_val, again.y_val)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_compare_on_the_sparse_problem(dtype):
    for opt in (SparseAdam(lr=0.05), O.Adagrad(lr=0.2), O.SGD(lr=0.5, momentum=0.9)):
        c = runs.compare(opt, verify.sparse_problem(), 60, device="cpu", dtype=dtype)
        assert c.passed, c.verdict
        assert sorted(c.errors) == sorted(["params"] + [f for f in opt.init(np.zeros(1))._fields if f != "step"])


def test_compare_catches_a_dense_adam_posing_as_sparse():
    """A learner's step that decays every row (dense Adam's m and v) is not SparseAdam."""
    def dense_adam_step(params, grad, state, lr, betas, eps):
        (b1, b2), t = betas, state.step + 1
        g = grad.to_dense(params.shape)
        m = b1 * state.exp_avg + (1 - b1) * g
        v = b2 * state.exp_avg_sq + (1 - b2) * g * g
        p = params - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        return p, state._replace(step=t, exp_avg=m, exp_avg_sq=v)

    c = runs.compare(dense_adam_step, verify.sparse_problem(), 30, like=SparseAdam(lr=0.05), device="cpu")
    assert not c.passed and c.first_failure[0] <= 1, c.verdict


def test_run_and_negated_problem_take_sparse_gradients():
    task = verify.sparse_problem()
    h = runs.run(SparseAdam(lr=0.05), task, 50)
    assert h.losses[-1] < h.losses[0]
    hm = runs.run(SparseAdam(lr=0.05, maximize=True), problems.Negated(task), 50)
    np.testing.assert_array_equal(h.params, hm.params)


def test_verify_lists_every_sparse_variant():
    cases = verify.sparse_cases()
    assert len(cases) == sum(len(c.sparse_variants) for c in O.SPARSE_OPTIMIZERS)
    assert {type(o).__name__ for _, o in cases} == {"SGD", "Adagrad", "SparseAdam"}
    assert runs.torch_class_name(SparseAdam()) == "SparseAdam"


# --------------------------------------------------------------------------- (f) bad input, as torch refuses it
def test_sparse_adam_rejects_a_dense_gradient_like_torch():
    opt = SparseAdam()
    p = np.zeros((4, 2))
    with pytest.raises(TypeError, match="SparseAdam does not support dense gradients, please consider Adam"):
        opt.step(p, np.ones((4, 2)), opt.init(p))
    tp, topt = torch_twin(opt, p)
    tp.grad = torch.ones(4, 2, dtype=torch.float64)
    with pytest.raises(RuntimeError, match="does not support dense gradients"):
        topt.step()


@pytest.mark.parametrize("cls", [O.Adam, O.AdamW, O.NAdam, O.RMSprop, O.Adadelta], ids=lambda c: c.__name__)
def test_dense_optimizers_reject_a_sparse_gradient_like_torch(cls):
    opt = cls()
    p = np.zeros((4, 2))
    g = SparseGrad(np.array([1]), np.ones((1, 2)))
    with pytest.raises(TypeError, match=f"{cls.__name__} takes dense gradients.*SparseAdam"):
        opt.step(p, g, opt.init(p))
    tp, topt = torch_twin(opt, p)
    tp.grad = runs._torch_grad(g, tp, torch)
    with pytest.raises(RuntimeError, match="(?i)sparse"):
        topt.step()


@pytest.mark.parametrize("cls", [O.Adagrad, O.SGD], ids=lambda c: c.__name__)
def test_weight_decay_with_a_sparse_gradient_is_refused_like_torch(cls):
    opt = cls(weight_decay=0.1)
    p = np.zeros((4, 2))
    g = SparseGrad(np.array([1]), np.ones((1, 2)))
    with pytest.raises(ValueError, match="weight_decay.*not compatible with sparse gradients.*0.1"):
        opt.step(p, g, opt.init(p))
    tp, topt = torch_twin(opt, p)
    tp.grad = runs._torch_grad(g, tp, torch)
    with pytest.raises(RuntimeError):
        topt.step()


@pytest.mark.parametrize("kw, words", [
    (dict(lr=0.0), "Invalid learning rate: 0.0"), (dict(lr=-1e-3), "Invalid learning rate: -0.001"),
    (dict(lr=float("nan")), "Invalid learning rate: nan"), (dict(eps=0.0), "Invalid epsilon value: 0.0"),
    (dict(betas=(1.0, 0.999)), "beta parameter at index 0: 1.0"), (dict(betas=(0.9, 1.0)), "beta parameter at index 1: 1.0"),
])
def test_sparse_adam_hyperparameter_checks_are_torchs(kw, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(")):
        SparseAdam(**kw)
    with pytest.raises(ValueError, match=words.split(":")[0]):
        torch.optim.SparseAdam([torch.zeros(2, requires_grad=True)], **kw)


def test_sparse_adam_has_no_weight_decay_like_torch():
    with pytest.raises(TypeError):
        SparseAdam(weight_decay=0.1)
    with pytest.raises(TypeError):
        torch.optim.SparseAdam([torch.zeros(2, requires_grad=True)], weight_decay=0.1)


@pytest.mark.parametrize("cls", O.SPARSE_OPTIMIZERS, ids=lambda c: c.__name__)
def test_malformed_sparse_gradients_get_teaching_errors(cls):
    opt = cls()
    p = np.zeros((4, 2))
    state = opt.init(p)
    cases = [
        (SparseGrad(np.array([4]), np.ones((1, 2))), ValueError, "row 4, out of range for params with 4 rows"),
        (SparseGrad(np.array([-1]), np.ones((1, 2))), ValueError, "row -1, out of range"),
        (SparseGrad(np.array([1, 2]), np.ones((1, 2))), ValueError, r"values of shape \(2, 2\)"),
        (SparseGrad(np.array([1]), np.ones((1, 3))), ValueError, r"shape \(1, 3\)"),
        (SparseGrad(np.array([1.0]), np.ones((1, 2))), TypeError, "row numbers"),
        (SparseGrad(np.array([[1]]), np.ones((1, 1, 2))), TypeError, "1-D array"),
        (SparseGrad(np.array([1]), np.ones((1, 2), np.float32)), TypeError, "float32.*float64"),
    ]
    for g, err, words in cases:
        with pytest.raises(err, match=words):
            opt.step(p, g, state)
    with pytest.raises(ValueError, match="at least one dimension"):
        opt.step(np.zeros(()), SparseGrad(np.array([0]), np.ones(1)), opt.init(np.zeros(())))
    opt = cls(momentum=0.9) if cls is O.SGD else opt  # SGD's state holds an array once it has momentum
    _, state = opt.step(p, SparseGrad(np.array([1]), np.ones((1, 2))), opt.init(p))
    with pytest.raises(ValueError, match="state.*init"):
        opt.step(np.zeros((5, 2)), SparseGrad(np.array([1]), np.ones((1, 2))), state)
    # torch refuses an index out of range when it checks (as runs.compare asks it to)
    tp = torch.zeros(4, 2, dtype=torch.float64)
    with pytest.raises(RuntimeError):
        runs._torch_grad(SparseGrad(np.array([4]), np.ones((1, 2))), tp, torch)


def test_sparse_adam_fields_are_torchs():
    ours = [(f.name, f.default) for f in dataclasses.fields(SparseAdam) if f.init]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        topt = torch.optim.SparseAdam([torch.zeros(2, requires_grad=True)], **SparseAdam().hyperparameters())
    assert [k for k, _ in ours] == ["lr", "betas", "eps", "maximize"]
    for k, v in ours:
        assert topt.param_groups[0][k] == v, k


def test_verification_panel_checks_a_learners_lazy_update():
    """The panel of lesson 18: the learner's step function on the sparse problem, against torch's SparseAdam."""
    from lrcourse.widgets import VerificationPanel

    def sparse_adam_step(params, grad, state, lr, betas=(0.9, 0.999), eps=1e-8, lazy=True):
        (b1, b2), t = betas, state.step + 1
        g = grad.to_dense(params.shape)
        r = np.unique(grad.indices) if lazy else np.arange(len(params))
        m, v, p = state.exp_avg.copy(), state.exp_avg_sq.copy(), params.copy()
        m[r] = m[r] + (1 - b1) * (g[r] - m[r])
        v[r] = v[r] + (1 - b2) * (g[r] ** 2 - v[r])
        p[r] = p[r] - lr * np.sqrt(1 - b2**t) / (1 - b1**t) * (m[r] / (np.sqrt(v[r]) + eps))
        return p, state._replace(step=t, exp_avg=m, exp_avg_sq=v)

    def dense_step(params, grad, state, lr, betas=(0.9, 0.999), eps=1e-8):
        return sparse_adam_step(params, grad, state, lr, betas, eps, lazy=False)

    small = verify.sparse_problem()
    good = VerificationPanel(sparse_adam_step, like=SparseAdam(lr=0.05), problem=small, steps=20, device="cpu")
    assert good.result.passed and good.verdict.startswith("MATCH"), good.verdict
    bad = VerificationPanel(dense_step, like=SparseAdam(lr=0.05), problem=small, steps=20, device="cpu")
    assert not bad.result.passed and "MISMATCH" in bad.verdict, bad.verdict


@pytest.mark.parametrize("cls", O.SPARSE_OPTIMIZERS, ids=lambda c: c.__name__)
def test_lr_override_and_params_checked_with_sparse_gradients(cls):
    opt = cls(lr=0.1)
    p = np.zeros((4, 2))
    g = SparseGrad(np.array([1]), np.ones((1, 2)))
    with pytest.raises(ValueError, match="Invalid learning rate value: -0.5"):
        opt.step(p, g, opt.init(p), lr=-0.5)
    with pytest.raises(TypeError, match="float32 or float64"):
        opt.step(np.zeros((4, 2), dtype=np.int64), g, opt.init(p))
    p1, _ = opt.step(p, g, opt.init(p), lr=0.0)   # a schedule may give LR 0 (torch accepts it per step)
    np.testing.assert_array_equal(p1, p)
