"""Register tiles for the fast kernels: how wide a tile is on the CPU Numba compiles for, and scratch
arrays on the stack so that LLVM keeps the tile in vector registers.

**Why a stack array.**  The fast convolution accumulates a tile of outputs in 8 small arrays.  An
``np.zeros`` array lives on the heap; LLVM cannot prove that stores into it do not alias the input
arrays, so every ``acc[l] += w * x[l]`` becomes load + FMA + store.  A fixed-size stack allocation
(``alloca``) provably aliases nothing, so after vectorising the ``l`` loop LLVM keeps each array in
vector registers for the whole reduction: the loop body becomes 1 vector load and 8 FMAs per register.

**How wide a tile.**  8 accumulator rows must fit in the vector register file with room to spare for
the loaded operand and the broadcast weights.  So one row is

* 2 vector registers when the ISA has 32 of them (AVX-512: 2 zmm = 128 bytes = 32 float32 / 16
  float64; AArch64 NEON: 2 q registers = 32 bytes), 16 registers of accumulators in all;
* 1 vector register when it has 16 (AVX2: 1 ymm = 8 float32 / 4 float64; SSE: 1 xmm), 8 in all.

Written for 2 zmm a row, the same loop compiled for 256-bit vectors needs 32 ymm accumulators: on
AVX2 (16 ymm) that spills, and so it does with AVX-512 when LLVM's tuning for the CPU prefers 256-bit
vectors (``prefer-256-bit``, set for Intel's server cores from Skylake-SP to Emerald Rapids, not for
AMD Zen 4).  Hence two measures, both decided by the ISA Numba compiles for (``NUMBA_CPU_NAME`` /
``NUMBA_CPU_FEATURES`` or the host), which is also what Numba's on-disk cache is keyed on, so a cached
kernel always matches the tile width it was compiled with:

1. ``tile_lanes(dtype)`` (the tile row in elements) follows the vector register file, as above;
2. every function that allocates a tile (``tile_alloc``) is marked ``"prefer-vector-width"="512"``
   when the target has 512-bit registers, overriding the CPU's tuning for that kernel only.

Usage inside ``@njit`` code:

    lanes = tile_lanes(x.dtype)             # a compile-time constant once LLVM has inlined it
    acc = carray(tile_alloc(x.dtype), lanes)

With ``NUMBA_DISABLE_JIT=1`` the names fall back to plain NumPy, so the kernels still run as Python.
"""
from __future__ import annotations

import warnings

import numba
import numpy as np


def _target() -> tuple[str, str]:
    """(CPU name, feature string) that Numba's CPU code generator targets (the same rule as Numba's)."""
    from numba.core import config
    try:
        import llvmlite.binding as ll
        from numba.core.codegen import get_host_cpu_features    # honours NUMBA_ENABLE_AVX
        name = config.CPU_NAME or ll.get_host_cpu_name()
        feats = config.CPU_FEATURES if config.CPU_FEATURES is not None else get_host_cpu_features()
    except Exception:  # pragma: no cover - a Numba/llvmlite without these queries: assume the least
        return "unknown", ""
    return str(name), str(feats)


def vector_isa(name: str, features: str) -> tuple[str, int, int]:
    """(ISA label, vector register bytes, number of vector registers) for a target CPU."""
    f = set(features.split(","))
    if "+avx512f" in f and "-evex512" not in f:
        return "AVX-512", 64, 32
    if "+avx512f" in f:                       # AVX10/256: 32 registers of 256 bits
        return "AVX-512/256", 32, 32
    if "+avx2" in f and "+fma" in f:
        return "AVX2+FMA", 32, 16
    if "+neon" in f or name.startswith(("apple", "cortex", "neoverse")):
        return "NEON", 16, 32
    if "+avx" in f:
        return "AVX", 32, 16
    return "SSE/other", 16, 16


