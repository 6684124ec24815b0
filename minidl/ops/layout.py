"""Rearranging elements: flip, roll, tril / triu, diagonal, repeat, split / chunk / unbind, einsum.

All of these are linear maps, so each backward is another linear map of the same family (the
adjoint): flip's is flip, roll's is the opposite roll, tril's is tril, diagonal's puts the values
back on the diagonal of zeros. ``_lin(Op, g, ...)`` runs the op's forward on an ndarray (first-order
backward, nothing recorded) or applies the op to a Tensor (``create_graph=True``, recorded), so each
backward is written once for both (see the ``minidl.autograd`` docstring).
"""
from __future__ import annotations

import string
from typing import Any, Sequence

import numpy as np

from minidl.autograd import Context, Function
from minidl.ops._util import as_tensor, binary_operands, normalize_dim, normalize_dims
from minidl.tensor import Tensor


def _lin(op: type[Function], g: Any, **settings: Any) -> Any:
    """The linear op ``op`` applied to ``g``: recorded for a Tensor, plain NumPy for an ndarray."""
    if isinstance(g, Tensor):
        return op.apply(g, **settings)
    return op.forward(Context(), g, **settings)


class Flip(Function):
    """z = x reversed along ``dims``.   Its adjoint is itself: dL/dx = flip(g)."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, dims: tuple[int, ...]) -> np.ndarray:
        ctx.dims = dims
        return np.flip(x, dims).copy()

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        return _lin(Flip, g, dims=ctx.dims)


class Roll(Function):
    """z = x shifted cyclically by ``shifts`` along ``dims`` (None: the flattened tensor).
    The adjoint shifts back: dL/dx = roll(g, -shifts)."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, shifts: tuple[int, ...], dims: tuple[int, ...] | None) -> np.ndarray:
        ctx.shifts, ctx.dims = shifts, dims
        if dims is None:
            return np.roll(x.reshape(-1), shifts[0]).reshape(x.shape)
        return np.roll(x, shifts, dims)

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        return _lin(Roll, g, shifts=tuple(-s for s in ctx.shifts), dims=ctx.dims)


class Tri(Function):
    """z = the lower (``upper=False``) or upper triangle of the last two dims, from ``diagonal`` on.
    A mask: dL/dx = the same triangle of g."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, diagonal: int, upper: bool) -> np.ndarray:
        ctx.diagonal, ctx.upper = diagonal, upper
        return np.triu(x, diagonal) if upper else np.tril(x, diagonal)

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        return _lin(Tri, g, diagonal=ctx.diagonal, upper=ctx.upper)


def _diag_rows_cols(n: int, offset: int) -> tuple[np.ndarray, np.ndarray]:
    k = np.arange(n)
    return k + max(-offset, 0), k + max(offset, 0)


class Diagonal(Function):
    """z[..., k] = x[..., k + max(-offset, 0), ..., k + max(offset, 0), ...] over dims (dim1, dim2), which are
    removed; the diagonal becomes the last dim (torch's layout). dL/dx = g put back on that diagonal."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, offset: int, dim1: int, dim2: int) -> np.ndarray:
        ctx.offset, ctx.dim1, ctx.dim2, ctx.shape = offset, dim1, dim2, x.shape
        return np.diagonal(x, offset, dim1, dim2).copy()

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        return _lin(DiagonalEmbed, g, shape=ctx.shape, offset=ctx.offset, dim1=ctx.dim1, dim2=ctx.dim2)


class DiagonalEmbed(Function):
    """The adjoint of ``Diagonal``: zeros of ``shape`` with ``g`` written on the diagonal (dim1, dim2, offset).
    Its own adjoint is ``Diagonal``."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, g: np.ndarray, *, shape: tuple[int, ...], offset: int, dim1: int,
                dim2: int) -> np.ndarray:
        ctx.offset, ctx.dim1, ctx.dim2 = offset, dim1, dim2
        out = np.zeros(shape, dtype=g.dtype)
        rows, cols = _diag_rows_cols(g.shape[-1], offset)
        np.moveaxis(out, (dim1, dim2), (-2, -1))[..., rows, cols] = g  # writes through the view
        return out

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        return _lin(Diagonal, g, offset=ctx.offset, dim1=ctx.dim1, dim2=ctx.dim2)


class Repeat(Function):
    """z = x tiled ``reps`` times along each dim (``x.repeat(2, 3)``; leading dims added as needed).
    Every copy of x_i receives a gradient: dL/dx = the sum of g over the copies."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, x: np.ndarray, *, reps: tuple[int, ...]) -> np.ndarray:
        lead = (1,) * (len(reps) - x.ndim) + tuple(x.shape)
        ctx.lead, ctx.reps, ctx.shape = lead, reps, x.shape
        return np.tile(x.reshape(lead), reps)

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        split = tuple(v for r, n in zip(ctx.reps, ctx.lead) for v in (r, n))   # (r0, n0, r1, n1, ...)
        summed = ctx.xp.sum(g.reshape(split), axis=tuple(range(0, len(split), 2)))
        return summed.reshape(ctx.shape)


class Einsum(Function):
    """z = einsum(equation, x_1, ..., x_k): sums of products over the repeated letters.

    The gradient for operand j is again an einsum: the output's letters and the other operands'
    letters contracted into x_j's letters, dL/dx_j = einsum("out,others->x_j", g, others). Letters
    that only x_j has (summed away inside it alone) get the gradient broadcast along them.
    """

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, *xs: np.ndarray, subs: tuple[str, ...], out: str) -> np.ndarray:
        ctx.subs, ctx.out = subs, out
        ctx.save_for_backward(*xs)
        return np.asarray(np.einsum(",".join(subs) + "->" + out, *xs))

    @staticmethod
    def backward(ctx: Context, g: Any) -> tuple[Any, ...]:
        xs = ctx.saved
        xp = ctx.xp
        grads: list[Any] = []
        for j, (x, sub) in enumerate(zip(xs, ctx.subs)):
            if not ctx.needs_input_grad[j]:
                grads.append(None)
                continue
            if len(set(sub)) != len(sub):
                raise NotImplementedError(f"einsum: the gradient of an operand with a repeated letter ('{sub}', "
                                          "a diagonal) is not implemented in minidl")
            others = [(s, o) for i, (s, o) in enumerate(zip(ctx.subs, xs)) if i != j]
            known = set(ctx.out).union(*[set(s) for s, _ in others])
            kept = "".join(c for c in sub if c in known)
            eq = ",".join([ctx.out] + [s for s, _ in others]) + "->" + kept
            gj = _einsum_any(eq, g, *[o for _, o in others])
            if kept != sub:  # broadcast along the letters only x_j had
                gj = xp.expand_dims(gj, tuple(i for i, c in enumerate(sub) if c not in known))
                gj = xp.broadcast_to(gj, x.shape)
            grads.append(gj)
        return tuple(grads)


