"""Which inputs were missing from the sets of inputs that never became complete (lost images over
DDS), counted by exact stamp."""

from __future__ import annotations

import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable

__all__ = ["InputCompleteness"]


class InputCompleteness:
    """Which inputs are missing from the sets that never became complete (exact stamps).

    Every input message is recorded by stamp; a set (one stamp) that was not synchronised is final
    once stamps more than ``horizon`` seconds newer arrived, or no input arrived for ``horizon``
    seconds (the stream stopped): its missing inputs are counted. Thread-safe; at most
    ``capacity`` stamps are remembered."""

    def __init__(self, inputs: Iterable[str], horizon: float = 1.0, capacity: int = 256,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.inputs = tuple(inputs)
        self._clock = clock
        self._last_received = clock()
        self.horizon_ns = int(horizon * 1e9)
        self.capacity = capacity
        self._seen: OrderedDict[int, set[str]] = OrderedDict()
        self._newest: int | None = None
        self._lock = threading.Lock()
        self.complete = 0
        self.incomplete = 0
        self.missing: Counter[str] = Counter()

    def received(self, role: str, stamp_ns: int) -> None:
        with self._lock:
            self._last_received = self._clock()
            self._seen.setdefault(stamp_ns, set()).add(role)
            self._newest = stamp_ns if self._newest is None else max(self._newest, stamp_ns)
            while len(self._seen) > self.capacity:
                self._finish(*self._seen.popitem(last=False))

    def synchronised(self, stamp_ns: int) -> None:
        with self._lock:
            if self._seen.pop(stamp_ns, None) is not None:
                self.complete += 1

    def collect(self) -> Counter[str]:
        """Missing inputs of the sets that became final since the previous call (input -> sets)."""
        with self._lock:
            before = self.missing.copy()
            if self._newest is not None:
                idle = self._clock() - self._last_received > self.horizon_ns * 1e-9
                for stamp in [s for s in self._seen if idle or s < self._newest - self.horizon_ns]:
                    self._finish(stamp, self._seen.pop(stamp))
            return self.missing - before

    def _finish(self, stamp: int, roles: set[str]) -> None:
        missing = [role for role in self.inputs if role not in roles]
        if missing:
            self.incomplete += 1
            self.missing.update(missing)
        else:
            self.complete += 1  # complete but never matched (e.g. sync replaced it): not an input problem
