"""Out-of-distribution scores for the uncertainty chapter (4-c): ODIN on the softmax, Mahalanobis on the features,
and the AUPR at a 1:1 mix of in- and out-of-distribution images.

The softmax scores (MCP, entropy, ODIN) only see how the 10 class scores compare: an image unlike any digit
can still push one class far ahead of the others. The Mahalanobis score (Lee et al., NeurIPS 2018, "A Simple
Unified Framework for Detecting Out-of-Distribution Samples and Adversarial Attacks") asks instead how far
the image's features h(x) lie from the training digits' features. It fits one Gaussian per class with a shared
covariance on the classifier's TRAINING images (a linear discriminant analysis of the features),

    mu_c = mean of h(x_i) over the training images of class c,
    Sigma = 1/N sum_i (h(x_i) - mu_{y_i}) (h(x_i) - mu_{y_i})^T ,

and scores an image by its distance to the closest class,

    s(x) = min_c (h(x) - mu_c)^T Sigma^-1 (h(x) - mu_c)          (large = far from every digit: OOD).

Which layer's features h is chosen on the validation split (MNIST validation images vs the validation KMNIST
images), never on the test split. The paper also nudges the input (as ODIN does) and combines several layers
with a logistic regression fitted on OOD validation data; we keep the plain score of one layer.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.linalg import cho_factor, cho_solve

from minidl import uncertainty as U
from minidl.by_hand import softmax
from minidl.interop import Backend


@dataclass
class ClassGaussians:
    means: np.ndarray          # (C, D) class means
    chol: tuple                # Cholesky factor of the shared covariance (scipy's cho_factor)


def fit_class_gaussians(feats: np.ndarray, labels: np.ndarray, n_classes: int,
                        ridge: float = 1e-6) -> ClassGaussians:
    """Class means and the pooled (shared) covariance of ``feats`` (N, D). ReLU features have dead units (a
    column of zeros makes Sigma singular), so ``ridge`` times the mean variance is added to the diagonal.
    Sigma^-1 is never formed: distances are solved with its Cholesky factor (stabler, and cheaper per query)."""
    feats = np.asarray(feats, np.float64)
    if feats.ndim != 2 or len(feats) != len(labels):
        raise ValueError(f"expected features (N, D) and N labels, got {feats.shape} and {np.shape(labels)}")
    missing = sorted(set(range(n_classes)) - set(np.unique(labels).tolist()))
    if missing:
        raise ValueError(f"classes {missing} have no training features: cannot fit their Gaussians")
    means = np.stack([feats[labels == c].mean(0) for c in range(n_classes)])
    resid = feats - means[labels]
    cov = resid.T @ resid / len(feats)
    cov[np.diag_indices_from(cov)] += ridge * max(np.trace(cov) / len(cov), 1e-12)
    return ClassGaussians(means, cho_factor(cov, lower=True))


def mahalanobis_score(g: ClassGaussians, feats: np.ndarray) -> np.ndarray:
    """min over classes of the squared Mahalanobis distance (N,); larger = more likely OOD."""
    feats = np.asarray(feats, np.float64)
    d2 = []
    for mu in g.means:
        diff = feats - mu                                         # (N, D)
        d2.append(np.einsum("nd,dn->n", diff, cho_solve(g.chol, diff.T)))
    return np.min(d2, axis=0)


def odin_scores(B: Backend, features: Any, head: Any, X: np.ndarray, temperature: float, eps: float) -> np.ndarray:
    """ODIN (Liang et al., ICLR 2018): 1 - max softmax(f(x~) / T) with x~ = x - eps * sign(grad_x of
    -log softmax(f(x)/T)_yhat), a step that RAISES the temperature-scaled softmax of the predicted class
    yhat (the paper's sign: in-distribution images gain more from it than OOD ones)."""
    features.eval()
    head.eval()
    out = []
    for s in range(0, len(X), 250):
        x = B.tensor(X[s:s + 250], requires_grad=True)
        logits = head(features(x)) / temperature
        yhat = B.tensor(B.to_numpy(logits.argmax(dim=1)))
        B.F.cross_entropy(logits, yhat, reduction="sum").backward()      # -log S_yhat, summed
        x_new = X[s:s + 250] - eps * np.sign(B.to_numpy(x.grad))
        with B.no_grad():
            z = B.to_numpy(head(features(B.tensor(x_new.astype(np.float32))))).astype(np.float64) / temperature
        out.append(1 - softmax(z).max(1))
    return np.concatenate(out)


def balanced_aupr(neg: np.ndarray, pos: np.ndarray, rounds: int, seed: int) -> tuple[float, float, float]:
    """AUPR with as many in-distribution images as OOD ones (the course's 1:1 protocol: 10,000 MNIST vs
    10,000 KMNIST test images). AUPR depends on the positives' share; our OOD sample is small, so each round
    draws len(pos) in-distribution images without replacement and resamples the OOD images with replacement.
    Returns (mean over rounds of the AUPR with all OOD images, 2.5 and 97.5 percentiles of the bootstrap)."""
    rng = np.random.default_rng(seed)
    labels = np.r_[np.zeros(len(pos)), np.ones(len(pos))]
    plain, boot = [], []
    for _ in range(rounds):
        sub = neg[rng.choice(len(neg), len(pos), replace=False)]
        plain.append(U.average_precision(np.r_[sub, pos], labels))
        boot.append(U.average_precision(np.r_[sub, pos[rng.integers(0, len(pos), len(pos))]], labels))
    lo, hi = np.quantile(boot, [0.025, 0.975])
    return float(np.mean(plain)), float(lo), float(hi)
