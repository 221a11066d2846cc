"""solutions/ -> exercises/: generation, --check, and both sets of notebooks running as shipped."""
from __future__ import annotations

import pathlib
import re
import shutil
import textwrap

import nbformat
import pytest

from lrcourse import exercises
from lrcourse.grading import questions

ROOT = pathlib.Path(__file__).resolve().parent.parent
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
EXERCISES = sorted((ROOT / "exercises").glob("*.ipynb"))
SETUP = textwrap.dedent(re.search(r"```python\n(\s*# Setup:.*?)\n\s*```", (ROOT / "CONTRIBUTING.md").read_text(),
                                  re.S).group(1)).strip()


# --------------------------------------------------------------------------- the generator
def test_strip_solutions_keeps_indentation_and_names_the_stub():
    src = ("class MyAdam(optimizers.Adam):\n    def step(self, p, g, s, lr=None):\n"
           "        ### BEGIN SOLUTION\n        return p, s\n        ### END SOLUTION\n\nx = 1")
    out, n = exercises.strip_solutions(src)
    assert n == 1
    assert out == ("class MyAdam(optimizers.Adam):\n    def step(self, p, g, s, lr=None):\n"
                   "        # YOUR CODE HERE\n        raise NotImplementedError(\"MyAdam.step: your code here\")\n\nx = 1")
    md, n = exercises.strip_solutions("Answer:\n### BEGIN SOLUTION\n42\n### END SOLUTION", markdown=True)
    assert (md, n) == ("Answer:\nYOUR ANSWER HERE", 1)


@pytest.mark.parametrize("src", ["### BEGIN SOLUTION\nx", "x\n### END SOLUTION",
                                 "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION"])
def test_unbalanced_markers_are_errors(src):
    with pytest.raises(ValueError):
        exercises.strip_solutions(src)


def test_raising_cells_follow_stubs_through_helpers_and_missing_names():
    stub = 'def f():\n    raise NotImplementedError("f")'
    cells = [stub,                                   # defining a stub is fine
             "def g():\n    return f() + 1",         # so is defining a helper that calls it
             "print('hello')",                       # unrelated
             None,                                   # a markdown cell
             "y = g()",                              # runs the stub through g: raises
             "z = y + 1",                            # y was never defined: raises
             "def h():\n    return 2\nw = h()",      # fine
             "check(f)"]                             # raises
    assert exercises.raising_cells(cells) == [False, False, False, False, True, True, False, True]


def test_a_panel_on_an_unwritten_method_does_not_raise_but_one_on_a_missing_name_does():
    cells = ["class MyAdam(optimizers.Adam):\n    def step(self, p, g, s, lr=None):\n        raise NotImplementedError('x')",
             "VerificationPanel(MyAdam, problem='rosenbrock')",       # says NOT WRITTEN YET on its face
             "panel = widgets.VerificationPanel(MyAdam)",
             "r = MyAdam().step(1, 2, 3)",                             # raises: r is never bound
             "VerificationPanel(r)",                                   # so this one raises too
             "check(MyAdam)"]
    assert exercises.raising_cells(cells) == [False, False, False, True, True, True]


def test_exercises_are_up_to_date_with_the_solutions(capsys):
    assert exercises.main(["--check"]) == 0, capsys.readouterr().out


def test_check_mode_finds_stale_missing_and_extra_notebooks(tmp_path):
    sol, ex = tmp_path / "solutions", tmp_path / "exercises"
    sol.mkdir()
    for p in SOLUTIONS[:2]:
        shutil.copy(p, sol / p.name)
    args = ["--solutions", str(sol), "--out", str(ex)]
    assert exercises.main(args + ["--check"]) == 1          # missing
    assert exercises.main(args) == 0
    assert exercises.main(args + ["--check"]) == 0
    first = ex / SOLUTIONS[0].name
    first.write_text(first.read_text().replace("YOUR CODE HERE", "my answer"))
    (ex / "99_extra.ipynb").write_text("{}")
    assert exercises.main(args + ["--check"]) == 1          # stale and extra
    assert exercises.main(args) == 0
    assert not (ex / "99_extra.ipynb").exists() and exercises.main(args + ["--check"]) == 0


