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
