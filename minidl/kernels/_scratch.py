"""Small fixed-size scratch arrays on the stack, so that LLVM can keep them in vector registers.

Why: the fast convolution accumulates a 16 x 16 tile of outputs in 16 arrays of 16 lanes.  An
``np.zeros`` array lives on the heap; LLVM cannot prove that stores into it do not alias the input
arrays, so every ``acc[l] += w * x[l]`` becomes load + FMA + store.  A fixed-size stack allocation
(``alloca``) provably aliases nothing, so after vectorising the ``l`` loop LLVM keeps each array in
one zmm register for the whole reduction: the loop body becomes 1 vector load and 16 FMAs.

Usage inside ``@njit`` code (the size must be a literal integer):

    acc = carray(stack_alloc(16, x.dtype), 16)

With ``NUMBA_DISABLE_JIT=1`` both names fall back to plain NumPy, so the kernels still run as Python.
"""
from __future__ import annotations

import numba
import numpy as np

if numba.config.DISABLE_JIT:  # pragma: no cover - exercised by the debug switch only
    def stack_alloc(n: int, dtype: np.dtype) -> np.ndarray:
        return np.empty(n, dtype=dtype)

    def carray(a: np.ndarray, n: int) -> np.ndarray:
        return a
else:
    import llvmlite.ir as ir
    from numba import types
    from numba.extending import intrinsic

    carray = numba.carray

    @intrinsic
    def stack_alloc(typingctx, n, dtype):  # pragma: no cover - compiled
        """Pointer to ``n`` (a literal) uninitialised elements of ``dtype`` in the function's stack frame."""
        if not isinstance(n, types.IntegerLiteral):
            return None
        elt = dtype.dtype
        sig = types.CPointer(elt)(n, dtype)

        def codegen(context, builder, signature, args):
            lltype = context.get_data_type(elt)
            count = signature.args[0].literal_value
            with builder.goto_entry_block():          # allocas belong in the entry block
                ptr = builder.alloca(ir.ArrayType(lltype, count))
            return builder.bitcast(ptr, lltype.as_pointer())

        return sig, codegen
