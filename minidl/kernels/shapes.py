"""Argument normalisation and output-shape rules shared by the convolution and pooling kernels.

Everything here follows ``torch.nn.functional``'s conventions exactly, and bad arguments raise the
exception type torch raises (``RuntimeError`` for shape/argument errors in ``conv2d``/``max_pool2d``),
with a message naming every shape involved.

Output size of a convolution or pooling along one axis (input size ``H``, kernel ``k``, stride ``s``,
padding ``p``, dilation ``d``):  the effective kernel spans ``d (k - 1) + 1`` pixels, so

    H_out = floor((H + 2p - d (k - 1) - 1) / s) + 1.

Pooling with ``ceil_mode=True`` rounds up instead, except that the last window must start inside the
input or the left padding:  if ``(H_out - 1) s >= H + p`` then ``H_out -= 1``.

A transposed convolution inverts the convolution's size rule:

    H_out = (H - 1) s - 2p + d (k - 1) + output_padding + 1.
"""
from __future__ import annotations

from typing import Sequence, Union

import numpy as np

IntPair = Union[int, Sequence[int]]


def pair(v: IntPair, name: str = "argument") -> tuple[int, int]:
    """``3 -> (3, 3)``; ``(3, 5) -> (3, 5)``; anything else raises ``RuntimeError`` naming ``name``."""
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return int(v), int(v)
    try:
        a, b = v  # type: ignore[misc]
    except (TypeError, ValueError):
        raise RuntimeError(f"{name} must be an int or a pair of ints, got {v!r}") from None
    if not all(isinstance(t, (int, np.integer)) and not isinstance(t, bool) for t in (a, b)):
        raise RuntimeError(f"{name} must be an int or a pair of ints, got {v!r}")
    return int(a), int(b)


def _shape(a: np.ndarray) -> tuple[int, ...]:
    return tuple(int(s) for s in a.shape)


def check_float_arrays(op: str, **arrays: np.ndarray | None) -> np.dtype:
    """All given arrays are float32 or float64 NumPy arrays of one dtype; returns that dtype."""
    dtype = None
    for name, a in arrays.items():
        if a is None:
            continue
        if not isinstance(a, np.ndarray):
            raise TypeError(f"{op}: {name} must be a numpy.ndarray, got {type(a).__name__}")
        if a.dtype not in (np.float32, np.float64):
            raise RuntimeError(f"{op}: {name} has dtype {a.dtype}; only float32 and float64 are supported")
        if dtype is None:
            dtype = a.dtype
        elif a.dtype != dtype:
            listing = ", ".join(f"{k} {v.dtype}" for k, v in arrays.items() if v is not None)
            raise RuntimeError(f"{op}: all arrays must have the same dtype, got {listing}")
    assert dtype is not None
    return dtype


def _conv_axis(size: int, k: int, s: int, p: int, d: int) -> int:
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def _check_positive(op: str, **pairs: tuple[int, int]) -> None:
    for name, (a, b) in pairs.items():
        if a <= 0 or b <= 0:
            raise RuntimeError(f"{op}: {name} must be positive, got {(a, b)}")


def conv2d_output_shape(x_shape: Sequence[int], w_shape: Sequence[int], stride: IntPair, padding: IntPair,
                        dilation: IntPair, groups: int = 1, b_shape: Sequence[int] | None = None
                        ) -> tuple[int, int, int, int]:
    """Output shape ``(N, O, H_out, W_out)`` of ``conv2d(x, w)``; raises ``RuntimeError`` on bad shapes.

    x: (N, C, H, W);  w: (O, C // groups, kh, kw);  b: (O,) or None.
    """
    op = "conv2d"
    x_shape, w_shape = tuple(int(s) for s in x_shape), tuple(int(s) for s in w_shape)
    if len(x_shape) != 4:
        raise RuntimeError(f"{op}: expected a 4-D input (N, C, H, W), got input {x_shape}")
    if len(w_shape) != 4:
        raise RuntimeError(f"{op}: expected a 4-D weight (O, C // groups, kh, kw), got weight {w_shape}")
    s, p, d = pair(stride, "stride"), pair(padding, "padding"), pair(dilation, "dilation")
    _check_positive(op, stride=s, dilation=d)
    if p[0] < 0 or p[1] < 0:
        raise RuntimeError(f"{op}: negative padding {p} is not supported")
    if groups <= 0:
        raise RuntimeError(f"{op}: groups must be positive, got {groups}")
    N, C, H, W = x_shape
    O, Cg, kh, kw = w_shape
    if O % groups != 0:
        raise RuntimeError(f"{op}: weight {w_shape} has {O} output channels, not divisible by groups={groups}")
    if Cg * groups != C:
        expects = Cg * groups
        extra = f" (groups={groups})" if groups != 1 else ""
        raise RuntimeError(f"{op}: input {x_shape} has {C} channels but weight {w_shape} expects {expects}{extra}")
    if b_shape is not None and tuple(b_shape) != (O,):
        raise RuntimeError(f"{op}: bias {tuple(b_shape)} must have shape ({O},) to match weight {w_shape}")
    Ho, Wo = _conv_axis(H, kh, s[0], p[0], d[0]), _conv_axis(W, kw, s[1], p[1], d[1])
    if Ho <= 0 or Wo <= 0 or kh <= 0 or kw <= 0:
        raise RuntimeError(
            f"{op}: input {x_shape} padded by {p} is ({H + 2 * p[0]}, {W + 2 * p[1]}), smaller than the "
            f"dilated kernel ({d[0] * (kh - 1) + 1}, {d[1] * (kw - 1) + 1}) of weight {w_shape}: "
            f"the output would be empty")
    return N, O, Ho, Wo


