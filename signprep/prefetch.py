"""Read an iterator ahead in a background thread, so decoding overlaps the keypoint model.

Holistic holds a worker for ~50 ms of each frame while the decoder's share (decode, repeat
check, crop, resize: 1-3 ms) would otherwise wait its turn. decord (ctypes), OpenCV and
MediaPipe's graph all release the GIL while they work, so the two run side by side.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")

_DONE = object()


class _Raised:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetched(items: Iterator[T], depth: int = 4) -> Iterator[T]:
    """Yield what `items` yields, in order, produced up to `depth` items ahead in a thread.

    An exception raised by `items` is re-raised here at its place in the sequence. When the
    consumer stops early (break, exception, or the generator being closed), the thread stops
    within a fraction of a second and closes `items`.
    """
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    ahead: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item) -> bool:
        while not stop.is_set():
            try:
                ahead.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not offer(item):
                    break
            else:
                offer(_DONE)
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, raised there
            offer(_Raised(e))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = ahead.get()
            if item is _DONE:
                return
            if isinstance(item, _Raised):
                raise item.error
            yield item
    finally:
        stop.set()
        thread.join()
