"""classical.bow: the dictionary's construction and the encoder's edge cases and options.

Expected values are worked out by hand or come from plain NumPy written independently here; the
comparison with scikit-learn's nearest-centre search is in ``parity/test_bow.py``.
"""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from classical.bow import BagOfWords, build_dictionary, pyramid_cells, pyramid_weights, sample_nonzero
from classical.images import make_scenes
from classical.sift import dense_sift


def two_cluster_descriptors(seed: int = 0) -> list[np.ndarray]:
    """Four 'images' of 50 descriptors: 80 % zero rows, the rest around two well-separated points."""
    rng = np.random.default_rng(seed)
    a, b = np.zeros(8), np.zeros(8)
    a[0], b[5] = 1.0, 1.0
    out = []
    for _ in range(4):
        d = np.zeros((50, 8))
        live = rng.choice(50, 10, replace=False)
        d[live] = np.where(rng.random((10, 1)) < 0.5, a, b) + rng.normal(0, 0.01, (10, 8))
        out.append(d)
    return out


# ------------------------------------------------------------------ dictionary


def test_sample_nonzero_draws_distinct_nonzero_rows_of_the_input():
    descs = two_cluster_descriptors()
    s = sample_nonzero(descs, fraction=0.5, seed=3)
    assert s.shape == (20, 8)                             # round(0.5 * 40 non-zero rows)
    assert np.all(np.any(s != 0, axis=1))
    pool = np.concatenate(descs)
    for row in s:
        assert np.any(np.all(pool == row, axis=1))
    assert len(np.unique(s, axis=0)) == len(s)
    np.testing.assert_array_equal(s, sample_nonzero(descs, fraction=0.5, seed=3))   # seeded


def test_dictionary_ignores_zero_descriptors_and_appends_the_null_word():
    descs = two_cluster_descriptors()
    words = build_dictionary(descs, k=2, fraction=1.0, seed=0)
    assert words.shape == (3, 8)
    np.testing.assert_array_equal(words[-1], 0.0)
    # the two k-means words are the two clusters' means; had the 160 zero rows been used, one word
    # would sit at (or near) the origin
    centres = words[:2][np.argsort(words[:2, 0])[::-1]]
    nz = np.concatenate([d[np.any(d != 0, axis=1)] for d in descs])
    expected = np.stack([nz[nz[:, 0] > 0.5].mean(0), nz[nz[:, 5] > 0.5].mean(0)])
    np.testing.assert_allclose(centres, expected, rtol=1e-7, atol=1e-9)


def test_dictionary_needs_k_nonzero_descriptors():
    with pytest.raises(ValueError, match=r"only 40 non-zero descriptors for k=50"):
        build_dictionary(two_cluster_descriptors(), k=50)
    with pytest.raises(ValueError, match="fraction"):
        build_dictionary(two_cluster_descriptors(), k=2, fraction=0.0)


def test_dictionary_accepts_sift_grids():
    images, _, _ = make_scenes(2, 64, n_classes=3, seed=1)
    grids = [dense_sift(im)[0] for im in images]
    words = build_dictionary(grids, k=10, fraction=0.5)
    assert words.shape == (11, 128)


# ------------------------------------------------------------------ encoder edge cases


def test_an_image_with_only_flat_patches_is_all_null_word():
    # a black image: every patch is flat, padding included (a grey one would show the step to the
    # zero padding in its border patches, the course's SIFT pads with zeros)
    flat = np.zeros((64, 80))
    desc, _ = dense_sift(flat)
    assert not desc.any()
    images, _, _ = make_scenes(2, 64, n_classes=3, seed=0)
    words = build_dictionary([dense_sift(im)[0] for im in images], k=6, fraction=1.0)
    bow = BagOfWords(words).fit(None)
    h = bow.transform([desc])[0]
    expected = np.zeros(7)
    expected[6] = 1.0                                     # L2-normalised one-hot on the null word
    np.testing.assert_array_equal(h, expected)
    np.testing.assert_array_equal(bow.assign(desc.reshape(-1, 128)), 6)


def test_an_image_without_patches_gives_a_zero_histogram():
    bow = BagOfWords(np.eye(3)).fit(None)
    np.testing.assert_array_equal(bow.transform([np.zeros((0, 3))]), np.zeros((1, 3)))