def _einsum_any(eq: str, *xs: Any) -> Any:
    if any(isinstance(x, Tensor) for x in xs):
        subs, out = eq.split("->")
        return Einsum.apply(*[as_tensor(x) for x in xs], subs=tuple(subs.split(",")), out=out)
    return np.einsum(eq, *xs)


# --------------------------------------------------------------------------- user-facing functions
def _int_tuple(v: Any) -> tuple[int, ...]:
    return (int(v),) if isinstance(v, (int, np.integer)) else tuple(int(a) for a in v)


def flip(x: Tensor, dims: Any) -> Tensor:
    return Flip.apply(x, dims=normalize_dims(_int_tuple(dims), x.ndim))


def fliplr(x: Tensor) -> Tensor:
    if x.ndim < 2:
        raise RuntimeError(f"Input must be >= 2-d (got shape {tuple(x.shape)})")
    return flip(x, (1,))


def flipud(x: Tensor) -> Tensor:
    if x.ndim < 1:
        raise RuntimeError("Input must be >= 1-d")
    return flip(x, (0,))


def roll(x: Tensor, shifts: Any, dims: Any = None) -> Tensor:
    """Shift cyclically: ``roll(x, 1, 0)`` moves row i to row i + 1 (the last row to the first)."""
    s = _int_tuple(shifts)
    if dims is None:
        if len(s) != 1:
            raise RuntimeError(f"roll: shifts {s} need as many dims, but dims is None")
        return Roll.apply(x, shifts=s, dims=None)
    d = _int_tuple(dims)
    if len(s) != len(d):
        raise RuntimeError(f"shifts and dimensions must align. shifts: {len(s)}, dims:{len(d)}")
    return Roll.apply(x, shifts=s, dims=tuple(normalize_dim(a, x.ndim) for a in d))


def _tri(x: Tensor, diagonal: int, upper: bool) -> Tensor:
    if x.ndim < 2:
        name = "triu" if upper else "tril"
        raise RuntimeError(f"{name}: input tensor must have at least 2 dimensions (got shape {tuple(x.shape)})")
    return Tri.apply(x, diagonal=int(diagonal), upper=upper)


