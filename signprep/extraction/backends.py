"""Where `signprep extract` runs its samples: joblib's loky processes (default) or a Dask cluster.

The runner needs only an executor: `submit(fn, *args)` returning a
`concurrent.futures.Future`, a way to tell "the worker process died" from any
other error, and a way to stop. Both backends give that:

- `loky` (default): joblib's reusable process pool on this machine. A worker
  that dies (native crash, OOM kill) fails the samples it held; the run goes on
  with a fresh pool and a rerun tries them again.
- `dask`: a `distributed` cluster, through `Client.get_executor()`, which is a
  concurrent.futures executor. Without an address a `LocalCluster` of `workers`
  single-threaded processes starts on this machine; with one, the run uses an
  existing cluster (`dask scheduler` + `dask worker` on other machines). When a
  worker dies mid-video its nanny restarts it and the scheduler reruns the task
  on a live worker, so the sample is retried, not failed; only after
  `distributed.scheduler.allowed-failures` (default 3) deaths on one task (a video
  that crashes every worker) does it fail, with stage "worker".

Why Dask rather than Ray: the runner is already written against the
concurrent.futures interface, which `distributed` provides as is (Ray would need
its own ObjectRef plumbing); `distributed` is pure Python (dask + distributed are
~25 MB installed and a two-worker local cluster starts in ~3 s on the 2-core test
machine, where Ray brings compiled raylet and GCS server processes to start);
joblib has a Dask backend, so the same cluster serves any other joblib code a
user has; and the workload (independent tasks of seconds to minutes whose only
output is a file) needs none of Ray's actors or object store.

A retried task cannot duplicate or lose a sample: a worker writes
`parts/<sample_id>.h5` under a temporary name and renames it when complete, so a
rerun replaces the same file, and only the driver packs parts into shards and
writes the index, once per sample id.

Workers on other machines must see the output directory and the videos at the
same paths (a shared filesystem), and have signprep installed in the same version.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from pathlib import Path
from typing import Protocol

from joblib.externals.loky import get_reusable_executor
from joblib.externals.loky.process_executor import TerminatedWorkerError

BACKENDS = ("loky", "dask")

# How long the driver waits for an existing cluster to have a worker.
CLUSTER_WAIT_S = 60


class BackendError(RuntimeError):
    """The chosen backend is not installed or its cluster cannot be reached; the message says which."""


class ExtractBackend(Protocol):
    name: str

    @property
    def slots(self) -> int:
        """Samples that can run at once (worker processes x threads)."""

    def submit(self, fn, *args) -> Future: ...

    def worker_died(self, error: BaseException) -> bool:
        """True when `error` means the process running the task died (not a Python error of the task)."""

    def abort(self) -> None:
        """Stop now (Ctrl-C): cancel queued tasks and stop the workers this backend started."""

    def close(self) -> None:
        """Release the workers; called once after the run, also after abort()."""


class LokyBackend:
    """joblib's reusable loky process pool on this machine."""

    name = "loky"

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._executor = get_reusable_executor(max_workers=workers, timeout=60)

    @property
    def slots(self) -> int:
        return self.workers

    def submit(self, fn, *args) -> Future:
        return self._executor.submit(fn, *args)

    def worker_died(self, error: BaseException) -> bool:
        if isinstance(error, TerminatedWorkerError):
            # a dead worker breaks the whole pool: the next submit needs a fresh one
            self._executor = get_reusable_executor(max_workers=self.workers, timeout=60)
            return True
        return False

    def abort(self) -> None:
        self._executor.shutdown(wait=False, kill_workers=True)

    def close(self) -> None:
        pass  # kept for the next run in this process (the pool is reusable and times out when idle)


