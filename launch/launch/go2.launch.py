"""ros2 launch reflex go2.launch.py [joint_states:=...] [imu:=...] [command:=...] [cmd_vel:=...] [config:=...]

Starts the Reflex node for a Unitree Go2: reads joint states and IMU, stands the robot up, then
walks it with the HIMLoco policy at the velocity command of /cmd_vel (a joystick, nav2) under the
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
        DeclareLaunchArgument("config", default_value=PathJoinSubstitution([share, "launch", "config", "go2_ros.yaml"])),
        DeclareLaunchArgument("joint_states", default_value="/joint_states"),
        DeclareLaunchArgument("imu", default_value="/imu/data"),
        DeclareLaunchArgument("command", default_value="/joint_commands"),
        DeclareLaunchArgument("cmd_vel", default_value="/cmd_vel"),
        DeclareLaunchArgument("node_name", default_value="reflex"),
    ]
    node = Node(
        package="reflex",
        executable="reflex_node",
        name=LaunchConfiguration("node_name"),
        output="screen",
        parameters=[PathJoinSubstitution([share, "params", "go2.yaml"]), {"config": LaunchConfiguration("config")}],
        remappings=[
            ("/joint_states", LaunchConfiguration("joint_states")),
            ("/imu/data", LaunchConfiguration("imu")),
            ("/joint_commands", LaunchConfiguration("command")),
            ("/cmd_vel", LaunchConfiguration("cmd_vel")),
        ],
    )
    return LaunchDescription(args + [node])
