"""Separate-process runner for the node tests: the dualposenet node with the stand-in estimator.

Usage: python run_stub_node.py [--ros-args ...]   (parameters and remaps as for dualposenet_node)
"""

import sys

import rclpy
from rclpy.executors import ExternalShutdownException

from dualposenet_ros.ros.node import DualPoseNetNode, StartupError
from dualposenet_ros.ros.parameters import ParameterError
from ros_node_support import StubEstimator


def main() -> int:
    rclpy.init(args=sys.argv)
    node = None
    try:
        node = DualPoseNetNode(estimator=StubEstimator())
        rclpy.spin(node)
    except (ParameterError, StartupError) as error:
        rclpy.logging.get_logger("dualposenet").fatal(str(error))
        return 1
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
