"""Chapter 3-b: looking inside a network -- saliency, adversarial examples, class visualisation.

    python -m examples visualize --quick                                   # digits, a tiny net, seconds
    python -m examples visualize --data-dir ../shared/data                 # CIFAR-10, the course's CIFAR net
    python -m examples visualize --data-dir ../shared/data --weights squeezenet1_1-b8a52dc0.pth   # the course

Everything here is one idea: the gradient of a class score s_y with respect to the *input image* x
(not the weights). Backpropagation computes it for the price of one backward pass.

- **Saliency** (Simonyan et al.): |d s_y / d x|, maximised over the colour channels. Bright pixels are
  those whose change would change the score most.
- **Fooling images**: gradient *ascent* on a wrong class's score, x <- x + lr g / ||g||, until the
  network predicts that class. The change is tiny (look at its L2 / Linf size) yet the label flips.
  **FGSM** (Goodfellow et al.) does one step, x + eps sign(d loss / d x); accuracy falls fast with eps.
- **Class visualisation**: start from noise and ascend s_y(x) - lambda ||x||^2, with the course's
  regularisers (jitter, periodic blur, clamping to valid pixels): the image the network "sees" as y.
- **First-layer activation maps**: a forward hook on the first convolution.

With ``--weights`` (a user's torchvision SqueezeNet 1.1 or VGG16 ``.pth``; nothing downloads here) it
runs on the course's 25 ImageNet images (``imagenet_val_25.npz``, read with allow_pickle=False) with
ImageNet's normalisation and class names. Without weights it uses CIFAR-10 test images and the course's
CIFAR network, trained here by minidl on the CIFAR-10 folder's other images (``--quick``: scikit-learn's
embedded digits and a small network trained for a second). ``--backend torch`` runs the same code;
``torchrun --nproc_per_node N -m examples visualize --backend torch --distributed`` trains that network on N
processes with the one-process steps (examples/_distributed.py) and shares the FGSM test images.
"""
from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np
from tqdm import tqdm

from examples import transfer as T
from examples._distributed import Distributed
from examples._runner import Run, UserError, data_dir, make_parser
from minidl.interop import Backend, backend


