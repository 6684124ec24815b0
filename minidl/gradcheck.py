"""``gradcheck`` and ``gradgradcheck``: your backward against central finite differences (torch's meaning).

For a function ``y = f(x_1, ..., x_k)`` the Jacobian block ``J[o, i]`` has one row per element of output
``o`` and one column per element of input ``i``:

* numerical column j:  (f(x + eps e_j) - f(x - eps e_j)) / (2 eps)   (error O(eps^2));
* analytical row r:    the gradient of ``y_o[r]`` -- one backward with the one-hot seed ``e_r``.

The check passes when ``|analytical - numerical| <= atol + rtol |numerical|`` everywhere. Use float64
inputs: in float32 the rounding error of the differences (~1e-7 / eps) swamps the comparison.
``gradgradcheck`` applies the same test to the *gradient* (computed with ``create_graph=True``), so it
checks the recorded backward pass, i.e. second derivatives.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np


class GradcheckError(RuntimeError):
    """Raised by ``gradcheck`` when the analytical and numerical Jacobians differ (torch's type)."""


def _tuple(x: Any) -> tuple[Any, ...]:
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _float_outputs(fn: Callable[..., Any], inputs: Sequence[Any]) -> list[Any]:
    from minidl.tensor import Tensor
    return [o for o in _tuple(fn(*inputs)) if isinstance(o, Tensor) and o.dtype.kind == "f"]


def _numerical(fn: Callable[..., Any], inputs: Sequence[Any], x: Any, eps: float) -> list[np.ndarray]:
    """d outputs / d x by central differences: one (out.size, x.size) matrix per output."""
    data = x._data  # perturbed in place, element by element (any memory layout)
    cols: list[list[np.ndarray]] | None = None
    for j in range(data.size):  # grad mode stays on: ``fn`` may itself call grad (gradgradcheck)
        at = np.unravel_index(j, data.shape)
        orig = data[at]
        data[at] = orig + eps
        plus = [o._data.astype(np.float64).reshape(-1) for o in _float_outputs(fn, inputs)]
        data[at] = orig - eps
        minus = [o._data.astype(np.float64).reshape(-1) for o in _float_outputs(fn, inputs)]
        data[at] = orig
        d = [(p - m) / (2 * eps) for p, m in zip(plus, minus)]
        cols = [[c] for c in d] if cols is None else [c + [dc] for c, dc in zip(cols, d)]
    if cols is None:
        return []
    return [np.stack(c, axis=1) for c in cols]


def _analytical(fn: Callable[..., Any], inputs: Sequence[Any], diff: list[Any]) -> list[list[np.ndarray]]:
    """[output][input] -> (out.size, input.size): one backward per output element."""
    from minidl.autograd import grad
    from minidl.tensor import Tensor
    outs = _float_outputs(fn, inputs)
    result: list[list[np.ndarray]] = []
    for out in outs:
        mats = [np.zeros((out.numel(), x.numel())) for x in diff]
        if out.requires_grad:
            for r in range(out.numel()):
                seed = np.zeros(out.shape, dtype=out.dtype)
                seed.reshape(-1)[r] = 1
                gs = grad(out, diff, Tensor(seed), retain_graph=True, allow_unused=True)
                for m, g in zip(mats, gs):
                    if g is not None:
                        m[r] = g._data.astype(np.float64).reshape(-1)
        result.append(mats)
    return result


def gradcheck(func: Callable[..., Any], inputs: Any, *, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, raise_exception: bool = True, **_ignored: Any) -> bool:
    """True if ``func``'s gradients with respect to ``inputs`` (those with requires_grad) match central
    finite differences; otherwise raise ``GradcheckError`` naming the output, the input and both
    Jacobians (or return False with ``raise_exception=False``). torch's defaults: eps 1e-6, atol 1e-5,
    rtol 1e-3."""
    from minidl.tensor import Tensor
    inputs = _tuple(inputs)
    diff = [x for x in inputs if isinstance(x, Tensor) and x.requires_grad]
    if not diff:
        raise ValueError("gradcheck expects at least one input tensor to require gradient, but none of them have "
                         "requires_grad=True.")
    for x in diff:
        if x.dtype != np.float64:
            import warnings
            warnings.warn(f"gradcheck: input of dtype {x.dtype} is not double precision; the finite differences "
                          f"will be inaccurate. Use float64 inputs.", UserWarning, stacklevel=2)
    analytical = _analytical(func, inputs, diff)
    for i, x in enumerate(diff):
        numerical = _numerical(func, inputs, x, eps)
        for o, (num, ana) in enumerate(zip(numerical, (a[i] for a in analytical))):
            if not np.all(np.abs(ana - num) <= atol + rtol * np.abs(num)):
                if not raise_exception:
                    return False
                raise GradcheckError(f"Jacobian mismatch for output {o} with respect to input {i},\n"
                                     f"numerical:{num}\nanalytical:{ana}\n")
    return True


def gradgradcheck(func: Callable[..., Any], inputs: Any, grad_outputs: Any = None, *, eps: float = 1e-6,
                  atol: float = 1e-5, rtol: float = 1e-3, raise_exception: bool = True, seed: int = 0,
                  **_ignored: Any) -> bool:
    """``gradcheck`` of the map (inputs, v) -> v . d func / d inputs, computed with ``create_graph=True``:
    checks second derivatives. ``grad_outputs`` (the v) default to random float64 tensors (seeded)."""
    from minidl.autograd import grad
    from minidl.tensor import Tensor
    inputs = _tuple(inputs)
    diff = [x for x in inputs if isinstance(x, Tensor) and x.requires_grad]
    outs = _float_outputs(func, inputs)
    if grad_outputs is None:
        rng = np.random.default_rng(seed)
        grad_outputs = [Tensor(rng.standard_normal(o.shape).astype(o.dtype), requires_grad=True) for o in outs]
    gos = list(_tuple(grad_outputs))
    n = len(inputs)

    def first_derivative(*args: Any) -> tuple[Any, ...]:
        ins, vs = args[:n], args[n:]
        ys = _float_outputs(func, ins)
        d = [x for x in ins if isinstance(x, Tensor) and x.requires_grad]
        used = [(y, v) for y, v in zip(ys, vs) if y.requires_grad]
        gs = grad([y for y, _ in used], d, [v for _, v in used], create_graph=True, allow_unused=True)
        return tuple(g for g in gs if g is not None)

    return gradcheck(first_derivative, tuple(inputs) + tuple(gos), eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)
