"""Chapter 4-b (bayes_nn) in quick mode."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def test_bayes_nn_quick(tmp_path: Path) -> None:
    from examples import bayes_nn
    m = bayes_nn.main(["--quick", "--out", str(tmp_path)])
    assert json.loads((tmp_path / "metrics.json").read_text())["data"] == m["data"]
    assert {"logistic_blobs.png", "four_methods.png"} <= {p.name for p in tmp_path.glob("*.png")}
    assert m["hessian_max_abs_diff_closed_vs_double_backward"] < 1e-9
    for k in ("map", "laplace", "vi", "dropout"):
        assert m[f"moons_{k}_test_accuracy"] > 0.9, (k, m[f"moons_{k}_test_accuracy"])  # well above chance (0.5)
    # far from the data, last-layer Laplace is less sure than the MAP network it is built on
    assert m["moons_far_entropy_laplace"] > m["moons_far_entropy_map"]
    assert np.isfinite([v for k, v in m.items() if k.startswith("moons_far")]).all()
