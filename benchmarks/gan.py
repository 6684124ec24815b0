"""``python -m benchmarks gan [--quick] [--threads N] [--stat min|median]``: one DCGAN iteration and one
DANN iteration, minidl against torch CPU in the same process (float32), with the per-layer split of
DCGAN's strided convolutions and transposed convolutions.

The networks are built here from DESIGN.md section 6 (not imported from the chapters, so this file
measures the library, not a chapter's version of the model):

* **DCGAN** (MNIST resized to 32, nz = 100, ngf = ndf = 32, batch 64):
  generator ``ConvT(100 -> 128, k4 s1 p0)`` (1 -> 4 px), ``ConvT(128 -> 64, k4 s2 p1)`` (4 -> 8),
  ``ConvT(64 -> 32)`` (8 -> 16), each with BatchNorm and ReLU, then ``ConvT(32 -> 1)`` (16 -> 32) and
  tanh; discriminator ``Conv(1 -> 32, k4 s2 p1)`` (32 -> 16), ``Conv(32 -> 64)`` (16 -> 8),
  ``Conv(64 -> 128)`` (8 -> 4), BatchNorm on the last two, LeakyReLU(0.2), then ``Conv(128 -> 1, k4 s1
  p0)`` and sigmoid.  One iteration is a D step (real and detached fake, BCE) and a G step (the
  non-saturating loss), each with Adam(beta1 = 0.5), lr_D = 2e-4, lr_G = 5e-4.
* **DANN** (28 x 28 RGB, 64 source + 64 target images): conv 32 and conv 48 (5x5, padding 2), each with
  ReLU and max-pool 2 (2352 features), label head 100 -> 100 -> 10 on the source half, domain head
  100 -> 1 (BCE with logits) on all 128 behind a gradient-reversal layer; SGD with momentum 0.9.

Runs alternate minidl and torch; ``--stat min`` (default) reports the fastest of ``--repeats`` runs,
the least disturbed by other processes on a shared machine.
"""
from __future__ import annotations

import argparse
import os
from typing import Any, Callable

import numpy as np

from benchmarks._timing import keep_freed_memory, machine_line, median_pair, min_pair

NZ, NGF, NDF = 100, 32, 32


def dcgan(nn: Any) -> tuple[Any, Any]:
    """(generator, discriminator) of DESIGN.md section 6 for the backend ``nn`` (minidl.nn or torch.nn)."""
    def up(i: int, o: int, s: int, p: int) -> list[Any]:
        return [nn.ConvTranspose2d(i, o, 4, s, p, bias=False), nn.BatchNorm2d(o), nn.ReLU()]

    g = nn.Sequential(*up(NZ, 4 * NGF, 1, 0), *up(4 * NGF, 2 * NGF, 2, 1), *up(2 * NGF, NGF, 2, 1),
                      nn.ConvTranspose2d(NGF, 1, 4, 2, 1, bias=False), nn.Tanh())
    d = nn.Sequential(nn.Conv2d(1, NDF, 4, 2, 1, bias=False), nn.LeakyReLU(0.2),
                      nn.Conv2d(NDF, 2 * NDF, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * NDF), nn.LeakyReLU(0.2),
                      nn.Conv2d(2 * NDF, 4 * NDF, 4, 2, 1, bias=False), nn.BatchNorm2d(4 * NDF),
                      nn.LeakyReLU(0.2), nn.Conv2d(4 * NDF, 1, 4, 1, 0, bias=False), nn.Sigmoid())
    return g, d


