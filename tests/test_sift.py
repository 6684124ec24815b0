"""Dense SIFT edge cases: flat regions, tiny images, bad input, the scikit-learn estimator, figures."""
from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from classical.sift import DenseSIFT, dense_sift, dense_sift_many, grid_positions, sift_patch

ROOT = Path(__file__).resolve().parents[1]


def _texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (h, w))


# ---------------------------------------------------------------------------------------------
# Flat regions and the padding border
# ---------------------------------------------------------------------------------------------
def test_flat_region_gives_zero_descriptors_inside_and_texture_does_not() -> None:
    img = _texture(96, 96)
    img[16:80, 16:80] = 120.0  # a flat 64 x 64 square
    desc, pos = dense_sift(img)
    # patches lying (with their 1-px Sobel halo) entirely inside the flat square
    inside = ((pos[..., 0] >= 17) & (pos[..., 0] + 16 <= 79) & (pos[..., 1] >= 17) & (pos[..., 1] + 16 <= 79))
    assert inside.sum() == 36
    assert not desc[inside].any()
    assert (np.linalg.norm(desc[~inside], axis=1) > 0.99).all()  # texture everywhere else


def test_all_black_image_is_all_null_but_a_flat_grey_one_has_border_edges() -> None:
    assert not dense_sift(np.zeros((40, 50)))[0].any()
    desc, _ = dense_sift(np.full((40, 50), 128.0))
    # the zero padding makes a step at the image border (documented): border patches see it ...
    assert desc[0].any(axis=1).all() and desc[-1].any(axis=1).all()
    # ... the interior patches do not
    assert not desc[1:-1, 1:-1].any()


def test_threshold_nulls_weak_textures_only() -> None:
    rng = np.random.default_rng(0)
    weak = 128 + rng.normal(0, 0.5, (64, 64))  # Sobel magnitudes ~0.6 -> raw norms ~0.06
    strong = 128 + rng.normal(0, 20, (64, 64))
    assert not dense_sift(weak)[0][1:-1, 1:-1].any()
    assert dense_sift(strong)[0].any(axis=2).all()
    assert dense_sift(weak, threshold=0.0)[0][1:-1, 1:-1].any(axis=2).all()


# ---------------------------------------------------------------------------------------------
# Sizes
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape,grid,first", [
    ((1, 1), (1, 1), (-7, -7)),      # pad 15: 7 before, 8 after
    ((5, 3), (1, 1), (-5, -6)),
    ((16, 16), (2, 2), (-4, -4)),
    ((17, 23), (3, 3), (-7, -4)),    # 17 -> pad 15 (7 + 8); 23 -> pad 9 (4 + 5)
    ((256, 256), (32, 32), (-4, -4)),
])
def test_grid_sizes_and_positions(shape: tuple[int, int], grid: tuple[int, int], first: tuple[int, int]) -> None:
    desc, pos = dense_sift(_texture(*shape))
    assert desc.shape == (*grid, 128)
    assert desc.dtype == np.float64 and pos.dtype == np.int64
    assert tuple(pos[0, 0]) == first
    assert_array_equal(np.diff(pos[:, 0, 0]), 8)
    assert_array_equal(pos, grid_positions(shape))
    assert_array_equal(DenseSIFT().grid_positions(shape), pos.reshape(-1, 2))


def test_image_smaller_than_a_patch_gives_one_descriptor() -> None:
    desc, _ = dense_sift(np.array([[0.0, 255.0], [255.0, 0.0]]))
    assert desc.shape == (1, 1, 128)
    assert np.isclose(np.linalg.norm(desc), 1.0)


def test_integer_and_float32_inputs_match_float64() -> None:
    img = np.random.default_rng(1).integers(0, 256, (30, 41))
    ref = dense_sift(img.astype(np.float64))[0]
    assert_array_equal(dense_sift(img.astype(np.uint8))[0], ref)
    assert_array_equal(dense_sift(img.astype(np.float32))[0], ref)  # integers are exact in float32


def test_non_contiguous_input() -> None:
    img = _texture(60, 80)
    assert_array_equal(dense_sift(img[::2, ::-1])[0], dense_sift(np.ascontiguousarray(img[::2, ::-1]))[0])
    assert_array_equal(dense_sift(img.T)[0], dense_sift(np.ascontiguousarray(img.T))[0])


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------
def test_nan_raises_value_error_naming_the_shape() -> None:
    img = _texture(20, 30)
    img[3, 4] = np.nan
    with pytest.raises(ValueError, match=r"\(20, 30\).*NaN"):
        dense_sift(img)
    img[3, 4] = np.inf
    with pytest.raises(ValueError, match=r"\(20, 30\)"):
        dense_sift(img)
    with pytest.raises(ValueError, match=r"image 1.*\(20, 30\)"):
        dense_sift_many([_texture(8, 8), img])
    with pytest.raises(ValueError, match=r"\(20, 30\)"):
        DenseSIFT().fit_transform([img])


