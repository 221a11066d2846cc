"""The sandbox: how the grader starts children and what it accepts back from them.

``make_sandbox`` prepares a fresh folder once per batch: the child script, a site folder
that holds a private copy of numpy and the child's two siblings (``runners``,
``namespace``) alone, an unprivileged user and an interpreter it can run (when the grader
is root), and the kernel layers a probe child could apply, which every child must then
apply too.  ``run_child`` runs one question's job in a fresh, limited child and reads back a
bounded number of bytes of strictly parsed JSON lines.  Where the kernel layers hold, the child
is forked by a server that imported numpy once (``_ForkServer``, one per grader thread), else it
is a new process.  Nothing here knows the questions:
a job is the question's kind, target, graded source and cases.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import pathlib
import pwd
import re
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import numpy

from .notebook import printable
from .standins import standin_sources

HERE = pathlib.Path(__file__).parent
CHILD = HERE / "child.py"
CHILD_MODULES = (HERE / "runners.py", HERE / "namespace.py")   # imported by the child from its site folder
MAX_RESULT_BYTES = 16 * 2**20     # the most a child may write as results (a question sets less)
MAX_PRINTED_BYTES = 8 * 2**20     # the most a child may print before it is stopped


@dataclasses.dataclass
class Sandbox:
    """How children are started: interpreter, user, site folder with numpy only, limits."""

    python: str
    site: str
    child: str
    workdir: str
    user: int | None = None
    group: int | None = None
    timeout: float = 10.0
    case_timeout: float = 3.0
    memory: int = 2**30
    warning: str | None = None
    layers: dict | None = None    # the kernel layers a probe child applied: {"landlock": ABI, "seccomp": bool}
    require: dict | None = None   # what every child must apply before the graded code runs, else it is not run
    fork_server: bool = False     # children forked by a server that imported numpy once (set where the layers hold)
    _servers: dict = dataclasses.field(default_factory=dict, repr=False, compare=False)  # thread id -> _ForkServer

    def limits(self) -> dict:
        cpu = int(self.timeout) + 1
        limits = {"RLIMIT_CPU": cpu, "RLIMIT_AS": self.memory, "RLIMIT_FSIZE": MAX_RESULT_BYTES,
                  "RLIMIT_NOFILE": 64, "RLIMIT_CORE": 0}
        if self.user is not None:  # counts every process of the user: only meaningful for 'nobody'
            limits["RLIMIT_NPROC"] = 64
        return limits


def _scrubbed_env(home: str) -> dict:
    return {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "HOME": home, "TMPDIR": home,
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _child_process(box: Sandbox, *args: str, python: str, user: int | None, group: int | None) -> tuple[list, dict]:
    """The command line of the sandbox's child.py with ``args`` (isolated mode, numpy from the site
    folder only), and the Popen keywords that run it as ``user`` (None: as this process's user)."""
    kw = dict(user=user, group=group, extra_groups=[]) if user is not None else {}
    return [python, "-I", "-S", "-B", box.child, box.site, *args], kw


WORKDIR_PREFIX = "lrcourse-grade-"
# What the child never imports from numpy: its tests, type stubs, build helpers (a quarter of its size).
NUMPY_SKIP = shutil.ignore_patterns("tests", "*.pyi", "_pyinstaller", "f2py", "typing", "*.pxd", "include")


def _sweep_stale_workdirs() -> None:
    """Remove sandboxes left by graders of this user that no longer run (a kill -9, a power cut)."""
    for d in [p for t in dict.fromkeys([tempfile.gettempdir(), "/tmp"]) for p in pathlib.Path(t).glob(WORKDIR_PREFIX + "*")]:
        m = re.match(re.escape(WORKDIR_PREFIX) + r"(\d+)-", d.name)
        try:
            if not m or d.is_symlink() or d.stat().st_uid != os.geteuid():
                continue
            os.kill(int(m.group(1)), 0)           # still running: leave it alone
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
        except (OSError, ValueError):
            continue


def _world_traversable(path: str) -> bool:
    parts = pathlib.Path(path).resolve().parts
    return all(os.stat(os.path.join(*parts[:i + 1])).st_mode & 0o001 for i in range(len(parts)))


def _sandbox_parent(drop_privileges: bool) -> str:
    """The temporary folder, unless the unprivileged child could not enter it (a private TMPDIR): then /tmp."""
    tmp = tempfile.gettempdir()
    if drop_privileges and os.geteuid() == 0 and not _world_traversable(tmp) and os.path.isdir("/tmp"):
        return "/tmp"
    return tmp


def _copy_numpy(site: str) -> None:
    """A private, world-readable copy of numpy (and its bundled libraries) in the sandbox's site folder.

    A copy, not a link: the checkout or the virtual environment may live in a folder only
    the instructor can enter (a home directory, a ``mktemp -d``), which the unprivileged
    child could not traverse, and a hard link would let a child running as the grader's
    own user write into the environment's numpy.
    """
    np_dir = os.path.realpath(os.path.dirname(numpy.__file__))
    shutil.copytree(np_dir, os.path.join(site, "numpy"), ignore=NUMPY_SKIP)
    libs = os.path.join(os.path.dirname(np_dir), "numpy.libs")
    if os.path.isdir(libs):
        shutil.copytree(libs, os.path.join(site, "numpy.libs"))
    for top, _dirs, files in os.walk(site):
        os.chmod(top, 0o755)
        for f in files:
            path = os.path.join(top, f)
            os.chmod(path, 0o755 if os.stat(path).st_mode & 0o100 else 0o644)


def make_sandbox(timeout=10.0, drop_privileges=True) -> Sandbox:
    """A fresh folder with the child script and a site folder that holds numpy and the child's siblings alone."""
    _sweep_stale_workdirs()
    work = tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-", dir=_sandbox_parent(drop_privileges))
    try:
        os.chmod(work, 0o755)
        site = os.path.join(work, "site")
        os.mkdir(site, 0o755)
        _copy_numpy(site)
        for module in CHILD_MODULES:
            shutil.copyfile(module, os.path.join(site, module.name))
            os.chmod(os.path.join(site, module.name), 0o644)
        child = os.path.join(work, "child.py")
        shutil.copyfile(CHILD, child)
        os.chmod(child, 0o644)
        box = Sandbox(sys.executable, site, child, work, timeout=float(timeout), case_timeout=min(3.0, float(timeout)))
        if drop_privileges and os.geteuid() == 0:
            _choose_unprivileged(box)
        _choose_layers(box)
        return box
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def _interpreters() -> list[str]:
    """Interpreters of this Python version, the base (world-executable) one first."""
    v = sys.version_info
    candidates = [getattr(sys, "_base_executable", ""), sys.executable, os.path.realpath(sys.executable),
                  f"/usr/bin/python{v.major}.{v.minor}", f"/usr/local/bin/python{v.major}.{v.minor}",
                  shutil.which(f"python{v.major}.{v.minor}", path="/usr/local/bin:/usr/bin:/bin") or ""]
    return list(dict.fromkeys(c for c in candidates if c and os.path.exists(c)))


def _probe(box: Sandbox, python: str, user: int | None, group: int | None) -> tuple[dict | None, str]:
    """Start a child as ``user`` with ``python``: (the kernel layers it could apply, or None; why not)."""
    cmd, kw = _child_process(box, "probe", python=python, user=user, group=group)
    try:
        r = subprocess.run(cmd, cwd=box.workdir,
                           env=_scrubbed_env(box.workdir), capture_output=True, timeout=30, **kw)
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"{python}: {type(exc).__name__}"
    out = r.stdout.decode("utf-8", "replace").strip()
    if r.returncode == 0 and out.startswith("ok "):
        try:
            return json.loads(out[3:]), ""
        except ValueError:
            pass
    err = r.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [f"exit code {r.returncode}"]
    return None, f"{python}: {printable(err[0])}"


def _choose_unprivileged(box: Sandbox) -> None:
    """Run children as nobody, with an interpreter that nobody can run and that loads the sandbox's numpy."""
    try:
        pw = pwd.getpwnam("nobody")
    except KeyError:
        box.warning = "no user 'nobody': children run as root"
        return
    tried = []
    for py in _interpreters():
        layers, why = _probe(box, py, pw.pw_uid, pw.pw_gid)
        if layers is not None:
            box.python, box.user, box.group, box.layers = py, pw.pw_uid, pw.pw_gid, layers
            return
        tried.append(why)
    box.warning = ("no Python interpreter of this version can be run by 'nobody' with the sandbox's numpy "
                   f"({'; '.join(tried)}): children run as root")


def _choose_layers(box: Sandbox) -> None:
    """Probe the kernel layers (as this user), require them from every child, and say loudly what is missing."""
    if box.layers is None:
        box.layers, why = _probe(box, box.python, None, None)
        if box.layers is None:
            raise RuntimeError(f"the grader's child cannot start here: {why}")
    missing = []
    abi = int(box.layers.get("landlock") or 0)
    if abi < 1:
        missing.append("Landlock (file access)")
    elif abi < 6:
        missing.append(f"Landlock signal/socket scoping (kernel ABI {abi} < 6)")
    if not box.layers.get("seccomp"):
        missing.append("seccomp")
    if box.user is None and os.geteuid() == 0:
        missing.append("an unprivileged user")
    box.require = {"landlock": abi, "seccomp": bool(box.layers.get("seccomp"))}
    # A server forks the children only where none of them can signal or trace it (Landlock's signal
    # scoping and seccomp both hold; it is also not dumpable); otherwise each child is a new process.
    box.fork_server = not missing
    if missing:
        gap = (f"children are NOT fully isolated here: no {', no '.join(missing)}. A submission may read or "
               "signal what this user can; grade untrusted work in the container (docs/instructors.md)")
        box.warning = f"{box.warning}; {gap}" if box.warning else gap


def isolation_summary(box: Sandbox) -> str:
    """One line for every CSV row: which layers held this batch."""
    layers = box.layers or {}
    abi = int(layers.get("landlock") or 0)
    parts = [f"Landlock ABI {abi}" + (" (files, network, signals, abstract sockets)" if abi >= 6 else "")
             if abi else "no Landlock", "seccomp" if layers.get("seccomp") else "no seccomp",
             f"uid {box.user}" if box.user is not None else f"uid {os.geteuid()} (the grader's)",
             "rlimits", "audit hook"]
    return ("WARNING: " + box.warning + " | " if box.warning else "") + ", ".join(parts)


@dataclasses.dataclass
class ChildResult:
    outputs: dict          # case index -> ("out", value) | ("error", message)
    fatal: str | None      # a failure before any case ran
    problem: str | None    # how the process ended, if abnormally
    seconds: float


def result_cap(expected: list) -> int:
    """Bytes of result lines a child may write for these cases: 3x the reference's JSON, plus room for errors."""
    return 3 * sum(len(json.dumps(e)) for e in expected) + 1024 * len(expected) + 4096


class _ForkServer:
    """child.py in ``serve`` mode, as the children's user: numpy imported once, a forked child per question.

    One per grader thread (``_server``), so its requests and replies never interleave.  If it fails
    in any way, it is dropped and the child is started as a new process instead."""

    def __init__(self, box: Sandbox):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        cmd, kw = _child_process(box, "serve", str(theirs.fileno()), python=box.python, user=box.user,
                                 group=box.group)
        try:
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=box.workdir,
                env=_scrubbed_env(box.workdir), pass_fds=(theirs.fileno(),), start_new_session=True, **kw)
        finally:
            theirs.close()
        self.sock = ours
        with _LIVE_LOCK:
            _LIVE.add(self.proc)
        self.sock.settimeout(30)
        try:
            if self._reply() != {"ready": True}:
                raise OSError("the fork server did not start")
        except BaseException:
            self.close()
            raise

    def _reply(self) -> dict:
        msg = self.sock.recv(1 << 16)
        if not msg:
            raise OSError("the fork server ended")
        return json.loads(msg)

    def start(self, fds, limits: dict, home: str) -> int:
        socket.send_fds(self.sock, [json.dumps({"cmd": "run", "limits": limits, "home": home}).encode()], fds)
        pid = self._reply().get("pid")
        if not isinstance(pid, int) or pid <= 0:
            raise OSError(f"the fork server answered {pid!r}")
        return pid

    def wait(self, pid: int, timeout: float):
        self.sock.sendall(json.dumps({"cmd": "wait", "pid": pid, "timeout": timeout}).encode())
        self.sock.settimeout(timeout + 30)
        try:
            return self._reply().get("status")
        finally:
            self.sock.settimeout(30)

    def close(self) -> None:
        self.sock.close()
        _kill_group(self.proc)
        with _LIVE_LOCK:
            _LIVE.discard(self.proc)


