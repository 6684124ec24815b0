"""MNIST-M data (synthesis, cache, the real folder and its bad inputs) and the dann chapter's quick run."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from examples._runner import UserError
from minidl.data import CorruptFileError
from minidl.data.datasets import (MNISTM, load_backgrounds, read_mnistm_labels, synthesize_mnistm,
                                  synthesize_mnistm_cached, texture_backgrounds)

DATA = os.environ.get("MINIDL_DATA")


# --------------------------------------------------------------------------- synthesis
def test_synthesis_is_abs_of_patch_minus_binarised_digit() -> None:
    rng = np.random.default_rng(0)
    digits = (rng.random((5, 6, 6)) * 255).astype(np.uint8)
    digits[:, :2] = 0                                        # some background pixels
    bg = rng.integers(0, 256, size=(9, 11, 3), dtype=np.uint8)
    out = synthesize_mnistm(digits, [bg], seed=3, threshold=100)
    assert out.shape == (5, 6, 6, 3) and out.dtype == np.uint8
    ink = digits > 100
    for img, d in zip(out, ink):
        # find the crop this image came from: the only one that explains every pixel
        matches = [(t, l) for t in range(9 - 6 + 1) for l in range(11 - 6 + 1)
                   if np.array_equal(img, np.abs(bg[t:t + 6, l:l + 6].astype(int) - 255 * d[:, :, None]))]
        assert len(matches) >= 1


def test_synthesis_is_seeded_and_checks_shapes() -> None:
    digits = np.zeros((4, 5, 5), np.uint8)
    bgs = texture_backgrounds(3, size=16, seed=0)
    a, b = synthesize_mnistm(digits, bgs, seed=1), synthesize_mnistm(digits, bgs, seed=1)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, synthesize_mnistm(digits, bgs, seed=2))
    with pytest.raises(ValueError, match=r"background 0 has shape \(4, 4, 3\)"):
        synthesize_mnistm(digits, [np.zeros((4, 4, 3), np.uint8)])
    with pytest.raises(ValueError, match="no background"):
        synthesize_mnistm(digits, [])
    with pytest.raises(ValueError, match=r"\(N, H, W\) uint8"):
        synthesize_mnistm(digits.astype(np.float32), bgs)


def test_synthesis_cache_hits_and_recovers_from_a_corrupt_file(tmp_path: Path) -> None:
    digits = (np.random.default_rng(0).random((6, 5, 5)) * 255).astype(np.uint8)
    bgs = texture_backgrounds(2, size=12, seed=0)
    first, path, hit = synthesize_mnistm_cached(digits, bgs, tmp_path, seed=0)
    assert not hit and path.is_file() and not list(tmp_path.glob("*.tmp*"))
    again, path2, hit2 = synthesize_mnistm_cached(digits, bgs, tmp_path, seed=0)
    assert hit2 and path2 == path
    np.testing.assert_array_equal(first, again)
    assert synthesize_mnistm_cached(digits, bgs, tmp_path, seed=1)[1] != path    # the seed is in the key
    path.write_bytes(b"PK\x03\x04 not a zip")
    with pytest.warns(UserWarning, match="unreadable MNIST-M cache"):
        redo, _, hit3 = synthesize_mnistm_cached(digits, bgs, tmp_path, seed=0)
    assert not hit3
    np.testing.assert_array_equal(redo, first)


def test_backgrounds_folder_errors_name_the_folder_or_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such folder"):
        load_backgrounds(tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match=f"no .* images in {tmp_path}"):
        load_backgrounds(tmp_path)
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8 truncated")
    with pytest.raises(CorruptFileError, match="bad.jpg"):
        load_backgrounds(tmp_path)


# --------------------------------------------------------------------------- the real MNIST-M folder
def _folder(root: Path, sizes: list[int], labels: list[str]) -> Path:
    (root / "images").mkdir(parents=True)
    for i, s in enumerate(sizes):
        Image.fromarray(np.full((s, s, 3), 10 * i, np.uint8)).save(root / "images" / f"{i:05d}.png")
    (root / "labels.txt").write_text("".join(f"{i:05d}.png {lab}\n" for i, lab in enumerate(labels)))
    return root


def test_mnistm_folder_reads_images_and_labels(tmp_path: Path) -> None:
    ds = MNISTM(_folder(tmp_path, [8, 8, 8], ["3", "0", "9"]))
    assert len(ds) == 3 and ds.data.shape == (3, 8, 8, 3)
    np.testing.assert_array_equal(ds.targets, [3, 0, 9])
    img, label = ds[2]
    assert label == 9 and img[0, 0, 0] == 20


def test_mnistm_bad_inputs_are_named(tmp_path: Path) -> None:
    with pytest.raises(CorruptFileError, match=r"line 2: label 12 of 00001.png is out of range"):
        MNISTM(_folder(tmp_path / "a", [8, 8], ["1", "12"]))
    root = _folder(tmp_path / "b", [8, 8], ["1", "2"])
    (root / "images" / "00001.png").unlink()
    with pytest.raises(FileNotFoundError, match="missing .* 00001.png"):
        MNISTM(root)
    root = _folder(tmp_path / "c", [8, 8], ["1", "2"])
    (root / "labels.txt").write_text("00000.png 1\n")
    with pytest.raises(FileNotFoundError, match="no label .* 00001.png"):
        MNISTM(root)
    with pytest.raises(CorruptFileError, match=r"00001.png: image of shape \(9, 9, 3\)"):
        MNISTM(_folder(tmp_path / "d", [8, 9], ["1", "2"]))
    root = _folder(tmp_path / "e", [8, 8], ["1", "2"])
    (root / "images" / "00001.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(CorruptFileError, match="00001.png"):
        MNISTM(root)
    with pytest.raises(CorruptFileError, match="expected '<file> <digit>'"):
        (tmp_path / "l.txt").write_text("a.png\n")
        read_mnistm_labels(tmp_path / "l.txt")
    root = _folder(tmp_path / "f", [8], ["1"])
    (root / "labels.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"label file not found: .*f/labels.txt"):
        MNISTM(root)


@pytest.mark.skipif(not DATA, reason="needs the real MNIST-M folder: set MINIDL_DATA (CI sets ../shared/data)")
def test_real_mnistm_folder() -> None:
    ds = MNISTM(Path(DATA) / "mnist_m")
    assert ds.data.shape == (4500, 32, 32, 3) and set(np.unique(ds.targets)) == set(range(10))


# --------------------------------------------------------------------------- the chapter
def test_mismatched_domains_are_a_user_error() -> None:
    from examples.dann import check_domains
    with pytest.raises(UserError, match=r"\(3, 28, 28\) .* \(3, 32, 32\)"):
        check_domains(np.zeros((2, 3, 28, 28)), np.zeros((2, 3, 32, 32)))


def test_dann_quick_run_writes_metrics_and_figures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from examples import dann
    monkeypatch.chdir(tmp_path)                              # the synthesis cache goes to runs/.cache here
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        m = dann.main(["--quick", "--out", "out", "--steps", "30", "--tsne-points", "40"])
    for key in ("data", "test_accuracy", "source_test_accuracy", "naive_target_accuracy", "dann_target_accuracy",
                "domain_accuracy_final"):
        assert key in m
    assert m["test_accuracy"] == m["dann_target_accuracy"]
    assert {p.name for p in (tmp_path / "out").glob("*.png")} == {"samples.png", "curves.png", "tsne.png"}
    assert list((tmp_path / "runs" / ".cache").glob("mnistm_*.npz"))
    with pytest.raises(UserError, match="--steps"):
        dann.main(["--quick", "--out", "out", "--steps", "0"])


def test_digits_behind_real_mnistm_are_read_from_the_file_numbers() -> None:
    from examples.dann import digits_behind
    np.testing.assert_array_equal(digits_behind([Path("a/00000007.png"), Path("b/00000002.png")], 10), [7, 2])
    assert digits_behind([Path("img_7.png")], 10) is None           # not numbered: cannot tell
    assert digits_behind([Path("00000012.png")], 10) is None         # beyond the MNIST test set


@pytest.mark.skipif(not DATA, reason="needs MNIST and the real MNIST-M folder: set MINIDL_DATA (CI: ../shared/data)")
def test_no_training_digit_is_behind_a_real_mnistm_test_image(tmp_path: Path) -> None:
    """The real MNIST-M images are MNIST test digits over BSDS patches (image k: digit k), and the source
    here is a split of the MNIST test set: the chapter must train on none of the digits under them."""
    import argparse

    from examples.dann import load_domains
    from minidl.data import MNIST
    real = MNISTM(Path(DATA) / "mnist_m")
    mnist = MNIST(Path(DATA) / "mnist", train=False)
    # the premise, checked independently of the chapter: labels agree, and image k's ink edges line up
    # with digit k's (padded by 2) far better than with the next digit's
    assert np.array_equal(real.targets, mnist.targets[:len(real)])

    def edges(a: np.ndarray) -> np.ndarray:
        gy, gx = np.gradient(a.astype(np.float64), axis=(-2, -1))
        e = np.hypot(gx, gy).reshape(len(a), -1)
        e -= e.mean(axis=1, keepdims=True)
        return e / np.linalg.norm(e, axis=1, keepdims=True)
    k = np.arange(50)
    r, d, other = edges(real.data[k, 2:30, 2:30].mean(-1)), edges(mnist.data[k] > 0), edges(mnist.data[k + 1] > 0)
    assert np.median((r * d).sum(1)) > 2 * np.median((r * other).sum(1))
    args = argparse.Namespace(quick=False, data_dir=DATA, download=False, seed=0, mnistm_dir=None, bsds_dir=None)
    d = load_domains(args, tmp_path)
    assert len(d.Xt_real) == len(real) and not np.isin(d.train_digits, np.arange(len(real))).any()
    assert len(d.train_digits) == len(d.Xs) == len(d.Xt) > 4000


def test_the_official_training_images_are_the_source_when_present(tmp_path: Path) -> None:
    """With MNIST's training images on disk the source is a 55/60 : 5/60 split of them (as the paper), and
    the test digits (under the real MNIST-M images) play no part."""
    import argparse

    from examples.dann import load_domains

    def idx(arr: np.ndarray, magic: int) -> bytes:
        return magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in arr.shape) + arr.tobytes()
    rng = np.random.default_rng(0)
    raw = tmp_path / "mnist" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for split, n in (("train", 120), ("t10k", 20)):
        labels = np.arange(n, dtype=np.uint8) % 10
        (raw / f"{split}-images-idx3-ubyte").write_bytes(idx(rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), 2051))
        (raw / f"{split}-labels-idx1-ubyte").write_bytes(idx(labels, 2049))
    _folder(tmp_path / "mnist_m", [32, 32, 32], ["0", "1", "2"])
    (tmp_path / "bsds").mkdir()
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(tmp_path / "bsds" / f"{i}.jpg")
    args = argparse.Namespace(quick=False, data_dir=str(tmp_path), download=False, seed=0, mnistm_dir=None,
                              bsds_dir=str(tmp_path / "bsds"))
    d = load_domains(args, tmp_path / "cache")
    assert "official training images (110 train / 10 held out)" in d.description
    assert len(d.Xs) == len(d.Xt) == 110 and len(d.Xs_test) == 10 and len(d.Xt_real) == 3
    assert d.train_digits.max() < 120 and set(np.unique(d.ys)) == set(range(10))
    # the source is the binarised digit in 3 channels, minus the per-channel mean of both training domains
    assert len(np.unique(d.Xs[:, 0])) == 2 and np.allclose(np.concatenate([d.Xs, d.Xt]).mean(axis=(0, 2, 3)), 0,
                                                           atol=1e-5)
