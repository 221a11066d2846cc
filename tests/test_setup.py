"""The set-up files agree with each other, and the README's commands are the ones CI runs."""
import json
import pathlib
import re
import subprocess

import tomllib

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
        first_code = next(c for c in cells if c["cell_type"] == "code")
        setups.add("".join(first_code["source"]))
    assert len(setups) <= 1, "every lesson must open with the same setup cell (CONTRIBUTING.md)"


def test_readme_syllabus_links_every_lesson():
    readme = (ROOT / "README.md").read_text()
    for path in sorted(ROOT.glob("notebooks/*.ipynb")):
        assert f"notebooks/{path.name}" in readme, f"README's syllabus does not link {path.name}"
    for link in re.findall(r"\]\((notebooks/[^)#]+)", readme):
        assert (ROOT / link).exists(), f"README links a missing {link}"
