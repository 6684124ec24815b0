"""Containers against torch: Sequential item assignment/deletion/slicing, ModuleList, ModuleDict,
ParameterList, ParameterDict. Each edit is applied to a torch model and a minidl model built from the
same recipe; then state_dict keys, the children's types and a forward pass (same weights) must agree."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest
import torch

import minidl
import minidl.nn as mnn
from parity.helpers import assert_close, copy_weights

F64 = dict(atol=1e-9, rtol=1e-7)


def vgg_like(nn: Any) -> Any:
    """A miniature of torchvision's VGG: features + classifier, the shape transfer learning edits."""
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 8), nn.Tanh())
            self.classifier = nn.Sequential(nn.Linear(8, 7), nn.ReLU(), nn.Dropout(0.5), nn.Linear(7, 5))

        def forward(self, x: Any) -> Any:
            return self.classifier(self.features(x))
    return Net()


def same_structure_and_output(t: Any, m: Any, n_in: int = 6) -> None:
    assert list(m.state_dict()) == list(t.state_dict())
    assert [type(c).__name__ for _, c in m.named_modules()] == [type(c).__name__ for _, c in t.named_modules()]
    assert [n for n, _ in m.named_modules()] == [n for n, _ in t.named_modules()]
    t.double().eval()
    m.double().eval()
    copy_weights(t, m)
    x = np.random.default_rng(0).normal(size=(3, n_in))
    assert_close(m(minidl.tensor(x)), t(torch.from_numpy(x)), what="container forward", **F64)


EDITS: list[tuple[str, Callable[[Any, Any], None]]] = [
    ("replace last layer", lambda net, nn: net.classifier.__setitem__(-1, nn.Linear(7, 15))),
    ("replace by positive index", lambda net, nn: net.features.__setitem__(2, nn.Linear(8, 8, bias=False))),
    ("delete negative index", lambda net, nn: net.classifier.__delitem__(-2)),
    ("delete first", lambda net, nn: net.features.__delitem__(0) or net.features.insert(0, nn.Linear(6, 8))),
    ("delete slice", lambda net, nn: net.classifier.__delitem__(slice(1, 3))),
    ("append", lambda net, nn: net.classifier.append(nn.Tanh())),
    ("insert negative", lambda net, nn: net.classifier.insert(-1, nn.Sigmoid())),
    ("pop", lambda net, nn: net.classifier.pop(1)),
    ("slice kept", lambda net, nn: setattr(net, "classifier", net.classifier[:2])),
    ("slice step", lambda net, nn: setattr(net, "features", net.features[::2])),
    ("extend", lambda net, nn: net.classifier.extend([nn.ReLU(), nn.Linear(5, 4)])),
]


@pytest.mark.parametrize("name,edit", EDITS, ids=[e[0] for e in EDITS])
def test_sequential_edits_match_torch(name: str, edit: Callable[[Any, Any], None]) -> None:
    t, m = vgg_like(torch.nn), vgg_like(mnn)
    edit(t, torch.nn)
    edit(m, mnn)
    same_structure_and_output(t, m)


def test_sequential_indexing_errors_and_slices() -> None:
    t = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Tanh())
    m = mnn.Sequential(mnn.ReLU(), mnn.Tanh())
    for bad in (2, -3):
        for fn in (lambda s: s[bad], lambda s: s.__setitem__(bad, type(s[0])()), lambda s: s.__delitem__(bad)):
            with pytest.raises(IndexError):
                fn(t)
            with pytest.raises(IndexError):
                fn(m)
    assert isinstance(m[1:], mnn.Sequential) and isinstance(t[1:], torch.nn.Sequential)
    assert list(m[1:]._modules) == list(t[1:]._modules) == ["1"]  # a slice keeps the children's names
    assert m[-1] is m[1]
    with pytest.raises(IndexError):
        t.insert(3, torch.nn.ReLU())
    with pytest.raises(IndexError):
        m.insert(3, mnn.ReLU())


def test_named_sequential_setitem_keeps_name_and_delitem_renumbers_like_torch() -> None:
    from collections import OrderedDict
    def build(nn: Any) -> Any:
        return nn.Sequential(OrderedDict([("fc1", nn.Linear(6, 4)), ("act", nn.ReLU()), ("fc2", nn.Linear(4, 2))]))
    t, m = build(torch.nn), build(mnn)
    t[-1], m[-1] = torch.nn.Linear(4, 3), mnn.Linear(4, 3)
    assert list(m.state_dict()) == list(t.state_dict()) == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    del t[1]
    del m[1]
    assert list(m.state_dict()) == list(t.state_dict())


