"""``minidl.nn.functional`` (import as ``F``): the functional forms, with torch's names and arguments.

Losses take ``reduction`` = ``"mean"`` | ``"sum"`` | ``"none"``. Cross-entropy is ``nll_loss`` after
``log_softmax``; its gradient with respect to the logits is softmax(x) - y (divided by N for the mean),
the course's dL/dy~ = y^ - y.
"""
from __future__ import annotations

from typing import Any

import numpy as np

import warnings

from minidl import autograd, kernels
from minidl.ops import dropout, log_softmax, logsumexp, matmul, sigmoid, softmax, tanh  # noqa: F401
from minidl.ops import leaky_relu as _leaky_relu
from minidl.ops import relu as _relu
from minidl.ops import mean as _mean
from minidl.ops import sum as _sum
from minidl.ops._util import as_tensor
from minidl.ops.activation import Dropout as _DropoutOp
from minidl.ops.activation import dropout_mask
from minidl.ops.conv import (AdaptiveAvgPool2d, AvgPool2d, Conv2d, ConvTranspose2d, MaxPool2d, Pad, as_batched,
                             pair, same_padding)
from minidl.ops.norm import BatchNorm
from minidl.ops.loss import BinaryCrossEntropy, BinaryCrossEntropyWithLogits, NLLLoss
from minidl.ops.shape import unsqueeze
from minidl.tensor import Tensor


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x W^T + b, for ``x: (*, in)``, ``W: (out, in)``, ``b: (out,)``.

    As torch, the input and the weight must have the same dtype (no silent promotion of a float32 layer
    to float64): ``RuntimeError: mat1 and mat2 must have the same dtype``.
    """
    if x.dtype != weight.dtype:
        raise RuntimeError(f"mat1 and mat2 must have the same dtype, but got {_tname(x.dtype)} and "
                           f"{_tname(weight.dtype)} (linear input {tuple(x.shape)} {x.dtype}, weight "
                           f"{tuple(weight.shape)} {weight.dtype}; convert one with .to())")
    if x.shape[-1] != weight.shape[-1]:
        sx = "x".join(map(str, (int(np.prod(x.shape[:-1])), x.shape[-1]))) if x.ndim > 1 else str(x.shape[0])
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({sx} and "
                           f"{weight.shape[1]}x{weight.shape[0]}): linear input {tuple(x.shape)}, "
                           f"weight {tuple(weight.shape)}")
    y = matmul(x, weight.t())
    return y if bias is None else y + bias


def _tname(dt: Any) -> str:
    """torch's name of a dtype, as its messages print it (float32 -> Float, float64 -> Double)."""
    names = {"float32": "Float", "float64": "Double", "int64": "Long", "int32": "Int", "float16": "Half",
             "bool": "Bool", "int16": "Short", "int8": "Char", "uint8": "Byte"}
    return names.get(str(np.dtype(dt)), str(dt))


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(x, 0). ``inplace=True`` writes the result into ``input`` (and returns it) when ``input`` is not
    part of a graph (no grad needed, or under ``no_grad``), as torch does. In a graph minidl returns a new
    tensor instead and leaves ``input`` unchanged: without torch's version counters, overwriting a value
    that an earlier op saved for its backward would silently corrupt that gradient.  Out of a graph the
    fast kernel overwrites large arrays directly (no result array, no mask, no copy back)."""
    if inplace and not (input.requires_grad and autograd.is_grad_enabled()) and kernels.relu_inplace(input._data):
        return input
    return _maybe_inplace(input, _relu(input), inplace)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x if x > 0 else negative_slope x; ``inplace`` as in :func:`relu`."""
    return _maybe_inplace(input, _leaky_relu(input, negative_slope), inplace)


def _maybe_inplace(input: Tensor, out: Tensor, inplace: bool) -> Tensor:
    if inplace and not (input.requires_grad and autograd.is_grad_enabled()):
        np.copyto(input._data, out._data)
        return input
    return out


