"""Property tests: binary ops on random broadcastable shapes, reductions on random shapes and dims,
with contiguous and non-contiguous inputs, all against torch in float64."""
from __future__ import annotations

import os
from typing import Any, Callable

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from parity.helpers import assert_close, parity_op
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


# --------------------------------------------------------------------------- random graphs (issue 8)
"""Hypothesis draws a computation graph: 1-3 inputs of mutually broadcastable shapes, then 2-8 ops, each
applied to values already computed (binary ops only to pairs whose shapes broadcast), and finally a
weighted sum of every value. The same graph runs on torch and minidl in float64; the loss and every
input's gradient must agree (rtol 1e-7 / atol 1e-9). CI uses the derandomized profile (fixed examples);
MINIDL_HYPOTHESIS_PROFILE=explore draws new ones, 1000 graphs unless MINIDL_RANDOM_GRAPHS says how many
(parity/conftest.py registers the profiles)."""

GRAPHS_TRIED = [0]
EXPLORE = os.environ.get("MINIDL_HYPOTHESIS_PROFILE") == "explore"
GRAPH_EXAMPLES = int(os.environ.get("MINIDL_RANDOM_GRAPHS", 1000 if EXPLORE else 40))


def _L(x: Any) -> Any:
    import torch
    import minidl
    return torch if isinstance(x, torch.Tensor) else minidl


UNARY: dict[str, Callable[[Any], Any]] = {
    "tanh": lambda x: x.tanh(), "sigmoid": lambda x: x.sigmoid(), "sin": lambda x: x.sin(),
    "cos": lambda x: x.cos(), "square": lambda x: x * x, "exp-tanh": lambda x: x.tanh().exp(),
    "log1p-sq": lambda x: (x * x).log1p(), "sqrt-sq1": lambda x: (x * x + 1).sqrt(), "relu": lambda x: x.relu(),
    "neg-pow": lambda x: (x * x + 0.5) ** -1.5, "scale": lambda x: 2.5 * x - 1, "clone": lambda x: x.clone(),
}
BINARY_G: dict[str, Callable[[Any, Any], Any]] = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (b * b + 1), "maximum": lambda a, b: _L(a).maximum(a, b),
    "where": lambda a, b: _L(a).where(a > b, a, b * 2), "atan-ish": lambda a, b: a * b.sigmoid() - b * a.tanh(),
}
DIMMED: dict[str, Callable[[Any, int], Any]] = {
    "sum": lambda x, d: x.sum(d), "mean-keep": lambda x, d: x.mean(d, keepdim=True), "amax": lambda x, d: x.amax(d),
    "logsumexp": lambda x, d: x.logsumexp(d), "softmax": lambda x, d: x.softmax(d), "cumsum": lambda x, d: x.cumsum(d),
    "norm": lambda x, d: (x * x + 0.1).norm(dim=d), "flip": lambda x, d: x.flip(d), "roll": lambda x, d: x.roll(1, d),
    "unsqueeze": lambda x, d: x.unsqueeze(d), "var": lambda x, d: x.var(d, unbiased=False),
}
SHAPED: dict[str, Callable[[Any], Any]] = {
    "transpose": lambda x: x.transpose(0, -1), "gram": lambda x: x @ x.transpose(-1, -2),
    "reshape-flat": lambda x: x.reshape(-1), "tril": lambda x: x.tril(), "T-matmul": lambda x: x.transpose(-1, -2) @ x,
}


def _broadcasts(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    try:
        np.broadcast_shapes(a, b)
        return True
    except ValueError:
        return False


@settings(deadline=None, max_examples=GRAPH_EXAMPLES)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, max_side=4),
       n_inputs=st.integers(1, 3), n_ops=st.integers(2, 8), data=st.data())
def test_random_graphs(shapes: Any, n_inputs: int, n_ops: int, data: st.DataObject) -> None:
    import torch
    import minidl
    GRAPHS_TRIED[0] += 1
    inputs = [data.draw(arrays(s, low=-1.5, high=1.5), label=f"x{i}")
              for i, s in enumerate(shapes.input_shapes[:n_inputs])]
    t_in = [torch.tensor(a.copy(), requires_grad=True) for a in inputs]
    m_in = [minidl.tensor(a.copy(), requires_grad=True) for a in inputs]
    t_vals, m_vals, names = list(t_in), list(m_in), []
    for _ in range(n_ops):
        i = data.draw(st.integers(0, len(m_vals) - 1), label="operand")
        shape = tuple(m_vals[i].shape)
        kinds = ["unary"] + (["dimmed"] if shape else []) + (["shaped"] if len(shape) >= 2 else [])
        partners = [j for j, v in enumerate(m_vals) if _broadcasts(shape, tuple(v.shape))]
        kinds += ["binary"] if partners else []
        kind = data.draw(st.sampled_from(kinds), label="kind")
        if kind == "unary":
            name = data.draw(st.sampled_from(sorted(UNARY)), label="op")
            f: Callable[..., Any] = UNARY[name]
            t_vals.append(f(t_vals[i]))
            m_vals.append(f(m_vals[i]))
        elif kind == "binary":
            j = data.draw(st.sampled_from(partners), label="partner")
            name = data.draw(st.sampled_from(sorted(BINARY_G)), label="op")
            t_vals.append(BINARY_G[name](t_vals[i], t_vals[j]))
            m_vals.append(BINARY_G[name](m_vals[i], m_vals[j]))
        elif kind == "dimmed":
            name = data.draw(st.sampled_from(sorted(DIMMED)), label="op")
            d = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
            t_vals.append(DIMMED[name](t_vals[i], d))
            m_vals.append(DIMMED[name](m_vals[i], d))
        else:
            name = data.draw(st.sampled_from(sorted(SHAPED)), label="op")
            t_vals.append(SHAPED[name](t_vals[i]))
            m_vals.append(SHAPED[name](m_vals[i]))
        names.append(name)
    rng = np.random.default_rng(len(names))
    weights = [rng.uniform(-1, 1, tuple(v.shape)) for v in m_vals]
    t_loss = sum((v * torch.tensor(w)).sum() for v, w in zip(t_vals, weights))
    m_loss = sum((v * minidl.tensor(w)).sum() for v, w in zip(m_vals, weights))
    what = f"graph {' -> '.join(names)} on {[a.shape for a in inputs]}"
    for k, (mv, tv) in enumerate(zip(m_vals, t_vals)):
        assert_close(mv, tv, atol=1e-9, rtol=1e-7, what=f"{what}: value {k}")
    t_loss.backward()
    m_loss.backward()
    for k, (mt, tt) in enumerate(zip(m_in, t_in)):
        assert_close(mt.grad, tt.grad, atol=1e-9, rtol=1e-7, what=f"{what}: grad of input {k}")


def test_random_graphs_were_tried() -> None:
    """How many random graphs ran in this session (the count goes in the closing note)."""
    if GRAPHS_TRIED[0]:
        print(f"\nrandom graphs tried: {GRAPHS_TRIED[0]}")
