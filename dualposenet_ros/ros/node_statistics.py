"""Statistics of the node for /diagnostics.

:class:`NodeStatistics` is fed from the subscription callbacks and the inference thread (it is
thread-safe) and turns what happened since the previous report into a :class:`Report`: input and
processing rates, latency (input stamp to publication), dropped and rejected frames (per reason),
instances and inputs that went silent. Latency statistics are medians and maxima over the period
and leave out stamps older than ``stale_after`` (a replayed or wrongly stamped frame is counted as
``stale_stamp`` instead of turning the statistics into nonsense).
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["STALE_AFTER", "NodeStatistics", "Report"]

STALE_AFTER = 10.0
"""Seconds: a frame whose stamp is older than this when estimated is left out of the latency statistics."""


@dataclass
class Report:
    """What the statistics say over one reporting period (and in total)."""

    level: str  # "ok", "warn" or "error"
    message: str
    values: dict[str, str] = field(default_factory=dict)


class NodeStatistics:
    """Thread-safe counters of the node; :meth:`report` summarises and starts a new period."""

    def __init__(self, inputs: Iterable[str], clock: Callable[[], float] = time.monotonic,
                 stale_after: float = STALE_AFTER) -> None:
        self._clock = clock
        self.stale_after = stale_after
        self._lock = threading.Lock()
        self.inputs = tuple(inputs)
        self._last_input: dict[str, float | None] = {name: None for name in self.inputs}
        self.totals: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()
        self.issues: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.last_instances = 0
        self._last_sync: float | None = None
        self._all_inputs_since: float | None = None  # when every input had arrived once
        self._started = clock()
        self._period_start = self._started
        self._reset_period()

    def _reset_period(self) -> None:
        self._period: Counter[str] = Counter()
        self._latencies: list[float] = []
        self._processing: list[float] = []
        self._period_problems: Counter[str] = Counter()

    # -- events ---------------------------------------------------------------------------------

    def input_received(self, name: str) -> None:
        with self._lock:
            self._last_input[name] = self._clock()
            if self._all_inputs_since is None and all(t is not None for t in self._last_input.values()):
                self._all_inputs_since = self._last_input[name]

    def frame_synchronised(self, replaced_waiting: bool) -> None:
        """A matched set of inputs was handed to the inference thread (replacing a waiting one?)."""
        with self._lock:
            self._last_sync = self._clock()
            self.totals["received"] += 1
            self._period["received"] += 1
            if replaced_waiting:
                self.totals["dropped"] += 1
                self._period["dropped"] += 1

    def frame_rejected(self, reason: str) -> None:
        with self._lock:
            self.totals["rejected"] += 1
            self.rejected[reason] += 1
            self._period_problems[f"rejected: {reason}"] += 1

    def issue(self, reason: str, count: int = 1, warn: bool = True) -> None:
        """A problem that did not stop the frame (an instance skipped, invalid depth pixels...).
        ``warn=False``: counted only, expected in normal operation (the status stays OK)."""
        with self._lock:
            self.issues[reason] += count
            if warn:
                self._period_problems[f"issue: {reason}"] += count

    def error(self, reason: str) -> None:
        """The estimation itself failed (an exception in the pipeline)."""
        with self._lock:
            self.totals["failed"] += 1
            self.errors[reason] += 1
            self._period_problems[f"error: {reason}"] += 1

    def frame_processed(self, latency: float | None, processing: float, instances: int, too_few_points: int) -> None:
        with self._lock:
            self.totals["processed"] += 1
            self._period["processed"] += 1
            self.totals["instances"] += instances
            self.totals["too_few_points"] += too_few_points
            self.last_instances = instances
            if latency is not None and -self.stale_after <= latency <= self.stale_after:
                self._latencies.append(latency)
            elif latency is not None:  # a stale (or future) stamp: counted, not averaged
                self.issues["stale_stamp"] += 1
                self._period_problems["issue: stale_stamp"] += 1
            self._processing.append(processing)

    def silent_inputs(self, timeout: float) -> list[tuple[str, float | None]]:
        """Inputs silent for more than ``timeout`` s while another input arrived within it:
        (name, seconds since its last message or None if never)."""
        now = self._clock()
        with self._lock:
            recent = [name for name, t in self._last_input.items() if t is not None and now - t <= timeout]
            if not recent:
                return []
            return [(name, None if t is None else now - t) for name, t in self._last_input.items()
                    if t is None or now - t > timeout]

    def all_silent(self, timeout: float) -> float | None:
        """Seconds since the last input message (or since start) when no input at all arrived for
        more than ``timeout`` s, else None."""
        now = self._clock()
        with self._lock:
            times = [t for t in self._last_input.values() if t is not None]
            last = max(times) if times else self._started
            return now - last if now - last > timeout else None

    def unsynchronised(self, timeout: float) -> bool:
        """Every input arrived within the last ``timeout`` s, but no matched set for ``timeout`` s."""
        now = self._clock()
        with self._lock:
            if any(t is None or now - t > timeout for t in self._last_input.values()):
                return False
            reference = self._last_sync if self._last_sync is not None else self._all_inputs_since
            return reference is not None and now - reference > timeout

    def note_problem(self, key: str) -> None:
        """Mark the current period as having a problem (shown in the report)."""
        with self._lock:
            self._period_problems[key] += 1

    # -- reporting ------------------------------------------------------------------------------

    def report(self, extra: Mapping[str, Any] | None = None) -> Report:
        """Summary of the period since the previous report (and totals); starts a new period."""
        now = self._clock()
        with self._lock:
            elapsed = max(now - self._period_start, 1e-9)
            period, latencies, processing = self._period, self._latencies, self._processing
            problems = self._period_problems
            self._period_start = now
            self._reset_period()
            values: dict[str, str] = {
                "input rate (Hz)": f"{period['received'] / elapsed:.2f}",
                "processed rate (Hz)": f"{period['processed'] / elapsed:.2f}",
                "latency median (ms)": f"{1e3 * statistics.median(latencies):.1f}" if latencies else "n/a",
                "latency max (ms)": f"{1e3 * max(latencies):.1f}" if latencies else "n/a",
                "processing time median (ms)": f"{1e3 * statistics.median(processing):.1f}" if processing else "n/a",
                "frames received": str(self.totals["received"]),
                "frames processed": str(self.totals["processed"]),
                "frames dropped": str(self.totals["dropped"]),
                "frames rejected": str(self.totals["rejected"]),
                "frames failed": str(self.totals["failed"]),
                "instances (last frame)": str(self.last_instances),
                "instances total": str(self.totals["instances"]),
                "too few points total": str(self.totals["too_few_points"]),
            }
            for reason, count in sorted(self.rejected.items()):
                values[f"rejected: {reason}"] = str(count)
            for reason, count in sorted(self.issues.items()):
                values[f"issue: {reason}"] = str(count)
            for reason, count in sorted(self.errors.items()):
                values[f"error: {reason}"] = str(count)
            for name, t in self._last_input.items():
                values[f"last {name} (s ago)"] = "never" if t is None else f"{now - t:.2f}"
            total_received = self.totals["received"]
        for key, value in (extra or {}).items():
            values[str(key)] = str(value)

        errors = sorted(key for key in problems if key.startswith("error:"))
        others = sorted(key for key in problems if not key.startswith("error:"))
        if errors:
            level, message = "error", "estimation failed: " + ", ".join(errors + others)
        elif others:
            level, message = "warn", ", ".join(f"{key} ({problems[key]})" for key in others)
        elif total_received == 0:
            level, message = "ok", "waiting for input"  # silent inputs are reported as problems by the node
        else:
            level, message = "ok", f"{period['processed']} frames in {elapsed:.1f} s"
        if period["dropped"] and level == "ok":
            message += f", {period['dropped']} dropped (inference slower than input)"
        return Report(level=level, message=message, values=values)
