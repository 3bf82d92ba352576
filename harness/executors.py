"""Where tasks run: in this process, in a local process pool, or on a Dask cluster.

All executors offer one operation — a :class:`Stream` of calls of one function: inputs are
submitted with a tag at any time, also while results are being read, and iterating yields ``(tag,
result)`` as each call finishes — so the runner can persist every result the moment it exists
(resumability) and submit the work that was waiting for it, regardless of where it was computed.
Results are identical across executors because tasks are pure functions of plain data.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from splitbench import SplitbenchError

EXECUTORS = ("local", "dask")
SCHEDULER_TIMEOUT_S = 3.0


class Stream:
    """Calls of one function in this process, run one at a time as the stream is iterated."""

    def __init__(self, fn: Callable[[Any], Any]) -> None:
        self.fn = fn
        self._queue: deque[tuple[Any, Any]] = deque()

    def submit(self, item: Any, tag: Any) -> None:
        self._queue.append((item, tag))

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        while self._queue:
            item, tag = self._queue.popleft()
            yield tag, self.fn(item)

    def cancel(self) -> None:
        self._queue.clear()


class Executor:
    """Base: serial, in-process. Subclasses override :meth:`stream`."""

    name = "local"
    workers = 1

    def stream(self, fn: Callable[[Any], Any]) -> Stream:
        return Stream(fn)

    def map_unordered(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        """``(index, fn(item))`` for every item, as each finishes."""
        s = self.stream(fn)
        for i, item in enumerate(items):
            s.submit(item, i)
        try:
            yield from s
        finally:
            s.cancel()

    def close(self) -> None:
        pass

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _FutureStream(Stream):
    """Calls submitted to a concurrent.futures pool; finished ones are yielded in submission order."""

    def __init__(self, fn: Callable[[Any], Any], pool: ProcessPoolExecutor) -> None:
        super().__init__(fn)
        self._pool = pool
        self._futures: dict[Future[Any], tuple[int, Any]] = {}
        self._pending: set[Future[Any]] = set()

    def submit(self, item: Any, tag: Any) -> None:
        f = self._pool.submit(self.fn, item)
        self._futures[f] = (len(self._futures), tag)
        self._pending.add(f)

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        while self._pending:
            done, _ = wait(self._pending, return_when=FIRST_COMPLETED)
            self._pending -= done
            for f in sorted(done, key=lambda f: self._futures[f][0]):
                yield self._futures[f][1], f.result()

    def cancel(self) -> None:
        for f in self._pending:
            f.cancel()


class ProcessExecutor(Executor):
    """A local process pool, forked from a fork server that has preloaded torch and transformers.

    Not plain fork: the parent may hold threads (tqdm, Dask, torch) that a fork would copy in a
    locked state. Not plain spawn: every worker would re-import transformers (seconds each).
    """

    def __init__(self, jobs: int) -> None:
        self.workers = jobs
        self._pool = ProcessPoolExecutor(max_workers=jobs, mp_context=_pool_context(),
                                         initializer=_exit_with, initargs=(os.getpid(),))

    def stream(self, fn: Callable[[Any], Any]) -> Stream:
        return _FutureStream(fn, self._pool)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def _exit_with(pid: int) -> None:
    """Pool worker initializer: the worker ends when process ``pid`` (the one that made the pool)
    does. A worker waits on a task queue whose writing end it holds itself, so it never sees its
    parent go; a killed run would leave its workers behind, and with them the fork server, which
    stays while any process it forked is alive."""
    import select
    import threading

    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):  # no pidfd (before Linux 5.3, other systems): the pool ends it
        return

    def watch() -> None:
        select.select([fd], [], [])
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


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

    def stream(self, fn: Callable[[Any], Any]) -> Stream:
        return _DaskStream(fn, self.client)

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


class _DaskStream(Stream):
    """Calls submitted to a Dask client, yielded as they finish."""

    def __init__(self, fn: Callable[[Any], Any], client: Any) -> None:
        from dask.distributed import as_completed

        super().__init__(fn)
        self._client = client
        self._tags: dict[str, Any] = {}
        self._futures: list[Any] = []
        self._done = as_completed([], loop=client.loop)

    def submit(self, item: Any, tag: Any) -> None:
        f = self._client.submit(self.fn, item, pure=False)
        self._tags[f.key] = tag
        self._futures.append(f)
        self._done.add(f)

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        for f in self._done:
            yield self._tags[f.key], f.result()

    def cancel(self) -> None:
        for f in self._futures:
            f.cancel()


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
