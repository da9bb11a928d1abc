"""Stand-ins for ROS 2 libraries that are not on PyPI, used only where the real one is missing.

On a ROS 2 installation ``message_filters``, ``tf2_ros`` and ``cv_bridge`` are installed and the
node uses them. Where they are not (rclpy from PyPI wheels), the modules here provide the part
of their interface the node uses, with the same behaviour:

* :mod:`.message_filters`: ``Subscriber``, ``Cache``, ``TimeSynchronizer``,
  ``ApproximateTimeSynchronizer`` (``registerCallback``; the same lookups, matching rules,
  ``cache_size``, ``queue_size`` and ``slop`` semantics);
* :mod:`.tf2_ros`: ``TransformBroadcaster`` (``sendTransform``): ``tf2_msgs/msg/TFMessage`` on
  ``/tf``, like tf2_ros. It needs ``tf2_msgs`` (``tools/setup.sh`` builds it where ROS does not
  provide it);
* :mod:`.cv_bridge`: ``CvBridge`` (``imgmsg_to_cv2``, ``cv2_to_imgmsg``) and ``CvBridgeError``.

Use the ``load_*`` functions to get the real module where it exists and the stand-in otherwise.
"""

from __future__ import annotations

from types import ModuleType


def load_message_filters() -> ModuleType:
    """``message_filters`` where installed, else :mod:`.message_filters`."""
    try:
        import message_filters
    except ImportError:
        from . import message_filters
    return message_filters


def load_tf2_ros() -> ModuleType:
    """``tf2_ros`` where installed, else :mod:`.tf2_ros`; ``ImportError`` if tf2_msgs is missing too."""
    try:
        import tf2_ros
    except ImportError:
        from . import tf2_ros
    return tf2_ros


def load_cv_bridge() -> ModuleType:
    """``cv_bridge`` where installed, else :mod:`.cv_bridge`."""
    try:
        import cv_bridge
    except ImportError:
        from . import cv_bridge
    return cv_bridge


def is_fallback(module: ModuleType) -> bool:
    """Whether ``module`` is one of the stand-ins of this package."""
    return module.__name__.startswith(__name__ + ".")
