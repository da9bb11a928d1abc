"""message_filters semantics: the built-in stand-in (and the real package where installed) must
give the same answers on the same cases: exact and approximate matching, slop, queue overflow
dropping the oldest stamp, out-of-order arrival, headerless messages."""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import pytest

from ros_support import require_distribution_library, require_rclpy, spin_until


@pytest.fixture(params=[pytest.param("dualposenet_ros.ros.compat.message_filters", id="fallback"),
                        pytest.param("message_filters", id="message_filters")])
def mf(request):
    """The stand-in, and the real message_filters: skipped where it cannot be installed (PyPI
    wheels), required where a ROS installation is (ros_support.REQUIRE_ROS=full)."""
    require_rclpy()
    if request.param == "message_filters":
        return require_distribution_library("message_filters")
    return importlib.import_module(request.param)


class Source:
    """A minimal upstream filter (what message_filters.Subscriber is to a synchroniser)."""

    def __init__(self):
        self.callbacks = []

    def registerCallback(self, cb, *args):  # noqa: N802 (ROS API)
        self.callbacks.append((cb, args))
        return len(self.callbacks) - 1

    def emit(self, msg):
        for cb, args in self.callbacks:
            cb(msg, *args)


def stamped(seconds: float, tag: str = ""):
    from builtin_interfaces.msg import Time

    nanoseconds = int(round(seconds * 1e9))
    header = SimpleNamespace(stamp=Time(sec=nanoseconds // 10**9, nanosec=nanoseconds % 10**9))
    return SimpleNamespace(header=header, tag=tag or f"{seconds:g}")


def collect(sync):
    out = []
    sync.registerCallback(lambda *msgs: out.append(tuple(m.tag for m in msgs)))
    return out


def test_exact_matches_identical_stamps_only(mf):
    a, b, c = Source(), Source(), Source()
    out = collect(mf.TimeSynchronizer([a, b, c], 10))
    a.emit(stamped(1, "a1"))
    b.emit(stamped(1, "b1"))
    assert out == []
    c.emit(stamped(1.000000001, "c1+1ns"))
    assert out == []
    c.emit(stamped(1, "c1"))
    assert out == [("a1", "b1", "c1")]


def test_exact_out_of_order_arrival(mf):
    a, b = Source(), Source()
    out = collect(mf.TimeSynchronizer([a, b], 10))
    a.emit(stamped(2, "a2"))
    a.emit(stamped(1, "a1"))
    b.emit(stamped(1, "b1"))
    assert out == [("a1", "b1")]
    b.emit(stamped(2, "b2"))
    assert out == [("a1", "b1"), ("a2", "b2")]


def test_exact_queue_overflow_drops_the_oldest_stamp(mf):
    a, b = Source(), Source()
    out = collect(mf.TimeSynchronizer([a, b], 2))
    for t in (1, 2, 3):
        a.emit(stamped(t, f"a{t}"))
    b.emit(stamped(1, "b1"))
    assert out == []  # a1 was pushed out by a3
    b.emit(stamped(3, "b3"))
    assert out == [("a3", "b3")]
    b.emit(stamped(2, "b2"))
    assert out == [("a3", "b3"), ("a2", "b2")]


def test_approximate_matches_within_slop_and_not_beyond(mf):
    a, b = Source(), Source()
    out = collect(mf.ApproximateTimeSynchronizer([a, b], 10, 0.1))
    a.emit(stamped(1.0, "a1"))
    b.emit(stamped(1.05, "b1"))
    assert out == [("a1", "b1")]
    a.emit(stamped(2.0, "a2"))
    b.emit(stamped(2.2, "b2"))
    assert out == [("a1", "b1")]


def test_approximate_spread_must_be_strictly_below_slop(mf):
    a, b = Source(), Source()
    out = collect(mf.ApproximateTimeSynchronizer([a, b], 10, 0.1))
    a.emit(stamped(3.0, "a"))
    b.emit(stamped(3.1, "b"))
    assert out == []
    b.emit(stamped(3.099, "b'"))
    assert out == [("a", "b'")]


def test_approximate_prefers_the_nearest_stamp(mf):
    a, b = Source(), Source()
    out = collect(mf.ApproximateTimeSynchronizer([a, b], 10, 0.1))
    a.emit(stamped(1.0, "a1.00"))
    a.emit(stamped(1.04, "a1.04"))
    b.emit(stamped(1.05, "b1.05"))
    assert out == [("a1.04", "b1.05")]
    b.emit(stamped(1.01, "b1.01"))  # a1.00 is still queued and matches a later, out-of-order message
    assert out == [("a1.04", "b1.05"), ("a1.00", "b1.01")]


def test_approximate_three_inputs_out_of_order(mf):
    a, b, c = Source(), Source(), Source()
    out = collect(mf.ApproximateTimeSynchronizer([a, b, c], 10, 0.05))
    c.emit(stamped(5.02, "c"))
    a.emit(stamped(5.0, "a"))
    assert out == []
    b.emit(stamped(5.01, "b"))
    assert out == [("a", "b", "c")]


def test_approximate_queue_overflow_drops_the_oldest_stamp(mf):
    a, b = Source(), Source()
    out = collect(mf.ApproximateTimeSynchronizer([a, b], 2, 0.05))
    for t in (1.0, 2.0, 3.0):
        a.emit(stamped(t, f"a{t:g}"))
    b.emit(stamped(1.01, "b1"))
    assert out == []
    b.emit(stamped(2.01, "b2"))
    assert out == [("a2", "b2")]


def test_approximate_ignores_headerless_messages(mf):
    a, b = Source(), Source()
    out = collect(mf.ApproximateTimeSynchronizer([a, b], 10, 0.1))
    a.emit(SimpleNamespace(tag="no header"))
    a.emit(stamped(1.0, "a"))
    b.emit(stamped(1.0, "b"))
    assert out == [("a", "b")]


@pytest.mark.timeout(60)
def test_subscriber_passes_messages_from_dds_to_the_synchroniser(mf, rclpy_context):
    rclpy = require_rclpy()
    from rclpy.executors import SingleThreadedExecutor
    from geometry_msgs.msg import PointStamped

    node = rclpy.create_node("message_filters_test", context=rclpy_context)
    executor = SingleThreadedExecutor(context=rclpy_context)
    executor.add_node(node)
    try:
        first = mf.Subscriber(node, PointStamped, "mf_test/first", qos_profile=10)
        second = mf.Subscriber(node, PointStamped, "mf_test/second", qos_profile=10)
        assert first.getTopic() == "mf_test/first"
        seen = []
        first.registerCallback(lambda msg, tag: seen.append((tag, msg.header.frame_id)), "raw")
        out = []
        mf.TimeSynchronizer([first, second], 5).registerCallback(
            lambda x, y: out.append((x.header.frame_id, y.header.frame_id)))
        publishers = [node.create_publisher(PointStamped, f"mf_test/{name}", 10) for name in ("first", "second")]

        def publish():
            for publisher, name in zip(publishers, ("one", "two")):
                msg = PointStamped()
                msg.header.frame_id, msg.header.stamp.sec = name, 7
                publisher.publish(msg)
            return bool(out)

        assert spin_until(node, executor, publish, timeout=20)
        assert out[0] == ("one", "two") and ("raw", "one") in seen
    finally:
        executor.shutdown()
        node.destroy_node()
