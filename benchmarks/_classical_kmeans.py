"""KMeans (classical.kmeans) vs sklearn.cluster.KMeans on SIFT-like descriptors.

The issue's setting: 100,000 x 128 descriptors, k = 1000, k-means++ initialisation (the greedy variant
with 2 + ln k local trials, both libraries), n_init = 1, max_iter = 20 and tol = 0 so that both run
exactly 20 Lloyd iterations. Target: ours no slower than scikit-learn.

The time is split in two: the k-means++ seeding (``kmeans_plusplus`` of each library, same
``random_state``) and the Lloyd iterations (``KMeans(init=<those seeds>)``); the total is their sum.
Runs alternate (ours, sklearn, ours, ...) and medians are reported, as wall time (the target) and as
CPU time of the process (steadier when other processes share the cores). Both libraries get the same
thread count: BLAS and OpenMP through threadpoolctl, Numba through ``numba.set_num_threads``.

Two data types: float64 (``dense_sift``'s output; the headline) and float32 (how the chapter stores
SIFTs; one run, because scikit-learn's seeding is much slower on float32). The descriptors are
non-negative, clustered around 3,000 prototype gradient patterns, L2-normalised, clamped at 0.2 and
L2-normalised again, like the course's SIFT.
"""
from __future__ import annotations

import os
import statistics
import time

import numpy as np


def sift_like(n: int, *, n_prototypes: int = 3000, seed: int = 0, dtype=np.float32) -> np.ndarray:
    """(n, 128) SIFT-like descriptors: 4x4 cells x 8 orientation bins, post-processed like SIFT.

    Each prototype pattern has a dominant orientation; each of its 16 cells a log-normal gradient
    energy (20 % of cells nearly flat) spread over the 8 bins by a von Mises bump around an
    orientation near the dominant one. A descriptor is a prototype with multiplicative log-normal
    noise plus a little additive noise, then L2-normalised, clamped at 0.2, L2-normalised again.
    The constants were matched to real dense SIFTs of 15-Scene (OpenCV, 16 px patches every 8 px):
    about a quarter of the entries below 0.01, median squared nearest-neighbour distance about
    0.25-0.29, and k-means still moving after 20 iterations at k = 1000.
    """
    rng = np.random.default_rng(seed)
    bins = np.arange(8) * (2 * np.pi / 8)
    theta = rng.uniform(0, 2 * np.pi, size=(n_prototypes, 1)) + rng.normal(0, 0.8, size=(n_prototypes, 16))
    kappa = rng.uniform(0.3, 2.5, size=(n_prototypes, 16, 1))
    spread = np.exp(kappa * np.cos(bins[None, None, :] - theta[:, :, None]))
    flat = np.where(rng.random((n_prototypes, 16, 1)) < 0.2, 0.05, 1.0)
    energy = rng.lognormal(0.0, 0.6, size=(n_prototypes, 16, 1)) * flat
    protos = (energy * spread / spread.sum(-1, keepdims=True)).reshape(n_prototypes, 128)
    which = rng.integers(0, n_prototypes, size=n)
    D = protos[which] * rng.lognormal(0.0, 0.5, size=(n, 128)) + rng.exponential(0.01, size=(n, 128))
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    np.minimum(D, 0.2, out=D)
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    return D.astype(dtype)


