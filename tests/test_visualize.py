"""The visualize chapter (3-b): the input-gradient tools against torch, and the chapter's runs."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from examples import visualize as V
from examples._runner import UserError
from minidl.interop import backend


def _pair_of_nets() -> tuple:
    """The course's CIFAR net in minidl and torch with the same weights, float64, eval mode."""
    torch = pytest.importorskip("torch")
    from minidl.interop import to_torch_state_dict
    from minidl.models import cifar_net
    Bm, Bt = backend("minidl"), backend("torch")
    m = cifar_net(Bm.nn).double().eval()
    t = cifar_net(Bt.nn).double().eval()
    t.load_state_dict(to_torch_state_dict(m.state_dict()))
    m.requires_grad_(False)
    t.requires_grad_(False)
    return torch, Bm, Bt, m, t


def test_saliency_and_fgsm_match_torch() -> None:
    """The same code on both backends gives the same saliency maps (float64, house tolerance) and FGSM curve."""
    torch, Bm, Bt, m, t = _pair_of_nets()
    x = np.random.default_rng(0).normal(size=(3, 3, 32, 32))
    y = np.array([1, 4, 7])
    sm = V.saliency(Bm, m, x, y)
    np.testing.assert_allclose(sm, V.saliency(Bt, t, x, y), rtol=1e-7, atol=1e-9)
    assert sm.shape == (3, 32, 32) and sm.min() >= 0 and sm.max() > 0
    lo, hi, std = np.full((1, 3, 1, 1), -3.0), np.full((1, 3, 1, 1), 3.0), np.full((1, 3, 1, 1), 0.2)
    eps = [0.0, 0.05, 0.2]
    assert V.fgsm_curve(Bm, m, x, y, eps, std, lo, hi) == V.fgsm_curve(Bt, t, x, y, eps, std, lo, hi)


def test_fooling_reaches_the_target() -> None:
    """The returned image is classified as the target by an independent forward pass (torch's)."""
    torch, Bm, Bt, m, t = _pair_of_nets()
    x = np.random.default_rng(1).normal(size=(1, 3, 32, 32))
    target = (int(t(torch.from_numpy(x)).argmax()) + 3) % 10
    adv, steps = V.fool(Bm, m, x, target, lr=1.0, max_iter=200)
    assert 0 < steps <= 200
    assert int(t(torch.from_numpy(adv)).argmax()) == target
    assert not np.array_equal(adv, x)


def test_class_visualisation_raises_the_score() -> None:
    """Gradient ascent raises what it ascends, judged by torch's forward. Without the L2 term (and no blur)
    the class score itself must rise; with the course's L2 term, the regularised objective s_y - l2 ||x||^2
    must (on an untrained net the L2 gradient dominates, so s_y alone may fall: that is the objective working)."""
    import minidl
    minidl.manual_seed(0)            # the nets' weights must not depend on which tests ran before
    torch, Bm, Bt, m, t = _pair_of_nets()
    lo, hi = np.full((1, 3, 1, 1), -2.5), np.full((1, 3, 1, 1), 2.5)
    start = np.random.default_rng(0).normal(size=(1, 3, 32, 32)).clip(-2.5, 2.5)
    score = lambda z: float(t(torch.from_numpy(np.asarray(z, np.float64)))[0, 2])  # noqa: E731
    objective = lambda z: score(z) - 1e-3 * float((np.asarray(z, np.float64) ** 2).sum())  # noqa: E731
    plain = V.class_visualisation(Bm, m, 2, (3, 32, 32), lo, hi, np.random.default_rng(0), l2_reg=0.0, lr=1.0,
                                  iterations=15, max_jitter=2, blur_every=100)
    assert score(plain) > score(start)
    img = V.class_visualisation(Bm, m, 2, (3, 32, 32), lo, hi, np.random.default_rng(0), iterations=15, max_jitter=2)
    assert objective(img) > objective(start)
    assert img.min() >= -2.5 and img.max() <= 2.5


def test_quick_run_writes_every_figure(tmp_path: Path) -> None:
    m = V.main(["--quick", "--out", str(tmp_path)])
    for f in ("saliency", "fooling", "fgsm", "class_visualisation", "activations"):
        assert (tmp_path / f"{f}.png").is_file(), f
        assert f"{f}.png" in (tmp_path / "summary.md").read_text()
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert "data" in saved and "test_accuracy" in saved and saved["test_accuracy"] > 0.3      # 10 classes
    acc = saved["fgsm_accuracy"]
    assert acc[-1] < acc[0]                                        # the attack works
    assert m["fooling_success_rate"] > 0


@pytest.mark.skipif(not os.environ.get("MINIDL_DATA"), reason="needs $MINIDL_DATA (imagenet_val_25)")
def test_user_weights_on_the_course_imagenet_images(tmp_path: Path) -> None:
    """A torchvision SqueezeNet .pth (random weights: no ImageNet weights exist here) on the 25 images."""
    torch = pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    torch.save(torchvision.models.squeezenet1_1().state_dict(), tmp_path / "sq.pth")
    m = V.main(["--data-dir", os.environ["MINIDL_DATA"], "--weights", str(tmp_path / "sq.pth"), "--iterations", "1",
                "--max-images", "3", "--fool-max-iter", "2", "--out", str(tmp_path / "run")])
    assert m["images"] == 3 and "ImageNet" in m["data"] and "squeezenet1_1" in m["weights"]
    with pytest.raises(UserError, match="imagenet_val_25"):
        V.main(["--data-dir", str(tmp_path), "--weights", str(tmp_path / "sq.pth"), "--out", str(tmp_path / "x")])
