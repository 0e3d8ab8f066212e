//! The robot catalogue: every robot Reflex ships, with what any crate may know about it without
//! the simulator — kind, URDF, actuated joints in hardware order (and, from the URDF, their
//! limits), the IMU and base links, the end effector. The simulator adds only physics (armature,
//! initial pose, colliders); real-robot backends, config checks and arm kinematics read this.

use crate::{JointLimits, RobotKind, RobotSpec};

/// An arm's end effector: the link and the tool point's offset in that link's frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EndEffector {
    /// Link carrying the tool.
    pub link: &'static str,
    /// Tool point in the link's frame (m).
    pub tcp_m: [f64; 3],
}

/// A robot model in the catalogue.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RobotModel {
    /// Short name used in configs, manifests and reports (`a1`, `panda`).
    pub name: &'static str,
    /// Legged or arm.
    pub kind: RobotKind,
    /// The URDF text (collision shapes only, no meshes), embedded at build time.
    pub urdf: &'static str,
    /// Actuated joints in hardware order (Unitree: the SDK's FR, FL, RR, RL).
    pub joints: &'static [&'static str],
    /// Link whose frame is the IMU frame.
    pub imu_link: &'static str,
    /// The base link (root of the kinematic tree).
    pub base_link: &'static str,
    /// End effector (arms).
    pub end_effector: Option<EndEffector>,
    /// Whether the base is fixed to the world.
    pub fixed_base: bool,
    /// Whether the robot's own motor driver compensates gravity (Franka's FCI does; Unitree's
    /// does not).
    pub driver_gravity_compensation: bool,
}

/// Why a catalogue entry could not give its spec.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CatalogueError {
    /// The embedded URDF did not parse.
    #[error("robot `{model}`: its URDF does not parse: {reason}")]
    Urdf {
        /// Model name.
        model: &'static str,
        /// Parser message.
        reason: String,
    },
    /// A joint the catalogue names is missing from the URDF.
    #[error("robot `{model}`: joint `{joint}` is not in its URDF")]
    MissingJoint {
        /// Model name.
        model: &'static str,
        /// The joint.
        joint: &'static str,
    },
}

const UNITREE_QUADRUPED_JOINTS: [&str; 12] = [
    "FR_hip_joint",
    "FR_thigh_joint",
    "FR_calf_joint",
    "FL_hip_joint",
    "FL_thigh_joint",
    "FL_calf_joint",
    "RR_hip_joint",
    "RR_thigh_joint",
    "RR_calf_joint",
    "RL_hip_joint",
    "RL_thigh_joint",
    "RL_calf_joint",
];

const PANDA_JOINTS: [&str; 7] = [
    "panda_joint1",
    "panda_joint2",
    "panda_joint3",
    "panda_joint4",
    "panda_joint5",
    "panda_joint6",
    "panda_joint7",
];

/// Every robot in the catalogue.
pub static MODELS: &[RobotModel] = &[
    RobotModel {
        name: "a1",
        kind: RobotKind::Legged,
        urdf: include_str!("../models/a1/a1.urdf"),
        joints: &UNITREE_QUADRUPED_JOINTS,
        imu_link: "imu_link",
        base_link: "trunk",
        end_effector: None,
        fixed_base: false,
        driver_gravity_compensation: false,
    },
    RobotModel {
        name: "go2",
        kind: RobotKind::Legged,
        urdf: include_str!("../models/go2/go2.urdf"),
        joints: &UNITREE_QUADRUPED_JOINTS,
        // The URDF's `imu` link is massless, welded to `base` without rotation: the base frame
        // is the IMU frame (the URDF loader drops empty links).
        imu_link: "base",
        base_link: "base",
        end_effector: None,
        fixed_base: false,
        driver_gravity_compensation: false,
    },
    RobotModel {
        name: "panda",
        kind: RobotKind::Arm,
        urdf: include_str!("../models/panda/panda.urdf"),
        joints: &PANDA_JOINTS,
        imu_link: "panda_link0",
        base_link: "panda_link0",
        // panda_hand_tcp is 0.1034 m along the hand's z axis.
        end_effector: Some(EndEffector {
            link: "panda_hand",
            tcp_m: [0.0, 0.0, 0.1034],
        }),
        fixed_base: true,
        driver_gravity_compensation: true,
    },
];

/// The model called `name`.
pub fn model(name: &str) -> Option<&'static RobotModel> {
    MODELS.iter().find(|m| m.name == name)
}

/// The names of every model, in catalogue order.
pub fn names() -> Vec<&'static str> {
    MODELS.iter().map(|m| m.name).collect()
}

impl RobotModel {
    /// The robot's spec: joints in hardware order with the limits its URDF declares.
    pub fn spec(&self) -> Result<RobotSpec, CatalogueError> {
        let urdf = urdf_rs::read_from_string(self.urdf).map_err(|e| CatalogueError::Urdf {
            model: self.name,
            reason: e.to_string(),
        })?;
        let mut limits = Vec::with_capacity(self.joints.len());
        for &name in self.joints {
            let j = urdf.joints.iter().find(|j| j.name == name).ok_or(
                CatalogueError::MissingJoint {
                    model: self.name,
                    joint: name,
                },
            )?;
            limits.push(JointLimits {
                lower_rad: j.limit.lower,
                upper_rad: j.limit.upper,
                velocity_rad_s: j.limit.velocity,
                effort_nm: j.limit.effort,
            });
        }
        Ok(RobotSpec {
            model: self.name.to_string(),
            kind: self.kind,
            joint_names: self.joints.iter().map(|s| s.to_string()).collect(),
            limits,
        })
    }

    /// The joint names as owned strings, hardware order.
    pub fn joint_names(&self) -> Vec<String> {
        self.joints.iter().map(|s| s.to_string()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_model_has_a_spec_with_sane_limits() {
        for m in MODELS {
            let s = m.spec().unwrap();
            assert_eq!(s.num_joints(), m.joints.len());
            for l in &s.limits {
                assert!(l.lower_rad < l.upper_rad && l.effort_nm > 0.0 && l.velocity_rad_s > 0.0);
            }
        }
        assert!((model("a1").unwrap().spec().unwrap().limits[2].lower_rad + 2.69653).abs() < 1e-5);
        assert!(model("spot").is_none());
    }
}
