//! The model manifest: a YAML file beside each `.onnx` that says how to feed the model and how
//! to turn its output into robot targets. Checked at load against the robot and, by the session
//! loader, against the model's real input/output shapes — never in the loop.
//!
//! Conventions follow the training code users bring: legged_gym / HIMLoco for locomotion
//! (45-D proprio frame × history, target = default + action × scale), SERL / HIL-SERL for
//! manipulation (7-D end-effector delta in [-1, 1], workspace box, impedance with a clipped
//! reference error), ResiP for residual policies (base + scale × residual, with action chunks).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use reflex_hardware::RobotSpec;
use reflex_validate::{Checker, FileError, FileKind, PerJoint};
use serde::{Deserialize, Serialize};

/// One ONNX input or output as the manifest declares it. `-1` is a dynamic dimension.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TensorDecl {
    /// Tensor name in the ONNX graph.
    pub name: String,
    /// Shape, e.g. `[1, 270]`.
    pub shape: Vec<i64>,
}

/// Inputs and outputs of one ONNX model.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelDecl {
    /// The `.onnx` file, relative to the manifest.
    pub file: PathBuf,
    /// Declared inputs (checked against the model at load).
    pub inputs: Vec<TensorDecl>,
    /// Declared outputs (checked against the model at load).
    pub outputs: Vec<TensorDecl>,
}

/// Policy kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyKind {
    /// Joint-space locomotion (legged_gym / HIMLoco / H∞ layout).
    Locomotion,
    /// End-effector deltas through a Cartesian impedance controller (SERL / HIL-SERL).
    Manipulation,
    /// Base policy (optionally chunked) plus a scaled residual (ResiP).
    Residual,
}

/// Observation terms a policy may ask for, in the order it lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum ObsTerm {
    /// Velocity command (vx m/s, vy m/s, yaw rate rad/s): 3.
    Command,
    /// Base linear velocity in the base frame (m/s, from the robot's state estimator): 3.
    BaseLinVel,
    /// Base angular velocity in the base frame (rad/s): 3.
    BaseAngVel,
    /// Gravity direction in the base frame: 3.
    ProjectedGravity,
    /// Joint positions minus the default pose (rad), policy order: n.
    DofPos,
    /// Joint velocities (rad/s), policy order: n.
    DofVel,
    /// The previous action (policy output, before scaling): action size.
    LastAction,
    /// End-effector position in the base frame (m): 3.
    EePos,
    /// End-effector orientation quaternion [x, y, z, w]: 4.
    EeQuat,
    /// External force at the end effector (N): 3.
    EeForce,
    /// Joint positions (rad), policy order: n.
    JointPos,
}

/// History stacking order. Trainers differ, so a manifest with more than one frame must say
/// which: HIMLoco stacks newest first (its exporter feeds `obs[:, :45]` to the actor as the
/// current frame; rl_sar's `observations_history: [0, 1, 2, 3, 4, 5]`, 0 = latest); rl_sar's
/// legged_gym A1 config lists `[5, 4, 3, 2, 1, 0]`, oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HistoryOrder {
    /// Oldest frame first, newest last.
    OldestFirst,
    /// Newest frame first (HIMLoco).
    NewestFirst,
}

/// What the history holds before it has seen `length` frames (after a reset).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HistoryFill {
    /// Every slot holds the first frame (legged_gym's reset fills the buffer this way).
    #[default]
    FirstFrame,
    /// Older slots are zero (rl_sar's observation buffer).
    Zeros,
}

/// Observation history.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct History {
    /// Frames stacked (1 = no history).
    pub length: usize,
    /// Stacking order: required when `length` > 1 (there is no safe default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<HistoryOrder>,
    /// What the older slots hold until the history is full.
    #[serde(default)]
    pub fill: HistoryFill,
}

impl Default for History {
    fn default() -> Self {
        Self {
            length: 1,
            order: None,
            fill: HistoryFill::FirstFrame,
        }
    }
}

