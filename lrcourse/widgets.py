"""Interactive panels for the course (ipywidgets 8 + matplotlib), on top of ``lrcourse.runs``.

* ``VerificationPanel(method, problem="ill-conditioned quadratic", steps=300, **options)``:
  one optimizer or schedule of the course (or a learner's subclass of one) against its
  torch twin, with a control for every hyperparameter, the curves of both, the per-step
  error and the verdict.
* ``ScheduleComposer()``: warm-up + decay (+ cosine restarts) as an lrcourse SequentialLR,
  checked against torch, with the torch code to paste into a training script.
* ``OptimizerPlayground(optimizers=None, problem="Rosenbrock")``: several optimizers racing
  on a 2-D surface, with gradient noise, per-optimizer learning rates and the effective
  learning rate of each coordinate.

Every panel is an ``ipywidgets.VBox``: leave it last in a cell or ``display(panel)``.  The
panels hold no math of their own: curves, verdicts and contour grids come from
``lrcourse.runs`` and ``lrcourse.problems``.  Figures are ``matplotlib.figure.Figure``
objects the panel owns (never pyplot: with JupyterLab 4.6 widget callbacks run on another
kernel thread), updated in place and shown as a PNG in an ``ipywidgets.Image``.

Set controls from code with ``panel.controls[name].value = ...`` (one recompute per change)
or ``panel.set(lr=0.01, betas=(0.9, 0.99))`` (one recompute for all of them).  A slider's
number is read and typed in the box beside it (``panel.entries[control]``): a value that is
empty, not a number, refused by torch's rule (its message) or outside a slider is answered in
the note beside the control (``panel.refused``), and the figure keeps the last valid settings.
Values the browser sends are computed on a worker thread, the latest settings only when several
arrive during a computation (a key held down on a slider); ``panel.wait()`` waits for them.
benchmarks/bench_browser.py measures every control in Chromium + JupyterLab.
"""
from __future__ import annotations

import ast
import base64
import dataclasses
import functools
import html
import inspect
import io
import math
import threading
import time
from contextlib import contextmanager

import ipywidgets as W
import numpy as np
import traitlets
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import LogFormatterSciNotation
from matplotlib.transforms import Bbox

from . import optimizers as _opt
from . import problems as _prob
from . import runs
from . import schedules as _sch

__all__ = ["VerificationPanel", "ScheduleComposer", "OptimizerPlayground", "MomentumPanel", "example"]

DPI = 72
_DESC = {"description_width": "100px"}
FONT = 11  # px (DPI 72): shown at 0.83 of its size in a 1000 px wide JupyterLab with the file browser open, still 9 px
def _wide(width="300px"):
    """A fresh Layout per widget (a shared one would hide or show them all at once)."""
    return W.Layout(width=width)

_FLOOR = 1e-17  # where an error of exactly 0 is drawn on the log axis
PANEL_PROBLEMS = ("ill-conditioned quadratic", "Rosenbrock", "noisy quadratic", "logistic regression")
SURFACES = ("ill-conditioned quadratic", "Rosenbrock", "saddle")
NUMPY_C, TORCH_C = "C0", "C3"


# --------------------------------------------------------------------------- helpers
def _torch_version() -> str:
    import torch

    return torch.__version__.split("+")[0]


def _kind(method) -> str:
    return runs._kind(method, "VerificationPanel")


def _library_name(method) -> str:
    try:
        return runs.torch_class_name(method)
    except TypeError:
        return type(method).__name__


def example(cls, steps: int = 300):
    """A sensible instance of an lrcourse optimizer or schedule class (or subclass) for a panel.

    The class knows it: optimizers get an LR that converges on the course's 2-D problems
    (``cls.example()``), schedules their required arguments for a run of ``steps`` updates
    (``cls.example(steps=steps)``).  An instance is returned as it is.
    """
    if not isinstance(cls, type):
        return cls
    if issubclass(cls, _opt.Optimizer):
        return cls.example()
    return cls.example(steps=int(steps))


class _LogOrZero(W.HBox):
    """A log-scale slider for a value that may also be exactly 0 (a checkbox switches it on).

    ``.value`` is the number (0.0 when off); setting it moves the children.
    """

    value = traitlets.Float()

    def __init__(self, name, value, low, high, **kw):
        on = value > 0
        start = value if on else 10.0 ** round((low + high) / 2)
        self.toggle = W.Checkbox(value=on, description=name, indent=False, layout=W.Layout(width="100px"))
        self.slider = W.FloatLogSlider(value=start, base=10, min=low, max=high, step=0.05, readout_format=".3g",
                                       continuous_update=False, disabled=not on, readout=False,
                                       layout=W.Layout(width="200px"))
        super().__init__([self.toggle, self.slider], **kw)
        self._sync = False
        self.value = float(value)
        self.toggle.observe(self._from_children, "value")
        self.slider.observe(self._from_children, "value")

    def _from_children(self, _change):
        if self._sync:
            return
        self.slider.disabled = not self.toggle.value
        self.value = float(self.slider.value) if self.toggle.value else 0.0

    @traitlets.observe("value")
    def _to_children(self, change):
        v = float(change["new"])
        self._sync = True
        try:
            self.toggle.value = v > 0
            self.slider.disabled = not v > 0
            if v > 0:
                lo, hi = math.log10(v), math.log10(v)
                self.slider.min, self.slider.max = min(self.slider.min, math.floor(lo)), max(self.slider.max, math.ceil(hi))
                self.slider.value = v
        finally:
            self._sync = False


class _Literal(W.Text):
    """A text box for a value of any Python literal (None, ints, tuples): ``.parsed``."""

    def __init__(self, name, value, **kw):
        super().__init__(value=repr(value), description=name, continuous_update=False, style=_DESC,
                         layout=_wide(), **kw)

    @property
    def parsed(self):
        try:
            return ast.literal_eval(self.value.strip())
        except (ValueError, SyntaxError):
            raise ValueError(f"could not read {self.value!r} as a Python value (e.g. 10, None, (1, 2))") from None


class _IntList(W.Text):
    """Milestones as text: "100, 200"."""

    def __init__(self, name, value, **kw):
        super().__init__(value=", ".join(str(m) for m in value), description=name, continuous_update=False,
                         style=_DESC, layout=_wide(), placeholder="e.g. 100, 200", **kw)

    @property
    def parsed(self):
        text = self.value.replace(",", " ").split()
        try:
            return tuple(int(s) for s in text)
        except ValueError:
            raise ValueError(f"{self.description} must be whole numbers separated by commas, got {self.value!r}") from None


# (low, high) exponents of the log sliders; the value's own decade is always included.
_LOG = {"lr": (-5, 1), "max_lr": (-5, 1), "eps": (-12, 0), "weight_decay": (-6, 0), "lr_decay": (-6, 0),
        "min_lr": (-8, 0), "eta_min": (-8, 0), "threshold": (-8, 0), "initial_accumulator_value": (-4, 1),
        "div_factor": (0, 3), "final_div_factor": (0, 6)}
_ZERO_OK = {"weight_decay", "lr_decay", "min_lr", "eta_min", "threshold", "initial_accumulator_value"}
# (low, high, step)
_LINEAR = {"momentum": (0.0, 0.99, 0.01), "dampening": (0.0, 1.0, 0.01), "alpha": (0.0, 0.999, 0.001),
           "rho": (0.0, 1.0, 0.01), "gamma": (0.0, 1.0, 0.001), "factor": (0.0, 1.0, 0.01),
           "start_factor": (0.0, 1.0, 0.01), "end_factor": (0.0, 1.0, 0.01), "momentum_decay": (0.0, 0.02, 0.0005),
           "pct_start": (0.0, 1.0, 0.01), "base_momentum": (0.0, 1.0, 0.01), "max_momentum": (0.0, 1.0, 0.01)}
_CHOICES = {"mode": ("min", "max"), "threshold_mode": ("rel", "abs"), "anneal_strategy": ("cos", "linear")}
_LISTS = {"milestones"}
_READONLY = {"lr_lambda", "schedulers"}


def _int_range(name, value, steps):
    table = {"step_size": (0, steps), "T_max": (0, 2 * steps), "total_iters": (0, steps), "patience": (0, 50),
             "cooldown": (0, 50), "T_0": (0, steps), "T_mult": (1, 4)}
    low, high = table.get(name, (0, max(10, 2 * abs(value), steps)))
    return min(low, value), max(high, value)


def _float_control(name, value):
    if name in _LINEAR:
        low, high, step = _LINEAR[name]
        fmt = ".4f" if step < 1e-3 else ".3f"
        return W.FloatSlider(value=value, min=min(low, value), max=max(high, value), step=step, readout_format=fmt,
                             description=name, continuous_update=False, style=_DESC, layout=_wide())
    if name in _LOG or value > 0:
        if value > 0:
            dec = math.log10(value)
            low, high = _LOG.get(name, (math.floor(dec) - 3, math.ceil(dec) + 3))
            low, high = min(low, math.floor(dec)), max(high, math.ceil(dec))
        else:
            low, high = _LOG.get(name, (-6, 0))
        if name in _ZERO_OK or value == 0:
            return _LogOrZero(name, value, low, high)
        return W.FloatLogSlider(value=value, base=10, min=low, max=high, step=0.05, readout_format=".3g",
                                description=name, continuous_update=False, style=_DESC, layout=_wide())
    return W.FloatText(value=value, description=name, continuous_update=False, style=_DESC, layout=_wide())


def _readonly_text(value) -> str:
    if callable(value) and not isinstance(value, type):
        try:
            src = inspect.getsource(value).strip()
        except (OSError, TypeError):
            src = getattr(value, "__name__", repr(value))
        return src
    if isinstance(value, tuple):
        return ", ".join(repr(v) for v in value)
    return repr(value)


def _field_controls(method, steps: int, fixed=()) -> dict:
    """name -> widget for every init field of the method's dataclass; betas become beta1/beta2.
    ``fixed``: hyperparameters a learner's function does not take (shown, not editable)."""
    controls = {}
    readonly = set(_READONLY) | set(fixed)
    if isinstance(method, _sch.SequentialLR):
        readonly.add("lr")  # the children's shared LR: change it in the children
    for f in dataclasses.fields(method):
        if not f.init:
            continue
        name, value = f.name, getattr(method, f.name)
        if name in readonly:
            why = "your function does not take it" if name in fixed else "not editable here"
            w = W.HTML(f"<b>{html.escape(name)}</b>: <code>{html.escape(_readonly_text(value))}</code> "
                       f"<i>({why})</i>", layout=W.Layout(width="376px", max_width="100%"))
            w.add_class(f"t-{name}")
            controls[name] = w
            continue
        if name == "betas":
            for i, b in enumerate(value):
                w = W.FloatSlider(value=b, min=0.0, max=max(0.9999, b), step=1e-4, readout_format=".4f",
                                  description=f"beta{i + 1}", continuous_update=False, style=_DESC, layout=_wide())
                w.add_class(f"t-beta{i + 1}")
                w.rule = _torch_rule(lambda v, i=i: _refused_or_built(method, "betas", tuple(
                    v if j == i else b for j, b in enumerate(method.betas)), steps))
                controls[f"beta{i + 1}"] = w
            continue
        if isinstance(value, (bool, np.bool_)):
            w = W.Checkbox(value=bool(value), description=name, style=_DESC, layout=_wide())
        elif name in _CHOICES and value in _CHOICES[name]:
            w = W.Dropdown(options=list(_CHOICES[name]), value=value, description=name, style=_DESC, layout=_wide())
        elif name in _LISTS and isinstance(value, (tuple, list)):
            w = _IntList(name, value)
        elif isinstance(value, (int, np.integer)):
            low, high = _int_range(name, int(value), steps)
            w = W.IntSlider(value=int(value), min=low, max=high, description=name, continuous_update=False,
                            style=_DESC, layout=_wide())
        elif isinstance(value, (float, np.floating)):
            w = _float_control(name, float(value))
        else:
            w = _Literal(name, value)
        w.rule = _torch_rule(lambda v, name=name: _refused_or_built(method, name, v, steps))  # judges typing
        if isinstance(w, (W.IntSlider, W.FloatSlider)):
            _offer_only_valid(w, lambda v, name=name: _accepts(method, name, v, steps))
        w.add_class(f"t-{name}")
        controls[name] = w
    return controls


def _accepts(method, name, value, steps) -> bool:
    """Whether the library (torch's rules) accepts ``name=value`` for the method's class,
    other hyperparameters at the class's example values (so one setting is judged alone)."""
    return _refusal(method, name, value, steps) is None


def _refusal(method, name, value, steps):
    """The library's (torch's) message refusing ``name=value`` for the method's class, or None."""
    return _why_not(lambda v: _refused_or_built(method, name, v, steps), value)


def _refused_or_built(method, name, value, steps):
    """The method's class built with ``name=value``, other hyperparameters at the class's example
    values (so one setting is judged alone); ValueError / TypeError if the library refuses it."""
    try:
        base = example(type(method), steps)
    except (ValueError, TypeError):
        base = method
    return dataclasses.replace(base, **{name: value})


def _why_not(make, value):
    """The ValueError / TypeError message of ``make(value)``, or None if it builds."""
    try:
        make(value)
    except (ValueError, TypeError) as e:
        return str(e)
    return None


def _builds(make, value) -> bool:
    return _why_not(make, value) is None


def _at_least(low, why):
    """A control's ``rule`` (see _Entry) of the panel's own: ``v >= low``, because ``why``."""
    return lambda v: None if v >= low else f"{why}: at least {low:g}"


def _torch_rule(make):
    """A control's ``rule`` (see _Entry): the library's message refusing ``make(v)``, which is torch's."""
    def rule(v):
        why = _why_not(make, v)
        return f"{why} (torch's rule)" if why else None
    return rule


