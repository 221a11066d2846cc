"""problems, run() and compare(): gradients against torch autograd, honest verdicts, the CLI."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from learners import EpsInsideSqrt

from lrcourse import optimizers as O
from lrcourse import problems as P
from lrcourse import runs
from lrcourse import schedules as S

PROBLEMS = [
    P.IllConditionedQuadratic(),
    P.Rosenbrock(),
    P.NoisyQuadratic(noise=0.5),
    P.Saddle(),
    P.LogisticRegression(l2=0.01),
    P.LogisticRegression(batch_size=16),
    P.MLPClassifier(hidden=8),
    P.MLPClassifier(hidden=8, batch_size=32, l2=1e-3),
]


def _torch_loss(problem, x, t):
    """The same loss written with torch ops, so autograd gives an independent gradient
    (of the noiseless loss, for a Noisy problem)."""
    if isinstance(problem, P.Noisy):
        return _torch_loss(problem.base, x, t)
    if isinstance(problem, P.Quadratic):
        d = x - torch.tensor(problem.x_star)
        return 0.5 * d @ (torch.tensor(problem.A) @ d)
    if isinstance(problem, P.Rosenbrock):
        return (problem.a - x[0]) ** 2 + problem.b * (x[1] - x[0] ** 2) ** 2
    if isinstance(problem, P.Saddle):
        return 0.5 * x[0] ** 2 - 0.5 * x[1] ** 2 + 0.25 * x[1] ** 4
    X, y = (torch.tensor(a) for a in problem._batch(t))
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    if isinstance(problem, P.LogisticRegression):
        w, b = x[:-1], x[-1]
        return bce(X @ w + b, y) + 0.5 * problem.l2 * w @ w
    i, parts = 0, []
    for shape in problem.shapes:
        n = int(np.prod(shape)) if shape else 1
        parts.append(x[i:i + n].reshape(shape))
        i += n
    W1, b1, w2, b2 = parts
    z = torch.tanh(X @ W1 + b1) @ w2 + b2
    return bce(z, y) + 0.5 * problem.l2 * x @ x


@pytest.mark.parametrize("problem", PROBLEMS, ids=lambda p: f"{p.name}-{getattr(p, 'batch_size', None)}")
def test_gradients_match_torch_autograd(problem):
    rng = np.random.default_rng(1)
    for t in range(5):
        x = problem.x0 + 0.3 * rng.standard_normal(problem.x0.shape)
        xt = torch.tensor(x, requires_grad=True)
        loss = _torch_loss(problem, xt, t)
        loss.backward()
        g = problem.grad(x, t)
        if isinstance(problem, P.Noisy):
            g = g - problem.noise * np.random.default_rng((problem.seed, t)).standard_normal(g.shape)
        np.testing.assert_allclose(g, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
        if not problem.stochastic:
            assert problem.loss(x) == pytest.approx(float(loss.detach()), rel=1e-12)


def test_gradient_keeps_float32():
    for problem in PROBLEMS:
        assert problem.grad(problem.x0.astype(np.float32), 3).dtype == np.float32


def test_stochastic_gradients_are_replayable_and_vary_with_t():
    p = P.NoisyQuadratic(noise=1.0, seed=3)
    np.testing.assert_array_equal(p.grad(p.x0, 7), p.grad(p.x0, 7))
    assert not np.array_equal(p.grad(p.x0, 7), p.grad(p.x0, 8))


def test_binary_data_split_and_sparsity():
    d = P.make_binary_data(n=400, d=20, seed=0, sparsity=0.9)
    assert d.X_train.shape == (300, 20) and d.X_val.shape == (100, 20)
    freq = (d.X_train != 0).mean(axis=0)
    assert freq[0] > 3 * freq[-1]  # later features are rare
    assert 0.2 < d.y_train.mean() < 0.8


def test_run_history_shapes_and_schedule():
    h = runs.run(O.SGD(lr=0.05), P.IllConditionedQuadratic(), 50, schedule=S.StepLR(0.05, step_size=10))
    assert h.params.shape == (51, 2) and h.losses.shape == (51,) and h.lrs.shape == (50,)
    np.testing.assert_allclose(h.lrs, S.StepLR(0.05, step_size=10)(np.arange(50)))
    assert h.losses[-1] < h.losses[0]


def test_run_with_plateau_per_epoch_matches_a_hand_loop():
    prob, plateau = P.LogisticRegression(batch_size=16), S.ReduceLROnPlateau(0.5, patience=1, threshold=0.05)
    h = runs.run(O.SGD(lr=0.5), prob, 120, schedule=plateau, steps_per_epoch=12)
    x, opt, ps, lrs = prob.x0.copy(), O.SGD(lr=0.5), plateau.init(), []
    st = opt.init(x)
    for t in range(120):
        lrs.append(ps.lr)
        x, st = opt.step(x, prob.grad(x, t), st, lr=ps.lr)
        if (t + 1) % 12 == 0:
            ps = plateau.step(ps, prob.val_loss(x))
    np.testing.assert_array_equal(h.lrs, lrs)
    assert len(set(h.lrs[:12])) == 1 and h.lrs[-1] < 0.5


def test_run_with_plateau_uses_validation_loss_and_cuts():
    prob = P.LogisticRegression(batch_size=16)
    h = runs.run(O.SGD(lr=0.5), prob, 200, schedule=S.ReduceLROnPlateau(0.5, patience=3))
    assert h.lrs[0] == 0.5 and h.lrs[-1] < 0.5
    assert np.all(np.diff(h.lrs) <= 0)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("opt", [O.SGD(lr=1e-3, momentum=0.9, nesterov=True), O.Adagrad(lr=0.5),
                                 O.RMSprop(lr=0.01, centered=True, momentum=0.5), O.Adadelta(),
                                 O.Adam(lr=0.05, amsgrad=True), O.AdamW(lr=0.05), O.NAdam(lr=0.05)],
                         ids=lambda o: type(o).__name__)
def test_compare_library_optimizers_match(opt, dtype):
    c = runs.compare(opt, P.Rosenbrock(), 200, schedule=S.CosineAnnealingLR(opt.lr, T_max=50), dtype=dtype)
    assert c.passed, c.verdict
    assert np.all(np.isfinite(c.torch_curve)), "a diverging run would compare NaN with NaN"
    assert c.verdict.startswith("MATCH — max rel. error") and f"cpu/{dtype}" in c.verdict
    assert set(c.errors) >= {"params"} and all(len(e) == 200 for e in c.errors.values())
    assert c.numpy_params.shape == c.torch_params.shape == (201, 2)


def test_compare_catches_a_wrong_learner_subclass():
    c = runs.compare(EpsInsideSqrt(lr=0.01, eps=1e-3), P.IllConditionedQuadratic(), 100)
    assert not c.passed
    step, field, err = c.first_failure
    assert step == 0 and field == "params" and err > 1e-12
    assert c.verdict.startswith("MISMATCH at step 0: params differs by")


def test_compare_names_the_state_field_and_step():
    class BadBuffer(O.SGD):
        def step(self, params, grad, state, lr=None):
            p, s = super().step(params, grad, state, lr)
            if self._t(state) == 17:
                s = O.SGDState(s.momentum_buffer * (1 + 1e-6))
            return p, s

        @staticmethod
        def _t(state, counter=[0]):  # noqa: B006 — a call counter shared on purpose
            counter[0] += 1
            return counter[0] - 1

    c = runs.compare(BadBuffer(lr=0.05, momentum=0.9), P.IllConditionedQuadratic(), 40)
    assert c.first_failure[:2] == (17, "momentum_buffer"), c.verdict


def test_compare_schedule_and_subclass_twin():
    class MyCosine(S.CosineAnnealingLR):
        pass

    c = runs.compare(MyCosine(0.1, T_max=30), steps=100)
    assert c.passed and c.kind == "schedule" and runs.torch_class_name(MyCosine(0.1, 5)) == "CosineAnnealingLR"

    class OffByOne(S.StepLR):
        def _lr_at(self, t):
            return super()._lr_at(t + 1)

    c = runs.compare(OffByOne(0.1, step_size=10), steps=50)
    assert not c.passed and c.first_failure[0] == 9


def test_compare_plateau_on_given_metrics():
    metrics = [1.0, 0.9, 0.9, 0.9, 0.9, -1.0, -1.0, float("nan"), -1.0, -1.0, -1.0]
    c = runs.compare(S.ReduceLROnPlateau(0.1, patience=1), metrics=metrics)
    assert c.passed and c.steps == len(metrics) and c.numpy_curve[-1] < 0.1


def test_effective_lr_shapes_and_adam_formula():
    opt = O.Adam(lr=0.01)
    p = np.array([1.0, -2.0])
    state = opt.init(p)
    p, state = opt.step(p, np.array([0.1, 10.0]), state)
    eff = runs.effective_lr(opt, state)
    np.testing.assert_allclose(eff, 0.01 / (np.array([0.1, 10.0]) + 1e-8), rtol=1e-6)
    # every optimizer and variant: positive, finite, per coordinate (or one scalar), proportional to lr
    for o in [cls(**kw) for cls in O.OPTIMIZERS for kw in cls.variants]:
        st = o.init(p)
        for g in ([0.1, 10.0], [0.2, -5.0], [0.1, 1.0]):
            _, st = o.step(p, np.array(g), st)
        eff = runs.effective_lr(o, st)
        assert np.shape(eff) in ((), p.shape) and np.all(np.isfinite(eff)) and np.all(eff > 0), o
        np.testing.assert_allclose(runs.effective_lr(o, st, lr=2 * o.lr), 2 * eff, rtol=1e-12)


def test_pick_device_rules():
    assert runs.pick_device("auto") in ("cpu", "cuda")
    assert runs.pick_device("cpu") == "cpu"
    with pytest.raises(ValueError, match="MPS"):
        runs.pick_device("mps", "float64")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA"):
            runs.pick_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (runs on the device machine)")
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_compare_on_cuda(dtype):
    c = runs.compare(O.Adam(lr=0.05, amsgrad=True), P.Rosenbrock(), 200, device="cuda", dtype=dtype)
    assert c.passed and c.device == "cuda", c.verdict


def test_cli_verify_passes_and_prints_every_method():
    # 40 updates each: the command's every row and its exit status. The 300-update parity of the same
    # variants is test_optimizers', test_sparse's and test_schedules' (verify's full run repeated it: 19 s).
    out = subprocess.run([sys.executable, "-m", "lrcourse", "verify", "--device", "cpu", "--json", "--steps", "40"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert {r["steps"] for r in rows} == {40}
    names = {r["method"] for r in rows}
    assert {c.__name__ for c in O.OPTIMIZERS} <= names
    assert {c.__name__ for c in S.SCHEDULES} <= names and "ReduceLROnPlateau" in names
    assert all(r["passed"] and r["max_error"] <= r["tolerance"] for r in rows)
    options = {(r["method"], r["options"]) for r in rows}
    for needle in ["amsgrad", "nesterov", "centered", "momentum", "weight_decay", "maximize", "decoupled"]:
        assert any(needle in o for _, o in options), needle


def test_cli_usage_errors():
    out = subprocess.run([sys.executable, "-m", "lrcourse", "nope"], capture_output=True, text=True)
    assert out.returncode == 2 and "unknown command" in out.stderr
    if not torch.cuda.is_available():
        out = subprocess.run([sys.executable, "-m", "lrcourse", "verify", "--device", "cuda"],
                             capture_output=True, text=True)
        assert out.returncode == 2 and "no CUDA" in out.stderr
    out = subprocess.run([sys.executable, "-m", "lrcourse", "verify", "--steps", "0"], capture_output=True, text=True)
    assert out.returncode == 2 and "--steps must be at least 1" in out.stderr


def test_import_is_cheap():
    code = "import sys, lrcourse, lrcourse.optimizers, lrcourse.schedules, lrcourse.runs; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _torch_run(opt, problem, steps, step):
    p = torch.tensor(problem.x0, dtype=torch.float64, requires_grad=True)
    topt = runs.torch_optimizer(opt, p)
    do = step(topt)
    out = []
    for t in range(steps):
        p.grad = torch.tensor(problem.grad(p.detach().numpy(), t))
        do()
        out.append((p.detach().numpy().copy(), {k: v.clone() for k, v in topt.state[p].items()}))
    return out


@pytest.mark.parametrize("opt", [O.Adam(lr=0.05, amsgrad=True, weight_decay=0.01), O.SGD(lr=5e-4, momentum=0.9,
                                                                                        nesterov=True),
                                 O.NAdam(lr=0.02), O.Adagrad(lr=0.1), O.RMSprop(lr=0.01, centered=True)])
def test_the_direct_step_is_torchs_step_bit_for_bit(opt):
    """compare calls torch's step without the profiler wrapper (runs._stepper): the same numbers as topt.step()."""
    q = P.Rosenbrock()
    direct = _torch_run(opt, q, 60, lambda topt: runs._stepper(topt, torch))
    plain = _torch_run(opt, q, 60, lambda topt: topt.step)
    for (xa, sa), (xb, sb) in zip(direct, plain):
        np.testing.assert_array_equal(xa, xb)
        assert sa.keys() == sb.keys()
        for k in sa:
            np.testing.assert_array_equal(sa[k].numpy(), sb[k].numpy())
    assert np.all(np.isfinite(direct[-1][0]))


