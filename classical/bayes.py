"""Closed-form Bayesian linear regression (course 4-a), NumPy/SciPy only.

Model: y = w^T phi(x) + eps with eps ~ N(0, 1/beta), prior w ~ N(0, alpha^-1 I). Bayes' rule with a
Gaussian prior and a Gaussian likelihood gives a Gaussian posterior (complete the square in w):

    S^-1 = alpha I + beta Phi^T Phi          (the posterior precision, D x D)
    m    = beta S Phi^T y                    (the posterior mean)

and, integrating w out, the predictive distribution at a new input x:

    p(y | x, data) = N( m^T phi(x),  1/beta + phi(x)^T S phi(x) )

The first term of the variance is the noise (aleatoric), the second the uncertainty on w (epistemic):
it shrinks where there is data and grows away from it, unless phi(x) itself vanishes there (Gaussian
bases), in which case the variance falls back to the noise alone, 1/beta.

Linear algebra. We never form S = (S^-1)^-1 explicitly. S^-1 is symmetric positive definite, so we
factor it once as S^-1 = L L^T (Cholesky) and then
  - m = beta S Phi^T y       is two triangular solves (L u = beta Phi^T y, L^T m = u);
  - phi^T S phi = |L^-1 phi|^2   is one triangular solve per input, and is >= 0 by construction;
  - a posterior sample is  w = m + L^-T z  with z ~ N(0, I), since Cov(L^-T z) = (L L^T)^-1 = S.
Why: Cholesky costs half of an LU, is backward stable for SPD matrices, and it FAILS (instead of
returning garbage) when S^-1 is not positive definite. An explicit inverse multiplies the rounding
error by the condition number once more and can return a "covariance" with negative variances.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from scipy.linalg import cho_solve, cholesky, solve_triangular

# The course's hyper-parameters: noise std sigma = 0.2, prior precision alpha = 2 and
# beta = 1 / (2 sigma^2) = 12.5 (the course's convention, not the usual 1/sigma^2), so 1/beta = 0.08.
SIGMA = 0.2
ALPHA = 2.0
BETA = 1.0 / (2.0 * SIGMA ** 2)


# --------------------------------------------------------------------------- bases: x (N,) -> Phi (N, D)
def _as_1d(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim != 1:
        raise ValueError(f"basis functions take 1-D inputs x of shape (N,) or (N, 1), got {x.shape}")
    return x


def linear_basis(x: np.ndarray) -> np.ndarray:
    """phi(x) = [1, x]: (N, 2)."""
    x = _as_1d(x)
    return np.stack([np.ones_like(x), x], axis=1)


def polynomial_basis(x: np.ndarray, degree: int = 9) -> np.ndarray:
    """phi(x) = [1, x, x^2, ..., x^degree]: (N, degree + 1)."""
    x = _as_1d(x)
    return x[:, None] ** np.arange(degree + 1)


def gaussian_basis(x: np.ndarray, M: int = 9, s: float = 1 / 9, low: float = 0.0, high: float = 1.0) -> np.ndarray:
    """phi_j(x) = exp(-(x - mu_j)^2 / (2 s^2)), mu_j = M centres evenly spaced on [low, high]: (N, M).

    No constant feature: far from every centre phi(x) -> 0, so the predictive variance -> 1/beta."""
    x = _as_1d(x)
    mu = np.linspace(low, high, M)
    return np.exp(-((x[:, None] - mu[None, :]) ** 2) / (2 * s ** 2))


# --------------------------------------------------------------------------- the posterior
class BayesianLinearRegression:
    """Bayesian linear regression with fixed ``alpha`` (prior precision) and ``beta`` (noise precision).

    ``basis`` maps inputs to a design matrix; None means the inputs already are one (``X: (N, D)``).
    Estimator API: ``fit(X, y)``, ``predict(X, return_std=False)``, ``sample_weights(n)``,
    ``sample_functions(X, n)``; fitted attributes ``coef_`` (m, (D,)) and ``sigma_`` (S, (D, D)).
    With no data (``fit`` on zero points) the posterior is the prior.
    """

    def __init__(self, alpha: float = ALPHA, beta: float = BETA,
                 basis: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
        if alpha < 0 or beta <= 0:
            raise ValueError(f"need alpha >= 0 and beta > 0, got alpha={alpha}, beta={beta}")
        self.alpha, self.beta, self.basis = float(alpha), float(beta), basis

    def design(self, X: np.ndarray) -> np.ndarray:
        Phi = self.basis(X) if self.basis is not None else np.asarray(X, dtype=np.float64)
        if Phi.ndim != 2:
            raise ValueError(f"design matrix must be 2-D (N, D), got shape {Phi.shape}")
        return Phi

    def fit(self, X: np.ndarray, y: np.ndarray, n_features: int | None = None) -> "BayesianLinearRegression":
        """Posterior from the data. ``n_features``: D, needed only when there are no points and no basis."""
        y = np.asarray(y, dtype=np.float64).ravel()
        if len(y) == 0 and self.basis is None:
            Phi = np.zeros((0, n_features or 0))
        else:
            Phi = self.design(X)
        if Phi.shape[0] != len(y):
            raise ValueError(f"design matrix {Phi.shape} and targets {y.shape} disagree on the number of points")
        N, D = Phi.shape
        precision = self.alpha * np.eye(D) + self.beta * Phi.T @ Phi        # S^-1
        if self.alpha == 0 and N < D:
            raise np.linalg.LinAlgError(
                f"singular posterior precision: alpha = 0 and only {N} point(s) for {D} basis functions "
                f"(design matrix {Phi.shape}); Phi^T Phi has rank <= {N} < {D}. Use alpha > 0 or more data.")
        try:
            L = cholesky(precision, lower=True)
        except np.linalg.LinAlgError as e:
            raise np.linalg.LinAlgError(
                f"posterior precision alpha I + beta Phi^T Phi ({D}x{D}, design {Phi.shape}, alpha={self.alpha}) "
                f"is not positive definite: {e}") from None
        d = np.diag(L)
        if d.min() <= np.sqrt(D * np.finfo(np.float64).eps) * d.max():      # cond(S^-1) >~ 1/(D eps)
            raise np.linalg.LinAlgError(
                f"posterior precision ({D}x{D}, design {Phi.shape}, alpha={self.alpha}) is numerically singular "
                f"(Cholesky pivot ratio {d.min() / d.max():.2e}); use alpha > 0 or more distinct inputs")
        self.chol_ = L
        self.coef_ = cho_solve((L, True), self.beta * Phi.T @ y)             # m = beta S Phi^T y
        self.n_features_in_ = D
        return self

    @property
    def sigma_(self) -> np.ndarray:
        """S, formed only on request (for plots and tests): S = L^-T L^-1."""
        Linv = solve_triangular(self.chol_, np.eye(self.n_features_in_), lower=True)
        return Linv.T @ Linv

    def predict(self, X: np.ndarray, return_std: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Predictive mean m^T phi(x) and, with ``return_std``, sqrt(1/beta + phi^T S phi)."""
        Phi = self._checked_design(X)
        mean = Phi @ self.coef_
        if not return_std:
            return mean
        return mean, np.sqrt(self.predictive_variance(X, Phi))

    def predictive_variance(self, X: np.ndarray, Phi: np.ndarray | None = None) -> np.ndarray:
        """1/beta + phi(x)^T S phi(x) = 1/beta + |L^-1 phi(x)|^2 for each input: (N,)."""
        Phi = self._checked_design(X) if Phi is None else Phi
        V = solve_triangular(self.chol_, Phi.T, lower=True)                   # L^-1 Phi^T: (D, N)
        return 1.0 / self.beta + np.einsum("dn,dn->n", V, V)

    def sample_weights(self, n: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
        """n draws w = m + L^-T z from the posterior: (n, D)."""
        rng = np.random.default_rng(rng)
        z = rng.standard_normal((self.n_features_in_, n))
        return (self.coef_[:, None] + solve_triangular(self.chol_, z, lower=True, trans="T")).T

    def sample_functions(self, X: np.ndarray, n: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
        """n posterior functions x -> w^T phi(x) evaluated at X: (n, N)."""
        return self.sample_weights(n, rng) @ self._checked_design(X).T

    def _checked_design(self, X: np.ndarray) -> np.ndarray:
        if not hasattr(self, "chol_"):
            raise RuntimeError("BayesianLinearRegression: call fit() first")
        Phi = self.design(X)
        if Phi.shape[1] != self.n_features_in_:
            raise ValueError(f"design matrix {Phi.shape} has {Phi.shape[1]} features, the posterior "
                             f"{self.n_features_in_}")
        return Phi


# --------------------------------------------------------------------------- the course's data sets
def make_linear(n: int = 25, sigma: float = SIGMA, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """y = -0.3 + 0.5 x + N(0, sigma^2), x ~ U(-1, 1)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, n)
    return x, -0.3 + 0.5 * x + sigma * rng.standard_normal(n)


def make_hole(n: int = 25, sigma: float = SIGMA, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The linear function observed in two clusters, x ~ U(-1, -0.5) and U(0.5, 1): nothing in between."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.uniform(-1, -0.5, n // 2), rng.uniform(0.5, 1, n - n // 2)])
    return x, -0.3 + 0.5 * x + sigma * rng.standard_normal(n)


def make_sinusoid(n: int = 25, sigma: float = SIGMA, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """y = sin(2 pi x) + x + N(0, sigma^2), x ~ U(0, 1)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, n)
    return x, np.sin(2 * np.pi * x) + x + sigma * rng.standard_normal(n)


__all__ = ["ALPHA", "BETA", "SIGMA", "BayesianLinearRegression", "gaussian_basis", "linear_basis", "make_hole",
           "make_linear", "make_sinusoid", "polynomial_basis"]
