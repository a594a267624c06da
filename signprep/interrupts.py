"""A stop request (SIGTERM) handled like Ctrl-C by the long jobs.

Batch schedulers stop a job with SIGTERM before they kill it (Slurm at its time limit, then SIGKILL
after a grace period; `kill PID`; container runtimes). By default Python dies on it at once, so a
job lost its summary and left the temp file of a write in progress. Inside
`sigterm_as_interrupt()`, SIGTERM raises KeyboardInterrupt in the main thread instead: the job
keeps every finished sample, writes its summary and exits 130, as on Ctrl-C. A process forked
inside the block (it inherits the handler) dies of SIGTERM as before.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt in this (main) thread while the block runs; elsewhere a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set signal handlers
        return
    owner = os.getpid()

    def stop(signum: int, frame: object) -> None:
        if os.getpid() != owner:  # a forked child: die of the signal, as without this handler
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        raise KeyboardInterrupt(f"stopped by signal {signal.Signals(signum).name}")

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
