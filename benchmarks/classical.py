"""``python -m benchmarks classical [--quick]``: the classical toolkit against its references.

Three measurements, each ours vs the reference in the same process (alternating runs, medians):

- dense SIFT vs OpenCV SIFT on the same dense grid (descriptors/s on 256x256 images; target ratio >= 1);
- KMeans vs sklearn.cluster.KMeans (k-means++, n_init=1, 20 iterations, 100,000 x 128, k = 1000; target: no slower);
- SVC vs sklearn.svm.SVC on 1,500 x 1,001 BoW-like features, 15 classes, rbf and linear (target: within 2x).
"""
from __future__ import annotations

import argparse
import importlib

PARTS = ("_classical_sift", "_classical_kmeans", "_classical_svm")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks classical", description=__doc__)
    p.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke run")
    p.add_argument("--only", choices=["sift", "kmeans", "svm"], default=None)
    args = p.parse_args(argv)
    for part in PARTS:
        if args.only and not part.endswith(args.only):
            continue
        try:
            mod = importlib.import_module(f"benchmarks.{part}")
        except ModuleNotFoundError as e:
            print(f"[{part}] not available: {e}")
            continue
        mod.run(quick=args.quick)
