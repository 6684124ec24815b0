"""Property tests: binary ops on random broadcastable shapes, reductions on random shapes and dims,
with contiguous and non-contiguous inputs, all against torch in float64."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from parity.helpers import parity_op
from parity.strategies import arrays, broadcastable_pair, shapes

TOL = dict(atol=1e-9, rtol=1e-7, grad_atol=1e-9, grad_rtol=1e-7)
SETTINGS = settings(max_examples=25, deadline=None)
BINARY = {"Add": lambda a, b: a + b, "Sub": lambda a, b: a - b, "Mul": lambda a, b: a * b,
          "Div": lambda a, b: a / b}


@SETTINGS
@given(pair=broadcastable_pair(), op=st.sampled_from(sorted(BINARY)), data=st.data())
def test_binary_broadcasting(pair: tuple, op: str, data: st.DataObject) -> None:
    a = data.draw(arrays(pair[0], low=0.5, high=2.0))
    b = data.draw(arrays(pair[1], low=0.5, high=2.0))
    parity_op(BINARY[op], None, [a, b], op=op, gradcheck=False, **TOL)


@SETTINGS
@given(shape=shapes(min_dims=1), data=st.data(), keepdim=st.booleans(),
       fn=st.sampled_from(["sum", "mean", "var", "amax", "logsumexp", "softmax"]))
def test_reductions_over_random_dims(shape: tuple, data: st.DataObject, keepdim: bool, fn: str) -> None:
    x = data.draw(arrays(shape))
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    calls = {
        "sum": lambda t: t.sum(dim=dim, keepdim=keepdim),
        "mean": lambda t: t.mean(dim=dim, keepdim=keepdim),
        "var": lambda t: t.var(dim=dim, keepdim=keepdim, unbiased=False),
        "amax": lambda t: t.max(dim=dim, keepdim=keepdim)[0],
        "logsumexp": lambda t: t.logsumexp(dim=dim, keepdim=keepdim),
        "softmax": lambda t: t.softmax(dim=dim),
    }
    parity_op(calls[fn], None, [x], gradcheck=False, **TOL)


@SETTINGS
@given(shape=shapes(min_dims=2, max_dims=4), data=st.data())
def test_noncontiguous_unary_and_matmul(shape: tuple, data: st.DataObject) -> None:
    x = data.draw(arrays(shape, noncontiguous=True))
    parity_op(lambda t: (t.tanh() * t.exp()).sum(dim=-1), None, [x], gradcheck=False, **TOL)
    w = data.draw(arrays((shape[-1], 3), noncontiguous=True))
    parity_op(lambda a, b: a @ b, None, [x, w], op="Matmul", gradcheck=False, **TOL)
