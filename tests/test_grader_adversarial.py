"""Submissions that try to game the grader never earn a point they did not earn honestly.

Each attack below is a 12_adam submission whose ``MyAdam`` cheats (or sabotages) and whose
``adam_first_update`` is honest: the cheat must score 0 and the honest question full
marks, so an attack costs exactly the questions it touches.  Every attack is graded three times:
with all layers. Every attack the static (syntax-tree) layer refuses is graded twice more: with
that layer switched off, which shows that the runtime layer in the child process stops it on its
own; and with the audit hook off as well, which shows that the kernel layers (Landlock, seccomp)
stop it on their own. (The others never meet the static layer, so those runs would repeat the first.)
"""
from __future__ import annotations

import hashlib
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap

import nbformat
import numpy
import pytest

from lrcourse.grading import batch, questions, reports, rules, sandbox
from lrcourse.grading.notebook import MAX_NOTEBOOK_BYTES, extract_source, notebook_cells

ROOT = pathlib.Path(__file__).resolve().parent.parent
REPO = str(ROOT)
SITE = next(p for p in sys.path if p.endswith("site-packages"))

SETUP = """
%matplotlib inline
import numpy as np
import torch
from lrcourse import optimizers, schedules, problems, runs
import math
"""

FIRST_UPDATE = """
def adam_first_update(lr, betas, eps, g):
    g = np.asarray(g, dtype=np.float64)
    return -lr * g / (np.abs(g) + eps)
"""

HONEST_BODY = """
lr = self.lr if lr is None else lr
b1, b2 = self.betas
t = state.step + 1
g = grad + self.weight_decay * params
m = b1 * state.exp_avg + (1 - b1) * g
v = b2 * state.exp_avg_sq + (1 - b2) * g * g
p = params - lr / (1 - b1**t) * m / (np.sqrt(v) / math.sqrt(1 - b2**t) + self.eps)
return p, optimizers.AdamState(t, m, v, None)
"""


def adam_class(body: str, class_extra: str = "") -> str:
    return ("class MyAdam(optimizers.Adam):\n" + textwrap.indent(textwrap.dedent(class_extra), "    ")
            + "    def step(self, params, grad, state, lr=None):\n"
            + textwrap.indent(textwrap.dedent(body).strip("\n"), "        ") + "\n")


ESCAPE = "b = print.__self__\n"   # the real builtins module, through a bound builtin's __self__


def esc(body: str) -> str:
    """An attack body that starts from the real builtins module."""
    return ESCAPE + textwrap.dedent(body).strip("\n")

def _forged_code() -> bytes:
    """Compiled code that claims to be a standard-library file and loads the reference from the checkout."""
    import marshal
    src = f"import sys\nsys.path.insert(0, {REPO!r})\nfrom lrcourse.optimizers import Adam\n"
    return marshal.dumps(compile(src, os.__file__, "exec"))


