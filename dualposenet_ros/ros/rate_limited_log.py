"""Rate-limited logging of repeated problems: a kind of message is logged at most once per period,
and the next one logged says how many were suppressed (a bad input at 30 Hz must not flood the log)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

__all__ = ["RateLimitedLog"]


class RateLimitedLog:
    """Logs a message of a given kind (``key``) at most once per ``period`` seconds.

    The first occurrence is logged at once; later ones within the period are counted and the next
    logged message says how many were suppressed."""

    def __init__(self, logger: Any, period: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._logger = logger
        self.period = period
        self._clock = clock
        self._last: dict[str, float] = {}
        self._suppressed: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, level: str, key: str, message: str) -> bool:
        """Log ``message`` at ``level`` (debug/info/warning/error) unless rate-limited; True if logged."""
        now = self._clock()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.period:
                self._suppressed[key] += 1
                return False
            self._last[key] = now
            suppressed = self._suppressed.pop(key, 0)
        if suppressed:
            message = f"{message} ({suppressed} more like this in the last {self.period:g} s)"
        # One call site per severity: rclpy's logger refuses a call site whose severity changes.
        if level == "error":
            self._logger.error(message)
        elif level == "warning":
            self._logger.warning(message)
        elif level == "info":
            self._logger.info(message)
        else:
            self._logger.debug(message)
        return True

    def warning(self, key: str, message: str) -> bool:
        return self("warning", key, message)

    def info(self, key: str, message: str) -> bool:
        return self("info", key, message)

    def error(self, key: str, message: str) -> bool:
        return self("error", key, message)