impl History {
    /// The stacking order (irrelevant, and reported oldest first, for a single frame).
    pub fn order(&self) -> HistoryOrder {
        self.order.unwrap_or(HistoryOrder::OldestFirst)
    }
}

/// A scale for an observation term: one number, or one per element.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum TermScale {
    /// Same for every element.
    All(f64),
    /// Per element.
    PerElement(Vec<f64>),
}

/// How observations are built.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ObservationDecl {
    /// Terms of one frame, in order.
    pub terms: Vec<ObsTerm>,
    /// Scale per term (default 1).
    #[serde(default)]
    pub scales: BTreeMap<ObsTerm, TermScale>,
    /// Symmetric clip applied after scaling.
    #[serde(default = "default_clip")]
    pub clip: f64,
    /// History stacking.
    #[serde(default)]
    pub history: History,
}

fn default_clip() -> f64 {
    100.0
}

/// The clip of the raw action, per joint: symmetric (`clip: 100`, or per joint name), or a
/// range (`clip: {lower: ..., upper: ...}`, rl_sar's `clip_actions_lower/upper`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ActionClip {
    /// `[-c, c]` per joint.
    Symmetric(PerJoint),
    /// `[lower, upper]` per joint.
    Range {
        /// Lowest raw action.
        lower: PerJoint,
        /// Highest raw action.
        upper: PerJoint,
    },
}

impl Default for ActionClip {
    fn default() -> Self {
        ActionClip::Symmetric(PerJoint::All(default_clip()))
    }
}

impl<'de> Deserialize<'de> for ActionClip {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Range {
            lower: PerJoint,
            upper: PerJoint,
        }
        let v = serde_norway::Value::deserialize(d)?;
        let is_range = v.as_mapping().is_some_and(|m| {
            m.contains_key(serde_norway::Value::String("lower".into()))
                || m.contains_key(serde_norway::Value::String("upper".into()))
        });
        if is_range {
            let r: Range = serde_norway::from_value(v).map_err(serde::de::Error::custom)?;
            Ok(ActionClip::Range {
                lower: r.lower,
                upper: r.upper,
            })
        } else {
            let p: PerJoint = serde_norway::from_value(v).map_err(serde::de::Error::custom)?;
            Ok(ActionClip::Symmetric(p))
        }
    }
}

impl ActionClip {
    /// (lower, upper) per joint in the order of `joints`.
    pub fn resolve(&self, joints: &[String]) -> (Vec<f64>, Vec<f64>) {
        match self {
            ActionClip::Symmetric(c) => {
                let c = c.resolve(joints);
                (c.iter().map(|v| -v).collect(), c)
            }
            ActionClip::Range { lower, upper } => (lower.resolve(joints), upper.resolve(joints)),
        }
    }
}

/// Ranges a locomotion policy's velocity command is clipped to, wherever it comes from (the
/// run config, a schedule, the command line, a `geometry_msgs/Twist` topic).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CommandLimits {
    /// Forward velocity (m/s): [lowest, highest].
    pub vx_m_s: [f64; 2],
    /// Leftward velocity (m/s).
    pub vy_m_s: [f64; 2],
    /// Yaw rate (rad/s).
    pub yaw_rate_rad_s: [f64; 2],
}

impl Default for CommandLimits {
    /// ±1 m/s, ±1 m/s, ±1 rad/s: legged_gym's default command ranges.
    fn default() -> Self {
        Self {
            vx_m_s: [-1.0, 1.0],
            vy_m_s: [-1.0, 1.0],
            yaw_rate_rad_s: [-1.0, 1.0],
        }
    }
}

impl CommandLimits {
    /// `cmd` clipped into the limits (NaN becomes 0).
    pub fn clip(&self, cmd: [f64; 3]) -> [f64; 3] {
        let r = [self.vx_m_s, self.vy_m_s, self.yaw_rate_rad_s];
        let mut out = [0.0; 3];
        for k in 0..3 {
            out[k] = if cmd[k].is_finite() {
                cmd[k].clamp(r[k][0], r[k][1])
            } else {
                0.0
            };
        }
        out
    }
}