def _warn_size(input: Tensor, target: Tensor) -> None:
    """torch's warning for elementwise losses whose target broadcasts against the input."""
    if tuple(target.shape) != tuple(input.shape):
        warnings.warn(f"Using a target size ({_size(target)}) that is different to the input size "
                      f"({_size(input)}). This will likely lead to incorrect results due to broadcasting. "
                      "Please ensure they have the same size.", UserWarning, stacklevel=3)


def _size(t: Tensor) -> str:
    return f"torch.Size([{', '.join(map(str, t.shape))}])"


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return _mean(loss)
    if reduction == "sum":
        return _sum(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"{reduction} is not a valid value for reduction")


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, ignore_index: int = -100,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of ``target`` class indices under log-probabilities ``input``.

    input: (N, C) or (N, C, d1, ...) or (C,);  target: (N,) or (N, d1, ...) or () of class indices.
    The mean divides by the summed weights of the non-ignored targets, as torch does.
    """
    target = as_tensor(target)
    if target.dtype.kind not in "iu":
        raise RuntimeError(f"expected scalar type Long but found {_tname(target.dtype)} (nll_loss target must hold "
                           "class indices; pass probabilities to cross_entropy instead)")
    if target.dtype not in (np.int64, np.uint8):  # torch accepts only these two index dtypes
        raise RuntimeError(f"expected target dtype to be Long or Byte, but got {_tname(target.dtype)} (target "
                           f"{tuple(target.shape)} {target.dtype}; convert it with .long())")
    if input.ndim == 1:
        return nll_loss(unsqueeze(input, 0), unsqueeze(target, 0), weight, ignore_index, reduction)
    if input.ndim < 1 or target.shape != (input.shape[0],) + tuple(input.shape[2:]):
        raise ValueError(f"Expected target of shape {(input.shape[0],) + tuple(input.shape[2:])} for input "
                         f"{tuple(input.shape)}, got target {tuple(target.shape)}")
    C = input.shape[1]
    t = target._data
    valid = t != ignore_index
    bad = valid & ((t < 0) | (t >= C))
    if bad.any():
        raise IndexError(f"Target {int(t[bad].flat[0])} is out of bounds (input {tuple(input.shape)} has {C} classes).")
    if weight is not None and tuple(weight.shape) != (C,):
        raise RuntimeError(f"weight tensor should be defined either for all {C} classes or no classes "
                           f"but got weight tensor of shape: {list(weight.shape)}")
    w_class = np.ones(C, dtype=input.dtype) if weight is None else weight._data.astype(input.dtype)
    w = np.where(valid, w_class[np.where(valid, t, 0)], 0).astype(input.dtype)
    loss = NLLLoss.apply(input, target=t, weight=w)
    if reduction == "mean":
        return _sum(loss) / np.asarray(w.sum(), dtype=input.dtype)
    return _reduce(loss, reduction)


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, ignore_index: int = -100,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy of logits ``input: (N, C, ...)`` against class indices or class probabilities.

    With probabilities ``y`` (same shape as ``input``): l_n = -sum_c w_c y_nc log softmax(x_n)_c,
    and the mean divides by N (times the spatial size), as torch does.

    ``label_smoothing`` = e mixes the target with the uniform distribution over the C classes,
    y' = (1 - e) y + e / C. For class indices torch writes it as (1 - e) nll + (e / C) sum_c -w_c log p_c,
    with ignored targets contributing 0 and the mean divided as nll's (by the summed target weights).
    """
    if label_smoothing > 1.0:  # torch checks only the upper bound (a negative value sharpens the target)
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    target = as_tensor(target)
    class_dim = 0 if input.ndim == 1 else 1
    C = input.shape[class_dim]
    logp = log_softmax(input, dim=class_dim)
    w_shape = [1] * input.ndim
    w_shape[class_dim] = C
    if target.dtype.kind == "f":
        if target.shape != input.shape:
            raise RuntimeError(f"cross_entropy: class-probability target {tuple(target.shape)} must have the "
                               f"input's shape {tuple(input.shape)}")
        if label_smoothing > 0:
            target = target * (1 - label_smoothing) + label_smoothing / C
        prod = logp * target
        if weight is not None:
            prod = prod * weight.reshape(tuple(w_shape))
        return _reduce(-_sum(prod, dim=class_dim), reduction)
    nll = nll_loss(logp, target, weight, ignore_index, reduction)
    if label_smoothing <= 0:  # torch ignores a negative label_smoothing for class-index targets
        return nll
    smooth = -_sum(logp if weight is None else logp * weight.reshape(tuple(w_shape)), dim=class_dim)
    ignored = target._data == ignore_index
    smooth = smooth * Tensor((~ignored).astype(input.dtype))
    if reduction == "mean":
        if weight is None:
            denom = np.asarray((~ignored).sum(), dtype=input.dtype)
        else:
            denom = np.asarray(weight._data[target._data[~ignored]].sum(), dtype=input.dtype)
        smooth = _sum(smooth) / denom
    else:
        smooth = _reduce(smooth, reduction)
    return nll * (1 - label_smoothing) + smooth * (label_smoothing / C)


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """(x - y)^2, reduced.   d/dx = 2 (x - y) (/ n for the mean). Warns (as torch) when shapes differ."""
    target = as_tensor(target, like=input)
    _warn_size(input, target)
    diff = input - target
    return _reduce(diff * diff, reduction)


