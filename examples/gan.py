"""Chapter 3-d: generative adversarial networks: DCGAN and conditional DCGAN on MNIST.

    python -m examples gan --quick                           # embedded 8x8 digits, upscaled to 32x32
    python -m examples gan --data-dir ../shared/data         # MNIST at 32x32
    python -m examples gan --data-dir ../shared/data --conditional
    python -m examples gan ... --loss saturating --default-init --ngf 64 --ndf 16 --nz 10 --lr-g 2e-4
    torchrun --standalone --nproc_per_node 2 -m examples gan --backend torch --distributed ...

``--distributed`` (examples/_distributed.py): G and D are both DDP replicas; every rank draws the same
global batch, noise and fake labels and takes its share of each, the summed losses scaled so that the
averaged gradients of the D step and of the G step are the one-process ones (batch norm aside: each CPU
process normalises its share with its own statistics; SyncBatchNorm on GPUs); rank 0 alone draws the
figures, trains the LeNet judge and computes the metrics (tests/test_ddp_gan.py).

A generator G maps noise z ~ N(0, I) to images; a discriminator D outputs P(real). They play

    min_G max_D  E_x[log D(x)] + E_z[log(1 - D(G(z)))]

D takes one Adam step on the binary cross-entropy of a real batch (label 1) and a fake batch (label 0);
then G takes one step. The minimax ("saturating") generator loss is log(1 - D(G(z))): when D wins early
(D(G(z)) ~ 0) its gradient vanishes. The non-saturating loss -log D(G(z)) (the default, as in the course)
has the same fixed point and strong gradients exactly then. Both are the BCE of D(G(z)): against label 1
(non-saturating) or minus the BCE against label 0 (saturating).

Settings (the course's, DESIGN.md section 6): images 32x32 scaled to [-1, 1] (G ends in tanh), nz 100,
ngf = ndf = 32, Adam(beta1 = 0.5), lr_D 2e-4, lr_G 5e-4, weights N(0, 0.02). ``--conditional`` feeds a
one-hot label to both networks (``minidl.models.gan``) and draws a grid of every class x fixed noise.

Measured quality, not only pictures: a LeNet is trained on the real training images, then
- ``conditional_accuracy``: how often it reads the requested digit in 1,000 generated samples;
- ``frechet_lenet``: the Frechet distance between Gaussians fitted to its penultimate (84-d) features of
  generated and of real test images,  |mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))  (FID with LeNet
  in place of Inception), next to ``frechet_lenet_real_halves``, the same distance between two halves of
  the real test images: the floor a perfect generator would reach with this many samples.

Data: only the official 10,000 MNIST *test* images are in the shared data: the GAN and the LeNet train
on a seeded stratified 80 % split of them and the 20 % rest is the "real" reference (the run says so).

Measured (``--conditional``, the defaults: batch 32, 8 epochs = 2,000 iterations, ``--backend torch`` on
a shared 2-core AMD EPYC): conditional accuracy 0.948 (LeNet judge 0.962 on real test images), Frechet
distance 3.80 against 2.00 between two random halves of the real reference; 5 epochs at batch 64 (625
iterations) gave only 0.83. The same command on the minidl backend (1 thread, a machine loaded by 4 other
jobs): conditional accuracy 0.927 (judge 0.958), Frechet distance 3.11 against 1.02 between the real halves
(its own judge's features: not directly comparable with torch's figures), 27 min of training.
Time per iteration (unconditional D step + G step, batch 32, real MNIST, 1 thread, process CPU time, min of
3 interleaved chunks of 20 / 50 iterations): minidl 0.090 s, torch 0.056 s (1.6x), i.e. ~23 s vs ~14 s of
CPU per 250-iteration epoch (extrapolated, not a timed epoch); wall clock under that load was 4-5x more.
Two threads could not be measured on the shared 2-core machine (slower than one: the threads wait for
the cores the other jobs hold).
"""
from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
from tqdm import tqdm

from examples._distributed import Distributed
from examples._gan_figures import plot_class_grid, plot_interpolation, plot_losses, plot_snapshots
from examples._runner import Run, UserError, data_dir, make_parser, open_dataset
from minidl.data import MNIST, load_digits, stratified_split
from minidl.data.transforms import functional as TF
from minidl.interop import Backend, backend
from minidl.models import lenet
from minidl.models.gan import d_step, dcgan_init_, discriminator, g_step, generator, generator_input


