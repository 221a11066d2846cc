"""Fresh Jupyter kernels in 0.1 s instead of 3.4 s, for the test suite's ~90 notebook runs.

A kernel's start is mostly imports: Python and ipykernel 0.35 s, torch 2.1 s, matplotlib 0.8 s of
CPU. On the 2-core CI machine that was a third of `make test`. Here one *server* process imports
those libraries once, then forks a new process for every kernel: each kernel is still a new
process with an empty namespace, its own working directory, its environment, fresh random seeds
and its own lifetime, but it starts with the libraries already loaded.

    python tools/forked_kernels.py launch -f CONNECTION_FILE   # what Jupyter runs, as a kernel

`launch` connects to the server for its Python and environment (starting it when there is none),
hands it the connection file, its working directory, environment and stdio, and then stands in for
the kernel: Jupyter's interrupts and signals are forwarded, and it exits with the kernel's status.
If the launcher dies, the kernel dies with it. A server only serves callers with the same
interpreter and the same environment, since some switches are read when a library loads (the
second-CPU pass's NPY_DISABLE_CPU_FEATURES, OPENBLAS_CORETYPE, ATEN_CPU_CAPABILITY, GLIBC_TUNABLES
...); it exits after IDLE_S seconds without kernels.

The server also imports torch._dynamo (what torch.optim's first optimizer imports, with sympy:
1.1 s) and the course's own modules; a kernel then starts with the same import path as a fresh one,
and a kernel whose folder holds another `lrcourse` imports that one instead.

What a forked kernel shares with its siblings, unlike fresh processes: the libraries' import-time
state (the tests' notebooks set what they use in their setup cell) and Python's string-hash seed
(set iteration order). The preloaded libraries are frozen out of the garbage collector
(``gc.freeze``): a kernel's collections skip them, as they would never free them anyway.
The second-CPU pass runs under another server, hence another hash seed, so a
notebook whose output depends on it would still fail one of the two passes.

`LRCOURSE_FORKED_KERNELS=0` turns this off: the tests then start ordinary kernels.
Linux only (pidfd); elsewhere the tests start ordinary kernels.
"""
from __future__ import annotations

import gc
import hashlib
import json
import os
import select
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

IDLE_S = 30
# Imported once by the server; what every notebook's setup cell would import anyway.
# torch._dynamo (with sympy) is what the first torch.optim optimizer imports: 1.1 s of every kernel.
PRELOAD = ("ipykernel.kernelapp", "ipykernel.ipkernel", "numpy", "numpy.testing", "torch", "torch._dynamo",
           "matplotlib", "matplotlib.pyplot", "matplotlib_inline.backend_inline", "contourpy", "ipywidgets")
# The course itself, imported by every notebook. A server is keyed by the modification times of its
# files, so an edited course gets a new server; a kernel started in a folder holding another
# `lrcourse` (a submission's own copy) drops these and imports that one, as a fresh process would.
# Not lrcourse.feedback: at import it hooks its errors into the running IPython, which the server has not.
COURSE = ("lrcourse", "lrcourse.widgets", "lrcourse.sparse_data")
# Variables that differ between callers of one test run but are read by no library at import.
_VOLATILE = ("PYTEST_", "JPY_", "LRCOURSE_FORKED_")


def available() -> bool:
    return (sys.platform.startswith("linux") and hasattr(os, "pidfd_open")
            and os.environ.get("LRCOURSE_FORKED_KERNELS", "1") != "0")


def kernel_argv() -> list[str]:
    """The kernel spec's argv: Jupyter substitutes {connection_file}."""
    return [sys.executable, os.path.abspath(__file__), "launch", "-f", "{connection_file}"]


def _spec() -> dict:
    """ipykernel's own kernel spec for this Python, started through `launch`."""
    import ipykernel.kernelspec

    return {**ipykernel.kernelspec.get_kernel_dict(), "argv": kernel_argv()}


def kernel_spec_manager_class():
    """A KernelSpecManager whose `python3` (and nbval's current-env kernel) start forked kernels."""
    import ipykernel.kernelspec
    from jupyter_client.kernelspec import KernelSpecManager

    class ForkedKernelSpecManager(KernelSpecManager):
        def get_kernel_spec(self, kernel_name):
            return self.kernel_spec_class(resource_dir=ipykernel.kernelspec.RESOURCES, **_spec())

    return ForkedKernelSpecManager


