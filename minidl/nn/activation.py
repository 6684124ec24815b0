"""More activations: GELU, ELU, SiLU, Softplus, PReLU, Hardtanh (functional forms and modules).

Each is composed from differentiable ops (where, clamp, exp, sigmoid, erf...), so its backward, and
its second derivative, come from the ops' own. Definitions (torch's):

    gelu(x)     = x Phi(x) = x/2 (1 + erf(x / sqrt 2))                 approximate="none"
                ~ x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))        approximate="tanh"
    elu(x)      = x if x > 0 else alpha (e^x - 1)
    silu(x)     = x sigmoid(x)                                          (a.k.a. swish)
    softplus(x) = log(1 + e^{beta x}) / beta, and x itself where beta x > threshold
    prelu(x)    = x if x > 0 else a_c x, with one learnt slope a_c per channel (dim 1) or one shared
    hardtanh(x) = clamp(x, min_val, max_val)

The ``where(cond, a, b)`` forms take care that the branch not chosen cannot produce inf * 0 = nan in
the gradient: elu exponentiates min(x, 0), softplus min(beta x, threshold).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from minidl import autograd
from minidl.nn.module import Module, Parameter
from minidl.ops import clamp, exp, log1p, sigmoid, tanh, where
from minidl.ops.special import erf
from minidl.tensor import Tensor


def _refuse_inplace(name: str, inplace: bool) -> None:
    if inplace:
        raise NotImplementedError(f"{name}: inplace=True is not supported by minidl (activations return a new "
                                  "tensor; an in-place update would overwrite a value that backward needs)")


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    if approximate == "none":
        return input * 0.5 * (1.0 + erf(input * (1.0 / math.sqrt(2.0))))
    if approximate == "tanh":
        inner = (input + input * input * input * 0.044715) * math.sqrt(2.0 / math.pi)
        return input * 0.5 * (1.0 + tanh(inner))
    raise RuntimeError(f"approximate argument must be either none or tanh, got {approximate!r}")


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    _refuse_inplace("elu", inplace)
    positive = input > 0
    safe = where(positive, Tensor(np.zeros((), dtype=input.dtype)), input)  # e^x only where x <= 0
    return where(positive, input, (exp(safe) - 1.0) * alpha)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    _refuse_inplace("silu", inplace)
    return input * sigmoid(input)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    bx = input * beta
    linear = bx > threshold
    safe = where(linear, Tensor(np.zeros((), dtype=bx.dtype)), bx)  # e^{beta x} only where beta x <= threshold
    return where(linear, input, log1p(exp(safe)) * (1.0 / beta))


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """``weight: (1,)`` (one slope) or ``(C,)`` for input ``(N, C, ...)``."""
    n = weight.numel()
    if n != 1:
        channels = input.shape[1] if input.ndim >= 2 else 1  # torch: inputs of 0 or 1 dims have one channel
        if channels != n:
            raise RuntimeError(f"Mismatch of parameter numbers and input channel size. Found parameter numbers = "
                               f"{n} and channel size = {channels} (input {tuple(input.shape)}, weight "
                               f"{tuple(weight.shape)}).")
        weight = weight.reshape((n,) + (1,) * (input.ndim - 2))
    elif input.ndim == 0:
        weight = weight.reshape(())
    return where(input > 0, input, input * weight)


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:
    _refuse_inplace("hardtanh", inplace)
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    return clamp(input, min_val, max_val)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    return hardtanh(input, 0.0, 6.0, inplace)


class GELU(Module):
    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:
        return gelu(input, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class ELU(Module):
    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        _refuse_inplace("ELU", inplace)
        self.alpha, self.inplace = alpha, inplace

    def forward(self, input: Tensor) -> Tensor:
        return elu(input, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class SiLU(Module):
    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        _refuse_inplace("SiLU", inplace)
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return silu(input)


class Softplus(Module):
    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, input: Tensor) -> Tensor:
        return softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class PReLU(Module):
    """Learnt negative slope(s) ``weight: (num_parameters,)``, all initialised to ``init`` (0.25)."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        self.num_parameters, self.init = num_parameters, init
        dt = np.dtype(dtype) if dtype is not None else autograd.get_default_dtype()
        self.weight = Parameter(np.full(num_parameters, init, dtype=dt))

    def reset_parameters(self) -> None:
        self.weight._data[...] = self.init

    def forward(self, input: Tensor) -> Tensor:
        return prelu(input, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class Hardtanh(Module):
    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        _refuse_inplace("Hardtanh", inplace)
        if min_val > max_val:
            raise ValueError("min_val cannot be greater than max_val")
        self.min_val, self.max_val, self.inplace = min_val, max_val, inplace

    def forward(self, input: Tensor) -> Tensor:
        return hardtanh(input, self.min_val, self.max_val)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}"


class ReLU6(Hardtanh):
    def __init__(self, inplace: bool = False) -> None:
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self) -> str:
        return ""
