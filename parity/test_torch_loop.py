"""A torch-style training loop, written once, runs unchanged on minidl and on torch, and the float64
loss trajectories are equal from the same initial weights (issue 2's definition of done)."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

import minidl
from minidl.data.toy import make_circles
from parity.helpers import copy_weights


def train(lib: Any, model: Any, X: Any, y: Any, order: np.ndarray, epochs: int = 3) -> tuple[list[float], float]:
    """The loop a torch user writes: nothing below is minidl-specific."""
    loss_fn = lib.nn.CrossEntropyLoss()
    opt = lib.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for epoch in range(epochs):
        perm = lib.tensor(order[epoch])
        for start in range(0, len(perm), 10):
            idx = perm[start:start + 10]
            opt.zero_grad()
            loss = loss_fn(model(X[idx]), y[idx])
            loss.backward()
            opt.step()
            losses.append(loss.item())
    with lib.no_grad():
        acc = (model(X).argmax(dim=1) == y).float().mean().item()
    return losses, acc


def net(lib: Any) -> Any:
    nn = lib.nn
    return nn.Sequential(nn.Linear(2, 10), nn.Tanh(), nn.Linear(10, 2))


def test_same_loop_same_trajectory() -> None:
    Xn, yn = make_circles(200, seed=3)
    order = np.stack([np.random.default_rng(e).permutation(200) for e in range(3)])
    t_model, m_model = net(torch).double(), net(minidl).double()
    copy_weights(t_model, m_model)
    t_losses, t_acc = train(torch, t_model, torch.tensor(Xn), torch.tensor(yn), order)
    m_losses, m_acc = train(minidl, m_model, minidl.tensor(Xn), minidl.tensor(yn), order)
    assert len(m_losses) == 60
    np.testing.assert_allclose(m_losses, t_losses, rtol=1e-7, atol=1e-9)
    assert m_acc == t_acc
    assert m_losses[-1] < m_losses[0]  # it really trained
