"""The fast Numba kernels (``minidl.kernels.conv`` / ``pool``) against their plain-NumPy references.

Pooling: bit-identical (``assert_array_equal``), in float64 and float32: the fast loops visit taps and
outputs in the reference's order, so every max, index, sum and division is the same operation.

Convolution: each output is a sum of many products, and the two implementations add them in different
orders (the reference through ``einsum``/BLAS, the fast kernel with 16-lane vector partial sums), so
they agree to rounding, not to the bit.  The check is the classical error bound for any summation
order: ``|fast - exact| <= n u sum|terms|`` (``u`` the unit roundoff, ``n`` the number of terms), so
``|fast - ref| <= 2 n u sum|terms|``, where ``sum|terms|`` is the reference applied to ``|x|, |w|, |gy|``.
An index or padding bug gives errors of the order of ``sum|terms|`` itself, far above this bound.
(Comparisons with torch live in ``parity/test_kernels_torch.py``.)
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from minidl.kernels import conv, conv_reference as cref, pool, pool_reference as pref

DTYPES = [np.float64, np.float32]


def assert_within_sum_bound(fast: np.ndarray, ref: np.ndarray, abs_terms: np.ndarray, n_terms: int,
                            what: str) -> None:
    """|fast - ref| <= 2 n u sum|terms| elementwise (see the module docstring)."""
    assert fast.shape == ref.shape and fast.dtype == ref.dtype, (what, fast.shape, ref.shape, fast.dtype, ref.dtype)
    u = np.finfo(ref.dtype).eps / 2
    bound = 2 * n_terms * u * abs_terms.astype(np.float64) + np.finfo(ref.dtype).tiny
    err = np.abs(fast.astype(np.float64) - ref.astype(np.float64))
    bad = ~(err <= bound)
    if bad.any():
        i = tuple(np.argwhere(bad)[0])
        raise AssertionError(f"{what}: {bad.sum()}/{bad.size} elements over the rounding bound; first at {i}: "
                             f"ref {ref[i]!r}, fast {fast[i]!r}, |diff| {err[i]:.3e}, bound {bound[i]:.3e}")


# ----------------------------------------------------------------------------------------- strategies
@st.composite
def conv_configs(draw: st.DrawFn, transposed: bool = False) -> dict:
    groups = draw(st.integers(1, 3))
    cfg = dict(N=draw(st.integers(1, 3)), groups=groups, Cg=draw(st.integers(1, 4)), Og=draw(st.integers(1, 5)),
               H=draw(st.integers(1, 9)), W=draw(st.integers(1, 9)),
               k=(draw(st.integers(1, 4)), draw(st.integers(1, 4))),
               stride=(draw(st.integers(1, 3)), draw(st.integers(1, 3))),
               padding=(draw(st.integers(0, 2)), draw(st.integers(0, 2))),
               dilation=(draw(st.integers(1, 2)), draw(st.integers(1, 2))))
    if transposed:
        cfg["output_padding"] = tuple(draw(st.integers(0, max(s, d) - 1))
                                      for s, d in zip(cfg["stride"], cfg["dilation"]))
    else:  # a non-empty output
        for a, size in enumerate((cfg["H"], cfg["W"])):
            assume(size + 2 * cfg["padding"][a] >= cfg["dilation"][a] * (cfg["k"][a] - 1) + 1)
    return cfg


def _conv_arrays(cfg: dict, dtype: type, transposed: bool, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    g, Cg, Og = cfg["groups"], cfg["Cg"], cfg["Og"]
    x = rng.standard_normal((cfg["N"], g * Cg, cfg["H"], cfg["W"])).astype(dtype)
    wshape = (g * Cg, Og) + cfg["k"] if transposed else (g * Og, Cg) + cfg["k"]
    w = rng.standard_normal(wshape).astype(dtype)
    b = rng.standard_normal(g * Og).astype(dtype)
    return x, w, b


def _check_conv2d(cfg: dict, dtype: type, seed: int = 0) -> None:
    x, w, b = _conv_arrays(cfg, dtype, False, seed)
    args = (cfg["stride"], cfg["padding"], cfg["dilation"], cfg["groups"])
    kh, kw = cfg["k"]
    y = conv.conv2d_forward(x, w, b, *args)
    yr = cref.conv2d_forward(x, w, b, *args)
    assert_within_sum_bound(y, yr, cref.conv2d_forward(abs(x), abs(w), abs(b), *args), cfg["Cg"] * kh * kw + 1,
                            f"conv2d forward {cfg}")
    gy = np.random.default_rng(seed + 1).standard_normal(y.shape).astype(dtype)
    fast = conv.conv2d_backward(x, w, gy, *args)
    ref = cref.conv2d_backward(x, w, gy, *args)
    absr = cref.conv2d_backward(abs(x), abs(w), abs(gy), *args)
    n_x = cfg["Og"] * kh * kw                        # terms in one input-gradient entry (at most)
    n_wb = y.shape[0] * y.shape[2] * y.shape[3]      # terms in one weight/bias-gradient entry
    for name, f, r, a, n in zip(("grad x", "grad w", "grad b"), fast, ref, absr, (n_x, n_wb, n_wb)):
        assert_within_sum_bound(f, r, a, n, f"conv2d {name} {cfg}")


def _check_conv_transpose2d(cfg: dict, dtype: type, seed: int = 0) -> None:
    x, w, b = _conv_arrays(cfg, dtype, True, seed)
    args = (cfg["stride"], cfg["padding"], cfg["output_padding"], cfg["dilation"], cfg["groups"])
    kh, kw = cfg["k"]
    try:
        yr = cref.conv_transpose2d_forward(x, w, b, *args)
    except RuntimeError:  # an empty output: the fast kernel must refuse it too
        with pytest.raises(RuntimeError):
            conv.conv_transpose2d_forward(x, w, b, *args)
        return
    y = conv.conv_transpose2d_forward(x, w, b, *args)
    assert_within_sum_bound(y, yr, cref.conv_transpose2d_forward(abs(x), abs(w), abs(b), *args),
                            cfg["Cg"] * kh * kw + 1, f"conv_transpose2d forward {cfg}")
    gy = np.random.default_rng(seed + 1).standard_normal(y.shape).astype(dtype)
    fast = conv.conv_transpose2d_backward(x, w, gy, *args)
    ref = cref.conv_transpose2d_backward(x, w, gy, *args)
    absr = cref.conv_transpose2d_backward(abs(x), abs(w), abs(gy), *args)
    n_x = cfg["Og"] * kh * kw
    n_w = x.shape[0] * x.shape[2] * x.shape[3]
    n_b = y.shape[0] * y.shape[2] * y.shape[3]
    for name, f, r, a, n in zip(("grad x", "grad w", "grad b"), fast, ref, absr, (n_x, n_w, n_b)):
        assert_within_sum_bound(f, r, a, n, f"conv_transpose2d {name} {cfg}")


# ------------------------------------------------------------------------------------- convolution
@settings(max_examples=60, deadline=None)
@given(cfg=conv_configs(), seed=st.integers(0, 2 ** 16))
def test_conv2d_fast_matches_reference_float64(cfg: dict, seed: int) -> None:
    _check_conv2d(cfg, np.float64, seed)


@settings(max_examples=40, deadline=None)
@given(cfg=conv_configs(transposed=True), seed=st.integers(0, 2 ** 16))
def test_conv_transpose2d_fast_matches_reference_float64(cfg: dict, seed: int) -> None:
    _check_conv_transpose2d(cfg, np.float64, seed)


@settings(max_examples=15, deadline=None)
@given(cfg=conv_configs(), seed=st.integers(0, 2 ** 16))
def test_conv2d_fast_matches_reference_float32(cfg: dict, seed: int) -> None:
    _check_conv2d(cfg, np.float32, seed)


# Both code paths of the forward (fused dot kernel for long receptive fields, im2col + BLAS for short
# ones) and of the input gradient (stride 1: flipped convolution; stride > 1: BLAS + col2im), plus the
# course's layer shapes at a small batch and channel counts that are not multiples of the 4x4 blocks.
PATH_CASES = [
    dict(N=2, groups=1, Cg=3, Og=32, H=12, W=12, k=(5, 5), stride=(1, 1), padding=(2, 2), dilation=(1, 1)),
    dict(N=2, groups=1, Cg=32, Og=64, H=8, W=8, k=(5, 5), stride=(1, 1), padding=(2, 2), dilation=(1, 1)),
    dict(N=3, groups=1, Cg=64, Og=6, H=5, W=7, k=(5, 5), stride=(1, 1), padding=(2, 2), dilation=(1, 1)),
    dict(N=2, groups=2, Cg=17, Og=5, H=9, W=6, k=(3, 4), stride=(2, 1), padding=(1, 2), dilation=(2, 1)),
    dict(N=2, groups=1, Cg=16, Og=9, H=10, W=10, k=(4, 4), stride=(2, 2), padding=(1, 1), dilation=(1, 1)),
    dict(N=1, groups=1, Cg=40, Og=1, H=4, W=4, k=(4, 4), stride=(1, 1), padding=(0, 0), dilation=(1, 1)),
    dict(N=2, groups=1, Cg=9, Og=7, H=6, W=5, k=(1, 1), stride=(1, 1), padding=(1, 2), dilation=(1, 1)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cfg", PATH_CASES, ids=lambda c: f"C{c['Cg']}O{c['Og']}k{c['k']}s{c['stride']}g{c['groups']}")
def test_conv2d_paths(cfg: dict, dtype: type) -> None:
    _check_conv2d(cfg, dtype)
    _check_conv_transpose2d(dict(cfg, output_padding=(0, 0)), dtype)


# The strided input gradient (= the strided transposed convolution) as sh*sw phase convolutions, and
# the forward's tiles that span several images on small planes: at least 8 channels on the gradient's
# side (fewer take the BLAS + col2im path), phases that no tap reaches (k < s, dilation sharing a factor
# with the stride), padding past the kernel, output_padding, groups, N = 1 and odd sizes; N = 7 on 3x3
# planes makes tiles straddle images in groups of uneven size.
STRIDED_CASES = [
    dict(N=3, groups=1, Cg=16, Og=8, H=4, W=4, k=(4, 4), stride=(2, 2), padding=(1, 1), dilation=(1, 1),
         output_padding=(0, 0)),                                    # DCGAN's k4 s2 p1
    dict(N=1, groups=1, Cg=8, Og=9, H=5, W=7, k=(3, 3), stride=(2, 2), padding=(1, 1), dilation=(1, 1),
         output_padding=(1, 1)),
    dict(N=2, groups=1, Cg=9, Og=10, H=7, W=8, k=(2, 5), stride=(3, 2), padding=(0, 2), dilation=(1, 2),
         output_padding=(2, 1)),
    dict(N=2, groups=1, Cg=8, Og=8, H=9, W=9, k=(3, 3), stride=(2, 2), padding=(2, 2), dilation=(2, 2),
         output_padding=(1, 0)),
    dict(N=2, groups=2, Cg=8, Og=8, H=6, W=5, k=(4, 4), stride=(2, 2), padding=(2, 0), dilation=(3, 1),
         output_padding=(0, 0)),
    dict(N=7, groups=1, Cg=12, Og=16, H=3, W=3, k=(3, 3), stride=(2, 2), padding=(1, 1), dilation=(1, 1),
         output_padding=(0, 1)),
    dict(N=2, groups=1, Cg=8, Og=8, H=6, W=6, k=(1, 1), stride=(2, 2), padding=(0, 0), dilation=(1, 1),
         output_padding=(1, 1)),
    dict(N=2, groups=1, Cg=8, Og=11, H=5, W=5, k=(2, 2), stride=(2, 2), padding=(3, 3), dilation=(1, 1),
         output_padding=(0, 0)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cfg", STRIDED_CASES, ids=lambda c: f"N{c['N']}k{c['k']}s{c['stride']}p{c['padding']}"
                         f"d{c['dilation']}g{c['groups']}")
def test_strided_phase_paths(cfg: dict, dtype: type) -> None:
    _check_conv2d({k: v for k, v in cfg.items() if k != "output_padding"}, dtype)
    _check_conv_transpose2d(cfg, dtype)


# Cache blocking of the forward kernel (bands of R output rows x chunks of CB input channels; the first
# chunk stores, the next ones accumulate).  The block sizes are shrunk so that small planes are cut into
# uneven bands (R not dividing Ho, a last band of one row, R smaller than the kernel with dilation) and
# uneven channel chunks, on the shifted-rows path (stride 1), the banded im2col path (stride 2, one
# image per group) and the strided views written by the input gradient's phases.
BLOCK_CASES = [
    (dict(N=2, groups=1, Cg=13, Og=11, H=16, W=16, k=(3, 3), stride=(1, 1), padding=(1, 1), dilation=(1, 1),
          output_padding=(0, 0)), 40, 6),
    (dict(N=2, groups=1, Cg=9, Og=8, H=11, W=12, k=(3, 2), stride=(1, 1), padding=(3, 1), dilation=(2, 1),
          output_padding=(0, 0)), 8, 4),
    (dict(N=1, groups=1, Cg=10, Og=9, H=19, W=19, k=(3, 3), stride=(2, 2), padding=(1, 1), dilation=(1, 1),
          output_padding=(1, 1)), 20, 3),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cfg, columns, channels", BLOCK_CASES, ids=lambda c: str(c) if isinstance(c, int) else
                         f"C{c['Cg']}H{c['H']}k{c['k']}s{c['stride']}d{c['dilation']}")
def test_conv_cache_blocks(cfg: dict, columns: int, channels: int, dtype: type,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conv, "BLOCK_COLUMNS", columns)
    monkeypatch.setattr(conv, "BLOCK_ABOVE", 0)
    monkeypatch.setattr(conv, "BLOCK_BYTES", 1 << 30)
    taps = cfg["k"][0] * cfg["k"][1]                                     # chunks of `channels` channels
    monkeypatch.setattr(conv, "WEIGHT_BYTES", channels * taps * conv.D.TILE_O * np.dtype(dtype).itemsize)
    calls = []
    real = conv.D.conv_direct

    def spy(*a: object) -> None:
        x, y, R, CB = a[0], a[3], a[16], a[21]
        calls.append((R, y.shape[2], CB, x.shape[1]))
        real(*a)
    monkeypatch.setattr(conv.D, "conv_direct", spy)
    _check_conv2d({k: v for k, v in cfg.items() if k != "output_padding"}, dtype)
    _check_conv_transpose2d(cfg, dtype)
    # the forward itself ran in uneven bands (or bands of one row, under a dilated 3-row kernel) and
    # uneven channel chunks
    assert any(R < Ho and (Ho % R or R == 1) and CB < C and C % CB for R, Ho, CB, C in calls), calls


def test_strided_input_grad_non_contiguous() -> None:
    """The phase convolutions read gy and write gx through strided views."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 16, 8, 8))
    w = rng.standard_normal((10, 8, 4, 4))                     # 2 groups of 8 input channels
    gy = rng.standard_normal((3, 4, 4, 10)).transpose(0, 3, 1, 2)   # channels-last memory
    fast = conv.conv2d_backward(x, w, gy, 2, 1, 1, 2)[0]
    ref = cref.conv2d_backward(x, w, np.ascontiguousarray(gy), 2, 1, 1, 2)[0]
    assert_within_sum_bound(fast, ref, cref.conv2d_backward(abs(x), abs(w), abs(np.ascontiguousarray(gy)),
                                                            2, 1, 1, 2)[0], 5 * 16, "strided grad x, channels-last gy")
    xt = rng.standard_normal((2, 8, 5, 12))[..., ::2]          # every other column
    wt = rng.standard_normal((8, 9, 4, 4))
    y = conv.conv_transpose2d_forward(xt, wt, None, 2, 1, 0, 1)
    yr = cref.conv_transpose2d_forward(np.ascontiguousarray(xt), wt, None, 2, 1, 0, 1)
    assert_within_sum_bound(y, yr, cref.conv_transpose2d_forward(abs(np.ascontiguousarray(xt)), abs(wt), None,
                                                                 2, 1, 0, 1), 8 * 16, "strided conv_transpose2d")


