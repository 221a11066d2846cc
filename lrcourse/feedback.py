"""Instant feedback inside the exercise notebooks: ``check(MyAdam)``.

``check`` runs the learner's class or function on the exercise's public cases plus fresh
random ones, step by step, against the lrcourse reference *and* torch, and

* on success prints what was verified (one line);
* on a difference prints the first case, step and state field that differ, both values,
  and a hint when the learner's output matches a known mistake (eps inside the square
  root, no bias correction, off-by-one schedule indexing, ...), then raises ``CheckFailed``;
* flags code that the grader would refuse under the from-scratch rule (torch, lrcourse's
  step via ``super()``, ``getattr``, ...), so nobody is surprised by a zero.

The grader (``python -m lrcourse grade``) uses the same questions and hints but runs the
code in an isolated process on hidden cases; nothing here is used for grading.  ``check``
reads the cells, applies the rules and defines the code the grader's way
(``lrcourse.grading``: notebook, rules, standins, namespace), runs it through the same case
runners and verdicts, and never touches the grader's sandbox; torch's side comes from
``runs`` (``torch_steps``, ``torch_plateau``, ``torch_lrs``).
"""
from __future__ import annotations

import ast
import functools
import linecache
import os
import textwrap
import traceback

import numpy as np

from . import runs
from .grading import predictions as preds
from .grading import questions as spec
from .grading import runners, verdicts
from .grading.namespace import graded_namespace
from .grading.notebook import extract_source
from .grading.rules import static_problems
from .grading.standins import standin_sources

__all__ = ["check", "check_prediction", "CheckFailed", "NotWrittenYet"]


class CheckFailed(AssertionError):
    """The learner's code differs from the reference (details printed above it)."""


class NotWrittenYet(NotImplementedError):
    """check() was called on a stub: the learner has not written the code yet."""


def _brief(shell, etype, value, tb, tb_offset=None):
    """IPython shows check()'s own errors as one line: what is wrong was printed above, not in our source."""
    shown = NotImplementedError if issubclass(etype, NotWrittenYet) else etype   # the name learners know
    stb = [f"{shown.__name__}: {value}"]
    shell._showtraceback(shown, value, stb)
    return stb


def _register_brief_errors() -> None:
    try:
        from IPython import get_ipython
    except ImportError:
        return
    ip = get_ipython()
    if ip is not None and hasattr(ip, "set_custom_exc"):
        ip.set_custom_exc((CheckFailed, NotWrittenYet), _brief)


def _question_for(obj, question):
    if question is not None:
        return spec.question(question) if "/" in question else spec.find_target(question)
    name = getattr(obj, "__name__", None)
    try:
        return spec.find_target(name)
    except KeyError:
        raise ValueError(f"check() does not know an exercise about {name!r}; "
                         f"pass question='NN_topic/qK'") from None


# --------------------------------------------------------------------------- source & rules
@functools.lru_cache(maxsize=16)
def _parsed(text: str):
    """A cell's (or file's) syntax tree, parsed once for all the methods of a class defined in it."""
    try:
        return ast.parse(text)
    except SyntaxError:
        return None


def _source_of(obj) -> str | None:
    """The learner's definition of ``obj`` (a class or function) from its cell, if available."""
    codes = []
    if isinstance(obj, type):
        codes = [v.__code__ for v in vars(obj).values() if hasattr(v, "__code__")]
    elif hasattr(obj, "__code__"):
        codes = [obj.__code__]
    for code in codes:
        text = "".join(linecache.getlines(code.co_filename))
        tree = _parsed(text) if text else None
        if tree is None:
            continue
        for node in tree.body:
            start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            if (isinstance(node, (ast.ClassDef, ast.FunctionDef)) and node.name == obj.__name__
                    and start <= code.co_firstlineno <= node.end_lineno):
                lines = text.split("\n")
                start = min([node.lineno] + [d.lineno for d in node.decorator_list])
                return textwrap.dedent("\n".join(lines[start - 1:node.end_lineno]))
    return None


def _notebook_cells() -> list[str] | None:
    """The cells run so far in this IPython kernel, as typed (magics included); None outside IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    ip = get_ipython()
    history = getattr(getattr(ip, "history_manager", None), "input_hist_raw", None)
    return [c for c in history if isinstance(c, str)] if isinstance(history, list) else None


def _cells_defining(obj) -> list[str] | None:
    """Where the grader would read ``obj`` from: the notebook's cells, or the cell it was typed in."""
    cells = _notebook_cells()
    if cells is not None:
        return cells
    for code in _codes(obj):
        if code.co_filename.startswith("<") and linecache.getlines(code.co_filename):
            return ["".join(linecache.getlines(code.co_filename))]
    return None


def _codes(obj) -> list:
    if isinstance(obj, type):
        return [v.__code__ for v in vars(obj).values() if hasattr(v, "__code__")]
    return [obj.__code__] if hasattr(obj, "__code__") else []


