//! Inbound state messages, written once for every transport: each sample is checked whole —
//! shape, names, finiteness, stamps, plausibility, publisher — before any of it is applied, and
//! assembled into a [`RobotState`] in hardware order (joints matched by name, never by position).
//! A rejected sample is counted by kind and changes nothing.
//!
//! Plausibility is what one sample can show against the robot's limits and the previous
//! accepted sample: positions beyond the joint limits plus a margin, velocities beyond twice
//! the velocity limit, a joint that moved further than its velocity limit allows in the time
//! since the last sample, an orientation quaternion not of unit norm, an orientation that
//! turned further than the gyro says, gyro or accelerometer readings beyond what an IMU
//! measures. A condition that persists is the supervisor's to judge (it sees the stream go
//! stale); a single bad sample never reaches it.

use std::collections::HashMap;

use crate::ros::msg::builtin_interfaces::Time;
use crate::ros::msg::geometry_msgs::WrenchStamped;
use crate::ros::msg::nav_msgs::Odometry;
use crate::ros::msg::sensor_msgs::{Imu, JointState};
use crate::ros::publishers::{AcceptFrom, PublisherFilter, WriterGuid};
use crate::{JointLimits, RobotSpec, RobotState};

/// Largest angular rate an IMU reports (rad/s): 2000 °/s, the top range of MEMS gyros.
pub const MAX_GYRO_RAD_S: f64 = 35.0;
/// Largest acceleration an IMU reports (m/s²): 16 g, the top range of MEMS accelerometers.
pub const MAX_ACCEL_M_S2: f64 = 157.0;
/// Reported joint velocities beyond this multiple of the velocity limit are implausible.
pub const VELOCITY_LIMIT_FACTOR: f64 = 2.0;

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
    /// A sample from a writer other than the robot's (see [`crate::ros::publishers`]).
    ForeignPublisher,
    /// A joint named twice in one message.
    DuplicateJoint,
    /// A position beyond the joint's limits plus the margin, or a velocity beyond twice its limit.
    BeyondLimits,
    /// A joint moved further than its velocity limit allows since the last sample.
    JointJump,
    /// An orientation quaternion whose norm is not 1 (zero included).
    NonUnitQuaternion,
    /// An orientation that turned further than the gyro shows since the last sample.
    OrientationJump,
    /// A gyro or accelerometer value beyond what an IMU measures.
    BeyondSensorRange,
    /// More joints than the robot has.
    Oversized,
    /// No joints at all.
    Empty,
    /// A Unitree message whose CRC does not match its contents.
    CrcMismatch,
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
    /// Samples from writers other than the robot's.
    pub foreign_publisher: u64,
    /// A joint named twice.
    pub duplicate_joint: u64,
    /// Positions or velocities beyond the limits.
    pub beyond_limits: u64,
    /// Joints that jumped.
    pub joint_jump: u64,
    /// Quaternions not of unit norm.
    pub non_unit_quaternion: u64,
    /// Orientations that jumped.
    pub orientation_jump: u64,
    /// IMU values beyond an IMU's range.
    pub beyond_sensor_range: u64,
    /// More joints than the robot has.
    pub oversized: u64,
    /// No joints.
    pub empty: u64,
    /// Unitree messages with a wrong CRC.
    pub crc_mismatch: u64,
}

impl Rejections {
    /// Counts one rejection.
    pub fn count(&mut self, r: Reject) {
        *self.counter(r) += 1;
    }