def test_conv2d_non_contiguous_inputs() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 10, 9, 12))[:, ::2, :, ::-1]              # strided channel and reversed width
    w = np.asfortranarray(rng.standard_normal((6, 5, 3, 3)))
    gy_full = rng.standard_normal((2, 6, 9, 12 * 2))
    y = conv.conv2d_forward(x, w, None, 1, 1, 1)
    np.testing.assert_allclose(y, cref.conv2d_forward(np.ascontiguousarray(x), np.ascontiguousarray(w), None, 1, 1, 1),
                               rtol=1e-12, atol=1e-12)
    gy = gy_full[..., ::2]
    fast = conv.conv2d_backward(x, w, gy, 1, 1, 1)
    ref = cref.conv2d_backward(np.ascontiguousarray(x), np.ascontiguousarray(w), np.ascontiguousarray(gy), 1, 1, 1)
    for f, r in zip(fast, ref):
        np.testing.assert_allclose(f, r, rtol=1e-12, atol=1e-12)


def test_conv2d_backward_only_requested_grads() -> None:
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((4, 3, 3, 3))
    gy = rng.standard_normal((2, 4, 4, 4))
    gx, gw, gb = conv.conv2d_backward(x, w, gy, 1, 0, 1, need_input_grad=False, need_weight_grad=False)
    assert gx is None and gw is None
    np.testing.assert_allclose(gb, gy.sum(axis=(0, 2, 3)), rtol=1e-12)
    gx, gw, gb = conv.conv2d_backward(x, w, gy, 1, 0, 1, need_bias_grad=False)
    assert gb is None and gx is not None and gw is not None


