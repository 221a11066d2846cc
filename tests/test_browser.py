"""The verification panel in a real browser: JupyterLab + Debian's Chromium, headless.

Opens a copy of the learner-code panel of notebooks/widgets_tour.ipynb (setup cell + lesson
12's ``adam_step`` in a ``VerificationPanel(adam_step, like=optimizers.Adam(lr=0.05), ...)``)
in a temporary root, runs all cells, then moves the ``steps`` and ``lr`` sliders with the
keyboard and checks, in the page, that the verdict text changes and that the figure is
redrawn (a new image, not blank); then types a value torch refuses and one that is not a
number into the ``lr`` box, and checks the message beside it and that nothing was redrawn.  What only a browser shows: with JupyterLab 4.6 widget
messages run on another kernel thread, which breaks pyplot-based callbacks (see
docs/browser-testing.md).

Needs ``/usr/bin/chromium`` (``apt-get install -y chromium``; never a browser download).
Skipped without it, unless LRCOURSE_REQUIRE_BROWSER is set (CI sets it to 1): then it fails.
Screenshots go to a folder the test prints (LRCOURSE_SCREENSHOTS=DIR to choose it).
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[1]
TOUR = ROOT / "notebooks" / "widgets_tour.ipynb"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]


def _chromium() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    if path is None:
        reason = "Chromium is not installed (apt-get install -y chromium)"
        if os.environ.get("LRCOURSE_REQUIRE_BROWSER"):
            pytest.fail(f"{reason}, and LRCOURSE_REQUIRE_BROWSER is set: the browser test must run here")
        pytest.skip(f"{reason}; set LRCOURSE_REQUIRE_BROWSER=1 to make this a failure")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pids_mentioning(marker: str) -> list[int]:
    """PIDs of processes whose command line contains ``marker`` (our private temp paths)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def _kill(pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _tour_copy(dest: Path) -> Path:
    """The setup cell and the learner-code panel cell of the tour, outputs cleared, in ``dest``."""
    import nbformat

    nb = nbformat.read(TOUR, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code" and "colab-install" not in c.metadata.get("tags", [])]
    panel_cell = next(c for c in code if "VerificationPanel(adam_step, like=optimizers.Adam(lr=0.05)" in c.source)
    panel_cell.source = "from lrcourse.widgets import VerificationPanel\n\n" + panel_cell.source
    cells = [nb.cells[0], code[0], panel_cell]
    for c in cells:
        if c.cell_type == "code":
            c.outputs, c.execution_count = [], None
    nb.cells = cells
    nb.metadata.pop("widgets", None)
    path = dest / "panel.ipynb"
    nbformat.write(nb, path)
    return path


@contextlib.contextmanager
def jupyterlab(tmp_path: Path, prepare=None):
    """A private JupyterLab on 127.0.0.1 (random port and token) serving ``tmp_path/root``, where
    ``prepare(root)`` puts the notebooks; yields (url, token).  Everything it started is killed after."""
    root, run_dir = tmp_path / "root", tmp_path / "runtime"
    settings, workspaces = tmp_path / "settings", tmp_path / "workspaces"
    for d in (root, run_dir, settings, workspaces):
        d.mkdir()
    # the news / update toast can cover widgets
    notify = settings / "@jupyterlab" / "apputils-extension"
    notify.mkdir(parents=True)
    (notify / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false",
                                                                         "checkForUpdates": False}))
    if prepare is not None:
        prepare(root)
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(run_dir), JUPYTERLAB_SETTINGS_DIR=str(settings),
               JUPYTERLAB_WORKSPACES_DIR=str(workspaces), PYTHONUNBUFFERED="1")
    log = open(tmp_path / "jupyterlab.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--port={port}",
         "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         "--ServerApp.allow_root=True", "--LabApp.expose_app_in_browser=True", "--LabApp.news_url="],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {server.returncode}:\n"
                                   f"{(tmp_path / 'jupyterlab.log').read_text()}")
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("JupyterLab did not answer within 60 s")
            time.sleep(0.3)
        yield url, token
    finally:
        # the kernels first (they run in their own sessions, and are killed anyway): a server stopping
        # with live kernels asks each of them to shut down and waits, 5 s on a busy machine
        _kill(_pids_mentioning(str(run_dir)))
        try:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=5)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(server.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            server.wait(timeout=10)
        _kill(_pids_mentioning(str(run_dir)))  # any kernel its restarter started meanwhile
        log.close()


def _course_copy(root: Path):
    _tour_copy(root)
    for folder in ("notebooks", "exercises", "solutions"):  # the layout `make lab` serves, as a copy
        shutil.copytree(ROOT / folder, root / folder)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab serving the tour's panel cell and a copy of the course, started once for this module's
    tests (each opens its own workspace and browser profile); yields (url, token, folder)."""
    tmp_path = tmp_path_factory.mktemp("lab")
    try:
        with jupyterlab(tmp_path, _course_copy) as (url, token):
            yield url, token, tmp_path
    except RuntimeError as e:
        pytest.fail(str(e))


@contextlib.contextmanager
def _browser_page(profile: Path, width: int, height: int):
    """A page of a headless Debian Chromium with its own profile; everything it started is killed after."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=60_000)
    try:
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                str(profile), executable_path=_chromium(), headless=True, args=CHROMIUM_ARGS,
                viewport={"width": width, "height": height})
            try:
                context.set_default_timeout(60_000)
                yield context.pages[0] if context.pages else context.new_page()
            finally:
                context.close()
    finally:
        _kill(_pids_mentioning(str(profile)))  # anything of the browser still running


