"""Launch the dualposenet node.

    ros2 launch dualposenet_ros dualposenet.launch.py \
        color_topic:=/camera/color/image_raw depth_topic:=/camera/aligned_depth_to_color/image_raw \
        camera_info_topic:=/camera/color/camera_info segmentation_topic:=/segmentation device:=cuda

Arguments: config (parameter file, default the package's config/dualposenet.yaml), namespace,
color_topic, depth_topic, camera_info_topic, segmentation_topic (remaps of the node's inputs
color/image, depth/image, color/camera_info, segmentation), device (auto/cpu/cuda), refine
(none/encoder/feature), use_sim_time, log_level. device and refine override the config file.
Unless FASTDDS_DEFAULT_PROFILES_FILE is set, the package's Fast DDS profile for large images is used.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

from dualposenet_ros.ros.dds_profile import launch_actions

ARGUMENTS = (
    ("config", PathJoinSubstitution([FindPackageShare("dualposenet_ros"), "config", "dualposenet.yaml"]),
     "Parameter file of the node."),
    ("namespace", "", "Namespace of the node (its outputs become <namespace>/dualposenet/...)."),
    ("color_topic", "color/image", "Colour image input (rgb8 or bgr8)."),
    ("depth_topic", "depth/image", "Depth image registered to the colour camera (16UC1 mm or 32FC1 m)."),
    ("camera_info_topic", "color/camera_info", "CameraInfo of the colour camera."),
    ("segmentation_topic", "segmentation", "dualposenet_ros/InstanceSegmentation of the colour image."),
    ("device", "auto", "Inference device: auto, cpu, cuda or cuda:N."),
    ("refine", "none", "Test-time refinement: none, encoder or feature (changeable later with ros2 param set)."),
    ("use_sim_time", "false", "Use the /clock topic (bag playback, simulation)."),
    ("log_level", "info", "Logging level of the node."),
)

REMAPS = (
    ("color/image", "color_topic"),
    ("depth/image", "depth_topic"),
    ("color/camera_info", "camera_info_topic"),
    ("segmentation", "segmentation_topic"),
)
"""(input topic of the node, launch argument giving its remap)."""


def generate_launch_description() -> LaunchDescription:
    arguments = [DeclareLaunchArgument(name, default_value=default, description=description)
                 for name, default, description in ARGUMENTS]
    node = Node(
        package="dualposenet_ros",
        executable="dualposenet_node",
        name="dualposenet",
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        emulate_tty=True,
        parameters=[
            LaunchConfiguration("config"),
            {
                "device": ParameterValue(LaunchConfiguration("device"), value_type=str),
                "refine.mode": ParameterValue(LaunchConfiguration("refine"), value_type=str),
                "use_sim_time": ParameterValue(LaunchConfiguration("use_sim_time"), value_type=bool),
            },
        ],
        remappings=[(topic, LaunchConfiguration(argument)) for topic, argument in REMAPS],
        arguments=["--ros-args", "--log-level", LaunchConfiguration("log_level")],
    )
    return LaunchDescription([*arguments, OpaqueFunction(function=launch_actions), node])
