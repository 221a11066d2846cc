"""The grader: extraction, the from-scratch rule, isolation basics, scoring, reports, wrong answers.

The adversarial catalogue (cheating attempts) is in test_grader_adversarial.py.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import pathlib
import re
import shutil

import nbformat
import numpy as np
import pytest

from lrcourse import optimizers, schedules
from lrcourse.grading import batch, namespace, notebook, questions, reports, rules, sandbox, scoring, standins, verdicts

ROOT = pathlib.Path(__file__).resolve().parent.parent
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
EXERCISES = sorted((ROOT / "exercises").glob("*.ipynb"))


@pytest.fixture(scope="module")
def box():
    box = sandbox.make_sandbox(timeout=10)
    yield box
    shutil.rmtree(box.workdir, ignore_errors=True)


def write_nb(path: pathlib.Path, *sources: str, stem: str | None = None) -> pathlib.Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    if stem:
        nb.metadata["lrcourse"] = {"stem": stem}
    nbformat.write(nb, path)
    return path


# --------------------------------------------------------------------------- the child's stand-ins
STANDINS = namespace.stub_modules({m: standins.standin_source(m) for m in standins.STANDIN_CLASSES})


def _public(cls) -> set:
    return {n for n in dir(cls) if not n.startswith("_")}


@pytest.mark.parametrize("name", standins.STANDIN_CLASSES["optimizers"])
def test_stand_in_optimizers_are_the_library_classes_without_step(name):
    lib, stub = getattr(optimizers, name), getattr(STANDINS[0], name)
    assert _public(lib) == _public(stub)
    assert [(f.name, f.default, f.init) for f in dataclasses.fields(lib)] == \
           [(f.name, f.default, f.init) for f in dataclasses.fields(stub)]
    p = np.array([1.0, -2.0, 3.0])
    for kw in ({}, {"momentum": 0.9} if name in ("SGD", "RMSprop") else {}, {"centered": True} if name == "RMSprop"
               else {}, {"amsgrad": True} if name.startswith("Adam") else {}):
        a, b = lib(**kw).init(p), stub(**kw).init(p)
        assert type(a).__name__ == type(b).__name__ and a._fields == b._fields
        for x, y in zip(a, b):
            assert (x is None and y is None) or np.array_equal(x, y)
        assert np.array_equal(lib(**kw).effective_lr(a), stub(**kw).effective_lr(b))
    with pytest.raises(ValueError, match="Invalid learning rate"):
        stub(lr=-1.0)
    with pytest.raises(NotImplementedError):
        stub().step(p, p, stub().init(p))


def test_stand_in_plateau_has_the_public_methods():
    lib, stub = schedules.ReduceLROnPlateau, STANDINS[1].ReduceLROnPlateau
    assert _public(lib) == _public(stub)
    assert [(f.name, f.default) for f in dataclasses.fields(lib)] == [(f.name, f.default) for f in dataclasses.fields(stub)]
    for mode in ("min", "max"):
        assert tuple(lib(0.1, mode=mode).init()) == tuple(stub(0.1, mode=mode).init())
        for a, best in [(1.0, 2.0), (2.0, 1.0), (1.0, 1.0), (0.99995, 1.0)]:
            assert lib(0.1, mode=mode).is_better(a, best) == stub(0.1, mode=mode).is_better(a, best)
    assert STANDINS[1].PlateauState._fields == schedules.PlateauState._fields
    with pytest.raises(NotImplementedError):
        stub(0.1).step(stub(0.1).init(), 1.0)


def test_every_optimizer_of_the_library_has_a_stand_in():
    classes = {n for n in optimizers.__all__ if isinstance(getattr(optimizers, n), type)
               and issubclass(getattr(optimizers, n), optimizers.Optimizer) and n != "Optimizer"}
    assert {c.__name__ for c in optimizers.OPTIMIZERS} <= classes == set(standins.STANDIN_CLASSES["optimizers"])


def test_stand_ins_hold_no_algorithm():
    """The generated source keeps no body of step (nor torch-twin helpers): each is a bare raise."""
    import ast
    for module in standins.STANDIN_CLASSES:
        tree = ast.parse(standins.standin_source(module))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name in standins.ALGORITHM_METHODS:
                assert len(node.body) == 1 and isinstance(node.body[0], ast.Raise), (module, node.name)
        names = {n.name for n in tree.body if isinstance(n, ast.ClassDef)}
        assert not names & {"StepLR", "CosineAnnealingLR", "OneCycleLR", "Schedule"}, names


# --------------------------------------------------------------------------- the grading wing's layout
GRADING = ROOT / "lrcourse" / "grading"
# lrcourse/grading/__init__.py lists its modules in the order they may import each other
LAYERS = re.findall(r"^\* ``(\w+)``", (GRADING / "__init__.py").read_text(), re.M)
LIBRARY = {"optimizers", "schedules", "runs"}


def _imports(path: pathlib.Path) -> tuple[set, list]:
    """(the lrcourse modules ``path`` imports, by name; the imports made inside functions)."""
    import ast
    tree = ast.parse(path.read_text())
    names, local = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module == "grading":      # feedback's from .grading import x
                names |= {f"grading.{a.name}" for a in node.names}
            elif node.level == 1 and node.module:
                names.add(node.module)
            elif node.level == 1:
                names |= {a.name for a in node.names}
            elif node.level == 2:
                names |= {f"..{node.module or a.name}" for a in node.names}
            elif path.name == "child.py" and node.module in ("namespace", "runners"):
                names.add(node.module)            # the child run by path imports its siblings by name
        elif isinstance(node, ast.Import) and any(a.name.startswith("lrcourse") for a in node.names):
            names.add("lrcourse")
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            local += [f"{path.name}:{n.lineno}" for n in ast.walk(fn) if isinstance(n, (ast.Import, ast.ImportFrom))]
    return names, local


def test_grading_modules_import_only_the_library_and_the_modules_above_them():
    assert set(LAYERS) == {p.stem for p in GRADING.glob("*.py")} - {"__init__"}, LAYERS
    for i, name in enumerate(LAYERS):
        imported, local = _imports(GRADING / f"{name}.py")
        siblings = {m for m in imported if not m.startswith("..")}
        library = {m[2:] for m in imported if m.startswith("..")}
        assert siblings <= set(LAYERS[:i]), f"{name} reaches down to {siblings - set(LAYERS[:i])}"
        assert library <= LIBRARY, f"{name} imports lrcourse.{library - LIBRARY}"
        assert not local, f"function-local imports in {local}"
    assert not _imports(GRADING / "child.py")[0] - {"namespace", "runners"}, "the child imports nothing of lrcourse"


def test_check_uses_rules_and_runners_never_the_sandbox():
    """feedback.py (check()) and everything it imports, transitively, stay clear of the sandbox and the batch."""
    todo, seen = ["feedback"], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = ROOT / "lrcourse" / f"{name}.py" if name == "feedback" else GRADING / f"{name}.py"
        for m in _imports(path)[0]:
            m = m.removeprefix("grading.").removeprefix("..")
            if (GRADING / f"{m}.py").exists() and m not in LIBRARY:
                todo.append(m)
    assert {"notebook", "rules", "runners", "verdicts"} <= seen, seen
    assert not seen & {"sandbox", "child", "batch", "scoring", "reports", "gradescope"}, seen


# --------------------------------------------------------------------------- extraction
def test_extract_takes_the_target_and_its_helpers_only():
    cells = [
        "# Setup\n%matplotlib inline\nimport numpy as np\nimport torch\nfrom lrcourse import optimizers, runs",
        "SCALE = 2.0\n\ndef helper(x):\n    return SCALE * x\n\nunused = runs.run",
        "class MyAdam(optimizers.Adam):\n    def step(self, params, grad, state, lr=None):\n        return helper(params), state",
        "check(MyAdam)\nMyAdam.step = None",
        "!pip install something\nx = 1",
    ]
    src, why = notebook.extract_source(cells, "MyAdam")
    assert why is None
    assert "SCALE = 2.0" in src and "def helper" in src and "class MyAdam" in src
    assert "torch" not in src and "runs" not in src and "check(" not in src and "pip" not in src


def test_extract_ignores_globals_shadowed_by_parameters_and_locals():
    cells = ["max_lr = runs.something()\nlr = torch.tensor(1.0)\nSCALE = 2",
             "def one_cycle_lr(t, max_lr, total_steps):\n    lr = max_lr * SCALE\n    return lr"]
    src, _ = notebook.extract_source(cells, "one_cycle_lr")
    assert src == "SCALE = 2\n\ndef one_cycle_lr(t, max_lr, total_steps):\n    lr = max_lr * SCALE\n    return lr\n"


def test_extract_cuts_statements_that_share_a_line():
    src, _ = notebook.extract_source(["import torch; SCALE = 2", "def f(x):\n    return SCALE * x"], "f")
    assert src == "SCALE = 2\n\ndef f(x):\n    return SCALE * x\n"


def test_extract_last_definition_wins_and_rebinding_is_graded():
    cells = ["class MyAdam(optimizers.Adam):\n    def step(self, p, g, s, lr=None):\n        return p, s",
             "MyAdam = optimizers.Adam  # 'fix' check()"]
    src, _ = notebook.extract_source(cells, "MyAdam")
    assert src.strip() == "MyAdam = optimizers.Adam"
    q = questions.find_target("MyAdam")
    assert any("reference implementation" in p for p in rules.static_problems(src, q))


def test_extract_reports_missing_and_broken_definitions():
    assert notebook.extract_source(["x = 1"], "MyAdam") == (None, "MyAdam is not defined in the notebook")
    src, why = notebook.extract_source(["class MyAdam(optimizers.Adam)\n    pass"], "MyAdam")
    assert src is None and "syntax error" in why
    src, why = notebook.extract_source(["%%bash\nclass MyAdam: pass"], "MyAdam")
    assert src is None  # a %%bash cell is not Python
    src, why = notebook.extract_source(["%%time\nclass MyAdam: pass"], "MyAdam")
    assert src == "class MyAdam: pass\n"  # IPython runs a %%time cell's body as Python, and so does the grader


# --------------------------------------------------------------------------- the from-scratch rule
ADAM = questions.find_target("MyAdam")
HONEST = """
import math
import numpy as np
from functools import reduce

