"""The two array namespaces a built-in ``backward`` is written against (``xp = ctx.xp``).

``NUMPY`` is the first-order fast path: NumPy itself plus the Numba kernels. ``TENSOR`` has the same
function names and signatures, made of minidl's differentiable ops, so the same ``backward`` code
records its own graph when ``create_graph=True`` (see the ``minidl.autograd`` docstring). A function
here that is not a one-liner is a linear map that needs its own registered op (``ScatterAdd``,
``Conv2dWeightGrad``, ``AvgPool2dBackward``...) so that it, too, can be differentiated.

Arguments may mix Tensors, ndarrays (constants: masks, indices) and Python numbers.
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Sequence

import numpy as np

from minidl import kernels as K


def expit(x: np.ndarray) -> np.ndarray:
    """scipy.special.expit (the logistic sigmoid), imported on first use: scipy.special alone takes
    about 0.2 s to import, which ``import minidl`` should not pay."""
    from scipy.special import expit as _expit
    return _expit(x)


def _expand_dims_shape(shape: Sequence[int], axes: Any) -> tuple[int, ...]:
    """np.expand_dims' result shape: ``axes`` are positions in the output."""
    axes = (axes,) if isinstance(axes, (int, np.integer)) else tuple(axes)
    n = len(shape) + len(axes)
    pos = {a % n for a in axes}
    it = iter(shape)
    return tuple(1 if i in pos else next(it) for i in range(n))


def scatter_add(shape: tuple[int, ...], index: Any, g: np.ndarray) -> np.ndarray:
    """zeros(shape) with ``g`` added at ``index`` (repeated positions add up): the adjoint of ``x[index]``."""
    out = np.zeros(shape, dtype=g.dtype)
    parts = index if isinstance(index, tuple) else (index,)
    if all(p is None or p is Ellipsis or isinstance(p, (int, np.integer, slice)) for p in parts):
        out[index] = g  # slices and ints never repeat an element
    else:
        flat: list[Any] = []
        for p in parts:  # boolean masks as the integer arrays they select (what np.add.at needs)
            flat.extend(np.nonzero(p) if isinstance(p, np.ndarray) and p.dtype == np.bool_ else [p])
        np.add.at(out, tuple(flat), g)
    return out


def _along_index(index: np.ndarray, axis: int) -> tuple[Any, ...]:
    """put/take_along_axis's ``index`` as a full advanced index (the other axes by broadcasting)."""
    grids = list(np.ix_(*[np.arange(n) for n in index.shape]))
    grids[axis] = index
    return tuple(grids)


def _np_scatter_along(shape: tuple[int, ...], index: np.ndarray, values: np.ndarray, axis: int) -> np.ndarray:
    out = np.zeros(shape, dtype=values.dtype)
    np.put_along_axis(out, index, values, axis=axis)
    return out


def _np_conv2d_backward(x: np.ndarray, w: np.ndarray, g: np.ndarray, conf: tuple[Any, ...],
                        needs: Sequence[bool]) -> tuple[Any, ...]:
    return K.conv2d_backward(x, w, np.ascontiguousarray(g), *conf, need_input_grad=needs[0],
                             need_weight_grad=needs[1], need_bias_grad=needs[2])


def _np_conv_transpose2d_backward(x: np.ndarray, w: np.ndarray, g: np.ndarray, conf: tuple[Any, ...],
                                  needs: Sequence[bool]) -> tuple[Any, ...]:
    return K.conv_transpose2d_backward(x, w, np.ascontiguousarray(g), *conf, need_input_grad=needs[0],
                                       need_weight_grad=needs[1], need_bias_grad=needs[2])


NUMPY = SimpleNamespace(
    exp=np.exp, log=np.log, sqrt=np.sqrt, sign=np.sign, power=np.power, where=np.where, maximum=np.maximum,
    sum=np.sum, mean=np.mean, expand_dims=np.expand_dims, broadcast_to=np.broadcast_to,
    transpose=np.transpose, swapaxes=np.swapaxes, matmul=np.matmul, zeros_like=np.zeros_like,
    split=np.split, take=np.take, sigmoid=expit,
    astype=lambda a, dtype: a.astype(dtype, copy=False),
    data=lambda a: a,
    mask_multiply=lambda g, mask: K.mask_multiply(g, mask),   # g * mask, parallel on large arrays
    leaky_mask_multiply=lambda g, mask, a: K.leaky_mask_multiply(g, mask, a),   # where(mask, g, g * a), parallel
    scatter_index=scatter_add,
    scatter_along=_np_scatter_along,
    conv2d=lambda x, w, conf: K.conv2d_forward(x, w, None, *conf),
    conv2d_backward=_np_conv2d_backward,
    conv_transpose2d_backward=_np_conv_transpose2d_backward,
    maxpool2d_backward=lambda g, argmax, x_shape: K.maxpool2d_backward(np.ascontiguousarray(g), argmax, x_shape),
    avgpool2d=lambda x, conf: K.avgpool2d_forward(x, *conf),
    avgpool2d_backward=lambda g, x_shape, conf: K.avgpool2d_backward(np.ascontiguousarray(g), x_shape, *conf),
    adaptive_avg_pool2d=lambda x, size: K.adaptive_avg_pool2d_forward(x, size),
    adaptive_avg_pool2d_backward=lambda g, x_shape: K.adaptive_avg_pool2d_backward(np.ascontiguousarray(g),
                                                                                    x_shape),
)


