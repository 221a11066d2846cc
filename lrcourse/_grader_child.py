"""The grader's child process: runs ONE question of ONE submission, and nothing else.

``lrcourse.grader`` starts it by file path, as an unprivileged user where it can::

    python -I -S _grader_child.py SITE_DIR RESULT_FD LIMITS_JSON  < job.json

It never imports lrcourse or torch: neither is on its ``sys.path`` (``-I -S`` plus a
site folder that holds numpy alone).  What the submission gets, in order:

1. resource limits (CPU, address space, file size, processes, open files), set before
   anything the student wrote exists;
2. stub base classes (``optimizers.Adam`` & co.): the hyperparameter fields and ``init`` of
   the library class, and a ``step`` that raises NotImplementedError, so ``super().step``
   and ``optimizers.Adam.step(self, ...)`` have nothing to delegate to;
3. an audit hook (PEP 578; it cannot be removed) that, once the student's code starts,
   refuses imports outside numpy/math, opening any file that is not part of the standard
   library or numpy, starting processes, sockets, ctypes, pickles and the like;
4. a namespace whose builtins lack open/exec/eval/compile/getattr/__import__ & co.

Results go out one JSON line per case, through a file descriptor the grader opened; the
grader type-checks them and compares them with expected values that never enter this
process.  Nothing here is trusted by the grader: these layers exist so that the work
cannot be handed to a ready-made implementation, not to protect the score.

The case runners (``run_case``) are also imported by the trusted side (``lrcourse``) to
compute the reference outputs and by ``check(...)`` in the notebooks, so the learner's code,
the reference and the graded child all go through the same loop.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
from typing import NamedTuple

if __name__ == "__main__":  # path first: numpy comes from the grader's site folder only
    sys.path[:] = [p for p in sys.path if p and "-packages" not in p] + [sys.argv[1]]

import numpy as np

# --------------------------------------------------------------------------- stubs
# The library's classes without their algorithms.  Field names and defaults must equal
# lrcourse.optimizers / lrcourse.schedules (tests/test_grader.py checks that they do).


class SGDState(NamedTuple):
    momentum_buffer: np.ndarray | None


class AdagradState(NamedTuple):
    step: int
    sum: np.ndarray


class RMSpropState(NamedTuple):
    step: int
    square_avg: np.ndarray
    momentum_buffer: np.ndarray | None
    grad_avg: np.ndarray | None


class AdadeltaState(NamedTuple):
    step: int
    square_avg: np.ndarray
    acc_delta: np.ndarray


class AdamState(NamedTuple):
    step: int
    exp_avg: np.ndarray
    exp_avg_sq: np.ndarray
    max_exp_avg_sq: np.ndarray | None


class NAdamState(NamedTuple):
    step: int
    mu_product: float
    exp_avg: np.ndarray
    exp_avg_sq: np.ndarray


class PlateauState(NamedTuple):
    lr: float
    best: float
    num_bad_epochs: int
    cooldown_counter: int
    last_epoch: int


class _Stub:
    def __post_init__(self):
        if hasattr(self, "betas"):
            object.__setattr__(self, "betas", tuple(float(b) for b in self.betas))

    def hyperparameters(self):
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def step(self, *args, **kwargs):
        raise NotImplementedError(
            f"{type(self).__name__}.step: the graded code must implement step itself "
            "(the library's step is not available when grading)")


_frozen = dataclasses.dataclass(frozen=True)


@_frozen
class SGD(_Stub):
    lr: float = 1e-3
    momentum: float = 0.0
    dampening: float = 0.0
    weight_decay: float = 0.0
    nesterov: bool = False
    maximize: bool = False

    def init(self, params):
        return SGDState(momentum_buffer=None)


@_frozen
class Adagrad(_Stub):
    lr: float = 1e-2
    lr_decay: float = 0.0
    weight_decay: float = 0.0
    initial_accumulator_value: float = 0.0
    eps: float = 1e-10
    maximize: bool = False

    def init(self, params):
        return AdagradState(step=0, sum=np.full_like(np.asarray(params), self.initial_accumulator_value))


@_frozen
class RMSprop(_Stub):
    lr: float = 1e-2
    alpha: float = 0.99
    eps: float = 1e-8
    weight_decay: float = 0.0
    momentum: float = 0.0
    centered: bool = False
    maximize: bool = False

    def init(self, params):
        p = np.asarray(params)
        return RMSpropState(step=0, square_avg=np.zeros_like(p),
                            momentum_buffer=np.zeros_like(p) if self.momentum > 0 else None,
                            grad_avg=np.zeros_like(p) if self.centered else None)


@_frozen
class Adadelta(_Stub):
    lr: float = 1.0
    rho: float = 0.9
    eps: float = 1e-6
    weight_decay: float = 0.0
    maximize: bool = False

    def init(self, params):
        p = np.asarray(params)
        return AdadeltaState(step=0, square_avg=np.zeros_like(p), acc_delta=np.zeros_like(p))


@_frozen
class Adam(_Stub):
    lr: float = 1e-3
    betas: tuple = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    amsgrad: bool = False
    maximize: bool = False
    decoupled_weight_decay: bool = False

    def init(self, params):
        p = np.asarray(params)
        return AdamState(step=0, exp_avg=np.zeros_like(p), exp_avg_sq=np.zeros_like(p),
                         max_exp_avg_sq=np.zeros_like(p) if self.amsgrad else None)


@_frozen
class AdamW(Adam):
    lr: float = 1e-3
    betas: tuple = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 1e-2
    amsgrad: bool = False
    maximize: bool = False
    decoupled_weight_decay: bool = dataclasses.field(default=True, init=False, repr=False)


@_frozen
class NAdam(_Stub):
    lr: float = 2e-3
    betas: tuple = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    momentum_decay: float = 4e-3
    decoupled_weight_decay: bool = False
    maximize: bool = False

    def init(self, params):
        p = np.asarray(params)
        return NAdamState(step=0, mu_product=1.0, exp_avg=np.zeros_like(p), exp_avg_sq=np.zeros_like(p))


@_frozen
class ReduceLROnPlateau(_Stub):
    lr: float
    mode: str = "min"
    factor: float = 0.1
    patience: int = 10
    threshold: float = 1e-4
    threshold_mode: str = "rel"
    cooldown: int = 0
    min_lr: float = 0.0
    eps: float = 1e-8

    def init(self):
        worst = math.inf if self.mode == "min" else -math.inf
        return PlateauState(lr=self.lr, best=worst, num_bad_epochs=0, cooldown_counter=0, last_epoch=0)


class _Namespace:
    def __init__(self, name, **members):
        self.__name__ = name
        self.__dict__.update(members)


def stub_modules():
    """The ``optimizers`` and ``schedules`` names a graded cell sees."""
    opt = _Namespace("optimizers", SGD=SGD, Adagrad=Adagrad, RMSprop=RMSprop, Adadelta=Adadelta, Adam=Adam,
                     AdamW=AdamW, NAdam=NAdam, SGDState=SGDState, AdagradState=AdagradState,
                     RMSpropState=RMSpropState, AdadeltaState=AdadeltaState, AdamState=AdamState,
                     NAdamState=NAdamState)
    sch = _Namespace("schedules", ReduceLROnPlateau=ReduceLROnPlateau, PlateauState=PlateauState)
    return opt, sch


# --------------------------------------------------------------------------- case runners
# Shared with the trusted side: the same loop runs the reference, the learner's code in
# check(...), and the submission here.  Outputs are plain lists and numbers (JSON).

def _plain(value):
    """An output value as JSON data: None, a float, or (nested) lists of floats."""
    if value is None:
        return None
    arr = np.asarray(value, dtype=np.float64)
    return float(arr) if arr.ndim == 0 else arr.tolist()


def _finite(value) -> bool:
    """True if every number in a runner's output (None, floats, lists, dicts of those) is finite."""
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return value is None or (isinstance(value, (int, float)) and math.isfinite(value))


