"""Helpers for tests that use ROS: import checks, subprocess management, spinning until."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest


def require_rclpy() -> Any:
    """Import rclpy and the generated interfaces, or skip (fail when ROS is required)."""
    try:
        import rclpy  # noqa: F401
        import dualposenet_ros.msg  # noqa: F401
    except ImportError as error:
        if os.environ.get("DUALPOSENET_REQUIRE_ROS") == "1":
            pytest.fail(f"ROS is required here but not importable: {error}")
        pytest.skip(f"ROS 2 not available: {error}")
    return rclpy


def start_python(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    """Start ``python <args>`` as a separate process with the test's ROS environment."""
    return subprocess.Popen([sys.executable, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def stop(process: subprocess.Popen, timeout: float = 10.0) -> str:
    """Interrupt a process (as Ctrl-C would), wait for it and return its output."""
    if process.poll() is None:
        process.send_signal(2)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
    output, _ = process.communicate()
    return output or ""


def spin_until(node: Any, executor: Any, condition: Callable[[], bool], timeout: float) -> bool:
    """Spin ``executor`` until ``condition()`` holds or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        executor.spin_once(timeout_sec=0.05)
    return condition()
