"""One run loop for everything, and the comparison with torch.

* ``run(opt, problem, steps, schedule=None)`` trains with a NumPy optimizer and returns a
  ``History`` (params, losses, LRs, and the states if asked for).
* ``compare(method, problem, steps)`` runs the torch twin of an optimizer or a schedule on
  a device and checks the NumPy method against it, per step, from the same state:
  at every update the NumPy step starts from torch's current parameters and state, gets
  the same gradient, and its result is compared with torch's next parameters and state.
  That is the tolerance the course promises (float64: 1e-12, float32: 1e-5, relative to
  each quantity's scale).  The independent NumPy trajectory is run too, for plots, and its
  distance from torch's is reported as ``trajectory_error`` (not part of the verdict:
  on chaotic problems 1-ulp differences grow, see torch-conventions).

A learner's own code (a step function and its init, an exercise class written from scratch,
a schedule function, a ReduceLROnPlateau class) is checked the same way, with ``like=`` the
lrcourse method it stands for: ``compare(adam_step, problem, init=adam_init, like=Adam(lr=0.05))``.

torch is imported lazily, so ``import lrcourse`` stays cheap and works without torch.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import inspect
import math
import operator
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from . import optimizers as _opt
from . import schedules as _sch
from .problems import Problem, make_problem

__all__ = [
    "History", "run", "Comparison", "compare", "TOLERANCES", "pick_device", "devices", "torch_available",
    "torch_optimizer", "torch_scheduler", "torch_class_name", "effective_lr", "rel_error",
    "NumpyOnly", "numpy_only", "plateau_metrics", "StepFunction", "ScheduleFunction", "PlateauCode", "learner_code", "method_name", "same_steps",
]

TOLERANCES = {"float64": 1e-12, "float32": 1e-5}
_TINY = 1e-300


# --------------------------------------------------------------------------- run
class History(NamedTuple):
    """What ``run`` returns: the iterates, their losses, the LR of every update (and the states).

    Example:
        >>> from lrcourse import optimizers, problems
        >>> h = run(optimizers.SGD(lr=0.1), problems.IllConditionedQuadratic(condition=5.0), 100)
        >>> h.params.shape, h.lrs.shape, bool(h.losses[-1] < 1e-6 * h.losses[0])
        ((101, 2), (100,), True)
    """

    params: np.ndarray        # (steps + 1, dim): x_0 .. x_steps
    losses: np.ndarray        # (steps + 1,): loss at each of them
    lrs: np.ndarray           # (steps,): the LR used by update t
    states: list | None    # states[t] = state after update t (if record_states)


def _lr_source(opt, schedule):
    """A function t, x -> LR of update t, and a hook to feed ReduceLROnPlateau."""
    if schedule is None:
        return (lambda t: opt.lr), None
    if getattr(schedule, "kind", None) == "plateau":
        box = [schedule.init()]

        def after(x, metric):
            box[0] = schedule.step(box[0], metric)

        return (lambda t: box[0].lr), after
    if callable(schedule):
        return (lambda t: float(schedule(t))), None
    raise TypeError(f"schedule must be a Schedule, a ReduceLROnPlateau or a function of t, got {schedule!r}")


def _metric(problem, x):
    return problem.val_loss(x) if hasattr(problem, "val_loss") else problem.loss(x)


def plateau_metrics(problem: Problem, steps: int) -> list:
    """The metric sequence ``compare`` feeds ReduceLROnPlateau by default: the validation loss
    (or the training loss) after each update of an Adam(lr=0.05) run on ``problem``."""
    hist = run(_opt.Adam(lr=0.05), problem, steps)
    return [_metric(problem, x) for x in hist.params[1:]]


def _problem(problem, start=True):
    """A problem, or its name as the panels list it ("Rosenbrock"); anything without a ``loss``, a
    ``grad`` and (``start``) a start ``x0`` is refused here rather than failing inside the first update."""
    if isinstance(problem, str):
        return make_problem(problem)
    missing = [name for name in ("x0", "loss", "grad")[0 if start else 1:] if not hasattr(problem, name)]
    if missing:
        raise TypeError(f"problem must be a problems.Problem or a problem's name such as 'Rosenbrock'; got "
                        f"{type(problem).__name__}, which has no {', '.join(missing)}")
    return problem


def run(opt, problem: Problem, steps: int, schedule=None, dtype=np.float64, x0=None,
        record_states: bool = False, callback: Callable | None = None, steps_per_epoch: int = 1,
        resume: History | None = None) -> History:
    """Train ``problem`` (a ``problems.Problem``, or its name: ``make_problem``) for ``steps`` updates
    with a NumPy optimizer.

    ``schedule`` drives the LR (a closed-form schedule, a function of t, or a
    ReduceLROnPlateau stepped at the end of every epoch of ``steps_per_epoch`` updates with
    the validation loss if the problem has one, else the training loss).
    ``callback(t, x, state)`` is called after each update.

    ``resume``: the History of the same run (same optimizer, problem, schedule and dtype, with
    ``record_states=True``) for some number of updates n; the result is the run for ``steps``:
    its first ``steps`` updates if steps <= n, else it goes on from update n (the same numbers
    as a run from the start: each update depends only on the previous iterate and state, and
    on t); ``callback`` is called for the new updates only.  A ReduceLROnPlateau schedule keeps
    state of its own, so it cannot be resumed.

    >>> from lrcourse import optimizers, problems
    >>> q = problems.NoisyQuadratic(noise=0.5)
    >>> short = run(optimizers.Adam(lr=0.1), q, 50, record_states=True)
    >>> longer = run(optimizers.Adam(lr=0.1), q, 80, record_states=True, resume=short)
    >>> bool((longer.params == run(optimizers.Adam(lr=0.1), q, 80).params).all())
    True
    """
    steps = int(steps)
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    problem = _problem(problem, start=x0 is None)
    if int(steps_per_epoch) < 1:
        raise ValueError(f"steps_per_epoch must be >= 1, got {steps_per_epoch}")
    if resume is not None:
        return _resume(opt, problem, steps, schedule, dtype, record_states, callback, resume)
    x = np.array(problem.x0 if x0 is None else x0, dtype=dtype)
    lr_of, after = _lr_source(opt, schedule)
    state = opt.init(x)
    return _steps(opt, problem, range(steps), lr_of, after, x, state, record_states, callback, steps_per_epoch,
                  History(x[None], np.array([problem.loss(x)]), np.zeros(0), [] if record_states else None))


def _resume(opt, problem, steps, schedule, dtype, record_states, callback, done: History) -> History:
    n = len(done.lrs)
    if getattr(schedule, "kind", None) == "plateau":
        raise ValueError("a run with ReduceLROnPlateau cannot be resumed: the schedule's own state is not in the "
                         "History; run it from the start")
    if done.states is None or len(done.states) != n:
        raise ValueError("resume= needs the History of a run made with record_states=True")
    if done.params.dtype != np.dtype(dtype):
        raise ValueError(f"resume= holds a {done.params.dtype} run, this one is {np.dtype(dtype)}")
    if steps <= n:
        return History(done.params[:steps + 1], done.losses[:steps + 1], done.lrs[:steps],
                       done.states[:steps] if record_states else None)
    lr_of, _ = _lr_source(opt, schedule)
    state = done.states[-1] if n else opt.init(done.params[0])
    return _steps(opt, problem, range(n, steps), lr_of, None, done.params[-1], state, record_states, callback, 1,
                  History(done.params, done.losses, done.lrs, list(done.states) if record_states else None))


def _steps(opt, problem, ts, lr_of, after, x, state, record_states, callback, steps_per_epoch, start: History):
    """The updates ``ts`` from (x, state), appended to ``start``."""
    xs, losses, lrs, states = list(start.params), list(start.losses), list(start.lrs), start.states
    for t in ts:
        lr = lr_of(t)
        x, state = opt.step(x, problem.grad(x, t), state, lr=lr)
        xs.append(x)
        losses.append(problem.loss(x))
        lrs.append(lr)
        if after is not None and (t + 1) % steps_per_epoch == 0:
            after(x, _metric(problem, x))
        if record_states:
            states.append(state)
        if callback is not None:
            callback(t, x, state)
    return History(np.array(xs), np.array(losses), np.array(lrs, dtype=np.float64), states)


# --------------------------------------------------------------------------- torch side
def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def devices() -> list:
    """The devices torch can run the twins on here: "cpu", then "cuda" when torch sees a GPU."""
    if not torch_available():
        return ["cpu"]
    import torch

    return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]


def pick_device(device: str = "auto", dtype: str = "float64") -> str:
    """"auto" -> "cuda" when torch sees a GPU, else "mps" for float32 on Apple, else "cpu"."""
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            device = "cuda"
        elif dtype == "float32" and getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            device = "mps"
        else:
            device = "cpu"
    if device not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'mps', got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' but torch sees no CUDA GPU; use device='auto' or 'cpu'")
    if device == "mps" and dtype == "float64":
        raise ValueError("Apple's MPS backend has no float64: use dtype='float32' there")
    if device == "cuda":
        # TF32 would round matmuls to 10-bit mantissas and break float32 parity.
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    return device


def torch_class_name(method) -> str:
    """The torch class a (possibly subclassed) lrcourse optimizer or schedule stands for."""
    library = _opt.OPTIMIZERS + (_opt.SparseAdam,) + _sch.SCHEDULES + (_sch.ReduceLROnPlateau,)
    method = _twin(method)
    for cls in type(method).__mro__:
        if cls in library:
            return cls.__name__
    raise TypeError(f"{type(method).__name__} is not an lrcourse optimizer or schedule (nor a subclass of one)")


def torch_optimizer(opt, params):
    """The torch twin of an lrcourse optimizer, over the tensors ``params``."""
    import torch

    cls = getattr(torch.optim, torch_class_name(opt))
    return cls(params if isinstance(params, (list, tuple)) else [params], **opt.hyperparameters())


def torch_scheduler(sched, torch_opt):
    """The torch twin of an lrcourse schedule, attached to ``torch_opt``."""
    from torch.optim import lr_scheduler

    sched = _twin(sched)
    name = torch_class_name(sched)
    if name == "SequentialLR":
        children = [torch_scheduler(s, torch_opt) for s in sched.schedulers]
        return lr_scheduler.SequentialLR(torch_opt, children, milestones=list(sched.milestones))
    return getattr(lr_scheduler, name)(torch_opt, **sched.torch_kwargs())


def _to_numpy(value):
    if hasattr(value, "detach"):
        if value.is_sparse:  # SGD's momentum buffer after sparse gradients: its dense value
            value = value.to_dense()
        return value.detach().cpu().numpy().copy()
    return value


def _stepper(topt, torch):
    """A function that does ``topt.step()`` with one Python layer less where that layer has
    nothing to do: torch wraps every optimizer class's ``step`` in a profiler's
    ``record_function`` and the calls of the step hooks, about 30 of the 80 us an update of a
    2-element Adam takes here.  While no hook is registered and no profiler runs (checked at
    every update) the function it wraps is called directly: torch's own ``step``, the same
    code path and the same numbers.  Otherwise, and for an instance whose ``step`` was
    replaced, ``topt.step``."""
    from torch.optim import optimizer as _optim

    wrapped = type(topt).step
    inner = getattr(wrapped, "__wrapped__", None) if getattr(wrapped, "hooked", False) else None
    if inner is None or "step" in vars(topt):
        return topt.step
    hooks = (_optim._global_optimizer_pre_hooks, _optim._global_optimizer_post_hooks,
             topt._optimizer_step_pre_hooks, topt._optimizer_step_post_hooks)
    profiling = torch._C._autograd._profiler_enabled

    def step():
        if any(hooks) or profiling():
            return topt.step()
        return inner(topt)

    return step


@contextlib.contextmanager
def torch_one_thread():
    """torch on one CPU thread inside the block: its sparse kernels on small tables take microseconds, and
    waking a second thread costs milliseconds when the cores are busy (4 times the run time, measured)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _torch_update(opt, topt, p, g, lr, step, torch):
    """One update of torch's twin ``topt`` of ``opt``: ``g`` as torch's ``p.grad``, the LR ``lr`` (None:
    as it is), then ``step()``; returns the new parameters and state (``opt``'s NamedTuple), copied."""
    p.grad = _torch_grad(g, p, torch)
    if lr is not None:
        for group in topt.param_groups:
            group["lr"] = lr
    if isinstance(g, _opt.SparseGrad):  # opting in to torch's index checks also silences its warning
        with torch.sparse.check_sparse_tensor_invariants(enable=True):
            step()
    else:
        step()
    x = p.detach().cpu().numpy().copy()
    return x, _state_from_torch(opt, topt.state[p], x)


