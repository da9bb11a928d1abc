"""TransformBroadcaster stand-in: same interface as tf2_ros; /tf with tf2_msgs, a clearly named
TransformStamped topic (never another type on /tf) without it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ros_support import require_rclpy, spin_until


class RecordingNode:
    def __init__(self):
        self.publishers, self.warnings = [], []

    def create_publisher(self, msg_type, topic, qos):
        publisher = SimpleNamespace(msg_type=msg_type, topic=topic, qos=qos, sent=[])
        publisher.publish = publisher.sent.append
        self.publishers.append(publisher)
        return publisher

    def get_logger(self):
        return SimpleNamespace(warning=self.warnings.append)


def transform(child: str):
    from geometry_msgs.msg import TransformStamped

    msg = TransformStamped(child_frame_id=child)
    msg.header.frame_id = "camera_color_optical_frame"
    return msg


def test_with_tf2_msgs_one_tfmessage_per_call_on_tf(monkeypatch):
    require_rclpy()
    from dualposenet_ros.ros.compat import tf2_ros

    class TFMessage:  # what tf2_msgs.msg.TFMessage is, for this test
        def __init__(self, transforms=()):
            self.transforms = list(transforms)

    monkeypatch.setattr(tf2_ros, "_tf_message_type", lambda: TFMessage)
    node = RecordingNode()
    broadcaster = tf2_ros.TransformBroadcaster(node)
    (publisher,) = node.publishers
    assert publisher.topic == "/tf" and publisher.msg_type is TFMessage and publisher.qos.depth == 100
    assert broadcaster.publishes_tf and not node.warnings
    broadcaster.sendTransform([transform("a"), transform("b")])
    broadcaster.sendTransform(transform("c"))
    assert [[t.child_frame_id for t in m.transforms] for m in publisher.sent] == [["a", "b"], ["c"]]


def test_without_tf2_msgs_transforms_go_to_the_fallback_topic_and_it_says_so(monkeypatch):
    require_rclpy()
    from geometry_msgs.msg import TransformStamped

    from dualposenet_ros.ros.compat import tf2_ros

    monkeypatch.setattr(tf2_ros, "_tf_message_type", lambda: None)
    node = RecordingNode()
    broadcaster = tf2_ros.TransformBroadcaster(node)
    (publisher,) = node.publishers
    assert publisher.topic == tf2_ros.FALLBACK_TOPIC != "/tf" and publisher.msg_type is TransformStamped
    assert not broadcaster.publishes_tf and "/tf_fallback" in node.warnings[0]
    broadcaster.sendTransform([transform("a"), transform("b")])
    assert [t.child_frame_id for t in publisher.sent] == ["a", "b"]


def test_real_tf2_ros_has_the_interface_the_node_uses():
    tf2_ros = pytest.importorskip("tf2_ros")
    assert hasattr(tf2_ros.TransformBroadcaster, "sendTransform")


@pytest.mark.timeout(60)
def test_broadcaster_over_dds(rclpy_context):
    rclpy = require_rclpy()
    from rclpy.executors import SingleThreadedExecutor

    from dualposenet_ros.ros.compat import load_tf2_ros
    from dualposenet_ros.ros.compat.tf2_ros import FALLBACK_TOPIC, tf2_msgs_available

    node = rclpy.create_node("tf_test", context=rclpy_context)
    executor = SingleThreadedExecutor(context=rclpy_context)
    executor.add_node(node)
    received = []
    if tf2_msgs_available():
        from tf2_msgs.msg import TFMessage

        node.create_subscription(TFMessage, "/tf", lambda m: received.extend(t.child_frame_id for t in m.transforms), 100)
    else:
        from geometry_msgs.msg import TransformStamped

        node.create_subscription(TransformStamped, FALLBACK_TOPIC, lambda m: received.append(m.child_frame_id), 100)
    broadcaster = load_tf2_ros().TransformBroadcaster(node)
    try:
        assert spin_until(node, executor, lambda: broadcaster.sendTransform([transform("obj")]) or bool(received), 20)
        assert received[0] == "obj"
    finally:
        executor.shutdown()
        node.destroy_node()
