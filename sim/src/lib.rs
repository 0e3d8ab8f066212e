#![deny(missing_docs)]
//! The Rapier simulator behind the Reflex robot interface.
//!
//! [`SimRobot`] implements [`reflex_hardware::Robot`] exactly like a hardware backend: `read`
//! returns the sensors, `write` latches a motor-driver command. Physics advances only when the
//! runtime calls [`SimRobot::step`] (the simulated world's clock), and the command is applied the
//! way a motor driver applies it: once per physics step, `τ = kp(q*−q) + kd(dq*−dq) + τ_ff`,
//! clamped to the joint's effort limit, as an equal and opposite torque pair on the two bodies
//! of the joint.
//!
//! Rapier's math types never leave this crate: everything public is `f64` arrays and slices.
//! Same [`SimConfig`] (seed included) ⇒ bit-identical trajectory.

mod merge;
mod model;
mod profile;
mod world;

pub use model::{SimModel, PANDA_HOME};
pub use profile::PhysicsProfile;
pub use world::SimRobot;

use reflex_hardware::catalogue::RobotModel;

/// Gaussian measurement noise (standard deviations) added to what [`SimRobot`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SensorNoise {
    /// Joint position noise (rad).
    pub joint_position_rad: f64,
    /// Joint velocity noise (rad/s).
    pub joint_velocity_rad_s: f64,
    /// Gyro noise (rad/s).
    pub gyro_rad_s: f64,
    /// Accelerometer noise (m/s²).
    pub accelerometer_m_s2: f64,
}

/// How to build a simulated robot.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Which robot (from the catalogue).
    pub model: &'static RobotModel,
    /// Physics step (s). 0.001–0.005 is typical.
    pub physics_dt_s: f64,
    /// Seed of every random draw (sensor noise, initial perturbation).
    pub seed: u64,
    /// Initial joint positions (rad, hardware order); `None` = the model's own (A1 lying, Panda home).
    pub initial_pose_rad: Option<Vec<f64>>,
    /// Initial height of the base (m); `None` = the model's own (for its initial pose).
    pub initial_base_height_m: Option<f64>,
    /// Uniform random perturbation (± rad) added to each initial joint position.
    pub initial_pose_jitter_rad: f64,
    /// Reflected rotor inertia per joint (kg·m²); `None` = the model's own.
    pub armature_kg_m2: Option<Vec<f64>>,
    /// Viscous joint damping (N·m·s/rad), same for every actuated joint.
    pub joint_damping_nm_s_rad: f64,
    /// Coulomb friction coefficient between the robot and the ground.
    pub ground_friction: f64,
    /// Solver iterations per step (Rapier's `num_solver_iterations`; each is a substep that
    /// rebuilds the multibody mass matrix, so this sets the cost of a step). Default 2.
    pub solver_iterations: usize,
    /// PGS iterations inside each solver iteration (Rapier's `num_internal_pgs_iterations`):
    /// cheaper than solver iterations, which each rebuild the mass matrix. Default 1.
    pub pgs_iterations: usize,
    /// Sensor noise.
    pub noise: SensorNoise,
    /// Every link's mass and inertia × this (domain randomisation; 1 = the URDF's).
    pub mass_scale: f64,
    /// A payload on the base (kg), at its centre of mass.
    pub payload_kg: f64,
    /// The motors deliver this × the driver's torque, and their limit scales with it (1: rated).
    pub motor_strength: f64,
    /// The motor drivers' kp and kd are this × the commanded ones (gain miscalibration).
    pub gain_scale: f64,
    /// Encoder offsets added to each reported joint position (rad, hardware order); empty: none.
    pub joint_offset_rad: Vec<f64>,
    /// Rough ground ahead of a legged robot: 0.4 m tiles over x 0.6–8 m, y ±1.6 m, each raised
    /// by a uniform draw in [0, this] (m, from the seed): steps of up to this height. 0: flat.
    pub rough_terrain_m: f64,
}

impl SimConfig {
    /// Defaults for `model`: dt 0.002 s, seed 0, the model's initial pose, no noise.
    pub fn new(model: &'static RobotModel) -> Self {
        Self {
            model,
            physics_dt_s: 0.002,
            seed: 0,
            initial_pose_rad: None,
            initial_base_height_m: None,
            initial_pose_jitter_rad: 0.0,
            armature_kg_m2: None,
            joint_damping_nm_s_rad: 0.0,
            ground_friction: 1.0,
            solver_iterations: 2,
            pgs_iterations: 1,
            noise: SensorNoise::default(),
            mass_scale: 1.0,
            payload_kg: 0.0,
            motor_strength: 1.0,
            gain_scale: 1.0,
            joint_offset_rad: vec![],
            rough_terrain_m: 0.0,
        }
    }
}

/// Why a simulator could not be built. Raised at construction, never in the loop.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The simulator has no physics for this catalogue robot.
    #[error("the simulator has no physics (armature, initial pose) for robot `{model}`")]
    NotSimulated {
        /// Model name.
        model: &'static str,
    },
    /// The catalogue entry is broken.
    #[error(transparent)]
    Catalogue(#[from] reflex_hardware::catalogue::CatalogueError),
    /// The URDF could not be parsed.
    #[error("URDF of model `{model}` could not be loaded: {reason}")]
    Urdf {
        /// Model name.
        model: &'static str,
        /// Parser message.
        reason: String,
    },
    /// A joint or link the model description names is missing from the URDF.
    #[error("model `{model}`: {what} `{name}` is not in its URDF")]
    MissingElement {
        /// Model name.
        model: &'static str,
        /// "joint" or "link".
        what: &'static str,
        /// The missing name.
        name: String,
    },
    /// A per-joint vector has the wrong length.
    #[error("{field} has {got} entries, model `{model}` has {expected} joints")]
    WrongLength {
        /// Model name.
        model: &'static str,
        /// Which setting.
        field: &'static str,
        /// Joints of the model.
        expected: usize,
        /// Entries given.
        got: usize,
    },
    /// A setting is out of range.
    #[error("{field} = {value} is out of range: expected {expected}")]
    OutOfRange {
        /// Which setting.
        field: &'static str,
        /// The value given.
        value: f64,
        /// The accepted range.
        expected: &'static str,
    },
}