def _torch_grad(g, p, torch):
    """The gradient as torch's ``p.grad``: a SparseGrad becomes the sparse COO tensor that
    ``nn.Embedding(sparse=True)`` would give (uncoalesced, one entry per listed row)."""
    if isinstance(g, _opt.SparseGrad):
        idx = torch.as_tensor(np.asarray(g.indices, dtype=np.int64), device=p.device).reshape(1, -1)
        return torch.sparse_coo_tensor(idx, torch.tensor(g.values, device=p.device, dtype=p.dtype), p.shape,
                                       check_invariants=True)
    if type(g) is np.ndarray and g.dtype == np.float64 and p.dtype == torch.float64 and p.device.type == "cpu":
        return torch.from_numpy(g.copy())  # nothing to convert: a copy (the learner's code may reuse g), wrapped
    return torch.tensor(g, device=p.device, dtype=p.dtype)


def _state_from_torch(opt, torch_state: dict, params):
    """Our state NamedTuple built from torch's per-parameter state dict (empty before the first step)."""
    return opt.state_from({k: _to_numpy(v) for k, v in torch_state.items()}, params)


# --------------------------------------------------------------------------- the learner's own code
def _hyper_names(like) -> list:
    return [f.name for f in dataclasses.fields(like) if f.init]


def _names(like, names) -> dict:
    """The learner's argument name -> (torch's hyperparameter or state name, conversion or None).

    ``beta1`` / ``beta2`` stand for ``betas[0]`` / ``betas[1]`` wherever ``like`` has ``betas``."""
    out = {}
    if "betas" in _hyper_names(like):
        out = {"beta1": ("betas", operator.itemgetter(0)), "beta2": ("betas", operator.itemgetter(1))}
    for arg, target in (names or {}).items():
        if isinstance(target, str):
            target = (target, None)
        if not (isinstance(target, tuple) and len(target) == 2 and isinstance(target[0], str)
                and (target[1] is None or callable(target[1]))):
            raise TypeError(f"names[{arg!r}] must be torch's name (e.g. 'lr') or (torch's name, a function of its "
                            f"value), e.g. ('gamma', lambda gamma: -math.log(gamma)); got {target!r}")
        out[arg] = target
    return out


