"""The rest of issue 8's torch habits against torch: in-place variants, bitwise ops, stacking helpers,
index_* ops, quantiles, extra linalg (matrix_power, multi_dot, vecdot, solve_triangular), and the
index-valued helpers. float64: rtol 1e-7 / atol 1e-9 and finite differences (DESIGN.md)."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest
import torch

import minidl
from parity.helpers import assert_close, parity_op

TOL = dict(atol=1e-9, rtol=1e-7, grad_atol=1e-9, grad_rtol=1e-7)
X = np.random.default_rng(2).uniform(-0.9, 0.9, (3, 4))
POS = np.abs(X) + 0.5
DISTINCT = np.random.default_rng(5).permutation(12).reshape(3, 4).astype(float) / 5 - 1.1


def lib(x: Any) -> Any:
    return torch if isinstance(x, torch.Tensor) else minidl


def both(fn: Callable[[Any], Any], arr: np.ndarray, what: str, rtol: float = 1e-12) -> None:
    t = fn(torch.tensor(arr.copy()))
    m = fn(minidl.tensor(arr.copy()))
    if isinstance(t, (bool, int, float, tuple)) and not isinstance(t, torch.Tensor):
        assert m == t, f"{what}: {m!r} != torch {t!r}"
        return
    assert_close(m, t, atol=1e-12, rtol=rtol, what=what)


# in-place method -> (input array, arguments built from the library); the result must equal torch's and be self
IDX = lambda L: L.tensor([[0], [2], [1]])  # noqa: E731
INPLACE: dict[str, tuple[np.ndarray, Callable[[Any], tuple]]] = {
    "abs_": (X, lambda L: ()), "neg_": (X, lambda L: ()), "exp_": (X, lambda L: ()), "exp2_": (X, lambda L: ()),
    "expm1_": (X, lambda L: ()), "log_": (POS, lambda L: ()), "log2_": (POS, lambda L: ()),
    "log10_": (POS, lambda L: ()), "log1p_": (POS, lambda L: ()), "sqrt_": (POS, lambda L: ()),
    "rsqrt_": (POS, lambda L: ()), "reciprocal_": (POS, lambda L: ()), "pow_": (X, lambda L: (3,)),
    "sin_": (X, lambda L: ()), "cos_": (X, lambda L: ()), "tan_": (X, lambda L: ()), "sinh_": (X, lambda L: ()),
    "cosh_": (X, lambda L: ()), "asin_": (X, lambda L: ()), "acos_": (X, lambda L: ()), "atan_": (X, lambda L: ()),
    "tanh_": (X, lambda L: ()), "sigmoid_": (X, lambda L: ()), "relu_": (X, lambda L: ()),
    "sign_": (X, lambda L: ()), "square_": (X, lambda L: ()), "floor_": (X * 3, lambda L: ()),
    "ceil_": (X * 3, lambda L: ()), "round_": (X * 3, lambda L: ()), "trunc_": (X * 3, lambda L: ()),
    "fmod_": (X * 3, lambda L: (0.7,)), "remainder_": (X * 3, lambda L: (0.7,)),
    "clamp_min_": (X, lambda L: (0.1,)), "clamp_max_": (X, lambda L: (0.1,)), "clip_": (X, lambda L: (-0.2, 0.3)),
    "lerp_": (X, lambda L: (L.tensor(POS), 0.25)), "hypot_": (X, lambda L: (L.tensor(POS),)),
    "atan2_": (X, lambda L: (L.tensor(POS),)), "copysign_": (POS, lambda L: (L.tensor(X),)),
    "addcmul_": (X, lambda L: (L.tensor(X), L.tensor(POS))), "addcdiv_": (X, lambda L: (L.tensor(X), L.tensor(POS))),
    "tril_": (X, lambda L: ()), "triu_": (X, lambda L: (1,)), "cumsum_": (X, lambda L: (1,)),
    "cumprod_": (X, lambda L: (0,)), "nan_to_num_": (X, lambda L: ()), "logical_not_": (X, lambda L: ()),
    "scatter_": (X, lambda L: (1, IDX(L), 5.0)), "scatter_add_": (X, lambda L: (1, IDX(L), L.ones(3, 1).double())),
    "index_add_": (X, lambda L: (0, L.tensor([2, 0]), L.ones(2, 4).double())),
    "index_copy_": (X, lambda L: (0, L.tensor([2, 0]), L.ones(2, 4).double())),
    "index_fill_": (X, lambda L: (1, L.tensor([3, 0]), -1.0)),
    "masked_scatter_": (X, lambda L: (L.tensor(X > 0), L.arange(12.0).double())),
    "index_put_": (X, lambda L: ((L.tensor([0, 2]), L.tensor([1, 1])), L.tensor([7.0, 8.0]).double())),
    "unsqueeze_": (X, lambda L: (1,)), "squeeze_": (X[None], lambda L: ()), "t_": (X, lambda L: ()),
    "transpose_": (X, lambda L: (0, 1)),
}


@pytest.mark.parametrize("name", sorted(INPLACE))
def test_inplace_variants(name: str) -> None:
    arr, args = INPLACE[name]

    def run(a: Any) -> Any:
        out = getattr(a, name)(*args(lib(a)))
        assert out is a, f"{name} must return the tensor itself"
        return a
    both(run, arr, name)


def test_every_generated_inplace_method_is_in_the_table() -> None:
    """A new in-place alias added to Tensor must get a row in INPLACE (so it is compared with torch)."""
    generated = {n for n, v in vars(minidl.Tensor).items() if n.endswith("_") and not n.startswith("_")
                 and getattr(v, "__doc__", "") and "(issue 8)" in (v.__doc__ or "")}
    assert generated <= set(INPLACE), sorted(generated - set(INPLACE))


CASES: list[tuple[str, Callable[..., Any], list[Any], dict[str, Any]]] = [
    ("addmm", lambda c, a, b: lib(a).addmm(c, a, b, beta=0.5, alpha=2.0) + c.addmm(a, b), [(3, 2), (3, 4), (4, 2)], {}),
    ("baddbmm", lambda c, a, b: lib(a).baddbmm(c, a, b) + c.baddbmm(a, b, alpha=0.5), [(2, 3, 2), (2, 3, 4), (2, 4, 2)],
     {}),
    ("copysign", lambda a, b: lib(a).copysign(a, b) + a.copysign(b), [(3, 4), (4,)], {}),
    ("float_power", lambda a: lib(a).float_power(a, 2) + a.float_power(3), [POS], {}),
    ("fmax-fmin", lambda a, b: lib(a).fmax(a, b) + a.fmin(b) + lib(a).fmin(a, b) * a.fmax(b), [(3, 4), (4,)], {}),
    ("rsub", lambda a, b: lib(a).rsub(a, b) + lib(a).rsub(a, 2.0, alpha=3), [(3, 4), (4,)], {}),
    ("sgn-erf", lambda a: lib(a).sgn(a) * a + a.sgn() + lib(a).erf(a) + a.erf(), [(3, 4)], {}),
    ("take", lambda a: lib(a).take(a, lib(a).tensor([[0, 5], [11, -1]])) + a.take(lib(a).tensor([3])), [(3, 4)], {}),
    ("ravel-rot90", lambda a: lib(a).ravel(lib(a).rot90(a)) + a.rot90(2).ravel() + lib(a).rot90(a, -1, (1, 0)).ravel()
     + a.rot90(3, [0, 1]).ravel(), [(3, 3)], {}),
    ("atleast", lambda a: lib(a).atleast_1d(a.sum()) + lib(a).atleast_2d(a[0]).sum() + lib(a).atleast_3d(a).sum(),
     [(3, 4)], {}),
    ("stacks", lambda a, b: lib(a).hstack([a, b]) * 2 + lib(a).hstack([a[0], b[1]]).sum()
     + lib(a).vstack([a, b]).reshape(3, 8) + lib(a).dstack([a, b]).reshape(3, 8)
     + lib(a).column_stack([a[:, 0], b]).sum() + lib(a).row_stack([a[0], b[1]]).sum(), [(3, 4), (3, 4)], {}),
    ("block_diag", lambda a, b: lib(a).block_diag(a, b, a[0]), [(2, 3), (1, 2)], {}),
    ("msort", lambda a: lib(a).msort(a) + a.msort(), [DISTINCT], {}),
    ("trapezoid", lambda a, x: lib(a).trapezoid(a) + lib(a).trapz(a, x) + lib(a).trapezoid(a, dx=0.5, dim=0).sum(),
     [(3, 4), np.array([0.0, 0.5, 1.5, 1.75])], {}),
    ("index_add", lambda a, s: lib(a).index_add(a, 0, lib(a).tensor([2, 0, 2]), s)
     + a.index_add(1, lib(a).tensor([1, 3, 1, 0]), s, alpha=2.0), [(3, 4), (3, 4)], {}),
    ("index_copy-fill", lambda a, s: lib(a).index_copy(a, 0, lib(a).tensor([2, 0]), s) + a.index_fill(1, lib(a).tensor(
        [3]), 0.5) + lib(a).index_fill(a, 0, lib(a).tensor([1]), -2.0), [(3, 4), (2, 4)], {}),
    ("masked_scatter", lambda a, s: lib(a).masked_scatter(a, a > 0, s) + a.masked_scatter(lib(a).tensor(
        [True, False, True, False]), s), [(3, 4), (12,)], {}),
    ("frac-logit", lambda a: lib(a).frac(a * 3) * a + a.frac() + lib(a).logit(a.sigmoid()) + a.sigmoid().logit(0.01),
     [(3, 4)], {}),
    ("nansum-nanmean", lambda a: lib(a).nansum(a.log()) + a.log().nanmean(0).sum() + lib(a).nanmean(a.log())
     + a.nansum(1, keepdim=True).sum(), [(3, 4)], {}),
    ("kthvalue", lambda a: lib(a).kthvalue(a, 2, 1).values + a.kthvalue(3, 0, keepdim=True)[0].sum(), [DISTINCT], {}),
    ("quantile", lambda a: lib(a).quantile(a, 0.3) + a.quantile(lib(a).tensor([0.25, 0.9]).double(), dim=1).sum()
     + a.quantile(0.5, dim=0, keepdim=True).sum(), [DISTINCT], {}),
    ("unflatten", lambda a: lib(a).unflatten(a, 1, (2, 2)) + a.unflatten(-1, (2, -1)), [(3, 4)], {}),
    ("amax-tuple", lambda a: a.amax((0, 1)) + a.amin(dim=(0, 2), keepdim=True).sum() + a.amax([1, 2]).sum(),
     [np.random.default_rng(4).permutation(24).reshape(2, 3, 4).astype(float)], {}),
    ("clamp-tensor", lambda a, lo, hi: lib(a).clamp(a, min=lo) + a.clamp(lo, hi) + lib(a).clip(a, max=hi)
     + a.clip(min=lo), [(3, 4), (4,), np.full(4, 0.5)], {}),
    ("matrix_power", lambda a: lib(a).linalg.matrix_power(a, 3) + a.matrix_power(0) + lib(a).linalg.matrix_power(
        a + 3 * lib(a).eye(3, dtype=a.dtype), -2), [(3, 3)], {}),
    ("multi_dot-vecdot", lambda a, b, c: lib(a).linalg.multi_dot([a, b, c]).sum() + lib(a).linalg.vecdot(a, b.t()),
     [(3, 4), (4, 3), (3, 2)], {}),
    ("solve_triangular", lambda a, b: lib(a).linalg.solve_triangular(a + 3 * lib(a).eye(3, dtype=a.dtype), b,
                                                                      upper=False)
     + lib(a).linalg.solve_triangular(a + 3 * lib(a).eye(3, dtype=a.dtype), b, upper=True, unitriangular=True)
     + lib(a).linalg.solve_triangular(a + 3 * lib(a).eye(3, dtype=a.dtype), b.t(), upper=True, left=False).t(),
     [(3, 3), (3, 2)], {}),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_float64(case: tuple) -> None:
    name, fn, inputs, kw = case
    parity_op(fn, None, inputs, dtype=np.float64, low=-0.9, high=0.9, **TOL, **kw)


def test_index_valued_and_bitwise() -> None:
    i = np.array([[3, 1, 6], [0, 5, 2]])
    b = np.array([[True, False, True], [False, False, True]])
    checks = [
        (i, lambda a: lib(a).bitwise_and(a, 3) + (a & 5) + a.bitwise_and(a)),
        (i, lambda a: lib(a).bitwise_or(a, 4) + (a | 1) + a.bitwise_or(a.flip(0)) + (2 | a)),
        (i, lambda a: lib(a).bitwise_xor(a, 7) + (a ^ 1) + a.bitwise_xor(a) + (3 ^ a) + (6 & a)),
        (i, lambda a: lib(a).bitwise_not(a) + a.bitwise_not() + ~a),
        (i, lambda a: lib(a).bitwise_left_shift(a, 2) + (a << 1) + lib(a).bitwise_right_shift(a, 1) + (a >> 1)),
        (b, lambda a: (a & a.flip(1)) | (a ^ a.flip(0))),
        (b, lambda a: lib(a).bitwise_not(a)),
        (i, lambda a: lib(a).searchsorted(lib(a).tensor([1, 3, 5]), a)),
        (i, lambda a: lib(a).searchsorted(lib(a).tensor([1, 3, 5]), a, right=True)),
        (i, lambda a: lib(a).searchsorted(lib(a).tensor([[1, 3, 5], [0, 2, 4]]), a, side="right")),
        (i, lambda a: lib(a).bucketize(a, lib(a).tensor([1, 3, 5])) + lib(a).bucketize(a, lib(a).tensor([2, 4]),
                                                                                       right=True)),
        (i, lambda a: lib(a).isin(a, lib(a).tensor([1, 5, 6])) ^ lib(a).isin(a, lib(a).tensor([2]), invert=True)),
        (np.array([-np.inf, -0.0, 0.0, 2.0, np.inf, np.nan]),
         lambda a: lib(a).isposinf(a) | a.isneginf() | lib(a).isneginf(a) & a.isposinf() | lib(a).signbit(a)),
        (i, lambda a: lib(a).isposinf(a) | lib(a).isneginf(a)),
        (i, lambda a: lib(a).triu_indices(3, 4)),
        (i, lambda a: lib(a).triu_indices(4, 3, 1)),
        (i, lambda a: lib(a).tril_indices(3, 3, -1)),
        (i, lambda a: lib(a).cartesian_prod(a[0], a[1, :2])),
        (i, lambda a: lib(a).cartesian_prod(a[0])),
        (i, lambda a: lib(a).combinations(a[0]) + lib(a).combinations(a[1], 2, with_replacement=True)[:3]),
        (i, lambda a: lib(a).where(a > 2)[1]),
        (i, lambda a: lib(a).empty_like(a).shape == a.shape and lib(a).empty_like(a, dtype=lib(a).float64).dtype
         == lib(a).float64),
        (i, lambda a: lib(a).logspace(0, 2, 5) + lib(a).logspace(-1, 1, 3, base=2.0, dtype=lib(a).float64)[0]),
        (i, lambda a: (a.element_size(), a.nelement(), a.stride(), a.t().stride(), a.stride(1))),
        (X, lambda a: (a.half().float(), a.byte(), a.char(), a.short())[1] + (a * 100).char() + (a * 50).short()),
        (X, lambda a: a.type(lib(a).float32).double() + a.mT.t() + lib(a).ones(2, 3, 4).mT.sum()),
    ]
    for k, (arr, fn) in enumerate(checks):
        both(fn, arr, f"index-valued/bitwise check {k}")
    assert minidl.tensor(X).type() == "minidl.float64"
    for L in (torch, minidl):
        with pytest.raises(RuntimeError):
            L.bitwise_and(L.tensor([1.5]), L.tensor([1.0]))
