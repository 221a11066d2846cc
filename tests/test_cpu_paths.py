"""The second-CPU pass of `make test` really runs other kernels than the first (tools/cpu_paths.py).

Each switch is applied alone, and the operations it governs must give different bits than on the
host's default path; otherwise the second pass would repeat the first and prove nothing.
"""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "cpu_paths.py"
sys.path.insert(0, str(TOOL.parent))
import cpu_paths  # noqa: E402  (a script in tools/, not part of the package)

# switch -> (what it governs in the report, the fingerprint that must change, the host report key)
SWITCHES = {
    "NPY_DISABLE_CPU_FEATURES": ("numpy ufuncs (exp, log1p, tanh)", "numpy_dispatch"),
    "OPENBLAS_CORETYPE": ("numpy BLAS (matmul, dot)", "openblas_core"),
    "ATEN_CPU_CAPABILITY": ("torch ATen (log1p, sigmoid, softplus)", "torch_capability"),
    "MKL_CBWR": ("torch MKL (mm)", None),
    "GLIBC_TUNABLES": ("libm (math.sin, exp, pow)", None),
}


def _report(extra: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in cpu_paths.ALT_ENV}
    env.update(extra)
    out = subprocess.run([sys.executable, str(TOOL), "report"], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def host():
    return _report({})


def test_every_switch_of_the_second_pass_is_checked():
    assert set(SWITCHES) == set(cpu_paths.ALT_ENV)


@pytest.mark.parametrize("switch", sorted(SWITCHES))
def test_switch_changes_the_kernels(host, switch):
    fingerprint, key = SWITCHES[switch]
    if key == "numpy_dispatch" and not host[key]:
        pytest.skip("this CPU has no NumPy dispatch target above the baseline: the host already runs it")
    if key == "openblas_core" and host[key] in (["Prescott"], ["Katmai"]):
        pytest.skip("the host already runs OpenBLAS's oldest kernels")
    if key == "torch_capability" and host[key] == "DEFAULT":
        pytest.skip("torch already runs its non-vectorised kernels here")
    if switch == "GLIBC_TUNABLES" and not sys.platform.startswith("linux"):
        pytest.skip("glibc's tunables exist on Linux only")
    if switch == "MKL_CBWR":
        import torch
        if not torch.backends.mkl.is_available():
            pytest.skip("this torch build has no MKL")
    alt = _report({switch: cpu_paths.ALT_ENV[switch]})
    if key is not None:
        assert alt[key] != host[key], f"{switch} did not change {key}: {alt[key]}"
    assert alt["fingerprints"][fingerprint] != host["fingerprints"][fingerprint], (
        f"{switch}={cpu_paths.ALT_ENV[switch]} left the results of {fingerprint} bit for bit the same")
    untouched = {k: v for k, v in host["fingerprints"].items() if k != fingerprint}
    assert {k: alt["fingerprints"][k] for k in untouched} == untouched, f"{switch} changed more than its library"


def test_text_only_kernels_show_figures_as_the_text_nbval_compares():
    """`run --text-only` (the second pass): its kernels load a profile that displays a figure as its
    text alone, the same text a kernel with PNGs shows beside its image; the command runs in it."""
    probe = (
        "import json, matplotlib; matplotlib.use('agg'); import matplotlib.pyplot as plt\n"
        "from ipykernel.kernelapp import IPKernelApp\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "from matplotlib_inline.backend_inline import select_figure_formats\n"
        "app = IPKernelApp(); app.init_profile_dir(); app.load_config_file()\n"
        "formats = app.config.InlineBackend.figure_formats if 'InlineBackend' in app.config else {'png'}\n"
        "shell = InteractiveShell.instance()\n"
        "fig = plt.figure(); fig.add_subplot().plot([1, 2])\n"
        "shown = {}\n"
        "for f in (set(formats), {'png'}):\n"
        "    select_figure_formats(shell, f)\n"
        "    data, _ = shell.display_formatter.format(fig)\n"
        "    shown[','.join(sorted(f)) or 'text only'] = {k: v for k, v in data.items() if k == 'text/plain'} | "
        "{k: len(v) for k, v in data.items() if k != 'text/plain'}\n"
        "print(json.dumps([sorted(formats), shown]))\n"
    )
    out = subprocess.run([sys.executable, str(TOOL), "run", "--text-only", "--", sys.executable, "-c", probe],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    formats, shown = json.loads(out.stdout.splitlines()[-1])
    assert formats == []
    assert shown["text only"] == {"text/plain": "<Figure size 640x480 with 1 Axes>"}
    assert shown["png"]["text/plain"] == shown["text only"]["text/plain"] and shown["png"]["image/png"] > 1000