def conv_transpose2d_output_shape(x_shape: Sequence[int], w_shape: Sequence[int], stride: IntPair,
                                  padding: IntPair, output_padding: IntPair, dilation: IntPair,
                                  groups: int = 1, b_shape: Sequence[int] | None = None
                                  ) -> tuple[int, int, int, int]:
    """Output shape ``(N, Cout, H_out, W_out)`` of ``conv_transpose2d(x, w)``; ``RuntimeError`` on bad shapes.

    x: (N, Cin, H, W);  w: (Cin, Cout // groups, kh, kw);  b: (Cout,) or None.
    """
    op = "conv_transpose2d"
    x_shape, w_shape = tuple(int(s) for s in x_shape), tuple(int(s) for s in w_shape)
    if len(x_shape) != 4:
        raise RuntimeError(f"{op}: expected a 4-D input (N, C, H, W), got input {x_shape}")
    if len(w_shape) != 4:
        raise RuntimeError(f"{op}: expected a 4-D weight (Cin, Cout // groups, kh, kw), got weight {w_shape}")
    s, p, d = pair(stride, "stride"), pair(padding, "padding"), pair(dilation, "dilation")
    op_ = pair(output_padding, "output_padding")
    _check_positive(op, stride=s, dilation=d)
    if min(p) < 0 or min(op_) < 0:
        raise RuntimeError(f"{op}: padding {p} and output_padding {op_} must be non-negative")
    for a in range(2):
        if op_[a] >= s[a] and op_[a] >= d[a]:
            raise RuntimeError(f"{op}: output_padding {op_} must be smaller than either stride {s} or dilation {d}")
    if groups <= 0:
        raise RuntimeError(f"{op}: groups must be positive, got {groups}")
    N, C, H, W = x_shape
    Cin, Cog, kh, kw = w_shape
    if Cin != C:
        raise RuntimeError(f"{op}: input {x_shape} has {C} channels but weight {w_shape} expects {Cin}")
    if Cin % groups != 0:
        raise RuntimeError(f"{op}: weight {w_shape} has {Cin} input channels, not divisible by groups={groups}")
    Cout = Cog * groups
    if b_shape is not None and tuple(b_shape) != (Cout,):
        raise RuntimeError(f"{op}: bias {tuple(b_shape)} must have shape ({Cout},) to match weight {w_shape} "
                           f"with groups={groups}")
    Ho = (H - 1) * s[0] - 2 * p[0] + d[0] * (kh - 1) + op_[0] + 1
    Wo = (W - 1) * s[1] - 2 * p[1] + d[1] * (kw - 1) + op_[1] + 1
    if Ho <= 0 or Wo <= 0 or H <= 0 or W <= 0:
        raise RuntimeError(f"{op}: input {x_shape} with weight {w_shape}, stride {s}, padding {p}, dilation {d} "
                           f"gives an empty output ({Ho}, {Wo})")
    return N, Cout, Ho, Wo


def _pool_axis(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    num = size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)
    out = num // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1  # the last window must start inside the input or the left padding
    return out


