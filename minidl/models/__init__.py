"""The course's networks, written once for either backend (pass ``nn`` = ``minidl.nn`` or ``torch.nn``).

- ``course``: LeNet and the CIFAR-10 net of homework 2, and the layer table the course asks for.
- ``dann``: the DANN network and the gradient-reversal layer (homework 3-c); ``gan``: DCGAN and its conditional variant (3-d).
"""
from minidl.models.course import cifar_net, format_table, layer_table, lenet  # noqa: F401
from minidl.models.dann import DANN, GradReverse, dann_lr, grad_reverse, grl_lambda  # noqa: F401
from minidl.models.gan import (dcgan_init_, discriminator, discriminator_input, generator,  # noqa: F401
                               generator_input)
from minidl.models.vision import VGG16_LAYERS, feature_extractor, resnet18, squeezenet1_1, vgg16  # noqa: F401
