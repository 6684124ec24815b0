"""DCGAN (chapter 3-d) against torch in float64: the course's generator and discriminator with copied
weights, one discriminator step then one generator step of the course's ``d_step`` / ``g_step``
(``minidl.models.gan``, the lines the chapter runs) (Adam, beta1 0.5, the course's two learning rates) on the same real batch and the same noise. Compared:
the fake images, the losses and D outputs, every gradient, the parameters after each step and the
batch-norm running statistics. Unconditional with the non-saturating loss; conditional with the
saturating one. House tolerance: rtol 1e-7, atol 1e-9."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import minidl
from minidl.interop import backend
from minidl.models.gan import d_step, dcgan_init_, discriminator, g_step, generator
from parity.helpers import assert_close, copy_weights

TOL = dict(atol=1e-9, rtol=1e-7)


def _compare(m: Any, t: Any, what: str, grads: bool = True) -> None:
    t_params = dict(t.named_parameters())
    for name, p in m.named_parameters():
        if grads:
            assert_close(p.grad, t_params[name].grad, what=f"{what}: grad {name}", **TOL)
        assert_close(p, t_params[name], what=f"{what}: {name}", **TOL)
    t_buf = dict(t.named_buffers())
    for name, b in m.named_buffers():
        assert_close(b, t_buf[name], what=f"{what}: buffer {name}", check_dtype=False, **TOL)


@pytest.mark.parametrize("conditional,saturating", [(False, False), (True, True)],
                         ids=["dcgan-nonsaturating", "conditional-saturating"])
def test_one_d_step_and_one_g_step_match_torch_float64(conditional: bool, saturating: bool) -> None:
    Bm, Bt = backend("minidl"), backend("torch")
    k = 10 if conditional else 0
    torch.manual_seed(0)
    tG = dcgan_init_(generator(torch.nn, n_classes=k), torch.nn).double()
    tD = dcgan_init_(discriminator(torch.nn, n_classes=k), torch.nn).double()
    mG, mD = generator(minidl.nn, n_classes=k).double(), discriminator(minidl.nn, n_classes=k).double()
    copy_weights(tG, mG)
    copy_weights(tD, mD)
    opts = {}
    for name, lib, G, D in (("m", minidl, mG, mD), ("t", torch, tG, tD)):
        opts[name] = (lib.optim.Adam(G.parameters(), lr=5e-4, betas=(0.5, 0.999)),
                      lib.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999)))
    rng = np.random.default_rng(0)
    n = 8
    x = np.tanh(rng.normal(size=(n, 1, 32, 32)))             # "real" images in [-1, 1]
    z = rng.normal(size=(n, 100))
    labels, fake_labels = rng.integers(0, 10, n), rng.integers(0, 10, n)
    onehot = lambda B, y: B.tensor(np.eye(10)[y]) if k else None  # noqa: E731

    out = {}
    for name, B, G, D in (("m", Bm, mG, mD), ("t", Bt, tG, tD)):
        opt_g, opt_d = opts[name]
        fake, d_logs = d_step(B, G, D, opt_d, B.tensor(x), B.tensor(z), onehot(B, labels), onehot(B, fake_labels))
        out[name] = dict(fake=B.to_numpy(fake), d_logs=d_logs)
    assert_close(out["m"]["fake"], out["t"]["fake"], what="G(z)", **TOL)
    for key in out["t"]["d_logs"]:
        assert out["m"]["d_logs"][key] == pytest.approx(out["t"]["d_logs"][key], rel=1e-7, abs=1e-9), key
    _compare(mD, tD, "after the D step")
    assert all(p.grad is None for p in mG.parameters()), "the D step must not reach G (fake is detached)"

    # the G step reuses the fake batch of the D step (as the chapter does), through the updated D
    for name, B, G, D in (("m", Bm, mG, mD), ("t", Bt, tG, tD)):
        opt_g, _ = opts[name]
        fake = G(_gin(B, z, onehot(B, fake_labels)))
        out[name]["g_logs"] = g_step(B, D, opt_g, fake, onehot(B, fake_labels), saturating=saturating)
    for key in out["t"]["g_logs"]:
        assert out["m"]["g_logs"][key] == pytest.approx(out["t"]["g_logs"][key], rel=1e-7, abs=1e-9), key
    _compare(mG, tG, "after the G step")
    if saturating:   # the minimax loss log(1 - D(G(z))) is negative; the non-saturating one positive
        assert out["t"]["g_logs"]["loss_g"] < 0


def _gin(B: Any, z: np.ndarray, onehot: Any) -> Any:
    from minidl.models.gan import generator_input
    return generator_input(B.lib, B.tensor(z), onehot)


def test_dcgan_shapes_and_parameter_counts_match_torch() -> None:
    for k in (0, 10):
        for build in (generator, discriminator):
            m, t = build(minidl.nn, n_classes=k), build(torch.nn, n_classes=k)
            assert list(m.state_dict()) == list(t.state_dict())
            assert sum(p.numel() for p in m.parameters()) == sum(p.numel() for p in t.parameters())
    assert generator(minidl.nn)(minidl.zeros(2, 100, 1, 1)).shape == (2, 1, 32, 32)
    assert discriminator(minidl.nn)(minidl.zeros(2, 1, 32, 32)).shape == (2, 1, 1, 1)