/// Joint-space action: target = default + clip(action) × scale (legged_gym).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JointActionDecl {
    /// Action scale (A1/Go1 0.25, Aliengo 0.5; HIMLoco Go2: hip 0.125, thigh and calf 0.25),
    /// per joint or for all.
    pub scale: PerJoint,
    /// Clip of the raw action (before scaling); the clipped action is also what `last_action`
    /// observes, as in legged_gym and rl_sar.
    #[serde(default)]
    pub clip: ActionClip,
    /// Default pose (rad) per joint name.
    pub default_pose_rad: BTreeMap<String, f64>,
    /// PD gains the RT thread applies to the target.
    pub kp: PerJoint,
    /// Velocity gain.
    pub kd: PerJoint,
    /// Interpolate the target linearly over a policy period instead of holding it.
    #[serde(default)]
    pub interpolate: bool,
}

/// A box in the robot's base frame.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceBox {
    /// Lowest corner (m).
    pub min_m: [f64; 3],
    /// Highest corner (m).
    pub max_m: [f64; 3],
}

/// Cartesian impedance controller settings (HIL-SERL defaults: 2000 N/m, damping 89).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ImpedanceDecl {
    /// Translational stiffness (N/m).
    pub translational_stiffness_n_m: f64,
    /// Rotational stiffness (N·m/rad).
    pub rotational_stiffness_nm_rad: f64,
    /// Translational damping (N·s/m).
    pub translational_damping_n_s_m: f64,
    /// Rotational damping (N·m·s/rad).
    pub rotational_damping_nm_s_rad: f64,
    /// Reference position error clip (m): what makes stiff gains safe in contact.
    pub max_position_error_m: f64,
    /// Reference orientation error clip (rad).
    pub max_rotation_error_rad: f64,
    /// Joint damping for the null space (N·m·s/rad).
    #[serde(default)]
    pub joint_damping_nm_s_rad: f64,
}

/// End-effector delta action (SERL): xyz, rpy, gripper in [-1, 1].
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EeActionDecl {
    /// Metres per unit action (RAM insertion: 0.01).
    pub translation_scale_m: f64,
    /// Radians per unit action (RAM insertion: 0.06).
    pub rotation_scale_rad: f64,
    /// Workspace the target is clipped to.
    pub workspace: WorkspaceBox,
    /// The impedance controller at the RT rate.
    pub impedance: ImpedanceDecl,
}

/// Residual composition (ResiP): a = base + scale × residual(obs, base), normalised space.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ResidualDecl {
    /// The base model; output `[1, A]` or a chunk `[1, H, A]`.
    pub base: ModelDecl,
    /// The residual model, input `[1, obs + A]`, output `[1, A]`.
    pub residual: ModelDecl,
    /// Residual scale (ResiP: 0.1).
    pub scale: f64,
    /// Steps of a base chunk executed open-loop before the base runs again (≤ horizon).
    #[serde(default = "one")]
    pub execute_steps: usize,
    /// What the composed action drives.
    pub action_space: PolicyKind,
}

fn one() -> usize {
    1
}

/// The manifest as written.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestDecl {
    /// Policy kind.
    pub kind: PolicyKind,
    /// Robot model it was trained for (`a1`, `panda`).
    pub robot: String,
    /// Policy rate (Hz).
    pub policy_hz: f64,
    /// The model (locomotion, manipulation). Residual policies use `residual` instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelDecl>,
    /// Joints in policy order (names of the robot's joints).
    pub joints: Vec<String>,
    /// Observation layout.
    pub observation: ObservationDecl,
    /// Joint-space action (locomotion, or a residual over locomotion).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joint_action: Option<JointActionDecl>,
    /// End-effector action (manipulation, or a residual over manipulation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ee_action: Option<EeActionDecl>,
    /// Residual composition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub residual: Option<ResidualDecl>,
    /// Velocity command for locomotion (vx, vy, yaw rate) when the run gives none.
    #[serde(default)]
    pub command: [f64; 3],
    /// Ranges every velocity command is clipped to (locomotion).
    #[serde(default)]
    pub command_limits: CommandLimits,
    /// Declared Lipschitz bound (for certified fallbacks; checked by the MLP loader).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lipschitz_bound: Option<f64>,
}

