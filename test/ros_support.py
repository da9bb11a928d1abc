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


REQUIRE_ROS = "DUALPOSENET_REQUIRE_ROS"
"""What this environment promises, so that a missing module fails a test instead of skipping it:
unset (or empty): nothing, every ROS test skips what is missing (tools/test_minimum.sh);
``1``: ROS 2 from the PyPI wheels (tools/test.sh): rclpy, the message packages and this package's
interfaces; ``full``: a ROS installation from a distribution's packages (``colcon test``,
CMakeLists.txt): also the libraries that exist only there (:data:`DISTRIBUTION_ONLY`)."""

DISTRIBUTION_ONLY = ("tf2_ros", "message_filters", "cv_bridge", "launch", "launch_ros")
"""ROS libraries that no PyPI wheel provides: their tests skip unless :data:`REQUIRE_ROS` is ``full``."""


def required_ros() -> str:
    """The level of :data:`REQUIRE_ROS`: ``""``, ``"1"`` or ``"full"`` (anything else fails, so that a
    typo in a CI script cannot turn required tests into skipped ones)."""
    level = os.environ.get(REQUIRE_ROS, "")
    if level not in ("", "1", "full"):
        pytest.fail(f"{REQUIRE_ROS}={level!r}: expected 1 (PyPI wheels) or full (a ROS installation)")
    return level


def _import_or_skip(names: tuple[str, ...], required: bool, where: str = "") -> list[Any]:
    try:
        return [importlib.import_module(name) for name in names]
    except ImportError as error:
        if required:
            pytest.fail(f"required here ({REQUIRE_ROS}={required_ros()}) but not importable: {error}")
        pytest.skip(f"not available: {error}{where}")


def require_modules(*names: str) -> list[Any]:
    """Import ``names`` or skip the test; where ROS is part of the environment
    (:data:`REQUIRE_ROS` ``1`` or ``full``; tools/setup.sh installs them) a missing module fails it instead."""
    return _import_or_skip(names, required_ros() != "")


def require_distribution_library(name: str) -> Any:
    """One of :data:`DISTRIBUTION_ONLY` (or a module of one), or skip the test; where a ROS
    installation is promised (:data:`REQUIRE_ROS` ``full``) a missing one fails it instead."""
    if name.split(".")[0] not in DISTRIBUTION_ONLY:
        raise ValueError(f"{name} is not a distribution-only library: use require_modules")
    return _import_or_skip((name,), required_ros() == "full",
                           f" (only a ROS installation has it; there {REQUIRE_ROS}=full requires it)")[0]


def require_rclpy() -> Any:
    """rclpy, after checking that the generated interfaces import too."""
    return require_modules("rclpy", "dualposenet_ros.msg")[0]


_started: list[subprocess.Popen] = []


def track(process: subprocess.Popen) -> subprocess.Popen:
    """Note a process a test started, so that :func:`stop_leftovers` stops it if the test does not."""
    _started.append(process)
    return process


def stop_leftovers() -> list[str]:
    """Stop every tracked process still running (a test or fixture that failed between starting it
    and its ``try``/``finally`` left it behind); their command lines."""
    leftovers = [process for process in _started if process.poll() is None]
    _started.clear()
    for process in leftovers:
        stop(process, timeout=5.0)
    return [" ".join(map(str, process.args)) for process in leftovers]


def start_python(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    """Start ``python <args>`` as a separate process with the test's ROS environment."""
    return track(subprocess.Popen([sys.executable, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True))


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

