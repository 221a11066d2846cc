"""What every exercise asks, what counts as right, and the known wrong answers.

One ``Question`` per graded task, grouped by notebook stem in ``QUESTIONS``.  A question
names the thing the learner defines (``target``: a class derived from a library class,
or a function), its ``kind``, its points, a generator of input cases and the reference
(the lrcourse implementation).  The same cases and references serve both

* ``lrcourse.feedback.check`` — in the notebook, on public cases plus fresh random ones,
  also against torch; and
* the grader (``python -m lrcourse grade``) — on public cases plus hidden ones drawn from
  ``os.urandom`` for each grading run, so no expected value exists anywhere before grading starts.

To add an exercise's questions: a new ``"NN_topic": (...)`` entry of ``QUESTIONS`` (its key
is the solution notebook's stem), one ``Question`` per graded target (``_opt_q`` for an
optimizer class, ``_schedule_q``, ``_fn``), each with its case maker and ``Mistake``s.

Kinds and what a case holds (all plain JSON data):

* ``optimizer`` — ``{"hyper", "params", "grads", "lrs"?}``; output per step: params and the
  state ``fields``.  ``lrs`` (when present) is passed as ``step(..., lr=lrs[k])``.
* ``plateau``   — ``{"hyper", "metrics"}``; output per epoch: the ``fields`` of PlateauState.
* ``schedule``  — ``{"kwargs", "steps", "t0"?}``; output: ``f(t, **kwargs)`` for each t.
* ``function``  — ``{"kwargs"}``; output: ``f(**kwargs)`` (a number or a list).

A ``Mistake`` is an implementation of a known wrong answer with the reference's
interface; when a learner's output matches one, the matching hint is shown
(``verdicts.matching_mistakes``).
"""
from __future__ import annotations

import bisect
import dataclasses
import json
import math
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import optimizers as O
from .. import schedules as S
from . import runners

__all__ = ["Question", "Mistake", "QUESTIONS", "STEMS", "question", "find_target", "draw_cases",
           "expected_output", "public_rng"]


@dataclasses.dataclass(frozen=True)
class Mistake:
    name: str   # the mistake, as a learner would recognise it
    hint: str   # what to change
    impl: Any   # same interface as the question's reference


@dataclasses.dataclass(frozen=True)
class Question:
    qid: str
    title: str
    kind: str                      # "optimizer" | "plateau" | "schedule" | "function"
    target: str                    # the class or function the learner writes
    points: float
    make_case: Callable            # numpy Generator -> case (JSON data)
    reference: Any                 # lrcourse class (optimizer, plateau) or function
    base: str | None = None        # library class the target derives from
    fields: tuple = ()             # state fields compared besides params
    mistakes: tuple = ()
    public: int = 2                # cases with a fixed seed, shown in feedback
    hidden: int = 6                # cases drawn fresh for every grading run
    tol: float = 1e-9              # max |yours - expected| / max |expected|, per step and field
    schedule: Callable | None = None  # kwargs -> lrcourse schedule (its torch twin is checked)
    stem: str = ""
    compared: str = "the LR of every update"  # what a "schedule" question's sequence is, for feedback

    @property
    def key(self) -> str:
        return f"{self.stem}/{self.qid}"

    @property
    def what(self) -> str:
        return f"{self.target}.step" if self.kind in ("optimizer", "plateau") else f"{self.target}()"


# --------------------------------------------------------------------------- case helpers
def _logu(rng, lo, hi) -> float:
    return float(10 ** rng.uniform(math.log10(lo), math.log10(hi)))


def _maybe(rng, value, p=0.7):
    return value if rng.random() < p else 0.0


def _on(flag, value):
    """``value`` in the cases where a feature is switched on, else 0.0 (cases alternate)."""
    return value if flag else 0.0


def _call(make, rng, i):
    """Call a case maker with the case index if it takes one (features alternate by index)."""
    return make(rng, i) if make.__code__.co_argcount >= 2 else make(rng)


def _opt_case(rng, hyper, i=0, steps=30, dim=5, sparse=False, shrinking=False, scale=None):
    """Random start and gradient sequence; ``scale(rng, hyper)`` sets the gradient size.

    By default gradients are 1..1e4 times eps (0.1..10 more or less per coordinate), so
    where eps sits is visible in every case.
    """
    if scale is None:
        scale = (lambda r, h: h["eps"] * _logu(r, 1.0, 1e4)) if "eps" in hyper else (lambda r, h: _logu(r, 1e-3, 10.0))
    g = rng.standard_normal((steps, dim)) * 10 ** rng.uniform(-1, 1, size=dim) * scale(rng, hyper)
    if sparse:
        g[rng.random((steps, dim)) < 0.3] = 0.0
    if shrinking:  # large early gradients, then small: the running max of v matters
        g *= np.geomspace(1.0, 1e-2, steps)[:, None]
    case = {"hyper": hyper, "params": rng.standard_normal(dim).tolist(), "grads": g.tolist()}
    if i % 3 != 1:  # two cases in three: a schedule drives the step through lr=
        case["lrs"] = (hyper["lr"] * np.exp(rng.uniform(-1.5, 0.3, size=steps))).tolist()
    return case


def _canonical(case):
    return json.loads(json.dumps(case))


def _variant(base, step, name, **options):
    """A subclass of ``base`` whose step is ``step(self, ..., **options)``: one known mistake."""
    def variant_step(self, *args, **kwargs):
        with np.errstate(all="ignore"):
            return step(self, *args, **kwargs, **options)
    return type(name, (base,), {"step": variant_step, "__module__": __name__})


def _lr(self, lr, ignore_override=False):
    return self.lr if (lr is None or ignore_override) else float(lr)


_IGNORED_LR = ("the lr argument is ignored",
               "when step is called with lr=..., use that value (a schedule passes it): lr = self.lr if lr is None else lr")


# --------------------------------------------------------------------------- SGD
def _sgd_step(self, params, grad, state, lr=None, *, zero_init=False, lr_in_buffer=False, nesterov=None,
              dampening=True, decay=True, ignore_lr=False, ascent=False):
    lr = _lr(self, lr, ignore_lr)
    g = -grad if ascent else grad
    if decay and self.weight_decay:
        g = g + self.weight_decay * params
    mu, tau = self.momentum, (self.dampening if dampening else 0.0)
    b = state.momentum_buffer
    if mu:
        scale = lr if lr_in_buffer else 1.0
        if b is None:
            b = scale * (1 - tau) * g if zero_init else scale * g
        else:
            b = mu * b + scale * (1 - tau) * g
        use_nesterov = self.nesterov if nesterov is None else nesterov
        d = (g * scale + mu * b) if use_nesterov else b
        return params - (d if lr_in_buffer else lr * d), O.SGDState(b)
    return params - lr * g, O.SGDState(b)


def _sgd(name, **kw):
    return _variant(O.SGD, _sgd_step, name, **kw)


def _plain_sgd_case(rng, i):
    return _opt_case(rng, {"lr": _logu(rng, 1e-3, 0.5), "weight_decay": _on(i % 2 == 0, _logu(rng, 1e-3, 0.1))}, i)


def _momentum_case(rng, i):
    nesterov = i % 3 == 0
    hyper = {"lr": _logu(rng, 1e-3, 0.3), "momentum": float(rng.uniform(0.5, 0.99)),
             "dampening": _on(not nesterov and (i % 3 == 1 or rng.random() < 0.5), float(rng.uniform(0.1, 0.5))),
             "weight_decay": _on(i % 2 == 1, _logu(rng, 1e-3, 0.1)), "nesterov": nesterov}
    return _opt_case(rng, hyper, i)


# --------------------------------------------------------------------------- Adagrad
def _adagrad_step(self, params, grad, state, lr=None, *, eps_inside=False, decay_offset=1, lr_decay=True,
                  decay=True, ignore_lr=False):
    lr = _lr(self, lr, ignore_lr)
    t = state.step + 1
    g = grad + self.weight_decay * params if decay else grad
    clr = lr / (1 + (t - decay_offset) * self.lr_decay) if lr_decay else lr
    s = state.sum + g * g
    denom = np.sqrt(s + self.eps) if eps_inside else np.sqrt(s) + self.eps
    return params - clr * g / denom, O.AdagradState(t, s)


def _adagrad(name, **kw):
    return _variant(O.Adagrad, _adagrad_step, name, **kw)


def _adagrad_case(rng, i):
    hyper = {"lr": _logu(rng, 1e-3, 0.5), "lr_decay": _on(i % 3 != 0, _logu(rng, 1e-3, 0.2)),
             "weight_decay": _on(i % 2 == 1, _logu(rng, 1e-3, 0.1)),
             "initial_accumulator_value": _on(i % 2 == 0, float(rng.uniform(0.01, 1.0))), "eps": _logu(rng, 1e-6, 1e-2)}
    return _opt_case(rng, hyper, i, sparse=True)


# --------------------------------------------------------------------------- RMSprop
def _rmsprop_step(self, params, grad, state, lr=None, *, eps_inside=False, bias_correct=False,
                  lr_in_buffer=False, centered=None, momentum=True, decay=True, ignore_lr=False):
    lr = _lr(self, lr, ignore_lr)
    a, t = self.alpha, state.step + 1
    g = grad + self.weight_decay * params if decay else grad
    sq = a * state.square_avg + (1 - a) * g * g
    ga = state.grad_avg
    var = sq / (1 - a**t) if bias_correct else sq
    if self.centered if centered is None else centered:
        ga = a * (ga if ga is not None else 0.0) + (1 - a) * g
        var = var - ga * ga
    avg = np.sqrt(var + self.eps) if eps_inside else np.sqrt(var) + self.eps
    b = state.momentum_buffer
    if self.momentum > 0 and momentum:
        b = self.momentum * b + (lr if lr_in_buffer else 1.0) * g / avg
        p = params - (b if lr_in_buffer else lr * b)
    else:
        p = params - lr * g / avg
    return p, O.RMSpropState(t, sq, b, ga if self.centered else None)


