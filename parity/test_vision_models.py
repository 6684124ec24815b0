"""VGG16, SqueezeNet 1.1 and ResNet-18 against torchvision: the same state_dict keys and shapes, the same
forward (float32) and the same gradient with respect to the input (float64, the saliency gradient), and
torchvision ``.pth`` files loading through ``minidl.interop.load_torch_checkpoint``.

Inputs are small to keep the suite affordable on two shared cores: VGG16 at 32x32 (its five max-pools
leave 1x1, which AdaptiveAvgPool2d(7) replicates -- the same code path as 224 from the classifier on),
SqueezeNet and ResNet-18 at 64x64. The 224x224 case is measured in ``python -m benchmarks models``.
All three networks are the full-size ones (VGG16 with its 138 M parameters).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torchvision

import minidl
from minidl import interop
from minidl.models import resnet18, squeezenet1_1, vgg16
from parity.helpers import assert_close, copy_weights

F64 = dict(atol=1e-9, rtol=1e-7)
BUILD = {"vgg16": vgg16, "squeezenet1_1": squeezenet1_1, "resnet18": resnet18}
SIDE = {"vgg16": 32, "squeezenet1_1": 64, "resnet18": 64}


def torchvision_net(name: str, **kw: Any) -> Any:
    torch.manual_seed(0)
    net = getattr(torchvision.models, name)(weights=None, **kw)
    if name == "resnet18":  # non-trivial running statistics, so that eval-mode BN is really tested
        g = torch.Generator().manual_seed(1)
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))
                m.weight.data.copy_(1 + 0.1 * torch.randn(m.num_features, generator=g))
                m.bias.data.copy_(0.1 * torch.randn(m.num_features, generator=g))
    return net.eval()


def minidl_net(name: str, **kw: Any) -> Any:
    kw = dict(kw, init_weights=False) if name == "vgg16" else kw  # weights come from torch: skip the init
    return BUILD[name](**kw).eval()


@pytest.fixture(scope="module", params=list(BUILD))
def nets(request: Any) -> Any:
    """(name, torchvision net, minidl net) with the same random weights, float32."""
    name = request.param
    t = torchvision_net(name)
    m = minidl_net(name)
    copy_weights(t, m)
    yield name, t, m
    del t, m


def test_structure_is_torchvisions(nets: Any) -> None:
    """Same state_dict keys in the same order, same shapes, same module names and types."""
    name, t, m = nets
    ts, ms = t.state_dict(), m.state_dict()
    assert list(ms) == list(ts), f"{name}: state_dict keys differ"
    for k in ts:
        assert tuple(ms[k].shape) == tuple(ts[k].shape), f"{name}.{k}: {tuple(ms[k].shape)} vs {tuple(ts[k].shape)}"
    assert [n for n, _ in m.named_modules()] == [n for n, _ in t.named_modules()]
    assert ([type(x).__name__ for _, x in m.named_modules()][1:]
            == [type(x).__name__ for _, x in t.named_modules()][1:])
    assert sum(p.numel() for p in m.parameters()) == sum(p.numel() for p in t.parameters())


def test_forward_float32(nets: Any) -> None:
    name, t, m = nets
    s = SIDE[name]
    x = np.random.default_rng(2).normal(size=(2 if name != "vgg16" else 1, 3, s, s)).astype(np.float32)
    with torch.no_grad(), minidl.no_grad():
        yt = t(torch.from_numpy(x))
        ym = m(minidl.tensor(x))
    # float32 through 13-18 layers (sums of up to 25,088 products each): the two libraries add in different
    # orders, so we allow 1e-4 relative and 1e-5 of the largest score absolute (measured ~1e-6 of it).
    scale = float(yt.abs().max())
    assert scale > 0
    assert_close(ym, yt, rtol=1e-4, atol=1e-5 * scale, what=f"{name} forward (float32)")


def test_input_gradient_float64(nets: Any) -> None:
    """d s_y / d x for the predicted class y (the saliency map), float64, at the house tolerance."""
    name, t, m = nets
    s = SIDE[name]
    t.double()
    m.double()
    try:
        for p in t.parameters():
            p.requires_grad_(False)
        m.requires_grad_(False)
        x = np.random.default_rng(3).normal(size=(2 if name != "vgg16" else 1, 3, s, s))
        xt = torch.from_numpy(x).requires_grad_(True)
        xm = minidl.tensor(x, requires_grad=True)
        st, sm = t(xt), m(xm)
        assert_close(sm, st, what=f"{name} forward (float64)", **F64)
        y = st.argmax(1)
        st.gather(1, y[:, None]).sum().backward()
        sm.gather(1, minidl.tensor(y.numpy()[:, None])).sum().backward()
        assert np.abs(xt.grad.numpy()).max() > 0
        assert_close(xm.grad, xt.grad, what=f"{name} d s_y / d x (float64)", **F64)
    finally:
        t.float()
        m.float()


def test_resnet18_train_mode_gradient_float64() -> None:
    """Train mode: batch-norm uses the batch's statistics, and the gradient goes through them too."""
    t = torchvision_net("resnet18").double().train()
    m = minidl_net("resnet18").double().train()
    copy_weights(t, m)
    x = np.random.default_rng(4).normal(size=(2, 3, 64, 64))  # layer4 2x2: 8 values per BN channel
    xt = torch.from_numpy(x).requires_grad_(True)
    xm = minidl.tensor(x, requires_grad=True)
    (t(xt) ** 2).sum().backward()
    (m(xm) ** 2).sum().backward()
    assert_close(xm.grad, xt.grad, what="resnet18 train-mode d loss / d x (float64)", **F64)
    assert_close(m.conv1.weight.grad, t.conv1.weight.grad, what="resnet18 conv1.weight.grad (float64)", **F64)
    assert_close(m.layer1[0].bn1.running_mean, t.layer1[0].bn1.running_mean, what="running_mean", **F64)