    fn counter(&mut self, r: Reject) -> &mut u64 {
        match r {
            Reject::WrongLength => &mut self.wrong_length,
            Reject::UnknownJoint => &mut self.unknown_joint,
            Reject::NonFinite => &mut self.non_finite,
            Reject::StaleStamp => &mut self.stale_stamp,
            Reject::FutureStamp => &mut self.future_stamp,
            Reject::ForeignPublisher => &mut self.foreign_publisher,
            Reject::DuplicateJoint => &mut self.duplicate_joint,
            Reject::BeyondLimits => &mut self.beyond_limits,
            Reject::JointJump => &mut self.joint_jump,
            Reject::NonUnitQuaternion => &mut self.non_unit_quaternion,
            Reject::OrientationJump => &mut self.orientation_jump,
            Reject::BeyondSensorRange => &mut self.beyond_sensor_range,
            Reject::Oversized => &mut self.oversized,
            Reject::Empty => &mut self.empty,
            Reject::CrcMismatch => &mut self.crc_mismatch,
        }
    }

    /// Every counter with its name (reports, diagnostics).
    pub fn by_kind(&self) -> [(&'static str, u64); 15] {
        [
            ("wrong_length", self.wrong_length),
            ("unknown_joint", self.unknown_joint),
            ("non_finite", self.non_finite),
            ("stale_stamp", self.stale_stamp),
            ("future_stamp", self.future_stamp),
            ("foreign_publisher", self.foreign_publisher),
            ("duplicate_joint", self.duplicate_joint),
            ("beyond_limits", self.beyond_limits),
            ("joint_jump", self.joint_jump),
            ("non_unit_quaternion", self.non_unit_quaternion),
            ("orientation_jump", self.orientation_jump),
            ("beyond_sensor_range", self.beyond_sensor_range),
            ("oversized", self.oversized),
            ("empty", self.empty),
            ("crc_mismatch", self.crc_mismatch),
        ]
    }

    /// All rejections.
    pub fn total(&self) -> u64 {
        self.by_kind().iter().map(|(_, n)| n).sum()
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

/// What a single sample may show (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plausibility {
    /// Positions beyond a joint's limits by more than this are refused (rad).
    pub joint_limit_margin_rad: f64,
    /// Slack of the jump checks (s): a joint may move its velocity limit × (Δt + slack) between
    /// samples, the orientation its gyro rate × (Δt + slack) plus `orientation_slack_rad`.
    pub jump_slack_s: f64,
    /// Largest deviation of an orientation quaternion's norm from 1.
    pub quaternion_norm_tolerance: f64,
    /// Orientation change allowed beyond what the gyro shows (rad): estimator corrections.
    pub orientation_slack_rad: f64,
}

impl Default for Plausibility {
    fn default() -> Self {
        Self {
            joint_limit_margin_rad: 0.1,
            jump_slack_s: 0.02,
            quaternion_norm_tolerance: 0.01,
            orientation_slack_rad: 0.1,
        }
    }
}

/// Who sent a sample and when it arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    /// The writer, if the transport says.
    pub writer: Option<WriterGuid>,
    /// System time of arrival (ns since the Unix epoch): stamps are checked against it.
    pub now_ns: i128,
    /// Monotonic time of arrival (ns): jumps are measured over it.
    pub monotonic_ns: u64,
}

/// The publisher filters of the state topics, one each.
#[derive(Debug, Clone)]
pub struct TopicFilters {
    /// `sensor_msgs/JointState`.
    pub joint_states: PublisherFilter,
    /// `sensor_msgs/Imu`.
    pub imu: PublisherFilter,
    /// `nav_msgs/Odometry`.
    pub odometry: PublisherFilter,
    /// `geometry_msgs/WrenchStamped`.
    pub wrench: PublisherFilter,
}

impl TopicFilters {
    fn new(accept: &AcceptFrom) -> Self {
        Self {
            joint_states: PublisherFilter::new(accept.clone()),
            imu: PublisherFilter::new(accept.clone()),
            odometry: PublisherFilter::new(accept.clone()),
            wrench: PublisherFilter::new(accept.clone()),
        }
    }
}

/// Builds the robot's state from inbound messages.
#[derive(Debug, Clone)]
pub struct StateAssembler {
    index: HashMap<String, usize>,
    limits: Vec<JointLimits>,
    seen: Vec<bool>,
    /// Monotonic arrival time of each joint's last accepted position.
    joint_arrival_ns: Vec<u64>,
    /// Scratch: which joints the message being checked names.
    named: Vec<bool>,
    state: RobotState,
    stamps: StampPolicy,
    plausibility: Plausibility,
    imu_arrival_ns: Option<u64>,
    require_imu: bool,
    /// Publisher admission per topic.
    pub filters: TopicFilters,
    /// Rejected messages by reason.
    pub rejections: Rejections,
}

impl StateAssembler {
    /// An assembler for `spec`'s joints. `require_imu`: the state is complete only once an IMU
    /// message has arrived too.
    pub fn new(
        spec: &RobotSpec,
        stamps: StampPolicy,
        plausibility: Plausibility,
        accept: &AcceptFrom,
        require_imu: bool,
    ) -> Self {
        Self {
            index: spec
                .joint_names
                .iter()
                .enumerate()
                .map(|(i, n)| (n.clone(), i))
                .collect(),
            limits: spec.limits.clone(),
            seen: vec![false; spec.num_joints()],
            joint_arrival_ns: vec![0; spec.num_joints()],
            named: vec![false; spec.num_joints()],
            state: RobotState::new(spec),
            stamps,
            plausibility,
            imu_arrival_ns: None,
            require_imu,
            filters: TopicFilters::new(accept),
            rejections: Rejections::default(),
        }
    }

