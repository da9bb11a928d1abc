"""Stand-in for ``tf2_ros.TransformBroadcaster`` (used only where tf2_ros is not installed).

Same interface: ``TransformBroadcaster(node, qos=None)`` and ``sendTransform(transform)`` with a
``geometry_msgs/msg/TransformStamped`` or a list of them.

* Where ``tf2_msgs`` can be imported, it does what tf2_ros does: one ``tf2_msgs/msg/TFMessage``
  per call on ``/tf``, with tf2_ros' default QoS (keep last 100, reliable, volatile).
* Where it cannot (the ROS 2 wheels on PyPI have no tf2_msgs), no ``TFMessage`` can be created.
  Publishing another type on ``/tf`` would break every TF listener sharing the graph, so the
  transforms go, one ``geometry_msgs/msg/TransformStamped`` each, to :data:`FALLBACK_TOPIC`,
  and the broadcaster says so once in the node's log.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rclpy.qos import QoSProfile

__all__ = ["FALLBACK_TOPIC", "TF_TOPIC", "TransformBroadcaster", "tf2_msgs_available"]

TF_TOPIC = "/tf"
FALLBACK_TOPIC = "/tf_fallback"
"""Where transforms go, as ``geometry_msgs/msg/TransformStamped``, when tf2_msgs is missing."""


def _tf_message_type() -> Any:
    try:
        from tf2_msgs.msg import TFMessage
    except ImportError:
        return None
    return TFMessage


def tf2_msgs_available() -> bool:
    """Whether ``tf2_msgs`` can be imported (and so ``/tf`` can be published)."""
    return _tf_message_type() is not None


class TransformBroadcaster:
    """Publishes transforms: ``TFMessage`` on ``/tf`` (or ``TransformStamped`` on the fallback topic)."""

    def __init__(self, node: Any, qos: QoSProfile | int | None = None) -> None:
        from geometry_msgs.msg import TransformStamped

        qos = QoSProfile(depth=100) if qos is None else qos
        self._message_type = _tf_message_type()
        if self._message_type is not None:
            self.topic = TF_TOPIC
            self.pub_tf = node.create_publisher(self._message_type, TF_TOPIC, qos)
        else:
            self.topic = FALLBACK_TOPIC
            self.pub_tf = node.create_publisher(TransformStamped, FALLBACK_TOPIC, qos)
            node.get_logger().warning(
                "tf2_ros and tf2_msgs are not installed: TF frames are published as "
                f"geometry_msgs/msg/TransformStamped on {FALLBACK_TOPIC} instead of /tf "
                "(install tf2_ros, as on any ROS 2 distribution, to get /tf)")

    @property
    def publishes_tf(self) -> bool:
        """Whether transforms go to ``/tf`` as ``tf2_msgs/msg/TFMessage``."""
        return self._message_type is not None

    def sendTransform(self, transform: Any | Iterable[Any]) -> None:  # noqa: N802 (tf2_ros API name)
        transforms = list(transform) if isinstance(transform, (list, tuple)) else [transform]
        if self._message_type is not None:
            self.pub_tf.publish(self._message_type(transforms=transforms))
        else:
            for item in transforms:
                self.pub_tf.publish(item)