# --------------------------------------------------------------------------- .pth files
@pytest.mark.parametrize("name", ["squeezenet1_1", "resnet18"])
def test_torchvision_pth_loads_and_predicts_the_same(tmp_path: Path, name: str) -> None:
    """A torchvision model saved with torch.save(state_dict) -- the format of torchvision's downloads --
    loads through load_torch_checkpoint (weights only) and gives torchvision's scores."""
    t = torchvision_net(name)
    path = tmp_path / f"{name}.pth"
    torch.save(t.state_dict(), path)
    m = minidl_net(name)
    m.load_state_dict(interop.load_torch_checkpoint(path))
    x = np.random.default_rng(5).normal(size=(1, 3, 64, 64)).astype(np.float32)
    with torch.no_grad(), minidl.no_grad():
        yt = t(torch.from_numpy(x))
        ym = m(minidl.tensor(x))
    # float32, as test_forward_float32
    assert_close(ym, yt, rtol=1e-4, atol=1e-5 * float(yt.abs().max()), what=f"{name} after .pth load")
    npz = tmp_path / f"{name}.npz"
    np.savez(npz, **interop.to_numpy_state_dict(m.state_dict()))
    again = interop.load_weights(npz)
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(again[k].numpy(), v.numpy(), err_msg=k)


def test_mismatched_weights_name_keys_and_shapes_as_torch(tmp_path: Path) -> None:
    """A ResNet file into SqueezeNet: missing and unexpected keys; 10 classes into 1000: the shapes."""
    state = interop.from_torch_state_dict(torchvision_net("squeezenet1_1", num_classes=10).state_dict())
    m = minidl_net("squeezenet1_1")
    t = torchvision_net("squeezenet1_1")
    with pytest.raises(RuntimeError) as em:
        m.load_state_dict(state)
    with pytest.raises(RuntimeError) as et:
        t.load_state_dict(interop.to_torch_state_dict(state))
    for msg in (str(em.value), str(et.value)):
        assert "size mismatch for classifier.1.weight" in msg and "torch.Size" not in msg.replace("torch.Size", "")
        assert "[10, 512, 1, 1]" in msg.replace("(", "[").replace(")", "]").replace("torch.Size", "")
    other = {k: v for k, v in interop.from_torch_state_dict(torchvision_net("resnet18").state_dict()).items()}
    with pytest.raises(RuntimeError) as em:
        m.load_state_dict(other)
    with pytest.raises(RuntimeError) as et:
        t.load_state_dict(interop.to_torch_state_dict(other))
    for msg in (str(em.value), str(et.value)):
        assert msg.index("Missing key(s)") < msg.index("Unexpected key(s)")
        assert '"features.0.weight"' in msg and '"layer1.0.conv1.weight"' in msg


