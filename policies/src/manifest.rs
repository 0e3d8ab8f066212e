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

use serde::Deserialize;

/// Why a manifest was refused. Every message names the manifest file and the field.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("{file}: cannot read: {reason}")]
    Io {
        /// Manifest path.
        file: PathBuf,
        /// OS message.
        reason: String,
    },
    /// Schema error (unknown/missing field, wrong type) with the parser's field path.
    #[error("{file}: {message}")]
    Schema {
        /// Manifest path.
        file: PathBuf,
        /// Parser message.
        message: String,
    },
    /// A value is out of range or inconsistent.
    #[error("{file}: field `{field}`: expected {expected}, found {found}")]
    Invalid {
        /// Manifest path.
        file: PathBuf,
        /// Dotted field path.
        field: String,
        /// What would be accepted.
        expected: String,
        /// What the file holds.
        found: String,
    },
}

/// A number for every joint, or one per joint name.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum PerJointValue {
    /// Same for every joint.
    All(f64),
    /// Per joint name.
    ByName(BTreeMap<String, f64>),
}

/// One ONNX input or output as the manifest declares it. `-1` is a dynamic dimension.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TensorDecl {
    /// Tensor name in the ONNX graph.
    pub name: String,
    /// Shape, e.g. `[1, 270]`.
    pub shape: Vec<i64>,
}

/// Inputs and outputs of one ONNX model.
#[derive(Debug, Clone, PartialEq, Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum ObsTerm {
    /// Velocity command (vx m/s, vy m/s, yaw rate rad/s): 3.
    Command,
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

/// History stacking order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HistoryOrder {
    /// Oldest frame first, newest last (HIMLoco).
    OldestFirst,
    /// Newest frame first.
    NewestFirst,
}

/// Observation history.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct History {
    /// Frames stacked (1 = no history).
    pub length: usize,
    /// Stacking order.
    pub order: HistoryOrder,
}

impl Default for History {
    fn default() -> Self {
        Self {
            length: 1,
            order: HistoryOrder::OldestFirst,
        }
    }
}

/// A scale for an observation term: one number, or one per element.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum TermScale {
    /// Same for every element.
    All(f64),
    /// Per element.
    PerElement(Vec<f64>),
}

/// How observations are built.
#[derive(Debug, Clone, PartialEq, Deserialize)]
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

/// Joint-space action: target = default + clip(action) × scale (legged_gym).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JointActionDecl {
    /// Action scale (A1/Go1 0.25, Aliengo 0.5), per joint or for all.
    pub scale: PerJointValue,
    /// Symmetric clip of the raw action.
    #[serde(default = "default_clip")]
    pub clip: f64,
    /// Default pose (rad) per joint name.
    pub default_pose_rad: BTreeMap<String, f64>,
    /// PD gains the RT thread applies to the target.
    pub kp: PerJointValue,
    /// Velocity gain.
    pub kd: PerJointValue,
    /// Interpolate the target linearly over a policy period instead of holding it.
    #[serde(default)]
    pub interpolate: bool,
}

/// A box in the robot's base frame.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceBox {
    /// Lowest corner (m).
    pub min_m: [f64; 3],
    /// Highest corner (m).
    pub max_m: [f64; 3],
}

