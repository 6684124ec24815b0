"""ImageNet networks of homework 3 with **torchvision's module structure and state_dict keys**: VGG16,
SqueezeNet 1.1 and ResNet-18, written once for either backend (``nn`` = ``minidl.nn``, the default, or
``torch.nn``).

Because the attribute paths are torchvision's (``features.0.weight``, ``classifier.6.bias``,
``features.3.expand3x3.weight``, ``layer1.0.conv1.weight``, ``layer2.0.downsample.1.running_var``...), a
torchvision ``.pth`` file loads directly::

    from minidl.interop import load_torch_checkpoint
    net = vgg16()
    net.load_state_dict(load_torch_checkpoint("vgg16-397923af.pth"))   # weights only, never unpickled

The architectures (input (N, 3, H, W), ImageNet-normalised):

    VGG16       13 conv 3x3 (pad 1) + ReLU in 5 blocks of 64, 128, 256, 512, 512 channels, each block
                ended by maxpool 2: 224 -> 7. AdaptiveAvgPool2d(7) (the identity at 224; it replicates
                smaller maps, so 32x32 inputs work too), then fc6 25088 -> 4096, ReLU, Dropout,
                fc7 4096 -> 4096, ReLU, Dropout, fc8 4096 -> 1000. 138,357,544 parameters.
    SqueezeNet  conv 64 3x3 stride 2, then Fire modules (squeeze 1x1 -> expand 1x1 || expand 3x3,
    1.1         concatenated) between ceil-mode max-pools; the classifier is a 1x1 conv to the classes
                and a global average: no fully connected layer at all. 1,235,496 parameters.
    ResNet-18   conv 7x7/2 + BN + ReLU + maxpool 3/2, four stages of two BasicBlocks (64, 128, 256, 512
                channels; stride 2 and a 1x1 projection shortcut where the shape changes), global
                average, fc 512 -> 1000. 11,689,512 parameters.

Initialisation follows torchvision's (Kaiming for convolutions, N(0, 0.01) for VGG's linear layers and
SqueezeNet's final convolution), so a network trained from scratch here starts as it would there.
"""
from __future__ import annotations

import sys
from collections import OrderedDict
from functools import lru_cache
from typing import Any

VGG16_CFG: list[int | str] = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
                              512, 512, 512, "M"]

# The course's names for VGG16's layers, as indices into ``features`` / ``classifier`` (after that module).
VGG16_LAYERS: dict[str, tuple[str, int]] = {
    "conv5": ("features", 28), "relu5": ("features", 29), "pool5": ("features", 30),
    "fc6": ("classifier", 0), "relu6": ("classifier", 1), "fc7": ("classifier", 3), "relu7": ("classifier", 4),
    "fc8": ("classifier", 6),
}


def _nn(nn: Any) -> Any:
    if nn is None:
        import minidl.nn as nn
    return nn


def _lib(nn: Any) -> Any:
    """The library a ``nn`` namespace belongs to (``minidl`` or ``torch``): for ``cat`` and ``flatten``."""
    return sys.modules[nn.__name__.split(".")[0]]


def check_input(x: Any, net: str, min_side: int) -> None:
    """Refuse an input the network cannot take, naming its shape, before the first layer fails on it (a
    RuntimeError, the type torch raises there): (N, 3, H, W) with H, W >= ``min_side`` is required."""
    shape = tuple(x.shape)
    if len(shape) != 4 or shape[1] != 3 or min(shape[2:]) < min_side:
        hint = (" (a grayscale image: stack it to 3 channels, e.g. x.repeat(1, 3, 1, 1))"
                if len(shape) == 4 and shape[1] == 1 else "")
        raise RuntimeError(f"{net}: expected a batch of RGB images (N, 3, H, W) with H, W >= {min_side}, "
                           f"got shape {shape}{hint}")


