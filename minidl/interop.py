"""Bridges to PyTorch: the backend switch used by the examples, and state_dict conversion.

torch is imported lazily, inside these functions only: ``import minidl`` never imports torch.

    B = backend("minidl")            # or backend("torch", device="cuda")
    model = B.nn.Sequential(B.nn.Linear(2, 10), B.nn.Tanh(), B.nn.Linear(10, 2))
    opt = B.optim.SGD(model.parameters(), lr=0.03)
    x = B.tensor(X_numpy)            # on the backend's device

Because minidl mirrors torch's names and signatures, the model and training code is written once.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np


class Backend:
    """The namespace an example trains with: ``lib`` (minidl or torch), ``nn``, ``optim``, ``F``,
    plus ``tensor``/``to_numpy`` that move data to and from the backend's device."""

    def __init__(self, name: str, device: str = "cpu") -> None:
        if name == "minidl":
            if device != "cpu":
                raise ValueError(f"the minidl backend runs on the CPU only (got --device {device}); "
                                 "use --backend torch for GPUs")
            import minidl as lib
        elif name == "torch":
            try:
                import torch as lib
            except ImportError as e:  # pragma: no cover - depends on the install
                raise ImportError("--backend torch needs PyTorch: pip install -e '.[torch]'") from e
            if str(device).startswith("cuda") and not lib.cuda.is_available():
                raise RuntimeError(f"--device {device} requested but torch sees no CUDA device")
        else:
            raise ValueError(f"unknown backend {name!r}; choose 'minidl' or 'torch'")
        self.name, self.device, self.lib = name, device, lib
        self.nn = lib.nn
        self.optim = lib.optim
        self.F = lib.nn.functional
        self.no_grad = lib.no_grad
        self.float32, self.float64, self.int64 = lib.float32, lib.float64, lib.int64

    def tensor(self, data: Any, dtype: Any = None, requires_grad: bool = False) -> Any:
        """A backend tensor (on the device) holding a copy of ``data``."""
        if self.name == "torch":
            t = self.lib.as_tensor(np.asarray(data), dtype=dtype, device=self.device).clone()
            return t.requires_grad_(requires_grad) if requires_grad else t
        return self.lib.tensor(np.asarray(data), dtype=dtype, requires_grad=requires_grad)

    def to_numpy(self, t: Any) -> np.ndarray:
        if self.name == "torch":
            return t.detach().cpu().numpy()
        return t.detach().numpy()

    def manual_seed(self, seed: int) -> None:
        self.lib.manual_seed(seed)

    def model_to(self, model: Any) -> Any:
        """Move a module to the backend's device (a no-op on minidl)."""
        return model.to(self.device)

    def __repr__(self) -> str:
        return f"Backend({self.name!r}, device={self.device!r})"


def backend(name: str = "minidl", device: str = "cpu") -> Backend:
    return Backend(name, device)


# --------------------------------------------------------------------------- state_dict conversion
def to_numpy_state_dict(state: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Any state_dict (minidl or torch tensors, or arrays) as ``{key: ndarray}`` copies."""
    out = {}
    for k, v in state.items():
        if hasattr(v, "detach") and hasattr(v, "cpu"):  # torch
            out[k] = v.detach().cpu().numpy().copy()
        elif hasattr(v, "_data"):  # minidl
            out[k] = np.array(v._data, copy=True)
        else:
            out[k] = np.array(v, copy=True)
    return out


def from_torch_state_dict(state: Mapping[str, Any]) -> dict[str, Any]:
    """A torch state_dict as minidl tensors (same keys), ready for ``model.load_state_dict``."""
    from minidl.tensor import Tensor
    return {k: Tensor(v) for k, v in to_numpy_state_dict(state).items()}


def to_torch_state_dict(state: Mapping[str, Any]) -> dict[str, Any]:
    """A minidl state_dict as torch tensors (same keys), ready for ``torch_model.load_state_dict``."""
    import torch
    return {k: torch.from_numpy(v) for k, v in to_numpy_state_dict(state).items()}


def load_torch_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a torch ``.pth`` state_dict safely (``weights_only=True``: no arbitrary unpickling) as minidl tensors."""
    import torch
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ValueError(f"{path}: not a readable torch state_dict ({e})") from e
    if isinstance(state, Mapping) and "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping):
        raise ValueError(f"{path}: expected a state_dict (a mapping of names to tensors), got {type(state).__name__}")
    return from_torch_state_dict(state)


__all__ = ["Backend", "backend", "from_torch_state_dict", "to_torch_state_dict", "to_numpy_state_dict",
           "load_torch_checkpoint"]