def test_the_direct_step_still_runs_registered_hooks():
    """A step hook registered (globally or on the optimizer) goes through topt.step: the hook runs."""
    from torch.optim.optimizer import register_optimizer_step_post_hook

    calls = []
    handle = register_optimizer_step_post_hook(lambda opt, args, kwargs: calls.append(type(opt).__name__))
    try:
        c = runs.compare(O.Adam(lr=0.05), P.Rosenbrock(), 7, device="cpu")
    finally:
        handle.remove()
    assert c.passed and calls == ["Adam"] * 7
    p = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    topt = torch.optim.SGD([p], lr=0.1)
    own = []
    topt.register_step_pre_hook(lambda opt, args, kwargs: own.append(1))
    step = runs._stepper(topt, torch)
    p.grad = torch.ones(2, dtype=torch.float64)
    step()
    assert own == [1] and p.detach().tolist() == [-0.1, -0.1]


@pytest.mark.parametrize("problem", [P.NoisyQuadratic(noise=0.5), P.Rosenbrock(), P.LogisticRegression(batch_size=16)])
def test_a_resumed_run_is_the_run_from_the_start(problem):
    """run(resume=h): the first updates of a longer run, or going on from a shorter one, bit for bit."""
    opt, sched = O.Adam(lr=0.01, amsgrad=True), S.CosineAnnealingLR(0.01, T_max=90)
    full = runs.run(opt, problem, 90, schedule=sched, record_states=True)
    short = runs.run(opt, problem, 40, schedule=sched, record_states=True)
    longer = runs.run(opt, problem, 90, schedule=sched, record_states=True, resume=short)
    fewer = runs.run(opt, problem, 25, schedule=sched, record_states=True, resume=full)
    for got, n in ((longer, 90), (fewer, 25)):
        np.testing.assert_array_equal(got.params, full.params[:n + 1])
        np.testing.assert_array_equal(got.losses, full.losses[:n + 1])
        np.testing.assert_array_equal(got.lrs, full.lrs[:n])
        assert len(got.states) == n
        for a, b in zip(got.states, full.states):
            for f in a._fields:
                np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    assert runs.run(opt, problem, 60, schedule=sched, resume=short).states is None
    seen = []
    runs.run(opt, problem, 45, schedule=sched, resume=short, callback=lambda t, x, s: seen.append(t))
    assert seen == [40, 41, 42, 43, 44]


