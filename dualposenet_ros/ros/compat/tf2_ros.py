"""Stand-in for ``tf2_ros.TransformBroadcaster`` (used only where tf2_ros is not installed).

Same interface and wire behaviour: ``TransformBroadcaster(node, qos=None)`` publishes one
``tf2_msgs/msg/TFMessage`` per ``sendTransform(transform)`` call (a ``TransformStamped`` or a list
of them) on ``/tf``, with tf2_ros' default QoS (:data:`TF_QOS`: keep last 100, reliable, volatile).

It needs ``tf2_msgs``: every ROS 2 installation has it, and ``tools/setup.sh`` builds it where only
the rclpy wheels are installed. Without it importing this module raises ``ImportError``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from tf2_msgs.msg import TFMessage

__all__ = ["TF_QOS", "TF_TOPIC", "TransformBroadcaster"]

TF_TOPIC = "/tf"
TF_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100, reliability=ReliabilityPolicy.RELIABLE,
                    durability=DurabilityPolicy.VOLATILE)
"""tf2_ros' default for ``/tf``."""


class TransformBroadcaster:
    """Publishes transforms on ``/tf`` as ``tf2_msgs/msg/TFMessage``, as tf2_ros does."""

    def __init__(self, node: Any, qos: QoSProfile | int | None = None) -> None:
        self.pub_tf = node.create_publisher(TFMessage, TF_TOPIC, TF_QOS if qos is None else qos)

    def sendTransform(self, transform: Any | Iterable[Any]) -> None:  # noqa: N802 (tf2_ros API name)
        transforms = list(transform) if isinstance(transform, (list, tuple)) else [transform]
        self.pub_tf.publish(TFMessage(transforms=transforms))