# --------------------------------------------------------------------------- VGG16
@lru_cache(maxsize=None)
def _vgg_class(nn: Any) -> type:
    lib = _lib(nn)

    class VGG(nn.Module):
        """torchvision's VGG: ``features`` (convolutions), ``avgpool``, ``classifier`` (fc6, fc7, fc8)."""

        def __init__(self, features: Any, num_classes: int = 1000, init_weights: bool = True,
                     dropout: float = 0.5) -> None:
            super().__init__()
            self.features = features
            self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
            self.classifier = nn.Sequential(
                nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(p=dropout),
                nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(p=dropout),
                nn.Linear(4096, num_classes))
            if init_weights:
                for m in self.modules():
                    if isinstance(m, nn.Conv2d):
                        nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                        nn.init.constant_(m.bias, 0)
                    elif isinstance(m, nn.Linear):
                        nn.init.normal_(m.weight, 0, 0.01)
                        nn.init.constant_(m.bias, 0)

        def forward(self, x: Any) -> Any:
            """x: (N, 3, H, W) with H, W >= 32 -> class scores (N, num_classes)."""
            check_input(x, "vgg16", 32)
            x = self.avgpool(self.features(x))
            return self.classifier(lib.flatten(x, 1))

    return VGG


def vgg16(nn: Any = None, *, num_classes: int = 1000, init_weights: bool = True, dropout: float = 0.5) -> Any:
    """VGG16 (configuration D, no batch norm), torchvision's ``vgg16()`` layout and keys."""
    nn = _nn(nn)
    layers: list[Any] = []
    c_in = 3
    for v in VGG16_CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(c_in, int(v), kernel_size=3, padding=1), nn.ReLU(True)]
            c_in = int(v)
    return _vgg_class(nn)(nn.Sequential(*layers), num_classes=num_classes, init_weights=init_weights,
                          dropout=dropout)


# --------------------------------------------------------------------------- SqueezeNet 1.1
@lru_cache(maxsize=None)
def _squeezenet_classes(nn: Any) -> tuple[type, type]:
    lib = _lib(nn)

    class Fire(nn.Module):
        """squeeze (1x1 conv to few channels, ReLU), then two parallel expands (1x1 and 3x3 pad 1, each
        with ReLU) concatenated along channels: (N, C_in, H, W) -> (N, e1 + e3, H, W)."""

        def __init__(self, inplanes: int, squeeze_planes: int, expand1x1_planes: int,
                     expand3x3_planes: int) -> None:
            super().__init__()
            self.inplanes = inplanes
            self.squeeze = nn.Conv2d(inplanes, squeeze_planes, kernel_size=1)
            self.squeeze_activation = nn.ReLU(inplace=True)
            self.expand1x1 = nn.Conv2d(squeeze_planes, expand1x1_planes, kernel_size=1)
            self.expand1x1_activation = nn.ReLU(inplace=True)
            self.expand3x3 = nn.Conv2d(squeeze_planes, expand3x3_planes, kernel_size=3, padding=1)
            self.expand3x3_activation = nn.ReLU(inplace=True)

        def forward(self, x: Any) -> Any:
            x = self.squeeze_activation(self.squeeze(x))
            return lib.cat([self.expand1x1_activation(self.expand1x1(x)),
                            self.expand3x3_activation(self.expand3x3(x))], 1)

    class SqueezeNet(nn.Module):
        """torchvision's SqueezeNet 1.1: ``features`` (conv + Fire modules), ``classifier`` (dropout,
        1x1 conv to the classes, ReLU, global average)."""

        def __init__(self, num_classes: int = 1000, dropout: float = 0.5) -> None:
            super().__init__()
            self.num_classes = num_classes
            self.features = nn.Sequential(
                nn.Conv2d(3, 64, kernel_size=3, stride=2), nn.ReLU(inplace=True),
                nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
                Fire(64, 16, 64, 64), Fire(128, 16, 64, 64),
                nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
                Fire(128, 32, 128, 128), Fire(256, 32, 128, 128),
                nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
                Fire(256, 48, 192, 192), Fire(384, 48, 192, 192), Fire(384, 64, 256, 256),
                Fire(512, 64, 256, 256))
            final_conv = nn.Conv2d(512, num_classes, kernel_size=1)
            self.classifier = nn.Sequential(nn.Dropout(p=dropout), final_conv, nn.ReLU(inplace=True),
                                            nn.AdaptiveAvgPool2d((1, 1)))
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    if m is final_conv:
                        nn.init.normal_(m.weight, mean=0.0, std=0.01)
                    else:
                        nn.init.kaiming_uniform_(m.weight)
                    nn.init.constant_(m.bias, 0)

        def forward(self, x: Any) -> Any:
            """x: (N, 3, H, W) with H, W >= 17 -> class scores (N, num_classes)."""
            check_input(x, "squeezenet1_1", 17)
            return lib.flatten(self.classifier(self.features(x)), 1)

    return Fire, SqueezeNet


