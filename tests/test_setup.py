"""The set-up files agree with each other, and the README's commands are the ones CI runs."""
import json
import os
import pathlib
import re
import subprocess
import sys
import time

import pytest
import tomllib
from test_forked_kernels import _gone  # the same check of a process that ended

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _constraints() -> dict:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[name.lower().replace("_", "-")] = version
    return pins


def _environment() -> dict:
    """name -> (version, comment) for every entry of environment.yml (conda and pip)."""
    out = {}
    for line in (ROOT / "environment.yml").read_text().splitlines():
        m = re.match(r"\s*-\s+([A-Za-z0-9_.\-]+)\s*(?:==?\s*([\w.]+))?\s*(#.*)?$", line)
        if m and m.group(1) not in ("conda-forge",):
            out[m.group(1).lower()] = (m.group(2), (m.group(3) or "").strip())
    return out


def test_every_pyproject_dependency_is_pinned_and_in_environment_yml():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = meta["dependencies"] + meta["optional-dependencies"]["dev"]
    pins, env = _constraints(), _environment()
    for req in deps:
        name = _name(req)
        assert name in pins, f"{name} is not pinned in constraints.txt"
        assert name in env, f"{name} is missing from environment.yml"
        assert env[name][0] == pins[name], f"{name}: environment.yml has {env[name][0]}, constraints {pins[name]}"


def test_pins_satisfy_the_pyproject_ranges():
    from packaging.requirements import Requirement

    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = _constraints()
    for req in meta["dependencies"] + meta["optional-dependencies"]["dev"]:
        r = Requirement(req)
        assert r.specifier.contains(pins[_name(req)], prereleases=True), f"{req} excludes the pinned {pins[_name(req)]}"


def test_torch_is_pinned_to_the_tested_cpu_release():
    assert _constraints()["torch"] == "2.13.0"


def test_environment_yml_comments_every_dependency():
    for name, (_, comment) in _environment().items():
        assert comment.startswith("#") and len(comment) > 5, f"environment.yml: say why {name} is needed"


def test_readme_commands_exist_and_ci_runs_the_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make lab" in readme and "make test" in readme
    targets = subprocess.run(["make", "-pRrq", "-f", str(ROOT / "Makefile")], capture_output=True, text=True,
                             cwd=ROOT).stdout
    assert re.search(r"^lab:", targets, re.M) and re.search(r"^test:", targets, re.M)
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test\b", ci, re.M), ".ci/run must call the README's test command"


def test_notebooks_are_clean():
    """No saved widget state, counts 1..n in order, no absolute paths, no multi-MB files."""
    for path in sorted(ROOT.glob("notebooks/*.ipynb")) + sorted(ROOT.glob("solutions/*.ipynb")) + \
            sorted(ROOT.glob("exercises/*.ipynb")):
        text = path.read_text()
        nb = json.loads(text)
        assert "widgets" not in nb.get("metadata", {}), f"{path.name}: saved widget state"
        assert len(text) < 2_000_000, f"{path.name}: {len(text) / 1e6:.1f} MB"
        counts = [c.get("execution_count") for c in nb["cells"] if c["cell_type"] == "code"]
        ran = [c for c in counts if c is not None]
        if ran:  # executed notebooks: counts are 1..n in cell order (tools/nbrun.py), not run history
            assert counts == list(range(1, len(counts) + 1)), f"{path.name}: execution counts {counts}"
        for place in ("/work/", "/root/", "/tmp/", "/home/"):
            assert place not in text, f"{path.name}: absolute path {place}"


def test_lessons_share_the_setup_cell():
    lessons = sorted(p for p in ROOT.glob("notebooks/[0-9][0-9]_*.ipynb"))
    setups = set()
    for path in lessons:
        cells = json.loads(path.read_text())["cells"]
        first_code = next(c for c in cells if c["cell_type"] == "code"
                          and "colab-install" not in c.get("metadata", {}).get("tags", []))
        setups.add("".join(first_code["source"]))
    assert len(setups) <= 1, "every lesson must open with the same setup cell (CONTRIBUTING.md)"


