"""``ImageFolder``: one sub-folder per class, images read with PIL (torchvision's conventions).

    root/airplane/0001.png          class index = position of the folder name in sorted order
    root/automobile/0001.png
    ...

or, with split folders, ``root/train/<class>/...`` and ``root/test/<class>/...`` read with
``ImageFolder(root, split="train")``. Samples are ``(img, class_index)`` with ``img`` an HWC uint8
RGB array (``mode="RGB"``, the default) or an HW uint8 array (``mode="L"``, grayscale).

Files are listed once at construction (sorted, recursively inside each class folder), decoded at
each ``ds[i]``. For repeated epochs over small images, read everything once with
``minidl.data.to_arrays(ds)`` and train from a ``TensorDataset``.

An image PIL cannot decode raises ``CorruptFileError`` naming the path; with ``skip_bad=True``
the constructor instead checks every file, drops the bad ones with a warning (their count is in
``n_skipped`` and their paths in ``skipped``).
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from minidl.data._files import CorruptFileError
from minidl.data.dataset import Dataset

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
SPLIT_NAMES = ("train", "test", "val", "valid", "validation")


def read_image(path: str | os.PathLike, mode: str = "RGB") -> np.ndarray:
    """Decode one image file into an uint8 array: ``(H, W, 3)`` for mode "RGB", ``(H, W)`` for "L"."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert(mode))
    except FileNotFoundError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise CorruptFileError(path, f"cannot decode image ({type(e).__name__}: {e})") from e


class ImageFolder(Dataset):
    """Images in ``root/<class>/**/*.<ext>`` (or ``root/<split>/<class>/...`` with ``split=``).

    Attributes (torchvision's): ``classes`` (sorted folder names), ``class_to_idx``, ``samples``
    (list of ``(path, class_index)``, sorted), ``targets`` (int64 array), ``imgs`` (= samples).
    """

    def __init__(self, root: str | os.PathLike, transform: Callable | None = None,
                 target_transform: Callable | None = None, *, split: str | None = None, mode: str = "RGB",
                 extensions: Sequence[str] = IMG_EXTENSIONS, skip_bad: bool = False) -> None:
        root = Path(root)
        if split is not None:
            root = root / split
        if not root.is_dir():
            raise FileNotFoundError(f"ImageFolder: no such folder {root}")
        if mode not in ("RGB", "L"):
            raise ValueError(f"ImageFolder: mode must be 'RGB' or 'L', got {mode!r}")
        self.root = root
        self.transform = transform
        self.target_transform = target_transform
        self.mode = mode
        classes = sorted(d.name for d in os.scandir(root) if d.is_dir() and not d.name.startswith("."))
        if not classes:
            raise FileNotFoundError(f"ImageFolder: {root} has no class sub-folders")
        if split is None and set(classes) <= set(SPLIT_NAMES):
            raise ValueError(f"ImageFolder: {root} holds split folders {classes}, not classes; pass "
                             f"split={classes[0]!r} (e.g. ImageFolder(root, split='train'))")
        exts = tuple(e.lower() for e in extensions)
        samples: list[tuple[str, int]] = []
        for idx, c in enumerate(classes):
            for dirpath, dirnames, filenames in sorted(os.walk(root / c, followlinks=True)):
                dirnames.sort()
                samples += [(os.path.join(dirpath, f), idx) for f in sorted(filenames) if f.lower().endswith(exts)]
        empty = [c for i, c in enumerate(classes) if not any(t == i for _, t in samples)]
        if empty:
            raise FileNotFoundError(f"ImageFolder: no {'/'.join(exts)} files in class folder(s) "
                                    f"{empty} under {root}")
        self.skipped: list[str] = []
        if skip_bad:
            good = []
            for p, t in samples:
                try:
                    read_image(p, mode)
                    good.append((p, t))
                except CorruptFileError:
                    self.skipped.append(p)
            if self.skipped:
                warnings.warn(f"ImageFolder: skipped {len(self.skipped)} unreadable image(s) under {root}, "
                              f"e.g. {self.skipped[0]}", stacklevel=2)
            samples = good
        self.classes = classes
        self.class_to_idx = {c: i for i, c in enumerate(classes)}
        self.samples = samples
        self.imgs = samples
        self.targets = np.asarray([t for _, t in samples], dtype=np.int64)

    @property
    def n_skipped(self) -> int:
        return len(self.skipped)

    @staticmethod
    def splits(root: str | os.PathLike) -> list[str]:
        """The split folders (``train``, ``test``, ...) present directly under ``root``."""
        root = Path(root)
        return [s for s in SPLIT_NAMES if (root / s).is_dir()]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        path, target = self.samples[index]
        img: Any = read_image(path, self.mode)
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __repr__(self) -> str:
        return f"ImageFolder(root={self.root}, n={len(self)}, classes={len(self.classes)})"