/// Cartesian impedance controller settings (HIL-SERL defaults: 2000 N/m, damping 89).
#[derive(Debug, Clone, PartialEq, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestDecl {
    /// Policy kind.
    pub kind: PolicyKind,
    /// Robot model it was trained for (`a1`, `panda`).
    pub robot: String,
    /// Policy rate (Hz).
    pub policy_hz: f64,
    /// The model (locomotion, manipulation). Residual policies use `residual` instead.
    #[serde(default)]
    pub model: Option<ModelDecl>,
    /// Joints in policy order (names of the robot's joints).
    pub joints: Vec<String>,
    /// Observation layout.
    pub observation: ObservationDecl,
    /// Joint-space action (locomotion, or a residual over locomotion).
    #[serde(default)]
    pub joint_action: Option<JointActionDecl>,
    /// End-effector action (manipulation, or a residual over manipulation).
    #[serde(default)]
    pub ee_action: Option<EeActionDecl>,
    /// Residual composition.
    #[serde(default)]
    pub residual: Option<ResidualDecl>,
    /// Velocity command for locomotion (vx, vy, yaw rate) until teleop provides one.
    #[serde(default)]
    pub command: [f64; 3],
    /// Declared Lipschitz bound (for certified fallbacks; checked by the MLP loader).
    #[serde(default)]
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
    /// An [`ManifestError::Invalid`] for this manifest.
    pub fn invalid(
        &self,
        field: &str,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> ManifestError {
        ManifestError::Invalid {
            file: self.file.clone(),
            field: field.to_string(),
            expected: expected.into(),
            found: found.into(),
        }
    }

    /// Path of a model file named in the manifest (relative to the manifest's folder).
    pub fn model_path(&self, model: &ModelDecl) -> PathBuf {
        self.file
            .parent()
            .unwrap_or(Path::new("."))
            .join(&model.file)
    }

    /// Reads and checks a manifest against the robot's joint names (hardware order).
    pub fn load(
        file: &Path,
        robot_model: &str,
        robot_joints: &[String],
    ) -> Result<Manifest, ManifestError> {
        let text = std::fs::read_to_string(file).map_err(|e| ManifestError::Io {
            file: file.to_path_buf(),
            reason: e.to_string(),
        })?;
        let decl: ManifestDecl =
            serde_norway::from_str(&text).map_err(|e| ManifestError::Schema {
                file: file.to_path_buf(),
                message: e.to_string(),
            })?;
        let m = Manifest {
            file: file.to_path_buf(),
            decl,
        };
        m.validate(robot_model, robot_joints)?;
        Ok(m)
    }

    fn validate(&self, robot_model: &str, robot_joints: &[String]) -> Result<(), ManifestError> {
        let d = &self.decl;
        if d.robot != robot_model {
            return Err(self.invalid(
                "robot",
                format!("`{robot_model}` (the robot this run drives)"),
                format!("`{}`", d.robot),
            ));
        }
        if !(d.policy_hz.is_finite() && d.policy_hz > 0.0) {
            return Err(self.invalid("policy_hz", "a rate > 0 Hz", d.policy_hz.to_string()));
        }
        for (i, j) in d.joints.iter().enumerate() {
            if !robot_joints.contains(j) {
                return Err(self.invalid(
                    &format!("joints[{i}]"),
                    format!("a joint of `{robot_model}`: {}", robot_joints.join(", ")),
                    format!("unknown joint `{j}`"),
                ));
            }
            if d.joints[..i].contains(j) {
                return Err(self.invalid(
                    &format!("joints[{i}]"),
                    "each joint once",
                    format!("`{j}` twice"),
                ));
            }
        }
        let o = &d.observation;
        if o.terms.is_empty() {
            return Err(self.invalid("observation.terms", "at least one term", "none"));
        }
        if o.history.length == 0 || o.history.length > 100 {
            return Err(self.invalid(
                "observation.history.length",
                "1–100 frames",
                o.history.length.to_string(),
            ));
        }
        if !(o.clip.is_finite() && o.clip > 0.0) {
            return Err(self.invalid("observation.clip", "a clip > 0", o.clip.to_string()));
        }
        for (term, scale) in &o.scales {
            if !o.terms.contains(term) {
                return Err(self.invalid(
                    &format!("observation.scales.{}", term_name(*term)),
                    "a scale for a term listed in observation.terms",
                    "a term not in the list",
                ));
            }
            let n = self.term_len(*term);
            if let TermScale::PerElement(v) = scale {
                if v.len() != n {
                    return Err(self.invalid(
                        &format!("observation.scales.{}", term_name(*term)),
                        format!("1 or {n} values"),
                        format!("{} values", v.len()),
                    ));
                }
            }
        }
        let action_space = match d.kind {
            PolicyKind::Residual => {
                let r = d.residual.as_ref().ok_or_else(|| {
                    self.invalid(
                        "residual",
                        "a `residual:` section for kind residual",
                        "nothing",
                    )
                })?;
                if !(r.scale.is_finite() && r.scale >= 0.0) {
                    return Err(self.invalid("residual.scale", "a scale ≥ 0", r.scale.to_string()));
                }
                if r.action_space == PolicyKind::Residual {
                    return Err(self.invalid(
                        "residual.action_space",
                        "locomotion or manipulation",
                        "residual",
                    ));
                }
                if r.execute_steps == 0 {
                    return Err(self.invalid("residual.execute_steps", "at least 1 step", "0"));
                }
                r.action_space
            }
            k => {
                if d.model.is_none() {
                    return Err(self.invalid(
                        "model",
                        "a `model:` section (file, inputs, outputs)",
                        "nothing",
                    ));
                }
                k
            }
        };
        match action_space {
            PolicyKind::Locomotion => {
                let a = d.joint_action.as_ref().ok_or_else(|| {
                    self.invalid(
                        "joint_action",
                        "a `joint_action:` section for a joint-space policy",
                        "nothing",
                    )
                })?;
                self.check_joint_map("joint_action.default_pose_rad", &a.default_pose_rad)?;
                for (field, v) in [
                    ("joint_action.scale", &a.scale),
                    ("joint_action.kp", &a.kp),
                    ("joint_action.kd", &a.kd),
                ] {
                    match v {
                        PerJointValue::All(x) if !(x.is_finite() && *x >= 0.0) => {
                            return Err(self.invalid(field, "a finite value ≥ 0", x.to_string()))
                        }
                        PerJointValue::ByName(m) => self.check_joint_map(field, m)?,
                        _ => {}
                    }
                }
                if !(a.clip.is_finite() && a.clip > 0.0) {
                    return Err(self.invalid(
                        "joint_action.clip",
                        "a clip > 0",
                        a.clip.to_string(),
                    ));
                }
            }
            PolicyKind::Manipulation => {
                let a = d.ee_action.as_ref().ok_or_else(|| {
                    self.invalid(
                        "ee_action",
                        "an `ee_action:` section for a manipulation policy",
                        "nothing",
                    )
                })?;
                for (field, v) in [
                    ("ee_action.translation_scale_m", a.translation_scale_m),
                    ("ee_action.rotation_scale_rad", a.rotation_scale_rad),
                    (
                        "ee_action.impedance.translational_stiffness_n_m",
                        a.impedance.translational_stiffness_n_m,
                    ),
                    (
                        "ee_action.impedance.rotational_stiffness_nm_rad",
                        a.impedance.rotational_stiffness_nm_rad,
                    ),
                    (
                        "ee_action.impedance.translational_damping_n_s_m",
                        a.impedance.translational_damping_n_s_m,
                    ),
                    (
                        "ee_action.impedance.rotational_damping_nm_s_rad",
                        a.impedance.rotational_damping_nm_s_rad,
                    ),
                    (
                        "ee_action.impedance.max_position_error_m",
                        a.impedance.max_position_error_m,
                    ),
                    (
                        "ee_action.impedance.max_rotation_error_rad",
                        a.impedance.max_rotation_error_rad,
                    ),
                    (
                        "ee_action.impedance.joint_damping_nm_s_rad",
                        a.impedance.joint_damping_nm_s_rad,
                    ),
                ] {
                    if !(v.is_finite() && v >= 0.0) {
                        return Err(self.invalid(field, "a finite value ≥ 0", v.to_string()));
                    }
                }
                for k in 0..3 {
                    if a.workspace.min_m[k].partial_cmp(&a.workspace.max_m[k])
                        != Some(std::cmp::Ordering::Less)
                    {
                        return Err(self.invalid(
                            "ee_action.workspace",
                            "min_m < max_m on every axis",
                            format!("{:?} .. {:?}", a.workspace.min_m, a.workspace.max_m),
                        ));
                    }
                }
            }
            PolicyKind::Residual => unreachable!("checked above"),
        }
        Ok(())
    }

    fn check_joint_map(&self, field: &str, m: &BTreeMap<String, f64>) -> Result<(), ManifestError> {
        for (name, v) in m {
            if !self.decl.joints.contains(name) {
                return Err(self.invalid(
                    &format!("{field}.{name}"),
                    format!(
                        "one of the manifest's joints: {}",
                        self.decl.joints.join(", ")
                    ),
                    format!("unknown joint `{name}`"),
                ));
            }
            if !v.is_finite() {
                return Err(self.invalid(
                    &format!("{field}.{name}"),
                    "a finite number",
                    v.to_string(),
                ));
            }
        }
        if let Some(missing) = self.decl.joints.iter().find(|j| !m.contains_key(*j)) {
            return Err(self.invalid(
                field,
                "a value for every joint",
                format!("no value for {missing}"),
            ));
        }
        Ok(())
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
