"""Forward hooks and forward pre-hooks against torch: the same network, the same hooks, in both libraries.

Each scenario records what the hooks saw (the order of calls, the argument tuples, the outputs) and what the
network returned, and compares minidl's record with torch's: values in float64 at the house tolerance
(rtol 1e-7, atol 1e-9), call orders exactly. Hooks that replace inputs or outputs must also change the
gradient the same way."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest
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


# --------------------------------------------------------------------------- always_call, global hooks
import warnings  # noqa: E402

import minidl.nn.modules.module as mmod  # noqa: E402  (torch's path: minidl.nn.modules.module)
import torch.nn.modules.module as tmod  # noqa: E402

LIBS = ((torch, tmod), (minidl, mmod))


def _raises(fn: Callable[[], Any]) -> str:
    try:
        fn()
    except Exception as e:  # noqa: BLE001
        return type(e).__name__
    return "no error"


def test_always_call_runs_when_forward_or_a_hook_raises() -> None:
    """``always_call=True``: the hook runs even if forward raises (it sees output None), exactly once; one
    that already ran before a later hook raised is not run again; an always-call hook that raises on the
    error path becomes a warning and the original exception (same type as torch's) propagates."""
    logs: dict[str, list] = {}
    for lib, mod in LIBS:
        log: list = []
        lin = lib.nn.Linear(2, 3).double()
        lin.register_forward_hook(lambda m, a, o: log.append(("plain", o is None)))
        lin.register_forward_hook(lambda m, a, o: log.append(("always", o is None)), always_call=True)
        lin.register_forward_hook(lambda m, a, kw, o: log.append(("always_kw", sorted(kw), o is None)),
                                  with_kwargs=True, always_call=True)
        g = mod.register_module_forward_hook(lambda m, a, o: log.append(("global_always", o is None)),
                                             always_call=True)
        try:
            log.append(("bad input", _raises(lambda: lin(lib.zeros(4, 5, dtype=lib.float64)))))
            log.append(("good input", _raises(lambda: lin(lib.zeros(4, 2, dtype=lib.float64)))))
        finally:
            g.remove()
        # a hook raises after the first always-call hook ran: only the ones still pending run
        lin2 = lib.nn.Linear(2, 2).double()
        lin2.register_forward_hook(lambda m, a, o: log.append(("first_always", o is None)), always_call=True)
        lin2.register_forward_hook(lambda m, a, o: 1 / 0)
        lin2.register_forward_hook(lambda m, a, o: log.append(("later_always", tuple(o.shape))), always_call=True)

        def boom(m: Any, a: Any, o: Any) -> None:
            raise KeyError("in hook")
        lin2.register_forward_hook(boom, always_call=True)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            log.append(("hook raises", _raises(lambda: lin2(lib.zeros(1, 2, dtype=lib.float64)))))
        log.append(("warnings", [str(x.message).split(":")[0] for x in w]))
        logs[lib.__name__] = log
    assert logs["minidl"] == logs["torch"], f"\nminidl {logs['minidl']}\ntorch  {logs['torch']}"
    assert ("bad input", "RuntimeError") in logs["torch"] and ("always", True) in logs["torch"]


def test_global_hooks_order_replacement_kwargs_and_remove() -> None:
    """``register_module_forward_pre_hook`` / ``register_module_forward_hook`` run for every module (the
    container and each layer), before the module's own hooks -- even ``prepend`` ones; they can replace
    inputs and outputs, take kwargs, and their handles remove them."""
    def scenario(lib: Any, net: Any, x: Any, log: list) -> Any:
        mod = tmod if lib is torch else mmod
        names = {id(m): type(m).__name__ for m in net.modules()}
        net[4].register_forward_pre_hook(lambda m, a: log.append(("own_pre",)), prepend=True)
        net[4].register_forward_hook(lambda m, a, o: log.append(("own_post", o)), prepend=True)
        handles = [
            mod.register_module_forward_pre_hook(lambda m, a: log.append(("g_pre", names.get(id(m))))),
            mod.register_module_forward_pre_hook(
                lambda m, a: (a[0] * 2.0,) if isinstance(m, lib.nn.ReLU) else None),
            mod.register_module_forward_hook(lambda m, a, o: log.append(("g_post", names.get(id(m)), o))),
            mod.register_module_forward_hook(lambda m, a, kw, o: log.append(("g_kw", sorted(kw))),
                                             with_kwargs=True),
            mod.register_module_forward_hook(
                lambda m, a, o: o - 1.0 if isinstance(m, lib.nn.MaxPool2d) else None),
        ]
        try:
            out = net(x)
            out.sum().backward()
            log.append(("grad", x.grad))
            handles[1].remove()
            handles[4].remove()
            handles[4].remove()
            out2 = net(x)
        finally:
            for h in handles:
                h.remove()
        log.append(("after removal", len(log)))
        net(x)
        log.append(("no global hook left", len(log)))
        return out + out2
    log_t, log_m, out_t, out_m = run_both(scenario)
    assert log_t[0] == ("g_pre", "Sequential") and [e[0] for e in log_t[-3:]] == ["own_pre", "own_post",
                                                                                "no global hook left"]
    compare_logs(log_t, log_m)
    assert_close(out_m, out_t, what="output of the globally hooked forwards", **F64)


# --------------------------------------------------------------------------- full backward hooks
def _grads(gs: Any) -> tuple:
    return tuple(gs) if isinstance(gs, tuple) else (gs,)


def test_full_backward_hooks_see_and_replace_gradients() -> None:
    """``register_full_backward_pre_hook`` sees grad_output (and may replace it) when the module's output
    gradients are known; ``register_full_backward_hook`` sees (grad_input, grad_output) once its input
    gradients are, and may replace grad_input; global ones run first, ``prepend`` reorders the module's; a
    hook removed after forward still fires for that graph (torch fixes the list at call time)."""
    def scenario(lib: Any, net: Any, x: Any, log: list) -> Any:
        mod = tmod if lib is torch else mmod
        conv, lin = net[0], net[4]
        conv.register_full_backward_hook(lambda m, gi, go: log.append(("conv", *gi, *go)))
        lin.register_full_backward_pre_hook(lambda m, go: log.append(("lin_pre", *go)))
        lin.register_full_backward_pre_hook(lambda m, go: (go[0] * 3.0,))          # replaces grad_output
        lin.register_full_backward_hook(lambda m, gi, go: log.append(("lin", *gi, *go)))
        lin.register_full_backward_hook(lambda m, gi, go: log.append(("lin_first",)), prepend=True)
        net[1].register_full_backward_hook(lambda m, gi, go: (gi[0] * -0.5,))       # replaces grad_input
        later = net[3].register_full_backward_hook(lambda m, gi, go: log.append(("flatten", *gi)))
        g1 = mod.register_module_full_backward_pre_hook(lambda m, go: log.append(("g_pre", type(m).__name__)))
        g2 = mod.register_module_full_backward_hook(lambda m, gi, go: log.append(("g", type(m).__name__)))
        try:
            out = net(x)
            later.remove()
            (out * out).sum().backward()
        finally:
            g1.remove()
            g2.remove()
        log.append(("x.grad", x.grad))
        log.append(("weight.grad", conv.weight.grad, lin.bias.grad))
        return out
    log_t, log_m, out_t, out_m = run_both(scenario)
    assert [e[0] for e in log_t][:5] == ["g_pre", "g_pre", "lin_pre", "g", "lin_first"]
    compare_logs(log_t, log_m)
    assert_close(out_m, out_t, what="forward with backward hooks", **F64)


class TwoWay:
    """A module of two tensor inputs (one unused) and a non-tensor argument, with two outputs."""

    @staticmethod
    def make(nn: Any) -> Any:
        class Two(nn.Module):
            def forward(self, a: Any, b: Any, k: int) -> Any:
                return a * k, (a * a).sum()
        return Two()


def test_full_backward_hook_tuples_none_and_errors() -> None:
    """grad_input/grad_output have one entry per positional argument / output: None for a non-tensor
    argument or an output that got no gradient, zeros for an input forward did not use (torch materialises
    them). A module whose inputs need no gradient fires its hook at the output, with grad_input all None
    and a warning. A hook returning the wrong number of gradients is a RuntimeError."""
    logs: dict[str, list] = {}
    for lib, _ in LIBS:
        log: list = []
        two = TwoWay.make(lib.nn)
        two.register_full_backward_pre_hook(lambda m, go: log.append(("pre", *go)))
        two.register_full_backward_hook(lambda m, gi, go: log.append(("full", *gi, *go)))
        a = lib.tensor([1.0, -2.0], dtype=lib.float64, requires_grad=True)
        b = lib.tensor([3.0], dtype=lib.float64, requires_grad=True)
        o1, o2 = two(a, b, 3)
        o1.sum().backward()                                                     # o2 gets no gradient
        log.append(("grads", a.grad * 1.0, b.grad * 1.0))   # copies: torch accumulates .grad in place
        o1, o2 = two(a, b, 2)
        (o1.sum() + 5.0 * o2).backward()
        lin = lib.nn.Linear(2, 1).double()
        lin.register_full_backward_hook(lambda m, gi, go: log.append(("no input grad", *gi, *go)))
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            lin(lib.ones(3, 2, dtype=lib.float64)).sum().backward()
        log.append(("warned", [str(x.message)[:40] for x in w]))
        log.append(("lin.weight.grad", lin.weight.grad))
        bad = lib.nn.Linear(2, 1).double()
        bad.register_full_backward_hook(lambda m, gi, go: (gi[0], gi[0]))
        log.append(("wrong count", _raises(lambda: bad(a.reshape(1, 2)).sum().backward())))
        bad_pre = lib.nn.Linear(2, 1).double()
        bad_pre.register_full_backward_pre_hook(lambda m, go: (go[0], go[0]))
        log.append(("wrong count pre", _raises(lambda: bad_pre(a.reshape(1, 2)).sum().backward())))
        with lib.no_grad():
            two(a, b, 1)                                                        # no graph: no hook later
        logs[lib.__name__] = log
    log_t, log_m = logs["torch"], logs["minidl"]
    assert log_t[0][2] is None and log_t[-2][1] == "RuntimeError"
    compare_logs(log_t, log_m)


@pytest.mark.filterwarnings("ignore:Full backward hook is firing")   # the input needs no grad: torch warns too
def test_grad_cam_from_backward_hooks() -> None:
    """Grad-CAM with hooks: a forward hook keeps the last convolution's maps A, a full backward hook the
    gradient of the class score w.r.t. them; CAM = ReLU(sum_k mean_ij(dS/dA_k) A_k), the same as torch's."""
    cams = {}
    for lib, nn in ((torch, torch.nn), (minidl, mnn)):
        t, m, x = pair()
        net = t if lib is torch else m
        kept: dict[str, Any] = {}
        h1 = net[0].register_forward_hook(lambda mod, a, o: kept.update(A=o))
        h2 = net[0].register_full_backward_hook(lambda mod, gi, go: kept.update(dA=go[0]))
        scores = net(lib.tensor(x, dtype=lib.float64))
        scores[:, 2].sum().backward()
        h1.remove()
        h2.remove()
        weights = kept["dA"].mean(dim=(2, 3), keepdim=True)
        cams[lib.__name__] = (weights * kept["A"]).sum(dim=1).relu().detach()
    assert cams["torch"].abs().sum() > 0
    assert_close(cams["minidl"], cams["torch"], what="Grad-CAM map", **F64)
