"""Domain-adversarial training (Ganin & Lempitsky, 2015), the course's homework 3-c: the network and
the gradient-reversal layer, written once for either backend (pass ``nn`` = ``minidl.nn`` or ``torch.nn``).

    model = DANN(minidl.nn)                # or DANN(torch.nn): same layers, same state_dict keys
    feats = model.features(x)              # x: (N, 3, 28, 28) -> (N, 2352)
    class_logits = model.classifier(feats)                              # (N, 10)
    domain_logits = model.domain(grad_reverse(feats, lambd))            # (N, 1); source = 1

The idea: the feature extractor is trained to help the label head (on labelled source images) and to
*fool* the domain head (source vs target). One backward pass does both, because the gradient-reversal
layer (GRL) is the identity going forward and multiplies the gradient by -lambda going back:

    forward   R(f) = f                   backward   dL/df = -lambda * dL/dR

so the domain head descends on the domain loss L_d while the features ascend on it (a min-max game),
and the features' total gradient is  dL_y/df - lambda * dL_d/df.

The course's training step, ``dann_step`` (naive or DANN), is here too, so the chapter
``examples/dann.py`` and the parity suite run the very same lines.
"""
from __future__ import annotations

import importlib
from collections import OrderedDict
from typing import Any

import numpy as np

FEATURES_28 = 48 * 7 * 7  # 2,352: the course's feature size for 28x28 inputs


def _grl_body() -> dict[str, Any]:
    """The GRL exactly as the course writes it for torch; the body is shared by both backends."""

    def forward(ctx: Any, x: Any, lambd: float) -> Any:
        ctx.lambd = lambd
        return x.view_as(x)          # a new tensor on the same numbers: the identity

    def backward(ctx: Any, grad_output: Any) -> Any:
        return grad_output.neg() * ctx.lambd, None   # reversed and scaled; no gradient for lambda

    return {"forward": staticmethod(forward), "backward": staticmethod(backward), "tensor_io": True,
            "__doc__": "Gradient reversal: identity forward, gradient times -lambda backward.",
            "__module__": __name__}


_GRL_CLASSES: dict[str, type] = {}


def GradReverse(lib: Any) -> type:
    """The ``autograd.Function`` subclass of ``lib`` (the ``minidl`` or ``torch`` module), made once and cached.

    ``GradReverse(minidl).apply(x, 0.5)`` is a ``minidl.autograd.Function``; ``GradReverse(torch)`` a
    ``torch.autograd.Function`` with the same body. (``tensor_io = True`` tells minidl this op is a
    user-style Function that takes and returns Tensors, although it lives in the ``minidl`` package.)
    """
    name = lib.__name__.split(".")[0]
    if name not in _GRL_CLASSES:
        base = importlib.import_module(name).autograd.Function
        _GRL_CLASSES[name] = type("GradReverse", (base,), _grl_body())
    return _GRL_CLASSES[name]


def grad_reverse(x: Any, lambd: float) -> Any:
    """``R_lambda(x)``: x forward, -lambda * grad backward, for a minidl or a torch tensor."""
    lib = type(x).__module__.split(".")[0]
    return GradReverse(importlib.import_module(lib)).apply(x, float(lambd))


def grl_lambda(p: float, gamma: float = 10.0) -> float:
    """The course's schedule for lambda: 2 / (1 + exp(-gamma p)) - 1, from 0 (p = 0) towards 1 (p = 1).

    ``p`` is the training progress in [0, 1]. Starting at 0 keeps the noisy domain gradient out while
    the features are still random."""
    return float(2.0 / (1.0 + np.exp(-gamma * p)) - 1.0)


def dann_lr(p: float, mu0: float = 0.01, alpha: float = 10.0, beta: float = 0.75) -> float:
    """The course's learning-rate annealing: mu0 / (1 + alpha p)^beta."""
    return float(mu0 / (1.0 + alpha * p) ** beta)


