//! ROS 2 message mapping of what goes out, written once for every transport: commands and
//! diagnostics built from Reflex's own types. (What comes in: [`crate::ros::inbound`].)

use crate::ros::inbound::{Rejections, TopicFilters};
use crate::ros::msg::builtin_interfaces::{Duration, Time};
use crate::ros::msg::diagnostic_msgs::{DiagnosticArray, DiagnosticStatus, KeyValue};
use crate::ros::msg::std_msgs::{Float64MultiArray, Header, MultiArrayDimension, MultiArrayLayout};
use crate::ros::msg::trajectory_msgs::{JointTrajectory, JointTrajectoryPoint};

/// What the command topic carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandInterface {
    /// `std_msgs/Float64MultiArray` of position targets (forward_command_controller, position).
    PositionArray,
    /// `std_msgs/Float64MultiArray` of joint torques kp(q*−q) + kd(dq*−dq) + τ_ff, effort-clamped
    /// (forward_command_controller, effort).
    EffortArray,
    /// `trajectory_msgs/JointTrajectory` with one point: positions, velocities, effort (τ_ff).
    JointTrajectory,
    /// Unitree SDK2's `LowCmd_` (the `unitree` backend): per motor q, dq, kp, kd, τ_ff for the
    /// motor's own PD, CRC-checked.
    UnitreeLowCmd,
}

/// A command as the RT thread hands it to the I/O thread (hardware order).
#[derive(Debug, Clone, PartialEq)]
pub struct OutboundCommand {
    /// Counter, one per RT write.
    pub seq: u64,
    /// System time of the write (ns since the Unix epoch).
    pub stamp_ns: i128,
    /// Position targets (rad).
    pub position_rad: Vec<f64>,
    /// Velocity targets (rad/s).
    pub velocity_rad_s: Vec<f64>,
    /// Feed-forward torques (N·m).
    pub effort_ff_nm: Vec<f64>,
    /// Total torque at the state the command was computed from (N·m), effort-clamped.
    pub effort_total_nm: Vec<f64>,
    /// Position gains (N·m/rad).
    pub kp: Vec<f64>,
    /// Velocity gains (N·m·s/rad).
    pub kd: Vec<f64>,
    /// Where the state it answers came from and when (the latency budget).
    pub trace: CommandTrace,
}

/// The times a command carries for the latency budget (0: unknown).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommandTrace {
    /// Stamp of the state it answers (ns since the Unix epoch).
    pub state_stamp_ns: i128,
    /// That state's arrival at the I/O thread: system time, monotonic time (ns).
    pub received_ns: (i128, u64),
    /// The RT thread's read of it (monotonic ns).
    pub read_mono_ns: u64,
    /// The RT thread's write of this command (monotonic ns).
    pub write_mono_ns: u64,
}

impl OutboundCommand {
    /// Zeroed, sized for `n` joints.
    pub fn new(n: usize) -> Self {
        Self {
            seq: 0,
            stamp_ns: 0,
            position_rad: vec![0.0; n],
            velocity_rad_s: vec![0.0; n],
            effort_ff_nm: vec![0.0; n],
            effort_total_nm: vec![0.0; n],
            kp: vec![0.0; n],
            kd: vec![0.0; n],
            trace: CommandTrace::default(),
        }
    }
}

/// An encoded outbound command message.
#[derive(Debug, Clone, PartialEq)]
pub enum CommandMessage {
    /// For `std_msgs/Float64MultiArray` topics.
    Array(Float64MultiArray),
    /// For `trajectory_msgs/JointTrajectory` topics.
    Trajectory(JointTrajectory),
    /// For Unitree SDK2's `rt/lowcmd`.
    #[cfg(feature = "dds")]
    LowCmd(Box<crate::unitree::msg::LowCmd>),
}

