"""Every dependency key of package.xml resolves on Humble (Ubuntu jammy), Jazzy and Kilted (noble).

Checked against a snapshot of the ROS distribution index in test/fixtures/rosdistro (refresh it
with tools/rosdistro_snapshot.py): a key is a package released in the distribution, or a rosdep
key whose rule installs system packages on the distribution's Ubuntu release. Keys that rosdep
cannot provide (or only through pip) must not be in package.xml; they go to
requirements/ros-pip.txt, which the README's robot section installs.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAPSHOT = REPO / "test" / "fixtures" / "rosdistro"
UBUNTU = {"humble": "jammy", "jazzy": "noble", "kilted": "noble"}
"""Each supported distribution and the Ubuntu release its binary packages are built for."""
INSTALLERS = {"apt", "pip", "source", "npm", "gem"}


def _names(path: Path) -> set[str]:
    return {line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")}


def _snapshot_tool() -> Any:
    """tools/rosdistro_snapshot.py, which writes the snapshot: it and this test read package.xml alike."""
    spec = importlib.util.spec_from_file_location("rosdistro_snapshot", REPO / "tools" / "rosdistro_snapshot.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def manifest_keys() -> list[str]:
    return _snapshot_tool().manifest_keys(REPO / "package.xml")


def resolve_rule(rule: Any, codename: str) -> tuple[str, list[str]] | None:
    """(installer, packages) that a rosdep rule gives on Ubuntu ``codename``; None where it has none.

    rosdep's rule format: per OS a list of apt packages, or a mapping by release (``'*'`` for any,
    ``null`` for none), or a mapping by installer (``apt:``/``pip:`` with ``packages:``)."""
    if not isinstance(rule, dict):
        return None
    os_rule = rule.get("ubuntu", rule.get("*"))
    if isinstance(os_rule, dict) and not INSTALLERS & set(os_rule):
        os_rule = os_rule.get(codename, os_rule.get("*"))
    if os_rule is None:
        return None
    if isinstance(os_rule, list):
        return "apt", os_rule
    if isinstance(os_rule, dict) and len(os_rule) == 1:
        ((installer, spec),) = os_rule.items()
        packages = spec.get("packages", []) if isinstance(spec, dict) else spec
        return installer, list(packages or [])
    return None


@pytest.fixture(scope="module")
def snapshot() -> dict[str, Any]:
    return {
        "packages": {distro: _names(SNAPSHOT / f"{distro}.packages") for distro in UBUNTU},
        "keys": _names(SNAPSHOT / "rosdep.keys"),
        "rules": yaml.safe_load((SNAPSHOT / "rosdep.yaml").read_text()),
    }


def unresolved(key: str, snapshot: dict[str, Any]) -> list[str]:
    """Why ``key`` does not install from binary packages on each distribution (empty: it does)."""
    problems = []
    for distro, codename in UBUNTU.items():
        if key in snapshot["packages"][distro]:
            continue
        if key not in snapshot["keys"]:
            problems.append(f"{distro}: neither a released package nor a rosdep key")
            continue
        if key not in snapshot["rules"]:
            problems.append(f"{distro}: rosdep key without its rule in the snapshot (run tools/rosdistro_snapshot.py)")
            continue
        resolved = resolve_rule(snapshot["rules"][key], codename)
        if resolved is None:
            problems.append(f"{distro}: rosdep has no rule for Ubuntu {codename}")
        elif resolved[0] != "apt":
            problems.append(f"{distro}: rosdep would {resolved[0]}-install {resolved[1]} "
                            "(list it in requirements/ros-pip.txt)")
    return problems


def test_every_package_xml_key_resolves_on_every_supported_distribution(snapshot):
    keys = manifest_keys()
    assert {"rclpy", "sensor_msgs", "python3-numpy"} <= set(keys)
    problems = {key: why for key in keys if (why := unresolved(key, snapshot))}
    assert not problems, "package.xml keys that `rosdep install` cannot satisfy:\n" + "\n".join(
        f"  {key}: {'; '.join(why)}" for key, why in problems.items())


def test_the_check_refuses_what_rosdep_cannot_install(snapshot):
    # The key the manifest used to name: rosdep has never had it.
    assert "python3-safetensors-pip" not in snapshot["keys"]
    assert unresolved("python3-safetensors-pip", snapshot) == [
        f"{distro}: neither a released package nor a rosdep key" for distro in UBUNTU]
    # A package released in newer distributions only, and rules without binaries or through pip.
    assert resolve_rule({"ubuntu": {"*": ["python3-torch"], "focal": None}}, "focal") is None
    assert resolve_rule({"ubuntu": {"jammy": ["a"]}}, "noble") is None
    assert resolve_rule({"ubuntu": {"pip": {"packages": ["rosbags"]}}}, "noble") == ("pip", ["rosbags"])
    assert resolve_rule({"ubuntu": {"*": ["python3-tqdm"]}}, "jammy") == ("apt", ["python3-tqdm"])
    assert resolve_rule({"debian": ["x"]}, "noble") is None
    kilted_only = sorted(snapshot["packages"]["kilted"] - snapshot["packages"]["humble"] - snapshot["keys"])[0]
    assert unresolved(kilted_only, snapshot)[0].startswith("humble: neither")


def test_what_rosdep_cannot_provide_is_in_the_pip_requirements():
    """Every core requirement is either a rosdep key of package.xml or in requirements/ros-pip.txt."""
    from_rosdep = {"numpy": "python3-numpy", "scipy": "python3-scipy", "opencv-python-headless": "python3-opencv",
                   "pyyaml": "python3-yaml", "tqdm": "python3-tqdm", "matplotlib": "python3-matplotlib"}
    keys = set(manifest_keys())

    def names(path: Path) -> set[str]:
        lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
        return {re.split(r"[<>=!~\[; ]", line)[0].lower() for line in lines if line and not line.startswith("-")}

    pip = names(REPO / "requirements" / "ros-pip.txt")
    missing = [name for name in sorted(names(REPO / "requirements" / "core.txt"))
               if name not in pip and from_rosdep.get(name) not in keys]
    assert not missing, f"core requirements a ROS workspace would not get (add to requirements/ros-pip.txt): {missing}"
    assert not pip & set(from_rosdep), "requirements/ros-pip.txt repeats what rosdep installs"
