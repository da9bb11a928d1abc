"""Where a frame's time goes inside the node: per-stage wall time, reported on /diagnostics.

The inference thread laps a :class:`Stopwatch` after each stage of a frame (conversion,
inference, gating and tracking, each output); the diagnostics timer adds its own cost and
publishes, with every status, the median and maximum of each stage over the frames since the
previous status (keys ``stage ms: <stage>``). ``dualposenet benchmark --node`` reads them back to
report the node's own overhead next to the model's.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable

__all__ = ["STAGE_KEY_PREFIX", "StageTimes", "Stopwatch", "parse_stage_value"]

STAGE_KEY_PREFIX = "stage ms: "


class Stopwatch:
    """Laps of one frame: each :meth:`lap` records the time since the previous lap (or the start)."""

    def __init__(self, sink: "StageTimes", clock: Callable[[], float] = time.perf_counter) -> None:
        self._sink, self._clock = sink, clock
        self._last = clock()

    def lap(self, stage: str) -> None:
        now = self._clock()
        self._sink.add(stage, now - self._last)
        self._last = now


class StageTimes:
    """Per-stage durations since the last :meth:`report` (thread-safe)."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._samples: dict[str, list[float]] = {}

    def stopwatch(self) -> Stopwatch:
        return Stopwatch(self, self._clock)

    def add(self, stage: str, seconds: float) -> None:
        with self._lock:
            self._samples.setdefault(stage, []).append(seconds)

    def report(self) -> dict[str, str]:
        """``{"stage ms: <stage>": "<median> median, <max> max, <n> samples"}``, stages in first-seen
        order; the samples are cleared."""
        with self._lock:
            samples, self._samples = self._samples, {}
        return {f"{STAGE_KEY_PREFIX}{stage}": f"{statistics.median(values) * 1e3:.2f} median, "
                f"{max(values) * 1e3:.2f} max, {len(values)} samples" for stage, values in samples.items()}


def parse_stage_value(value: str) -> tuple[float, float, int]:
    """(median ms, max ms, samples) of a value written by :meth:`StageTimes.report`."""
    median, maximum, count = (part.strip().split()[0] for part in value.split(","))
    return float(median), float(maximum), int(count)