def jupyter_path() -> str:
    """A folder to put first on JUPYTER_PATH so that any Jupyter tool's `python3` kernel is forked
    (nbclient in a subprocess, nbgrader, JupyterLab). Same path for every caller with this Python."""
    spec = _spec()
    name = hashlib.sha256(json.dumps(spec).encode()).hexdigest()[:16]
    folder = os.path.join(_socket_dir(), "jupyter-" + name)
    target = os.path.join(folder, "kernels", "python3", "kernel.json")
    if not os.path.exists(target):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        tmp = f"{target}.{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump(spec, f, indent=1)
        os.replace(tmp, target)
    return folder


def _key() -> str:
    env = sorted((k, v) for k, v in os.environ.items() if not k.startswith(_VOLATILE))
    with open(__file__, "rb") as f:
        me = f.read()
    blob = json.dumps([sys.executable, sys.version, env, _course_files()]).encode() + me
    return hashlib.sha256(blob).hexdigest()[:16]


def _course_files() -> list:
    """(path, mtime, size) of every file of the installed course package, without importing it."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(COURSE[0])
    except (ImportError, ValueError):
        return []
    if spec is None or not spec.submodule_search_locations:
        return []
    files = []
    for top in spec.submodule_search_locations:
        for folder, dirs, names in os.walk(top):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(names):
                if name.endswith(".py"):
                    st = os.stat(os.path.join(folder, name))
                    files.append((os.path.join(folder, name), st.st_mtime_ns, st.st_size))
    return files


def _drop_shadowed_course(cwd: str) -> None:
    """A fresh kernel in `cwd` would import the `lrcourse` found there first: forget the preloaded one."""
    mod = sys.modules.get(COURSE[0])
    if mod is None:
        return
    here = os.path.dirname(os.path.dirname(os.path.abspath(mod.__file__)))
    if os.path.realpath(cwd) == os.path.realpath(here):
        return
    if any(os.path.exists(os.path.join(cwd, COURSE[0] + ext)) for ext in ("", ".py")):
        for name in [n for n in sys.modules if n == COURSE[0] or n.startswith(COURSE[0] + ".")]:
            del sys.modules[name]


def _socket_dir() -> str:
    d = os.path.join(tempfile.gettempdir(), f"lrcourse-kernels-{os.getuid()}")
    os.makedirs(d, mode=0o700, exist_ok=True)
    st = os.stat(d)
    if st.st_uid != os.getuid() or st.st_mode & 0o077:  # someone else's folder: never trust it
        raise RuntimeError(f"{d} is not a private folder of this user")
    return d


# ----------------------------------------------------------------------------- wire format
def _send(sock, obj, fds=()):
    data = json.dumps(obj).encode()
    msg = struct.pack("!I", len(data)) + data
    if fds:
        socket.send_fds(sock, [msg], list(fds))
    else:
        sock.sendall(msg)


def _recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def _recv(sock, with_fds=0):
    fds = []
    if with_fds:
        head, fds, _, _ = socket.recv_fds(sock, 4, with_fds)
        if len(head) < 4:
            head += _recv_exact(sock, 4 - len(head))
    else:
        head = _recv_exact(sock, 4)
    (n,) = struct.unpack("!I", head)
    return json.loads(_recv_exact(sock, n)), fds


# ----------------------------------------------------------------------------- the launcher
def _connect(path, deadline):
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _server(path, lock_path):
    """A connection to the server at `path`, started first if there is none."""
    import fcntl

    try:
        return _connect(path, time.monotonic())
    except OSError:
        pass
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return _connect(path, time.monotonic())
        except OSError:
            with open(path[:-len(".sock")] + ".log", "ab") as log:
                subprocess.Popen([sys.executable, os.path.abspath(__file__), "serve", path],
                                 stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                 start_new_session=True, close_fds=True)
            return _connect(path, time.monotonic() + 120)


def launch(kernel_args: list[str]) -> int:
    d = _socket_dir()
    key = _key()
    path, lock_path = os.path.join(d, key + ".sock"), os.path.join(d, key + ".lock")
    request = {"args": kernel_args, "cwd": os.getcwd(), "env": dict(os.environ)}
    for attempt in range(3):  # a server that was just exiting (idle) hangs up: start another
        sock = _server(path, lock_path)
        try:
            _send(sock, request, fds=(0, 1, 2))
            pid = _recv(sock)[0]["pid"]
            break
        except (EOFError, OSError):
            sock.close()
            if attempt == 2:
                raise
            time.sleep(0.2)

    def forward(signum, frame):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(s, forward)
    # A kernel started by Jupyter exits when the process that started it dies (ipykernel watches
    # JPY_PARENT_PID); this kernel's parent is the server, so the launcher watches for it.
    manager = int(os.environ.get("JPY_PARENT_PID") or os.getppid())
    try:
        manager_fd = os.pidfd_open(manager)
    except OSError:  # already gone
        forward(signal.SIGKILL, None)
        return 1
    while True:
        ready, _, _ = select.select([sock, manager_fd], [], [])
        if manager_fd in ready:
            forward(signal.SIGKILL, None)
            return 1
        try:
            return _recv(sock)[0]["status"]
        except (EOFError, OSError):  # the server is gone: take the kernel with it
            forward(signal.SIGKILL, None)
            return 1


# ----------------------------------------------------------------------------- the server
def _child(conn_fds, request, stdio, launcher_pid):
    """In the forked process: become the kernel the launcher asked for. Never returns."""
    code = 1
    try:
        for fd in conn_fds:
            os.close(fd)
        os.setsid()
        for i, fd in enumerate(stdio):
            os.dup2(fd, i)
            os.close(fd)
        os.chdir(request["cwd"])
        _drop_shadowed_course(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        import numpy as np

        np.random.seed()  # what a fresh process's global generator would be: unseeded
        _die_with(launcher_pid)
        sys.argv = [sys.executable, *request["args"]]
        from ipykernel import kernelapp

        kernelapp.launch_new_instance()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:  # noqa: BLE001 - whatever kills the kernel, report it and exit
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _die_with(pid):
    import threading

    fd = os.pidfd_open(pid)

    def watch():
        select.select([fd], [], [])
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, daemon=True, name="die-with-launcher").start()


def _first_figure() -> None:
    """Draw one small figure (a log axis: mathtext tick labels) and drop it.  A process's first figure
    finds its fonts and builds mathtext's grammar, which later ones reuse: 110 ms here against 55 ms
    for the next.  Done once in the server, it is not done again in every kernel, like the imports.
    Without pyplot: no figure is left in its list."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return
    fig = Figure(figsize=(2, 2))
    canvas = FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.plot([1e-3, 1e-1], [1.0, 2.0])
    ax.set_xscale("log")
    ax.set_title("a")
    canvas.draw()