/// Encodes commands for the configured interface.
pub fn encode_command(
    interface: CommandInterface,
    joint_names: &[String],
    c: &OutboundCommand,
) -> CommandMessage {
    let array = |data: &[f64]| {
        CommandMessage::Array(Float64MultiArray {
            layout: MultiArrayLayout {
                dim: vec![MultiArrayDimension {
                    label: "joints".into(),
                    size: data.len() as u32,
                    stride: data.len() as u32,
                }],
                data_offset: 0,
            },
            data: data.to_vec(),
        })
    };
    match interface {
        CommandInterface::PositionArray => array(&c.position_rad),
        CommandInterface::EffortArray => array(&c.effort_total_nm),
        #[cfg(feature = "dds")]
        CommandInterface::UnitreeLowCmd => {
            CommandMessage::LowCmd(Box::new(crate::unitree::low_cmd(c)))
        }
        #[cfg(not(feature = "dds"))]
        CommandInterface::UnitreeLowCmd => array(&c.effort_total_nm),
        CommandInterface::JointTrajectory => CommandMessage::Trajectory(JointTrajectory {
            header: Header {
                stamp: Time::from_ns(c.stamp_ns),
                frame_id: String::new(),
            },
            joint_names: joint_names.to_vec(),
            points: vec![JointTrajectoryPoint {
                positions: c.position_rad.clone(),
                velocities: c.velocity_rad_s.clone(),
                accelerations: vec![],
                effort: c.effort_ff_nm.clone(),
                time_from_start: Duration { sec: 0, nanosec: 0 },
            }],
        }),
    }
}

/// The loop's status as the RT thread hands it to the I/O thread (fixed size, Copy).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LoopStatus {
    /// Cycles run.
    pub cycles: u64,
    /// Overruns.
    pub overruns: u64,
    /// Supervisor mode: 0 POLICY, 1 FALLBACK, 2 SAFE_STOP.
    pub mode: u8,
    /// Cause of the last transition (a static name), if any.
    pub last_cause: Option<&'static str>,
    /// Mode transitions so far.
    pub transitions: u64,
    /// Policy results that were late.
    pub late_results: u64,
    /// Cycles whose robot state did not arrive in time (robot-triggered loops).
    pub missed_cycles: u64,
    /// Cycle compute time of the last cycle (µs).
    pub last_compute_us: f64,
}

/// Builds the `diagnostic_msgs/DiagnosticArray` Reflex publishes (`end_to_end_ns`: the last
/// command's latency from its state's stamp to its publication).
pub fn diagnostics(
    node: &str,
    status: &LoopStatus,
    rejections: &Rejections,
    filters: &TopicFilters,
    end_to_end_ns: i64,
    now_ns: i128,
) -> DiagnosticArray {
    let mode = match status.mode {
        0 => "POLICY",
        1 => "FALLBACK",
        _ => "SAFE_STOP",
    };
    let level = match status.mode {
        0 => 0,
        1 => 1,
        _ => 2,
    };
    let kv = |k: &str, v: String| KeyValue {
        key: k.into(),
        value: v,
    };
    let mut values = vec![
        kv("mode", mode.into()),
        kv("cycles", status.cycles.to_string()),
        kv("overruns", status.overruns.to_string()),
        kv("transitions", status.transitions.to_string()),
        kv("last_cause", status.last_cause.unwrap_or("").into()),
        kv("late_results", status.late_results.to_string()),
        kv("missed_cycles", status.missed_cycles.to_string()),
        kv("compute_us", format!("{:.2}", status.last_compute_us)),
        kv(
            "end_to_end_us",
            format!("{:.1}", end_to_end_ns as f64 / 1e3),
        ),
    ];
    values.extend(
        rejections
            .by_kind()
            .iter()
            .map(|(k, n)| kv(&format!("rejected_{k}"), n.to_string())),
    );
    values.push(kv(
        "joint_states_publisher",
        filters
            .joint_states
            .locked()
            .map_or(String::new(), |g| g.to_string()),
    ));
    DiagnosticArray {
        header: Header {
            stamp: Time::from_ns(now_ns),
            frame_id: String::new(),
        },
        status: vec![DiagnosticStatus {
            level,
            name: format!("{node}: control loop"),
            message: match status.last_cause {
                Some(c) => format!("{mode} ({c})"),
                None => mode.to_string(),
            },
            hardware_id: node.to_string(),
            values,
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effort_array_carries_total_torques_in_hardware_order() {
        let mut c = OutboundCommand::new(2);
        c.effort_total_nm = vec![1.5, -2.0];
        c.position_rad = vec![0.1, 0.2];
        let names = vec!["a".to_string(), "b".to_string()];
        assert!(
            matches!(encode_command(CommandInterface::EffortArray, &names, &c), CommandMessage::Array(m) if m.data == vec![1.5, -2.0])
        );
        let CommandMessage::Trajectory(t) =
            encode_command(CommandInterface::JointTrajectory, &names, &c)
        else {
            panic!()
        };
        assert_eq!(t.joint_names, names);
        assert_eq!(t.points[0].positions, vec![0.1, 0.2]);
    }
}
