"""The course's hand-derived MLP gradients (``minidl/by_hand.py``) against torch autograd, on the
same weights and batch, line by line of the derivation (the loss summed over the batch, as the
course's per-sample gradients add up). float64, policy tolerances."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from minidl import by_hand
from parity.helpers import assert_close

TOL = dict(atol=1e-9, rtol=1e-7)


@pytest.mark.parametrize("seed,n,nx,nh,ny", [(0, 10, 2, 10, 2), (1, 7, 5, 8, 4), (2, 1, 3, 3, 3)])
def test_hand_derived_gradients_equal_autograd(seed: int, n: int, nx: int, nh: int, ny: int) -> None:
    rng = np.random.default_rng(seed)
    params = by_hand.init_params(nx, nh, ny, rng=rng)
    x = rng.normal(size=(n, nx))
    y = np.eye(ny)[rng.integers(0, ny, n)]

    cache = by_hand.forward(params, x)
    grads = by_hand.backward(params, cache, y)

    t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    h_tilde = torch.tensor(x) @ t["Wh"].T + t["bh"]
    h_tilde.retain_grad()
    h = torch.tanh(h_tilde)
    y_tilde = h @ t["Wy"].T + t["by"]
    y_tilde.retain_grad()
    loss = torch.nn.functional.cross_entropy(y_tilde, torch.tensor(y.argmax(1)), reduction="sum")
    loss.backward()

    loss_hand, _ = by_hand.loss_accuracy(cache["y_hat"], y)
    assert_close(np.float64(loss_hand * n), loss, what="loss", **TOL)
    assert_close(grads["y_tilde"], y_tilde.grad, what="dl/dy~ = y^ - y", **TOL)
    assert_close(grads["Wy"], t["Wy"].grad, what="dl/dW_y = dl/dy~ h^T", **TOL)
    assert_close(grads["by"], t["by"].grad, what="dl/db_y = dl/dy~", **TOL)
    assert_close(grads["h_tilde"], h_tilde.grad, what="dl/dh~ = W_y^T dl/dy~ * (1 - h^2)", **TOL)
    assert_close(grads["Wh"], t["Wh"].grad, what="dl/dW_h = dl/dh~ x^T", **TOL)
    assert_close(grads["bh"], t["bh"].grad, what="dl/db_h = dl/dh~", **TOL)


def test_hand_sgd_step_equals_torch_sgd() -> None:
    """One update W <- W - eta dl/dW by hand equals torch.optim.SGD on the same gradients."""
    rng = np.random.default_rng(5)
    params = by_hand.init_params(2, 10, 2, rng=rng)
    x, y = rng.normal(size=(10, 2)), np.eye(2)[rng.integers(0, 2, 10)]
    t = {k: torch.nn.Parameter(torch.tensor(v)) for k, v in params.items()}
    grads = by_hand.backward(params, by_hand.forward(params, x), y)
    by_hand.sgd_step(params, grads, eta=0.03)
    opt = torch.optim.SGD(t.values(), lr=0.03)
    logits = torch.tanh(torch.tensor(x) @ t["Wh"].T + t["bh"]) @ t["Wy"].T + t["by"]
    torch.nn.functional.cross_entropy(logits, torch.tensor(y.argmax(1)), reduction="sum").backward()
    opt.step()
    for k in params:
        assert_close(params[k], t[k], what=f"{k} after one step", **TOL)