def _rmsprop(name, **kw):
    return _variant(O.RMSprop, _rmsprop_step, name, **kw)


def _rmsprop_case(rng, i):
    hyper = {"lr": _logu(rng, 1e-4, 0.05), "alpha": float(rng.uniform(0.8, 0.999)), "eps": _logu(rng, 1e-6, 1e-2),
             "weight_decay": _on(i % 2 == 1, _logu(rng, 1e-3, 0.1)),
             "momentum": _on(i % 3 != 2, float(rng.uniform(0.5, 0.95))), "centered": i % 2 == 0}
    return _opt_case(rng, hyper, i)


# --------------------------------------------------------------------------- Adadelta
def _adadelta_step(self, params, grad, state, lr=None, *, lr_in_acc=False, eps_outside=False, use_lr=True,
                   decay=True, ignore_lr=False):
    lr = _lr(self, lr, ignore_lr)
    rho, eps = self.rho, self.eps
    g = grad + self.weight_decay * params if decay else grad
    sq = rho * state.square_avg + (1 - rho) * g * g
    if eps_outside:
        delta = (np.sqrt(state.acc_delta) + eps) / (np.sqrt(sq) + eps) * g
    else:
        delta = np.sqrt(state.acc_delta + eps) / np.sqrt(sq + eps) * g
    step = lr * delta if use_lr else delta
    acc = rho * state.acc_delta + (1 - rho) * (step * step if lr_in_acc else delta * delta)
    return params - step, O.AdadeltaState(state.step + 1, sq, acc)


def _adadelta(name, **kw):
    return _variant(O.Adadelta, _adadelta_step, name, **kw)


def _adadelta_case(rng, i):
    hyper = {"lr": float(rng.uniform(0.05, 1.5)), "rho": float(rng.uniform(0.8, 0.99)),
             "eps": _logu(rng, 1e-7, 1e-2), "weight_decay": _on(i % 2 == 0, _logu(rng, 1e-3, 0.1))}
    return _opt_case(rng, hyper, i, scale=lambda r, h: math.sqrt(h["eps"]) * _logu(r, 0.1, 10.0))


# --------------------------------------------------------------------------- Adam family
def _adam_step(self, params, grad, state, lr=None, *, eps_mode="torch", bias=True, t_from_zero=False,
               decay="auto", decay_lr="scheduled", ams="v", ignore_lr=False):
    """Adam/AdamW/AMSGrad with switches for the known mistakes.

    decay: "auto" (the class's own rule) | "l2" | "decoupled" | "none" | "no_lr" | "after"
    ams:   "v" (max of the raw v, torch) | "v_hat" (max of the bias-corrected v) | "none"
    """
    lr = _lr(self, lr, ignore_lr)
    b1, b2 = self.betas
    t = state.step + 1
    tc = t - 1 if t_from_zero else t
    if decay == "auto":
        decay = ("decoupled" if self.decoupled_weight_decay else "l2") if self.weight_decay else "none"
    wd, p, g = self.weight_decay, params, grad
    if decay == "l2":
        g = g + wd * p
    elif decay == "decoupled":
        p = p * (1 - (self.lr if decay_lr == "fixed" else lr) * wd)
    elif decay == "no_lr":
        p = p * (1 - wd)
    m = b1 * state.exp_avg + (1 - b1) * g
    v = b2 * state.exp_avg_sq + (1 - b2) * g * g
    bc1, bc2 = (1 - b1**tc, 1 - b2**tc) if bias else (1.0, 1.0)
    vmax = state.max_exp_avg_sq
    if self.amsgrad and ams == "v":
        vmax = np.maximum(vmax, v)
        v_use = vmax / bc2
    elif self.amsgrad and ams == "v_hat":
        vmax = np.maximum(vmax, v / bc2)
        v_use = vmax
    else:
        v_use = v / bc2
    if eps_mode == "inside":
        denom = np.sqrt(v_use + self.eps)
    elif eps_mode == "before":
        denom = (np.sqrt(v_use * bc2) + self.eps) / math.sqrt(bc2)
    else:
        denom = np.sqrt(v_use) + self.eps
    p = p - lr * (m / bc1) / denom
    if decay == "after":
        p = p * (1 - lr * wd)
    return p, O.AdamState(t, m, v, vmax if self.amsgrad else None)


def _adam(base, name, **kw):
    return _variant(base, _adam_step, name, **kw)


def _adam_hyper(rng, **extra):
    hyper = {"lr": _logu(rng, 1e-4, 0.1), "betas": [float(rng.uniform(0.7, 0.95)), float(rng.uniform(0.9, 0.9999))],
             "eps": _logu(rng, 1e-6, 1e-2)}
    hyper.update(extra)
    return hyper


def _adam_case(rng, i):
    return _opt_case(rng, _adam_hyper(rng, weight_decay=_on(i % 2 == 0, _logu(rng, 1e-3, 0.1))), i)


def _amsgrad_case(rng, i):
    return _opt_case(rng, _adam_hyper(rng, weight_decay=_on(i % 3 == 0, _logu(rng, 1e-3, 0.1)), amsgrad=True), i,
                     shrinking=True)


def _adamw_case(rng, i):
    return _opt_case(rng, _adam_hyper(rng, weight_decay=_logu(rng, 0.01, 0.5)), i)


# --------------------------------------------------------------------------- NAdam
def _nadam_step(self, params, grad, state, lr=None, *, schedule=True, mu_next_is_mu=False, adam_bias=False,
                t_offset=0, ignore_lr=False):
    lr = _lr(self, lr, ignore_lr)
    b1, b2 = self.betas
    psi = self.momentum_decay
    t = state.step + 1
    g = grad + self.weight_decay * params if self.weight_decay else grad
    tm = t - t_offset
    mu = b1 * (1 - 0.5 * 0.96 ** (tm * psi)) if schedule else b1
    mu_next = mu if mu_next_is_mu else (b1 * (1 - 0.5 * 0.96 ** ((tm + 1) * psi)) if schedule else b1)
    mu_product = float(np.float32(state.mu_product) * np.float32(mu))
    m = b1 * state.exp_avg + (1 - b1) * g
    v = b2 * state.exp_avg_sq + (1 - b2) * g * g
    denom = np.sqrt(v / (1 - b2**t)) + self.eps
    if adam_bias:
        c1, c2 = (1 - mu) / (1 - b1**t), mu_next / (1 - b1 ** (t + 1))
    else:
        c1, c2 = (1 - mu) / (1 - mu_product), mu_next / (1 - mu_product * mu_next)
    p = params - lr * c1 * g / denom - lr * c2 * m / denom
    return p, O.NAdamState(t, mu_product, m, v)


def _nadam(name, **kw):
    return _variant(O.NAdam, _nadam_step, name, **kw)


def _nadam_case(rng, i):
    hyper = _adam_hyper(rng, weight_decay=_on(i % 3 == 0, _logu(rng, 1e-3, 0.1)),
                        momentum_decay=_logu(rng, 1e-3, 0.2))
    return _opt_case(rng, hyper, i)


# --------------------------------------------------------------------------- ReduceLROnPlateau
def _plateau_step(self, state, metric, *, cut_at_patience=False, equal_is_better=False, threshold=True,
                  cooldown_holds=True, min_lr=True):
    current = float(metric)
    lr, best, bad, cool = state.lr, state.best, state.num_bad_epochs, state.cooldown_counter
    if threshold:
        better = self.is_better(current, best)
    else:
        better = current < best if self.mode == "min" else current > best
    if equal_is_better and current == best:
        better = True
    if better:
        best, bad = current, 0
    else:
        bad += 1
    if cool > 0:
        cool -= 1
        if cooldown_holds:
            bad = 0
    if (bad >= self.patience) if cut_at_patience else (bad > self.patience):
        new_lr = max(lr * self.factor, self.min_lr) if min_lr else lr * self.factor
        if lr - new_lr > self.eps:
            lr = new_lr
        cool, bad = self.cooldown, 0
    return S.PlateauState(lr, best, bad, cool, state.last_epoch + 1)


def _plateau(name, **kw):
    return _variant(S.ReduceLROnPlateau, _plateau_step, name, **kw)


def _plateau_case(rng, i):
    mode = "min" if rng.random() < 0.7 else "max"
    threshold_mode = "rel" if rng.random() < 0.6 else "abs"
    lr = _logu(rng, 1e-3, 1.0)
    hyper = {"lr": lr, "mode": mode, "factor": float(rng.uniform(0.1, 0.7)), "patience": int(rng.integers(0, 5)),
             "threshold": _maybe(rng, _logu(rng, 1e-3, 5e-2), 0.8), "threshold_mode": threshold_mode,
             "cooldown": int(rng.integers(1, 4)) if i % 3 else 0, "min_lr": _on(i % 2 == 0, lr * float(rng.uniform(0.05, 0.3)))}
    # A loss curve with improving stretches, exact plateaus (ties), tiny gains and spikes.
    value, metrics = float(rng.uniform(1.0, 3.0)), []
    for _ in range(60):
        r = rng.random()
        if r < 0.35:
            value *= float(rng.uniform(0.7, 0.97))     # clear improvement
        elif r < 0.55:
            value *= float(1 - rng.uniform(0, 2) * hyper["threshold"] if hyper["threshold"] else 1 - 1e-6)
        elif r < 0.75:
            pass                                        # an exact tie
        else:
            value *= float(rng.uniform(1.0, 1.2))      # worse
        metrics.append(value if mode == "min" else 5.0 - value)
    return {"hyper": hyper, "metrics": metrics}