# --------------------------------------------------------------------------- 1. data: (N, 1, 32, 32) in [-1, 1]
def load_data(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    root = data_dir(args)
    if args.quick or root is None:
        X, y = load_digits()                                    # (1797, 1, 8, 8) in [0, 1]
        tr, te = stratified_split(y, 0.25, seed=args.seed)
        desc = "scikit-learn digits (8x8, resized to 32x32), seeded stratified 75/25 split"
    else:
        mnist_root = root / "mnist" if (root / "mnist").is_dir() else root
        test = open_dataset(args, MNIST, mnist_root, train=False)   # user errors (missing/corrupt files) named
        X, y = test.data[:, None].astype(np.float32) / 255, test.targets
        tr, te = stratified_split(y, 0.2, seed=args.seed)
        desc = (f"MNIST from {mnist_root} at 32x32: the official training images are absent, so a seeded "
                f"stratified 80/20 split of the 10,000 official TEST images ({len(tr)} to train / {len(te)} real "
                "reference)")
    X = (TF.resize(X, 32) * 2 - 1).astype(np.float32)          # bilinear to 32x32, then [0, 1] -> [-1, 1]
    return X[tr], y[tr], X[te], y[te], desc


# --------------------------------------------------------------------------- 2. one D step, one G step
def one_hot(B: Backend, y: np.ndarray | None, k: int) -> Any:
    return None if y is None or k == 0 else B.tensor(np.eye(k, dtype=np.float32)[y])


# The D step and the G step (the derivation of both losses is in their docstrings) are in
# minidl.models.gan (d_step, g_step), shared with the parity suite that checks them against torch.


def build(B: Backend, args: argparse.Namespace, k: int, dist: Distributed | None = None) -> tuple[Any, Any, Any, Any]:
    """G, D (DDP replicas under ``--distributed``: the same seed gives every rank the same weights) and
    their Adam optimisers."""
    B.manual_seed(args.seed)
    G = generator(B.nn, nz=args.nz, ngf=args.ngf, n_classes=k)
    D = discriminator(B.nn, ndf=args.ndf, n_classes=k)
    if not args.default_init:
        dcgan_init_(G, B.nn)
        dcgan_init_(D, B.nn)
    G, D = B.model_to(G), B.model_to(D)
    if dist is not None:
        G, D = dist.wrap(G), dist.wrap(D)
    opt_g = B.optim.Adam(G.parameters(), lr=args.lr_g, betas=(0.5, 0.999))
    opt_d = B.optim.Adam(D.parameters(), lr=args.lr_d, betas=(0.5, 0.999))
    return G, D, opt_g, opt_d


def generate(B: Backend, G: Any, z: np.ndarray, labels: np.ndarray | None, k: int, batch: int = 250) -> np.ndarray:
    """Images (N, 1, 32, 32) in [-1, 1] from the noise ``z: (N, nz)`` (and labels), G in eval mode."""
    G.eval()
    with B.no_grad():
        out = [B.to_numpy(G(generator_input(B.lib, B.tensor(z[i:i + batch]),
                                            one_hot(B, None if labels is None else labels[i:i + batch], k))))
               for i in range(0, len(z), batch)]
    G.train()
    return np.concatenate(out)


def train_epoch(B: Backend, dist: Distributed, nets: tuple[Any, Any, Any, Any], X: np.ndarray, y: np.ndarray,
                args: argparse.Namespace, rng: np.random.Generator, k: int, global_batch: int,
                hist: dict[str, list[float]], after_iteration: Any = None, desc: str = "epoch") -> None:
    """One pass over X in global batches of ``global_batch`` (an incomplete last batch is dropped).

    Every rank draws the same permutation, noise and fake labels from the same ``rng`` (the one-process
    draws, for the whole global batch) and keeps its share (``dist.local``); the losses are summed over
    the share and scaled by ``dist.loss_scale``. So DDP's averaged gradients are the one-process ones,
    except for batch norm on CPU ranks (local statistics). The logged numbers are the global batch's
    means: the ranks' share means, weighted by the shares' sizes and summed over the ranks."""
    G, D, opt_g, opt_d = nets
    order, n_batches = rng.permutation(len(X)), len(X) // global_batch
    local_logs = np.zeros((n_batches, 5))
    keys = ("loss_d", "loss_g", "d_x", "d_g_z1", "d_g_z2")
    for b in tqdm(range(n_batches), desc=desc, unit="it", leave=False, disable=not dist.is_main):
        idx = order[b * global_batch:(b + 1) * global_batch]
        mine = dist.local(np.arange(len(idx)))                 # this rank's positions in the global batch
        z = rng.standard_normal((len(idx), args.nz)).astype(X.dtype)[mine]
        fake_labels = rng.integers(0, 10, len(idx))[mine] if k else None
        scale = dist.loss_scale(len(idx))
        fake, logs = d_step(B, G, D, opt_d, B.tensor(X[idx[mine]]), B.tensor(z),
                            one_hot(B, y[idx[mine]] if k else None, k), one_hot(B, fake_labels, k), scale=scale)
        logs.update(g_step(B, D, opt_g, fake, one_hot(B, fake_labels, k), saturating=args.loss == "saturating",
                           scale=scale))
        local_logs[b] = [logs[key] * len(mine) / len(idx) for key in keys]
        if after_iteration is not None:
            after_iteration()
    for key, col in zip(keys, dist.sum_array(local_logs).T):  # one all-reduce per epoch, not per step
        hist[key].extend(col.tolist())


def train(B: Backend, args: argparse.Namespace, X: np.ndarray, y: np.ndarray, dist: Distributed) -> dict[str, Any]:
    k = 10 if args.conditional else 0
    G, D, opt_g, opt_d = build(B, args, k, dist)
    rng = np.random.default_rng(args.seed)
    fixed_z = rng.standard_normal((80, args.nz)).astype(np.float32)      # the same noise at every snapshot
    fixed_labels = np.tile(np.arange(10), 8) if k else None
    hist: dict[str, list[float]] = {k_: [] for k_ in ("loss_d", "loss_g", "d_x", "d_g_z1", "d_g_z2")}
    snapshots: list[tuple[str, np.ndarray]] = []
    n_batches = len(X) // args.global_batch_size
    snap_at = {max(1, round(f * args.epochs * n_batches)) for f in (0.1, 0.4, 1.0)}
    t0, epoch_seconds, it = time.perf_counter(), [], [0]

    def after_iteration() -> None:                             # rank 0 draws the fixed-noise grids
        it[0] += 1
        if it[0] in snap_at and dist.is_main:
            snapshots.append((f"iteration {it[0]}", generate(B, dist.unwrap(G), fixed_z, fixed_labels, k)))

    for epoch in range(args.epochs):
        te = time.perf_counter()
        train_epoch(B, dist, (G, D, opt_g, opt_d), X, y, args, rng, k, args.global_batch_size, hist,
                    after_iteration, desc=f"epoch {epoch + 1}/{args.epochs}")
        epoch_seconds.append(time.perf_counter() - te)
        if dist.is_main:
            tqdm.write(f"epoch {epoch + 1}: loss D {np.mean(hist['loss_d'][-n_batches:]):.3f}, loss G "
                       f"{np.mean(hist['loss_g'][-n_batches:]):.3f}, D(x) {np.mean(hist['d_x'][-n_batches:]):.2f}, "
                       f"D(G(z)) {np.mean(hist['d_g_z1'][-n_batches:]):.2f} ({epoch_seconds[-1]:.1f} s)")
    return dict(G=dist.unwrap(G), D=dist.unwrap(D), history=hist, snapshots=snapshots, k=k,
                seconds=time.perf_counter() - t0, epoch_seconds=epoch_seconds, iterations=it[0])


# --------------------------------------------------------------------------- 3. measuring quality with a LeNet
def train_classifier(B: Backend, args: argparse.Namespace, X: np.ndarray, y: np.ndarray) -> Any:
    """The course's LeNet on the real training images (momentum SGD): the judge of the samples."""
    B.manual_seed(args.seed)
    model = B.model_to(lenet(B.nn, image_size=32))
    opt = B.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    ce, rng = B.nn.CrossEntropyLoss(), np.random.default_rng(args.seed + 7)
    for _ in tqdm(range(args.classifier_epochs), desc="LeNet judge", unit="epoch", leave=False):
        order = rng.permutation(len(X))
        for s in range(0, len(X), 64):
            idx = order[s:s + 64]
            loss = ce(model(B.tensor(X[idx])), B.tensor(y[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    return model


def lenet_outputs(B: Backend, model: Any, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(penultimate features (N, 84), predicted classes (N,)) of the LeNet."""
    feats, preds = [], []
    with B.no_grad():
        for s in range(0, len(X), 500):
            h = B.tensor(X[s:s + 500])
            for name, layer in model.named_children():
                if name == "fc5":
                    preds.append(B.to_numpy(layer(h).argmax(dim=1)))
                    break
                h = layer(h)
            feats.append(B.to_numpy(h).astype(np.float64))
    return np.concatenate(feats), np.concatenate(preds)


def frechet(f1: np.ndarray, f2: np.ndarray) -> float:
    """Frechet distance between N(mu1, S1) and N(mu2, S2) fitted to two feature sets (rows = samples):

        |mu1 - mu2|^2 + Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^(1/2))

    Tr((S1 S2)^(1/2)) = Tr((S1^(1/2) S2 S1^(1/2))^(1/2)), and the matrix inside is symmetric PSD: its
    square root's trace is the sum of the square roots of its eigenvalues. This form stays real and stable
    when a covariance is singular (dead ReLU units give zero rows), where sqrtm(S1 S2) warns."""
    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    w, V = np.linalg.eigh(s1)
    r1 = (V * np.sqrt(np.clip(w, 0, None))) @ V.T
    tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh(r1 @ s2 @ r1), 0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr_covmean)


# --------------------------------------------------------------------------- the chapter
def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = make_parser("gan", "Chapter 3-d: DCGAN and conditional DCGAN on MNIST")
    p.add_argument("--conditional", action="store_true", help="one-hot labels to G and D")
    p.add_argument("--epochs", type=int, default=None, help="default 8 (2 with --quick)")
    p.add_argument("--batch-size", type=int, default=None, help="default 32")
    p.add_argument("--nz", type=int, default=100)
    p.add_argument("--ngf", type=int, default=None, help="default 32 (8 with --quick)")
    p.add_argument("--ndf", type=int, default=None, help="default 32 (8 with --quick)")
    p.add_argument("--lr-d", type=float, default=2e-4)
    p.add_argument("--lr-g", type=float, default=5e-4)
    p.add_argument("--loss", choices=["nonsaturating", "saturating"], default="nonsaturating")
    p.add_argument("--default-init", action="store_true", help="keep the layers' default init, not N(0, 0.02)")
    p.add_argument("--classifier-epochs", type=int, default=None, help="LeNet judge (default 3; 6 with --quick)")
    p.add_argument("--samples", type=int, default=1000, help="generated samples scored by the LeNet")
    args = p.parse_args(argv)
    for key, full, quick in (("epochs", 8, 2), ("batch_size", 32, 32), ("ngf", 32, 8), ("ndf", 32, 8),
                             ("classifier_epochs", 3, 6)):
        if getattr(args, key) is None:
            setattr(args, key, quick if args.quick else full)
    for key in ("epochs", "batch_size", "nz", "ngf", "ndf", "samples"):
        if getattr(args, key) < 1:
            raise UserError(f"--{key.replace('_', '-')} must be positive, got {getattr(args, key)}")
    B = backend(args.backend, args.device)
    dist = Distributed(B, args)                                # torchrun --distributed: joins the process group
    args.global_batch_size, args.lr_d = dist.global_batch_and_lr(args.batch_size, args.lr_d)
    _, args.lr_g = dist.global_batch_and_lr(args.batch_size, args.lr_g)
    run = Run("gan", args, write=dist.is_main)                # only rank 0 writes the run directory
    Xtr, ytr, Xte, yte, desc = load_data(args)
    if len(Xtr) < args.global_batch_size:
        raise UserError(f"the global batch ({args.global_batch_size}) is larger than the {len(Xtr)} training images")
    if args.global_batch_size < dist.world:
        raise UserError(f"--batch-size {args.batch_size} gives some of the {dist.world} processes no sample")
    run.note(f"data: {desc}; backend {B.name}; {'conditional ' if args.conditional else ''}DCGAN nz={args.nz} "
             f"ngf={args.ngf} ndf={args.ndf}, {args.loss} G loss, "
             f"{'default' if args.default_init else 'N(0, 0.02)'} init")
    if dist.enabled:
        run.note(f"{dist.world} processes (DDP, G and D): global batch {args.global_batch_size}, lr_D {args.lr_d:g}, "
                 f"lr_G {args.lr_g:g}" + (" (linear scaling rule, --scale-lr)" if dist.scale_lr else
                                          " (as in one process)")
                 + ("; batch norm uses each process's own share's statistics (no SyncBatchNorm on CPU)"
                    if not B.is_cuda else "; SyncBatchNorm") + "; figures, judge and metrics by rank 0")

    res = train(B, args, Xtr, ytr, dist)
    if not dist.is_main:                                       # the other ranks only helped to train
        run.metrics.update(data=desc, iterations=res["iterations"])
        dist.close()
        return run.finish("iterations")
    plot_snapshots(run, res)
    plot_losses(run, res["history"])
    def sample(z: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
        return generate(B, res["G"], z, labels, res["k"])
    plot_interpolation(run, args, sample, res["k"])
    if res["k"]:
        plot_class_grid(run, args, sample)

    judge = train_classifier(B, args, Xtr, ytr)
    f_real, pred_real = lenet_outputs(B, judge, Xte)
    # two random halves of the real reference (the MNIST test file is ordered by writer group: the first
    # 5,000 are Census employees, the rest students, so halves by index would differ in style)
    perm = np.random.default_rng(args.seed + 6).permutation(len(Xte))
    half1, half2 = perm[:len(perm) // 2], perm[len(perm) // 2:]
    n = min(args.samples, len(half1))
    labels = np.arange(n) % 10
    fake = generate(B, res["G"], np.random.default_rng(args.seed + 5).standard_normal((n, args.nz)).astype(np.float32),
                    labels if res["k"] else None, res["k"])
    f_fake, pred_fake = lenet_outputs(B, judge, fake)
    h = res["history"]
    run.metrics.update(
        data=desc, backend=B.name, conditional=args.conditional, epochs=args.epochs, iterations=res["iterations"],
        batch_size=args.batch_size, world_size=dist.world, global_batch_size=args.global_batch_size, nz=args.nz, ngf=args.ngf, ndf=args.ndf, lr_d=args.lr_d, lr_g=args.lr_g,
        loss=args.loss, init="default" if args.default_init else "normal_0.02",
        classifier_test_accuracy=float((pred_real == yte).mean()),
        frechet_lenet=frechet(f_fake, f_real[half1[:n]]),
        frechet_lenet_real_halves=frechet(f_real[half1[:n]], f_real[half2[:n]]), frechet_samples=n,
        generated_class_histogram=np.bincount(pred_fake, minlength=10).tolist(),
        final_d_x=float(np.mean(h["d_x"][-20:])), final_d_g_z=float(np.mean(h["d_g_z1"][-20:])),
        train_seconds=round(res["seconds"], 1), seconds_per_epoch=round(float(np.mean(res["epoch_seconds"])), 2),
        seconds_per_iteration=round(res["seconds"] / max(res["iterations"], 1), 4))
    if res["k"]:
        run.metrics["conditional_accuracy"] = float((pred_fake == labels).mean())
    headline = "conditional_accuracy" if res["k"] else "frechet_lenet"
    run.note(f"LeNet judge: {run.metrics['classifier_test_accuracy']:.3f} on real test images; Frechet distance in "
             f"its features: generated {run.metrics['frechet_lenet']:.2f} vs real-vs-real "
             f"{run.metrics['frechet_lenet_real_halves']:.2f}"
             + (f"; conditional accuracy {run.metrics['conditional_accuracy']:.3f}" if res["k"] else "")
             + f"; {run.metrics['seconds_per_epoch']} s per epoch ({B.name})")
    metrics = run.finish(headline)
    dist.close()                                               # the other ranks wait here for rank 0
    return metrics


if __name__ == "__main__":
    main()
