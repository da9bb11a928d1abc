"""Separate-process publisher for test_interfaces: publishes every sample until interrupted."""

import sys

import rclpy
from rclpy.node import Node

import dualposenet_ros.msg as interfaces
from dualposenet_ros.ros.entry_point import run_node
from interface_samples import SAMPLES


def make_node() -> Node:
    node = rclpy.create_node("interface_sample_publisher")
    publishers = {name: node.create_publisher(getattr(interfaces, name), f"samples/{name}", 10) for name in SAMPLES}
    node.create_timer(0.05, lambda: [publishers[name].publish(make()) for name, make in SAMPLES.items()])
    return node


if __name__ == "__main__":
    sys.exit(run_node("interface_sample_publisher", make_node, rclpy.spin, ()))