# --------------------------------------------------------------------------- schedules
def _sched_case(make_kwargs, steps):
    def make(rng, i=0):
        kwargs = _call(make_kwargs, rng, i)
        return {"kwargs": kwargs, "steps": steps(kwargs) if callable(steps) else steps}
    return make


def _from_schedule(build):
    """The reference f(t, **kwargs) of a schedule question, from the lrcourse schedule."""
    def reference(t, **kwargs):
        return build(kwargs)(t)
    return reference


def _step_kwargs(rng):
    return {"lr": _logu(rng, 1e-3, 1.0), "step_size": int(rng.integers(1, 15)), "gamma": float(rng.uniform(0.1, 0.9))}


def _multistep_kwargs(rng, i):
    ms = sorted(int(m) for m in rng.integers(1, 50, size=int(rng.integers(1, 5))))
    if i % 2 == 0:
        ms.append(ms[-1])  # a repeated milestone cuts twice (torch counts it twice)
        ms.sort()
    return {"lr": _logu(rng, 1e-3, 1.0), "milestones": ms, "gamma": float(rng.uniform(0.1, 0.9))}


def _multistep_strict(t, lr, milestones, gamma):
    return lr * gamma ** sum(1 for m in milestones if m < t)


def _multistep_set(t, lr, milestones, gamma):
    return lr * gamma ** sum(1 for m in set(milestones) if m <= t)


def _cosine_kwargs(rng):
    lr = _logu(rng, 1e-3, 1.0)
    return {"lr": lr, "T_max": int(rng.integers(5, 40)), "eta_min": _maybe(rng, lr * float(rng.uniform(0, 0.3)))}


def _cosine(t, lr, T_max, eta_min):
    return eta_min + (lr - eta_min) * (1 + math.cos(math.pi * t / T_max)) / 2


def _warmup_kwargs(rng):
    return {"lr": _logu(rng, 1e-3, 1.0), "start_factor": float(rng.uniform(0.01, 0.5)),
            "total_iters": int(rng.integers(2, 20))}


def _linear(t, lr, start_factor, total_iters):
    return lr * (start_factor + (1 - start_factor) * min(t, total_iters) / total_iters)


def _warmup_cosine_kwargs(rng):
    lr, warmup = _logu(rng, 1e-3, 1.0), int(rng.integers(2, 15))
    return {"lr": lr, "warmup": warmup, "total": warmup + int(rng.integers(10, 60)),
            "start_factor": float(rng.uniform(0.01, 0.5)), "eta_min": _maybe(rng, lr * float(rng.uniform(0, 0.2)))}


def _warmup_cosine(kw):
    return S.SequentialLR(
        schedulers=(S.LinearLR(kw["lr"], start_factor=kw["start_factor"], end_factor=1.0, total_iters=kw["warmup"]),
                    S.CosineAnnealingLR(kw["lr"], T_max=kw["total"] - kw["warmup"], eta_min=kw["eta_min"])),
        milestones=(kw["warmup"],))


def _sequential_kwargs(rng):
    n = int(rng.integers(2, 4))
    milestones = sorted(int(m) for m in rng.choice(np.arange(2, 30), size=n - 1, replace=False))
    steps = milestones[-1] + int(rng.integers(5, 20))
    tables = [np.round(_logu(rng, 1e-3, 1.0) * np.exp(-rng.uniform(0, 0.1) * np.arange(steps)), 12).tolist()
              for _ in range(n)]
    return {"lr_tables": tables, "milestones": milestones}


def _sequential_reference(t, lr_tables, milestones):
    i = bisect.bisect_right(milestones, t)
    start = milestones[i - 1] if i else 0
    return lr_tables[i][t - start]


def _sequential_no_restart(t, lr_tables, milestones):
    return lr_tables[bisect.bisect_right(milestones, t)][t]


def _sequential_left(t, lr_tables, milestones):
    i = bisect.bisect_left(milestones, t)
    start = milestones[i - 1] if i else 0
    return lr_tables[i][t - start]


def _nadam_mu(step, beta1, momentum_decay):
    return beta1 * (1 - 0.5 * 0.96 ** (step * momentum_decay))


# --------------------------------------------------------------------------- experiments
def _spd_case(rng):
    dim = int(rng.integers(2, 5))
    q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    eig = 10 ** rng.uniform(-1.3, 1.7, size=dim)
    return {"kwargs": {"A": ((q * eig) @ q.T).tolist()}}


def _eig(A):
    return np.linalg.eigvalsh(np.asarray(A, dtype=np.float64))


def _g_vector(rng, dim=5):
    return (rng.standard_normal(dim) * _logu(rng, 1e-4, 10.0)).tolist()


def _adagrad_lrs(lr, grads, eps, initial_accumulator_value):
    s = initial_accumulator_value + np.sum(np.square(np.asarray(grads, dtype=np.float64)), axis=0)
    return lr / (np.sqrt(s) + eps)


def _function_case(make_kwargs):
    return lambda rng, i=0: {"kwargs": _call(make_kwargs, rng, i)}


def _mean_cosine(lr, T_max, eta_min):
    return float(np.mean(S.CosineAnnealingLR(lr, T_max=T_max, eta_min=eta_min)(np.arange(T_max))))


# --------------------------------------------------------------------------- sparse gradients (lesson 18)
def _sparse_case(rng):
    """A gradient of a (rows, dim) table listed one entry per lookup, Zipf-like: repeats guaranteed."""
    rows, dim = int(rng.integers(4, 10)), int(rng.integers(1, 4))
    n = int(rng.integers(3, 12))
    probs = 1.0 / np.arange(1, rows + 1) ** 1.2
    indices = rng.choice(rows, size=n, p=probs / probs.sum())
    indices[-1] = indices[0]                                  # at least one row listed twice
    values = rng.standard_normal((n, dim)) * _logu(rng, 1e-3, 1.0)
    return {"indices": indices.tolist(), "values": values.tolist(), "num_rows": rows}


def _to_dense(indices, values, num_rows, *, last_wins=False):
    """The dense (num_rows, dim) gradient of entries (indices, values): repeated rows summed."""
    values = np.asarray(values, dtype=np.float64)
    out = np.zeros((num_rows,) + values.shape[1:])
    if last_wins:       # out[indices] += values: buffered fancy indexing keeps one entry per row
        out[np.asarray(indices)] += values
    else:
        np.add.at(out, np.asarray(indices), values)
    return out


def _sparse_adam_update(params, exp_avg, exp_avg_sq, step, indices, values, lr, betas, eps, *, dense=False,
                        eps_after=False, last_wins=False, t_from_zero=False):
    """SparseAdam from scratch, with switches for the known mistakes (all off: _sparse_adam_reference)."""
    p, m, v = (np.array(a, dtype=np.float64) for a in (params, exp_avg, exp_avg_sq))
    beta1, beta2 = betas
    t = step if t_from_zero else step + 1
    g_full = _to_dense(indices, values, len(p), last_wins=last_wins)
    r = np.arange(len(p)) if dense else np.unique(indices)
    g = g_full[r]
    m[r] = m[r] + (1 - beta1) * (g - m[r])
    v[r] = v[r] + (1 - beta2) * (g * g - v[r])
    if eps_after:
        p[r] = p[r] - lr * (m[r] / (1 - beta1**t)) / (np.sqrt(v[r] / (1 - beta2**t)) + eps)
    else:
        p[r] = p[r] - lr * math.sqrt(1 - beta2**t) / (1 - beta1**t) * (m[r] / (np.sqrt(v[r]) + eps))
    return np.stack([p, m, v])


def _sparse_adam_reference(params, exp_avg, exp_avg_sq, step, indices, values, lr, betas, eps):
    """lrcourse's SparseAdam, one update from the given state, as np.stack([p, m, v])."""
    opt = O.SparseAdam(lr=lr, betas=tuple(betas), eps=eps)
    state = O.SparseAdamState(int(step), np.array(exp_avg, dtype=np.float64), np.array(exp_avg_sq, dtype=np.float64))
    grad = O.SparseGrad(np.asarray(indices, dtype=np.int64), np.asarray(values, dtype=np.float64))
    p, state = opt.step(np.array(params, dtype=np.float64), grad, state)
    return np.stack([p, state.exp_avg, state.exp_avg_sq])


def _sparse_adam_kwargs(rng, i=0):
    case = _sparse_case(rng)
    shape = (case["num_rows"], len(case["values"][0]))
    return {"params": rng.standard_normal(shape).tolist(), "exp_avg": (rng.standard_normal(shape) * 0.1).tolist(),
            "exp_avg_sq": (rng.standard_normal(shape) ** 2 * 0.01).tolist(),
            "step": int(rng.integers(0, 3)) if i % 2 == 0 else int(rng.integers(3, 2000)),
            "indices": case["indices"], "values": case["values"], "lr": _logu(rng, 1e-3, 0.1),
            "betas": [float(rng.uniform(0.8, 0.95)), float(rng.uniform(0.95, 0.9999))],
            "eps": _logu(rng, 1e-8, 1e-3)}


def _dense_adam_travel(lr, betas, *, geometric=True, sqrt_beta2=True):
    """How far dense Adam moves a row that got one gradient at a late update, in all (eps ignored)."""
    beta1, beta2 = betas
    first = lr * (1 - beta1) / math.sqrt(1 - beta2)
    if not geometric:
        return first
    return first / (1 - beta1 / (math.sqrt(beta2) if sqrt_beta2 else beta2))


# --------------------------------------------------------------------------- range test, one-cycle, SGDR
def _range_lrs(lr_min, lr_max, steps):
    return [lr_min * (lr_max / lr_min) ** (k / (steps - 1)) for k in range(steps)]