def test_conv2d_nan_and_inf_propagate_like_reference() -> None:
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 8, 7, 7))
    x[0, 1, 3, 3] = np.nan
    x[1, 2, 0, 0] = np.inf
    w = rng.standard_normal((5, 8, 5, 5))   # K = 200: the fused dot kernel
    y, yr = conv.conv2d_forward(x, w, None, 1, 2, 1), cref.conv2d_forward(x, w, None, 1, 2, 1)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(yr))
    np.testing.assert_array_equal(np.isinf(y), np.isinf(yr))
    assert np.isnan(y).sum() > 0 and (~np.isfinite(y)).sum() < y.size   # the rest stays finite


def test_conv_output_dtype_follows_input() -> None:
    for dtype in DTYPES:
        x, w = np.ones((1, 2, 5, 5), dtype), np.ones((3, 2, 3, 3), dtype)
        assert conv.conv2d_forward(x, w, None, 1, 0, 1).dtype == dtype
        assert conv.conv_transpose2d_forward(x, np.ones((2, 3, 3, 3), dtype), None, 1, 0, 0, 1).dtype == dtype


# ------------------------------------------------------------------------------------------ errors
def test_conv2d_channel_mismatch_message_names_shapes() -> None:
    x, w = np.zeros((8, 3, 32, 32), np.float32), np.zeros((16, 4, 5, 5), np.float32)
    for f in (conv.conv2d_forward, cref.conv2d_forward):
        with pytest.raises(RuntimeError, match=r"conv2d: input \(8, 3, 32, 32\) has 3 channels but weight "
                                               r"\(16, 4, 5, 5\) expects 4"):
            f(x, w, None, 1, 2, 1)


