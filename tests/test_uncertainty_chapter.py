"""Chapter 4-c (uncertainty): quick run on embedded data, and clear errors for bad OOD files."""
from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import numpy as np
import pytest

from examples._runner import UserError
from examples.uncertainty_data import load_ood_images


def test_uncertainty_quick(tmp_path: Path) -> None:
    from examples import uncertainty
    m = uncertainty.main(["--quick", "--out", str(tmp_path)])
    assert json.loads((tmp_path / "metrics.json").read_text())["data"] == m["data"]
    assert {"most_least_uncertain.png", "failure_pr.png", "ood_pr.png"} <= {p.name for p in tmp_path.glob("*.png")}
    assert m["test_accuracy"] > 0.7, m["test_accuracy"]                       # chance is 0.1
    for k in ("mcp", "entropy", "mi", "odin", "mahalanobis"):
        assert 0 <= m[f"aupr_ood_{k}_ci95_low"] <= m[f"aupr_ood_{k}"] <= m[f"aupr_ood_{k}_ci95_high"] <= 1
    for k in ("mcp", "mcdropout", "confidnet"):
        assert 0 < m[f"aupr_errors_{k}_ci95_low"] <= m[f"aupr_errors_{k}"] <= m[f"aupr_errors_{k}_ci95_high"] <= 1
    assert m["aupr_errors_confidnet_minus_mcp"] == m["aupr_errors_confidnet"] - m["aupr_errors_mcp"]
    assert 0 < m["aupr_errors_confidnet_stage1"] <= 1 and m["mahalanobis_layer"] in ("conv", "fc3", "fc4")
    assert -1 <= m["aupr_errors_confidnet_minus_mcp_ci95_low"] <= m["aupr_errors_confidnet_minus_mcp_ci95_high"] <= 1
    # the best OOD score beats the chance level (the OOD share of the test pool)
    assert m["aupr_ood_best"] > m["n_ood_test"] / (m["n_ood_test"] + m["n_test"]) + 0.1


def test_truncated_idx_gzip_is_a_clear_error(tmp_path: Path) -> None:
    header = (0x803).to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in (10, 28, 28))
    blob = gzip.compress(header + bytes(10 * 28 * 28))
    bad = tmp_path / "kmnist-t10k-images-idx3-ubyte.gz"
    bad.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(UserError, match=r"kmnist-t10k-images-idx3-ubyte.gz.*truncated gzip"):
        load_ood_images(bad)


def test_the_shared_truncated_kmnist_file_is_refused() -> None:
    root = os.environ.get("MINIDL_DATA")
    path = Path(root or "") / "kmnist" / "kmnist-t10k-images-idx3-ubyte.TRUNCATED-first32768bytes.gz"
    if not root or not path.is_file():
        pytest.skip("MINIDL_DATA with kmnist/ (the truncated KMNIST gzip) not available")
    with pytest.raises(UserError, match="TRUNCATED-first32768bytes.gz.*truncated"):
        load_ood_images(path)
    ok = load_ood_images(path.parent / "kmnist_t10k_first105_images.npy")
    assert ok.shape == (105, 1, 28, 28) and ok.dtype == np.float32 and 0 <= ok.min() and ok.max() <= 1


def test_kmnist_is_read_like_mnist() -> None:
    """The OOD images are KMNIST's own IDX bytes, row-major like MNIST's (no transposition), on MNIST's [0, 1]
    scale: the shared .npy equals the first 105 images decoded by hand from the (truncated) official gzip."""
    import zlib
    root = os.environ.get("MINIDL_DATA")
    gz = Path(root or "") / "kmnist" / "kmnist-t10k-images-idx3-ubyte.TRUNCATED-first32768bytes.gz"
    if not root or not gz.is_file():
        pytest.skip("MINIDL_DATA with kmnist/ not available")
    raw = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(gz.read_bytes())   # as much as the cut file holds
    assert int.from_bytes(raw[:4], "big") == 0x803 and int.from_bytes(raw[8:12], "big") == 28
    want = np.frombuffer(raw[16:16 + 105 * 784], np.uint8).reshape(105, 1, 28, 28) / np.float32(255)
    np.testing.assert_array_equal(load_ood_images(gz.parent / "kmnist_t10k_first105_images.npy"), want)


def test_wrong_shapes_and_pickles_are_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "flat.npy", np.zeros((3, 784), np.uint8))
    with pytest.raises(UserError, match=r"\(N, 28, 28\).*\(3, 784\)"):
        load_ood_images(tmp_path / "flat.npy")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(UserError, match="obj.npy"):
        load_ood_images(tmp_path / "obj.npy")


