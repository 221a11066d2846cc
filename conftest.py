"""Hooks for every pytest run in this repository: tests/, doctests, and notebooks under nbval.

Notebooks start in forked kernels: fresh processes with the heavy libraries already imported
(tools/forked_kernels.py says what that keeps and what it shares). That covers nbval's kernels and,
through JUPYTER_PATH, the `python3` kernel of every Jupyter tool the tests start (nbclient, nbgrader,
JupyterLab). LRCOURSE_FORKED_KERNELS=0 gives ordinary kernels.
"""
import gc
import os
import pathlib
import queue
import sys
import time

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent / "tools"))
import forked_kernels  # noqa: E402


@pytest.hookimpl(tryfirst=True)
def pytest_unconfigure(config):
    """One full garbage collection, then the surviving heap frozen, before pytest's own clean-up.

    At its end pytest collects garbage ten times over (so that errors raised in finalizers are
    reported): in a worker of the full run, whose heap holds torch, matplotlib and thousands of test
    objects, each collection walks millions of live objects (a worker that ran test_widgets.py and
    test_optimizers.py exited 9.0 s after its last test; with this, 1.8 s). After this collection
    the run's garbage is gone, its finalizers have run and any error they raised is reported as
    before; pytest's collections then walk only what was made after it."""
    gc.collect()
    gc.freeze()


def pytest_configure(config):
    forked = forked_kernels.available()
    if forked:
        folder = forked_kernels.jupyter_path()
        if not os.environ.get("JUPYTER_PATH", "").startswith(folder):
            os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [folder, os.environ.get("JUPYTER_PATH")]))
    if not config.pluginmanager.hasplugin("nbval"):
        return
    import nbval.kernel

    if forked:
        base = nbval.kernel.NbvalKernelspecManager
        specs = forked_kernels.kernel_spec_manager_class()

        class ForkedCurrentEnv(base):
            def get_kernel_spec(self, kernel_name):
                if kernel_name == nbval.kernel.CURRENT_ENV_KERNEL_NAME:
                    return specs.get_kernel_spec(self, kernel_name)
                return super().get_kernel_spec(kernel_name)

        nbval.kernel.NbvalKernelspecManager = ForkedCurrentEnv

    def start_new_kernel(startup_timeout=60, kernel_name="python", **kwargs):
        """nbval's start_new_kernel, with jupyter_client's wait_for_ready but for its last wait.

        Ready, as there: a kernel_info reply on the shell channel, then any message on IOPub (it is
        connected). wait_for_ready then also waits until IOPub has been silent for 0.2 s, at every start
        (~80 notebooks a run); nbval's handshake that follows (RunningKernel._ensure_iopub_up) skips
        the messages that are not its own, so that wait buys nothing here.

        jupyter_client picks free TCP ports and writes them for the kernel, which binds them a moment
        later; another process can take one in between and the kernel dies at its start
        (https://github.com/jupyter/jupyter_client/issues/154). nbval discards the kernel's stderr and
        does not try again: a kernel that dies before its first reply is started once more, and one
        that cannot start fails the second time as well."""
        for _ in range(2):
            km = nbval.kernel.KernelManager(kernel_name=kernel_name,
                                            kernel_spec_manager=nbval.kernel.NbvalKernelspecManager())
            km.start_kernel(**kwargs)
            kc = km.client()
            kc.start_channels()
            deadline = time.monotonic() + startup_timeout
            while True:
                kc.kernel_info()
                try:
                    if kc.get_shell_msg(timeout=1)["msg_type"] == "kernel_info_reply":
                        kc.get_iopub_msg(timeout=0.2)
                        return km, kc
                except queue.Empty:
                    pass
                died = not km.is_alive()
                if died or time.monotonic() > deadline:
                    break
            kc.stop_channels()
            km.shutdown_kernel(now=True)
            if not died:
                raise RuntimeError(f"Kernel didn't respond in {startup_timeout} seconds")
        raise RuntimeError("Kernel died before replying to kernel_info, twice")

    nbval.kernel.start_new_kernel = start_new_kernel

    # nbval stops a kernel with shutdown_kernel(now=True): a SIGKILL, then jupyter_client polls every
    # 0.1 s until the process is gone, so each notebook waited 0.1 s more. The kill and a blocking
    # wait first: the same signal, and the poll then finds the process gone (0.11 -> 0.02 s a kernel).
    stop = nbval.kernel.RunningKernel.stop

    def stop_at_once(self):
        process = self.km.provisioner.process
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        stop(self)

    nbval.kernel.RunningKernel.stop = stop_at_once


# The files that take longest (run alone on the 2-core CI machine: 20-55 CPU-seconds each), started
# first: pytest-xdist hands out files in collection order (with --no-loadscope-reorder, as the Makefile runs it;
# by default it sorts them by their number of tests), so the last ones to finish are short. Files that partly
# wait go early, while the second-CPU pass fills the cores, not after it: test_forked_kernels.py (kernels starting
# and stopping), test_widgets_latency.py (the panels' quiet periods: 41 s alone, 30 of them busy core-s) and
# test_setup.py (kernels that start or die: 12 s, 9 busy).
FIRST = ("tests/test_book.py", "tests/test_widgets_latency.py", "tests/test_grader_adversarial.py",
         "tests/test_widgets.py", "tests/test_setup.py", "tests/test_forked_kernels.py", "tests/test_browser.py",
         "tests/test_grader.py", "tests/test_grader_nbgrader.py", "tests/test_exercises.py", "tests/test_runs.py",
         "tests/test_optimizers.py", "tests/test_sparse.py", "tests/test_grader_batch.py")


def pytest_collection_modifyitems(session, config, items):
    root = pathlib.Path(str(config.rootpath))

    def rank(item):
        try:
            rel = pathlib.Path(str(item.path)).relative_to(root).as_posix()
        except ValueError:
            return len(FIRST)
        return FIRST.index(rel) if rel in FIRST else len(FIRST)

    items[:] = sorted(items, key=rank)  # stable: the order within a file, and of the other files, is kept