def feature_size(image_size: int) -> int:
    """Features after two 'same' 5x5 convolutions and two 2x2 max-pools: 48 * (s // 4)^2 (2,352 at 28)."""
    return 48 * (image_size // 2 // 2) ** 2


def DANN(nn: Any, *, in_channels: int = 3, num_classes: int = 10, image_size: int = 28) -> Any:
    """The course's DANN network: three sub-networks in one ``Module`` (``features``, ``classifier``, ``domain``).

        features    conv 32x5x5 pad 2 -> ReLU -> maxpool 2 -> conv 48x5x5 pad 2 -> ReLU -> maxpool 2
                    -> flatten                                   (3, 28, 28) -> 2,352
        classifier  2352 -> 100 -> ReLU -> 100 -> ReLU -> 10     (class logits)
        domain      2352 -> 100 -> ReLU -> 1                     (domain logit, source = 1), fed through the GRL

    ``forward(x)`` returns the class logits (what evaluation needs). ``forward(x, lambd, n_source)``
    is one DANN pass over a batch whose first ``n_source`` images are the source's: it returns the class
    logits of those ``(n_source, 10)`` and the domain logits of all ``(N,)``, the latter through the GRL
    with ``lambd``. (One call does both, so that a ``DistributedDataParallel`` wrapper sees every
    parameter used in its forward.)
    """
    n_feat = feature_size(image_size)
    features = nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(in_channels, 32, 5, padding=2)), ("relu1", nn.ReLU()), ("pool1", nn.MaxPool2d(2)),
        ("conv2", nn.Conv2d(32, 48, 5, padding=2)), ("relu2", nn.ReLU()), ("pool2", nn.MaxPool2d(2)),
        ("flatten", nn.Flatten())]))
    classifier = nn.Sequential(OrderedDict([
        ("fc1", nn.Linear(n_feat, 100)), ("relu1", nn.ReLU()),
        ("fc2", nn.Linear(100, 100)), ("relu2", nn.ReLU()),
        ("fc3", nn.Linear(100, num_classes))]))
    domain = nn.Sequential(OrderedDict([
        ("fc1", nn.Linear(n_feat, 100)), ("relu1", nn.ReLU()), ("fc2", nn.Linear(100, 1))]))
    return _dann_class(nn)(features, classifier, domain)


_DANN_CLASSES: dict[int, type] = {}


def _dann_class(nn: Any) -> type:
    """A ``Module`` subclass of the given backend's ``nn.Module`` (one per backend, cached)."""
    if id(nn) not in _DANN_CLASSES:
        def __init__(self: Any, features: Any, classifier: Any, domain: Any) -> None:
            nn.Module.__init__(self)
            self.features, self.classifier, self.domain = features, classifier, domain

        def forward(self: Any, x: Any, lambd: float | None = None, n_source: int | None = None) -> Any:
            if lambd is None:
                return self.classifier(self.features(x))
            f = self.features(x)
            return self.classifier(f[:n_source]), self.domain(grad_reverse(f, lambd)).reshape(-1)

        _DANN_CLASSES[id(nn)] = type("DANNNet", (nn.Module,), {
            "__init__": __init__, "forward": forward, "__module__": __name__,
            "__doc__": "features -> classifier (class logits); features -> GRL -> domain (domain logit)."})
    return _DANN_CLASSES[id(nn)]


# --------------------------------------------------------------------------- the course's training step
def dann_step(B: Any, model: Any, opt: Any, xs: Any, ys: Any, xt: Any = None, lam: float = 0.0,
              scale: tuple[float, float] | None = None) -> tuple[Any, Any, Any]:
    """One SGD step. With target images ``xt``, the DANN step (p = step / steps in [0, 1]):

        f = features([x_s; x_t])                         source and target images together
        L_y = CE(classifier(f_s), y_s)                   labels: source only
        L_d = BCE(domain(GRL_lambda(f)), [1...1; 0...0]) domains: source = 1, target = 0
        (L_y + L_d).backward()   -> the features get dL_y/df - lambda dL_d/df

    Without ``xt``: the naive step, L_y on the source batch only (``model`` maps images to class logits).
    Both losses are *sums* times ``scale = (label factor, domain factor)``: by default 1 / (images in the
    sum), i.e. the means; under torchrun, ``Distributed.loss_scale`` of the global batch, so that DDP's
    average over the ranks is the mean over the whole global batch (``examples/_distributed.py``).
    Returns ``(sum of L_y, sum of L_d, domain logits)``, the last two None for the naive step.
    """
    lib, F = B.lib, B.F
    n = xs.shape[0]
    n_all = n + (0 if xt is None else xt.shape[0])
    label_scale, domain_scale = scale or (1.0 / n, 1.0 / n_all)
    if xt is None:
        label_sum = F.cross_entropy(model(xs), ys, reduction="sum")
        domain_sum = domain_logit = None
        loss = label_sum * label_scale
    else:
        class_logit, domain_logit = model(lib.cat([xs, xt], dim=0), lam, n)   # features, both heads, the GRL
        label_sum = F.cross_entropy(class_logit, ys, reduction="sum")
        is_source = lib.cat([lib.ones_like(domain_logit[:n]), lib.zeros_like(domain_logit[n:])])
        domain_sum = F.binary_cross_entropy_with_logits(domain_logit, is_source, reduction="sum")
        loss = label_sum * label_scale + domain_sum * domain_scale
    opt.zero_grad()
    loss.backward()
    opt.step()
    return label_sum, domain_sum, domain_logit