def test_bad_inputs_are_value_errors_naming_shapes():
    bow = BagOfWords(np.eye(4)).fit(None)
    with pytest.raises(ValueError, match=r"image 1: expected \(n_patches, 4\).*\(4, 4\), got \(5, 3\)"):
        bow.transform([np.zeros((2, 4)), np.zeros((5, 3))])
    with pytest.raises(ValueError, match=r"one 2-D array of shape \(5, 4\)"):
        bow.transform(np.zeros((5, 4)))
    bad = np.zeros((3, 4))
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"image 0: descriptors of shape \(3, 4\) contain NaN"):
        bow.transform([bad])
    with pytest.raises(ValueError, match=r"pyramid_levels=1 needs the patch grid"):
        BagOfWords(np.eye(4), pyramid_levels=1).fit(None).transform([np.zeros((3, 4))])
    with pytest.raises(ValueError, match="dictionary .* NaN"):
        BagOfWords(np.full((2, 4), np.nan)).fit(None)
    with pytest.raises(ValueError, match="assignment"):
        BagOfWords(np.eye(4), assignment="fuzzy").fit(None)
    with pytest.raises(NotFittedError):
        BagOfWords(np.eye(4)).transform([np.zeros((1, 4))])


# ------------------------------------------------------------------ options, by hand


def test_hard_sum_max_and_norms_by_hand():
    words = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    x = np.array([[0.9, 0.1], [1.1, 0.0], [0.1, 0.8], [0.0, 0.05], [1.0, 0.2]])  # words 1, 1, 2, 0, 1
    counts = np.array([1.0, 3.0, 1.0])
    for pooling, norm, expected in [("sum", None, counts), ("sum", "l1", counts / 5),
                                    ("sum", "l2", counts / np.sqrt(11)), ("max", None, np.ones(3)),
                                    ("max", "l2", np.ones(3) / np.sqrt(3))]:
        h = BagOfWords(words, pooling=pooling, norm=norm).fit(None).transform([x])[0]
        np.testing.assert_allclose(h, expected, rtol=1e-12, err_msg=f"{pooling}/{norm}")


def test_soft_assignment_rows_sum_to_one_and_large_beta_is_hard():
    rng = np.random.default_rng(0)
    words, x = rng.random((6, 5)), rng.random((40, 5))
    soft = BagOfWords(words, assignment="soft", soft_beta=3.0).fit(None)
    A = soft.soft_weights(x)
    np.testing.assert_allclose(A.sum(1), 1.0, rtol=1e-12)
    h = BagOfWords(words, assignment="soft", soft_beta=3.0, norm="l1").fit(None).transform([x])[0]
    np.testing.assert_allclose(h, A.mean(0), rtol=1e-12)   # sum pooling + L1 = mean of the weights
    hard = BagOfWords(words, norm=None).fit(None).transform([x])[0]
    sharp = BagOfWords(words, assignment="soft", soft_beta=1e6, norm=None).fit(None).transform([x])[0]
    np.testing.assert_allclose(sharp, hard, atol=1e-9)


def test_pyramid_weights_are_the_papers():
    np.testing.assert_allclose(pyramid_weights(2), [0.25, 0.25, 0.5])
    np.testing.assert_allclose(pyramid_weights(3), [1 / 8, 1 / 8, 1 / 4, 1 / 2])
    np.testing.assert_allclose(pyramid_weights(0), [1.0])
    for L in range(5):
        assert np.isclose(pyramid_weights(L).sum(), 1.0)


def test_pyramid_cells_of_a_4x4_grid():
    cells = pyramid_cells(4, 4, 2)
    np.testing.assert_array_equal(cells[0], 0)
    np.testing.assert_array_equal(cells[1].reshape(4, 4), [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]])
    np.testing.assert_array_equal(cells[2].reshape(4, 4), 5 + np.arange(16).reshape(4, 4))


