"""The parallel elementwise kernels (``minidl.kernels.elementwise``) against their NumPy references:
bit-identical (same bytes, so ``-0.0`` and NaN included), and ReLU through them still twice
differentiable."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import minidl
from minidl.kernels import elementwise as E, elementwise_reference as R

DTYPES = [np.float32, np.float64]
SPECIAL = [np.nan, -np.nan, -0.0, 0.0, -np.inf, np.inf, 1e-45, -1e-45, 1.0, -1.0]


@pytest.fixture
def always_parallel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(E, "PARALLEL_MIN_SIZE", 0)


def _data(dtype: type, shape: tuple[int, ...]) -> np.ndarray:
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    x.reshape(-1)[:len(SPECIAL)] = SPECIAL
    return x


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1,), (7, 3), (2, 3, 5, 4), (0, 3)])
def test_relu_and_mask_multiply_bit_identical(always_parallel: None, dtype: type, shape: tuple[int, ...]) -> None:
    x = _data(dtype, shape) if np.prod(shape) >= len(SPECIAL) else np.ones(shape, dtype)
    g = np.random.default_rng(1).standard_normal(shape).astype(dtype) * -1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # the reference's inf * 0
        z_ref, p_ref = R.relu_forward(x)
        z, p = E.relu_forward(x)
        gx_ref, gx = R.mask_multiply(g, p_ref), E.mask_multiply(g, p)
    assert z.dtype == z_ref.dtype and z.shape == z_ref.shape and z.tobytes() == z_ref.tobytes()
    assert p.dtype == np.bool_ and np.array_equal(p, p_ref)
    assert gx.dtype == gx_ref.dtype and gx.tobytes() == gx_ref.tobytes()


def test_fallbacks_give_the_reference(always_parallel: None) -> None:
    x = _data(np.float32, (6, 8))
    for a in (x[:, ::2], x.T, x.astype(np.float16), np.arange(-20, 28).reshape(6, 8)):  # not contiguous, other dtypes
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            z, p = E.relu_forward(a)
            z_ref, p_ref = R.relu_forward(a)
        assert z.dtype == z_ref.dtype and z.tobytes() == z_ref.tobytes() and np.array_equal(p, p_ref)
    g = np.ones((6, 8), np.float32)
    mask = (x > 0)[:, ::-1]                                                 # a non-contiguous mask
    assert E.mask_multiply(g, mask).tobytes() == R.mask_multiply(g, mask).tobytes()


def test_small_arrays_stay_on_numpy() -> None:
    assert E.PARALLEL_MIN_SIZE > 1000


@pytest.mark.parametrize("parallel", [False, True])
def test_relu_first_and_second_order(monkeypatch: pytest.MonkeyPatch, parallel: bool) -> None:
    """The ReLU op through the kernels: the same first-order gradient, and double backward still works
    (create_graph=True records ``g * positive`` with Tensor ops)."""
    monkeypatch.setattr(E, "PARALLEL_MIN_SIZE", 0 if parallel else 1 << 62)
    x0 = np.random.default_rng(2).standard_normal((4, 3, 5, 5))
    x = minidl.tensor(x0, requires_grad=True)
    y = minidl.relu(x)
    assert np.array_equal(y.detach().numpy(), x0 * (x0 > 0))
    (gx,) = minidl.autograd.grad((y * y).sum(), x, create_graph=True)
    assert np.array_equal(gx.detach().numpy(), 2 * x0 * (x0 > 0))
    (ggx,) = minidl.autograd.grad(gx.sum(), x)
    assert np.array_equal(ggx.numpy(), 2.0 * (x0 > 0))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1,), (7, 3), (2, 3, 5, 4), (0, 3)])
@pytest.mark.parametrize("slope", [0.2, 0.01, -1.5, 0.0])
def test_leaky_relu_bit_identical(always_parallel: None, dtype: type, shape: tuple[int, ...], slope: float) -> None:
    x = _data(dtype, shape) if np.prod(shape) >= len(SPECIAL) else np.ones(shape, dtype)
    g = _data(dtype, shape)[::-1].copy() if np.prod(shape) >= len(SPECIAL) else -np.ones(shape, dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        z_ref, p_ref = R.leaky_relu_forward(x, slope)
        z, p = E.leaky_relu_forward(x, slope)
        gx_ref, gx = R.leaky_mask_multiply(g, p_ref, slope), E.leaky_mask_multiply(g, p, slope)
    assert z.dtype == z_ref.dtype and z.shape == z_ref.shape and z.tobytes() == z_ref.tobytes()
    assert p.dtype == np.bool_ and np.array_equal(p, p_ref)
    assert gx.dtype == gx_ref.dtype and gx.tobytes() == gx_ref.tobytes()
    # and the reference is the textbook definition (an independent check of the NumPy expression)
    with np.errstate(invalid="ignore", over="ignore"):
        expected = np.array([v if v > 0 else dtype(v) * dtype(slope) for v in x.reshape(-1)], dtype).reshape(shape)
    assert np.array_equal(z_ref, expected, equal_nan=True)


def test_leaky_fallbacks_give_the_reference(always_parallel: None) -> None:
    x = _data(np.float32, (6, 8))
    for a in (x[:, ::2], x.T, x.astype(np.float16)):
        z, p = E.leaky_relu_forward(a, 0.2)
        z_ref, p_ref = R.leaky_relu_forward(a, 0.2)
        assert z.dtype == z_ref.dtype and z.tobytes() == z_ref.tobytes() and np.array_equal(p, p_ref)
    g = np.ones((6, 8), np.float32)
    mask = (x > 0)[:, ::-1]
    assert E.leaky_mask_multiply(g, mask, 0.2).tobytes() == R.leaky_mask_multiply(g, mask, 0.2).tobytes()


@pytest.mark.parametrize("parallel", [False, True])
def test_leaky_relu_first_and_second_order(monkeypatch: pytest.MonkeyPatch, parallel: bool) -> None:
    """LeakyReLU through the kernels: the first-order gradient, and double backward (create_graph=True
    records where(positive, g, g a) with Tensor ops), against the closed form."""
    monkeypatch.setattr(E, "PARALLEL_MIN_SIZE", 0 if parallel else 1 << 62)
    x0 = np.random.default_rng(3).standard_normal((4, 3, 5, 5))
    x = minidl.tensor(x0, requires_grad=True)
    y = minidl.nn.functional.leaky_relu(x, 0.2)
    slope = np.where(x0 > 0, 1.0, 0.2)
    assert np.array_equal(y.detach().numpy(), np.where(x0 > 0, x0, x0 * 0.2))
    (gx,) = minidl.autograd.grad((y * y).sum(), x, create_graph=True)
    np.testing.assert_allclose(gx.detach().numpy(), 2 * y.detach().numpy() * slope, rtol=1e-15, atol=0)
    (ggx,) = minidl.autograd.grad(gx.sum(), x)
    np.testing.assert_allclose(ggx.numpy(), 2 * slope * slope, rtol=1e-15, atol=0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("grad", [False, True])
def test_inplace_relu_out_of_a_graph_overwrites_with_the_reference_bytes(always_parallel: None, dtype: type,
                                                                         grad: bool) -> None:
    """``F.relu(x, inplace=True)`` out of a graph runs the in-place kernel: same bytes as the reference
    (-0.0, NaN, inf included), x itself returned and overwritten; in a graph x is left alone."""
    import minidl.nn.functional as F
    data = _data(dtype, (3, 4, 5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        z_ref, _ = R.relu_forward(data)
    x = minidl.tensor(data.copy(), requires_grad=grad)
    with minidl.no_grad():
        y = F.relu(x, inplace=True)
    assert y is x and x.detach().numpy().tobytes() == z_ref.tobytes()
    x = minidl.tensor(data.copy(), requires_grad=True)
    y = F.relu(x, inplace=True)                        # in a graph: a new tensor, x unchanged
    assert y is not x and x.detach().numpy().tobytes() == data.tobytes()
    assert y.detach().numpy().tobytes() == z_ref.tobytes()
    view = data.copy()[:, ::2]                         # not contiguous: the kernel declines, x unchanged
    assert not E.relu_inplace(view) and view.tobytes() == data[:, ::2].tobytes()
    assert E.relu_inplace(view.copy())