class MyAdam(optimizers.Adam):
    def step(self, params, grad, state, lr=None):
        lr = self.lr if lr is None else lr
        self._my_cache = None
        return params - lr * np.sign(grad), optimizers.AdamState(state.step + 1, state.exp_avg, state.exp_avg_sq, None)
"""


def test_static_rules_accept_honest_code():
    assert rules.static_problems(HONEST, ADAM) == []


@pytest.mark.parametrize("line, expected", [
    ("import torch", "imports torch"),
    ("from lrcourse.optimizers import Adam as A", "imports from lrcourse"),
    ("import lrcourse.optimizers as ref", "imports lrcourse"),
    ("import importlib", "imports importlib"),
    ("from . import optimizers", "imports from ."),
    ("x = super().step(params, grad, state, lr)", "calls super().step"),
    ("x = optimizers.Adam.step(self, params, grad, state)", "uses optimizers.Adam other than as the base"),
    ("x = schedules.ReduceLROnPlateau", "uses schedules.ReduceLROnPlateau"),
    ("g = self._grad(params, grad)", "self._grad, a helper of the library"),
    ("x = getattr(np, 'sqrt')", "uses getattr"),
    ("x = eval('1')", "uses eval"),
    ("x = open('expected.json').read()", "uses open"),
    ("x = print.__self__", "special attribute .__self__"),
    ("x = ().__class__.__base__.__subclasses__()", "special attribute"),
    ("x = __builtins__", "special name __builtins__"),
    ("x = np.load('answers.npy')", "uses .load"),
    ("x = np.lib.npyio", "uses .lib"),
    ("x = np._core.multiarray", "private attribute ._core"),
    ("x = torch.optim.Adam", "uses torch"),
    ("x = runs.compare", "uses runs"),
])
def test_static_rules_refuse(line, expected):
    src = HONEST.replace("        lr = self.lr if lr is None else lr\n",
                         f"        lr = self.lr if lr is None else lr\n        {line}\n")
    problems = rules.static_problems(src, ADAM)
    assert any(expected in p for p in problems), problems


def test_honest_idioms_pass_both_layers(box):
    """Common, harmless Python must work in the child exactly as in the notebook."""
    src = """