@pytest.mark.parametrize("x_shape, w_shape, kw, match", [
    ((1, 3, 4, 4), (2, 3, 5, 5), dict(), r"input \(1, 3, 4, 4\).*weight \(2, 3, 5, 5\).*empty"),
    ((3, 8, 8), (2, 3, 3, 3), dict(), r"4-D input.*\(3, 8, 8\)"),
    ((1, 4, 8, 8), (3, 2, 3, 3), dict(groups=2), r"weight \(3, 2, 3, 3\) has 3 output channels.*groups=2"),
    ((1, 3, 8, 8), (2, 3, 3, 3), dict(stride=0), r"stride must be positive"),
    ((1, 3, 8, 8), (2, 3, 3, 3), dict(padding=-1), r"negative padding"),
])
def test_conv2d_bad_arguments_raise_runtime_error(x_shape: tuple, w_shape: tuple, kw: dict, match: str) -> None:
    args = dict(stride=1, padding=0, dilation=1, groups=1) | kw
    with pytest.raises(RuntimeError, match=match):
        conv.conv2d_forward(np.zeros(x_shape), np.zeros(w_shape), None, **args)


def test_conv_bad_dtypes_and_bias() -> None:
    x, w = np.zeros((1, 3, 8, 8), np.float32), np.zeros((2, 3, 3, 3), np.float64)
    with pytest.raises(RuntimeError, match=r"same dtype.*input float32, weight float64"):
        conv.conv2d_forward(x, w, None, 1, 0, 1)
    with pytest.raises(RuntimeError, match=r"only float32 and float64"):
        conv.conv2d_forward(x.astype(np.int64), w.astype(np.int64), None, 1, 0, 1)
    with pytest.raises(RuntimeError, match=r"bias \(3,\) must have shape \(2,\)"):
        conv.conv2d_forward(x, w.astype(np.float32), np.zeros(3, np.float32), 1, 0, 1)
    with pytest.raises(RuntimeError, match=r"grad_output \(1, 2, 5, 5\) must have the output shape \(1, 2, 6, 6\)"):
        conv.conv2d_backward(x, w.astype(np.float32), np.zeros((1, 2, 5, 5), np.float32), 1, 0, 1)
    with pytest.raises(RuntimeError, match=r"conv_transpose2d: input \(1, 3, 8, 8\) has 3 channels but weight "
                                           r"\(2, 3, 3, 3\) expects 2"):
        conv.conv_transpose2d_forward(x, w.astype(np.float32), None, 1, 0, 0, 1)
    with pytest.raises(RuntimeError, match=r"output_padding \(2, 2\) must be smaller than either stride"):
        conv.conv_transpose2d_forward(x, np.zeros((3, 2, 3, 3), np.float32), None, 2, 0, 2, 1)


