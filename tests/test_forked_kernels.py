"""tools/forked_kernels.py: the tests' notebook kernels are forked from a server that has the heavy
libraries imported. Each must still behave as a fresh kernel would: its own process, namespace,
working directory, environment, import path and random state (and the `lrcourse` a folder of its
own would give it); interrupts reach it; it dies with the process
that started it; and callers with other import-time switches get another server."""
from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import forked_kernels  # noqa: E402

pytestmark = pytest.mark.skipif(not forked_kernels.available(), reason="forked kernels need Linux's pidfd")


def _start(cwd, env=None, forked=True):
    import ipykernel.kernelspec
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    class Ordinary(KernelSpecManager):  # what nbval's --nbval-current-env starts without this tool
        def get_kernel_spec(self, kernel_name):
            return self.kernel_spec_class(resource_dir=ipykernel.kernelspec.RESOURCES,
                                          **ipykernel.kernelspec.get_kernel_dict())

    specs = forked_kernels.kernel_spec_manager_class()() if forked else Ordinary()
    km = KernelManager(kernel_name="python3", kernel_spec_manager=specs)
    km.start_kernel(cwd=str(cwd), env={**os.environ, **(env or {})})
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=120)
    return km, kc


def _run(kc, code) -> str:
    out = []
    reply = kc.execute_interactive(code, timeout=60, output_hook=lambda m: out.append(m["content"].get("text", ""))
                                   if m["msg_type"] == "stream" else None)
    assert reply["content"]["status"] == "ok", reply["content"]
    return "".join(out).strip()


def _stop(km, kc):
    kc.stop_channels()
    km.shutdown_kernel(now=True)


def _gone(pid, timeout=10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            state = pathlib.Path(f"/proc/{pid}/stat").read_text().split()[2]
        except FileNotFoundError:
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


PROBE = ("names = sorted(dir())\n"
         "import hashlib, io, json, os, sys, numpy as np, matplotlib.pyplot as plt\n"
         "fig, ax = plt.subplots(); ax.plot([1e-3, 1e-1], [1, 2]); ax.set_xscale('log'); ax.set_title('$\\\\alpha$')\n"
         "buf = io.BytesIO(); fig.savefig(buf, format='png'); plt.close(fig)\n"
         "figure_sha = hashlib.sha256(buf.getvalue()).hexdigest()\n"
         "print(json.dumps([os.getpid(), os.getppid(), os.getcwd(), os.environ.get('PROBE_VAR'),"
         " 'torch' in sys.modules, names, np.random.rand(), sys.path, __import__('lrcourse').__file__,"
         " __import__('gc').get_freeze_count(), plt.get_fignums(), figure_sha]))")


def test_each_kernel_is_a_new_process_with_its_own_cwd_env_and_random_state(tmp_path):
    import json

    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    (a / "lrcourse").mkdir()  # a folder with its own `lrcourse` (a submission's copy): a kernel there imports it
    (a / "lrcourse" / "__init__.py").write_text("")
    seen = []
    for cwd, forked in ((a, True), (b, True), (a, False)):
        km, kc = _start(cwd, {"PROBE_VAR": "passed"}, forked=forked)
        try:
            seen.append(json.loads(_run(kc, PROBE)))
        finally:
            _stop(km, kc)
    (pid1, parent1, cwd1, var1, torch1, names1, r1, path1, course1, frozen1, figs1, sha1), \
        (pid2, parent2, cwd2, var2, torch2, names2, r2, path2, course2, frozen2, figs2, sha2), fresh = seen
    assert pid1 != pid2 and parent1 == parent2            # two processes forked by one server
    assert (cwd1, cwd2) == (str(a), str(b)) and var1 == var2 == "passed"
    assert torch1 and torch2 and not fresh[4]             # preloaded: this is the forked path, not a fresh start
    assert names1 == names2 == fresh[5]                   # the namespace an ordinary fresh kernel starts with
    assert r1 != r2                                       # numpy's global generator is reseeded per kernel
    assert path1 == path2 == fresh[7]                     # the import path a fresh kernel has
    assert course1 == fresh[8] == str(a / "lrcourse" / "__init__.py")  # not the preloaded course
    assert course2 == str(ROOT / "lrcourse" / "__init__.py")
    # the preloaded libraries are frozen, out of the kernel's garbage collections (8 % of a notebook's CPU)
    assert frozen1 > 100_000 and frozen2 > 100_000 and fresh[9] == 0
    # the server's first figure (forked_kernels._first_figure) left no figure behind, and a kernel's first
    # figure (a log axis, mathtext) is the one a fresh kernel draws
    assert figs1 == figs2 == fresh[10] == [] and sha1 == sha2 == fresh[11]


def test_an_interrupt_reaches_the_kernel(tmp_path):
    km, kc = _start(tmp_path)
    try:
        kc.execute("import time\nfor _ in range(600): time.sleep(0.05)")
        time.sleep(0.5)
        km.interrupt_kernel()
        while True:
            msg = kc.get_iopub_msg(timeout=20)
            if msg["msg_type"] == "error":
                assert msg["content"]["ename"] == "KeyboardInterrupt"
                break
        kc.get_shell_msg(timeout=20)                      # the interrupted cell's reply
        time.sleep(0.5)                                   # ipykernel drops requests sent just after an error
        assert _run(kc, "print(1 + 1)") == "2"            # and the kernel lives on
    finally:
        _stop(km, kc)


def test_the_kernel_dies_with_its_launcher(tmp_path):
    km, kc = _start(tmp_path)
    try:
        pid = int(_run(kc, "import os; print(os.getpid())"))
        os.kill(km.provisioner.process.pid, signal.SIGKILL)
        assert _gone(pid)
    finally:
        kc.stop_channels()
        km.cleanup_resources()


MANAGER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, sys.argv[1])
    import forked_kernels
    from jupyter_client.manager import KernelManager
    km = KernelManager(kernel_name="python3", kernel_spec_manager=forked_kernels.kernel_spec_manager_class()())
    km.start_kernel()
    kc = km.client(); kc.start_channels(); kc.wait_for_ready(timeout=120)
    out = []
    kc.execute_interactive("import os; print(os.getpid())", timeout=60,
                           output_hook=lambda m: out.append(m["content"].get("text", "")))
    print(km.provisioner.process.pid, "".join(out).strip(), flush=True)
    time.sleep(600)