    /// Whether every joint (and the IMU, if required) has been received at least once.
    pub fn complete(&self) -> bool {
        self.seen.iter().all(|s| *s) && (self.imu_arrival_ns.is_some() || !self.require_imu)
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
    pub fn joint_state(&mut self, m: &JointState, at: Arrival) -> Result<(), Reject> {
        let r = self.check_joint_state(m, &at);
        if let Err(e) = r {
            return self.reject(e);
        }
        self.filters.joint_states.accepted(at.writer);
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
            self.joint_arrival_ns[i] = at.monotonic_ns;
        }
        self.state.stamp_s = m.header.stamp.as_ns() as f64 / 1e9;
        Ok(())
    }

    fn check_joint_state(&mut self, m: &JointState, at: &Arrival) -> Result<(), Reject> {
        let n = m.name.len();
        if n == 0 {
            return Err(Reject::Empty);
        }
        if n > self.limits.len() {
            return Err(Reject::Oversized);
        }
        let len_ok = |v: &Vec<f64>| v.is_empty() || v.len() == n;
        if m.position.len() != n || !len_ok(&m.velocity) || !len_ok(&m.effort) {
            return Err(Reject::WrongLength);
        }
        self.named.fill(false);
        for name in &m.name {
            let Some(&i) = self.index.get(name) else {
                return Err(Reject::UnknownJoint);
            };
            if std::mem::replace(&mut self.named[i], true) {
                return Err(Reject::DuplicateJoint);
            }
        }
        if m.position
            .iter()
            .chain(&m.velocity)
            .chain(&m.effort)
            .any(|v| !v.is_finite())
        {
            return Err(Reject::NonFinite);
        }
        self.stamps.check(&m.header.stamp, at.now_ns)?;
        let p = self.plausibility;
        for (k, name) in m.name.iter().enumerate() {
            let i = self.index[name];
            let lim = &self.limits[i];
            let q = m.position[k];
            let dq = m.velocity.get(k).copied().unwrap_or(0.0);
            if q < lim.lower_rad - p.joint_limit_margin_rad
                || q > lim.upper_rad + p.joint_limit_margin_rad
                || dq.abs() > VELOCITY_LIMIT_FACTOR * lim.velocity_rad_s
            {
                return Err(Reject::BeyondLimits);
            }
            if self.seen[i] {
                let dt_s = at.monotonic_ns.saturating_sub(self.joint_arrival_ns[i]) as f64 / 1e9;
                let reach = lim.velocity_rad_s * (dt_s + p.jump_slack_s);
                if (q - self.state.joints.position_rad[i]).abs() > reach {
                    return Err(Reject::JointJump);
                }
            }
        }
        if !self.filters.joint_states.admits(at.writer) {
            return Err(Reject::ForeignPublisher);
        }
        Ok(())
    }

