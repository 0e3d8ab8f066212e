//! What the simulator adds to a catalogue robot: physics only — reflected rotor inertia, the
//! initial pose and base height. Joint order, limits, links and kind come from
//! [`reflex_hardware::catalogue`].

use reflex_hardware::catalogue::RobotModel;

use crate::SimError;

/// The physics the simulator needs for one catalogue robot.
#[derive(Debug, Clone, Copy)]
pub struct SimModel {
    /// The catalogue entry.
    pub robot: &'static RobotModel,
    /// Initial joint positions (rad), hardware order.
    pub initial_pose_rad: &'static [f64],
    /// Reflected rotor inertia per joint (kg·m²), hardware order.
    pub armature_kg_m2: &'static [f64],
    /// Initial base height (m) for floating-base models.
    pub initial_base_height_m: f64,
}

/// A1 lying on its belly with the legs folded (thigh 1.2 rad, calf −2.65 rad).
const A1_LYING: [f64; 12] = [
    0.0, 1.2, -2.65, 0.0, 1.2, -2.65, 0.0, 1.2, -2.65, 0.0, 1.2, -2.65,
];

/// Go1/A1 rotor inertia reflected through the 9.1:1 gearbox, as MuJoCo Menagerie models it.
const A1_ARMATURE: [f64; 12] = [0.01; 12];

/// Go2 lying on its belly, legs folded (hip splayed 0.2 rad outwards, thigh 1.17, calf −2.70 rad,
/// within the URDF limits); it settles at a base height of about 0.09 m.
const GO2_LYING: [f64; 12] = [
    -0.2, 1.17, -2.70, 0.2, 1.17, -2.70, -0.2, 1.17, -2.70, 0.2, 1.17, -2.70,
];

/// The Go2's reflected rotor inertia: 0.01 kg·m² on every joint, as in the MuJoCo reference the
/// shipped HIMLoco policy's figures come from.
const GO2_ARMATURE: [f64; 12] = [0.01; 12];

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

impl SimModel {
    /// The simulator's physics for `robot`; an error for a catalogue robot it cannot simulate.
    pub fn of(robot: &'static RobotModel) -> Result<SimModel, SimError> {
        let (initial_pose_rad, armature_kg_m2, initial_base_height_m): (&[f64], &[f64], f64) =
            match robot.name {
                "a1" => (&A1_LYING, &A1_ARMATURE, 0.12),
                "go2" => (&GO2_LYING, &GO2_ARMATURE, 0.10),
                "panda" => (&PANDA_HOME, &PANDA_ARMATURE, 0.0),
                _ => return Err(SimError::NotSimulated { model: robot.name }),
            };
        Ok(SimModel {
            robot,
            initial_pose_rad,
            armature_kg_m2,
            initial_base_height_m,
        })
    }
}
