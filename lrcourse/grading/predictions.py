"""Graded predictions and manually graded "explain" questions.

Before an experiment the learner commits to a value in a code cell::

    final_lr_ratio = 2.0      # a number, or one of the named choices ("small", ...)

and the locked cell after it runs ``check_prediction(...)``.  A ``Prediction`` names that
variable, the answer and the tolerance.  The answer is never written down: ``answer()``
computes, with lrcourse, the quantity the notebook's experiment measures, each time it is
graded.  The grader reads the value statically (it never runs the notebook): the last
top-level assignment of the name to a plain number, a number written as arithmetic
(``0.1 * 0.5 ** 3``, ``math.log(2)``, ``math.pi``) or a quoted choice; a line ``name = float(name)`` (or ``int``/``str``)
keeps it.  ``check_prediction`` reads the cells the same way, so what it accepts is what
is graded.  Predictions are fixed questions (the same answer for everyone); each carries
``points`` like any other question, and an instructor changes them the same way.

An ``Explain`` question is a Markdown answer cell that nbgrader grades by hand (rubrics:
docs/rubrics.md); the course's own grader lists it as manually graded with 0 automatic points.
"""
from __future__ import annotations

import ast
import dataclasses
import functools
import math
import operator
from collections.abc import Callable

import numpy as np

from .. import optimizers as O
from .. import schedules as S
from .notebook import _definitions, _python_only, parse, printable

__all__ = ["Prediction", "Explain", "PREDICTIONS", "EXPLAIN", "RUBRICS", "read_prediction", "judge",
           "find_prediction"]

RUBRICS = "docs/rubrics.md"


class _Keyed:
    @property
    def key(self) -> str:
        return f"{self.stem}/{self.qid}"   # "02_step_decay/p1", like a Question's key


@dataclasses.dataclass(frozen=True)
class Prediction(_Keyed):
    qid: str                  # "p1"
    title: str
    name: str                 # the variable the learner assigns
    answer: Callable          # () -> what the experiment measures (a number or one of ``choices``)
    rel_tol: float = 0.0      # numbers: right when |yours - answer| <= rel_tol * |answer| (0: exactly)
    choices: tuple = ()       # choice questions: the allowed answers (compared case-insensitively)
    points: float = 0.5
    stem: str = ""

    @property
    def what(self) -> str:
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        return "a number" + (f" (right within {self.rel_tol:.0%})" if self.rel_tol else " (exactly)")


@dataclasses.dataclass(frozen=True)
class Explain(_Keyed):
    qid: str                  # "e1"
    title: str
    grade_id: str             # the nbgrader id of the Markdown answer cell
    points: float = 1.0
    stem: str = ""


# --------------------------------------------------------------------------- reading a prediction
_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.Pow: operator.pow}
_KEEPERS = ("float", "int", "str")
_MATH = {"log": math.log, "log10": math.log10, "log2": math.log2, "sqrt": math.sqrt, "exp": math.exp, "cos": math.cos,
         "sin": math.sin, "tan": math.tan}
_MATH_CONSTANTS = {"pi": math.pi, "e": math.e}


def _math_name(node):
    """``math.log`` -> "log" (only attributes of the name ``math``), else None."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "math":
        return node.attr
    return None


def _value(node):
    """A plain number, arithmetic on numbers, or a string; anything else raises ValueError."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        try:
            return float(node.value) if abs(node.value) > 2**53 else node.value   # a huge int: its float, or refused
        except OverflowError:
            raise ValueError("a number too large") from None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _value(node.operand)
        if isinstance(v, str):
            raise ValueError("a sign before a string")
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        a, b = _value(node.left), _value(node.right)
        if isinstance(a, str) or isinstance(b, str):
            raise ValueError("arithmetic on a string")
        if isinstance(node.op, ast.Pow) and (abs(b) > 1000 or abs(a) > 1e6):
            raise ValueError("a power too large")
        try:
            return _OPS[type(node.op)](float(a), float(b))
        except (ZeroDivisionError, OverflowError):
            raise ValueError("a division by zero or an overflow") from None
    if _math_name(node) in _MATH_CONSTANTS:
        return _MATH_CONSTANTS[_math_name(node)]
    if isinstance(node, ast.Call) and _math_name(node.func) in _MATH and len(node.args) == 1 and not node.keywords:
        x = _value(node.args[0])
        if isinstance(x, str):
            raise ValueError("a math function of a string")
        try:
            return _MATH[_math_name(node.func)](float(x))
        except (ValueError, OverflowError):
            raise ValueError("a math function outside its domain") from None
    raise ValueError("not a plain value")


