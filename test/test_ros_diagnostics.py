"""Node statistics and rate-limited logging."""

from __future__ import annotations

from types import SimpleNamespace

from dualposenet_ros.ros.node_statistics import NodeStatistics
from dualposenet_ros.ros.rate_limited_log import RateLimitedLog
from dualposenet_ros.ros.stamp_order import StampOrder


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_rate_limited_log_per_key_with_suppressed_count():
    clock, lines = Clock(), []
    log = RateLimitedLog(SimpleNamespace(warning=lines.append, info=lines.append), period=5.0, clock=clock)
    assert log.warning("a", "bad a") and log.warning("b", "bad b")
    assert not log.warning("a", "bad a") and not log.warning("a", "bad a")
    clock.now += 5.0
    assert log.warning("a", "bad a")
    assert lines == ["bad a", "bad b", "bad a (2 more like this in the last 5 s)"]


def test_report_rates_latency_drops_rejections():
    clock = Clock()
    stats = NodeStatistics(["color", "depth"], clock=clock)
    report = stats.report()
    assert report.level == "ok" and report.message == "waiting for input"
    for index in range(10):
        stats.frame_synchronised(replaced_waiting=index % 2 == 1)
    for _ in range(5):
        stats.frame_processed(latency=0.1, processing=0.05, instances=2, too_few_points=1)
    clock.now += 2.0
    report = stats.report(extra={"device": "cpu"})
    values = report.values
    assert report.level == "ok" and "5 dropped" in report.message
    assert values["input rate (Hz)"] == "5.00" and values["processed rate (Hz)"] == "2.50"
    assert values["latency median (ms)"] == "100.0" and values["frames dropped"] == "5"
    assert values["instances (last frame)"] == "2" and values["too few points total"] == "5"
    assert values["device"] == "cpu"
    stats.frame_rejected("size_mismatch")
    stats.issue("unknown_class_id")
    clock.now += 1.0
    report = stats.report()
    assert report.level == "warn" and "rejected: size_mismatch (1)" in report.message
    assert report.values["rejected: size_mismatch"] == "1" and report.values["issue: unknown_class_id"] == "1"
    clock.now += 1.0
    assert stats.report().level == "ok"  # a new period; totals stay
    stats.error("estimation_failed")
    assert stats.report().level == "error"


def test_latency_statistics_ignore_stale_stamps_and_count_them():
    clock = Clock()
    stats = NodeStatistics(["color"], clock=clock)
    for latency in (0.1, 0.2, 0.3, 86_405.194, -50.0):  # one stamp a day old, one from the future
        stats.frame_processed(latency=latency, processing=0.05, instances=1, too_few_points=0)
    clock.now += 1.0
    report = stats.report()
    assert report.values["latency median (ms)"] == "200.0" and report.values["latency max (ms)"] == "300.0"
    assert report.values["issue: stale_stamp"] == "2" and report.level == "warn"


def test_info_level_issues_are_counted_without_a_warning_status():
    clock = Clock()
    stats = NodeStatistics(["color"], clock=clock)
    stats.frame_synchronised(False)
    stats.issue("depth_out_of_range", 120, warn=False)
    report = stats.report()
    assert report.level == "ok" and report.values["issue: depth_out_of_range"] == "120"


def test_stamp_order_repeated_and_backwards():
    order = StampOrder()
    assert [order.check(t) for t in (10, 20, 20, 15, 30, 30)] == [None, None, "repeated", "backwards", None, "repeated"]


def test_all_silent_after_the_timeout_since_start_or_the_last_message():
    clock = Clock()
    stats = NodeStatistics(["color", "depth"], clock=clock)
    clock.now += 2.0
    assert stats.all_silent(3.0) is None
    clock.now += 2.0
    assert stats.all_silent(3.0) == 4.0
    stats.input_received("depth")
    assert stats.all_silent(3.0) is None


def test_silent_inputs_and_unsynchronised():
    clock = Clock()
    stats = NodeStatistics(["color", "camera_info"], clock=clock)
    assert stats.silent_inputs(3.0) == []  # nothing arrives: nothing to warn about
    stats.input_received("color")
    assert stats.silent_inputs(3.0) == [("camera_info", None)]
    stats.input_received("camera_info")
    clock.now += 4.0
    stats.input_received("color")
    assert [name for name, _ in stats.silent_inputs(3.0)] == ["camera_info"]
    stats.input_received("camera_info")
    assert stats.unsynchronised(3.0)  # both arrive, no match for 4 s
    stats.frame_synchronised(False)
    assert not stats.unsynchronised(3.0)


def test_rate_limited_log_mixes_severities_with_a_real_rclpy_logger():
    """rclpy refuses a logging call site whose severity changes; the node logs all levels through
    RateLimitedLog, which must therefore keep one call site per severity."""
    from ros_support import require_rclpy

    require_rclpy()
    import rclpy.logging

    log = RateLimitedLog(rclpy.logging.get_logger("rate_limited_log_test"), period=5.0)
    assert log.info("a", "info message") and log.warning("b", "warning message")
    assert log.error("c", "error message") and log("debug", "d", "debug message")


def test_node_status_reads_the_status_of_one_node():
    from types import SimpleNamespace as NS

    from dualposenet_ros.ros.diagnostics import OBJECTS_SUBSCRIBERS, node_status, subscriber_count

    def status(node: str, **values: str) -> NS:
        return NS(hardware_id=node, values=[NS(key=k.replace("_", " "), value=v) for k, v in values.items()])

    array = NS(status=[status("/other", objects_subscribers="7"), status("/dualposenet", objects_subscribers="2")])
    assert OBJECTS_SUBSCRIBERS == "objects subscribers"
    assert node_status(array, "/dualposenet") == {OBJECTS_SUBSCRIBERS: "2"}
    assert node_status(array, "/missing") is None
    assert node_status(array, "/dualposenet").get("device") is None
    assert [subscriber_count(v) for v in ("2", "0", "off", None)] == [2, 0, None, None]
