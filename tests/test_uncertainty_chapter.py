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
    for k in ("mcp", "entropy", "mi", "odin"):
        assert 0 <= m[f"aupr_ood_{k}_ci95_low"] <= m[f"aupr_ood_{k}"] <= m[f"aupr_ood_{k}_ci95_high"] <= 1
    for k in ("mcp", "mcdropout", "confidnet"):
        assert 0 < m[f"aupr_errors_{k}_ci95_low"] <= m[f"aupr_errors_{k}"] <= m[f"aupr_errors_{k}_ci95_high"] <= 1
    assert m["aupr_errors_confidnet_minus_mcp"] == m["aupr_errors_confidnet"] - m["aupr_errors_mcp"]
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
