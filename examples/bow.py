"""Chapter: scene recognition with a bag of visual words (course homework 1, TME 1-2).

    python -m examples bow [--quick] [--data-dir ../shared/data] [--pyramid] [--words 1000]
    python -m examples bow --train-dir DIR [--test-dir DIR]

The pipeline, one stage per section below:

1. **Data**: 15-Scene as an image folder (``--data-dir`` with ``15scene/train`` [+ ``15scene/test``],
   or ``--train-dir``/``--test-dir``), or, by default and in ``--quick`` mode, the generated texture
   "scenes" of ``classical.images.make_scenes``. Without a test folder the images are split (seeded,
   stratified) into train / test; the training part is split again into train / validation.
2. **Dense SIFT** (``classical.sift``): a 128-d descriptor every 8 px; flat patches give 0.
3. **Visual dictionary**: k-means with k = 1000 words on 5 % of the non-zero training SIFTs, plus the
   null word (``classical.bow.build_dictionary``).
4. **Bag of words**: nearest word per patch, sum pooling, L2 normalisation. ``--pyramid`` uses
   Lazebnik et al.'s spatial pyramid instead (levels 0-2, weights 1/4, 1/4, 1/2, L1 normalisation,
   so that the intersection kernel is their pyramid match kernel) with their M = 200 words by
   default, and also runs the plain bag of the same words through the same SVM sweep, as the
   baseline (``plain_bow_val_accuracy``). On 15-Scene, 200 and 1000 words give the same pyramid
   accuracy on validation, and 200 makes 5x shorter vectors (21 x 201 = 4,221 features).
5. **SVM study** (``classical.svm.SVC``): for each kernel (linear, rbf, poly, sigmoid, intersection,
   chi2) and each training strategy (one-vs-one, one-vs-rest), a sweep of C, scored on the validation
   set. The kernel matrix does not depend on C: it is computed once per kernel and passed as
   ``kernel='precomputed'``. The best (kernel, strategy, C) on validation is refitted on train +
   validation and evaluated once on the test set.

SIFTs and the dictionary are cached in ``<run>/cache/``, keyed by their parameters and the image
list, so a second run starts at the bag of words. Unreadable images are reported and skipped.

What to look at: ``dictionary_words.png`` (do a word's patches look alike?), ``bow_words_on_image.png``
and ``bow_top_words.png`` (which words describe the image), ``svm_validation_vs_C.png`` (which kernel,
which C), ``confusion_matrix.png`` (which scenes get confused: the indoor ones).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from tqdm import tqdm

from classical.bow import BagOfWords, build_dictionary
from classical.bow_viz import plot_bow_histogram, plot_top_words, plot_word_examples, plot_words_on_image
from classical.images import list_image_folder, make_scenes, read_gray, read_images, stratified_split
from classical.sift import dense_sift_many, grid_positions
from classical.sift_viz import plot_patch_descriptor, plot_patch_grid
from classical.svm import SVC
from classical.svm_kernels import KERNELS, kernel_matrix, resolve_gamma
from examples._runner import Run, UserError, data_dir, make_parser

SIFT_PARAMS = {"step": 8, "patch_size": 16, "threshold": 0.5, "clamp": 0.2}
CACHE_VERSION = 1


# --------------------------------------------------------------------------- 1. data
@dataclass
class Data:
    """All the images of the run, one list, and which of them are train / val / test."""
    images: list[np.ndarray] | None   # None when the SIFTs come from the cache (read on demand)
    paths: list[str] | None           # None for generated images
    labels: np.ndarray                # (n,) int64
    classes: list[str]
    train: np.ndarray                 # indices into the lists above
    val: np.ndarray
    test: np.ndarray
    description: str
    key: str                          # identifies the image list, for the caches
    skipped: list[str]

    def image(self, i: int) -> np.ndarray:
        return self.images[i] if self.images is not None else read_gray(self.paths[i])


def _hash(obj: object) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:16]


def _file_key(paths: list[str]) -> str:
    """The image list's identity: every path with its size and modification time."""
    return _hash([(p, os.path.getsize(p), os.stat(p).st_mtime_ns) for p in paths])