def _time(fn) -> tuple[float, float, object]:
    """(wall seconds, CPU seconds of the whole process, result)."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - t0, time.process_time() - c0, out


def _compare(X: np.ndarray, k: int, iters: int, reps: int, threads: int) -> float:
    """Alternating runs of both libraries on X; prints the table, returns the total-time ratio."""
    from sklearn.cluster import KMeans as SkKMeans
    from sklearn.cluster import kmeans_plusplus as sk_kmeans_plusplus
    from threadpoolctl import threadpool_limits

    from classical.kmeans import KMeans, kmeans_plusplus

    print(f"\n[kmeans] X: {X.shape} {X.dtype} SIFT-like, k={k}, n_init=1, max_iter={iters}, tol=0, "
          f"{threads} threads (BLAS, OpenMP, Numba), {reps} alternating run(s) each")
    load0 = " ".join(f"{v:.1f}" for v in os.getloadavg())
    rows: dict[str, dict[str, list[float]]] = {
        name: {"init": [], "lloyd": [], "init_cpu": [], "lloyd_cpu": []} for name in ("ours", "sklearn")}
    inertia: dict[str, list[float]] = {"ours": [], "sklearn": []}
    n_iter: dict[str, int] = {}
    with threadpool_limits(limits=threads):
        # warm-up: JIT compilation (cached on disk after the first run) and BLAS start-up
        KMeans(8, random_state=0, max_iter=2, tol=0).fit(X[:2000])
        SkKMeans(8, random_state=0, n_init=1, max_iter=2, tol=0).fit(X[:2000])
        for rep in range(reps):
            for name in ("ours", "sklearn"):
                pp = kmeans_plusplus if name == "ours" else sk_kmeans_plusplus
                model = KMeans if name == "ours" else SkKMeans
                t_init, c_init, (centers, _) = _time(lambda: pp(X, k, random_state=rep))
                km = model(k, init=centers, n_init=1, max_iter=iters, tol=0)
                t_lloyd, c_lloyd, _ = _time(lambda: km.fit(X))
                for part, v in (("init", t_init), ("lloyd", t_lloyd), ("init_cpu", c_init), ("lloyd_cpu", c_lloyd)):
                    rows[name][part].append(v)
                inertia[name].append(km.inertia_)
                n_iter[name] = km.n_iter_
                print(f"  rep {rep} {name:8s} init {t_init:7.2f} s  lloyd {t_lloyd:7.2f} s  "
                      f"({km.n_iter_} it, inertia {km.inertia_:.2f})", flush=True)

    med = {name: {part: statistics.median(v) for part, v in parts.items()} for name, parts in rows.items()}
    for name in med:
        med[name]["total"] = med[name]["init"] + med[name]["lloyd"]
        med[name]["total_cpu"] = med[name]["init_cpu"] + med[name]["lloyd_cpu"]
    print(f"  load average before/after: {load0} / {' '.join(f'{v:.1f}' for v in os.getloadavg())} "
          f"(other processes on these cores make wall times noisy; CPU times are steadier)")
    print(f"  {'median (s)':12s} {'ours':>9s} {'sklearn':>9s} {'sklearn/ours':>13s}")
    for part in ("init", "lloyd", "total", "init_cpu", "lloyd_cpu", "total_cpu"):
        o, s = med["ours"][part], med["sklearn"][part]
        print(f"  {part:12s} {o:9.2f} {s:9.2f} {s / o:12.2f}x")
    share = med["sklearn"]["init"] / med["sklearn"]["total"]
    print(f"  sklearn spends {100 * share:.0f}% of its time in k-means++ seeding (issue: ~85%)")
    ours_i, sk_i = statistics.median(inertia["ours"]), statistics.median(inertia["sklearn"])
    rel = (ours_i - sk_i) / sk_i
    print(f"  inertia after {n_iter['ours']}/{n_iter['sklearn']} iterations: ours vs sklearn {100 * rel:+.3f}% "
          f"(same seeds; float64 runs are identical up to rounding, float32 ones drift apart)")
    ratio = med["sklearn"]["total"] / med["ours"]["total"]
    verdict = "met" if ratio >= 1.0 else "NOT met"
    print(f"  KMeans speed ratio, {X.dtype} (sklearn wall time / ours): {ratio:.2f}x  "
          f"target >= 1 (no slower): {verdict}")
    return ratio


def run(quick: bool) -> None:
    """float64 (``dense_sift``'s dtype; the issue's setting: sklearn then spends ~85 % in seeding), 3 runs;
    then float32 (how the chapter stores SIFTs), 1 run: scikit-learn's seeding upcasts float32 data to
    float64 chunk by chunk for accuracy, which makes it several times slower than on float64 data."""
    import numba

    n, k, iters = (20_000, 200, 5) if quick else (100_000, 1000, 20)
    threads = min(os.cpu_count() or 1, numba.config.NUMBA_NUM_THREADS)
    numba.set_num_threads(threads)
    X = sift_like(n, seed=0, dtype=np.float64)
    _compare(X, k, iters, 1 if quick else 3, threads)
    _compare(X.astype(np.float32), k, iters, 1, threads)