def _as_graded(obj, q):
    """(the object check() runs, the rule problems): what the grader would grade, found the grader's way.

    The definition of ``obj`` and its helpers are taken from the cells exactly as the grader
    takes them from the notebook (magics stripped alike), checked with the same rules, then
    defined again in the child's namespace (its builtins, imports and stand-in base classes),
    so code that passes here is the code that is graded.  Objects not typed in a cell (a
    module's, a test's) are run as they are.
    """
    cells = _cells_defining(obj)
    name = getattr(obj, "__name__", q.target)
    source, _ = extract_source(cells, name) if cells else (None, None)
    if source is None:
        own = _source_of(obj)
        return obj, ([] if own is None else static_problems(own, q))
    problems = static_problems(source, q)
    if problems:
        return obj, problems
    namespace = graded_namespace(standin_sources())
    filename = f"<graded {name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)  # for tracebacks
    try:
        exec(compile(source, filename, "exec"), namespace)  # noqa: S102 — the learner's own code
    except Exception as exc:  # noqa: BLE001 — reported to the learner, as the grader would
        return obj, [f"defining {name} as the grader does failed: {type(exc).__name__}: {exc}"]
    graded = namespace.get(name)
    return (obj, [f"{name} is not defined by its cell"]) if graded is None else (graded, [])


# --------------------------------------------------------------------------- torch twins
def _torch_output(q, case):
    """torch's output on a case, in the runners' format; None where torch has no twin (or is not installed)."""
    if not runs.torch_available():
        return None
    if q.kind == "optimizer":
        steps = runs.torch_steps(q.reference(**case["hyper"]), case["params"], case["grads"], case.get("lrs"))
        return [{"params": runners.plain(p), **runners.fields_of(state, q.fields)} for p, state in steps]
    if q.kind == "plateau":
        states = runs.torch_plateau(q.reference(**case["hyper"]), case["metrics"])
        return [runners.fields_of(state, q.fields) for state in states]
    if q.kind == "schedule" and q.schedule is not None and not case.get("t0"):
        return runs.torch_lrs(q.schedule(case["kwargs"]), case["steps"]).tolist()
    return None


def _torch_name(q) -> str | None:
    if q.kind == "optimizer":
        return f"torch.optim.{q.base}"
    if q.kind == "plateau":
        return "torch.optim.lr_scheduler.ReduceLROnPlateau"
    if q.kind == "schedule" and q.schedule is not None:
        return "torch.optim.lr_scheduler." + type(q.schedule(_example_kwargs(q))).__name__
    return None


def _example_kwargs(q):
    return spec.draw_cases(q, spec.public_rng(q), 1)[0]["kwargs"]


# --------------------------------------------------------------------------- reporting
_LIBRARY = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _your_frames(exc: BaseException) -> list[str]:
    """Where in the learner's code ``exc`` was raised (the library's own frames left out)."""
    lines = []
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename.startswith(_LIBRARY) or "-packages" + os.sep in frame.filename:
            continue
        text = f"  in {frame.name}, line {frame.lineno}" + (f": {frame.line.strip()}" if frame.line else "")
        lines.append(text)
    lines.append(f"  {type(exc).__name__}: {exc}")
    return lines[-4:]


def _fmt(value, digits: int = 8) -> str:
    return verdicts.format_values(value, digits)


def _describe_case(q, case) -> str:
    if q.kind in ("optimizer", "plateau"):
        hyper = ", ".join(f"{k}={v!r}" for k, v in case["hyper"].items())
        more = ""
        if q.kind == "optimizer":
            more = f"; params0={_fmt(case['params'])}" + ("; lr= passed to step (a schedule)" if "lrs" in case else "")
        return f"{q.base}({hyper}){more}"
    kwargs = ", ".join(f"{k}={_fmt(v) if isinstance(v, list) else repr(v)}" for k, v in case["kwargs"].items())
    return f"{q.target}({'t, ' if q.kind == 'schedule' else ''}{kwargs})"


def _where(q, case, diff) -> str:
    if q.kind == "schedule":
        return f"t = {diff.step + case.get('t0', 0)}"
    if q.kind == "plateau":
        return f"epoch {diff.step} (after metric {case['metrics'][diff.step]!r}), field {diff.field}"
    return diff.where()


def _failure(q, k, case, diff, against, hints) -> str:
    digits = max(8, verdicts.digits_to_show(diff.error))
    lines = [f"✗ {q.what} differs from {against} on case {k + 1}: {_describe_case(q, case)}",
             f"  first difference at {_where(q, case, diff)} (relative difference {diff.error:.1e}):",
             f"    yours    {_fmt(diff.yours, digits)}",
             f"    expected {_fmt(diff.expected, digits)}"]
    if verdicts.looks_float32(diff.yours):
        lines.append(f"  precision — {verdicts.FLOAT32_HINT}")
    for h in hints[:2]:
        lines.append(f"  hint — looks like {h.name}: {h.hint}")
    return "\n".join(lines)


