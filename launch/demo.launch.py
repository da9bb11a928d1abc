"""Demo: a synthetic RGB-D camera, the dualposenet node and RViz showing the image, boxes and TF.

    ros2 launch dualposenet_ros demo.launch.py [rviz:=false] [device:=cuda] [refine:=feature]

The synthetic_camera node publishes colour, depth, camera_info and segmentation on the topic names
the dualposenet node subscribes by default (and its ground truth on synthetic_camera/ground_truth),
in the frame camera_color_optical_frame, the fixed frame of resource/dualposenet.rviz. Unless
FASTDDS_DEFAULT_PROFILES_FILE is set, every process gets the package's Fast DDS profile for large images.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, OpaqueFunction
from launch.conditions import IfCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

from dualposenet_ros.ros.dds_profile import launch_actions

ARGUMENTS = (
    ("rviz", "true", "Start RViz with resource/dualposenet.rviz."),
    ("device", "auto", "Inference device: auto, cpu, cuda or cuda:N."),
    ("refine", "none", "Test-time refinement: none, encoder or feature."),
    ("use_sim_time", "false", "Use the /clock topic."),
)


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare("dualposenet_ros")
    arguments = [DeclareLaunchArgument(name, default_value=default, description=description)
                 for name, default, description in ARGUMENTS]
    camera = Node(
        package="dualposenet_ros",
        executable="synthetic_camera",
        name="synthetic_camera",
        output="screen",
        parameters=[{"use_sim_time": ParameterValue(LaunchConfiguration("use_sim_time"), value_type=bool)}],
    )
    pose_node = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(PathJoinSubstitution([share, "launch", "dualposenet.launch.py"])),
        launch_arguments={
            "device": LaunchConfiguration("device"),
            "refine": LaunchConfiguration("refine"),
            "use_sim_time": LaunchConfiguration("use_sim_time"),
        }.items(),
    )
    rviz = Node(
        package="rviz2",
        executable="rviz2",
        name="rviz2",
        output="screen",
        arguments=["-d", PathJoinSubstitution([share, "resource", "dualposenet.rviz"])],
        parameters=[{"use_sim_time": ParameterValue(LaunchConfiguration("use_sim_time"), value_type=bool)}],
        condition=IfCondition(LaunchConfiguration("rviz")),
    )
    return LaunchDescription([*arguments, OpaqueFunction(function=launch_actions), camera, pose_node, rviz])