def dann(nn: Any) -> tuple[Any, Any, Any]:
    """(features, label head, domain head) of DESIGN.md section 6 for the backend ``nn``."""
    feat = nn.Sequential(nn.Conv2d(3, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 48, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
    label = nn.Sequential(nn.Linear(2352, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(), nn.Linear(100, 10))
    domain = nn.Sequential(nn.Linear(2352, 100), nn.ReLU(), nn.Linear(100, 1))
    return feat, label, domain


def grl(function_base: type) -> type:
    """Gradient reversal for a backend's ``autograd.Function``: identity forward, -lambda * g backward."""
    class GradReverse(function_base):  # type: ignore[misc, valid-type]
        @staticmethod
        def forward(ctx: Any, x: Any, lam: float) -> Any:
            ctx.lam = lam
            return x.clone()

        @staticmethod
        def backward(ctx: Any, g: Any) -> tuple[Any, None]:
            return g * (-ctx.lam), None
    return GradReverse


def _copy(src: Any, dst: Any) -> None:
    from minidl.interop import to_torch_state_dict
    dst.load_state_dict(to_torch_state_dict(src.state_dict()))


def _gan_step(lib: Any, g: Any, d: Any, og: Any, od: Any, real: Any, z: Any) -> Callable[[], None]:
    F = lib.nn.functional
    ones, zeros = lib.ones(real.shape[0], 1, 1, 1), lib.zeros(real.shape[0], 1, 1, 1)

    def step() -> None:
        fake = g(z)
        loss_d = F.binary_cross_entropy(d(real), ones) + F.binary_cross_entropy(d(fake.detach()), zeros)
        od.zero_grad()
        loss_d.backward()
        od.step()
        loss_g = F.binary_cross_entropy(d(fake), ones)          # non-saturating: log D(G(z)) up
        og.zero_grad()
        loss_g.backward()
        og.step()
    return step


def _dann_step(lib: Any, nets: tuple[Any, Any, Any], opt: Any, xs: Any, ys: Any, xt: Any) -> Callable[[], None]:
    F = lib.nn.functional
    feat, label, domain = nets
    rev = grl(lib.autograd.Function)
    n = xs.shape[0]
    dom = lib.cat([lib.ones(n, 1), lib.zeros(n, 1)])

    def step() -> None:
        f = feat(lib.cat([xs, xt]))
        loss = F.cross_entropy(label(f[:n]), ys) + \
            F.binary_cross_entropy_with_logits(domain(rev.apply(f, 0.5)), dom)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


def _layer_split(name: str, m_layer: Any, t_layer: Any, shape: tuple[int, ...], pair: Callable, repeats: int,
                 retries: int) -> tuple[str, float, float, float, float]:
    """(name, minidl fwd, torch fwd, minidl bwd, torch bwd) seconds of one layer at its input shape."""
    import torch

    import minidl
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape, dtype=np.float32)
    mx, tx = minidl.tensor(x, requires_grad=True), torch.from_numpy(x.copy()).requires_grad_()
    with torch.no_grad():
        gshape = tuple(t_layer(tx).shape)
    g = rng.standard_normal(gshape, dtype=np.float32)
    mg, tg = minidl.tensor(g), torch.from_numpy(g)
    mf, tf, _ = pair(lambda: m_layer(mx), lambda: t_layer(tx), repeats, retries)
    # the backward alone, through one kept graph (a difference of two minima is unreliable under load);
    # both libraries then also add into the existing .grad buffers
    my, ty = m_layer(mx), t_layer(tx)
    mb, tb, _ = pair(lambda: my.backward(mg, retain_graph=True), lambda: ty.backward(tg, retain_graph=True),
                     repeats, retries)
    return name, mf, tf, mb, tb


def main(argv: list[str] | None = None) -> dict[str, float]:
    p = argparse.ArgumentParser(prog="python -m benchmarks gan", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="batch 8, 2 repeats: a smoke run")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--retries", type=int, default=3)
    p.add_argument("--stat", choices=("min", "median"), default="min")
    args = p.parse_args(argv)
    keep_freed_memory()
    batch, repeats = (8, 2) if args.quick else (64, args.repeats)
    pair = min_pair if args.stat == "min" else median_pair

    import minidl

    import numba
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    minidl.manual_seed(0)
    rng = np.random.default_rng(0)
    real = np.tanh(rng.standard_normal((batch, 1, 32, 32), dtype=np.float32))
    z = rng.standard_normal((batch, NZ, 1, 1), dtype=np.float32)
    mg, md = dcgan(minidl.nn)
    tg, td = dcgan(torch.nn)
    _copy(mg, tg)
    _copy(md, td)
    m_gan = _gan_step(minidl, mg, md, minidl.optim.Adam(mg.parameters(), lr=5e-4, betas=(0.5, 0.999)),
                      minidl.optim.Adam(md.parameters(), lr=2e-4, betas=(0.5, 0.999)),
                      minidl.tensor(real), minidl.tensor(z))
    t_gan = _gan_step(torch, tg, td, torch.optim.Adam(tg.parameters(), lr=5e-4, betas=(0.5, 0.999)),
                      torch.optim.Adam(td.parameters(), lr=2e-4, betas=(0.5, 0.999)),
                      torch.from_numpy(real), torch.from_numpy(z))

    xs = rng.standard_normal((batch, 3, 28, 28), dtype=np.float32)
    xt = rng.standard_normal((batch, 3, 28, 28), dtype=np.float32)
    ys = rng.integers(0, 10, batch)
    m_nets, t_nets = dann(minidl.nn), dann(torch.nn)
    for a, b in zip(m_nets, t_nets):
        _copy(a, b)
    m_dann = _dann_step(minidl, m_nets, minidl.optim.SGD([q for n in m_nets for q in n.parameters()], lr=0.01,
                                                         momentum=0.9),
                        minidl.tensor(xs), minidl.tensor(ys), minidl.tensor(xt))
    t_dann = _dann_step(torch, t_nets, torch.optim.SGD([q for n in t_nets for q in n.parameters()], lr=0.01,
                                                       momentum=0.9),
                        torch.from_numpy(xs), torch.from_numpy(ys), torch.from_numpy(xt))

    print(machine_line())
    print(f"DCGAN and DANN iterations, batch {batch}, float32, {args.threads} thread(s) (torch {torch.__version__}, "
          f"numba {numba.__version__}); {args.stat} of {repeats} alternating runs")
    layers = [("G convT1 100->128 s1 1->4", mg[0], tg[0], (batch, NZ, 1, 1)),
              ("G convT2 128->64 s2 4->8", mg[3], tg[3], (batch, 4 * NGF, 4, 4)),
              ("G convT3 64->32 s2 8->16", mg[6], tg[6], (batch, 2 * NGF, 8, 8)),
              ("G convT4 32->1 s2 16->32", mg[9], tg[9], (batch, NGF, 16, 16)),
              ("D conv1 1->32 s2 32->16", md[0], td[0], (batch, 1, 32, 32)),
              ("D conv2 32->64 s2 16->8", md[2], td[2], (batch, NDF, 16, 16)),
              ("D conv3 64->128 s2 8->4", md[5], td[5], (batch, 2 * NDF, 8, 8)),
              ("D conv4 128->1 s1 4->1", md[8], td[8], (batch, 4 * NDF, 4, 4))]
    with threadpool_limits(args.threads):
        gm, gt, d1 = pair(m_gan, t_gan, repeats, args.retries)
        dm, dt, d2 = pair(m_dann, t_dann, repeats, args.retries)
        rows = [_layer_split(*la, pair, repeats, args.retries) for la in layers]
    print(f"\n{'what':<30}{'minidl ms':>11}{'torch ms':>11}{'ratio':>8}")
    print(f"{'DCGAN iteration (D + G step)':<30}{gm * 1e3:>11.1f}{gt * 1e3:>11.1f}{gm / gt:>8.2f}")
    print(f"{'DANN iteration':<30}{dm * 1e3:>11.1f}{dt * 1e3:>11.1f}{dm / dt:>8.2f}")
    result = {"dcgan_ratio": gm / gt, "dann_ratio": dm / dt}
    for name, mf, tf, mb, tb in rows:
        print(f"{name + ' fwd':<30}{mf * 1e3:>11.2f}{tf * 1e3:>11.2f}{mf / tf:>8.2f}")
        print(f"{name + ' bwd':<30}{mb * 1e3:>11.2f}{tb * 1e3:>11.2f}{mb / tb:>8.2f}")
        key = name.split()[0] + "_" + name.split()[1]
        result[f"{key}_fwd_ratio"], result[f"{key}_bwd_ratio"] = mf / tf, mb / tb
    print(f"\nload average {os.getloadavg()[0]:.2f}; {d1 + d2} of {4 * repeats} iteration timings still overlapped "
          "other processes after the retries")
    return result


if __name__ == "__main__":
    main()