# ------------------------------------------------------------------------------------------ pooling
@st.composite
def pool_configs(draw: st.DrawFn, dilated: bool = True) -> dict:
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if dilated else (1, 1)
    p = tuple(draw(st.integers(0, k[a] // 2)) for a in range(2))   # torch: padding <= kernel / 2
    cfg = dict(N=draw(st.integers(1, 2)), C=draw(st.integers(1, 3)), H=draw(st.integers(1, 10)),
               W=draw(st.integers(1, 10)), k=k, stride=(draw(st.integers(1, 3)), draw(st.integers(1, 3))),
               padding=p, dilation=d, ceil_mode=draw(st.booleans()))
    for a, size in enumerate((cfg["H"], cfg["W"])):
        assume(size + 2 * p[a] >= d[a] * (k[a] - 1) + 1)
    return cfg


def _pool_input(cfg: dict, dtype: type, seed: int, specials: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # small integers make ties (first-maximum rule) frequent
    x = rng.integers(-3, 4, size=(cfg["N"], cfg["C"], cfg["H"], cfg["W"])).astype(dtype)
    if specials:
        flat = x.reshape(-1)
        flat[rng.integers(0, flat.size, size=3)] = np.nan
        flat[rng.integers(0, flat.size, size=2)] = -np.inf
    return x


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=60, deadline=None)
@given(cfg=pool_configs(), seed=st.integers(0, 2 ** 16), specials=st.booleans())
def test_maxpool_fast_equals_reference(dtype: type, cfg: dict, seed: int, specials: bool) -> None:
    x = _pool_input(cfg, dtype, seed, specials)
    args = (cfg["k"], cfg["stride"], cfg["padding"], cfg["dilation"], cfg["ceil_mode"])
    y, idx = pool.maxpool2d_forward(x, *args)
    yr, idxr = pref.maxpool2d_forward(x, *args)
    np.testing.assert_array_equal(y, yr)
    np.testing.assert_array_equal(idx, idxr)
    assert idx.dtype == np.int64 and y.dtype == dtype
    gy = np.random.default_rng(seed).standard_normal(y.shape).astype(dtype)
    np.testing.assert_array_equal(pool.maxpool2d_backward(gy, idx, x.shape), pref.maxpool2d_backward(gy, idx, x.shape))


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=60, deadline=None)
@given(cfg=pool_configs(dilated=False), seed=st.integers(0, 2 ** 16), count_include_pad=st.booleans(),
       divisor_override=st.sampled_from([None, None, 1, 3]))
def test_avgpool_fast_equals_reference(dtype: type, cfg: dict, seed: int, count_include_pad: bool,
                                       divisor_override: int | None) -> None:
    x = np.random.default_rng(seed).standard_normal((cfg["N"], cfg["C"], cfg["H"], cfg["W"])).astype(dtype)
    args = (cfg["k"], cfg["stride"], cfg["padding"], cfg["ceil_mode"], count_include_pad, divisor_override)
    y = pool.avgpool2d_forward(x, *args)
    np.testing.assert_array_equal(y, pref.avgpool2d_forward(x, *args))
    gy = np.random.default_rng(seed + 1).standard_normal(y.shape).astype(dtype)
    np.testing.assert_array_equal(pool.avgpool2d_backward(gy, x.shape, *args),
                                  pref.avgpool2d_backward(gy, x.shape, *args))


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=40, deadline=None)
@given(H=st.integers(1, 12), W=st.integers(1, 12), Ho=st.integers(1, 8), Wo=st.integers(1, 8), seed=st.integers(0, 99))
def test_adaptive_avg_fast_equals_reference(dtype: type, H: int, W: int, Ho: int, Wo: int, seed: int) -> None:
    x = np.random.default_rng(seed).standard_normal((2, 3, H, W)).astype(dtype)
    y = pool.adaptive_avg_pool2d_forward(x, (Ho, Wo))
    np.testing.assert_array_equal(y, pref.adaptive_avg_pool2d_forward(x, (Ho, Wo)))
    gy = np.random.default_rng(seed + 1).standard_normal(y.shape).astype(dtype)
    np.testing.assert_array_equal(pool.adaptive_avg_pool2d_backward(gy, x.shape),
                                  pref.adaptive_avg_pool2d_backward(gy, x.shape))


def test_adaptive_avg_sizes_of_the_course() -> None:
    x = np.random.default_rng(0).standard_normal((2, 4, 13, 10))
    np.testing.assert_allclose(pool.adaptive_avg_pool2d_forward(x, 1)[..., 0, 0], x.mean(axis=(2, 3)), rtol=1e-13)
    assert pool.adaptive_avg_pool2d_forward(x, (7, 7)).shape == (2, 4, 7, 7)
    assert pool.adaptive_avg_pool2d_forward(x, (None, 3)).shape == (2, 4, 13, 3)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("H, W, ceil_mode", [(8, 8, False), (9, 7, False), (9, 7, True), (2, 3, False)])
def test_maxpool_2x2_fast_path_equals_reference(dtype: type, H: int, W: int, ceil_mode: bool) -> None:
    # kernel 2 / stride 2 has its own vectorised kernel (odd sizes in floor mode included; ceil_mode
    # with a partial last window goes to the general one); ties and NaNs exercise the selection rule
    cfg = dict(N=3, C=4, H=H, W=W)
    x = _pool_input(cfg, dtype, seed=H * W, specials=True)
    y, idx = pool.maxpool2d_forward(x, 2, 2, 0, 1, ceil_mode)
    yr, idxr = pref.maxpool2d_forward(x, 2, 2, 0, 1, ceil_mode)
    np.testing.assert_array_equal(y, yr)
    np.testing.assert_array_equal(idx, idxr)


def test_maxpool_tie_and_nan_rules_by_hand() -> None:
    # window [[1, 5], [5, nan]] -> nan at flat index 3;  [[2, 2], [1, 0]] -> first max, index 0 of its window
    x = np.array([[[[1, 5, 2, 2], [5, np.nan, 1, 0]]]])
    y, idx = pool.maxpool2d_forward(x, 2, 2, 0)
    assert np.isnan(y[0, 0, 0, 0]) and idx[0, 0, 0, 0] == 5 and y[0, 0, 0, 1] == 2 and idx[0, 0, 0, 1] == 2
    # all -inf window with padding: the index is the first in-bounds tap, never a padded one
    y, idx = pool.maxpool2d_forward(np.full((1, 1, 2, 2), -np.inf), 2, 2, 1)
    assert (y == -np.inf).all() and idx.ravel().tolist() == [0, 1, 2, 3]


def test_maxpool_backward_accumulates_overlapping_windows() -> None:
    x = np.array([[[[0.0, 9.0, 0.0]]]])                       # the middle pixel wins both windows
    y, idx = pool.maxpool2d_forward(x, (1, 2), 1, 0)
    gx = pool.maxpool2d_backward(np.array([[[[1.5, 2.0]]]]), idx, x.shape)
    np.testing.assert_array_equal(gx, [[[[0.0, 3.5, 0.0]]]])


@pytest.mark.parametrize("op, kw, match", [
    ("max", dict(kernel_size=2, stride=2, padding=2), r"padding \(2, 2\) should be at most half"),
    ("max", dict(kernel_size=5, stride=1, padding=0), r"input \(1, 2, 3, 3\).*too small"),
    ("avg", dict(kernel_size=0, stride=1, padding=0), r"kernel_size must be positive"),
    ("avg", dict(kernel_size=2, stride=0, padding=0), r"stride must be positive"),
])
def test_pool_bad_arguments_raise_runtime_error(op: str, kw: dict, match: str) -> None:
    x = np.zeros((1, 2, 3, 3))
    f = pool.maxpool2d_forward if op == "max" else pool.avgpool2d_forward
    with pytest.raises(RuntimeError, match=match):
        f(x, **kw)


def test_pool_rejects_non_4d_and_bad_grad_shape() -> None:
    with pytest.raises(RuntimeError, match=r"4-D input.*\(2, 3, 3\)"):
        pool.maxpool2d_forward(np.zeros((2, 3, 3)), 2, 2)
    with pytest.raises(RuntimeError, match=r"grad_output \(1, 1, 2, 2\) must have the output shape \(1, 1, 1, 1\)"):
        pool.avgpool2d_backward(np.zeros((1, 1, 2, 2)), (1, 1, 3, 3), 2, 2)
    with pytest.raises(RuntimeError, match=r"output_size \(0, 2\) must be positive"):
        pool.adaptive_avg_pool2d_forward(np.zeros((1, 1, 3, 3)), (0, 2))
