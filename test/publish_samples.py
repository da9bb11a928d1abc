"""Separate-process publisher for test_interfaces: publishes every sample until interrupted."""

import rclpy
from rclpy.executors import ExternalShutdownException

import dualposenet_ros.msg as interfaces
from interface_samples import SAMPLES


def main() -> None:
    rclpy.init()
    node = rclpy.create_node("interface_sample_publisher")
    publishers = {name: node.create_publisher(getattr(interfaces, name), f"samples/{name}", 10) for name in SAMPLES}
    node.create_timer(0.05, lambda: [publishers[name].publish(make()) for name, make in SAMPLES.items()])
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass


if __name__ == "__main__":
    main()