def squeezenet1_1(nn: Any = None, *, num_classes: int = 1000, dropout: float = 0.5) -> Any:
    """SqueezeNet 1.1, torchvision's ``squeezenet1_1()`` layout and keys."""
    return _squeezenet_classes(_nn(nn))[1](num_classes=num_classes, dropout=dropout)


def fire(nn: Any, inplanes: int, squeeze_planes: int, expand1x1_planes: int, expand3x3_planes: int) -> Any:
    """One Fire module (SqueezeNet's building block) for the backend ``nn``."""
    return _squeezenet_classes(_nn(nn))[0](inplanes, squeeze_planes, expand1x1_planes, expand3x3_planes)


# --------------------------------------------------------------------------- ResNet-18
@lru_cache(maxsize=None)
def _resnet_classes(nn: Any) -> tuple[type, type]:
    lib = _lib(nn)

    class BasicBlock(nn.Module):
        """out = ReLU(bn2(conv2(ReLU(bn1(conv1(x))))) + shortcut(x)); the shortcut is the identity, or a
        1x1 conv + BN (``downsample``) where the stride or the channel count changes."""
        expansion = 1

        def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: Any = None) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.downsample = downsample
            self.stride = stride

        def forward(self, x: Any) -> Any:
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return self.relu(out + identity)

    class ResNet(nn.Module):
        """torchvision's ResNet with BasicBlocks: conv1, bn1, relu, maxpool, layer1..layer4, avgpool, fc."""

        def __init__(self, layers: list[int], num_classes: int = 1000) -> None:
            super().__init__()
            self.inplanes = 64
            self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
            self.layer1 = self._make_layer(64, layers[0])
            self.layer2 = self._make_layer(128, layers[1], stride=2)
            self.layer3 = self._make_layer(256, layers[2], stride=2)
            self.layer4 = self._make_layer(512, layers[3], stride=2)
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(512, num_classes)
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.constant_(m.weight, 1)
                    nn.init.constant_(m.bias, 0)

        def _make_layer(self, planes: int, blocks: int, stride: int = 1) -> Any:
            downsample = None
            if stride != 1 or self.inplanes != planes:
                downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes, 1, stride=stride, bias=False),
                                           nn.BatchNorm2d(planes))
            layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
            self.inplanes = planes
            layers += [BasicBlock(planes, planes) for _ in range(1, blocks)]
            return nn.Sequential(*layers)

        def forward(self, x: Any) -> Any:
            """x: (N, 3, H, W) -> class scores (N, num_classes)."""
            check_input(x, "resnet18", 1)
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(lib.flatten(self.avgpool(x), 1))

    return BasicBlock, ResNet


def resnet18(nn: Any = None, *, num_classes: int = 1000) -> Any:
    """ResNet-18, torchvision's ``resnet18()`` layout and keys."""
    return _resnet_classes(_nn(nn))[1]([2, 2, 2, 2], num_classes=num_classes)


def basic_block(nn: Any, inplanes: int, planes: int, stride: int = 1, downsample: Any = None) -> Any:
    """One ResNet BasicBlock for the backend ``nn``."""
    return _resnet_classes(_nn(nn))[0](inplanes, planes, stride, downsample)


def feature_extractor(model: Any, layer: str) -> Any:
    """A callable ``f(x) -> activations`` of VGG16's layer ``layer`` (a key of ``VGG16_LAYERS``), computed
    with a forward hook that stops the forward pass there (the layers after it never run)."""
    where, index = VGG16_LAYERS[layer]

    class _Stop(Exception):
        pass

    grabbed: dict[str, Any] = {}

    def hook(module: Any, args: Any, out: Any) -> None:
        grabbed["out"] = out
        raise _Stop

    def extract(x: Any) -> Any:
        handle = getattr(model, where)[index].register_forward_hook(hook)
        try:
            model(x)
        except _Stop:
            pass
        finally:
            handle.remove()
        return grabbed.pop("out")

    return extract


__all__ = ["VGG16_CFG", "VGG16_LAYERS", "basic_block", "check_input", "feature_extractor", "fire", "resnet18", "squeezenet1_1",
           "vgg16"]