# --------------------------------------------------------------------------- the gradient w.r.t. the input
def input_gradient(B: Backend, model: Any, x: np.ndarray, classes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scores (N, K) and d s_{classes[n]} / d x_n, (N, C, H, W): one forward, one backward of sum_n s_{y_n}."""
    xt = B.tensor(x, requires_grad=True)
    scores = model(xt)
    scores.gather(1, B.tensor(classes.reshape(-1, 1).astype(np.int64))).sum().backward()
    return B.to_numpy(scores), B.to_numpy(xt.grad)


def saliency(B: Backend, model: Any, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """|d s_y / d x| maximised over channels: (N, H, W)."""
    return np.abs(input_gradient(B, model, x, y)[1]).max(axis=1)


def fool(B: Backend, model: Any, x: np.ndarray, target: int, lr: float = 1.0, max_iter: int = 100
         ) -> tuple[np.ndarray, int]:
    """The course's fooling image: normalised gradient ascent on s_target until the prediction is target.
    x: (1, C, H, W) normalised. Returns (x_adv, steps); steps == max_iter + 1 means it did not flip."""
    x = x.copy()
    for step in range(max_iter + 1):
        scores, g = input_gradient(B, model, x, np.array([target]))
        if int(scores[0].argmax()) == target:
            return x, step
        x = x + lr * g / max(float(np.linalg.norm(g)), 1e-12)
    return x, max_iter + 1


def fgsm_curve(B: Backend, model: Any, x: np.ndarray, y: np.ndarray, eps_pixels: list[float], std: np.ndarray,
               lo: np.ndarray, hi: np.ndarray, dist: T.Scale | None = None) -> list[float]:
    """Accuracy after x + eps sign(d CE / d x), eps in pixel units (converted by the normalisation's std),
    the result clamped to valid pixels. One gradient for all eps (it does not depend on eps). Each image's
    attack depends on that image alone, so under torchrun each rank attacks its share and the counts of
    correct predictions are summed."""
    dist = dist or T.Alone()
    mine = dist.local(np.arange(len(x)))
    x, y = x[mine], y[mine]
    xt = B.tensor(x, requires_grad=True)
    B.nn.functional.cross_entropy(model(xt), B.tensor(y), reduction="sum").backward()
    sign = np.sign(B.to_numpy(xt.grad))
    correct = []
    with B.no_grad():
        for eps in eps_pixels:
            xa = np.clip(x + eps / std * sign, lo, hi).astype(x.dtype)
            correct.append(float((B.to_numpy(model(B.tensor(xa)).argmax(1)) == y).sum()))
    *correct, seen = dist.sum(correct + [float(len(y))])
    return [c / seen for c in correct]


def class_visualisation(B: Backend, model: Any, target: int, shape: tuple[int, ...], lo: np.ndarray,
                        hi: np.ndarray, rng: np.random.Generator, l2_reg: float = 1e-3, lr: float = 5.0,
                        iterations: int = 200, blur_every: int = 10, max_jitter: int = 16) -> np.ndarray:
    """Gradient ascent on s_target(x) - l2_reg ||x||^2 from noise, with the course's regularisers: a random
    jitter (roll) before each step and undone after, clamping to valid pixels, a Gaussian blur (sigma 0.5)
    every ``blur_every`` steps. Steps are normalised: x += lr g / ||g||."""
    from scipy.ndimage import gaussian_filter
    dtype = B.to_numpy(next(iter(model.parameters()))).dtype     # the network's float type
    img = np.clip(rng.normal(size=(1, *shape)), lo, hi).astype(dtype)
    for t in range(iterations):
        ox, oy = rng.integers(0, max_jitter + 1, size=2)
        img = np.roll(img, (int(ox), int(oy)), axis=(2, 3))
        xt = B.tensor(img, requires_grad=True)
        score = model(xt)[0, target] - l2_reg * (xt * xt).sum()
        score.backward()
        g = B.to_numpy(xt.grad)
        img = np.roll(img + lr * g / max(float(np.linalg.norm(g)), 1e-12), (-int(ox), -int(oy)), axis=(2, 3))
        img = np.clip(img, lo, hi).astype(dtype)
        if t % blur_every == blur_every - 1:
            img = gaussian_filter(img, sigma=(0, 0, 0.5, 0.5)).astype(dtype)
    return img


def first_conv_maps(B: Backend, model: Any, x: np.ndarray) -> np.ndarray:
    """The first Conv2d's output for one image, (C_out, H', W'), captured with a forward hook."""
    conv = next(m for m in model.modules() if type(m).__name__ == "Conv2d")
    grabbed: dict[str, Any] = {}
    handle = conv.register_forward_hook(lambda mod, args, out: grabbed.update(out=B.to_numpy(out)))
    with B.no_grad():
        model(B.tensor(x[:1]))
    handle.remove()
    return grabbed["out"][0]


# --------------------------------------------------------------------------- data and network
def imagenet_setup(args: argparse.Namespace, B: Backend) -> dict[str, Any]:
    root = data_dir(args)
    folder = root / "imagenet_val_25" if root is not None else None
    if folder is None or not (folder / "imagenet_val_25.npz").is_file():
        raise UserError(f"--weights needs the course's ImageNet images: --data-dir DIR holding "
                        f"imagenet_val_25/imagenet_val_25.npz and imagenet_classes.json (looked in {folder})")
    try:
        with np.load(folder / "imagenet_val_25.npz", allow_pickle=False) as f:   # never unpickle label_map
            X, y = f["X"][:args.max_images], f["y"][:args.max_images].astype(np.int64)
        classes = json.loads((folder / "imagenet_classes.json").read_text())
    except (OSError, ValueError, KeyError) as e:
        raise UserError(f"{folder}: cannot read imagenet_val_25.npz / imagenet_classes.json ({e})") from e
    model, _, arch = T.imagenet_network(B, args.weights, args.arch)
    return dict(model=model, X=T.as_rgb_batch(X, 224, "imagenet_val_25.npz"), y=y, classes=classes,
                mean=T.IMAGENET_MEAN, std=T.IMAGENET_STD, test_X=None,
                description=f"the course's 25 ImageNet validation images ({folder}), 224x224",
                weights=f"{args.weights} ({arch}, user-supplied)")


def trained_setup(args: argparse.Namespace, B: Backend, dist: Distributed) -> dict[str, Any]:
    """No ImageNet weights: train the CIFAR net (or, --quick, tiny_net on digits) here, say so. Under
    torchrun all ranks train it together (``transfer.train_classifier``: the one-process steps)."""
    from minidl.data import load_digits, stratified_split
    from minidl.models import cifar_net
    if args.quick:
        X, y = load_digits()
        X, classes = T.as_rgb_batch(X, 32, "digits"), [str(d) for d in range(10)]
        what = "scikit-learn digits (embedded)"
        net, steps = T.tiny_net(B.nn, 10), args.steps or 80
    else:
        root = data_dir(args)
        folder = root / "cifar10" if root is not None else None
        if folder is None or not folder.is_dir():
            raise UserError(f"--data-dir DIR with cifar10/<class>/*.png is needed (looked in {folder}); "
                            "or --weights PATH with the ImageNet images; or --quick")
        from minidl.data import ImageFolder, to_arrays
        ds = ImageFolder(folder)
        Xu, y = to_arrays(ds, progress=True)
        X, classes, what = T.as_rgb_batch(np.asarray(Xu), 32, "CIFAR-10"), ds.classes, f"CIFAR-10 folder {folder}"
        net, steps = cifar_net(B.nn, num_classes=10), args.steps or 1500
    y = np.asarray(y, np.int64)
    n_fgsm = args.fgsm_images or (200 if args.quick else 500)
    tr, te = stratified_split(y, 0.25, seed=args.seed)
    te = np.random.default_rng(args.seed).permutation(te)      # folders are sorted by class: mix the shown images
    mean, std = X[tr].mean(axis=(0, 2, 3)).tolist(), X[tr].std(axis=(0, 2, 3)).tolist()
    batch, lr = dist.global_batch_and_lr(32, args.lr)          # as one process (--scale-lr: both x world)
    model = T.train_classifier(B, B.model_to(net), T.normalise(X[tr], mean, std), y[tr], steps, batch, lr,
                               args.seed, "train", dist)
    arch = "tiny_net" if args.quick else "cifar_net"
    return dict(model=model, X=X[te][:25], y=y[te][:25], classes=classes, mean=mean, std=std,
                test_X=X[te][:n_fgsm], test_y=y[te][:n_fgsm],
                description=f"{what}: seeded stratified 75/25 split, the held-out part, 3x32x32",
                weights=f"none: {arch} trained by {B.name} in this chapter ({steps} SGD steps of {batch} on the 75 % "
                        "part)")


# --------------------------------------------------------------------------- figures
def show(img: np.ndarray) -> np.ndarray:
    """(3, H, W) in [0, 1] (or beyond) -> (H, W, 3) clipped, for imshow."""
    return np.clip(img.transpose(1, 2, 0), 0, 1)


def plot_saliency(run: Run, X: np.ndarray, sal: np.ndarray, labels: list[str]) -> None:
    import matplotlib.pyplot as plt
    n = len(X)
    fig, axes = plt.subplots(2, n, figsize=(1.8 * n, 3.8), squeeze=False)
    for i in range(n):
        axes[0, i].imshow(show(X[i]))
        axes[0, i].set_title(labels[i][:14], fontsize=7)
        axes[1, i].imshow(show(X[i]).mean(2), cmap="gray")
        axes[1, i].imshow(sal[i], cmap="hot", alpha=0.6)
    for ax in axes.ravel():
        ax.axis("off")
    run.savefig(fig, "saliency", caption="Top: images with their true class. Bottom: saliency |d s_y/d x| (max over "
                "channels) overlaid. A good network's bright pixels sit on the object, not on the background.")


def plot_fooling(run: Run, rows: list[dict[str, Any]]) -> None:
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(len(rows), 3, figsize=(6.6, 2.3 * len(rows)), squeeze=False)
    for r, ax in zip(rows, axes):
        diff = r["adv"] - r["orig"]
        ax[0].imshow(show(r["orig"]))
        ax[0].set_title(f"original: {r['true'][:16]}", fontsize=7)
        ax[1].imshow(show(r["adv"]))
        ax[1].set_title(f"predicted: {r['target'][:16]} ({r['steps']} steps)", fontsize=7)
        ax[2].imshow(show(0.5 + 10 * diff))
        ax[2].set_title(f"difference x10 (L2 {r['l2']:.2f}, Linf {r['linf']:.3f})", fontsize=7)
        for a in ax:
            a.axis("off")
    run.savefig(fig, "fooling", caption="Fooling images: the original, the image the network now labels as the target "
                "class, and their difference magnified ten times. The change is invisible at scale 1.")


def plot_fgsm(run: Run, eps: list[float], acc: list[float]) -> None:
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 3.4))
    ax.plot([e * 255 for e in eps], acc, "o-")
    ax.set_xlabel("epsilon (in pixel levels out of 255)")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    run.savefig(fig, "fgsm", caption="FGSM: accuracy on held-out images after one signed-gradient step of size "
                "epsilon. A few grey levels -- invisible changes -- are enough to break most predictions.")


