"""TF: ``/tf`` carries ``tf2_msgs/msg/TFMessage`` with tf2_ros' QoS, from the stand-in broadcaster
as from tf2_ros; without tf2_ros and tf2_msgs the node logs an error, runs with TF disabled and
says so in diagnostics. (The node's frames over DDS are checked in test_ros_node.py.)"""

from __future__ import annotations

import sys
from types import SimpleNamespace
from typing import Any

import pytest

from dualposenet_ros.ros.parameters import reliable_input_overrides
from ros_node_support import FRAME_ID, Probe, assert_tf_publisher, in_process_node, make_frame, require_tf_message
from ros_support import require_distribution_library, require_rclpy, spin_until


class RecordingNode:
    """Records the publishers a broadcaster creates and what it publishes."""

    def __init__(self) -> None:
        self.publishers: list[SimpleNamespace] = []

    def create_publisher(self, msg_type: type, topic: str, qos: Any) -> SimpleNamespace:
        publisher = SimpleNamespace(msg_type=msg_type, topic=topic, qos=qos, sent=[])
        publisher.publish = publisher.sent.append
        self.publishers.append(publisher)
        return publisher


def transform(child: str) -> Any:
    from geometry_msgs.msg import TransformStamped

    msg = TransformStamped(child_frame_id=child)
    msg.header.frame_id = FRAME_ID
    return msg


def block_tf_libraries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``tf2_ros`` and ``tf2_msgs`` fail to import (and the stand-in be imported afresh)."""
    from dualposenet_ros.ros import compat

    for name in ("tf2_ros", "tf2_msgs", "tf2_msgs.msg"):
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "dualposenet_ros.ros.compat.tf2_ros", raising=False)
    monkeypatch.delattr(compat, "tf2_ros", raising=False)


def test_stand_in_publishes_one_tfmessage_per_call_on_tf_with_tf2_ros_qos():
    require_rclpy()
    tf_message = require_tf_message()
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, ReliabilityPolicy

    from dualposenet_ros.ros.compat import tf2_ros

    node = RecordingNode()
    broadcaster = tf2_ros.TransformBroadcaster(node)
    (publisher,) = node.publishers
    assert publisher.topic == "/tf" and publisher.msg_type is tf_message
    qos = publisher.qos
    assert (qos.history, qos.depth, qos.reliability, qos.durability) == (
        HistoryPolicy.KEEP_LAST, 100, ReliabilityPolicy.RELIABLE, DurabilityPolicy.VOLATILE)
    broadcaster.sendTransform([transform("a"), transform("b")])
    broadcaster.sendTransform(transform("c"))
    assert all(type(msg) is tf_message for msg in publisher.sent)
    assert [[t.child_frame_id for t in msg.transforms] for msg in publisher.sent] == [["a", "b"], ["c"]]


def test_real_tf2_ros_has_the_interface_the_node_uses():
    tf2_ros = require_distribution_library("tf2_ros")
    assert hasattr(tf2_ros.TransformBroadcaster, "sendTransform")


def test_without_tf2_ros_and_tf2_msgs_loading_fails_with_import_error(monkeypatch):
    require_rclpy()
    from dualposenet_ros.ros.compat import load_tf2_ros

    block_tf_libraries(monkeypatch)
    with pytest.raises(ImportError, match="tf2_msgs"):
        load_tf2_ros()


@pytest.mark.timeout(60)
def test_broadcaster_over_dds(rclpy_context):
    rclpy = require_rclpy()
    tf_message = require_tf_message()
    from rclpy.executors import SingleThreadedExecutor

    from dualposenet_ros.ros.compat import load_tf2_ros

    node = rclpy.create_node("tf_test", context=rclpy_context)
    executor = SingleThreadedExecutor(context=rclpy_context)
    executor.add_node(node)
    received = []
    node.create_subscription(tf_message, "/tf", lambda msg: received.extend(msg.transforms), 100)
    broadcaster = load_tf2_ros().TransformBroadcaster(node)
    try:
        assert spin_until(node, executor, lambda: broadcaster.sendTransform([transform("obj")]) or bool(received), 20)
        assert (received[0].header.frame_id, received[0].child_frame_id) == (FRAME_ID, "obj")
        assert_tf_publisher(node, "tf_test")
    finally:
        executor.shutdown()
        node.destroy_node()


@pytest.mark.timeout(120)
def test_node_without_tf_libraries_logs_an_error_and_runs_with_tf_disabled(rclpy_context, monkeypatch, capfd):
    require_rclpy()
    from dualposenet_ros.ros.node import TF_DISABLED

    probe = Probe(rclpy_context)  # imports TFMessage before it is blocked
    block_tf_libraries(monkeypatch)
    node = in_process_node(rclpy_context, {**reliable_input_overrides(), "diagnostics_period": 0.1})
    probe.executor.add_node(node)
    try:
        result = probe.wait_for_objects(1.0, timeout=30, republish=make_frame(1.0))
        assert result is not None and [o.category for o in result.objects] == ["mug", "bowl"]
        assert probe.spin_until(lambda: "TF" in probe.latest_diagnostics(), 5), probe.diagnostics
        assert probe.latest_diagnostics()["TF"].startswith("disabled"), probe.latest_diagnostics()
        assert probe.transforms == [] and not probe.node.get_publishers_info_by_topic("/tf")
    finally:
        probe.close()
        node.destroy_node()
    log = capfd.readouterr().err
    assert TF_DISABLED in log and "TF disabled" in log, log


@pytest.mark.timeout(120)
def test_a_namespaced_node_publishes_its_own_tf_frames(rclpy_context):
    """In namespace /left the default frame_prefix gives left/dualposenet/<category>_<id>, not the
    frames a node in the root namespace publishes."""
    require_rclpy()
    from rclpy.parameter import Parameter

    from dualposenet_ros.ros.node import DualPoseNetNode
    from ros_node_support import tiny_estimator

    inputs = ("/left/color/image", "/left/depth/image", "/left/color/camera_info", "/left/segmentation")
    probe = Probe(rclpy_context, node_namespace="/left/dualposenet", input_topics=inputs)
    overrides = [Parameter(name, value=value) for name, value in reliable_input_overrides("/left").items()]
    node = DualPoseNetNode(estimator=tiny_estimator(), context=rclpy_context, namespace="/left",
                           parameter_overrides=overrides)
    probe.executor.add_node(node)
    try:
        assert node.frame_prefix == "left/dualposenet/"
        result = probe.wait_for_objects(1.0, timeout=30, republish=make_frame(1.0))
        assert result is not None and [o.category for o in result.objects] == ["mug", "bowl"]
        assert probe.spin_until(lambda: len(probe.transforms_at(1.0)) == 2, 10), probe.transforms
        assert sorted(child for _, child in probe.transforms_at(1.0)) == sorted(
            f"left/dualposenet/{o.category}_{o.track_id or o.instance_id}" for o in result.objects)
    finally:
        probe.close()
        node.destroy_node()
