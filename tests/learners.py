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