CPU_NAME, CPU_FEATURES = _target()
ISA, VECTOR_BYTES, VECTOR_REGISTERS = vector_isa(CPU_NAME, CPU_FEATURES)
TILE_BYTES = VECTOR_BYTES * (2 if VECTOR_REGISTERS >= 32 else 1)   # one accumulator row of a tile
TUNED = ISA in ("AVX-512", "AVX-512/256", "AVX2+FMA")
WIDE = VECTOR_BYTES == 64                                           # mark tile kernels 512-bit
if not TUNED and not numba.config.DISABLE_JIT:
    warnings.warn_explicit(f"Numba compiles for {CPU_NAME} ({ISA}); the convolution kernels are tuned for "
                           "AVX2 and AVX-512 and run correctly but more slowly here", RuntimeWarning,
                           "minidl.kernels", 0)   # no source line: the warning is one line


def tile_lanes(dtype: np.dtype | type) -> int:
    """Elements in one accumulator row of a register tile (float32: 32 on AVX-512, 8 on AVX2)."""
    return TILE_BYTES // np.dtype(dtype).itemsize


def describe() -> str:
    """One line: the CPU and ISA Numba compiles for, and the tile width the kernels use there."""
    return (f"Numba target {CPU_NAME} ({ISA}, {VECTOR_BYTES * 8}-bit vectors x {VECTOR_REGISTERS}), "
            f"conv tiles 8 x {tile_lanes(np.float32)} float32 / 8 x {tile_lanes(np.float64)} float64"
            + (", kernels forced to 512-bit" if WIDE else ""))


if numba.config.DISABLE_JIT:  # pragma: no cover - exercised by the debug switch only
    def tile_alloc(dtype: np.dtype) -> np.ndarray:
        return np.empty(tile_lanes(dtype), dtype=dtype)

    def stack_alloc(n: int, dtype: np.dtype) -> np.ndarray:
        return np.empty(n, dtype=dtype)

    def carray(a: np.ndarray, n: int) -> np.ndarray:
        return a
else:
    import llvmlite.ir as ir
    from numba import types
    from numba.extending import intrinsic, overload

    carray = numba.carray

    @overload(tile_lanes, inline="always")
    def _tile_lanes_jit(dtype):  # pragma: no cover - compiled
        n = TILE_BYTES // (dtype.dtype.bitwidth // 8)
        return lambda dtype: n

    def _alloca(builder, lltype, count: int):
        with builder.goto_entry_block():          # allocas belong in the entry block
            ptr = builder.alloca(ir.ArrayType(lltype, count))
        return builder.bitcast(ptr, lltype.as_pointer())

    @intrinsic
    def stack_alloc(typingctx, n, dtype):  # pragma: no cover - compiled
        """Pointer to ``n`` (a literal) uninitialised elements of ``dtype`` in the function's stack frame."""
        if not isinstance(n, types.IntegerLiteral):
            return None
        elt = dtype.dtype
        sig = types.CPointer(elt)(n, dtype)

        def codegen(context, builder, signature, args):
            return _alloca(builder, context.get_data_type(elt), signature.args[0].literal_value)

        return sig, codegen

    @intrinsic
    def tile_alloc(typingctx, dtype):  # pragma: no cover - compiled
        """Pointer to one tile row (``tile_lanes(dtype)`` elements) in the stack frame; marks the function
        to use 512-bit vectors when the target has them (see the module docstring)."""
        elt = dtype.dtype
        sig = types.CPointer(elt)(dtype)

        def codegen(context, builder, signature, args):
            if WIDE:
                attrs = builder.function.attributes
                # string attributes are not in llvmlite's list of known ones: add them to the set directly
                set.add(attrs, '"prefer-vector-width"="512"')
                set.add(attrs, '"min-legal-vector-width"="512"')
            return _alloca(builder, context.get_data_type(elt), TILE_BYTES // (elt.bitwidth // 8))

        return sig, codegen
