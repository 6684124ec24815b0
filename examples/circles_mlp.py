"""Chapter 1: the circles MLP, four ways (course TME 3-4).

    python -m examples circles_mlp [--data-dir ../shared/data] [--backend torch] [--epochs 150]

The network: nx = 2 inputs -> nh = 10 tanh units -> ny = 2 outputs -> softmax, trained with
cross-entropy by minibatch SGD (eta = 0.03, batches of 10), weights drawn from N(0, 0.3^2).
We write the same training four times, each time letting the library do a bit more:

    (a) by hand      forward and backward in plain NumPy, the gradients derived on paper
    (b) autograd     tensors with requires_grad; loss.backward() computes the gradients
    (c) nn           nn.Linear / nn.Tanh / nn.CrossEntropyLoss build the model and the loss
    (d) optim        optim.SGD performs the update

All four start from the same weights and see the batches in the same order, in float64, so
their curves must coincide: a check that the derivation in (a) is what autograd computes.
Versions (b)-(d) run on minidl or, unchanged, on torch (``--backend torch``).

What to look at: ``curves.png`` (the four versions on top of each other), ``boundary.png``
(the learnt decision boundary: a closed curve between the two rings) and ``graph.png`` (the
computation graph that ``loss.backward()`` walks for one batch of version (d)).
"""
from __future__ import annotations

import argparse
from typing import Any, Callable

import numpy as np
from tqdm import tqdm

from examples._runner import Run, data_dir, make_parser
from minidl import by_hand
from minidl.data.toy import load_circles_mat, make_circles, one_hot
from minidl.interop import Backend, backend

NX, NH, NY = 2, 10, 2
ETA, BATCH = 0.03, 10

History = dict[str, list[float]]
Predict = Callable[[np.ndarray], np.ndarray]  # (n, 2) points -> (n, 2) class probabilities


