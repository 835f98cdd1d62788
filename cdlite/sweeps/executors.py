"""Where a sweep's tasks run: a local process pool (the default) or a Dask cluster. Both take
plain functions of plain values (cdlite.sweeps.tasks) and hand results back as data, so
the client alone writes the sweep folder and workers need no shared disk.

Both offer: submit(fn, *args) -> future, wait(futures) -> (done, not done) as soon as one is
done, result(future) (raises what the task raised), cancel() and close().
"""
from __future__ import annotations

import concurrent.futures as cf
import ctypes
import multiprocessing
import os
import signal
import sys

from ..addresses import probe_scheduler, scheduler_address
from ..errors import CdliteError


PR_SET_PDEATHSIG = 1  # prctl(2): the signal a process gets when its parent dies


def _worker_start(client_pid: int):
    """In each pool worker: Ctrl-C belongs to the client, which cancels the sweep (a worker
    would otherwise die mid-cell); SIGTERM ends the worker through Python, so that its task's
    temporary folder is removed; on Linux the worker gets SIGTERM when the client dies, however
    it dies (a SIGKILL too), so no worker outlives its sweep. BLAS threads as cdlite sets them
    (inherited environment). Task folders of killed workers are removed."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != client_pid:  # the client died before prctl: nobody to work for
        os._exit(1)
    import cdlite  # noqa: F401
    from . import tasks
    tasks.CLIENT_PID = client_pid
    tasks.remove_orphans()


class LocalPool:
    """A pool of `workers` processes on this machine (default: one per core), one BLAS thread
    each (on 2 cores, two 1-thread workers beat one 2-thread worker on these small products)."""

    name = "local pool"

    def __init__(self, workers: int | None = None):
        self.workers = int(workers or os.cpu_count() or 1)
        if self.workers < 1:
            raise CdliteError(f"--workers {workers}: give at least 1")
        self.pool = cf.ProcessPoolExecutor(self.workers,
                                           mp_context=multiprocessing.get_context("spawn"),
                                           initializer=_worker_start,
                                           initargs=(os.getpid(),))

    def submit(self, fn, *args):
        return self.pool.submit(fn, *args)

    def wait(self, futures):
        return cf.wait(futures, return_when=cf.FIRST_COMPLETED)

    @staticmethod
    def result(future):
        return future.result()

    def cancel(self):
        """Drop pending tasks and stop the workers at once (their cells are redone later), then
        remove the task folders they leave."""
        workers = list((getattr(self.pool, "_processes", None) or {}).values())
        self.pool.shutdown(wait=False, cancel_futures=True)
        for proc in workers:
            proc.kill()  # SIGKILL: a stopped cell's partial report would be thrown away anyway
        for proc in workers:
            proc.join(10)
        from .tasks import remove_orphans
        remove_orphans()

    def close(self):
        self.pool.shutdown(wait=True)


class DaskCluster:
    """The tasks on a Dask distributed cluster (`dask scheduler`, `dask worker ADDRESS`)."""

    name = "Dask cluster"

    def __init__(self, address: str, timeout: float = 8.0):
        address = scheduler_address(address)  # tcp://HOST:PORT, or one line
        try:
            from dask.distributed import Client
        except ImportError:
            raise CdliteError("--scheduler needs Dask: pip install 'cdlite[dask]'") from None
        # the peer must greet as a Dask scheduler before a Client reads a length from it
        probe_scheduler(address, timeout=min(timeout, 5.0))
        try:
            self.client = Client(address, timeout=f"{timeout}s", set_as_default=False)
        except (OSError, TimeoutError, ValueError) as e:
            raise CdliteError(f"cannot reach the Dask scheduler at {address} within "
                              f"{timeout:g} s ({type(e).__name__}: {e}); start one with "
                              "`dask scheduler` and workers with `dask worker ADDRESS`, or "
                              "drop --scheduler to use the local pool") from None
        self.workers = len(self.client.scheduler_info().get("workers", {}))
        self.futures = []

    def submit(self, fn, *args):
        future = self.client.submit(fn, *args, pure=False)
        self.futures.append(future)
        return future

    def wait(self, futures):
        from dask.distributed import wait
        with self.client.as_current():  # wait() looks for a current client
            done, not_done = wait(list(futures), return_when="FIRST_COMPLETED")
        return set(done), set(not_done)

    @staticmethod
    def result(future):
        return future.result()

    def cancel(self):
        self.client.cancel([f for f in self.futures if not f.done()])

    def close(self):
        self.client.close()


def make_executor(workers: int | None = None, scheduler: str | None = None):
    return DaskCluster(scheduler) if scheduler else LocalPool(workers)
