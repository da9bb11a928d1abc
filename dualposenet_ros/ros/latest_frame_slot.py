"""Latest-frame-wins hand-over between the subscription callbacks and the inference thread.

A camera delivers frames faster than a network may estimate them. Queueing them would let the
latency grow without bound; instead a single slot holds the newest frame not yet taken, and a
newer frame replaces it (the replaced one is counted as dropped). The inference thread always
works on the most recent frame, and the latency stays at most one inference time plus one frame.
"""

from __future__ import annotations

import threading
import time
from typing import Generic, TypeVar

T = TypeVar("T")


class LatestFrameSlot(Generic[T]):
    """A thread-safe single-item slot: :meth:`put` never blocks, :meth:`get` waits for an item."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._item: T | None = None
        self._full = False
        self._closed = False
        self.received = 0
        """Items put since creation."""
        self.dropped = 0
        """Items replaced by a newer one before they were taken."""
        self.taken = 0
        """Items handed to a consumer."""

    def put(self, item: T) -> bool:
        """Store ``item``, replacing a waiting one. Returns True when one was replaced (dropped).

        After :meth:`close`, items are ignored (and not counted)."""
        with self._condition:
            if self._closed:
                return False
            replaced = self._full
            if replaced:
                self.dropped += 1
            self._item, self._full = item, True
            self.received += 1
            self._condition.notify()
            return replaced

    def get(self, timeout: float | None = None) -> T | None:
        """Take the waiting item, waiting up to ``timeout`` seconds (forever if None) for one.

        Returns None on timeout or once the slot is closed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._condition:
            while not self._full and not self._closed:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._condition.wait(remaining)
            if self._closed:
                return None
            item, self._item, self._full = self._item, None, False
            self.taken += 1
            return item

    @property
    def pending(self) -> bool:
        """Whether an item is waiting."""
        with self._condition:
            return self._full

    @property
    def closed(self) -> bool:
        with self._condition:
            return self._closed

    def close(self) -> None:
        """Wake every waiting :meth:`get` (they return None) and ignore further items."""
        with self._condition:
            self._closed = True
            self._item, self._full = None, False
            self._condition.notify_all()
