"""minidl.viz: the graph behind a tensor (nodes, shapes, leaves) and its drawing as PNG/SVG."""
from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any

import pytest

import minidl
from minidl.viz import draw_graph, graph_of


def _mlp_loss() -> tuple[minidl.Tensor, dict[str, minidl.Tensor]]:
    minidl.manual_seed(0)
    m = minidl.nn.Sequential(minidl.nn.Linear(2, 10), minidl.nn.Tanh(), minidl.nn.Linear(10, 2))
    x, y = minidl.randn(10, 2), minidl.randint(0, 2, (10,))
    return minidl.nn.functional.cross_entropy(m(x), y), dict(m.named_parameters(), x=x)


def test_graph_has_every_op_leaf_and_shape() -> None:
    loss, params = _mlp_loss()
    G = graph_of(loss, params)
    ops = sorted(d["label"].split("\n")[0] for _, d in G.nodes(data=True) if d["kind"] == "op")
    assert ops.count("MatmulBackward") == 2 and ops.count("AddBackward") == 2
    assert {"TanhBackward", "LogSoftmaxBackward", "NLLLossBackward"} <= set(ops)
    leaves = {d["label"]: d["kind"] for _, d in G.nodes(data=True) if d["kind"] in ("param", "constant")}
    assert leaves["0.weight\n(10, 2)"] == "param" and leaves["2.bias\n(2)"] == "param"
    assert leaves["x\n(10, 2)"] == "constant"       # the input does not require grad
    tanh = next(d for _, d in G.nodes(data=True) if d["label"].startswith("TanhBackward"))
    assert tanh["label"].endswith("(10, 10)")
    # every arrow goes one or more layers towards the output (layer 0)
    assert all(G.nodes[a]["layer"] > G.nodes[b]["layer"] for a, b in G.edges())
    out = [n for n, d in G.nodes(data=True) if d["kind"] == "output"]
    assert len(out) == 1 and G.in_degree(out[0]) == 1 and G.out_degree(out[0]) == 0


def test_unnamed_leaves_and_a_leaf_output() -> None:
    w = minidl.ones(3, requires_grad=True)
    G = graph_of((w * 2).sum())
    assert any(d["label"].startswith("leaf (requires grad)") for _, d in G.nodes(data=True))
    assert len(graph_of(w).nodes) == 1


@pytest.mark.parametrize("suffix,magic", [(".png", b"\x89PNG"), (".svg", b"<?xml")])
def test_draw_graph_writes_png_and_svg(tmp_path: Path, suffix: str, magic: bytes) -> None:
    loss, params = _mlp_loss()
    path = tmp_path / f"graph{suffix}"
    draw_graph(loss, params, path=path)
    assert path.read_bytes().startswith(magic)


def test_clear_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(TypeError, match="minidl Tensor"):
        draw_graph([1.0, 2.0])  # type: ignore[arg-type]
    real_import = builtins.__import__

    def no_networkx(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "networkx":
            raise ImportError("No module named 'networkx'")
        return real_import(name, *args, **kwargs)
    monkeypatch.delitem(__import__("sys").modules, "networkx", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_networkx)
    monkeypatch.setattr("importlib.import_module", lambda name: no_networkx(name))
    with pytest.raises(ImportError, match="pip install networkx matplotlib"):
        graph_of(minidl.ones(2, requires_grad=True))