def _state_names(like) -> tuple:
    return like.init(np.zeros(1))._fields if isinstance(like, _opt.Optimizer) else ()


def _takes(fn, like, skip: int, what: str, names=None, state=()) -> tuple:
    """(hyperparameter args, state args) of ``fn`` after its first ``skip`` positional arguments:
    {arg: (torch's hyperparameter, conversion)} for those of ``like`` it takes by name (through
    ``names``: {its name: torch's name}), [(arg, torch's state field)] for the ``state`` fields it
    takes; TypeError naming any other argument it requires."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin without a signature: call it with the positional ones only
        return {}, []
    hyper = _hyper_names(like)
    mapping = _names(like, names)
    params = list(sig.parameters.values())
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(positional) < skip and not any(p.kind == p.VAR_POSITIONAL for p in params):
        raise TypeError(f"{getattr(fn, '__name__', fn)} must take {what}; its signature is {sig}")
    own = {p.name for p in params}
    stray = [a for a in (names or {}) if a not in own]
    if stray and not any(p.kind == p.VAR_KEYWORD for p in params):
        raise TypeError(f"names= maps {', '.join(map(repr, stray))}, which {getattr(fn, '__name__', fn)} does not "
                        f"take; its signature is {sig}")
    if any(p.kind == p.VAR_KEYWORD for p in params):
        return {n: (n, None) for n in hyper if n != "lr" or skip < 4}, []
    takes, states, unknown = {}, [], []
    for p in params[skip:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        target, convert = mapping.get(p.name, (p.name, None))
        if target in state:
            states.append((p.name, target))
        elif target in hyper and p.kind != p.POSITIONAL_ONLY:
            takes[p.name] = (target, convert)
        elif p.name in (names or {}):
            raise TypeError(f"names= maps {p.name!r} to {target!r}, which is not a hyperparameter"
                            f"{' or state field' if state else ''} of {type(like).__name__} (torch's names: "
                            f"{', '.join(hyper + list(state))})")
        elif p.default is p.empty:
            unknown.append(p.name)
    if unknown:
        raise TypeError(f"{getattr(fn, '__name__', fn)} requires {', '.join(unknown)}, which "
                        f"{type(like).__name__} does not have (its hyperparameters, torch's names: "
                        f"{', '.join(hyper)}): rename, map with names={{{unknown[0]!r}: torch's name}}, "
                        f"or bind with functools.partial")
    return takes, states


def _array_state(fn, like, names) -> bool:
    """Whether a step function takes its state as arrays (``adam_step(p, g, m, v, t, lr, ...)``):
    an argument after (params, grad) is, by ``names``, one of torch's state fields."""
    try:
        params = list(inspect.signature(fn).parameters)[2:]
    except (TypeError, ValueError):
        return False
    mapping, state = _names(like, names), _state_names(like)
    return any(mapping.get(a, (a, None))[0] in state for a in params)


def _field(state, name):
    """Field ``name`` of a state (a NamedTuple, any object with attributes, or a dict); None if absent."""
    return state.get(name) if isinstance(state, dict) else getattr(state, name, None)


def _state_fields(opt, template) -> list:
    """The state fields compare checks, by torch's names."""
    if isinstance(opt, StepFunction):
        return list(opt.like.init(np.zeros(1))._fields)
    return list(template._fields)


class _Code:
    """What the wrappers of a learner's code share: ``like`` (the lrcourse method it stands for),
    ``name`` (the learner's), ``takes`` (the hyperparameters passed to it by name)."""

    def __repr__(self):
        return f"{type(self).__name__}({self.name}, like={self.like!r})"

    @property
    def lr(self) -> float:
        return self.like.lr

    def _bind(self, fn, skip, what, names, state=()):
        self.names = dict(names or {})
        self._args, self._state_args = _takes(fn, self.like, skip, what, names, state)
        self.takes = tuple(dict.fromkeys(src for src, _ in self._args.values()))

    def _hyper(self) -> dict:
        """The keyword arguments of the learner's code: like's hyperparameters under its own names."""
        out = {}
        for arg, (src, convert) in self._args.items():
            v = getattr(self.like, src)
            out[arg] = convert(v) if convert is not None else v
        return out