def serve(path: str) -> None:
    import importlib

    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")  # as ipykernel would
    if sys.path and sys.path[0] == os.path.dirname(os.path.abspath(__file__)):
        del sys.path[0]  # this script's folder: a fresh kernel's import path does not have it
    for name in PRELOAD + COURSE:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    _first_figure()
    # The preloaded libraries live as long as any kernel: frozen, they are left out of every kernel's
    # garbage collections (which would otherwise walk them each time), and their pages stay shared.
    gc.collect()
    gc.freeze()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    tmp = f"{path}.{os.getpid()}"
    listener.bind(tmp)
    os.chmod(tmp, 0o600)
    listener.listen(16)
    os.rename(tmp, path)  # callers never see a socket that is not listening yet
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, ("accept", None))
    kernels = {}  # pid -> (connection, pidfd)
    idle_since = time.monotonic()
    try:
        while kernels or time.monotonic() - idle_since < IDLE_S:
            for key, _ in sel.select(timeout=1.0):
                what, data = key.data
                if what == "accept":
                    conn, _ = listener.accept()
                    try:
                        request, stdio = _recv(conn, with_fds=3)
                    except (EOFError, OSError, ValueError):
                        conn.close()
                        continue
                    launcher = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[0]
                    pid = os.fork()
                    if pid == 0:
                        _child([listener.fileno(), sel.fileno(), conn.fileno(),
                                *(c.fileno() for c, _ in kernels.values()), *(p for _, p in kernels.values())],
                               request, stdio, launcher)
                    for fd in stdio:
                        os.close(fd)
                    pidfd = os.pidfd_open(pid)
                    kernels[pid] = (conn, pidfd)
                    sel.register(pidfd, selectors.EVENT_READ, ("exited", pid))
                    sel.register(conn, selectors.EVENT_READ, ("launcher", pid))
                    _send(conn, {"pid": pid})
                elif what == "launcher":  # the launcher hung up before its kernel ended
                    try:
                        os.kill(data, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    sel.unregister(key.fileobj)
                else:
                    conn, pidfd = kernels.pop(data)
                    _, status = os.waitpid(data, 0)
                    sel.unregister(pidfd)
                    os.close(pidfd)
                    try:
                        sel.unregister(conn)
                    except KeyError:
                        pass
                    try:
                        _send(conn, {"status": os.waitstatus_to_exitcode(status) & 0xFF})
                    except OSError:
                        pass
                    conn.close()
                    if not kernels:
                        idle_since = time.monotonic()
    finally:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        listener.close()  # callers still in its queue see it hang up and start a new server


if __name__ == "__main__":
    if sys.argv[1:2] == ["launch"]:
        sys.exit(launch(sys.argv[2:]))
    elif sys.argv[1:2] == ["serve"]:
        serve(sys.argv[2])
    else:
        sys.exit(__doc__)