def load_data(args: argparse.Namespace, run: Run) -> Data:
    """Find the images and split them (see the module docstring). Images are read later, with the SIFTs.

    The image list keeps the folders' order whatever the seed (so the SIFT cache serves every split):
    train folder first, then the test folder if there is one.
    """
    root = data_dir(args) if (not args.quick or args.data_dir) else None
    scene_root = root / "15scene" if root is not None else None
    if args.train_dir:
        train_dir, test_dir, source = Path(args.train_dir), args.test_dir and Path(args.test_dir), "image folders"
    elif scene_root is not None and (scene_root / "train").is_dir():
        train_dir, source = scene_root / "train", f"15-Scene ({scene_root})"
        test_dir = scene_root / "test" if (scene_root / "test").is_dir() else None
    else:
        return _generated(args)
    try:  # a missing or empty folder is the user's to fix: one message, no traceback
        paths, labels, classes = list_image_folder(train_dir)
        te_paths, te_labels, _ = list_image_folder(test_dir, classes) if test_dir else ([], None, None)
    except (FileNotFoundError, NotADirectoryError, ValueError) as e:
        raise UserError(f"{e}\nAn image folder holds one sub-folder per class: <folder>/<class>/*.jpg") from e
    if test_dir:
        rest, test = np.arange(len(paths)), np.arange(len(paths), len(paths) + len(te_paths))
        paths, labels = paths + te_paths, np.concatenate([labels, te_labels])
        note = f"test set = {test_dir}"
    else:
        rest, test = stratified_split(labels, 0.2, args.seed)
        note = (f"{train_dir} has no test folder beside it: a seeded (seed {args.seed}) stratified 20 % of it "
                "is held out as the test set")
    if args.quick:  # a small real subset: 8 train+val and 4 test images per class
        rng = np.random.default_rng(args.seed)
        keep = lambda idx, n: np.sort(np.concatenate(
            [rng.permutation(idx[labels[idx] == c])[:n] for c in np.unique(labels[idx])]))
        rest, test = keep(rest, 8), keep(test, 4)
        note += "; --quick: 8 train+val and 4 test images per class"
    a, b = stratified_split(labels[rest], 0.25, args.seed)  # 25 % of the training images validate
    run.note(f"split: {note}; 25 % of the remaining training images (stratified, seed {args.seed}) "
             "are the validation set")
    return Data(None, paths, labels, classes, rest[a], rest[b], test,
                f"{source}: {len(a)} train / {len(b)} val / {len(test)} test images, {len(classes)} classes "
                f"({note})", _file_key(paths), [])


# generated scenes: noise and clutter (another class's texture blended in) keep the task from being
# trivially separable, so that the kernel/C sweep has something to show
NOISE, CLUTTER = 12.0, 0.8


def _generated(args: argparse.Namespace) -> Data:
    per_class, size = (16, 96) if args.quick else (40, 128)
    images, labels, classes = make_scenes(per_class, size, seed=args.seed, noise=NOISE, clutter=CLUTTER)
    rest, test = stratified_split(labels, 0.25, args.seed)
    a, b = stratified_split(labels[rest], 1 / 3, args.seed)
    return Data(images, None, labels, classes, rest[a], rest[b], test,
                f"generated scenes (classical.images.make_scenes: {len(classes)} texture classes, clutter {CLUTTER}, "
                f"{per_class} images of {size}x{size} each; 50/25/25 train/val/test)",
                _hash(["make_scenes", per_class, size, args.seed, NOISE, CLUTTER]), [])


