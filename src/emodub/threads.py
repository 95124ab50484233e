"""Thread pools sized for small models: workers × threads = cores, never more.

On a busy 2-core machine, torch's default intra-op pool made one 2-s GE2E embedding take
4.6 s instead of 0.10 s (46×); every pool emodub starts (torch, onnxruntime, CTranslate2,
BLAS/OpenMP in numpy and scipy) therefore takes :func:`thread_count`: ``EMODUB_THREADS``, or 1
in a library caller.  The CLI gives its own process every usable core (:func:`use_all_cores`;
it runs the recognition and the voice search while no worker runs), and each of N worker
processes gets cores // N (:func:`share_cores`) unless the user set ``EMODUB_THREADS``.
"""

from __future__ import annotations

import functools
import os
import sys

from emodub.errors import InputError


def thread_count() -> int:
    """Threads per pool: ``$EMODUB_THREADS`` (a positive integer) or 1."""
    value = os.environ.get("EMODUB_THREADS", "1")
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1:
        raise InputError(f"EMODUB_THREADS {value!r} is not allowed; it must be a positive integer")
    return count


_FROM_CORES = "EMODUB_THREADS_FROM_CORES"  # set where EMODUB_THREADS was derived from the cores, not given by the user


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _derive(count: int) -> int:
    if "EMODUB_THREADS" not in os.environ or os.environ.get(_FROM_CORES):
        os.environ[_FROM_CORES] = "1"
        for name in ("EMODUB_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[name] = str(count)
    return limit_threads()


def use_all_cores() -> int:
    """Every usable core for this process's pools, unless the user set ``EMODUB_THREADS`` (call before any model loads)."""
    return _derive(usable_cores())


def share_cores(workers: int) -> int:
    """In one of ``workers`` worker processes: cores // workers threads per pool, unless the user set ``EMODUB_THREADS``."""
    return _derive(max(1, usable_cores() // max(1, workers)))


@functools.lru_cache(maxsize=1)
def limit_threads() -> int:
    """Size the BLAS/OpenMP pools once per process (CLI, workers, benches); torch's when torch is loaded."""
    count = thread_count()
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, str(count))  # for child processes and libraries not loaded yet
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(count)
    except ImportError:  # scikit-learn brings threadpoolctl; without it BLAS keeps its own size
        pass
    if "torch" in sys.modules:
        size_torch()
    return count


def size_torch() -> None:
    """torch's intra-op pool to :func:`thread_count` (called by every module that runs a torch model)."""
    import torch

    count = thread_count()
    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