class _Entry(W.Text):
    """The number of a slider, to read and to type.  A typed value is judged before the control
    takes it: empty, not a number, refused by the control's ``rule`` (torch's message), or outside
    a slider without a rule -> ``refuse(message)`` and the box shows the control's value again.
    A value the rule accepts beyond the slider's ends widens the slider."""

    def __init__(self, control, slider, refuse):
        super().__init__(continuous_update=False, layout=W.Layout(width="76px"))
        self.add_class("t-entry")
        slider.readout = False  # a slider's own readout clamps what is typed, silently
        self._control, self._slider, self._refuse = control, slider, refuse
        self._sync = False
        self._show()
        control.observe(lambda _change: self._show(), "value")
        self.observe(self._typed, "value")

    def _show(self):
        self._sync = True
        try:
            v = self._control.value
            fmt = getattr(self._slider, "readout_format", None) or ".3g"
            self.value = "0" if v == 0 else format(v, "d" if isinstance(self._slider, W.IntSlider) else fmt)
        finally:
            self._sync = False

    def _range(self):
        lo, hi = self._slider.min, self._slider.max
        if isinstance(self._slider, W.FloatLogSlider):
            lo, hi = 10.0 ** lo, 10.0 ** hi
        zero = "0 or " if isinstance(self._control, _LogOrZero) else ""
        return f"{zero}{lo:g} to {hi:g}"

    def judge(self, text):
        """(value, None) for a value the control takes, (None, why not) otherwise."""
        name = self._slider.description or "this control"
        whole = isinstance(self._slider, W.IntSlider)
        kind = "a whole number" if whole else "a number"
        if not text.strip():
            return None, f"empty: type {kind}; allowed here: {self._range()}"
        try:
            v = float(text.strip().replace("−", "-"))
        except ValueError:
            return None, f"{text.strip()!r} is not {kind}; allowed here: {self._range()}"
        if not math.isfinite(v):
            return None, f"{text.strip()} is not a finite number; allowed here: {self._range()}"
        if whole:
            if v != int(v):
                return None, f"{name} takes a whole number, got {v:g}"
            v = int(v)
        rule = getattr(self._control, "rule", None)
        why = rule(v) if rule is not None else None
        if why:
            return None, why
        log = isinstance(self._slider, W.FloatLogSlider)
        if v == 0 and isinstance(self._control, _LogOrZero):
            return 0.0, None
        if log and v <= 0:
            return None, f"{name} is on a log scale here: positive values only (allowed here: {self._range()})"
        lo, hi = (10.0 ** self._slider.min, 10.0 ** self._slider.max) if log else (self._slider.min, self._slider.max)
        if (v < lo or v > hi) and rule is None:
            return None, f"{v:g} is outside this slider: allowed here: {self._range()}"
        return v, None

    def _typed(self, change):
        if self._sync:
            return
        text = change["new"]
        v, why = self.judge(text)
        if why is not None:
            self._show()
            self._refuse(f"{text.strip() or '(empty)'} refused — {why}; kept {self.value}")
            return
        s = self._slider
        if isinstance(s, W.FloatLogSlider) and v > 0:  # widen to the value's decade, then set it
            s.min, s.max = min(s.min, math.floor(math.log10(v))), max(s.max, math.ceil(math.log10(v)))
        elif not isinstance(s, W.FloatLogSlider):
            s.min, s.max = min(s.min, v), max(s.max, v)
        if self._control.value == v:
            self._show()
        self._control.value = v


def _offer_only_valid(w, accepts):
    """Narrow a slider's range, one step at a time from each end, to values ``accepts``
    (e.g. ReduceLROnPlateau's factor stops at 0.99: torch wants factor < 1)."""
    lo, hi = w.min, w.max
    while lo < hi and not accepts(lo):
        lo = type(lo)(round(lo + w.step, 12))
    while hi > lo and not accepts(hi):
        hi = type(hi)(round(hi - w.step, 12))
    w.max, w.min = max(hi, lo), lo


def _read(w):
    if isinstance(w, (_Literal, _IntList)):
        return w.parsed
    return w.value


_HUGE = 1e200  # a diverging run is drawn up to here; beyond, matplotlib's tickers overflow


def _finite(arrays, log=False) -> np.ndarray:
    """The finite values (positive ones for a log axis), clipped to +-_HUGE, as one array."""
    vals = [np.asarray(a, dtype=np.float64).ravel() for a in arrays if a is not None]
    vals = np.concatenate(vals) if vals else np.zeros(0)
    vals = np.clip(vals[np.isfinite(vals)], -_HUGE, _HUGE)
    return vals[vals > 1e-300] if log else vals


def _nice_up(x: float) -> float:
    """The smallest of 1, 2, 2.5, 5 (times a power of ten) that is >= x > 0."""
    e = math.floor(math.log10(x))
    for m in (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0):
        if m * 10.0**e >= x * (1 - 1e-12):
            return m * 10.0**e
    return 10.0 ** (e + 1)


def _sticky_limits(current, arrays, log=False, slack=3.0):
    """Axis limits for the finite data, rounded (decades on a log axis, 1-2-2.5-5 steps on a
    linear one) and kept as they are while the data still fill them reasonably: moving a
    slider then changes only the lines, and the panel can redraw just those (see _render)."""
    vals = _finite(arrays, log)
    if vals.size == 0:
        return current
    lo, hi = float(vals.min()), float(vals.max())
    if log:
        fits = bool(current) and current[0] <= lo and current[1] >= hi  # (a flat curve on a decade fits too)
        lo, hi = 10.0 ** math.floor(math.log10(lo)), 10.0 ** math.ceil(math.log10(hi))
        lo = max(lo, hi * 1e-20)  # below 1e-20 of the top, float64 curves are rounding noise
        if hi <= lo:
            hi = lo * 10
        if fits and math.log10(current[1] / current[0]) <= math.log10(hi / lo) + slack:
            return current
        if current:  # moving out of the old limits: leave a decade of room on that side
            lo, hi = (lo / 10 if lo < current[0] else lo), (hi * 10 if hi > current[1] else hi)
        return lo, hi
    span = max(hi - lo, abs(hi) * 1e-3, 1e-300)
    top = _nice_up(hi + 0.05 * span) if hi > 0 else -_nice_down(-(hi + 0.05 * span)) if hi < 0 else 0.05 * span
    bottom = 0.0 if lo >= 0 and lo <= 0.5 * hi else (-_nice_up(-(lo - 0.05 * span)) if lo < 0 else lo - 0.05 * span)
    if current and current[0] <= bottom and current[1] >= top and (current[1] - current[0]) <= 2.5 * (top - bottom):
        return current
    if current and hi > 0 and top > current[1]:  # growing past the top: room for a few more steps of a slider
        top = _nice_up(1.5 * hi)
    return bottom, top


def _sticky_right(ax, right: float, left: float = 0.0, least: float = 1.0):
    """Set the x axis to [left, a round number >= right], kept while ``right`` still fills it
    well (up to the round number above 1.5 ``right``; ``least``: the smallest right end, 1 for a
    number of steps).  Growing a little past the end (a slider's step) leaves room for a few
    more steps: changing the number of steps then redraws only the lines."""
    lo, current = ax.get_xlim()
    right = max(right, least)
    if lo == left and right <= current <= max(1.5 * right, _nice_up(1.5 * right)):
        return
    grown = lo == left and right / 1.5 <= current < right
    ax.set_xlim(left, max(_nice_up(1.5 * right if grown else right), left + least))


def _nice_down(x: float) -> float:
    e = math.floor(math.log10(x))
    for m in (10.0, 8.0, 6.0, 5.0, 4.0, 3.0, 2.5, 2.0, 1.5, 1.2, 1.0):
        if m * 10.0**e <= x * (1 + 1e-12):
            return m * 10.0**e
    return 10.0**e


def _error_text(e: Exception):
    """(message, verdict) for an exception shown in a panel instead of a traceback.

    ValueError / TypeError are the library's (and torch's) answers to invalid settings, and
    their message says what to change; anything else is reported with its type.
    """
    if isinstance(e, NotImplementedError):  # an exercise's stub: the learner has not written it yet
        said = f" ({e})" if str(e) else ""
        msg = f"your code is not written yet{said}: fill in the cell above, run it, then run this cell again"
        return msg, f"NOT WRITTEN YET — {msg}"
    if isinstance(e, (ValueError, TypeError)):
        return str(e), f"INVALID SETTINGS — {e}"
    msg = f"{type(e).__name__}: {e}"
    return msg, f"ERROR — {msg}"


def _error_html(text: str) -> str:
    return f"<div style='color:#a00;font-weight:bold'>{html.escape(text)}</div>"


def _keep(cache: dict, key, value, most: int):
    """``cache[key] = value``, the oldest entries dropped beyond ``most``; returns ``value``."""
    cache[key] = value
    while len(cache) > most:
        del cache[next(iter(cache))]
    return value


def _encode_png(canvas) -> bytes:
    from PIL import Image as _PIL

    w, h = canvas.get_width_height()
    img = _PIL.frombuffer("RGBA", (w, h), canvas.buffer_rgba(), "raw", "RGBA", 0, 1).convert("RGB")
    buf = io.BytesIO()
    img.save(buf, format="png", compress_level=1)  # fast; the PNG is a little larger
    return buf.getvalue()


def _columns(*boxes):
    """Columns of controls side by side where there is room, one under the other where not."""
    return W.HBox(list(boxes), layout=W.Layout(flex_flow="row wrap"))


def _readable(fig):
    """Tick labels, axis labels, titles and legends of ``fig`` at FONT px at least."""
    for ax in fig.axes:
        ax.tick_params(labelsize=FONT)
        for text in (ax.xaxis.label, ax.yaxis.label, ax.title, ax.xaxis.get_offset_text(), ax.yaxis.get_offset_text()):
            text.set_fontsize(max(text.get_fontsize(), FONT))
        legend = ax.get_legend()
        for t in legend.get_texts() if legend is not None else ():
            t.set_fontsize(max(t.get_fontsize(), FONT))
    for legend in fig.legends:
        for t in legend.get_texts():
            t.set_fontsize(max(t.get_fontsize(), FONT))


def _top(n):
    """Figure legend options: a row (or two) above all the axes, laid out by the constrained layout."""
    return dict(loc="outside upper center", ncol=min(n, 4), fontsize=FONT, frameon=False, handlelength=1.8,
                columnspacing=1.0, borderaxespad=0.2)


def _above(ncol, fontsize):
    """Legend options that put it in a row above the axes, out of the data's way."""
    return dict(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=ncol, fontsize=fontsize, frameon=False,
                borderaxespad=0.2, handlelength=1.8, columnspacing=1.0)


def _from_browser(w) -> bool:
    """Whether a change of ``w`` (or of a child of it: a _LogOrZero's slider) is a value the browser
    sent: ipywidgets locks the property while it applies a value from the page (``Widget.set_state``)."""
    return any(getattr(x, "_property_lock", None) for x in (w, *getattr(w, "children", ())))


def _proxy(**kw):
    from matplotlib.lines import Line2D

    return Line2D([], [], **kw)


_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


class _PlainLog(LogFormatterSciNotation):
    """matplotlib's log-axis labels (the same ticks labelled, the same numbers) as plain text: 10⁻³
    and 2×10⁻³ instead of mathtext's ``$\\mathdefault{10^{-3}}$``.  A mathtext label is parsed again for
    each new figure and each thread that draws it (3.7 ms of CPU a label here): a fresh log axes with
    seven labels drew in 57-72 ms of CPU, 31-49 ms with these."""

    def __call__(self, x, pos=None):
        text = super().__call__(x, pos)
        if not (text.startswith("$\\mathdefault{") and text.endswith("}$")):
            return text
        body = text[len("$\\mathdefault{"):-2].replace("\\times", "×")
        if "^{" in body:
            base, power = body[:-1].split("^{")
            body = base + power.translate(_SUPERSCRIPT)
        return body.replace("-", "−")  # a leading sign: the minus sign matplotlib's plain labels use


def _set_scale(ax, which, scale):
    """``ax``'s ``which`` ("x" or "y") axis on ``scale``; a log one labelled by _PlainLog (major and minor
    ticks, as matplotlib's LogScale labels both)."""
    axis = ax.yaxis if which == "y" else ax.xaxis
    (ax.set_yscale if which == "y" else ax.set_xscale)(scale)
    if scale == "log":
        axis.set_major_formatter(_PlainLog())
        axis.set_minor_formatter(_PlainLog())


