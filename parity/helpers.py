"""The parity harness: one-line comparisons of minidl against torch, tolerances at the call site.

    parity_op(lambda x, y: x * y, None, [(3, 4), (4,)], atol=1e-9, rtol=1e-7, grad_atol=1e-9, grad_rtol=1e-7)

runs the same function on minidl and torch tensors built from the same arrays (``None`` means the
function is written once and works on both, since minidl mirrors torch's API), backpropagates the same
random upstream gradient, and compares outputs and every input gradient: shape, dtype and values.
In float64 it also checks the minidl gradient against central finite differences (eps 1e-6).
Failure messages name the op, the worst index, the expected and actual values and the relative error.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import torch

import minidl
from minidl.autograd import record_ops
from parity.coverage import assert_ran

TORCH_DTYPE = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64,
               np.dtype(np.int64): torch.int64, np.dtype(np.int32): torch.int32, np.dtype(np.bool_): torch.bool}


# --------------------------------------------------------------------------- comparison
def assert_close(actual: Any, expected: Any, *, atol: float, rtol: float, what: str,
                 check_dtype: bool = True) -> None:
    """Shape, dtype and values of ``actual`` (ndarray-like) against ``expected``, with a precise message."""
    a = to_numpy(actual)
    e = to_numpy(expected)
    if a.shape != e.shape:
        raise AssertionError(f"{what}: shape {a.shape} != expected {e.shape}")
    if check_dtype and a.dtype != e.dtype:
        raise AssertionError(f"{what}: dtype {a.dtype} != expected {e.dtype}")
    if a.dtype.kind in "biu" or e.dtype.kind in "biu":
        bad = np.argwhere(a != e)
        if bad.size:
            i = tuple(bad[0])
            raise AssertionError(f"{what}: {len(bad)} mismatches; first at index {i}: expected {e[i]}, actual {a[i]}")
        return
    a64, e64 = a.astype(np.float64), e.astype(np.float64)
    same_nan = np.isnan(a64) & np.isnan(e64)
    same_inf = np.isinf(a64) & (a64 == e64)
    with np.errstate(invalid="ignore"):
        err = np.where(same_nan | same_inf, 0.0, np.abs(a64 - e64))
    allowed = atol + rtol * np.abs(np.where(np.isfinite(e64), e64, 0.0))
    over = np.where(np.isnan(err), np.inf, err - allowed)
    if over.size and np.max(over) > 0:
        i = np.unravel_index(int(np.argmax(over)), over.shape)
        rel = err[i] / max(abs(e64[i]), 1e-300)
        n_bad = int(np.sum(over > 0))
        raise AssertionError(f"{what}: {n_bad}/{a.size} elements out of tolerance (atol={atol}, rtol={rtol}); "
                             f"worst at index {tuple(int(j) for j in i)}: expected {float(e64[i])!r}, "
                             f"actual {float(a64[i])!r}, "
                             f"abs error {err[i]:.3e}, relative error {rel:.3e}")


def to_numpy(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    if isinstance(x, minidl.Tensor):
        return x._data
    return np.asarray(x)


def to_torch(a: np.ndarray, requires_grad: bool = False) -> torch.Tensor:
    t = torch.from_numpy(np.array(a, copy=True))
    return t.requires_grad_(requires_grad) if requires_grad else t


def to_minidl(a: np.ndarray, requires_grad: bool = False) -> minidl.Tensor:
    return minidl.Tensor(np.array(a, copy=True), requires_grad=requires_grad)


# --------------------------------------------------------------------------- inputs
def make_inputs(shapes_or_arrays: Sequence[Any], dtype: Any, seed: int, low: float, high: float) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for s in shapes_or_arrays:
        if isinstance(s, np.ndarray):
            out.append(s if s.dtype.kind in "biu" else s.astype(dtype, copy=False))
        else:
            out.append(rng.uniform(low, high, size=tuple(s)).astype(dtype))
    return out


def _floating(a: np.ndarray) -> bool:
    return a.dtype.kind == "f"


# --------------------------------------------------------------------------- parity_op
def parity_op(torch_fn: Callable[..., Any], minidl_fn: Callable[..., Any] | None, inputs: Sequence[Any], *,
              atol: float, rtol: float, grad_atol: float, grad_rtol: float, dtype: Any = np.float64,
              op: str | Sequence[str] | None = None, seed: int = 0, low: float = -2.0, high: float = 2.0,
              grad: bool = True, gradcheck: bool | None = None, fd_atol: float = 1e-6, fd_rtol: float = 1e-5,
              requires_grad: Sequence[bool] | None = None) -> None:
    """Compare ``minidl_fn`` (or ``torch_fn`` itself) on minidl tensors with ``torch_fn`` on torch tensors.

    ``inputs`` are shapes (random uniform in [low, high)) or ndarrays (used as they are; integer
    arrays are passed as index tensors without gradients). ``op`` names the registered op(s) this
    checks; the call fails if they did not run. Backward inputs and upstream gradients are checked
    to be unchanged afterwards (backward never mutates them).
    """
    arrays = make_inputs(inputs, dtype, seed, low, high)
    name = op if isinstance(op, str) else ("/".join(op) if op else getattr(torch_fn, "__name__", "op"))
    needs = list(requires_grad) if requires_grad is not None else [grad and _floating(a) for a in arrays]
    before = [a.copy() for a in arrays]

    t_in = [to_torch(a, r) for a, r in zip(arrays, needs)]
    m_in = [minidl.Tensor(a.copy(), requires_grad=r) for a, r in zip(arrays, needs)]
    t_out = torch_fn(*t_in)
    with record_ops() as seen:
        m_out = (minidl_fn or torch_fn)(*m_in)
        if op:
            assert_ran([op] if isinstance(op, str) else op, seen, f"parity_op({name})")
    assert_close(m_out, t_out, atol=atol, rtol=rtol, what=f"{name} forward")
    if bool(m_out.requires_grad) != bool(t_out.requires_grad):  # an op that drops (or invents) the graph
        raise AssertionError(f"{name} forward: requires_grad is {m_out.requires_grad} but torch's is "
                             f"{t_out.requires_grad} (grad_fn {m_out.grad_fn!r} vs torch {t_out.grad_fn})")

    if not any(needs) or not t_out.requires_grad:
        return
    rng = np.random.default_rng(seed + 1)
    upstream = rng.uniform(-1, 1, size=tuple(t_out.shape)).astype(to_numpy(t_out).dtype)
    upstream_copy = upstream.copy()
    t_out.backward(torch.from_numpy(upstream.copy()))
    m_out.backward(minidl.Tensor(upstream))
    for k, (mt, tt) in enumerate(zip(m_in, t_in)):
        if not needs[k]:
            continue
        tg = tt.grad if tt.grad is not None else torch.zeros_like(tt)
        if mt.grad is None:
            raise AssertionError(f"{name} backward: input {k} got no gradient (torch's is {tg})")
        assert_close(mt.grad, tg, atol=grad_atol, rtol=grad_rtol, what=f"{name} grad of input {k}")
    for k, (a, b) in enumerate(zip(m_in, before)):
        np.testing.assert_array_equal(a._data, b, err_msg=f"{name}: input {k} was modified")
    np.testing.assert_array_equal(upstream, upstream_copy, err_msg=f"{name}: upstream gradient was modified")

    if gradcheck if gradcheck is not None else np.dtype(dtype) == np.float64:
        finite_difference_check(minidl_fn or torch_fn, arrays, needs, upstream, [t.grad for t in m_in],
                                atol=fd_atol, rtol=fd_rtol, what=name)


def finite_difference_check(fn: Callable[..., Any], arrays: list[np.ndarray], needs: list[bool],
                            upstream: np.ndarray, grads: list[Any], *, atol: float, rtol: float,
                            what: str, eps: float = 1e-6, max_elements: int = 64) -> None:
    """Central differences: d<upstream, f(x)>/dx_j ~ (<u, f(x + eps e_j)> - <u, f(x - eps e_j)>) / 2 eps.

    Checks up to ``max_elements`` coordinates per input (all of them for small inputs).
    """
    rng = np.random.default_rng(0)
    for k, a in enumerate(arrays):
        if not needs[k]:
            continue
        flat_idx = np.arange(a.size)
        if a.size > max_elements:
            flat_idx = rng.choice(a.size, size=max_elements, replace=False)
        numeric = []
        for j in flat_idx:
            vals = []
            for sign in (+1, -1):
                xs = [b.copy() for b in arrays]
                xs[k].reshape(-1)[j] += sign * eps
                with minidl.no_grad():
                    out = fn(*[minidl.Tensor(x) for x in xs])
                vals.append(float(np.sum(to_numpy(out) * upstream)))
            numeric.append((vals[0] - vals[1]) / (2 * eps))
        analytic = to_numpy(grads[k]).reshape(-1)[flat_idx]
        assert_close(analytic, np.array(numeric), atol=atol, rtol=rtol,
                     what=f"{what} finite-difference grad of input {k}", check_dtype=False)


# --------------------------------------------------------------------------- modules
def copy_weights(src: Any, dst: Any) -> None:
    """Copy a state_dict between a minidl and a torch module (either direction), by key."""
    state = src.state_dict()
    if isinstance(dst, torch.nn.Module):
        dst.load_state_dict({k: torch.from_numpy(np.array(to_numpy(v), copy=True)) for k, v in state.items()})
    else:
        dst.load_state_dict({k: np.array(to_numpy(v), copy=True) for k, v in state.items()})


def parity_module(torch_module: torch.nn.Module, minidl_module: minidl.nn.Module, inputs: Sequence[Any], *,
                  atol: float, rtol: float, grad_atol: float, grad_rtol: float, dtype: Any = np.float64,
                  loss: Callable[[Any], Any] | None = None, seed: int = 0, copy_from: str = "torch",
                  op: str | Sequence[str] | None = None, input_grad: bool = True) -> None:
    """Same weights (copied ``copy_from`` torch -> minidl or minidl -> torch), same input: compare the
    output, the input gradient, every parameter's gradient and the state_dict keys/values."""
    if copy_from == "torch":
        copy_weights(torch_module, minidl_module)
    else:
        copy_weights(minidl_module, torch_module)
    t_state, m_state = torch_module.state_dict(), minidl_module.state_dict()
    assert list(t_state.keys()) == list(m_state.keys()), f"state_dict keys differ: {list(t_state)} vs {list(m_state)}"
    for k in t_state:
        assert_close(m_state[k], t_state[k], atol=0, rtol=0, what=f"state_dict[{k}] after copy", check_dtype=False)

    arrays = make_inputs(inputs, dtype, seed, -2.0, 2.0)
    t_in = [to_torch(a, input_grad and _floating(a)) for a in arrays]
    m_in = [to_minidl(a, input_grad and _floating(a)) for a in arrays]
    t_out = torch_module(*t_in)
    with record_ops() as seen:
        m_out = minidl_module(*m_in)
    if op:
        assert_ran([op] if isinstance(op, str) else op, seen, f"parity_module({type(minidl_module).__name__})")
    what = type(minidl_module).__name__
    assert_close(m_out, t_out, atol=atol, rtol=rtol, what=f"{what} forward")
    rng = np.random.default_rng(seed + 1)
    if loss is None:
        upstream = rng.uniform(-1, 1, size=tuple(t_out.shape)).astype(to_numpy(t_out).dtype)
        t_out.backward(torch.from_numpy(upstream.copy()))
        m_out.backward(minidl.Tensor(upstream))
    else:
        loss(t_out).backward()
        loss(m_out).backward()
    t_params = dict(torch_module.named_parameters())
    for name, p in minidl_module.named_parameters():
        if t_params[name].grad is None:
            assert p.grad is None, f"{what}: {name} has a gradient but torch's has none"
            continue
        assert_close(p.grad, t_params[name].grad, atol=grad_atol, rtol=grad_rtol, what=f"{what} grad of {name}")
    for k, (mt, tt) in enumerate(zip(m_in, t_in)):
        if tt.grad is not None:
            assert_close(mt.grad, tt.grad, atol=grad_atol, rtol=grad_rtol, what=f"{what} grad of input {k}")
    for name, buf in minidl_module.named_buffers():
        assert_close(buf, dict(torch_module.named_buffers())[name], atol=atol, rtol=rtol,
                     what=f"{what} buffer {name} after forward", check_dtype=False)


