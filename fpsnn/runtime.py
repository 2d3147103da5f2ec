"""How fpsnn's compiled loops share the machine: threads per batch, task hand-out, and two process-wide
settings that keep them fast when other programs run beside them.

Both settings are made once, when :mod:`fpsnn.kernels` is imported (before the first parallel loop of
the process), and neither is made when the user chose one: ``OMP_WAIT_POLICY`` set in the environment,
or any ``MALLOC_*`` tuning variable of glibc. ``FPSNN_TUNE_RUNTIME=0`` switches both off (for A/B
measurements: ``tools/bench_gradient.py``). Measured ratios are in ``docs/performance.md``.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
from contextlib import contextmanager

import numba
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["MIN_SAMPLES_PER_THREAD", "threads_for", "next_task", "tune_process",
           "prefer_passive_waiting", "keep_freed_memory"]

#: glibc ``mallopt`` parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
#: Blocks below this come from the heap, not from a fresh mapping (bytes; glibc's largest allowed value on
#: 64-bit systems).
MMAP_THRESHOLD = 32 * 2**20
#: Free memory at the top of the heap is returned to the system only above this (bytes).
TRIM_THRESHOLD = 256 * 2**20


def prefer_passive_waiting() -> str | None:
    """Let idle OpenMP threads sleep at once instead of spinning (``OMP_WAIT_POLICY=PASSIVE``), unless
    the user chose a policy; returns the policy in force.

    Numba's default threading layer is OpenMP. Its worker threads spin for a while at the end of every
    parallel region; on a machine where another process wants a core, those spinning threads take CPU
    time from the thread that runs the serial part between regions (the loss) and from the competitor,
    and the batch waits. Sleeping at once costs a wake-up per region (microseconds, against a batch of
    milliseconds). Takes effect only if set before the OpenMP runtime starts.
    """
    return os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed blocks for the next batch (returns whether it was set).

    A batch allocates a few MB of buffers (spike times, event orders, adjoint sums) and frees them. By
    default glibc serves blocks above a threshold from fresh mappings and returns free heap above
    another to the system, so every batch faults its buffers in again page by page (zeroing each), which
    shows as kernel time in a profile (``docs/performance.md``). With both thresholds raised
    (:data:`MMAP_THRESHOLD`, :data:`TRIM_THRESHOLD`) the freed blocks are reused. The price is that up to
    :data:`TRIM_THRESHOLD` of freed memory stays with the process. glibc (Linux) only; elsewhere, or when
    a ``MALLOC_*`` variable is set, nothing is changed.
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    if any(k.startswith("MALLOC_") for k in os.environ):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    except (OSError, AttributeError):
        return False


def tune_process() -> dict:
    """Both settings above unless ``FPSNN_TUNE_RUNTIME=0``; returns what is in force."""
    if os.environ.get("FPSNN_TUNE_RUNTIME", "1") == "0":
        return {"omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"), "keep_freed_memory": False}
    return {"omp_wait_policy": prefer_passive_waiting(), "keep_freed_memory": keep_freed_memory()}


MIN_SAMPLES_PER_THREAD = 16


@contextmanager
def threads_for(batch: int):
    """Run the compiled loops inside with at most one thread per ``MIN_SAMPLES_PER_THREAD`` samples.

    A parallel region costs a thread hand-off and a join; for a handful of samples (XOR's batch of 4,
    one hardware-in-the-loop sample) that is all it does, and on a busy machine the join waits for a
    descheduled worker for a whole time slice (measured: 1000 XOR trainings took 45x longer with 2
    threads than with 1 while other processes ran). Results do not depend on the thread count.
    """
    n = numba.get_num_threads()
    want = max(1, min(n, int(batch) // MIN_SAMPLES_PER_THREAD))
    if want == n:
        yield
        return
    numba.set_num_threads(want)
    try:
        yield
    finally:
        numba.set_num_threads(n)


@intrinsic
def next_task(typingctx, counter):
    """Take the next task number from the shared ``counter`` (a one-element int64 array) in compiled
    code: an atomic fetch-and-add, so every number is handed out exactly once, whatever the thread.

    The batch loops run one iteration per thread (``prange(numba.get_num_threads())``), and each
    thread takes samples (or batch chunks) with ``next_task`` until they run out. Numba's own split
    of a ``prange`` is static under its OpenMP layer (each thread gets a fixed contiguous share;
    ``numba.set_parallel_chunksize`` does not change that there), so a thread whose core another
    process took held back its whole share and the batch waited for it; handed out this way, the
    threads that run take over the remaining tasks, and a join waits for at most one task.
    """
    if not (isinstance(counter, types.Array) and counter.dtype == types.int64 and counter.ndim == 1):
        return None

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, signature.args[0], ary, [context.get_constant(types.intp, 0)])
        return builder.atomic_rmw("add", ptr, context.get_constant(types.int64, 1), "monotonic")

    return types.int64(counter), codegen
