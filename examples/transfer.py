"""Chapter 3-a: transfer learning -- a pretrained network's features + a linear SVM on 15-Scene.

    python -m examples transfer --quick                                   # generated textures, seconds
    python -m examples transfer --data-dir ../shared/data                 # CIFAR-10 -> 15-Scene
    python -m examples transfer --data-dir ../shared/data --weights vgg16-397923af.pth   # the course's setup
    torchrun --standalone --nproc_per_node 2 -m examples transfer --data-dir ../shared/data --backend torch --distributed

The idea. A network trained on a big labelled set learns features (edges, textures, parts) that are
useful for other images too. Cut it at a layer, use the activations there as a fixed representation,
and train only a small classifier (here a linear SVM) on the new task's few images.

The course uses VGG16 trained on ImageNet and reports 0.89 test accuracy on 15-Scene with relu7 + SVM.
There are no ImageNet weights on this machine and nothing downloads, so by default the chapter teaches
transfer with what is here, honestly and side by side:

1. **Pretrain** the course's CIFAR network on a *source* task (the CIFAR-10 images of ``--data-dir``,
   converted to grayscale and stacked to 3 channels like the scenes; ``--quick``: four classes of
   generated textures).
2. **Transfer**: 15-Scene (``--quick``: four *other* texture classes, few images) goes through the frozen
   network; the activations of pool3, relu4 and fc5 are streamed in batches, L2-normalised, and
   classified by ``classical.svm.SVC`` (linear kernel, C chosen by 3-fold cross-validation on the
   training part only) -- the course's table: layer, representation size, best C, accuracy. A linear
   head trained with minidl on the same features is the comparison classifier.
3. **Scratch**: the same network trained on the target's training images only, with the same number of
   gradient steps as the pretraining. Transfer wins when the target set is small.

``--weights PATH`` instead loads a user's torchvision VGG16 or SqueezeNet 1.1 ``.pth`` (weights only),
resizes to 224, normalises with ImageNet's mean/std, and uses the course's layers (pool5, relu6, relu7,
fc8 for VGG16). 15-Scene ships here as a training split only: it is split 70/30, seeded and stratified.

Under torchrun (``--distributed``, examples/_distributed.py) the pretraining and the scratch run take the
one-process steps on several processes (each takes its share of every batch; DDP averages the gradients),
the ranks share the feature extraction (the matrices are summed over the ranks, each filling its rows),
and rank 0 fits the SVMs and the linear head and writes the run.

Measured (AMD EPYC Zen 4, 2 shared cores, one thread; 15-Scene at 32x32, 1,050 train / 450 test, chance
0.067), the default run: the CIFAR network pretrained on the 8,000 CIFAR-10 images for 1,500 steps of 32:

    layer   size   best C   CV acc   test acc
    pool3   1024        1    0.405      0.493     <- chosen by CV: test_accuracy
    relu4   1000        1    0.386      0.409
    fc5       10       10    0.292      0.287     (CIFAR's 10 classes: too specific to the source task)
    linear head (minidl) on pool3: 0.467;  the same network from scratch, 1,500 steps: 0.407

(9 min wall, 209 s CPU, 0.47 GB peak RSS, under a load of ~6 on the 2 cores; 4.5 min when quieter. With
500 steps: 0.407 transfer vs 0.356 scratch; 200 steps: 0.384 vs 0.353.) Transfer helps, and more with more
pretraining, but CIFAR's 32x32 objects are a poor source for scenes; ImageNet's VGG16 relu7 reaches 0.89
in the course. ``--quick`` (textures): 0.73 vs 0.25.
"""
from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any, Callable

import numpy as np
from tqdm import tqdm

from examples._distributed import Distributed
from examples._runner import Run, UserError, make_parser
from examples._transfer_data import (IMAGENET_MEAN, IMAGENET_STD, Split, as_rgb_batch, load_source,  # noqa: F401
                                     load_target, normalise, read_folder, textures)
from minidl.interop import Backend, backend


