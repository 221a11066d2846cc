"""Run a command with NumPy, OpenBLAS and torch on other CPU kernels than the host's best.

    python tools/cpu_paths.py run -- pytest --nbval notebooks   # notebooks on other CPU kernels
    python tools/cpu_paths.py run --text-only -- pytest ...     # the second-CPU pass of `make test`
    python tools/cpu_paths.py report                             # which kernels this process uses
    python tools/cpu_paths.py compare                            # report under both, and what changed

A checked output must not depend on the CPU it was computed on: learners run the course on laptops
with other instruction sets and BLAS builds.  `make test` therefore runs every notebook twice, the
second time with the switches below, which select other code paths than the host's best ones.  They
go one level down, to the kernels of the most common machine that is not the host: on a host with
AVX-512 (the machine that commits the outputs), the AVX2 kernels of a laptop or of a CPU like the AMD
one where a first run once failed; on a host with AVX2 only, the pre-AVX2 ones.  Any other kernel is
enough to expose an output that depends on the last bits, and these cost the second pass nothing
(the lowest levels made it about 1.5 times slower).

- ``NPY_DISABLE_CPU_FEATURES``: NumPy's runtime dispatch falls back to the loops of the level below
  (AVX2 instead of AVX-512; its SSE4.2-era baseline instead of AVX2) for exp, log, tanh, sin, ...
- ``OPENBLAS_CORETYPE``: NumPy's OpenBLAS (a DYNAMIC_ARCH build) uses the matmul and dot kernels of
  another architecture (Haswell instead of SkylakeX; Prescott below AVX2).
- ``ATEN_CPU_CAPABILITY``: torch's ATen kernels of the level below (avx2 instead of AVX-512;
  ``default``, not vectorised, instead of AVX2).
- ``MKL_CBWR=COMPATIBLE``: MKL (torch's BLAS on x86) takes its conditional-numerical-reproducibility
  path, a different kernel from the one it picks for the host.
- ``GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX2,-FMA,-AVX,-FMA4``: glibc's libm (Python's ``math``, NumPy's
  scalar fallbacks) uses its SSE2 variants of sin, cos, exp, pow and log instead of the FMA/AVX2 ones.

`tests/test_cpu_paths.py` checks that each switch really changes the kernels on the host (results
of the affected operations differ in their last bits), so the second pass is not a copy of the first.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import sys
import tempfile

# NumPy 2.x's dispatch targets on x86-64 above its baseline; naming one the CPU lacks is harmless.
_NPY_AVX512 = "X86_V4 AVX512_ICL AVX512_SPR"
_COMMON = {
    "MKL_CBWR": "COMPATIBLE",
    "GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX2,-FMA,-AVX,-FMA4",
}
BELOW_AVX512 = {"NPY_DISABLE_CPU_FEATURES": _NPY_AVX512, "OPENBLAS_CORETYPE": "Haswell",
                "ATEN_CPU_CAPABILITY": "avx2", **_COMMON}
BELOW_AVX2 = {"NPY_DISABLE_CPU_FEATURES": "X86_V3 " + _NPY_AVX512, "OPENBLAS_CORETYPE": "Prescott",
              "ATEN_CPU_CAPABILITY": "default", **_COMMON}


def _host_has_avx512() -> bool:
    """Whether the host runs AVX-512 kernels (NumPy's own reading of the CPU, so no torch import)."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:  # not x86, or another NumPy: the lowest level is then the other path
        return False
    return bool(features.get("AVX512F") and features.get("AVX512_SKX"))


ALT_ENV = BELOW_AVX512 if _host_has_avx512() else BELOW_AVX2


def alt_environ(base: dict | None = None) -> dict:
    env = dict(os.environ if base is None else base)
    env.update(ALT_ENV)
    return env


def report() -> dict:
    """The kernels this process runs, and a fingerprint (hash of the exact bits) of each library's results."""
    import math

    import numpy as np
    import threadpoolctl
    import torch

    rng = np.random.default_rng(0)
    x = np.abs(rng.standard_normal(100_003)) + 0.1
    a, b = rng.standard_normal((257, 129)), rng.standard_normal((129, 131))
    t = torch.from_numpy(rng.standard_normal(100_003))

    def bits(*arrays) -> str:
        h = hashlib.sha1()
        for arr in arrays:
            h.update(np.ascontiguousarray(arr).tobytes())
        return h.hexdigest()[:12]

    umath = np._core._multiarray_umath
    return {
        "numpy_dispatch": [f for f in umath.__cpu_dispatch__ if umath.__cpu_features__.get(f)],
        "openblas_core": [d.get("architecture") for d in threadpoolctl.threadpool_info()
                          if d.get("internal_api") == "openblas"],
        "torch_capability": torch.backends.cpu.get_cpu_capability(),
        "fingerprints": {
            "numpy ufuncs (exp, log1p, tanh)": bits(*(f(x) for f in (np.exp, np.log1p, np.tanh)),
                                                    *(f(x.astype(np.float32)) for f in (np.exp, np.log1p, np.tanh))),
            "numpy BLAS (matmul, dot)": bits(a @ b, (a @ b[:, :1]).ravel(), np.dot(x, x[::-1])),
            "torch ATen (log1p, sigmoid, softplus)": bits(torch.log1p(t.abs()).numpy(), torch.sigmoid(t).numpy(),
                                                          torch.nn.functional.softplus(t.float()).numpy()),
            "torch MKL (mm)": bits((torch.from_numpy(a) @ torch.from_numpy(b)).numpy()),
            "libm (math.sin, exp, pow)": bits(np.array([(math.sin(v * 30), math.exp(v), math.pow(v, 0.37))
                                                        for v in x[:20_000]])),
        },
    }


def _text_only(ipython_dir: str) -> dict:
    """os.environ with an IPython profile in ``ipython_dir`` whose kernels display figures as their text
    only (``<Figure size ...>``, the text nbval compares), without drawing and encoding a PNG: 142 figures
    a pass, 141 -> 118 core-s for the pass (measured), and nbval compares no image (the first pass draws them all)."""
    profile = os.path.join(ipython_dir, "profile_default")
    os.makedirs(profile)
    with open(os.path.join(profile, "ipython_kernel_config.py"), "w") as f:
        f.write("c.InlineBackend.figure_formats = set()\n")
    return dict(os.environ, IPYTHONDIR=ipython_dir)


def _report_in(env: dict) -> dict:
    out = subprocess.run([sys.executable, __file__, "report"], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main(argv: list[str]) -> int:
    if argv[:1] == ["report"]:
        print(json.dumps(report()))
        return 0
    if argv[:1] == ["compare"]:
        host, alt = _report_in(dict(os.environ)), _report_in(alt_environ())
        for key in ("numpy_dispatch", "openblas_core", "torch_capability"):
            print(f"{key:18} host {host[key]!s:40} second pass {alt[key]}")
        for name, h in host["fingerprints"].items():
            print(f"{name:40} {'changed' if alt['fingerprints'][name] != h else 'SAME'}")
        return 0
    text_only = argv[1:2] == ["--text-only"]
    rest = argv[1 + text_only:]
    if argv[:1] == ["run"] and rest[:1] == ["--"] and len(rest) > 1:
        print("second-CPU pass: " + " ".join(f"{k}={v!r}" for k, v in ALT_ENV.items()), flush=True)
        with tempfile.TemporaryDirectory() if text_only else contextlib.nullcontext() as ipython_dir:
            return subprocess.call(rest[1:], env=alt_environ(_text_only(ipython_dir) if text_only else None))
    print(__doc__.split("\n\n")[0], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
