"""Running `signprep extract` as a separate process, killing it, and looking at what it left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def extract_command(manifest: Path, out: Path, pipeline: Path, workers: int = 2) -> list[str]:
    return [
        sys.executable, "-m", "signprep.cli", "extract", "--manifest", str(manifest), "--out", str(out),
        "--pipeline", str(pipeline), "--workers", str(workers), "--no-progress",
    ]  # fmt: skip


def start(cmd: list[str], log: Path, **kwargs) -> subprocess.Popen:
    """Start `cmd` in its own process group (so that a kill reaches its workers too)."""
    with open(log, "w") as f:
        return subprocess.Popen(cmd, cwd=REPO, stdout=f, stderr=subprocess.STDOUT, start_new_session=True, **kwargs)


def written_files(out: Path) -> set[str]:
    """Shards, parts and temporary files under `out`: what a kill can interrupt."""
    if not out.exists():
        return set()
    names = {p.name for p in out.glob("shard-*")} | {p.name for p in out.glob("*.tmp")}
    if (out / "parts").exists():
        names |= {f"parts/{p.name}" for p in (out / "parts").iterdir()}
    return names


def _group_alive(pgid: int) -> list[int]:
    """Pids of live (non-zombie) processes in a process group, from /proc."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) "
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            alive.append(int(stat.parent.name))
    return alive


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the process and its workers, and wait until none of them is left."""
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    deadline = time.monotonic() + 30
    while _group_alive(proc.pid):
        assert time.monotonic() < deadline, f"workers of {proc.pid} survived SIGKILL: {_group_alive(proc.pid)}"
        time.sleep(0.02)
