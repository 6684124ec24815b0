"""Speed does not depend on the CPU or the entry point (issue 13): the register-tile width follows the
ISA Numba targets, kernels compiled for another ISA agree with the NumPy reference, a plain
``import minidl`` after NumPy still quiets OpenBLAS's idle threads, and ``import minidl`` leaves Numba
unloaded until the first kernel call."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from minidl.kernels import _scratch as S

ROOT = Path(__file__).resolve().parents[1]


def _run(code: str, **env: str) -> str:
    full = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_THREAD_TIMEOUT", "NUMBA_CPU_NAME",
                                                              "NUMBA_CPU_FEATURES")}
    full.update(env)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=full, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("name, features, isa, f32, f64", [
    ("sapphirerapids", "+avx2,+fma,+avx512f,+avx512vl", "AVX-512", 32, 16),     # 32 zmm: 2 a row
    ("haswell", "+avx,+avx2,+fma", "AVX2+FMA", 8, 4),                             # 16 ymm: 1 a row
    ("generic", "", "SSE/other", 4, 2),
    ("neoverse-n1", "+neon", "NEON", 8, 4),                                       # 32 q registers
])
def test_tile_width_follows_the_register_file(name: str, features: str, isa: str, f32: int, f64: int) -> None:
    label, vbytes, nregs = S.vector_isa(name, features)
    assert label == isa
    tile = vbytes * (2 if nregs >= 32 else 1)
    assert (tile // 4, tile // 8) == (f32, f64)
    # 8 accumulator rows leave registers for the operands on every ISA
    assert 8 * tile // vbytes <= nregs // 2


def test_avx2_kernels_match_reference(tmp_path: Path) -> None:
    """Kernels compiled for AVX2 only (1-ymm tile rows, a different code path from AVX-512's) agree with
    the NumPy reference to float32 rounding of a 5x5x3-term sum (rtol 1e-5 / atol 1e-5 at O(1) values)."""
    code = """
import json, numpy as np
from minidl.kernels import conv, conv_reference as R, _scratch as S
rng = np.random.default_rng(0)
x = rng.standard_normal((3, 5, 11, 9), dtype=np.float32); w = rng.standard_normal((10, 5, 3, 3), dtype=np.float32)
b = rng.standard_normal(10, dtype=np.float32)
y = conv.conv2d_forward(x, w, b, 1, 1, 1); yr = R.conv2d_forward(x, w, b, 1, 1, 1)
g = rng.standard_normal(y.shape, dtype=np.float32)
err = [float(np.max(np.abs(a - r) / (1 + np.abs(r)))) for a, r in
       zip((y,) + conv.conv2d_backward(x, w, g, 1, 1, 1), (yr,) + R.conv2d_backward(x, w, g, 1, 1, 1))]
print(json.dumps({"isa": S.ISA, "lanes": S.tile_lanes(np.float32), "err": err}))
"""
    r = json.loads(_run(code, NUMBA_CPU_NAME="haswell", NUMBA_CPU_FEATURES="+avx,+avx2,+fma",
                        NUMBA_CACHE_DIR=str(tmp_path)))
    assert (r["isa"], r["lanes"]) == ("AVX2+FMA", 8)
    assert max(r["err"]) < 1e-5, r


def test_plain_import_after_numpy_quiets_openblas() -> None:
    """A user's script imports NumPy (OpenBLAS reads its environment then) and minidl afterwards."""
    code = """
import ctypes, numpy as np
np.ones((300, 300)) @ np.ones((300, 300))
import minidl
from minidl.kernels._threads import _loaded_openblas
libs = [ctypes.CDLL(p) for p in _loaded_openblas()]
print([lib.openblas_thread_timeout() for lib in libs if hasattr(lib, "openblas_thread_timeout")])
"""
    timeouts = json.loads(_run(code))
    if not timeouts:
        pytest.skip("NumPy is not linked against an OpenBLAS that exports openblas_thread_timeout")
    assert all(t == 4 for t in timeouts), timeouts


def test_user_timeout_is_kept() -> None:
    code = """
import ctypes, numpy as np
import minidl
from minidl.kernels._threads import _loaded_openblas
print([ctypes.CDLL(p).openblas_thread_timeout() for p in _loaded_openblas()])
"""
    timeouts = json.loads(_run(code, OPENBLAS_THREAD_TIMEOUT="7"))
    assert all(t == 7 for t in timeouts), timeouts


def test_import_leaves_numba_and_scipy_special_unloaded() -> None:
    """Numba (~0.25 s) and scipy.special (~0.2 s) load on first use, so ``import minidl`` stays fast."""
    code = ("import sys, minidl; x = minidl.randn(2, 3); "
            "print([m for m in ('numba', 'scipy.special') if m in sys.modules])")
    assert _run(code) == "[]"