def plot_class_vis(run: Run, imgs: list[np.ndarray], names: list[str]) -> None:
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(imgs), figsize=(2.4 * len(imgs), 2.6), squeeze=False)
    for ax, img, name in zip(axes[0], imgs, names):
        ax.imshow(show((img - img.min()) / max(float(img.max() - img.min()), 1e-12)))
        ax.set_title(name[:18], fontsize=8)
        ax.axis("off")
    run.savefig(fig, "class_visualisation", caption="Class visualisation: images generated from noise to maximise "
                "one class score (with L2 penalty, jitter and blur). Patterns the network associates with the class.")


def plot_activations(run: Run, maps: np.ndarray) -> None:
    import matplotlib.pyplot as plt
    n = min(len(maps), 16)
    fig, axes = plt.subplots(2, (n + 1) // 2, figsize=(1.4 * ((n + 1) // 2), 3), squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if i < n:
            ax.imshow(maps[i], cmap="viridis")
    run.savefig(fig, "activations", caption="First-convolution activation maps of one image (a forward hook): each "
                "filter responds to one kind of local pattern -- edges of an orientation, colour blobs.")


# --------------------------------------------------------------------------- the chapter
def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = make_parser("visualize", "Chapter 3-b: saliency, adversarial examples, class visualisation")
    p.add_argument("--weights", default=None, help="a torchvision SqueezeNet 1.1 / VGG16 .pth (ImageNet weights)")
    p.add_argument("--arch", choices=["auto", "vgg16", "squeezenet1_1"], default="auto")
    p.add_argument("--steps", type=int, default=None, help="training steps without --weights (1500; 80 quick)")
    p.add_argument("--lr", type=float, default=None, help="training learning rate (0.01; 0.03 quick)")
    p.add_argument("--iterations", type=int, default=None, help="class visualisation steps (200; 25 quick)")
    p.add_argument("--fgsm-images", type=int, default=None, help="FGSM test images (500; 200 quick)")
    p.add_argument("--max-images", type=int, default=25, help="use the first N of the 25 ImageNet images")
    p.add_argument("--fool-max-iter", type=int, default=100, help="fooling: give up after this many steps")
    args = p.parse_args(argv)
    args.lr = args.lr or (0.03 if args.quick else 0.01)
    B = backend(args.backend, args.device)
    dist = Distributed(B, args)                                   # torchrun --distributed: one process per device
    B.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    run = Run("visualize", args, write=dist.is_main)             # only rank 0 writes the run directory
    setup = imagenet_setup(args, B) if args.weights else trained_setup(args, B, dist)
    model, classes = setup["model"].eval(), setup["classes"]
    model.requires_grad_(False)                                   # only the input's gradient is wanted
    mean, std = np.asarray(setup["mean"], np.float32), np.asarray(setup["std"], np.float32)
    c = (1, -1, 1, 1)
    lo, hi = (-mean / std).reshape(c), ((1 - mean) / std).reshape(c)   # valid pixels [0, 1], normalised
    X, y = setup["X"], setup["y"]
    Xn = T.normalise(X, setup["mean"], setup["std"])
    run.note(f"data: {setup['description']}; weights: {setup['weights']}; backend {B.name}")
    if dist.enabled:
        run.note(f"{dist.world} processes (DDP): the network's steps as in one process; FGSM shared by the ranks; "
                 "saliency, fooling and class visualisation on rank 0")
    with B.no_grad():
        pred = B.to_numpy(model(B.tensor(Xn)).argmax(1))
    run.metrics["test_accuracy"] = float((pred == y).mean())

    # FGSM over a test set: under torchrun the ranks share the images (the rest is per image: rank 0 alone)
    eps = [0.0, 1 / 255, 2 / 255, 4 / 255, 8 / 255, 16 / 255]
    Xf, yf = (setup["test_X"], setup["test_y"]) if setup["test_X"] is not None else (X, y)
    acc = fgsm_curve(B, model, T.normalise(Xf, setup["mean"], setup["std"]), yf, eps, std.reshape(c), lo, hi, dist)
    if not dist.is_main:
        dist.close()
        return {"rank": dist.rank}
    plot_fgsm(run, eps, acc)
    for e, a in zip(eps, acc):
        run.metrics[f"fgsm_accuracy_eps_{round(e * 255)}"] = a

    n_show = 5
    sal = saliency(B, model, Xn[:n_show], y[:n_show])
    plot_saliency(run, X[:n_show], sal, [classes[i] for i in y[:n_show]])

    rows = []
    for i in tqdm(range(3), desc="fooling", leave=False):
        target = (int(pred[i]) + 1) % len(classes)
        adv, steps = fool(B, model, Xn[i:i + 1], target, max_iter=args.fool_max_iter)
        delta = (adv - Xn[i:i + 1]) * std.reshape(c)             # in pixel units ([0, 1] scale)
        rows.append(dict(orig=X[i], adv=(adv * std.reshape(c) + mean.reshape(c))[0], true=classes[y[i]],
                         target=classes[target], steps=steps, l2=float(np.linalg.norm(delta)),
                         linf=float(np.abs(delta).max())))
    plot_fooling(run, rows)
    ok = [r for r in rows if r["steps"] <= args.fool_max_iter]
    run.metrics.update(fooling_success_rate=len(ok) / len(rows),
                       fooling_mean_steps=float(np.mean([r["steps"] for r in ok])) if ok else None,
                       fooling_mean_l2=float(np.mean([r["l2"] for r in ok])) if ok else None,
                       fooling_mean_linf=float(np.mean([r["linf"] for r in ok])) if ok else None)

    side = X.shape[-1]
    iterations = args.iterations or (25 if args.quick else 200)
    jitter = max(1, round(16 * side / 224))                      # the course's 16 px at 224, scaled to the image
    targets = sorted(set(int(t) for t in y[:3]))
    vis = [class_visualisation(B, model, t, X.shape[1:], lo, hi, rng, iterations=iterations, max_jitter=jitter)[0]
           for t in tqdm(targets, desc="class visualisation", leave=False)]
    plot_class_vis(run, [v * std.reshape(-1, 1, 1) + mean.reshape(-1, 1, 1) for v in vis],
                   [classes[t] for t in targets])
    plot_activations(run, first_conv_maps(B, model, Xn))

    run.metrics.update(data=setup["description"], weights=setup["weights"], backend=B.name, images=len(y),
                       fgsm_images=len(yf), fgsm_eps_pixels=[round(e * 255) for e in eps], fgsm_accuracy=acc,
                       class_vis_iterations=iterations, class_vis_jitter=jitter, class_vis_l2=1e-3, class_vis_lr=5.0,
                       class_vis_blur_every=10, world_size=dist.world)
    run.note(f"accuracy on the shown images {run.metrics['test_accuracy']:.3f}; fooling flipped {len(ok)}/{len(rows)} "
             f"images; FGSM accuracy {acc[0]:.3f} -> {acc[-1]:.3f} at eps 16/255")
    run.note("Look at saliency.png (where the gradient is), fooling.png (how small the change is), fgsm.png, "
             "class_visualisation.png and activations.png.")
    metrics = run.finish("test_accuracy")
    dist.close()
    return metrics


if __name__ == "__main__":
    main()
