"""The generated interfaces import and cross process boundaries intact over real DDS."""

from __future__ import annotations

from pathlib import Path

import pytest

from interface_samples import SAMPLES
from ros_support import require_rclpy, spin_until, start_python, stop


def test_interfaces_import_with_documented_constants():
    require_rclpy()
    from dualposenet_ros.msg import InstanceSegmentation, ObjectPose, ObjectPoseArray

    assert ObjectPose.STATUS_OK == 0 and ObjectPose.STATUS_TOO_FEW_POINTS == 1
    assert ObjectPoseArray().objects == []
    assert InstanceSegmentation().labels.height == 0


def test_hand_written_core_and_generated_interfaces_share_the_package():
    require_rclpy()
    import dualposenet_ros
    import dualposenet_ros.core.categories
    import dualposenet_ros.msg

    assert dualposenet_ros.__version__
    assert dualposenet_ros.core.categories.CATEGORIES[0] == "bottle"
    assert hasattr(dualposenet_ros.msg, "ObjectPoseArray")


@pytest.mark.timeout(60)
def test_every_interface_round_trips_between_processes(ros_env, rclpy_context):
    rclpy = require_rclpy()
    import dualposenet_ros.msg as interfaces
    from rclpy.executors import SingleThreadedExecutor

    received: dict[str, object] = {}
    node = rclpy.create_node("interface_sample_listener", context=rclpy_context)
    for name in SAMPLES:
        node.create_subscription(getattr(interfaces, name), f"samples/{name}",
                                 lambda msg, name=name: received.setdefault(name, msg), 10)
    executor = SingleThreadedExecutor(context=rclpy_context)
    executor.add_node(node)
    publisher = start_python([str(Path(__file__).with_name("publish_samples.py"))], ros_env)
    try:
        spin_until(node, executor, lambda: len(received) == len(SAMPLES) or publisher.poll() is not None, timeout=30)
    finally:
        output = stop(publisher)
        executor.shutdown()
        node.destroy_node()
    assert set(received) == set(SAMPLES), f"received {sorted(received)}; publisher said:\n{output}"
    for name, make in SAMPLES.items():
        assert received[name] == make(), name