def test_pyramid_level_one_by_hand():
    # a 2 x 2 grid, two words: top-left and bottom-right patches are word 0, the other two word 1
    words = np.array([[1.0, 0.0], [0.0, 1.0]])
    grid = np.array([[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [1.0, 0.0]]])
    h = BagOfWords(words, pyramid_levels=1, norm=None).fit(None).transform([grid])[0]
    # level 0 (weight 1/2): counts (2, 2); level 1 (weight 1/2): cells TL (1,0), TR (0,1), BL (0,1), BR (1,0)
    expected = 0.5 * np.array([2, 2, 1, 0, 0, 1, 0, 1, 1, 0], dtype=float)
    np.testing.assert_array_equal(h, expected)
    assert BagOfWords(words, pyramid_levels=1).fit(None).n_features_out_ == 10


def test_fit_with_an_int_builds_the_dictionary_and_clone_works():
    descs = two_cluster_descriptors()
    bow = BagOfWords(2, fraction=1.0, random_state=0).fit(descs)
    assert bow.dictionary_.shape == (3, 8) and bow.n_words_ == 3
    np.testing.assert_array_equal(bow.dictionary_, build_dictionary(descs, k=2, fraction=1.0, seed=0))
    assert bow.transform(descs).shape == (4, 3)
    assert clone(bow).get_params()["dictionary"] == 2


# ------------------------------------------------------------------ the chapter (python -m examples bow)


def test_chapter_on_an_image_folder_with_a_corrupt_file_and_the_cache(tmp_path, capsys):
    """A tiny image folder (3 classes x 8 PNGs + one truncated JPEG): the bad file is reported and
    skipped with a count, the run writes its figures and metrics, and a second run reads the SIFTs
    and the dictionary from the cache."""
    from PIL import Image

    from examples import bow as chapter

    images, labels, names = make_scenes(8, 48, n_classes=3, seed=2)
    root = tmp_path / "scenes"
    for i, (im, y) in enumerate(zip(images, labels)):
        (root / names[y]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(im.astype(np.uint8)).save(root / names[y] / f"{i:03d}.png")
    bad = root / names[0] / "zz_truncated.jpg"
    Image.fromarray(images[0].astype(np.uint8)).save(bad)
    bad.write_bytes(bad.read_bytes()[:200])
    out = tmp_path / "run"
    argv = ["--train-dir", str(root), "--out", str(out), "--words", "6", "--seed", "1"]
    with pytest.warns(UserWarning, match="skipped 1 of 25"):
        m = chapter.main(argv)
    assert m["n_skipped_images"] == 1
    assert m["n_train"] + m["n_val"] + m["n_test"] == 24
    assert "zz_truncated.jpg" in (out / "summary.md").read_text()
    for key in ("data", "test_accuracy", "val_accuracy", "best_kernel", "best_C", "time_sift_s", "time_dictionary_s"):
        assert key in m
    figures = {p.name for p in out.glob("*.png")}
    assert {"sift_grid.png", "dictionary_words.png", "bow_words_on_image.png", "bow_histogram.png",
            "bow_top_words.png", "svm_validation_vs_C.png", "confusion_matrix.png"} <= figures
    capsys.readouterr()
    m2 = chapter.main(argv)
    printed = capsys.readouterr().out
    assert "SIFTs from the cache" in printed and "dictionary from the cache" in printed
    assert m2["n_skipped_images"] == 1 and m2["val_accuracy"] == m["val_accuracy"]


def test_chapter_quick_pyramid_on_generated_scenes(tmp_path):
    from examples import bow as chapter

    m = chapter.main(["--quick", "--pyramid", "--out", str(tmp_path)])
    assert m["pyramid_levels"] == 2 and m["n_features"] == 21 * (m["n_words"] + 1)
    assert "generated scenes" in m["data"]
    assert m["test_accuracy"] > 0.5          # 8 classes: chance is 0.125


def test_chapter_recomputes_a_corrupt_cache(tmp_path, capsys):
    from examples import bow as chapter

    argv = ["--quick", "--out", str(tmp_path)]
    m = chapter.main(argv)
    for f in (tmp_path / "cache").glob("*.npz"):
        f.write_bytes(f.read_bytes()[:100])              # truncate every cache file
    capsys.readouterr()
    m2 = chapter.main(argv)
    printed = capsys.readouterr().out
    assert printed.count("ignoring unreadable cache file") == 2
    assert m2["val_accuracy"] == m["val_accuracy"]