class _FigurePanel(W.VBox):
    """What the three panels share: a figure they own, a PNG Image, a lock, recompute hooks."""

    _STALE = "the figure below shows the last valid settings"
    _READABLE = False  # True: fonts raised to FONT px before each full draw (see _readable)

    def _setup_figure(self, size):
        self.figure = Figure(figsize=size, dpi=DPI)  # laid out at its first draw (_lay_out)
        self._canvas = FigureCanvasAgg(self.figure)
        self.image = W.Image(format="png", layout=W.Layout(max_width="100%"))
        self.image.add_class("t-figure")
        self._lock = threading.RLock()
        self._hold = 0
        self._queue, self._pending, self._worker = threading.Lock(), False, None  # see _recompute_latest
        self._shown = threading.Condition(self._queue)  # notified when the browser's last value is shown
        self._busy = False      # the worker is computing a value from the browser
        self._dynamic = []      # artists redrawn on every update (animated: the full draw skips them)
        self._bg, self._bg_key = None, None
        self._laid_out = None   # what the figure was last laid out for (_lay_out)
        self._backgrounds = {}  # static key -> saved background: going back to earlier axes is a blit
        self.redraws = 0        # PNGs sent
        self.full_draws = 0     # of which needed the axes, ticks and legends drawn again
        self.ahead_draws = 0    # backgrounds drawn in idle time, before an input needed them (_ahead)
        self.timings = {}
        self.error = None
        self.stale = False      # True while the figure (and code) show the last valid settings
        self.stale_html = W.HTML()
        self.stale_html.add_class("t-stale")
        self.notes = {}         # control -> the HTML beside it that says why its value was refused
        self.entries = {}       # control -> the box its number is read and typed in (_Entry)
        self.refused = None     # the last typed value refused, with why
        self._touched = None    # the control changed last

    def _beside(self, widgets):
        """Each control in a row (with the control's ``t-`` CSS hooks) with, for a slider, a box to
        read and type its number (``_Entry``), and the note that answers a refused value."""
        out = []
        for w in widgets:
            note = W.HTML(layout=W.Layout(width="auto", margin="0 0 0 6px"))
            note.add_class("t-note")
            self.notes[w] = note
            row = [w]
            slider = w.slider if isinstance(w, _LogOrZero) else w
            if isinstance(slider, (W.IntSlider, W.FloatSlider, W.FloatLogSlider)):
                self.entries[w] = _Entry(w, slider, lambda message, w=w: self._refuse_typed(w, message))
                row.append(self.entries[w])
            box = W.HBox(row + [note], layout=W.Layout(align_items="center", flex_flow="row wrap",
                                                        display=w.layout.display))
            w.layout.observe(lambda change, box=box: setattr(box.layout, "display", change["new"]), "display")
            for cls in w._dom_classes:
                if cls.startswith("t-"):
                    box.add_class(cls)
            out.append(box)
        return out

    def _refuse_typed(self, w, message):
        """A typed value the control did not take: said beside it; the figure is unchanged (it shows
        the control's value, which the box shows again)."""
        self.refused = message
        self.notes[w].value = f"<span style='color:#a00'>✗ {html.escape(message)}</span>"

    def _settle(self, ok: bool, message: str = ""):
        """After a recompute: clear the notes and the stale mark (ok), or put ``message`` beside the
        control changed last and mark the figure as stale (it shows the last valid settings)."""
        for note in self.notes.values():
            note.value = ""
        self.stale = not ok and self.redraws > 0
        if ok:
            self.stale_html.value = ""
            return
        note = self.notes.get(self._touched)
        if note is not None:
            note.value = f"<span style='color:#a00'>✗ {html.escape(message)}</span>"
        if self.stale:
            self.stale_html.value = (f"<div style='color:#a00;background:#fee;padding:2px 6px'><b>STALE</b> — "
                                     f"{self._STALE}, not the controls' current ones</div>")

    def _dyn(self, artist):
        """Register an artist that changes with the data (lines, their texts)."""
        artist.set_animated(True)
        self._dynamic.append(artist)
        return artist

    def _static_key(self):
        """Everything the static background depends on; a change forces a full draw."""
        key = [self.figure.get_size_inches().tobytes()]
        for ax in self.figure.axes:
            if ax.get_animated():  # drawn with the data, over the background (the momentum panel's colour bar)
                continue
            key.append((ax.get_visible(), ax.get_xlim(), ax.get_ylim(), ax.get_xscale(), ax.get_yscale(),
                        ax.get_position().bounds))
        key.append(self._static_extra())
        return tuple(key)

    def _static_extra(self):
        return None

    def _layout_id(self):
        """What the figure's layout (axes positions) depends on beyond its size; see _lay_out."""
        return None

    def _layout_now(self):
        """What the figure's layout depends on now: ``_layout_id`` and its size (see _lay_out)."""
        return self._layout_id(), self.figure.get_size_inches().tobytes()

    def _lay_out(self):
        """Fonts at FONT px; the constrained layout run again when ``_layout_now`` changed since the last."""
        _readable(self.figure)
        lid = self._layout_now()
        if lid != self._laid_out:
            self.figure.set_layout_engine("constrained", w_pad=0.03, h_pad=0.03, wspace=0.04)
            self._laid_out = lid

    @contextmanager
    def hold(self):
        """Change several controls, recompute once at the end."""
        self._hold += 1
        try:
            yield self
        finally:
            self._hold -= 1
        if self._hold == 0:
            self.recompute()

    def _changed(self, change=None):
        if change is not None:
            self._touched = change["owner"]
        if self._hold:
            return
        if change is not None and _from_browser(change["owner"]):
            self._recompute_latest()
        else:
            self.recompute()

    def _recompute_latest(self):
        """A value the browser sent: recomputed on a worker thread, so that the kernel goes on reading
        the messages that follow, and a burst of them (a key held down on a slider) is computed with
        the latest settings once the computation under way is done, not once per value.  Values set
        from code (``controls[name].value = ...``, ``set``) are computed at once, in the caller's thread.
        Once the latest value is shown, the worker goes on with ``_ahead`` (work a next input is likely
        to need), one short piece at a time, and drops it as soon as another value arrives."""
        with self._queue:
            self._pending = True
            self._shown.notify_all()  # a worker waiting for quiet (_quiet) takes the value at once
            if self._worker is not None:
                return
            self._worker = threading.Thread(target=self._drain, name=f"{type(self).__name__} recompute", daemon=True)
            self._worker.start()

    def _drain(self):
        ahead = None  # the idle-time work of the value shown last
        while True:
            with self._queue:
                new_value = self._pending
                if new_value:
                    self._pending, self._busy, ahead = False, True, None
            if new_value:
                try:
                    self.recompute()
                except Exception as e:  # noqa: BLE001 — the worker must live on for the changes still to come
                    self.error = f"{type(e).__name__}: {e}"
                finally:
                    with self._queue:
                        self._busy = False
                        self._shown.notify_all()
                continue
            if ahead is None:
                if not self._quiet(self.AHEAD_AFTER):
                    continue  # a new value came first
                ahead = self._ahead()
            try:
                more = next(ahead, StopIteration) is not StopIteration  # one piece
            except Exception:  # noqa: BLE001 — work ahead is a guess: a failure only ends it
                more = False
            if not more:
                ahead = iter(())
                with self._queue:
                    if not self._pending:
                        self._worker = None
                        return

    def _ahead(self):
        """Short pieces of work for idle time, as a generator: one piece per next(), run by the worker
        once AHEAD_AFTER seconds pass with no value from the browser, and only while none is waiting (a
        value that arrives waits for one piece at most)."""
        return iter(())

    # Work ahead starts only once the browser has sent nothing for AHEAD_AFTER: the page is then drawing the
    # figure just sent, and work started at once took the CPU from it (figures: docs/browser-testing.md).
    AHEAD_AFTER = 0.25  # seconds
    # Backgrounds are drawn ahead only once the browser has sent nothing for this long: a value that arrives
    # during one waits for the artist being drawn (see _draw_unless_pending).
    DRAW_AHEAD_AFTER = 0.25  # seconds

    def _background_ahead(self, draw, put_back):
        """In idle time: ``draw()`` sets the figure as another input will show it (another problem); its
        background is drawn and kept (a full draw that input then does not need), then ``put_back()``
        sets the figure as shown again and must drop every limit kept on the way (sticky limits), so
        that what a later input shows never depends on whether this ran.  Every axes' scales and limits
        are set back as shown before put_back() runs.  Nothing is sent."""
        shown = [(ax, ax.get_xscale(), ax.get_yscale(), ax.get_xlim(), ax.get_ylim()) for ax in self.figure.axes]
        try:
            draw()
            key = self._static_key()
            if key not in self._backgrounds and self._laid_out == self._layout_now():
                self._lay_out()  # as _render's full draw does; the layout is the one shown, so it is kept
                if self._draw_unless_pending():
                    self._keep_background(key)
                    self.ahead_draws += 1
        finally:
            for ax, xscale, yscale, xlim, ylim in shown:
                if (ax.get_xscale(), ax.get_yscale()) != (xscale, yscale):
                    _set_scale(ax, "x", xscale)
                    _set_scale(ax, "y", yscale)
                ax.set_xlim(*xlim)
                ax.set_ylim(*ylim)
            put_back()

    def _draw_unless_pending(self) -> bool:
        """The figure's full draw (canvas.draw, with the layout it has), one top-level artist at a time,
        given up (False) as soon as the browser sends a value: that value waits for one axes or legend
        (10-25 ms here), not for the whole figure (60 ms)."""
        fig, renderer = self.figure, self._canvas.get_renderer()
        renderer.clear()
        fig.patch.draw(renderer)
        # what Figure.draw draws after its patch, in its order
        for artist in sorted((a for a in fig.get_children() if a is not fig.patch and not a.get_animated()),
                             key=lambda a: a.get_zorder()):
            if self._pending:
                return False
            artist.draw(renderer)
        return True

    def _when_quiet(self, draws):
        """Work ahead: once DRAW_AHEAD_AFTER seconds pass with no new value, each of ``draws`` (a function
        that draws a background ahead, see _background_ahead) as one piece, under the lock."""
        if not self._quiet(self.DRAW_AHEAD_AFTER):
            return
        for draw in draws:
            yield
            with self._lock:
                draw()

    def _quiet(self, seconds: float) -> bool:
        """In the worker: wait until ``seconds`` pass with no new value from the browser (True), or
        return False as soon as one arrives."""
        with self._queue:
            return not self._shown.wait_for(lambda: self._pending, seconds)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the values sent by the browser are computed and shown; False if ``timeout`` ran out."""
        with self._shown:
            return self._shown.wait_for(lambda: not self._pending and not self._busy, timeout)

    def _watch(self, widgets):
        for w in widgets:
            if hasattr(w, "value") and not isinstance(w, W.HTML):
                w.observe(self._changed, "value")

    def _render(self):
        """Draw and send the PNG.  The axes, ticks, contours and legends are drawn only when
        the static key changes; otherwise the saved background is restored and only the
        data artists are drawn on it (blitting, with the Agg canvas)."""
        t0 = time.perf_counter()
        canvas = self._canvas
        key = self._static_key()
        if self._bg is None:  # the figure was laid out afresh, or half drawn: no saved background holds
            self._backgrounds.clear()
        if key != self._bg_key or self._bg is None:
            self._bg, self._bg_key = self._backgrounds.get(key), key
        if self._bg is None:
            if self._READABLE:
                self._lay_out()
            canvas.draw()
            if self._READABLE:  # the positions found stay; the layout costs ~50 ms a draw, run it only when needed
                self.figure.set_layout_engine("none")
                key = self._bg_key = self._static_key()  # the layout has moved the axes: the next input finds this
            self._bg = self._keep_background(key)
            self.full_draws += 1
        else:
            canvas.restore_region(self._bg)
        renderer = canvas.get_renderer()
        for artist in self._dynamic:
            if artist.get_visible() and artist.figure is not None:
                artist.draw(renderer)
        self.image.value = _encode_png(canvas)
        self.redraws += 1
        return time.perf_counter() - t0

    def _keep_background(self, key):
        """The figure just drawn (without its animated artists), saved as the background of ``key``."""
        # each is a full RGBA bitmap of the figure (about 0.7 MB)
        return _keep(self._backgrounds, key, self._canvas.copy_from_bbox(self.figure.bbox), 8)

    def png(self) -> bytes:
        """The figure as last shown, as PNG bytes."""
        return bytes(self.image.value)

    def _repr_mimebundle_(self, **kwargs):
        data = super()._repr_mimebundle_(**kwargs)
        if isinstance(data, tuple):
            data = data[0]
        data = dict(data)
        data["text/plain"] = repr(self)
        if self.image.value:  # a static picture for viewers without a live kernel (nbviewer, GitHub)
            data["image/png"] = base64.b64encode(self.image.value).decode("ascii")
        return data

    def set(self, **values):
        """Set several controls at once, with one recompute at the end; returns the panel."""
        with self.hold():
            for k, v in values.items():
                self._set_one(k, v)
        return self

    def _set_one(self, k, v):
        if k not in self.controls:
            raise KeyError(f"no control {k!r}; the controls are {sorted(self.controls)}")
        if k == "milestones":
            v = ", ".join(str(m) for m in v)
        self.controls[k].value = v

    def recompute(self):
        raise NotImplementedError

    def _draw_and_render(self, draw, on_error):
        """(draw seconds, render seconds) of draw() then _render(); None if either raised: then the
        saved background is dropped (the figure may be half drawn) and on_error(e) shows why.
        A figure that cannot be drawn must not break the panel."""
        t0 = time.perf_counter()
        try:
            draw()
            t1 = time.perf_counter()
            return t1 - t0, self._render()
        except Exception as e:
            self._bg = None
            on_error(e)
            return None

    def _fail(self, e: Exception, where):
        """Show an exception in the HTML widget ``where`` instead of a traceback; the panel keeps working.

        Sets ``error`` (the message), ``verdict`` (what is shown) and ``result`` (None)."""
        self.error, self.verdict = _error_text(e)
        self.result = None
        where.value = _error_html(self.verdict)
        self._settle(False, self.error)

    @staticmethod
    def _draw_contour(ax, problem, old, start, star_marker):
        """Contours of a 2-D problem on ax, limits to fit, its start and minimizer on the two
        markers; ``old`` (the previous contour set, or None) is removed.  Returns the new set."""
        if old is not None:
            old.remove()
        X, Y, Z = _prob.contour_grid(problem)
        contour = ax.contour(X, Y, Z, levels=_prob.contour_levels(Z), colors="0.6", linewidths=0.7)
        ax.set_xlim(X.min(), X.max())
        ax.set_ylim(Y.min(), Y.max())
        _FigurePanel._mark(problem, start, star_marker)
        return contour

    @classmethod
    def _show_contour(cls, ax, contours, key, problem, shown, start, star_marker):
        """The contours of a 2-D problem on ax instead of ``shown`` (a contour set, or None), with the
        limits they fit and the problem's markers; computed once per ``key`` (kept in ``contours`` with
        its limits), shown again when it is chosen.  Returns the set shown."""
        if shown is not None:
            shown.set_visible(False)
        if key not in contours:
            contours[key] = (cls._draw_contour(ax, problem, None, start, star_marker), ax.get_xlim(), ax.get_ylim())
        contour, xlim, ylim = contours[key]
        contour.set_visible(True)
        ax.set_xlim(*xlim)
        ax.set_ylim(*ylim)
        cls._mark(problem, start, star_marker)
        return contour

    @staticmethod
    def _mark(problem, start, star_marker):
        """A 2-D problem's start and (where it has one) minimizer on their two markers."""
        start.set_data([problem.x0[0]], [problem.x0[1]])
        star = getattr(problem, "x_star", None)
        star_marker.set_data(([star[0]], [star[1]]) if star is not None else ([], []))


class _Pasted:
    """An axes drawn with a panel's data, over its background (a colour bar whose range follows a
    slider), whose pixels are kept per limits (a colour bar's are its range) and background: drawn
    once for each, then pasted (a colour bar's tick labels take 9 ms to draw here, a paste well
    under 1).  Animated, so the full draw leaves it out and _static_key does not depend on it."""

    def __init__(self, panel, ax):
        self.panel, self.ax, self._pixels = panel, ax, {}
        ax.set_animated(True)

    @property
    def figure(self):
        return self.ax.figure

    def get_visible(self):
        return self.ax.get_visible()

    def draw(self, renderer):
        canvas, key = self.panel._canvas, (self.ax.get_xlim(), self.ax.get_ylim(), self.panel._bg_key)
        if key in self._pixels:
            canvas.restore_region(self._pixels[key])
            return
        self.ax.draw(renderer)
        box = Bbox.intersection(self.ax.get_tightbbox(renderer).padded(2), self.figure.bbox)
        _keep(self._pixels, key, canvas.copy_from_bbox(box), 16)