ATTACKS = {
    # -- handing the work to a ready-made implementation ------------------------------------------
    "super().step": adam_class("return super().step(params, grad, state, lr)"),
    "the library class's step": adam_class("return optimizers.Adam.step(self, params, grad, state, lr)"),
    "step borrowed as a class attribute": "class MyAdam(optimizers.Adam):\n    step = optimizers.Adam.step\n",
    "name rebound to the library class": [adam_class("raise NotImplementedError"), "MyAdam = optimizers.Adam"],
    "torch.optim.Adam": adam_class("""
        import torch
        p = torch.tensor(params, requires_grad=True)
        opt = torch.optim.Adam([p], lr=self.lr if lr is None else lr, betas=self.betas, eps=self.eps)
        p.grad = torch.tensor(grad)
        opt.step()
        return p.detach().numpy(), state
    """),
    "lrcourse imported under another name": adam_class("""
        import lrcourse.optimizers as reference
        return reference.Adam.step(self, params, grad, state, lr)
    """),
    "__import__": adam_class("""
        ref = __import__("lrcourse.optimizers", fromlist=["Adam"])
        return ref.Adam.step(self, params, grad, state, lr)
    """),
    "importlib": adam_class("""
        import importlib
        return importlib.import_module("lrcourse.optimizers").Adam.step(self, params, grad, state, lr)
    """),
    "real builtins via print.__self__": adam_class(esc("""
        ref = b.__import__("lrcourse.optimizers", fromlist=["Adam"])
        return ref.Adam.step(self, params, grad, state, lr)
    """)),
    "sys.path pointed at the repository and site-packages": adam_class(esc(f"""
        sys = b.__import__("sys")
        sys.path[:0] = [{REPO!r}, {SITE!r}]
        sys.meta_path[:] = [m for m in sys.meta_path]
        ref = b.__import__("lrcourse.optimizers", fromlist=["Adam"])
        return ref.Adam.step(self, params, grad, state, lr)
    """)),
    "importlib internals, past the import audit": adam_class(esc(f"""
        sys = b.__import__("sys")
        sys.path[:0] = [{REPO!r}]
        boot = sys.modules["importlib._bootstrap"]
        ref = boot._find_and_load("lrcourse.optimizers", b.__import__)
        return ref.Adam.step(self, params, grad, state, lr)
    """)),
    "exec of the reference source": adam_class(esc(f"""
        ns = {{"__name__": "ref"}}
        b.exec(b.open({REPO + '/lrcourse/optimizers.py'!r}).read(), ns)
        return ns["Adam"].step(self, params, grad, state, lr)
    """)),
    "SourceFileLoader on the reference": adam_class(esc(f"""
        sys = b.__import__("sys")
        loader = sys.modules["importlib._bootstrap_external"].SourceFileLoader("ref", {REPO + '/lrcourse/optimizers.py'!r})
        return loader.load_module().Adam.step(self, params, grad, state, lr)
    """)),
    "ctypes": adam_class(esc("""
        ctypes = b.__import__("sys").modules.get("ctypes") or b.__import__("ctypes")
        ctypes.CDLL(None).system(b"touch /tmp/lrcourse-pwned")
        return params, state
    """)),
    "subprocess": adam_class(esc("""
        b.__import__("subprocess").run(["touch", "/tmp/lrcourse-pwned"])
        return params, state
    """)),
    "os reached through a name imported from numpy": adam_class("""
        from numpy.lib import _datasource
        _datasource.os.system("touch /tmp/lrcourse-pwned")
        return params, state
    """),
    "attribute access through strings (operator.attrgetter)": adam_class("""
        import operator
        b = operator.attrgetter("__self__")(print)
        ref = b.__import__("lrcourse.optimizers", fromlist=["Adam"])
        return ref.Adam.step(self, params, grad, state, lr)
    """),
    "a code object whose file name the submission chose (marshal)": adam_class(esc(f"""
        code = b.__import__("marshal").loads({_forged_code()!r})
        ns = {{}}
        b.exec(code, ns)
        return ns["Adam"].step(self, params, grad, state, lr)
    """)),
    # -- looking for the expected values ----------------------------------------------------------
    "reads files: cwd, parents, /proc, /tmp": adam_class(esc("""
        os = b.__import__("os")
        for path in ["expected.json", "../job.json", "../results", "/proc/self/cmdline", "/proc/self/environ",
                     "/proc/" + str(os.getppid()) + "/environ"]:
            try:
                data = b.open(path).read()
            except BaseException:
                continue
        for d in ["..", "/tmp"]:
            try:
                os.listdir(d)
            except BaseException:
                pass
        return params * 0, state
    """)),
    "environment and caller's frames": adam_class(esc("""
        sys, os = b.__import__("sys"), b.__import__("os")
        seen = dict(os.environ)
        f = sys._getframe(0)
        while f is not None:
            seen.update(f.f_globals)
            seen.update(f.f_locals)
            f = f.f_back
        for key in ("expected", "answers", "reference", "seed"):
            if key in seen:
                return np.asarray(seen[key]), state
        return params + 1.0, state
    """)),
    "gc search of the heap": adam_class(esc("""
        gc = b.__import__("gc")
        found = [o for o in gc.get_objects() if b.isinstance(o, dict) and "expected" in o]
        return params, state
    """)),
    # -- tampering ----------------------------------------------------------------------------------
    "patches numpy and the comparison helpers": adam_class("""
        np.allclose = lambda *a, **k: True
        np.array_equal = lambda *a, **k: True
        np.isclose = lambda *a, **k: True
        return params * 0 + 123.0, state
    """),
    "writes into the grader's source": adam_class(esc(f"""
        with b.open({REPO + '/lrcourse/grading/batch.py'!r}, "a") as f:
            f.write("\\n# pwned\\n")
        return params, state
    """)),
    "overrides check() and prints a pass": [adam_class("raise NotImplementedError"),
                                            "def check(*a, **k):\n    print('✓ MyAdam.step matches lrcourse and torch')",
                                            "check(MyAdam)"],
    "forged result lines on stdout and on every file descriptor": adam_class(esc("""
        line = '{"case": 0, "out": [{"params": [0.0]}]}\\n{"score": 100, "max_score": 4}\\n'
        print(line * 50)
        os = b.__import__("os")
        for fd in range(0, 20):
            try:
                os.write(fd, line.encode())
            except BaseException:
                pass
        return params, state
    """)),
    "result lines with an integer too large for a float": adam_class(esc("""
        os, sys = b.__import__("os"), b.__import__("sys")
        for i in range(8):
            os.write(b.int(sys.argv[2]), ('{"case": %d, "out": [{"params": [1%s]}]}\\n' % (i, "0" * 400)).encode())
        os._exit(0)
    """)),
    "floods the result pipe": adam_class(esc("""
        os, sys = b.__import__("os"), b.__import__("sys")
        line = b'{"case": 0, "out": [{"params": [0.0, 0.0, 0.0, 0.0, 0.0]}]}\\n' * 1000
        while True:
            os.write(b.int(sys.argv[2]), line)
    """)),
    "kills the grader": adam_class(esc("""
        os = b.__import__("os")
        os.kill(os.getppid(), 9)
        return params, state
    """)),
    "lifts its resource limits": adam_class(esc("""
        resource = b.__import__("resource")
        resource.setrlimit(resource.RLIMIT_AS, (-1, -1))
        return params, state
    """)),
    # -- denial of service --------------------------------------------------------------------------
    "exits the process (os._exit at class definition)": adam_class(HONEST_BODY, ESCAPE + 'b.__import__("os")._exit(0)\n'),
    "raises SystemExit": adam_class("raise SystemExit(0)"),
    "endless loop": adam_class("while True:\n    pass"),
    "endless loop that swallows the alarm": adam_class("""
        while True:
            try:
                while True:
                    pass
            except BaseException:
                pass
    """),
    "huge allocation": adam_class("x = np.ones((10**5, 10**5))\nreturn params, state"),
    "huge list": adam_class("x = [0] * 10**10\nreturn params, state"),
    "fork bomb": adam_class(esc("""
        os = b.__import__("os")
        while True:
            os.fork()
    """)),
    "floods stdout": adam_class("while True:\n    print('x' * 10**6)"),
    "deep recursion": adam_class("def f(n):\n    return f(n + 1)\nreturn f(0)"),
}


