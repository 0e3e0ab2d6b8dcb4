"""Where runs execute: a registry of executors (local process pool, Dask distributed).

Runs always go to separate processes, never threads (papermill and nbclient are not thread-safe: the
working directory is process-wide). Each executor yields ``(spec, record)`` as runs finish; a run that
crashes its worker is reported as failed and the others go on.
"""

from __future__ import annotations

import os
import signal
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from analysis.batch.params import ParameterError
from analysis.batch.runner import RunSpec, run_one, warm_worker


def _crash_record(spec: RunSpec, exc: BaseException) -> dict[str, Any]:
    return {
        "region_code": spec.region_code,
        "region_name": spec.region_name,
        "notebook": spec.notebook,
        "parameters": spec.parameters,
        "inputs_key": spec.inputs_key,
        "start": datetime.now(UTC).isoformat(timespec="seconds"),
        "duration_s": 0.0,
        "status": "failed",
        "error": f"worker crashed: {type(exc).__name__}: {exc}",
        "outputs": [],
    }


def _die_with_parent(parent_pid: int) -> None:
    """Linux: have the kernel send this process SIGTERM when the batch process dies, even by ``kill -9``
    or the OOM killer (``prctl(PR_SET_PDEATHSIG)``); an orphaned worker would otherwise wait for tasks
    forever and keep the fork server (whose stdin it shares) alive."""
    if sys.platform != "linux":
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def _pool_worker(fork_socket: str | None, parent_pid: int) -> None:
    """Process-pool initializer. Ctrl-C reaches the whole process group, but stopping is the batch's
    decision (:meth:`LocalExecutor.close`): a worker interrupted while reading its task queue could
    leave the pool unable to shut down. SIGTERM (sent by that decision, or when the batch process dies)
    ends the worker at once, whatever handler the batch process installed."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent(parent_pid)
    warm_worker(fork_socket)


class LocalExecutor:
    """A pool of ``jobs`` worker processes (forked on Linux, spawned elsewhere) sharing one warm-kernel fork server.

    The fork server starts here, so its imports overlap with planning and with the pool's start-up;
    ``preload`` names the modules it imports for the kernels (see :class:`~analysis.batch.forkserver.ForkServer`).
    """

    def __init__(
        self, *, jobs: int | None = None, warm: bool = True, preload: tuple[str, ...] | None = None, **_: Any
    ) -> None:
        self.jobs = int(jobs or os.cpu_count() or 1)
        if self.jobs < 1:
            raise ParameterError(f"--jobs must be at least 1, got {jobs}")
        self.warm = warm and sys.platform != "win32"
        self._pool = None
        self._server = None
        if self.warm:
            from analysis.batch.forkserver import ForkServer

            self._server = ForkServer(modules=preload)

    def run(self, specs: list[RunSpec]) -> Iterator[tuple[RunSpec, dict[str, Any]]]:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        if not specs:
            return
        # fork where possible: workers inherit papermill/nbconvert imported once here (the parent has
        # no threads yet); spawn elsewhere
        method = "fork" if sys.platform == "linux" else "spawn"
        if method == "fork":
            warm_worker(None)
        self._pool = ProcessPoolExecutor(
            max_workers=min(self.jobs, len(specs)),
            mp_context=mp.get_context(method),
            initializer=_pool_worker,
            initargs=(self._server.socket_path if self._server else None, os.getpid()),
        )
        futures = {self._pool.submit(run_one, spec): spec for spec in specs}
        for fut in as_completed(futures):
            spec = futures[fut]
            try:
                yield spec, fut.result()
            except Exception as exc:  # noqa: BLE001 - e.g. BrokenProcessPool
                yield spec, _crash_record(spec, exc)

    def close(self, *, abort: bool = False) -> None:
        """Stop the pool and the fork server (which kills its kernels). ``abort`` (Ctrl-C): end the runs in
        flight now rather than letting them finish; they leave only their staging folders."""
        if self._pool is not None:
            if abort:
                # Python ≥ 3.14 has a method for it; before, the pool's own process table
                terminate = getattr(self._pool, "terminate_workers", None)
                if terminate is not None:
                    terminate()
                else:
                    for proc in list((self._pool._processes or {}).values()):
                        proc.terminate()
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._server is not None:
            self._server.close()
            self._server = None


class DaskExecutor:
    """Send the runs to an existing Dask distributed cluster (``--scheduler tcp://host:8786``).

    Workers need this environment (same ``analysis`` and kernel) and must see the output folder (shared
    file system). Within a worker process runs are serialised by a lock, so threads never share papermill.
    """

    def __init__(self, *, scheduler: Any = None, warm: bool = True, **_: Any) -> None:
        if scheduler is None:
            raise ParameterError("--executor dask needs --scheduler tcp://host:8786 (or a Client/cluster object)")
        from distributed import Client

        if isinstance(scheduler, Client):
            self._client, self._own = scheduler, False
        else:
            try:
                self._client, self._own = Client(scheduler, timeout="10s"), True
            except OSError as exc:
                raise ParameterError(f"cannot reach the Dask scheduler {scheduler!r}: {exc}") from exc
        info = self._client.scheduler_info()
        self.jobs = sum(w.get("nthreads", 1) for w in info.get("workers", {}).values()) or 1
        self.warm = warm
        self._futures: list[Any] = []

    def run(self, specs: list[RunSpec]) -> Iterator[tuple[RunSpec, dict[str, Any]]]:
        from distributed import as_completed

        if not specs:
            return
        keys = [f"cnfp-{s.region_code}-{s.notebook}-{uuid.uuid4().hex[:8]}" for s in specs]
        futures = self._futures = self._client.map(run_one, specs, key=keys, pure=False, retries=0)
        by_key = {f.key: s for f, s in zip(futures, specs, strict=True)}
        for fut in as_completed(futures):
            spec = by_key[fut.key]
            try:
                yield spec, fut.result()
            except Exception as exc:  # noqa: BLE001 - a worker died or the task errored
                yield spec, _crash_record(spec, exc)

    def close(self, *, abort: bool = False) -> None:
        """Close our own client; ``abort`` (Ctrl-C) first cancels the runs not yet finished."""
        if abort and self._futures:
            self._client.cancel(self._futures)
            self._futures = []
        if self._own:
            self._client.close()


#: name → executor class (a registry, not an if-chain)
EXECUTORS: dict[str, type] = {"local": LocalExecutor, "dask": DaskExecutor}


def get_executor(name: str, **kwargs: Any):
    """Instantiate executor ``name`` (``local`` or ``dask``)."""
    if name not in EXECUTORS:
        raise ParameterError(f"unknown executor {name!r} (choose from {', '.join(EXECUTORS)})")
    return EXECUTORS[name](**kwargs)