import math
from functools import reduce
import numpy as np

def _decay(g, p, wd):
    return g + wd * p

class MyAdam(optimizers.Adam):
    def step(self, params, grad, state, lr=None):
        lr = self.lr if lr is None else lr
        assert isinstance(state, optimizers.AdamState) and hasattr(state, "exp_avg")
        beta1, beta2 = self.betas
        t = state.step + 1
        g = _decay(grad, params, self.weight_decay)
        m = beta1 * state.exp_avg + (1 - beta1) * g
        v = reduce(lambda a, b: a + b, [beta2 * state.exp_avg_sq, (1 - beta2) * g * g])
        dir = -(m / (1 - beta1 ** t)) / (np.sqrt(v) / math.sqrt(1 - beta2 ** t) + self.eps)
        print(f"step {t}: {type(state).__name__} {sorted(state._asdict())[:1]}")
        new = state._replace(step=t, exp_avg=m, exp_avg_sq=v)
        return params + lr * dir, type(state)(*new)
"""
    _full_marks_in_the_child(box, "MyAdam", src)


def _full_marks_in_the_child(box, target, src):
    """``src`` passes the static rules and earns the question's points in the sandboxed child."""
    q = questions.find_target(target)
    assert rules.static_problems(src, q) == []
    run = scoring.GradingRun()
    cases, _, _ = run.question_data(q)
    res = sandbox.run_child(box, {"kind": q.kind, "target": q.target, "base": q.base, "source": src,
                                     "cases": cases, "fields": list(q.fields)})
    graded = scoring.score_question(q, run, res, None)
    assert graded.score == q.points, graded.output()


