"""The nbgrader route of docs/instructors.md, with the real nbgrader (0.9.6).

A course folder with solutions/12_adam.ipynb as the nbgrader source; ``generate_assignment``
must give the exercise's stubs; ``autograde`` must score the solution 5.5/5.5 (the prediction's 0.5
included; the explain cell waits for manual grading) and the shipped exercise 0 — and, as the docs
warn, a student who redefines ``check`` gets full marks from
nbgrader's visible test cells while ``python -m lrcourse grade`` gives the cheated question 0.
"""
from __future__ import annotations

import csv
import json
import os
import pathlib
import subprocess
import sys

import nbformat
import pytest

from lrcourse.grading import batch

ROOT = pathlib.Path(__file__).resolve().parent.parent
pytest.importorskip("nbgrader", reason="nbgrader is in the dev dependencies (make test installs it)")
CONFIG = """c = get_config()
c.CourseDirectory.root = {root!r}
c.CourseDirectory.course_id = "lrcourse"
c.ExecutePreprocessor.timeout = 120
"""


def nbgrader(course: pathlib.Path, *args: str) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, capture_output=True, text=True,
                       timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT),   # nbgrader runs alembic from PATH
                                         "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]})
    assert r.returncode == 0, r.stderr[-3000:]
    return r


def code_cells(path: pathlib.Path) -> list[str]:
    return [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


@pytest.mark.slow
def test_nbgrader_releases_the_exercise_and_autogrades_it(tmp_path):
    course = tmp_path / "course"
    (course / "source" / "12_adam").mkdir(parents=True)
    (course / "nbgrader_config.py").write_text(CONFIG.format(root=str(course)))
    (course / "source" / "12_adam" / "12_adam.ipynb").write_bytes((ROOT / "solutions" / "12_adam.ipynb").read_bytes())
    nbgrader(course, "generate_assignment", "12_adam", "--force")   # adds the assignment to nbgrader's database
    release = course / "release" / "12_adam" / "12_adam.ipynb"
    ours = code_cells(ROOT / "exercises" / "12_adam.ipynb")
    theirs = code_cells(release)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):   # the same cells; nbgrader's stub says NotImplementedError() without our message
        assert a.replace('"MyAdam.step: your code here"', "").replace('"adam_first_update: your code here"', "").replace(
            '"this part: your code here"', "") == b

    nb = nbformat.read(ROOT / "solutions" / "12_adam.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "q1_solution":
            cell.source = "def check(*args, **kwargs):\n    print('passed')\n\nclass MyAdam(optimizers.Adam):\n    pass"
    cheat = tmp_path / "cheat.ipynb"
    nbformat.write(nb, cheat)
    for student, src in [("alice", ROOT / "solutions" / "12_adam.ipynb"), ("bob", release), ("mallory", cheat)]:
        folder = course / "submitted" / student / "12_adam"
        folder.mkdir(parents=True)
        (folder / "12_adam.ipynb").write_bytes(src.read_bytes())
    nbgrader(course, "autograde", "12_adam", "--create")
    nbgrader(course, "export", "--to", str(course / "grades.csv"))
    scores = {row["student_id"]: float(row["score"]) for row in csv.DictReader(open(course / "grades.csv"))}
    assert scores == {"alice": 5.5, "bob": 0.0, "mallory": 5.5}   # nbgrader trusts the notebook's own check()

    ours = batch.grade_paths(sorted((course / "submitted").rglob("12_adam.ipynb")), workers=2)
    # mallory: her MyAdam (no step) scores 0, her honest adam_first_update its 1 point, her prediction its 0.5
    assert {pathlib.Path(r.path).parts[-3]: r.score for r in ours} == {"alice": 5.5, "bob": 0.0, "mallory": 1.5}
    assert json.loads(json.dumps([r.stem for r in ours])) == ["12_adam"] * 3