def l1_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    target = as_tensor(target, like=input)
    _warn_size(input, target)
    return _reduce((input - target).abs(), reduction)


def _check_same_size(input: Tensor, target: Tensor, name: str) -> Tensor:
    target = as_tensor(target, like=input)
    if target.shape != input.shape:
        raise ValueError(f"{name}: target size {tuple(target.shape)} must be the same as input size "
                         f"{tuple(input.shape)}")
    return target


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                         reduction: str = "mean") -> Tensor:
    """-[y log x + (1 - y) log(1 - x)] for probabilities ``x`` in [0, 1]."""
    target = _check_same_size(input, target, "binary_cross_entropy")
    x = input._data
    if np.any((x < 0) | (x > 1)) or np.any(np.isnan(x)):
        raise RuntimeError("all elements of input should be between 0 and 1")
    y = target._data
    if np.any((y < 0) | (y > 1)):
        raise RuntimeError(f"all elements of target should be between 0 and 1 (binary_cross_entropy target "
                           f"{tuple(target.shape)} has values in [{y.min()}, {y.max()}])")
    w = None if weight is None else np.broadcast_to(as_tensor(weight)._data, x.shape).astype(x.dtype)
    loss = BinaryCrossEntropy.apply(input, target=target._data.astype(x.dtype), weight=w)
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                     reduction: str = "mean", pos_weight: Tensor | None = None) -> Tensor:
    """Sigmoid + binary cross-entropy in one stable step (finite for logits of +-100)."""
    target = _check_same_size(input, target, "binary_cross_entropy_with_logits")
    dt = input.dtype
    w = None if weight is None else np.broadcast_to(as_tensor(weight)._data, input.shape).astype(dt)
    pw = None if pos_weight is None else np.broadcast_to(as_tensor(pos_weight)._data, input.shape).astype(dt)
    loss = BinaryCrossEntropyWithLogits.apply(input, target=target._data.astype(dt), weight=w, pos_weight=pw)
    return _reduce(loss, reduction)


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    t = as_tensor(tensor)._data
    k = int(t.max()) + 1 if num_classes < 0 else num_classes
    if t.size and (t.min() < 0 or t.max() >= k):
        raise RuntimeError(f"Class values must be smaller than num_classes ({k}) and non-negative.")
    return Tensor(np.eye(k, dtype=np.int64)[t])




# --------------------------------------------------------------------------- convolution, pooling, normalisation


