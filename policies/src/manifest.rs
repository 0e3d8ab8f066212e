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
use reflex_validate::{Checker, FileError, FileKind, JointSet, PerJoint, Range};
use serde::Deserialize;

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

/// History stacking order. Trainers differ, so a manifest with more than one frame must say
/// which: HIMLoco stacks newest first (its exporter feeds `obs[:, :45]` to the actor as the
/// current frame; rl_sar's `observations_history: [0, 1, 2, 3, 4, 5]`, 0 = latest); rl_sar's
/// legged_gym A1 config lists `[5, 4, 3, 2, 1, 0]`, oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HistoryOrder {
    /// Oldest frame first, newest last.
    OldestFirst,
    /// Newest frame first (HIMLoco).
    NewestFirst,
}

/// Observation history.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct History {
    /// Frames stacked (1 = no history).
    pub length: usize,
    /// Stacking order: required when `length` > 1 (there is no safe default).
    #[serde(default)]
    pub order: Option<HistoryOrder>,
}

impl Default for History {
    fn default() -> Self {
        Self {
            length: 1,
            order: None,
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
    pub scale: PerJoint,
    /// Symmetric clip of the raw action.
    #[serde(default = "default_clip")]
    pub clip: f64,
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

    fn check(&self, spec: &RobotSpec, c: &mut Checker) {
        let d = &self.decl;
        if d.robot != spec.model {
            c.error(
                "robot",
                format!("`{}` (the robot this run drives)", spec.model),
                format!("`{}`", d.robot),
            );
        }
        c.range(
            "policy_hz",
            d.policy_hz,
            "a rate",
            Range::open_closed(0.0, 1000.0),
            "Hz",
        );
        for (i, j) in d.joints.iter().enumerate() {
            if spec.joint_index(j).is_none() {
                c.error(
                    format!("joints[{i}]"),
                    format!(
                        "a joint of `{}`: {}",
                        spec.model,
                        spec.joint_names.join(", ")
                    ),
                    format!("unknown joint `{j}`"),
                );
            }
            if d.joints[..i].contains(j) {
                c.error(
                    format!("joints[{i}]"),
                    "each joint once",
                    format!("`{j}` twice"),
                );
            }
        }
        let o = &d.observation;
        if o.terms.is_empty() {
            c.error("observation.terms", "at least one term", "none");
        }
        if o.history.length == 0 || o.history.length > 100 {
            c.error(
                "observation.history.length",
                "1–100 frames",
                o.history.length,
            );
        }
        if o.history.length > 1 && o.history.order.is_none() {
            c.error(
                "observation.history.order",
                "`newest_first` (HIMLoco, rl_sar [0, 1, ...]) or `oldest_first` (rl_sar [.., 1, 0]): trainers differ, so a stacked history must say which",
                "nothing",
            );
        }
        c.range("observation.clip", o.clip, "a clip", Range::above(0.0), "");
        for (term, scale) in &o.scales {
            let field = format!("observation.scales.{}", term_name(*term));
            if !o.terms.contains(term) {
                c.error(
                    &field,
                    "a scale for a term listed in observation.terms",
                    "a term not in the list",
                );
            }
            match scale {
                TermScale::All(x) => {
                    c.range(&field, *x, "a scale", Range::finite(), "");
                }
                TermScale::PerElement(v) => {
                    let n = self.term_len(*term);
                    if v.len() != n {
                        c.error(
                            &field,
                            format!("1 or {n} values"),
                            format!("{} values", v.len()),
                        );
                    }
                    c.each(&field, v, "a scale", Range::finite(), "");
                }
            }
        }
        let action_space = match d.kind {
            PolicyKind::Residual => match &d.residual {
                None => {
                    c.error(
                        "residual",
                        "a `residual:` section for kind residual",
                        "nothing",
                    );
                    return;
                }
                Some(r) => {
                    c.range(
                        "residual.scale",
                        r.scale,
                        "a scale",
                        Range::at_least(0.0),
                        "",
                    );
                    if r.action_space == PolicyKind::Residual {
                        c.error(
                            "residual.action_space",
                            "locomotion or manipulation",
                            "residual",
                        );
                        return;
                    }
                    if r.execute_steps == 0 || r.execute_steps > 1000 {
                        c.error("residual.execute_steps", "1–1000 steps", r.execute_steps);
                    }
                    r.action_space
                }
            },
            k => {
                if d.model.is_none() {
                    c.error(
                        "model",
                        "a `model:` section (file, inputs, outputs)",
                        "nothing",
                    );
                }
                k
            }
        };
        match action_space {
            PolicyKind::Locomotion => self.check_joint_action(spec, c),
            PolicyKind::Manipulation => self.check_ee_action(c),
            PolicyKind::Residual => {}
        }
        if let Some(v) = d.command.iter().find(|v| !v.is_finite()) {
            c.error("command", "finite velocities (m/s, m/s, rad/s)", v);
        }
    }

    fn check_joint_action(&self, spec: &RobotSpec, c: &mut Checker) {
        let d = &self.decl;
        let Some(a) = d.joint_action.as_ref() else {
            c.error(
                "joint_action",
                "a `joint_action:` section for a joint-space policy",
                "nothing",
            );
            return;
        };
        let set = JointSet {
            names: &d.joints,
            described_as: "one of the manifest's joints",
        };
        c.joint_map(
            "joint_action.default_pose_rad",
            &a.default_pose_rad,
            set,
            "an angle",
            Range::finite(),
            "rad",
        );
        c.within_joint_limits("joint_action.default_pose_rad", &a.default_pose_rad, spec);
        c.per_joint(
            "joint_action.scale",
            &a.scale,
            set,
            "a scale",
            Range::at_least(0.0),
            "rad",
        );
        c.per_joint(
            "joint_action.kp",
            &a.kp,
            set,
            "a gain",
            Range::closed(0.0, 10_000.0),
            "N·m/rad",
        );
        c.per_joint(
            "joint_action.kd",
            &a.kd,
            set,
            "a gain",
            Range::closed(0.0, 1_000.0),
            "N·m·s/rad",
        );
        c.range("joint_action.clip", a.clip, "a clip", Range::above(0.0), "");
        // A joint the policy does not drive would be left limp (kp = kd = 0).
        let undriven: Vec<&str> = spec
            .joint_names
            .iter()
            .filter(|j| !d.joints.contains(j))
            .map(|j| j.as_str())
            .collect();
        if !undriven.is_empty() {
            c.error(
                "joints",
                format!(
                    "every actuated joint of `{}` (a joint the policy does not drive would be left without gains)",
                    spec.model
                ),
                format!("no {}", undriven.join(", ")),
            );
        }
    }

    fn check_ee_action(&self, c: &mut Checker) {
        let Some(a) = self.decl.ee_action.as_ref() else {
            c.error(
                "ee_action",
                "an `ee_action:` section for a manipulation policy",
                "nothing",
            );
            return;
        };
        let i = &a.impedance;
        for (field, v) in [
            ("ee_action.translation_scale_m", a.translation_scale_m),
            ("ee_action.rotation_scale_rad", a.rotation_scale_rad),
            (
                "ee_action.impedance.translational_stiffness_n_m",
                i.translational_stiffness_n_m,
            ),
            (
                "ee_action.impedance.rotational_stiffness_nm_rad",
                i.rotational_stiffness_nm_rad,
            ),
            (
                "ee_action.impedance.translational_damping_n_s_m",
                i.translational_damping_n_s_m,
            ),
            (
                "ee_action.impedance.rotational_damping_nm_s_rad",
                i.rotational_damping_nm_s_rad,
            ),
            (
                "ee_action.impedance.max_position_error_m",
                i.max_position_error_m,
            ),
            (
                "ee_action.impedance.max_rotation_error_rad",
                i.max_rotation_error_rad,
            ),
            (
                "ee_action.impedance.joint_damping_nm_s_rad",
                i.joint_damping_nm_s_rad,
            ),
        ] {
            c.range(field, v, "a finite value", Range::at_least(0.0), "");
        }
        let w = &a.workspace;
        for k in 0..3 {
            if w.min_m[k].partial_cmp(&w.max_m[k]) != Some(std::cmp::Ordering::Less) {
                c.error(
                    "ee_action.workspace",
                    "min_m < max_m on every axis",
                    format!("{:?} .. {:?}", w.min_m, w.max_m),
                );
                break;
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use reflex_hardware::{JointLimits, RobotKind};

    fn spec() -> RobotSpec {
        RobotSpec::uniform(
            "two",
            RobotKind::Legged,
            &["a", "b"],
            JointLimits {
                lower_rad: -1.0,
                upper_rad: 1.0,
                velocity_rad_s: 10.0,
                effort_nm: 10.0,
            },
        )
    }

    const GOOD: &str = "kind: locomotion
robot: two
policy_hz: 50
model: {file: p.onnx, inputs: [{name: obs, shape: [1, 12]}], outputs: [{name: a, shape: [1, 2]}]}
joints: [b, a]
observation:
  terms: [dof_pos, dof_vel, last_action]
  history: {length: 2, order: newest_first}
joint_action:
  scale: 0.25
  default_pose_rad: {a: 0.1, b: -0.2}
  kp: 40
  kd: {a: 1, b: 1}
";

    fn findings(text: &str) -> Vec<String> {
        let decl: ManifestDecl = serde_norway::from_str(text).unwrap();
        let m = Manifest {
            file: "m.yaml".into(),
            decl,
        };
        let mut c = Checker::new(&m.file);
        m.check(&spec(), &mut c);
        match c.finish() {
            Ok(_) => vec![],
            Err(e) => e.findings().iter().map(|f| f.field.clone()).collect(),
        }
    }

    #[test]
    fn a_valid_manifest_passes_and_sizes_follow_the_layout() {
        assert!(findings(GOOD).is_empty());
        let decl: ManifestDecl = serde_norway::from_str(GOOD).unwrap();
        let m = Manifest {
            file: "m.yaml".into(),
            decl,
        };
        assert_eq!(
            (m.frame_len(), m.observation_len(), m.action_len()),
            (6, 12, 2)
        );
    }

    #[test]
    fn the_same_rules_hold_for_manifest_values_as_for_config_values() {
        let cases = [
            (
                "default_pose_rad: {a: 0.1, b: -0.2}",
                "default_pose_rad: {a: 1.5, b: -0.2}",
                "joint_action.default_pose_rad.a",
            ),
            ("kd: {a: 1, b: 1}", "kd: {a: 1, b: -1}", "joint_action.kd.b"),
            ("kd: {a: 1, b: 1}", "kd: {a: 1}", "joint_action.kd"),
            ("scale: 0.25", "scale: .nan", "joint_action.scale"),
            (
                "history: {length: 2, order: newest_first}",
                "history: {length: 2}",
                "observation.history.order",
            ),
            ("joints: [b, a]", "joints: [b]", "joints"),
        ];
        for (from, to, field) in cases {
            let f = findings(&GOOD.replace(from, to));
            assert!(f.contains(&field.to_string()), "{to}: {f:?}");
        }
    }
}
