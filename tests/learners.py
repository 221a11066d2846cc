"""Learner implementations with known mistakes, shared by the tests of compare() and the widgets."""
import numpy as np

from lrcourse import optimizers as O


class EpsInsideSqrt(O.Adam):
    """A learner's Adam with the classic mistake: eps inside the square root."""

    def step(self, params, grad, state, lr=None):
        lr = self.lr if lr is None else lr
        b1, b2 = self.betas
        t = state.step + 1
        m = b1 * state.exp_avg + (1 - b1) * grad
        v = b2 * state.exp_avg_sq + (1 - b2) * grad * grad
        m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        return params - lr * m_hat / np.sqrt(v_hat + self.eps), O.AdamState(t, m, v, None)


# -- a lesson's from-scratch code: step functions and schedule functions, state by torch's names
def adam_init(params):
    return {"step": 0, "exp_avg": np.zeros_like(params), "exp_avg_sq": np.zeros_like(params)}


def _adam_moments(grad, state, betas):
    beta1, beta2 = betas
    t = state["step"] + 1
    m = beta1 * state["exp_avg"] + (1 - beta1) * grad
    v = beta2 * state["exp_avg_sq"] + (1 - beta2) * grad * grad
    return t, m, v, m / (1 - beta1**t), v / (1 - beta2**t)


def adam_step(params, grad, state, lr, betas, eps):
    t, m, v, m_hat, v_hat = _adam_moments(grad, state, betas)
    return params - lr * m_hat / (np.sqrt(v_hat) + eps), {"step": t, "exp_avg": m, "exp_avg_sq": v}


def adam_step_eps_inside(params, grad, state, lr, betas, eps):
    """The classic mistake: eps inside the square root."""
    t, m, v, m_hat, v_hat = _adam_moments(grad, state, betas)
    return params - lr * m_hat / np.sqrt(v_hat + eps), {"step": t, "exp_avg": m, "exp_avg_sq": v}


def drifting_adam_step(field, at_step, by):
    """adam_step whose stored ``field`` is off by the factor (1 + by) after update number ``at_step``."""

    def drifting(params, grad, state, lr, betas, eps):
        p, s = adam_step(params, grad, state, lr, betas, eps)
        if s["step"] == at_step:
            s[field] = s[field] * (1 + by)
        return p, s

    return drifting


def step_lr(t, lr, step_size, gamma=0.1):
    """Vectorised: t may be an array."""
    return lr * gamma ** (np.asarray(t) // step_size)


class ScratchMomentumSGD:
    """An exercise class written from scratch (no lrcourse base class): torch's SGD with momentum."""

    def init(self, params):
        return {"momentum_buffer": None}

    def step(self, params, grad, state, lr, momentum):
        b = state["momentum_buffer"]
        b = grad.copy() if b is None else momentum * b + grad
        return params - lr * b, {"momentum_buffer": b}


class ScratchPlateau:
    """ReduceLROnPlateau from scratch, as lesson 05 builds it: step(metric) once per epoch, torch's names."""

    def __init__(self, lr, mode="min", factor=0.1, patience=10, threshold=1e-4, threshold_mode="rel",
                 cooldown=0, min_lr=0.0, eps=1e-8):
        self.lr, self.mode, self.factor, self.patience = lr, mode, factor, patience
        self.threshold, self.threshold_mode = threshold, threshold_mode
        self.cooldown, self.min_lr, self.eps = cooldown, min_lr, eps
        self.best = np.inf if mode == "min" else -np.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    def is_better(self, a):
        rel = self.threshold_mode == "rel"
        if self.mode == "min":
            return a < (self.best * (1 - self.threshold) if rel else self.best - self.threshold)
        return a > (self.best * (1 + self.threshold) if rel else self.best + self.threshold)

    def step(self, metric):
        a = float(metric)
        if self.is_better(a):
            self.best, self.num_bad_epochs = a, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            new_lr = max(self.lr * self.factor, self.min_lr)
            if self.lr - new_lr > self.eps:
                self.lr = new_lr
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0


class PlateauCutsOnPatience(ScratchPlateau):
    """A classic mistake: the cut comes on the patience-th bad epoch, one too early."""

    def step(self, metric):
        self.patience -= 1
        try:
            super().step(metric)
        finally:
            self.patience += 1