/// A loaded, checked manifest with resolved paths.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// Where it was read from.
    pub file: PathBuf,
    /// Its contents.
    pub decl: ManifestDecl,
}

impl Manifest {
    /// A [`FileError::Invalid`] for this manifest.
    pub fn invalid(
        &self,
        field: &str,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> FileError {
        FileError::invalid(&self.file, field, expected, found)
    }

    /// Path of a model file named in the manifest (relative to the manifest's folder).
    pub fn model_path(&self, model: &ModelDecl) -> PathBuf {
        self.file
            .parent()
            .unwrap_or(Path::new("."))
            .join(&model.file)
    }

    /// Reads and checks a manifest against the robot it will drive: every finding at once.
    pub fn load(file: &Path, spec: &RobotSpec) -> Result<Manifest, FileError> {
        let decl: ManifestDecl = reflex_validate::load_yaml(file, FileKind::Manifest)?;
        let m = Manifest {
            file: file.to_path_buf(),
            decl,
        };
        let mut c = Checker::new(file);
        m.check(spec, &mut c);
        c.finish()?;
        Ok(m)
    }

    /// The action size the policy emits.
    pub fn action_len(&self) -> usize {
        match self.action_space() {
            PolicyKind::Manipulation => 7,
            _ => self.decl.joints.len(),
        }
    }

    /// What the (composed) action drives.
    pub fn action_space(&self) -> PolicyKind {
        match (&self.decl.kind, &self.decl.residual) {
            (PolicyKind::Residual, Some(r)) => r.action_space,
            (k, _) => *k,
        }
    }

    /// Elements of one observation term.
    pub fn term_len(&self, t: ObsTerm) -> usize {
        let n = self.decl.joints.len();
        match t {
            ObsTerm::Command
            | ObsTerm::BaseLinVel
            | ObsTerm::BaseAngVel
            | ObsTerm::ProjectedGravity
            | ObsTerm::EePos
            | ObsTerm::EeForce => 3,
            ObsTerm::EeQuat => 4,
            ObsTerm::DofPos | ObsTerm::DofVel | ObsTerm::JointPos => n,
            ObsTerm::LastAction => self.action_len(),
        }
    }

    /// Elements of one observation frame.
    pub fn frame_len(&self) -> usize {
        self.decl
            .observation
            .terms
            .iter()
            .map(|t| self.term_len(*t))
            .sum()
    }

    /// Elements of the whole (stacked) observation.
    pub fn observation_len(&self) -> usize {
        self.frame_len() * self.decl.observation.history.length
    }
}

/// The manifest spelling of a term.
pub fn term_name(t: ObsTerm) -> &'static str {
    match t {
        ObsTerm::Command => "command",
        ObsTerm::BaseLinVel => "base_lin_vel",
        ObsTerm::BaseAngVel => "base_ang_vel",
        ObsTerm::ProjectedGravity => "projected_gravity",
        ObsTerm::DofPos => "dof_pos",
        ObsTerm::DofVel => "dof_vel",
        ObsTerm::LastAction => "last_action",
        ObsTerm::EePos => "ee_pos",
        ObsTerm::EeQuat => "ee_quat",
        ObsTerm::EeForce => "ee_force",
        ObsTerm::JointPos => "joint_pos",
    }
}

mod check;
#[cfg(test)]
mod tests;
