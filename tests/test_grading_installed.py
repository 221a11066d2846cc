"""Grading with lrcourse installed from a wheel, not from this checkout (issue 11, "Done when").

The wheel is built from a copy of the sources and installed into a throw-away virtual
environment whose only other package is a copy of numpy (no torch, no editable lrcourse);
the batch runs from another folder, so nothing of the checkout can be imported.  Honest,
wrong, unfinished and hostile submissions (the red-team attacks retargeted at the installed
package's files) are graded as root and, where the suite runs as root, as an ordinary user.
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
import zipfile

import nbformat
import numpy
import pytest
from test_grader_adversarial import ATTACKS, REPO, notebook
from test_grader_isolation import _ordinary_user

from lrcourse.grading import sandbox

ROOT = pathlib.Path(__file__).resolve().parent.parent
# the attacks that reach for the reference implementation by its path or module name
HOSTILE = ["lrcourse imported under another name", "importlib internals, past the import audit",
           "exec of the reference source", "SourceFileLoader on the reference", "ctypes"]


# The same batch through the installed package's API with the static check off (and, where the
# kernel offers Landlock and seccomp, the audit hook too): the layers that stand between a
# child and the installed reference must hold on their own.
RUNTIME_ONLY = """
import json, pathlib, shutil, sys
from lrcourse.grading import batch, sandbox
box = sandbox.make_sandbox(timeout=4)
kernel = bool(box.require and box.require["landlock"] >= 1 and box.require["seccomp"])
try:
    results = batch.grade_paths(sorted(pathlib.Path(sys.argv[1]).glob("*.ipynb")), workers=2, stem="12_adam",
                                sandbox=box, skip_static=True, skip_audit=kernel)
finally:
    shutil.rmtree(box.workdir)
print(json.dumps({"kernel": kernel, "scores": {pathlib.Path(r.path).stem: [q.score for q in r.questions[:2]]
                  + [r.questions[0].output()] for r in results}}))