def check(obj, question: str | None = None, cases: int = 8, use_torch: bool = True, seed=None) -> None:
    """Check a learner's class/function against the reference and torch; print the verdict.

    ``question`` is "NN_topic/qK" or the target's name (default: ``obj.__name__``).
    ``cases`` cases in all: the public ones plus fresh random ones (``seed`` fixes those).
    Raises ``CheckFailed`` with the first difference, ``NotImplementedError`` if the code
    is still a stub.
    """
    __tracebackhide__ = True   # IPython shows the learner's frames, not check()'s
    q = _question_for(obj, question)
    obj, problems = _as_graded(obj, q)
    if problems:
        print(f"✗ {q.what} would score 0 when graded (the from-scratch rule):")
        for p in problems:
            print(f"  {p}")
        raise CheckFailed(f"{q.what} breaks the rules of graded code: {problems[0]}")
    public = spec.draw_cases(q, spec.public_rng(q), q.public)
    fresh = spec.draw_cases(q, np.random.default_rng(seed), max(0, cases - len(public)))
    torch_name = _torch_name(q) if use_torch else None
    for k, case in enumerate(public + fresh):
        try:
            with np.errstate(all="ignore"):
                out = runners.run_case(q.kind, obj, case, q.fields)
        except NotImplementedError as exc:
            raise NotWrittenYet(f"{q.what} is not written yet ({exc}): write it in the cell above, "
                                      "then run this cell again") from None
        except Exception as exc:  # noqa: BLE001 — any error in learner code is reported, never re-raised raw
            print(f"✗ {q.what} raised {type(exc).__name__} on case {k + 1}: {_describe_case(q, case)}")
            for line in _your_frames(exc):
                print(line)
            raise CheckFailed(f"{q.what} raised {type(exc).__name__}: {exc}") from None
        expected = spec.expected_output(q, case)
        diff = verdicts.compare_output(q, out, expected, case)
        if diff is not None:
            hints = verdicts.matching_mistakes(q, case, out, diff)
            print(_failure(q, k, case, diff, "the reference (lrcourse)", hints))
            raise CheckFailed(f"{q.what}: first difference on case {k + 1} at {_where(q, case, diff)}")
        if torch_name is not None:
            theirs = _torch_output(q, case)
            if theirs is not None:
                diff = verdicts.compare_output(q, out, theirs, case)
                if diff is not None:
                    print(_failure(q, k, case, diff, torch_name, []))
                    print("  (your code matches lrcourse but not torch: please report this as a course bug)")
                    raise CheckFailed(f"{q.what}: differs from {torch_name} on case {k + 1}")
    n = len(public) + len(fresh)
    against = "lrcourse" + (f" and {torch_name}" if torch_name else "")
    if q.kind == "optimizer":
        what = f"× {len(public[0]['grads'])} steps (params, update, {', '.join(q.fields) or 'no state'})"
    elif q.kind == "plateau":
        what = f"× {len(public[0]['metrics'])} epochs ({', '.join(q.fields)})"
    else:
        what = f"({q.compared})" if q.kind == "schedule" else "(the returned value)"
    print(f"✓ {q.what} matches {against} on {n} cases {what} to {q.tol:.0e} relative")



def _user_value(name: str):
    """``name``'s value in the IPython kernel's namespace, if there is one."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    ip = get_ipython()
    return getattr(ip, "user_ns", {}).get(name) if ip is not None else None


def check_prediction(name: str, value=None) -> None:
    """Say whether a committed prediction is right — never what the answer is (the experiment shows it).

    ``name`` is the variable the prediction cell assigns.  In a notebook the value is read
    from the cells the grader's way (``grading.predictions.read_prediction``: the last
    ``name = <plain number, arithmetic or quoted choice>``), so what passes here is what is
    graded; elsewhere ``value`` is used.  Raises ``CheckFailed`` when it is wrong (nbgrader
    then gives the cell 0 points), ``NotImplementedError`` while it is not written.
    """
    __tracebackhide__ = True
    p = preds.find_prediction(name)
    cells = _notebook_cells()
    if cells and any(p.name in c for c in cells):
        value, why = preds.read_prediction(cells, p.name)
    else:   # no history to read (outside IPython, or cells run without storing it, as nbval does)
        value = _user_value(p.name) if value is None else value
        if value is None:
            raise NotWrittenYet(f"{p.name} is not written yet: commit to {p.what}")
        why = None
    if why is not None:
        print(f"✗ {why}")
        if "NotImplementedError" in why:
            raise NotWrittenYet(f"{p.name} is not written yet: commit to {p.what} in the cell above")
        raise CheckFailed(why)
    right, why = preds.judge(p, value)
    shown = repr(value) if isinstance(value, str) else f"{float(value):.10g}"   # 2 and 2.0 alike
    if not right:
        print(f"✗ {p.name} = {shown} is not what the experiment below measures" + (f" ({why})" if why else "")
              + f": 0 of {p.points:g} points. Run the experiment and find the step your reasoning missed.")
        raise CheckFailed(f"prediction {p.name} = {shown} is not right")
    tol = "exactly" if p.choices or not p.rel_tol else f"within {p.rel_tol:.0%}"
    print(f"✓ {p.name} = {shown} is right ({tol}): {p.points:g} of {p.points:g} points. The experiment below shows why.")


_register_brief_errors()