def test_what_cannot_be_resumed_is_refused():
    q = P.IllConditionedQuadratic()
    plain = runs.run(O.SGD(lr=0.1), q, 10)
    with pytest.raises(ValueError, match="record_states=True"):
        runs.run(O.SGD(lr=0.1), q, 20, resume=plain)
    with pytest.raises(ValueError, match="ReduceLROnPlateau cannot be resumed"):
        runs.run(O.SGD(lr=0.1), q, 20, schedule=S.ReduceLROnPlateau(0.1),
                 resume=runs.run(O.SGD(lr=0.1), q, 10, record_states=True))
    with pytest.raises(ValueError, match="float64 run, this one is float32"):
        runs.run(O.SGD(lr=0.1), q, 20, dtype=np.float32, resume=runs.run(O.SGD(lr=0.1), q, 10, record_states=True))


def _same_comparison(got, want):
    """Every number of two comparisons equal, NaN where NaN (np.testing's rule), verdicts too."""
    assert got.steps == want.steps and got.verdict == want.verdict and got.first_failure == want.first_failure
    assert got.max_error == want.max_error and got.passed == want.passed
    np.testing.assert_equal(got.trajectory_error, want.trajectory_error)
    assert list(got.errors) == list(want.errors)
    for f in want.errors:
        np.testing.assert_array_equal(got.errors[f], want.errors[f])
    for name in ("numpy_curve", "torch_curve", "numpy_params", "torch_params"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name))


