"""ros2 launch reflex panda.launch.py [joint_states:=...] [command:=...] [config:=...]

Starts the Reflex node for a Franka Panda: reads joint states (and the external wrench), holds
the ready pose with joint PD, and publishes position targets for a forward command controller.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    share = FindPackageShare("reflex")
    args = [
        DeclareLaunchArgument("config", default_value=PathJoinSubstitution([share, "launch", "config", "panda_ros.yaml"])),
        DeclareLaunchArgument("joint_states", default_value="/joint_states"),
        DeclareLaunchArgument("command", default_value="/joint_position_controller/commands"),
        DeclareLaunchArgument("node_name", default_value="reflex"),
    ]
    node = Node(
        package="reflex",
        executable="reflex_node",
        name=LaunchConfiguration("node_name"),
        output="screen",
        parameters=[PathJoinSubstitution([share, "params", "panda.yaml"]), {"config": LaunchConfiguration("config")}],
        remappings=[
            ("/joint_states", LaunchConfiguration("joint_states")),
            ("/joint_position_controller/commands", LaunchConfiguration("command")),
        ],
    )
    return LaunchDescription(args + [node])
