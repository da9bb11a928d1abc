"""Example: a RealSense camera, yolo_ros and the dualposenet node (docs/real_camera.md, step by step).

    ros2 launch dualposenet_ros realsense_yolo.launch.py yolo_model:=yolov8m-seg.pt \
        [checkpoint:=/models/real275] [device:=cuda] [camera:=false] [yolo:=false]

realsense2_camera (4.5x, `rs_launch.py`) publishes colour and depth aligned to colour under
/camera/camera/; yolo_ros (`yolo_bringup yolo.launch.py`, a segmentation model) publishes
yolo_msgs/DetectionArray with polygon masks on /yolo/detections, stamped with the colour image's
stamp; the dualposenet node (launch/dualposenet.launch.py with config/realsense_yolo.yaml) reads
all four. `camera:=false` / `yolo:=false` leave out a process that already runs with these topics.
The node's arguments (checkpoint, device, namespace, ...: dualposenet.launch.py) pass through; the
camera's and yolo_ros's are fixed here (CAMERA_ARGUMENTS, YOLO_ARGUMENTS) and do not see them.
Every process started here gets the package's Fast DDS profile for large images unless
FASTDDS_DEFAULT_PROFILES_FILE (FASTRTPS_DEFAULT_PROFILES_FILE on Humble and Jazzy) is set.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction, IncludeLaunchDescription, OpaqueFunction
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare

from dualposenet_ros.ros.dds_profile import launch_actions

TOPICS = {
    "color_topic": "/camera/camera/color/image_raw",
    "depth_topic": "/camera/camera/aligned_depth_to_color/image_raw",
    "camera_info_topic": "/camera/camera/color/camera_info",
    "segmentation_topic": "/yolo/detections",
}
"""The node's inputs (dualposenet.launch.py arguments): realsense2_camera 4.5x's topics (node
``camera`` in namespace ``camera``) and yolo_ros's detections (namespace ``yolo``)."""

CAMERA_ARGUMENTS = {
    "camera_namespace": "camera",
    "camera_name": "camera",
    "enable_color": "true",
    "enable_depth": "true",
    "align_depth.enable": "true",  # depth in the colour camera's pixels, as the node needs
    "enable_sync": "true",  # colour and depth of one frameset, published with one stamp
}
"""rs_launch.py arguments. Image topics keep the driver's QoS (reliable; SYSTEM_DEFAULT)."""

YOLO_ARGUMENTS = {
    "namespace": "yolo",
    "input_image_topic": "/camera/camera/color/image_raw",  # TOPICS["color_topic"]
    "image_reliability": "2",  # best effort, like the node's inputs: a slow yolo_ros never holds the camera back
    "use_tracking": "false",  # the node tracks; yolo_ros's tracking adds a hop and its latency
    "use_3d": "false",
    "use_debug": "false",
}
"""yolo.launch.py arguments (the same names in its Python 4.x and its C++ releases)."""

ARGUMENTS = (
    ("camera", "true", "Start realsense2_camera (rs_launch.py); false: a camera already publishes TOPICS."),
    ("yolo", "true", "Start yolo_ros (yolo_bringup yolo.launch.py); false: it already runs."),
    ("yolo_model", "", "yolo_ros model; it must be a segmentation (-seg) model: the node needs masks. Empty: "
     "yolo_ros's default."),
    ("yolo_device", "", "yolo_ros device (cpu, cuda:0). Empty: yolo_ros's default."),
    ("config", PathJoinSubstitution([FindPackageShare("dualposenet_ros"), "config", "realsense_yolo.yaml"]),
     "Parameter file of the dualposenet node."),
)


def _include(package: str, launch_file: str, arguments: dict) -> IncludeLaunchDescription:
    return IncludeLaunchDescription(
        PythonLaunchDescriptionSource(PathJoinSubstitution([FindPackageShare(package), "launch", launch_file])),
        launch_arguments=arguments.items())


def processes(context: object) -> list:
    """The camera and yolo_ros (each seeing only its own arguments, so the node's `device` or
    `namespace` never reach them), then the node."""
    def given(name: str) -> str:
        return LaunchConfiguration(name).perform(context).strip()

    actions = []
    if given("camera").lower() == "true":
        actions.append(GroupAction([_include("realsense2_camera", "rs_launch.py", CAMERA_ARGUMENTS)],
                                   forwarding=False))
    if given("yolo").lower() == "true":
        chosen = {name: given(argument) for name, argument in (("model", "yolo_model"), ("device", "yolo_device"))
                  if given(argument)}
        actions.append(GroupAction([_include("yolo_bringup", "yolo.launch.py", {**YOLO_ARGUMENTS, **chosen})],
                                   forwarding=False))
    node = _include("dualposenet_ros", "dualposenet.launch.py", {**TOPICS, "config": LaunchConfiguration("config")})
    return [*actions, GroupAction([node])]


def generate_launch_description() -> LaunchDescription:
    arguments = [DeclareLaunchArgument(name, default_value=default, description=description)
                 for name, default, description in ARGUMENTS]
    return LaunchDescription([*arguments, OpaqueFunction(function=launch_actions), OpaqueFunction(function=processes)])
