"""Forward hooks and forward pre-hooks against torch: the same network, the same hooks, in both libraries.

Each scenario records what the hooks saw (the order of calls, the argument tuples, the outputs) and what the
network returned, and compares minidl's record with torch's: values in float64 at the house tolerance
(rtol 1e-7, atol 1e-9), call orders exactly. Hooks that replace inputs or outputs must also change the
gradient the same way."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

import minidl
import minidl.nn as mnn
from parity.helpers import assert_close, copy_weights

F64 = dict(atol=1e-9, rtol=1e-7)


def small_net(nn: Any) -> Any:
    """A miniature convnet: the layers the course hooks (a conv, its ReLU, a pooled classifier)."""
    return nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(3 * 2 * 2, 5))


def pair() -> tuple[Any, Any, np.ndarray]:
    torch.manual_seed(0)
    t = small_net(torch.nn).double()
    m = small_net(mnn).double()
    copy_weights(t, m)
    x = np.random.default_rng(1).normal(size=(2, 2, 4, 4))
    return t, m, x


def to_np(v: Any) -> np.ndarray:
    return v.detach().numpy()


def run_both(scenario: Callable[[Any, Any, Any, list], Any]) -> tuple[list, list, Any, Any]:
    """``scenario(lib, net, x, log)`` runs a hooked forward in one library; returns both logs and outputs."""
    t, m, x = pair()
    log_t: list = []
    log_m: list = []
    out_t = scenario(torch, t, torch.from_numpy(x).requires_grad_(True), log_t)
    out_m = scenario(minidl, m, minidl.tensor(x, requires_grad=True), log_m)
    return log_t, log_m, out_t, out_m


def compare_logs(log_t: list, log_m: list) -> None:
    assert [e[0] for e in log_m] == [e[0] for e in log_t], "hook call order differs from torch"
    for (name, *vals_t), (_, *vals_m) in zip(log_t, log_m):
        for vt, vm in zip(vals_t, vals_m):
            if isinstance(vt, torch.Tensor):
                assert_close(vm, vt, what=f"hook {name}", **F64)
            else:
                assert vm == vt, f"hook {name}: {vm!r} != torch's {vt!r}"


def test_forward_hooks_see_every_activation() -> None:
    """The course's feature extraction: a hook on each layer sees (module, args tuple, output)."""
    def scenario(lib: Any, net: Any, x: Any, log: list) -> Any:
        for i, layer in enumerate(net):
            layer.register_forward_hook(
                lambda mod, args, out, i=i: log.append((f"post{i}", type(args).__name__, len(args), args[0], out)))
        return net(x)
    log_t, log_m, out_t, out_m = run_both(scenario)
    assert len(log_t) == 5
    compare_logs(log_t, log_m)
    assert_close(out_m, out_t, what="hooked forward", **F64)


def test_hooks_replace_input_and_output_and_gradient_follows() -> None:
    """A pre-hook returning one tensor (not a tuple: wrapped as torch does) and a forward hook returning a
    new output both change the result, and the gradient w.r.t. the input follows the edited graph."""
    def scenario(lib: Any, net: Any, x: Any, log: list) -> Any:
        net[1].register_forward_pre_hook(lambda mod, args: args[0] * 0.5 + 1.0)
        net[4].register_forward_hook(lambda mod, args, out: out * out)
        net[4].register_forward_hook(lambda mod, args, out: log.append(("seen", out)))  # sees the replaced one
        out = net(x)
        out.sum().backward()
        log.append(("grad", x.grad))
        return out
    log_t, log_m, out_t, out_m = run_both(scenario)
    compare_logs(log_t, log_m)
    assert_close(out_m, out_t, what="output of the edited forward", **F64)


def test_order_prepend_kwargs_and_remove() -> None:
    """Hooks run in registration order, ``prepend=True`` first; ``with_kwargs`` hooks get the keyword
    arguments; ``remove()`` (twice is harmless) and the ``with`` form take a hook off."""
    def scenario(lib: Any, net: Any, x: Any, log: list) -> Any:
        lin = net[4]
        h1 = lin.register_forward_hook(lambda m, a, o: log.append(("a", o.shape[1])))
        lin.register_forward_hook(lambda m, a, o: log.append(("b",)))
        lin.register_forward_hook(lambda m, a, o: log.append(("first",)), prepend=True)
        lin.register_forward_pre_hook(lambda m, a: log.append(("pre",)))
        lin.register_forward_pre_hook(lambda m, a, kw: log.append(("pre_kw", sorted(kw))), with_kwargs=True)
        lin.register_forward_hook(lambda m, a, kw, o: log.append(("post_kw", len(a))), with_kwargs=True)
        net(x)
        h1.remove()
        h1.remove()
        net(x)
        with lin.register_forward_hook(lambda m, a, o: log.append(("ctx",))):
            net(x)
        out = net(x)
        return out
    log_t, log_m, out_t, out_m = run_both(scenario)
    assert [e[0] for e in log_t].count("a") == 1 and [e[0] for e in log_t].count("ctx") == 1
    compare_logs(log_t, log_m)
    assert_close(out_m, out_t, what="forward after removing hooks", **F64)


def test_pre_hook_with_kwargs_replaces_args_and_kwargs() -> None:
    """``with_kwargs=True``: a pre-hook returns ``(args, kwargs)``; anything else is a RuntimeError."""
    def scenario(lib: Any, net: Any, x: Any, log: list) -> Any:
        net[0].register_forward_pre_hook(lambda m, a, kw: ((a[0] + 2.0,), kw), with_kwargs=True)
        return net(x)
    _, _, out_t, out_m = run_both(scenario)
    assert_close(out_m, out_t, what="forward after a kwargs pre-hook", **F64)
    for lib, nn, x in ((torch, torch.nn, torch.zeros(1, 2)), (minidl, mnn, minidl.zeros(1, 2))):
        lin = nn.Linear(2, 2)
        lin.register_forward_pre_hook(lambda m, a, kw: a[0], with_kwargs=True)
        try:
            lin(x)
        except RuntimeError:
            continue
        raise AssertionError(f"{lib.__name__}: a kwargs pre-hook returning a tensor should raise RuntimeError")


def test_feature_extractor_by_hook_matches_slicing() -> None:
    """The activation a hook captures is the tensor that slicing the network up to that layer computes."""
    _, m, x = pair()
    grabbed: dict[str, Any] = {}
    handle = m[1].register_forward_hook(lambda mod, args, out: grabbed.update(relu=out))
    xm = minidl.tensor(x)
    m(xm)
    handle.remove()
    np.testing.assert_array_equal(to_np(grabbed["relu"]), to_np(m[:2](xm)))
    assert not m[1]._forward_hooks
