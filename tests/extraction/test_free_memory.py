"""Workers hand freed memory back to the OS after each sample (signprep.extraction.free_memory)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from signprep.extraction.free_memory import release_free_memory


def _resident_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_freed_heap_memory_goes_back_to_the_os():
    if not release_free_memory():
        pytest.skip("this C library has no malloc_trim (not glibc)")
    baseline = _resident_mb()
    # ~200 MB of 4 KiB heap blocks; keeping every 100th pins the heap's top, so free() alone
    # cannot shrink it: the holes stay resident, as a sample's freed buffers did in a worker
    blocks = [bytearray(4096) for _ in range(50_000)]
    survivors = blocks[::100]
    del blocks
    held = _resident_mb()
    assert held - baseline > 150, f"the freed blocks should still be resident ({baseline:.0f} -> {held:.0f} MB)"
    assert release_free_memory()
    released = _resident_mb()
    assert held - released > 150, f"resident memory {held:.0f} MB -> {released:.0f} MB after release"
    assert len(survivors) == 500