def _keeps(stmt, name) -> bool:
    """``name = float(name)`` (or int/str): the line after the learner's answer that keeps its value."""
    v = stmt.value
    return (isinstance(v, ast.Call) and isinstance(v.func, ast.Name) and v.func.id in _KEEPERS
            and len(v.args) == 1 and not v.keywords and isinstance(v.args[0], ast.Name) and v.args[0].id == name)


def read_prediction(sources: list[str], name: str):
    """(value, None) or (None, why not): the learner's committed value of ``name``, read statically."""
    _, notes = _definitions(sources)
    value, why = None, None
    for raw in sources:   # the last plain assignment wins; `name = float(name)` keeps it
        src = _python_only(raw)
        try:
            tree = parse(src) if src is not None else None
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        for stmt in getattr(tree, "body", []):
            if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
                    and isinstance(stmt.targets[0], ast.Name) and stmt.targets[0].id == name):
                continue
            if _keeps(stmt, name):
                continue
            try:
                value, why = _value(stmt.value), None
            except (ValueError, RecursionError):
                value, why = None, (f"{name} must be a number (arithmetic and math.log, math.sqrt, ... allowed) or a quoted choice, not "
                                    f"`{printable(ast.get_source_segment(src, stmt.value) or '', 60)}`")
    if value is None and why is None:
        why = (f"{name} is not assigned: replace the NotImplementedError stub with `{name} = ...`"
               + (f" ({'; '.join(notes)})" if notes else ""))
    return value, why


@functools.cache
def _answer(p: Prediction):
    """The answer, computed once per process (a batch grades many notebooks against the same one)."""
    return p.answer()


def judge(p: Prediction, value):
    """(right, why): whether ``value`` is the prediction's answer, within its tolerance."""
    if p.choices:
        if not isinstance(value, str) or value.strip().lower() not in [c.lower() for c in p.choices]:
            return False, f"the answer is {p.what}, not {printable(repr(value), 60)}"
        return value.strip().lower() == str(_answer(p)).lower(), ""
    if isinstance(value, str) or not math.isfinite(float(value)):
        return False, f"the answer is {p.what}, not {printable(repr(value), 60)}"
    answer = float(_answer(p))
    return abs(float(value) - answer) <= p.rel_tol * abs(answer), ""


# --------------------------------------------------------------------------- the answers, measured with lrcourse
def _run(opt, grads, p0):
    p, state = np.asarray(p0, dtype=np.float64), opt.init(np.asarray(p0, dtype=np.float64))
    steps = []
    for g in grads:
        new, state = opt.step(p, np.asarray(g, dtype=np.float64), state)
        steps.append(p - new)
        p = new
    return p, state, steps


def _lesson_quadratic():
    """(A, x0) of problems.IllConditionedQuadratic() (condition 25, angle pi/6): the lessons' valley."""
    c, s = math.cos(math.pi / 6), math.sin(math.pi / 6)
    R = np.array([[c, -s], [s, c]])
    return R @ np.diag([1.0, 25.0]) @ R.T, np.array([-4.0, 2.5])


def _contraction_at_best():
    """01: max |1 - lr*lambda| at lr = 2 / (L + mu) on the lesson's quadratic, from a GD step on each eigenvector."""
    A, _ = _lesson_quadratic()
    lam, vec = np.linalg.eigh(A)
    lr = 2.0 / (lam.max() + lam.min())
    opt = O.SGD(lr=lr)
    return max(float(np.linalg.norm(opt.step(v, A @ v, opt.init(v))[0])) for v in vec.T)