def _fields_of(state, fields):
    return {f: _plain(getattr(state, f)) for f in fields}


def run_optimizer_case(cls, case, fields):
    """Per step: the params and the requested state fields after that step."""
    opt = cls(**case["hyper"])
    p = np.array(case["params"], dtype=np.float64)
    state = opt.init(p)
    lrs = case.get("lrs")
    out = []
    for k, g in enumerate(case["grads"]):
        g = np.array(g, dtype=np.float64)
        if lrs is None:
            p, state = opt.step(p, g, state)
        else:
            p, state = opt.step(p, g, state, lr=lrs[k])
        row = {"params": _plain(p)}
        row.update(_fields_of(state, fields))
        out.append(row)
    return out


def run_plateau_case(cls, case, fields):
    sched = cls(**case["hyper"])
    state = sched.init()
    out = []
    for m in case["metrics"]:
        state = sched.step(state, m)
        out.append(_fields_of(state, fields))
    return out


def run_schedule_case(fn, case, fields=()):
    """fn(t, **kwargs) for t = t0 .. t0 + steps - 1, as floats."""
    t0 = case.get("t0", 0)
    return [float(np.asarray(fn(t, **case["kwargs"]), dtype=np.float64)) for t in range(t0, t0 + case["steps"])]


def run_function_case(fn, case, fields=()):
    return _plain(fn(**case["kwargs"]))


