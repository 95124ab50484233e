"""The studio's worker pool: a dispatcher thread claims queued tasks and runs each in a worker process.

Processes, not threads: a dub holds the CPU for minutes and the server must stay responsive.
``workers`` tasks run at once (one per job at a time); each worker sizes its thread pools to one
(:mod:`emodub.threads`) and runs at a lower priority than the server.
"""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from emodub.service.store import JobStore
from emodub.service.worker import init_worker, run_task

POLL_S = 0.2


class Dispatcher:
    """Claims tasks from the store while fewer than ``workers`` run; a worker that dies has its task queued again."""

    def __init__(self, store: JobStore, workers: int) -> None:
        self.store = store
        self.workers = workers
        self._stop = threading.Event()
        self._running: dict[int, Future] = {}
        self._pool: ProcessPoolExecutor | None = None
        # the thread that starts the worker processes lives as long as the server: PR_SET_PDEATHSIG is tied to it
        self._thread = threading.Thread(target=self._loop, name="emodub-dispatcher", daemon=True)

    def start(self) -> None:
        self.store.recover()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"), initializer=init_worker)

    def _loop(self) -> None:
        self._pool = self._new_pool()
        try:
            while not self._stop.is_set():
                self._reap()
                while len(self._running) < self.workers and (task := self.store.claim_next()) is not None:
                    try:
                        self._running[task.id] = self._pool.submit(run_task, str(self.store.data_dir), task.id)
                    except BrokenProcessPool:
                        self._pool = self._new_pool()
                        self._running[task.id] = self._pool.submit(run_task, str(self.store.data_dir), task.id)
                self._stop.wait(POLL_S)
        finally:
            for process in list((self._pool._processes or {}).values()):  # a stopping server does not wait for a dub
                process.kill()
            self._pool.shutdown(wait=False, cancel_futures=True)

    def _reap(self) -> None:
        broken = False
        for task_id, future in list(self._running.items()):
            if not future.done():
                continue
            del self._running[task_id]
            if future.exception() is not None:  # the worker process died (killed, out of memory): try again or fail
                broken = broken or isinstance(future.exception(), BrokenProcessPool)
                self.store.recover(task_id)
        if broken:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
            for task_id in list(self._running):
                self.store.recover(task_id)
                del self._running[task_id]