    /// Applies a `sensor_msgs/Imu` (it goes out with the next joint state).
    pub fn imu(&mut self, m: &Imu, at: Arrival) -> Result<(), Reject> {
        if let Err(e) = self.check_imu(m, &at) {
            return self.reject(e);
        }
        self.filters.imu.accepted(at.writer);
        let (o, w, a) = (&m.orientation, &m.angular_velocity, &m.linear_acceleration);
        self.state.imu.orientation_xyzw = [o.x, o.y, o.z, o.w];
        self.state.imu.angular_velocity_rad_s = [w.x, w.y, w.z];
        self.state.imu.linear_acceleration_m_s2 = [a.x, a.y, a.z];
        self.imu_arrival_ns = Some(at.monotonic_ns);
        Ok(())
    }

    fn check_imu(&self, m: &Imu, at: &Arrival) -> Result<(), Reject> {
        let o = &m.orientation;
        let (w, a) = (&m.angular_velocity, &m.linear_acceleration);
        if [o.x, o.y, o.z, o.w, w.x, w.y, w.z, a.x, a.y, a.z]
            .iter()
            .any(|v| !v.is_finite())
        {
            return Err(Reject::NonFinite);
        }
        let p = self.plausibility;
        let norm = (o.x * o.x + o.y * o.y + o.z * o.z + o.w * o.w).sqrt();
        if (norm - 1.0).abs() > p.quaternion_norm_tolerance {
            return Err(Reject::NonUnitQuaternion);
        }
        let rate = (w.x * w.x + w.y * w.y + w.z * w.z).sqrt();
        let accel = (a.x * a.x + a.y * a.y + a.z * a.z).sqrt();
        if rate > MAX_GYRO_RAD_S || accel > MAX_ACCEL_M_S2 {
            return Err(Reject::BeyondSensorRange);
        }
        self.stamps.check(&m.header.stamp, at.now_ns)?;
        if let Some(prev_ns) = self.imu_arrival_ns {
            let imu = &self.state.imu;
            let [x, y, z, qw] = imu.orientation_xyzw;
            // The angle between two unit quaternions: 2 acos |⟨q1, q2⟩|.
            let dot = ((x * o.x + y * o.y + z * o.z + qw * o.w) / norm)
                .abs()
                .min(1.0);
            let turned_rad = 2.0 * dot.acos();
            let [px, py, pz] = imu.angular_velocity_rad_s;
            let prev_rate = (px * px + py * py + pz * pz).sqrt();
            let dt_s = at.monotonic_ns.saturating_sub(prev_ns) as f64 / 1e9;
            let reach = rate.max(prev_rate) * (dt_s + p.jump_slack_s) + p.orientation_slack_rad;
            if turned_rad > reach {
                return Err(Reject::OrientationJump);
            }
        }
        if !self.filters.imu.admits(at.writer) {
            return Err(Reject::ForeignPublisher);
        }
        Ok(())
    }

    /// Applies a `geometry_msgs/WrenchStamped` to the end effector (arms).
    pub fn wrench(&mut self, m: &WrenchStamped, at: Arrival) -> Result<(), Reject> {
        let (f, t) = (&m.wrench.force, &m.wrench.torque);
        let r = if [f.x, f.y, f.z, t.x, t.y, t.z]
            .iter()
            .any(|v| !v.is_finite())
        {
            Err(Reject::NonFinite)
        } else if let Err(e) = self.stamps.check(&m.header.stamp, at.now_ns) {
            Err(e)
        } else if !self.filters.wrench.admits(at.writer) {
            Err(Reject::ForeignPublisher)
        } else {
            Ok(())
        };
        if let Err(e) = r {
            return self.reject(e);
        }
        self.filters.wrench.accepted(at.writer);
        if let Some(ee) = self.state.end_effector.as_mut() {
            ee.force_n = [f.x, f.y, f.z];
            ee.torque_nm = [t.x, t.y, t.z];
        }
        Ok(())
    }