class DaskBackend:
    """A Dask `distributed` cluster: an existing one at `address`, else a local one of `workers` processes."""

    name = "dask"

    def __init__(self, workers: int, address: str | None = None, log_file: str | None = None) -> None:
        from distributed import Client, LocalCluster

        # the scheduler, nannies and client log in this process: to the run's log file, not the progress bar
        self._logs = _LoggerToFile("distributed", log_file) if log_file else None
        self._cluster = None
        if address is None:
            # one thread per process: MediaPipe graphs and fd-2 log redirection are per process,
            # and Holistic already uses the cores it is given
            try:
                self._cluster = LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=":0",  # any free port: None still takes 8787, warning if it is taken
                    silence_logs=logging.ERROR,  # restart notices etc. would break the progress bar
                )
            except RuntimeError as e:
                self.close()
                raise BackendError(
                    f"could not start a local Dask cluster of {workers} workers ({e}); a script that runs "
                    "extraction with backend='dask' needs `if __name__ == '__main__':`, since the workers are "
                    "spawned processes that import the main module"
                ) from e
            self._client = Client(self._cluster)
        else:
            try:
                self._client = Client(address, timeout=CLUSTER_WAIT_S)
            except (OSError, TimeoutError) as e:
                self.close()
                raise BackendError(f"cannot reach the Dask scheduler at {address}: {e}") from None
            try:
                self._client.wait_for_workers(1, timeout=CLUSTER_WAIT_S)
            except TimeoutError:
                self.close()
                raise BackendError(f"the Dask scheduler at {address} has no workers after {CLUSTER_WAIT_S} s") from None
        # pure=False: two submissions of one sample are two tasks (a rerun must not reuse a cached result)
        self._executor = self._client.get_executor(pure=False)

    @property
    def client(self):
        return self._client

    @property
    def slots(self) -> int:
        return max(1, sum(self._client.nthreads().values()))

    def submit(self, fn, *args) -> Future:
        return self._executor.submit(fn, *args)

    def worker_died(self, error: BaseException) -> bool:
        from distributed.scheduler import KilledWorker

        return isinstance(error, KilledWorker)  # raised only after the scheduler's retries ran out

    def abort(self) -> None:
        # cancels queued tasks; a task already running on a cluster we did not start finishes its
        # part, which the next run packs (parts are complete or absent)
        self._executor.shutdown(wait=False)

    def close(self) -> None:
        if getattr(self, "_client", None) is not None:
            self._client.close()  # idempotent, as is the cluster's
        if self._cluster is not None:
            self._cluster.close()  # stops the worker processes this run started
        if self._logs is not None:
            self._logs.restore()


class _LoggerToFile:
    """Send one logger's records to a file only (no propagation to the terminal) until restore()."""

    def __init__(self, name: str, log_file: str) -> None:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        self._logger = logging.getLogger(name)
        self._saved = (self._logger.handlers[:], self._logger.propagate)
        handler = _AppendHandler(log_file)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self._logger.handlers = [handler]
        self._logger.propagate = False

    def restore(self) -> None:
        for handler in self._logger.handlers:
            handler.close()
        self._logger.handlers, self._logger.propagate = self._saved


class _AppendHandler(logging.Handler):
    """Append records to a file. Not a StreamHandler on purpose: LocalCluster(silence_logs=...) sets every
    StreamHandler of the "distributed" logger to that level, which would empty the log file."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self._file = open(path, "a", encoding="utf-8")  # closed by close()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._file.write(self.format(record) + "\n")
            self._file.flush()
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        self._file.close()
        super().close()


def check_backend(name: str, address: str | None = None) -> None:
    """Raise BackendError for an unknown backend, an address without dask, or dask not installed."""
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}; known: {', '.join(BACKENDS)}")
    if address is not None and name != "dask":
        raise BackendError(f"--address needs --backend dask ({name} runs on this machine only)")
    if name == "dask":
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise BackendError("--backend dask needs the `distributed` package: pip install 'signprep[dask]'") from None


def open_backend(name: str, workers: int, address: str | None = None, log_file: str | None = None) -> ExtractBackend:
    """Start the backend called `name` (one of BACKENDS); `address` (dask only) names an existing cluster;
    `log_file` takes the cluster's own log messages (dask)."""
    check_backend(name, address)
    return LokyBackend(workers) if name == "loky" else DaskBackend(workers, address, log_file)
