"""The transfer chapter (3-a): quick run, a user's torchvision .pth on an image folder, bad input."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from examples import transfer
from examples._runner import UserError


def test_quick_run_transfers_and_reports_the_table(tmp_path: Path) -> None:
    m = transfer.main(["--quick", "--out", str(tmp_path)])
    saved = json.loads((tmp_path / "metrics.json").read_text())
    for key in ("data", "test_accuracy", "scratch_test_accuracy", "weights", "best_layer", "best_c",
                "linear_head_test_accuracy", "layers"):
        assert key in saved, key
    assert [r["layer"] for r in saved["layers"]] == ["pool3", "relu4", "fc5"]
    assert [r["size"] for r in saved["layers"]] == [256, 64, 4]            # 16 x 4 x 4, fc4, the 4 source classes
    # 4 target classes never seen in pretraining: chance is 0.25; transferred features must do far better
    assert m["test_accuracy"] >= 0.5
    assert m["test_accuracy"] == max(saved["layers"], key=lambda r: r["cv_accuracy"])["test_accuracy"]
    summary = (tmp_path / "summary.md").read_text()
    assert "0.89" in summary and "layers.png" in summary and (tmp_path / "confusion.png").is_file()


def _scene_folder(root: Path) -> None:
    from PIL import Image
    rng = np.random.default_rng(0)
    for c in ("coast", "forest"):
        d = root / "15scene" / "train" / c
        d.mkdir(parents=True)
        for i in range(6):
            a = (rng.random((60 + 7 * i, 80)) * 255).astype(np.uint8)   # grayscale, various sizes, as 15-Scene
            if c == "forest":
                a[:, ::4] = 255
            Image.fromarray(a).save(d / f"{i}.jpg")


def test_user_weights_on_an_image_folder(tmp_path: Path) -> None:
    """A torchvision SqueezeNet .pth (random weights: no ImageNet weights here) on a 15-Scene-like folder."""
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    _scene_folder(tmp_path)
    torch.manual_seed(0)
    torch.save(torchvision.models.squeezenet1_1().state_dict(), tmp_path / "sq.pth")
    m = transfer.main(["--data-dir", str(tmp_path), "--weights", str(tmp_path / "sq.pth"), "--steps", "2",
                       "--out", str(tmp_path / "run")])
    assert m["arch"] == "squeezenet1_1" and m["image_side"] == 224
    assert "70/30" in m["data"] and m["train_size"] == 8 and m["test_size"] == 4
    assert [r["size"] for r in m["layers"]] == [512 * 13 * 13, 1000]
    # a ResNet file does not fit SqueezeNet: a user error naming the keys; a truncated file names the file
    torch.save(torchvision.models.resnet18().state_dict(), tmp_path / "r.pth")
    with pytest.raises(UserError, match="layer1.0.conv1.weight"):
        transfer.main(["--data-dir", str(tmp_path), "--weights", str(tmp_path / "r.pth"), "--arch", "squeezenet1_1",
                       "--out", str(tmp_path / "bad")])
    (tmp_path / "cut.pth").write_bytes((tmp_path / "sq.pth").read_bytes()[:5000])
    with pytest.raises(UserError, match="cut.pth"):
        transfer.main(["--data-dir", str(tmp_path), "--weights", str(tmp_path / "cut.pth"), "--out", str(tmp_path / "b")])


def test_images_are_converted_or_refused(tmp_path: Path) -> None:
    gray = np.zeros((2, 40, 50), np.uint8)
    out = transfer.as_rgb_batch(gray, 32, "gray")
    assert out.shape == (2, 3, 32, 32) and out.dtype == np.float32
    hwc = np.full((1, 32, 32, 3), 255, np.uint8)
    assert transfer.as_rgb_batch(hwc, 32, "hwc").max() == 1.0
    with pytest.raises(UserError, match=r"\(2, 5, 32, 32\)"):
        transfer.as_rgb_batch(np.zeros((2, 5, 32, 32)), 32, "five channels")
    with pytest.raises(UserError, match="cifar10"):
        transfer.main(["--data-dir", "/nonexistent", "--out", str(tmp_path / "a")])
    with pytest.raises(UserError, match="missing.pth"):
        transfer.main(["--data-dir", "/nonexistent", "--weights", "/nonexistent/missing.pth", "--out", str(tmp_path / "b")])
