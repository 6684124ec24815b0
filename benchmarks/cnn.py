"""``python -m benchmarks cnn [--quick] [--threads N] [--plain] [--stat min|median]``: one training step
of the course's CIFAR-10 CNN, minidl against torch CPU in the same process.

Measured, alternating minidl and torch runs and reporting the fastest run (``--stat min``, the least
disturbed on a shared machine) or the median, with the same thread count for torch, Numba and OpenBLAS
(runs during which another process used the CPU are repeated, and glibc keeps freed memory for both
libraries, see ``benchmarks/_timing.py``).  The first line names the CPU, the ISA Numba compiles the
kernels for and the vector width in use.

``--plain`` times exactly what a user's own script gets: NumPy imported before minidl, no environment
variables set by the benchmark (``python -m benchmarks`` sets none with ``--plain``), glibc's malloc
left alone, and the thread counts left at their defaults (``--threads`` then only labels the run).

- the training step (forward, cross-entropy, backward, SGD) at batch 128, float32: the time ratio
  minidl/torch (target <= 1.2, end goal 1.0), images per second, and the achieved GFLOP/s (one step
  is 17.15 GFLOP) next to a NumPy float32 GEMM's GFLOP/s measured in the same run;
- inference (forward in eval mode without the graph);
- the three convolutions alone, forward and backward.
"""
from __future__ import annotations

import argparse
import os
from typing import Any

import numpy as np

from benchmarks._timing import gemm_gflops, keep_freed_memory, machine_line, median_pair, min_pair