def _multistep_over_step():
    t = np.arange(100)
    return float(S.MultiStepLR(0.1, milestones=[60, 90], gamma=0.1)(t).sum() / S.StepLR(0.1, step_size=30, gamma=0.1)(t).sum())


def _half_life():
    lrs = S.ExponentialLR(0.1, gamma=(1e-3 / 0.1) ** (1 / 200))(np.arange(2))
    return math.log(0.5) / math.log(lrs[1] / lrs[0])


def _cosine_mean():
    return float(S.CosineAnnealingLR(0.1, T_max=30, eta_min=0.001)(np.arange(30)).mean())


def _first_cut_epoch():
    sched = S.ReduceLROnPlateau(0.1, patience=3)
    state = sched.init()
    for epoch, m in enumerate([1.0, 0.8, 0.7, 0.65, 0.62] + [0.62] * 15, start=1):
        new = sched.step(state, m)
        if new.lr < state.lr:
            return epoch
        state = new
    return 0


def _warmup_lr3():
    return float(S.LinearLR(0.01, start_factor=0.1, total_iters=5)(3))


def _warmup_cosine_lr55():
    s = S.SequentialLR(schedulers=(S.LinearLR(0.1, start_factor=0.1, total_iters=10),
                                   S.CosineAnnealingLR(0.1, T_max=90)), milestones=(10,))
    return float(s(55))


def _momentum_step_100():
    return float(_run(O.SGD(lr=0.01, momentum=0.9), np.ones((100, 1)), np.zeros(1))[2][-1][0])


def _adagrad_rare_over_frequent():
    rng = np.random.default_rng(0)
    grads = rng.standard_normal((200, 4)) * (rng.random((200, 4)) < [1.0, 0.5, 0.3, 0.1])
    opt = O.Adagrad(lr=0.1, eps=1e-10)
    eff = opt.lr / (np.sqrt(_run(opt, grads, np.zeros(4))[1].sum) + opt.eps)
    return float(eff[3] / eff[0])


def _rmsprop_first_over_lr():
    return float(_run(O.RMSprop(lr=0.01, alpha=0.99, eps=1e-8), [[1.0]], [0.0])[2][0][0] / 0.01)


def _adadelta_first_step():
    A, x0 = _lesson_quadratic()
    return float(np.abs(_run(O.Adadelta(), [A @ x0], x0)[2][0]).max())


def _adam_tiny_gradient_step():
    return float(abs(_run(O.Adam(lr=1e-3), [[1e-6]], [0.0])[2][0][0]))


def _adam_over_amsgrad():
    grads = [[10.0]] + [[0.01]] * 2000
    eff = []
    for ams in (False, True):
        opt = O.Adam(lr=1e-3, betas=(0.9, 0.99), amsgrad=ams)
        state = _run(opt, grads, [0.0])[1]
        v = state.max_exp_avg_sq if ams else state.exp_avg_sq
        eff.append(opt.lr / (np.sqrt(v / (1 - 0.99 ** state.step)) + opt.eps))
    return float(eff[0][0] / eff[1][0])


def _l2_shrinks_more():
    rng = np.random.default_rng(1)
    grads = np.column_stack([100 * rng.standard_normal(200), 0.01 * rng.standard_normal(200)])
    p = _run(O.Adam(lr=0.01, weight_decay=0.1), grads, np.ones(2))[0]
    return "large" if abs(p[0]) < abs(p[1]) else "small"


def _nadam_mu1():
    return float(_run(O.NAdam(), [[1.0]], [0.0])[1].mu_product)


def _nadam_floats_per_param():
    p = np.zeros((64, 32))
    state = _run(O.NAdam(), [np.ones_like(p)], p)[1]
    return sum(np.size(v) for v in state if v is not None and np.ndim(v) > 0) / p.size


def _one_cycle_peak():
    return int(np.argmax(S.OneCycleLR(0.187, total_steps=300, pct_start=0.3, div_factor=25.0,
                                      final_div_factor=1e4)(np.arange(300))))


