"""Where tasks run: in this process, in a local process pool, or on a Dask cluster.

All executors offer one operation — run a function over a list of inputs and yield ``(index,
result)`` as each finishes — so the runner can persist every result the moment it exists
(resumability) regardless of where it was computed. Results are identical across executors
because tasks are pure functions of plain data.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from splitbench import SplitbenchError

EXECUTORS = ("local", "dask")
SCHEDULER_TIMEOUT_S = 3.0


class Executor:
    """Base: serial, in-process. Subclasses override :meth:`map_unordered`."""

    name = "local"
    workers = 1

    def map_unordered(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        for i, item in enumerate(items):
            yield i, fn(item)

    def close(self) -> None:
        pass

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ProcessExecutor(Executor):
    """A local process pool, forked from a fork server that has preloaded torch and transformers.

    Not plain fork: the parent may hold threads (tqdm, Dask, torch) that a fork would copy in a
    locked state. Not plain spawn: every worker would re-import transformers (seconds each).
    """

    def __init__(self, jobs: int) -> None:
        self.workers = jobs
        self._pool = ProcessPoolExecutor(max_workers=jobs, mp_context=_pool_context())

    def map_unordered(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        futures: dict[Future[Any], int] = {self._pool.submit(fn, item): i for i, item in enumerate(items)}
        try:
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in sorted(done, key=lambda f: futures[f]):
                    yield futures[f], f.result()
        finally:
            for f in futures:
                f.cancel()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _pool_context() -> Any:
    try:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["splitbench.harness._preload"])
    except ValueError:  # platforms without fork (Windows)
        ctx = multiprocessing.get_context("spawn")
    return ctx


def warm_up(kind: str = "local", jobs: int = 1) -> None:
    """Start the fork server of a local pool now, so that it imports torch and transformers while
    the caller resolves its suite (which needs neither the pool nor its answer); the pool made later
    forks its workers from it. Nothing for other executors."""
    if kind != "local" or jobs < 2:
        return
    ctx = _pool_context()
    if ctx.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


class DaskExecutor(Executor):
    """A Dask cluster: an existing one by scheduler address, or a LocalCluster of ``jobs`` workers."""

    name = "dask"

    def __init__(self, jobs: int, scheduler: str | None = None, processes: bool = True) -> None:
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError as e:  # pragma: no cover - dask is a hard dependency
            raise SplitbenchError(f"--executor dask: dask.distributed is not installed ({e})") from None
        self._cluster = None
        if scheduler:
            try:
                self.client = Client(scheduler, timeout=SCHEDULER_TIMEOUT_S, set_as_default=False)
            except (OSError, TimeoutError, ValueError, TypeError) as e:
                reason = str(e).splitlines()[0] if str(e) else type(e).__name__
                raise SplitbenchError(f"--scheduler {scheduler}: cannot connect: {reason}") from None
        else:
            self._cluster = LocalCluster(
                n_workers=jobs,
                threads_per_worker=1,
                processes=processes,
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
            self.client = Client(self._cluster, set_as_default=False)
        self.workers = max(1, len(self.client.scheduler_info().get("workers", {})) or jobs)

    def map_unordered(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        from dask.distributed import as_completed

        futures = [self.client.submit(fn, item, pure=False) for item in items]
        index = {f.key: i for i, f in enumerate(futures)}
        try:
            for f in as_completed(futures, loop=self.client.loop):
                yield index[f.key], f.result()
        finally:
            for f in futures:
                f.cancel()

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def default_jobs() -> int:
    """The CPU cores this process may use (the command line's default ``--jobs``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # platforms without affinity (macOS, Windows)
        return max(1, os.cpu_count() or 1)


def make_executor(
    kind: str = "local", jobs: int = 1, scheduler: str | None = None, dask_processes: bool = True
) -> Executor:
    if jobs < 1:
        raise SplitbenchError(f"--jobs: must be >= 1, got {jobs}")
    if kind not in EXECUTORS:
        raise SplitbenchError(f"--executor: must be one of {', '.join(EXECUTORS)}, got {kind!r}")
    if scheduler and kind != "dask":
        raise SplitbenchError("--scheduler: only meaningful with --executor dask")
    if kind == "dask":
        return DaskExecutor(jobs, scheduler, processes=dask_processes)
    return ProcessExecutor(jobs) if jobs > 1 else Executor()
