"""CIFAR-10 from its official distributions: the binary version (preferred) or the python version.

**Binary** (``cifar-10-batches-bin/``: ``data_batch_1.bin`` .. ``data_batch_5.bin``, ``test_batch.bin``):
fixed-size records of 1 + 3072 bytes: the label (0..9), then the 32x32 red plane, green plane and
blue plane, row-major. No code runs to read it; a file whose size is not a multiple of 3073 (or
with a label > 9) raises ``CorruptFileError`` naming it.

**Python** (``cifar-10-batches-py/``: ``data_batch_1`` .. ``data_batch_5``, ``test_batch``): each batch
is a *pickle* (a dict with ``data`` (10000, 3072) uint8 and ``labels``). Unpickling runs whatever
the file says, so this reader
1. first checks the file's MD5 against the official checksum of that exact batch, and refuses
   (``ChecksumError``) anything else: a modified file is never unpickled;
2. then unpickles with ``restricted_load``, whose ``find_class`` only resolves the three globals a
   NumPy array needs (``numpy.ndarray``, ``numpy.dtype`` and the ``_reconstruct`` helper); any
   other global (``os.system``, ``builtins.eval``...) raises ``pickle.UnpicklingError``. dicts,
   lists, strings, bytes and ints need no global, so nothing else is allowed;
3. checks the result's keys, shapes, dtype and label range.
"""
from __future__ import annotations

import io
import os
import pickle
import urllib.error
from pathlib import Path
from typing import Any, Callable

import numpy as np

from minidl.data._files import CorruptFileError, check_integrity, file_hash
from minidl.data.dataset import ImageArrayDataset
from minidl.data.download import ChecksumError, DownloadError, download_url, extract_archive

RECORD = 1 + 3 * 32 * 32
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
BINARY_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
BINARY_TGZ_MD5 = "c32a1d4ab5d03f1284b67883e8d87530"
# Official MD5 of each file of cifar-10-python.tar.gz (the same values torchvision checks).
PYTHON_MD5 = {"data_batch_1": "c99cafc152244af753f735de768cd75f",
              "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
              "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
              "data_batch_4": "634d18415352ddfa80567beed471001a",
              "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
              "test_batch": "40351d587109b95175f43aff81a1287e"}

# NumPy's array-rebuilding helper, wherever this NumPy version keeps it (numpy.core / numpy._core):
# an ndarray's own __reduce__ names it.
_RECONSTRUCT = np.zeros(0).__reduce__()[0]
_ALLOWED_GLOBALS = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return _ALLOWED_GLOBALS[(module, name)]
        if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name == "_reconstruct":
            return _RECONSTRUCT
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR batch")


def restricted_load(data: bytes, encoding: str = "latin1") -> Any:
    """Unpickle ``data`` allowing only builtin containers/scalars and NumPy arrays (no other globals).

    ``encoding="latin1"`` decodes the Python 2 strings of the official batches (and lets NumPy read
    their raw array bytes). Raises ``pickle.UnpicklingError`` on any forbidden global.
    """
    return _RestrictedUnpickler(io.BytesIO(data), encoding=encoding).load()


