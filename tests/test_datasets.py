"""Dataset readers: IDX (MNIST family), CIFAR-10 binary/python, ImageFolder, digits.

Synthetic files are written byte by byte from the formats' specifications (struct, not our
reader); the real-data tests need ``MINIDL_DATA`` (skipped otherwise) and check against the official
checksums, torchvision's own IDX reader, OpenCV's PNG decoder and scikit-learn's digits.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from minidl.data import (CIFAR10, KMNIST, MNIST, ChecksumError, CorruptFileError, DataLoader, ImageFolder,
                         load_digits, read_cifar_binary, read_cifar_python, read_idx, restricted_load,
                         stratified_split)
from minidl.data.datasets import cifar as cifar_mod

DATA = os.environ.get("MINIDL_DATA")
needs_data = pytest.mark.skipif(not DATA or not Path(DATA).is_dir(), reason="MINIDL_DATA not set (real data)")
TRUNCATED_KMNIST = "kmnist/kmnist-t10k-images-idx3-ubyte.TRUNCATED-first32768bytes.gz"


def _idx_bytes(arr: np.ndarray, type_code: int) -> bytes:
    """The IDX encoding of ``arr``: 0x0000, type byte, ndim byte, big-endian uint32 dims, big-endian data."""
    big = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}[type_code]
    header = struct.pack(">BBBB", 0, 0, type_code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(big).tobytes()


def _write_mnist(raw: Path, n: int = 12, prefix: str = "t10k", gz: bool = True, seed: int = 0) -> tuple:
    rng = np.random.default_rng(seed)
    imgs = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    raw.mkdir(parents=True, exist_ok=True)
    for stem, arr in ((f"{prefix}-images-idx3-ubyte", imgs), (f"{prefix}-labels-idx1-ubyte", labels)):
        data = _idx_bytes(arr, 0x08)
        if gz:
            (raw / f"{stem}.gz").write_bytes(gzip.compress(data))
        else:
            (raw / stem).write_bytes(data)
    return imgs, labels


# ============================================================================ IDX
@pytest.mark.parametrize("code, arr", [
    (0x08, np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)),
    (0x09, np.array([-128, -1, 0, 127], dtype=np.int8)),
    (0x0B, np.array([[-30000, 5], [7, 32000]], dtype=np.int16)),
    (0x0C, np.array([-2**31, 2**31 - 1, 12345], dtype=np.int32)),
    (0x0D, np.array([[1.5, -2.25e-3]], dtype=np.float32)),
    (0x0E, np.array([np.pi, -1e300], dtype=np.float64)),
])
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_all_types(tmp_path: Path, code: int, arr: np.ndarray, gz: bool) -> None:
    data = _idx_bytes(arr, code)
    path = tmp_path / ("f.idx.gz" if gz else "f.idx")
    path.write_bytes(gzip.compress(data) if gz else data)
    out = read_idx(path)
    assert out.shape == arr.shape and out.dtype == arr.dtype.newbyteorder("=")
    np.testing.assert_array_equal(out, arr)
    out[...] = 0  # a writable copy, not a view of the file's buffer


def test_read_idx_corrupt_files_name_the_file(tmp_path: Path) -> None:
    good = _idx_bytes(np.zeros((3, 28, 28), np.uint8), 0x08)
    cases = {
        "wrong_magic.idx": b"\x12\x34" + good[2:],                 # not 0x0000....
        "labels_as_images.idx": _idx_bytes(np.zeros(3, np.uint8), 0x08),  # 0x801 where 0x803 expected
        "truncated.idx": good[:-100],                              # payload shorter than declared
        "trailing.idx": good + b"\x00" * 5,                        # payload longer than declared
        "short_header.idx": good[:9],                              # cut inside the dims
        "tiny.idx": b"\x00\x00",
        "bad_type.idx": b"\x00\x00\x07\x01" + good[4:],
    }
    for name, data in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        with pytest.raises(CorruptFileError, match=name) as info:
            read_idx(p, expected_magic=0x00000803)
        assert isinstance(info.value, ValueError) and info.value.path == p
    gzp = tmp_path / "cut.gz"
    gzp.write_bytes(gzip.compress(good)[:-20])  # a gzip stream cut short
    with pytest.raises(CorruptFileError, match="cut.gz.*truncated gzip"):
        read_idx(gzp)
    with pytest.raises(FileNotFoundError, match="missing.idx"):
        read_idx(tmp_path / "missing.idx")


@needs_data
def test_real_truncated_kmnist_file_raises_naming_it(tmp_path: Path) -> None:
    path = Path(DATA) / TRUNCATED_KMNIST
    with pytest.raises(CorruptFileError, match="TRUNCATED-first32768bytes.gz") as info:
        read_idx(path)
    assert "truncated" in str(info.value)
    # the same bytes under KMNIST's official name in torchvision's layout
    raw = tmp_path / "KMNIST" / "raw"
    raw.mkdir(parents=True)
    shutil.copy(path, raw / "t10k-images-idx3-ubyte.gz")
    _write_mnist(tmp_path / "labels_only", n=10000)
    shutil.copy(tmp_path / "labels_only" / "t10k-labels-idx1-ubyte.gz", raw)
    with pytest.raises(CorruptFileError, match=r"KMNIST/raw/t10k-images-idx3-ubyte\.gz"):
        KMNIST(tmp_path, train=False)


# ============================================================================ MNIST class
def test_mnist_layout_and_errors(tmp_path: Path) -> None:
    imgs, labels = _write_mnist(tmp_path / "MNIST" / "raw", gz=False)
    ds = MNIST(tmp_path, train=False)
    assert len(ds) == 12 and ds.data.dtype == np.uint8 and ds.targets.dtype == np.int64
    np.testing.assert_array_equal(ds.data, imgs)
    np.testing.assert_array_equal(ds.targets, labels)
    img, y = ds[3]
    np.testing.assert_array_equal(img, imgs[3])
    assert y == labels[3] and isinstance(y, int)
    with pytest.raises(FileNotFoundError, match="(?s)train-images-idx3-ubyte.*split_test_set"):
        MNIST(tmp_path, train=True)
    # labels that do not match the images
    _write_mnist(tmp_path / "MNIST" / "raw", n=12, prefix="train")
    (tmp_path / "MNIST" / "raw" / "train-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(_idx_bytes(np.zeros(11, np.uint8), 0x08)))
    with pytest.raises(CorruptFileError, match="train-labels-idx1-ubyte.gz.*11 labels for 12 images"):
        MNIST(tmp_path, train=True)


def test_mnist_loader_fast_path(tmp_path: Path) -> None:
    imgs, labels = _write_mnist(tmp_path / "MNIST" / "raw", n=20)
    xb, yb = next(iter(DataLoader(MNIST(tmp_path, train=False), batch_size=8)))
    np.testing.assert_array_equal(xb.numpy(), imgs[:8])
    assert yb.dtype == np.int64
    np.testing.assert_array_equal(yb.numpy(), labels[:8])


@needs_data
def test_real_mnist_checksums_and_torchvision_reader(tmp_path: Path) -> None:
    from torchvision.datasets.mnist import read_image_file, read_label_file

    raw = Path(DATA) / "mnist" / "MNIST" / "raw"
    official = {  # md5 from the official distribution; sha256 from the data README
        "t10k-images-idx3-ubyte.gz": ("9fb629c4189551a2d022fa330f9573f3",
                                      "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
        "t10k-labels-idx1-ubyte.gz": ("ec29112dd5afa0611ce80d1b7f02629c",
                                      "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
        "train-labels-idx1-ubyte.gz": ("d53e105ee54ea40749a09fcbcd1e9432",
                                       "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
    }
    for name, (md5, sha) in official.items():
        data = (raw / name).read_bytes()
        assert hashlib.md5(data).hexdigest() == md5 and hashlib.sha256(data).hexdigest() == sha, name
    test = MNIST(Path(DATA) / "mnist", train=False)
    assert test.data.shape == (10000, 28, 28)
    # torchvision's reader wants uncompressed files: gunzip with the standard library
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (tmp_path / name).write_bytes(gzip.decompress((raw / f"{name}.gz").read_bytes()))
    np.testing.assert_array_equal(test.data, read_image_file(str(tmp_path / "t10k-images-idx3-ubyte")).numpy())
    np.testing.assert_array_equal(test.targets, read_label_file(str(tmp_path / "t10k-labels-idx1-ubyte")).numpy())
    # first labels of the official files (LeCun's test and training sets)
    assert test.targets[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    train_labels = read_idx(raw / "train-labels-idx1-ubyte.gz", 0x00000801)
    assert train_labels.shape == (60000,) and train_labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    with pytest.raises(FileNotFoundError, match="split_test_set"):
        MNIST(Path(DATA) / "mnist", train=True)
    tr, te = MNIST.split_test_set(Path(DATA) / "mnist", test_fraction=0.2, seed=0)
    assert len(tr) == 8000 and len(te) == 2000
    assert np.intersect1d(tr.indices, te.indices).size == 0
    counts = np.bincount(test.targets[te.indices], minlength=10)
    np.testing.assert_array_equal(counts, np.round(np.bincount(test.targets) * 0.2))  # stratified


# ============================================================================ CIFAR-10
def _cifar_records(n: int, seed: int) -> tuple[bytes, np.ndarray, np.ndarray]:
    """n records as the CIFAR-10 page specifies: label byte, then 1024 R, 1024 G, 1024 B bytes."""
    rng = np.random.default_rng(seed)
    imgs = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)  # HWC
    labels = rng.integers(0, 10, n)
    out = bytearray()
    for img, lab in zip(imgs, labels):
        out.append(int(lab))
        for c in range(3):
            out += bytes(img[:, :, c].ravel().tolist())
    return bytes(out), imgs, labels


def test_cifar_binary(tmp_path: Path) -> None:
    bindir = tmp_path / "cifar-10-batches-bin"
    bindir.mkdir()
    expect = {}
    for k, name in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
        data, imgs, labels = _cifar_records(3, seed=k)
        (bindir / f"{name}.bin").write_bytes(data)
        expect[name] = (imgs, labels)
    imgs, labels = read_cifar_binary(bindir / "test_batch.bin")
    np.testing.assert_array_equal(imgs, expect["test_batch"][0])
    np.testing.assert_array_equal(labels, expect["test_batch"][1])
    train = CIFAR10(tmp_path, train=True)
    assert len(train) == 15 and train.format == "binary" and train.data.shape == (15, 32, 32, 3)
    np.testing.assert_array_equal(train.data[3:6], expect["data_batch_2"][0])
    # a truncated batch and a bad label name the file
    (bindir / "data_batch_3.bin").write_bytes(expect_bytes := _cifar_records(2, 9)[0][:-1])
    assert len(expect_bytes) % 3073
    with pytest.raises(CorruptFileError, match=r"data_batch_3\.bin.*multiple of the 3073"):
        CIFAR10(tmp_path, train=True)
    bad = bytearray(_cifar_records(1, 0)[0])
    bad[0] = 10
    (bindir / "test_batch.bin").write_bytes(bytes(bad))
    with pytest.raises(CorruptFileError, match=r"test_batch\.bin.*label 10"):
        CIFAR10(tmp_path, train=False)
    with pytest.raises(FileNotFoundError, match="cifar-10-batches"):
        CIFAR10(tmp_path / "nowhere", train=False)


def _python_batch(n: int, seed: int) -> tuple[bytes, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    flat = rng.integers(0, 256, (n, 3072), dtype=np.uint8)  # rows: 1024 R, 1024 G, 1024 B
    labels = rng.integers(0, 10, n).tolist()
    d = {"batch_label": "testing batch 1 of 1", "labels": labels, "data": flat,
         "filenames": [f"img_{i}.png" for i in range(n)]}
    hwc = flat.reshape(n, 3, 32, 32).transpose(0, 2, 3, 1)
    return pickle.dumps(d, protocol=4), hwc, np.asarray(labels)


class _Boom:
    """Unpickling this would create ``marker`` (a stand-in for arbitrary code execution)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_cifar_python_checks_md5_before_unpickling(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pydir = tmp_path / "cifar-10-batches-py"
    pydir.mkdir()
    marker = tmp_path / "pwned"
    evil = pickle.dumps({"data": _Boom(str(marker)), "labels": []}, protocol=2)
    (pydir / "test_batch").write_bytes(evil)
    with pytest.raises(ChecksumError, match="test_batch.*refusing to unpickle"):
        CIFAR10(tmp_path, train=False)  # md5 differs from the official file: never unpickled
    assert not marker.exists()
    # even with a matching checksum, the restricted unpickler refuses the foreign global
    with pytest.raises(CorruptFileError, match="not allowed"):
        read_cifar_python(pydir / "test_batch", md5=hashlib.md5(evil).hexdigest())
    assert not marker.exists()
    with pytest.raises(pickle.UnpicklingError):
        restricted_load(pickle.dumps(os.system, protocol=2))
    # a well-formed batch whose md5 is registered as official loads (labels, HWC pixels)
    data, hwc, labels = _python_batch(4, seed=1)
    (pydir / "test_batch").write_bytes(data)
    monkeypatch.setitem(cifar_mod.PYTHON_MD5, "test_batch", hashlib.md5(data).hexdigest())
    ds = CIFAR10(tmp_path, train=False)
    assert ds.format == "python"
    np.testing.assert_array_equal(ds.data, hwc)
    np.testing.assert_array_equal(ds.targets, labels)


def test_official_cifar_python_md5s_are_torchvisions() -> None:
    from torchvision.datasets import CIFAR10 as TVCIFAR10

    assert dict(TVCIFAR10.train_list + TVCIFAR10.test_list) == cifar_mod.PYTHON_MD5


# ============================================================================ ImageFolder
def test_image_folder_synthetic(tmp_path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    written = {}
    for cls in ("zebra", "ant", "mole"):  # class order must be sorted, not creation order
        (tmp_path / "train" / cls).mkdir(parents=True)
        for k in range(3):
            arr = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
            p = tmp_path / "train" / cls / f"{k}.png"
            Image.fromarray(arr).save(p)
            written[str(p)] = arr
    (tmp_path / "train" / "ant" / "notes.txt").write_text("not an image")
    with pytest.raises(ValueError, match="split"):
        ImageFolder(tmp_path)  # holds train/, not classes
    ds = ImageFolder(tmp_path, split="train")
    assert ds.classes == ["ant", "mole", "zebra"] and len(ds) == 9
    assert ds.targets.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    for i, (path, t) in enumerate(ds.samples):
        img, y = ds[i]
        np.testing.assert_array_equal(img, written[path])  # PNG is lossless
        assert y == t
    gray = ImageFolder(tmp_path, split="train", mode="L")[0][0]
    assert gray.ndim == 2 and gray.dtype == np.uint8
    # an unreadable image: a clear error naming it, or skipped with a warning and a count
    bad = tmp_path / "train" / "mole" / "9.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    ds = ImageFolder(tmp_path, split="train")
    with pytest.raises(CorruptFileError, match="mole/9.png"):
        ds[ds.samples.index((str(bad), 1))]
    with pytest.warns(UserWarning, match="skipped 1 unreadable"):
        ok = ImageFolder(tmp_path, split="train", skip_bad=True)
    assert len(ok) == 9 and ok.n_skipped == 1 and ok.skipped == [str(bad)]
    with pytest.raises(FileNotFoundError):
        ImageFolder(tmp_path, split="test")


@needs_data
def test_real_cifar10_folder() -> None:
    import cv2

    ds = ImageFolder(Path(DATA) / "cifar10")
    assert len(ds) == 8000 and len(ds.classes) == 10
    assert ds.classes == ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    assert np.bincount(ds.targets).tolist() == [800] * 10
    for i in (0, 799, 800, 4321, 7999):  # decoded like OpenCV decodes them (BGR -> RGB)
        img, y = ds[i]
        ref = cv2.cvtColor(cv2.imread(ds.samples[i][0], cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        assert img.shape == (32, 32, 3) and img.dtype == np.uint8 and y == i // 800
        np.testing.assert_array_equal(img, ref)
    tr, te = stratified_split(ds.targets, 0.2, seed=0)
    assert np.bincount(ds.targets[te]).tolist() == [160] * 10 and len(tr) == 6400


@needs_data
def test_real_15scene_split_folder() -> None:
    root = Path(DATA) / "15scene"
    assert ImageFolder.splits(root) == ["train"]
    ds = ImageFolder(root, split="train", mode="L")
    assert len(ds) == 1500 and len(ds.classes) == 15
    assert np.bincount(ds.targets).tolist() == [100] * 15
    img, _ = ds[0]
    assert img.ndim == 2 and img.dtype == np.uint8 and min(img.shape) >= 200


# ============================================================================ digits
def test_load_digits_matches_sklearn() -> None:
    from sklearn.datasets import load_digits as sk

    X, y = load_digits()
    ref = sk()
    assert X.shape == (1797, 1, 8, 8) and X.dtype == np.float32 and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_array_equal(X[:, 0] * 16, ref.images)
    np.testing.assert_array_equal(y, ref.target)
    ds = load_digits(as_dataset=True)
    assert len(ds) == 1797
