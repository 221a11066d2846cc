"""Hooks for every pytest run in this repository: tests/, doctests, and notebooks under nbval.

Notebooks start in forked kernels: fresh processes with the heavy libraries already imported
(tools/forked_kernels.py says what that keeps and what it shares). That covers nbval's kernels and,
through JUPYTER_PATH, the `python3` kernel of every Jupyter tool the tests start (nbclient, nbgrader,
JupyterLab). LRCOURSE_FORKED_KERNELS=0 gives ordinary kernels.
"""
import gc
import os
import pathlib
import sys

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
    if not forked_kernels.available():
        return
    folder = forked_kernels.jupyter_path()
    if not os.environ.get("JUPYTER_PATH", "").startswith(folder):
        os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [folder, os.environ.get("JUPYTER_PATH")]))
    if not config.pluginmanager.hasplugin("nbval"):
        return
    import nbval.kernel

    base = nbval.kernel.NbvalKernelspecManager
    forked = forked_kernels.kernel_spec_manager_class()

    class ForkedCurrentEnv(base):
        def get_kernel_spec(self, kernel_name):
            if kernel_name == nbval.kernel.CURRENT_ENV_KERNEL_NAME:
                return forked.get_kernel_spec(self, kernel_name)
            return super().get_kernel_spec(kernel_name)

    nbval.kernel.NbvalKernelspecManager = ForkedCurrentEnv

    # jupyter_client picks free TCP ports and writes them for the kernel, which binds them a moment
    # later; another process can take one in between and the kernel dies at its start
    # (https://github.com/jupyter/jupyter_client/issues/154). nbval discards the kernel's stderr and
    # does not try again: try once more. A kernel that cannot start fails the second time as well.
    start = nbval.kernel.start_new_kernel

    def start_new_kernel(*args, **kwargs):
        try:
            return start(*args, **kwargs)
        except RuntimeError as e:
            if "died before replying" not in str(e):
                raise
            return start(*args, **kwargs)

    nbval.kernel.start_new_kernel = start_new_kernel


# The files that take longest (run alone on the 2-core CI machine: 20-55 CPU-seconds each), started
# first: pytest-xdist hands out files in collection order (with --no-loadscope-reorder, as the Makefile runs it;
# by default it sorts them by their number of tests), so the last ones to finish are short.
FIRST = ("tests/test_book.py", "tests/test_grader_adversarial.py", "tests/test_widgets.py", "tests/test_browser.py",
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
