//! ROS 2 message mapping, written once for every transport: inbound messages are validated and
//! assembled into a [`RobotState`] in hardware order (joints matched by name, never by position
//! in the message); outbound commands and diagnostics are built from Reflex's own types.

use std::collections::HashMap;

use crate::ros::msg::builtin_interfaces::{Duration, Time};
use crate::ros::msg::diagnostic_msgs::{DiagnosticArray, DiagnosticStatus, KeyValue};
use crate::ros::msg::geometry_msgs::WrenchStamped;
use crate::ros::msg::nav_msgs::Odometry;
use crate::ros::msg::sensor_msgs::{Imu, JointState};
use crate::ros::msg::std_msgs::{Float64MultiArray, Header, MultiArrayDimension, MultiArrayLayout};
use crate::ros::msg::trajectory_msgs::{JointTrajectory, JointTrajectoryPoint};
use crate::{RobotSpec, RobotState};

/// Why an inbound message was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// Array lengths disagree (names vs positions, or velocities/efforts neither empty nor equal).
    WrongLength,
    /// A joint name the robot does not have.
    UnknownJoint,
    /// NaN or infinity in a value.
    NonFinite,
    /// The stamp is older than the allowed age.
    StaleStamp,
    /// The stamp is further in the future than allowed.
    FutureStamp,
}

/// Rejected inbound messages, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Rejections {
    /// Array lengths disagree.
    pub wrong_length: u64,
    /// Unknown joint names.
    pub unknown_joint: u64,
    /// Non-finite values.
    pub non_finite: u64,
    /// Stamps too old.
    pub stale_stamp: u64,
    /// Stamps in the future.
    pub future_stamp: u64,
}

impl Rejections {
    /// Counts one rejection.
    pub fn count(&mut self, r: Reject) {
        match r {
            Reject::WrongLength => self.wrong_length += 1,
            Reject::UnknownJoint => self.unknown_joint += 1,
            Reject::NonFinite => self.non_finite += 1,
            Reject::StaleStamp => self.stale_stamp += 1,
            Reject::FutureStamp => self.future_stamp += 1,
        }
    }

    /// All rejections.
    pub fn total(&self) -> u64 {
        self.wrong_length
            + self.unknown_joint
            + self.non_finite
            + self.stale_stamp
            + self.future_stamp
    }
}

/// Limits on message stamps relative to the receiver's clock.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StampPolicy {
    /// Reject stamps older than this (s); 0 disables the check.
    pub max_age_s: f64,
    /// Reject stamps further ahead than this (s); 0 disables the check.
    pub max_lead_s: f64,
}

impl StampPolicy {
    fn check(&self, stamp: &Time, now_ns: i128) -> Result<(), Reject> {
        let age_s = (now_ns - stamp.as_ns()) as f64 / 1e9;
        if self.max_age_s > 0.0 && age_s > self.max_age_s {
            return Err(Reject::StaleStamp);
        }
        if self.max_lead_s > 0.0 && -age_s > self.max_lead_s {
            return Err(Reject::FutureStamp);
        }
        Ok(())
    }
}

/// Builds the robot's state from inbound messages.
#[derive(Debug, Clone)]
pub struct StateAssembler {
    index: HashMap<String, usize>,
    seen: Vec<bool>,
    state: RobotState,
    stamps: StampPolicy,
    imu_seen: bool,
    require_imu: bool,
    /// Rejected messages by reason.
    pub rejections: Rejections,
}

impl StateAssembler {
    /// An assembler for `spec`'s joints. `require_imu`: the state is complete only once an IMU
    /// message has arrived too.
    pub fn new(spec: &RobotSpec, stamps: StampPolicy, require_imu: bool) -> Self {
        Self {
            index: spec
                .joint_names
                .iter()
                .enumerate()
                .map(|(i, n)| (n.clone(), i))
                .collect(),
            seen: vec![false; spec.num_joints()],
            state: RobotState::new(spec),
            stamps,
            imu_seen: false,
            require_imu,
            rejections: Rejections::default(),
        }
    }

