"""The one-output-pixel path of the fast convolution (a matrix product of the receptive fields, used by
DCGAN's last discriminator layer and, through the transposed convolution, its first generator layer)
against the plain-NumPy reference, in float64: the two differ only in summation order, so they agree
to a few ulps of the sum of |terms| (atol 1e-12 on O(10) sums of O(1) terms)."""
from __future__ import annotations

import numpy as np
import pytest

from minidl.kernels import conv, conv_reference as ref


@pytest.mark.parametrize("H, W, k, stride, padding, dilation, groups", [
    (4, 4, (4, 4), 1, 0, 1, 1),            # DCGAN D conv4: 4x4 -> 1x1
    (4, 4, (4, 4), 4, 1, 1, 1),            # padded: part of the patch is padding
    (2, 2, (4, 4), 1, 1, 1, 2),            # kernel larger than the input, two groups
    (6, 6, (2, 3), 5, (0, 1), (4, 2), 1),  # dilated, rectangular
])
def test_one_pixel_conv2d(H: int, W: int, k: tuple[int, int], stride, padding, dilation, groups: int) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4, H, W))
    w = rng.standard_normal((6, 4 // groups, *k))
    b = rng.standard_normal(6)
    y = conv.conv2d_forward(x, w, b, stride, padding, dilation, groups)
    assert y.shape[2:] == (1, 1)
    np.testing.assert_allclose(y, ref.conv2d_forward(x, w, b, stride, padding, dilation, groups), rtol=0, atol=1e-12)
    g = rng.standard_normal(y.shape)
    for a, r in zip(conv.conv2d_backward(x, w, g, stride, padding, dilation, groups),
                    ref.conv2d_backward(x, w, g, stride, padding, dilation, groups)):
        np.testing.assert_allclose(a, r, rtol=0, atol=1e-12)


@pytest.mark.parametrize("k, stride, padding, output_padding", [(4, 1, 0, 0), (4, 2, 1, 0), (3, 2, 1, 1)])
def test_transposed_from_one_pixel(k: int, stride: int, padding: int, output_padding: int) -> None:
    """DCGAN's first generator layer: ConvTranspose2d from a 1x1 latent."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 5, 1, 1))
    w = rng.standard_normal((5, 7, k, k))
    args = (stride, padding, output_padding, 1)
    y = conv.conv_transpose2d_forward(x, w, None, *args)
    np.testing.assert_allclose(y, ref.conv_transpose2d_forward(x, w, None, *args), rtol=0, atol=1e-12)
    g = rng.standard_normal(y.shape)
    for a, r in zip(conv.conv_transpose2d_backward(x, w, g, *args), ref.conv_transpose2d_backward(x, w, g, *args)):
        np.testing.assert_allclose(a, r, rtol=0, atol=1e-12)
