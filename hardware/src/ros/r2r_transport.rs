//! The r2r transport: ROS 2 through rcl, for operators who build with colcon with ROS 2
//! (Humble or Jazzy) sourced. It converts r2r's generated messages to and from Reflex's
//! ([`crate::ros::msg`]) and hands them to the shared mapping logic ([`IoSide`]); it adds no
//! logic of its own. Without a ROS install it is type-checked with r2r's `doc-only` feature.

use std::thread::JoinHandle;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use r2r::QosProfile;

use crate::ros::bridge::IoSide;
use crate::ros::mapping::CommandMessage;
use crate::ros::msg;
use crate::ros::{BridgeConfig, BridgeError};

fn err(what: &str, e: impl std::fmt::Display) -> BridgeError {
    BridgeError::Transport(format!("{what}: {e}"))
}

fn time_in(t: &r2r::builtin_interfaces::msg::Time) -> msg::builtin_interfaces::Time {
    msg::builtin_interfaces::Time {
        sec: t.sec,
        nanosec: t.nanosec,
    }
}

fn time_out(t: &msg::builtin_interfaces::Time) -> r2r::builtin_interfaces::msg::Time {
    r2r::builtin_interfaces::msg::Time {
        sec: t.sec,
        nanosec: t.nanosec,
    }
}

fn header_in(h: &r2r::std_msgs::msg::Header) -> msg::std_msgs::Header {
    msg::std_msgs::Header {
        stamp: time_in(&h.stamp),
        frame_id: h.frame_id.clone(),
    }
}

fn header_out(h: &msg::std_msgs::Header) -> r2r::std_msgs::msg::Header {
    r2r::std_msgs::msg::Header {
        stamp: time_out(&h.stamp),
        frame_id: h.frame_id.clone(),
    }
}

fn vec3(v: &r2r::geometry_msgs::msg::Vector3) -> msg::geometry_msgs::Vector3 {
    msg::geometry_msgs::Vector3 {
        x: v.x,
        y: v.y,
        z: v.z,
    }
}

fn joint_state_in(m: &r2r::sensor_msgs::msg::JointState) -> msg::sensor_msgs::JointState {
    msg::sensor_msgs::JointState {
        header: header_in(&m.header),
        name: m.name.clone(),
        position: m.position.clone(),
        velocity: m.velocity.clone(),
        effort: m.effort.clone(),
    }
}

fn imu_in(m: &r2r::sensor_msgs::msg::Imu) -> msg::sensor_msgs::Imu {
    let o = &m.orientation;
    msg::sensor_msgs::Imu {
        header: header_in(&m.header),
        orientation: msg::geometry_msgs::Quaternion {
            x: o.x,
            y: o.y,
            z: o.z,
            w: o.w,
        },
        orientation_covariance: [0.0; 9],
        angular_velocity: vec3(&m.angular_velocity),
        angular_velocity_covariance: [0.0; 9],
        linear_acceleration: vec3(&m.linear_acceleration),
        linear_acceleration_covariance: [0.0; 9],
    }
}

fn odometry_in(m: &r2r::nav_msgs::msg::Odometry) -> msg::nav_msgs::Odometry {
    let mut out = msg::nav_msgs::Odometry {
        header: header_in(&m.header),
        child_frame_id: m.child_frame_id.clone(),
        ..Default::default()
    };
    out.twist.twist.linear = vec3(&m.twist.twist.linear);
    out.twist.twist.angular = vec3(&m.twist.twist.angular);
    out
}

fn wrench_in(m: &r2r::geometry_msgs::msg::WrenchStamped) -> msg::geometry_msgs::WrenchStamped {
    msg::geometry_msgs::WrenchStamped {
        header: header_in(&m.header),
        wrench: msg::geometry_msgs::Wrench {
            force: vec3(&m.wrench.force),
            torque: vec3(&m.wrench.torque),
        },
    }
}

fn array_out(m: msg::std_msgs::Float64MultiArray) -> r2r::std_msgs::msg::Float64MultiArray {
    r2r::std_msgs::msg::Float64MultiArray {
        layout: r2r::std_msgs::msg::MultiArrayLayout {
            dim: m
                .layout
                .dim
                .into_iter()
                .map(|d| r2r::std_msgs::msg::MultiArrayDimension {
                    label: d.label,
                    size: d.size,
                    stride: d.stride,
                })
                .collect(),
            data_offset: m.layout.data_offset,
        },
        data: m.data,
    }
}

fn trajectory_out(
    m: msg::trajectory_msgs::JointTrajectory,
) -> r2r::trajectory_msgs::msg::JointTrajectory {
    r2r::trajectory_msgs::msg::JointTrajectory {
        header: header_out(&m.header),
        joint_names: m.joint_names,
        points: m
            .points
            .into_iter()
            .map(|p| r2r::trajectory_msgs::msg::JointTrajectoryPoint {
                positions: p.positions,
                velocities: p.velocities,
                accelerations: p.accelerations,
                effort: p.effort,
                time_from_start: r2r::builtin_interfaces::msg::Duration {
                    sec: p.time_from_start.sec,
                    nanosec: p.time_from_start.nanosec,
                },
            })
            .collect(),
    }
}

