"""Numba kernels over plain ndarrays (no Tensor in here): convolution and pooling, forward and backward.

``conv`` and ``pool`` are the fast kernels; ``conv_reference`` and ``pool_reference`` are readable
plain-NumPy versions of the same functions, which the tests hold the fast ones to.
"""
from .conv import (conv2d_backward, conv2d_forward, conv_transpose2d_backward, conv_transpose2d_forward)
from .pool import (adaptive_avg_pool2d_backward, adaptive_avg_pool2d_forward, avgpool2d_backward,
                   avgpool2d_forward, maxpool2d_backward, maxpool2d_forward)
from .shapes import (adaptive_pool2d_output_shape, conv2d_output_shape, conv_transpose2d_output_shape,
                     pool2d_output_shape)

__all__ = ["conv2d_forward", "conv2d_backward", "conv_transpose2d_forward", "conv_transpose2d_backward",
           "maxpool2d_forward", "maxpool2d_backward", "avgpool2d_forward", "avgpool2d_backward",
           "adaptive_avg_pool2d_forward", "adaptive_avg_pool2d_backward", "conv2d_output_shape",
           "conv_transpose2d_output_shape", "pool2d_output_shape", "adaptive_pool2d_output_shape"]