def _png_stats(png: bytes):
    import numpy as np
    from PIL import Image

    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    return img.shape, float(np.mean(np.any(img < 235, axis=-1))), hashlib.sha256(img.tobytes()).hexdigest()


def test_verification_panel_in_jupyterlab(lab):
    _chromium()  # skips (or fails in CI) before the browser part when there is no Chromium
    from playwright.sync_api import expect

    url, token, tmp = lab
    shots = Path(os.environ.get("LRCOURSE_SCREENSHOTS") or tempfile.mkdtemp(prefix="lrcourse-browser-"))
    shots.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {shots}")
    profile = tmp / "chromium-profile"  # in the browser's command line: lets us find its processes
    t0 = time.monotonic()
    with _browser_page(profile, 1400, 1300) as page:
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{url}/lab/tree/panel.ipynb?token={token}")
        page.wait_for_function(
            "() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
            " const k = w && w.sessionContext && w.sessionContext.session"
            " && w.sessionContext.session.kernel; return k && k.status === 'idle'; }")
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")

        verdict = page.locator(".t-verdict")
        expect(verdict).to_contain_text("MATCH — max rel. error")
        expect(verdict).to_contain_text("over 300 steps on cpu/float64")
        image = page.locator("img.t-figure")
        expect(image).to_be_visible()
        page.wait_for_function("() => { const i = document.querySelector('img.t-figure');"
                               " return i && i.complete && i.naturalWidth > 600; }")
        page.screenshot(path=str(shots / "1-after-run-all.png"), full_page=True)
        first_src = image.get_attribute("src")
        shape, ink, first_pixels = _png_stats(image.screenshot(path=str(shots / "1-figure.png")))
        assert shape[1] > 600 and ink > 0.03, f"the figure is blank ({ink:.1%} ink), see {shots}"
        text_300 = verdict.inner_text()
        assert "your adam_step (standing for lrcourse.optimizers.Adam)" in page.locator(".t-header").inner_text()

        # the steps slider, with the keyboard: one step right is 310 steps
        handle = page.locator(".t-steps .noUi-handle")
        handle.focus()
        handle.press("ArrowRight")
        expect(verdict).to_contain_text("over 310 steps")
        assert verdict.inner_text() != text_300
        page.wait_for_function("(old) => { const i = document.querySelector('img.t-figure');"
                               " return i && i.src !== old && i.complete && i.naturalWidth > 600; }",
                               arg=first_src)
        second_src = image.get_attribute("src")
        _, ink2, second_pixels = _png_stats(image.screenshot(path=str(shots / "2-figure-310-steps.png")))
        assert ink2 > 0.03 and second_pixels != first_pixels, f"figure not redrawn, see {shots}"
        assert hashlib.sha256(second_src.encode()).hexdigest() != hashlib.sha256(first_src.encode()).hexdigest()

        # the lr slider: the figure changes, the verdict is still a MATCH with its numbers
        lr = page.locator(".t-lr .noUi-handle")
        lr.focus()
        for _ in range(4):
            lr.press("ArrowLeft")
        readout = page.locator(".t-lr .t-entry input")  # the box the number is read and typed in
        # four steps of 10**0.05 down: 0.05 -> 0.0446, 0.0398, 0.0355, 0.0316 (only the last may match)
        expect(readout).to_have_value(re.compile(r"^0\.031\d*$"))
        assert 0.028 < float(readout.input_value()) < 0.035, readout.input_value()
        page.wait_for_function("(old) => { const i = document.querySelector('img.t-figure');"
                               " return i && i.src !== old && i.complete && i.naturalWidth > 600; }",
                               arg=second_src)
        expect(verdict).to_contain_text("MATCH — max rel. error")
        time.sleep(1.0)  # let the last of the four redraws land before the screenshot
        _, ink3, third_pixels = _png_stats(image.screenshot(path=str(shots / "3-figure-lr-0.0316.png")))
        assert ink3 > 0.03 and third_pixels not in (first_pixels, second_pixels)
        page.screenshot(path=str(shots / "3-after-lr.png"), full_page=True)

        # bad input, typed: answered beside the control, the value kept, no new figure
        shown, src = readout.input_value(), image.get_attribute("src")
        note = page.locator(".t-lr .t-note")
        for typed, message in [("-0.1", "Invalid learning rate value: -0.1 (torch's rule)"),
                               ("abc", "'abc' is not a number")]:
            readout.fill(typed)
            readout.press("Enter")
            expect(note).to_contain_text(message)
            expect(readout).to_have_value(shown)
        page.screenshot(path=str(shots / "4-refused.png"), full_page=True)
        assert image.get_attribute("src") == src and verdict.inner_text().startswith("MATCH")
        assert page.locator("img.t-figure").count() == 1, "one panel, one figure"
        assert not errors, f"JavaScript errors in the page: {errors}"
    elapsed = time.monotonic() - t0
    print(f"browser part: {elapsed:.1f} s")


