"""The harness cannot be fooled: each check of ``parity_op`` fails on a deliberately wrong op.

A parity suite whose helpers pass broken code proves nothing, so these tests feed it broken ops and
require an AssertionError naming the problem."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import minidl
from minidl import Tensor
from parity.helpers import assert_close, parity_op

TOL = dict(atol=1e-9, rtol=1e-7, grad_atol=1e-9, grad_rtol=1e-7)


class _WrongGrad(minidl.autograd.Function):
    """tanh with the derivative of the identity (a plausible bug: forgetting the 1 - z^2 factor)."""

    @staticmethod
    def forward(ctx, x):  # noqa: ANN001, ANN205
        return Tensor(np.tanh(x._data))

    @staticmethod
    def backward(ctx, g):  # noqa: ANN001, ANN205
        return g


def test_dropped_graph_fails() -> None:
    """An op that computes the right numbers but drops the graph (requires_grad False) must fail."""
    with pytest.raises(AssertionError, match="requires_grad"):
        parity_op(torch.tanh, lambda a: Tensor(np.tanh(a._data)), [(3, 4)], **TOL)


def test_invented_graph_fails() -> None:
    """The opposite: torch's output is outside the graph (argmax), minidl's claims a gradient."""
    with pytest.raises(AssertionError, match="requires_grad"):
        parity_op(lambda a: a.argmax(1).double(), lambda a: a.max(1).values * 0 + a.argmax(1).double(), [(3, 4)],
                  **TOL)


def test_wrong_gradient_fails() -> None:
    with pytest.raises(AssertionError, match="grad of input 0"):
        parity_op(torch.tanh, _WrongGrad.apply, [(3, 4)], **TOL)


def test_wrong_forward_dtype_and_shape_fail() -> None:
    with pytest.raises(AssertionError, match="dtype"):
        parity_op(torch.tanh, lambda a: a.tanh().float(), [(3,)], **TOL)
    with pytest.raises(AssertionError, match="shape"):
        parity_op(lambda a: a.sum(1), lambda a: a.sum(1, keepdim=True), [(3, 4)], **TOL)


def test_declared_op_that_did_not_run_fails() -> None:
    with pytest.raises(AssertionError, match="never ran"):
        parity_op(torch.tanh, lambda a: a.tanh(), [(3,)], op="Sigmoid", **TOL)


def test_correct_op_passes_and_message_names_the_worst_index() -> None:
    parity_op(lambda a: a.tanh(), None, [(3, 4)], op="Tanh", **TOL)
    with pytest.raises(AssertionError, match=r"index \(1,\).*expected 2\.0.*actual 2\.5"):
        assert_close(np.array([1.0, 2.5]), np.array([1.0, 2.0]), atol=1e-9, rtol=1e-7, what="demo")
