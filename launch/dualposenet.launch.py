"""Launch the dualposenet node.

    ros2 launch dualposenet_ros dualposenet.launch.py checkpoint:=/models/real275 device:=cuda \
        color_topic:=/camera/camera/color/image_raw \
        depth_topic:=/camera/camera/aligned_depth_to_color/image_raw \
        camera_info_topic:=/camera/camera/color/camera_info \
        segmentation_format:=yolo_ros segmentation_topic:=/yolo/detections

Arguments: config (parameter file, default the package's config/dualposenet.yaml), namespace,
log_level, and one per common setting (dualposenet_ros/ros/launch_arguments.py; `ros2 launch
dualposenet_ros dualposenet.launch.py --show-args` lists them): the input topics (color_topic,
depth_topic, camera_info_topic, segmentation_topic, masks_topic), checkpoint, device, precision,
backend, threads, segmentation_format, class_map, refine, sync_mode, sync_window, sync_queue_size, sync_slop,
frame_prefix, use_sim_time. Left empty they change nothing (the parameter file's value holds);
given, they override it. In a namespace the node's topics, and by default its TF frames
(frame_prefix is resolved in the namespace), are its own. Unless FASTDDS_DEFAULT_PROFILES_FILE is
set, the package's Fast DDS profile for large images is used.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

from dualposenet_ros.ros.dds_profile import launch_actions
from dualposenet_ros.ros.launch_arguments import NODE_ARGUMENTS, node_parameters, node_remappings

ARGUMENTS = (
    ("config", PathJoinSubstitution([FindPackageShare("dualposenet_ros"), "config", "dualposenet.yaml"]),
     "Parameter file of the node."),
    ("namespace", "", "Namespace of the node: its topics (inputs too) and TF frames become its own."),
    ("log_level", "info", "Logging level of the node."),
)


def node_action(context: object) -> list:
    """The node, with the settings of the arguments given on top of the parameter file."""
    given = {argument.name: LaunchConfiguration(argument.name).perform(context) for argument in NODE_ARGUMENTS}
    # Text stays text (launch would read 'cup: mug' or '1e-3' as YAML); numbers and booleans are typed already.
    overrides = {name: ParameterValue(value, value_type=str) if isinstance(value, str) else value
                 for name, value in node_parameters(given).items()}
    return [Node(
        package="dualposenet_ros",
        executable="dualposenet_node",
        name="dualposenet",
        namespace=LaunchConfiguration("namespace"),
        output="screen",
        emulate_tty=True,
        parameters=[LaunchConfiguration("config"), overrides],
        remappings=node_remappings(given),
        arguments=["--ros-args", "--log-level", LaunchConfiguration("log_level")],
    )]


def generate_launch_description() -> LaunchDescription:
    arguments = [DeclareLaunchArgument(name, default_value=default, description=description)
                 for name, default, description in ARGUMENTS]
    arguments += [DeclareLaunchArgument(argument.name, default_value="", description=argument.help)
                  for argument in NODE_ARGUMENTS]
    node = OpaqueFunction(function=node_action)  # reads the arguments once they are known
    return LaunchDescription([*arguments, OpaqueFunction(function=launch_actions), node])
