"""Notices input stamps that repeat or go backwards (a replayed bag, a camera driver restarted)."""

from __future__ import annotations

__all__ = ["StampOrder"]


class StampOrder:
    """Notices frames whose stamp repeats the previous frame's or goes back in time."""

    def __init__(self) -> None:
        self._last: int | None = None

    def check(self, stamp_ns: int) -> str | None:
        """``"repeated"``, ``"backwards"`` or None for the stamp of the next frame (nanoseconds)."""
        last, self._last = self._last, stamp_ns if self._last is None else max(self._last, stamp_ns)
        if last is None or stamp_ns > last:
            return None
        return "repeated" if stamp_ns == last else "backwards"
