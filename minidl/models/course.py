"""The course's networks, written once for either backend: pass ``nn`` = ``minidl.nn`` or ``torch.nn``.

    model = cifar_net(minidl.nn, batchnorm=True, dropout=0.5, ceil_mode=True)

``layer_table`` prints the per-layer output sizes and weight counts the course asks students to compute.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any


def cifar_net(nn: Any, *, in_channels: int = 3, num_classes: int = 10, batchnorm: bool = False,
              dropout: float = 0.0, ceil_mode: bool = False) -> Any:
    """The course's CIFAR-10 CNN (1,191,170 parameters without batch-norm):

        conv1 32x5x5 pad 2 -> ReLU -> maxpool 2     32x32 -> 16x16   (28 -> 14 with the crop)
        conv2 64x5x5 pad 2 -> ReLU -> maxpool 2     16 -> 8          (14 -> 7)
        conv3 64x5x5 pad 2 -> ReLU -> maxpool 2     8 -> 4           (7 -> 4 needs ceil_mode=True)
        fc4   1024 -> 1000 -> ReLU
        fc5   1000 -> 10

    ``batchnorm`` puts BatchNorm2d after each convolution (before its ReLU); ``dropout`` > 0 adds
    Dropout(p) before fc5; ``ceil_mode`` is the course's pool3 fix for 28x28 crops.
    """
    layers: list[tuple[str, Any]] = []
    c_in = in_channels
    for i, c_out in enumerate((32, 64, 64), start=1):
        layers.append((f"conv{i}", nn.Conv2d(c_in, c_out, 5, padding=2)))
        if batchnorm:
            layers.append((f"bn{i}", nn.BatchNorm2d(c_out)))
        layers.append((f"relu{i}", nn.ReLU()))
        layers.append((f"pool{i}", nn.MaxPool2d(2, ceil_mode=ceil_mode and i == 3)))
        c_in = c_out
    layers += [("flatten", nn.Flatten()), ("fc4", nn.Linear(64 * 4 * 4, 1000)), ("relu4", nn.ReLU())]
    if dropout > 0:
        layers.append(("dropout", nn.Dropout(dropout)))
    layers.append(("fc5", nn.Linear(1000, num_classes)))
    return nn.Sequential(OrderedDict(layers))


def lenet(nn: Any, *, in_channels: int = 1, num_classes: int = 10, image_size: int = 28) -> Any:
    """A LeNet-style baseline for MNIST-like inputs (course 2-cd, part 1):

        conv 6x5x5 pad 2 -> ReLU -> maxpool 2 -> conv 16x5x5 -> ReLU -> maxpool 2 -> fc 120 -> fc 84 -> fc 10

    ``image_size`` 28 (MNIST) gives 16x5x5 features; 8 (scikit-learn digits) gives 16x1x1 with padding 2
    on both convolutions.
    """
    small = image_size < 16
    side = image_size // 2
    side = (side + 2 * 2 - 5) + 1 if small else side - 4
    side //= 2
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(in_channels, 6, 5, padding=2)), ("relu1", nn.ReLU()), ("pool1", nn.MaxPool2d(2)),
        ("conv2", nn.Conv2d(6, 16, 5, padding=2 if small else 0)), ("relu2", nn.ReLU()), ("pool2", nn.MaxPool2d(2)),
        ("flatten", nn.Flatten()),
        ("fc3", nn.Linear(16 * side * side, 120)), ("relu3", nn.ReLU()),
        ("fc4", nn.Linear(120, 84)), ("relu4", nn.ReLU()),
        ("fc5", nn.Linear(84, num_classes)),
    ]))


def layer_table(model: Any, input_shape: tuple[int, ...], lib: Any) -> list[tuple[str, str, tuple[int, ...], int]]:
    """Run one zero input through the model's layers: ``(name, type, output shape, weights)`` per layer."""
    x = lib.zeros(*input_shape)
    rows = []
    was_training = model.training
    model.eval()
    with lib.no_grad():
        for name, layer in model.named_children():
            x = layer(x)
            n = sum(p.numel() for p in layer.parameters())
            rows.append((name, type(layer).__name__, tuple(x.shape[1:]), int(n)))
    model.train(was_training)
    return rows


def format_table(rows: list[tuple[str, str, tuple[int, ...], int]]) -> str:
    lines = [f"{'layer':<9}{'type':<12}{'output (C, H, W)':<20}{'weights':>10}"]
    for name, kind, shape, n in rows:
        lines.append(f"{name:<9}{kind:<12}{str(shape):<20}{n:>10,}")
    lines.append(f"{'total':<41}{sum(r[3] for r in rows):>10,}")
    return "\n".join(lines)
