"""Chapter 2: convolutional networks on MNIST and CIFAR-10 (course 2-cd).

    python -m examples cnn                                            # LeNet on embedded digits
    python -m examples cnn --data-dir ../shared/data --dataset mnist  # (a) LeNet baseline on MNIST
    python -m examples cnn --data-dir ../shared/data --dataset cifar10 --model cifar   # (b) the course's net
    python -m examples cnn ... --model cifar --normalize --augment --scheduler exp --dropout --batchnorm
    python -m examples cnn ... --model cifar --study                  # (c) the improvements one by one

(a) A LeNet-style baseline. (b) The course's CIFAR-10 network (its per-layer table of output sizes and
weight counts is printed: the course asks students to compute it). (c) The course's improvements, as
flags that combine:

    --normalize        per-channel standardisation, mu = [0.491, 0.482, 0.447], sigma = [0.202, 0.199, 0.201]
                       (CIFAR; other data use the training set's own statistics); --zca for ZCA whitening
    --augment          RandomCrop(28) + horizontal flip at train time, CenterCrop(28) at test time, and
                       pool3 with ceil_mode=True so that 28x28 inputs still give 4x4x64 features
    --scheduler exp    ExponentialLR(0.95) after each epoch
    --optimizer        sgd | momentum (0.9) | rmsprop | adam
    --dropout          Dropout(0.5) before fc5
    --batchnorm        BatchNorm2d after each convolution

The same code trains with ``--backend torch --device cuda``. What to look at: ``curves.png`` (does the
test loss rise while the train loss falls? that is overfitting), ``confusion.png`` and ``filters.png``
(the first layer's filters: oriented edges and colour blobs after training).
"""
from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
from tqdm import tqdm

from examples import cnn_data
from examples._distributed import Distributed
from examples._runner import Run, UserError, make_parser
from minidl.data import ZCA
from minidl.data.transforms import functional as TF
from minidl.interop import Backend, backend
from minidl.models import cifar_net, format_table, layer_table, lenet

CIFAR_MEAN, CIFAR_STD = [0.491, 0.482, 0.447], [0.202, 0.199, 0.201]


# --------------------------------------------------------------------------- preprocessing
def preprocess(args: argparse.Namespace, data: cnn_data.Data) -> tuple[np.ndarray, np.ndarray, str]:
    """Normalisation or ZCA, fitted on the training set only, then applied to both sets."""
    Xtr, Xte = data.X_train, data.X_test
    if args.zca:
        zca = ZCA(eps=1e-2).fit(Xtr)
        return zca.transform(Xtr).astype(np.float32), zca.transform(Xte).astype(np.float32), "ZCA (eps 1e-2)"
    if args.normalize:
        if data.kind == "cifar10":
            mean, std, how = np.array(CIFAR_MEAN), np.array(CIFAR_STD), "course mu/sigma"
        else:
            mean, std, how = Xtr.mean(axis=(0, 2, 3)), Xtr.std(axis=(0, 2, 3)), "training-set mu/sigma"
        shape = (1, -1, 1, 1)
        norm = lambda X: ((X - mean.reshape(shape)) / std.reshape(shape)).astype(np.float32)  # noqa: E731
        return norm(Xtr), norm(Xte), f"standardised per channel ({how})"
    return Xtr, Xte, "none"


def augment(args: argparse.Namespace, x: np.ndarray, kind: str, train: bool) -> np.ndarray:
    """CIFAR: RandomCrop(28) + flip (train), CenterCrop(28) (test). Digits/MNIST: a shift of up to
    2 pixels (random crop of the 2-padded image); no flip, since a mirrored digit is another symbol."""
    if not args.augment:
        return x
    if kind in ("cifar10", "folder") and x.shape[-1] >= 32:
        if not train:
            return np.ascontiguousarray(TF.center_crop(x, 28))
        return TF.hflip_batch(TF.random_crop_batch(x, 28))
    return TF.random_crop_batch(x, x.shape[-2:], padding=2) if train else x


