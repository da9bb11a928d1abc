"""Statistics of the node for /diagnostics, and rate-limited logging of repeated problems.

:class:`NodeStatistics` is fed from the subscription callbacks and the inference thread (it is
thread-safe) and turns what happened since the previous report into a
``diagnostic_msgs/DiagnosticStatus``: input and processing rates, latency (input stamp to
publication), dropped and rejected frames (per reason), instances and inputs that went silent.
Latency statistics are medians and maxima over the period and leave out stamps older than
``stale_after`` (a replayed or wrongly stamped frame is counted as ``stale_stamp`` instead of
turning the statistics into nonsense). :class:`StampOrder` notices stamps that repeat or go
backwards.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["OBJECTS_SUBSCRIBERS", "NodeStatistics", "RateLimitedLog", "Report", "StampOrder",
           "node_status", "subscriber_count"]

OBJECTS_SUBSCRIBERS = "objects subscribers"
"""Status key: how many subscriptions the node's ``~/objects`` publisher has matched, in the node's
own view. DDS discovery is per pair of processes and one side can know the other seconds before
the reverse (a busy machine, a lost announcement): a subscriber whose own count already shows the
node may still miss estimates the node publishes before the node counts it here. "off" when the
node does not publish objects."""

STALE_AFTER = 10.0
"""Seconds: a frame whose stamp is older than this when estimated is left out of the latency statistics."""


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


def diagnostic_array(report: Report, name: str, hardware_id: str, stamp: Any) -> Any:
    """``diagnostic_msgs/DiagnosticArray`` holding one status built from ``report``."""
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

    levels = {"ok": DiagnosticStatus.OK, "warn": DiagnosticStatus.WARN, "error": DiagnosticStatus.ERROR}
    status = DiagnosticStatus(level=levels[report.level], name=name, message=report.message, hardware_id=hardware_id,
                              values=[KeyValue(key=key, value=value) for key, value in report.values.items()])
    array = DiagnosticArray(status=[status])
    array.header.stamp = stamp
    return array


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


def node_status(array: Any, hardware_id: str) -> dict[str, str] | None:
    """The key/value pairs of the status from ``hardware_id`` (a node's fully qualified name) in a
    ``DiagnosticArray`` (/diagnostics is shared by every node); None when it holds none."""
    for status in array.status:
        if status.hardware_id == hardware_id:
            return {pair.key: pair.value for pair in status.values}
    return None


def subscriber_count(value: str | None) -> int | None:
    """A reported :data:`OBJECTS_SUBSCRIBERS` value as a count; None when absent or "off"."""
    return int(value) if value is not None and value.isdigit() else None
