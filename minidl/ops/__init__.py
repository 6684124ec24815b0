"""Every differentiable op of minidl: one ``Function`` class each (forward and backward side by
side), plus the torch-named functions that call them. ``minidl.autograd.OPS`` lists the classes."""
from typing import Any  # noqa: E402

from minidl.ops._util import cast, index_arrays, normalize_dim, normalize_dims  # noqa: F401
from minidl.ops.activation import (dropout, leaky_relu, log_softmax, logsumexp, relu,  # noqa: F401
                                   sigmoid, softmax, tanh)
from minidl.ops.arithmetic import (add, bmm, compare, div, divide, floor_divide, matmul, mm, mul,  # noqa: F401
                                   multiply, neg, negative, pow, remainder, sub, subtract,
                                   true_divide)
from minidl.ops.elementwise import (abs, clamp, clip, clone, exp, log, log1p, maximum,  # noqa: F401
                                    minimum, sign, sqrt, where)
from minidl.ops.reduce import amax, amin, argmax, argmin, max, mean, min, std, sum, var  # noqa: F401
from minidl.ops.shape import (broadcast_to, cat, concat, concatenate, expand, flatten,  # noqa: F401
                              getitem, permute, reshape, squeeze, stack, swapaxes, t,
                              transpose, unsqueeze, view)
from minidl.ops import conv, loss, norm  # noqa: F401  (registers the loss, conv and norm ops)

# ---- torch API breadth (issue 8): more elementwise maths, tests, layout, indexing, scans --------------
from minidl.ops.math import (ceil, cos, div, divide, fix, floor, floor_divide, fmod, remainder,  # noqa: E402,F401
                             round, sin, trunc)
from minidl.ops.closeness import allclose, equal, isclose, isfinite, isinf, isnan  # noqa: E402,F401
from minidl.ops.layout import (chunk, diagonal, einsum, flip, fliplr, flipud, repeat, roll,  # noqa: E402,F401
                               split, tril, triu, unbind)
from minidl.ops.indexing import (argsort, gather, index_select, masked_fill, scatter,  # noqa: E402,F401
                                 scatter_add, sort, take_along_dim, topk)
from minidl.ops.scan import all, any, cumprod, cumsum, mode, norm, prod  # noqa: E402,F401
from minidl.ops.unary import (acos, arccos, arcsin, arcsinh, arctan, arctan2, arctanh, asin,  # noqa: E402,F401
                              asinh, atan, atan2, atanh, cosh, exp2, expm1, log2, log10, reciprocal, rsqrt, sinh,
                              tan)
from minidl.ops.composite import (addcdiv, addcmul, argwhere, bincount, cdist, clamp_max,  # noqa: E402,F401
                                  clamp_min, count_nonzero, cross, cummax, cummin, diag, diag_embed, diff, dot,
                                  ger, hypot, inner, kron, lerp, logaddexp, logcumsumexp, logical_and, logical_not,
                                  logical_or, logical_xor, masked_select, median, meshgrid, moveaxis, movedim, mv,
                                  nan_to_num, narrow, nonzero, outer, select, std_mean, tensordot, tile, trace,
                                  unique, var_mean)
from minidl.ops.extras import (atleast_1d, atleast_2d, atleast_3d, block_diag, column_stack,  # noqa: E402,F401
                              copysign, dstack, empty_like, float_power, fmax, fmin, hstack, index_add, index_copy,
                              index_fill, logspace, masked_scatter, msort, ravel, rot90, row_stack, rsub, sgn,
                              square, take, trapezoid, trapz, vstack)
from minidl.ops.discrete import (bitwise_and, bitwise_left_shift, bitwise_not, bitwise_or,  # noqa: E402,F401
                                 bitwise_right_shift, bitwise_xor, bucketize, cartesian_prod, combinations, isin,
                                 isneginf, isposinf, searchsorted, signbit, tril_indices, triu_indices)
from minidl.ops.extras import addmm, baddbmm  # noqa: E402,F401
from minidl.ops.extras import (frac, kthvalue, logit, nanmean, nansum, quantile,  # noqa: E402,F401
                              unflatten)
from minidl.ops.extras import clamp  # noqa: E402,F401,F811  (tensor bounds too)
from minidl.ops.special import erf  # noqa: E402,F401
clip = clamp  # noqa: F811
from minidl.ops.aliases import numpy_names as _numpy_names  # noqa: E402

# torch accepts NumPy's axis= / keepdims= wherever it takes dim= / keepdim=
(sum, mean, var, std, max, min, amax, amin, argmax, argmin, logsumexp, prod, all, any, norm,  # noqa: F811
 cumsum, cumprod, softmax, log_softmax, squeeze, unsqueeze, flip, roll, cat, concat, stack, mode, sort,
 argsort, topk) = map(_numpy_names, (sum, mean, var, std, max, min, amax, amin, argmax, argmin, logsumexp, prod,
                                     all, any, norm, cumsum, cumprod, softmax, log_softmax, squeeze, unsqueeze,
                                     flip, roll, cat, concat, stack, mode, sort, argsort, topk))


def _where_or_nonzero(where_fn: Any) -> Any:
    """``where(condition)`` alone is ``nonzero(condition, as_tuple=True)``, as in torch."""
    import functools

    @functools.wraps(where_fn)
    def where(condition: Any, *args: Any, **kwargs: Any) -> Any:
        if not args and not kwargs:
            from minidl.ops.composite import nonzero
            return nonzero(condition, as_tuple=True)
        return where_fn(condition, *args, **kwargs)
    return where


where = _where_or_nonzero(where)  # noqa: F811
