"""rclpy APIs that differ between the supported ROS 2 distributions (Humble, Jazzy, Kilted).

The package's nodes call these functions instead of the differing rclpy methods, so the
difference is handled here only:

* **Parameter callbacks.** Jazzy and Kilted (rclpy >= 4, since Iron) run three kinds of callback
  when parameters are set: *pre-set* callbacks may modify the list before validation, *on-set*
  callbacks validate it, *post-set* callbacks run after the values are stored. Humble's rclpy has
  only ``add_on_set_parameters_callback``. There :func:`add_set_parameters_callbacks` wraps the
  node's public ``set_parameters`` and ``set_parameters_atomically`` (which the parameter services
  call too) so that the pre-set callback runs first and the post-set callback runs after each
  successful set: the same order and the same results as the native callbacks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rcl_interfaces.msg import SetParametersResult

__all__ = ["PostSetCallback", "PreSetCallback", "ValidateCallback", "add_set_parameters_callbacks",
           "has_native_set_parameters_callbacks"]

PreSetCallback = Callable[[list[Any]], list[Any]]
"""Receives the parameters about to be set, returns the list to validate and set instead."""
ValidateCallback = Callable[[list[Any]], Any]
"""Returns ``rcl_interfaces.msg.SetParametersResult``: ``successful=False`` refuses the change."""
PostSetCallback = Callable[[list[Any]], None]
"""Runs after the parameters were set."""

EMPTY_AFTER_PRE_SET = ("parameter list cannot be empty, this might be due to pre_set_parameters_callback "
                       "modifying the original parameters list.")
"""rclpy's reason when a pre-set callback empties the list (the same text on every distribution)."""


def has_native_set_parameters_callbacks(node: Any) -> bool:
    """Whether ``node``'s rclpy has pre-set and post-set parameter callbacks (Iron and later)."""
    return hasattr(node, "add_pre_set_parameters_callback") and hasattr(node, "add_post_set_parameters_callback")


def add_set_parameters_callbacks(node: Any, *, pre_set: PreSetCallback, validate: ValidateCallback,
                                 post_set: PostSetCallback) -> None:
    """Register the three parameter callbacks of ``node``, natively where rclpy has them.

    On Humble the pre-set and post-set callbacks are emulated around ``set_parameters`` and
    ``set_parameters_atomically``; ``validate`` is always an ordinary on-set callback."""
    if has_native_set_parameters_callbacks(node):
        node.add_pre_set_parameters_callback(pre_set)
        node.add_on_set_parameters_callback(validate)
        node.add_post_set_parameters_callback(post_set)
        return
    node.add_on_set_parameters_callback(validate)
    set_parameters = node.set_parameters
    set_parameters_atomically = node.set_parameters_atomically

    def set_atomically(parameter_list: list[Any]) -> Any:
        modified = pre_set(list(parameter_list))
        if not modified:
            return SetParametersResult(successful=False, reason=EMPTY_AFTER_PRE_SET)
        result = set_parameters_atomically(modified)
        if result.successful:
            post_set(modified)
        return result

    def set_each(parameter_list: list[Any]) -> list[Any]:
        # Like rclpy's set_parameters: one atomic set per parameter, in order.
        results = []
        for parameter in parameter_list:
            modified = pre_set([parameter])
            if not modified:
                results.append(SetParametersResult(successful=False, reason=EMPTY_AFTER_PRE_SET))
                continue
            result = set_parameters_atomically(modified)
            if result.successful:
                post_set(modified)
            results.append(result)
        return results

    set_each.__doc__ = set_parameters.__doc__
    set_atomically.__doc__ = set_parameters_atomically.__doc__
    node.set_parameters = set_each
    node.set_parameters_atomically = set_atomically