def test_module_list_matches_torch() -> None:
    def build(nn: Any) -> Any:
        class Net(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.layers = nn.ModuleList([nn.Linear(6, 5), nn.Linear(5, 4)])
                self.layers.append(nn.Linear(4, 3))
                self.layers += [nn.Linear(3, 2)]
                self.layers[-1] = nn.Linear(3, 3)
                self.layers.insert(1, nn.Tanh())
                del self.layers[2]
                self.layers.insert(2, nn.Linear(5, 4))

            def forward(self, x: Any) -> Any:
                for layer in self.layers[:]:
                    x = layer(x)
                return x
        return Net()
    t, m = build(torch.nn), build(mnn)
    assert isinstance(m.layers[1:], mnn.ModuleList) and len(m.layers) == len(t.layers) == 5
    same_structure_and_output(t, m)
    with pytest.raises(IndexError):
        t.layers[5]
    with pytest.raises(IndexError):
        m.layers[5]
    with pytest.raises(TypeError):
        t.layers.extend(torch.nn.ReLU())
    with pytest.raises(TypeError):
        m.layers.extend(mnn.ReLU())


def test_module_dict_matches_torch() -> None:
    def build(nn: Any) -> Any:
        class Net(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.heads = nn.ModuleDict({"b": nn.Linear(6, 2), "a": nn.Linear(6, 3)})
                self.heads["c"] = nn.Linear(6, 4)
                self.heads.update([("d", nn.Linear(6, 1)), ("b", nn.Linear(6, 5))])
                del self.heads["a"]
                self.heads.pop("d")

            def forward(self, x: Any) -> Any:
                outs = [self.heads[k](x) for k in self.heads]
                return outs[0].sum(1, keepdim=True) + outs[1].sum(1, keepdim=True)
        return Net()
    t, m = build(torch.nn), build(mnn)
    assert list(m.heads.keys()) == list(t.heads.keys()) == ["b", "c"]
    assert ("c" in m.heads) and ("a" not in m.heads) and len(m.heads) == 2
    assert [type(v).__name__ for v in m.heads.values()] == [type(v).__name__ for v in t.heads.values()]
    assert [k for k, _ in m.heads.items()] == ["b", "c"]
    same_structure_and_output(t, m)
    with pytest.raises(KeyError):
        t.heads["zz"]
    with pytest.raises(KeyError):
        m.heads["zz"]
    m.heads.clear()
    assert len(m.heads) == 0 and list(m.state_dict()) == []


@pytest.mark.parametrize("kind", ["list", "dict"])
def test_parameter_list_and_dict_match_torch(kind: str) -> None:
    rng = np.random.default_rng(1)
    arrays = [rng.normal(size=s) for s in [(6, 4), (4,), (4, 2)]]

    def build(lib: Any) -> Any:
        nn = lib.nn
        as_t = (lambda a: torch.from_numpy(a.copy())) if lib is torch else (lambda a: minidl.tensor(a.copy()))

        class Net(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                if kind == "list":
                    self.ps = nn.ParameterList([nn.Parameter(as_t(arrays[0]))])
                    self.ps.append(as_t(arrays[1]))  # a plain tensor becomes a Parameter
                    self.ps.extend([nn.Parameter(as_t(arrays[2] * 0))])
                    self.ps[-1] = nn.Parameter(as_t(arrays[2]))
                else:
                    self.ps = nn.ParameterDict({"w1": nn.Parameter(as_t(arrays[0])), "b1": as_t(arrays[1])})
                    self.ps["w2"] = nn.Parameter(as_t(arrays[2]))

            def forward(self, x: Any) -> Any:
                w1, b1, w2 = list(self.ps) if kind == "list" else [self.ps[k] for k in ("w1", "b1", "w2")]
                return ((x @ w1 + b1).tanh() @ w2).sum()
        return Net()
    t, m = build(torch), build(minidl)
    assert list(m.state_dict()) == list(t.state_dict())
    assert all(isinstance(p, mnn.Parameter) and p.requires_grad for p in m.parameters())
    assert len(list(m.parameters())) == len(list(t.parameters())) == 3
    x = rng.normal(size=(5, 6))
    t_out, m_out = t(torch.from_numpy(x)), m(minidl.tensor(x))
    assert_close(m_out, t_out, what=f"Parameter{kind.title()} forward", **F64)
    t_out.backward()
    m_out.backward()
    for (name, mp), (_, tp) in zip(m.named_parameters(), t.named_parameters()):
        assert_close(mp.grad, tp.grad, what=f"grad of {name}", **F64)
    if kind == "list":
        assert isinstance(m.ps[1:], mnn.ParameterList) and len(m.ps[1:]) == 2
        with pytest.raises(IndexError):
            m.ps[3]
        with pytest.raises(IndexError):
            t.ps[3]
    else:
        assert "w2" in m.ps and list(m.ps.keys()) == list(t.ps.keys())
        m.ps.pop("w2")
        t.ps.pop("w2")
        assert list(m.state_dict()) == list(t.state_dict())
