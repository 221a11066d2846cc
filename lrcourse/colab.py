"""Launch links (Binder, Colab) and the install cell that opens every notebook of the course.

Binder builds the repository's ``environment.yml``, which installs lrcourse; Colab starts from its own
Python with torch but without lrcourse. So every notebook gets, before its setup cell, one code cell that
installs lrcourse at the version the notebook was written for when ``import lrcourse`` would fail, and
does nothing (prints nothing: nbval stays green) where lrcourse is installed. ``tools/launch_cells.py``
puts these cells into the notebooks; the book (``book/conf.py``) builds its launch buttons from the same
``REPOSITORY`` and ``BRANCH``.

The install cell must run before lrcourse exists, so it is plain standard-library code, generated here as
text and tested by running it (``tests/test_book.py``).
"""
from __future__ import annotations

import os
import re

from . import __version__

# Where the course is published. A fork sets LRCOURSE_REPOSITORY (or edits this line) and reruns
# tools/launch_cells.py; the book reads the same value.
REPOSITORY = os.environ.get("LRCOURSE_REPOSITORY", "https://github.com/lrcourse/lrcourse")
BRANCH = os.environ.get("LRCOURSE_BRANCH", "main")
BINDER = "https://mybinder.org"
COLAB = "https://colab.research.google.com"

LINKS_TAG = "launch-links"      # the markdown cell with the badges
INSTALL_TAG = "colab-install"   # the code cell that installs lrcourse where it is missing


def _owner_name(repository: str) -> str:
    m = re.fullmatch(r"https://github\.com/([\w.-]+/[\w.-]+?)(?:\.git)?/?", repository)
    if m is None:
        raise ValueError(f"Binder and Colab open GitHub repositories: expected https://github.com/OWNER/NAME, "
                         f"got {repository!r}")
    return m.group(1)


def binder_url(path: str, repository: str = REPOSITORY, branch: str = BRANCH) -> str:
    """Binder link that opens ``path`` (relative to the repository root) in JupyterLab."""
    return f"{BINDER}/v2/gh/{_owner_name(repository)}/{branch}?urlpath=lab/tree/{path}"


def colab_url(path: str, repository: str = REPOSITORY, branch: str = BRANCH) -> str:
    """Colab link that opens ``path`` (relative to the repository root) from GitHub."""
    return f"{COLAB}/github/{_owner_name(repository)}/blob/{branch}/{path}"


def pip_requirement(version: str = __version__, repository: str = REPOSITORY) -> str:
    """What Colab installs: lrcourse from the repository's tag ``v<version>`` (not on PyPI)."""
    if not re.fullmatch(r"\d+(\.\d+)*([a-z]+\d+)?", version):
        raise ValueError(f"not a release version: {version!r}")
    return f"lrcourse @ git+https://github.com/{_owner_name(repository)}@v{version}"


def install_cell_source(version: str = __version__, repository: str = REPOSITORY) -> str:
    """The first code cell of every notebook: a no-op where lrcourse imports, a pip install elsewhere."""
    requirement = pip_requirement(version, repository)
    return (
        f"# Colab: install lrcourse {version} where it is missing; where it is installed this cell does nothing.\n"
        "import importlib.util\n"
        "import subprocess\n"
        "import sys\n"
        "\n"
        'if importlib.util.find_spec("lrcourse") is None:\n'
        f'    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "{requirement}"], check=True)\n'
        f'    print("installed lrcourse {version}; on a GPU runtime, '
        '!python -m lrcourse verify --device auto checks every method on CUDA")'
    )


def links_markdown(path: str, repository: str = REPOSITORY, branch: str = BRANCH) -> str:
    """The launch line at the top of the notebook at ``path`` (relative to the repository root).

    Text links rather than badge images: a badge is a picture fetched from another site, which shows as a
    broken image wherever the course is read offline.
    """
    return (f"**Run this notebook online:** [Binder]({binder_url(path, repository, branch)}) (the course's "
            f"environment) · [Colab]({colab_url(path, repository, branch)}) (a GPU: *Runtime → Change runtime "
            "type*; the first code cell installs lrcourse)")
