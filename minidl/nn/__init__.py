"""``minidl.nn``: Module, Parameter, layers, losses, ``init`` and ``functional``."""
from minidl.nn import functional, init, utils  # noqa: F401
from minidl.nn.activation import ELU, GELU, PReLU, ReLU6, SiLU, Softplus, Hardtanh  # noqa: F401
from minidl.nn.container import (ModuleDict, ModuleList, ParameterDict, ParameterList,  # noqa: F401
                                 Sequential)
from minidl.nn.conv import (AdaptiveAvgPool2d, AvgPool2d, BatchNorm1d, BatchNorm2d, Conv1d, Conv2d,  # noqa: F401
                            ConvTranspose2d, Dropout2d, MaxPool2d)
from minidl.nn.embedding import Embedding  # noqa: F401
from minidl.nn.layers import (Dropout, Flatten, Identity, LeakyReLU, Linear, LogSoftmax, ReLU,  # noqa: F401
                              Sigmoid, Softmax, Tanh, Unflatten)
from minidl.nn.loss import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, HuberLoss, KLDivLoss,  # noqa: F401
                            L1Loss, MSELoss, NLLLoss, SmoothL1Loss)
from minidl.nn.module import Module, Parameter  # noqa: F401
from minidl.nn.normalization import GroupNorm, InstanceNorm2d, LayerNorm  # noqa: F401
from minidl.nn.upsample import Upsample, UpsamplingBilinear2d, UpsamplingNearest2d  # noqa: F401
from minidl.nn.variational import BayesLinear, LinearVariational  # noqa: F401