def _server(box: Sandbox) -> _ForkServer | None:
    """This thread's fork server for ``box`` (started on first use), or None where there is none."""
    if not box.fork_server:
        return None
    key = threading.get_ident()
    server = box._servers.get(key)
    if server is None or server.proc.poll() is not None:
        if server is not None:
            server.close()
        try:
            server = box._servers[key] = _ForkServer(box)
        except (OSError, ValueError):
            box._servers.pop(key, None)
            return None
    return server


def close_servers(box: Sandbox) -> None:
    """End the box's fork servers (a batch's end)."""
    for server in list(box._servers.values()):
        server.close()
    box._servers.clear()


class _Forked:
    """A child forked by a server, with what ``_exchange`` and ``_kill_group`` use of a Popen."""

    lost = False   # its server ended: the exit status is unknown

    def __init__(self, server: _ForkServer, pid: int, stdin, stdout):
        self.server, self.pid, self.stdin, self.stdout, self.returncode = server, pid, stdin, stdout, None

    def wait(self, timeout=None):
        if self.returncode is None:
            try:
                status = self.server.wait(self.pid, 1e9 if timeout is None else timeout)
            except (OSError, ValueError):
                self.lost, self.returncode = True, 0
                return self.returncode
            if status is None:
                raise subprocess.TimeoutExpired("forked child", timeout)
            self.returncode = int(status)
        return self.returncode

    def poll(self):
        if self.returncode is None:
            try:
                self.wait(0)
            except subprocess.TimeoutExpired:
                pass
        return self.returncode


