"""A mean-field Gaussian (variational) linear layer, for Bayes-by-backprop (course 4-b).

Every weight has its own Gaussian posterior q(w) = N(mu, sigma^2), with sigma = softplus(rho) =
log(1 + e^rho) so that sigma > 0 whatever rho the optimiser reaches. A forward pass draws ONE weight
sample by the reparameterisation trick,

    w = mu + sigma * eps,   eps ~ N(0, I),

so that w is a differentiable function of (mu, rho) and the ELBO's expectation can be estimated by
sampling while still being back-propagated: d w / d mu = 1, d w / d rho = eps * sigmoid(rho).

The KL term against the prior p(w) = N(0, s_p^2) is in closed form, summed over the weights:

    KL(q || p) = sum [ log(s_p / sigma) + (sigma^2 + mu^2) / (2 s_p^2) - 1/2 ].

The negative ELBO for a data set of size N, estimated on a batch of size B with one sample, is
    -ELBO ~ (N / B) * sum_batch NLL + KL      or, per example,  mean_batch NLL + KL / N.

PyTorch has no such layer; names follow the literature (``weight_mu``, ``weight_rho``...).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from minidl import autograd
from minidl.creation import randn
from minidl.nn import functional as F
from minidl.nn import init
from minidl.nn.module import Module, Parameter
from minidl.ops import log, log1p, relu
from minidl.tensor import Tensor


def softplus(x: Tensor) -> Tensor:
    """log(1 + e^x), written stably as relu(x) + log1p(e^-|x|) (no overflow for large x)."""
    return relu(x) + log1p((-x.abs()).exp())


class LinearVariational(Module):
    """y = x w^T + b with w ~ N(weight_mu, softplus(weight_rho)^2) sampled at every forward pass.

    in_features, out_features, bias: as ``nn.Linear``. prior_sigma: the prior's std s_p.
    rho_init: the initial rho (sigma = softplus(rho_init); -5 gives sigma ~ 0.0067, so training
    starts near a deterministic network). ``weight_mu`` starts as ``nn.Linear``'s weight does.

    ``layer.sample = False`` uses the means (the "MAP-like" network). The noise of the last forward
    pass is kept in ``layer.last_noise`` (``(eps_weight, eps_bias)``) for tests and inspection;
    ``forward(x, noise=(eps_w, eps_b))`` uses given noise instead of drawing it.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, prior_sigma: float = 1.0,
                 rho_init: float = -5.0, dtype: Any = None) -> None:
        super().__init__()
        if prior_sigma <= 0:
            raise ValueError(f"prior_sigma must be > 0, got {prior_sigma}")
        self.in_features, self.out_features = in_features, out_features
        self.prior_sigma = float(prior_sigma)
        dt = np.dtype(dtype) if dtype is not None else autograd.get_default_dtype()
        self.weight_mu = Parameter(np.empty((out_features, in_features), dtype=dt))
        self.weight_rho = Parameter(np.full((out_features, in_features), rho_init, dtype=dt))
        init.kaiming_uniform_(self.weight_mu, a=math.sqrt(5))
        if bias:
            bound = 1 / math.sqrt(in_features) if in_features > 0 else 0
            self.bias_mu = Parameter(np.empty(out_features, dtype=dt))
            init.uniform_(self.bias_mu, -bound, bound)
            self.bias_rho = Parameter(np.full(out_features, rho_init, dtype=dt))
        else:
            self.register_parameter("bias_mu", None)
            self.register_parameter("bias_rho", None)
        self.sample = True
        self.last_noise: tuple[np.ndarray, np.ndarray | None] | None = None

    def forward(self, x: Tensor, noise: tuple[Any, Any] | None = None) -> Tensor:
        if not self.sample:
            return F.linear(x, self.weight_mu, self.bias_mu)
        dt = self.weight_mu.dtype
        if noise is None:
            eps_w = randn(*self.weight_mu.shape, dtype=dt)
            eps_b = randn(*self.bias_mu.shape, dtype=dt) if self.bias_mu is not None else None
        else:
            eps_w, eps_b = (None if e is None else Tensor(np.asarray(e, dtype=dt)) for e in noise)
            if tuple(eps_w.shape) != tuple(self.weight_mu.shape):
                raise ValueError(f"LinearVariational: weight noise {tuple(eps_w.shape)} does not match weight_mu "
                                 f"{tuple(self.weight_mu.shape)}")
        self.last_noise = (eps_w.numpy().copy(), None if eps_b is None else eps_b.numpy().copy())
        w = self.weight_mu + softplus(self.weight_rho) * eps_w
        b = None if self.bias_mu is None else self.bias_mu + softplus(self.bias_rho) * eps_b
        return F.linear(x, w, b)

    def kl_divergence(self) -> Tensor:
        """KL(q || N(0, prior_sigma^2)) summed over this layer's weights and biases (a scalar Tensor)."""
        total = _gaussian_kl(self.weight_mu, softplus(self.weight_rho), self.prior_sigma)
        if self.bias_mu is not None:
            total = total + _gaussian_kl(self.bias_mu, softplus(self.bias_rho), self.prior_sigma)
        return total

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias_mu is not None}, prior_sigma={self.prior_sigma}")


def _gaussian_kl(mu: Tensor, sigma: Tensor, prior_sigma: float) -> Tensor:
    """sum log(s_p / sigma) + (sigma^2 + mu^2) / (2 s_p^2) - 1/2."""
    return (math.log(prior_sigma) - log(sigma) + (sigma * sigma + mu * mu) / (2 * prior_sigma ** 2) - 0.5).sum()


def kl_divergence(model: Module) -> Tensor:
    """The KL term of a whole model: the sum over its LinearVariational layers."""
    terms = [m.kl_divergence() for m in model.modules() if isinstance(m, LinearVariational)]
    if not terms:
        raise ValueError(f"{type(model).__name__} has no LinearVariational layer: no KL term")
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total


BayesLinear = LinearVariational  # the other name in the literature
