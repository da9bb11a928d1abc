"""Humble's rclpy API for every Python process started with this folder first on PYTHONPATH.

No Humble wheels exist for this Python, so the Humble compatibility tests take the installed rclpy
and delete, at interpreter start-up (Python imports ``sitecustomize`` by itself), the node methods
Humble's rclpy does not have: the pre-set and post-set parameter callbacks added in Iron. Child
processes inherit PYTHONPATH, so the demo's camera and node get the same API. Each process that
was changed appends its command line to the file ``DUALPOSENET_HUMBLE_API_LOG`` names, so a test
can tell which processes ran on it.
"""

import os
import sys

HUMBLE_LACKS = ("add_pre_set_parameters_callback", "add_post_set_parameters_callback",
                "remove_pre_set_parameters_callback", "remove_post_set_parameters_callback")

try:
    import rclpy.node
except ImportError:  # not a ROS process
    pass
else:
    for _name in HUMBLE_LACKS:
        if hasattr(rclpy.node.Node, _name):
            delattr(rclpy.node.Node, _name)
    if os.environ.get("DUALPOSENET_HUMBLE_API_LOG"):
        with open(os.environ["DUALPOSENET_HUMBLE_API_LOG"], "a", encoding="utf-8") as _log:
            _log.write(" ".join(getattr(sys, "orig_argv", sys.argv)) + "\n")
