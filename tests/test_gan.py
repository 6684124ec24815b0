"""DCGAN pieces (init, conditional inputs, the Frechet distance) and the gan chapter's quick run."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import linalg

import minidl
from examples._runner import UserError
from examples.gan import frechet
from minidl.models.gan import dcgan_init_, discriminator_input, generator, generator_input


def test_dcgan_init_draws_the_papers_distribution() -> None:
    """N(0, 0.02) conv weights, N(1, 0.02) BN weights, zero BN biases (131,072 draws: 4 standard errors)."""
    minidl.manual_seed(0)
    G = dcgan_init_(generator(minidl.nn), minidl.nn)
    w = G.convt2.weight.detach().numpy()
    n = w.size
    assert abs(w.mean()) < 4 * 0.02 / np.sqrt(n)
    assert abs(w.std() - 0.02) < 4 * 0.02 / np.sqrt(2 * n)
    bn_w = G.bn1.weight.detach().numpy()
    assert abs(bn_w.mean() - 1) < 4 * 0.02 / np.sqrt(bn_w.size) and not G.bn1.bias.detach().numpy().any()


def test_conditional_inputs_carry_the_one_hot_label() -> None:
    z = minidl.randn(3, 5)
    onehot = minidl.tensor(np.eye(4, dtype=np.float32)[[2, 0, 3]])
    g_in = generator_input(minidl, z, onehot)
    assert g_in.shape == (3, 9, 1, 1)
    np.testing.assert_array_equal(g_in.numpy()[:, 5:, 0, 0], onehot.numpy())
    x = minidl.zeros(3, 1, 6, 6)
    d_in = discriminator_input(minidl, x, onehot).numpy()
    assert d_in.shape == (3, 5, 6, 6)
    assert (d_in[0, 1 + 2] == 1).all() and (d_in[0, [1, 2, 4]] == 0).all()     # plane k is 1 for label k
    assert generator_input(minidl, z).shape == (3, 5, 1, 1) and discriminator_input(minidl, x) is x


def test_frechet_distance_against_the_textbook_formula() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 6)) @ rng.normal(size=(6, 6))
    b = rng.normal(size=(300, 6)) @ rng.normal(size=(6, 6)) + 0.5
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    expected = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(s1 + s2 - 2 * linalg.sqrtm(s1 @ s2).real)
    assert frechet(a, b) == pytest.approx(expected, rel=1e-8)
    assert frechet(a, a) == pytest.approx(0, abs=1e-8)
    assert frechet(a, a + 2.0) == pytest.approx(6 * 4.0, rel=1e-8)            # a pure shift: |mu1 - mu2|^2
    dead = np.c_[a, np.zeros(len(a))]                                         # a dead unit: singular covariance
    assert np.isfinite(frechet(dead, np.c_[b, np.zeros(len(b))]))


def test_gan_quick_conditional_run_writes_metrics_and_figures(tmp_path: Path) -> None:
    from examples import gan
    m = gan.main(["--quick", "--conditional", "--out", str(tmp_path), "--epochs", "1", "--samples", "200",
                  "--classifier-epochs", "2"])
    for key in ("data", "conditional_accuracy", "frechet_lenet", "frechet_lenet_real_halves",
                "classifier_test_accuracy", "seconds_per_epoch"):
        assert key in m
    assert 0 <= m["conditional_accuracy"] <= 1 and m["frechet_lenet_real_halves"] < m["frechet_lenet"]
    assert {p.name for p in tmp_path.glob("*.png")} == {"samples.png", "losses.png", "interpolation.png",
                                                        "classes.png"}
    with pytest.raises(UserError, match="--ngf must be positive"):
        gan.main(["--quick", "--out", str(tmp_path), "--ngf", "0"])
