"""ConfidNet (Corbiere et al., NeurIPS 2019, "Addressing Failure Prediction by Learning Model Confidence") for the
uncertainty chapter (4-c), in the paper's two stages.

The classifier's confidence in its prediction is the maximum class probability (MCP). On an error MCP is still
the probability of the WRONG class, and can be high. The true-class probability TCP = p(y* | x) is low on every
error (below 1/2 whenever the prediction is wrong with 2 classes, and very often with 10), but needs the label y*.
ConfidNet learns to predict TCP from the input: an MLP with a sigmoid output, trained with the mean squared error

    L = mean_i (c(x_i) - p(y*_i | x_i))^2 ,

and at test time 1 - c(x) is the failure score (errors are the positive class of the AUPR).

1. ``train_head``: the MLP on the classifier's frozen penultimate features (its reference configuration:
   ``depth`` hidden ReLU layers of ``width``, Adam, batches of 128).
2. ``finetune``: the paper's main gain. A COPY of the classifier's encoder (the convolutions and fc3-fc4, with
   dropout off to cut the noise of the target) is trained together with the stage-1 MLP, with a small learning
   rate so that the copy stays close to the original. The classifier that makes the predictions is not touched,
   so accuracy and MCP are exactly those of the classifier: only the confidence changes. Images are shifted at
   random as in the classifier's training (the fixed classifier's TCP is recomputed on each shifted image), which
   also makes more errors to learn from: with ~1-2 % errors, the TCP targets are nearly all close to 1.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
from tqdm import tqdm

from minidl.interop import Backend


def mlp(B: Backend, d_in: int, width: int, depth: int) -> Any:
    """``depth`` hidden ReLU layers of ``width`` units and one sigmoid output: c(x) in (0, 1)."""
    nn = B.nn
    layers, d = [], d_in
    for _ in range(depth):
        layers += [nn.Linear(d, width), nn.ReLU()]
        d = width
    return B.model_to(nn.Sequential(*layers, nn.Linear(d, 1), nn.Sigmoid()))


def train_head(B: Backend, penult: np.ndarray, tcp: np.ndarray, steps: int, seed: int, width: int, depth: int,
               lr: float, batch_size: int = 128) -> Any:
    """Stage 1: the MLP regresses TCP from frozen penultimate features with MSE (Adam, a fixed number of steps:
    the paper stops on the validation AUPR, but our validation split holds ~10 errors, too few to stop on)."""
    B.manual_seed(seed + 7)
    net = mlp(B, penult.shape[1], width, depth)
    opt = B.optim.Adam(net.parameters(), lr=lr)
    loss_fn = B.nn.MSELoss()
    rng = np.random.default_rng(seed)
    feats, target = B.tensor(penult), B.tensor(tcp.astype(np.float32))
    net.train()
    per_epoch = -(-len(penult) // batch_size)
    for step in tqdm(range(steps), desc="ConfidNet", leave=False):
        if step % per_epoch == 0:
            order = rng.permutation(len(penult))
        idx = B.tensor(order[(step % per_epoch) * batch_size:][:batch_size])
        loss = loss_fn(net(feats[idx]).reshape(-1), target[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    return net


def finetune(B: Backend, encoder: Any, net: Any, classifier_probs: Callable[[Any], Any], X: np.ndarray,
             y: np.ndarray, steps: int, lr: float, seed: int, augment: Callable[[np.ndarray, Any], np.ndarray],
             batch_size: int = 128) -> None:
    """Stage 2: train ``encoder`` (a copy of the classifier's encoder: image -> penultimate features, no dropout)
    and ``net`` together on MSE to the FIXED classifier's TCP, ``classifier_probs(x)`` (no gradient), on
    images passed through ``augment(x, rng)``. Adam with a small ``lr``; a fixed number of steps."""
    params = list(encoder.parameters()) + list(net.parameters())
    opt = B.optim.Adam(params, lr=lr)
    loss_fn = B.nn.MSELoss()
    rng = np.random.default_rng(seed + 11)
    encoder.train()                       # the copy holds no dropout: train() and eval() compute the same thing
    net.train()
    per_epoch = max(len(X) // batch_size, 1)
    one_hot = np.eye(10, dtype=np.float32)
    for step in tqdm(range(steps), desc="ConfidNet fine-tuning", leave=False):
        if step % per_epoch == 0:
            order = rng.permutation(len(X))
        idx = order[(step % per_epoch) * batch_size:][:batch_size]
        xb = B.tensor(augment(X[idx], rng))
        with B.no_grad():
            tcp = (classifier_probs(xb) * B.tensor(one_hot[y[idx]])).sum(1)      # p(y* | x), fixed classifier
        loss = loss_fn(net(encoder(xb)).reshape(-1), tcp)
        opt.zero_grad()
        loss.backward()
        opt.step()
    encoder.eval()
    net.eval()


def scores(B: Backend, encoder: Any, net: Any, X: np.ndarray) -> np.ndarray:
    """The failure score 1 - c(x) (float64), in batches of 500."""
    with B.no_grad():
        c = [B.to_numpy(net(encoder(B.tensor(X[s:s + 500])))).reshape(-1) for s in range(0, len(X), 500)]
    return 1 - np.concatenate(c).astype(np.float64)