# --------------------------------------------------------------------------- data
def load_data(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    """The course's circles.mat when the data directory has it, else a generated set like it."""
    root = data_dir(args)
    if root is not None and (root / "circles" / "circles.mat").is_file():
        path = root / "circles" / "circles.mat"
        return (*load_circles_mat(path), f"circles.mat ({path})")
    X_train, y_train = make_circles(200, seed=args.seed)
    X_test, y_test = make_circles(200, seed=args.seed + 1000)
    return X_train, y_train, X_test, y_test, "generated circles (200 train + 200 test, noise 0.12)"


def batches(n: int, epoch: int, seed: int) -> list[np.ndarray]:
    """The index batches of one epoch: a seeded shuffle, shared by the four versions."""
    order = np.random.default_rng(seed * 1000 + epoch).permutation(n)
    return [order[i:i + BATCH] for i in range(0, n, BATCH)]


def record(history: History, predict: Predict, X_tr: np.ndarray, Y_tr: np.ndarray, X_te: np.ndarray,
           Y_te: np.ndarray) -> None:
    """Append this epoch's loss and accuracy on the train and test sets."""
    for split, X, Y in (("train", X_tr, Y_tr), ("test", X_te, Y_te)):
        loss, acc = by_hand.loss_accuracy(predict(X), Y)
        history[f"{split}_loss"].append(loss)
        history[f"{split}_accuracy"].append(acc)


def new_history() -> History:
    return {k: [] for k in ("train_loss", "train_accuracy", "test_loss", "test_accuracy")}


# --------------------------------------------------------------------------- (a) by hand
def train_by_hand(init: dict[str, np.ndarray], X: np.ndarray, Y: np.ndarray, X_te: np.ndarray, Y_te: np.ndarray,
                  epochs: int, seed: int) -> tuple[History, Predict]:
    """Version (a): the equations of ``minidl/by_hand.py``, nothing else.

        forward   h = tanh(x W_h^T + b_h),  y^ = softmax(h W_y^T + b_y)
        backward  dl/dy~ = y^ - y,  dl/dW_y = dl/dy~^T h,  dl/dh~ = (dl/dy~ W_y) * (1 - h^2), ...
                  (l is summed over the batch: the course adds the per-sample gradients)
        update    W <- W - eta dl/dW
    """
    params = {k: v.copy() for k, v in init.items()}
    history = new_history()

    def predict(Xq: np.ndarray) -> np.ndarray:
        return by_hand.forward(params, Xq)["y_hat"]

    for epoch in tqdm(range(epochs), desc="(a) by hand", leave=False):
        for idx in batches(len(X), epoch, seed):
            cache = by_hand.forward(params, X[idx])
            grads = by_hand.backward(params, cache, Y[idx])
            by_hand.sgd_step(params, grads, ETA)
        record(history, predict, X, Y, X_te, Y_te)
    return history, predict


# --------------------------------------------------------------------------- (b) autograd
def train_autograd(B: Backend, init: dict[str, np.ndarray], X: np.ndarray, Y: np.ndarray, X_te: np.ndarray,
                   Y_te: np.ndarray, epochs: int, seed: int) -> tuple[History, Predict]:
    """Version (b): the same forward, written with tensors; ``loss.backward()`` replaces the derivation."""
    W_h, b_h, W_y, b_y = (B.tensor(init[k], dtype=B.float64, requires_grad=True) for k in ("Wh", "bh", "Wy", "by"))
    params = [W_h, b_h, W_y, b_y]
    Xb, Yb = B.tensor(X, dtype=B.float64), B.tensor(Y, dtype=B.float64)
    history = new_history()

    def forward(x: Any) -> Any:
        h = B.lib.tanh(x @ W_h.T + b_h)
        return h @ W_y.T + b_y                                   # logits y~

    def predict(Xq: np.ndarray) -> np.ndarray:
        with B.no_grad():
            return B.to_numpy(B.lib.softmax(forward(B.tensor(Xq, dtype=B.float64)), dim=1))

    for epoch in tqdm(range(epochs), desc="(b) autograd", leave=False):
        for idx in batches(len(X), epoch, seed):
            i = B.tensor(idx)
            log_y_hat = B.lib.log_softmax(forward(Xb[i]), dim=1)
            loss = -(Yb[i] * log_y_hat).sum()                     # cross-entropy, summed over the batch
            loss.backward()                                       # fills W_h.grad, ..., b_y.grad
            with B.no_grad():                                     # the update is not part of the graph
                for p in params:
                    p -= ETA * p.grad
                    p.grad = None
        record(history, predict, X, Y, X_te, Y_te)
    return history, predict


# --------------------------------------------------------------------------- (c) nn and (d) optim
def make_model(B: Backend, init: dict[str, np.ndarray]) -> Any:
    """nx -> nh (tanh) -> ny, with the course's N(0, 0.3^2) weights (copied, so all versions start equal)."""
    model = B.nn.Sequential(B.nn.Linear(NX, NH), B.nn.Tanh(), B.nn.Linear(NH, NY)).double()
    model.load_state_dict({"0.weight": B.tensor(init["Wh"], dtype=B.float64), "0.bias": B.tensor(init["bh"], dtype=B.float64),
                           "2.weight": B.tensor(init["Wy"], dtype=B.float64), "2.bias": B.tensor(init["by"], dtype=B.float64)})
    return B.model_to(model)


def train_nn(B: Backend, init: dict[str, np.ndarray], X: np.ndarray, Y: np.ndarray, X_te: np.ndarray,
             Y_te: np.ndarray, epochs: int, seed: int, use_optim: bool) -> tuple[History, Predict]:
    """Versions (c) and (d): nn layers and nn.CrossEntropyLoss (which takes logits and class indices;
    reduction="sum" as in (a) and (b)); (d) also hands the update to optim.SGD."""
    model = make_model(B, init)
    loss_fn = B.nn.CrossEntropyLoss(reduction="sum")
    optimizer = B.optim.SGD(model.parameters(), lr=ETA) if use_optim else None
    Xb, yb = B.tensor(X, dtype=B.float64), B.tensor(Y.argmax(axis=1))
    history = new_history()

    def predict(Xq: np.ndarray) -> np.ndarray:
        with B.no_grad():
            return B.to_numpy(B.lib.softmax(model(B.tensor(Xq, dtype=B.float64)), dim=1))

    name = "(d) optim" if use_optim else "(c) nn"
    for epoch in tqdm(range(epochs), desc=name, leave=False):
        for idx in batches(len(X), epoch, seed):
            i = B.tensor(idx)
            loss = loss_fn(model(Xb[i]), yb[i])
            if optimizer is not None:                             # (d)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            else:                                                 # (c)
                model.zero_grad()
                loss.backward()
                with B.no_grad():
                    for p in model.parameters():
                        p -= ETA * p.grad
        record(history, predict, X, Y, X_te, Y_te)
    return history, predict


# --------------------------------------------------------------------------- figures
def plot_curves(run: Run, histories: dict[str, History]) -> None:
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    styles = {"a_by_hand": "-", "b_autograd": "--", "c_nn": "-.", "d_optim": ":"}
    for name, h in histories.items():
        for ax, metric in zip(axes, ("loss", "accuracy")):
            ax.plot(h[f"train_{metric}"], styles[name], label=f"{name} train")
            ax.plot(h[f"test_{metric}"], styles[name], alpha=0.6, label=f"{name} test")
    for ax, metric in zip(axes, ("cross-entropy", "accuracy")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7, ncol=2)
    fig.suptitle("The four versions (same initial weights and batches: the curves coincide)")
    run.savefig(fig, "curves", caption="Loss and accuracy per epoch of the four versions (by hand, autograd, nn, "
                "optim): they start from the same weights and see the same batches, so the curves should lie on top "
                "of each other; a curve that drifts away points to a bug in that version. The test curves stay a few "
                "points from the train ones: the small network does not overfit the circles.")


def plot_boundaries(run: Run, predicts: dict[str, Predict], X: np.ndarray, y: np.ndarray, X_te: np.ndarray,
                    y_te: np.ndarray) -> None:
    import matplotlib.pyplot as plt
    lo, hi = np.minimum(X.min(0), X_te.min(0)) - 0.3, np.maximum(X.max(0), X_te.max(0)) + 0.3
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 200), np.linspace(lo[1], hi[1], 200))
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    fig, axes = plt.subplots(1, len(predicts), figsize=(4 * len(predicts), 4))
    for ax, (name, predict) in zip(np.atleast_1d(axes), predicts.items()):
        p1 = predict(grid)[:, 1].reshape(gx.shape)
        ax.contourf(gx, gy, p1, levels=20, cmap="RdBu_r", alpha=0.6)
        ax.contour(gx, gy, p1, levels=[0.5], colors="k")
        ax.scatter(X[:, 0], X[:, 1], c=y, cmap="RdBu_r", s=12, edgecolors="k", linewidths=0.3)
        ax.scatter(X_te[:, 0], X_te[:, 1], c=y_te, cmap="RdBu_r", s=12, marker="x")
        ax.set_title(name)
        ax.set_aspect("equal")
    fig.suptitle("Decision boundary (black: p = 0.5); dots train, crosses test")
    run.savefig(fig, "boundary", caption="Each version's predicted P(class 1) over the plane (black line: p = 0.5). "
                "Look for one closed curve between the inner and the outer ring, the same in every panel, with "
                "the test crosses on the right side of it.")