def test_bad_images_are_refused_with_their_shape() -> None:
    """Grayscale or too small: a RuntimeError naming the shape (torchvision raises RuntimeError too, from
    deep inside a layer), before any layer runs."""
    t, m = torchvision_net("squeezenet1_1"), minidl_net("squeezenet1_1")
    for shape in ((1, 1, 64, 64), (1, 3, 16, 16), (3, 64, 64)):
        x = np.zeros(shape, np.float32)
        with pytest.raises(RuntimeError):
            t(torch.from_numpy(x))
        with pytest.raises(RuntimeError, match=str(shape).replace("(", r"\(").replace(")", r"\)")):
            m(minidl.tensor(x))


def test_corrupt_files_name_the_file(tmp_path: Path) -> None:
    t = torchvision_net("squeezenet1_1")
    good = tmp_path / "good.pth"
    torch.save(t.state_dict(), good)
    cut = tmp_path / "truncated.pth"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(RuntimeError):  # torch's own type for a truncated file
        torch.load(cut, weights_only=True)
    with pytest.raises(interop.CheckpointError, match="truncated.pth"):
        interop.load_torch_checkpoint(cut)
    npz = tmp_path / "weights.npz"
    np.savez(npz, w=np.ones(1000))
    bad = tmp_path / "cut.npz"
    bad.write_bytes(npz.read_bytes()[:300])
    with pytest.raises(interop.CheckpointError, match="cut.npz"):
        interop.load_weights(bad)
    pickled = tmp_path / "objects.npz"
    np.savez(pickled, w=np.array([{"a": 1}], dtype=object))
    with pytest.raises(interop.CheckpointError, match="objects.npz"):
        interop.load_weights(pickled)
    with pytest.raises(FileNotFoundError):
        interop.load_weights(tmp_path / "nothing.npz")


def test_backward_hooks_on_a_residual_block_float64() -> None:
    """Grad-CAM's hooks on a ResNet BasicBlock (its input reaches the output through both the convolutions
    and the skip connection), in train mode: the forward hook's maps, the backward pre-hook's grad_output,
    the full backward hook's grad_input (both paths summed) and the CAM equal torchvision's in float64."""
    from minidl.models.vision import basic_block
    torch.manual_seed(0)
    t = torchvision.models.resnet.BasicBlock(8, 8).double()
    m = basic_block(minidl.nn, 8, 8).double()
    copy_weights(t, m)
    rng = np.random.default_rng(5)
    x, w = rng.normal(size=(2, 8, 6, 6)), rng.normal(size=(1, 8, 6, 6))
    got = {}
    for lib, net, mk in (("torch", t, torch.from_numpy), ("minidl", m, minidl.tensor)):
        seen: dict[str, Any] = {}
        hs = [net.register_forward_hook(lambda mod, a, o: seen.update(maps=o)),
              net.register_full_backward_pre_hook(lambda mod, go: seen.update(pre=go[0])),
              net.register_full_backward_hook(lambda mod, gi, go: seen.update(gi=gi[0], go=go[0]))]
        xin = mk(x).requires_grad_(True)
        (net(xin) * mk(w)).sum().backward()             # a "class score": a fixed linear read-out of the maps
        for h in hs:
            h.remove()
        seen["cam"] = (seen["go"].mean(dim=(2, 3), keepdim=True) * seen["maps"]).sum(dim=1).relu()
        seen["x.grad"] = xin.grad
        got[lib] = seen
    assert got["torch"]["gi"].abs().sum() > 0
    for k in ("maps", "pre", "go", "gi", "cam", "x.grad"):
        assert_close(got["minidl"][k].detach(), got["torch"][k].detach(), what=f"BasicBlock hook {k} (float64)", **F64)