def pad(input: Tensor, pad: tuple[int, ...], mode: str = "constant", value: float = 0.0) -> Tensor:
    """torch's F.pad: ``pad`` lists (left, right) widths from the LAST dim backwards; constant mode."""
    if mode != "constant":
        raise NotImplementedError(f"F.pad: only mode='constant' is implemented, got {mode!r}")
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise RuntimeError(f"Padding length must be divisible by 2 and at most 2 * ndim, got {len(pad)} for input "
                           f"{tuple(input.shape)}")
    if any(p < 0 for p in pad):
        raise NotImplementedError("F.pad: negative padding (cropping) is not implemented")
    widths = [(0, 0)] * input.ndim
    for i in range(len(pad) // 2):
        widths[input.ndim - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    return Pad.apply(input, widths=tuple(widths), value=value)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1) -> Tensor:
    """2-D cross-correlation: input (N, C, H, W) or (C, H, W), weight (O, C // groups, kh, kw).
    ``padding`` is an int, a pair, ``"valid"`` or ``"same"`` (stride 1)."""
    x, unbatched = as_batched(input, "conv2d")
    s, d = pair(stride, "stride"), pair(dilation, "dilation")
    if isinstance(padding, str):
        if padding == "valid":
            p = (0, 0)
        elif padding == "same":
            p, extra = same_padding((weight.shape[2], weight.shape[3]), d, s)
            if extra is not None:  # an even kernel: torch puts the odd pixel on the right/bottom
                x = pad(x, (0, extra[1], 0, extra[0]))
        else:
            raise ValueError(f"Invalid padding string {padding!r}, should be one of 'valid', 'same'")
    else:
        p = pair(padding, "padding")
    y = Conv2d.apply(x, weight, bias, stride=s, padding=p, dilation=d, groups=groups)
    return y.squeeze(0) if unbatched else y


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1) -> Tensor:
    """1-D cross-correlation: input (N, C, L) or (C, L), weight (O, C // groups, k).

    Computed as a 2-D convolution of height 1: x (N, C, 1, L) with weight (O, C // groups, 1, k).
    """
    if input.ndim not in (2, 3):
        raise RuntimeError(f"conv1d: expected a 2D (unbatched) or 3D (batched) input, got input of shape "
                           f"{tuple(input.shape)}")
    if weight.ndim != 3:
        raise RuntimeError(f"conv1d: expected a 3D weight (out_channels, in_channels // groups, k), got weight "
                           f"of shape {tuple(weight.shape)}")

    def one(v: Any, name: str) -> int:
        if isinstance(v, (tuple, list)):
            if len(v) != 1:
                raise RuntimeError(f"conv1d: expected {name} to be a single int or a 1-tuple, got {v!r}")
            v = v[0]
        return int(v)
    pad2: Any = padding if isinstance(padding, str) else (0, one(padding, "padding"))
    y = conv2d(input.unsqueeze(-2), weight.unsqueeze(2), bias, (1, one(stride, "stride")), pad2,
               (1, one(dilation, "dilation")), groups)
    return y.squeeze(-2)


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = 0,
                     output_padding: Any = 0, groups: int = 1, dilation: Any = 1) -> Tensor:
    """Transposed convolution (torch's argument order): weight (C_in, C_out // groups, kh, kw)."""
    x, unbatched = as_batched(input, "conv_transpose2d")
    y = ConvTranspose2d.apply(x, weight, bias, stride=pair(stride, "stride"), padding=pair(padding, "padding"),
                              output_padding=pair(output_padding, "output_padding"),
                              dilation=pair(dilation, "dilation"), groups=groups)
    return y.squeeze(0) if unbatched else y


def max_pool2d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
               ceil_mode: bool = False, return_indices: bool = False) -> Any:
    x, unbatched = as_batched(input, "max_pool2d")
    k = pair(kernel_size, "kernel_size")
    s = k if stride is None or stride == [] else pair(stride, "stride")
    box: list = []
    y = MaxPool2d.apply(x, kernel_size=k, stride=s, padding=pair(padding, "padding"),
                        dilation=pair(dilation, "dilation"), ceil_mode=ceil_mode, indices_out=box)
    idx = Tensor(box[0])
    if unbatched:
        y, idx = y.squeeze(0), Tensor(box[0][0])
    return (y, idx) if return_indices else y


