"""The course website (``make book``) and the launch cells (``tools/launch_cells.py``, ``lrcourse/colab.py``).

Without a browser: the Colab install cell, run in a child Python, is a no-op where lrcourse imports and
installs the matching version where it does not; ``launch_cells`` is idempotent, keeps every output and
points solutions' links at the exercises; the book's staging adds the syllabus and the panel notes.

In a real browser (Debian's Chromium, headless, as ``tests/test_browser.py``): the site is built once per
session into a temporary folder, warnings being errors, and opened from disk (file://), the way a learner
opens a downloaded copy. Every page has its title, its math typeset by the site's own MathJax, every image
loaded, no horizontal overflow at 375 px and 1280 px; every internal link and anchor resolves; the search
finds AMSGrad; notebook pages have Binder and Colab buttons for their own notebook. Skipped without
Chromium or the book's packages, unless LRCOURSE_REQUIRE_BROWSER is set (CI): then it fails.
LRCOURSE_SCREENSHOTS=DIR saves the landing page, a lesson and an exercise at both widths (docs/screenshots/).
"""
from __future__ import annotations

import html.parser
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import build_book  # noqa: E402
import launch_cells  # noqa: E402
from test_browser import CHROMIUM_ARGS, _chromium, _kill, _pids_mentioning  # noqa: E402  (Chromium as there)

from lrcourse import __version__, colab  # noqa: E402

WIDTHS = (1280, 375)
SHOTS = {"notebooks/00_index.html": "landing", "notebooks/12_adam.html": "lesson", "exercises/12_adam.html": "exercise"}