""")


def test_the_kernel_and_its_launcher_die_with_the_process_that_started_them(tmp_path):
    manager = subprocess.Popen([sys.executable, "-c", MANAGER, str(ROOT / "tools")], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        launcher, kernel = map(int, manager.stdout.readline().split())
    finally:
        manager.kill()
        manager.wait()
    assert _gone(launcher) and _gone(kernel)


def test_other_import_time_switches_get_another_server(tmp_path):
    parents = {}
    for coretype in ("", "Prescott"):
        km, kc = _start(tmp_path, {"OPENBLAS_CORETYPE": coretype} if coretype else None)
        try:
            parent = int(_run(kc, "import os; print(os.getppid())"))
            environ = pathlib.Path(f"/proc/{parent}/environ").read_bytes().split(b"\0")
        finally:
            _stop(km, kc)
        parents[coretype] = parent
        # the server itself was started with the caller's switch, so OpenBLAS loaded with it
        assert (b"OPENBLAS_CORETYPE=Prescott" in environ) == (coretype == "Prescott")
    assert parents[""] != parents["Prescott"]


def test_an_edited_course_gets_a_new_server(monkeypatch):
    """The server imports the course once: a kernel must never run a copy older than the files."""
    files = forked_kernels._course_files()
    widgets = next(f for f in files if f[0] == str(ROOT / "lrcourse" / "widgets.py"))
    st = (ROOT / "lrcourse" / "widgets.py").stat()
    assert widgets[1:] == (st.st_mtime_ns, st.st_size)
    before = forked_kernels._key()
    edited = [(p, m + 1, s) if p == widgets[0] else (p, m, s) for p, m, s in files]
    monkeypatch.setattr(forked_kernels, "_course_files", lambda: edited)
    assert forked_kernels._key() != before
