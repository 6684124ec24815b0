"""The rest of torch's everyday elementwise maths: tan, the inverse and hyperbolic trig functions,
log2 / log10 / exp2 / expm1, rsqrt, reciprocal, atan2.

Each op is one ``Function`` class, made by ``_unary`` from its NumPy function and its derivative
dz/dx written as a function of the input x and the output z. The derivative uses only operators and
``_f(x, "name")`` (NumPy's function for an ndarray, minidl's differentiable one for a Tensor), so the
same backward records its own graph when ``create_graph=True``: every op here is twice differentiable.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from minidl import autograd
from minidl.autograd import Context, Function
from minidl.ops._util import as_tensor, binary_operands, cast
from minidl.tensor import Tensor


def _f(x: Any, name: str) -> Any:
    """``np.<name>(x)`` for an ndarray; the recorded minidl op for a Tensor (exp, log, sqrt, cos, cosh, square)."""
    if not isinstance(x, Tensor):
        return np.square(x) if name == "square" else getattr(np, name)(x)
    if name == "square":
        return x * x
    if name == "cosh":
        return (x.exp() + (-x).exp()) * 0.5
    return getattr(x, name)()


def _unary(name: str, np_fn: Callable[[np.ndarray], np.ndarray], derivative: Callable[[Any, Any], Any],
           doc: str) -> type[Function]:
    """A Function class ``name``: forward ``np_fn``, backward ``g * derivative(x, z)``."""

    def forward(ctx: Context, x: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            z = np_fn(x).astype(x.dtype, copy=False)
        ctx.save_for_backward(x, z)
        return z

    def backward(ctx: Context, g: Any) -> Any:
        x, z = ctx.saved
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return g * derivative(x, z)

    return type(name, (Function,), {"__doc__": doc, "__module__": __name__, "twice_differentiable": True,
                                    "forward": staticmethod(forward), "backward": staticmethod(backward)})


LN2, LN10 = math.log(2.0), math.log(10.0)

Tan = _unary("Tan", np.tan, lambda x, z: z * z + 1, "z = tan x.   dz/dx = 1 + z^2.")
Asin = _unary("Asin", np.arcsin, lambda x, z: (1 - _f(x, "square")) ** -0.5, "z = asin x.   dz/dx = 1/sqrt(1 - x^2).")
Acos = _unary("Acos", np.arccos, lambda x, z: -((1 - _f(x, "square")) ** -0.5),
              "z = acos x.   dz/dx = -1/sqrt(1 - x^2).")
Atan = _unary("Atan", np.arctan, lambda x, z: 1 / (_f(x, "square") + 1), "z = atan x.   dz/dx = 1/(1 + x^2).")
Sinh = _unary("Sinh", np.sinh, lambda x, z: _f(x, "cosh"), "z = sinh x.   dz/dx = cosh x.")
Cosh = _unary("Cosh", np.cosh, lambda x, z: (_f(x, "exp") - _f(-x, "exp")) * 0.5, "z = cosh x.   dz/dx = sinh x.")
Asinh = _unary("Asinh", np.arcsinh, lambda x, z: (_f(x, "square") + 1) ** -0.5,
               "z = asinh x.   dz/dx = 1/sqrt(x^2 + 1).")
Atanh = _unary("Atanh", np.arctanh, lambda x, z: 1 / (1 - _f(x, "square")), "z = atanh x.   dz/dx = 1/(1 - x^2).")
Log2 = _unary("Log2", np.log2, lambda x, z: 1 / (x * LN2), "z = log2 x.   dz/dx = 1/(x ln 2).")
Log10 = _unary("Log10", np.log10, lambda x, z: 1 / (x * LN10), "z = log10 x.   dz/dx = 1/(x ln 10).")
Exp2 = _unary("Exp2", np.exp2, lambda x, z: z * LN2, "z = 2^x.   dz/dx = 2^x ln 2 = z ln 2.")
Expm1 = _unary("Expm1", np.expm1, lambda x, z: z + 1, "z = e^x - 1 (accurate near 0).   dz/dx = e^x = z + 1.")
Rsqrt = _unary("Rsqrt", lambda x: 1 / np.sqrt(x), lambda x, z: z * z * z * -0.5, "z = 1/sqrt x.   dz/dx = -z^3/2.")
Reciprocal = _unary("Reciprocal", lambda x: 1 / x, lambda x, z: -(z * z), "z = 1/x.   dz/dx = -1/x^2 = -z^2.")


class Atan2(Function):
    """z = atan2(y, x), the angle of the point (x, y).   dz/dy = x/(x^2 + y^2),  dz/dx = -y/(x^2 + y^2)."""

    twice_differentiable = True

    @staticmethod
    def forward(ctx: Context, y: np.ndarray, x: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(y, x)
        return np.arctan2(y, x)

    @staticmethod
    def backward(ctx: Context, g: Any) -> tuple[Any, Any]:
        y, x = ctx.saved
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = x * x + y * y
            return g * x / r2, -(g * y) / r2


# --------------------------------------------------------------------------- user-facing functions
def _floating(x: Any) -> Tensor:
    x = as_tensor(x)
    return cast(x, autograd.get_default_dtype()) if x.dtype.kind in "biu" else x


def _make(op: type[Function]) -> Callable[[Tensor], Tensor]:
    def fn(x: Tensor) -> Tensor:
        return op.apply(_floating(x))
    fn.__name__ = fn.__qualname__ = op.__name__.lower()
    fn.__doc__ = op.__doc__
    return fn


tan, asin, acos, atan = _make(Tan), _make(Asin), _make(Acos), _make(Atan)
sinh, cosh, asinh, atanh = _make(Sinh), _make(Cosh), _make(Asinh), _make(Atanh)
log2, log10, exp2, expm1 = _make(Log2), _make(Log10), _make(Exp2), _make(Expm1)
rsqrt, reciprocal = _make(Rsqrt), _make(Reciprocal)
arcsin, arccos, arctan, arcsinh, arctanh = asin, acos, atan, asinh, atanh


def atan2(input: Any, other: Any) -> Tensor:
    """The angle of (other, input) in (-pi, pi]: ``atan2(y, x)``."""
    Y, X = binary_operands(_floating(input), other)
    return Atan2.apply(Y, X)


arctan2 = atan2