def _rare_row_travel():
    """18: how far (in lr) dense Adam moves a row given g = 1, then 20 zeros, from m = v = 0 at t = 10,000."""
    opt, x = O.Adam(lr=0.01), np.zeros(1)
    state = opt.init(x)._replace(step=10_000)
    for g in [1.0] + [0.0] * 20:
        x, state = opt.step(x, np.array([g]), state)
    return float(-x[0] / opt.lr)


PREDICTIONS: dict[str, tuple[Prediction, ...]] = {
    "01_fixed_learning_rate": (Prediction("p1", "Contraction per step at the best LR", "contraction_at_best",
                                     _contraction_at_best, rel_tol=0.01),),
    "02_step_decay": (Prediction("p1", "MultiStepLR's LR sum over StepLR's", "lr_sum_ratio", _multistep_over_step,
                            rel_tol=0.05),),
    "03_exponential_decay": (Prediction("p1", "Updates for the LR to halve", "updates_to_halve", _half_life, rel_tol=0.05),),
    "04_cosine_annealing": (Prediction("p1", "Mean LR of one half-period", "mean_lr", _cosine_mean, rel_tol=0.01),),
    "05_reduce_on_plateau": (Prediction("p1", "Epoch of the first cut", "first_cut_epoch", _first_cut_epoch),),
    "06_warmup": (Prediction("p1", "LinearLR's LR at update 3", "warmup_lr_3", _warmup_lr3, rel_tol=0.01),),
    "07_combining_schedules": (Prediction("p1", "Warm-up then cosine: the LR of update 55", "lr_55", _warmup_cosine_lr55,
                                     rel_tol=0.01),),
    "08_sgd_momentum": (Prediction("p1", "Step size after 100 updates on a slope", "step_100", _momentum_step_100,
                              rel_tol=0.05),),
    "09_adagrad": (Prediction("p1", "Rare over frequent coordinate's effective LR", "rare_over_frequent",
                         _adagrad_rare_over_frequent, rel_tol=0.15),),
    "10_rmsprop": (Prediction("p1", "RMSprop's first step over lr", "first_step_over_lr", _rmsprop_first_over_lr,
                         rel_tol=0.05),),
    "11_adadelta": (Prediction("p1", "Size of Adadelta's first step", "first_step_size", _adadelta_first_step,
                          rel_tol=0.1),),
    "12_adam": (Prediction("p1", "Adam's first step for a gradient of 1e-6", "tiny_gradient_step",
                      _adam_tiny_gradient_step, rel_tol=0.05),),
    "13_amsgrad": (Prediction("p1", "Adam's effective LR over AMSGrad's", "adam_over_amsgrad", _adam_over_amsgrad,
                         rel_tol=0.1),),
    "14_adamw": (Prediction("p1", "Which coordinate Adam + L2 shrinks", "l2_shrinks", _l2_shrinks_more,
                       choices=("large", "small")),),
    "15_nadam": (Prediction("p1", "NAdam's first momentum coefficient", "mu_1", _nadam_mu1, rel_tol=0.02),),
    "16_choosing_a_method": (Prediction("p1", "NAdam's state per parameter", "nadam_floats", _nadam_floats_per_param),),
    "17_lr_range_test_and_one_cycle": (Prediction("p1", "The update where one-cycle peaks", "peak_update",
                                             _one_cycle_peak),),
    "18_sparse_gradients": (Prediction("p1", "Dense Adam's travel for one gradient, 20 updates on", "rare_row_travel",
                                       _rare_row_travel, rel_tol=0.05),),
}

EXPLAIN: dict[str, tuple[Explain, ...]] = {stem: (Explain("e1", "Explain (manually graded)", "e1_explain"),)
                                           for stem in PREDICTIONS}

for _stem in PREDICTIONS:
    for _q in PREDICTIONS[_stem] + EXPLAIN[_stem]:
        object.__setattr__(_q, "stem", _stem)


def find_prediction(key_or_name: str) -> Prediction:
    """A prediction by key ("02_step_decay/p1") or by the variable it grades ("lr_sum_ratio")."""
    for ps in PREDICTIONS.values():
        for p in ps:
            if key_or_name in (p.key, p.name):
                return p
    raise KeyError(f"no prediction {key_or_name!r}")