def _noisy_losses(rng):
    n = int(rng.integers(10, 100))
    curve = rng.uniform(0.5, 3.0) * np.exp(-rng.uniform(0, 0.05) * np.arange(n))
    return (curve * np.exp(0.1 * rng.standard_normal(n))).tolist()


def _smoothed(losses, beta, debias=True, swapped=False):
    out, avg = [], 0.0
    for k, loss in enumerate(losses):
        avg = (1 - beta) * avg + beta * loss if swapped else beta * avg + (1 - beta) * loss
        out.append(avg / (1 - beta ** (k + 1)) if debias else avg)
    return out


def _one_cycle_kwargs(rng):
    while True:
        n, pct = int(rng.integers(20, 200)), float(rng.uniform(0.1, 0.5))
        if pct * n >= 3 and n - pct * n >= 2:
            break
    return {"max_lr": _logu(rng, 1e-3, 1.0), "total_steps": n, "pct_start": pct,
            "div_factor": float(rng.uniform(5, 50)), "final_div_factor": _logu(rng, 10.0, 1e4)}


def _one_cycle(kw):
    return S.OneCycleLR(kw["max_lr"], total_steps=kw["total_steps"], pct_start=kw["pct_start"],
                        div_factor=kw["div_factor"], final_div_factor=kw["final_div_factor"], anneal_strategy="cos")


def _one_cycle_variant(peak_offset=1.0, final_from_max=False, linear=False):
    def lr(t, max_lr, total_steps, pct_start, div_factor, final_div_factor):
        initial = max_lr / div_factor
        final = max_lr / final_div_factor if final_from_max else initial / final_div_factor
        peak = pct_start * total_steps - peak_offset
        if t <= peak:
            pct, a, b = t / peak, initial, max_lr
        else:
            pct, a, b = (t - peak) / (total_steps - 1 - peak), max_lr, final
        return a + (b - a) * pct if linear else b + (a - b) * (1 + math.cos(math.pi * pct)) / 2
    return lr


def _sgdr_kwargs(rng, i):
    lr = _logu(rng, 1e-3, 1.0)
    return {"lr": lr, "T_0": int(rng.integers(2, 20)), "T_mult": 1 + i % 3,
            "eta_min": _maybe(rng, lr * float(rng.uniform(0, 0.2)))}


def _sgdr_variant(mult=True, reach_min=False):
    def lr_at(t, lr, T_0, T_mult, eta_min):
        T_i, T_cur = T_0, t
        while T_cur >= T_i:
            T_cur -= T_i
            T_i = T_i * T_mult if mult else T_i
        denom = T_i - 1 if reach_min and T_i > 1 else T_i
        return eta_min + (lr - eta_min) * (1 + math.cos(math.pi * T_cur / denom)) / 2
    return lr_at


# --------------------------------------------------------------------------- choosing a method
def _switched(reference, **switches):
    """A known mistake of a function question: the reference with some of its switches flipped."""
    return lambda **kwargs: reference(**kwargs, **switches)


def _near_best_width(lrs, losses, tol, cap, *, capped=True, drop_diverged=False, relative=True, interpolate=True,
                     count_points=False, in_lr=False, log=np.log10, contiguous=True):
    """Lesson 16's near-best width W (decades), with switches for the known mistakes."""
    lrs, loss = np.asarray(lrs, dtype=np.float64), np.asarray(losses, dtype=np.float64)
    finite = np.isfinite(loss)
    if drop_diverged:   # average the runs that did not diverge (a column with none counts as cap)
        kept = np.where(finite, np.minimum(loss, cap), 0.0)
        n = finite.sum(axis=0)
        mean = np.where(n > 0, kept.sum(axis=0) / np.maximum(n, 1), cap)
    elif capped:
        mean = np.mean(np.where(finite, np.minimum(loss, cap), cap), axis=0)
    else:
        mean = np.mean(np.where(np.isnan(loss), np.inf, loss), axis=0)
    x = log(lrs)
    i = int(np.argmin(mean))
    thr = (1 + tol) * mean[i] if relative else mean[i] + tol
    if contiguous:
        lo = hi = i
        while lo > 0 and mean[lo - 1] <= thr:
            lo -= 1
        while hi < len(mean) - 1 and mean[hi + 1] <= thr:
            hi += 1
    else:
        inside = np.flatnonzero(mean <= thr)
        lo, hi = int(inside[0]), int(inside[-1])
    if count_points:
        return (hi - lo + 1) * (x[1] - x[0])
    if not interpolate:
        return x[hi] - x[lo]
    z = lrs if in_lr else x
    with np.errstate(all="ignore"):
        left = z[lo] - (z[lo] - z[lo - 1]) * (thr - mean[lo]) / (mean[lo - 1] - mean[lo]) if lo > 0 else z[0]
        right = z[hi] + (z[hi + 1] - z[hi]) * (thr - mean[hi]) / (mean[hi + 1] - mean[hi]) if hi < len(z) - 1 else z[-1]
    return float(log(right) - log(left)) if in_lr else float(right - left)


def _sweep_case(rng, i):
    """Final losses of an LR sweep (seeds x LRs): under-training on the left, divergence (inf) on the right.

    Cases alternate: 0 and 1 a plain U, 2 one run far above the cap at an LR inside the near-best range
    (it splits the range), 3 the best LR at an end of the grid.
    """
    kind = i % 4
    while True:
        n = int(rng.integers(9, 22))
        start = float(rng.uniform(-5.0, -2.0))
        lrs = np.logspace(start, start + float(rng.uniform(4.0, 7.0)), n)
        x = np.log10(lrs)
        if kind == 3:
            x_star = x[0] - rng.uniform(0.0, 0.3) if rng.random() < 0.5 else x[-1] + rng.uniform(0.0, 0.3)
        else:
            x_star = rng.uniform(x[2], x[-3])
        seeds, tol, cap = int(rng.integers(2, 6)), float(rng.uniform(0.05, 0.3)), float(rng.uniform(1.5, 3.0))
        best, chance = float(rng.uniform(0.15, 0.5)), float(rng.uniform(0.6, 0.75))
        width = float(rng.uniform(0.4, 2.0)) * (2.0 if kind == 2 else 1.0)
        x_div = x_star + float(rng.uniform(0.2, 1.5)) * (2.0 if kind == 2 else 1.0)
        left = best + (chance - best) * (1 - np.exp(-np.square(np.maximum(x_star - x, 0.0) / width)))
        right = best * (1 + float(rng.uniform(0.2, 2.0)) * np.square(np.maximum(x - x_star, 0.0) / width)
                        * np.exp(np.maximum(x - x_div, 0.0)))
        curve = np.where(x < x_star, left, right)
        loss = curve * np.exp(rng.normal(0.0, 0.05, (seeds, 1)) + rng.normal(0.0, 0.03, (seeds, n)))
        p_div = 1 / (1 + np.exp(-(x - x_div) / 0.3))           # beyond x_div, runs diverge ...
        loss[rng.random((seeds, n)) < p_div] = np.inf
        big = (rng.random((seeds, n)) < 0.5) & (x > x_div - 0.5)  # ... or end far above the cap
        loss[big & np.isfinite(loss)] *= float(rng.uniform(3.0, 30.0))
        mean = np.mean(np.minimum(loss, cap), axis=0)
        if kind == 2:   # one run blows up (far above the cap) at an LR inside the near-best range
            j = int(np.argmin(mean))
            inside = np.flatnonzero(mean <= (1 + tol) * mean[j])
            spots = [k for k in inside if k != j and inside.min() < k < inside.max()]
            if not spots:
                continue
            spike = spots[int(rng.integers(len(spots)))]
            loss[int(rng.integers(seeds)), spike] = cap * float(rng.uniform(2.0, 20.0))
            mean = np.mean(np.minimum(loss, cap), axis=0)
        j = int(np.argmin(mean))
        thr = (1 + tol) * mean[j]
        others = np.delete(mean, j)
        # no LR within rounding of the threshold or of the best: every way of summing gives the same range
        if mean[j] < 0.9 * cap and np.all(np.abs(mean - thr) > 1e-6 * thr) and np.min(others) > mean[j] * (1 + 1e-6):
            break
    return {"lrs": lrs.tolist(), "losses": np.round(loss, 6).tolist(), "tol": round(tol, 3), "cap": round(cap, 3)}


