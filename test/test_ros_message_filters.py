"""message_filters semantics: the built-in stand-in (and the real package where installed) must
give the same answers on the same cases: exact and approximate matching, slop, queue overflow
dropping the oldest stamp, out-of-order arrival, headerless messages."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ros_support import Source, require_rclpy, spin_until, stamped


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


def test_cache_keeps_the_newest_arrivals_and_answers_by_stamp(mf):
    from rclpy.time import Time

    source = Source()
    cache = mf.Cache(source, 3)
    passed = []
    cache.registerCallback(lambda msg: passed.append(msg.tag))
    for seconds in (1, 2, 4, 3):  # out of order: the cache keeps arrival order
        source.emit(stamped(seconds))
    assert passed == ["1", "2", "4", "3"] and [m.tag for m in cache.cache_msgs] == ["2", "4", "3"]

    def at(seconds):
        return Time(seconds=seconds, clock_type=Time.from_msg(stamped(0).header.stamp).clock_type)

    assert [m.tag for m in cache.getInterval(at(2), at(3))] == ["2", "3"]
    assert [m.tag for m in cache.getInterval(at(4), at(4))] == ["4"] and cache.getInterval(at(1), at(1)) == []
    assert cache.getElemAfterTime(at(2.5)).tag == "4" and cache.getElemBeforeTime(at(3.5)).tag == "3"
    assert cache.getOldestTime() == at(2) and cache.getElemAfterTime(at(5)) is None