RUNNERS = {"optimizer": run_optimizer_case, "plateau": run_plateau_case,
           "schedule": run_schedule_case, "function": run_function_case}


def run_case(kind, target, case, fields=()):
    return RUNNERS[kind](target, case, tuple(fields))


# --------------------------------------------------------------------------- sandbox
ALLOWED_MODULES = frozenset({"numpy", "math", "cmath", "functools", "itertools", "operator"})

# Builtins the graded code does not get (the grader's static check refuses them by name too);
# every other public builtin is available, so code that passes check() in the notebook runs here.
BLOCKED_BUILTINS = frozenset(
    "open exec eval compile globals locals vars getattr setattr delattr breakpoint input help exit quit "
    "memoryview copyright credits license aiter anext".split())

# Audit events that plain NumPy code may raise once the student's code runs; every other
# event (processes, sockets, ctypes, pickle, gc, code objects, settrace, ...) is refused.
_QUIET_EVENTS = frozenset({"builtins.id", "sys._getframe", "marshal.loads", "time.sleep",
                           "cpython._PySys_ClearAuditHooks"})


def _restricted_builtins():
    import builtins

    safe = {name: value for name, value in vars(builtins).items()
            if not name.startswith("_") and name not in BLOCKED_BUILTINS}
    safe["__build_class__"] = builtins.__build_class__
    real_import = builtins.__import__

    def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level != 0 or name.partition(".")[0] not in ALLOWED_MODULES:
            raise ImportError(f"import {name!r}: graded code may import only {sorted(ALLOWED_MODULES)}")
        return real_import(name, globals, locals, fromlist, level)

    safe["__import__"] = guarded_import
    return safe


def _install_guard(allowed_roots, student_code):
    """An audit hook that is inert until the student's module code starts, then strict."""
    roots = tuple(os.path.normpath(r) + os.sep for r in allowed_roots)
    sep_names = (os.sep + "site-packages" + os.sep, os.sep + "dist-packages" + os.sep)
    site = os.path.normpath(sys.argv[1] if len(sys.argv) > 1 else ".") + os.sep
    flags_write = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    normpath, fsdecode, join, getcwd = os.path.normpath, os.fsdecode, os.path.join, os.getcwd
    armed = [False]
    module_code = [student_code]

    def readable(path):
        if isinstance(path, int) or path is None:
            return False
        p = normpath(join(getcwd(), fsdecode(path))) + ""
        if p.startswith(site):
            return True
        return p.startswith(roots) and not any(s in p for s in sep_names)

    def hook(event, args):
        if not armed[0]:
            if event == "exec" and args and args[0] is module_code[0]:
                armed[0] = True          # from here on, everything is the student's
                module_code[0] = None
            return
        if event in _QUIET_EVENTS:
            return
        if event == "import":
            if str(args[0]).partition(".")[0] in ALLOWED_MODULES:
                return
            raise ImportError(f"import of {args[0]!r} refused while grading")
        if event == "open":
            path, mode, flags = (tuple(args) + (None, None, None))[:3]
            read_only = ("w" not in mode and "a" not in mode and "x" not in mode and "+" not in mode
                         ) if isinstance(mode, str) else not (flags or 0) & flags_write
            if read_only and readable(path):
                return
            raise PermissionError(f"opening {path!r} refused while grading")
        if event in ("os.listdir", "os.scandir") and readable(args[0] if args else None):
            return
        if event == "exec":
            co = args[0] if args else None
            filename = getattr(co, "co_filename", "")
            if readable(filename):
                return
        if event == "compile" and len(args) > 1 and readable(args[1]):
            return
        raise PermissionError(f"{event} refused while grading")

    sys.addaudithook(hook)