@pytest.mark.parametrize("bad,pattern", [
    (np.zeros(10), r"2-D.*\(10,\)"),
    (np.zeros((10, 12, 3)), r"\(10, 12, 3\).*colour"),
    (np.zeros((2, 10, 12)), r"\(2, 10, 12\)"),
    (np.zeros((0, 12)), r"empty.*\(0, 12\)"),
    (np.array([["a", "b"], ["c", "d"]]), r"real-valued"),
    (np.zeros((4, 4), dtype=complex), r"real-valued"),
])
def test_wrong_input_raises_value_error(bad: np.ndarray, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        dense_sift(bad)


@pytest.mark.parametrize("kw", [dict(step=0), dict(step=2.5), dict(patch_size=10), dict(patch_size=0),
                                dict(sigma=0.0), dict(threshold=-1.0), dict(clamp=0.0),
                                dict(implementation="cuda")])
def test_bad_parameters_raise(kw: dict) -> None:
    with pytest.raises(ValueError):
        dense_sift(_texture(20, 20), **kw)


def test_unit_range_image_warns() -> None:
    with pytest.warns(UserWarning, match=r"\[0, 255\]"):
        dense_sift(_texture(20, 20) / 255.0)
    with pytest.warns(UserWarning, match=r"2 of 3 images"):
        DenseSIFT().transform([_texture(20, 20) / 255.0, _texture(9, 9), _texture(8, 30) / 255.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dense_sift(_texture(20, 20))  # no warning for [0, 255] images
        dense_sift(np.zeros((20, 20)))  # nor for an all-black one


def test_sift_patch_validates_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(16, 15\)"):
        sift_patch(np.ones((16, 15)), np.zeros((16, 15), dtype=int))
    with pytest.raises(ValueError):
        sift_patch(np.ones((16, 16)), np.zeros((8, 8), dtype=int))


# ---------------------------------------------------------------------------------------------
# The scikit-learn estimator
# ---------------------------------------------------------------------------------------------
def test_dense_sift_estimator_follows_sklearn_conventions() -> None:
    from sklearn.base import clone

    est = DenseSIFT(step=4, threshold=0.1)
    assert est.get_params() == dict(step=4, patch_size=16, sigma=None, threshold=0.1, clamp=0.2,
                                    dtype="float64", progress=None)
    est.set_params(step=8, dtype="float32")
    c = clone(est)
    assert c.get_params() == est.get_params() and c is not est
    imgs = [_texture(40, 56, 0), _texture(17, 9, 1)]
    assert est.fit(imgs) is est
    out = est.transform(imgs)
    assert [o.shape for o in out] == [(5 * 7, 128), (3 * 2, 128)]
    assert all(o.dtype == np.float32 for o in out)
    assert_array_equal(out[0], dense_sift(imgs[0])[0].reshape(-1, 128).astype(np.float32))
    assert "DenseSIFT(" in repr(est)


def test_dense_sift_estimator_in_a_pipeline() -> None:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    pipe = make_pipeline(DenseSIFT(), FunctionTransformer(lambda descs: np.stack([d.mean(axis=0) for d in descs])))
    feats = pipe.fit_transform([_texture(32, 32, s) for s in range(3)])
    assert feats.shape == (3, 128)


def test_dense_sift_estimator_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="sequence of images"):
        DenseSIFT().transform(_texture(20, 20))
    with pytest.raises(ValueError, match="patch_size"):
        DenseSIFT(patch_size=6).fit([])
    with pytest.raises(ValueError, match="dtype"):
        DenseSIFT(dtype="int8").fit([])
    assert DenseSIFT().transform([]) == []


def test_numba_disable_jit_still_works() -> None:
    """NUMBA_DISABLE_JIT=1: the kernels run as plain Python and give the same numbers."""
    code = ("import numpy as np; from classical.sift import dense_sift, dense_sift_many;"
            "im = np.random.default_rng(0).uniform(0, 255, (19, 13));"
            "a = dense_sift(im)[0]; b = dense_sift(im, implementation='numpy')[0];"
            "c = dense_sift_many([im])[0];"
            "assert (a == b).all() and (c == b).all() and a.any(); print('ok')")
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------
def test_figures_are_saved(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from classical.sift_viz import bin_directions, plot_patch_descriptor, plot_patch_grid

    img = _texture(48, 64)
    img[:20, :30] = 100.0
    plot_patch_descriptor(img, (2, 3), path=tmp_path / "patch.png")
    plot_patch_descriptor(img, (0, 0), path=tmp_path / "null_patch.png")
    plot_patch_grid(img, path=tmp_path / "grid.png")
    for name in ("patch.png", "null_patch.png", "grid.png"):
        assert (tmp_path / name).stat().st_size > 5000
    with pytest.raises(IndexError, match=r"\(6, 8\)"):
        plot_patch_descriptor(img, (6, 0))
    d = bin_directions()
    assert np.allclose(d[0], [0, 1]) and np.allclose(d[2], [-1, 0]) and np.allclose(d[6], [1, 0])