# --------------------------------------------------------------------------- 2. dense SIFT (cached)
def sifts(data: Data, cache: Path) -> list[np.ndarray]:
    """Dense SIFT grids (n_y, n_x, 128) float32 of every image, from the cache when it has them."""
    path = cache / f"sift_{_hash([CACHE_VERSION, data.key, SIFT_PARAMS])}.npz"
    cached = _load_cache(path, ("descriptors", "grids", "kept", "skipped"))
    if cached is not None:
        flat, grids, kept, skipped = cached[0], cached[1], cached[2], list(cached[3])
        print(f"SIFTs from the cache: {path}")
    else:
        if data.images is None:   # read the files, skipping (and reporting) the unreadable ones
            images, kept, skipped = read_images(data.paths, progress=True)
        else:
            images, kept, skipped = data.images, np.arange(len(data.images)), []
        grids_list = dense_sift_many(images, progress=True, step=SIFT_PARAMS["step"],
                                     patch_size=SIFT_PARAMS["patch_size"], threshold=SIFT_PARAMS["threshold"],
                                     clamp=SIFT_PARAMS["clamp"])
        flat = np.concatenate([g.reshape(-1, 128) for g in grids_list]).astype(np.float32)
        grids = np.array([g.shape[:2] for g in grids_list], np.int64)
        _save_cache(path, descriptors=flat, grids=grids, kept=np.asarray(kept, np.int64),
                    skipped=np.array(skipped, dtype=str))
        if data.images is None:
            data.images = [None] * len(data.paths)
            for i, im in zip(kept, images):
                data.images[i] = im
    data.skipped = skipped
    out: list[np.ndarray | None] = [None] * len(data.labels)
    offsets = np.concatenate([[0], np.cumsum(grids[:, 0] * grids[:, 1])])
    for r, i in enumerate(kept):
        out[i] = flat[offsets[r]:offsets[r + 1]].reshape(grids[r, 0], grids[r, 1], 128)
    if skipped:  # drop the unreadable images from the splits
        ok = np.array([o is not None for o in out])
        data.train, data.val, data.test = (s[ok[s]] for s in (data.train, data.val, data.test))
    return out


# --------------------------------------------------------------------------- 3. dictionary (cached)
def dictionary(grids: list[np.ndarray], data: Data, k: int, seed: int, cache: Path) -> np.ndarray:
    params = [CACHE_VERSION, data.key, SIFT_PARAMS, data.train.tolist(), k, 0.05, seed]
    path = cache / f"dictionary_{_hash(params)}.npz"
    cached = _load_cache(path, ("words",))
    if cached is not None:
        print(f"dictionary from the cache: {path}")
        return cached[0]
    n_nonzero = sum(int(np.any(grids[i] != 0, axis=2).sum()) for i in data.train)
    print(f"visual dictionary: k-means (k={k}, k-means++) on 5 % of the {n_nonzero} non-zero training SIFTs, "
          "+ the null word")
    words = build_dictionary([grids[i] for i in data.train], k=k, fraction=0.05, seed=seed)
    _save_cache(path, words=words)
    return words


def _load_cache(path: Path, keys: tuple[str, ...]) -> list[np.ndarray] | None:
    """The arrays of a cache file, or None if it is missing or unreadable (then it is recomputed)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return [z[k] for k in keys]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:  # corrupt: say so, recompute
        print(f"ignoring unreadable cache file {path}: {e}")
        return None


def _save_cache(path: Path, **arrays: np.ndarray) -> None:
    """Write atomically (temporary file, then rename): an interrupted run leaves no half-written cache."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)


# --------------------------------------------------------------------------- 5. SVM study
def svm_study(X: dict[str, np.ndarray], y: dict[str, np.ndarray], C_grid: np.ndarray
              ) -> tuple[dict[tuple[str, str], list[float]], dict[str, float]]:
    """Validation accuracy for every (kernel, strategy, C). Returns it and each kernel's gamma."""
    scores: dict[tuple[str, str], list[float]] = {}
    gammas: dict[str, float] = {}
    bar = tqdm(total=len(KERNELS) * 2 * len(C_grid), desc="SVM sweep", unit="fit")
    for kernel in KERNELS:
        gammas[kernel] = resolve_gamma("scale", X["train"], kernel)
        K_tr = kernel_matrix(X["train"], X["train"], kernel, gammas[kernel])
        K_va = kernel_matrix(X["val"], X["train"], kernel, gammas[kernel])
        for strategy in ("ovo", "ovr"):
            accs = []
            for C in C_grid:
                clf = SVC(C=float(C), kernel="precomputed", multiclass=strategy).fit(K_tr, y["train"])
                accs.append(float((clf.predict(K_va) == y["val"]).mean()))
                bar.update()
            scores[(kernel, strategy)] = accs
    bar.close()
    return scores, gammas