def _fork_child(box: Sandbox, res_w: int, home: str):
    """A child started by this thread's fork server, or None (then a new process is started)."""
    server = _server(box)
    if server is None:
        return None
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    try:
        pid = server.start([in_r, out_w, res_w], box.limits(), home)
    except (OSError, ValueError):
        for fd in (in_r, in_w, out_r, out_w):
            os.close(fd)
        box._servers.pop(threading.get_ident(), None)
        server.close()
        return None
    os.close(in_r)
    os.close(out_w)
    return _Forked(server, pid, open(in_w, "wb", buffering=0), open(out_r, "rb", buffering=0))


def run_child(box: Sandbox, job: dict) -> ChildResult:
    """Run one question's cases in a fresh, limited, unprivileged child and collect its lines.

    The job goes in through a pipe (no case is ever written to disk); results come back
    through another pipe and stdout through a third, each read up to a fixed number of
    bytes: a child that writes more is stopped, and costs the grader no more than that.
    """
    t0 = time.perf_counter()
    cap = int(job.get("result_cap") or MAX_RESULT_BYTES)
    job = {"standins": standin_sources(), "require": box.require or {}} | {
        k: v for k, v in job.items() if k != "result_cap"} | {"case_timeout": box.case_timeout}
    data = json.dumps(job).encode()
    home = tempfile.mkdtemp(prefix="cwd-", dir=box.workdir)            # the child's empty cwd
    os.chmod(home, 0o755)
    res_r, res_w = os.pipe()
    proc = None
    try:
        proc = _fork_child(box, res_w, home)
        if proc is None:
            cmd, kw = _child_process(box, str(res_w), json.dumps(box.limits()), python=box.python, user=box.user,
                                     group=box.group)
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    cwd=home, env=_scrubbed_env(home), pass_fds=(res_w,), close_fds=True,
                                    start_new_session=True, **kw)
        with _LIVE_LOCK:
            _LIVE.add(proc)
        os.close(res_w)
        res_w = None
        results, tail, problem = _exchange(proc, data, res_r, cap, box.timeout)
        rc = proc.poll()
        if problem is None and getattr(proc, "lost", False):
            problem = "the grader lost track of the process (its fork server ended)"
        elif problem is None and rc is not None and rc < 0:
            problem = f"the process was killed by signal {-rc} (a resource limit: CPU time or memory?)"
        elif problem is None and rc not in (None, 0):
            problem = f"the process exited with code {rc} (exit() or a crash in the graded code?)"
        outputs, fatal = parse_results(results, len(job["cases"]))
        if problem is None and fatal is None and len(outputs) < len(job["cases"]):
            last = printable(tail.decode("utf-8", "replace").strip().splitlines()[-1]) if tail.strip() else ""
            problem = "the process ended before reporting every case" + (f": {last}" if last else "")
        return ChildResult(outputs, fatal, problem, time.perf_counter() - t0)
    finally:
        for fd in (res_r, res_w):
            if fd is not None:
                os.close(fd)
        if proc is not None:
            _kill_group(proc)
            with _LIVE_LOCK:
                _LIVE.discard(proc)
            for stream in (proc.stdin, proc.stdout):
                try:
                    stream.close()
                except OSError:
                    pass
        shutil.rmtree(home, ignore_errors=True)


