"""Run a script on an rclpy that lacks what Humble's rclpy lacks: ``python humble_rclpy.py SCRIPT ARGS``.

No Humble wheels exist for this Python, so the Humble compatibility tests take the installed
rclpy and delete the node methods Humble does not have (pre-set and post-set parameter callbacks,
added in Iron) before the script imports anything of the package.
"""

from __future__ import annotations

import runpy
import sys

import rclpy.node

HUMBLE_LACKS = ("add_pre_set_parameters_callback", "add_post_set_parameters_callback",
                "remove_pre_set_parameters_callback", "remove_post_set_parameters_callback")

if __name__ == "__main__":
    for name in HUMBLE_LACKS:
        if hasattr(rclpy.node.Node, name):
            delattr(rclpy.node.Node, name)
    assert not any(hasattr(rclpy.node.Node, name) for name in HUMBLE_LACKS)
    print(f"humble_rclpy: rclpy.node.Node without {', '.join(HUMBLE_LACKS)}", flush=True)
    script = sys.argv[1]
    sys.argv = sys.argv[1:]
    runpy.run_path(script, run_name="__main__")