def avg_pool2d(input: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    x, unbatched = as_batched(input, "avg_pool2d")
    k = pair(kernel_size, "kernel_size")
    s = k if stride is None or stride == [] else pair(stride, "stride")
    y = AvgPool2d.apply(x, kernel_size=k, stride=s, padding=pair(padding, "padding"), ceil_mode=ceil_mode,
                        count_include_pad=count_include_pad, divisor_override=divisor_override)
    return y.squeeze(0) if unbatched else y


def adaptive_avg_pool2d(input: Tensor, output_size: Any) -> Tensor:
    """Average over torch's adaptive windows; ``output_size`` entries may be None (keep that input size)."""
    x, unbatched = as_batched(input, "adaptive_avg_pool2d")
    if isinstance(output_size, (tuple, list)):
        output_size = tuple(x.shape[2 + i] if v is None else v for i, v in enumerate(output_size))
    y = AdaptiveAvgPool2d.apply(x, output_size=pair(output_size, "output_size"))
    return y.squeeze(0) if unbatched else y


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None, weight: Tensor | None = None,
               bias: Tensor | None = None, training: bool = False, momentum: float | None = 0.1, eps: float = 1e-5,
               num_batches_tracked: Tensor | None = None) -> Tensor:
    """Normalise each channel (axis 1) by batch statistics (training) or running statistics (eval).

    In training, the running statistics are updated in place, outside the graph, as torch does:
    running = (1 - momentum) running + momentum * batch_stat, with the UNBIASED batch variance
    (n / (n - 1) times the biased one used to normalise). ``momentum=None`` gives the cumulative average.
    """
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected at least 2D input (N, C, ...), got {tuple(input.shape)}")
    x = input._data
    C = x.shape[1]
    for name, t in (("weight", weight), ("bias", bias), ("running_mean", running_mean), ("running_var", running_var)):
        if t is not None and tuple(t.shape) != (C,):
            raise RuntimeError(f"batch_norm: {name} of shape {tuple(t.shape)} does not match the {C} channels of "
                               f"input {tuple(input.shape)}")
    if training:
        axes = (0,) + tuple(range(2, x.ndim))
        n = x.size // C
        if n <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size {tuple(input.shape)}")
        mean = x.mean(axis=axes)
        var = x.var(axis=axes)
        if running_mean is not None and running_var is not None:
            if num_batches_tracked is not None:
                num_batches_tracked._data += 1
            m = momentum if momentum is not None else 1.0 / float(num_batches_tracked._data)
            running_mean._data[...] = (1 - m) * running_mean._data + m * mean
            running_var._data[...] = (1 - m) * running_var._data + m * var * (n / (n - 1))
    else:
        if running_mean is None or running_var is None:
            raise RuntimeError("batch_norm: running_mean and running_var are needed in evaluation mode")
        mean, var = running_mean._data, running_var._data
    return BatchNorm.apply(input, weight, bias, mean=mean, var=var, eps=eps, batch_stats=training)


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels (axis 1) with probability p; scale the others by 1/(1-p)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    if input.ndim not in (3, 4):
        raise RuntimeError(f"dropout2d: expected a 3D or 4D input, got {tuple(input.shape)}")
    shape = tuple(input.shape[:2]) + (1,) * (input.ndim - 2) if input.ndim == 4 else (input.shape[0], 1, 1)
    if p == 1.0:
        return _DropoutOp.apply(input, mask=np.zeros(shape, dtype=input.dtype), scale=0.0)
    return _DropoutOp.apply(input, mask=dropout_mask(shape, p, input.dtype), scale=1.0 / (1.0 - p))


# --------------------------------------------------------------------------- defined in their own files
from minidl.nn.activation import elu, gelu, hardtanh, prelu, relu6, silu, softplus  # noqa: E402,F401
from minidl.nn.embedding import embedding  # noqa: E402,F401
from minidl.nn.loss_functional import huber_loss, kl_div, smooth_l1_loss  # noqa: E402,F401
from minidl.nn.normalization import (cosine_similarity, group_norm, instance_norm, layer_norm,  # noqa: E402,F401
                                     normalize)
from minidl.nn.upsample import interpolate  # noqa: E402,F401
