"""The life cycle every executable of this package shares: init, build the node, spin, clean up.

A node that cannot start (bad parameters, no model) logs one fatal line and the process exits 1;
Ctrl-C or an external shutdown ends it with 0; the node and the context are always released.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def run_node(name: str, make_node: Callable[[], Any], spin: Callable[[Any], None],
             startup_errors: tuple[type[BaseException], ...], args: list[str] | None = None) -> int:
    """Run ``make_node()`` with ``spin(node)``; returns the process exit status."""
    import rclpy
    from rclpy.executors import ExternalShutdownException

    rclpy.init(args=args)
    node = None
    try:
        try:
            node = make_node()
        except startup_errors as error:
            rclpy.logging.get_logger(name).fatal(str(error))
            return 1
        try:
            spin(node)
        except (KeyboardInterrupt, ExternalShutdownException):
            pass
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
