"""The real data set (load_breast_cancer), the residual network (ResidualMLP) and train_rows:
gradients against torch autograd, rows against runs.run."""
import dataclasses
import gzip

import numpy as np
import pytest
import torch

from lrcourse import optimizers as O
from lrcourse import problems as P
from lrcourse import runs
from lrcourse import schedules as S


# --------------------------------------------------------------------------- the real data set
def _raw():
    with gzip.open(P._DATA / "breast_cancer.csv.gz", "rt") as f:
        header = f.readline().strip().split(",")
        rows = np.array([[float(v) for v in line.split(",")] for line in f])
    return header, rows


def test_breast_cancer_file_is_the_wdbc_table():
    header, rows = _raw()
    assert header == ["569", "30", "malignant", "benign"] and rows.shape == (569, 31)
    assert int((rows[:, -1] == 0).sum()) == 212          # 212 malignant, 357 benign (UCI's counts)
    # the first tumour of the UCI table (id 842302): malignant, mean radius 17.99, worst area 2019
    assert rows[0, 0] == 17.99 and rows[0, 23] == 2019.0 and rows[0, -1] == 0


@pytest.mark.parametrize("seed", [0, 3])
def test_breast_cancer_split_and_standardisation(seed):
    data = P.load_breast_cancer(seed=seed)
    _, rows = _raw()
    assert data.X_train.shape == (427, 30) and data.X_val.shape == (142, 30)
    assert data.y_train.sum() + data.y_val.sum() == 212           # label 1 = malignant
    np.testing.assert_allclose(data.X_train.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(data.X_train.std(0), 1, rtol=1e-12)
    # every tumour appears once, as its raw features standardised with the training split's statistics
    raw_X = rows[:, :-1]
    order = np.random.default_rng(seed).permutation(569)
    mean, std = raw_X[order[142:]].mean(0), raw_X[order[142:]].std(0)
    np.testing.assert_allclose(np.vstack([data.X_val, data.X_train]), (raw_X[order] - mean) / std, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(np.concatenate([data.y_val, data.y_train]), 1.0 - rows[order, -1])


def test_breast_cancer_seeds_give_different_splits():
    a, b = P.load_breast_cancer(seed=0), P.load_breast_cancer(seed=1)
    assert not np.array_equal(a.X_val, b.X_val)
    np.testing.assert_array_equal(a.X_val, P.load_breast_cancer(seed=0).X_val)


# --------------------------------------------------------------------------- the residual network
def _torch_logits(net, x, X):
    ws, i = [], 0
    for shape in net.shapes:
        n = int(np.prod(shape)) if shape else 1
        ws.append(x[i:i + n].reshape(shape))
        i += n
    h = X @ ws[0] + ws[1]
    for k in range(net.depth):
        U, c, V, e = ws[2 + 4 * k:6 + 4 * k]
        h = h + torch.relu(h @ U + c) @ V + e
    return h @ ws[-2] + ws[-1]


@pytest.mark.parametrize("depth,width,batch,seed", [(0, 3, None, 0), (1, 4, 16, 1), (4, 8, 32, 2), (6, 16, 128, 3)])
def test_residual_mlp_gradient_matches_torch_autograd(depth, width, batch, seed):
    net = P.ResidualMLP(depth=depth, width=width, batch_size=batch, seed=seed)
    rng = np.random.default_rng(seed)
    for t in (0, 7):
        x = net.x0 + 0.3 * rng.standard_normal(net.dim)
        X, y = net._batch(t)
        xt = torch.tensor(x, requires_grad=True)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(_torch_logits(net, xt, torch.tensor(X)), torch.tensor(y))
        loss.backward()
        assert runs.rel_error(net.grad(x, t), xt.grad.numpy()) < 1e-12
        assert abs(net.loss(x, X, y) - loss.item()) <= 1e-12 * abs(loss.item())


def test_residual_mlp_rows_are_independent_runs():
    net = P.ResidualMLP(depth=3, width=6, seed=0)
    rng = np.random.default_rng(1)
    Pm = net.x0 + 0.2 * rng.standard_normal((5, net.dim))
    X = rng.standard_normal((5, 20, 10))
    y = (rng.random((5, 20)) < 0.5).astype(float)
    G, losses = net.grad_rows(Pm, X, y, return_loss=True)
    for r in range(5):
        assert runs.rel_error(G[r], net.grad_rows(Pm[r:r + 1], X[r], y[r])[0]) < 1e-14
        assert abs(losses[r] - net.loss(Pm[r], X[r], y[r])) < 1e-14


def test_residual_mlp_float32_and_activations_grow_with_depth():
    net = P.ResidualMLP(depth=2, width=4, batch_size=8)
    assert net.grad(net.x0.astype(np.float32), 0).dtype == np.float32
    # without normalisation each block adds about as much variance as h has (the reason for lesson 06's warm-up)
    X = P.make_binary_data(n=2000, nonlinear=True, seed=0).X_train
    spread = [float(np.std(P.ResidualMLP(depth=L, seed=0).logits(P.ResidualMLP(depth=L, seed=0).x0, X))) for L in (0, 6)]
    assert spread[1] > 3 * spread[0]


def test_residual_mlp_rejects_bad_shapes():
    with pytest.raises(ValueError, match="depth must be >= 0 and width >= 1"):
        P.ResidualMLP(depth=-1)
    with pytest.raises(ValueError, match="width"):
        P.ResidualMLP(width=0)
    assert isinstance(P.make_problem("residual MLP", depth=1), P.ResidualMLP)


# --------------------------------------------------------------------------- train_rows
@pytest.mark.parametrize("opt,schedule", [
    (O.SGD(momentum=0.9), None),
    (O.Adam(), S.LinearLR(1.0, start_factor=0.01, total_iters=10)),
    (O.AdamW(weight_decay=0.1), S.CosineAnnealingLR(1.0, T_max=30)),
])
def test_train_rows_row_equals_runs_run(opt, schedule):
    nets = [P.ResidualMLP(depth=2, width=8, batch_size=16, seed=s) for s in (0, 1)]
    lrs = [0.003, 0.03]
    Pm, losses = P.train_rows(opt, nets, lrs, 30, schedule=schedule)
    for s, net in enumerate(nets):
        for j, lr in enumerate(lrs):
            sched = None if schedule is None else (lambda t, lr=lr: lr * float(schedule(t)))
            h = runs.run(_with_lr(opt, lr), net, 30, schedule=sched)
            assert runs.rel_error(Pm[s, j], h.params[-1]) < 1e-10
            X, y = net._batch(29)
            assert abs(losses[-1, s, j] - net.loss(h.params[-2], X, y)) < 1e-10


def _with_lr(opt, lr):
    return dataclasses.replace(opt, lr=lr)


def test_train_rows_marks_a_diverged_run_inf_from_then_on():
    nets = [P.ResidualMLP(batch_size=128, seed=0)]
    _, losses = P.train_rows(O.SGD(momentum=0.9), nets, [1e-3, 10.0], 40)
    assert np.isfinite(losses[:, 0, 0]).all()
    first = int(np.argmax(np.isinf(losses[:, 0, 1])))
    assert 0 < first and np.isinf(losses[first:, 0, 1]).all()


def test_train_rows_refuses_what_it_cannot_train():
    nets = [P.ResidualMLP(depth=1, width=4, batch_size=8)]
    with pytest.raises(ValueError, match="lrs must be a non-empty list of LRs >= 0"):
        P.train_rows(O.SGD(), nets, [0.1, -1.0], 2)
    with pytest.raises(ValueError, match="grad_rows and a batch_size"):
        P.train_rows(O.SGD(), [P.ResidualMLP(depth=1, width=4)], [0.1], 2)       # full batch: no minibatches
    with pytest.raises(ValueError, match="grad_rows and a batch_size"):
        P.train_rows(O.SGD(), [P.LogisticRegression(batch_size=8)], [0.1], 2)
    with pytest.raises(TypeError, match="ReduceLROnPlateau reacts to each run"):
        P.train_rows(O.SGD(), nets, [0.1], 2, schedule=S.ReduceLROnPlateau(1.0))


def test_minibatches_are_the_seeded_draws_whatever_was_asked_before():
    """The draws are kept between calls: each is still the (seed, t) generator's own, a copy the caller may change."""
    X, y = np.arange(200.0).reshape(100, 2), np.arange(100.0)
    for seed, t in [(0, 0), (3, 7), (0, 7), (3, 0), (0, 0)]:
        idx = np.random.default_rng((seed, t)).choice(100, 8, replace=False)
        Xb, yb = P.minibatch(X, y, 8, seed, t)
        np.testing.assert_array_equal(Xb, X[idx])
        np.testing.assert_array_equal(yb, y[idx])
        Xb[:] = -1.0  # the caller's copy: the next call is unchanged
    assert P.minibatch(X, y, 8, 0, 0)[1].min() >= 0
    assert P.minibatch(X, y, 8, 0, 0)[1].tolist() != P.minibatch(X, y, 8, 1, 0)[1].tolist()
    data = P.make_binary_data(n=125, seed=0)
    n = len(data.y_train)
    for bad in (n + 1, 0):
        with pytest.raises(ValueError, match=f"between 1 and the number of training examples, {n} .*got {bad}"):
            P.LogisticRegression(data, batch_size=bad).grad(np.zeros(11))