class StepFunction(_Code):
    """A learner's step function, checked against the torch twin of ``like``.

    ``step(params, grad, state, lr) -> (params, state)``; ``init(params) -> state`` (default:
    ``like.init``, the lrcourse state NamedTuple).  ``like`` is the lrcourse optimizer it stands
    for: its torch class and hyperparameters.  Hyperparameters of ``like`` that ``step`` takes
    by name (torch's names: ``momentum``, ``betas``, ``eps`` ...) are passed on every call
    (``takes`` lists them); the others are fixed at ``like``'s values.  The state may be a
    NamedTuple (any class) or a dict: its fields are read, and given back from torch's state,
    by torch's names (``exp_avg``, ``momentum_buffer`` ...).  Quacks like an lrcourse optimizer
    for ``run`` and ``compare``.

    A lesson's step function that takes the state as arrays, ``adam_step(p, g, m, v, t, lr,
    beta1, beta2, eps) -> (p, m, v)``, is read through ``names`` ({its name: torch's name},
    e.g. ``{"m": "exp_avg", "v": "exp_avg_sq", "t": "step"}``; ``beta1``/``beta2`` are
    ``betas``): it gets torch's state fields by those names, ``step`` as this update's number
    t = 1, 2, ... (torch's count), ``lr`` as the update's LR, and returns the new params then
    the new value of each state field it takes (``step`` aside), in the order it takes them.

    >>> from lrcourse import optimizers
    >>> def sgd_step(params, grad, state, lr, momentum):
    ...     return params - lr * grad, state
    >>> StepFunction(sgd_step, optimizers.SGD(lr=0.1)).takes
    ('momentum',)
    """

    kind = "optimizer"

    def __init__(self, step, like, init=None, name=None, names=None):
        if not callable(step):
            raise TypeError(f"step must be a function (params, grad, state, lr) -> (params, state), got {step!r}")
        if not isinstance(like, _opt.Optimizer):
            raise TypeError(f"like= must be the lrcourse optimizer the step function stands for "
                            f"(e.g. optimizers.Adam(lr=0.05)), got {type(like).__name__}")
        if init is not None and not callable(init):
            raise TypeError(f"init must be a function params -> state, got {init!r}")
        self.step_fn, self.like, self.init_fn = step, like, init
        self.arrays = _array_state(step, like, names)
        if self.arrays:
            if init is not None:
                raise TypeError("init= goes with step(params, grad, state, lr); a step function that takes the state "
                                "as arrays starts from torch's initial state")
            self._bind(step, 2, "(params, grad, ...)", names, _state_names(like))
        else:
            self._bind(step, 4, "(params, grad, state, lr)", names)
        self.name = name or getattr(step, "__qualname__", type(step).__name__)

    def with_like(self, like):
        """The same code against other hyperparameters."""
        return StepFunction(self.step_fn, like, self.init_fn, self.name, self.names)

    def hyperparameters(self) -> dict:
        return self.like.hyperparameters()

    def init(self, params):
        state = self.like.init(params) if self.init_fn is None else self.init_fn(params)
        names = self.like.init(np.zeros(1))._fields
        own = list(state) if isinstance(state, dict) else getattr(state, "_fields", None)
        if own is None:
            raise TypeError(f"init must return the state as a NamedTuple or a dict keyed by torch's state names "
                            f"({', '.join(names)}), got {type(state).__name__}")
        extra = [k for k in own if k not in names]
        if extra:
            raise TypeError(f"state field(s) {', '.join(map(str, extra))} are not in torch's "
                            f"{type(self.like).__name__} state; name them as torch does: {', '.join(names)}")
        return state

    def state_from(self, values: dict, params):
        """torch's state (``values``) in the learner's own state format."""
        ours = self.like.state_from(values, params)
        template = self.init(params)
        if isinstance(template, dict):
            return {k: getattr(ours, k) for k in template}
        return type(template)(**{k: getattr(ours, k) for k in template._fields})

    def step(self, params, grad, state, lr=None):
        lr = self.like.lr if lr is None else lr
        hyper = self._hyper()
        if self.arrays:
            return self._array_step(params, grad, state, lr, hyper)
        out = self.step_fn(params, grad, state, lr, **hyper)
        if not (isinstance(out, tuple) and len(out) == 2):
            raise TypeError(f"{self.name} must return (params, state), got {type(out).__name__}")
        return out

    def _array_step(self, params, grad, state, lr, hyper):
        t = state.step + 1 if "step" in state._fields else None  # torch counts this update before using it
        kw = {arg: (t if field == "step" else getattr(state, field)) for arg, field in self._state_args}
        lr_args = {arg: lr for arg, (src, _) in self._args.items() if src == "lr"}
        out = self.step_fn(params, grad, **kw, **{**hyper, **lr_args})
        back = [(arg, field) for arg, field in self._state_args if field != "step"]
        want = ", ".join(["params"] + [arg for arg, _ in back])
        if not (isinstance(out, tuple) and len(out) == 1 + len(back)):
            got = f"{len(out)} values" if isinstance(out, tuple) else type(out).__name__
            raise TypeError(f"{self.name} must return ({want}), the new params then the state it takes; got {got}")
        new = {field: value for (_, field), value in zip(back, out[1:])}
        if t is not None:
            new["step"] = t
        return out[0], state._replace(**new)


class ScheduleFunction(_Code):
    """A learner's schedule function ``fn(t) -> lr`` (scalar or vectorised over an array of t),
    checked against the torch twin of ``like``, the closed-form lrcourse schedule it stands for.

    Hyperparameters of ``like`` that ``fn`` takes by name (torch's names: ``lr``, ``step_size``,
    ``gamma`` ...) are passed on every call; the others are fixed at ``like``'s values.  A lesson's
    own names are mapped with ``names`` ({its name: torch's name}, or (torch's name, conversion)
    for a quantity torch spells otherwise: ``{"lr0": "lr", "k": ("gamma", lambda g: -math.log(g))}``).
    A function that answers (lr, momentum), as one-cycle does, is read for its lr.

    >>> from lrcourse import schedules
    >>> def step_lr(t, lr, step_size, gamma=0.1):
    ...     return lr * gamma ** (t // step_size)
    >>> ScheduleFunction(step_lr, schedules.StepLR(1.0, step_size=2, gamma=0.5))(range(5)).tolist()
    [1.0, 1.0, 0.5, 0.5, 0.25]
    """

    kind = "schedule"

    def __init__(self, fn, like, names=None):
        if not callable(fn):
            raise TypeError(f"a schedule function t -> lr is needed, got {fn!r}")
        if isinstance(like, _sch.ReduceLROnPlateau):
            raise TypeError("ReduceLROnPlateau keeps state between epochs, so no function of t can stand for it: "
                            "write a class with step(metric) (see PlateauCode) or subclass schedules.ReduceLROnPlateau")
        if not isinstance(like, _sch.Schedule):
            raise TypeError(f"like= must be the lrcourse schedule the function stands for "
                            f"(e.g. schedules.StepLR(0.1, step_size=30)), got {type(like).__name__}")
        self.fn, self.like = fn, like
        self._bind(fn, 1, "t", names)
        self.name = getattr(fn, "__qualname__", type(fn).__name__)

    def with_like(self, like):
        return ScheduleFunction(self.fn, like, self.names)

    def _lr(self, t, hyper):
        out = self.fn(t, **hyper)
        return out[0] if isinstance(out, tuple) and len(out) == 2 else out  # (lr, momentum): the lr

    def __call__(self, t):
        hyper = self._hyper()
        t = np.asarray(t)
        if t.ndim == 0:
            return float(self._lr(int(t), hyper))
        try:  # vectorised code answers the whole array at once
            out = np.asarray(self._lr(t, hyper), dtype=np.float64)
            if out.shape == t.shape:
                return out
        except Exception:  # noqa: BLE001 — scalar code (an `if t < ...`): ask it once per t below
            pass
        return np.array([float(self._lr(int(s), hyper)) for s in t.ravel()], dtype=np.float64).reshape(t.shape)


class PlateauCode(_Code):
    """A learner's ReduceLROnPlateau written from scratch, checked against torch's.

    ``cls(**hyperparameters)`` builds it (it takes, by torch's names, those of ``like`` it
    declares: ``lr``, ``factor``, ``patience`` ...); ``obj.step(metric)`` is called once per
    epoch; then ``obj.lr``, ``obj.best``, ``obj.num_bad_epochs`` and ``obj.cooldown_counter``
    (torch's names) are compared with torch's scheduler.

    >>> from lrcourse import schedules
    >>> class Never:
    ...     def __init__(self, lr):
    ...         self.lr = lr
    ...     def step(self, metric):
    ...         pass
    >>> PlateauCode(Never, schedules.ReduceLROnPlateau(0.1)).lrs([3.0, 2.0]).tolist()
    [0.1, 0.1]
    """

    kind = "plateau"

    def __init__(self, cls, like, names=None):
        if not (callable(cls) and callable(getattr(cls, "step", None))):
            raise TypeError(f"a class with a step(metric) method is needed, got {cls!r}")
        if not isinstance(like, _sch.ReduceLROnPlateau):
            raise TypeError(f"like= must be a schedules.ReduceLROnPlateau, got {type(like).__name__}")
        self.cls, self.like = cls, like
        self._bind(cls, 0, "the hyperparameters", names)
        self.name = getattr(cls, "__qualname__", type(cls).__name__)

    def with_like(self, like):
        return PlateauCode(self.cls, like, self.names)

    def init(self):
        return self.cls(**self._hyper())

    def step(self, state, metric):
        state.step(metric)
        return state

    def lrs(self, metrics) -> np.ndarray:
        state, out = self.init(), []
        for m in metrics:
            out.append(float(self.step(state, m).lr))
        return np.asarray(out, dtype=np.float64)


