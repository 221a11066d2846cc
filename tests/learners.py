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