def test_index_links_open_lessons_exercises_and_sections(lab):
    """From the index, as `make lab` serves it: a lesson, an exercise (../exercises/) and a link to a section
    open as notebooks in JupyterLab (no 404).  tests/test_setup.py checks every link and anchor statically."""
    _chromium()  # skips (or fails in CI) before the browser part when there is no Chromium

    url, token, tmp = lab
    profile = tmp / "chromium-profile-index"
    current = ("() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
               " return w && w.context && w.context.path; }")
    with _browser_page(profile, 1280, 900) as page:
        page.goto(f"{url}/lab/workspaces/index/tree/notebooks/00_index.ipynb?token={token}")
        page.wait_for_function(f"() => ({current})() === 'notebooks/00_index.ipynb'")
        index = page.evaluate("() => window.jupyterapp.shell.currentWidget.id")
        for link, opens in [("../exercises/01_fixed_learning_rate.ipynb", "exercises/01_fixed_learning_rate.ipynb"),
                            ("12_adam.ipynb", "notebooks/12_adam.ipynb"),
                            ("16_choosing_a_method.ipynb#8.-The-verdict", "notebooks/16_choosing_a_method.ipynb")]:
            # back to the index's tab, as a learner would (one JupyterLab load for the three links)
            page.evaluate("(id) => window.jupyterapp.shell.activateById(id)", index)
            page.wait_for_function(f"() => ({current})() === 'notebooks/00_index.ipynb'")
            # JupyterLab rewrites a relative link to /files/<path from the root>, and opens it on click
            anchor = page.locator(f'[id="{index}"] .jp-RenderedMarkdown a[href*="/files/{opens}"]').first
            anchor.scroll_into_view_if_needed()
            anchor.click()
            page.wait_for_function(f"(p) => ({current})() === p", arg=opens)
            opened = page.evaluate("() => window.jupyterapp.shell.currentWidget.id")
            page.wait_for_selector(f'[id="{opened}"] .jp-Notebook .jp-Cell', state="attached")
            assert page.locator(".jp-Dialog").count() == 0, f"{link}: JupyterLab showed an error dialog"