def learner_code(code, like=None, init=None, names=None):
    """What ``compare`` checks for ``code``: an lrcourse method (or subclass) as it is; with
    ``like=`` (the lrcourse method it stands for) a step function (``init=`` its init), an
    object with ``init`` and ``step`` methods (an exercise class written from scratch) or a
    schedule function, wrapped as ``StepFunction`` / ``ScheduleFunction`` / ``PlateauCode``.
    ``names``: {the code's argument name: torch's name} where a lesson spells them its own way
    (``{"lr0": "lr"}``, ``{"m": "exp_avg", "t": "step"}``; see ``StepFunction``)."""
    if like is None:
        if init is not None or names is not None:
            raise TypeError("init= and names= go with like=, the lrcourse method the learner's code stands for")
        return code
    if isinstance(like, type):
        raise TypeError(f"like= takes an instance, e.g. like={like.__name__}.example() or "
                        f"like=optimizers.Adam(lr=0.05), got the class {like.__name__}")
    if isinstance(code, _LEARNER_CODE):
        if names is not None:
            raise TypeError(f"{code.name} is wrapped already: give names= with the learner's own code")
        return code.with_like(like)
    if isinstance(like, _opt.Optimizer):
        if isinstance(code, type) and issubclass(code, _opt.Optimizer):
            return code(**like.hyperparameters())  # a subclass knows its torch class: like= gives its settings
        if isinstance(code, _opt.Optimizer):
            raise TypeError(f"{type(code).__name__} is an lrcourse optimizer already: pass it without like=")
        if isinstance(code, type) and callable(getattr(code, "step", None)):
            code = code()
        if not callable(code) and callable(getattr(code, "step", None)):
            return StepFunction(code.step, like, init if init is not None else getattr(code, "init", None),
                                name=type(code).__name__, names=names)
        return StepFunction(code, like, init, names=names)
    if init is not None:
        raise TypeError("init= is for step functions; a schedule has no init")
    if isinstance(like, _sch.ReduceLROnPlateau) and isinstance(code, type):
        return PlateauCode(code, like, names)
    return ScheduleFunction(code, like, names)


def method_name(method) -> str:
    """The name a learner knows the method by: its class, or its function for learner code."""
    return method.name if isinstance(method, _LEARNER_CODE) else type(method).__name__


def _twin(method):
    """The lrcourse method whose torch class and hyperparameters stand for ``method``."""
    return method.like if isinstance(method, _LEARNER_CODE) else method


_LEARNER_CODE = (StepFunction, ScheduleFunction, PlateauCode)


# --------------------------------------------------------------------------- compare
@dataclasses.dataclass
class Comparison:
    """Result of ``compare``: per-step errors, the tolerance and the verdict.

    ``errors[field][t]`` is ``rel_error`` of our value of the field after update t against
    torch's, both from torch's state before update t; ``passed`` says every one is within
    ``tolerance`` (float64: 1e-12, float32: 1e-5).

    Example:
        >>> from lrcourse import optimizers, problems
        >>> c = compare(optimizers.Adam(lr=0.05), problems.IllConditionedQuadratic(), steps=50, device="cpu")
        >>> c.passed, c.kind, sorted(c.errors), bool(c.max_error <= 1e-12)
        (True, 'optimizer', ['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq', 'params'], True)
    """

    method: str
    kind: str                    # "optimizer", "schedule" or "plateau"
    device: str
    dtype: str
    steps: int
    tolerance: float
    errors: dict                 # field -> (steps,) per-step relative error
    max_error: float
    passed: bool
    first_failure: tuple | None  # (step, field, error) of the first step over tolerance
    trajectory_error: float = float("nan")  # independent NumPy run vs torch (optimizers)
    numpy_curve: np.ndarray | None = None   # loss (optimizers) or LR (schedules) per step
    torch_curve: np.ndarray | None = None
    numpy_params: np.ndarray | None = None  # (steps + 1, dim) trajectories, optimizers only
    torch_params: np.ndarray | None = None
    reference: str = "torch"
    _run: object = dataclasses.field(default=None, repr=False, compare=False)  # to go on from (compare(resume=))

    @property
    def step_errors(self) -> np.ndarray:
        """The largest error over all fields, per step."""
        return np.max(np.vstack(list(self.errors.values())), axis=0) if self.errors else np.zeros(0)

    @property
    def verdict(self) -> str:
        where = f"{self.device}/{self.dtype}"
        if self.passed:
            return (f"MATCH — max rel. error {self.max_error:.1e} ≤ {self.tolerance:.0e} over "
                    f"{self.steps} steps on {where}")
        step, field, err = self.first_failure
        return (f"MISMATCH at step {step}: {field} differs by {err:.1e} (tolerance {self.tolerance:.0e}, "
                f"{where})")

    def __str__(self):
        return self.verdict


def rel_error(ours, theirs) -> float:
    """max |ours - theirs| / max |theirs| over the finite entries: an rtol with an atol at the
    quantity's scale.  The one rule of the course's verdicts (compare, verify, the grader).

    NaN and inf must sit in the same places in both (the same infinities), and then count as
    equal; anything else that differs there, a shape mismatch, or values that are not numbers
    give inf.  None equals only None.  0 when both are all zeros.

    >>> rel_error([1.0, 2.0, float("nan")], [1.0, 2.5, float("nan")])   # 0.5 / 2.5
    0.2
    >>> rel_error([1.0, float("inf")], [1.0, 3.0]), rel_error([1.0], [1.0, 1.0]), rel_error(None, None)
    (inf, inf, 0.0)
    """
    if ours is None or theirs is None:
        return 0.0 if ours is None and theirs is None else math.inf
    if (type(ours) is np.ndarray and type(theirs) is np.ndarray and ours.shape == theirs.shape and ours.size
            and ours.dtype.kind in "fiu" and theirs.dtype.kind in "fiu"
            and np.isfinite(ours).all() and np.isfinite(theirs).all()):
        # Fast path (the common case, ~4x faster): all finite, so the general rule below
        # reduces to exactly these two maxima.
        a, b = ours.astype(np.float64, copy=False), theirs.astype(np.float64, copy=False)
        diff, scale = np.abs(a - b).max(), np.abs(b).max()
        if scale == 0:
            return 0.0 if diff == 0 else math.inf
        return float(diff / scale)
    try:
        a, b = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):  # not numbers, or too large for a float (a grader sees anything)
        return math.inf
    if a.shape != b.shape:
        return math.inf
    finite = np.isfinite(b)
    inf = np.isinf(b)
    if not np.array_equal(np.isnan(a), np.isnan(b)) or not np.array_equal(a[inf], b[inf]):
        return math.inf
    if not np.any(finite):
        return 0.0
    diff = np.max(np.abs(a[finite] - b[finite]))
    scale = np.max(np.abs(b[finite]))
    if scale == 0:
        return 0.0 if diff == 0 else math.inf
    return float(diff / scale)


