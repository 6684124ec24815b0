"""Transforms with torchvision's names and semantics, working on ndarrays.

    train_tf = Compose([ToTensor(), RandomCrop(28), RandomHorizontalFlip(),
                        Normalize([0.491, 0.482, 0.447], [0.202, 0.199, 0.201])])
    x = train_tf(img_hwc_uint8)            # (3, 28, 28) float32 ndarray

**Deliberate differences from torchvision** (for teaching: one data type, no PIL in the pipeline):
- every transform takes and returns an ndarray; ``ToTensor`` returns a float *ndarray* in CHW
  layout, not a Tensor. Tensors are made by the DataLoader's collate, once per batch.
- spatial transforms act on the last two axes ``(..., H, W)`` like torchvision's *tensor*
  transforms, so put ``ToTensor()`` first when images come as HWC arrays (ImageFolder, CIFAR10).

Random transforms draw from ``minidl.random.generator(generator)``: the global generator
(``minidl.manual_seed``) unless a ``minidl.Generator`` is given. For whole batches at once use the
vectorised ``random_crop_batch`` / ``hflip_batch`` / ``to_tensor_batch`` (one random draw per sample).
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from minidl import random as _random
from minidl.data.transforms import functional
from minidl.data.transforms.functional import (_pair, center_crop, crop, hflip, hflip_batch, normalize,  # noqa: F401
                                               pad, random_crop_batch, resize, resized_output_size,
                                               to_tensor, to_tensor_batch, vflip)
from minidl.data.zca import ZCA  # noqa: F401

__all__ = ["Compose", "ToTensor", "Normalize", "RandomCrop", "CenterCrop", "RandomHorizontalFlip",
           "Resize", "Lambda", "Pad", "ZCA", "functional", "to_tensor_batch", "random_crop_batch",
           "hflip_batch"]


class Compose:
    """Apply ``transforms`` in order."""

    def __init__(self, transforms: Sequence[Callable[[Any], Any]]) -> None:
        self.transforms = list(transforms)

    def __call__(self, img: Any) -> Any:
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self) -> str:
        inner = "".join(f"\n    {t}" for t in self.transforms)
        return f"Compose({inner}\n)"


class ToTensor:
    """HWC (or HW) image -> CHW array; uint8 is scaled to float32 in [0, 1], other dtypes kept as is.

    Returns an ndarray, not a Tensor (see the module docstring).
    """

    def __call__(self, pic: Any) -> np.ndarray:
        return to_tensor(pic)

    def __repr__(self) -> str:
        return "ToTensor()"


class Normalize:
    """``(x - mean[c]) / std[c]`` for each channel c of a float ``(..., C, H, W)`` array."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], inplace: bool = False) -> None:
        self.mean = list(np.atleast_1d(mean))
        self.std = list(np.atleast_1d(std))
        self.inplace = inplace  # accepted for compatibility; the result is always a new array

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return normalize(x, self.mean, self.std)

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean}, std={self.std})"


class Pad:
    """Pad the last two axes (``padding``: int, (lr, tb) or (l, t, r, b))."""

    def __init__(self, padding: int | Sequence[int], fill: float = 0, padding_mode: str = "constant") -> None:
        self.padding, self.fill, self.padding_mode = padding, fill, padding_mode

    def __call__(self, img: np.ndarray) -> np.ndarray:
        return pad(img, self.padding, self.fill, self.padding_mode)


class CenterCrop:
    """The central ``size`` box (zero-padded first if the image is smaller)."""

    def __init__(self, size: int | Sequence[int]) -> None:
        self.size = _pair(size, "CenterCrop")

    def __call__(self, img: np.ndarray) -> np.ndarray:
        return center_crop(img, self.size)

    def __repr__(self) -> str:
        return f"CenterCrop(size={self.size})"