# --------------------------------------------------------------------------- networks
def tiny_net(nn: Any, num_classes: int) -> Any:
    """--quick's network: the CIFAR net's layout and layer names (conv1-3, pool3, fc4, relu4, fc5) at an
    eighth of its widths (8/16/16 channels, fc4 256 -> 64), so pretraining takes about a second."""
    layers: list[tuple[str, Any]] = []
    c_in = 3
    for i, c_out in enumerate((8, 16, 16), start=1):
        layers += [(f"conv{i}", nn.Conv2d(c_in, c_out, 5, padding=2)), (f"relu{i}", nn.ReLU()),
                   (f"pool{i}", nn.MaxPool2d(2))]
        c_in = c_out
    layers += [("flatten", nn.Flatten()), ("fc4", nn.Linear(16 * 4 * 4, 64)), ("relu4", nn.ReLU()),
               ("fc5", nn.Linear(64, num_classes))]
    return nn.Sequential(OrderedDict(layers))


class Alone:
    """One process -- or one rank computing on its own (rank 0's linear head): the no-op side of
    ``examples._distributed.Distributed`` (same methods, no collective), the default of the helpers below."""
    enabled, is_main, world, rank = False, True, 1, 0

    def wrap(self, model: Any) -> Any:
        return model

    def unwrap(self, model: Any) -> Any:
        return model

    def local(self, idx: np.ndarray) -> np.ndarray:
        return idx

    def loss_scale(self, global_batch: int) -> float:
        return 1.0 / global_batch

    def sum(self, values: list[float]) -> list[float]:
        return values

    def sum_array(self, a: np.ndarray) -> np.ndarray:
        return a


Scale = Distributed | Alone   # who computes: all ranks together (torchrun) or this process alone


