"""The node's status on /diagnostics: a ``diagnostic_msgs/DiagnosticArray`` built from a
:class:`~dualposenet_ros.ros.node_statistics.Report`, and read back (the status of one node among
all on the shared topic) by the tools and tests that watch the node.
"""

from __future__ import annotations

from typing import Any

from .node_statistics import Report

__all__ = ["OBJECTS_SUBSCRIBERS", "diagnostic_array", "node_status", "subscriber_count"]

OBJECTS_SUBSCRIBERS = "objects subscribers"
"""Status key: how many subscriptions the node's ``~/objects`` publisher has matched, in the node's
own view. DDS discovery is per pair of processes and one side can know the other seconds before
the reverse (a busy machine, a lost announcement): a subscriber whose own count already shows the
node may still miss estimates the node publishes before the node counts it here. "off" when the
node does not publish objects."""


def diagnostic_array(report: Report, name: str, hardware_id: str, stamp: Any) -> Any:
    """``diagnostic_msgs/DiagnosticArray`` holding one status built from ``report``."""
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

    levels = {"ok": DiagnosticStatus.OK, "warn": DiagnosticStatus.WARN, "error": DiagnosticStatus.ERROR}
    status = DiagnosticStatus(level=levels[report.level], name=name, message=report.message, hardware_id=hardware_id,
                              values=[KeyValue(key=key, value=value) for key, value in report.values.items()])
    array = DiagnosticArray(status=[status])
    array.header.stamp = stamp
    return array


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
