"""The two copies of the Fast DDS profile for large images (Fast DDS 3 for Kilted, Fast DDS 2 for
Humble and Jazzy) hold the same settings, and the installed Fast DDS parses the one it reads."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from ros_support import require_rclpy

REPO = Path(__file__).resolve().parents[1]
# Element names that differ between the two Fast DDS generations (2.x name -> 3.x name).
RENAMED = {"heartbeatPeriod": "heartbeat_period"}


def _settings(path: Path) -> list[tuple[str, str]]:
    """(path of the element, its text) for every element of a profile, in Fast DDS 3's names."""
    found = []

    def walk(element: ET.Element, prefix: str) -> None:
        name = element.tag.split("}")[-1]
        name = RENAMED.get(name, name)
        here = f"{prefix}/{name}"
        found.append((here, (element.text or "").strip()))
        for child in element:
            walk(child, here)

    walk(ET.parse(path).getroot(), "")
    return found


def test_both_profiles_hold_the_same_settings():
    fastdds3 = _settings(REPO / "config" / "fastdds_large_data.xml")
    fastdds2 = _settings(REPO / "config" / "fastdds2_large_data.xml")
    assert fastdds3 == fastdds2
    assert ("/dds/profiles/data_writer/times/heartbeat_period/nanosec", "50000000") in fastdds3
    assert "heartbeatPeriod" in (REPO / "config" / "fastdds2_large_data.xml").read_text()


def test_the_installed_fast_dds_parses_its_profile(ros_env):
    """A node created with the profile the package picks for this Fast DDS logs no XML parser error
    (Fast DDS ignores a profile it cannot parse and runs with its defaults); the other
    generation's file is refused, so the check can fail."""
    require_rclpy()
    from dualposenet_ros.ros.dds_profile import (FASTDDS2_PROFILE_FILE, PROFILE_FILE, PROFILE_VARIABLES,
                                                 fast_dds_generation, profile_variable, shipped_profile,
                                                 use_shipped_profile)

    env = {name: value for name, value in ros_env.items() if name not in PROFILE_VARIABLES}
    assert use_shipped_profile(env) is not None and set(env) & set(PROFILE_VARIABLES) == {profile_variable(env)}
    code = ("import rclpy\nrclpy.init()\nnode = rclpy.create_node('profile_check')\n"
            "print('node created')\nnode.destroy_node()\nrclpy.shutdown()\n")

    def start_node(environment: dict[str, str]) -> str:
        result = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True,
                                timeout=60)
        output = result.stdout + result.stderr
        assert result.returncode == 0 and "node created" in output, output
        return output

    output = start_node(env)
    assert "XMLPARSER" not in output, output
    other = FASTDDS2_PROFILE_FILE if fast_dds_generation(env) == 3 else PROFILE_FILE
    assert "XMLPARSER" in start_node({**env, profile_variable(env): str(shipped_profile(other))})


def test_a_missing_profile_is_named_for_the_fast_dds_in_use(monkeypatch):
    """Without its file (an incomplete installation) nothing is set, and the warning names the file
    that Fast DDS generation would have used."""
    from dualposenet_ros.ros import dds_profile

    monkeypatch.setattr(dds_profile, "shipped_profile", lambda name=None, environ=None: None)
    for distro, name in (("jazzy", dds_profile.FASTDDS2_PROFILE_FILE), ("kilted", dds_profile.PROFILE_FILE)):
        environ = {"ROS_DISTRO": distro}
        level, line = dds_profile.use_shipped_profile(environ)
        assert level == "warning" and line.startswith(f"{name} not found"), line
        assert not any(variable in environ for variable in dds_profile.PROFILE_VARIABLES)