def _public_answers() -> str:
    """A MyAdam that knows the public cases' answers by heart (they are the same in every run)."""
    q = questions.find_target("MyAdam")
    table = {}
    for case in questions.draw_cases(q, questions.public_rng(q), q.public):
        for g, row in zip(case["grads"], questions.expected_output(q, case)):
            table[tuple(g)] = (row["params"], row["exp_avg"], row["exp_avg_sq"])
    return (f"ANSWERS = {table!r}\n\n" + adam_class("""
        p, m, v = ANSWERS.get(tuple(float(x) for x in grad), (params, state.exp_avg, state.exp_avg_sq))
        return np.array(p), optimizers.AdamState(state.step + 1, np.array(m), np.array(v), None)
    """))


ATTACKS["hard-coded answers to the public cases"] = _public_answers()


def notebook(path: pathlib.Path, attack) -> pathlib.Path:
    cells = [SETUP, FIRST_UPDATE] + (attack if isinstance(attack, list) else [attack])
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(textwrap.dedent(c).strip("\n")) for c in cells])
    nb.metadata["lrcourse"] = {"stem": "13_amsgrad"}    # student-editable: never decides what is graded
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def attack_paths(tmp_path_factory):
    d = tmp_path_factory.mktemp("attacks")
    return {name: notebook(d / f"attack{i:02d}.ipynb", a) for i, (name, a) in enumerate(ATTACKS.items())}


