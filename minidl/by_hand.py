"""The course's two-layer MLP with its gradients derived by hand (plain NumPy, no autograd).

Notation (course TME 3-4), for a batch of N rows ``x: (N, nx)`` with one-hot targets ``y: (N, ny)``:

    h~ = x W_h^T + b_h        h = tanh(h~)                      (N, nh)
    y~ = h W_y^T + b_y        y^ = softmax(y~)                  (N, ny)
    l  = -sum_n sum_i y_ni log y^_ni                            (cross-entropy, summed over the batch)

The course's gradients are per sample (dl/dy~ = y^ - y) and its minibatch update adds them up, which
is the gradient of the loss *summed* over the batch: that is the loss we differentiate. (Curves report
the mean, which does not depend on the batch size.) Backward, by the chain rule, one line per step:

    dl/dy~   = y^ - y                       softmax + cross-entropy: the log-sum-exp cancels
    dl/dW_y  = (dl/dy~)^T h                 y~ is linear in W_y  (the course's  dl/dy~ h^T  per sample)
    dl/db_y  = sum_n dl/dy~_n
    dl/dh~   = (dl/dy~ W_y) * (1 - h^2)     back through W_y, then tanh' = 1 - tanh^2
    dl/dW_h  = (dl/dh~)^T x
    dl/db_h  = sum_n dl/dh~_n

The parity suite checks every line against torch autograd (``parity/test_mlp_derivation.py``).
"""
from __future__ import annotations

import numpy as np


def init_params(nx: int, nh: int, ny: int, std: float = 0.3, rng: np.random.Generator | None = None
                ) -> dict[str, np.ndarray]:
    """Weights and biases ~ N(0, std^2), the course's initialisation. W_h: (nh, nx), W_y: (ny, nh)."""
    rng = rng or np.random.default_rng(0)
    return {"Wh": rng.normal(0, std, (nh, nx)), "bh": rng.normal(0, std, nh),
            "Wy": rng.normal(0, std, (ny, nh)), "by": rng.normal(0, std, ny)}


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax, shifted by the row max so that exp never overflows."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def forward(params: dict[str, np.ndarray], x: np.ndarray) -> dict[str, np.ndarray]:
    """The forward pass; returns every intermediate (the backward needs h and y^)."""
    h_tilde = x @ params["Wh"].T + params["bh"]
    h = np.tanh(h_tilde)
    y_tilde = h @ params["Wy"].T + params["by"]
    return {"x": x, "h_tilde": h_tilde, "h": h, "y_tilde": y_tilde, "y_hat": softmax(y_tilde)}


def loss_accuracy(y_hat: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Mean cross-entropy (per sample) and accuracy for one-hot ``y``."""
    loss = -np.mean(np.sum(y * np.log(np.clip(y_hat, 1e-300, None)), axis=1))
    acc = np.mean(y_hat.argmax(axis=1) == y.argmax(axis=1))
    return float(loss), float(acc)


def backward(params: dict[str, np.ndarray], cache: dict[str, np.ndarray], y: np.ndarray) -> dict[str, np.ndarray]:
    """The hand-derived gradients of the batch-summed cross-entropy (see the module docstring)."""
    grad_y_tilde = cache["y_hat"] - y                                        # dl/dy~ = y^ - y
    grad_Wy = grad_y_tilde.T @ cache["h"]                                    # dl/dW_y
    grad_by = grad_y_tilde.sum(axis=0)                                       # dl/db_y
    grad_h_tilde = (grad_y_tilde @ params["Wy"]) * (1 - cache["h"] ** 2)     # dl/dh~
    grad_Wh = grad_h_tilde.T @ cache["x"]                                    # dl/dW_h
    grad_bh = grad_h_tilde.sum(axis=0)                                       # dl/db_h
    return {"Wh": grad_Wh, "bh": grad_bh, "Wy": grad_Wy, "by": grad_by,
            "y_tilde": grad_y_tilde, "h_tilde": grad_h_tilde}


def sgd_step(params: dict[str, np.ndarray], grads: dict[str, np.ndarray], eta: float) -> None:
    """W <- W - eta dl/dW for every parameter, in place."""
    for k in params:
        params[k] -= eta * grads[k]
