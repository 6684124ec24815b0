"""Shared settings of the parity suite (minidl vs torch, classical vs scikit-learn and others)."""
try:
    import torch

    torch.set_num_threads(1)  # deterministic reductions, and no oversubscription beside pytest-xdist
except ImportError:  # pragma: no cover - the dev extra installs torch
    pass