# --------------------------------------------------------------------------- verification panel
class VerificationPanel(_FigurePanel):

    """An lrcourse optimizer or schedule (or a learner's subclass of one, or a learner's own
    function) against torch, live.

    ``method``: an instance (``optimizers.Adam(lr=0.05)``, ``MyAdam()``) or a class (filled in
    by ``example``); or the learner's own code with ``like=``, the lrcourse method it stands
    for (its torch class and hyperparameters; a class is filled in by ``example``):

    * a step function ``step(params, grad, state, lr, ...) -> (params, state)``, with ``init=``
      its init function ``params -> state`` (default: ``like.init``);
    * an exercise class written from scratch (``init`` and ``step`` methods);
    * a schedule function ``t -> lr`` (scalar or vectorised);
    * a ReduceLROnPlateau class written from scratch (``step(metric)``, torch's attribute names).

    A function gets, by name, the hyperparameters of ``like`` it takes (torch's names: ``lr``,
    ``betas``, ``step_size`` ...); the panel offers a control for each, and shows the others as
    fixed.  A lesson's own names are mapped to torch's with ``names=`` (``{"lr0": "lr"}``;
    ``beta1``/``beta2`` stand for ``betas``), and a step function may take its state as arrays
    (``adam_step(p, g, m, v, t, lr, ...)`` with ``names={"m": "exp_avg", "v": "exp_avg_sq",
    "t": "step"}``): see ``runs.learner_code``.  Its state (a NamedTuple or a dict) is compared field by field with torch's, by
    torch's names (``runs.StepFunction``, ``runs.ScheduleFunction``).  ``problem``: a name of ``problems.PROBLEMS`` offered by the panel
    (ill-conditioned quadratic, Rosenbrock, noisy quadratic, logistic regression) or a
    ``Problem`` instance.  ``options``: hyperparameters to override (``lr=0.1``,
    ``betas=(0.9, 0.99)``) and the settings ``device`` ("cpu"/"cuda", default: cuda when
    torch sees a GPU), ``dtype`` ("float64"/"float32"), ``noise`` (noisy quadratic),
    ``tolerance``.

    Attributes: ``method`` (as built from the controls), ``result`` (the latest
    ``runs.Comparison``, None after an error), ``verdict`` (the text shown), ``error``
    (the message shown for invalid settings, else None), ``controls`` (name -> widget),
    ``figure`` (the matplotlib Figure), ``timings`` (seconds of the last redraw).

    Example (leave the panel last in a cell to see it):
        >>> from lrcourse import optimizers
        >>> panel = VerificationPanel(optimizers.Adam, steps=20, device="cpu")
        >>> panel.method.lr, panel.result.passed          # the class's example LR, checked
        (0.05, True)
        >>> panel.set(lr=0.01, betas=(0.8, 0.99)).method.betas   # one recompute for both
        (0.8, 0.99)
    """

    _READABLE = True

    _SETTINGS = ("device", "dtype", "noise", "tolerance")

    def __init__(self, method, problem="ill-conditioned quadratic", steps=300, *, like=None, init=None,
                 names=None, **options):
        super().__init__()
        steps, renames = int(steps), names
        settings = {k: options.pop(k) for k in list(options) if k in self._SETTINGS}
        twin = example(like if like is not None else method, steps)
        names = {f.name for f in dataclasses.fields(twin) if f.init} if dataclasses.is_dataclass(twin) else set()
        unknown = set(options) - names
        if unknown:
            raise TypeError(f"unknown option(s) {sorted(unknown)} for {type(twin).__name__}; hyperparameters are "
                            f"{sorted(names)}, settings are {list(self._SETTINGS)}")
        if options:
            twin = dataclasses.replace(twin, **options)
        method = runs.learner_code(method, twin, init, renames) if like is not None else runs.learner_code(
            twin, None, init, renames)
        self.kind = _kind(method)
        self._twin = runs._twin(method)
        self._base = method
        self.method = method
        self.tolerance = settings.get("tolerance")
        self.problem, self.result = None, None
        self.verdict = ""
        self.hints = []  # (name, hint) of catalogued mistakes the method repeats (on a MISMATCH)
        self._problems, self._results = {}, {}

        # problem choices: the standard four, plus a Problem instance given by the caller
        choices = list(PANEL_PROBLEMS)
        noise = float(settings.get("noise", 1.0))
        if isinstance(problem, _prob.Problem):
            if isinstance(problem, _prob.NoisyQuadratic):
                noise = problem.noise
            key = problem.name  # a given instance replaces the standard problem of that name
            self._problems[(key, noise if key == "noisy quadratic" else None)] = problem
            if key not in choices:
                choices.append(key)
            problem = key
        if problem not in choices:
            raise ValueError(f"unknown problem {problem!r}; choose one of {choices} or pass a Problem")

        device = settings.get("device", "auto")
        available = runs.devices()
        device = available[-1] if device == "auto" else device  # cuda when there is one, as runs.pick_device
        if device not in available:
            raise ValueError(f"device {device!r} is not available here; choose one of {available} or 'auto'")

        # -- controls
        fixed = ()
        if method is not self._twin:  # a learner's function: controls for what it takes
            fixed = set(names) - set(method.takes) - ({"lr"} if self.kind == "optimizer" else set())
        self.controls = _field_controls(self._twin, steps, fixed)
        setup = {
            "problem": W.Dropdown(options=choices, value=problem, description="problem", style=_DESC, layout=_wide()),
            "noise": W.FloatSlider(value=noise, min=0.0, max=max(3.0, noise), step=0.05, description="noise level",
                                   continuous_update=False, style=_DESC, layout=_wide()),
            "steps": W.IntSlider(value=steps, min=10, max=max(1000, steps), step=10, description="steps",
                                 continuous_update=False, style=_DESC, layout=_wide()),
            "device": W.Dropdown(options=available, value=device,
                                 description="device", style=_DESC, layout=_wide()),
            "dtype": W.Dropdown(options=["float64", "float32"], value=settings.get("dtype", "float64"),
                                description="dtype", style=_DESC, layout=_wide()),
        }
        for k, w in setup.items():
            w.add_class(f"t-{k}")
        if self.kind == "schedule":  # a schedule does not train anything: no problem to pick
            setup["problem"].layout.display = "none"
        self.controls.update(setup)
        self._sync_visibility()

        # -- layout
        self._setup_figure((9.4, 3.5) if self.kind == "optimizer" else (8.6, 3.2))
        self._layout_key = None
        self.header = W.HTML()
        self.header.add_class("t-header")
        self.verdict_html = W.HTML()
        self.verdict_html.add_class("t-verdict")
        self.info = W.HTML()
        self.info.add_class("t-info")
        fields = [w for k, w in self.controls.items() if k not in setup]
        half = (len(fields) + 1) // 2
        grid = _columns(W.VBox(self._beside(fields[:half])), W.VBox(self._beside(fields[half:])))
        setup["noise"].rule = _at_least(0, "the noise level is a standard deviation")
        setup["steps"].rule = _at_least(1, "a run needs updates")
        setup_box = _columns(W.VBox(self._beside([setup["problem"], setup["noise"], setup["steps"]])),
                             W.VBox([setup["device"], setup["dtype"]]))
        self.children = [self.header, grid, setup_box, self.verdict_html, self.stale_html, self.image, self.info]
        self.add_class("lrcourse-verification")
        self._watch(self.controls.values())
        self.recompute()

    def __repr__(self):
        return (f"VerificationPanel({runs.method_name(self._base)}, problem={self.controls['problem'].value!r}, "
                f"steps={self.controls['steps'].value})")

    # -- programmatic control
    def _set_one(self, k, v):
        # e.g. panel.set(lr=0.1, betas=(0.9, 0.99))
        control = self.controls.get(k)
        if k == "betas" and "beta1" in self.controls:
            self.controls["beta1"].value, self.controls["beta2"].value = v
        elif isinstance(control, W.HTML):
            raise KeyError(f"{k} is shown but not editable in the panel; build a new {type(self._twin).__name__}")
        elif isinstance(control, _Literal):
            control.value = repr(v)
        else:
            super()._set_one(k, v)

    # -- building blocks
    def _sync_visibility(self):
        noisy = self.controls["problem"].value == "noisy quadratic" and self.kind != "schedule"
        self.controls["noise"].layout.display = None if noisy else "none"

    def _build_method(self):
        changes = {}
        for f in dataclasses.fields(self._twin):
            if not f.init:
                continue
            if f.name == "betas":  # no sliders when the learner's function does not take betas
                if "beta1" in self.controls:
                    changes["betas"] = (float(self.controls["beta1"].value), float(self.controls["beta2"].value))
                continue
            w = self.controls.get(f.name)
            if w is None or isinstance(w, W.HTML):
                continue
            changes[f.name] = _read(w)
        twin = dataclasses.replace(self._twin, **changes)
        return twin if self._base is self._twin else self._base.with_like(twin)

    def _build_problem(self, name=None):
        name = self.controls["problem"].value if name is None else name
        noise = float(self.controls["noise"].value) if name == "noisy quadratic" else None
        key = (name, noise)
        if key not in self._problems:
            self._problems[key] = _prob.make_problem(name, noise=noise) if noise is not None else _prob.make_problem(name)
        return self._problems[key]

    def _describe(self, torch_ok: bool, device: str, dtype: str) -> str:
        own = type(self._base)
        lib = _library_name(self._base)
        module = "optimizers" if self.kind == "optimizer" else "schedules"
        if self._base is not self._twin:
            who = (f"your <code>{html.escape(runs.method_name(self._base))}</code> (standing for "
                   f"<code>lrcourse.{module}.{lib}</code>)")
        elif own.__name__ != lib or own.__module__ != f"lrcourse.{module}":
            who = f"your <code>{own.__name__}</code> (a subclass of <code>lrcourse.{module}.{lib}</code>)"
        else:
            who = f"<code>lrcourse.{module}.{lib}</code>"
        if not torch_ok:
            return f"{who} — torch is not installed: NumPy curves only, nothing to compare against"
        twin = "torch.optim." + lib if self.kind == "optimizer" else "torch.optim.lr_scheduler." + lib
        where = f"{device}/{dtype}"
        if self.kind != "optimizer":
            where += " (LRs are host floats)"
        gpu = "" if "cuda" in runs.devices() else " — no CUDA GPU seen by torch, so CPU only"
        return f"{who} against <code>{twin}</code> (torch {_torch_version()}) on {where}{gpu}"

    # -- the work
    def recompute(self):
        with self._lock:
            t0 = time.perf_counter()
            self._sync_visibility()
            c = self.controls
            steps, device, dtype = int(c["steps"].value), c["device"].value, c["dtype"].value
            torch_ok = runs.torch_available()
            try:
                method = self._build_method()
                problem = self._build_problem() if self.kind != "schedule" else None
                result = self._compare(method, problem, steps, device, dtype, torch_ok)
            except Exception as e:  # shown in the panel; the panel keeps working
                self._show_error(e, torch_ok, device, dtype)
                return
            self.hints = _known_mistakes(method, problem, dtype) if torch_ok and not result.passed and \
                self.kind == "optimizer" else []
            t1 = time.perf_counter()
            self.method, self.problem, self.result, self.error = method, problem, result, None
            self.verdict = result.verdict

            def failed(e):
                self._layout_key = None  # lay the figure out afresh next time
                self._show_error(e, torch_ok, device, dtype)

            shown = self._draw_and_render(lambda: self._draw(result, problem), failed)
            if shown is None:
                return
            self._show_verdict(torch_ok, device, dtype)
            self._settle(True)
            self.timings = {"compute": t1 - t0, "draw": shown[0], "render": shown[1],
                            "total": time.perf_counter() - t0}

    def _compare(self, method, problem, steps, device, dtype, torch_ok, shown=True):
        """runs.compare (or numpy_only without torch); a comparison of settings seen before is reused
        (a checkbox switched back, a problem chosen again), and a new number of steps of an optimizer
        goes on from (or cuts) the comparison of the same settings (``compare(resume=)``).  A learner's
        code (a subclass, a function) is always run again: it may have changed since.
        ``shown=False``: a piece of work ahead (_ahead), kept only to go on from."""
        key = self._key(method, problem, device, dtype, torch_ok)
        if key is not None and (key, steps) in self._results:
            return self._results[key, steps]
        earlier = self._results.get(key) if torch_ok and self.kind == "optimizer" else None
        with np.errstate(all="ignore"):
            if torch_ok:
                result = runs.compare(method, problem, steps, device=device, dtype=dtype, tolerance=self.tolerance,
                                      resume=earlier)
            else:
                result = runs.numpy_only(method, problem, steps, dtype=dtype)
        if key is not None:  # [key, steps]: to show again; [key]: the last one, to go on from
            if shown:
                self._results[key, steps] = result
            _keep(self._results, key, result, 32)
        return result

    def _key(self, method, problem, device, dtype, torch_ok):
        """The cache key of a comparison; None for a learner's code (it may change between runs)."""
        if not type(method).__module__.startswith("lrcourse.") or isinstance(method, runs._LEARNER_CODE):
            return None
        key = (method, id(problem), device, dtype, self.tolerance, torch_ok)
        try:
            hash(key)
        except TypeError:
            return None
        return key

    AHEAD_UPDATES = 10  # updates per piece of work ahead: 1-3 ms, the most a new value waits for it

    def _ahead(self):
        """After a value from the browser is shown (and AHEAD_AFTER seconds with no new one): the same
        comparison on each of the panel's other problems, AHEAD_UPDATES updates at a time
        (``compare(resume=)``); then, after DRAW_AHEAD_AFTER seconds more with no new value, the
        background each will be drawn on (_draw_ahead).  Choosing another problem then costs only its
        lines: Adam's 300 updates (35-40 ms) and a full draw (120-220 ms in the kernel under JupyterLab)
        less.  Values set from code start none of it (a notebook run under test pays nothing for it)."""
        c = self.controls
        if self.kind != "optimizer" or self.result is None or self.error is not None or not runs.torch_available():
            return
        method, steps, device, dtype = self.method, int(c["steps"].value), c["device"].value, c["dtype"].value
        others = []
        for name in c["problem"].options:
            if name == c["problem"].value:
                continue
            with self._lock:
                problem = self._build_problem(name)
            key = self._key(method, problem, device, dtype, True)
            if key is None:
                return
            while (key, steps) not in self._results:
                yield
                with self._lock:
                    done = self._results[key].steps if key in self._results else 0
                    n = steps if done >= steps else min(steps, done + self.AHEAD_UPDATES)
                    self._compare(method, problem, n, device, dtype, True, shown=n == steps)
            others.append((problem, key))
        yield from self._when_quiet([functools.partial(self._draw_ahead, problem, key, steps) for problem, key in others])

    def _draw_ahead(self, problem, key, steps):
        """Draw now (idle time) the background that showing the comparison (key, steps) on ``problem`` will
        need (axes, ticks, contours: the full draw of a first visit to a problem), keep it with the others,
        and put the figure back as it is shown; nothing is sent.  The loss limits that this first look at
        ``problem`` keeps (sticky, see _draw) are dropped again, so that what a later input shows never
        depends on whether this ran; a visit with the same comparison finds the same background."""
        r = self._results.get((key, steps))
        if r is None or self._bg is None or self.result is None or self.error is not None or problem is self.problem:
            return
        a = self._artists
        kept = {name: dict(a[name]) for name in ("curve_lims", "traj_lims")}

        def put_back():
            for name, limits in kept.items():
                a[name].clear()
                a[name].update(limits)
            self._draw(self.result, self.problem)

        self._background_ahead(lambda: self._draw(r, problem), put_back)

    def _show_error(self, e, torch_ok, device, dtype):
        self._fail(e, self.verdict_html)
        self.header.value = f"<b>{html.escape(runs.method_name(self._base))}</b>: " + self._describe(torch_ok, device, dtype)
        self.verdict_html.value += ("<div style='color:#555'>Change a control to fix it; the figure shows the last "
                                    "valid settings.</div>")

    def _show_verdict(self, torch_ok, device, dtype):
        ok = self.result.passed if torch_ok else None
        color = "#070" if ok else ("#a00" if ok is False else "#555")
        self.header.value = f"<b>{html.escape(runs.method_name(self._base))}</b>: " + self._describe(torch_ok, device, dtype)
        self.verdict_html.value = f"<div style='color:{color};font-weight:bold'>{html.escape(self.verdict)}</div>"
        extra = ""
        if self.result is not None and self.kind == "optimizer" and torch_ok:
            extra = (f"Beside the verdict: run on its own for the whole run, the NumPy side ends up at most "
                     f"{self.result.trajectory_error:.1e} of the parameter scale from torch's run (not part of the "
                     f"verdict: on a chaotic problem a difference of one rounding grows step after step). ")
        if self.result is not None and self.result.first_failure is not None:
            step, field, err = self.result.first_failure
            what = "the parameters" if field == "params" else f"the state field <code>{html.escape(field)}</code> (torch's name)"
            by = (f"differs from torch's by {err:.1e} (relative), above the tolerance {self.result.tolerance:.0e}"
                  if math.isfinite(err) else "is missing or not a finite number where torch has one")
            extra = (f"First difference: update {step} (counting from 0), in {what}: started from torch's parameters "
                     f"and state before that update, with the same gradient, it {by}; every update before it "
                     f"matched. ") + extra
            known = "".join(f"Your code takes the same steps as a known mistake, <b>{html.escape(name)}</b>: "
                            f"{html.escape(hint)}. " for name, hint in self.hints)
            extra = known + extra
        self.info.value = f"<span style='color:#555;font-size:90%'>{extra}</span>"

    # -- drawing (artists are made once per layout and updated with set_data)
    def _layout(self, problem):
        # An optimizer's panel always has three axes: the path of the first two weights (over the
        # contours of a 2-D problem) beside the loss and the errors. The layout does not change with
        # the problem, so a new problem needs no new layout (a constrained layout: 150-250 ms here)
        # and the figure does not jump.
        key = self.kind
        if key == self._layout_key:
            return
        self._layout_key = key
        if self.figure.axes:  # laid out afresh after a failed draw
            self.figure = Figure(figsize=self.figure.get_size_inches(), dpi=DPI)
            self._canvas = FigureCanvasAgg(self.figure)
            self._laid_out = None
        fig = self.figure
        self._dynamic, self._bg, self._bg_key, self._backgrounds = [], None, None, {}
        a = self._artists = {"curve_lims": {}}  # curve_lims: problem -> its loss limits (see _draw)
        n = 3 if self.kind == "optimizer" else 2
        axes = fig.subplots(1, n, gridspec_kw={"width_ratios": [1.0, 1.3, 1.3][-n:]})
        if self.kind == "optimizer":
            ax = a["traj_ax"] = axes[0]
            a["traj_title"] = ax.set_title("trajectory", fontsize=10, y=1.0, pad=4)
            a["contour"], a["contour_key"], a["contours"], a["traj_lims"] = None, None, {}, {}
            (a["start"],) = ax.plot([], [], "o", color="k", ms=4)
            (a["star"],) = ax.plot([], [], "*", color="gold", mec="k", ms=10)
            (a["np_traj"],) = ax.plot([], [], "-", color=NUMPY_C, lw=1.8)
            (a["t_traj"],) = ax.plot([], [], "--", color=TORCH_C, lw=1.2)
            self._dyn(a["np_traj"]), self._dyn(a["t_traj"])
        cax, eax = axes[-2], axes[-1]
        a["curve_ax"], a["err_ax"] = cax, eax
        cax.set_ylabel("loss" if self.kind == "optimizer" else "learning rate")
        cax.set_xlabel("epoch (one metric each)" if self.kind == "plateau" else "step")
        (a["np_curve"],) = cax.plot([], [], "-", color=NUMPY_C, lw=2.2)
        (a["t_curve"],) = cax.plot([], [], "--", color=TORCH_C, lw=1.3)
        self._dyn(a["np_curve"]), self._dyn(a["t_curve"])
        # one legend above the axes (see _draw), out of the data's way: lines are drawn over the background
        if self.kind in ("optimizer", "plateau"):  # a plateau's cuts are factors: each one a step on a log axis
            _set_scale(cax, "y", "log")
        eax.set_xlabel("step" if self.kind != "plateau" else "epoch")
        _set_scale(eax, "y", "log")
        eax.set_ylabel("rel. error per step\n(0 drawn at 1e-17)")
        a["tol"] = self._dyn(eax.axhline(1e-12, color="k", ls=":", lw=1.2))
        a["err_lines"], a["legend_key"] = [], None
        a["no_ref"] = self._dyn(eax.text(0.5, 0.5, "", transform=eax.transAxes, ha="center", va="center",
                                         fontsize=9, color="#555"))
        for ax in fig.axes:  # the panel sets every limit itself
            ax.set_autoscale_on(False)

    def _static_extra(self):
        a = getattr(self, "_artists", {})
        return (a.get("contour_key"), a.get("legend_key"))

    def _layout_id(self):
        return (self._layout_key, getattr(self, "_artists", {}).get("legend_key"))

    def _draw(self, r, problem):
        self._layout(problem)
        a = self._artists
        n = len(r.numpy_curve) if r.numpy_curve is not None else 0
        steps = np.arange(n)
        # curves
        a["np_curve"].set_data(steps, r.numpy_curve)
        has_ref = r.torch_curve is not None
        a["t_curve"].set_data((steps, r.torch_curve) if has_ref else ([], []))
        cax = a["curve_ax"]
        _sticky_right(cax, n - 1)
        log = cax.get_yscale() == "log"
        # Each problem keeps its own loss limits: going back to one shows the axes it had, whose
        # saved background is then reused (_render) instead of drawn again.  A plateau's LRs share
        # one axis, kept while every problem's LRs fit in it (from the start LR down to the cuts).
        lims, which = a["curve_lims"], id(problem) if self.kind == "optimizer" else None
        lim = _sticky_limits(lims.get(which), [r.numpy_curve, r.torch_curve] if log else
                             [r.numpy_curve, r.torch_curve, [0.0]], log=log, slack=3.0 if which else 20.0)
        if lim:
            lims[which] = lim
            cax.set_ylim(*lim)
        # trajectory
        if "traj_ax" in a:
            self._draw_trajectory(r, problem)
        # errors
        eax = a["err_ax"]
        fields = list(r.errors)
        while len(a["err_lines"]) < len(fields):
            (line,) = eax.plot([], [], lw=1.3, color=f"C{len(a['err_lines']) % 10}")
            a["err_lines"].append(self._dyn(line))
        for i, line in enumerate(a["err_lines"]):
            if i < len(fields):
                e = np.asarray(r.errors[fields[i]], dtype=np.float64)
                line.set_data(np.arange(len(e)), np.where(e > _FLOOR, e, _FLOOR))
                line.set_visible(True)
            else:
                line.set_visible(False)
        a["tol"].set_ydata([r.tolerance, r.tolerance] if has_ref else [np.nan, np.nan])
        _sticky_right(eax, r.steps - 1)
        worst = _finite(list(r.errors.values()), log=True)
        top = max(r.tolerance * 1e3, float(worst.max()) * 10 if worst.size else 0.0)
        eax.set_ylim(_FLOOR / 3, 10.0 ** math.ceil(math.log10(top)))
        a["no_ref"].set_text("" if has_ref else "no reference to compare with\n(torch is not installed)")
        legend_key = (tuple(fields), has_ref)  # the tolerance's value is in the verdict: a dtype keeps the legend
        if legend_key != a["legend_key"]:
            for old in list(self.figure.legends):
                old.remove()
            handles = [_proxy(color=NUMPY_C, lw=2.2, label="lrcourse (NumPy)"),
                       _proxy(color=TORCH_C, lw=1.3, ls="--", label="torch")]
            handles += [_proxy(color=f"C{i % 10}", lw=1.3, label=f"error: {f}") for i, f in enumerate(fields)]
            if has_ref:
                handles.append(_proxy(color="k", ls=":", lw=1.2, label="tolerance"))
            self.figure.legend(handles=handles, **_top(len(handles)))
            a["legend_key"] = legend_key

    def _draw_trajectory(self, r, problem):
        a = self._artists
        ax = a["traj_ax"]
        key = id(problem)  # the panel keeps its problems (_build_problem): an id stands for one
        dim = problem.dim
        if a["contour_key"] != key:
            if dim == 2:
                a["contour"] = self._show_contour(ax, a["contours"], key, problem, a["contour"], a["start"], a["star"])
            else:
                if a["contour"] is not None:
                    a["contour"].set_visible(False)
                a["contour"] = None
                if dim > 2:
                    self._mark(problem, a["start"], a["star"])
                else:
                    a["start"].set_data([], []), a["star"].set_data([], [])
            a["traj_title"].set_text("trajectory" if dim == 2 else
                                     f"weights 1 and 2 (of {dim})" if dim > 2 else "one weight: no path to draw")
            a["contour_key"] = key
        if dim > 2:  # no contours to fit: limits that hold the path, per problem, kept while they fit
            paths = [p for p in (r.numpy_params, r.torch_params) if p is not None]
            old = a["traj_lims"].get(key, (None, None))
            lims = [_sticky_limits(old[i], [np.append(p[:, i], problem.x0[i]) for p in paths]) for i in (0, 1)]
            if all(lims):
                a["traj_lims"][key] = lims
                ax.set_xlim(*lims[0])
                ax.set_ylim(*lims[1])
        for line, p in zip((a["np_traj"], a["t_traj"]), (r.numpy_params, r.torch_params)):
            line.set_data((p[:, 0], p[:, 1]) if p is not None and dim >= 2 else ([], []))