# --------------------------------------------------------------------------- optimisers
def parity_optim(torch_opt_cls: Any, minidl_opt_cls: Any, kwargs: dict[str, Any], *, steps: int = 20,
                 atol: float, rtol: float, dtype: Any = np.float64, shapes: Sequence[tuple[int, ...]] = ((4, 3), (3,)),
                 seed: int = 0, state_keys: Sequence[str] = (), param_groups: Sequence[dict[str, Any]] | None = None,
                 scheduler: tuple[Any, Any, dict[str, Any]] | None = None) -> None:
    """Same initial parameters, the same gradients at every step (drawn fresh each step, so the test does
    not depend on a model): after each of ``steps`` steps compare every parameter and every named piece
    of optimiser state (``state_keys``, e.g. ``momentum_buffer``, ``exp_avg``), and the lr of each group."""
    rng = np.random.default_rng(seed)
    init = [rng.normal(size=s).astype(dtype) for s in shapes]
    t_params = [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in init]
    m_params = [minidl.nn.Parameter(a.copy()) for a in init]

    def groups(params: list[Any]) -> Any:
        if not param_groups:
            return params
        return [dict(g, params=[params[i] for i in g["params"]]) for g in param_groups]

    t_opt = torch_opt_cls(groups(t_params), **kwargs)
    m_opt = minidl_opt_cls(groups(m_params), **kwargs)
    t_sched = m_sched = None
    if scheduler is not None:
        t_sched_cls, m_sched_cls, skw = scheduler
        t_sched, m_sched = t_sched_cls(t_opt, **skw), m_sched_cls(m_opt, **skw)
    name = f"{minidl_opt_cls.__name__}({kwargs})"
    for step in range(1, steps + 1):
        grads = [rng.normal(size=s).astype(dtype) for s in shapes]
        for tp, mp, g in zip(t_params, m_params, grads):
            tp.grad = torch.from_numpy(g.copy())
            mp.grad = minidl.Tensor(g.copy())
        t_opt.step()
        m_opt.step()
        if t_sched is not None:
            t_sched.step()
            m_sched.step()
        for i, (tp, mp) in enumerate(zip(t_params, m_params)):
            assert_close(mp, tp, atol=atol, rtol=rtol, what=f"{name} step {step} param {i}")
            for key in state_keys:
                t_val = t_opt.state[tp].get(key)
                m_val = m_opt.state.get(mp, {}).get(key)
                if t_val is None:
                    assert m_val is None, f"{name} step {step}: minidl has state {key} that torch lacks"
                    continue
                if m_val is None:
                    raise AssertionError(f"{name} step {step} param {i}: missing state '{key}'")
                assert_close(m_val, t_val, atol=atol, rtol=rtol, what=f"{name} step {step} param {i} state {key}",
                             check_dtype=False)
        for gi, (tg, mg) in enumerate(zip(t_opt.param_groups, m_opt.param_groups)):
            assert abs(tg["lr"] - mg["lr"]) <= 1e-12 * max(1.0, abs(tg["lr"])), \
                f"{name} step {step} group {gi}: lr {mg['lr']} != torch {tg['lr']}"
