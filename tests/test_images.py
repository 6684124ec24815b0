"""Image folders, grayscale reading, corrupt files, the generated scenes, the real 15-Scene folder."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from PIL import Image

from classical.images import (
    SCENE_CLASSES,
    UnreadableImageError,
    load_image_folder,
    make_scenes,
    read_gray,
    read_images,
    stratified_split,
    to_gray,
)


def _save(path: Path, array: np.ndarray, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **kw)
    return path


def _gray(seed: int, shape: tuple[int, int] = (20, 30)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


# ---------------------------------------------------------------------------------------------
# Reading one image
# ---------------------------------------------------------------------------------------------
def test_read_gray_png_is_exact(tmp_path: Path) -> None:
    a = _gray(0)
    img = read_gray(_save(tmp_path / "a.png", a))
    assert img.dtype == np.float64 and img.shape == (20, 30)
    assert_array_equal(img, a.astype(np.float64))


def test_colour_to_gray_uses_the_course_weights(tmp_path: Path) -> None:
    rgb = np.random.default_rng(1).integers(0, 256, (12, 17, 3), dtype=np.uint8)
    r, g, b = (rgb[..., c].astype(np.float64) for c in range(3))
    expected = 0.2 * r + 0.7 * g + 0.1 * b
    assert_allclose(read_gray(_save(tmp_path / "c.png", rgb)), expected, rtol=0, atol=1e-12)
    assert_allclose(to_gray(rgb), expected, rtol=0, atol=1e-12)
    # not OpenCV/ITU-R 601 luma (0.299, 0.587, 0.114)
    assert not np.allclose(expected, 0.299 * r + 0.587 * g + 0.114 * b)
    # RGBA: alpha ignored; palette: through RGB
    rgba = np.concatenate([rgb, np.full((12, 17, 1), 7, np.uint8)], axis=2)
    assert_allclose(read_gray(_save(tmp_path / "c4.png", rgba)), expected, rtol=0, atol=1e-12)
    pal = Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    pal.save(tmp_path / "p.png")
    via_rgb = np.asarray(pal.convert("RGB")).astype(np.float64)
    assert_allclose(read_gray(tmp_path / "p.png"), 0.2 * via_rgb[..., 0] + 0.7 * via_rgb[..., 1]
                    + 0.1 * via_rgb[..., 2], rtol=0, atol=1e-12)


def test_16_bit_gray_is_rescaled_to_255(tmp_path: Path) -> None:
    a16 = np.array([[0, 65535], [257, 32896]], dtype=np.uint16)
    img = read_gray(_save(tmp_path / "x.png", a16))
    assert_allclose(img, [[0, 255], [1, 128]], rtol=0, atol=1e-12)


def test_to_gray_shapes() -> None:
    assert to_gray(np.ones((3, 4, 1))).shape == (3, 4)
    with pytest.raises(ValueError, match=r"\(3, 4, 2\)"):
        to_gray(np.ones((3, 4, 2)))


def test_missing_file_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.jpg"):
        read_gray(tmp_path / "nope.jpg")


def _corrupt_files(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    garbage = folder / "garbage.jpg"
    garbage.write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG" * 3)
    good = folder / "good.jpg"
    Image.fromarray(_gray(3, (64, 64))).save(good, quality=90)
    truncated = folder / "truncated.jpg"
    data = good.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    text = folder / "notes.png"
    text.write_text("hello")
    return [garbage, truncated, text]


def test_corrupt_and_truncated_files_raise_naming_the_file(tmp_path: Path) -> None:
    for bad in _corrupt_files(tmp_path):
        with pytest.raises(UnreadableImageError, match=bad.name):
            read_gray(bad)
        with pytest.raises(OSError):  # UnreadableImageError is an OSError, like PIL's errors
            read_gray(bad)


def test_read_images_skips_and_reports_bad_files(tmp_path: Path) -> None:
    bad = _corrupt_files(tmp_path)
    good = [_save(tmp_path / f"g{i}.png", _gray(i)) for i in range(3)]
    paths = [good[0], bad[0], good[1], tmp_path / "missing.png", bad[1], good[2], bad[2]]
    with pytest.warns(UserWarning) as record:
        images, kept, skipped = read_images([str(p) for p in paths])
    messages = [str(w.message) for w in record]
    assert_array_equal(kept, [0, 2, 5])
    assert len(images) == 3
    assert_array_equal(images[1], _gray(1).astype(np.float64))
    assert skipped == [str(paths[i]) for i in (1, 3, 4, 6)]
    for p in skipped:  # each bad path named in a warning
        assert any(p in m for m in messages)
    assert any("skipped 4 of 7" in m for m in messages)


def test_read_images_all_good_is_silent(tmp_path: Path) -> None:
    paths = [_save(tmp_path / f"g{i}.png", _gray(i)) for i in range(2)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        images, kept, skipped = read_images(paths)
    assert len(images) == 2 and skipped == [] and kept.dtype == np.int64


# ---------------------------------------------------------------------------------------------
# Folders
# ---------------------------------------------------------------------------------------------
def _make_folder(root: Path, counts: dict[str, int], ext: str = ".png") -> None:
    for c, n in counts.items():
        for i in range(n):
            _save(root / c / f"img_{i:03d}{ext}", _gray(i, (8, 8)))


def test_train_test_layout(tmp_path: Path) -> None:
    _make_folder(tmp_path / "train", {"b_coast": 3, "a_forest": 2})
    _make_folder(tmp_path / "test", {"b_coast": 1, "a_forest": 2})
    (tmp_path / "train" / "a_forest" / "README.txt").write_text("not an image")
    (tmp_path / "train" / "a_forest" / ".hidden.png").write_bytes(b"")
    tr_p, tr_y, te_p, te_y, classes = load_image_folder(tmp_path)
    assert classes == ["a_forest", "b_coast"]  # sorted folder names
    assert_array_equal(tr_y, [0, 0, 1, 1, 1])
    assert_array_equal(te_y, [0, 0, 1])
    assert all(Path(p).parent.parent.name == "train" for p in tr_p)
    assert Path(tr_p[0]).name == "img_000.png" and len(te_p) == 3
    assert load_image_folder(tmp_path, "folders")[0] == tr_p


def test_single_folder_seeded_stratified_split(tmp_path: Path) -> None:
    _make_folder(tmp_path, {"x": 10, "y": 20, "z": 5})
    tr_p, tr_y, te_p, te_y, classes = load_image_folder(tmp_path, test_fraction=0.2, seed=3)
    assert classes == ["x", "y", "z"]
    assert np.bincount(te_y).tolist() == [2, 4, 1]  # round(n_c * 0.2) per class
    assert np.bincount(tr_y).tolist() == [8, 16, 4]
    assert not set(tr_p) & set(te_p)
    assert sorted(tr_p + te_p) == sorted(str(p) for p in tmp_path.glob("*/*.png"))
    for p, y in zip(tr_p + te_p, np.concatenate([tr_y, te_y])):
        assert Path(p).parent.name == classes[y]
    again = load_image_folder(tmp_path, test_fraction=0.2, seed=3)
    other = load_image_folder(tmp_path, test_fraction=0.2, seed=4)
    assert again[2] == te_p and other[2] != te_p
    everything = load_image_folder(tmp_path, test_fraction=0.0)
    assert len(everything[0]) == 35 and everything[2] == []


def test_stratified_split_edge_cases() -> None:
    labels = np.array([0] * 7 + [1] * 2 + [2])
    tr, te = stratified_split(labels, 0.3, seed=0)
    assert np.bincount(labels[te], minlength=3).tolist() == [2, 1, 0]  # round(2.1), at least 1, a singleton stays
    assert sorted(np.concatenate([tr, te]).tolist()) == list(range(10))
    assert tr.dtype == np.int64 and (np.diff(tr) > 0).all()
    tr, te = stratified_split(labels, 0.0)
    assert te.size == 0 and tr.size == 10
    with pytest.raises(ValueError):
        stratified_split(labels, -0.1)


def test_train_folder_alone_is_split(tmp_path: Path) -> None:
    _make_folder(tmp_path / "train", {"a": 4, "b": 4})
    tr_p, _, te_p, te_y, _ = load_image_folder(tmp_path, test_fraction=0.25)
    assert len(tr_p) == 6 and np.bincount(te_y).tolist() == [1, 1]
    assert all("/train/" in p.replace(os.sep, "/") for p in tr_p + te_p)
    with pytest.raises(FileNotFoundError, match="test"):
        load_image_folder(tmp_path, "folders")


def test_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing"):
        load_image_folder(tmp_path / "missing")
    (tmp_path / "empty_root").mkdir()
    with pytest.raises(ValueError, match="no class sub-folders"):
        load_image_folder(tmp_path / "empty_root")
    _make_folder(tmp_path / "d", {"a": 2})
    (tmp_path / "d" / "b").mkdir()
    with pytest.raises(ValueError, match=r"b.*no image"):
        load_image_folder(tmp_path / "d")
    _make_folder(tmp_path / "e" / "train", {"a": 2})
    _make_folder(tmp_path / "e" / "test", {"a": 1, "zzz": 1})
    with pytest.raises(ValueError, match="zzz"):
        load_image_folder(tmp_path / "e")
    with pytest.raises(ValueError, match="split"):
        load_image_folder(tmp_path / "d", "bogus")
    with pytest.raises(ValueError, match="test_fraction"):
        load_image_folder(tmp_path / "e" / "train", test_fraction=1.0)


def test_corrupt_image_in_a_folder_is_listed_then_skipped(tmp_path: Path) -> None:
    _make_folder(tmp_path / "train", {"a": 2, "b": 2}, ext=".jpg")
    bad = tmp_path / "train" / "b" / "img_999.jpg"
    bad.write_bytes(b"\xff\xd8 broken")
    tr_p, tr_y, *_ = load_image_folder(tmp_path, test_fraction=0.0)
    assert str(bad) in tr_p
    with pytest.warns(UserWarning) as record:
        images, kept, skipped = read_images(tr_p)
    assert [str(w.message).split(":")[0] for w in record] == [f"skipping {bad}", "read_images"]
    assert skipped == [str(bad)] and len(images) == 4
    assert_array_equal(tr_y[kept], [0, 0, 1, 1])


# ---------------------------------------------------------------------------------------------
# Generated scenes
# ---------------------------------------------------------------------------------------------
def test_make_scenes() -> None:
    images, labels, names = make_scenes(3, size=40, seed=0)
    assert names == list(SCENE_CLASSES) and len(images) == 3 * len(SCENE_CLASSES)
    assert_array_equal(labels, np.repeat(np.arange(len(SCENE_CLASSES)), 3))
    for img in images:
        assert img.shape == (40, 40) and img.dtype == np.float64
        assert img.min() >= 0 and img.max() <= 255 and img.std() > 5
    again, _, _ = make_scenes(3, size=40, seed=0)
    other, _, _ = make_scenes(3, size=40, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(images, again))
    assert not np.array_equal(images[0], other[0])
    few, y, n = make_scenes(2, size=16, n_classes=3)
    assert n == list(SCENE_CLASSES[:3]) and len(few) == 6 and y.max() == 2
    with pytest.raises(ValueError):
        make_scenes(2, n_classes=len(SCENE_CLASSES) + 1)
    with pytest.raises(ValueError):
        make_scenes(0)


def test_scene_classes_have_distinct_orientation_statistics() -> None:
    """Stripes concentrate their SIFT energy on one gradient axis, noise spreads it (what BoW sees)."""
    from classical.sift import dense_sift

    images, labels, names = make_scenes(4, size=64, seed=0)

    def axis_share(img: np.ndarray, k: int) -> float:
        e = dense_sift(img)[0][1:-1, 1:-1].reshape(-1, 16, 8).sum(axis=(0, 1))
        return float((e[k] + e[(k + 4) % 8]) / e.sum())

    share = {n: np.mean([axis_share(im, {"horizontal_stripes": 0, "vertical_stripes": 6}.get(n, 0))
                         for im, y in zip(images, labels) if names[y] == n]) for n in names}
    assert share["horizontal_stripes"] > 0.6  # gradient along y: bins 0 / 4
    assert share["vertical_stripes"] > 0.6  # gradient along x: bins 6 / 2
    assert share["fine_noise"] < 0.4


# ---------------------------------------------------------------------------------------------
# The real 15-Scene training split
# ---------------------------------------------------------------------------------------------
def _real_15scene() -> Path:
    d = os.environ.get("MINIDL_DATA")
    if not d or not (Path(d) / "15scene").is_dir():
        pytest.skip("MINIDL_DATA unset or without 15scene/")
    return Path(d) / "15scene"


def test_real_15scene_reads_1500_images_in_15_classes() -> None:
    root = _real_15scene()
    tr_p, tr_y, te_p, te_y, classes = load_image_folder(root, test_fraction=0.0)
    assert len(classes) == 15 and classes == sorted(classes) and "coast" in classes
    assert len(tr_p) == 1500 and te_p == []
    assert np.bincount(tr_y).tolist() == [100] * 15
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no file of the real set may be skipped
        images, kept, skipped = read_images(tr_p, progress=False)
    assert len(images) == 1500 and skipped == []
    shapes = np.array([im.shape for im in images])
    assert shapes.min() >= 200 and shapes.max() <= 552
    assert all(im.min() >= 0 and im.max() <= 255 for im in images)
    split = load_image_folder(root, test_fraction=0.2, seed=0)
    assert len(split[0]) == 1200 and np.bincount(split[3]).tolist() == [20] * 15