# --------------------------------------------------------------------------- model and optimiser
def build_model(B: Backend, args: argparse.Namespace, in_shape: tuple[int, ...], n_classes: int) -> Any:
    if args.model == "cifar":
        model = cifar_net(B.nn, in_channels=in_shape[0], num_classes=n_classes, batchnorm=args.batchnorm,
                          dropout=0.5 if args.dropout else 0.0, ceil_mode=args.augment)
    else:
        model = lenet(B.nn, in_channels=in_shape[0], num_classes=n_classes, image_size=in_shape[-1])
    return B.model_to(model)


def build_optimizer(B: Backend, args: argparse.Namespace, model: Any) -> tuple[Any, Any]:
    params = model.parameters()
    if args.optimizer == "sgd":
        opt = B.optim.SGD(params, lr=args.lr)
    elif args.optimizer == "momentum":
        opt = B.optim.SGD(params, lr=args.lr, momentum=0.9)
    elif args.optimizer == "rmsprop":
        opt = B.optim.RMSprop(params, lr=args.lr)
    else:
        opt = B.optim.Adam(params, lr=args.lr)
    sched = B.optim.lr_scheduler.ExponentialLR(opt, gamma=0.95) if args.scheduler == "exp" else None
    return opt, sched


# --------------------------------------------------------------------------- training and evaluation
def evaluate(B: Backend, model: Any, X: np.ndarray, y: np.ndarray, n_classes: int, batch_size: int,
             dist: Distributed) -> tuple[float, float, np.ndarray]:
    """Mean loss, accuracy and confusion matrix (counts, rows = true class) over a whole set, in eval mode
    (running BN statistics, no dropout). Under torchrun each rank takes every ``world``-th sample and the
    sums are all-reduced: the figures are the whole set's."""
    net = dist.unwrap(model)                                  # plain forward: no DDP collective per batch
    net.eval()
    mine = dist.local(np.arange(len(X)))
    loss_fn = B.nn.CrossEntropyLoss(reduction="sum")
    total, cm = 0.0, np.zeros((n_classes, n_classes), np.float64)
    with B.no_grad():
        for start in range(0, len(mine), batch_size):
            idx = mine[start:start + batch_size]
            logits = net(B.tensor(X[idx]))
            total += loss_fn(logits, B.tensor(y[idx])).item()
            np.add.at(cm, (y[idx], B.to_numpy(logits.argmax(dim=1))), 1)
    cm = dist.sum_array(cm)
    (total,) = dist.sum([total])
    return total / len(X), float(np.trace(cm) / len(X)), cm.astype(np.int64)


def train(B: Backend, args: argparse.Namespace, data: cnn_data.Data, Xtr: np.ndarray, Xte: np.ndarray,
          label: str = "", dist: Distributed | None = None) -> dict[str, Any]:
    """Build the model and train it; returns the curves, the final accuracies, the confusion matrix and model.

    Under torchrun (``dist``) every rank cuts the same global batches from the same shuffled order and
    trains on its share of each; DDP averages the gradients (see examples/_distributed.py), so the
    steps are the one-process steps."""
    dist = dist or Distributed(B, args)
    B.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)                    # the same order on every rank
    Xte_eval = augment(args, Xte, data.kind, train=False)
    net = build_model(B, args, Xte_eval.shape[1:], len(data.classes))
    if args.weights:
        load_weights(B, net, args.weights)
    model = dist.wrap(net)
    optimizer, scheduler = build_optimizer(B, args, model)
    sum_loss = B.nn.CrossEntropyLoss(reduction="sum")
    global_batch = args.global_batch_size
    hist: dict[str, list[float]] = {k: [] for k in ("train_loss", "train_accuracy", "test_loss", "test_accuracy")}
    t0 = time.perf_counter()
    for epoch in range(args.epochs):
        model.train()
        order = dist.epoch_order(rng.permutation(len(Xtr)), global_batch)
        seen, loss_sum, correct = 0, 0.0, 0
        batches = range(0, len(order), global_batch)
        for start in tqdm(batches, desc=f"{label}epoch {epoch + 1}/{args.epochs}", leave=False, unit="batch",
                          disable=not dist.is_main):
            idx = order[start:start + global_batch]           # the one-process batch ...
            mine = dist.local(idx)                            # ... and this rank's share of it (all of it alone)
            x = B.tensor(augment(args, Xtr[mine], data.kind, train=True))
            target = B.tensor(data.y_train[mine])
            logits = model(x)
            batch_loss = sum_loss(logits, target)
            loss = batch_loss * dist.loss_scale(len(idx))     # the mean over the global batch, once DDP averages
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            seen += len(mine)                                 # running train metrics, in train mode, as the course
            loss_sum += batch_loss.item()
            correct += int((B.to_numpy(logits.argmax(dim=1)) == data.y_train[mine]).sum())
        if scheduler is not None:
            scheduler.step()
        seen, loss_sum, correct = dist.sum([seen, loss_sum, correct])
        test_loss, test_acc, cm = evaluate(B, model, Xte_eval, data.y_test, len(data.classes), 256, dist)
        for k, v in (("train_loss", loss_sum / seen), ("train_accuracy", correct / seen), ("test_loss", test_loss),
                     ("test_accuracy", test_acc)):
            hist[k].append(v)
        if dist.is_main:
            tqdm.write(f"{label}epoch {epoch + 1:3d}: train loss {hist['train_loss'][-1]:.4f} "
                       f"acc {hist['train_accuracy'][-1]:.4f} | test loss {test_loss:.4f} acc {test_acc:.4f}")
    elapsed = max(time.perf_counter() - t0, 1e-9)
    return dict(history=hist, model=dist.unwrap(model), confusion=cm, train_time_s=elapsed,
                images_per_s=args.epochs * len(Xtr) / elapsed)