fn diagnostics_out(
    m: msg::diagnostic_msgs::DiagnosticArray,
) -> r2r::diagnostic_msgs::msg::DiagnosticArray {
    r2r::diagnostic_msgs::msg::DiagnosticArray {
        header: header_out(&m.header),
        status: m
            .status
            .into_iter()
            .map(|s| r2r::diagnostic_msgs::msg::DiagnosticStatus {
                level: s.level,
                name: s.name,
                message: s.message,
                hardware_id: s.hardware_id,
                values: s
                    .values
                    .into_iter()
                    .map(|kv| r2r::diagnostic_msgs::msg::KeyValue {
                        key: kv.key,
                        value: kv.value,
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// Creates the rcl node, topics and the I/O thread (which spins the node).
pub fn spawn(
    cfg: BridgeConfig,
    mut io: IoSide,
) -> Result<JoinHandle<Result<(), String>>, BridgeError> {
    // rcl parses --ros-args (remaps, params) itself from the process arguments.
    let ctx = r2r::Context::create().map_err(|e| err("rcl context", e))?;
    let mut node =
        r2r::Node::create(ctx, &cfg.node_name, &cfg.namespace).map_err(|e| err("rcl node", e))?;
    let sensor = QosProfile::sensor_data();
    let reliable = QosProfile::default().reliable().keep_last(10).volatile();
    let mut js = node
        .subscribe::<r2r::sensor_msgs::msg::JointState>(
            &cfg.resolve(&cfg.joint_states_topic),
            sensor.clone(),
        )
        .map_err(|e| err("joint states subscription", e))?;
    let mut imu = match &cfg.imu_topic {
        Some(t) => Some(
            node.subscribe::<r2r::sensor_msgs::msg::Imu>(&cfg.resolve(t), sensor.clone())
                .map_err(|e| err("imu subscription", e))?,
        ),
        None => None,
    };
    let mut odom = match &cfg.odometry_topic {
        Some(t) => Some(
            node.subscribe::<r2r::nav_msgs::msg::Odometry>(&cfg.resolve(t), sensor.clone())
                .map_err(|e| err("odometry subscription", e))?,
        ),
        None => None,
    };
    let mut wrench = match &cfg.wrench_topic {
        Some(t) => Some(
            node.subscribe::<r2r::geometry_msgs::msg::WrenchStamped>(
                &cfg.resolve(t),
                sensor.clone(),
            )
            .map_err(|e| err("wrench subscription", e))?,
        ),
        None => None,
    };
    let command = cfg.resolve(&cfg.command_topic);
    let array_pub = node
        .create_publisher::<r2r::std_msgs::msg::Float64MultiArray>(&command, reliable.clone())
        .map_err(|e| err("command publisher", e))?;
    let traj_pub = node
        .create_publisher::<r2r::trajectory_msgs::msg::JointTrajectory>(&command, reliable.clone())
        .map_err(|e| err("command publisher", e))?;
    let diag_pub = node
        .create_publisher::<r2r::diagnostic_msgs::msg::DiagnosticArray>(
            &cfg.resolve(&cfg.diagnostics_topic),
            reliable,
        )
        .map_err(|e| err("diagnostics publisher", e))?;
    crate::spawn_named("reflex-ros-io", move || -> Result<(), String> {
        while !io.stopping() {
            node.spin_once(Duration::from_micros(200));
            while let Some(Some(m)) = js.next().now_or_never() {
                io.on_joint_state(&joint_state_in(&m), None);
            }
            if let Some(s) = imu.as_mut() {
                while let Some(Some(m)) = s.next().now_or_never() {
                    io.on_imu(&imu_in(&m), None);
                }
            }
            if let Some(s) = odom.as_mut() {
                while let Some(Some(m)) = s.next().now_or_never() {
                    io.on_odometry(&odometry_in(&m), None);
                }
            }
            if let Some(s) = wrench.as_mut() {
                while let Some(Some(m)) = s.next().now_or_never() {
                    io.on_wrench(&wrench_in(&m), None);
                }
            }
            if let Some(c) = io.take_command() {
                let r = match c {
                    CommandMessage::Array(m) => array_pub.publish(&array_out(m)),
                    CommandMessage::Trajectory(m) => traj_pub.publish(&trajectory_out(m)),
                    // Unitree LowCmd goes out on the SDK2 transport only.
                    #[allow(unreachable_patterns)]
                    _ => Ok(()),
                };
                r.map_err(|e| format!("command publish: {e}"))?;
                io.published();
            }
            if let Some(d) = io.take_diagnostics() {
                let _ = diag_pub.publish(&diagnostics_out(d));
            }
        }
        Ok(())
    })
    .map_err(|e| err("I/O thread", e))
}