def _sha(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def protected():
    files = [ROOT / "lrcourse" / n for n in ("grading/batch.py", "grading/child.py", "grading/questions.py", "optimizers.py")]
    before = {f: _sha(f) for f in files}
    yield
    assert {f: _sha(f) for f in files} == before, "a submission modified the grader's files"
    assert not pathlib.Path("/tmp/lrcourse-pwned").exists()


def _statically_refused(path) -> bool:
    sources, _ = notebook_cells(path)
    q = next(q for q in questions.QUESTIONS["12_adam"] if q.key == "12_adam/q1")
    source, _ = extract_source(sources, q.target)
    return source is not None and bool(rules.static_problems(source, q))


@pytest.mark.parametrize("layers", ["all layers", "runtime layer only", "kernel layers only"])
def test_attacks_earn_nothing_and_cost_only_their_question(attack_paths, protected, layers):
    names = list(attack_paths)
    if layers != "all layers":
        # Only what the static layer stops can show another layer holding on its own; the rest
        # (endless loops, floods, crashes) meet the same runtime and kernel layers in every run.
        names = [n for n in names if _statically_refused(attack_paths[n])]
        assert len(names) >= 25, names
    if layers == "kernel layers only":
        box = sandbox.make_sandbox(timeout=4)
        sandbox.shutil.rmtree(box.workdir)
        if not (box.require or {}).get("landlock") or not (box.require or {}).get("seccomp"):
            pytest.skip(f"this kernel lacks Landlock or seccomp ({box.layers}): the grader warns (test_grader_isolation)")
    results = batch.grade_paths([attack_paths[n] for n in names], workers=2, timeout=4, stem="12_adam",
                                 skip_static=(layers != "all layers"), skip_audit=(layers == "kernel layers only"))
    assert len(results) == len(names)
    for name, r in zip(names, results):
        by_key = {q.key: q for q in r.questions}
        cheat, honest = by_key["12_adam/q1"], by_key["12_adam/q2"]
        assert cheat.score == 0, f"{name} ({layers}) earned {cheat.score}:\n{cheat.output()}"
        assert honest.score == honest.max_score, f"{name} ({layers}) cost the honest question:\n{honest.output()}"
        assert len(cheat.lines) > 1 and cheat.lines[1].strip(), f"{name}: no explanation given"
        assert "syntax error" not in cheat.output(), f"{name}: the attack itself is broken"


def test_public_cases_earn_only_their_weight(attack_paths):
    path = attack_paths["hard-coded answers to the public cases"]
    [plain] = batch.grade_paths([path], workers=1, stem="12_adam")
    [weighted] = batch.grade_paths([path], workers=1, stem="12_adam", public_weight=1.0)
    q0, q1 = plain.questions[0], weighted.questions[0]
    assert q0.score == 0 and "public 2 of 2" in q0.lines[0] and "hidden cases 0 of 6" in q0.lines[0], q0.output()
    assert q1.score == 1.0, q1.output()       # 2 of 8 equally weighted cases of 4 points


def test_the_assignment_decides_what_is_graded(tmp_path):
    """A notebook named for 12_adam that carries 13_amsgrad's answers and metadata is graded as 12_adam."""
    nb = (ROOT / "solutions" / "13_amsgrad.ipynb").read_text()
    path = tmp_path / "12_adam.ipynb"
    path.write_text(nb)
    for kw in ({}, {"stem": "12_adam"}):
        [r] = batch.grade_paths([path], workers=2, **kw)
        assert r.stem == "12_adam" and r.max_score == 5.5 and r.score == 0, r.message
        assert "metadata names '13_amsgrad', graded as 12_adam" in r.message
    other = tmp_path / "my_work.ipynb"
    other.write_text(nb)
    [r] = batch.grade_paths([other], workers=1)
    assert r.stem is None and r.max_score == 0 and "file name" in r.message
    both = tmp_path / "12_adam_13_amsgrad.ipynb"
    both.write_text(nb)
    [r] = batch.grade_paths([both], workers=1)
    assert r.stem is None and "several exercises" in r.message


def test_static_layer_names_the_offence(attack_paths):
    q = questions.find_target("MyAdam")
    allowed_at_static_level = {"patches numpy and the comparison helpers", "endless loop", "huge allocation",
                               "huge list", "floods stdout", "deep recursion", "raises SystemExit",
                               "endless loop that swallows the alarm", "overrides check() and prints a pass",
                               "hard-coded answers to the public cases"}
    for name, path in attack_paths.items():
        sources, _ = notebook_cells(path)
        src, why = extract_source(sources, "MyAdam")
        problems = rules.static_problems(src, q) if src else [why]
        if name in allowed_at_static_level:
            continue  # plain Python that is merely wrong, slow or hungry: the runtime limits handle it
        assert problems, f"the static layer did not flag: {name}"


def test_sandbox_runs_children_unprivileged_when_root():
    box = sandbox.make_sandbox()
    try:
        site_numpy = pathlib.Path(box.site) / "numpy"
        assert site_numpy.is_dir() and not site_numpy.is_symlink(), "the sandbox's numpy must be its own copy"
        assert not any(p.is_symlink() for p in pathlib.Path(box.site).rglob("*"))
        if os.geteuid() != 0:
            assert box.user is None  # an ordinary user's children run as that user (the kernel layers apply)
        else:
            assert box.user is not None and box.user != 0, box.warning
    finally:
        shutil.rmtree(box.workdir, ignore_errors=True)


PRIVATE_NUMPY = """
import sys
sys.path.insert(0, sys.argv[1])
import numpy
assert numpy.__file__.startswith(sys.argv[1]), numpy.__file__
from lrcourse.grading import batch, sandbox
box = sandbox.make_sandbox()
try:
    print(box.user, box.warning)
    [r] = batch.grade_paths([sys.argv[2]], workers=1, sandbox=box)
    print(r.score, r.max_score)
finally:
    import shutil
    shutil.rmtree(box.workdir)
"""


def test_children_run_unprivileged_when_numpy_lives_in_a_private_folder(tmp_path):
    """Issue 10.2: a checkout/venv in a 0700 folder (a home directory, ``mktemp -d``) still grades as nobody."""
    if os.geteuid() != 0:
        pytest.skip("only root drops privileges; an ordinary user's children can read what the grader reads")
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    src = pathlib.Path(numpy.__file__).parent
    shutil.copytree(src, private / "numpy", ignore=sandbox.NUMPY_SKIP, symlinks=True)
    if (src.parent / "numpy.libs").is_dir():
        shutil.copytree(src.parent / "numpy.libs", private / "numpy.libs")
    os.chmod(private, 0o700)
    r = subprocess.run([sys.executable, "-c", PRIVATE_NUMPY, str(private), str(ROOT / "solutions" / "12_adam.ipynb")],
                       capture_output=True, text=True, timeout=300, cwd=ROOT,
                       env={**os.environ, "TMPDIR": str(private)})   # a private temporary folder, too
    assert r.returncode == 0, r.stderr[-3000:]
    user_line, score_line = r.stdout.strip().splitlines()[-2:]
    assert user_line.split()[0] not in ("None", "0"), user_line
    assert score_line == "5.5 5.5", r.stdout   # q1 + q2 + the prediction


def test_malicious_files_beside_the_notebook_change_nothing(tmp_path):
    sub = tmp_path / "student"
    (sub / "lrcourse").mkdir(parents=True)
    marker = tmp_path / "MARKER"
    evil = f"open({str(marker)!r}, 'w').write('ran')\n"
    for name in ("numpy.py", "math.py", "sitecustomize.py", "usercustomize.py", "_grader_child.py", "child.py", "runners.py", "namespace.py",
                 "lrcourse/__init__.py", "lrcourse/questions.py", "json.py", "os.py"):
        (sub / name).write_text(evil + "raise SystemExit(0)\n")
    (sub / "expected.json").write_text('{"score": 100}')
    (sub / "results.json").write_text('{"score": 100}')
    honest = sub / "12_adam.ipynb"
    honest.write_bytes((ROOT / "solutions" / "12_adam.ipynb").read_bytes())
    stub = sub / "12_adam_exercise.ipynb"
    stub.write_bytes((ROOT / "exercises" / "12_adam.ipynb").read_bytes())
    results = batch.grade_paths([honest, stub], workers=2)
    assert results[0].score == results[0].max_score == 5.5
    assert results[1].score == 0
    assert not marker.exists()


def test_hostile_notebook_files_still_get_a_row(tmp_path):
    paths = []
    for name, content in [("deep.ipynb", "[" * 200000), ("cells.ipynb", '{"cells": {"a": 1}}'),
                          ("types.ipynb", '{"cells": [{"cell_type": "code", "source": [1, 2, null]}, 5]}'),
                          ("binary.ipynb", b"\x00\xff\xfe" * 100), ("huge.ipynb", None)]:
        p = tmp_path / name
        if content is None:
            with open(p, "wb") as f:
                f.truncate(MAX_NOTEBOOK_BYTES + 1)
        elif isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content)
        paths.append(p)
    results = batch.grade_paths(paths, workers=2)
    assert [pathlib.Path(r.path).name for r in results] == [p.name for p in paths]
    assert all(r.score == 0 and r.message for r in results)
    csv_path = reports.write_reports(results, tmp_path / "out")
    assert len(csv_path.read_text().strip().splitlines()) == len(paths) + 1