def _verdict(errors: dict, tol: float):
    steps = len(next(iter(errors.values()))) if errors else 0
    first = None
    for t in range(steps):
        for field, errs in errors.items():
            if not errs[t] <= tol:
                first = (t, field, float(errs[t]))
                break
        if first:
            break
    finite = [np.max(e) for e in errors.values() if len(e)]
    return (max(finite) if finite else 0.0), first is None, first


def compare(method, problem: Problem | None = None, steps: int = 300, schedule=None, device: str = "auto",
            dtype: str = "float64", metrics=None, tolerance: float | None = None, *, like=None,
            init=None, resume: Comparison | None = None) -> Comparison:
    """Check an lrcourse optimizer or schedule (or a subclass of one) against its torch twin.

    * optimizer: on ``problem`` (a ``problems.Problem``, or its name) for ``steps`` updates, LR driven
      by ``schedule`` if given.
    * schedule: the LR of updates 0 .. steps-1.
    * ReduceLROnPlateau: on the sequence ``metrics`` (default: the validation loss of an
      Adam run on ``problem``).

    A learner's own code is checked with ``like=``, the lrcourse method it stands for (its torch
    class and hyperparameters): a step function ``step(params, grad, state, lr)`` (with
    ``init=`` its init function; default ``like.init``), an object with ``init`` and ``step``
    methods, or a schedule function ``t -> lr``.  See ``learner_code``.

    >>> from lrcourse import optimizers, problems
    >>> def sgd_step(params, grad, state, lr):
    ...     return params - lr * grad, state
    >>> c = compare(sgd_step, problems.IllConditionedQuadratic(), 20, like=optimizers.SGD(lr=0.1), device="cpu")
    >>> c.passed, c.method, sorted(c.errors)
    (True, 'sgd_step', ['momentum_buffer', 'params'])

    ``resume``: an earlier comparison of the same optimizer (the same value), problem (the same
    object), schedule, device and dtype, for any number of updates: the result is its first
    ``steps`` updates, or it goes on from where it stopped (the same numbers as a comparison
    from the start, in the time of the new updates only).  Optimizers only.

    >>> q = problems.NoisyQuadratic(noise=0.5)
    >>> short = compare(optimizers.Adam(lr=0.1), q, 50, device="cpu")
    >>> longer = compare(optimizers.Adam(lr=0.1), q, 80, device="cpu", resume=short)
    >>> fresh = compare(optimizers.Adam(lr=0.1), q, 80, device="cpu")
    >>> bool((longer.torch_params == fresh.torch_params).all() and (longer.errors["exp_avg"] == fresh.errors["exp_avg"]).all())
    True
    """
    import torch

    method = learner_code(method, like, init)

    if dtype not in TOLERANCES:
        raise ValueError(f"dtype must be 'float64' or 'float32', got {dtype!r}")
    if int(steps) < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    device = pick_device(device, dtype)
    tol = TOLERANCES[dtype] if tolerance is None else float(tolerance)
    kind = _kind(method, "compare")
    if kind == "optimizer":
        if problem is None:
            raise ValueError("comparing an optimizer needs a problem, e.g. problems.IllConditionedQuadratic()")
        return _compare_optimizer(method, _problem(problem), int(steps), schedule, device, dtype, tol, torch, resume)
    if resume is not None:
        raise ValueError(f"resume= goes on with an optimizer's comparison; a {kind} is compared from the start")
    if kind == "plateau":
        problem = None if problem is None else _problem(problem)
        return _compare_plateau(method, problem, int(steps), metrics, device, dtype, tol, torch)
    return _compare_schedule(method, int(steps), device, dtype, tol, torch)


def _kind(method, caller: str) -> str:
    """"optimizer", "schedule" or "plateau": the ``kind`` of an lrcourse method (or a subclass of one)."""
    if isinstance(method, (_opt.Optimizer, _sch.Schedule, _sch.ReduceLROnPlateau, *_LEARNER_CODE)):
        return method.kind
    hint = (" — for your own function or class, say which method it stands for: like=optimizers.Adam(lr=0.05)"
            if callable(method) or hasattr(method, "step") else "")
    raise TypeError(f"{caller}() takes an lrcourse optimizer or schedule (or a subclass of one), "
                    f"got {type(method).__name__}{hint}")


def _compare_optimizer(opt, problem, steps, schedule, device, dtype, tol, torch, resume):
    if resume is None:
        done = _OptimizerRun(opt, problem, schedule, device, dtype, torch)
    else:
        done = getattr(resume, "_run", None)
        if done is None:
            raise ValueError("resume= takes a Comparison of an optimizer made by compare()")
        done.check_same(opt, problem, schedule, device, dtype)
    done.advance(steps)
    return done.result(steps, tol)