# --------------------------------------------------------------------------- the notebooks themselves
def _code(nb):
    """The code cells, less the Colab install cell (tools/launch_cells.py) that precedes the setup cell."""
    return [c for c in nb.cells if c.cell_type == "code" and "colab-install" not in c.metadata.get("tags", [])]


def test_every_topic_has_a_solution_notebook_that_checks_every_question():
    assert [p.stem for p in SOLUTIONS] == sorted(questions.STEMS)
    for path in SOLUTIONS:
        nb = nbformat.read(path, as_version=4)
        cells = _code(nb)
        assert cells[0].source == SETUP, f"{path.name}: the setup cell differs from CONTRIBUTING.md"
        text = "\n".join(c.source for c in cells)
        for q in questions.QUESTIONS[path.stem]:
            assert re.search(rf"^(class|def) {q.target}\b", text, re.M), f"{path.name}: {q.target} not defined"
            assert f"check({q.target})" in text, f"{path.name}: no check({q.target})"
        assert "### BEGIN SOLUTION" in text
        for c in cells:   # committed executed, without errors
            assert c.execution_count is not None and all(o.output_type != "error" for o in c.outputs), path.name
        assert path.stat().st_size < 200_000


def test_exercises_ship_stubs_without_outputs_or_solutions():
    assert [p.name for p in EXERCISES] == [p.name for p in SOLUTIONS]
    for path in EXERCISES:
        nb = nbformat.read(path, as_version=4)
        assert nb.metadata["lrcourse"]["stem"] == path.stem
        text = "\n".join(c.source for c in nb.cells)
        assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
        for c in _code(nb):
            assert c.outputs == [] and c.execution_count is None
        n_stubs = text.count("raise NotImplementedError(")
        assert n_stubs >= len(questions.QUESTIONS[path.stem])


async def _run_all(paths, at_once=2):
    """Run each notebook top to bottom in its own fresh kernel, `at_once` at a time (pytest-xdist's
    --dist loadfile keeps this file's tests on one worker, so this fills the second core)."""
    import asyncio

    from nbclient import NotebookClient

    gate = asyncio.Semaphore(at_once)

    async def one(path):
        async with gate:
            for attempt in (1, 2):
                run = nbformat.read(path, as_version=4)
                try:
                    await NotebookClient(run, timeout=60, kernel_name="python3", allow_errors=True,
                                         resources={"metadata": {"path": str(path.parent)}}).async_execute()
                    nb = run
                    break
                except Exception as e:  # noqa: BLE001 - a kernel that dies or times out is that notebook's failure
                    # except once at the kernel's start: jupyter_client picks a free TCP port, which another
                    # process can take before the kernel binds it (jupyter_client issue 154; conftest.py)
                    if attempt == 1 and "died before replying to kernel_info" in str(e):
                        continue
                    return f"{type(e).__name__}: {e}"[-1000:]
        return [{"tags": c.metadata.get("tags", []),
                 "errors": [[o.ename, o.evalue] for o in c.outputs if o.output_type == "error"]}
                for c in nb.cells if c.cell_type == "code"]

    return await asyncio.gather(*(one(p) for p in paths))


@pytest.mark.slow
def test_exercises_run_fresh_and_fail_exactly_where_tagged():
    """What nbval checks on an unrun notebook (no error in an untagged cell) — and that every tagged cell fails."""
    import asyncio

    runs = asyncio.run(_run_all(EXERCISES))
    problems = []
    for path, cells in zip(EXERCISES, runs):
        if isinstance(cells, str):
            problems.append(f"{path.name}: {cells}")
            continue
        for i, cell in enumerate(cells):
            tagged = "raises-exception" in cell["tags"]
            if bool(cell["errors"]) != tagged:
                problems.append(f"{path.name} code cell {i}: tagged={tagged}, errors={cell['errors']}")
            problems += [f"{path.name} code cell {i}: {e}" for e in cell["errors"]
                         if e[0] not in ("NotImplementedError", "NameError")]
    assert not problems, "\n".join(problems)
