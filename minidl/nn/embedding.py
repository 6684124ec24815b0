"""Embedding: a lookup table ``weight: (num_embeddings, embedding_dim)`` indexed by integer ids.

    y[..., :] = W[idx[...], :]

The gradient scatters back: dL/dW[k] = sum of dL/dy over the positions where idx == k (the indexing
op's backward is that scatter-add). With ``padding_idx`` the row W[padding_idx] (initialised to zero)
gets no gradient, so it stays what it is.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from minidl import autograd
from minidl.nn import init
from minidl.nn.module import Module, Parameter
from minidl.ops import where
from minidl.ops._util import as_tensor
from minidl.tensor import Tensor


def _check_padding_idx(padding_idx: int | None, num_embeddings: int) -> int | None:
    if padding_idx is None:
        return None
    if not -num_embeddings <= padding_idx < num_embeddings:
        raise AssertionError("Padding_idx must be within num_embeddings")
    return padding_idx + num_embeddings if padding_idx < 0 else padding_idx


def _renorm_(weight: Tensor, idx: np.ndarray, max_norm: float, norm_type: float) -> None:
    """torch's ``max_norm``: rows that are looked up and have a norm above max_norm are rescaled in place
    (outside the graph) to norm max_norm (scale max_norm / (norm + 1e-7))."""
    rows = np.unique(idx)
    w = weight._data
    norms = np.linalg.norm(w[rows], ord=norm_type, axis=1)
    big = norms > max_norm
    w[rows[big]] *= (max_norm / (norms[big] + 1e-7))[:, None].astype(w.dtype)


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None, max_norm: float | None = None,
              norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """input: (*) integer ids;  weight: (V, D);  returns (*, D)."""
    idx = as_tensor(input)
    if idx.dtype.kind not in "iu":
        raise RuntimeError("Expected tensor for argument #1 'indices' to have one of the following scalar types: "
                           f"Long, Int; but got {idx.dtype} instead (embedding input {tuple(idx.shape)})")
    if scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: scale_grad_by_freq and sparse gradients are not implemented")
    if weight.ndim != 2:
        raise RuntimeError(f"'weight' must be 2-D, got weight {tuple(weight.shape)}")
    V = weight.shape[0]
    ids = idx._data
    if ids.size and (ids.min() < 0 or ids.max() >= V):
        bad = ids[(ids < 0) | (ids >= V)].flat[0]
        raise IndexError(f"index out of range in self: id {int(bad)} for an embedding of {V} rows")
    if max_norm is not None:
        with autograd.no_grad():
            _renorm_(weight, ids, max_norm, norm_type)
    out = weight[ids]
    padding_idx = _check_padding_idx(padding_idx, V)
    if padding_idx is not None and out.requires_grad:
        pad = Tensor((ids == padding_idx)[..., None])
        out = where(pad, out.detach(), out)  # same values, no gradient to the padding row
    return out


class Embedding(Module):
    """``weight ~ N(0, 1)`` (row ``padding_idx`` set to zero), as torch."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                 sparse: bool = False, _weight: Tensor | None = None, _freeze: bool = False, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx = _check_padding_idx(padding_idx, num_embeddings)
        self.max_norm, self.norm_type = max_norm, norm_type
        self.scale_grad_by_freq, self.sparse = scale_grad_by_freq, sparse
        if _weight is None:
            dt = np.dtype(dtype) if dtype is not None else autograd.get_default_dtype()
            self.weight = Parameter(np.empty((num_embeddings, embedding_dim), dtype=dt), requires_grad=not _freeze)
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise AssertionError("Shape of weight does not match num_embeddings and embedding_dim")
            self.weight = Parameter(_weight, requires_grad=not _freeze)

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight._data[self.padding_idx] = 0

    def forward(self, input: Tensor) -> Tensor:
        return embedding(input, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                         self.scale_grad_by_freq, self.sparse)

    @classmethod
    def from_pretrained(cls, embeddings: Tensor, freeze: bool = True, padding_idx: int | None = None,
                        max_norm: float | None = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                        sparse: bool = False) -> "Embedding":
        if embeddings.ndim != 2:
            raise AssertionError("Embeddings parameter is expected to be 2-dimensional")
        rows, cols = embeddings.shape
        return cls(rows, cols, padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse,
                   _weight=as_tensor(embeddings), _freeze=freeze)  # shares memory, as torch

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        return s
