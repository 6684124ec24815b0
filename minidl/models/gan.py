"""DCGAN (Radford et al., 2016) for 32x32 MNIST, the course's homework 3-d, written once for either
backend (pass ``nn`` = ``minidl.nn`` or ``torch.nn``), and its conditional variant.

    G = generator(minidl.nn, nz=100, ngf=32)        # z: (N, nz, 1, 1) -> images (N, 1, 32, 32) in [-1, 1]
    D = discriminator(minidl.nn, ndf=32)            # images -> P(real): (N, 1, 1, 1)

Generator (each transposed convolution doubles the side: out = (in - 1) * 2 - 2 * 1 + 4 = 2 * in)::

    ConvT nz   -> 4 ngf  k4 s1 p0   1 -> 4     BN, ReLU
    ConvT 4ngf -> 2 ngf  k4 s2 p1   4 -> 8     BN, ReLU
    ConvT 2ngf ->   ngf  k4 s2 p1   8 -> 16    BN, ReLU
    ConvT ngf  ->   1    k4 s2 p1   16 -> 32   tanh

Discriminator (the mirror image; no batch-norm on the first layer, as in the paper)::

    conv 1    -> ndf     k4 s2 p1   32 -> 16   LeakyReLU(0.2)
    conv ndf  -> 2 ndf   k4 s2 p1   16 -> 8    BN, LeakyReLU(0.2)
    conv 2ndf -> 4 ndf   k4 s2 p1   8 -> 4     BN, LeakyReLU(0.2)
    conv 4ndf -> 1       k4 s1 p0   4 -> 1     sigmoid

**Conditional** (``n_classes`` > 0): the label enters both networks as a one-hot vector. The generator's
input is ``[z, onehot]`` (nz + n_classes channels of 1x1); the discriminator's input is the image with
``n_classes`` constant planes appended (plane k is 1 everywhere when the label is k). The networks stay
plain ``Sequential`` stacks; ``generator_input`` / ``discriminator_input`` build those inputs. (The
course feeds the label through separate first layers and concatenates their outputs; concatenating at
the input is the same model family with fewer weights.)

The course's two training steps, ``d_step`` and ``g_step`` (the discriminator's BCE on real and
detached fake images, then the generator's non-saturating or saturating loss), live here too, so the
chapter ``examples/gan.py`` and the parity suite run the very same lines.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any


def generator(nn: Any, *, nz: int = 100, ngf: int = 32, n_classes: int = 0, channels: int = 1) -> Any:
    """The course's DCGAN generator: ``(N, nz + n_classes, 1, 1) -> (N, channels, 32, 32)`` in [-1, 1]."""
    return nn.Sequential(OrderedDict([
        ("convt1", nn.ConvTranspose2d(nz + n_classes, 4 * ngf, 4, 1, 0, bias=False)),
        ("bn1", nn.BatchNorm2d(4 * ngf)), ("relu1", nn.ReLU()),
        ("convt2", nn.ConvTranspose2d(4 * ngf, 2 * ngf, 4, 2, 1, bias=False)),
        ("bn2", nn.BatchNorm2d(2 * ngf)), ("relu2", nn.ReLU()),
        ("convt3", nn.ConvTranspose2d(2 * ngf, ngf, 4, 2, 1, bias=False)),
        ("bn3", nn.BatchNorm2d(ngf)), ("relu3", nn.ReLU()),
        ("convt4", nn.ConvTranspose2d(ngf, channels, 4, 2, 1, bias=False)), ("tanh", nn.Tanh()),
    ]))


def discriminator(nn: Any, *, ndf: int = 32, n_classes: int = 0, channels: int = 1) -> Any:
    """The course's DCGAN discriminator: ``(N, channels + n_classes, 32, 32) -> (N, 1, 1, 1)``, P(real)."""
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(channels + n_classes, ndf, 4, 2, 1, bias=False)), ("lrelu1", nn.LeakyReLU(0.2)),
        ("conv2", nn.Conv2d(ndf, 2 * ndf, 4, 2, 1, bias=False)),
        ("bn2", nn.BatchNorm2d(2 * ndf)), ("lrelu2", nn.LeakyReLU(0.2)),
        ("conv3", nn.Conv2d(2 * ndf, 4 * ndf, 4, 2, 1, bias=False)),
        ("bn3", nn.BatchNorm2d(4 * ndf)), ("lrelu3", nn.LeakyReLU(0.2)),
        ("conv4", nn.Conv2d(4 * ndf, 1, 4, 1, 0, bias=False)), ("sigmoid", nn.Sigmoid()),
    ]))


