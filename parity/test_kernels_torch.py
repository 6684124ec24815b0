"""The convolution and pooling kernels (``minidl.kernels``, plain ndarrays) against torch.nn.functional.

* The readable references (``conv_reference``, ``pool_reference``) in float64 at the policy tolerances
  (rtol 1e-7, atol 1e-9), forward and every gradient (torch's through ``torch.autograd``), over
  hypothesis-drawn shapes, strides, paddings, dilations, groups and ceil_mode.
* The fast kernels in float32 on the course's layer shapes, tolerances stated at each call site.
* The same exception type as torch for the same bad input.

The fast kernels are held to the references in ``tests/test_kernels.py``.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from minidl.kernels import conv, conv_reference as cref, pool, pool_reference as pref
from minidl.kernels.shapes import pool2d_output_shape
from parity.helpers import assert_close

F64 = dict(rtol=1e-7, atol=1e-9)


def _grads(fn, inputs: list[np.ndarray], gy_seed: int = 1):
    """torch output and input gradients of ``fn`` at ``inputs`` for a random upstream gradient."""
    ts = [torch.tensor(a, requires_grad=True) for a in inputs]
    out = fn(*ts)
    y = out[0] if isinstance(out, tuple) else out
    gy = np.random.default_rng(gy_seed).standard_normal(tuple(y.shape)).astype(inputs[0].dtype)
    y.backward(torch.tensor(gy))
    return out, gy, [t.grad.numpy() for t in ts]


@st.composite
def conv_cfg(draw: st.DrawFn, transposed: bool = False) -> dict:
    g = draw(st.integers(1, 2))
    cfg = dict(N=draw(st.integers(1, 2)), g=g, Cg=draw(st.integers(1, 3)), Og=draw(st.integers(1, 3)),
               H=draw(st.integers(1, 8)), W=draw(st.integers(1, 8)),
               k=(draw(st.integers(1, 4)), draw(st.integers(1, 4))),
               s=(draw(st.integers(1, 3)), draw(st.integers(1, 3))),
               p=(draw(st.integers(0, 2)), draw(st.integers(0, 2))),
               d=(draw(st.integers(1, 2)), draw(st.integers(1, 2))), bias=draw(st.booleans()))
    if transposed:
        cfg["op"] = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(cfg["s"], cfg["d"]))
        for a, size in enumerate((cfg["H"], cfg["W"])):
            assume((size - 1) * cfg["s"][a] - 2 * cfg["p"][a] + cfg["d"][a] * (cfg["k"][a] - 1) + cfg["op"][a] >= 0)
    else:
        for a, size in enumerate((cfg["H"], cfg["W"])):
            assume(size + 2 * cfg["p"][a] >= cfg["d"][a] * (cfg["k"][a] - 1) + 1)
    return cfg


@settings(max_examples=40, deadline=None)
@given(cfg=conv_cfg(), seed=st.integers(0, 999))
def test_conv2d_reference_vs_torch_float64(cfg: dict, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((cfg["N"], cfg["g"] * cfg["Cg"], cfg["H"], cfg["W"]))
    w = rng.standard_normal((cfg["g"] * cfg["Og"], cfg["Cg"]) + cfg["k"])
    b = rng.standard_normal(cfg["g"] * cfg["Og"])
    args = (cfg["s"], cfg["p"], cfg["d"], cfg["g"])
    inputs = [x, w, b] if cfg["bias"] else [x, w]
    ty, gy, tgrads = _grads(lambda *t: F.conv2d(t[0], t[1], t[2] if cfg["bias"] else None, *args), inputs)
    assert_close(cref.conv2d_forward(x, w, b if cfg["bias"] else None, *args), ty, what=f"conv2d {cfg}", **F64)
    grads = cref.conv2d_backward(x, w, gy, *args, need_bias_grad=cfg["bias"])
    for name, ours, theirs in zip(("grad x", "grad w", "grad b"), grads, tgrads):
        assert_close(ours, theirs, what=f"conv2d {name} {cfg}", **F64)


@settings(max_examples=40, deadline=None)
@given(cfg=conv_cfg(transposed=True), seed=st.integers(0, 999))
def test_conv_transpose2d_reference_vs_torch_float64(cfg: dict, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((cfg["N"], cfg["g"] * cfg["Cg"], cfg["H"], cfg["W"]))
    w = rng.standard_normal((cfg["g"] * cfg["Cg"], cfg["Og"]) + cfg["k"])
    b = rng.standard_normal(cfg["g"] * cfg["Og"])
    args = (cfg["s"], cfg["p"], cfg["op"], cfg["d"], cfg["g"])
    inputs = [x, w, b] if cfg["bias"] else [x, w]
    ty, gy, tgrads = _grads(lambda *t: F.conv_transpose2d(t[0], t[1], t[2] if cfg["bias"] else None, cfg["s"],
                                                          cfg["p"], cfg["op"], cfg["g"], cfg["d"]), inputs)
    assert_close(cref.conv_transpose2d_forward(x, w, b if cfg["bias"] else None, *args), ty,
                 what=f"conv_transpose2d {cfg}", **F64)
    grads = cref.conv_transpose2d_backward(x, w, gy, *args, need_bias_grad=cfg["bias"])
    for name, ours, theirs in zip(("grad x", "grad w", "grad b"), grads, tgrads):
        assert_close(ours, theirs, what=f"conv_transpose2d {name} {cfg}", **F64)


@st.composite
def pool_cfg(draw: st.DrawFn, dilated: bool) -> dict:
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if dilated else (1, 1)
    p = tuple(draw(st.integers(0, k[a] // 2)) for a in range(2))   # torch: padding <= kernel / 2
    cfg = dict(H=draw(st.integers(1, 9)), W=draw(st.integers(1, 9)), k=k, p=p, d=d,
               s=(draw(st.integers(1, 3)), draw(st.integers(1, 3))), ceil=draw(st.booleans()))
    for a, size in enumerate((cfg["H"], cfg["W"])):
        assume(size + 2 * p[a] >= d[a] * (k[a] - 1) + 1)
    if dilated:
        # torch reports a dilated window with no in-bounds tap by an index past the plane, and its
        # backward then writes out of bounds (heap corruption, seen as aborts): keep such windows out of
        # the comparison with torch (tests/test_kernels.py covers ours on them)
        shape = pool2d_output_shape("max_pool2d", (1, 1, cfg["H"], cfg["W"]), k, cfg["s"], p, d, cfg["ceil"])[0]
        for a, (size, out) in enumerate(zip((cfg["H"], cfg["W"]), shape[2:])):
            starts = np.arange(out)[:, None] * cfg["s"][a] - p[a] + np.arange(k[a])[None, :] * d[a]
            assume(bool(((starts >= 0) & (starts < size)).any(axis=1).all()))
    return cfg


@settings(max_examples=60, deadline=None)
@given(cfg=pool_cfg(dilated=True), seed=st.integers(0, 999), specials=st.booleans())
def test_maxpool_reference_vs_torch_float64(cfg: dict, seed: int, specials: bool) -> None:
    rng = np.random.default_rng(seed)
    x = rng.integers(-3, 4, size=(2, 3, cfg["H"], cfg["W"])).astype(np.float64)   # many ties
    if specials:
        x.reshape(-1)[rng.integers(0, x.size, 3)] = np.nan
        x.reshape(-1)[rng.integers(0, x.size, 2)] = -np.inf
    args = (cfg["k"], cfg["s"], cfg["p"], cfg["d"], cfg["ceil"])
    (ty, tidx), gy, (tgx,) = _grads(lambda t: F.max_pool2d(t, *args, return_indices=True), [x])
    y, idx = pref.maxpool2d_forward(x, *args)
    np.testing.assert_array_equal(y, ty.detach().numpy())          # selection is exact, NaN included
    np.testing.assert_array_equal(idx, tidx.numpy())
    assert_close(pref.maxpool2d_backward(gy, idx, x.shape), tgx, what=f"max_pool2d grad {cfg}", **F64)


@settings(max_examples=60, deadline=None)
@given(cfg=pool_cfg(dilated=False), seed=st.integers(0, 999), count_include_pad=st.booleans(),
       divisor_override=st.sampled_from([None, None, 1, 3]))
def test_avgpool_reference_vs_torch_float64(cfg: dict, seed: int, count_include_pad: bool,
                                            divisor_override: int | None) -> None:
    x = np.random.default_rng(seed).standard_normal((2, 3, cfg["H"], cfg["W"]))
    args = (cfg["k"], cfg["s"], cfg["p"], cfg["ceil"], count_include_pad, divisor_override)
    ty, gy, (tgx,) = _grads(lambda t: F.avg_pool2d(t, *args), [x])
    assert_close(pref.avgpool2d_forward(x, *args), ty, what=f"avg_pool2d {cfg}", **F64)
    assert_close(pref.avgpool2d_backward(gy, x.shape, *args), tgx, what=f"avg_pool2d grad {cfg}", **F64)


@settings(max_examples=40, deadline=None)
@given(H=st.integers(1, 12), W=st.integers(1, 12), Ho=st.integers(1, 8), Wo=st.integers(1, 8), seed=st.integers(0, 99))
def test_adaptive_avg_reference_vs_torch_float64(H: int, W: int, Ho: int, Wo: int, seed: int) -> None:
    x = np.random.default_rng(seed).standard_normal((2, 3, H, W))
    ty, gy, (tgx,) = _grads(lambda t: F.adaptive_avg_pool2d(t, (Ho, Wo)), [x])
    assert_close(pref.adaptive_avg_pool2d_forward(x, (Ho, Wo)), ty, what="adaptive_avg_pool2d", **F64)
    assert_close(pref.adaptive_avg_pool2d_backward(gy, x.shape), tgx, what="adaptive_avg_pool2d grad", **F64)


# ------------------------------------------------------------------------------------ fast, float32
# The course's CIFAR-10 layers (batch 4), plus a DCGAN-like strided conv / transposed conv.
FAST_CASES = [
    dict(x=(4, 3, 32, 32), w=(32, 3, 5, 5), s=1, p=2, need_x=False),
    dict(x=(4, 32, 16, 16), w=(64, 32, 5, 5), s=1, p=2, need_x=True),
    dict(x=(4, 64, 8, 8), w=(64, 64, 5, 5), s=1, p=2, need_x=True),
    dict(x=(4, 32, 16, 16), w=(64, 32, 4, 4), s=2, p=1, need_x=True),
]


@pytest.mark.parametrize("case", FAST_CASES, ids=lambda c: f"{c['x']}->{c['w']}s{c['s']}")
def test_fast_conv2d_vs_torch_float32(case: dict) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(case["x"], dtype=np.float32)
    fan_in = np.prod(case["w"][1:])
    w = (rng.standard_normal(case["w"]) / np.sqrt(fan_in)).astype(np.float32)
    b = rng.standard_normal(case["w"][0]).astype(np.float32)
    ty, gy, tgrads = _grads(lambda *t: F.conv2d(*t, stride=case["s"], padding=case["p"]), [x, w, b])
    # float32: every output is a dot of C*kh*kw (<= 1600) unit-scale terms, summed in different orders
    # (oneDNN blocks vs our 16-lane partial sums): errors ~ sqrt(n) * 6e-8 * |terms| ~ 1e-6; 1e-5 leaves room.
    assert_close(conv.conv2d_forward(x, w, b, case["s"], case["p"], 1), ty, what="conv2d f32", rtol=1e-5, atol=1e-5)
    gx, gw, gb = conv.conv2d_backward(x, w, gy, case["s"], case["p"], 1, need_input_grad=case["need_x"])
    if case["need_x"]:
        assert_close(gx, tgrads[0], what="conv2d f32 grad x", rtol=1e-5, atol=1e-5)
    # weight and bias gradients sum N*Ho*Wo (up to 4096) products of O(1) values, with sum|terms| up to
    # ~2500: float32 rounding of such a sum is ~ sqrt(n) * 6e-8 * 2500 ~ 1e-2 in the worst direction and
    # torch's own result is 3e-4 away from a float64 computation on conv1 (ours: 5e-5), so atol 1e-3.
    assert_close(gw, tgrads[1], what="conv2d f32 grad w", rtol=1e-5, atol=1e-3)
    assert_close(gb, tgrads[2], what="conv2d f32 grad b", rtol=1e-5, atol=1e-3)


def test_fast_conv_transpose2d_vs_torch_float32() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 64, 8, 8), dtype=np.float32)
    w = (rng.standard_normal((64, 32, 4, 4)) / 16).astype(np.float32)
    b = rng.standard_normal(32).astype(np.float32)
    ty, gy, tgrads = _grads(lambda *t: F.conv_transpose2d(*t, stride=2, padding=1), [x, w, b])
    # each output sums at most 64*4 products; same reasoning as for conv2d above
    assert_close(conv.conv_transpose2d_forward(x, w, b, 2, 1, 0, 1), ty, what="conv_transpose2d f32",
                 rtol=1e-5, atol=1e-5)
    gx, gw, gb = conv.conv_transpose2d_backward(x, w, gy, 2, 1, 0, 1)
    assert_close(gx, tgrads[0], what="conv_transpose2d f32 grad x", rtol=1e-5, atol=1e-5)
    # weight/bias gradients sum N*H*W = 256 (resp. N*Ho*Wo = 1024) products: as for conv2d above
    assert_close(gw, tgrads[1], what="conv_transpose2d f32 grad w", rtol=1e-5, atol=1e-3)
    assert_close(gb, tgrads[2], what="conv_transpose2d f32 grad b", rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("shape", [(4, 32, 32, 32), (4, 64, 16, 16), (3, 5, 7, 9)])
@pytest.mark.parametrize("ceil_mode", [False, True])
def test_fast_pools_vs_torch_float32(shape: tuple, ceil_mode: bool) -> None:
    x = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    (ty, tidx), gy, (tgx,) = _grads(lambda t: F.max_pool2d(t, 2, 2, 0, 1, ceil_mode, return_indices=True), [x])
    y, idx = pool.maxpool2d_forward(x, 2, 2, 0, 1, ceil_mode)
    np.testing.assert_array_equal(y, ty.detach().numpy())            # a selection: exact
    np.testing.assert_array_equal(idx, tidx.numpy())
    np.testing.assert_array_equal(pool.maxpool2d_backward(gy, idx, x.shape), tgx)   # non-overlapping: exact
    ty, gy, (tgx,) = _grads(lambda t: F.avg_pool2d(t, 3, 2, 1, ceil_mode), [x])
    # averages of <= 9 values: a few float32 ulps apart at most (torch may vectorise the sum differently)
    assert_close(pool.avgpool2d_forward(x, 3, 2, 1, ceil_mode), ty, what="avg_pool2d f32", rtol=1e-6, atol=1e-6)
    assert_close(pool.avgpool2d_backward(gy, x.shape, 3, 2, 1, ceil_mode), tgx, what="avg_pool2d f32 grad",
                 rtol=1e-6, atol=1e-6)
    for out in [(1, 1), (7, 7)]:
        ty, gy, (tgx,) = _grads(lambda t: F.adaptive_avg_pool2d(t, out), [x])
        # (1, 1) averages a whole plane (up to 1024 values): float32 sums in different orders, rtol 1e-5
        assert_close(pool.adaptive_avg_pool2d_forward(x, out), ty, what=f"adaptive {out} f32", rtol=1e-5, atol=1e-6)
        assert_close(pool.adaptive_avg_pool2d_backward(gy, x.shape), tgx, what=f"adaptive {out} f32 grad",
                     rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------------------------- same errors as torch
BAD_CONV = [
    dict(x=(8, 3, 32, 32), w=(16, 4, 5, 5), kw=dict(padding=2)),          # channel mismatch
    dict(x=(1, 3, 4, 4), w=(2, 3, 5, 5), kw=dict()),                       # kernel larger than padded input
    dict(x=(1, 4, 8, 8), w=(3, 2, 3, 3), kw=dict(groups=2)),               # out channels not divisible by groups
    dict(x=(1, 3, 8, 8), w=(2, 3, 3, 3), kw=dict(stride=0)),
    dict(x=(1, 3, 8, 8), w=(2, 3, 3, 3), kw=dict(padding=-1)),
]


@pytest.mark.parametrize("case", BAD_CONV, ids=lambda c: str(c))
def test_conv2d_errors_match_torch_type(case: dict) -> None:
    x, w = np.zeros(case["x"], np.float32), np.zeros(case["w"], np.float32)
    kw = dict(stride=1, padding=0, dilation=1, groups=1) | case["kw"]
    with pytest.raises(RuntimeError):
        F.conv2d(torch.from_numpy(x), torch.from_numpy(w), None, kw["stride"], kw["padding"], kw["dilation"],
                 kw["groups"])
    for f in (conv.conv2d_forward, cref.conv2d_forward):
        with pytest.raises(RuntimeError):
            f(x, w, None, **kw)


BAD_POOL = [
    dict(k=2, s=2, p=2),        # padding more than half the kernel
    dict(k=5, s=1, p=0),        # output would be empty
    dict(k=2, s=0, p=0),        # zero stride
]


@pytest.mark.parametrize("case", BAD_POOL, ids=lambda c: str(c))
def test_pool_errors_match_torch_type(case: dict) -> None:
    x = np.zeros((1, 2, 3, 3), np.float32)
    tx = torch.from_numpy(x)
    with pytest.raises(RuntimeError):
        F.max_pool2d(tx, case["k"], case["s"], case["p"])
    with pytest.raises(RuntimeError):
        F.avg_pool2d(tx, case["k"], case["s"], case["p"])
    for f in (pool.maxpool2d_forward, pref.maxpool2d_forward):
        with pytest.raises(RuntimeError):
            f(x, case["k"], case["s"], case["p"])
    for f in (pool.avgpool2d_forward, pref.avgpool2d_forward):
        with pytest.raises(RuntimeError):
            f(x, case["k"], case["s"], case["p"])