def train_classifier(B: Backend, model: Any, X: np.ndarray, y: np.ndarray, steps: int, batch_size: int,
                     lr: float, seed: int, desc: str, dist: Scale | None = None) -> Any:
    """Plain minibatch SGD with momentum 0.9 on cross-entropy for exactly ``steps`` updates; returns the
    trained (unwrapped) model in eval mode.

    Under torchrun (``dist``, see examples/_distributed.py) every rank draws the same batches from the
    same seeded order and computes the loss on its share of each (``dist.local``): the share's *summed*
    loss times ``dist.loss_scale`` is, once DDP averages the gradients, the gradient of the mean loss over
    the whole batch -- the one-process step. Alone, the factor is 1/batch: the mean."""
    dist = dist or Alone()
    rng = np.random.default_rng(seed)                         # the same order on every rank
    ddp = dist.wrap(model)
    opt = B.optim.SGD(ddp.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    sum_loss = B.nn.CrossEntropyLoss(reduction="sum")
    ddp.train()
    order: np.ndarray = np.array([], np.int64)
    for _ in tqdm(range(steps), desc=desc, unit="step", leave=False, disable=not dist.is_main):
        if len(order) < batch_size:
            order = np.concatenate([order, rng.permutation(len(X))])
        idx, order = order[:batch_size], order[batch_size:]
        mine = dist.local(idx)                                # this rank's share (all of it alone)
        loss = sum_loss(ddp(B.tensor(X[mine])), B.tensor(y[mine])) * dist.loss_scale(len(idx))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return dist.unwrap(ddp).eval()


def layer_outputs(B: Backend, model: Any, layers: dict[str, Any], X: np.ndarray, batch_size: int = 64,
                  prep: Callable[[np.ndarray], np.ndarray] | None = None, dist: Scale | None = None
                  ) -> dict[str, np.ndarray]:
    """Activations of several layers at once, captured with forward hooks, streamed in batches under
    no_grad: peak memory is one batch's activations plus the (N, D) feature matrices kept. ``prep`` turns a
    batch of raw images into the network's input (normalisation), so only one batch is ever converted.

    Under torchrun each rank extracts every ``world``-th image and the matrices are gathered by summing:
    each rank fills its own rows of an (N, D) zero matrix, and the sum over ranks is the whole matrix
    (exact: every entry is one rank's value plus zeros)."""
    dist = dist or Alone()
    mine = dist.local(np.arange(len(X)))
    grabbed: dict[str, list[np.ndarray]] = {k: [] for k in layers}
    handles = [m.register_forward_hook(lambda mod, args, out, k=k: grabbed[k].append(
        B.to_numpy(out).reshape(len(out), -1).astype(np.float32))) for k, m in layers.items()]
    try:
        with B.no_grad():
            for s in tqdm(range(0, len(mine), batch_size), desc="features", unit="batch", leave=False,
                          disable=not dist.is_main):
                batch = X[mine[s:s + batch_size]]
                model(B.tensor(prep(batch) if prep is not None else batch))
    finally:
        for h in handles:
            h.remove()
    feats = {k: np.concatenate(v) for k, v in grabbed.items()}
    if not dist.enabled:
        return feats
    gathered = {}
    for k, F in feats.items():
        full = np.zeros((len(X), F.shape[1]), np.float64)
        full[mine] = F
        gathered[k] = dist.sum_array(full).astype(np.float32)
    return gathered


def accuracy(B: Backend, model: Any, X: np.ndarray, y: np.ndarray, dist: Scale | None = None) -> float:
    """Accuracy of ``model`` on (X, y); under torchrun each rank scores its share and the counts are summed."""
    dist = dist or Alone()
    mine = dist.local(np.arange(len(X)))
    with B.no_grad():
        pred = [B.to_numpy(model(B.tensor(X[mine[s:s + 128]])).argmax(1)) for s in range(0, len(mine), 128)]
    correct = float((np.concatenate(pred) == y[mine]).sum()) if pred else 0.0
    correct, seen = dist.sum([correct, float(len(mine))])
    return correct / seen


def imagenet_network(B: Backend, path: str, arch: str) -> tuple[Any, dict[str, Any], str]:
    """A user's torchvision VGG16 / SqueezeNet .pth, read weights-only, and the course's layers of it."""
    from minidl.interop import CheckpointError, load_weights
    from minidl.models import squeezenet1_1, vgg16
    try:
        state = load_weights(path)
    except (FileNotFoundError, CheckpointError) as e:
        raise UserError(f"--weights: {e}") from e
    if arch == "auto":
        arch = "vgg16" if "classifier.6.weight" in state else "squeezenet1_1"
    model = (vgg16 if arch == "vgg16" else squeezenet1_1)(B.nn)
    to_lib = (lambda v: B.lib.from_numpy(v.numpy())) if B.name == "torch" else (lambda v: v)
    try:
        model.load_state_dict({k: to_lib(v) for k, v in state.items()})
    except RuntimeError as e:
        raise UserError(f"--weights {path} does not fit torchvision's {arch} (try --arch): {e}") from e
    model = B.model_to(model).eval()
    if arch == "vgg16":
        layers = {"pool5": model.avgpool, "relu6": model.classifier[1], "relu7": model.classifier[4],
                  "fc8": model.classifier[6]}
    else:
        layers = {"fire9": model.features[12], "conv10_pool": model.classifier[3]}
    return model, layers, arch


# --------------------------------------------------------------------------- SVMs on features
def svm_on_features(Ftr: np.ndarray, ytr: np.ndarray, Fte: np.ndarray, yte: np.ndarray, Cs: list[float],
                    l2: bool) -> dict[str, Any]:
    """Linear SVC, C by 3-fold CV on the training features only; returns the row of the course's table."""
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    from classical.svm import SVC
    if l2:
        Ftr = Ftr / np.maximum(np.linalg.norm(Ftr, axis=1, keepdims=True), 1e-12)
        Fte = Fte / np.maximum(np.linalg.norm(Fte, axis=1, keepdims=True), 1e-12)
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    scores = [float(cross_val_score(SVC(C=C, kernel="linear"), Ftr, ytr, cv=cv).mean()) for C in Cs]
    best_C = Cs[int(np.argmax(scores))]
    clf = SVC(C=best_C, kernel="linear").fit(Ftr, ytr)
    pred = clf.predict(Fte)
    return dict(size=int(Ftr.shape[1]), best_c=best_C, cv_accuracy=max(scores),
                test_accuracy=float((pred == yte).mean()), predictions=pred)


def linear_head(B: Backend, Ftr: np.ndarray, ytr: np.ndarray, Fte: np.ndarray, yte: np.ndarray, n_classes: int,
                steps: int, seed: int) -> float:
    """Logistic regression on the (L2-normalised, standardised) features, trained with minidl's Adam."""
    mu, sd = Ftr.mean(0), Ftr.std(0) + 1e-6
    head = B.model_to(B.nn.Linear(Ftr.shape[1], n_classes))
    B.manual_seed(seed)
    opt = B.optim.Adam(head.parameters(), lr=1e-2, weight_decay=1e-3)
    xtr, ttr = B.tensor(((Ftr - mu) / sd).astype(np.float32)), B.tensor(ytr)
    loss_fn = B.nn.CrossEntropyLoss()
    for _ in range(steps):
        loss = loss_fn(head(xtr), ttr)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return accuracy(B, head, ((Fte - mu) / sd).astype(np.float32), yte)


# --------------------------------------------------------------------------- figures
def plot_table(run: Run, rows: list[dict[str, Any]], scratch: float) -> None:
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    names = [r["layer"] for r in rows]
    ax.bar(names, [r["test_accuracy"] for r in rows], color="C0", label="transferred features + linear SVM")
    ax.axhline(scratch, color="C3", ls="--", label="same network from scratch")
    for i, r in enumerate(rows):
        ax.text(i, r["test_accuracy"] + 0.01, f"{r['test_accuracy']:.2f}\nC={r['best_c']:g}", ha="center", fontsize=8)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("test accuracy")
    ax.legend(fontsize=8, loc="lower right")
    run.savefig(fig, "layers", caption="Test accuracy of a linear SVM on each layer's activations (C chosen by "
                "cross-validation on the training part), against the same network trained from scratch on the "
                "target alone. Deeper layers are more specific to the source task; the best layer is in between.")


def plot_confusion(run: Run, y: np.ndarray, pred: np.ndarray, classes: list[str], layer: str) -> None:
    import matplotlib.pyplot as plt
    k = len(classes)
    cm = np.zeros((k, k))
    np.add.at(cm, (y, pred), 1)
    fig, ax = plt.subplots(figsize=(5.5, 4.8))
    ax.imshow(cm / np.maximum(cm.sum(1, keepdims=True), 1), cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(k), classes, rotation=90, fontsize=7)
    ax.set_yticks(range(k), classes, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    run.savefig(fig, "confusion",
                caption=f"Row-normalised confusion matrix of the SVM on {layer} features (test part).")


# --------------------------------------------------------------------------- the chapter
def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = make_parser("transfer", "Chapter 3-a: transfer learning, pretrained features + SVM on 15-Scene")
    p.add_argument("--weights", default=None, help="a torchvision VGG16 / SqueezeNet 1.1 .pth (ImageNet weights)")
    p.add_argument("--arch", choices=["auto", "vgg16", "squeezenet1_1"], default="auto")
    p.add_argument("--steps", type=int, default=None,
                   help="pretraining (and scratch) SGD steps; default 1500, 40 quick")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--no-l2", action="store_true", help="do not L2-normalise the features before the SVM")
    args = p.parse_args(argv)
    steps = args.steps or (40 if args.quick else 1500)
    Cs = [0.1, 1.0, 10.0] if args.quick else [0.01, 0.1, 1.0, 10.0, 100.0]
    B = backend(args.backend, args.device)
    dist = Distributed(B, args)                                   # torchrun --distributed: one process per device
    batch, lr = dist.global_batch_and_lr(args.batch_size, args.lr)  # as one process (--scale-lr: x world)
    run = Run("transfer", args, write=dist.is_main)              # only rank 0 writes the run directory
    B.manual_seed(args.seed)
    from minidl.models import cifar_net
    if dist.enabled:
        run.note(f"{dist.world} processes (DDP): pretraining and scratch steps of {batch} images "
                 f"({batch // dist.world} per process) at lr {lr:g}"
                 + (" (linear scaling rule, --scale-lr)" if dist.scale_lr else ", as in one process")
                 + "; features extracted by all ranks, the SVMs and the linear head on rank 0")

    # 1. the pretrained network: the user's ImageNet weights, or pretrained here on the source task
    if args.weights:                                              # the course's setup: ImageNet features
        model, layers, arch = imagenet_network(B, args.weights, args.arch)
        side, mean, std, weights = 224, IMAGENET_MEAN, IMAGENET_STD, f"{args.weights} ({arch}, user-supplied)"
        source_desc = "ImageNet (the user's weights)"
    else:                                                         # pretrain here, on what is available
        side = 32
        Xs, ys, source_classes, source_desc = load_source(args)
        mean, std = Xs.mean(axis=(0, 2, 3)).tolist(), Xs.std(axis=(0, 2, 3)).tolist()
        run.note(f"source (pretraining): {source_desc}; {steps} SGD steps of {batch}")
        net_fn: Callable[[Any, int], Any] = tiny_net if args.quick else (lambda nn, k: cifar_net(nn, num_classes=k))
        model = B.model_to(net_fn(B.nn, len(source_classes)))
        t0 = time.perf_counter()
        model = train_classifier(B, model, normalise(Xs, mean, std), ys, steps, batch, lr, args.seed, "pretrain",
                                 dist)
        run.metrics["pretrain_time_s"] = round(time.perf_counter() - t0, 1)
        arch = "tiny_net" if args.quick else "cifar_net"
        width = " at 1/8 width" if args.quick else ""
        weights = f"none: {arch} (the course's CIFAR network{width}) pretrained by {B.name} on {source_desc}"
        layers = {"pool3": model.pool3, "relu4": model.relu4, "fc5": model.fc5}
    target = load_target(args, side)
    run.note(f"target: {target.description}; backend {B.name} ({B.device})")
    run.note(f"weights: {weights}")

    # 2. transfer: the frozen network's activations on the target images (one SVM per layer, below)
    prep = lambda batch: normalise(batch, mean, std)  # noqa: E731  (per batch: bounded memory at 224x224)
    bs = 16 if side >= 128 else 64                     # VGG16's conv1 output at 224: 16 x 64 x 224^2 floats = 205 MB
    Ftr = layer_outputs(B, model, layers, target.X_train, bs, prep, dist)
    Fte = layer_outputs(B, model, layers, target.X_test, bs, prep, dist)

    # 3. the same network from scratch on the target alone, with the same number of steps; re-seeded, so
    #    it starts from the very weights the pretraining started from (all but the last layer's shape)
    B.manual_seed(args.seed)
    scratch = B.model_to((tiny_net if args.quick else (lambda nn, k: cifar_net(nn, num_classes=k)))(
        B.nn, len(target.classes)))
    if side != 32:
        scratch_X, scratch_Xte = [normalise(as_rgb_batch(X, 32, "scratch"), mean, std)
                                  for X in (target.X_train, target.X_test)]
    else:
        scratch_X, scratch_Xte = prep(target.X_train), prep(target.X_test)
    scratch = train_classifier(B, scratch, scratch_X, target.y_train, steps, batch, lr, args.seed, "scratch", dist)
    scratch_acc = accuracy(B, scratch, scratch_Xte, target.y_test, dist)
    if not dist.is_main:                                          # what is left runs on rank 0 alone
        dist.close()
        return {"rank": dist.rank}

    # the course's table: a linear SVM per layer, C by cross-validation on the training part
    rows = []
    for name in tqdm(layers, desc="SVM per layer", leave=False):
        r = svm_on_features(Ftr[name], target.y_train, Fte[name], target.y_test, Cs, l2=not args.no_l2)
        rows.append(dict(layer=name, **r))
        run.metrics[f"svm_{name}_test_accuracy"] = r["test_accuracy"]
    best = max(rows, key=lambda r: r["cv_accuracy"])             # chosen on the training part, not on test
    head_acc = linear_head(B, Ftr[best["layer"]], target.y_train, Fte[best["layer"]], target.y_test,
                           len(target.classes), 60 if args.quick else 300, args.seed)

    table = "\n".join([f"{'layer':<12}{'size':>8}{'best C':>9}{'CV acc':>9}{'test acc':>10}"] + [
        f"{r['layer']:<12}{r['size']:>8}{r['best_c']:>9g}{r['cv_accuracy']:>9.3f}{r['test_accuracy']:>10.3f}"
        for r in rows])
    print(table)
    plot_table(run, rows, scratch_acc)
    plot_confusion(run, target.y_test, best["predictions"], target.classes, best["layer"])
    run.metrics.update(
        data=target.description, source=source_desc, weights=weights, arch=arch, backend=B.name, image_side=side,
        test_accuracy=best["test_accuracy"], best_layer=best["layer"], best_c=best["best_c"],
        linear_head_test_accuracy=head_acc, scratch_test_accuracy=scratch_acc, steps=steps, l2_normalise=not args.no_l2,
        train_size=len(target.y_train), test_size=len(target.y_test), transfer_table=table, world_size=dist.world,
        layers=[{k: v for k, v in r.items() if k != "predictions"} for r in rows])
    run.note(f"transfer ({best['layer']} + linear SVM, C={best['best_c']:g}, layer chosen by CV): test accuracy "
             f"{best['test_accuracy']:.3f}; linear head ({B.name}) {head_acc:.3f}; the same network from scratch "
             f"with the same {steps} steps: {scratch_acc:.3f}")
    if not args.weights:
        run.note("ImageNet weights would do much better: the course reports 0.89 on 15-Scene with VGG16 relu7 + "
                 "linear SVM. Give them with --weights vgg16-397923af.pth (nothing downloads here).")
    metrics = run.finish("test_accuracy")
    dist.close()
    return metrics


if __name__ == "__main__":
    main()
