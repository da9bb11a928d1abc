"""The dependency floors are one set of numbers: requirements/core.txt's lower bounds are exactly
the versions requirements/minimum.txt pins (and tools/test_minimum.sh tests), and every supported
ROS 2 distribution's wheel list pins one distribution."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REQUIREMENTS = REPO / "requirements"


def _lines(path: Path) -> list[str]:
    return [line.split("#")[0].strip() for line in path.read_text().splitlines() if line.split("#")[0].strip()]


def test_core_floors_are_the_tested_minimum_versions():
    floors = {}
    for line in _lines(REQUIREMENTS / "core.txt"):
        name, bound = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9][\w.]*)", line).groups()
        floors[name.lower()] = bound
    pins = dict(line.lower().split("==") for line in _lines(REQUIREMENTS / "minimum.txt"))
    # torch's floor is the one exception, tested with the CPU build tools/setup.sh installs.
    assert {name: floors[name] for name in floors if name != "torch"} == pins


def test_distribution_wheel_lists():
    jazzy = _lines(REQUIREMENTS / "ros-jazzy-pypi.txt")
    ros = [line for line in jazzy if line.startswith("ros-")]
    assert ros and all(line.startswith("ros-jazzy-") and "==" in line for line in ros), ros
    assert "ros-jazzy-rclpy[fastrtps]==7.1.6" in jazzy
    kilted = _lines(REQUIREMENTS / "ros-kilted-pypi.txt")
    assert not any(line.startswith("ros-jazzy-") for line in kilted)
    assert "-r colcon.txt" in jazzy and "-r colcon.txt" in kilted
