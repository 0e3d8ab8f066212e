//! What a robot is: its joints, in hardware order, with their limits.

/// The kind of robot, which decides what state fields are meaningful.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RobotKind {
    /// A floating-base legged robot (IMU meaningful, no end effector).
    Legged,
    /// A fixed-base arm (end-effector pose and wrench meaningful).
    Arm,
}

/// Limits of one actuated joint, as the motor driver enforces them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JointLimits {
    /// Lowest allowed position (rad).
    pub lower_rad: f64,
    /// Highest allowed position (rad).
    pub upper_rad: f64,
    /// Largest allowed speed (rad/s).
    pub velocity_rad_s: f64,
    /// Largest torque the driver applies (N·m); commands are clamped to ±this.
    pub effort_nm: f64,
}

impl JointLimits {
    /// Clamps a position target into `[lower_rad, upper_rad]`.
    pub fn clamp_position(&self, q_rad: f64) -> f64 {
        q_rad.clamp(self.lower_rad, self.upper_rad)
    }

    /// Clamps a torque into `[-effort_nm, effort_nm]`.
    pub fn clamp_effort(&self, tau_nm: f64) -> f64 {
        tau_nm.clamp(-self.effort_nm, self.effort_nm)
    }
}

/// The robot's actuated joints in hardware order, with their limits.
#[derive(Debug, Clone, PartialEq)]
pub struct RobotSpec {
    /// Model name (e.g. `a1`, `panda`).
    pub model: String,
    /// Legged or arm.
    pub kind: RobotKind,
    /// Actuated joint names in hardware order; every joint-indexed buffer uses this order.
    pub joint_names: Vec<String>,
    /// Limits per joint, same order as `joint_names`.
    pub limits: Vec<JointLimits>,
}

impl RobotSpec {
    /// A spec whose joints all have the same `limits` (tests, synthetic robots).
    pub fn uniform(model: &str, kind: RobotKind, joints: &[&str], limits: JointLimits) -> Self {
        Self {
            model: model.to_string(),
            kind,
            joint_names: joints.iter().map(|j| j.to_string()).collect(),
            limits: vec![limits; joints.len()],
        }
    }

    /// Number of actuated joints.
    pub fn num_joints(&self) -> usize {
        self.joint_names.len()
    }

    /// Index of the joint called `name` in hardware order, if it exists.
    pub fn joint_index(&self, name: &str) -> Option<usize> {
        self.joint_names.iter().position(|n| n == name)
    }
}
