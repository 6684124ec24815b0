"""Timing helpers shared by the benchmarks: alternating medians, runs disturbed by other processes
retried, glibc told to keep freed memory (for both libraries alike), and a GEMM rate for scale."""
from __future__ import annotations

import os
import time
from typing import Callable

import numpy as np


def cpu_jiffies() -> tuple[int, int] | None:
    """(busy jiffies of the whole machine, jiffies of this process), or None off Linux."""
    try:
        with open("/proc/stat") as f:
            v = [int(t) for t in f.readline().split()[1:]]
        with open("/proc/self/stat") as f:
            s = f.read().rsplit(")", 1)[1].split()
        return sum(v) - v[3] - v[4], int(s[11]) + int(s[12])
    except (OSError, ValueError, IndexError):
        return None


# ``MINIDL_BENCH_CLOCK=cpu``: time with this process's CPU time instead of the wall clock.  Meaningful
# with ``--threads 1`` only (several threads add up, and idle-spinning threads count), but then robust on a
# machine loaded by others: being descheduled costs no CPU time (shared caches still do).
CPU_CLOCK = os.environ.get("MINIDL_BENCH_CLOCK", "wall") == "cpu"


def timed(f: Callable[[], object], retries: int) -> tuple[float, bool]:
    """Seconds of one call of f, retried (up to ``retries`` times) while other processes used the CPU
    during the call: on a shared machine those runs measure the neighbours, not the kernels."""
    clock = time.process_time if CPU_CLOCK else time.perf_counter
    for attempt in range(retries + 1):
        a = cpu_jiffies()
        t = clock()
        f()
        dt = clock() - t
        b = cpu_jiffies()
        if a is None or b is None or CPU_CLOCK:
            return dt, True
        foreign = (b[0] - a[0]) - (b[1] - a[1])        # CPU time used by anything but us
        if foreign <= 1:
            return dt, True
        time.sleep(0.05 * (attempt + 1))
    return dt, False


def alternating(ours: Callable[[], object], ref: Callable[[], object], reps: int,
                retries: int) -> tuple[list[float], list[float], int]:
    """Seconds of every run of ours and ref, alternating which runs first, plus the number of runs that
    stayed disturbed by other processes after the retries; one untimed warm-up each."""
    ours(), ref()
    t_o: list[float] = []
    t_r: list[float] = []
    disturbed = 0
    for r in range(reps):
        for f, acc in ((ours, t_o), (ref, t_r)) if r % 2 == 0 else ((ref, t_r), (ours, t_o)):
            dt, clean = timed(f, retries)
            acc.append(dt)
            disturbed += not clean
    return t_o, t_r, disturbed


def median_pair(ours: Callable[[], object], ref: Callable[[], object], reps: int,
                retries: int) -> tuple[float, float, int]:
    """Median seconds of ours and ref (see ``alternating``) and the number of disturbed runs."""
    t_o, t_r, disturbed = alternating(ours, ref, reps, retries)
    return float(np.median(t_o)), float(np.median(t_r)), disturbed


def min_pair(ours: Callable[[], object], ref: Callable[[], object], reps: int,
             retries: int) -> tuple[float, float, int]:
    """Fastest seconds of ours and ref (see ``alternating``): on a shared machine the least disturbed."""
    t_o, t_r, disturbed = alternating(ours, ref, reps, retries)
    return min(t_o), min(t_r), disturbed


def keep_freed_memory() -> bool:
    """Ask glibc to serve allocations below 32 MB from its heap and never hand freed memory back.

    Both libraries allocate fresh outputs of up to 16 MB per call.  Whether glibc maps such a block
    anew (4,096 page faults, ~10 ms here) or reuses a freed one depends on the allocation history of
    the whole process, so without this a kernel's time flips between two modes (torch's conv1 forward:
    2.4 ms or 11 ms).  The setting applies to ours and torch's alike; it measures the kernels, not the
    page-fault handler.  Returns False where mallopt is unavailable.
    """
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
        return bool(libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)) and bool(libc.mallopt(M_TRIM_THRESHOLD, 1 << 30))
    except (OSError, AttributeError):
        return False


def gemm_gflops(reps: int, retries: int, n: int = 1024) -> float:
    """NumPy float32 GEMM rate (BLAS as installed, same machine, same run), for scale."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n), dtype=np.float32), rng.standard_normal((n, n), dtype=np.float32)
    a @ b
    ts = [timed(lambda: a @ b, retries)[0] for _ in range(reps)]
    return 2 * n ** 3 / float(np.median(ts)) / 1e9


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (or the platform's processor string)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform
    return platform.processor() or platform.machine()


def machine_line() -> str:
    """CPU model and core count, the ISA and vector width Numba compiles minidl's kernels for, and the
    thread-related environment (what makes a timing comparable across machines)."""
    from minidl.kernels import _scratch
    env = ", ".join(f"{k}={os.environ[k]}" for k in ("OPENBLAS_THREAD_TIMEOUT", "OMP_WAIT_POLICY",
                                                     "NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES") if k in os.environ)
    return (f"CPU: {cpu_model()}, {os.cpu_count()} logical cores; {_scratch.describe()}; "
            f"environment after import minidl: {env or 'none of the tuning variables set'}; clock: "
            + ("process CPU time (MINIDL_BENCH_CLOCK=cpu)" if CPU_CLOCK else "wall"))