def test_random_shifts_translate_each_image_by_its_own_offset() -> None:
    from scipy.ndimage import shift as nd_shift

    from examples.uncertainty import random_shifts
    x = np.random.default_rng(1).random((6, 1, 7, 9)).astype(np.float32)
    got = random_shifts(x, np.random.default_rng(5), 2)
    dy, dx = np.random.default_rng(5).integers(0, 5, (2, 6))              # the offsets it drew
    for i in range(6):  # scipy: out[r, c] = in[r - sy, c - sx], zero outside; integer shifts are exact
        want = nd_shift(x[i, 0], (2 - dy[i], 2 - dx[i]), order=0, mode="constant", cval=0.0)
        np.testing.assert_array_equal(got[i, 0], want)
    assert got.shape == x.shape and got.dtype == x.dtype


def test_bad_shift_is_a_user_error(tmp_path: Path) -> None:
    from examples import uncertainty
    with pytest.raises(UserError, match="--shift 4.*8-pixel"):
        uncertainty.main(["--quick", "--shift", "4", "--out", str(tmp_path)])


def test_mahalanobis_matches_sklearn_pooled_covariance() -> None:
    """min over classes of (x - mu_c)^T Sigma^-1 (x - mu_c), Sigma the pooled within-class covariance: against
    scikit-learn's EmpiricalCovariance fitted on the residuals (ridge 0: a full-rank, well-conditioned set)."""
    from sklearn.covariance import EmpiricalCovariance

    from examples._ood import fit_class_gaussians, mahalanobis_score
    rng = np.random.default_rng(3)
    y = np.repeat(np.arange(3), 40)
    F = rng.normal(size=(120, 5)) @ rng.normal(size=(5, 5)) + 4 * rng.normal(size=(3, 5))[y]
    q = rng.normal(size=(7, 5)) * 3
    g = fit_class_gaussians(F, y, 3, ridge=0.0)
    means = np.stack([F[y == c].mean(0) for c in range(3)])
    ref = EmpiricalCovariance(assume_centered=True).fit(F - means[y])
    want = np.min([ref.mahalanobis(q - mu) for mu in means], axis=0)
    np.testing.assert_allclose(mahalanobis_score(g, q), want, rtol=1e-9, atol=1e-9)
    with pytest.raises(ValueError, match=r"classes \[2\]"):
        fit_class_gaussians(F[y < 2], y[y < 2], 3)
    with pytest.raises(ValueError, match=r"\(120, 5\).*\(119,\)"):
        fit_class_gaussians(F, y[:-1], 3)


def test_confidnet_finetuning_moves_only_the_copy() -> None:
    """Stage 2 trains the encoder copy and the MLP; the classifier (and so accuracy and MCP) is untouched, and
    the copy starts equal to the classifier's encoder (same penultimate features)."""
    from examples import _confidnet
    from examples.uncertainty import encoder_copy, lenet_dropout, random_shifts
    from minidl.interop import backend
    B = backend("minidl", "cpu")
    B.manual_seed(0)
    features, head = lenet_dropout(B.nn, 8)
    features.eval()
    head.eval()

    def weights() -> dict[str, np.ndarray]:
        return {k: B.to_numpy(v).copy() for m in (features, head) for k, v in m.state_dict().items()}
    before = weights()
    X = np.random.default_rng(0).random((64, 1, 8, 8)).astype(np.float32)
    y = np.arange(64) % 10
    enc = encoder_copy(B, features, head, 8)
    with B.no_grad():
        x = B.tensor(X)
        want = head.relu4(head.fc4(head.relu3(head.fc3(features(x)))))
        np.testing.assert_array_equal(B.to_numpy(enc(x)), B.to_numpy(want))   # same weights, same float ops
    net = _confidnet.mlp(B, 84, 16, 1)
    w0 = {k: B.to_numpy(v).copy() for k, v in enc.state_dict().items()}
    _confidnet.finetune(B, enc, net, lambda x: B.F.softmax(head(features(x)), dim=1), X, y, steps=3, lr=1e-2,
                        seed=0, augment=lambda x, rng: random_shifts(x, rng, 1), batch_size=32)
    after = weights()
    assert all(np.array_equal(before[k], after[k]) for k in before)
    assert not np.array_equal(w0["0.conv1.weight"], B.to_numpy(enc.state_dict()["0.conv1.weight"]))
    s = _confidnet.scores(B, enc, net, X)
    assert s.shape == (64,) and s.dtype == np.float64 and np.all((0 <= s) & (s <= 1))