def test_static_rules_need_a_step():
    src = "class MyAdam(optimizers.Adam):\n    pass\n"
    assert rules.static_problems(src, ADAM) == ["MyAdam does not define step"]


# --------------------------------------------------------------------------- the whole course
def test_spec_covers_every_stem_with_unique_targets():
    targets = [q.target for qs in questions.QUESTIONS.values() for q in qs]
    assert len(targets) == len(set(targets))
    assert {p.stem for p in SOLUTIONS} == set(questions.STEMS)
    for q in (q for qs in questions.QUESTIONS.values() for q in qs):
        cases = questions.draw_cases(q, questions.public_rng(q), 2)
        assert json.loads(json.dumps(cases)) == cases
        for case in cases:
            assert verdicts.validate_output(q, questions.expected_output(q, case)) is None


def test_solutions_score_full_marks_and_exercises_zero(tmp_path):
    results = batch.grade_paths(SOLUTIONS + EXERCISES, workers=2)
    assert len(results) == len(SOLUTIONS) + len(EXERCISES)
    for r in results:
        assert r.stem == pathlib.Path(r.path).stem, r.message
        if "/solutions/" in r.path:
            assert r.score == r.max_score > 0, "\n".join(q.output() for q in r.questions)
        else:
            assert r.score == 0, "\n".join(q.output() for q in r.questions)
            assert all("NotImplementedError" in q.output() for q in r.questions if q.max_score)   # explain: manual
    csv_path = reports.write_reports(results, tmp_path)
    rows = list(csv.DictReader(open(csv_path)))
    assert len(rows) == len(results)
    data = json.loads((tmp_path / "submissions" / results[0].name / "results.json").read_text())
    assert set(data) >= {"score", "tests", "output"}
    assert all(set(t) >= {"name", "score", "max_score", "output"} for t in data["tests"])


