"""``draw_graph``: a picture of the computation graph behind a tensor (torchviz's ``make_dot``, without graphviz).

Boxes are the backward nodes (``TanhBackward``, ``MatmulBackward``...) with the shape of the tensor each
op produced; ovals are the leaves: parameters and other tensors that require a gradient (blue, named
when you pass ``params=dict(model.named_parameters())``), constants such as the input batch (grey).
The output is at the bottom (green). Arrows point the way the forward pass went, so the backward pass
walks them upwards, from the output to the leaves.

The graph is a ``networkx.DiGraph`` (``graph_of``), drawn with matplotlib in layers by distance from the
output, so no system binary (graphviz' ``dot``) is needed. ``draw_graph(t, path="graph.svg")`` writes SVG
or PNG according to the extension.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from minidl.tensor import Tensor

_MISSING = ("minidl.viz needs networkx and matplotlib to draw graphs: pip install networkx matplotlib "
            "(both are in minidl's requirements; {name} could not be imported)")


def _require(name: str) -> Any:
    import importlib
    try:
        return importlib.import_module(name)
    except ImportError as err:
        raise ImportError(_MISSING.format(name=name)) from err


def _shape(shape: Any) -> str:
    return "(" + ", ".join(str(int(n)) for n in shape) + ")"


def graph_of(tensor: Tensor, params: Mapping[str, Tensor] | None = None) -> Any:
    """The graph as a ``networkx.DiGraph``. Node attributes: ``kind`` ("op", "param" for a leaf
    that requires grad, "constant", "output"), ``label`` (text drawn in the node), ``layer`` (0 = the output, growing towards the inputs)."""
    nx = _require("networkx")
    names = {id(t): n for n, t in (params or {}).items()}
    G = nx.DiGraph()
    root = f"t{id(tensor)}"
    G.add_node(root, kind="output", label=f"output {_shape(tensor.shape)}", layer=0)
    if tensor.grad_fn is None:
        G.nodes[root]["kind"] = "param" if tensor.requires_grad else "constant"
        return G
    shapes = {id(tensor.grad_fn): tuple(tensor.shape)}
    stack = [tensor.grad_fn]
    seen: set[int] = set()
    G.add_edge(f"n{id(tensor.grad_fn)}", root)
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        key = f"n{id(node)}"
        G.add_node(key, kind="op", label=f"{node.name()}\n{_shape(shapes.get(id(node), ()))}")
        for inp in node.inputs:
            if inp is None:
                continue
            if inp.grad_fn is not None:
                shapes[id(inp.grad_fn)] = tuple(inp.shape)
                G.add_edge(f"n{id(inp.grad_fn)}", key)
                stack.append(inp.grad_fn)
                continue
            leaf = f"t{id(inp)}"
            name = names.get(id(inp))
            kind = "param" if inp.requires_grad else "constant"
            label = name or ("leaf (requires grad)" if inp.requires_grad else "constant")
            G.add_node(leaf, kind=kind, label=f"{label}\n{_shape(inp.shape)}")
            G.add_edge(leaf, key)
    # layer = longest distance to the output, so that every arrow points down the picture
    for n in reversed(list(nx.topological_sort(G))):
        G.nodes[n]["layer"] = max((G.nodes[s]["layer"] + 1 for s in G.successors(n)), default=0)
    return G


_STYLE = {"op": ("#fff4d6", "square,pad=0.45"), "param": ("#cfe3ff", "round,pad=0.45"),
          "constant": ("#e6e6e6", "round,pad=0.45"), "output": ("#c9f0c9", "round,pad=0.45")}


def _positions(G: Any) -> dict[Any, tuple[float, float]]:
    """x: spread within a layer (ordered by the mean x of the nodes each one feeds); y: the layer (output at 0)."""
    layers: dict[int, list[Any]] = {}
    for n, d in G.nodes(data=True):
        layers.setdefault(d["layer"], []).append(n)
    pos: dict[Any, tuple[float, float]] = {}
    for layer in sorted(layers):
        nodes = layers[layer]
        def below(n: Any) -> float:
            xs = [pos[s][0] for s in G.successors(n) if s in pos]
            return sum(xs) / len(xs) if xs else 0.0
        nodes.sort(key=below)
        for k, n in enumerate(nodes):
            pos[n] = (k - (len(nodes) - 1) / 2, float(layer))
    return pos


def draw_graph(tensor: Tensor, params: Mapping[str, Tensor] | None = None, path: str | Path | None = None,
               title: str | None = None) -> Any:
    """Draw the graph behind ``tensor``; return the matplotlib Figure, and save it to ``path`` (.png/.svg).

    ``params``: names for the leaves, e.g. ``dict(model.named_parameters())``.
    """
    if not isinstance(tensor, Tensor):
        raise TypeError(f"draw_graph expects a minidl Tensor, got {type(tensor).__name__}")
    _require("networkx")
    _require("matplotlib")
    import matplotlib
    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    G = graph_of(tensor, params)
    pos = _positions(G)
    wide = max(sum(1 for p in pos.values() if p[1] == y) for y in {p[1] for p in pos.values()})
    depth = max(p[1] for p in pos.values())
    fig, ax = plt.subplots(figsize=(max(4.0, 2.3 * wide), 0.85 * (depth + 1) + 0.8))
    for a, b in G.edges():
        ax.annotate("", xy=pos[b], xytext=pos[a], arrowprops=dict(arrowstyle="-|>", color="#666666", lw=1,
                                                                   shrinkA=12, shrinkB=20))
    for n, d in G.nodes(data=True):
        color, box = _STYLE.get(d["kind"], _STYLE["param"])
        ax.text(*pos[n], d["label"], ha="center", va="center", fontsize=7, zorder=3,
                bbox=dict(boxstyle=box, facecolor=color, edgecolor="#444444"))
    ax.set_xlim(-wide / 2 - 0.3, wide / 2 + 0.3)
    ax.set_ylim(-0.6, depth + 0.6)
    ax.set_title(title or "computation graph\n(forward: down the arrows; backward: up them)", fontsize=9)
    ax.axis("off")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return fig