class RandomCrop:
    """A random ``size`` box, after optional ``padding`` (torchvision's order of operations).

    1. pad by ``padding`` (int, (lr, tb) or (l, t, r, b)) with ``fill`` / ``padding_mode``;
    2. if ``pad_if_needed``, pad width then height by the missing amount on *both* sides;
    3. top ``i ~ U{0..H-th}``, left ``j ~ U{0..W-tw}`` (``get_params``), then crop.
    """

    def __init__(self, size: int | Sequence[int], padding: int | Sequence[int] | None = None,
                 pad_if_needed: bool = False, fill: float = 0, padding_mode: str = "constant",
                 generator: _random.Generator | None = None) -> None:
        self.size = _pair(size, "RandomCrop")
        self.padding = padding
        self.pad_if_needed = pad_if_needed
        self.fill = fill
        self.padding_mode = padding_mode
        self.generator = generator

    @staticmethod
    def get_params(img: np.ndarray, output_size: tuple[int, int],
                   generator: _random.Generator | None = None) -> tuple[int, int, int, int]:
        """``(i, j, th, tw)`` for ``crop``: i drawn first, then j (both uniform integers)."""
        h, w = np.shape(img)[-2:]
        th, tw = output_size
        if h < th or w < tw:
            raise ValueError(f"Required crop size {(th, tw)} is larger than input image size {(h, w)}")
        if w == tw and h == th:
            return 0, 0, h, w
        rng = _random.generator(generator)
        i = int(rng.integers(0, h - th + 1))
        j = int(rng.integers(0, w - tw + 1))
        return i, j, th, tw

    def __call__(self, img: np.ndarray) -> np.ndarray:
        if self.padding is not None:
            img = pad(img, self.padding, self.fill, self.padding_mode)
        h, w = np.shape(img)[-2:]
        if self.pad_if_needed and w < self.size[1]:
            img = pad(img, (self.size[1] - w, 0), self.fill, self.padding_mode)
        if self.pad_if_needed and h < self.size[0]:
            img = pad(img, (0, self.size[0] - h), self.fill, self.padding_mode)
        i, j, th, tw = self.get_params(img, self.size, self.generator)
        return img[..., i:i + th, j:j + tw]

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip:
    """Mirror the last axis with probability ``p`` (one uniform draw per call)."""

    def __init__(self, p: float = 0.5, generator: _random.Generator | None = None) -> None:
        self.p = p
        self.generator = generator

    def __call__(self, img: np.ndarray) -> np.ndarray:
        if _random.generator(self.generator).random() < self.p:
            return np.ascontiguousarray(hflip(img))
        return img

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class Resize:
    """Bilinear resize of ``(..., H, W)``: int ``size`` = shorter edge (aspect kept), (h, w) = exact.

    ``antialias=True`` (torchvision's default) low-pass filters when shrinking, as PIL does.
    Only bilinear interpolation is implemented.
    """

    def __init__(self, size: int | Sequence[int], interpolation: str = "bilinear", max_size: int | None = None,
                 antialias: bool = True) -> None:
        if str(interpolation).lower().split(".")[-1] != "bilinear":
            raise NotImplementedError(f"Resize: only bilinear interpolation is implemented, got {interpolation!r}")
        self.size = size
        self.max_size = max_size
        self.antialias = antialias

    def __call__(self, img: np.ndarray) -> np.ndarray:
        return resize(img, self.size, self.antialias, self.max_size)

    def __repr__(self) -> str:
        return f"Resize(size={self.size}, antialias={self.antialias})"


class Lambda:
    """Wrap any function ``img -> img`` as a transform."""

    def __init__(self, lambd: Callable[[Any], Any]) -> None:
        if not callable(lambd):
            raise TypeError(f"Argument lambd should be callable, got {type(lambd).__name__!r}")
        self.lambd = lambd

    def __call__(self, img: Any) -> Any:
        return self.lambd(img)

    def __repr__(self) -> str:
        return "Lambda()"