def _known_mistakes(method, problem, dtype) -> list:
    """(name, hint) of the grader's catalogued mistakes (``grading.questions``) for the method's torch
    class whose steps the method takes (``runs.same_steps``), in catalogue order."""
    # imported here: only a MISMATCH needs the catalogue, and it adds 24 ms to every panel's import
    from .grading import questions as grading_questions

    twin = runs._twin(method)
    lib = runs.torch_class_name(twin)
    found, seen = [], set()
    for stem_questions in grading_questions.QUESTIONS.values():
        for q in stem_questions:
            if q.kind != "optimizer" or getattr(q.reference, "__name__", None) != lib:
                continue
            for m in q.mistakes:
                if m.name in seen or not (isinstance(m.impl, type) and issubclass(m.impl, _opt.Optimizer)):
                    continue
                seen.add(m.name)
                try:
                    if runs.same_steps(method, m.impl(**twin.hyperparameters()), problem, dtype=dtype):
                        found.append((m.name, m.hint))
                except Exception:  # noqa: BLE001, S112 — a mistake that cannot take these settings says nothing
                    continue
    return found


# --------------------------------------------------------------------------- schedule composer
class ScheduleComposer(_FigurePanel):

    """Warm-up + decay (+ cosine restarts) as an lrcourse ``SequentialLR``, checked against torch.

    ``.schedule`` is the lrcourse schedule, ``.result`` the ``runs.Comparison`` of its LRs with
    torch's, ``.verdict`` the text shown, ``.code()`` the torch code that builds the same
    scheduler (paste it into a training script).

    Example:
        >>> composer = ScheduleComposer(steps=50, warmup_steps=5)
        >>> composer.result.passed, [type(s).__name__ for s in composer.schedule.schedulers]
        (True, ['LinearLR', 'CosineAnnealingLR'])
    """

    _READABLE = True

    WARMUPS = ("none", "linear", "constant")
    _STALE = "the figure and the torch code below show the last valid settings"
    _CODE_HEAD = "<div style='color:#555'>The same schedule in torch:</div>"
    _STALE_HEAD = ("<div style='color:#a00'><b>STALE</b> — this code builds the last valid schedule, not what "
                   "the controls now say:</div>")
    DECAYS = ("step", "multistep", "exponential", "cosine", "constant")

    def __init__(self, lr=0.1, steps=300, warmup="linear", warmup_steps=20, start_factor=0.1, decay="cosine",
                 restarts=False):
        super().__init__()
        steps = int(steps)
        d = lambda name: dict(description=name, style=_DESC, layout=_wide())  # noqa: E731
        self.controls = c = {
            "lr": W.FloatLogSlider(value=lr, base=10, min=-5, max=1, step=0.05, readout_format=".3g",
                                   continuous_update=False, **d("base lr")),
            "steps": W.IntSlider(value=steps, min=10, max=max(1000, steps), step=10, continuous_update=False,
                                 **d("steps")),
            "warmup": W.Dropdown(options=list(self.WARMUPS), value=warmup, **d("warm-up")),
            "warmup_steps": W.IntSlider(value=warmup_steps, min=0, max=max(200, warmup_steps), continuous_update=False,
                                        **d("warm-up steps")),
            "start_factor": W.FloatSlider(value=start_factor, min=0.0, max=1.0, step=0.01, continuous_update=False,
                                          readout_format=".2f", **d("start factor")),
            "decay": W.Dropdown(options=list(self.DECAYS), value=decay, **d("decay")),
            "step_size": W.IntSlider(value=max(steps // 4, 1), min=0, max=max(1000, steps), continuous_update=False,
                                     **d("step_size")),
            "milestones": _IntList("milestones", (steps // 2, 3 * steps // 4)),
            "gamma": W.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.01, continuous_update=False,
                                   readout_format=".2f", **d("gamma")),
            "exp_gamma": W.FloatSlider(value=0.99, min=0.9, max=1.0, step=0.0005, continuous_update=False,
                                       readout_format=".4f", **d("gamma (exp.)")),
            "auto_T_max": W.Checkbox(value=True, **d("T_max = rest of the run")),
            "T_max": W.IntSlider(value=max(steps - warmup_steps, 1), min=0, max=max(2000, steps),
                                 continuous_update=False, **d("T_max / T_0")),
            "eta_min": _LogOrZero("eta_min", 0.0, -8, 0),
            "restarts": W.Checkbox(value=bool(restarts),
                                   **d("warm restarts (SGDR)")),
            "T_mult": W.IntSlider(value=1, min=1, max=4, continuous_update=False, **d("T_mult")),
        }
        c["milestones"].description = "milestones"
        # sliders offer only what the schedules they feed accept (torch's rules)
        probes = {"warmup_steps": lambda v: _sch.LinearLR(1.0, total_iters=v),
                  "start_factor": lambda v: (_sch.LinearLR(1.0, start_factor=v), _sch.ConstantLR(1.0, factor=v)),
                  "step_size": lambda v: _sch.StepLR(1.0, step_size=v), "gamma": lambda v: _sch.StepLR(1.0, 1, v),
                  "exp_gamma": lambda v: _sch.ExponentialLR(1.0, gamma=v),
                  "T_max": lambda v: (_sch.CosineAnnealingLR(1.0, T_max=v), _sch.CosineAnnealingWarmRestarts(1.0, T_0=v))}
        for k, probe in probes.items():
            c[k].rule = _torch_rule(probe)
            _offer_only_valid(c[k], lambda v, probe=probe: _builds(probe, v))
        c["lr"].rule = _torch_rule(lambda v: _opt.SGD(lr=v))
        c["steps"].rule = _at_least(1, "a run needs updates")
        for k, w in c.items():
            w.add_class(f"t-{k}")
        self._setup_figure((8.6, 3.2))
        self.schedule, self.result, self.verdict = None, None, ""
        self.verdict_html = W.HTML()
        self.verdict_html.add_class("t-verdict")
        self.code_html = W.HTML()
        self.code_html.add_class("t-code")
        left = W.VBox(self._beside([c[k] for k in ("lr", "steps", "warmup", "warmup_steps", "start_factor")]))
        right = W.VBox(self._beside([c[k] for k in ("decay", "step_size", "milestones", "gamma", "exp_gamma",
                                                    "auto_T_max", "T_max", "eta_min", "restarts", "T_mult")]))
        self.header = W.HTML("<b>Schedule composer</b>: warm-up, then decay, as one SequentialLR")
        self.children = [self.header, _columns(left, right), self.verdict_html, self.stale_html, self.image,
                         self.code_html]
        self.add_class("lrcourse-composer")
        self._build_axes()
        self._watch(c.values())
        self.recompute()

    def __repr__(self):
        return (f"ScheduleComposer(warmup={self.controls['warmup'].value!r}, decay={self.controls['decay'].value!r}, "
                f"steps={self.controls['steps'].value})")

    def _parts(self):
        """(warm-up or None, its length, decay) as lrcourse schedules; ValueError if invalid.

        Numbers are taken as their readouts show them (``_as_shown``): the schedule checked,
        plotted and printed as torch code is the one the learner reads off the controls."""
        c = self.controls
        lr, steps, n = _as_shown(c["lr"]), int(c["steps"].value), int(c["warmup_steps"].value)
        kind, decay = c["warmup"].value, c["decay"].value
        warm = None
        if kind == "linear":
            warm = _sch.LinearLR(lr, start_factor=_as_shown(c["start_factor"]), end_factor=1.0, total_iters=n)
        elif kind == "constant":
            warm = _sch.ConstantLR(lr, factor=_as_shown(c["start_factor"]), total_iters=n)
        rest = steps - (n if warm is not None else 0)
        T = max(rest, 1) if c["auto_T_max"].value else int(c["T_max"].value)
        eta_min = _as_shown(c["eta_min"])
        if decay == "step":
            body = _sch.StepLR(lr, step_size=int(c["step_size"].value), gamma=_as_shown(c["gamma"]))
        elif decay == "multistep":
            body = _sch.MultiStepLR(lr, milestones=c["milestones"].parsed, gamma=_as_shown(c["gamma"]))
        elif decay == "exponential":
            body = _sch.ExponentialLR(lr, gamma=_as_shown(c["exp_gamma"]))
        elif decay == "cosine" and c["restarts"].value:
            body = _sch.CosineAnnealingWarmRestarts(lr, T_0=T, T_mult=int(c["T_mult"].value), eta_min=eta_min)
        elif decay == "cosine":
            body = _sch.CosineAnnealingLR(lr, T_max=T, eta_min=eta_min)
        else:
            body = _sch.ConstantLR(lr, factor=1.0, total_iters=0)
        return warm, n, body

    def _sync_visibility(self):
        c = self.controls
        decay, warm = c["decay"].value, c["warmup"].value
        show = {
            "warmup_steps": warm != "none", "start_factor": warm != "none",
            "step_size": decay == "step", "milestones": decay == "multistep",
            "gamma": decay in ("step", "multistep"), "exp_gamma": decay == "exponential",
            "auto_T_max": decay == "cosine", "T_max": decay == "cosine" and not c["auto_T_max"].value,
            "eta_min": decay == "cosine", "restarts": decay == "cosine",
            "T_mult": decay == "cosine" and c["restarts"].value,
        }
        for k, visible in show.items():
            c[k].layout.display = None if visible else "none"

    def build(self):
        """The lrcourse SequentialLR the controls describe (ValueError if they are invalid)."""
        warm, n, body = self._parts()
        if warm is None:
            return _sch.SequentialLR(schedulers=(body,), milestones=())
        return _sch.SequentialLR(schedulers=(warm, body), milestones=(n,))

    def code(self) -> str:
        """torch code that builds the same scheduler; paste it into a training script."""
        warm, n, body = self._parts()
        parts = [body] if warm is None else [warm, body]
        names = sorted({_library_name(s) for s in parts} | ({"SequentialLR"} if warm is not None else set()))

        def ctor(s):
            kw = ", ".join(f"{k}={v!r}" for k, v in _torch_kwargs(s).items())
            return f"{_library_name(s)}(optimizer, {kw})"

        lines = ["import torch", f"from torch.optim.lr_scheduler import {', '.join(names)}", "",
                 "model = torch.nn.Linear(10, 1)  # stands in for your model",
                 f"optimizer = torch.optim.SGD(model.parameters(), lr={_as_shown(self.controls['lr'])!r})"]
        if warm is None:
            lines.append(f"scheduler = {ctor(body)}")
        else:
            lines += ["scheduler = SequentialLR(", "    optimizer,", "    schedulers=[",
                      f"        {ctor(warm)},", f"        {ctor(body)},", "    ],", f"    milestones=[{n}],", ")"]
        lines += ["# in the training loop, once per update, after optimizer.step():", "#     scheduler.step()"]
        return "\n".join(lines) + "\n"

    def _build_axes(self):
        fig = self.figure
        ax, eax = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.6, 1.0]})
        ax.set_ylabel("learning rate")
        ax.set_xlabel("update t")
        self._milestone = self._dyn(ax.axvline(np.nan, color="0.5", ls=":", lw=1))
        (self._np_line,) = ax.plot([], [], "-", color=NUMPY_C, lw=2.2)
        (self._t_line,) = ax.plot([], [], "--", color=TORCH_C, lw=1.3)
        self._dyn(self._np_line), self._dyn(self._t_line)
        fig.legend(handles=[_proxy(color=NUMPY_C, lw=2.2, label="lrcourse SequentialLR"),
                            _proxy(color=TORCH_C, lw=1.3, ls="--", label="torch (the code below)"),
                            _proxy(color="0.5", lw=1, ls=":", label="milestone")], **_top(3))
        eax.set_title("|lrcourse − torch| / lr", fontsize=10, y=1.0, pad=4)
        eax.set_xlabel("update t")
        _set_scale(eax, "y", "log")
        (self._err_line,) = eax.plot([], [], color="C2", lw=1.2)
        self._dyn(self._err_line)
        self._tol = self._dyn(eax.axhline(1e-12, color="k", ls=":", lw=1.2))
        eax.set_ylabel("rel. error\n(0 drawn at 1e-17)")
        self._ax, self._eax, self._lr_lim = ax, eax, None
        for ax in fig.axes:
            ax.set_autoscale_on(False)

    def recompute(self):
        with self._lock:
            t0 = time.perf_counter()
            self._sync_visibility()
            steps = int(self.controls["steps"].value)
            torch_ok = runs.torch_available()
            try:
                sched = self.build()
                code = self.code()
                result = runs.compare(sched, steps=steps, device="cpu") if torch_ok else runs.numpy_only(sched, None, steps)
            except Exception as e:
                self._refuse(e)
                return
            t1 = time.perf_counter()
            self.schedule, self.result, self.error, self.verdict = sched, result, None, result.verdict
            shown = self._draw_and_render(lambda: self._draw(sched, result, steps), self._refuse)
            if shown is None:
                return
            color = "#070" if getattr(result, "passed", False) else ("#a00" if torch_ok else "#555")
            twin = "torch.optim.lr_scheduler" if torch_ok else "nothing (torch is not installed)"
            self.verdict_html.value = (f"<div style='color:{color};font-weight:bold'>{html.escape(self.verdict)}</div>"
                                       f"<div style='color:#555'>lrcourse {html.escape(_short(sched))} against "
                                       f"{twin}</div>")
            self.code_html.value = (self._CODE_HEAD +
                                    f"<pre style='font-size:85%;line-height:1.25'>{html.escape(code)}</pre>")
            self._settle(True)
            self.timings = {"compute": t1 - t0, "draw": shown[0], "render": shown[1],
                            "total": time.perf_counter() - t0}

    def _refuse(self, e):
        self._fail(e, self.verdict_html)
        self.code_html.value = self.code_html.value.replace(self._CODE_HEAD, self._STALE_HEAD)

    def _draw(self, sched, result, steps):
        x = np.arange(steps)
        self._np_line.set_data(x, result.numpy_curve)
        self._t_line.set_data((x, result.torch_curve) if result.torch_curve is not None else ([], []))
        ms = sched.milestones
        self._milestone.set_xdata([ms[0], ms[0]] if ms else [np.nan, np.nan])
        _sticky_right(self._ax, steps - 1)
        lim = _sticky_limits(self._lr_lim, [result.numpy_curve, result.torch_curve, [0.0]])
        if lim:
            self._lr_lim = lim
            self._ax.set_ylim(*lim)
        if result.errors:
            e = np.asarray(result.errors["lr"], dtype=np.float64)
            self._err_line.set_data(x, np.where(e > _FLOOR, e, _FLOOR))
            self._tol.set_ydata([result.tolerance] * 2)
            worst = _finite([e], log=True)
            top = max(result.tolerance * 1e3, float(worst.max()) * 10 if worst.size else 0.0)
        else:
            self._err_line.set_data([], [])
            self._tol.set_ydata([np.nan] * 2)
            top = 1e-9
        _sticky_right(self._eax, steps - 1)
        self._eax.set_ylim(_FLOOR / 3, 10.0 ** math.ceil(math.log10(top)))


