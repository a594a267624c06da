"""Keep MediaPipe's native (C++/absl/TFLite) logging off the terminal.

That chatter is written by C++ threads straight to file descriptor 2, past
Python's logging, so the only reliable switch is to point fd 2 of each worker
process at a log file. The driver keeps the terminal for the progress bar and
the summary.
"""

from __future__ import annotations

import os
from pathlib import Path

_redirected_to: str | None = None


def send_native_logs_to(log_file: str | Path) -> None:
    """Redirect this process's fd 2 to `log_file`, appending (workers are reused across runs)."""
    global _redirected_to
    if _redirected_to == str(log_file):
        return
    Path(log_file).parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 2)
    os.close(fd)
    _redirected_to = str(log_file)
