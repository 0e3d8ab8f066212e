//! The robots the simulator ships, with what their URDFs do not say: hardware joint order,
//! actuator armature, initial pose and which link carries the IMU.

use reflex_hardware::RobotKind;

/// A robot model shipped with Reflex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    /// Unitree A1 quadruped: 12 actuated joints, floating base.
    A1,
    /// Franka Emika Panda arm: 7 actuated joints, fixed base (gripper not actuated).
    Panda,
}

/// Everything the simulator needs to know about a model beyond its URDF.
#[derive(Debug, Clone)]
pub struct ModelDescription {
    /// Short name used in configs and reports.
    pub name: &'static str,
    /// Legged or arm.
    pub kind: RobotKind,
    /// The URDF text (primitive collision shapes only), embedded at build time.
    pub urdf: &'static str,
    /// Actuated joints in hardware order (A1: Unitree SDK order FR, FL, RR, RL).
    pub joints: &'static [&'static str],
    /// Link whose frame is the IMU frame.
    pub imu_link: &'static str,
    /// Link whose pose is the base ground truth.
    pub base_link: &'static str,
    /// End-effector link and the fixed offset (m) of the tool point in that link's frame.
    pub end_effector: Option<(&'static str, [f64; 3])>,
    /// Whether the base is welded to the world.
    pub fixed_base: bool,
    /// Initial base height (m) for floating-base models.
    pub initial_base_height_m: f64,
    /// Initial joint positions (rad), hardware order.
    pub initial_pose_rad: &'static [f64],
    /// Reflected rotor inertia per joint (kg·m²), hardware order.
    pub armature_kg_m2: &'static [f64],
    /// Whether the motor driver compensates gravity itself (Franka's FCI does; Unitree's does not).
    pub driver_gravity_compensation: bool,
}

const A1_JOINTS: [&str; 12] = [
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

/// A1 lying on its belly with the legs folded (thigh 1.2 rad, calf −2.65 rad).
const A1_LYING: [f64; 12] = [
    0.0, 1.2, -2.65, 0.0, 1.2, -2.65, 0.0, 1.2, -2.65, 0.0, 1.2, -2.65,
];

/// Go1/A1 rotor inertia reflected through the 9.1:1 gearbox, as MuJoCo Menagerie models it.
const A1_ARMATURE: [f64; 12] = [0.01; 12];

const PANDA_JOINTS: [&str; 7] = [
    "panda_joint1",
    "panda_joint2",
    "panda_joint3",
    "panda_joint4",
    "panda_joint5",
    "panda_joint6",
    "panda_joint7",
];

/// The Panda's "ready" pose from franka_ros / MoveIt (`default` group state in the SRDF).
pub const PANDA_HOME: [f64; 7] = [
    0.0,
    -std::f64::consts::FRAC_PI_4,
    0.0,
    -3.0 * std::f64::consts::FRAC_PI_4,
    0.0,
    std::f64::consts::FRAC_PI_2,
    std::f64::consts::FRAC_PI_4,
];

/// Panda armature as MuJoCo Menagerie's franka_emika_panda model sets it.
const PANDA_ARMATURE: [f64; 7] = [0.1; 7];

impl Model {
    /// Looks a model up by its config name (`a1`, `panda`).
    pub fn from_name(name: &str) -> Option<Model> {
        match name {
            "a1" => Some(Model::A1),
            "panda" => Some(Model::Panda),
            _ => None,
        }
    }

    /// Names accepted by [`Model::from_name`].
    pub const NAMES: &'static [&'static str] = &["a1", "panda"];

    /// The model's description.
    pub fn description(self) -> ModelDescription {
        match self {
            Model::A1 => ModelDescription {
                name: "a1",
                kind: RobotKind::Legged,
                urdf: include_str!("../models/a1/a1.urdf"),
                joints: &A1_JOINTS,
                imu_link: "imu_link",
                base_link: "trunk",
                end_effector: None,
                fixed_base: false,
                initial_base_height_m: 0.12,
                initial_pose_rad: &A1_LYING,
                armature_kg_m2: &A1_ARMATURE,
                driver_gravity_compensation: false,
            },
            Model::Panda => ModelDescription {
                name: "panda",
                kind: RobotKind::Arm,
                urdf: include_str!("../models/panda/panda.urdf"),
                joints: &PANDA_JOINTS,
                imu_link: "panda_link0",
                base_link: "panda_link0",
                // panda_hand_tcp is 0.1034 m along the hand's z axis.
                end_effector: Some(("panda_hand", [0.0, 0.0, 0.1034])),
                fixed_base: true,
                initial_base_height_m: 0.0,
                initial_pose_rad: &PANDA_HOME,
                armature_kg_m2: &PANDA_ARMATURE,
                driver_gravity_compensation: true,
            },
        }
    }
}
