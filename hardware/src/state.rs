//! What the robot reports each cycle.

use crate::RobotSpec;

/// Roll and pitch (rad, ZYX Euler convention) of an orientation quaternion `[x, y, z, w]`.
pub fn roll_pitch_rad(q_xyzw: [f64; 4]) -> (f64, f64) {
    let [x, y, z, w] = q_xyzw;
    let roll = (2.0 * (w * x + y * z)).atan2(1.0 - 2.0 * (x * x + y * y));
    let pitch = (2.0 * (w * y - z * x)).clamp(-1.0, 1.0).asin();
    (roll, pitch)
}

/// Joint measurements in hardware order (the order of [`RobotSpec::joint_names`]).
#[derive(Debug, Clone, PartialEq)]
pub struct JointStates {
    /// Measured positions (rad).
    pub position_rad: Vec<f64>,
    /// Measured velocities (rad/s).
    pub velocity_rad_s: Vec<f64>,
    /// Estimated joint torques (N·m): what the driver applied.
    pub effort_nm: Vec<f64>,
}

/// An inertial measurement unit on the robot's base.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImuState {
    /// Orientation of the IMU frame in the world frame, quaternion `[x, y, z, w]`.
    pub orientation_xyzw: [f64; 4],
    /// Angular velocity in the IMU frame (rad/s).
    pub angular_velocity_rad_s: [f64; 3],
    /// Specific force in the IMU frame (m/s²): reads +9.81 on z when level and still.
    pub linear_acceleration_m_s2: [f64; 3],
}

impl Default for ImuState {
    fn default() -> Self {
        Self {
            orientation_xyzw: [0.0, 0.0, 0.0, 1.0],
            angular_velocity_rad_s: [0.0; 3],
            linear_acceleration_m_s2: [0.0; 3],
        }
    }
}

impl ImuState {
    /// Roll and pitch (rad) of the IMU frame, from its orientation (ZYX Euler convention).
    pub fn roll_pitch_rad(&self) -> (f64, f64) {
        roll_pitch_rad(self.orientation_xyzw)
    }

    /// Gravity direction (unit vector, world −z) expressed in the IMU frame: the
    /// "projected gravity" term of legged_gym-style observations. Level robot: `[0, 0, -1]`.
    pub fn projected_gravity(&self) -> [f64; 3] {
        let [x, y, z, w] = self.orientation_xyzw;
        // R^T * (0, 0, -1): the negated third row of R.
        [
            -(2.0 * (x * z - w * y)),
            -(2.0 * (y * z + w * x)),
            -(1.0 - 2.0 * (x * x + y * y)),
        ]
    }
}

/// End-effector pose and wrench of an arm, in the robot's base frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EndEffectorState {
    /// Position (m).
    pub position_m: [f64; 3],
    /// Orientation, quaternion `[x, y, z, w]`.
    pub orientation_xyzw: [f64; 4],
    /// External force on the end effector (N).
    pub force_n: [f64; 3],
    /// External torque on the end effector (N·m).
    pub torque_nm: [f64; 3],
}

impl Default for EndEffectorState {
    fn default() -> Self {
        Self {
            position_m: [0.0; 3],
            orientation_xyzw: [0.0, 0.0, 0.0, 1.0],
            force_n: [0.0; 3],
            torque_nm: [0.0; 3],
        }
    }
}

/// Everything a controller may know about the robot in one cycle.
#[derive(Debug, Clone, PartialEq)]
pub struct RobotState {
    /// Time of the measurement on the backend's clock (s).
    pub stamp_s: f64,
    /// Joint measurements.
    pub joints: JointStates,
    /// Base IMU.
    pub imu: ImuState,
    /// End effector (arms only; `None` for legged robots).
    pub end_effector: Option<EndEffectorState>,
    /// Estimated base velocity in the base frame (m/s), when the robot's state estimator
    /// provides one (e.g. `nav_msgs/Odometry`).
    pub base_linear_velocity_m_s: Option<[f64; 3]>,
}

impl RobotState {
    /// A zeroed state with buffers sized for `spec`. The only place the buffers are allocated.
    pub fn new(spec: &RobotSpec) -> Self {
        let n = spec.num_joints();
        Self {
            stamp_s: 0.0,
            joints: JointStates {
                position_rad: vec![0.0; n],
                velocity_rad_s: vec![0.0; n],
                effort_nm: vec![0.0; n],
            },
            imu: ImuState::default(),
            end_effector: match spec.kind {
                crate::RobotKind::Arm => Some(EndEffectorState::default()),
                crate::RobotKind::Legged => None,
            },
            base_linear_velocity_m_s: None,
        }
    }

    /// Number of joints the buffers hold.
    pub fn num_joints(&self) -> usize {
        self.joints.position_rad.len()
    }

    /// Copies `other` into `self` without allocating (buffers must have equal sizes).
    pub fn copy_from(&mut self, other: &RobotState) {
        self.stamp_s = other.stamp_s;
        self.joints
            .position_rad
            .copy_from_slice(&other.joints.position_rad);
        self.joints
            .velocity_rad_s
            .copy_from_slice(&other.joints.velocity_rad_s);
        self.joints
            .effort_nm
            .copy_from_slice(&other.joints.effort_nm);
        self.imu = other.imu;
        self.end_effector = other.end_effector;
        self.base_linear_velocity_m_s = other.base_linear_velocity_m_s;
    }
}

/// Simulator-only ground truth of the floating base, in the world frame. Never part of
/// [`RobotState`]: real robots do not have it, so controllers must not use it. Tests and
/// run reports use it to judge the outcome.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct GroundTruth {
    /// Base position (m).
    pub base_position_m: [f64; 3],
    /// Base orientation, quaternion `[x, y, z, w]`.
    pub base_orientation_xyzw: [f64; 4],
    /// Base linear velocity (m/s).
    pub base_linear_velocity_m_s: [f64; 3],
    /// Base angular velocity (rad/s).
    pub base_angular_velocity_rad_s: [f64; 3],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_imu_projects_gravity_down_and_reads_zero_attitude() {
        let imu = ImuState::default();
        assert_eq!(imu.projected_gravity(), [0.0, 0.0, -1.0]);
        assert_eq!(imu.roll_pitch_rad(), (0.0, 0.0));
    }

    #[test]
    fn rolled_imu_reports_roll_and_tilted_gravity() {
        let a = 0.3_f64;
        let imu = ImuState {
            orientation_xyzw: [(a / 2.0).sin(), 0.0, 0.0, (a / 2.0).cos()],
            ..ImuState::default()
        };
        let (roll, pitch) = imu.roll_pitch_rad();
        assert!((roll - a).abs() < 1e-12 && pitch.abs() < 1e-12);
        let g = imu.projected_gravity();
        // Rolling right-hand about x tilts body y towards world -z.
        assert!((g[1] + a.sin()).abs() < 1e-12 && (g[2] + a.cos()).abs() < 1e-12);
    }
}