def _as_shown(w) -> float:
    """A slider's number as its readout shows it (0.0891, not 0.08912509381337468)."""
    if isinstance(w, _LogOrZero):
        return _as_shown(w.slider) if w.value > 0 else 0.0
    v = float(w.value)
    fmt = getattr(w, "readout_format", None)
    return float(format(v, fmt)) if fmt and v != 0 and math.isfinite(v) else v


def _torch_kwargs(s) -> dict:
    """Keyword arguments of the torch scheduler a closed-form lrcourse schedule stands for."""
    kw = s.torch_kwargs()
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in kw.items()}


def _short(sched) -> str:
    if isinstance(sched, _sch.SequentialLR):
        inner = ", ".join(_library_name(s) for s in sched.schedulers)
        return f"SequentialLR([{inner}], milestones={list(sched.milestones)})"
    return _library_name(sched)


# --------------------------------------------------------------------------- optimizer playground
def _default_racers():
    """The playground's default field, each at its class's example LR."""
    sgd = _opt.SGD.example()
    return {"SGD": sgd, "SGD + momentum 0.9": dataclasses.replace(sgd, momentum=0.9),
            "RMSprop": _opt.RMSprop.example(), "Adagrad": _opt.Adagrad.example(), "Adam": _opt.Adam.example()}


def _label(opt) -> str:
    defaults = type(opt)(**{"lr": opt.lr}) if "lr" in {f.name for f in dataclasses.fields(opt)} else None
    extra = []
    for f in dataclasses.fields(opt):
        if f.init and f.name != "lr" and defaults is not None and getattr(opt, f.name) != getattr(defaults, f.name):
            extra.append(f"{f.name}={getattr(opt, f.name)!r}")
    return type(opt).__name__ + (f"({', '.join(extra)})" if extra else "")


