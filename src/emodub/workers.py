"""One warm pool of worker processes per process, shared by every dub it runs.

Each worker sizes its thread pools to cores // workers (:func:`emodub.threads.share_cores`) and
loads the models a cue needs (Kokoro and its duration predictor, GE2E, Whisper, DistillMOS)
once, when it starts: :func:`warm_up` starts them at the beginning of a dub, so they load while
this process decodes the video, reads the emotions and searches the voice.  The pool stays up
between dubs (a batch's videos, the studio's jobs) and is shut down when the process exits; a
broken pool (a worker killed) is forgotten (:func:`forget`) and replaced on the next call.
"""

from __future__ import annotations

import multiprocessing
import signal
import threading
from concurrent.futures import ProcessPoolExecutor

from emodub.threads import share_cores

_pools: dict[int, ProcessPoolExecutor] = {}
_lock = threading.Lock()


def start_worker(workers: int) -> None:
    """A worker's first step: Ctrl-C left to the parent (one "interrupted" line, not a traceback a worker), its share of
    the cores, then every model a cue's synthesis and verification load."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    share_cores(workers)
    preload()


def preload() -> None:
    """Load the models of a cue's synthesis and verification now; one that is not installed is skipped (its check says so later)."""
    from emodub.ear import default_ear  # heavy (scipy): loaded only when used
    from emodub.engines.builtin import kokoro  # heavy (scipy): loaded only when used
    from emodub.naturalness import default_judge  # heavy (scipy): loaded only when used
    from emodub.voice import load_encoder  # heavy (scipy): loaded only when used

    load_encoder()
    default_ear()
    default_judge()
    if kokoro.missing_reason() is None:
        kokoro.load_sessions()


def _ready() -> bool:
    return True


def warm_pool(workers: int) -> ProcessPoolExecutor:
    """The process's pool of ``workers`` workers, started (spawn, not fork: see :mod:`emodub.dub.render`) on first use."""
    with _lock:
        pool = _pools.get(workers)
        if pool is None:
            pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=start_worker, initargs=(workers,))
            _pools[workers] = pool
        return pool


def warm_up(workers: int) -> None:
    """Start the pool's workers now, so they load their models in the background (returns at once)."""
    pool = warm_pool(workers)
    for _ in range(workers):
        pool.submit(_ready)


def forget(workers: int) -> None:
    """Drop a broken pool (a worker died) so that the next call starts a new one."""
    with _lock:
        pool = _pools.pop(workers, None)
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)


def shut_down() -> None:
    """Stop every pool (tests, and a server that shuts down)."""
    with _lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.shutdown(wait=True, cancel_futures=True)


__all__ = ["forget", "preload", "shut_down", "start_worker", "warm_pool", "warm_up"]
