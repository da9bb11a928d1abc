"""Where the node's time goes: per-stage times on /diagnostics, and outputs made for people (markers,
debug image) only while someone subscribes."""

from __future__ import annotations

import pytest

from ros_node_support import Probe, in_process_node, make_frame
from ros_support import require_rclpy

from dualposenet_ros.ros.stage_times import STAGE_KEY_PREFIX, StageTimes, parse_stage_value


def test_stage_times_report_median_and_max_then_start_over() -> None:
    ticks = iter([0.0, 0.010, 0.030, 1.0, 1.002])
    times = StageTimes(clock=lambda: next(ticks))
    watch = times.stopwatch()  # 0.0
    watch.lap("conversion")  # 10 ms
    watch.lap("inference")  # 20 ms
    second = times.stopwatch()  # 1.0
    second.lap("conversion")  # 2 ms
    report = times.report()
    assert list(report) == [f"{STAGE_KEY_PREFIX}conversion", f"{STAGE_KEY_PREFIX}inference"]
    assert parse_stage_value(report[f"{STAGE_KEY_PREFIX}conversion"]) == pytest.approx((6.0, 10.0, 2))
    assert parse_stage_value(report[f"{STAGE_KEY_PREFIX}inference"]) == pytest.approx((20.0, 20.0, 1))
    assert times.report() == {}


def _inputs() -> dict:
    from dualposenet_ros.ros import parameters

    # No timer-driven status during the test: the test reads the stage times itself.
    return {**parameters.reliable_input_overrides(), "diagnostics_period": 1000.0}


def _drop_subscriptions(probe: Probe, *topics: str) -> None:
    for subscription in list(probe.node.subscriptions):
        if subscription.topic_name in topics:
            probe.node.destroy_subscription(subscription)


@pytest.mark.timeout(180)
def test_markers_and_debug_image_are_made_only_while_subscribed(rclpy_context) -> None:
    require_rclpy()
    node = in_process_node(rclpy_context, _inputs())
    probe = Probe(rclpy_context)
    probe.executor.add_node(node)
    try:
        # Subscribed (as RViz would be): both are made, and every stage is timed.
        assert probe.spin_until(lambda: node._markers_pub.get_subscription_count() > 0
                                and node._debug_pub.get_subscription_count() > 0, 30)
        assert probe.wait_for_objects(1.0, timeout=60, republish=make_frame(1.0)) is not None
        stages: set[str] = set()

        def drain() -> set[str]:
            stages.update(key[len(STAGE_KEY_PREFIX):] for key in node.stage_times.report())
            return stages

        # The worker laps the debug image after publishing it: wait for the lap, not only the message.
        assert probe.spin_until(lambda: probe.markers and probe.debug_images and "debug image" in drain(), 10), stages
        assert {"conversion", "inference", "gating and tracking", "objects", "markers", "debug image",
                "waiting for the worker"} <= stages, stages

        # Nobody subscribed: neither is drawn or published; the other outputs go on.
        _drop_subscriptions(probe, "/dualposenet/markers", "/dualposenet/debug_image")
        assert probe.spin_until(lambda: node._markers_pub.get_subscription_count() == 0
                                and node._debug_pub.get_subscription_count() == 0, 30)
        node.stage_times.report()  # forget the laps of earlier frames
        markers, images = len(probe.markers), len(probe.debug_images)
        assert probe.wait_for_objects(2.0, timeout=60, republish=make_frame(2.0)) is not None
        stages = {key[len(STAGE_KEY_PREFIX):] for key in node.stage_times.report()}
        assert {"conversion", "inference", "objects"} <= stages, stages
        assert not stages & {"markers", "debug image"}, stages
        assert (len(probe.markers), len(probe.debug_images)) == (markers, images)
    finally:
        probe.close()
        node.destroy_node()
