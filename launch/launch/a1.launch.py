"""ros2 launch reflex a1.launch.py [joint_states:=...] [imu:=...] [command:=...] [config:=...]

Starts the Reflex node for a Unitree A1: reads joint states and IMU, stands the robot up under the
supervisor with the certified fallback, publishes torques and diagnostics. Topic arguments remap
Reflex's topics to your driver's.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    share = FindPackageShare("reflex")
    args = [
        DeclareLaunchArgument("config", default_value=PathJoinSubstitution([share, "launch", "config", "a1_ros.yaml"])),
        DeclareLaunchArgument("joint_states", default_value="/joint_states"),
        DeclareLaunchArgument("imu", default_value="/imu/data"),
        DeclareLaunchArgument("command", default_value="/joint_commands"),
        DeclareLaunchArgument("node_name", default_value="reflex"),
    ]
    node = Node(
        package="reflex",
        executable="reflex_node",
        name=LaunchConfiguration("node_name"),
        output="screen",
        parameters=[PathJoinSubstitution([share, "params", "a1.yaml"]), {"config": LaunchConfiguration("config")}],
        remappings=[
            ("/joint_states", LaunchConfiguration("joint_states")),
            ("/imu/data", LaunchConfiguration("imu")),
            ("/joint_commands", LaunchConfiguration("command")),
        ],
    )
    return LaunchDescription(args + [node])
