"""Helpers for tests that use ROS: import checks, subprocess management, spinning until."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


def require_modules(*names: str) -> list[Any]:
    """Import ``names`` or skip the test; where ROS is part of the environment
    (DUALPOSENET_REQUIRE_ROS=1, set by tools/test.sh) a missing module fails it instead."""
    try:
        return [importlib.import_module(name) for name in names]
    except ImportError as error:
        if os.environ.get("DUALPOSENET_REQUIRE_ROS") == "1":
            pytest.fail(f"required here but not importable (tools/setup.sh installs it): {error}")
        pytest.skip(f"not available: {error}")


def require_rclpy() -> Any:
    """rclpy, after checking that the generated interfaces import too."""
    return require_modules("rclpy", "dualposenet_ros.msg")[0]


def start_python(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    """Start ``python <args>`` as a separate process with the test's ROS environment."""
    return subprocess.Popen([sys.executable, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


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


def processes_in_domain(domain: int) -> list[str]:
    """Command lines of the processes other than this one that run with ``ROS_DOMAIN_ID=domain``
    (Linux /proc; none elsewhere). A test's domain is its own (conftest.py), so any such process is
    one the test started and left behind: it would answer a later test's camera as its subscriber."""
    needle = f"ROS_DOMAIN_ID={domain}".encode()
    proc = Path("/proc")
    found = []
    for entry in proc.iterdir() if proc.is_dir() else ():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            continue
    return found


def spin_until(node: Any, executor: Any, condition: Callable[[], bool], timeout: float) -> bool:
    """Spin ``executor`` until ``condition()`` holds or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        executor.spin_once(timeout_sec=0.05)
    return condition()


def spin_for(executor: Any, seconds: float) -> None:
    """Spin ``executor`` for ``seconds``: messages still in flight arrive."""
    spin_until(None, executor, lambda: False, seconds)


class Source:
    """A minimal upstream filter (what message_filters.Subscriber is to a synchroniser or a Cache)."""

    def __init__(self) -> None:
        self.callbacks: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []

    def registerCallback(self, cb: Callable[..., Any], *args: Any) -> int:  # noqa: N802 (ROS API)
        self.callbacks.append((cb, args))
        return len(self.callbacks) - 1

    def emit(self, msg: Any) -> None:
        for cb, args in self.callbacks:
            cb(msg, *args)


def stamped(seconds: float, tag: str = "") -> Any:
    """A message with only a header stamp (``seconds``) and a ``tag`` (default: the seconds)."""
    from types import SimpleNamespace

    from builtin_interfaces.msg import Time

    nanoseconds = int(round(seconds * 1e9))
    header = SimpleNamespace(stamp=Time(sec=nanoseconds // 10**9, nanosec=nanoseconds % 10**9))
    return SimpleNamespace(header=header, tag=tag or f"{seconds:g}")

