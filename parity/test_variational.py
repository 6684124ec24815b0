"""minidl.nn.LinearVariational against the same computation written with torch ops (torch has no such layer):
same (mu, rho), same noise eps, float64. The KL term is also checked against torch.distributions."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import minidl
import minidl.nn as mnn
from minidl.nn.variational import kl_divergence
from parity.helpers import assert_close

TOL = dict(atol=1e-9, rtol=1e-7)  # float64 policy


def torch_layer(x: torch.Tensor, p: dict[str, torch.Tensor], eps_w: np.ndarray, eps_b: np.ndarray) -> torch.Tensor:
    w = p["weight_mu"] + torch.nn.functional.softplus(p["weight_rho"]) * torch.from_numpy(eps_w)
    b = p["bias_mu"] + torch.nn.functional.softplus(p["bias_rho"]) * torch.from_numpy(eps_b)
    return x @ w.T + b


def torch_kl(p: dict[str, torch.Tensor], prior_sigma: float) -> torch.Tensor:
    f64 = dict(dtype=torch.float64)
    prior = torch.distributions.Normal(torch.tensor(0.0, **f64), torch.tensor(prior_sigma, **f64))
    total = torch.zeros((), dtype=torch.float64)
    for name in ("weight", "bias"):
        q = torch.distributions.Normal(p[f"{name}_mu"], torch.nn.functional.softplus(p[f"{name}_rho"]))
        total = total + torch.distributions.kl_divergence(q, prior).sum()
    return total


def test_kl_matches_torch_distributions() -> None:
    minidl.manual_seed(0)
    layer = mnn.LinearVariational(4, 3, prior_sigma=0.7, rho_init=-1.0, dtype=np.float64)
    rng = np.random.default_rng(0)
    layer.weight_rho.data = minidl.tensor(rng.normal(-1, 2, (3, 4)))   # include large |rho| (softplus tails)
    layer.weight_rho.data[0, 0] = 40.0
    layer.weight_rho.data[0, 1] = -30.0
    p = {k: torch.from_numpy(v.detach().numpy().copy()) for k, v in layer.named_parameters()}
    assert_close(layer.kl_divergence(), torch_kl(p, 0.7), what="KL(q || prior)", **TOL)


def test_one_full_elbo_step_matches_torch() -> None:
    """A 2-50-1 variational MLP: forward with one weight sample, negative ELBO = mean BCE + KL / N,
    backward, one Adam step; loss, every gradient and every updated parameter compared."""
    minidl.manual_seed(1)
    rng = np.random.default_rng(1)
    N = 1000                                                # the data-set size that scales the KL
    X, y = rng.normal(size=(16, 2)), (rng.random(16) < 0.5).astype(np.float64)
    model = mnn.Sequential(mnn.LinearVariational(2, 50, prior_sigma=1.0, rho_init=-3.0, dtype=np.float64),
                           mnn.ReLU(), mnn.LinearVariational(50, 1, prior_sigma=1.0, rho_init=-3.0, dtype=np.float64))
    params_t = {k: torch.from_numpy(v.detach().numpy().copy()).requires_grad_() for k, v in model.named_parameters()}
    opt_m = minidl.optim.Adam(model.parameters(), lr=1e-2)

    logits = model(minidl.tensor(X)).reshape(-1)
    nelbo = mnn.functional.binary_cross_entropy_with_logits(logits, minidl.tensor(y)) + kl_divergence(model) / N
    opt_m.zero_grad()
    nelbo.backward()
    opt_m.step()

    # torch, the same computation with the noise minidl drew
    (ew0, eb0), (ew1, eb1) = model[0].last_noise, model[2].last_noise
    l0 = {k.split(".", 1)[1]: v for k, v in params_t.items() if k.startswith("0.")}
    l1 = {k.split(".", 1)[1]: v for k, v in params_t.items() if k.startswith("2.")}
    h = torch.relu(torch_layer(torch.from_numpy(X), l0, ew0, eb0))
    logits_t = torch_layer(h, l1, ew1, eb1).reshape(-1)
    nelbo_t = (torch.nn.functional.binary_cross_entropy_with_logits(logits_t, torch.from_numpy(y))
               + (torch_kl(l0, 1.0) + torch_kl(l1, 1.0)) / N)
    opt_t = torch.optim.Adam(params_t.values(), lr=1e-2)
    opt_t.zero_grad()
    nelbo_t.backward()
    opt_t.step()

    assert_close(logits, logits_t, what="logits", **TOL)
    assert_close(nelbo, nelbo_t, what="negative ELBO", **TOL)
    for k, p in model.named_parameters():
        assert_close(p.grad, params_t[k].grad, what=f"grad {k}", **TOL)
        assert_close(p, params_t[k], what=f"{k} after one Adam step", **TOL)


def test_sampling_and_mean_modes() -> None:
    minidl.manual_seed(2)
    layer = mnn.BayesLinear(3, 2, rho_init=0.0, dtype=np.float64)
    x = minidl.tensor(np.ones((1, 3)))
    a, b = layer(x).detach().numpy(), layer(x).detach().numpy()
    assert not np.allclose(a, b)                           # a new weight sample per forward pass
    layer.sample = False
    w, bias = layer.weight_mu.detach().numpy(), layer.bias_mu.detach().numpy()
    assert_close(layer(x), np.ones((1, 3)) @ w.T + bias, what="mean network", **TOL)
    layer.sample = True
    eps = (np.zeros((2, 3)), np.zeros(2))
    assert_close(layer(x, noise=eps), np.ones((1, 3)) @ w.T + bias, what="zero noise", **TOL)
    with pytest.raises(ValueError, match=r"\(3, 2\).*\(2, 3\)"):
        layer(x, noise=(np.zeros((3, 2)), np.zeros(2)))
    with pytest.raises(ValueError, match="no LinearVariational"):
        kl_divergence(mnn.Linear(2, 2))
