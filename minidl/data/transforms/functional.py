"""Image operations on ndarrays, following ``torchvision.transforms.functional``'s rules.

Layout: images are ``(..., H, W)`` arrays, i.e. ``(C, H, W)`` after ``to_tensor`` (or ``(H, W)``),
and every spatial op acts on the last two axes, exactly like torchvision's *tensor* transforms.
Leading axes are carried along, so ``(N, C, H, W)`` batches work too (same crop/flip for all;
the ``*_batch`` functions draw one random crop/flip per sample instead).

Deliberate difference from torchvision: there are no PIL images here and nothing returns a
Tensor. ``to_tensor`` returns a float ndarray; the DataLoader's collate makes Tensors.
"""
from __future__ import annotations

from numbers import Number
from typing import Any, Sequence

import numpy as np

from minidl import random as _random

Size2 = tuple[int, int]


def _pair(size: int | Sequence[int], name: str) -> Size2:
    if isinstance(size, Number):
        return int(size), int(size)  # type: ignore[arg-type]
    size = tuple(int(s) for s in size)
    if len(size) == 1:
        return size[0], size[0]
    if len(size) != 2:
        raise ValueError(f"{name}: please provide only two dimensions (h, w) for size, got {size}")
    return size  # type: ignore[return-value]


def _check_image(img: np.ndarray, name: str) -> np.ndarray:
    img = np.asarray(img)
    if img.ndim < 2:
        raise ValueError(f"{name}: expected an image (..., H, W), got shape {img.shape}")
    return img


# ------------------------------------------------------------------------------- conversion
def to_tensor(pic: Any) -> np.ndarray:
    """``(H, W, C)`` or ``(H, W)`` image -> ``(C, H, W)`` array (torchvision's ``to_tensor`` rules).

    uint8 -> float32 divided by 255, so values lie in [0, 1]; any other dtype (float, int16...)
    keeps its dtype and values (torchvision leaves non-byte input unscaled). ``(H, W)`` becomes
    ``(1, H, W)``. A PIL image is converted with ``np.asarray`` first (mode "1" -> 0/1 -> 0./1.).
    """
    arr = pic if isinstance(pic, np.ndarray) else np.asarray(pic)
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * np.uint8(255)
    if arr.ndim not in (2, 3):
        raise ValueError(f"pic should be 2/3 dimensional. Got {arr.ndim} dimensions (shape {arr.shape}).")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    chw = np.ascontiguousarray(arr.transpose(2, 0, 1))
    if chw.dtype == np.uint8:
        return chw.astype(np.float32) / np.float32(255)
    return chw


def to_tensor_batch(images: np.ndarray) -> np.ndarray:
    """``(N, H, W, C)`` or ``(N, H, W)`` images -> ``(N, C, H, W)``, with ``to_tensor``'s scaling rule."""
    arr = np.asarray(images)
    if arr.ndim not in (3, 4):
        raise ValueError(f"to_tensor_batch: expected (N, H, W) or (N, H, W, C), got shape {arr.shape}")
    if arr.ndim == 3:
        arr = arr[..., None]
    nchw = np.ascontiguousarray(arr.transpose(0, 3, 1, 2))
    if nchw.dtype == np.uint8:
        return nchw.astype(np.float32) / np.float32(255)
    return nchw