def plot_graph(run: Run, init: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray) -> None:
    """The graph autograd records for one batch of version (d): what ``loss.backward()`` walks, from the
    loss up to the four parameters (drawn with minidl's graph, whichever backend trained)."""
    import minidl
    from minidl.viz import draw_graph
    B = backend("minidl", "cpu")
    model = make_model(B, init)
    x = minidl.tensor(X[:BATCH])
    loss = minidl.nn.CrossEntropyLoss(reduction="sum")(model(x), minidl.tensor(y[:BATCH]))
    fig = draw_graph(loss, params=dict(model.named_parameters(), x=x),
                     title="the graph of one batch's loss (version d)")
    run.savefig(fig, "graph", caption="the ops autograd recorded for one batch: backward() walks these arrows "
                "upwards, from the loss to the parameters (blue); x (grey) needs no gradient")


# --------------------------------------------------------------------------- the chapter
def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = make_parser("circles_mlp", __doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=None, help="default 150 (20 with --quick)")
    args = parser.parse_args(argv)
    epochs = args.epochs or (20 if args.quick else 150)
    run = Run("circles_mlp", args)
    B = backend(args.backend, args.device)

    X, y, X_te, y_te, data = load_data(args)
    Y, Y_te = one_hot(y, NY), one_hot(y_te, NY)
    run.note(f"data: {data}; backend {B.name} ({B.device}); {epochs} epochs, eta {ETA}, batch {BATCH}")
    init = by_hand.init_params(NX, NH, NY, std=0.3, rng=np.random.default_rng(args.seed))

    histories: dict[str, History] = {}
    predicts: dict[str, Predict] = {}
    histories["a_by_hand"], predicts["a_by_hand"] = train_by_hand(init, X, Y, X_te, Y_te, epochs, args.seed)
    histories["b_autograd"], predicts["b_autograd"] = train_autograd(B, init, X, Y, X_te, Y_te, epochs, args.seed)
    histories["c_nn"], predicts["c_nn"] = train_nn(B, init, X, Y, X_te, Y_te, epochs, args.seed, use_optim=False)
    histories["d_optim"], predicts["d_optim"] = train_nn(B, init, X, Y, X_te, Y_te, epochs, args.seed, use_optim=True)

    plot_curves(run, histories)
    plot_boundaries(run, predicts, X, y, X_te, y_te)
    plot_graph(run, init, X, y)

    run.metrics.update(data=data, backend=B.name, device=B.device, epochs=epochs, eta=ETA, batch_size=BATCH)
    for name, h in histories.items():
        run.metrics[f"{name}_train_accuracy"] = h["train_accuracy"][-1]
        run.metrics[f"{name}_test_accuracy"] = h["test_accuracy"][-1]
        run.metrics[f"{name}_test_loss"] = h["test_loss"][-1]
    gaps = [max(abs(a - b) for a, b in zip(histories["a_by_hand"]["train_loss"], h["train_loss"]))
            for h in histories.values()]
    run.metrics["max_loss_gap_between_versions"] = max(gaps)
    run.metrics["test_accuracy"] = min(run.metrics[f"{n}_test_accuracy"] for n in histories)
    run.note(f"test accuracy (a) {run.metrics['a_by_hand_test_accuracy']:.3f}, (b) {run.metrics['b_autograd_test_accuracy']:.3f}, "
             f"(c) {run.metrics['c_nn_test_accuracy']:.3f}, (d) {run.metrics['d_optim_test_accuracy']:.3f}; the four loss "
             f"curves differ by at most {max(gaps):.2e} (float64 rounding)")
    return run.finish("test_accuracy")


if __name__ == "__main__":
    main()
