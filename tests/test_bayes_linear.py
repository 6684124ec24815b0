"""Closed-form Bayesian linear regression (classical/bayes.py) against independent references."""
from __future__ import annotations

import numpy as np
import pytest

from classical.bayes import (ALPHA, BETA, BayesianLinearRegression, gaussian_basis, linear_basis, make_hole,
                             make_linear, make_sinusoid, polynomial_basis)

RTOL, ATOL = 1e-7, 1e-9  # float64 policy


@pytest.mark.parametrize("basis", [linear_basis, polynomial_basis, gaussian_basis])
def test_posterior_matches_a_direct_linear_solve(basis) -> None:
    x, y = make_sinusoid(25, seed=1)
    model = BayesianLinearRegression(ALPHA, BETA, basis).fit(x, y)
    Phi = basis(x)
    A = ALPHA * np.eye(Phi.shape[1]) + BETA * Phi.T @ Phi
    m = np.linalg.solve(A, BETA * Phi.T @ y)                 # LU, no Cholesky
    S = np.linalg.inv(A)
    np.testing.assert_allclose(model.coef_, m, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(model.sigma_, S, rtol=RTOL, atol=ATOL)
    xs = np.linspace(-0.5, 1.5, 41)
    P = basis(xs)
    mean, std = model.predict(xs, return_std=True)
    np.testing.assert_allclose(mean, P @ m, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(std ** 2, 1 / BETA + np.einsum("nd,de,ne->n", P, S, P), rtol=RTOL, atol=ATOL)


def test_matches_sklearn_bayesian_ridge_at_its_hyper_parameters() -> None:
    """sklearn's BayesianRidge learns its precisions by evidence maximisation, then recomputes coef_ and
    sigma_ once more at the final ones. The definitions coincide with ours when fit_intercept=False
    (sklearn fits the intercept by centring, not through the prior), with sklearn's ``alpha_`` (noise
    precision) = our beta and its ``lambda_`` (weight precision) = our alpha. We fix our hyper-parameters
    to sklearn's final ones and compare the posterior and the predictive std."""
    from sklearn.linear_model import BayesianRidge
    x, y = make_sinusoid(30, seed=2)
    Phi = gaussian_basis(x)
    sk = BayesianRidge(fit_intercept=False, tol=1e-10, max_iter=500).fit(Phi, y)
    ours = BayesianLinearRegression(alpha=sk.lambda_, beta=sk.alpha_).fit(Phi, y)
    np.testing.assert_allclose(ours.coef_, sk.coef_, rtol=1e-6, atol=1e-9)   # sklearn uses an SVD: 1e-6
    np.testing.assert_allclose(ours.sigma_, sk.sigma_, rtol=1e-6, atol=1e-9)
    xs = np.linspace(-0.5, 1.5, 21)
    m_sk, s_sk = sk.predict(gaussian_basis(xs), return_std=True)
    m, s = ours.predict(gaussian_basis(xs), return_std=True)
    np.testing.assert_allclose(m, m_sk, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(s, s_sk, rtol=1e-6, atol=1e-9)


def test_course_analytical_result_variance_grows_with_squared_distance() -> None:
    """alpha = 0, beta = 1, phi(x) = [1, x]: S = (Phi^T Phi)^-1 and, with x_bar the mean and
    s_xx = sum_i (x_i - x_bar)^2, phi^T S phi = 1/N + (x - x_bar)^2 / s_xx. So the predictive variance is
    1 + 1/N + (x - x_bar)^2 / s_xx: a parabola in the distance to the centre of the data."""
    x, y = make_linear(12, seed=3)
    model = BayesianLinearRegression(alpha=0.0, beta=1.0, basis=linear_basis).fit(x, y)
    xs = np.linspace(-4, 4, 33)
    expected = 1 + 1 / len(x) + (xs - x.mean()) ** 2 / ((x - x.mean()) ** 2).sum()
    np.testing.assert_allclose(model.predictive_variance(xs), expected, rtol=RTOL, atol=ATOL)


def test_far_from_the_data_gaussian_bases_fall_back_to_the_noise() -> None:
    x, y = make_sinusoid(25)
    model = BayesianLinearRegression(ALPHA, BETA, gaussian_basis).fit(x, y)
    assert 1 / BETA == pytest.approx(0.08)                    # the course's setting: sigma 0.2, beta = 1/(2 sigma^2)
    far = model.predictive_variance(np.array([-3.0, 4.0]))
    np.testing.assert_allclose(far, 1 / BETA, rtol=1e-12)
    near = model.predictive_variance(np.array([0.5]))
    assert near[0] > 1 / BETA                                 # epistemic part > 0 inside the data


def test_samples_follow_the_posterior() -> None:
    x, y = make_hole(25)
    model = BayesianLinearRegression(ALPHA, BETA, linear_basis).fit(x, y)
    w = model.sample_weights(40_000, rng=0)
    np.testing.assert_allclose(w.mean(0), model.coef_, atol=4 * np.sqrt(model.sigma_.diagonal().max() / 40_000))
    S, n = model.sigma_, len(w)
    # Monte Carlo: the sample covariance's entry (i, j) has std sqrt((S_ii S_jj + S_ij^2) / n); allow 5 of them
    mc_std = np.sqrt((np.outer(S.diagonal(), S.diagonal()) + S ** 2) / n)
    assert np.all(np.abs(np.cov(w.T) - S) < 5 * mc_std), (np.cov(w.T), S)


def test_no_data_gives_the_prior() -> None:
    model = BayesianLinearRegression(ALPHA, BETA, polynomial_basis).fit(np.zeros(0), np.zeros(0))
    np.testing.assert_allclose(model.coef_, 0)
    np.testing.assert_allclose(model.sigma_, np.eye(10) / ALPHA, rtol=RTOL)


def test_singular_design_is_a_clear_linalg_error() -> None:
    x, y = make_sinusoid(5)
    with pytest.raises(np.linalg.LinAlgError, match=r"5 point\(s\) for 10 basis functions.*\(5, 10\)"):
        BayesianLinearRegression(alpha=0.0, beta=BETA, basis=polynomial_basis).fit(x, y)
    # enough points but all at the same x: rank 1, caught numerically
    with pytest.raises(np.linalg.LinAlgError, match="singular|positive definite"):
        BayesianLinearRegression(alpha=0.0, beta=BETA, basis=linear_basis).fit(np.full(6, 0.3), np.ones(6))


def test_bad_shapes_name_them() -> None:
    with pytest.raises(ValueError, match=r"\(4, 2\).*\(3,\)"):
        BayesianLinearRegression(basis=linear_basis).fit(np.zeros(4), np.zeros(3))
    with pytest.raises(ValueError, match=r"\(2, 2, 2\)"):
        linear_basis(np.zeros((2, 2, 2)))


def test_chapter_quick(tmp_path) -> None:
    import json

    from examples import bayes_linear
    m = bayes_linear.main(["--quick", "--out", str(tmp_path)])
    assert json.loads((tmp_path / "metrics.json").read_text())["data"] == m["data"]
    assert {"posterior_samples.png", "predictive.png"} <= {p.name for p in tmp_path.glob("*.png")}
    assert m["one_over_beta"] == pytest.approx(0.08)
    assert m["far_field_variance"] == pytest.approx(m["one_over_beta"], rel=1e-9)
    assert m["in_data_variance"] > m["one_over_beta"]
    assert m["test_rmse_gaussian_sinusoid"] < 0.3 < m["test_rmse_linear_sinusoid"]  # noise std 0.2; a line cannot fit
