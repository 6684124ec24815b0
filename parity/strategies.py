"""Hypothesis strategies for shapes, broadcastable pairs and (non-contiguous) arrays."""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp


def shapes(min_dims: int = 0, max_dims: int = 4, max_side: int = 5) -> st.SearchStrategy[tuple[int, ...]]:
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=1, max_side=max_side)


def broadcastable_pair(max_dims: int = 4, max_side: int = 5) -> st.SearchStrategy[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Two shapes that broadcast together (with size-1 axes and missing leading axes on either side)."""
    return hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=max_dims, max_side=max_side).map(
        lambda r: tuple(r.input_shapes))


@st.composite
def arrays(draw: st.DrawFn, shape: tuple[int, ...], dtype: type = np.float64, low: float = -2.0,
           high: float = 2.0, noncontiguous: bool | None = None) -> np.ndarray:
    """Finite values in [low, high]; optionally a strided (non-contiguous) view of a larger array."""
    nc = draw(st.booleans()) if noncontiguous is None else noncontiguous
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    if nc and len(shape) > 0:
        big = rng.uniform(low, high, size=shape[:-1] + (2 * shape[-1],)).astype(dtype)
        out = big[..., ::2]
        assert not out.flags.c_contiguous or shape[-1] <= 1
        return out
    return rng.uniform(low, high, size=shape).astype(dtype)
