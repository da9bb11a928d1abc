"""Launch files and the RViz config. `launch` / `launch_ros` are not installable from PyPI, so here
the launch files are checked statically (parsed, arguments and remaps read from their source);
where launch_ros is installed they are also loaded and their description inspected."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest
import yaml

from ros_support import require_distribution_library, require_rclpy

REPO = Path(__file__).resolve().parents[1]
LAUNCH = REPO / "launch"


def _module(name: str) -> ast.Module:
    return ast.parse((LAUNCH / name).read_text(), filename=name)


def _constant(module: ast.Module, name: str):
    for node in module.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return node.value
    raise AssertionError(f"{name} not defined")


def _argument_names(module: ast.Module) -> list[str]:
    return [ast.literal_eval(item.elts[0]) for item in _constant(module, "ARGUMENTS").elts]


def _node_calls(module: ast.Module) -> list[dict[str, object]]:
    calls = []
    for node in ast.walk(module):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Node":
            calls.append({kw.arg: kw.value for kw in node.keywords})
    return calls


def test_dualposenet_launch_declares_the_documented_arguments_and_remaps():
    module = _module("dualposenet.launch.py")
    assert _argument_names(module) == ["config", "namespace", "color_topic", "depth_topic", "camera_info_topic",
                                       "segmentation_topic", "device", "refine", "use_sim_time", "log_level"]
    remaps = ast.literal_eval(_constant(module, "REMAPS"))
    require_rclpy()
    from dualposenet_ros.ros.node import INPUTS

    assert [topic for topic, _ in remaps] == [topic for _, topic in INPUTS]
    assert {argument for _, argument in remaps} <= set(_argument_names(module))
    (node,) = _node_calls(module)
    assert ast.literal_eval(node["package"]) == "dualposenet_ros"
    assert ast.literal_eval(node["executable"]) == "dualposenet_node"
    assert ast.literal_eval(node["name"]) == "dualposenet"
    source = ast.unparse(node["parameters"])
    for parameter in ("'device'", "'refine.mode'", "'use_sim_time'"):
        assert parameter in source


def test_demo_launch_starts_camera_node_and_rviz_with_the_saved_config():
    module = _module("demo.launch.py")
    assert _argument_names(module) == ["rviz", "device", "refine", "use_sim_time"]
    executables = {ast.literal_eval(call["executable"]): call for call in _node_calls(module)}
    assert set(executables) == {"synthetic_camera", "rviz2"}
    assert ast.literal_eval(executables["synthetic_camera"]["name"]) == "synthetic_camera"
    assert "dualposenet.rviz" in ast.unparse(executables["rviz2"]["arguments"])
    assert "dualposenet.launch.py" in (LAUNCH / "demo.launch.py").read_text()  # the node, through the include


@pytest.mark.parametrize("name", ["dualposenet.launch.py", "demo.launch.py"])
def test_launch_files_set_the_dds_profile_before_starting_processes(name, monkeypatch):
    """The launch-time choice of the Fast DDS profile, run here without launch: it names the
    package's profile, and leaves a profile the user chose alone."""
    module = _module(name)
    source = ast.unparse(module)
    generate = next(node for node in module.body
                    if isinstance(node, ast.FunctionDef) and node.name == "generate_launch_description")
    # First after the arguments, so every process started later inherits it.
    entities = ast.unparse(generate.body[-1].value)
    assert entities.startswith("LaunchDescription([*arguments, OpaqueFunction(function=launch_actions), ")
    assert "from dualposenet_ros.ros.dds_profile import launch_actions" in source

    from dualposenet_ros.ros.dds_profile import profile_variable, shipped_profile, use_shipped_profile

    for variable in ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE", "RMW_IMPLEMENTATION"):
        monkeypatch.delenv(variable, raising=False)
    ros = {name: os.environ[name] for name in ("ROS_DISTRO", "AMENT_PREFIX_PATH") if name in os.environ}
    environment = dict(ros)
    assert use_shipped_profile(environment)[0] == "info"
    # The variable and the file of the Fast DDS in use (3 on Kilted, 2 on Humble and Jazzy).
    assert environment == {**ros, profile_variable(): str(shipped_profile())}
    for distro, variable, name in (("jazzy", "FASTRTPS_DEFAULT_PROFILES_FILE", "fastdds2_large_data.xml"),
                                   ("kilted", "FASTDDS_DEFAULT_PROFILES_FILE", "fastdds_large_data.xml")):
        environment = {"ROS_DISTRO": distro}
        use_shipped_profile(environment)
        assert environment == {"ROS_DISTRO": distro, variable: str(shipped_profile(name))}
    mine = {"FASTRTPS_DEFAULT_PROFILES_FILE": "/my/profile.xml"}
    assert use_shipped_profile(mine) is None and mine == {"FASTRTPS_DEFAULT_PROFILES_FILE": "/my/profile.xml"}
    cyclone = {"RMW_IMPLEMENTATION": "rmw_cyclonedds_cpp"}
    assert use_shipped_profile(cyclone) is None and "FASTDDS_DEFAULT_PROFILES_FILE" not in cyclone


def test_rviz_config_shows_image_boxes_and_tf():
    config = yaml.safe_load((REPO / "resource" / "dualposenet.rviz").read_text())
    manager = config["Visualization Manager"]
    displays = {d["Class"]: d for d in manager["Displays"]}
    assert {"rviz_default_plugins/TF", "rviz_default_plugins/MarkerArray",
            "rviz_default_plugins/Image"} <= set(displays)
    assert displays["rviz_default_plugins/MarkerArray"]["Topic"]["Value"] == "/dualposenet/markers"
    assert displays["vision_msgs_rviz_plugins/Detection3DArray"]["Topic"]["Value"] == "/dualposenet/detections"
    topics = [d["Topic"]["Value"] for d in manager["Displays"] if d["Class"] == "rviz_default_plugins/Image"]
    assert "/dualposenet/debug_image" in topics
    assert manager["Global Options"]["Fixed Frame"] == "camera_color_optical_frame"


@pytest.mark.parametrize("name", ["dualposenet.launch.py", "demo.launch.py"])
def test_launch_files_load_where_launch_ros_is_installed(name):
    require_distribution_library("launch_ros")  # not on PyPI: skipped on the wheels, required with REQUIRE_ROS=full
    import importlib.util

    spec = importlib.util.spec_from_file_location(name.replace(".", "_"), LAUNCH / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    declared = [argument.name for argument in description.get_launch_arguments()]
    assert set(_argument_names(_module(name))) <= set(declared)