# --------------------------------------------------------------------------- the recording namespace
def _t(a: Any) -> Any:
    from minidl.ops._util import as_tensor
    return as_tensor(a)


def _data(a: Any) -> Any:
    from minidl.tensor import Tensor
    return a._data if isinstance(a, Tensor) else a


def _where(cond: Any, a: Any, b: Any) -> Any:
    from minidl.ops.elementwise import where
    return where(np.asarray(_data(cond)), a, b)


def _sum(a: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return _t(a).sum(axis, keepdims)


def _mean(a: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return _t(a).mean(axis, keepdims)


def _split(a: Any, indices: Sequence[int], axis: int) -> list[Any]:
    bounds = [0, *[int(i) for i in indices], a.shape[axis]]
    lead = (slice(None),) * axis
    return [a[lead + (slice(lo, hi),)] for lo, hi in zip(bounds[:-1], bounds[1:])]


def _take(a: Any, k: int, axis: int) -> Any:
    return a[(slice(None),) * axis + (k,)]


def _scatter_index(shape: tuple[int, ...], index: Any, g: Any) -> Any:
    from minidl.ops.shape import ScatterAdd
    return ScatterAdd.apply(_t(g), shape=tuple(shape), index=index)


def _scatter_along(shape: tuple[int, ...], index: np.ndarray, values: Any, axis: int) -> Any:
    return _scatter_index(shape, _along_index(index, axis), values)


def _conv_transpose_output_padding(in_hw: Sequence[int], x_hw: Sequence[int], w_hw: Sequence[int],
                                   stride: Any, padding: Any, dilation: Any) -> tuple[int, int]:
    """The output_padding that makes conv_transpose2d(gy) as large as conv2d's input x (rows that a
    floor in conv2d's output size dropped)."""
    return tuple(int(x - ((i - 1) * s - 2 * p + d * (k - 1) + 1))  # type: ignore[return-value]
                 for i, x, k, s, p, d in zip(in_hw, x_hw, w_hw, stride, padding, dilation))


def _tensor_conv2d_backward(x: Any, w: Any, g: Any, conf: tuple[Any, ...], needs: Sequence[bool]) -> tuple[Any, ...]:
    """dL/dx = conv_transpose2d(g, w), dL/dw = Conv2dWeightGrad(x, g), dL/db = sum of g: all recorded."""
    from minidl.ops.conv import Conv2dWeightGrad, ConvTranspose2d
    stride, padding, dilation, groups = conf
    gx = gw = gb = None
    if needs[0]:
        op = _conv_transpose_output_padding(g.shape[2:], x.shape[2:], w.shape[2:], stride, padding, dilation)
        gx = ConvTranspose2d.apply(_t(g), _t(w), None, stride=stride, padding=padding, output_padding=op,
                                   dilation=dilation, groups=groups)
    if needs[1]:
        gw = Conv2dWeightGrad.apply(_t(x), _t(g), kernel=tuple(w.shape[2:]), conf=conf)
    if len(needs) > 2 and needs[2]:
        gb = _t(g).sum((0, 2, 3))
    return gx, gw, gb


def _tensor_conv_transpose2d_backward(x: Any, w: Any, g: Any, conf: tuple[Any, ...],
                                      needs: Sequence[bool]) -> tuple[Any, ...]:
    """y = conv_transpose2d(x, w) is the adjoint of conv2d(., w): dL/dx = conv2d(g, w) (cropped to x),
    dL/dw = the conv2d weight gradient with input g and output gradient x."""
    from minidl.ops.conv import Conv2d, Conv2dWeightGrad
    stride, padding, _output_padding, dilation, groups = conf
    gx = gw = gb = None
    if needs[0]:
        gx = Conv2d.apply(_t(g), _t(w), None, stride=stride, padding=padding, dilation=dilation, groups=groups)
        if tuple(gx.shape[2:]) != tuple(x.shape[2:]):
            gx = gx[:, :, :x.shape[2], :x.shape[3]]
    if needs[1]:
        gw = Conv2dWeightGrad.apply(_t(g), _t(x), kernel=tuple(w.shape[2:]), conf=(stride, padding, dilation, groups))
    if needs[2]:
        gb = _t(g).sum((0, 2, 3))
    return gx, gw, gb


def _tensor_conv2d(x: Any, w: Any, conf: tuple[Any, ...]) -> Any:
    from minidl.ops.conv import Conv2d
    stride, padding, dilation, groups = conf
    return Conv2d.apply(_t(x), _t(w), None, stride=stride, padding=padding, dilation=dilation, groups=groups)


def _tensor_maxpool2d_backward(g: Any, argmax: np.ndarray, x_shape: tuple[int, ...]) -> Any:
    """dL/dy added at each window's arg-max: a ScatterAdd over the flattened (H W) planes."""
    N, C, H, W = x_shape
    n = np.arange(N)[:, None, None]
    c = np.arange(C)[None, :, None]
    flat = _scatter_index((N, C, H * W), (n, c, argmax.reshape(N, C, -1)), _t(g).reshape(N, C, -1))
    return flat.reshape(x_shape)


def _tensor_avgpool2d_backward(g: Any, x_shape: tuple[int, ...], conf: tuple[Any, ...]) -> Any:
    from minidl.ops.conv import AvgPool2dBackward
    return AvgPool2dBackward.apply(_t(g), x_shape=tuple(x_shape), conf=conf)


def _tensor_avgpool2d(x: Any, conf: tuple[Any, ...]) -> Any:
    from minidl.ops.conv import AvgPool2d
    kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override = conf
    return AvgPool2d.apply(_t(x), kernel_size=kernel_size, stride=stride, padding=padding, ceil_mode=ceil_mode,
                           count_include_pad=count_include_pad, divisor_override=divisor_override)


def _tensor_adaptive_backward(g: Any, x_shape: tuple[int, ...]) -> Any:
    from minidl.ops.conv import AdaptiveAvgPool2dBackward
    return AdaptiveAvgPool2dBackward.apply(_t(g), x_shape=tuple(x_shape))


def _tensor_adaptive(x: Any, size: tuple[int, int]) -> Any:
    from minidl.ops.conv import AdaptiveAvgPool2d
    return AdaptiveAvgPool2d.apply(_t(x), output_size=tuple(size))


def _ops() -> Any:
    from minidl import ops
    return ops


TENSOR = SimpleNamespace(
    exp=lambda a: _ops().exp(a), log=lambda a: _ops().log(a), sqrt=lambda a: _ops().sqrt(a),
    sign=lambda a: _ops().sign(_t(a)), power=lambda a, c: _ops().pow(_t(a), c),
    where=_where, maximum=lambda a, b: _ops().maximum(a, b),
    sum=_sum, mean=_mean,
    expand_dims=lambda a, axes: _t(a).reshape(_expand_dims_shape(a.shape, axes)),
    broadcast_to=lambda a, shape: _t(a).expand(tuple(shape)),
    transpose=lambda a, axes: _t(a).permute(tuple(axes)),
    swapaxes=lambda a, i, j: _t(a).transpose(i, j),
    matmul=lambda a, b: _ops().matmul(a, b),
    zeros_like=lambda a: _t(np.zeros_like(_data(a))),
    split=_split, take=_take, sigmoid=lambda a: _ops().sigmoid(_t(a)),
    astype=lambda a, dtype: _t(a).to(dtype),
    data=_data,
    mask_multiply=lambda g, mask: g * mask,
    leaky_mask_multiply=lambda g, mask, a: _where(mask, g, g * np.asarray(a, g.dtype)),
    scatter_index=_scatter_index,
    scatter_along=_scatter_along,
    conv2d=_tensor_conv2d,
    conv2d_backward=_tensor_conv2d_backward,
    conv_transpose2d_backward=_tensor_conv_transpose2d_backward,
    maxpool2d_backward=_tensor_maxpool2d_backward,
    avgpool2d=_tensor_avgpool2d,
    avgpool2d_backward=_tensor_avgpool2d_backward,
    adaptive_avg_pool2d=_tensor_adaptive,
    adaptive_avg_pool2d_backward=_tensor_adaptive_backward,
)