    /// Whether every joint (and the IMU, if required) has been received at least once.
    pub fn complete(&self) -> bool {
        self.seen.iter().all(|s| *s) && (self.imu_seen || !self.require_imu)
    }

    /// The assembled state.
    pub fn state(&self) -> &RobotState {
        &self.state
    }

    fn reject<T>(&mut self, r: Reject) -> Result<T, Reject> {
        self.rejections.count(r);
        Err(r)
    }

    /// Applies a `sensor_msgs/JointState` (any subset of joints, in any order). The whole
    /// message is checked before any of it is applied.
    pub fn joint_state(&mut self, m: &JointState, now_ns: i128) -> Result<(), Reject> {
        let n = m.name.len();
        let len_ok = |v: &Vec<f64>| v.is_empty() || v.len() == n;
        if m.position.len() != n || !len_ok(&m.velocity) || !len_ok(&m.effort) {
            return self.reject(Reject::WrongLength);
        }
        if m.name.iter().any(|name| !self.index.contains_key(name)) {
            return self.reject(Reject::UnknownJoint);
        }
        if m.position
            .iter()
            .chain(&m.velocity)
            .chain(&m.effort)
            .any(|v| !v.is_finite())
        {
            return self.reject(Reject::NonFinite);
        }
        if let Err(r) = self.stamps.check(&m.header.stamp, now_ns) {
            return self.reject(r);
        }
        for (k, name) in m.name.iter().enumerate() {
            let i = self.index[name];
            self.state.joints.position_rad[i] = m.position[k];
            if !m.velocity.is_empty() {
                self.state.joints.velocity_rad_s[i] = m.velocity[k];
            }
            if !m.effort.is_empty() {
                self.state.joints.effort_nm[i] = m.effort[k];
            }
            self.seen[i] = true;
        }
        self.state.stamp_s = m.header.stamp.as_ns() as f64 / 1e9;
        Ok(())
    }

    /// Applies a `sensor_msgs/Imu`.
    pub fn imu(&mut self, m: &Imu, now_ns: i128) -> Result<(), Reject> {
        let o = &m.orientation;
        let (w, a) = (&m.angular_velocity, &m.linear_acceleration);
        let vals = [o.x, o.y, o.z, o.w, w.x, w.y, w.z, a.x, a.y, a.z];
        if vals.iter().any(|v| !v.is_finite())
            || (o.x * o.x + o.y * o.y + o.z * o.z + o.w * o.w) < 0.5
        {
            return self.reject(Reject::NonFinite);
        }
        if let Err(r) = self.stamps.check(&m.header.stamp, now_ns) {
            return self.reject(r);
        }
        self.state.imu.orientation_xyzw = [o.x, o.y, o.z, o.w];
        self.state.imu.angular_velocity_rad_s = [w.x, w.y, w.z];
        self.state.imu.linear_acceleration_m_s2 = [a.x, a.y, a.z];
        self.imu_seen = true;
        Ok(())
    }

    /// Applies a `geometry_msgs/WrenchStamped` to the end effector (arms).
    pub fn wrench(&mut self, m: &WrenchStamped, now_ns: i128) -> Result<(), Reject> {
        let (f, t) = (&m.wrench.force, &m.wrench.torque);
        if [f.x, f.y, f.z, t.x, t.y, t.z]
            .iter()
            .any(|v| !v.is_finite())
        {
            return self.reject(Reject::NonFinite);
        }
        if let Err(r) = self.stamps.check(&m.header.stamp, now_ns) {
            return self.reject(r);
        }
        if let Some(ee) = self.state.end_effector.as_mut() {
            ee.force_n = [f.x, f.y, f.z];
            ee.torque_nm = [t.x, t.y, t.z];
        }
        Ok(())
    }

    /// Applies a `nav_msgs/Odometry`: the estimated base velocity (child frame).
    pub fn odometry(&mut self, m: &Odometry, now_ns: i128) -> Result<(), Reject> {
        let v = &m.twist.twist.linear;
        if ![v.x, v.y, v.z].iter().all(|x| x.is_finite()) {
            return self.reject(Reject::NonFinite);
        }
        if let Err(r) = self.stamps.check(&m.header.stamp, now_ns) {
            return self.reject(r);
        }
        self.state.base_linear_velocity_m_s = Some([v.x, v.y, v.z]);
        Ok(())
    }
}

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