def tril(x: Tensor, diagonal: int = 0) -> Tensor:
    """Keep the elements on and below the ``diagonal``-th diagonal of the last two dims, zero the rest."""
    return _tri(x, diagonal, upper=False)


def triu(x: Tensor, diagonal: int = 0) -> Tensor:
    return _tri(x, diagonal, upper=True)


def diagonal(x: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """The diagonal of dims (dim1, dim2), shifted ``offset`` above (> 0) or below (< 0), as the last dim."""
    d1, d2 = normalize_dim(dim1, x.ndim), normalize_dim(dim2, x.ndim)
    if d1 == d2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    return Diagonal.apply(x, offset=int(offset), dim1=d1, dim2=d2)


def repeat(x: Tensor, *sizes: Any) -> Tensor:
    reps = _int_tuple(sizes[0]) if len(sizes) == 1 and not isinstance(sizes[0], (int, np.integer)) else \
        tuple(int(s) for s in sizes)
    if len(reps) < x.ndim:
        raise RuntimeError(f"Number of dimensions of repeat dims ({len(reps)}) can not be smaller than number of "
                           f"dimensions of tensor ({x.ndim}, shape {tuple(x.shape)})")
    return Repeat.apply(x, reps=reps)


def split(x: Tensor, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
    """Pieces along ``dim``: of ``split_size`` each (the last may be smaller), or of the listed sizes."""
    d = normalize_dim(dim, x.ndim)
    n = x.shape[d]
    if isinstance(split_size_or_sections, (int, np.integer)):
        size = int(split_size_or_sections)
        if size <= 0:
            raise RuntimeError(f"split expects split_size be non-negative, but got split_size={size}")
        sizes = [min(size, n - lo) for lo in range(0, n, size)] or [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n:
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size at "
                               f"dimension {d}), but got split_sizes={sizes}")
    lead = (slice(None),) * d
    out, lo = [], 0
    for s in sizes:
        out.append(x[lead + (slice(lo, lo + s),)])
        lo += s
    return tuple(out)


def chunk(x: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """At most ``chunks`` pieces of ceil(n / chunks) elements along ``dim`` (torch's rule)."""
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    n = x.shape[normalize_dim(dim, x.ndim)]
    return split(x, max(-(-n // chunks), 1), dim)


def unbind(x: Tensor, dim: int = 0) -> tuple[Tensor, ...]:
    d = normalize_dim(dim, x.ndim)
    return tuple(x[(slice(None),) * d + (i,)] for i in range(x.shape[d]))


def einsum(equation: str, *operands: Any) -> Tensor:
    """``einsum("ij,jk->ik", a, b)`` (also ``...`` and an implicit output, as in torch)."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    xs = [as_tensor(o) for o in operands]
    if len({x.dtype for x in xs}) > 1:
        first = xs[0]
        xs = [binary_operands(first, x)[1] if x is not first else x for x in xs]
    subs, out = _parse_einsum(equation.replace(" ", ""), [x.ndim for x in xs], [tuple(x.shape) for x in xs])
    return Einsum.apply(*xs, subs=subs, out=out)


def _parse_einsum(eq: str, ndims: Sequence[int], shapes: Sequence[tuple[int, ...]]) -> tuple[tuple[str, ...], str]:
    """Explicit subscripts (``...`` spelled out with unused letters) and the output subscripts."""
    lhs, arrow, rhs = eq.partition("->")
    ins = lhs.split(",")
    if len(ins) != len(ndims):
        raise RuntimeError(f"einsum(): {len(ins)} operands in the equation '{eq}' but {len(ndims)} were given")
    used = set(eq) - set(".,->")
    free = [c for c in string.ascii_letters if c not in used]
    n_ell = max((nd - len(s.replace("...", "")) for s, nd in zip(ins, ndims) if "..." in s), default=0)
    ell = "".join(free[:n_ell])
    subs = []
    for s, nd, shape in zip(ins, ndims, shapes):
        if "..." in s:
            k = nd - len(s.replace("...", ""))
            s = s.replace("...", ell[n_ell - k:] if k else "")
        if len(s) != nd:
            raise RuntimeError(f"einsum(): the number of subscripts in the equation ({len(s)}) does not match the "
                               f"number of dimensions ({nd}) of operand of shape {shape}")
        subs.append(s)
    if arrow:
        out = rhs.replace("...", ell)
    else:  # implicit: broadcast letters, then the letters seen once, in alphabetical order
        counts: dict[str, int] = {}
        for s in subs:
            for c in s:
                counts[c] = counts.get(c, 0) + 1
        out = ell + "".join(sorted(c for c, k in counts.items() if k == 1 and c not in ell))
    return tuple(subs), out