class _OptimizerRun:
    """An optimizer comparison so far, kept so that it can go on (``compare(resume=)``): torch's
    twin with its parameter (live), the per-step errors, torch's iterates and the NumPy run on its
    own.  Each update depends only on the iterate and state before it and on t (a problem's
    noise is a function of t), so going on from update n gives the same numbers as a
    comparison run from the start, and the first n updates of a longer one are those of a run of n."""

    def __init__(self, opt, problem, schedule, device, dtype, torch):
        self.opt, self.problem, self.schedule, self.device, self.dtype = opt, problem, schedule, device, dtype
        self.torch, self.np_dtype = torch, np.dtype(dtype)
        self.p = torch.tensor(np.array(problem.x0, dtype=self.np_dtype), device=device, dtype=getattr(torch, dtype),
                              requires_grad=True)
        self.topt = torch_optimizer(opt, self.p)
        self.torch_step = _stepper(self.topt, torch)
        self.twin = _twin(opt)
        self.lr_of, self.after = _lr_source(opt, schedule)
        template = opt.init(np.array(problem.x0, dtype=self.np_dtype))
        self.fields = ["params"] + [f for f in _state_fields(opt, template) if f != "step"]
        # Small problems: keep copies of both sides and compute the errors of a stretch of updates
        # at its end, in one vectorised pass (_rel_errors; same numbers as rel_error step by step,
        # a fifth of the run time less).  Copies, because a learner's step may modify its inputs.
        self.deferred = _template_size(template) <= _DEFER_MAX
        self.errors = {f: np.zeros(0) for f in self.fields}
        self.torch_xs = [self.p.detach().cpu().numpy().copy()]
        self.torch_losses = [problem.loss(self.torch_xs[0])]
        self.theirs_state = None
        self.ours = None  # the NumPy run on its own, with its states (run(resume=))

    def check_same(self, opt, problem, schedule, device, dtype):
        same = (opt == self.opt, problem is self.problem, schedule is self.schedule or schedule == self.schedule,
                device == self.device, dtype == self.dtype)
        if not all(same):
            what = [w for w, ok in zip(("optimizer", "problem", "schedule", "device", "dtype"), same) if not ok]
            raise ValueError(f"resume= holds a comparison with another {' and '.join(what)}; resume only the "
                             f"comparison of the same optimizer, problem, schedule, device and dtype")

    def advance(self, steps):
        """Run updates len(self.torch_xs) - 1 .. steps - 1 on both sides."""
        opt, topt, p, problem, torch = self.opt, self.topt, self.p, self.problem, self.torch
        start = len(self.torch_xs) - 1
        new = {f: [] for f in self.fields}
        for t in range(start, steps):
            lr = self.lr_of(t)
            x_before = self.torch_xs[-1]
            # torch's state has not changed since it was read at the end of the previous update
            # (theirs_state, a copy already compared), so reuse that instead of reading it again.
            state_before = (_state_from_torch(opt, topt.state[p], x_before) if self.theirs_state is None
                            else self.theirs_state)
            g = problem.grad(x_before, t)
            x_after, self.theirs_state = _torch_update(opt, topt, p, g, lr, self.torch_step, torch)
            ours_x, ours_state = opt.step(x_before, g, state_before, lr=lr)
            # a learner's state may leave out a field torch keeps: compare with all of torch's
            theirs_full = self.theirs_state if self.twin is opt else _state_from_torch(self.twin, topt.state[p], x_after)
            pairs = [(ours_x, x_after)] + [(_field(ours_state, f), _field(theirs_full, f)) for f in self.fields[1:]]
            for f, (a, b) in zip(self.fields, pairs):
                new[f].append((_snapshot(a), _snapshot(b)) if self.deferred else rel_error(a, b))
            self.torch_xs.append(x_after)
            self.torch_losses.append(problem.loss(x_after))
            if self.after is not None:
                self.after(x_after, _metric(problem, x_after))
        if steps > start:
            for f in self.fields:
                errs = _rel_errors(new[f]) if self.deferred else np.array(new[f], dtype=np.float64)
                self.errors[f] = np.concatenate([self.errors[f], errs])

    def result(self, steps, tol) -> Comparison:
        """The comparison of the first ``steps`` updates (run already)."""
        opt, problem = self.opt, self.problem
        goes_on = getattr(self.schedule, "kind", None) != "plateau"  # a plateau's own state is not in a History
        ours = run(opt, problem, steps, schedule=self.schedule, dtype=self.np_dtype, record_states=goes_on,
                   resume=self.ours if goes_on else None)
        if goes_on and (self.ours is None or len(ours.lrs) > len(self.ours.lrs)):
            self.ours = ours
        errors = {f: e[:steps].copy() for f, e in self.errors.items()}
        torch_xs = np.array(self.torch_xs[:steps + 1])
        scale = max(np.max(np.abs(torch_xs[np.isfinite(torch_xs)]), initial=0.0), _TINY)
        with np.errstate(invalid="ignore"):
            traj = float(np.nanmax(np.abs(ours.params - torch_xs)) / scale) if steps else 0.0
        max_err, passed, first = _verdict(errors, tol)
        return Comparison(
            method=method_name(opt), kind="optimizer", device=self.device, dtype=self.dtype, steps=steps,
            tolerance=tol, errors=errors, max_error=max_err, passed=passed, first_failure=first,
            trajectory_error=traj, numpy_curve=ours.losses, torch_curve=np.array(self.torch_losses[:steps + 1]),
            numpy_params=ours.params, torch_params=torch_xs, _run=self,
        )


_DEFER_MAX = 4096  # parameters; above, errors are computed step by step (memory)


def _template_size(template) -> int:
    values = template.values() if isinstance(template, dict) else template
    return max((v.size for v in values if isinstance(v, np.ndarray)), default=0)


def _snapshot(value):
    return value.copy() if type(value) is np.ndarray else copy.copy(value)


def _rel_errors(pairs) -> np.ndarray:
    """[rel_error(ours, theirs) for each pair], vectorised where every pair is a finite
    numeric array of one shape (the same two maxima per row), step by step otherwise."""
    out = np.zeros(len(pairs))
    if not pairs:
        return out
    shape = np.shape(pairs[0][1])
    if (len(shape) and all(type(a) is np.ndarray and type(b) is np.ndarray and a.shape == shape == b.shape
                           and a.dtype.kind in "fiu" and b.dtype.kind in "fiu" for a, b in pairs)
            and math.prod(shape) > 0):
        n = len(pairs)
        A = np.stack([a for a, _ in pairs]).astype(np.float64, copy=False).reshape(n, -1)
        B = np.stack([b for _, b in pairs]).astype(np.float64, copy=False).reshape(n, -1)
        with np.errstate(all="ignore"):
            finite = np.isfinite(A).all(axis=1) & np.isfinite(B).all(axis=1)
            diff, scale = np.abs(A - B).max(axis=1), np.abs(B).max(axis=1)
            out[:] = np.where(scale == 0, np.where(diff == 0, 0.0, np.inf), diff / np.where(scale == 0, 1.0, scale))
        for i in np.flatnonzero(~finite):
            out[i] = rel_error(*pairs[i])
        return out
    for i, (a, b) in enumerate(pairs):
        out[i] = rel_error(a, b)
    return out


def _torch_lrs(sched, steps, torch):
    p = torch.zeros(1, requires_grad=True)
    topt = torch.optim.SGD([p], lr=sched.lr)
    tsched = torch_scheduler(sched, topt)
    out = []
    for _ in range(steps):
        out.append(float(topt.param_groups[0]["lr"]))
        p.grad = torch.zeros(1)
        topt.step()
        tsched.step()
    return np.array(out)


def _compare_schedule(sched, steps, device, dtype, tol, torch):
    # LRs are Python floats on the host in torch too: device and dtype only label the run.
    ours = np.asarray(sched(np.arange(steps)), dtype=np.float64)
    theirs = _torch_lrs(sched, steps, torch)
    scale = max(np.max(np.abs(theirs), initial=0.0), sched.lr, _TINY)
    errors = {"lr": np.abs(ours - theirs) / scale}
    max_err, passed, first = _verdict(errors, tol)
    return Comparison(
        method=method_name(sched), kind="schedule", device=device, dtype=dtype, steps=steps, tolerance=tol,
        errors=errors, max_error=max_err, passed=passed, first_failure=first,
        numpy_curve=ours, torch_curve=theirs,
    )


