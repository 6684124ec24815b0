"""``minidl.nn``: Module, Parameter, layers, losses, ``init`` and ``functional``."""
from minidl.nn import functional, init  # noqa: F401
from minidl.nn.container import (ModuleDict, ModuleList, ParameterDict, ParameterList,  # noqa: F401
                                 Sequential)
from minidl.nn.conv import (AdaptiveAvgPool2d, AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d,  # noqa: F401
                            ConvTranspose2d, Dropout2d, MaxPool2d)
from minidl.nn.layers import (Dropout, Flatten, Identity, LeakyReLU, Linear, LogSoftmax, ReLU,  # noqa: F401
                              Sigmoid, Softmax, Tanh)
from minidl.nn.loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss  # noqa: F401
from minidl.nn.module import Module, Parameter  # noqa: F401
from minidl.nn.variational import BayesLinear, LinearVariational  # noqa: F401
