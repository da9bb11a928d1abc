"""cv_bridge-compatible conversions: the stand-in (and cv_bridge where installed) round-trip every
encoding the node uses; the stand-in rejects inconsistent layouts with a clear error."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from ros_support import require_distribution_library, require_rclpy


@pytest.fixture(params=[pytest.param("dualposenet_ros.ros.compat.cv_bridge", id="fallback"),
                        pytest.param("cv_bridge", id="cv_bridge")])
def bridge_module(request):
    """The stand-in, and the real cv_bridge: skipped where it cannot be installed (PyPI wheels),
    required where a ROS installation is (ros_support.REQUIRE_ROS=full)."""
    require_rclpy()
    if request.param == "cv_bridge":
        return require_distribution_library("cv_bridge")
    return importlib.import_module(request.param)


CASES = {
    "rgb8": np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3),
    "bgr8": np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)[..., ::-1],
    "mono8": np.arange(20, dtype=np.uint8).reshape(4, 5),
    "mono16": (np.arange(20, dtype=np.uint16) * 3000).reshape(4, 5),
    "16UC1": (np.arange(20, dtype=np.uint16) * 3001).reshape(4, 5),
    "32FC1": np.linspace(0.1, 4.0, 20, dtype=np.float32).reshape(4, 5),
    "32SC1": (np.arange(20, dtype=np.int32) - 7).reshape(4, 5),
}


@pytest.mark.parametrize("encoding", sorted(CASES))
def test_round_trip(bridge_module, encoding):
    bridge = bridge_module.CvBridge()
    array = np.ascontiguousarray(CASES[encoding])
    msg = bridge.cv2_to_imgmsg(array, encoding=encoding)
    assert (msg.height, msg.width, msg.encoding) == (4, 5, encoding)
    assert msg.step == 5 * array.itemsize * (3 if array.ndim == 3 else 1)
    back = bridge.imgmsg_to_cv2(msg, desired_encoding="passthrough")
    assert back.dtype == array.dtype and np.array_equal(back, array)


def test_padded_rows_and_big_endian(bridge_module):
    from sensor_msgs.msg import Image

    bridge = bridge_module.CvBridge()
    values = (np.arange(6, dtype=np.uint16) * 1000 + 7).reshape(2, 3)
    rows = [values[r].astype(">u2").tobytes() + b"\xff\xff" for r in range(2)]  # 2 bytes of padding per row
    msg = Image(height=2, width=3, encoding="16UC1", is_bigendian=1, step=8, data=b"".join(rows))
    assert np.array_equal(bridge.imgmsg_to_cv2(msg), values)


def test_colour_conversion(bridge_module):
    bridge = bridge_module.CvBridge()
    rgb = CASES["rgb8"]
    msg = bridge.cv2_to_imgmsg(rgb, encoding="rgb8")
    assert np.array_equal(bridge.imgmsg_to_cv2(msg, desired_encoding="bgr8"), rgb[..., ::-1])


def test_passthrough_names_the_generic_encoding(bridge_module):
    bridge = bridge_module.CvBridge()
    assert bridge.cv2_to_imgmsg(np.zeros((2, 2), np.float32)).encoding == "32FC1"
    assert bridge.cv2_to_imgmsg(np.zeros((2, 2, 3), np.uint8)).encoding == "8UC3"


def test_wrong_type_for_encoding_raises(bridge_module):
    bridge = bridge_module.CvBridge()
    with pytest.raises(bridge_module.CvBridgeError):
        bridge.cv2_to_imgmsg(np.zeros((2, 2), np.float32), encoding="rgb8")


def test_fallback_rejects_inconsistent_layouts_clearly():
    require_rclpy()
    from sensor_msgs.msg import Image

    from dualposenet_ros.ros.compat.cv_bridge import CvBridge, CvBridgeError

    bridge = CvBridge()
    with pytest.raises(CvBridgeError, match="expected step \\* height"):
        bridge.imgmsg_to_cv2(Image(height=2, width=3, encoding="rgb8", step=9, data=bytes(17)))
    with pytest.raises(CvBridgeError, match="smaller than a row"):
        bridge.imgmsg_to_cv2(Image(height=2, width=3, encoding="rgb8", step=6, data=bytes(12)))
    with pytest.raises(CvBridgeError, match="unsupported image encoding"):
        bridge.imgmsg_to_cv2(Image(height=1, width=1, encoding="yuv422", step=2, data=bytes(2)))
    with pytest.raises(CvBridgeError, match="cannot convert"):
        bridge.imgmsg_to_cv2(bridge.cv2_to_imgmsg(np.zeros((2, 2), np.float32), "32FC1"), desired_encoding="rgb8")
    with pytest.raises(CvBridgeError):
        bridge.cv2_to_imgmsg([[1, 2]])