def plot_sweep(scores: dict[tuple[str, str], list[float]], C_grid: np.ndarray) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    colors = dict(zip(KERNELS, plt.get_cmap("tab10").colors))
    for (kernel, strategy), accs in scores.items():
        ax.semilogx(C_grid, accs, "-o" if strategy == "ovo" else "--s", color=colors[kernel], ms=4,
                    label=f"{kernel} ({strategy})")
    ax.set_xlabel("C")
    ax.set_ylabel("validation accuracy")
    ax.set_title("SVM on bags of words: validation accuracy vs C (solid: one-vs-one, dashed: one-vs-rest)",
                 fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_confusion(y_true: np.ndarray, y_pred: np.ndarray, classes: list[str]) -> plt.Figure:
    n = len(classes)
    M = np.bincount(y_true * n + y_pred, minlength=n * n).reshape(n, n)
    rates = M / np.maximum(M.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for (i, j), m in np.ndenumerate(M):
        if m:
            ax.text(j, i, str(m), ha="center", va="center", fontsize=7, color="white" if rates[i, j] > 0.5 else "black")
    ax.set_xticks(range(n), classes, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(n), classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"test confusion matrix (accuracy {np.trace(M) / M.sum():.3f})", fontsize=10)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- the chapter
def main(argv: list[str] | None = None) -> dict:
    p = make_parser("bow", __doc__.split("\n\n")[0])
    p.add_argument("--pyramid", action="store_true", help="spatial pyramid, levels 0-2 (Lazebnik et al. 2006)")
    p.add_argument("--words", type=int, default=None,
                   help="dictionary size k (default 1000, the course's; 200 with --pyramid, Lazebnik et al.'s; "
                        "100 with --quick; 48 on generated data)")
    args = p.parse_args(argv)
    run = Run("bow", args)
    cache = run.path / "cache"
    t: dict[str, float] = {}

    # 1. data --------------------------------------------------------------------------------
    t0 = time.perf_counter()
    data = load_data(args, run)
    run.note(f"data: {data.description}")

    # 2. dense SIFT --------------------------------------------------------------------------
    grids = sifts(data, cache)
    t["sift_s"] = time.perf_counter() - t0
    if data.skipped:
        run.note(f"skipped {len(data.skipped)} unreadable image(s): {', '.join(data.skipped)}")
    demo = int(data.train[0])
    img = data.image(demo)
    run.savefig(plot_patch_grid(img), "sift_grid",
                caption="The dense grid: a 16x16 patch every 8 pixels; each gives one 128-d SIFT descriptor.")
    # the patch with the most peaked descriptor: one dominant orientation, easy to read
    i, j = np.unravel_index(np.argmax(grids[demo].max(axis=2)), grids[demo].shape[:2])
    run.savefig(plot_patch_descriptor(img, (int(i), int(j))), "sift_patch",
                caption="One patch: its gradient field, the masked magnitudes, and the descriptor as a rose of 8 "
                "orientations per 4x4-pixel cell; the long arrows follow the patch's dominant edge.")

    # 3. visual dictionary ---------------------------------------------------------------------
    t0 = time.perf_counter()
    generated = data.paths is None
    k = args.words or (48 if generated else 100 if args.quick else 200 if args.pyramid else 1000)
    words = dictionary(grids, data, k, args.seed, cache)
    t["dictionary_s"] = time.perf_counter() - t0
    null = k  # the null word is the last one

    # 4. bag of words --------------------------------------------------------------------------
    t0 = time.perf_counter()
    levels = 2 if args.pyramid else 0
    bow = BagOfWords(words, pyramid_levels=levels, norm="l1" if args.pyramid else "l2").fit(None)
    X = {s: bow.transform([grids[i] for i in getattr(data, s)]) for s in ("train", "val", "test")}
    y = {s: data.labels[getattr(data, s)] for s in ("train", "val", "test")}
    t["bow_s"] = time.perf_counter() - t0
    plain = BagOfWords(words).fit(None)
    demo_words = plain.assign(grids[demo].reshape(-1, 128)).reshape(grids[demo].shape[:2])
    pos = grid_positions(img.shape, SIFT_PARAMS["step"], SIFT_PARAMS["patch_size"])
    run.savefig(plot_words_on_image(img, demo_words, pos, n_words=k + 1, null_word=null), "bow_words_on_image",
                caption="Each patch coloured by its visual word: similar textures share a colour; flat patches "
                "(the null word) stay uncoloured.")
    run.savefig(plot_bow_histogram(plain.transform([grids[demo]])[0], null_word=null,
                                   title=f"'{data.classes[data.labels[demo]]}' image"), "bow_histogram",
                caption="The image's bag of words (null word in grey): how often each word occurs. "
                "This vector is all the SVM sees of the image.")
    run.savefig(plot_top_words(img, demo_words, pos, null_word=null), "bow_top_words",
                caption="The image's most frequent words (one row each) shown by its patches: a word is a kind "
                "of local texture, not an object part.")
    # Words of the dictionary, shown by the patches closest to them. The most frequent words of all
    # are the border ones (the step from the image to the zero padding); the figure shows the most
    # frequent words of the image interiors (grid without its outer ring), ~60 training images.
    sample = [int(s) for s in data.train[:: max(1, len(data.train) // 60)]]
    sample_images = [data.image(s) for s in sample]
    inner = [grids[s][1:-1, 1:-1] for s in sample]
    inner_pos = [grid_positions(im.shape, SIFT_PARAMS["step"], SIFT_PARAMS["patch_size"])[1:-1, 1:-1]
                 for im in sample_images]
    sample_words = plain.assign(np.concatenate([g.reshape(-1, 128) for g in inner]))
    frequent = [w for w in np.argsort(np.bincount(sample_words, minlength=k + 1))[::-1] if w != null][:8]
    run.savefig(plot_word_examples(sample_images, inner, inner_pos, words, frequent), "dictionary_words",
                caption="Frequent words, each shown by the training patches closest to it: each row should look alike.")

    # 5. SVM study: C swept per kernel and strategy, chosen on validation ----------------------
    t0 = time.perf_counter()
    C_grid = np.logspace(-1, 2, 4) if args.quick else np.logspace(-2, 3, 6)
    scores, gammas = svm_study(X, y, C_grid)
    if args.pyramid:  # the baseline: plain bags of the same words, same sweep
        X_plain = {s: plain.transform([grids[i] for i in getattr(data, s)]) for s in ("train", "val", "test")}
        plain_val = max(max(a) for a in svm_study(X_plain, y, C_grid)[0].values())
    t["svm_sweep_s"] = time.perf_counter() - t0
    (kernel, strategy), accs = max(scores.items(), key=lambda kv: max(kv[1]))
    best_C = float(C_grid[int(np.argmax(accs))])
    run.savefig(plot_sweep(scores, C_grid), "svm_validation_vs_C",
                caption="Validation accuracy against C per kernel (solid one-vs-one, dashed one-vs-rest): the "
                "chosen model is the highest point; the test set is used once, afterwards.")

    t0 = time.perf_counter()   # refit on train + validation, evaluate once on the test set
    X_fit, y_fit = np.vstack([X["train"], X["val"]]), np.concatenate([y["train"], y["val"]])
    final = SVC(C=best_C, kernel=kernel, gamma=gammas[kernel], multiclass=strategy).fit(X_fit, y_fit)
    pred = final.predict(X["test"])
    test_acc = float((pred == y["test"]).mean())
    t["final_fit_test_s"] = time.perf_counter() - t0
    run.savefig(plot_confusion(y["test"], pred, data.classes), "confusion_matrix",
                caption="Test confusion matrix of the chosen SVM: which scene classes are confused with which.")

    run.metrics.update({
        "data": data.description, "n_train": len(data.train), "n_val": len(data.val), "n_test": len(data.test),
        "n_skipped_images": len(data.skipped), "n_words": k, "null_word": True, "pyramid": args.pyramid,
        "pyramid_levels": levels, "bow_norm": bow.norm, "n_features": bow.n_features_out_,
        "val_accuracy": max(accs), "test_accuracy": test_acc, "best_kernel": kernel,
        "best_strategy": strategy, "best_C": best_C, "best_gamma": gammas[kernel],
        "val_accuracy_by_kernel": {f"{kr}_{st}": max(a) for (kr, st), a in scores.items()},
        "C_grid": C_grid.tolist(), **{f"time_{s}": round(v, 2) for s, v in t.items()},
    })
    if args.pyramid:
        run.metrics["plain_bow_val_accuracy"] = plain_val
        run.note(f"same {k} words without the pyramid: best validation accuracy {plain_val:.3f} "
                 f"(pyramid: {max(accs):.3f})")
    run.note(f"best on validation: {kernel} kernel, {strategy}, C={best_C:g} (val accuracy {max(accs):.3f}); "
             f"refitted on train+val, test accuracy {test_acc:.3f} (test set used once)")
    run.note("stage timings (s): " + ", ".join(f"{s[:-2]} {v:.1f}" for s, v in t.items()))
    return run.finish("test_accuracy")


if __name__ == "__main__":
    main()
