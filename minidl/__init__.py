"""minidl: a readable NumPy deep-learning framework whose API mirrors PyTorch's.

    import minidl as torch_like
    x = minidl.randn(8, 3, requires_grad=True)
    loss = (x.tanh() ** 2).sum()
    loss.backward()          # x.grad now holds d loss / d x

Read next: ``minidl/autograd.py`` (the engine), ``minidl/ops/`` (each op with its derivative),
``minidl/nn/`` (layers and losses), ``minidl/optim/`` (optimisers).
"""
import os as _os

# Numba's OpenMP threads busy-wait after each parallel kernel by default; on a small machine they then
# fight OpenBLAS's threads (and any other process) for the cores. Passive waiting avoids that. It must
# be set before the OpenMP runtime loads; a value the user set is kept.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# Likewise OpenBLAS's idle threads spin after each GEMM; a short timeout lets them sleep. OpenBLAS reads
# it when it loads: if NumPy was imported first, quiet_openblas() applies it at run time instead (see
# minidl/kernels/_threads.py). Numba itself is imported on the first convolution or pooling call.
_os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
from minidl.kernels._threads import quiet_openblas as _quiet_openblas  # noqa: E402

_quiet_openblas()
from minidl.autograd import (OPS, bool_, double, enable_grad, float16, float32, float64,  # noqa: F401
                             get_default_dtype, half, int32, int64, is_grad_enabled, long, no_grad,
                             set_default_dtype, set_grad_enabled, uint8)
from minidl.tensor import Size, Tensor  # noqa: F401
from minidl.creation import (arange, as_tensor, empty, eye, from_numpy, full, full_like,  # noqa: F401
                             linspace, ones, ones_like, rand, rand_like, randint, randn, randn_like,
                             randperm, tensor, zeros, zeros_like)
from minidl.random import (Generator, get_rng_state, initial_seed, manual_seed, seed,  # noqa: F401
                           set_rng_state)
from minidl.ops import (abs, add, amax, amin, argmax, argmin, bmm, cat, clamp, clip, clone,  # noqa: F401
                        concat, div, divide, exp, expand, flatten, log, log1p, log_softmax, logsumexp,
                        matmul, max, maximum, mean, min, minimum, mm, mul, multiply, neg, permute, pow,
                        relu, reshape, sigmoid, sign, softmax, sqrt, squeeze, stack, std, sub, subtract,
                        sum, t, tanh, transpose, unsqueeze, var, where)

# ---- torch API breadth (issue 8)
from minidl.ops import (all, allclose, any, argsort, ceil, chunk, cos, cumprod, cumsum, diagonal,  # noqa: F401,E402
                        divide, einsum, equal, fix, flip, fliplr, flipud, floor, floor_divide, fmod, gather,
                        index_select, isclose, isfinite, isinf, isnan, masked_fill, mode, norm, prod, remainder,
                        repeat, roll, round, scatter, scatter_add, sin, sort, split, take_along_dim, topk, tril,
                        triu, trunc, unbind, swapaxes, broadcast_to, true_divide, concatenate)
from minidl.ops import (acos, arccos, arcsin, arcsinh, arctan, arctan2, arctanh, asin, asinh, atan,  # noqa: F401,E402
                        atan2, atanh, cosh, exp2, expm1, log2, log10, reciprocal, rsqrt, sinh, tan, addcdiv, addcmul,
                        argwhere, bincount, cdist, clamp_max, clamp_min, count_nonzero, cross, cummax, cummin, diag,
                        diag_embed, diff, dot, ger, hypot, inner, kron, lerp, logaddexp, logcumsumexp, logical_and,
                        logical_not, logical_or, logical_xor, masked_select, median, meshgrid, moveaxis, movedim, mv,
                        nan_to_num, narrow, nonzero, outer, select, std_mean, tensordot, tile, trace, unique,
                        var_mean)
from minidl.ops import (atleast_1d, atleast_2d, atleast_3d, bitwise_and, bitwise_left_shift,  # noqa: F401,E402
                        bitwise_not, bitwise_or, bitwise_right_shift, bitwise_xor, block_diag, bucketize,
                        cartesian_prod, column_stack, combinations, copysign, dstack, empty_like, erf, float_power,
                        fmax, fmin, hstack, index_add, index_copy, index_fill, isin, isneginf, isposinf, logspace,
                        masked_scatter, msort, ravel, rot90, row_stack, rsub, searchsorted, sgn, signbit, square,
                        take, trapezoid, trapz, tril_indices, triu_indices, vstack, where, frac, kthvalue, logit,
                        nanmean, nansum, quantile, unflatten, clamp, clip, addmm, baddbmm)
from minidl import linalg  # noqa: E402,F401
from minidl.linalg import det, logdet, slogdet  # noqa: E402,F401
from minidl.linalg import inv as inverse  # noqa: E402,F401
swapdims = swapaxes
from minidl import nn, optim  # noqa: E402,F401
from minidl.serialization import load, save  # noqa: E402,F401

float = float32  # noqa: A001  (torch.float is float32)
bool = bool_  # noqa: A001
__version__ = "0.1.0"


def is_tensor(obj: object):  # noqa: ANN201  (`bool` is minidl.bool here)
    return isinstance(obj, Tensor)


def numel(x: Tensor) -> int:
    return x.numel()
