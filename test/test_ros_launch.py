"""Launch files and the RViz config. `launch` / `launch_ros` are not installable from PyPI, so here
the launch files are checked statically (parsed, arguments, includes and topics read from their
source), the mapping of their arguments to the node's parameters and remaps is run, and the node is
started with what the RealSense example gives it; where launch_ros is installed the launch files
are also loaded and run, and the node they start checked."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from ros_support import require_distribution_library, require_rclpy, stop

REPO = Path(__file__).resolve().parents[1]
LAUNCH = REPO / "launch"
LAUNCH_FILES = ["dualposenet.launch.py", "demo.launch.py", "realsense_yolo.launch.py"]


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


def test_launch_arguments_cover_the_common_settings_typed_like_their_parameters():
    from dualposenet_ros.ros.launch_arguments import NODE_ARGUMENTS
    from dualposenet_ros.ros.parameters import INPUT_TOPICS, specs

    kinds = {spec.name: spec.kind for spec in specs()} | {"use_sim_time": bool}
    parameters = {argument.parameter: argument.kind for argument in NODE_ARGUMENTS if argument.parameter}
    assert {name: kinds[name] for name in parameters} == parameters  # each a parameter, typed like it
    assert {"checkpoint", "device", "precision", "backend", "threads", "segmentation_format", "class_map",
            "refine.mode", "sync.mode", "sync.window", "sync.slop", "sync.queue_size",
            "frame_prefix"} <= set(parameters)
    assert [argument.remap for argument in NODE_ARGUMENTS if argument.remap] == list(INPUT_TOPICS)
    assert all(bool(argument.parameter) != bool(argument.remap) for argument in NODE_ARGUMENTS)


def test_only_the_launch_arguments_given_set_parameters_and_remaps():
    from dualposenet_ros.ros.launch_arguments import node_parameters, node_remappings, ros_arguments

    given = {"device": "", "threads": "2", "sync_slop": "0.1", "class_map": "cup: mug, 41: mug",
             "use_sim_time": "True", "frame_prefix": "/objects/", "refine": "feature", "color_topic": "/cam/image",
             "masks_topic": " ", "checkpoint": "123"}
    assert node_parameters(given) == {"threads": 2, "sync.slop": 0.1, "class_map": "cup: mug, 41: mug",
                                      "use_sim_time": True, "frame_prefix": "/objects/", "refine.mode": "feature",
                                      "checkpoint": "123"}  # text stays text, whatever YAML would make of it
    assert node_remappings(given) == [("color/image", "/cam/image")]
    assert ros_arguments({"class_map": "it's: mug", "color_topic": "/c"}, namespace="left") == [
        "--ros-args", "-r", "__ns:=/left", "-p", "class_map:='it''s: mug'", "-r", "color/image:=/c"]
    for bad, message in (({"threads": "two"}, "threads must be an integer"),
                         ({"use_sim_time": "yes"}, "use_sim_time must be true or false"),
                         ({"sync_windows": "2"}, "unknown launch argument")):
        with pytest.raises(ValueError, match=message):
            node_parameters(bad)


def test_dualposenet_launch_declares_every_argument_and_applies_the_given_ones():
    module = _module("dualposenet.launch.py")
    assert _argument_names(module) == ["config", "namespace", "log_level"]
    source = (LAUNCH / "dualposenet.launch.py").read_text()
    assert "for argument in NODE_ARGUMENTS]" in source  # one DeclareLaunchArgument per node argument
    (node,) = _node_calls(module)
    assert ast.literal_eval(node["package"]) == "dualposenet_ros"
    assert ast.literal_eval(node["executable"]) == "dualposenet_node"
    assert ast.literal_eval(node["name"]) == "dualposenet"
    assert ast.unparse(node["namespace"]) == "LaunchConfiguration('namespace')"
    # The parameter file first, the arguments given on top of it.
    assert ast.unparse(node["parameters"]) == "[LaunchConfiguration('config'), overrides]"
    assert ast.unparse(node["remappings"]) == "node_remappings(given)"


def test_demo_launch_starts_camera_node_and_rviz_with_the_saved_config():
    from dualposenet_ros.ros.launch_arguments import NODE_ARGUMENTS

    module = _module("demo.launch.py")
    assert _argument_names(module) == ["rviz", "device", "refine", "use_sim_time"]
    assert {"device", "refine", "use_sim_time"} <= {argument.name for argument in NODE_ARGUMENTS}  # passed on
    executables = {ast.literal_eval(call["executable"]): call for call in _node_calls(module)}
    assert set(executables) == {"synthetic_camera", "rviz2"}
    assert ast.literal_eval(executables["synthetic_camera"]["name"]) == "synthetic_camera"
    assert "dualposenet.rviz" in ast.unparse(executables["rviz2"]["arguments"])
    assert "dualposenet.launch.py" in (LAUNCH / "demo.launch.py").read_text()  # the node, through the include


@pytest.mark.parametrize("name", LAUNCH_FILES)
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


def _includes(module: ast.Module) -> dict[str, tuple[str, str]]:
    """package -> (launch file, the arguments' source) of each ``_include(...)`` call."""
    calls = [node for node in ast.walk(module) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
             and node.func.id == "_include"]
    return {ast.literal_eval(call.args[0]): (ast.literal_eval(call.args[1]), ast.unparse(call.args[2]))
            for call in calls}


def test_realsense_example_wires_camera_yolo_ros_and_node_by_their_topics():
    from dualposenet_ros.ros.launch_arguments import NODE_ARGUMENTS

    module = _module("realsense_yolo.launch.py")
    topics = ast.literal_eval(_constant(module, "TOPICS"))
    camera = ast.literal_eval(_constant(module, "CAMERA_ARGUMENTS"))
    yolo = ast.literal_eval(_constant(module, "YOLO_ARGUMENTS"))
    # realsense2_camera 4.5x: node <camera_name> in namespace <camera_namespace>; depth aligned to colour.
    driver = f"/{camera['camera_namespace']}/{camera['camera_name']}"
    assert topics == {"color_topic": f"{driver}/color/image_raw",
                      "depth_topic": f"{driver}/aligned_depth_to_color/image_raw",
                      "camera_info_topic": f"{driver}/color/camera_info",
                      "segmentation_topic": f"/{yolo['namespace']}/detections"}
    assert set(topics) <= {argument.name for argument in NODE_ARGUMENTS}
    assert (camera["align_depth.enable"], camera["enable_sync"]) == ("true", "true")
    assert yolo["input_image_topic"] == topics["color_topic"] and yolo["image_reliability"] in ("1", "2")
    assert _includes(module) == {"realsense2_camera": ("rs_launch.py", "CAMERA_ARGUMENTS"),
                                 "yolo_bringup": ("yolo.launch.py", "{**YOLO_ARGUMENTS, **chosen}"),
                                 "dualposenet_ros": ("dualposenet.launch.py",
                                                     "{**TOPICS, 'config': LaunchConfiguration('config')}")}
    assert "realsense_yolo.yaml" in ast.unparse(_constant(module, "ARGUMENTS"))


def test_realsense_example_parameter_file_is_valid_for_the_node():
    from dualposenet_ros.ros.parameters import specs, validate

    document = yaml.safe_load((REPO / "config" / "realsense_yolo.yaml").read_text())
    (values,) = (dict(_flatten(block["ros__parameters"])) for key, block in document.items()
                 if key == "/**/dualposenet")
    defaults = {spec.name: spec.default for spec in specs()}
    assert set(values) <= set(defaults)
    config = validate({**defaults, **values})
    assert (config.segmentation_format, config.sync_mode) == ("yolo_ros", "exact")


def _flatten(tree: dict, prefix: str = ""):
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _wait_for(process: subprocess.Popen, log: Path, text: str, timeout: float = 180.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if text in log.read_text():
            return log.read_text()
        time.sleep(0.2)
    raise AssertionError(f"{text!r} not in the output (exit status {process.poll()}):\n{log.read_text()}")


@pytest.mark.timeout(240)
def test_the_node_starts_with_the_realsense_example_settings(ros_env, tmp_path):
    """What realsense_yolo.launch.py gives the node (its parameter file, the topics, a namespace),
    as command-line arguments, accepted by the real node."""
    require_rclpy()
    from dualposenet_ros.ros.launch_arguments import ros_arguments
    from ros_node_support import write_tiny_checkpoint

    topics = ast.literal_eval(_constant(_module("realsense_yolo.launch.py"), "TOPICS"))
    stem = write_tiny_checkpoint(tmp_path / "tiny")
    log = tmp_path / "node.log"
    command = [sys.executable, str(REPO / "scripts" / "dualposenet_node"), *ros_arguments(topics, namespace="left"),
               "--params-file", str(REPO / "config" / "realsense_yolo.yaml"),
               "-p", f"checkpoint:={stem}", "-p", "device:=cpu"]
    process = subprocess.Popen(command, env=ros_env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        text = _wait_for(process, log, "ready:")
    finally:
        stop(process)
    ready = next(line for line in text.splitlines() if "ready:" in line)
    for role, argument in (("color", "color_topic"), ("depth", "depth_topic"), ("camera_info", "camera_info_topic"),
                           ("segmentation", "segmentation_topic")):
        assert f"{role} {topics[argument]} (" in ready, ready
    assert "frames left/dualposenet/<category>_<id>" in ready, ready


LAUNCH_RUNNER = """
import sys
from launch import LaunchService
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource

service = LaunchService()
service.include_launch_description(IncludeLaunchDescription(
    PythonLaunchDescriptionSource(sys.argv[1]), launch_arguments=[pair.split(":=", 1) for pair in sys.argv[2:]]))
sys.exit(service.run())
"""
"""``ros2 launch <file> name:=value ...`` without the ros2 command."""


@pytest.mark.timeout(300)
@pytest.mark.parametrize(("name", "arguments", "expected"), [
    ("dualposenet.launch.py", {"namespace": "left", "segmentation_format": "yolo_ros", "color_topic": "/cam/color",
                               "threads": "1"},
     ["color /cam/color (", "segmentation /left/segmentation (", "frames left/dualposenet/", "threads 1 (threads "]),
    ("realsense_yolo.launch.py", {"camera": "false", "yolo": "false"},
     ["color /camera/camera/color/image_raw (", "segmentation /yolo/detections (", "frames dualposenet/"]),
])
def test_launch_files_start_the_node_where_launch_ros_is_installed(name, arguments, expected, ros_env, tmp_path):
    require_distribution_library("launch_ros")  # not on PyPI: skipped on the wheels, required with REQUIRE_ROS=full
    from ros_node_support import write_tiny_checkpoint

    stem = write_tiny_checkpoint(tmp_path / "tiny")
    log = tmp_path / "launch.log"
    pairs = [f"{key}:={value}" for key, value in {**arguments, "checkpoint": str(stem), "device": "cpu"}.items()]
    process = subprocess.Popen([sys.executable, "-c", LAUNCH_RUNNER, str(LAUNCH / name), *pairs], env=ros_env,
                               stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        text = _wait_for(process, log, "ready:")
    finally:
        stop(process)
    ready = next(line for line in text.splitlines() if "ready:" in line)
    for part in expected:
        assert part in ready, ready


@pytest.mark.parametrize("name", LAUNCH_FILES)
def test_launch_files_load_where_launch_ros_is_installed(name):
    require_distribution_library("launch_ros")  # not on PyPI: skipped on the wheels, required with REQUIRE_ROS=full
    import importlib.util

    from dualposenet_ros.ros.launch_arguments import NODE_ARGUMENTS

    spec = importlib.util.spec_from_file_location(name.replace(".", "_"), LAUNCH / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    declared = [argument.name for argument in description.get_launch_arguments()]
    assert set(_argument_names(_module(name))) <= set(declared)
    if name == "dualposenet.launch.py":
        assert {argument.name for argument in NODE_ARGUMENTS} <= set(declared)
