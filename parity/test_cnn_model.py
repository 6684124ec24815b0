"""The course's whole CIFAR-10 CNN against torch with copied weights: forward, loss, every parameter's
gradient, then 5 SGD steps (momentum), with the improvements on (batch-norm, dropout, 28x28 crops with
pool3 ceil_mode). Dropout draws differ between the libraries, so minidl is handed torch's mask each step.
Also: state_dict interop both ways and torch .pth files read with weights_only=True."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import minidl
from minidl import interop
from minidl.models import cifar_net, layer_table
from parity.helpers import assert_close, copy_weights

TOL = dict(atol=1e-9, rtol=1e-7)


class TorchMaskReplay:
    """Stands in for minidl's random generator inside dropout: returns 1 where torch kept a unit and 0
    where it dropped one, so ``random(shape) >= p`` reproduces torch's mask exactly."""

    def __init__(self, keep: np.ndarray) -> None:
        self.keep = keep

    def random(self, shape: tuple[int, ...]) -> np.ndarray:
        assert tuple(shape) == self.keep.shape, (shape, self.keep.shape)
        return self.keep.astype(np.float64)


def run_step(t_model: Any, m_model: Any, x: np.ndarray, y: np.ndarray, monkeypatch: pytest.MonkeyPatch,
             t_opt: Any = None, m_opt: Any = None, what: str = "") -> None:
    captured: dict[str, np.ndarray] = {}
    if hasattr(t_model, "dropout"):
        hook = t_model.dropout.register_forward_hook(lambda mod, i, o: captured.__setitem__("keep", (o != 0).numpy()))
    t_out = t_model(torch.tensor(x))
    t_loss = torch.nn.functional.cross_entropy(t_out, torch.tensor(y))
    if "keep" in captured:
        hook.remove()
        import minidl.ops.activation as act
        replay = TorchMaskReplay(captured["keep"])
        monkeypatch.setattr(act._random, "generator", lambda gen=None: replay)
    m_out = m_model(minidl.tensor(x))
    m_loss = minidl.nn.functional.cross_entropy(m_out, minidl.tensor(y))
    monkeypatch.undo()
    assert_close(m_out, t_out, what=f"{what} logits", **TOL)
    assert_close(m_loss, t_loss, what=f"{what} loss", **TOL)
    if t_opt is not None:
        t_opt.zero_grad()
        m_opt.zero_grad()
    t_loss.backward()
    m_loss.backward()
    t_params = dict(t_model.named_parameters())
    for name, p in m_model.named_parameters():
        assert_close(p.grad, t_params[name].grad, what=f"{what} grad {name}", **TOL)
    if t_opt is not None:
        t_opt.step()
        m_opt.step()
        for name, p in m_model.named_parameters():
            assert_close(p, t_params[name], what=f"{what} param {name} after the step", **TOL)
    t_buffers = dict(t_model.named_buffers())
    for name, b in m_model.named_buffers():
        assert_close(b, t_buffers[name], what=f"{what} buffer {name}", check_dtype=False, **TOL)


@pytest.mark.parametrize("improvements", [
    dict(),
    dict(batchnorm=True, dropout=0.5, ceil_mode=True),
], ids=["baseline", "bn-dropout-ceil"])
def test_cifar_net_forward_backward_and_5_sgd_steps(improvements: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    t_model = cifar_net(torch.nn, **improvements).double()
    m_model = cifar_net(minidl.nn, **improvements).double()
    copy_weights(t_model, m_model)
    side = 28 if improvements.get("ceil_mode") else 32
    rng = np.random.default_rng(0)
    t_opt = torch.optim.SGD(t_model.parameters(), lr=0.05, momentum=0.9)
    m_opt = minidl.optim.SGD(m_model.parameters(), lr=0.05, momentum=0.9)
    for step in range(5):
        x = rng.normal(size=(8, 3, side, side))
        y = rng.integers(0, 10, 8)
        run_step(t_model, m_model, x, y, monkeypatch, t_opt, m_opt, what=f"step {step}")
    t_model.eval()
    m_model.eval()
    x = rng.normal(size=(4, 3, side, side))
    with torch.no_grad(), minidl.no_grad():
        assert_close(m_model(minidl.tensor(x)), t_model(torch.tensor(x)), what="eval logits", **TOL)


def test_parameter_count_and_layer_table_match_the_course() -> None:
    m, t = cifar_net(minidl.nn), cifar_net(torch.nn)
    assert sum(p.numel() for p in m.parameters()) == sum(p.numel() for p in t.parameters()) == 1_191_170
    assert layer_table(m, (1, 3, 32, 32), minidl) == layer_table(t, (1, 3, 32, 32), torch)
    assert list(m.state_dict()) == list(t.state_dict())
    bn = cifar_net(minidl.nn, batchnorm=True)
    assert list(bn.state_dict()) == list(cifar_net(torch.nn, batchnorm=True).state_dict())
    assert "bn1.num_batches_tracked" in bn.state_dict()


def test_state_dict_round_trip_both_ways_is_exact(tmp_path: Path) -> None:
    """minidl -> torch -> minidl and torch -> minidl through interop, and a torch .pth file read safely."""
    m = cifar_net(minidl.nn, batchnorm=True)
    t = cifar_net(torch.nn, batchnorm=True)
    t.load_state_dict(interop.to_torch_state_dict(m.state_dict()))
    back = cifar_net(minidl.nn, batchnorm=True)
    back.load_state_dict(interop.from_torch_state_dict(t.state_dict()))
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[k].numpy(), v.numpy(), err_msg=k)
        np.testing.assert_array_equal(t.state_dict()[k].numpy(), v.numpy(), err_msg=k)
    path = tmp_path / "cifar.pth"
    torch.save(t.state_dict(), path)
    loaded = cifar_net(minidl.nn, batchnorm=True)
    loaded.load_state_dict(interop.load_torch_checkpoint(path))
    x = np.random.default_rng(0).normal(size=(2, 3, 32, 32)).astype(np.float32)
    t.eval()
    loaded.eval()
    with torch.no_grad(), minidl.no_grad():
        # float32: same weights, different convolution summation order (see parity/test_conv.py)
        assert_close(loaded(minidl.tensor(x)), t(torch.tensor(x)), atol=1e-4, rtol=1e-4, what="logits after .pth load")


def test_pth_loading_never_unpickles_arbitrary_objects(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self) -> tuple:
            return (Path.touch, (tmp_path / "pwned",))
    path = tmp_path / "evil.pth"
    torch.save({"weight": Evil()}, path)
    with pytest.raises(ValueError, match="evil.pth"):
        interop.load_torch_checkpoint(path)
    assert not (tmp_path / "pwned").exists()
    with pytest.raises(FileNotFoundError):
        interop.load_torch_checkpoint(tmp_path / "missing.pth")