_LIVE: set = set()              # children running now (to stop them all if the grader is stopped)
_LIVE_LOCK = threading.Lock()


def kill_live_children() -> None:
    with _LIVE_LOCK:
        procs = list(_LIVE)
    for proc in procs:
        try:
            os.killpg(proc.pid, 9)
        except (ProcessLookupError, PermissionError):
            pass


def _exchange(proc, data: bytes, res_fd: int, cap: int, timeout: float) -> tuple[bytes, bytes, str | None]:
    """Feed the job, drain results (at most ``cap`` bytes) and stdout (last 4 KB kept) until the child ends."""
    deadline = time.monotonic() + timeout
    sel = selectors.DefaultSelector()
    os.set_blocking(proc.stdin.fileno(), False)
    sel.register(proc.stdin, selectors.EVENT_WRITE)
    sel.register(proc.stdout, selectors.EVENT_READ)
    sel.register(res_fd, selectors.EVENT_READ)
    results, tail, printed, sent, problem = bytearray(), b"", 0, 0, None
    try:
        while any(k.events & selectors.EVENT_READ for k in sel.get_map().values()):
            left = deadline - time.monotonic()
            if left <= 0:
                problem = f"stopped after {timeout:g} s (time limit; an endless loop?)"
                break
            for key, _ in sel.select(min(left, 1.0)):
                if key.fileobj is proc.stdin:
                    try:
                        sent += os.write(proc.stdin.fileno(), data[sent:sent + 65536])
                    except (BrokenPipeError, OSError):
                        sent = len(data)
                    if sent >= len(data):
                        sel.unregister(proc.stdin)
                        proc.stdin.close()
                    continue
                fd = key.fileobj if isinstance(key.fileobj, int) else key.fileobj.fileno()
                chunk = os.read(fd, 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                elif fd == res_fd:
                    results += chunk
                    if len(results) > cap:
                        problem = f"stopped: it wrote more than {cap} bytes of results"
                        break
                else:
                    printed += len(chunk)
                    tail = (tail + chunk)[-4096:]
                    if printed > MAX_PRINTED_BYTES:
                        problem = f"stopped: it printed more than {MAX_PRINTED_BYTES // 2**20} MB"
                        break
            if problem:
                break
        if problem is None:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                problem = f"stopped after {timeout:g} s (time limit; an endless loop?)"
    finally:
        sel.close()
    return bytes(results[:cap]), tail, problem


def _kill_group(proc) -> None:
    try:
        os.killpg(proc.pid, 9)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass



def _strict_int(text: str) -> int:
    if len(text) > 18:                      # |n| < 1e18: a float holds it; anything longer is refused
        raise ValueError("integer too long")
    return int(text)


# A wrong answer may legitimately be nan or inf (a known mistake divides by zero): the three
# IEEE specials are accepted as such and compare unequal to the (always finite) reference.
_SPECIALS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _special(name: str) -> float:
    return _SPECIALS[name]


def parse_results(data: bytes, n_cases: int) -> tuple[dict, str | None]:
    """The child's JSON lines, strictly: floats and short integers only, one record per case; the rest is ignored.

    An integer too large for a float (``1`` followed by 400 zeros) makes its line invalid
    instead of an OverflowError later, in the comparison, for the whole batch.
    """
    outputs, fatal = {}, None
    for raw in data.split(b"\n"):
        if not raw.strip():
            continue
        try:
            msg = json.loads(raw.decode("utf-8"), parse_int=_strict_int, parse_constant=_special)
        except (UnicodeDecodeError, ValueError, RecursionError, OverflowError):
            continue
        if not isinstance(msg, dict):
            continue
        if "fatal" in msg and fatal is None and not outputs:
            fatal = printable(msg["fatal"])
            continue
        case = msg.get("case")
        if isinstance(case, bool) or not isinstance(case, int) or not 0 <= case < n_cases or case in outputs:
            continue
        if "out" in msg:
            outputs[case] = ("out", msg["out"])
        elif "error" in msg:
            outputs[case] = ("error", printable(msg["error"]))
    return outputs, fatal