def load_weights(B: Backend, model: Any, path: str) -> None:
    """Start from a saved state_dict: minidl's ``weights.npz`` (read with allow_pickle=False) or a torch
    ``.pt/.pth`` (read with weights_only=True). A file that does not fit the network is a UserError."""
    from pathlib import Path

    from minidl.interop import load_torch_checkpoint, to_numpy_state_dict
    p = Path(path)
    try:
        if p.suffix == ".npz":
            with np.load(p, allow_pickle=False) as f:
                state = {k: f[k] for k in f.files}
        else:
            state = to_numpy_state_dict(load_torch_checkpoint(p))
        lib_tensor = B.lib.from_numpy if B.name == "torch" else B.lib.tensor
        model.load_state_dict({k: lib_tensor(np.ascontiguousarray(v)) for k, v in state.items()})
    except (OSError, ValueError, RuntimeError, KeyError) as e:
        raise UserError(f"--weights {p} does not fit this network (check --model, --dataset, --batchnorm): {e}") from e
    B.model_to(model)


def save_weights(B: Backend, model: Any, path: Any) -> None:
    """The trained weights as ``weights.npz`` (a state_dict of arrays; written to a temporary file, then
    renamed: never half-written). ``--weights`` reads it back, with either backend."""
    import os

    from minidl.interop import to_numpy_state_dict
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **to_numpy_state_dict(model.state_dict()))
    os.replace(tmp, path)


# --------------------------------------------------------------------------- figures
def plot_curves(run: Run, histories: dict[str, dict[str, list[float]]]) -> None:
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    for i, (name, h) in enumerate(histories.items()):
        c = f"C{i}"
        for ax, m in zip(axes, ("loss", "accuracy")):
            epochs = range(1, len(h[f"train_{m}"]) + 1)
            ax.plot(epochs, h[f"train_{m}"], "--", color=c, alpha=0.7)
            ax.plot(epochs, h[f"test_{m}"], "-", color=c, label=name)
    for ax, m in zip(axes, ("cross-entropy", "accuracy")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(m)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=8)
    fig.suptitle("train (dashed) and test (solid)")
    run.savefig(fig, "curves", caption="Cross-entropy and accuracy per epoch, train dashed, test solid. Look for the "
                "gap: a test loss that rises while the train loss keeps falling is overfitting.")