def read_cifar_binary(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """One binary batch -> ``(images (n, 32, 32, 3) uint8 HWC, labels (n,) int64)``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CIFAR-10 batch not found: {path}")
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % RECORD:
        raise CorruptFileError(path, f"size {raw.size:,} bytes is not a positive multiple of the {RECORD}-byte "
                                     f"CIFAR-10 record (1 label byte + 3072 pixel bytes): truncated or not a "
                                     f"CIFAR-10 binary batch")
    rec = raw.reshape(-1, RECORD)
    labels = rec[:, 0].astype(np.int64)
    if labels.max() > 9:
        raise CorruptFileError(path, f"label {labels.max()} > 9 in record {int(labels.argmax())}")
    images = rec[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def read_cifar_python(path: str | os.PathLike, md5: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One python batch -> ``(images (n, 32, 32, 3) uint8 HWC, labels (n,) int64)``, md5-checked first.

    ``md5`` defaults to the official checksum of the file's name (``PYTHON_MD5``); a file with an
    unknown name or another checksum is refused without being unpickled.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CIFAR-10 batch not found: {path}")
    want = md5 or PYTHON_MD5.get(path.name)
    if want is None:
        raise ChecksumError(path, f"no official checksum known for {path.name!r}; refusing to unpickle it")
    got = file_hash(path, "md5")
    if got != want:
        raise ChecksumError(path, f"md5 {got} differs from the official {want}; refusing to unpickle it "
                                  f"(prefer the binary version, cifar-10-batches-bin)")
    try:
        d = restricted_load(path.read_bytes())
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as e:
        raise CorruptFileError(path, f"not a readable CIFAR-10 python batch ({e})") from e
    if not isinstance(d, dict) or "data" not in d or "labels" not in d:
        raise CorruptFileError(path, "expected a dict with 'data' and 'labels'")
    data, labels = d["data"], np.asarray(d["labels"], dtype=np.int64)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise CorruptFileError(path, f"'data' should be (n, 3072) uint8, got {getattr(data, 'shape', type(data))}")
    if labels.shape != (data.shape[0],) or labels.min() < 0 or labels.max() > 9:
        raise CorruptFileError(path, f"'labels' should be {data.shape[0]} values in 0..9")
    return np.ascontiguousarray(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)), labels


class CIFAR10(ImageArrayDataset):
    """CIFAR-10: ``data (N, 32, 32, 3) uint8`` (HWC, as torchvision), ``targets (N,) int64``.

    Looks in ``root/cifar-10-batches-bin`` first, then ``root/cifar-10-batches-py`` (md5-checked,
    restricted unpickling). A sample is ``(img (32, 32, 3) uint8, label)``; compose ``ToTensor()``
    for ``(3, 32, 32)`` float32. ``download=True`` fetches the official *binary* archive (md5-checked).
    """

    classes = CLASSES
    url = BINARY_URL  # the official archive (tests point it at a file:// copy)
    train_names = [f"data_batch_{k}" for k in range(1, 6)]
    test_names = ["test_batch"]

    def __init__(self, root: str | os.PathLike, train: bool = True, transform: Callable | None = None,
                 target_transform: Callable | None = None, download: bool = False) -> None:
        super().__init__(root, train, transform, target_transform, download)
        names = self.train_names if train else self.test_names
        bin_dir, py_dir = self.root / "cifar-10-batches-bin", self.root / "cifar-10-batches-py"
        if all((bin_dir / f"{n}.bin").is_file() for n in names):
            parts = [read_cifar_binary(bin_dir / f"{n}.bin") for n in names]
            self.format = "binary"
        elif all((py_dir / n).is_file() for n in names):
            parts = [read_cifar_python(py_dir / n) for n in names]
            self.format = "python"
        else:
            raise FileNotFoundError(f"CIFAR-10 {'training' if train else 'test'} batches not found: looked for "
                                    f"{bin_dir}/{names[0]}.bin... and {py_dir}/{names[0]}... "
                                    "(pass download=True, or use ImageFolder for a folder of PNGs)")
        self.data: np.ndarray = np.concatenate([p[0] for p in parts])
        self.targets: np.ndarray = np.concatenate([p[1] for p in parts])

    def download(self) -> None:
        if all((self.root / "cifar-10-batches-bin" / f"{n}.bin").is_file()
               for n in self.train_names + self.test_names):
            return
        tgz = self.root / "cifar-10-binary.tar.gz"
        if not check_integrity(tgz, BINARY_TGZ_MD5):
            try:
                download_url(self.url, self.root, tgz.name, md5=BINARY_TGZ_MD5)
            except (urllib.error.URLError, OSError) as e:  # ChecksumError is a ValueError: it passes
                raise DownloadError(f"could not download {self.url}: {e}") from e
        extract_archive(tgz, self.root)

    def __repr__(self) -> str:
        return f"CIFAR10(split={'train' if self.train else 'test'}, n={len(self)}, format={self.format})"