/// Builds the `diagnostic_msgs/DiagnosticArray` Reflex publishes.
pub fn diagnostics(
    node: &str,
    status: &LoopStatus,
    rejections: &Rejections,
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
            values: vec![
                kv("mode", mode.into()),
                kv("cycles", status.cycles.to_string()),
                kv("overruns", status.overruns.to_string()),
                kv("transitions", status.transitions.to_string()),
                kv("last_cause", status.last_cause.unwrap_or("").into()),
                kv("late_results", status.late_results.to_string()),
                kv("missed_cycles", status.missed_cycles.to_string()),
                kv("compute_us", format!("{:.2}", status.last_compute_us)),
                kv("rejected_wrong_length", rejections.wrong_length.to_string()),
                kv(
                    "rejected_unknown_joint",
                    rejections.unknown_joint.to_string(),
                ),
                kv("rejected_non_finite", rejections.non_finite.to_string()),
                kv("rejected_stale_stamp", rejections.stale_stamp.to_string()),
                kv("rejected_future_stamp", rejections.future_stamp.to_string()),
            ],
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{JointLimits, RobotKind};

    fn spec() -> RobotSpec {
        RobotSpec::uniform(
            "t",
            RobotKind::Legged,
            &["a", "b", "c"],
            JointLimits {
                lower_rad: -3.0,
                upper_rad: 3.0,
                velocity_rad_s: 10.0,
                effort_nm: 10.0,
            },
        )
    }

    fn js(names: &[&str], pos: &[f64], stamp_ns: i128) -> JointState {
        JointState {
            header: Header {
                stamp: Time::from_ns(stamp_ns),
                frame_id: String::new(),
            },
            name: names.iter().map(|s| s.to_string()).collect(),
            position: pos.to_vec(),
            velocity: vec![],
            effort: vec![],
        }
    }

    #[test]
    fn joints_are_matched_by_name_in_any_order() {
        let stamps = StampPolicy {
            max_age_s: 0.1,
            max_lead_s: 0.05,
        };
        let mut a = StateAssembler::new(&spec(), stamps, false);
        let now = 1_000_000_000_000;
        a.joint_state(&js(&["c", "a"], &[3.0, 1.0], now), now)
            .unwrap();
        assert!(!a.complete());
        a.joint_state(&js(&["b"], &[2.0], now), now).unwrap();
        assert!(a.complete());
        assert_eq!(a.state().joints.position_rad, vec![1.0, 2.0, 3.0]);
    }

    #[test]
    fn hostile_messages_are_rejected_whole_and_counted() {
        let stamps = StampPolicy {
            max_age_s: 0.1,
            max_lead_s: 0.05,
        };
        let mut a = StateAssembler::new(&spec(), stamps, false);
        let now = 1_000_000_000_000;
        a.joint_state(&js(&["a", "b", "c"], &[1.0, 2.0, 3.0], now), now)
            .unwrap();
        assert_eq!(
            a.joint_state(&js(&["a", "b"], &[9.0], now), now),
            Err(Reject::WrongLength)
        );
        assert_eq!(
            a.joint_state(&js(&["a", "zz"], &[9.0, 9.0], now), now),
            Err(Reject::UnknownJoint)
        );
        assert_eq!(
            a.joint_state(&js(&["a"], &[f64::NAN], now), now),
            Err(Reject::NonFinite)
        );
        assert_eq!(
            a.joint_state(&js(&["a"], &[9.0], now - 1_000_000_000), now),
            Err(Reject::StaleStamp)
        );
        assert_eq!(
            a.joint_state(&js(&["a"], &[9.0], now + 1_000_000_000), now),
            Err(Reject::FutureStamp)
        );
        assert_eq!(
            a.state().joints.position_rad,
            vec![1.0, 2.0, 3.0],
            "nothing of a rejected message applied"
        );
        assert_eq!(a.rejections.total(), 5);
    }

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