STEP_GFLOP = 17.15  # forward + backward of the course's CIFAR net at batch 128 (2 FLOP per MAC)
TARGET = 1.2   # issue 13: plain user script, training step, 2 threads (<= 1.5 compiled for AVX2 only)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks cnn", description=__doc__)
    p.add_argument("--quick", action="store_true", help="batch 16, 2 repeats: a smoke run")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--retries", type=int, default=3, help="re-run a timing disturbed by another process")
    p.add_argument("--plain", action="store_true",
                   help="what a user's script gets: no malloc tuning, no thread settings, no env vars")
    p.add_argument("--stat", choices=("min", "median"), default="min")
    args = p.parse_args(argv)
    if not args.plain:
        keep_freed_memory()  # both libraries: measure the computation, not glibc's page faults
    batch, repeats = (16, 2) if args.quick else (128, args.repeats)
    pair = min_pair if args.stat == "min" else median_pair

    import minidl  # before numba and torch, as a user's script would (NumPy is already loaded)
    from minidl.interop import to_torch_state_dict
    from minidl.models import cifar_net

    import numba
    import torch
    from threadpoolctl import threadpool_limits

    if args.plain:
        args.threads = numba.get_num_threads()
    else:
        torch.set_num_threads(args.threads)
        numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 3, 32, 32), dtype=np.float32)
    y = rng.integers(0, 10, batch)

    m_model = cifar_net(minidl.nn)
    t_model = cifar_net(torch.nn)
    t_model.load_state_dict(to_torch_state_dict(m_model.state_dict()))
    m_opt = minidl.optim.SGD(m_model.parameters(), lr=1e-3)
    t_opt = torch.optim.SGD(t_model.parameters(), lr=1e-3)
    mx, my, tx, ty = minidl.tensor(x), minidl.tensor(y), torch.from_numpy(x), torch.from_numpy(y)

    def m_step() -> None:
        loss = minidl.nn.functional.cross_entropy(m_model(mx), my)
        m_opt.zero_grad()
        loss.backward()
        m_opt.step()

    def t_step() -> None:
        loss = torch.nn.functional.cross_entropy(t_model(tx), ty)
        t_opt.zero_grad()
        loss.backward()
        t_opt.step()

    def m_infer() -> None:
        with minidl.no_grad():
            m_model(mx)

    def t_infer() -> None:
        with torch.no_grad():
            t_model(tx)

    print(machine_line())
    print(f"course CIFAR-10 CNN, batch {batch}, float32, {args.threads} thread(s) (torch {torch.__version__} "
          f"{torch.get_num_threads()}, numba {numba.__version__} {numba.get_num_threads()}"
          f"{', plain: defaults as a user script gets them' if args.plain else ''}); "
          f"{args.stat} of {repeats} alternating runs")
    with threadpool_limits(None if args.plain else args.threads):
        m_model.eval()
        t_model.eval()
        mi, ti, d1 = pair(m_infer, t_infer, repeats, args.retries)
        m_model.train()
        t_model.train()
        ms, ts, d2 = pair(m_step, t_step, repeats, args.retries)
        conv_rows = []
        for name in ("conv1", "conv2", "conv3"):
            conv_rows.append(_conv_row(name, m_model, t_model, batch, repeats, args.retries, pair))
        gemm = gemm_gflops(5, args.retries)
    flops = STEP_GFLOP * batch / 128
    print(f"\n{'what':<26}{'minidl ms':>11}{'torch ms':>11}{'ratio':>8}")
    print(f"{'training step':<26}{ms * 1e3:>11.1f}{ts * 1e3:>11.1f}{ms / ts:>8.2f}")
    print(f"{'inference (forward)':<26}{mi * 1e3:>11.1f}{ti * 1e3:>11.1f}{mi / ti:>8.2f}")
    for name, (mf, tf, mb, tb) in zip(("conv1", "conv2", "conv3"), conv_rows):
        print(f"{name + ' forward':<26}{mf * 1e3:>11.2f}{tf * 1e3:>11.2f}{mf / tf:>8.2f}")
        print(f"{name + ' backward':<26}{mb * 1e3:>11.2f}{tb * 1e3:>11.2f}{mb / tb:>8.2f}")
    print(f"\nimages/s (training): minidl {batch / ms:,.0f}, torch {batch / ts:,.0f}")
    print(f"GFLOP/s (training):  minidl {flops / ms:,.1f}, torch {flops / ts:,.1f}; "
          f"NumPy float32 GEMM in this run: {gemm:,.1f}")
    print(f"load average {os.getloadavg()[0]:.2f}; {d1 + d2} of {4 * repeats} step/inference timings still "
          "overlapped other processes after the retries")
    verdict = "meets" if ms / ts <= TARGET else "misses"
    print(f"ratio minidl/torch for the training step: {ms / ts:.2f} ({verdict} the target <= {TARGET}; "
          f"the end goal is 1.0)")


def _conv_row(name: str, m_model: Any, t_model: Any, batch: int, repeats: int, retries: int,
              pair: Any = median_pair) -> tuple[float, float, float, float]:
    """Forward and backward (input, weight, bias) of one convolution layer at its real input size."""
    import torch

    import minidl
    shapes = {"conv1": (3, 32), "conv2": (32, 16), "conv3": (64, 8)}
    c, s = shapes[name]
    x = np.random.default_rng(1).standard_normal((batch, c, s, s), dtype=np.float32)
    m_layer, t_layer = getattr(m_model, name), getattr(t_model, name)
    mx = minidl.tensor(x, requires_grad=True)
    tx = torch.from_numpy(x.copy()).requires_grad_()
    with minidl.no_grad(), torch.no_grad():
        g = np.random.default_rng(2).standard_normal(tuple(t_layer(tx).shape), dtype=np.float32)
    mg, tg = minidl.tensor(g), torch.from_numpy(g)
    mf, tf, _ = pair(lambda: m_layer(mx), lambda: t_layer(tx), repeats, retries)

    def m_back() -> None:
        m_layer(mx).backward(mg)

    def t_back() -> None:
        t_layer(tx).backward(tg)
    mfb, tfb, _ = pair(m_back, t_back, repeats, retries)
    return mf, tf, max(mfb - mf, 1e-9), max(tfb - tf, 1e-9)


if __name__ == "__main__":
    main()