def dcgan_init_(model: Any, nn: Any) -> Any:
    """The DCGAN paper's initialisation, in place: convolution weights ~ N(0, 0.02), batch-norm
    weights ~ N(1, 0.02) and biases 0. Returns the model."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return model


def generator_input(lib: Any, z: Any, onehot: Any | None = None) -> Any:
    """``z: (N, nz)`` or ``(N, nz, 1, 1)``, ``onehot: (N, K)`` or None -> ``(N, nz [+ K], 1, 1)``."""
    z = z.reshape(z.shape[0], -1)
    if onehot is not None:
        z = lib.cat([z, onehot.to(z.dtype)], dim=1)
    return z.reshape(z.shape[0], z.shape[1], 1, 1)


def discriminator_input(lib: Any, x: Any, onehot: Any | None = None) -> Any:
    """``x: (N, C, H, W)``, ``onehot: (N, K)`` or None -> ``(N, C [+ K], H, W)``: one constant plane per class."""
    if onehot is None:
        return x
    n, _, h, w = x.shape
    planes = onehot.to(x.dtype).reshape(n, -1, 1, 1).expand(n, onehot.shape[1], h, w)
    return lib.cat([x, planes], dim=1)


# --------------------------------------------------------------------------- the course's training steps
def d_step(B: Any, G: Any, D: Any, opt_d: Any, x: Any, z: Any, onehot: Any = None,
           fake_onehot: Any = None, scale: float | None = None) -> tuple[Any, dict[str, float]]:
    """One discriminator step: ascend log D(x) + log(1 - D(G(z))), i.e. descend the BCE of real
    images against 1 plus fake ones against 0. The fake batch is detached: G is not updated here.

    The loss is the BCE *summed* over the batch times ``scale``: 1 / len(batch) (the default: the mean),
    or ``Distributed.loss_scale`` under DDP, which makes the ranks' averaged gradient the one-process
    mean over the global batch. Returns the fake images (reused by the G step) and the logged numbers
    (means over this process's batch)."""
    lib, bce = B.lib, B.nn.BCELoss(reduction="sum")
    fake = G(generator_input(lib, z, fake_onehot))
    d_real = D(discriminator_input(lib, x, onehot)).reshape(-1)
    d_fake = D(discriminator_input(lib, fake.detach(), fake_onehot)).reshape(-1)
    ones, zeros = lib.ones_like(d_real), lib.zeros_like(d_fake)
    n = d_real.shape[0]
    total = bce(d_real, ones) + bce(d_fake, zeros)
    loss = total * (1.0 / n if scale is None else scale)
    opt_d.zero_grad()
    loss.backward()
    opt_d.step()
    return fake, {"loss_d": total.item() / n, "d_x": d_real.mean().item(), "d_g_z1": d_fake.mean().item()}


def g_step(B: Any, D: Any, opt_g: Any, fake: Any, fake_onehot: Any = None,
           saturating: bool = False, scale: float | None = None) -> dict[str, float]:
    """One generator step through the (just updated) discriminator (``scale`` as in :func:`d_step`).

    non-saturating: minimise -log D(G(z))     = BCE(D(G(z)), 1)
    saturating:     minimise  log(1 - D(G(z))) = -BCE(D(G(z)), 0)

    The backward also reaches D's parameters (D's optimiser does not step on them, and D's next step
    zeroes them first); under DDP they are averaged too, a wasted but harmless all-reduce."""
    lib, bce = B.lib, B.nn.BCELoss(reduction="sum")
    d_gen = D(discriminator_input(lib, fake, fake_onehot)).reshape(-1)
    n = d_gen.shape[0]
    total = -bce(d_gen, lib.zeros_like(d_gen)) if saturating else bce(d_gen, lib.ones_like(d_gen))
    loss = total * (1.0 / n if scale is None else scale)
    opt_g.zero_grad()
    loss.backward()
    opt_g.step()
    return {"loss_g": total.item() / n, "d_g_z2": d_gen.mean().item()}