"""


def _run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)
    assert r.returncode == 0, f"{cmd[:4]} failed:\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
    return r


@pytest.fixture(scope="module")
def installed():
    """(a Python whose lrcourse is the installed wheel, its site-packages, the base folder); world-readable."""
    python = getattr(sys, "_base_executable", sys.executable)
    if os.geteuid() == 0:
        try:
            python = _ordinary_user()[1]     # an interpreter that the ordinary user can run too
        except pytest.skip.Exception:
            pass
    base = pathlib.Path(tempfile.mkdtemp(prefix="lrcourse-wheel-"))
    try:
        src = base / "src"
        src.mkdir()
        for name in ("pyproject.toml", "README.md", "LICENSE"):
            shutil.copy(ROOT / name, src / name)
        shutil.copytree(ROOT / "lrcourse", src / "lrcourse", ignore=shutil.ignore_patterns("__pycache__"))
        _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
              "-w", str(base / "dist"), str(src)], cwd=base)
        [wheel] = (base / "dist").glob("lrcourse-*.whl")
        names = zipfile.ZipFile(wheel).namelist()
        assert {"lrcourse/grading/child.py", "lrcourse/grading/questions.py", "lrcourse/__main__.py",
                "lrcourse/data/breast_cancer.csv.gz", "lrcourse/data/README.md"} <= set(names)  # the data set too
        venv = base / "venv"
        _run([python, "-m", "venv", "--without-pip", str(venv)])
        _run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--no-deps",
              "--no-index", "-q", str(wheel)])
        site = pathlib.Path(_run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]
                                 ).stdout.strip())
        deps = base / "deps"        # numpy alone, as a separate site folder (torch and the checkout stay out)
        np_dir = pathlib.Path(numpy.__file__).parent
        shutil.copytree(np_dir, deps / "numpy", ignore=sandbox.NUMPY_SKIP)
        if (np_dir.parent / "numpy.libs").is_dir():
            shutil.copytree(np_dir.parent / "numpy.libs", deps / "numpy.libs")
        (site / "numpy_only.pth").write_text(f"{deps}\n")
        for p in [base, *base.rglob("*")]:
            if not p.is_symlink():
                os.chmod(p, 0o755 if p.is_dir() or os.access(p, os.X_OK) else 0o644)
        yield venv / "bin" / "python", site, base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _batch(folder: pathlib.Path, site: pathlib.Path) -> dict:
    """submission stem -> (expected MyAdam score, expected adam_first_update score)."""
    folder.mkdir()
    expected = {}
    nb = nbformat.read(ROOT / "solutions" / "12_adam.ipynb", as_version=4)
    nbformat.write(nb, folder / "honest.ipynb")
    expected["honest"] = (4.0, 1.0)
    for c in nb.cells:
        c.source = c.source.replace("np.sqrt(v) / math.sqrt(1 - beta2**t) + self.eps",
                                    "np.sqrt(v / (1 - beta2**t) + self.eps)")   # eps inside the square root
    nbformat.write(nb, folder / "mistake.ipynb")
    expected["mistake"] = (0.0, 1.0)
    shutil.copy(ROOT / "exercises" / "12_adam.ipynb", folder / "unfinished.ipynb")
    expected["unfinished"] = (0.0, 0.0)
    for i, name in enumerate(HOSTILE):   # aimed at the installed package, not at the checkout
        notebook(folder / f"attack{i}.ipynb", ATTACKS[name].replace(REPO, str(site)))
        expected[f"attack{i}"] = (0.0, 1.0)
    return expected


@pytest.mark.parametrize("who", ["the invoking user", "an ordinary user"])
def test_an_installed_wheel_grades_honest_and_hostile_work(installed, who, tmp_path):
    python, site, base = installed
    as_user = {}
    if who == "an ordinary user":
        if os.geteuid() != 0:
            pytest.skip("the suite runs as an ordinary user already: the first case is this one")
        as_user, _ = _ordinary_user()
    work = pathlib.Path(tempfile.mkdtemp(prefix="grade-", dir=base))
    try:
        expected = _batch(work / "subs", site)
        for p in [work, *work.rglob("*")]:
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
        out = work / "out"
        out.mkdir()
        if as_user:
            os.chown(out, as_user["user"], as_user["group"])
        env = {"PATH": "/usr/bin:/bin", "HOME": str(out), "LANG": "C.UTF-8"}
        where = _run([str(python), "-c", "import lrcourse, numpy, importlib.util as u; print(lrcourse.__file__); "
                      "print(u.find_spec('torch'))"], cwd=work, env=env, **as_user).stdout.split()
        assert where[0].startswith(str(site)) and where[1] == "None", where    # the wheel; no torch
        r = _run([str(python), "-m", "lrcourse", "grade", str(work / "subs"), "--out", str(out), "--workers", "2",
                  "--timeout", "4", "--stem", "12_adam"], cwd=work, env=env, **as_user)
        rows = {pathlib.Path(row["submission"]).stem: row for row in csv.DictReader(open(out / "grades.csv"))}
        assert set(rows) == set(expected), r.stdout
        for stem, (q1, q2) in expected.items():
            got = (float(rows[stem]["12_adam/q1"]), float(rows[stem]["12_adam/q2"]))
            assert got == (q1, q2), f"{stem}: {got}, expected {(q1, q2)}; {rows[stem]['message']}"
        assert "differs at" in rows["mistake"]["message"], rows["mistake"]["message"]
        r = _run([str(python), "-c", RUNTIME_ONLY, str(work / "subs")], cwd=work, env=env, **as_user)
        report = json.loads(r.stdout.strip().splitlines()[-1])
        for stem, (q1, q2) in expected.items():
            got = report["scores"][stem]
            assert tuple(got[:2]) == (q1, q2), f"{stem} without the static check: {got}"
        if report["kernel"]:   # the reference files were there to read, and the kernel said no
            for stem in ("attack2", "attack3"):
                assert "Permission denied" in report["scores"][stem][2], report["scores"][stem][2]
    finally:
        shutil.rmtree(work, ignore_errors=True)