def _set_limits(limits):
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-big print fails instead of killing
    for name, value in limits.items():
        res = getattr(resource, name)
        try:
            resource.setrlimit(res, (value, value))
        except (ValueError, OSError):
            soft, hard = resource.getrlimit(res)
            if hard == resource.RLIM_INFINITY or value < hard:
                resource.setrlimit(res, (value, value if hard == resource.RLIM_INFINITY else hard))


class _CaseTimeout(BaseException):
    pass


def _alarm(seconds):
    import signal

    def ring(signum, frame):
        raise _CaseTimeout()

    signal.signal(signal.SIGALRM, ring)
    return lambda: signal.setitimer(signal.ITIMER_REAL, seconds), lambda: signal.setitimer(signal.ITIMER_REAL, 0)


def _describe(exc):
    if isinstance(exc, _CaseTimeout):
        return "took too long (per-case time limit)"
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 300 else text[:297] + "..."


def main(argv):
    if argv[2:3] == ["probe"]:  # can this interpreter, as this user, import numpy from the site folder?
        print("ok")
        return 0
    _site, result_fd, limits = argv[1], int(argv[2]), json.loads(argv[3])
    _set_limits(limits)
    write = os.write

    def emit(obj):
        line = json.dumps(obj, allow_nan=True) + "\n"
        write(result_fd, line.encode())

    job = json.loads(sys.stdin.read())
    import numpy.fft
    import numpy.linalg
    import numpy.polynomial  # noqa: F401  (imported now: lazy imports later would need the filesystem)

    optimizers, schedules = stub_modules()
    stdlib = os.path.dirname(os.__file__)
    roots = [stdlib, os.path.dirname(np.__file__), os.path.realpath(os.path.dirname(np.__file__))]
    try:
        code = compile(job["source"], "<submission>", "exec")
    except (SyntaxError, ValueError) as exc:
        emit({"fatal": f"the graded code does not compile: {_describe(exc)}"})
        return 0
    namespace = {"__builtins__": _restricted_builtins(), "__name__": "submission",
                 "np": np, "numpy": np, "math": math, "optimizers": optimizers, "schedules": schedules}
    start, stop = _alarm(float(job.get("case_timeout", 5.0)))
    cases, kind, fields = job["cases"], job["kind"], job.get("fields", ())
    sys.stdout.flush()
    _install_guard(roots, code)
    try:
        start()
        exec(code, namespace)
        stop()
    except BaseException as exc:  # noqa: B036 — whatever the code does, we report it
        stop()
        emit({"fatal": f"defining the graded code failed: {_describe(exc)}"})
        return 0
    target = namespace.get(job["target"])
    base = job.get("base")
    if target is None:
        emit({"fatal": f"{job['target']} is not defined"})
        return 0
    if base is not None:
        stub = getattr(optimizers, base, None) or getattr(schedules, base, None)
        if not (isinstance(target, type) and issubclass(target, stub)):
            emit({"fatal": f"{job['target']} must be a class derived from {base}"})
            return 0
    for i, case in enumerate(cases):
        try:
            start()
            out = run_case(kind, target, case, fields)
            stop()
            emit({"case": i, "out": out})
        except BaseException as exc:  # noqa: B036
            stop()
            try:
                emit({"case": i, "error": _describe(exc)})
            except BaseException:  # noqa: B036
                emit({"case": i, "error": "the code raised an exception that cannot be shown"})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