def _rows(values, size) -> np.ndarray:
    """Per-update values (a scalar or an array each) as a (len(values), size) array, broadcast."""
    if len({np.shape(v) for v in values}) == 1:  # one shape: one array, broadcast once
        return np.broadcast_to(np.array(values, dtype=np.float64).reshape(len(values), -1), (len(values), size))
    return np.array([np.broadcast_to(v, (size,)) for v in values], dtype=np.float64).reshape(len(values), size)


class OptimizerPlayground(_FigurePanel):

    """Several optimizers racing on a 2-D surface, NumPy only (``runs.run``).

    ``optimizers``: a list of lrcourse optimizers or a dict label -> optimizer (default: SGD,
    SGD with momentum, RMSprop, Adagrad, Adam).  ``problem``: "ill-conditioned quadratic",
    "Rosenbrock" or "saddle".  Gradient noise is ``problems.Noisy`` (seeded per step, the same
    for every optimizer).  Attributes: ``histories`` (label -> ``runs.History``),
    ``effective_lrs`` (label -> (steps, 2) array from ``runs.effective_lr``), ``controls``
    (``"problem"``, ``"noise"``, ``"steps"``, and ``"lr:<label>"`` per optimizer).

    Example:
        >>> race = OptimizerPlayground(problem="ill-conditioned quadratic", steps=30)
        >>> list(race.histories), race.effective_lrs["Adam"].shape
        (['SGD', 'SGD + momentum 0.9', 'RMSprop', 'Adagrad', 'Adam'], (30, 2))
    """

    _READABLE = True

    def __init__(self, optimizers=None, problem="Rosenbrock", steps=300, noise=0.0):
        super().__init__()
        if optimizers is None:
            racers = _default_racers()
        elif isinstance(optimizers, dict):
            racers = dict(optimizers)
        else:
            racers = {}
            for o in optimizers:
                o = example(o)
                label = _label(o)
                while label in racers:
                    label += "'"
                racers[label] = o
        for label, o in racers.items():
            if not isinstance(o, _opt.Optimizer):
                raise TypeError(f"{label}: the playground races lrcourse optimizers, got {type(o).__name__}")
        if problem not in SURFACES:
            raise ValueError(f"unknown surface {problem!r}; choose one of {list(SURFACES)}")
        self.racers = racers
        d = lambda name: dict(description=name, style=_DESC, layout=_wide())  # noqa: E731
        self.controls = {
            "problem": W.Dropdown(options=list(SURFACES), value=problem, **d("surface")),
            "noise": W.FloatSlider(value=float(noise), min=0.0, max=max(5.0, noise), step=0.05, continuous_update=False,
                                   **d("gradient noise")),
            "steps": W.IntSlider(value=int(steps), min=10, max=max(1000, steps), step=10, continuous_update=False,
                                 **d("steps")),
        }
        for label, o in racers.items():
            dec = math.log10(o.lr) if o.lr > 0 else -3
            self.controls[f"lr:{label}"] = W.FloatLogSlider(
                value=o.lr if o.lr > 0 else 1e-3, base=10, min=min(-5, math.floor(dec)), max=max(1, math.ceil(dec)),
                step=0.05, readout_format=".3g", continuous_update=False, description=f"lr {label}",
                style={"description_width": "150px"}, layout=W.Layout(width="330px"))
        for k, w in self.controls.items():
            w.add_class("t-" + k.replace(":", "-").replace(" ", "_").replace("+", "p").replace(".", "_"))
        self.lr_sliders = {label: self.controls[f"lr:{label}"] for label in racers}
        self._setup_figure((9.4, 3.6))
        self.histories, self.effective_lrs, self.problem = {}, {}, None
        self.status = W.HTML()
        self.status.add_class("t-status")
        self.controls["noise"].rule = _at_least(0, "the noise level is a standard deviation")
        self.controls["steps"].rule = _at_least(1, "a run needs updates")
        for label, o in racers.items():
            self.lr_sliders[label].rule = _torch_rule(lambda v, o=o: dataclasses.replace(o, lr=v))
        left = W.VBox(self._beside([self.controls[k] for k in ("problem", "noise", "steps")]))
        right = W.VBox(self._beside(list(self.lr_sliders.values())))
        self.header = W.HTML("<b>Optimizer playground</b>: the same start, the same (noisy) gradients, "
                             "lrcourse's NumPy optimizers")
        self.children = [self.header, _columns(left, right), self.image, self.status]
        self.add_class("lrcourse-playground")
        self._problems, self._runs, self._drawn = {}, {}, None
        self._build_axes()
        self._watch(self.controls.values())
        self.recompute()

    def __repr__(self):
        return f"OptimizerPlayground({list(self.racers)}, problem={self.controls['problem'].value!r})"

    def _set_one(self, k, v):
        if k == "lr":  # lr={label: value} sets the racers' LRs
            for label, lr in v.items():
                self.lr_sliders[label].value = lr
        else:
            super()._set_one(k, v)

    def _build_problem(self, name=None):
        name = self.controls["problem"].value if name is None else name
        noise = float(self.controls["noise"].value)
        key = (name, noise)
        if key not in self._problems:
            base = _prob.make_problem(name)
            self._problems[key] = _prob.Noisy(base, noise=noise) if noise > 0 else base
        return self._problems[key]

    def _race(self, label, opt, problem, steps):
        """(history, effective LRs) of one racer.  The longest run of each (racer, its settings, problem)
        is kept: an lr slider reruns its racer only, and a new number of steps takes the first updates
        of a longer run or goes on from a shorter one (``runs.run(resume=...)``: the same numbers as a
        run from the start)."""
        key = (label, opt, id(problem))
        done, eff = self._runs.pop(key, (None, np.zeros((0, problem.x0.size))))
        if done is None or len(done.lrs) < steps:
            with np.errstate(all="ignore"):  # a diverging racer is reported, not warned about (also on the worker)
                h = runs.run(opt, problem, steps, record_states=True, resume=done)
                new = h.states[len(eff):]
                done, eff = h, np.concatenate([eff, _rows([runs.effective_lr(opt, s) for s in new], problem.x0.size)])
        _keep(self._runs, key, (done, eff), 4 * len(self.racers))  # the latest last: the oldest goes first
        if len(done.lrs) == steps:
            return done, eff
        return runs.run(opt, problem, steps, record_states=True, resume=done), eff[:steps]

    def _opts(self) -> dict:
        """label -> the racer at its slider's LR."""
        return {label: dataclasses.replace(base, lr=float(self.lr_sliders[label].value))
                for label, base in self.racers.items()}

    def _races(self, problem, opts, steps):
        """(label -> History, label -> effective LRs) of every racer on ``problem`` (_race)."""
        races = {label: self._race(label, opt, problem, steps) for label, opt in opts.items()}
        return {k: h for k, (h, _) in races.items()}, {k: e for k, (_, e) in races.items()}

    def _raced(self, label, opt, problem) -> int:
        """The number of updates kept of a racer's run (_race)."""
        done = self._runs.get((label, opt, id(problem)), (None,))[0]
        return 0 if done is None else len(done.lrs)

    AHEAD_UPDATES = 50  # updates of one racer per piece of work ahead: 1-2 ms, the most a new value waits for it

    def _ahead(self):
        """After a value from the browser is shown (and AHEAD_AFTER seconds with no new one): the races
        on each other surface with the same LRs, noise and steps, AHEAD_UPDATES updates of a racer at a
        time (``_race`` goes on from them); then, after DRAW_AHEAD_AFTER seconds more with no new value,
        the background each will be drawn on (axes, ticks, its contours).  Choosing another surface then
        costs only its lines: five races (17-24 ms) and a full draw with new contours (120-200 ms in the
        kernel under JupyterLab) less.  Values set from code start none of it."""
        if self.error is not None or self._drawn is None:
            return
        name, steps, opts = self._drawn[4], self._drawn[3], self._opts()
        others = []
        for other in self.controls["problem"].options:
            if other == name:
                continue
            with self._lock:
                problem = self._build_problem(other)
            for label, opt in opts.items():
                while (done := self._raced(label, opt, problem)) < steps:
                    yield
                    with self._lock:
                        self._race(label, opt, problem, min(steps, done + self.AHEAD_UPDATES))
            others.append((other, problem))
        yield from self._when_quiet([functools.partial(self._draw_ahead, other, problem, opts, steps)
                                     for other, problem in others])

    def _draw_ahead(self, name, problem, opts, steps):
        """The background of surface ``name`` with these races (_background_ahead).  The limits this first
        look at ``name`` keeps (sticky, see _draw) are dropped again: a visit finds the same background."""
        if self._bg is None or self.error is not None or name == self._contour_key or self._drawn[3] != steps:
            return
        hists, effs = self._races(problem, opts, steps)
        kept = dict(self._lims)

        def put_back():
            self._lims = kept
            self._draw(*self._drawn)

        self._background_ahead(lambda: self._draw(problem, hists, effs, steps, name), put_back)

    def _build_axes(self):
        fig = self.figure
        self._tax, self._lax, self._eax = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1.0, 1.2, 1.2]})
        self._tax.set_title("trajectories", fontsize=10, y=1.0, pad=4)
        self._lax.set_title("loss per step", fontsize=10, y=1.0, pad=4)
        self._lax.set_xlabel("step")
        self._eax.set_title("effective LR (— x, ··· y)", fontsize=10, y=1.0, pad=4)
        self._eax.set_xlabel("step")
        _set_scale(self._eax, "y", "log")
        self._contour, self._contour_key, self._contours = None, None, {}  # _contours: surface -> (set, xlim, ylim)
        self._lims = {}  # (surface, "loss" or "effective LR", scale) -> its limits, kept while they fit
        (self._start,) = self._tax.plot([], [], "o", color="k", ms=4)
        (self._star,) = self._tax.plot([], [], "*", color="gold", mec="k", ms=10)
        self._lines = {}
        for i, label in enumerate(self.racers):
            col = f"C{i % 10}"
            (tr,) = self._tax.plot([], [], "-", color=col, lw=1.4)
            (lo,) = self._lax.plot([], [], "-", color=col, lw=1.6)
            (e0,) = self._eax.plot([], [], "-", color=col, lw=1.4)
            (e1,) = self._eax.plot([], [], ":", color=col, lw=1.6)
            self._lines[label] = tuple(self._dyn(x) for x in (tr, lo, e0, e1))
        fig.legend(handles=[_proxy(color=f"C{i % 10}", lw=1.6, label=label) for i, label in enumerate(self.racers)],
                   **_top(len(self.racers)))
        for ax in fig.axes:
            ax.set_autoscale_on(False)

    def _static_extra(self):
        return self._contour_key

    def recompute(self):
        with self._lock:
            t0 = time.perf_counter()
            try:
                name = self.controls["problem"].value
                problem = self._build_problem(name)
                steps = int(self.controls["steps"].value)
                hists, effs = self._races(problem, self._opts(), steps)
            except Exception as e:
                self._fail(e, self.status)
                return
            t1 = time.perf_counter()
            self.problem, self.histories, self.effective_lrs, self.error = problem, hists, effs, None
            self._drawn = (problem, hists, effs, steps, name)  # what _draw shows, to put back after a draw ahead
            shown = self._draw_and_render(lambda: self._draw(*self._drawn), lambda e: self._fail(e, self.status))
            if shown is None:
                return
            diverged = [label for label, h in hists.items() if not np.all(np.isfinite(h.losses))]
            best = min(hists, key=lambda k: hists[k].losses[-1] if np.isfinite(hists[k].losses[-1]) else np.inf)
            parts = [f"after {steps} steps, lowest loss: {best} ({hists[best].losses[-1]:.3g})"]
            if diverged:
                parts.append(f"diverged: {', '.join(diverged)}")
            self.summary = "; ".join(parts)
            self.status.value = f"<div style='color:#333'>{html.escape(self.summary)}</div>"
            self.timings = {"compute": t1 - t0, "draw": shown[0], "render": shown[1],
                            "total": time.perf_counter() - t0}

    def _draw(self, problem, hists, effs, steps, name):
        ax = self._tax
        if name != self._contour_key:
            self._contour = self._show_contour(ax, self._contours, name, problem, self._contour, self._start, self._star)
            self._contour_key = name
        x = np.arange(steps + 1)
        losses, lrs = [], []
        for label, (tr, lo, e0, e1) in self._lines.items():
            h, eff = hists[label], effs[label]
            tr.set_data(h.params[:, 0], h.params[:, 1])
            lo.set_data(x, h.losses)
            e0.set_data(np.arange(1, steps + 1), eff[:, 0])
            e1.set_data(np.arange(1, steps + 1), eff[:, 1] if eff.shape[1] > 1 else eff[:, 0])
            losses.append(h.losses)
            lrs.append(eff)
        positive = all(np.all(v[np.isfinite(v)] > 0) for v in losses)
        scale = "log" if positive else "linear"
        if self._lax.get_yscale() != scale:
            _set_scale(self._lax, "y", scale)
        _sticky_right(self._lax, steps)
        _sticky_right(self._eax, max(steps, 2), left=1.0)
        # Each surface keeps its own limits (their losses differ by decades): going back to one shows the
        # axes it had, whose saved background is then reused (_render) instead of drawn again.
        for ax, key, values, log in ((self._lax, (name, "loss", scale), losses, positive),
                                     (self._eax, (name, "effective LR", "log"), lrs, True)):
            lim = _sticky_limits(self._lims.get(key), values, log=log)
            if lim:
                self._lims[key] = lim
                ax.set_ylim(*lim)


