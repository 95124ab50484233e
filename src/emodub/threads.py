"""Thread pools sized for small models: one thread per worker process unless told otherwise.

On a busy 2-core machine, torch's default intra-op pool made one 2-s GE2E embedding take
4.6 s instead of 0.10 s (46×); every pool emodub starts (torch, onnxruntime, CTranslate2,
BLAS/OpenMP in numpy and scipy) therefore takes :func:`thread_count`, which is 1 unless
``EMODUB_THREADS`` says otherwise.  Parallelism comes from worker processes instead.
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