def _paired_verdict(a, b, margin, *, ddof=1, k=2.0, use_margin=True, unpaired=False, sqrt_n=True, flipped=False):
    """Lesson 16's paired rule: [verdict (-1: A better, +1: B better, 0: draw), mean of d = a - b,
    its standard error]."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    d = a - b
    n = len(d)
    mean = float(np.mean(d))
    if unpaired:
        se = math.sqrt(float(np.var(a, ddof=1) + np.var(b, ddof=1)) / n)
    else:
        se = float(np.std(d, ddof=ddof)) / (math.sqrt(n) if sqrt_n else 1.0)
    verdict = 0.0
    if abs(mean) > max(k * se, margin if use_margin else 0.0):
        verdict = -1.0 if mean < 0 else 1.0
    return [-verdict if flipped else verdict, mean, se]


def _paired_case(rng, i):
    """Per-seed losses of two methods; cases alternate between a clear winner (0), a difference that is
    significant but below the margin (1), one between one and two standard errors (2), and noise (3)."""
    kind = i % 4
    lo_hi = {0: (3.0, 8.0), 1: (2.5, 6.0), 2: (1.15, 1.75), 3: (0.0, 0.9)}[kind]
    while True:
        n = int(rng.integers(3, 11))
        e = rng.standard_normal(n)
        e = (e - e.mean()) / e.std(ddof=1)
        s = _logu(rng, 2e-3, 3e-2)                            # the SD of the per-seed differences
        ratio = float(rng.uniform(*lo_hi))
        mu = (1.0 if rng.random() < 0.5 else -1.0) * ratio * s / math.sqrt(n)
        b = rng.uniform(0.25, 0.6) + rng.normal(0.0, 0.05, n)  # the seed moves both methods (paired)
        a = np.round(b + mu + s * e, 6)
        b = np.round(b, 6)
        mean = abs(float(np.mean(a - b)))
        margin = round(mean * float(rng.uniform(1.3, 3.0) if kind == 1 else rng.uniform(0.1, 0.8)), 6)
        if kind == 3 and rng.random() < 0.5:
            margin = 0.005                                     # the lesson's margin
        se = float(np.std(a - b, ddof=1)) / math.sqrt(n)
        z = mean / se
        ok = {0: z > 2.5 and mean > 1.2 * margin, 1: z > 2.2 and mean < margin / 1.2,
              2: 1.1 < z < 1.8 and mean > 1.2 * margin, 3: z < 0.95}[kind]
        if ok:
            return {"a": a.tolist(), "b": b.tolist(), "margin": margin}


def _state_floats(state, params, *, scalars=None, params_sized_only=False, per_array=False, extra=0.0):
    """Floats held in the state's arrays per parameter (scalars such as step and None fields cost nothing).

    scalars: None (the reference) | "array" (each one counted as a params-sized array) | "float" (as one float)
    """
    n = np.size(params)
    total = 0
    for v in state.values():
        if v is None:
            continue
        if np.ndim(v) == 0:
            total += {None: 0, "array": n, "float": 1}[scalars]
        elif not (params_sized_only and np.size(v) != n):
            total += n if per_array else np.size(v)
    return total / n + extra


def _state_case(rng, i):
    """An optimizer's state as a dict of field -> array (nested list) / number / None, and its params.

    Cases alternate: 0 Adam or AMSGrad, 1 a factored second moment (Adafactor: one value per row
    and one per column of a weight matrix), 2 SGD, Adagrad, RMSprop or NAdam.
    """
    kind = ("adam", "factored", "other")[i % 3]
    matrix = kind != "other" or rng.random() < 0.5
    shape = (int(rng.integers(2, 5)), int(rng.integers(2, 6))) if matrix else (int(rng.integers(2, 9)),)

    def arr(*dims, square=False):   # second moments (v, sum, square_avg) are >= 0
        a = rng.standard_normal(dims)
        return np.round(np.square(a) if square else a, 3).tolist()

    def maybe(p=0.5, square=False):
        return arr(*shape, square=square) if rng.random() < p else None

    step = int(rng.integers(1, 1000))
    if kind == "adam":
        state = {"step": step, "exp_avg": arr(*shape), "exp_avg_sq": arr(*shape, square=True),
                 "max_exp_avg_sq": maybe(square=True)}
    elif kind == "factored":
        state = {"step": step, "exp_avg": maybe(), "exp_avg_sq_row": arr(shape[0], square=True),
                 "exp_avg_sq_col": arr(shape[1], square=True)}
    else:
        which = int(rng.integers(4))
        if which == 0:
            state = {"momentum_buffer": maybe(0.7)}
        elif which == 1:
            state = {"step": step, "sum": arr(*shape, square=True)}
        elif which == 2:
            state = {"step": step, "square_avg": arr(*shape, square=True), "momentum_buffer": maybe(),
                     "grad_avg": maybe()}
        else:
            state = {"step": step, "mu_product": round(float(rng.uniform(0.1, 1.0)), 4), "exp_avg": arr(*shape),
                     "exp_avg_sq": arr(*shape, square=True)}
    return {"state": state, "params": arr(*shape)}


# --------------------------------------------------------------------------- the questions
def _schedule_q(qid, title, target, build, make_kwargs, steps, mistakes, points=2.0):
    return Question(qid, title, "schedule", target, points, _sched_case(make_kwargs, steps),
                    _from_schedule(build), mistakes=mistakes, schedule=build)


def _fn(qid, title, target, reference, make_kwargs, mistakes=(), points=1.0, public=2, hidden=6, **kw):
    return Question(qid, title, "function", target, points, _function_case(make_kwargs), reference,
                    mistakes=mistakes, public=public, hidden=hidden, **kw)


def _opt_q(qid, title, target, reference, base, make_case, fields, mistakes, points=4.0, **kw):
    return Question(qid, title, "optimizer", target, points, make_case, reference, base=base, fields=fields,
                    mistakes=mistakes, **kw)


_ADAM_FIELDS = ("exp_avg", "exp_avg_sq")

QUESTIONS: dict[str, tuple[Question, ...]] = {
    "01_fixed_learning_rate": (
        _opt_q("q1", "Plain SGD: step", "PlainSGD", O.SGD, "SGD", _plain_sgd_case, (), (
            Mistake("weight decay is ignored", "torch's weight_decay adds weight_decay * p to the gradient",
                    _sgd("NoDecay", decay=False)),
            Mistake("the step goes uphill", "subtract lr * g: p = p - lr * g", _sgd("Ascent", ascent=True)),
            Mistake(*_IGNORED_LR, _sgd("IgnoresLr", ignore_lr=True)),
        ), points=3.0),
        _fn("q2", "Largest stable constant LR", "max_stable_lr", lambda A: 2.0 / _eig(A).max(), lambda rng: _spd_case(rng)["kwargs"], (
            Mistake("1 / L instead of 2 / L", "GD on a quadratic is stable while |1 - lr*L| < 1, i.e. lr < 2 / L",
                    lambda A: 1.0 / _eig(A).max()),
            Mistake("the smallest eigenvalue", "stability is decided by the largest curvature L = max eigenvalue",
                    lambda A: 2.0 / _eig(A).min()),
        )),
        _fn("q3", "Fastest constant LR", "best_constant_lr", lambda A: 2.0 / (_eig(A).max() + _eig(A).min()),
            lambda rng: _spd_case(rng)["kwargs"], (
                Mistake("1 / L", "balance the slowest and the fastest direction: |1 - lr*mu| = |1 - lr*L|",
                        lambda A: 1.0 / _eig(A).max()),
                Mistake("2 / L", "2 / L is the edge of stability, not the fastest rate", lambda A: 2.0 / _eig(A).max()),
            )),
    ),
    "02_step_decay": (
        _schedule_q("q1", "StepLR in closed form", "step_lr", lambda kw: S.StepLR(**kw), _step_kwargs, 60, (
            Mistake("off-by-one schedule indexing", "update t = 0 uses lr itself: lr * gamma ** (t // step_size)",
                    lambda t, lr, step_size, gamma: lr * gamma ** ((t + 1) // step_size)),
            Mistake("a smooth exponent", "the exponent is the whole number of completed periods: t // step_size",
                    lambda t, lr, step_size, gamma: lr * gamma ** (t / step_size)),
        )),
        _schedule_q("q2", "MultiStepLR in closed form", "multistep_lr", lambda kw: S.MultiStepLR(**kw),
                    _multistep_kwargs, 60, (
            Mistake("milestone counted one update late", "the cut applies from update m on: count milestones m <= t",
                    _multistep_strict),
            Mistake("repeated milestones counted once", "torch counts a repeated milestone twice (two cuts)",
                    _multistep_set),
        )),
    ),
    "03_exponential_decay": (
        _schedule_q("q1", "ExponentialLR in closed form", "exponential_lr", lambda kw: S.ExponentialLR(**kw),
                    lambda rng: {"lr": _logu(rng, 1e-3, 1.0), "gamma": float(rng.uniform(0.8, 0.999))}, 80, (
            Mistake("off-by-one schedule indexing", "update 0 uses lr: lr * gamma ** t",
                    lambda t, lr, gamma: lr * gamma ** (t + 1)),
            Mistake("gamma used as the rate k", "ExponentialLR multiplies by gamma each update: lr * gamma ** t "
                    "(lr * exp(-k t) is gamma = exp(-k))", lambda t, lr, gamma: lr * math.exp(-gamma * t)),
        )),
        _fn("q2", "Choosing gamma", "gamma_to_reach", lambda lr, final_lr, steps: (final_lr / lr) ** (1.0 / steps),
            lambda rng: (lambda lr: {"lr": lr, "final_lr": lr * _logu(rng, 1e-3, 0.5),
                                     "steps": int(rng.integers(5, 500))})(_logu(rng, 1e-3, 1.0)), (
                Mistake("off by one update", "update `steps` must use final_lr: lr * gamma ** steps == final_lr",
                        lambda lr, final_lr, steps: (final_lr / lr) ** (1.0 / (steps - 1))),
            )),
    ),
    "04_cosine_annealing": (
        _schedule_q("q1", "CosineAnnealingLR in closed form", "cosine_lr", lambda kw: S.CosineAnnealingLR(**kw),
                    _cosine_kwargs, lambda kw: int(2.5 * kw["T_max"]), (
            Mistake("clamped after T_max", "torch's cosine is not clamped: past T_max it climbs back (period 2*T_max)",
                    lambda t, lr, T_max, eta_min: _cosine(min(t, T_max), lr, T_max, eta_min)),
            Mistake("off-by-one schedule indexing", "update 0 uses lr: the angle is pi * t / T_max",
                    lambda t, lr, T_max, eta_min: _cosine(t + 1, lr, T_max, eta_min)),
            Mistake("eta_min added on top", "interpolate between eta_min and lr: eta_min + (lr - eta_min) * ...",
                    lambda t, lr, T_max, eta_min: eta_min + lr * (1 + math.cos(math.pi * t / T_max)) / 2),
        )),
        _fn("q2", "Mean LR of one cosine half-period", "mean_cosine_lr", _mean_cosine,
            lambda rng: _cosine_kwargs(rng), (
                Mistake("averaged over T_max + 1 updates", "average the LRs of updates 0 .. T_max - 1 (T_max values)",
                        lambda lr, T_max, eta_min: (lr + eta_min) / 2),
            )),
    ),
    "05_reduce_on_plateau": (
        Question("q1", "ReduceLROnPlateau: step", "plateau", "MyPlateau", 4.0, _plateau_case, S.ReduceLROnPlateau,
                 base="ReduceLROnPlateau", fields=("lr", "best", "num_bad_epochs", "cooldown_counter", "last_epoch"),
                 mistakes=(
                     Mistake("cut one epoch early", "cut when num_bad_epochs > patience: the (patience+1)-th bad "
                             "epoch in a row", _plateau("Early", cut_at_patience=True)),
                     Mistake("a tie counts as an improvement", "equal is not better: mode min needs metric < best "
                             "* (1 - threshold)", _plateau("Ties", equal_is_better=True)),
                     Mistake("threshold ignored", "an improvement must beat best by the threshold (rel: "
                             "best * (1 - threshold), abs: best - threshold)", _plateau("NoThreshold", threshold=False)),
                     Mistake("bad epochs counted during cooldown", "while cooldown_counter > 0 it counts down and "
                             "num_bad_epochs is held at 0", _plateau("CooldownCounts", cooldown_holds=False)),
                     Mistake("min_lr ignored", "the new LR is max(lr * factor, min_lr)", _plateau("NoMin", min_lr=False)),
                 )),
    ),
    "06_warmup": (
        _schedule_q("q1", "Linear warm-up (LinearLR)", "linear_warmup_lr",
                    lambda kw: S.LinearLR(kw["lr"], start_factor=kw["start_factor"], end_factor=1.0,
                                          total_iters=kw["total_iters"]), _warmup_kwargs, 30, (
            Mistake("not held after total_iters", "after total_iters updates the factor stays at 1: use "
                    "min(t, total_iters)", lambda t, lr, start_factor, total_iters:
                    lr * (start_factor + (1 - start_factor) * t / total_iters)),
            Mistake("off-by-one schedule indexing", "update 0 uses lr * start_factor",
                    lambda t, lr, start_factor, total_iters: _linear(t + 1, lr, start_factor, total_iters)),
        )),
        _schedule_q("q2", "LambdaLR warm-up", "lambda_warmup_lr",
                    lambda kw: S.LambdaLR(kw["lr"], lr_lambda=lambda e, w=kw["warmup"]: min(e / w, 1.0)),
                    lambda rng: {"lr": _logu(rng, 1e-3, 1.0), "warmup": int(rng.integers(2, 20))}, 30, (
            Mistake("first update with a nonzero LR", "torch applies lr_lambda(0) when the scheduler is built, so "
                    "update 0 uses lr * 0 / warmup = 0", lambda t, lr, warmup: lr * min((t + 1) / warmup, 1.0)),
        )),
    ),
    "07_combining_schedules": (
        _schedule_q("q1", "Warm-up then cosine (SequentialLR)", "warmup_cosine_lr", _warmup_cosine,
                    _warmup_cosine_kwargs, lambda kw: kw["total"] + 5, (
            Mistake("cosine not restarted at the milestone", "SequentialLR restarts the next schedule at its own "
                    "t = 0: use t - warmup", lambda t, lr, warmup, total, start_factor, eta_min:
                    _linear(t, lr, start_factor, warmup) if t < warmup else _cosine(t, lr, total - warmup, eta_min)),
            Mistake("T_max = total", "the cosine lasts total - warmup updates", lambda t, lr, warmup, total,
                    start_factor, eta_min: _linear(t, lr, start_factor, warmup) if t < warmup
                    else _cosine(t - warmup, lr, total, eta_min)),
        )),
        Question("q2", "SequentialLR, generic", "schedule", "sequential_lr", 2.0,
                 _sched_case(_sequential_kwargs, lambda kw: kw["milestones"][-1] + 5), _sequential_reference,
                 mistakes=(
                     Mistake("not restarted at the milestone", "each schedule starts again at its own t = 0: index "
                             "lr_tables[i][t - milestones[i-1]]", _sequential_no_restart),
                     Mistake("off-by-one at the milestone", "update t = milestone already belongs to the next "
                             "schedule (bisect_right)", _sequential_left),
                 )),
    ),
    "08_sgd_momentum": (
        _opt_q("q1", "SGD with momentum: step", "MomentumSGD", O.SGD, "SGD", _momentum_case, ("momentum_buffer",), (
            Mistake("zero-initialised momentum buffer", "torch's first buffer is the gradient itself, without "
                    "dampening: b = g on the first step", _sgd("ZeroInit", zero_init=True)),
            Mistake("lr inside the buffer (Sutskever form)", "torch keeps lr outside: b = mu*b + (1-dampening)*g, "
                    "then p = p - lr*b", _sgd("LrInBuffer", lr_in_buffer=True)),
            Mistake("Nesterov ignored", "with nesterov=True the step direction is g + mu*b",
                    _sgd("NoNesterov", nesterov=False)),
            Mistake("dampening ignored", "after the first step b = mu*b + (1 - dampening)*g",
                    _sgd("NoDampening", dampening=False)),
            Mistake("weight decay is ignored", "add weight_decay * p to the gradient first", _sgd("NoDecay8", decay=False)),
            Mistake(*_IGNORED_LR, _sgd("IgnoresLr8", ignore_lr=True)),
        )),
        _fn("q2", "Terminal speed of momentum", "terminal_step_lr",
            lambda lr, momentum, dampening: lr * (1 - dampening) / (1 - momentum),
            lambda rng: {"lr": _logu(rng, 1e-3, 1.0), "momentum": float(rng.uniform(0.5, 0.99)),
                         "dampening": _maybe(rng, float(rng.uniform(0.1, 0.5)), 0.7)}, (
                Mistake("dampening ignored", "each gradient enters the buffer scaled by (1 - dampening)",
                        lambda lr, momentum, dampening: lr / (1 - momentum)),
                Mistake("geometric series started at mu", "b -> g (1 + mu + mu^2 + ...) = g / (1 - mu)",
                        lambda lr, momentum, dampening: lr * (1 - dampening) * momentum / (1 - momentum)),
            )),
    ),
    "09_adagrad": (
        _opt_q("q1", "Adagrad: step", "MyAdagrad", O.Adagrad, "Adagrad", _adagrad_case, ("sum",), (
            Mistake("eps inside the square root", "eps goes after the root: sqrt(sum) + eps",
                    _adagrad("EpsInside", eps_inside=True)),
            Mistake("off-by-one in lr_decay", "the first step uses lr: clr = lr / (1 + (t - 1) * lr_decay) with "
                    "t counted from 1", _adagrad("DecayOffByOne", decay_offset=0)),
            Mistake("lr_decay ignored", "clr = lr / (1 + (t - 1) * lr_decay)", _adagrad("NoLrDecay", lr_decay=False)),
            Mistake("weight decay is ignored", "add weight_decay * p to the gradient first",
                    _adagrad("NoDecay9", decay=False)),
            Mistake(*_IGNORED_LR, _adagrad("IgnoresLr9", ignore_lr=True)),
        )),
        _fn("q2", "Adagrad's effective learning rates", "adagrad_effective_lrs", _adagrad_lrs,
            lambda rng: {"lr": _logu(rng, 1e-3, 1.0), "grads": (rng.standard_normal((int(rng.integers(3, 20)), 4))
                                                                * _logu(rng, 1e-4, 1.0)).tolist(),
                         "eps": _logu(rng, 1e-10, 1e-3), "initial_accumulator_value": _maybe(rng, float(rng.uniform(0, 1)))},
            (Mistake("eps inside the square root", "eps goes after the root",
                     lambda lr, grads, eps, initial_accumulator_value: lr / np.sqrt(
                         initial_accumulator_value + np.sum(np.square(grads), axis=0) + eps)),
             Mistake("initial accumulator ignored", "the sum starts at initial_accumulator_value",
                     lambda lr, grads, eps, initial_accumulator_value: _adagrad_lrs(lr, grads, eps, 0.0)))),
    ),
    "10_rmsprop": (
        _opt_q("q1", "RMSprop: step", "MyRMSprop", O.RMSprop, "RMSprop", _rmsprop_case,
               ("square_avg", "momentum_buffer", "grad_avg"), (
            Mistake("eps inside the square root", "eps goes after the root: sqrt(square_avg) + eps",
                    _rmsprop("EpsInside10", eps_inside=True)),
            Mistake("bias correction added", "RMSprop has no bias correction (that is Adam's)",
                    _rmsprop("BiasCorrected", bias_correct=True)),
            Mistake("lr inside the momentum buffer", "b = momentum*b + g/avg, then p = p - lr*b",
                    _rmsprop("LrInBuffer10", lr_in_buffer=True)),
            Mistake("centered ignored", "centered=True subtracts grad_avg**2 from square_avg under the root",
                    _rmsprop("NotCentered", centered=False)),
            Mistake("momentum ignored", "with momentum > 0 the step goes through the buffer",
                    _rmsprop("NoMomentum10", momentum=False)),
            Mistake("weight decay is ignored", "add weight_decay * p to the gradient first",
                    _rmsprop("NoDecay10", decay=False)),
            Mistake(*_IGNORED_LR, _rmsprop("IgnoresLr10", ignore_lr=True)),
        )),
        _fn("q2", "RMSprop's first update", "rmsprop_first_update",
            lambda lr, alpha, eps, g: -lr * np.asarray(g) / (np.sqrt((1 - alpha) * np.square(g)) + eps),
            lambda rng: {"lr": _logu(rng, 1e-4, 0.1), "alpha": float(rng.uniform(0.8, 0.999)),
                         "eps": _logu(rng, 1e-8, 1e-3), "g": _g_vector(rng)}, (
                Mistake("bias-corrected", "RMSprop has no bias correction: the first step is about lr/sqrt(1-alpha)",
                        lambda lr, alpha, eps, g: -lr * np.asarray(g) / (np.abs(g) + eps)),
                Mistake("eps inside the square root", "eps goes after the root",
                        lambda lr, alpha, eps, g: -lr * np.asarray(g) / np.sqrt((1 - alpha) * np.square(g) + eps)),
            )),
    ),
    "11_adadelta": (
        _opt_q("q1", "Adadelta: step", "MyAdadelta", O.Adadelta, "Adadelta", _adadelta_case, ("square_avg", "acc_delta"), (
            Mistake("lr-scaled accumulator", "acc_delta accumulates the unscaled delta; lr multiplies only the step",
                    _adadelta("LrInAcc", lr_in_acc=True)),
            Mistake("eps outside the square roots", "Adadelta puts eps inside both roots: sqrt(acc_delta + eps) / "
                    "sqrt(square_avg + eps)", _adadelta("EpsOutside", eps_outside=True)),
            Mistake("lr ignored", "torch keeps lr (default 1.0) as a multiplier: p = p - lr * delta",
                    _adadelta("NoLr", use_lr=False)),
            Mistake("weight decay is ignored", "add weight_decay * p to the gradient first",
                    _adadelta("NoDecay11", decay=False)),
        )),
        _fn("q2", "Adadelta's first update", "adadelta_first_update",
            lambda lr, rho, eps, g: -lr * math.sqrt(eps) / np.sqrt((1 - rho) * np.square(g) + eps) * np.asarray(g),
            lambda rng: {"lr": float(rng.uniform(0.1, 1.5)), "rho": float(rng.uniform(0.8, 0.99)),
                         "eps": _logu(rng, 1e-7, 1e-2), "g": _g_vector(rng)}, (
                Mistake("lr ignored", "the update is lr * delta",
                        lambda lr, rho, eps, g: -math.sqrt(eps) / np.sqrt((1 - rho) * np.square(g) + eps) * np.asarray(g)),
                Mistake("eps outside the square roots", "eps goes inside both roots",
                        lambda lr, rho, eps, g: -lr * eps / (np.sqrt((1 - rho) * np.square(g)) + eps) * np.asarray(g)),
            )),
    ),
    "12_adam": (
        _opt_q("q1", "Adam: step", "MyAdam", O.Adam, "Adam", _adam_case, _ADAM_FIELDS, (
            Mistake("eps inside the square root", "eps goes after the root: sqrt(v_hat) + eps",
                    _adam(O.Adam, "EpsInside12", eps_mode="inside")),
            Mistake("eps added before the bias correction", "torch adds eps after bias-correcting: "
                    "sqrt(v) / sqrt(1 - beta2**t) + eps", _adam(O.Adam, "EpsBefore", eps_mode="before")),
            Mistake("no bias correction", "divide m by 1 - beta1**t and v by 1 - beta2**t",
                    _adam(O.Adam, "NoBias", bias=False)),
            Mistake("t starting at 0", "increment the step counter before the bias corrections: t = state.step + 1",
                    _adam(O.Adam, "TZero", t_from_zero=True)),
            Mistake("decoupled weight decay", "torch.optim.Adam's weight_decay is an L2 term added to g "
                    "(decoupled decay is AdamW)", _adam(O.Adam, "Decoupled12", decay="decoupled")),
            Mistake("weight decay is ignored", "add weight_decay * p to the gradient first",
                    _adam(O.Adam, "NoDecay12", decay="none")),
            Mistake(*_IGNORED_LR, _adam(O.Adam, "IgnoresLr12", ignore_lr=True)),
        )),
        _fn("q2", "Adam's first update", "adam_first_update",
            lambda lr, betas, eps, g: -lr * np.asarray(g) / (np.abs(g) + eps),
            lambda rng: {"lr": _logu(rng, 1e-4, 0.1), "betas": [float(rng.uniform(0.7, 0.95)),
                                                                   float(rng.uniform(0.9, 0.9999))],
                         "eps": _logu(rng, 1e-8, 1e-3), "g": _g_vector(rng)}, (
                Mistake("no bias correction", "with bias correction m_hat = g and sqrt(v_hat) = |g| on step 1",
                        lambda lr, betas, eps, g: -lr * (1 - betas[0]) * np.asarray(g)
                        / (math.sqrt(1 - betas[1]) * np.abs(g) + eps)),
                Mistake("eps inside the square root", "eps goes after the root",
                        lambda lr, betas, eps, g: -lr * np.asarray(g) / np.sqrt(np.square(g) + eps)),
            )),
    ),
    "13_amsgrad": (
        _opt_q("q1", "AMSGrad: step", "MyAMSGrad", O.Adam, "Adam", _amsgrad_case, _ADAM_FIELDS + ("max_exp_avg_sq",), (
            Mistake("max over v_hat instead of v", "torch keeps the running max of the raw v and bias-corrects "
                    "afterwards: sqrt(max_v) / sqrt(1 - beta2**t) + eps", _adam(O.Adam, "MaxVHat", ams="v_hat")),
            Mistake("the max is not used", "AMSGrad's denominator uses max_exp_avg_sq = max(max_exp_avg_sq, v)",
                    _adam(O.Adam, "NoMax", ams="none")),
            Mistake("eps inside the square root", "eps goes after the root",
                    _adam(O.Adam, "EpsInside13", eps_mode="inside")),
            Mistake("no bias correction", "divide m by 1 - beta1**t and the max by 1 - beta2**t",
                    _adam(O.Adam, "NoBias13", bias=False)),
        )),
    ),
    "14_adamw": (
        _opt_q("q1", "AdamW: step", "MyAdamW", O.AdamW, "AdamW", _adamw_case, _ADAM_FIELDS, (
            Mistake("L2 instead of decoupled decay", "AdamW shrinks the weights directly: p = p * (1 - lr * "
                    "weight_decay), and g stays the raw gradient", _adam(O.AdamW, "L2", decay="l2")),
            Mistake("decay without lr", "the decay is scaled by the learning rate: p * (1 - lr * weight_decay)",
                    _adam(O.AdamW, "DecayNoLr", decay="no_lr")),
            Mistake("decay after the update", "torch decays p first, then applies the Adam update",
                    _adam(O.AdamW, "DecayAfter", decay="after")),
            Mistake("decay uses self.lr, not the scheduled lr", "the decay uses this step's lr (the lr= argument)",
                    _adam(O.AdamW, "DecayFixedLr", decay_lr="fixed")),
            Mistake("no bias correction", "divide m by 1 - beta1**t and v by 1 - beta2**t",
                    _adam(O.AdamW, "NoBias14", bias=False)),
        )),
        _fn("q2", "Decoupled decay on its own", "zero_grad_shrink",
            lambda lr, weight_decay, steps: (1 - lr * weight_decay) ** steps,
            lambda rng: {"lr": _logu(rng, 1e-4, 0.1), "weight_decay": _logu(rng, 1e-3, 1.0),
                         "steps": int(rng.integers(1, 1000))}, (
                Mistake("decay without lr", "each step multiplies p by 1 - lr * weight_decay",
                        lambda lr, weight_decay, steps: (1 - weight_decay) ** steps),
            )),
    ),
    "15_nadam": (
        Question("q1", "NAdam's momentum schedule", "schedule", "nadam_mu", 1.0,
                 lambda rng: {"kwargs": {"beta1": float(rng.uniform(0.8, 0.95)),
                                         "momentum_decay": _logu(rng, 1e-3, 0.3)}, "steps": 50, "t0": 1},
                 lambda step, beta1, momentum_decay: _nadam_mu(step, beta1, momentum_decay),
                 compared="the momentum coefficient mu_t of every step", mistakes=(
                     Mistake("off-by-one schedule indexing", "step t (counted from 1) uses 0.96 ** (t * momentum_decay)",
                             lambda step, beta1, momentum_decay: _nadam_mu(step - 1, beta1, momentum_decay)),
                     Mistake("momentum_decay ignored", "the exponent is t * momentum_decay",
                             lambda step, beta1, momentum_decay: beta1 * (1 - 0.5 * 0.96 ** step)),
                 )),
        _opt_q("q2", "NAdam: step", "MyNAdam", O.NAdam, "NAdam", _nadam_case, _ADAM_FIELDS + ("mu_product",), (
            Mistake("NAdam without the mu schedule", "torch's momentum follows mu_t = beta1 * (1 - 0.5 * 0.96 ** "
                    "(t * momentum_decay))", _nadam("NoSchedule", schedule=False)),
            Mistake("mu instead of mu_next", "the momentum term looks one step ahead: it uses mu_{t+1}",
                    _nadam("MuNext", mu_next_is_mu=True)),
            Mistake("Adam's bias correction", "NAdam corrects with the running product of the mu's",
                    _nadam("AdamBias", adam_bias=True)),
            Mistake("off-by-one schedule indexing", "mu_t uses t = state.step + 1 (the step being taken)",
                    _nadam("MuOffByOne", t_offset=1)),
            Mistake(*_IGNORED_LR, _nadam("IgnoresLr15", ignore_lr=True)),
        ), tol=1e-7),
    ),
    "16_choosing_a_method": (
        _fn("q1", "Near-best width of an LR sweep", "near_best_width", _near_best_width, _sweep_case, (
            Mistake("no interpolation", "extend each edge past its last grid point to where the mean crosses "
                    "(1 + tol) * best, linearly in log10(lr)",
                    _switched(_near_best_width, interpolate=False)),
            Mistake("off-by-one in the grid width (grid points counted)", "k grid points span k - 1 intervals, and "
                    "W runs between the interpolated edges: W = right - left in log10(lr)",
                    _switched(_near_best_width, count_points=True)),
            Mistake("diverged runs left out of the mean", "a diverged run (inf) counts as cap in the mean over "
                    "seeds; leaving it out makes a diverging LR look good",
                    _switched(_near_best_width, drop_diverged=True)),
            Mistake("losses not capped", "cap every loss first, np.minimum(losses, cap): a diverged run then "
                    "raises the mean by a finite amount and the edge next to it is interpolated",
                    _switched(_near_best_width, capped=False)),
            Mistake("an absolute tolerance", "near-best means within tol of the best relatively: "
                    "mean <= (1 + tol) * best",
                    _switched(_near_best_width, relative=False)),
            Mistake("interpolated in lr instead of log10(lr)", "the grid is log-spaced: interpolate the edges "
                    "linearly in log10(lr)",
                    _switched(_near_best_width, in_lr=True)),
            Mistake("natural logarithm", "W is in decades: use log10(lr), not ln(lr)",
                    _switched(_near_best_width, log=np.log)),
            Mistake("the range is not contiguous", "grow the range outwards from the best LR and stop at the first "
                    "LR above the threshold on each side: a good LR beyond a bad one does not count",
                    _switched(_near_best_width, contiguous=False)),
        ), points=2.0),
        _fn("q2", "Paired verdict: better, worse or draw", "paired_verdict", _paired_verdict, _paired_case, (
            Mistake("population standard deviation", "the standard error uses the sample SD of the differences: "
                    "np.std(d, ddof=1) / sqrt(n)", _switched(_paired_verdict, ddof=0)),
            Mistake("unpaired standard error", "the seeds pair the runs: use the SD of the per-seed differences "
                    "d = a - b, not the SDs of a and b", _switched(_paired_verdict, unpaired=True)),
            Mistake("SD instead of standard error", "the standard error of the mean difference is "
                    "np.std(d, ddof=1) / sqrt(n)", _switched(_paired_verdict, sqrt_n=False)),
            Mistake("one standard error", "a difference counts only if |mean| > 2 standard errors (and > margin)",
                    _switched(_paired_verdict, k=1.0)),
            Mistake("margin ignored", "a difference below margin is a draw however small its standard error: "
                    "|mean| > max(2 * se, margin)", _switched(_paired_verdict, use_margin=False)),
            Mistake("verdict sign reversed", "d = a - b is a loss difference: d < 0 means A has the lower loss, "
                    "verdict -1", _switched(_paired_verdict, flipped=True)),
        ), points=2.0),
        _fn("q3", "Optimizer state per parameter", "state_floats_per_param", _state_floats, _state_case, (
            Mistake("scalars counted as arrays (the step)", "step (and NAdam's mu_product) are single numbers: "
                    "they cost O(1), not one float per parameter; count only arrays (np.ndim(v) > 0)",
                    _switched(_state_floats, scalars="array")),
            Mistake("scalars counted as one float each", "only the arrays count: skip the single numbers "
                    "(np.ndim(v) == 0) such as step, whose cost does not grow with the model",
                    _switched(_state_floats, scalars="float")),
            Mistake("params and gradients counted", "count the optimizer's state only (the lesson's 4N for Adam "
                    "adds the weights and the gradients)", _switched(_state_floats, extra=2.0)),
            Mistake("arrays counted, not their elements", "count the floats, np.size(v) for each array: a factored "
                    "(per-row, per-column) array holds far fewer than one per parameter",
                    _switched(_state_floats, per_array=True)),
            Mistake("only params-sized arrays counted", "every array counts whatever its shape: a factored second "
                    "moment holds rows + cols floats", _switched(_state_floats, params_sized_only=True)),
        )),
    ),
    "17_lr_range_test_and_one_cycle": (
        _fn("q1", "The range test's LR ramp", "range_test_lrs", _range_lrs,
            lambda rng: {"lr_min": _logu(rng, 1e-6, 1e-3), "lr_max": _logu(rng, 0.1, 10.0),
                         "steps": int(rng.integers(10, 200))}, (
                Mistake("the ramp stops short of lr_max", "the exponent is k / (steps - 1), so the last LR is lr_max",
                        lambda lr_min, lr_max, steps: [lr_min * (lr_max / lr_min) ** (k / steps) for k in range(steps)]),
                Mistake("a linear ramp", "the range test grows the LR exponentially (evenly spaced in log LR)",
                        lambda lr_min, lr_max, steps: np.linspace(lr_min, lr_max, steps)),
            )),
        _fn("q2", "Smoothing the loss", "smoothed_losses", _smoothed,
            lambda rng: {"losses": _noisy_losses(rng), "beta": float(rng.uniform(0.8, 0.99))},
            (Mistake("no bias correction", "divide the average by 1 - beta ** (k + 1), as Adam does for m",
                     lambda losses, beta: _smoothed(losses, beta, debias=False)),
             Mistake("beta and 1 - beta swapped", "the old average is weighted by beta: s = beta * s + (1 - beta) * loss",
                     lambda losses, beta: _smoothed(losses, beta, swapped=True)))),
        _schedule_q("q3", "OneCycleLR in closed form", "one_cycle_lr", _one_cycle, _one_cycle_kwargs,
                    lambda kw: kw["total_steps"], (
            Mistake("off-by-one schedule indexing", "torch's warm-up ends at update pct_start * total_steps - 1 (a float)",
                    _one_cycle_variant(peak_offset=0.0)),
            Mistake("final LR from max_lr", "the final LR is initial_lr / final_div_factor, initial_lr = max_lr / div_factor",
                    _one_cycle_variant(final_from_max=True)),
            Mistake("linear annealing", "anneal_strategy='cos': end + (start - end) * (1 + cos(pi * pct)) / 2",
                    _one_cycle_variant(linear=True)),
        )),
        _schedule_q("q4", "SGDR (CosineAnnealingWarmRestarts)", "sgdr_lr", lambda kw: S.CosineAnnealingWarmRestarts(**kw),
                    _sgdr_kwargs, 150, (
            Mistake("T_mult ignored", "cycle i lasts T_0 * T_mult ** i updates", _sgdr_variant(mult=False)),
            Mistake("reaches eta_min before the restart", "T_cur runs 0 .. T_i - 1 and the angle is pi * T_cur / T_i: "
                    "the LR never quite reaches eta_min", _sgdr_variant(reach_min=True)),
        )),
    ),
    "18_sparse_gradients": (
        _fn("q1", "A sparse gradient, dense", "sparse_to_dense", _to_dense, _sparse_case, (
            Mistake("repeated rows not summed (out[indices] += values)", "NumPy's buffered fancy indexing keeps one "
                    "entry per repeated row: sum with np.add.at(out, indices, values)",
                    _switched(_to_dense, last_wins=True)),
        )),
        _fn("q2", "SparseAdam: one update", "sparse_adam_update", _sparse_adam_reference, _sparse_adam_kwargs, (
            Mistake("every row updated (dense Adam)", "SparseAdam leaves the rows without a gradient alone: "
                    "update m, v and p on the rows in indices only", _switched(_sparse_adam_update, dense=True)),
            Mistake("eps added after the bias correction", "torch's SparseAdam adds eps to sqrt(v) and puts both "
                    "corrections in the step size: lr * sqrt(1 - beta2**t) / (1 - beta1**t) * m / (sqrt(v) + eps)",
                    _switched(_sparse_adam_update, eps_after=True)),
            Mistake("repeated rows not summed", "coalesce first: a row listed twice gets the sum of its entries "
                    "(np.add.at), then one update", _switched(_sparse_adam_update, last_wins=True)),
            Mistake("t starting at 0", "t = step + 1 is the number of this update", _switched(_sparse_adam_update,
                                                                                           t_from_zero=True)),
        ), points=4.0),
        _fn("q3", "How far dense Adam moves a rare row", "dense_adam_travel", _dense_adam_travel,
            lambda rng: {"lr": _logu(rng, 1e-4, 0.1), "betas": [float(rng.uniform(0.5, 0.95)),
                                                                   float(rng.uniform(0.9, 0.9999))]}, (
                Mistake("only the first step (SparseAdam's)", "dense Adam keeps stepping while m and v decay: sum "
                        "the steps over k = 0, 1, 2, ...", _switched(_dense_adam_travel, geometric=False)),
                Mistake("beta2 instead of sqrt(beta2) in the ratio", "the step divides by sqrt(v), which decays "
                        "by sqrt(beta2) per update: ratio beta1 / sqrt(beta2)",
                        _switched(_dense_adam_travel, sqrt_beta2=False)),
            )),
    ),
}

STEMS = tuple(QUESTIONS)

for _stem, _qs in QUESTIONS.items():
    for _q in _qs:
        object.__setattr__(_q, "stem", _stem)


def question(key: str) -> Question:
    """A question by key, "12_adam/q1"."""
    stem, _, qid = key.partition("/")
    for q in QUESTIONS.get(stem, ()):
        if q.qid == qid:
            return q
    raise KeyError(f"no question {key!r}")


def find_target(name: str) -> Question:
    """The question whose target is ``name`` (target names are unique in the course)."""
    for qs in QUESTIONS.values():
        for q in qs:
            if q.target == name:
                return q
    raise KeyError(f"no exercise asks for {name!r}")


# --------------------------------------------------------------------------- cases & outputs
def public_rng(q: Question) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(q.key.encode()))


def expected_output(q: Question, case: dict, impl=None):
    """The output of the reference (or of ``impl``, e.g. a Mistake's) on one case."""
    with np.errstate(all="ignore"):
        return runners.run_case(q.kind, q.reference if impl is None else impl, case, q.fields)


def draw_cases(q: Question, rng: np.random.Generator, n: int) -> list[dict]:
    """n cases whose reference output is finite, as canonical JSON data."""
    out = []
    while len(out) < n:
        case = _canonical(_call(q.make_case, rng, len(out)))
        if runners.finite(expected_output(q, case)):
            out.append(case)
    return out