    /// Applies a `nav_msgs/Odometry`: the estimated base velocity (child frame).
    pub fn odometry(&mut self, m: &Odometry, at: Arrival) -> Result<(), Reject> {
        let v = &m.twist.twist.linear;
        let r = if ![v.x, v.y, v.z].iter().all(|x| x.is_finite()) {
            Err(Reject::NonFinite)
        } else if let Err(e) = self.stamps.check(&m.header.stamp, at.now_ns) {
            Err(e)
        } else if !self.filters.odometry.admits(at.writer) {
            Err(Reject::ForeignPublisher)
        } else {
            Ok(())
        };
        if let Err(e) = r {
            return self.reject(e);
        }
        self.filters.odometry.accepted(at.writer);
        self.state.base_linear_velocity_m_s = Some([v.x, v.y, v.z]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ros::msg::geometry_msgs::{Quaternion, Vector3};
    use crate::ros::msg::std_msgs::Header;
    use crate::RobotKind;

    const NOW: i128 = 1_000_000_000_000;

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

    fn assembler(accept: AcceptFrom) -> StateAssembler {
        let stamps = StampPolicy {
            max_age_s: 0.1,
            max_lead_s: 0.05,
        };
        StateAssembler::new(&spec(), stamps, Plausibility::default(), &accept, false)
    }

    fn header(stamp_ns: i128) -> Header {
        Header {
            stamp: Time::from_ns(stamp_ns),
            frame_id: String::new(),
        }
    }

    fn js(names: &[&str], pos: &[f64], stamp_ns: i128) -> JointState {
        JointState {
            header: header(stamp_ns),
            name: names.iter().map(|s| s.to_string()).collect(),
            position: pos.to_vec(),
            velocity: vec![],
            effort: vec![],
        }
    }

    fn imu(q: [f64; 4], gyro_z: f64) -> Imu {
        Imu {
            header: header(NOW),
            orientation: Quaternion {
                x: q[0],
                y: q[1],
                z: q[2],
                w: q[3],
            },
            angular_velocity: Vector3 {
                x: 0.0,
                y: 0.0,
                z: gyro_z,
            },
            linear_acceleration: Vector3 {
                x: 0.0,
                y: 0.0,
                z: 9.81,
            },
            ..Default::default()
        }
    }

    fn at(ms: u64, writer: u8) -> Arrival {
        Arrival {
            writer: Some(WriterGuid([writer; 16])),
            now_ns: NOW,
            monotonic_ns: ms * 1_000_000,
        }
    }

    #[test]
    fn joints_are_matched_by_name_in_any_order() {
        let mut a = assembler(AcceptFrom::FirstWriter);
        a.joint_state(&js(&["c", "a"], &[3.0, 1.0], NOW), at(1, 1))
            .unwrap();
        assert!(!a.complete());
        a.joint_state(&js(&["b"], &[2.0], NOW), at(2, 1)).unwrap();
        assert!(a.complete());
        assert_eq!(a.state().joints.position_rad, vec![1.0, 2.0, 3.0]);
    }

    #[test]
    fn hostile_joint_states_are_rejected_whole_and_counted_by_kind() {
        let mut a = assembler(AcceptFrom::FirstWriter);
        a.joint_state(&js(&["a", "b", "c"], &[1.0, 2.0, 2.5], NOW), at(100, 1))
            .unwrap();
        let cases = [
            (js(&["a", "b"], &[9.0], NOW), Reject::WrongLength),
            (js(&["a", "zz"], &[1.0, 1.0], NOW), Reject::UnknownJoint),
            (js(&["a", "a"], &[1.0, 1.1], NOW), Reject::DuplicateJoint),
            (js(&["a"], &[f64::NAN], NOW), Reject::NonFinite),
            (js(&["a"], &[1.0], NOW - 1_000_000_000), Reject::StaleStamp),
            (js(&["a"], &[1.0], NOW + 1_000_000_000), Reject::FutureStamp),
            (js(&["a"], &[3.2], NOW), Reject::BeyondLimits),
            (js(&[], &[], NOW), Reject::Empty),
            (js(&["a", "b", "c", "a"], &[1.0; 4], NOW), Reject::Oversized),
            // 1 ms later a joint limited to 10 rad/s cannot have moved 0.5 rad (0.21 allowed).
            (js(&["a"], &[1.5], NOW), Reject::JointJump),
        ];
        for (m, why) in &cases {
            assert_eq!(a.joint_state(m, at(101, 1)), Err(*why), "{m:?}");
        }
        assert_eq!(
            a.joint_state(&js(&["a"], &[1.01], NOW), at(101, 2)),
            Err(Reject::ForeignPublisher),
            "a plausible sample from another writer"
        );
        assert_eq!(
            a.state().joints.position_rad,
            vec![1.0, 2.0, 2.5],
            "nothing of a rejected message applied"
        );
        assert_eq!(a.rejections.total(), cases.len() as u64 + 1);
        let imu_kinds = [
            "non_unit_quaternion",
            "orientation_jump",
            "beyond_sensor_range",
            "crc_mismatch",
        ];
        for (kind, n) in a.rejections.by_kind() {
            assert!(n >= 1 || imu_kinds.contains(&kind), "{kind} never counted");
        }
        // The robot's own next sample, 5 ms on and 0.05 rad further, is accepted.
        a.joint_state(&js(&["a"], &[1.05], NOW), at(105, 1))
            .unwrap();
    }

    #[test]
    fn implausible_imu_samples_are_rejected() {
        let mut a = assembler(AcceptFrom::FirstWriter);
        let level = [0.0, 0.0, 0.0, 1.0];
        a.imu(&imu(level, 0.0), at(10, 1)).unwrap();
        let flipped = [1.0, 0.0, 0.0, 0.0];
        assert_eq!(
            a.imu(&imu(flipped, 0.0), at(12, 1)),
            Err(Reject::OrientationJump),
            "upside down in 2 ms with a still gyro"
        );
        assert_eq!(
            a.imu(&imu([0.0; 4], 0.0), at(12, 1)),
            Err(Reject::NonUnitQuaternion)
        );
        assert_eq!(
            a.imu(&imu([0.0, 0.0, 0.0, 1.3], 0.0), at(12, 1)),
            Err(Reject::NonUnitQuaternion)
        );
        assert_eq!(
            a.imu(&imu(level, 100.0), at(12, 1)),
            Err(Reject::BeyondSensorRange)
        );
        assert_eq!(
            a.imu(&imu(level, 0.0), at(12, 9)),
            Err(Reject::ForeignPublisher)
        );
        // Turning at 5 rad/s about z for 20 ms: 0.1 rad, shown by the gyro, is accepted.
        let h = 0.05f64;
        a.imu(&imu([0.0, 0.0, h.sin(), h.cos()], 5.0), at(30, 1))
            .unwrap();
        assert_eq!(a.state().imu.angular_velocity_rad_s, [0.0, 0.0, 5.0]);
    }

    #[test]
    fn every_writer_or_listed_ones_when_configured() {
        let mut a = assembler(AcceptFrom::Any);
        a.joint_state(&js(&["a"], &[1.0], NOW), at(1, 1)).unwrap();
        a.joint_state(&js(&["b"], &[1.0], NOW), at(1, 2)).unwrap();
        let mut a = assembler(AcceptFrom::Listed(vec![
            crate::ros::publishers::GuidPattern::Writer([3; 16]),
        ]));
        assert_eq!(
            a.joint_state(&js(&["a"], &[1.0], NOW), at(1, 1)),
            Err(Reject::ForeignPublisher)
        );
        a.joint_state(&js(&["a"], &[1.0], NOW), at(1, 3)).unwrap();
    }
}
