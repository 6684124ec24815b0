"""Keep OpenBLAS's idle threads from spinning against Numba's kernels, whatever was imported first.

After each multi-threaded GEMM, OpenBLAS's worker threads busy-wait for new work for
``2**28`` cycles (~0.1 s) before they sleep.  A training step alternates GEMMs (the linear layers)
with Numba's parallel convolution kernels, so on a small machine a spinning BLAS thread takes a core
from a Numba thread for most of the step (about 20 % of the step time on a 2-core machine).
``OPENBLAS_THREAD_TIMEOUT=4`` (2**4 cycles) makes them sleep at once, but OpenBLAS reads it when it
loads: a user's script that imports NumPy before minidl would never get it.

OpenBLAS exports what its own ``fork`` handler uses, which gives a runtime route:
``openblas_read_env()`` re-reads the environment, and ``blas_thread_shutdown_()`` stops the worker
threads, which the next multi-threaded call starts again (reading the new timeout).  So
``quiet_openblas()`` does that for every OpenBLAS loaded in the process whose timeout is still the
default, unless the user set ``OPENBLAS_THREAD_TIMEOUT`` themselves.  It needs no BLAS call in flight,
which holds while ``minidl`` is being imported.
"""
from __future__ import annotations

import ctypes
import os


def _loaded_openblas() -> list[str]:
    """Paths of the OpenBLAS libraries mapped into this process (Linux; empty elsewhere)."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "openblas" in line.lower() and "/" in line}
    except OSError:
        return []
    return sorted(p for p in paths if ".so" in p)


def quiet_openblas(timeout: str = "4") -> list[str]:
    """Give every loaded OpenBLAS a short idle-thread timeout at run time; returns those changed."""
    if "OPENBLAS_THREAD_TIMEOUT" in os.environ and os.environ["OPENBLAS_THREAD_TIMEOUT"] != timeout:
        return []                      # the user's own setting wins
    changed = []
    for path in _loaded_openblas():
        try:
            lib = ctypes.CDLL(path)
            read_env, get_timeout = lib.openblas_read_env, lib.openblas_thread_timeout
            shutdown = lib.blas_thread_shutdown_
        except (OSError, AttributeError):
            continue                   # another build or version: leave it as it is
        get_timeout.restype = ctypes.c_int
        if get_timeout() > 0:
            continue                   # it read a timeout when it loaded
        os.environ["OPENBLAS_THREAD_TIMEOUT"] = timeout
        read_env()
        if get_timeout() > 0:
            shutdown()                 # restarted by the next threaded call, with the new timeout
            changed.append(path)
    return changed