@pytest.mark.parametrize("opt, problem, sched", [
    (O.Adam(lr=0.05, amsgrad=True, weight_decay=0.01), P.NoisyQuadratic(noise=0.5), S.CosineAnnealingLR(0.05, T_max=70)),
    (O.SGD(lr=0.002, momentum=0.9, nesterov=True, weight_decay=0.1), P.Rosenbrock(), None),
    (O.Adadelta(lr=1.0, weight_decay=0.01), P.LogisticRegression(batch_size=16), S.StepLR(1.0, step_size=20, gamma=0.5)),
    (O.NAdam(lr=0.01, decoupled_weight_decay=True, weight_decay=0.1), P.MLPClassifier(hidden=8, batch_size=32), None),
    (O.RMSprop(lr=0.01, centered=True, momentum=0.5), P.Rosenbrock(), S.ReduceLROnPlateau(0.01, patience=3)),
    (EpsInsideSqrt(lr=0.01, eps=1e-3), P.IllConditionedQuadratic(), None),   # a mismatch at step 0
    (O.SGD(lr=0.9), P.IllConditionedQuadratic(), None),   # diverges: inf and NaN in both runs
], ids=["Adam-amsgrad-noisy-cosine", "SGD-nesterov-rosenbrock", "Adadelta-logreg-steplr", "NAdam-mlp",
        "RMSprop-plateau", "learner-mismatch", "SGD-diverging"])