# =============================================================================== the Colab install cell
def _run_cell(source: str, *python_flags: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run the cell in a child Python whose pip is a recorder: it prints the command instead of installing."""
    recorder = ("import json, subprocess\n"
                "subprocess.run = lambda args, **kw: print('PIP ' + json.dumps(args)) or "
                "subprocess.CompletedProcess(args, 0)\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))  # lrcourse importable, installed or not
    return subprocess.run([sys.executable, *python_flags, "-c", recorder + source], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def test_install_cell_is_a_silent_no_op_where_lrcourse_imports(tmp_path):
    done = _run_cell(colab.install_cell_source(), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == "", "the cell must print nothing (nbval compares outputs)"


def test_install_cell_pip_installs_the_matching_version_where_lrcourse_is_missing(tmp_path):
    # -I ignores PYTHONPATH and the user site, -S the site-packages (and the editable install's .pth)
    done = _run_cell(colab.install_cell_source(), "-I", "-S", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    pip_line = next(line for line in done.stdout.splitlines() if line.startswith("PIP "))
    args = json.loads(pip_line[4:])
    requirement = f"lrcourse @ git+{colab.REPOSITORY.removesuffix('/').removesuffix('.git')}@v{__version__}"
    assert args == [sys.executable, "-m", "pip", "install", "--quiet", requirement], args
    assert "verify --device auto" in done.stdout  # tells a GPU runtime how to check every method on CUDA

    from packaging.requirements import Requirement
    req = Requirement(args[-1])
    assert req.name == "lrcourse" and req.url.endswith(f"@v{__version__}") and req.url.startswith("git+https://")


def test_install_cell_source_is_plain_python_without_side_effects_at_import():
    src = colab.install_cell_source()
    compile(src, "<install cell>", "exec")
    assert src.count("\n    ") == 2, "only the guarded branch installs"
    with pytest.raises(ValueError, match="github.com/OWNER/NAME"):
        colab.colab_url("notebooks/x.ipynb", repository="https://example.org/x")
    with pytest.raises(ValueError, match="not a release version"):
        colab.pip_requirement("0.1; rm -rf /")


def test_launch_urls_name_the_notebook_and_branch():
    path = "notebooks/12_adam.ipynb"
    assert colab.binder_url(path, "https://github.com/o/r", "b") == "https://mybinder.org/v2/gh/o/r/b?urlpath=lab/tree/" + path
    assert colab.colab_url(path, "https://github.com/o/r.git", "b") == \
        "https://colab.research.google.com/github/o/r/blob/b/" + path
    md = colab.links_markdown(path, "https://github.com/o/r", "b")
    assert "[Binder](https://mybinder.org/v2/gh/o/r/b?urlpath=lab/tree/notebooks/12_adam.ipynb)" in md
    assert "[Colab](https://colab.research.google.com/github/o/r/blob/b/notebooks/12_adam.ipynb)" in md


# =============================================================================== tools/launch_cells.py
def _outputs(nb):
    """Every code cell's source and outputs, but the counts (renumbered 1..n in cell order)."""
    return [(c.source, [{k: v for k, v in o.items() if k != "execution_count"} for o in c.outputs])
            for c in nb.cells if c.cell_type == "code" and colab.INSTALL_TAG not in c.metadata.get("tags", [])]


def test_launch_cells_are_idempotent_keep_outputs_and_renumber(tmp_path):
    for folder in ("notebooks", "solutions"):
        (tmp_path / folder).mkdir()
    lesson, solution = "01_fixed_learning_rate.ipynb", "13_amsgrad.ipynb"
    shutil.copy(ROOT / "notebooks" / lesson, tmp_path / "notebooks" / lesson)
    shutil.copy(ROOT / "solutions" / solution, tmp_path / "solutions" / solution)
    before = {p: nbformat.read(p, as_version=4) for p in tmp_path.glob("*/*.ipynb")}
    stripped = {p: launch_cells.with_launch_cells(nb, "x") for p, nb in before.items()}  # cells present or not
    assert launch_cells.main(["--root", str(tmp_path)]) == 0
    assert launch_cells.main(["--root", str(tmp_path), "--check"]) == 0
    first = {p: p.read_text() for p in before}
    assert launch_cells.main(["--root", str(tmp_path)]) == 0
    assert {p: p.read_text() for p in before} == first, "a second run changes nothing"

    for path, old in before.items():
        nb = nbformat.read(path, as_version=4)
        assert _outputs(nb) == _outputs(stripped[path]) == _outputs(old), "outputs are kept as committed"
        links, install = nb.cells[0], next(c for c in nb.cells if c.cell_type == "code")
        assert colab.LINKS_TAG in links.metadata["tags"] and colab.INSTALL_TAG in install.metadata["tags"]
        assert install.source == colab.install_cell_source() and install.outputs == []
        target = f"{'exercises' if path.parent.name == 'solutions' else 'notebooks'}/{path.name}"
        assert links.source == colab.links_markdown(target)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert [c.execution_count for c in code] == list(range(1, len(code) + 1))
        assert sum(colab.INSTALL_TAG in c.metadata.get("tags", []) for c in nb.cells) == 1
        nbformat.validate(nb)

    # a stale cell (another version) is found by --check and replaced, not duplicated
    nb_path = tmp_path / "notebooks" / lesson
    nb = nbformat.read(nb_path, as_version=4)
    next(c for c in nb.cells if colab.INSTALL_TAG in c.metadata.get("tags", [])).source = \
        colab.install_cell_source("0.0.9")
    nbformat.write(nb, nb_path)
    assert launch_cells.main(["--root", str(tmp_path), "--check"]) == 1
    assert launch_cells.main(["--root", str(tmp_path)]) == 0
    assert nb_path.read_text() == first[nb_path]


def test_exercises_generated_from_a_launch_celled_solution_link_to_the_exercise(tmp_path):
    from lrcourse import exercises

    (tmp_path / "solutions").mkdir()
    shutil.copy(ROOT / "solutions" / "12_adam.ipynb", tmp_path / "solutions")
    launch_cells.main(["--root", str(tmp_path)])
    ex = nbformat.reads(exercises.generate(tmp_path / "solutions")["12_adam.ipynb"], as_version=4)
    assert ex.cells[0].source == colab.links_markdown("exercises/12_adam.ipynb")
    install = next(c for c in ex.cells if c.cell_type == "code")
    assert install.source == colab.install_cell_source()
    assert "raises-exception" not in install.metadata.get("tags", [])


# =============================================================================== the book's staged sources
def test_staging_adds_the_syllabus_and_a_note_under_every_panel(tmp_path):
    files, _ = build_book.stage(tmp_path, solutions=False)
    index = (tmp_path / "notebooks" / "00_index.ipynb").read_text()
    for path in sorted(ROOT.glob("notebooks/[0-9][0-9]_*.ipynb")) + sorted(ROOT.glob("exercises/*.ipynb")):
        if path.stem != "00_index":
            assert f"/{path.parent.name}/{path.stem}\\n" in index, f"{path} is not in the syllabus"
    assert "/docs/instructors" in index and "/solutions/" not in index
    assert not any(f.startswith("solutions/") for f in files)
    tour = nbformat.read(tmp_path / "notebooks" / "widgets_tour.ipynb", as_version=4)
    panels = [i for i, c in enumerate(tour.cells) if c.cell_type == "code"
              and any(build_book.WIDGET_VIEW in o.get("data", {}) for o in c.outputs)]
    assert len(panels) >= 4
    for i in panels:
        assert "image/png" in next(o for o in tour.cells[i].outputs if build_book.WIDGET_VIEW in o.get("data", {})).data
        assert tour.cells[i + 1].source == build_book.PANEL_NOTE
    with_solutions, removed = build_book.stage(tmp_path, solutions=True)
    assert not removed
    assert any(f.startswith("solutions/") for f in with_solutions)
    assert "/solutions/13_amsgrad" in (tmp_path / "notebooks" / "00_index.ipynb").read_text()
    assert build_book.stage(tmp_path, solutions=False)[1], "the solutions went away: the build starts afresh"
    assert not (tmp_path / "solutions").exists() or not list((tmp_path / "solutions").glob("*.ipynb"))


def test_staging_hides_the_notebooks_launch_cells(tmp_path):
    nb = launch_cells.with_launch_cells(nbformat.read(ROOT / "notebooks" / "12_adam.ipynb", as_version=4),
                                        "notebooks/12_adam.ipynb")
    nbformat.write(nb, tmp_path / "12_adam.ipynb")
    staged = build_book.staged_notebook(tmp_path / "12_adam.ipynb")
    hidden = [c for c in staged.cells if "remove-cell" in c.metadata.get("tags", [])]
    assert [t for c in hidden for t in c.metadata["tags"] if t != "remove-cell"] == [colab.LINKS_TAG, colab.INSTALL_TAG]
    assert len(staged.cells) == len(nb.cells) + 1  # + the note under the lesson's panel
    assert len({c.id for c in staged.cells}) == len(staged.cells)


# =============================================================================== the site, in a browser
def _require(condition: bool, reason: str):
    if not condition:
        if os.environ.get("LRCOURSE_REQUIRE_BROWSER"):
            pytest.fail(f"{reason}, and LRCOURSE_REQUIRE_BROWSER is set: the book test must run here")
        pytest.skip(f"{reason}; set LRCOURSE_REQUIRE_BROWSER=1 to make this a failure")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The book, built once for this module; yields (its folder, the build time in seconds)."""
    try:
        import myst_nb  # noqa: F401
        import sphinx_book_theme  # noqa: F401
    except ImportError:
        _require(False, "the book's packages are not installed (pip install -c constraints.txt -e '.[book]')")
    out = tmp_path_factory.mktemp("book") / "site"
    seconds = build_book.build(out, solutions=False, jobs="1")  # the other pytest workers hold the cores
    print(f"\nbook built in {seconds:.1f} s")
    return out, seconds


class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        for key in ("href", "src"):
            if a.get(key) and not (tag == "link" and a.get("rel") in ("canonical",)):
                self.links.append(a[key])


def _parse(path: Path) -> _Links:
    p = _Links()
    p.feed(path.read_text())
    return p


def _pages(site_dir: Path) -> list[Path]:
    return sorted(p for p in site_dir.rglob("*.html") if "_static" not in p.parts and "_sources" not in p.parts)


@pytest.mark.browser
@pytest.mark.timeout(300)
def test_every_internal_link_and_anchor_resolves(site):
    site_dir, _ = site
    parsed = {p: _parse(p) for p in _pages(site_dir)}
    checked = 0
    for page, links in parsed.items():
        for link in links.links:
            url = urllib.parse.urlsplit(link)
            if url.scheme or link.startswith(("//", "mailto:", "javascript:")):
                continue
            target = (page.parent / urllib.parse.unquote(url.path)).resolve() if url.path else page
            assert target.is_file() or (target / "index.html").is_file(), f"{page.relative_to(site_dir)}: {link}"
            fragment = urllib.parse.unquote(url.fragment)
            if fragment and target.suffix == ".html":
                ids = parsed[target].ids if target in parsed else _parse(target).ids
                assert fragment in ids, f"{page.relative_to(site_dir)}: {link} (no such anchor)"
            checked += 1
    assert checked > 500, checked
    # the notebooks' Jupyter-style anchors (16_choosing_a_method.ipynb#4.-Sensitivity-...) became real links
    assert any("16_choosing_a_method.html#" in link for link in parsed[site_dir / "notebooks" / "00_index.html"].links)


@pytest.mark.browser
def test_site_has_every_page_launch_buttons_and_no_solutions(site):
    site_dir, _ = site
    for folder in ("notebooks", "exercises"):
        for nb in sorted((ROOT / folder).glob("*.ipynb")):
            page = site_dir / folder / f"{nb.stem}.html"
            assert page.is_file(), f"no page for {folder}/{nb.name}"
            text = page.read_text()
            path = f"{folder}/{nb.name}"
            assert colab.binder_url(path).replace("&", "&amp;") in text, f"{page.name}: no Binder button"
            assert colab.colab_url(path) in text, f"{page.name}: no Colab button"
            assert "### BEGIN SOLUTION" not in text
    assert (site_dir / "docs" / "instructors.html").is_file()
    assert not (site_dir / "solutions").exists(), "solutions are published only with SOLUTIONS=1"
    assert 'url=notebooks/00_index.html' in (site_dir / "index.html").read_text()
    tour = (site_dir / "notebooks" / "widgets_tour.html").read_text()
    assert tour.count("The panel’s saved picture: to move its controls, launch") >= 4


def _save_shot(page, folder: Path, name: str):
    """A viewport screenshot, as a 256-colour PNG (small enough to commit)."""
    from PIL import Image

    img = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
    img.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(folder / f"{name}.png", optimize=True)


PAGE_CHECK = """() => {
  const body = document.querySelector('main') || document.body;
  const copy = body.cloneNode(true);
  copy.querySelectorAll('pre, code, script, style, mjx-container, .highlight').forEach(e => e.remove());
  const text = copy.textContent;
  const math = [...document.querySelectorAll('.math')];
  return {
    title: document.title, h1: (document.querySelector('main h1') || {}).textContent || '',
    math: math.length, typeset: math.filter(e => e.querySelector('mjx-container svg')).length,
    raw: (text.match(/\\$\\$|\\\\\\(|\\\\\\[|\\$[^$\\s][^$]*[\\\\^_{][^$]*\\$/g) || []).slice(0, 3),
    images: [...document.images].map(i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0]),
    search: document.querySelectorAll('input[name="q"], form[action$="search.html"]').length,
  };
}"""
OVERFLOW = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"


@pytest.mark.browser
@pytest.mark.timeout(300)
def test_site_in_a_browser(site, tmp_path):
    chromium = _chromium()
    from playwright.sync_api import sync_playwright

    site_dir, _ = site
    shots = Path(os.environ["LRCOURSE_SCREENSHOTS"]) if os.environ.get("LRCOURSE_SCREENSHOTS") else None
    if shots:
        shots.mkdir(parents=True, exist_ok=True)
    pages = _pages(site_dir)
    profile = tmp_path / "chromium-profile"
    t0 = time.monotonic()
    problems, with_math = [], 0
    try:
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                str(profile), executable_path=chromium, headless=True, args=CHROMIUM_ARGS,
                viewport={"width": WIDTHS[0], "height": 900})
            try:
                context.set_default_timeout(30_000)
                page = context.pages[0] if context.pages else context.new_page()
                errors = []
                page.on("pageerror", lambda e: errors.append(f"{page.url.rsplit('/', 1)[-1]}: {e}"))
                widths = list(WIDTHS)
                for path in pages:
                    name = path.relative_to(site_dir).as_posix()
                    if name == "index.html":
                        continue  # the redirect to notebooks/00_index.html, checked below
                    widths.reverse()  # each page opens at the width the last one ended with: one relayout, not two
                    page.goto(path.as_uri(), wait_until="load")
                    page.evaluate("() => window.MathJax && MathJax.startup && MathJax.startup.promise ?"
                                  " MathJax.startup.promise.then(() => true) : true")
                    info = page.evaluate(PAGE_CHECK)
                    if not info["title"].strip() or (info["h1"] and info["h1"].strip(" #¶\n") not in info["title"]):
                        problems.append(f"{name}: title {info['title']!r} for heading {info['h1']!r}")
                    if info["typeset"] != info["math"] or info["raw"]:
                        problems.append(f"{name}: {info['typeset']}/{info['math']} math typeset, raw TeX {info['raw']}")
                    with_math += info["math"] > 0
                    problems += [f"{name}: image {src} did not load" for src, ok in info["images"] if not ok]
                    if not info["search"]:
                        problems.append(f"{name}: no search box")
                    for width in widths:
                        page.set_viewport_size({"width": width, "height": 900})
                        overflow = page.evaluate(OVERFLOW)
                        if overflow > 1:
                            problems.append(f"{name}: {overflow} px wider than a {width} px window")
                        if shots and name in SHOTS:
                            if name == "notebooks/12_adam.html":  # a lesson: its derivation, typeset
                                page.evaluate("() => document.querySelectorAll('div.math')[0].scrollIntoView()")
                            page.evaluate("() => document.querySelectorAll('.bd-sidebar-primary, .bd-sidebar-primary *')"
                                          ".forEach(e => { e.scrollTop = 0; })")  # the syllabus from its start
                            _save_shot(page, shots, f"{SHOTS[name]}-{width}px")
                assert not problems, "\n".join(problems)
                assert with_math >= 18, f"only {with_math} pages with typeset math"

                # the landing page: the site's root opens the course's index
                page.goto((site_dir / "index.html").as_uri())
                page.wait_for_url("**/notebooks/00_index.html")
                assert "00 · The learning rate" in page.title()
                # search, from disk: the header's search box, then Sphinx's own index
                page.set_viewport_size({"width": WIDTHS[0], "height": 900})
                page.locator("button.search-button-field").first.click()
                box = page.locator("#pst-search-dialog input[name='q']")
                box.fill("AMSGrad")
                box.press("Enter")
                page.wait_for_url("**/search.html?q=AMSGrad*")
                page.wait_for_function("() => document.querySelectorAll('#search-results a').length > 0")
                hits = page.eval_on_selector_all("#search-results a", "els => els.map(e => e.getAttribute('href'))")
                assert any("13_amsgrad" in h for h in hits), hits
                # from disk, the search page cannot fetch the pages it quotes under each hit (a browser's file://
                # rule); the hits themselves come from the site's index. Served over HTTP, it quotes them too.
                errors = [e for e in errors if not re.match(r"search\.html\?q=AMSGrad\S*: (TypeError: )?Failed to fetch", e)]
                assert not errors, f"JavaScript errors: {errors[:5]}"
            finally:
                context.close()
    finally:
        _kill(_pids_mentioning(str(profile)))  # anything of this test's browser still running
    print(f"{len(pages)} pages checked at {WIDTHS} px in {time.monotonic() - t0:.1f} s")