def normalize(x: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """``(x - mean[c]) / std[c]`` per channel; ``x: (..., C, H, W)`` floating point, same dtype out."""
    x = np.asarray(x)
    if x.dtype.kind != "f":
        raise TypeError(f"Input tensor should be a float tensor. Got {x.dtype}.")
    if x.ndim < 3:
        raise ValueError(f"Expected tensor to be a tensor image of size (..., C, H, W). Got shape {x.shape}")
    m = np.asarray(mean, dtype=x.dtype).reshape(-1, 1, 1)
    s = np.asarray(std, dtype=x.dtype).reshape(-1, 1, 1)
    if (s == 0).any():
        raise ValueError(f"std evaluated to zero after conversion to {x.dtype}, leading to division by zero.")
    if m.shape[0] not in (1, x.shape[-3]) or s.shape[0] not in (1, x.shape[-3]):
        raise ValueError(f"normalize: mean {m.shape[0]} / std {s.shape[0]} values for an image with "
                         f"{x.shape[-3]} channels (shape {x.shape})")
    return (x - m) / s


# ------------------------------------------------------------------------------- geometry
def pad(img: np.ndarray, padding: int | Sequence[int], fill: float = 0, padding_mode: str = "constant"
        ) -> np.ndarray:
    """Pad the last two axes. ``padding``: int (all sides), (lr, tb), or (left, top, right, bottom)."""
    img = _check_image(img, "pad")
    p = [padding] if isinstance(padding, Number) else list(padding)
    if len(p) == 1:
        left = top = right = bottom = int(p[0])
    elif len(p) == 2:
        left = right = int(p[0])
        top = bottom = int(p[1])
    elif len(p) == 4:
        left, top, right, bottom = (int(v) for v in p)
    else:
        raise ValueError(f"Padding must be an int or a 1, 2, or 4 element tuple, not a {len(p)} element tuple")
    if min(left, top, right, bottom) < 0:
        raise ValueError(f"pad: negative padding {p} is not supported")
    widths = [(0, 0)] * (img.ndim - 2) + [(top, bottom), (left, right)]
    if padding_mode == "constant":
        return np.pad(img, widths, mode="constant", constant_values=fill)
    if padding_mode in ("edge", "reflect", "symmetric"):
        return np.pad(img, widths, mode=padding_mode)
    raise ValueError(f"Padding mode should be either constant, edge, reflect or symmetric, got {padding_mode!r}")


def crop(img: np.ndarray, top: int, left: int, height: int, width: int) -> np.ndarray:
    """``img[..., top:top+height, left:left+width]``, zero-padded where the box leaves the image."""
    img = _check_image(img, "crop")
    h, w = img.shape[-2:]
    if top < 0 or left < 0 or top + height > h or left + width > w:
        pads = (max(-left, 0), max(-top, 0), max(left + width - w, 0), max(top + height - h, 0))
        img = pad(img, pads)
        top, left = max(top, 0), max(left, 0)
    return img[..., top:top + height, left:left + width]


def center_crop(img: np.ndarray, output_size: int | Sequence[int]) -> np.ndarray:
    """The central ``(th, tw)`` box; offset ``round((H - th) / 2)`` (Python's round, as torchvision).

    An image smaller than the box is first zero-padded, extra pixel on the right/bottom.
    """
    img = _check_image(img, "center_crop")
    th, tw = _pair(output_size, "center_crop")
    h, w = img.shape[-2:]
    if tw > w or th > h:
        img = pad(img, ((tw - w) // 2 if tw > w else 0, (th - h) // 2 if th > h else 0,
                        (tw - w + 1) // 2 if tw > w else 0, (th - h + 1) // 2 if th > h else 0))
        h, w = img.shape[-2:]
    top = int(round((h - th) / 2.0))
    left = int(round((w - tw) / 2.0))
    return img[..., top:top + th, left:left + tw]


def hflip(img: np.ndarray) -> np.ndarray:
    """Mirror the last axis (W)."""
    return _check_image(img, "hflip")[..., ::-1]


def vflip(img: np.ndarray) -> np.ndarray:
    """Mirror the second-to-last axis (H)."""
    return _check_image(img, "vflip")[..., ::-1, :]


# ------------------------------------------------------------------------------- resize
def resized_output_size(image_size: Size2, size: int | Sequence[int], max_size: int | None = None) -> Size2:
    """torchvision's rule: an int (or 1-sequence) sets the *shorter* edge, the longer one is
    ``int(size * long / short)`` (truncated), capped by ``max_size``; (h, w) is used as is."""
    h, w = image_size
    if isinstance(size, Number) or len(size) == 1:  # type: ignore[arg-type]
        s = int(size if isinstance(size, Number) else size[0])  # type: ignore[index]
        short, long = (w, h) if w <= h else (h, w)
        new_short, new_long = s, int(s * long / short)
        if max_size is not None:
            if max_size <= s:
                raise ValueError(f"max_size = {max_size} must be strictly greater than the requested "
                                 f"size for the smaller edge size = {size}")
            if new_long > max_size:
                new_short, new_long = int(max_size * new_short / new_long), max_size
        new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
        return new_h, new_w
    if max_size is not None:
        raise ValueError("max_size should only be passed if size specifies the length of the smaller edge")
    return _pair(size, "resize")


def resample_matrix(in_size: int, out_size: int, antialias: bool = True) -> np.ndarray:
    """``(out_size, in_size)`` bilinear weights: ``out = W @ x`` resamples one axis.

    Pixel centres sit at half-integers (``align_corners=False``): output pixel i looks at input
    position ``c = (i + 0.5) * s`` with ``s = in/out``.
    - antialias (PIL's and torchvision's default): a triangle filter of half-width ``max(s, 1)``
      centred on c, weights ``tri((j + 0.5 - c) / max(s, 1))`` over the input pixels j inside the
      image, renormalised to sum to 1. Downscaling thus averages every input pixel it covers;
      upscaling (s < 1) reduces to plain linear interpolation with edge clamping.
    - no antialias: plain linear interpolation between the two pixels around ``max(c - 0.5, 0)``.
    """
    if in_size <= 0 or out_size <= 0:
        raise ValueError(f"resize: sizes must be positive, got {in_size} -> {out_size}")
    scale = in_size / out_size
    W = np.zeros((out_size, in_size), dtype=np.float64)
    if antialias:
        fscale = max(scale, 1.0)
        support = 1.0 * fscale  # the triangle's support is 1 input pixel, stretched when downscaling
        for i in range(out_size):
            c = (i + 0.5) * scale
            lo = max(int(c - support + 0.5), 0)
            hi = min(int(c + support + 0.5), in_size)
            j = np.arange(lo, hi)
            wts = np.clip(1.0 - np.abs((j - c + 0.5) / fscale), 0.0, None)
            W[i, lo:hi] = wts / wts.sum() if wts.sum() > 0 else wts
        return W
    src = np.maximum((np.arange(out_size) + 0.5) * scale - 0.5, 0.0)
    i0 = np.floor(src).astype(np.int64)
    i0 = np.minimum(i0, in_size - 1)
    i1 = np.where(i0 < in_size - 1, i0 + 1, i0)
    lam = src - i0
    rows = np.arange(out_size)
    np.add.at(W, (rows, i0), 1.0 - lam)
    np.add.at(W, (rows, i1), lam)
    return W


def resize(img: np.ndarray, size: int | Sequence[int], antialias: bool = True, max_size: int | None = None
           ) -> np.ndarray:
    """Bilinear resize of the last two axes to ``resized_output_size((H, W), size, max_size)``.

    Separable: ``out = Wy @ img @ Wx^T`` with the ``resample_matrix`` of each axis. Float input is
    computed in its own dtype (float32 -> float32); integer input in float32, then rounded half to
    even and clipped to the dtype's range (uint8 stays uint8), as torchvision's tensor path does.
    """
    img = _check_image(img, "resize")
    h, w = img.shape[-2:]
    oh, ow = resized_output_size((h, w), size, max_size)
    if (oh, ow) == (h, w):
        return img
    work = img.dtype if img.dtype.kind == "f" else np.dtype(np.float32)
    Wy = resample_matrix(h, oh, antialias).astype(work)
    Wx = resample_matrix(w, ow, antialias).astype(work)
    out = np.matmul(np.matmul(Wy, img.astype(work, copy=False)), Wx.T)
    if img.dtype.kind in "iu":
        info = np.iinfo(img.dtype)
        out = np.clip(np.rint(out), info.min, info.max).astype(img.dtype)
    return out


# ------------------------------------------------------------------------------- batched, random per sample
def random_crop_batch(x: np.ndarray, size: int | Sequence[int], padding: int | Sequence[int] = 0,
                      fill: float = 0, padding_mode: str = "constant",
                      generator: _random.Generator | None = None) -> np.ndarray:
    """RandomCrop on every image of ``x: (N, ..., H, W)``, each with its own offset, in one gather.

    Pads once, draws offsets ``i ~ U{0..H'-th}`` for all samples, then ``j ~ U{0..W'-tw}``, and
    gathers ``xp[n, ..., i_n:i_n+th, j_n:j_n+tw]`` from a sliding-window *view* of the padded batch
    (no copy until the gather itself): no Python loop over samples, no big index arrays.
    """
    x = np.asarray(x)
    if x.ndim < 3:
        raise ValueError(f"random_crop_batch: expected (N, ..., H, W), got shape {x.shape}")
    th, tw = _pair(size, "random_crop_batch")
    xp = pad(x, padding, fill, padding_mode) if padding else x
    H, W = xp.shape[-2:]
    if H < th or W < tw:
        raise ValueError(f"Required crop size {(th, tw)} is larger than input image size {(H, W)}")
    n = x.shape[0]
    rng = _random.generator(generator)
    i = rng.integers(0, H - th + 1, size=n)
    j = rng.integers(0, W - tw + 1, size=n)
    flat = xp.reshape(n, -1, H, W)  # (N, C', H, W), C' = product of the middle axes
    windows = np.lib.stride_tricks.sliding_window_view(flat, (th, tw), axis=(2, 3))  # (N, C', H-th+1, W-tw+1, th, tw)
    out = windows[np.arange(n), :, i, j]  # advanced indices on axes 0, 2, 3 -> (N, C', th, tw)
    return out.reshape(x.shape[:-2] + (th, tw))


def hflip_batch(x: np.ndarray, p: float = 0.5, generator: _random.Generator | None = None) -> np.ndarray:
    """Mirror each image of ``x: (N, ..., W)`` independently with probability p (a new array)."""
    x = np.asarray(x)
    if x.ndim < 2:
        raise ValueError(f"hflip_batch: expected (N, ..., W), got shape {x.shape}")
    flip = _random.generator(generator).random(x.shape[0]) < p
    out = x.copy()
    out[flip] = x[flip][..., ::-1]
    return out
