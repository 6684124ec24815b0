"""MNIST, Fashion-MNIST and Kuzushiji-MNIST from their official IDX files (``.gz`` or raw).

IDX format (LeCun's, big-endian)::

    bytes 0-1   0x00 0x00
    byte  2     element type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64
    byte  3     number of dimensions d
    4 * d       the sizes, uint32 big-endian
    the rest    prod(sizes) elements, row-major, big-endian

So the magic number (bytes 0-3) is 0x00000803 for an image file (uint8, 3 dims: N, rows, cols) and
0x00000801 for a label file (uint8, 1 dim: N). ``read_idx`` checks all of this against the file's
length and raises ``CorruptFileError`` (a ValueError) naming the file when anything is off:
a truncated gzip, a wrong magic number, a payload shorter or longer than the header promises.

Layout (torchvision's): ``root/MNIST/raw/train-images-idx3-ubyte[.gz]`` etc. (``KMNIST``,
``FashionMNIST`` folders for the others; the file names are the same for all three).
"""
from __future__ import annotations

import os
import urllib.error
from pathlib import Path
from typing import Callable

import numpy as np

from minidl.data._files import CorruptFileError, check_integrity, read_maybe_gzip
from minidl.data.dataset import ImageArrayDataset, Subset, stratified_split
from minidl.data.download import DownloadError, download_url

IDX_DTYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
              0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801


def read_idx(path: str | os.PathLike, expected_magic: int | None = None) -> np.ndarray:
    """Decode an IDX file (gzipped or not) into an ndarray of its declared shape (native byte order).

    ``expected_magic``: e.g. ``IMAGES_MAGIC`` (0x803) or ``LABELS_MAGIC`` (0x801); checked if given.
    Raises ``FileNotFoundError`` or ``CorruptFileError`` (ValueError), both naming the file.
    """
    path = Path(path)
    data = read_maybe_gzip(path)
    if len(data) < 4:
        raise CorruptFileError(path, f"only {len(data)} bytes: too short for an IDX header")
    magic = int.from_bytes(data[:4], "big")
    if data[0] != 0 or data[1] != 0 or data[2] not in IDX_DTYPES:
        raise CorruptFileError(path, f"not an IDX file (magic number 0x{magic:08X}; IDX files start with "
                                     f"0x0000 then a type byte in {sorted(hex(k) for k in IDX_DTYPES)})")
    if expected_magic is not None and magic != expected_magic:
        raise CorruptFileError(path, f"wrong magic number 0x{magic:08X}, expected 0x{expected_magic:08X}")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise CorruptFileError(path, f"truncated header: {ndim} dimensions need {header} bytes, file has {len(data)}")
    dims = tuple(int.from_bytes(data[4 + 4 * k:8 + 4 * k], "big") for k in range(ndim))
    dtype = IDX_DTYPES[data[2]]
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "has trailing bytes"
        raise CorruptFileError(path, f"{what}: header declares shape {dims} of {dtype.name} "
                                     f"({expected:,} bytes with the header) but the data has {len(data):,} bytes")
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))  # a writable native-endian copy


