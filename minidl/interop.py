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


class BackendUnavailable(RuntimeError):
    """The backend or device asked for cannot be used here (no PyTorch, no GPU, the minidl backend on a
    GPU, an unknown device). Raised when the Backend is built, before any model exists, so that
    ``python -m examples`` reports it as a user error (one line, exit status 2)."""


class Backend:
    """The namespace an example trains with: ``lib`` (minidl or torch), ``nn``, ``optim``, ``F``,
    plus ``tensor``/``to_numpy``/``model_to`` that move data and models to and from the backend's device.

    Device placement lives here and only here: a chapter builds its model, calls ``B.model_to(model)``,
    and makes every input with ``B.tensor(...)``; it never names a device itself. The device is checked
    when the backend is built (``BackendUnavailable``), not deep inside the first layer."""

    def __init__(self, name: str, device: str = "cpu") -> None:
        device = str(device)
        if name == "minidl":
            if device != "cpu":
                raise BackendUnavailable(f"the minidl backend runs on the CPU only (got --device {device}); "
                                         "use --backend torch for GPUs")
            import minidl as lib
        elif name == "torch":
            try:
                import torch as lib
            except ImportError as e:  # pragma: no cover - depends on the install
                raise BackendUnavailable("--backend torch needs PyTorch: pip install -e '.[torch]'") from e
            try:
                dev = lib.device(device)
            except (RuntimeError, ValueError) as e:
                raise BackendUnavailable(f"--device {device}: not a device torch knows ({e}); use cpu or cuda") from e
            if dev.type == "cuda":
                if not lib.cuda.is_available():
                    raise BackendUnavailable(f"--device {device} requested but this machine has no CUDA GPU that "
                                             f"torch can use (torch {lib.__version__}, built for CUDA "
                                             f"{lib.version.cuda or 'none'}); use --device cpu")
                if dev.index is not None and dev.index >= lib.cuda.device_count():
                    raise BackendUnavailable(f"--device {device}: only {lib.cuda.device_count()} GPU(s) visible")
            elif dev.type != "cpu":
                raise BackendUnavailable(f"--device {device}: the examples support cpu and cuda")
        else:
            raise ValueError(f"unknown backend {name!r}; choose 'minidl' or 'torch'")
        self.name, self.device, self.lib = name, device, lib
        self.nn = lib.nn
        self.optim = lib.optim
        self.F = lib.nn.functional
        self.no_grad = lib.no_grad
        self.float32, self.float64, self.int64 = lib.float32, lib.float64, lib.int64

    @property
    def is_cuda(self) -> bool:
        return self.device.startswith("cuda")

    def set_device(self, device: str) -> None:
        """Change the device (``torchrun``: each process takes ``cuda:<local rank>``); torch only."""
        if self.name != "torch" and device != "cpu":
            raise BackendUnavailable(f"the minidl backend runs on the CPU only (got {device})")
        self.device = str(device)
        if self.is_cuda:
            self.lib.cuda.set_device(self.lib.device(self.device))

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


class CheckpointError(ValueError, RuntimeError):
    """A weights file that cannot be read: truncated, corrupt, not a state_dict, or holding objects that a
    weights-only reader refuses. The message names the file. (A RuntimeError, as torch.load raises, and a
    ValueError, as minidl's other bad-file errors.)"""


def load_torch_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a torch ``.pth`` state_dict safely as minidl tensors (same keys).

    ``torch.load(weights_only=True)``: only tensors, numbers, strings and containers are rebuilt, never an
    arbitrary pickled object, so a file from the internet cannot run code. A ``{"state_dict": ...}`` wrapper
    (training checkpoints) is unwrapped. Errors name the file: FileNotFoundError, or CheckpointError for a
    truncated/corrupt file or one that is not a mapping of names to tensors."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        import torch
    except ImportError as e:  # pragma: no cover - depends on the install
        raise CheckpointError(f"{path}: reading a torch .pth file needs PyTorch (pip install -e '.[torch]'); "
                              "or convert it to minidl's .npz") from e
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        size = path.stat().st_size
        raise CheckpointError(f"{path} ({size:,} bytes): not a readable torch state_dict -- truncated, corrupt, "
                              f"or holding objects a weights-only load refuses ({type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else ''})") from e
    if isinstance(state, Mapping) and "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{path}: expected a state_dict (a mapping of names to tensors), "
                              f"got {type(state).__name__}")
    bad = [k for k, v in state.items() if not hasattr(v, "detach")]
    if bad:
        raise CheckpointError(f"{path}: entries that are not tensors: {bad[:5]}")
    return from_torch_state_dict(state)


def load_weights(path: str | Path) -> dict[str, Any]:
    """A state_dict from a weights file, as minidl tensors: minidl's ``.npz`` (read with
    ``allow_pickle=False``) or a torch ``.pt``/``.pth`` (``load_torch_checkpoint``). Errors name the file."""
    import zipfile
    path = Path(path)
    if path.suffix != ".npz":
        return load_torch_checkpoint(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    from minidl.tensor import Tensor
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: Tensor(np.array(f[k])) for k in f.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise CheckpointError(f"{path} ({path.stat().st_size:,} bytes): not a readable .npz of arrays -- "
                              f"truncated, corrupt, or holding pickled objects ({type(e).__name__}: {e})") from e


__all__ = ["Backend", "BackendUnavailable", "backend", "from_torch_state_dict", "to_torch_state_dict", "to_numpy_state_dict",
           "load_torch_checkpoint", "load_weights", "CheckpointError"]
