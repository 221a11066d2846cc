"""Isolation that does not depend on root: the grader run by an ordinary user survives its children.

When the instructor grades as an ordinary user (a laptop, JupyterHub), the children run as
that same user: file permissions and "another uid" protect nothing.  The kernel layers the
child applies to itself (Landlock: files, network, signal and abstract-socket scoping;
seccomp: fork/exec, ptrace, kill & co.) must then stop a child from killing the grader or its
siblings, tracing them, or reading the grader's files.  Here the grader runs as an
unprivileged user with the static check and the audit hook switched off, so only the kernel
layers stand between the attacks and the batch.
"""
from __future__ import annotations

import csv
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading

import nbformat
import numpy
import pytest
from test_grader_adversarial import FIRST_UPDATE, HONEST_BODY, adam_class

from lrcourse.grading import batch, child, reports, sandbox

ROOT = pathlib.Path(__file__).resolve().parent.parent
SETUP = "import numpy as np\nimport math\nfrom lrcourse import optimizers"
HONEST = adam_class(HONEST_BODY)


def attack(body: str) -> str:
    return ("class MyAdam(optimizers.Adam):\n    def step(self, params, grad, state, lr=None):\n"
            "        b = print.__self__\n        os = b.__import__('os')\n"
            + textwrap.indent(textwrap.dedent(body).strip("\n"), "        ") + "\n        return params, state\n")


ATTACKS = {
    "kills the grader": "os.kill(os.getppid(), 9)",
    "kills every process of its user (the grader, its siblings)": "os.kill(-1, 9)",
    "kills the grader's process group": "os.killpg(os.getpgid(os.getppid()), 9)",
    "traces the grader (ptrace attach)": """
        ctypes = b.__import__('ctypes')
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.ptrace(16, os.getppid(), 0, 0) != 0:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    """,
    "reads the grader's memory and environment": """
        b.open('/proc/%d/environ' % os.getppid(), 'rb').read()
    """,
    "reads the reference implementation": """
        b.open(REFERENCE).read()
    """,
    "writes beside the grader": """
        b.open(MARKER, 'w').write('pwned')
    """,
    "kills the grader by its pid (the fork server is the child's parent)": "os.kill(GRADER_PID, 9)",
    "traces the grader by its pid": """
        ctypes = b.__import__('ctypes')
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.ptrace(16, GRADER_PID, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    """,
    "connects to the network": """
        socket = b.__import__('socket')
        socket.create_connection(('127.0.0.1', 22), timeout=1)
    """,
}


def _nb(path: pathlib.Path, answer: str) -> pathlib.Path:
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in (SETUP, FIRST_UPDATE, answer)]),
                   path)
    return path


DRIVER = """
import json, os, pathlib, sys
from lrcourse.grading import batch, reports
mine = pathlib.Path(sys.argv[2]) / "subs"      # the attacks that aim at the grader by its pid learn it here
mine.mkdir()
for p in sorted(pathlib.Path(sys.argv[1]).glob("*.ipynb")):
    (mine / p.name).write_text(p.read_text().replace("GRADER_PID", str(os.getpid())))
paths = sorted(mine.glob("*.ipynb"))
results = batch.grade_paths(paths, workers=2, timeout=4, stem="12_adam", skip_static=True, skip_audit=True)
reports.write_reports(results, pathlib.Path(sys.argv[2]))
print(json.dumps({pathlib.Path(r.path).stem: [q.score for q in r.questions[:2]] + [q.output() for q in r.questions[:1]]
                  for r in results}))
"""