def test_readme_syllabus_links_every_lesson():
    readme = (ROOT / "README.md").read_text()
    for path in sorted(ROOT.glob("notebooks/*.ipynb")):
        assert f"notebooks/{path.name}" in readme, f"README's syllabus does not link {path.name}"
    for link in re.findall(r"\]\((notebooks/[^)#]+)", readme):
        assert (ROOT / link).exists(), f"README links a missing {link}"


def test_make_lab_serves_the_repository_root_and_opens_the_index():
    """Served from notebooks/, JupyterLab could not reach exercises/ or solutions/ (the index's links 404)."""
    dry = subprocess.run(["make", "-n", "-W", "pyproject.toml", "lab"], cwd=ROOT, capture_output=True, text=True).stdout
    lab = [line for line in dry.splitlines() if "jupyter lab" in line]
    assert lab, dry
    assert f'--ServerApp.root_dir="{ROOT}"' in lab[-1] and lab[-1].rstrip().endswith("notebooks/00_index.ipynb")


def _markdown_links(path):
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            yield from re.findall(r"\]\(([^)\s]+)\)", "".join(cell["source"]))


def _heading_ids(path) -> set:
    """The anchors JupyterLab gives a notebook's headings: the text, spaces turned into '-'."""
    nb = json.loads(path.read_text())
    ids = set()
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            for heading in re.findall(r"^#+\s+(.*?)\s*$", "".join(cell["source"]), re.M):
                ids.add(heading.replace(" ", "-"))
    return ids


def test_every_link_between_notebooks_opens_what_it_names():
    """Relative links resolve inside the repository (what `make lab` serves), anchors to a heading."""
    checked = 0
    for path in sorted(ROOT.glob("notebooks/*.ipynb")) + sorted(ROOT.glob("solutions/*.ipynb")) + \
            sorted(ROOT.glob("exercises/*.ipynb")):
        for link in _markdown_links(path):
            if re.match(r"[a-z]+:", link) or link.startswith("#"):
                continue  # web links; in-page anchors
            target, _, anchor = link.partition("#")
            resolved = (path.parent / target).resolve()
            assert ROOT in resolved.parents, f"{path.name}: {link} leaves the repository"
            assert resolved.exists(), f"{path.name}: {link} does not exist"
            if anchor and resolved.suffix == ".ipynb":
                assert anchor in _heading_ids(resolved), f"{path.name}: {link}: no such heading"
            checked += 1
    assert checked > 40  # the index alone links every lesson and exercise


def test_every_notebook_opens_with_its_launch_links_and_install_cell():
    """tools/launch_cells.py --check: Binder/Colab links and the Colab install cell are present and current."""
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "launch_cells.py"), "--check"], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_readme_and_index_state_the_tolerances_check_uses():
    """The learner-facing texts name every tolerance check() and the grader apply, and which question has the wider one."""
    from lrcourse.grading import questions

    def short(tol: float) -> str:  # 1e-09 -> 1e-9, as the texts write it
        mantissa, exponent = f"{tol:.0e}".split("e")
        return f"{mantissa}e{int(exponent)}"

    tols = {}
    for qs in questions.QUESTIONS.values():
        for q in qs:
            tols.setdefault(short(q.tol), set()).add(q.target)
    readme = (ROOT / "README.md").read_text()
    index = "\n".join("".join(c["source"]) for c in json.loads((ROOT / "notebooks" / "00_index.ipynb").read_text())["cells"])
    common = max(tols, key=lambda t: len(tols[t]))
    for text in (readme, index):
        assert all(t in text for t in tols), (sorted(tols), "missing from a text")
    for tol, targets in tols.items():
        if tol != common:  # the exception is named next to its tolerance
            assert any(re.search(rf"{re.escape(tol)}[^.\n]*{t[2:] if t.startswith('My') else t}", readme) for t in targets)
            assert any(re.search(rf"{re.escape(tol)}[^.\n]*(NAdam|{t})", index.replace("\n", " ")) for t in targets)