def test_hidden_cases_are_fresh_per_run_and_never_shown():
    q = questions.find_target("MyAdam")
    a, b = scoring.GradingRun(), scoring.GradingRun()
    ca, _, n_pub = a.question_data(q)
    cb, _, _ = b.question_data(q)
    assert ca[:n_pub] == cb[:n_pub]          # public cases are the shipped examples
    assert ca[n_pub:] != cb[n_pub:]          # hidden ones are drawn anew (os.urandom seed)
    res = sandbox.ChildResult({i: ("out", [{"params": [0.0]}]) for i in range(len(ca))}, None, None, 0.0)
    text = scoring.score_question(q, a, res, None).output()
    hidden_value = repr(ca[n_pub]["grads"][0][0])
    hidden_part = text.split("hidden case 1")[1]
    assert "hidden case 1: differs" in text and hidden_value not in text
    assert "expected" not in hidden_part and "yours" not in hidden_part


def test_grade_cli_writes_one_row_per_submission_whatever_they_are(tmp_path):
    good = ROOT / "solutions" / "02_step_decay.ipynb"
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{ not json")
    empty = tmp_path / "empty.ipynb"
    empty.write_text("")
    nameless = write_nb(tmp_path / "nameless.ipynb", "x = 1")
    out = tmp_path / "out"
    from lrcourse.__main__ import main
    assert main(["grade", str(good), str(broken), str(empty), str(nameless), "--out", str(out)]) == 0
    rows = list(csv.DictReader(open(out / "grades.csv")))
    assert [r["submission"].split("/")[-1] for r in rows] == ["02_step_decay.ipynb", "broken.ipynb", "empty.ipynb",
                                                              "nameless.ipynb"]
    assert rows[0]["score"] == "4.5" and rows[0]["02_step_decay/q1"] == "2"
    assert "invalid JSON" in rows[1]["message"] and rows[1]["score"] == "0"
    assert "could not tell which exercise" in rows[3]["message"]
    assert len(list(out.glob("submissions/*/results.json"))) == 4


# --------------------------------------------------------------------------- the catalogue of wrong answers
# (stem, question key, text in the solution, its wrong replacement, the hint that must be given)
WRONG = [
    ("12_adam", "12_adam/q1", "np.sqrt(v) / math.sqrt(1 - beta2**t) + self.eps",
     "np.sqrt(v / (1 - beta2**t) + self.eps)", "eps inside the square root"),
    ("12_adam", "12_adam/q1", "m_hat = m / (1 - beta1**t)\n        denom = np.sqrt(v) / math.sqrt(1 - beta2**t) + self.eps",
     "m_hat = m\n        denom = np.sqrt(v) + self.eps", "no bias correction"),
    ("12_adam", "12_adam/q1", "t = state.step + 1\n        g", "t = state.step\n        g", "t starting at 0"),
    ("14_adamw", "14_adamw/q1", "p = params * (1 - lr * self.weight_decay)\n        m = beta1 * state.exp_avg + (1 - beta1) * grad\n"
     "        v = beta2 * state.exp_avg_sq + (1 - beta2) * grad * grad",
     "p = params\n        grad = grad + self.weight_decay * params\n        m = beta1 * state.exp_avg + (1 - beta1) * grad\n"
     "        v = beta2 * state.exp_avg_sq + (1 - beta2) * grad * grad", "L2 instead of decoupled decay"),
    ("13_amsgrad", "13_amsgrad/q1", "v_max = np.maximum(state.max_exp_avg_sq, v)\n        denom = np.sqrt(v_max) / math.sqrt(1 - beta2**t) + self.eps",
     "v_max = np.maximum(state.max_exp_avg_sq, v / (1 - beta2**t))\n        denom = np.sqrt(v_max) + self.eps",
     "max over v_hat instead of v"),
    ("08_sgd_momentum", "08_sgd_momentum/q1", "b = g.copy()", "b = (1 - self.dampening) * g",
     "zero-initialised momentum buffer"),
    ("11_adadelta", "11_adadelta/q1", "(1 - rho) * delta * delta", "(1 - rho) * (lr * delta) ** 2",
     "lr-scaled accumulator"),
    ("15_nadam", "15_nadam/q2", "mu = nadam_mu(t, beta1, self.momentum_decay)\n        mu_next = nadam_mu(t + 1, beta1, self.momentum_decay)",
     "mu = beta1\n        mu_next = beta1", "NAdam without the mu schedule"),
    ("02_step_decay", "02_step_decay/q1", "lr * gamma ** (t // step_size)", "lr * gamma ** ((t + 1) // step_size)",
     "off-by-one schedule indexing"),
    ("04_cosine_annealing", "04_cosine_annealing/q1", "math.cos(math.pi * t / T_max)",
     "math.cos(math.pi * min(t, T_max) / T_max)", "clamped after T_max"),
    ("05_reduce_on_plateau", "05_reduce_on_plateau/q1", "if bad > self.patience:", "if bad >= self.patience:",
     "cut one epoch early"),
    ("06_warmup", "06_warmup/q2", "lr * min(t / warmup, 1.0)", "lr * min((t + 1) / warmup, 1.0)",
     "first update with a nonzero LR"),
    ("09_adagrad", "09_adagrad/q1", "(np.sqrt(s) + self.eps)", "np.sqrt(s + self.eps)", "eps inside the square root"),
    ("10_rmsprop", "10_rmsprop/q1", "avg = np.sqrt(square_avg) + self.eps",
     "avg = np.sqrt(square_avg / (1 - a ** (state.step + 1))) + self.eps", "bias correction added"),
    ("07_combining_schedules", "07_combining_schedules/q1", "k = t - warmup", "k = t", "cosine not restarted"),
    ("16_choosing_a_method", "16_choosing_a_method/q1", "np.mean(np.where(np.isfinite(loss), np.minimum(loss, cap), cap), axis=0)",
     "np.mean(loss, axis=0)", "losses not capped"),
    ("16_choosing_a_method", "16_choosing_a_method/q2", "np.std(d, ddof=1)", "np.std(d)", "population standard deviation"),
    ("16_choosing_a_method", "16_choosing_a_method/q3", "if v is not None and np.ndim(v) > 0", "if v is not None",
     "scalars counted as one float each"),
    ("18_sparse_gradients", "18_sparse_gradients/q2", "r = np.flatnonzero(np.bincount(np.asarray(indices), minlength=len(p)))",
     "r = np.arange(len(p))",
     "every row updated (dense Adam)"),
]


def _mutated(tmp_path, i, stem, old, new):
    nb = nbformat.read(ROOT / "solutions" / f"{stem}.ipynb", as_version=4)
    hits = 0
    for cell in nb.cells:
        if cell.cell_type == "code" and old in cell.source:
            cell.source = cell.source.replace(old, new)
            hits += 1
    assert hits == 1, f"{stem}: {old!r} not found once"
    path = tmp_path / f"wrong{i:02d}_{stem}.ipynb"
    nbformat.write(nb, path)
    return path


def test_known_mistakes_lose_points_and_get_their_hint(tmp_path):
    paths = [_mutated(tmp_path, i, stem, old, new) for i, (stem, _, old, new, _) in enumerate(WRONG)]
    results = batch.grade_paths(paths, workers=2)
    for (stem, key, _, _, hint), r in zip(WRONG, results):
        assert r.stem == stem
        by_key = {q.key: q for q in r.questions}
        q = by_key[key]
        assert q.score < q.max_score, f"{key} with '{hint}' earned full marks"
        assert f"looks like: {hint}" in q.output(), q.output()
        for other in r.questions:  # the other questions of the notebook are unaffected
            if other.key != key and not (stem == "15_nadam" and other.key == "15_nadam/q1"):
                assert other.score == other.max_score, other.output()


# --------------------------------------------------------------------------- Gradescope
def test_gradescope_bundle_grades_like_gradescope(tmp_path):
    import os
    import subprocess
    import sys
    import zipfile

    from lrcourse.__main__ import main
    assert main(["gradescope", "--out", str(tmp_path / "bundle"), "--stem", "02_step_decay"]) == 0
    zpath = tmp_path / "bundle" / "autograder.zip"
    names = zipfile.ZipFile(zpath).namelist()
    assert {"setup.sh", "run_autograder", "requirements.txt", "lrcourse/grading/batch.py", "lrcourse/grading/child.py"} <= set(names)
    for submitted, expected in [(ROOT / "solutions" / "02_step_decay.ipynb", 4.5),
                                (ROOT / "exercises" / "02_step_decay.ipynb", 0.0), (None, 0.0)]:
        root = tmp_path / f"autograder{expected}{submitted is None}"
        zipfile.ZipFile(zpath).extractall(root / "source")   # what Gradescope does with the zip
        (root / "submission").mkdir()
        if submitted is not None:
            (root / "submission" / "my work.ipynb").write_bytes(submitted.read_bytes())
        r = subprocess.run([sys.executable, str(root / "source" / "run_autograder")], capture_output=True, text=True,
                           env={**os.environ, "AUTOGRADER_ROOT": str(root)}, timeout=120)
        assert r.returncode == 0, r.stderr
        data = json.loads((root / "results" / "results.json").read_text())
        assert data["score"] == expected, data
        if submitted is None:
            assert "No .ipynb notebook" in data["output"]
        else:
            assert [t["max_score"] for t in data["tests"]] == [2.0, 2.0, 0.5, 0.0]   # q1, q2, prediction, explain
            assert data["output"].startswith("Graded my work.ipynb as exercise 02_step_decay"), data["output"]
    # several notebooks: the one named after the exercise is graded, and the output says so
    root = tmp_path / "autograder-several"
    zipfile.ZipFile(zpath).extractall(root / "source")
    (root / "submission").mkdir()
    (root / "submission" / "a.ipynb").write_bytes((ROOT / "exercises" / "02_step_decay.ipynb").read_bytes())
    (root / "submission" / "02_step_decay.ipynb").write_bytes((ROOT / "solutions" / "02_step_decay.ipynb").read_bytes())
    subprocess.run([sys.executable, str(root / "source" / "run_autograder")], check=True, timeout=120,
                   env={**os.environ, "AUTOGRADER_ROOT": str(root)})
    data = json.loads((root / "results" / "results.json").read_text())
    assert data["score"] == 4.5 and "Graded 02_step_decay.ipynb" in data["output"] and "2 notebooks" in data["output"]
    setup = (tmp_path / "bundle" / "setup.sh").read_text()
    assert "sys.version_info" in setup and json.loads((tmp_path / "bundle" / "assignment.json").read_text()) == {
        "stem": "02_step_decay", "timeout": 10.0, "public_weight": 0.0}
    with pytest.raises(SystemExit):   # a bundle always names its exercise
        main(["gradescope", "--out", str(tmp_path / "nostem")])


def test_assignment_config_sets_the_exercise_and_is_checked(tmp_path):
    from lrcourse.__main__ import main
    sub = tmp_path / "whatever.ipynb"
    sub.write_bytes((ROOT / "solutions" / "02_step_decay.ipynb").read_bytes())
    config = tmp_path / "assignment.json"
    config.write_text('{"stem": "02_step_decay", "public_weight": 0.5}')
    assert main(["grade", str(sub), "--out", str(tmp_path / "out"), "--config", str(config)]) == 0
    rows = list(csv.DictReader(open(tmp_path / "out" / "grades.csv")))
    assert rows[0]["stem"] == "02_step_decay" and rows[0]["score"] == "4.5"
    for bad in ('{"stem": "99_nope"}', '{"public_weight": 2}', '{"stme": "02_step_decay"}', "[1]", "{"):
        config.write_text(bad)
        assert main(["grade", str(sub), "--out", str(tmp_path / "out"), "--config", str(config)]) == 2


def test_numpy_functions_that_import_lazily_work_in_the_child(box):
    """np.unique loads numpy.ma on its first call (NumPy 2.4); lesson 18 coalesces with it. An honest
    answer that check() accepts must not lose its points to an import the sandbox would refuse."""
    src = """
def sparse_to_dense(indices, values, num_rows):
    values = np.asarray(values, dtype=np.float64)
    rows = np.unique(np.asarray(indices))          # plain np.unique is the call that imports numpy.ma
    where = np.searchsorted(rows, np.asarray(indices))
    summed = np.zeros((len(rows),) + values.shape[1:])
    np.add.at(summed, where, values)
    out = np.zeros((num_rows,) + values.shape[1:])
    out[rows] = summed
    return out
"""
    _full_marks_in_the_child(box, "sparse_to_dense", src)