def pool2d_output_shape(op: str, x_shape: Sequence[int], kernel_size: IntPair, stride: IntPair | None,
                        padding: IntPair, dilation: IntPair = 1, ceil_mode: bool = False
                        ) -> tuple[tuple[int, int, int, int], tuple[int, int], tuple[int, int], tuple[int, int],
                                   tuple[int, int]]:
    """Output shape of ``max_pool2d``/``avg_pool2d`` plus the normalised (kernel, stride, padding, dilation).

    ``stride=None`` means ``stride = kernel_size`` (torch's default).  Raises ``RuntimeError`` with torch's
    rules: positive kernel/stride/dilation, padding at most half the kernel, non-empty output.
    """
    x_shape = tuple(int(v) for v in x_shape)
    if len(x_shape) != 4:
        raise RuntimeError(f"{op}: expected a 4-D input (N, C, H, W), got input {x_shape}")
    k = pair(kernel_size, "kernel_size")
    s = k if stride is None or (not isinstance(stride, int) and len(stride) == 0) else pair(stride, "stride")
    p, d = pair(padding, "padding"), pair(dilation, "dilation")
    _check_positive(op, kernel_size=k, stride=s, dilation=d)
    if min(p) < 0:
        raise RuntimeError(f"{op}: padding {p} must be non-negative")
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:      # torch's rule, for max and avg alike (dilation not counted)
        raise RuntimeError(f"{op}: padding {p} should be at most half of the kernel size {k}")
    N, C, H, W = x_shape
    Ho = _pool_axis(H, k[0], s[0], p[0], d[0], ceil_mode)
    Wo = _pool_axis(W, k[1], s[1], p[1], d[1], ceil_mode)
    if Ho <= 0 or Wo <= 0:
        raise RuntimeError(f"{op}: input {x_shape} with kernel {k}, stride {s}, padding {p}, dilation {d} "
                           f"gives an output of size ({Ho}, {Wo}), which is too small")
    return (N, C, Ho, Wo), k, s, p, d


def adaptive_pool2d_output_shape(x_shape: Sequence[int], output_size: IntPair | Sequence[int | None]
                                 ) -> tuple[int, int, int, int]:
    """``(N, C, Ho, Wo)`` for ``adaptive_avg_pool2d``; ``None`` in ``output_size`` keeps that input size."""
    op = "adaptive_avg_pool2d"
    x_shape = tuple(int(v) for v in x_shape)
    if len(x_shape) != 4:
        raise RuntimeError(f"{op}: expected a 4-D input (N, C, H, W), got input {x_shape}")
    N, C, H, W = x_shape
    if isinstance(output_size, (int, np.integer)):
        out = (int(output_size), int(output_size))
    else:
        a, b = output_size  # type: ignore[misc]
        out = (H if a is None else int(a), W if b is None else int(b))
    if out[0] <= 0 or out[1] <= 0:
        raise RuntimeError(f"{op}: output_size {out} must be positive (input {x_shape})")
    if H <= 0 or W <= 0:
        raise RuntimeError(f"{op}: input {x_shape} has an empty spatial size")
    return N, C, out[0], out[1]


def adaptive_windows(size: int, out: int) -> tuple[np.ndarray, np.ndarray]:
    """torch's adaptive windows: ``start_i = floor(i size / out)``, ``end_i = ceil((i + 1) size / out)``."""
    i = np.arange(out, dtype=np.int64)
    start = (i * size) // out
    end = -((-(i + 1) * size) // out)
    return start, end


def avg_pool_divisors(H: int, W: int, Ho: int, Wo: int, k: tuple[int, int], s: tuple[int, int],
                      p: tuple[int, int], count_include_pad: bool, divisor_override: int | None) -> np.ndarray:
    """Divisor (Ho, Wo) of every average-pooling window, by torch's rules.

    ``divisor_override`` if given; else with ``count_include_pad`` the window's size after clipping it to
    the padded input (a ``ceil_mode`` window may run past the padding), else its in-bounds size.
    """
    if divisor_override is not None:
        return np.full((Ho, Wo), float(divisor_override))

    def axis(size: int, out: int, k_: int, s_: int, p_: int) -> tuple[np.ndarray, np.ndarray]:
        start = np.arange(out) * s_ - p_
        end = np.minimum(start + k_, size + p_)           # window clipped to the padded input
        padded_len = end - start
        inside_len = np.minimum(end, size) - np.maximum(start, 0)
        return padded_len, inside_len
    ph_len, h_in = axis(H, Ho, k[0], s[0], p[0])
    pw_len, w_in = axis(W, Wo, k[1], s[1], p[1])
    if count_include_pad:
        return np.outer(ph_len, pw_len).astype(np.float64)
    return np.outer(h_in, w_in).astype(np.float64)
