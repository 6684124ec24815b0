"""Every differentiable op of minidl: one ``Function`` class each (forward and backward side by
side), plus the torch-named functions that call them. ``minidl.autograd.OPS`` lists the classes."""
from minidl.ops._util import cast, index_arrays, normalize_dim, normalize_dims  # noqa: F401
from minidl.ops.activation import (dropout, leaky_relu, log_softmax, logsumexp, relu,  # noqa: F401
                                   sigmoid, softmax, tanh)
from minidl.ops.arithmetic import (add, bmm, compare, div, divide, floor_divide, matmul, mm, mul,  # noqa: F401
                                   multiply, neg, negative, pow, remainder, sub, subtract,
                                   true_divide)
from minidl.ops.elementwise import (abs, clamp, clip, clone, exp, log, log1p, maximum,  # noqa: F401
                                    minimum, sign, sqrt, where)
from minidl.ops.reduce import amax, amin, argmax, argmin, max, mean, min, std, sum, var  # noqa: F401
from minidl.ops.shape import (broadcast_to, cat, concat, concatenate, expand, flatten,  # noqa: F401
                              getitem, permute, reshape, squeeze, stack, swapaxes, t,
                              transpose, unsqueeze, view)
from minidl.ops import conv, loss, norm  # noqa: F401  (registers the loss, conv and norm ops)