def test_a_resumed_comparison_is_the_comparison_from_the_start(opt, problem, sched, monkeypatch):
    """compare(resume=c): going on from a shorter comparison, or the first updates of a longer one,
    gives every number of a comparison run from the start, and torch runs only the new updates
    (the panels' `steps` slider relies on both)."""
    with np.errstate(over="ignore", invalid="ignore"):  # the diverging case's losses overflow
        fresh = {n: runs.compare(opt, problem, n, schedule=sched) for n in (30, 75, 120)}
        updates = []
        torch_update = runs._torch_update
        monkeypatch.setattr(runs, "_torch_update", lambda *a: updates.append(1) or torch_update(*a))
        c = runs.compare(opt, problem, 30, schedule=sched)
        _same_comparison(c, fresh[30])
        for n, new in ((75, 45), (120, 45), (30, 0), (75, 0)):  # on, on, back (a prefix), on to where it had been
            updates.clear()
            c = runs.compare(opt, problem, n, schedule=sched, resume=c)
            _same_comparison(c, fresh[n])
            assert len(updates) == new, f"to {n} updates torch ran {len(updates)}, not the {new} new ones"


def test_what_a_comparison_cannot_resume_is_refused():
    q, opt = P.IllConditionedQuadratic(), O.Adam(lr=0.05)
    c = runs.compare(opt, q, 20)
    for change, what in ((dict(problem=P.IllConditionedQuadratic()), "problem"), (dict(opt=O.Adam(lr=0.06)), "optimizer"),
                         (dict(dtype="float32"), "dtype"), (dict(schedule=S.StepLR(0.05, step_size=5)), "schedule")):
        args = dict(opt=opt, problem=q, dtype="float64", schedule=None) | change
        with pytest.raises(ValueError, match=f"another {what}"):
            runs.compare(args["opt"], args["problem"], 30, schedule=args["schedule"], dtype=args["dtype"], resume=c)
    with pytest.raises(ValueError, match="a schedule is compared from the start"):
        runs.compare(S.StepLR(0.1, step_size=5), steps=30, resume=c)
    with pytest.raises(ValueError, match="Comparison of an optimizer"):
        runs.compare(opt, q, 30, resume=runs.numpy_only(opt, q, 20))
    with pytest.raises(ValueError, match="steps must be >= 0"):
        runs.compare(opt, q, -1)