def test_the_frozen_heap_at_the_end_still_reports_errors_in_finalizers(tmp_path):
    """conftest.py collects once and freezes the heap before pytest's own end-of-run collections (the
    time of a worker's exit); an error raised in the finalizer of a test's cyclic garbage is still reported."""
    (tmp_path / "test_cycle.py").write_text(
        "import gc\n\ngc.disable()  # only the end-of-run collections find the cycle\n\n\n"
        "class Bad:\n    def __del__(self):\n        raise RuntimeError('raised in a finalizer')\n\n\n"
        "def test_leaves_a_cycle():\n    a = Bad()\n    a.me = a\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))   # the repository's conftest.py, as the plugin "conftest"
    env.pop("PYTEST_ADDOPTS", None)                 # options of a surrounding run are not this run's
    out = subprocess.run([sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:cacheprovider", "-q",
                          str(tmp_path / "test_cycle.py")], cwd=tmp_path, capture_output=True, text=True,
                         timeout=120, env=env)
    assert "raised in a finalizer" in out.stdout + out.stderr, out.stdout[-2000:] + out.stderr[-2000:]


def test_nbval_kernels_start_ready_and_a_kernel_that_dies_at_its_start_is_reported(tmp_path, monkeypatch):
    """conftest.py's start and stop of nbval's kernels (without jupyter_client's last 0.2 s wait, and
    its 0.1 s polls at the stop): a kernel it returns answers at once, with its output on IOPub, and is
    gone once stopped; one that dies before its first reply is reported (after the one retry for a port
    taken meanwhile), not waited for."""
    nbval_kernel = pytest.importorskip("nbval.kernel")
    if nbval_kernel.start_new_kernel.__module__ != "conftest":
        pytest.skip("conftest.py's hooks are not loaded in this run")
    kernel = nbval_kernel.RunningKernel(nbval_kernel.CURRENT_ENV_KERNEL_NAME, cwd=str(tmp_path))
    try:
        msg_id = kernel.execute_cell_input("import os\nprint(6 * 7, os.getpid())", allow_stdin=False)
        out = []
        while True:
            msg = kernel.get_message(stream="iopub", timeout=20)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        answer, pid = "".join(out).split()
        assert answer == "42"
    finally:
        t0 = time.monotonic()
        kernel.stop()
    assert time.monotonic() - t0 < 5
    # the kernel itself (not only its launcher) is gone: its server killed it
    assert _gone(int(pid), timeout=5), f"kernel {pid} still runs after nbval stopped it"

    from jupyter_client.kernelspec import KernelSpec

    class Dead(nbval_kernel.NbvalKernelspecManager):
        def get_kernel_spec(self, kernel_name):
            return KernelSpec(argv=[sys.executable, "-c", "raise SystemExit(3)"], display_name="dead", language="python")

    monkeypatch.setattr(nbval_kernel, "NbvalKernelspecManager", Dead)
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match="died before replying to kernel_info"):
        nbval_kernel.start_new_kernel(kernel_name="dead", startup_timeout=60)
    assert time.monotonic() - t0 < 30, "a dead kernel is reported, not waited for until the timeout"


def test_nbformat_imports_without_building_a_grammar():
    """Every pytest process, Jupyter server, nbgrader and nbclient imports nbformat, hence jsonschema.
    jsonschema 4.24+ pulls in rfc3987-syntax, which builds a lark parser at import (1.0-1.4 s of CPU per
    process here); constraints.txt holds jsonschema at 4.23.0, which has no such import."""
    probe = "import sys, nbformat; print(sorted({m.split('.')[0] for m in sys.modules} & {'lark', 'rfc3987_syntax'}))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", f"importing nbformat imported {out.strip()}: see jsonschema in constraints.txt"