# --------------------------------------------------------------------------- momentum panel (lesson 08)
class MomentumPanel(_FigurePanel):
    """Heavy-ball momentum on the ill-conditioned quadratic: where the (lr, momentum) plane converges, and how fast.

    Left: the predicted rate ``momentum.worst_rate(lr, momentum, m, L)`` (per step, max |sigma| over
    the curvatures m = 1 and L = ``condition``) as a heat map over the plane, with the divergence
    boundary lr L = 2 + 2 momentum, the critical-damping curves momentum = (1 - sqrt(lr lam))^2 for
    lam = m and L, the optimal pair (star) and the chosen point (dot), all from ``lrcourse.momentum``
    (``plane``, ``max_stable_lr``, ``critical_momentum``, ``optimal``).  Middle and right:
    ``momentum.run_point(lr, momentum, IllConditionedQuadratic(condition), steps)`` (``runs.run`` of
    ``optimizers.SGD``): the path on the contours and the distance to the minimum, with the predicted
    envelope rate^t.  The readout compares that rate with the one measured on the run and names each
    direction's region.

    Controls: ``lr``, ``momentum``, ``condition`` (L/m, 2 to 100), ``steps`` (20 to 400) and a button
    "go to the optimum" (from code: ``panel.set(lr="optimal")``).  A value outside the plane drawn is
    refused with a ``ValueError`` that says why; lr = 0 from the slider is answered beside it.

    Attributes: ``point`` (the ``momentum.PointRun``), ``history`` (its ``runs.History``), ``predicted`` and
    ``measured`` (rates per step; ``measured`` is None when the run diverges), ``regions``
    ({"m": ..., "L": ...}), ``optimum`` ((lr, momentum, rate) of ``momentum.optimal``),
    ``grid`` ((lrs, momentums, rates) of the heat map), ``artists`` (name -> the matplotlib artist
    drawn: "heat map", "divergence", "critical m", "critical L", "optimum", "point", "path",
    "distance", "envelope"), ``controls``, ``figure``.

    Example:
        >>> panel = MomentumPanel(lr=0.02, momentum=0.9, steps=200)
        >>> panel.regions, round(panel.predicted, 4), round(panel.measured, 2)
        ({'m': 'ripples', 'L': 'ripples'}, 0.9487, 0.95)
        >>> [round(x, 4) for x in panel.set(lr="optimal").optimum]        # (2/(sqrt(L)+sqrt(m)))^2, ...
        [0.1111, 0.4444, 0.6667]
    """

    _STALE = "the figure below shows the last valid point"
    _READABLE = True
    _OVER = "0.85"  # the heat map's colour for a rate >= 1
    LR_MAX = 4.4  # the plane spans lr in (0, LR_MAX / L]: past the divergence boundary of every momentum < 1.2
    MOMENTUM_MAX = 0.99

    def __init__(self, lr=0.02, momentum=0.9, condition=25.0, steps=150):
        super().__init__()
        condition = float(condition)
        if not 2.0 <= condition <= 100.0:
            raise ValueError(f"condition must be in [2, 100] (the curvatures are 1 and condition), got {condition:g}")
        steps = int(steps)
        if not 20 <= steps <= 400:
            raise ValueError(f"steps must be in [20, 400], got {steps}")
        d = lambda name: dict(description=name, style=_DESC, layout=_wide())  # noqa: E731
        self.controls = {
            "condition": W.FloatSlider(value=condition, min=2.0, max=100.0, step=1.0, continuous_update=False,
                                       **d("condition L/m")),
            "lr": W.FloatSlider(value=0.01, min=0.0, max=1.0, step=1e-4, readout_format=".4f",
                                continuous_update=False, **d("lr")),
            "momentum": W.FloatSlider(value=0.0, min=0.0, max=self.MOMENTUM_MAX, step=0.001, readout_format=".3f",
                                      continuous_update=False, **d("momentum")),
            "steps": W.IntSlider(value=steps, min=20, max=400, step=10, continuous_update=False, **d("steps")),
        }
        for k, w in self.controls.items():
            w.add_class(f"t-{k}")
        self.optimal_button = W.Button(description="go to the optimum", layout=W.Layout(width="160px"))
        self.optimal_button.on_click(lambda _b: self.set(lr="optimal"))
        self._setup_figure((11.0, 3.5))
        self._range_for(condition)
        self.controls["condition"].observe(lambda ch: self._range_for(ch["new"]), "value")
        self._check("lr", lr)
        self._check("momentum", momentum)
        self.controls["lr"].value, self.controls["momentum"].value = float(lr), float(momentum)
        self.history, self.predicted, self.measured, self.regions, self.problem = None, None, None, {}, None
        self.readout = W.HTML()
        self.readout.add_class("t-readout")
        self.header = W.HTML("<b>Momentum on a quadratic</b>: the rate max|σ| predicted from each curvature's "
                             "2×2 iteration matrix (<code>lrcourse.momentum</code>), and a run of "
                             "<code>lrcourse.optimizers.SGD</code> at the chosen point")
        c = self.controls
        boxes = W.HBox([W.VBox(self._beside([c["lr"], c["momentum"]])),
                        W.VBox(self._beside([c["condition"], c["steps"]]) + [self.optimal_button])])
        self.children = [self.header, boxes, self.stale_html, self.image, self.readout]
        self.add_class("lrcourse-momentum")
        self._build_axes()
        self._grid_key = None
        self._watch(self.controls.values())
        self.recompute()

    def __repr__(self):
        c = self.controls
        return (f"MomentumPanel(lr={c['lr'].value:.4g}, momentum={c['momentum'].value:.4g}, "
                f"condition={c['condition'].value:g}, steps={c['steps'].value})")

    # -- the values the panel accepts
    def _range_for(self, condition):
        """The lr slider spans the plane drawn for this condition number."""
        w = self.controls["lr"]
        top = self.LR_MAX / condition
        self._hold += 1  # the lr this changes is recomputed with the condition, once
        try:
            if w.value > top:
                w.value = top
            w.max, w.step = top, top / 2000
        finally:
            self._hold -= 1

    def _check(self, k, v):
        """A value out of the plane is refused with the reason (a slider would clamp it silently)."""
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not math.isfinite(v):
            raise TypeError(f"{k} must be a finite real number, got {v!r}")
        w = self.controls[k]
        if not w.min <= v <= w.max:
            why = {"lr": "the plane drawn for this condition number; larger LRs diverge for every momentum",
                   "momentum": "momentum >= 1 never converges",
                   "condition": "the curvatures are 1 and condition",
                   "steps": "enough to measure a rate, few enough to draw at once"}[k]
            raise ValueError(f"{k} must be in [{w.min:g}, {w.max:g}] ({why}), got {v:g}")

    def _set_one(self, k, v):
        if k == "lr" and v == "optimal":  # panel.set(lr="optimal"): the optimal pair of this condition number
            from . import momentum as _mom

            lr, mom, _ = _mom.optimal(1.0, float(self.controls["condition"].value))
            self.controls["lr"].value, self.controls["momentum"].value = lr, mom
            return
        if k not in self.controls:
            raise KeyError(f"no control {k!r}; the controls are {sorted(self.controls)}")
        self._check(k, v)
        self.controls[k].value = v

    # -- figure
    def _build_axes(self):
        fig = self.figure
        fig.set_layout_engine("constrained")  # before the colour bar, so that the layout makes room for it
        self._hax, self._tax, self._dax = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1.25, 1.0, 1.15]})
        self._hax.set(xlabel="lr", ylabel="momentum")
        self._hax.grid(False)  # a notebook's axes.grid would draw over the heat map
        # beyond the plane (lr > LR_MAX / L) every momentum drawn diverges: the heat map's colour for rate >= 1
        self._hax.set_facecolor(self._OVER)
        self._hax.set_title("rate max|σ| per step", fontsize=10, y=1.0, pad=4)
        self._tax.set_title("path (first 60 steps)", fontsize=10, y=1.0, pad=4)
        self._dax.set_title("distance to the minimum", fontsize=10, y=1.0, pad=4)
        self._dax.set_xlabel("step")
        _set_scale(self._dax, "y", "log")
        from matplotlib import colormaps

        self._heat = self._hax.imshow(np.zeros((2, 2)), origin="lower", aspect="auto", vmin=0.0, vmax=1.0,
                                      cmap=colormaps["viridis_r"].with_extremes(over=self._OVER),
                                      interpolation="nearest")
        self._colorbar = fig.colorbar(self._heat, ax=self._hax, pad=0.02, fraction=0.06, extend="max")
        # its range follows the optimum's rate (_draw_plane): drawn with the data, so that a new range redraws
        # no other axes; its pixels are kept per range
        self._dynamic.append(_Pasted(self, self._colorbar.ax))
        (self._diverge,) = self._hax.plot([], [], "r-", lw=1.4)
        (self._crit_m,) = self._hax.plot([], [], "w--", lw=1.0)
        (self._crit_L,) = self._hax.plot([], [], "w:", lw=1.4)
        (self._opt,) = self._hax.plot([], [], "*", color="gold", mec="k", ms=12)
        # the plane and the contours change with the condition number: drawn over the saved background,
        # with the point and the run, so that a new condition number redraws no axes while they hold
        for artist in (self._heat, self._diverge, self._crit_m, self._crit_L, self._opt):
            self._dyn(artist)
        self._point = self._dyn(self._hax.plot([], [], "o", color="C3", mec="w", ms=8)[0])
        self._contour = None  # drawn before the start, the minimum and the path (see recompute)
        self._start = self._dyn(self._tax.plot([], [], "o", color="k", ms=4)[0])
        self._star = self._dyn(self._tax.plot([], [], "*", color="gold", mec="k", ms=10)[0])
        self._path = self._dyn(self._tax.plot([], [], ".-", color="C3", ms=3, lw=0.9)[0])
        self._dist = self._dyn(self._dax.plot([], [], "-", color="C3", lw=1.5)[0])
        self._envelope = self._dyn(self._dax.plot([], [], "k:", lw=1.2)[0])
        handles = [_proxy(color="r", lw=1.4, label="divergence: lr L = 2 + 2 momentum"),
                   _proxy(color="0.3", ls="--", lw=1.0, label="critical damping at m"),
                   _proxy(color="0.3", ls=":", lw=1.4, label="… at L"),
                   _proxy(marker="*", ls="", color="gold", mec="k", ms=10, label="optimum"),
                   _proxy(color="C3", marker="o", lw=1.5, label="chosen point: its run"),
                   _proxy(color="k", ls=":", lw=1.2, label="predicted rate^t")]
        fig.legend(handles=handles, **_top(len(handles)))
        for ax in fig.axes:
            ax.set_autoscale_on(False)
        self._dist_lim = None
        self.artists = {"heat map": self._heat, "divergence": self._diverge, "critical m": self._crit_m,
                        "critical L": self._crit_L, "optimum": self._opt, "point": self._point, "path": self._path,
                        "distance": self._dist, "envelope": self._envelope}

    def _draw_plane(self, m, L):
        """The heat map and its boundaries for curvatures m and L (a new condition number).

        The lr axis is kept at a round number while the plane, lr up to LR_MAX / L, fills 2/3 of it or
        more (``_sticky_right``): the plane's artists are then drawn over the saved axes."""
        from . import momentum as _mom

        self.grid = lrs, moms, rates = _mom.plane(m, L, self.LR_MAX / L, self.MOMENTUM_MAX)
        self._heat.set_data(np.where(rates >= 1, 1.5, rates))
        self._heat.set_extent((0.0, lrs[-1], 0.0, self.MOMENTUM_MAX))
        _sticky_right(self._hax, lrs[-1], least=lrs[-1])
        self._hax.set_ylim(0.0, self.MOMENTUM_MAX)
        self._diverge.set_data(_mom.max_stable_lr(moms, L), moms)
        for line, lam in ((self._crit_m, m), (self._crit_L, L)):
            crit = _mom.critical_momentum(lrs, lam)
            keep = crit <= self.MOMENTUM_MAX
            line.set_data(np.where(keep, lrs, np.nan), np.where(keep, crit, np.nan))
        self.optimum = _mom.optimal(m, L)
        self._opt.set_data([self.optimum[0]], [self.optimum[1]])
        self._heat.set_clim(max(0.0, math.floor(10 * self.optimum[2] - 1) / 10), 1.0)  # the optimum's colour to 1

    def recompute(self):
        from . import momentum as _mom

        with self._lock:
            t0 = time.perf_counter()
            c = self.controls
            try:
                condition, lr, mom = float(c["condition"].value), float(c["lr"].value), float(c["momentum"].value)
                steps = int(c["steps"].value)
                problem = _prob.IllConditionedQuadratic(condition=condition)
                point = _mom.run_point(lr, mom, problem, steps)
            except Exception as e:
                self._fail(e, self.readout)
                return
            t1 = time.perf_counter()
            m, L, hist = problem.mu, problem.L, point.history
            self.problem, self.point, self.history = problem, point, hist
            self.predicted, self.measured, self.regions = point.predicted, point.measured, point.regions
            predicted, measured, regions = point.predicted, point.measured, point.regions
            self.error = None

            def draw():
                if self._grid_key != condition:
                    self._draw_plane(m, L)
                    if self._contour in self._dynamic:
                        self._dynamic.remove(self._contour)
                    self._contour = self._draw_contour(self._tax, problem, self._contour, self._start, self._star)
                    self._contour.set_animated(True)
                    self._dynamic.insert(self._dynamic.index(self._start), self._contour)
                    self._grid_key = condition
                self._point.set_data([lr], [mom])
                first = hist.params[:61]
                ok = np.all(np.isfinite(first), axis=1)
                self._path.set_data(first[ok, 0], first[ok, 1])
                t = np.arange(steps + 1)
                self._dist.set_data(t, point.distance)
                self._envelope.set_data(t, point.envelope)
                _sticky_right(self._dax, steps)
                # room for the envelope up to the axis' end, and a decade under it for the run's ripples:
                # more steps then keep the axes as they are
                reach = 0.1 * point.envelope[0] * predicted ** self._dax.get_xlim()[1] if predicted < 1 else None
                lim = _sticky_limits(self._dist_lim, [point.distance, point.envelope, reach], log=True)
                if lim:
                    self._dist_lim = lim
                    self._dax.set_ylim(*lim)

            shown = self._draw_and_render(draw, lambda e: self._fail(e, self.readout))
            if shown is None:
                return
            opt_lr, opt_mom, opt_rate = self.optimum
            said = (f"predicted rate {predicted:.4f} per step (m = 1: {regions['m']}, L = {L:g}: {regions['L']}); "
                    + (f"measured on the run, steps {steps // 2}–{steps}: {measured:.4f}" if measured is not None
                       else "the run diverges" if predicted >= 1 else "the run reached 0"))
            self.summary = (f"{said}. Optimum: lr = {opt_lr:.4f}, momentum = {opt_mom:.4f}, "
                            f"rate (√κ−1)/(√κ+1) = {opt_rate:.4f}")
            self.readout.value = f"<div style='color:#333'>{html.escape(self.summary)}</div>"
            self._settle(True)
            self.timings = {"compute": t1 - t0, "draw": shown[0], "render": shown[1],
                            "total": time.perf_counter() - t0}