def _ordinary_user():
    """(subprocess keywords that run as an ordinary user, a Python of this version that user can run)."""
    if os.geteuid() != 0:
        return {}, sys.executable
    import pwd
    nobody = pwd.getpwnam("nobody")
    kw = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
    for py in sandbox._interpreters():
        try:
            r = subprocess.run([py, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True,
                               timeout=60, cwd="/", **kw)
        except OSError:   # not executable by that user (an interpreter in a private folder)
            continue
        if r.returncode == 0 and r.stdout.strip() == str(tuple(sys.version_info[:2])):
            return kw, py
    pytest.skip("no interpreter of this Python version can be run by 'nobody' on this host")


def test_a_grader_run_by_an_ordinary_user_survives_its_children():
    box = sandbox.make_sandbox()
    shutil.rmtree(box.workdir)
    if not (box.layers or {}).get("landlock", 0) >= 6 or not (box.layers or {}).get("seccomp"):
        pytest.skip(f"kernel without Landlock ABI >= 6 or seccomp ({box.layers}): see test_missing_layers_warn")
    as_user, python = _ordinary_user()
    base = pathlib.Path(tempfile.mkdtemp(prefix="lrcourse-isolation-"))
    try:
        os.chmod(base, 0o755)
        lib = base / "lib"
        shutil.copytree(ROOT / "lrcourse", lib / "lrcourse", ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copytree(pathlib.Path(numpy.__file__).parent, lib / "numpy", ignore=sandbox.NUMPY_SKIP)
        if (pathlib.Path(numpy.__file__).parent.parent / "numpy.libs").is_dir():
            shutil.copytree(pathlib.Path(numpy.__file__).parent.parent / "numpy.libs", lib / "numpy.libs")
        subs, out = base / "subs", base / "out"
        subs.mkdir()
        out.mkdir()
        marker = out / "MARKER"
        names = {"00_honest": HONEST}
        for i, body in enumerate(ATTACKS.values()):
            names[f"{i + 1:02d}_attack"] = attack(body).replace("REFERENCE", repr(str(lib / "lrcourse" / "optimizers.py"))
                                                            ).replace("MARKER", repr(str(marker)))
        names["99_honest"] = HONEST
        for stem, answer in names.items():
            _nb(subs / f"{stem}.ipynb", answer)
        for p in [base, *base.rglob("*")]:
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
        if as_user:
            os.chown(out, as_user["user"], as_user["group"])
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(lib), "HOME": str(out), "LANG": "C.UTF-8"}
        r = subprocess.run([python, "-c", DRIVER, str(subs), str(out)], capture_output=True, text=True,
                           env=env, cwd=base, timeout=300, **as_user)
        assert r.returncode == 0, f"the grader died (exit {r.returncode}):\n{r.stderr[-3000:]}"
        scores = json.loads(r.stdout.strip().splitlines()[-1])
        rows = list(csv.DictReader(open(out / "grades.csv", encoding="utf-8")))
        assert len(rows) == len(names) and all("WARNING" not in row["isolation"] for row in rows), rows[0]
        for stem in ("00_honest", "99_honest"):
            assert scores[stem][:2] == [4.0, 1.0], scores[stem]
        for (name, _), stem in zip(ATTACKS.items(), sorted(s for s in names if s.endswith("attack"))):
            q1, q2, text = scores[stem]
            assert q1 == 0 and q2 == 1.0, f"{name}: {scores[stem]}"
            assert "Permission denied" in text or "not permitted" in text, f"{name} was not stopped by the kernel:\n{text}"
        assert not marker.exists()
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _function_job(body: str, **extra) -> dict:
    """A job whose target ``f()`` runs ``body`` (builtins as ``b``, ``os``) with the audit hook off: the kernel layers alone."""
    src = ("def f():\n    b = print.__self__\n    os = b.__import__('os')\n"
           + textwrap.indent(textwrap.dedent(body).strip("\n"), "    ") + "\n")
    return {"kind": "function", "target": "f", "base": None, "source": src, "cases": [{"kwargs": {}}], "fields": [],
            "audit": False} | extra


def _full_layers_box(**kw):
    box = sandbox.make_sandbox(**kw)
    if not box.fork_server:
        shutil.rmtree(box.workdir, ignore_errors=True)
        pytest.skip(f"kernel without Landlock ABI >= 6 or seccomp ({box.layers}): every child is a new process")
    return box


def test_forked_children_can_neither_stop_nor_trace_nor_read_their_fork_server():
    """Where the layers hold, a thread's children are forked by one server (numpy imported once); the
    attacks on "the grader" above then hit the server, their parent: each is refused by the kernel,
    the server lives on and forks the next child."""
    box = _full_layers_box(timeout=4)
    try:
        first = sandbox.run_child(box, _function_job("return 1.0"))
        assert first.outputs == {0: ("out", 1.0)}, first
        server = box._servers[threading.get_ident()]
        for name in ("kills the grader", "kills every process of its user (the grader, its siblings)",
                     "kills the grader's process group", "traces the grader (ptrace attach)",
                     "reads the grader's memory and environment"):
            res = sandbox.run_child(box, _function_job(textwrap.dedent(ATTACKS[name]).strip("\n") + "\nreturn 1.0"))
            [(kind, text)] = res.outputs.values()
            assert kind == "error" and ("not permitted" in text or "Permission denied" in text), (name, res)
            assert box._servers[threading.get_ident()] is server and server.proc.poll() is None, name
        # each child is its own session (the grader kills its whole group) with numpy's generator freshly seeded
        own = [sandbox.run_child(box, _function_job("return float(os.getsid(0) == os.getpid()) + np.random.random()"))
               for _ in range(3)]
        values = [r.outputs[0][1] for r in own]
        assert all(1.0 <= v < 2.0 for v in values) and len(set(values)) == 3, values
        assert box._servers[threading.get_ident()] is server
    finally:
        sandbox.close_servers(box)
        shutil.rmtree(box.workdir, ignore_errors=True)


def test_a_grader_goes_on_when_its_fork_server_ends():
    box = _full_layers_box(timeout=4)
    tid = threading.get_ident()
    try:
        assert sandbox.run_child(box, _function_job("return 1.0")).outputs == {0: ("out", 1.0)}
        old = box._servers[tid].proc
        os.killpg(old.pid, 9)
        old.wait(timeout=10)
        res = sandbox.run_child(box, _function_job("return 2.0"))      # a new server
        assert res.outputs == {0: ("out", 2.0)} and box._servers[tid].proc.pid != old.pid, res
        # ended while its child runs: the child is still stopped and reported, and the next one runs
        killer = threading.Timer(1.0, lambda: os.killpg(box._servers[tid].proc.pid, 9))
        killer.start()
        res = sandbox.run_child(box, _function_job("while True:\n    pass"))
        killer.join()
        assert res.problem or res.outputs[0][0] == "error", res
        assert sandbox.run_child(box, _function_job("return 3.0")).outputs == {0: ("out", 3.0)}
    finally:
        sandbox.close_servers(box)
        shutil.rmtree(box.workdir, ignore_errors=True)


def test_without_the_layers_every_child_is_a_new_process(monkeypatch):
    """No server where a child could signal or trace it: a simulated kernel without Landlock/seccomp."""
    real = sandbox._probe
    monkeypatch.setattr(sandbox, "_probe", lambda *a: ((None if real(*a)[0] is None else
                                                        {"landlock": 0, "seccomp": False}), ""))
    box = sandbox.make_sandbox()
    try:
        assert not box.fork_server
        res = sandbox.run_child(box, _function_job("return float(os.getsid(0) == os.getpid())"))
        assert res.outputs == {0: ("out", 1.0)} and not box._servers, res
    finally:
        shutil.rmtree(box.workdir, ignore_errors=True)


def test_missing_layers_warn_loudly_at_the_start_and_in_every_row(tmp_path, monkeypatch, capsys):
    """On a kernel without Landlock/seccomp (simulated), the batch says so on stderr and in the CSV."""
    real = sandbox._probe

    def without_kernel_layers(*args):
        layers, why = real(*args)
        return (None if layers is None else {"landlock": 0, "seccomp": False}), why
    monkeypatch.setattr(sandbox, "_probe", without_kernel_layers)
    sub = tmp_path / "02_step_decay.ipynb"
    sub.write_bytes((ROOT / "solutions" / "02_step_decay.ipynb").read_bytes())
    results = batch.grade_paths([sub], workers=1)
    assert "WARNING" in capsys.readouterr().err
    rows = list(csv.DictReader(open(reports.write_reports(results, tmp_path / "out"), encoding="utf-8")))
    assert rows[0]["isolation"].startswith("WARNING: ") and "no Landlock" in rows[0]["isolation"]
    assert "container" in rows[0]["isolation"] and rows[0]["score"] == "4.5"


def test_a_child_that_cannot_apply_the_required_layers_does_not_run_the_code():
    box = sandbox.make_sandbox()
    try:
        box.require = {"landlock": 99, "seccomp": True}      # more than any kernel offers
        res = sandbox.run_child(box, {"kind": "function", "target": "f", "base": None, "source": "def f():\n    return 1.0\n",
                                     "cases": [{"kwargs": {}}], "fields": []})
        assert res.fatal and "kernel isolation could not be applied" in res.fatal and not res.outputs
    finally:
        shutil.rmtree(box.workdir, ignore_errors=True)



LANDLOCKED_READ = """
import sys
sys.path.insert(0, sys.argv[1])
import child
layers = child.kernel_sandbox(child._read_roots(sys.argv[3], stdlib=sys.argv[2]))
for path in sys.argv[4:]:
    try:
        open(path).read()
        print("read", path)
    except OSError as exc:
        print("refused", path, exc.errno)
"""


def test_landlock_reads_the_standard_library_but_not_what_is_installed_into_it(tmp_path):
    """A Python without a venv keeps installed packages (a non-editable lrcourse) inside its stdlib folder."""
    if child.landlock_abi() < 1:
        pytest.skip("no Landlock in this kernel: the batch warns (test_missing_layers_warn...)")
    stdlib, site = tmp_path / "lib" / "python3.x", tmp_path / "site"
    (stdlib / "site-packages" / "lrcourse").mkdir(parents=True)
    (stdlib / "json").mkdir()
    site.mkdir()
    for f in (stdlib / "os.py", stdlib / "json" / "__init__.py", stdlib / "site-packages" / "lrcourse" / "optimizers.py",
              site / "numpy_like.py", tmp_path / "elsewhere.py"):
        f.write_text("x = 1\n")
    link = tmp_path / "innocent"
    link.symlink_to(stdlib / "site-packages" / "lrcourse")
    paths = [stdlib / "os.py", stdlib / "json" / "__init__.py", site / "numpy_like.py",
             stdlib / "site-packages" / "lrcourse" / "optimizers.py", link / "optimizers.py", tmp_path / "elsewhere.py"]
    r = subprocess.run([sys.executable, "-I", "-c", LANDLOCKED_READ, str(ROOT / "lrcourse" / "grading"), str(stdlib), str(site),
                        *map(str, paths)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    verdicts = [line.split()[0] for line in r.stdout.splitlines()]
    assert verdicts == ["read"] * 3 + ["refused"] * 3, r.stdout