class MNIST(ImageArrayDataset):
    """The MNIST digits: ``data (N, 28, 28) uint8``, ``targets (N,) int64``; a sample is ``(img, label)``.

    ``img`` is the ``(28, 28)`` uint8 array (torchvision gives a PIL image): compose ``ToTensor()``
    to get ``(1, 28, 28)`` float32 in [0, 1]. ``get_batch`` gathers many samples at once (fast path).
    ``train=True`` needs the training images; when only the official test set is at hand (as in the
    shared data), use ``MNIST.split_test_set(root)`` and say so.
    """

    folder = "MNIST"
    mirrors = ["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"]
    resources = [("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
                 ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
                 ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
                 ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c")]
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
               "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine"]

    def __init__(self, root: str | os.PathLike, train: bool = True, transform: Callable | None = None,
                 target_transform: Callable | None = None, download: bool = False) -> None:
        super().__init__(root, train, transform, target_transform, download)
        prefix = "train" if train else "t10k"
        img_path = self._find(f"{prefix}-images-idx3-ubyte")
        lbl_path = self._find(f"{prefix}-labels-idx1-ubyte")
        self.data: np.ndarray = read_idx(img_path, IMAGES_MAGIC)
        labels = read_idx(lbl_path, LABELS_MAGIC)
        if self.data.shape[1:] != (28, 28):
            raise CorruptFileError(img_path, f"images of shape {self.data.shape[1:]}, expected (28, 28)")
        if labels.shape[0] != self.data.shape[0]:
            raise CorruptFileError(lbl_path, f"{labels.shape[0]} labels for {self.data.shape[0]} images in {img_path}")
        if labels.size and labels.max() >= len(self.classes):
            raise CorruptFileError(lbl_path, f"label {labels.max()} out of range 0..{len(self.classes) - 1}")
        self.targets: np.ndarray = labels.astype(np.int64)
        self.files = (img_path, lbl_path)

    # -- files
    @property
    def raw_folder(self) -> Path:
        return self.root / self.folder / "raw"

    def _find(self, stem: str) -> Path:
        looked = []
        for d in (self.raw_folder, self.root / self.folder, self.root):
            for name in (stem, stem + ".gz"):
                p = d / name
                looked.append(str(p))
                if p.is_file():
                    return p
        hint = ""
        if stem.startswith("train-images"):
            hint = (f"\nThe training images are missing (the shared course data only has the official test "
                    f"set). Use {type(self).__name__}.split_test_set(root) to train on a seeded split of the "
                    f"10,000 test images (and say so), or pass download=True.")
        raise FileNotFoundError(f"{type(self).__name__}: {stem}[.gz] not found; looked for:\n  "
                                + "\n  ".join(looked) + hint)

    def download(self) -> None:
        """Fetch the four .gz files into ``root/<folder>/raw`` (md5-checked, atomic), trying each mirror;
        ``DownloadError`` when none delivers, ``ChecksumError`` when a file differs from the published md5."""
        for name, md5 in self.resources:
            if check_integrity(self.raw_folder / name, md5):
                continue
            errors = []
            for mirror in self.mirrors:
                try:
                    download_url(mirror + name, self.raw_folder, name, md5=md5)
                    break
                except (urllib.error.URLError, OSError) as e:
                    errors.append(f"{mirror}: {e}")
            else:
                raise DownloadError(f"could not download {name} from any mirror:\n  " + "\n  ".join(errors))

    # -- splits
    @classmethod
    def split_test_set(cls, root: str | os.PathLike, test_fraction: float = 0.2, *, seed: int = 0,
                       transform: Callable | None = None, test_transform: Callable | None = None
                       ) -> tuple[Subset, Subset]:
        """``(train, test)``: a seeded stratified split of the official *test* images (for data folders
        without the training images). ``test_transform`` defaults to ``transform``."""
        train_ds = cls(root, train=False, transform=transform)
        test_ds = train_ds if test_transform is None else cls(root, train=False, transform=test_transform)
        tr, te = stratified_split(train_ds.targets, test_fraction, seed=seed)
        return Subset(train_ds, tr), Subset(test_ds, te)

    def __repr__(self) -> str:
        split = "train" if self.train else "test"
        return f"{type(self).__name__}(split={split}, n={len(self)}, root={self.root})"


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST (same IDX layout, folder ``FashionMNIST``)."""

    folder = "FashionMNIST"
    mirrors = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
    resources = [("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
                 ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
                 ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
                 ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310")]
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot"]


class KMNIST(MNIST):
    """Kuzushiji-MNIST (cursive Japanese characters; folder ``KMNIST``), the course's OOD set for MNIST."""

    folder = "KMNIST"
    mirrors = ["http://codh.rois.ac.jp/kmnist/dataset/kmnist/"]
    resources = [("train-images-idx3-ubyte.gz", "bdb82020997e1d708af4cf47b453dcf7"),
                 ("train-labels-idx1-ubyte.gz", "e144d726b3acfaa3e44228e80efcd344"),
                 ("t10k-images-idx3-ubyte.gz", "5c965bf0a639b31b8f53240b1b52f4d7"),
                 ("t10k-labels-idx1-ubyte.gz", "7320c461ea6c1c855c0b718fb2a4b134")]
    classes = ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]
