"""The life cycle every executable of this package shares: DDS profile, init, build the node, spin, clean up.

Before ``rclpy.init`` creates the DDS participant, the package's Fast DDS profile for large images
is selected unless the user chose one (:func:`~.dds_profile.use_shipped_profile`; logged once).
A node that cannot start (bad parameters, no model) logs one fatal line and the process exits 1;
Ctrl-C or an external shutdown ends it with 0; the node and the context are always released.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .dds_profile import use_shipped_profile


def run_node(name: str, make_node: Callable[[], Any], spin: Callable[[Any], None],
             startup_errors: tuple[type[BaseException], ...], args: list[str] | None = None) -> int:
    """Run ``make_node()`` with ``spin(node)``; returns the process exit status."""
    profile_note = use_shipped_profile()  # before rclpy.init: Fast DDS reads it when the participant is created

    import rclpy
    from rclpy.executors import ExternalShutdownException

    rclpy.init(args=args)
    if profile_note is not None:
        level, line = profile_note
        logger = rclpy.logging.get_logger(name)
        if level == "warning":
            logger.warning(line)
        else:
            logger.info(line)
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
        except Exception:
            if rclpy.ok():
                raise
            # Ctrl-C shut the context down while the executor was taking a message (rclpy then raises
            # from the invalidated handle): that is the requested shutdown, not a failure.
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
