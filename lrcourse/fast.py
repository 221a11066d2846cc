"""A faster Adam / AdamW step for large arrays, chosen explicitly: ``fast.adam_step(opt, ...)``.

``optimizers.Adam.step`` is the reference: whole-array NumPy expressions that read like lesson
12, each making a temporary array.  For millions of parameters that is memory-bound, so this
module does *the same operations in the same order* in place, block by block (each block stays
in the CPU cache between its operations), in threads (NumPy releases the GIL inside ufuncs) --
the way torch keeps its foreach and fused Adam apart from ``_single_tensor_adam``.  The
results are bit-for-bit those of ``opt.step`` (tests/test_optimizers.py), NaN and inf included;
benchmarks/bench_step.py measures both beside torch.

    >>> import numpy as np
    >>> from lrcourse import fast, optimizers
    >>> opt = optimizers.AdamW(lr=0.01)
    >>> p = np.linspace(-1.0, 1.0, 300_000); g = np.cos(p); state = opt.init(p)
    >>> fast_p, fast_state = fast.adam_step(opt, p, g, state)
    >>> ref_p, ref_state = opt.step(p, g, state)
    >>> bool(np.array_equal(fast_p, ref_p) and np.array_equal(fast_state.exp_avg_sq, ref_state.exp_avg_sq))
    True
"""
from __future__ import annotations

import concurrent.futures
import os

import numpy as np

from .optimizers import Adam, AdamState

__all__ = ["adam_step"]

BLOCK = 1 << 16  # elements per block: a few blocks of float64 fit in a core's L2 cache
_POOL = None
_THREADS = min(8, os.cpu_count() or 1)


def _map_blocks(work, n: int) -> None:
    """Call work(s) for every block slice s of range(n), one share of the blocks per thread.

    The calling thread takes a share too instead of waiting idle, and each pool thread gets
    one task (not one per block), so a step wakes as few threads as possible."""
    global _POOL
    blocks = [slice(i, min(i + BLOCK, n)) for i in range(0, n, BLOCK)]
    if _THREADS == 1 or len(blocks) == 1:
        for s in blocks:
            work(s)
        return
    if _POOL is None:
        _POOL = concurrent.futures.ThreadPoolExecutor(max_workers=_THREADS - 1)

    def share(k):
        for s in blocks[k::_THREADS]:
            work(s)

    futures = [_POOL.submit(share, k) for k in range(1, _THREADS)]
    share(0)
    for f in futures:
        f.result()


def _ema_into(out, avg, x, beta: float) -> None:
    """out = optimizers._ema(avg, x, beta): the same operations in the same order, in place."""
    w = 1 - beta
    np.subtract(x, avg, out=out)
    if w < 0.5:
        out *= w
        out += avg                     # avg + w * (x - avg)
    else:
        out *= 1 - w
        np.subtract(x, out, out=out)   # x - (x - avg) * (1 - w)


def adam_step(opt: Adam, params, grad, state: AdamState, lr=None):
    """``opt.step(params, grad, state, lr)`` for an lrcourse Adam or AdamW, bit for bit, faster.

    Inputs are not modified; the outputs are new arrays, as with ``opt.step``.  Only the
    library's Adam update is computed: a subclass that overrides ``step`` is not consulted.
    """
    if not isinstance(opt, Adam):
        raise TypeError(f"fast.adam_step takes an lrcourse Adam or AdamW, got {type(opt).__name__}")
    p, g = opt._arrays(params, grad, state)
    lr = opt._lr(lr)
    beta1, beta2 = opt.betas
    t = state.step + 1
    bc1, bc2 = 1 - beta1**t, 1 - beta2**t
    decay = opt.decoupled_weight_decay and opt.weight_decay != 0
    flat = [np.ascontiguousarray(a).reshape(-1) for a in (p, g, state.exp_avg, state.exp_avg_sq)]
    p_out, m_out, v_out = (np.empty(p.size, p.dtype) for _ in range(3))
    vmax_in = np.ascontiguousarray(state.max_exp_avg_sq).reshape(-1) if opt.amsgrad else None
    vmax_out = np.empty(p.size, p.dtype) if opt.amsgrad else None

    def work(s):  # Adam.step's lines for one block; d and the block of p_out are scratch
        p_b, g_b = flat[0][s], flat[1][s]
        if decay:
            p_b = p_b * (1 - lr * opt.weight_decay)
        g_b = opt._grad(p_b, g_b, l2=not opt.decoupled_weight_decay)
        m, v, out = m_out[s], v_out[s], p_out[s]
        _ema_into(m, flat[2][s], g_b, beta1)               # m = beta1 * m + (1 - beta1) * g
        np.multiply(g_b, g_b, out=v)                       # v = beta2 * v + (1 - beta2) * g**2
        v *= 1 - beta2
        np.multiply(flat[3][s], beta2, out=out)
        v += out
        v_max = np.maximum(vmax_in[s], v, out=vmax_out[s]) if opt.amsgrad else v
        d = np.divide(m, bc1)                              # m_hat
        d *= lr                                            # lr * m_hat
        np.divide(v_max, bc2, out=out)                     # v_hat
        np.sqrt(out, out=out)
        out += opt.eps
        d /= out                                           # lr * m_hat / (sqrt(v_hat) + eps)
        np.subtract(p_b, d, out=out)                       # p - ...

    _map_blocks(work, p.size)
    shape = p.shape
    v_max = vmax_out.reshape(shape) if opt.amsgrad else None
    return p_out.reshape(shape), AdamState(step=t, exp_avg=m_out.reshape(shape), exp_avg_sq=v_out.reshape(shape),
                                           max_exp_avg_sq=v_max)