def plot_confusion(run: Run, cm: np.ndarray, classes: list[str]) -> None:
    import matplotlib.pyplot as plt
    k = len(classes)
    fig, ax = plt.subplots(figsize=(6, 5))
    im = ax.imshow(cm / np.maximum(cm.sum(1, keepdims=True), 1), cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(k), classes, rotation=90, fontsize=7)
    ax.set_yticks(range(k), classes, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.colorbar(im, ax=ax, label="fraction of the true class")
    run.savefig(fig, "confusion", caption="Row-normalised confusion matrix on the test set: the diagonal is each "
                "class's recall; bright off-diagonal cells are the classes the network mixes up.")


def plot_filters(run: Run, B: Backend, model: Any) -> None:
    import matplotlib.pyplot as plt
    w = B.to_numpy(next(iter(model.parameters())))           # conv1.weight: (O, C, kh, kw)
    n = w.shape[0]
    cols = 8
    fig, axes = plt.subplots((n + cols - 1) // cols, cols, figsize=(cols, (n + cols - 1) // cols))
    for i, ax in enumerate(np.ravel(axes)):
        ax.axis("off")
        if i < n:
            f = w[i].transpose(1, 2, 0)
            f = (f - f.min()) / max(f.max() - f.min(), 1e-12)
            ax.imshow(f[..., 0] if f.shape[2] == 1 else f, cmap="gray" if f.shape[2] == 1 else None)
    fig.suptitle("first-layer filters")
    run.savefig(fig, "filters", caption="The first convolution's filters. After training they look like oriented "
                "edges and blobs; filters that stayed noise did not learn (too few epochs, or a too small lr).")


# --------------------------------------------------------------------------- the chapter
LENET_DEFAULTS = dict(optimizer="momentum", batch_size=64, epochs=10, scheduler="exp")
CIFAR_DEFAULTS = dict(optimizer="sgd", batch_size=128, epochs=20, scheduler="none")
STUDY = [("baseline", {}), ("+normalize", dict(normalize=True)), ("+augment", dict(augment=True)),
         ("+exp scheduler", dict(scheduler="exp")), ("+dropout", dict(dropout=True)),
         ("+batchnorm", dict(batchnorm=True))]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = make_parser("cnn", "Chapter 2: CNNs on MNIST and CIFAR-10")
    p.add_argument("--dataset", choices=["digits", "mnist", "cifar10"], default="digits")
    p.add_argument("--model", choices=["lenet", "cifar"], default=None, help="default: cifar for cifar10, else lenet")
    p.add_argument("--epochs", type=int, default=None, help="default 20 (cifar), 10 (lenet), 6 (--quick)")
    p.add_argument("--batch-size", type=int, default=None, help="default 128 (cifar), 64 (lenet), 32 (--quick)")
    p.add_argument("--lr", type=float, default=None, help="default 0.1 (sgd), 0.05 (momentum), 1e-3 (rmsprop, adam)")
    p.add_argument("--optimizer", choices=["sgd", "momentum", "rmsprop", "adam"], default=None,
                   help="default sgd (cifar), momentum (lenet)")
    p.add_argument("--scheduler", choices=["none", "exp"], default=None, help="default none (cifar), exp (lenet)")
    for flag in ("normalize", "zca", "augment", "dropout", "batchnorm"):
        p.add_argument(f"--{flag}", action="store_true")
    p.add_argument("--study", action="store_true", help="train the course's improvements cumulatively, one run each")
    p.add_argument("--max-train", type=int, default=None, help="use only the first N training images")
    p.add_argument("--weights", default=None,
                   help="start from a saved state_dict: a run's weights.npz, or a torch .pt/.pth (weights_only)")
    args = p.parse_args(argv)
    args.model = args.model or ("cifar" if args.dataset == "cifar10" else "lenet")
    # defaults per model: the course's SGD(0.1), batch 128, no schedule for the CIFAR net (the improvements are
    # flags); momentum SGD with ExponentialLR(0.95) for LeNet, which reaches ~98 % on the MNIST split in
    # 10 epochs. --quick: a short run that still learns (~90 % on digits).
    d = dict(CIFAR_DEFAULTS if args.model == "cifar" else LENET_DEFAULTS)
    if args.quick:
        d.update(epochs=6, batch_size=32)
    for k, v in d.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    args.lr = args.lr or {"sgd": 0.1, "momentum": 0.05, "rmsprop": 1e-3, "adam": 1e-3}[args.optimizer]
    B = backend(args.backend, args.device)                    # checks the device now (no GPU: a clear error)
    dist = Distributed(B, args)                               # torchrun --distributed: one process per device
    args.global_batch_size, args.lr = dist.global_batch_and_lr(args.batch_size, args.lr)
    run = Run("cnn", args, write=dist.is_main)                # only rank 0 writes the run directory

    data = cnn_data.load(args)
    if args.max_train:
        data.X_train, data.y_train = data.X_train[:args.max_train], data.y_train[:args.max_train]
    run.note(f"data: {data.description}; {len(data.y_train):,} train / {len(data.y_test):,} test images of "
             f"shape {data.X_train.shape[1:]}; backend {B.name} ({B.device})")
    if dist.enabled:
        run.note(f"{dist.world} processes (DDP): global batch {args.global_batch_size} "
                 f"({args.global_batch_size // dist.world} per process), lr {args.lr:g}"
                 + (" (linear scaling rule, --scale-lr)" if dist.scale_lr else " (as in one process)")
                 + ("; batch norm uses each process's share (no SyncBatchNorm on CPU)"
                    if args.batchnorm and not B.is_cuda else ""))

    probe = build_model(B, args, augment(args, data.X_test[:1], data.kind, train=False).shape[1:], len(data.classes))
    table = layer_table(probe, (1,) + augment(args, data.X_test[:1], data.kind, False).shape[1:], B.lib)
    if dist.is_main:
        print(format_table(table))
    run.metrics["parameters"] = sum(r[3] for r in table)

    configs = [(name, kw) for name, kw in STUDY] if args.study else [("run", {})]
    histories, results = {}, {}
    for i, (name, overrides) in enumerate(configs):
        if args.study:  # cumulative, in the course's order
            for _, kw in configs[:i + 1]:
                for k, v in kw.items():
                    setattr(args, k, v)
        Xtr, Xte, prep = preprocess(args, data)
        res = train(B, args, data, Xtr, Xte, label=f"[{name}] " if args.study else "", dist=dist)
        histories[name] = res["history"]
        results[name] = res
        run.metrics[f"{name.strip('+').replace(' ', '_')}_test_accuracy"] = res["history"]["test_accuracy"][-1]
        run.metrics[f"{name.strip('+').replace(' ', '_')}_train_accuracy"] = res["history"]["train_accuracy"][-1]
    last = results[configs[-1][0]]  # in a study: every improvement on, and args now say so

    plot_curves(run, histories)
    cm = last["confusion"]
    plot_confusion(run, cm, data.classes)
    plot_filters(run, B, last["model"])
    if run.write:
        save_weights(B, last["model"], run.path / "weights.npz")
    h = last["history"]
    run.metrics.update(
        data=data.description, backend=B.name, device=B.device, model=args.model, epochs=args.epochs,
        optimizer=args.optimizer, lr=args.lr, batch_size=args.batch_size, preprocessing=prep,
        augment=args.augment, scheduler=args.scheduler, dropout=args.dropout, batchnorm=args.batchnorm,
        train_size=int(len(data.y_train)), test_size=int(len(data.y_test)),
        train_accuracy=h["train_accuracy"][-1], test_accuracy=h["test_accuracy"][-1],
        best_test_accuracy=max(h["test_accuracy"]), train_time_s=round(last["train_time_s"], 1),
        train_images_per_s=round(last["images_per_s"], 1), curves=histories, confusion_matrix=cm,
        world_size=dist.world, global_batch_size=args.global_batch_size, weights_in=args.weights or "none",
        layer_table=[list(r) for r in table])
    run.note(f"final test accuracy {h['test_accuracy'][-1]:.4f} (train {h['train_accuracy'][-1]:.4f}) after "
             f"{args.epochs} epochs, {last['images_per_s']:.0f} training images/s")
    metrics = run.finish("test_accuracy")
    dist.close()
    return metrics


if __name__ == "__main__":
    main()