def _compare_plateau(plateau, problem, steps, metrics, device, dtype, tol, torch):
    if metrics is None:
        if problem is None:
            raise ValueError("ReduceLROnPlateau needs metrics=[...] or a problem to produce them")
        metrics = plateau_metrics(problem, steps)
    metrics = [float(m) for m in metrics]
    state = plateau.init()
    fields = ("lr", "best", "num_bad_epochs", "cooldown_counter")
    errors = {f: np.zeros(len(metrics)) for f in fields}
    ours_lr, theirs_lr = [], []
    for k, (m, theirs) in enumerate(zip(metrics, torch_plateau(plateau, metrics))):
        state = plateau.step(state, m)
        for f in fields:
            a, b = _field(state, f), getattr(theirs, f)
            if a is None:  # a learner's class that does not keep this field (by torch's name)
                errors[f][k] = math.inf
                continue
            same_nan = np.isnan(a) and np.isnan(b)
            errors[f][k] = 0.0 if (a == b or same_nan) else abs(a - b) / max(abs(b), plateau.lr, _TINY)
        ours_lr.append(state.lr)
        theirs_lr.append(theirs.lr)
    max_err, passed, first = _verdict(errors, tol)
    return Comparison(
        method=plateau.name if isinstance(plateau, PlateauCode) else "ReduceLROnPlateau", kind="plateau", device=device, dtype=dtype, steps=len(metrics), tolerance=tol,
        errors=errors, max_error=max_err, passed=passed, first_failure=first,
        numpy_curve=np.array(ours_lr), torch_curve=np.array(theirs_lr),
    )


def same_steps(a, b, problem: Problem, steps: int = 50, dtype: str = "float64", tolerance: float | None = None) -> bool:
    """Whether two NumPy optimizers (or learner code) take the same steps on ``problem`` from its
    start: every iterate within ``tolerance`` (rel_error; default the dtype's), e.g. a learner's
    code and a known mistake of the grader's catalogue.

    >>> from lrcourse import optimizers, problems
    >>> q = problems.IllConditionedQuadratic()
    >>> same_steps(optimizers.SGD(lr=0.1), optimizers.SGD(lr=0.1, momentum=0.0), q)
    True
    >>> same_steps(optimizers.SGD(lr=0.1), optimizers.SGD(lr=0.1, momentum=0.5), q)
    False
    """
    tol = TOLERANCES[dtype] if tolerance is None else float(tolerance)
    with np.errstate(all="ignore"):
        xa = run(a, problem, steps, dtype=np.dtype(dtype)).params
        xb = run(b, problem, steps, dtype=np.dtype(dtype)).params
        return all(rel_error(x, y) <= tol for x, y in zip(xa, xb))


# --------------------------------------------------------------------------- effective LR
def effective_lr(opt, state, lr: float | None = None) -> np.ndarray:
    """Per-coordinate factor that multiplies the (momentum-averaged) gradient in the next step.

    Each optimizer class defines its own ``effective_lr(state, lr)`` (SGD: lr; Adam:
    lr / (sqrt(v_hat) + eps); ...).  Evaluated with the state after update t, so it describes
    the typical size of update t+1.

    >>> import numpy as np
    >>> from lrcourse import optimizers
    >>> opt = optimizers.Adagrad(lr=1.0)
    >>> p, state = opt.step(np.zeros(2), np.array([3.0, 4.0]), opt.init(np.zeros(2)))
    >>> effective_lr(opt, state).round(4).tolist()      # lr / sqrt(sum of g**2)
    [0.3333, 0.25]
    """
    if not callable(getattr(opt, "effective_lr", None)):
        raise TypeError(f"no effective-LR formula for {type(opt).__name__}")
    return opt.effective_lr(state, lr)


# --------------------------------------------------------------------------- without torch
class NumpyOnly(Comparison):
    """What ``numpy_only`` returns: the NumPy curves of a comparison, with no reference.

    ``reference`` is "none", ``errors`` is empty and ``passed`` is False: nothing was checked.
    """

    @property
    def verdict(self) -> str:
        return (f"NOT CHECKED — torch is not installed, so there is nothing to compare against; "
                f"NumPy run only ({self.steps} steps, {self.dtype})")


def numpy_only(method, problem: Problem | None = None, steps: int = 300, schedule=None, dtype: str = "float64",
               metrics=None, *, like=None, init=None) -> NumpyOnly:
    """The NumPy side of ``compare`` alone (for machines without torch): same curves, no verdict."""
    if dtype not in TOLERANCES:
        raise ValueError(f"dtype must be 'float64' or 'float32', got {dtype!r}")
    steps = int(steps)
    common = dict(device="cpu", dtype=dtype, tolerance=TOLERANCES[dtype], errors={}, max_error=float("nan"),
                  passed=False, first_failure=None, reference="none")
    method = learner_code(method, like, init)
    kind = _kind(method, "numpy_only")
    if kind == "optimizer":
        if problem is None:
            raise ValueError("an optimizer needs a problem, e.g. problems.IllConditionedQuadratic()")
        h = run(method, problem, steps, schedule=schedule, dtype=np.dtype(dtype))
        return NumpyOnly(method=method_name(method), kind="optimizer", steps=steps, numpy_curve=h.losses,
                         numpy_params=h.params, **common)
    if kind == "plateau":
        if metrics is None:
            if problem is None:
                raise ValueError("ReduceLROnPlateau needs metrics=[...] or a problem to produce them")
            metrics = plateau_metrics(_problem(problem), steps)
        lrs = method.lrs([float(m) for m in metrics])
        return NumpyOnly(method="ReduceLROnPlateau" if method is _twin(method) else method_name(method), kind="plateau", steps=len(lrs), numpy_curve=lrs, **common)
    lrs = np.asarray(method(np.arange(steps)), dtype=np.float64)
    return NumpyOnly(method=method_name(method), kind="schedule", steps=steps, numpy_curve=lrs, **common)


# --------------------------------------------------------------------------- torch on given inputs (check())
def torch_steps(opt, params, grads, lrs=None) -> list:
    """torch's twin of ``opt`` from ``params`` through the gradients ``grads`` (float64, CPU), update k at
    ``lrs[k]`` when given: the (params, state) after each update, the state as ``opt``'s own NamedTuple."""
    import torch

    p = torch.tensor(np.asarray(params, dtype=np.float64), requires_grad=True)
    topt = torch_optimizer(opt, p)
    step = _stepper(topt, torch)
    return [_torch_update(opt, topt, p, np.asarray(g, dtype=np.float64), None if lrs is None else lrs[k], step, torch)
            for k, g in enumerate(grads)]


def torch_lrs(sched, steps: int) -> np.ndarray:
    """The LR of updates 0 .. steps - 1 under torch's twin of the schedule ``sched``."""
    import torch

    return _torch_lrs(sched, int(steps), torch)


def torch_plateau(plateau, metrics) -> list:
    """torch's ReduceLROnPlateau configured as ``plateau``, stepped with ``metrics``: a PlateauState per epoch."""
    import torch

    p = torch.zeros(1, requires_grad=True)
    topt = torch.optim.SGD([p], lr=plateau.lr)
    tsched = torch_scheduler(plateau, topt)
    out = []
    for m in metrics:
        tsched.step(float(m))
        out.append(_sch.PlateauState(float(topt.param_groups[0]["lr"]), float(tsched.best), int(tsched.num_bad_epochs),
                                     int(tsched.cooldown_counter), int(tsched.last_epoch)))
    return out
