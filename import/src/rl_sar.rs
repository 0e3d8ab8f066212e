//! rl_sar deployment configs → Reflex model manifests.
//!
//! rl_sar (fan-ziqi/rl_sar, v3 layout) keeps one `policy/<robot>/base.yaml` per robot and one
//! `policy/<robot>/<policy>/config.yaml` per policy; the config overrides the base key by key, and
//! each file's single top-level key is its path (`go2:`, `go2/himloco:`). What the keys mean, as
//! rl_sar's own code uses them:
//!
//! - `joint_mapping[i]` is the hardware index of policy joint `i`; the base's `joint_names` are in
//!   hardware order, so policy joint `i` is `base.joint_names[joint_mapping[i]]`. Every per-joint
//!   array of `config.yaml` is in policy order.
//! - One frame is the `observations` in order: `commands × commands_scale`, `ang_vel ×
//!   ang_vel_scale` (body frame), `gravity_vec` (Rᵀ·[0, 0, −1], unscaled), `dof_pos` = (q −
//!   default) × `dof_pos_scale`, `dof_vel × dof_vel_scale`, `actions` (the previous clipped
//!   action), `lin_vel × lin_vel_scale`; then clipped to ±`clip_obs`.
//! - `observations_history` lists frame indices, 0 the newest, in output order:
//!   `[0, 1, …, H−1]` is newest first (HIMLoco), `[H−1, …, 0]` oldest first (legged_gym's A1);
//!   whole frames (`observations_history_priority: time`); the buffer starts with zeros.
//! - target = `default_dof_pos` + clip(action) × `action_scale`, tracked with `rl_kp`/`rl_kd`;
//!   policy rate 1 / (`dt` × `decimation`).
//!
//! Anything Reflex cannot run the same way is refused by name: wheels, phase and motion-tracking
//! observations, term-priority history, history lists that are not a plain order, unknown keys,
//! robots or joints not in the catalogue. Nothing is guessed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use reflex_hardware::catalogue;
use reflex_policies::manifest::{
    ActionClip, CommandLimits, History, HistoryFill, HistoryOrder, JointActionDecl, ManifestDecl,
    ModelDecl, ObsTerm, ObservationDecl, PolicyKind, TensorDecl, TermScale,
};
use reflex_validate::{FileError, FileKind, PerJoint};
use serde_norway::Value;

/// Keys of `config.yaml` this importer maps (or knowingly ignores).
const CONFIG_KEYS: &[&str] = &[
    "model_name",
    "num_observations",
    "observations",
    "observations_history",
    "observations_history_priority",
    "clip_obs",
    "clip_actions_lower",
    "clip_actions_upper",
    "rl_kp",
    "rl_kd",
    "fixed_kp",
    "fixed_kd",
    "num_of_dofs",
    "action_scale",
    "wheel_indices",
    "lin_vel_scale",
    "ang_vel_scale",
    "dof_pos_scale",
    "dof_vel_scale",
    "commands_scale",
    "torque_limits",
    "default_dof_pos",
    "joint_mapping",
];

/// Keys of `base.yaml` this importer reads (or knowingly ignores: the FSM's stand-up gains, the
/// ROS 1 controller names).
const BASE_KEYS: &[&str] = &[
    "dt",
    "decimation",
    "num_of_dofs",
    "joint_names",
    "joint_controller_names",
    "joint_mapping",
    "default_dof_pos",
    "fixed_kp",
    "fixed_kd",
    "torque_limits",
    "wheel_indices",
];

/// An imported manifest and what the importer noticed along the way.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The manifest (its `model.file` is `policy.onnx`).
    pub manifest: ManifestDecl,
    /// The model file the config names (`model_name`, beside the config).
    pub model: PathBuf,
    /// Things mapped with a caveat, one line each.
    pub notes: Vec<String>,
}

struct Reader<'a> {
    file: &'a Path,
    top: String,
    map: &'a serde_norway::Mapping,
}

impl<'a> Reader<'a> {
    fn refuse(
        &self,
        key: &str,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> FileError {
        FileError::invalid(self.file, format!("{}.{key}", self.top), expected, found)
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(Value::String(key.into()))
    }

    fn f64(&self, key: &str) -> Result<f64, FileError> {
        let v = self
            .get(key)
            .ok_or_else(|| self.refuse(key, "a number", "nothing"))?;
        v.as_f64()
            .filter(|x| x.is_finite())
            .ok_or_else(|| self.refuse(key, "a finite number", format!("{v:?}")))
    }

    fn list(&self, key: &str) -> Result<Vec<f64>, FileError> {
        let v = self
            .get(key)
            .ok_or_else(|| self.refuse(key, "a list of numbers", "nothing"))?;
        match v {
            Value::Null => Ok(vec![]),
            Value::Sequence(s) => s
                .iter()
                .map(|x| {
                    x.as_f64()
                        .filter(|x| x.is_finite())
                        .ok_or_else(|| self.refuse(key, "finite numbers", format!("{x:?}")))
                })
                .collect(),
            other => Err(self.refuse(key, "a list of numbers", format!("{other:?}"))),
        }
    }

    fn strings(&self, key: &str) -> Result<Vec<String>, FileError> {
        let v = self
            .get(key)
            .ok_or_else(|| self.refuse(key, "a list of names", "nothing"))?;
        match v {
            Value::Sequence(s) => s
                .iter()
                .map(|x| {
                    x.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| self.refuse(key, "names", format!("{x:?}")))
                })
                .collect(),
            other => Err(self.refuse(key, "a list of names", format!("{other:?}"))),
        }
    }

    fn unknown_keys(&self, known: &[&str]) -> Result<(), FileError> {
        for k in self.map.keys() {
            let name = k.as_str().unwrap_or("?");
            if !known.contains(&name) {
                return Err(self.refuse(
                    name,
                    format!(
                        "a key Reflex maps ({}): this one cannot be mapped (motion files, waist joints, pre-v3 rl_sar keys such as `framework` or `command_mapping`)",
                        known.join(", ")
                    ),
                    format!("`{name}`"),
                ));
            }
        }
        Ok(())
    }
}

fn read(file: &Path) -> Result<(String, serde_norway::Mapping), FileError> {
    let v: Value = reflex_validate::load_yaml(file, FileKind::ForeignConfig)?;
    let schema = |m: &str| FileError::Schema {
        file: file.to_path_buf(),
        message: m.to_string(),
    };
    let top = v.as_mapping().ok_or_else(|| {
        schema("expected an rl_sar config: one top-level key (`go2:` or `go2/himloco:`)")
    })?;
    if top.len() != 1 {
        return Err(schema(&format!(
            "expected an rl_sar config with one top-level key (its path, e.g. `go2/himloco:`), found {}",
            top.len()
        )));
    }
    let (k, body) = top.iter().next().expect("one entry");
    let key = k
        .as_str()
        .ok_or_else(|| schema("the top-level key must be the config's path"))?
        .to_string();
    let body = body
        .as_mapping()
        .ok_or_else(|| schema(&format!("`{key}` must be a mapping of settings")))?
        .clone();
    Ok((key, body))
}

fn uniform(values: &[f64], names: &[String]) -> PerJoint {
    if values.iter().all(|v| *v == values[0]) {
        PerJoint::All(values[0])
    } else {
        PerJoint::ByName(names.iter().cloned().zip(values.iter().copied()).collect())
    }
}

/// Maps an rl_sar `config` (with its robot's `base`) to a manifest. The robot is the config
/// path's first part unless `robot` is given; it must be in Reflex's catalogue.
pub fn import(config: &Path, base: &Path, robot: Option<&str>) -> Result<Imported, FileError> {
    let (ctop, cmap) = read(config)?;
    let (btop, bmap) = read(base)?;
    let c = Reader {
        file: config,
        top: ctop.clone(),
        map: &cmap,
    };
    let b = Reader {
        file: base,
        top: btop.clone(),
        map: &bmap,
    };
    c.unknown_keys(CONFIG_KEYS)?;
    b.unknown_keys(BASE_KEYS)?;
    let robot_dir = ctop.split('/').next().unwrap_or_default().to_string();
    if robot_dir != btop {
        return Err(FileError::Schema {
            file: base.to_path_buf(),
            message: format!(
                "this is the base of robot `{btop}`, the config `{ctop}` is for `{robot_dir}`"
            ),
        });
    }
    let robot = robot.unwrap_or(&robot_dir);
    let model = catalogue::model(robot).ok_or_else(|| {
        c.refuse(
            "",
            format!(
                "a config for a robot in Reflex's catalogue ({})",
                catalogue::names().join(", ")
            ),
            format!("`{robot}`"),
        )
    })?;
    let mut notes = Vec::new();

    // Rates.
    let (dt, decimation) = (b.f64("dt")?, b.f64("decimation")?);
    if !(dt > 0.0 && decimation >= 1.0) {
        return Err(b.refuse(
            "dt",
            "dt > 0 s and decimation ≥ 1",
            format!("{dt}, {decimation}"),
        ));
    }
    let policy_hz = 1.0 / (dt * decimation);

    // Joints: policy order, named through the mapping.
    let n = c.f64("num_of_dofs")? as usize;
    let base_n = b.f64("num_of_dofs")? as usize;
    if n != base_n {
        return Err(c.refuse(
            "num_of_dofs",
            format!("the robot's {base_n} joints (a policy of a subset of joints cannot run)"),
            n.to_string(),
        ));
    }
    let hw_names = b.strings("joint_names")?;
    if let Ok(base_map) = b.list("joint_mapping") {
        let identity = base_map.iter().enumerate().all(|(i, v)| *v == i as f64);
        if !identity {
            return Err(b.refuse(
                "joint_mapping",
                "the identity (hardware order)",
                format!("{base_map:?}"),
            ));
        }
    }
    let mapping = c.list("joint_mapping")?;
    let mut perm: Vec<usize> = mapping.iter().map(|v| *v as usize).collect();
    let names: Vec<String> = perm
        .iter()
        .map(|&h| hw_names.get(h).cloned())
        .collect::<Option<_>>()
        .ok_or_else(|| {
            c.refuse(
                "joint_mapping",
                format!("hardware indices below {}", hw_names.len()),
                format!("{mapping:?}"),
            )
        })?;
    perm.sort_unstable();
    if perm != (0..n).collect::<Vec<_>>() || mapping.iter().any(|v| v.fract() != 0.0) {
        return Err(c.refuse(
            "joint_mapping",
            format!("a permutation of 0..{n}"),
            format!("{mapping:?}"),
        ));
    }
    for name in &names {
        if !model.joints.contains(&name.as_str()) {
            return Err(b.refuse(
                "joint_names",
                format!("joints of `{}`: {}", model.name, model.joints.join(", ")),
                format!("unknown joint `{name}`"),
            ));
        }
    }
    let wheels = c.list("wheel_indices").unwrap_or_default();
    if !wheels.is_empty() {
        return Err(c.refuse(
            "wheel_indices",
            "no wheels (velocity-controlled joints are not supported yet)",
            format!("{wheels:?}"),
        ));
    }
    let per_joint = |key: &str| -> Result<Vec<f64>, FileError> {
        let v = c.list(key)?;
        if v.len() != n {
            return Err(c.refuse(
                key,
                format!("{n} values (num_of_dofs), policy order"),
                format!("{} values", v.len()),
            ));
        }
        Ok(v)
    };

    // Observation terms and scales.
    let mut terms = Vec::new();
    let mut scales = BTreeMap::new();
    for name in c.strings("observations")? {
        let (term, scale) = match name.as_str() {
            "commands" => {
                let s = c.list("commands_scale")?;
                if s.len() != 3 {
                    return Err(c.refuse("commands_scale", "3 values (vx, vy, yaw rate)", format!("{} values", s.len())));
                }
                (ObsTerm::Command, Some(TermScale::PerElement(s)))
            }
            "ang_vel" | "ang_vel_body" | "ang_vel_world" => (
                ObsTerm::BaseAngVel,
                Some(TermScale::All(c.f64("ang_vel_scale")?)),
            ),
            "lin_vel" => {
                notes.push(
                    "`lin_vel` maps to base_lin_vel (base frame, from the robot's state estimator: the simulator's, or nav_msgs/Odometry on ROS); rl_sar itself feeds zeros".into(),
                );
                (ObsTerm::BaseLinVel, Some(TermScale::All(c.f64("lin_vel_scale")?)))
            }
            "gravity_vec" => (ObsTerm::ProjectedGravity, None),
            "dof_pos" => (ObsTerm::DofPos, Some(TermScale::All(c.f64("dof_pos_scale")?))),
            "dof_vel" => (ObsTerm::DofVel, Some(TermScale::All(c.f64("dof_vel_scale")?))),
            "actions" => (ObsTerm::LastAction, None),
            other => {
                return Err(c.refuse(
                    "observations",
                    "terms Reflex builds: commands, ang_vel, lin_vel, gravity_vec, dof_pos, dof_vel, actions (phase and motion-tracking terms cannot be mapped)",
                    format!("`{other}`"),
                ))
            }
        };
        if terms.contains(&term) {
            return Err(c.refuse("observations", "each term once", format!("`{name}` twice")));
        }
        terms.push(term);
        let unit = match &scale {
            Some(TermScale::All(x)) => *x == 1.0,
            Some(TermScale::PerElement(v)) => v.iter().all(|x| *x == 1.0),
            None => true,
        };
        if let (Some(s), false) = (scale, unit) {
            scales.insert(term, s);
        }
    }
    let frame: usize = terms
        .iter()
        .map(|t| match t {
            ObsTerm::DofPos | ObsTerm::DofVel | ObsTerm::LastAction => n,
            _ => 3,
        })
        .sum();
    if let Ok(declared) = c.f64("num_observations") {
        if declared as usize != frame {
            return Err(c.refuse(
                "num_observations",
                format!("{frame} (the listed observations' width)"),
                declared.to_string(),
            ));
        }
    }

    // History.
    let ids = c.list("observations_history").unwrap_or_default();
    let h = ids.len().max(1);
    let newest_first: Vec<f64> = (0..h).map(|i| i as f64).collect();
    let oldest_first: Vec<f64> = (0..h).rev().map(|i| i as f64).collect();
    let order = if ids.len() <= 1 {
        if ids.first().is_some_and(|v| *v != 0.0) {
            return Err(c.refuse(
                "observations_history",
                "[0] (the newest frame) or []",
                format!("{ids:?}"),
            ));
        }
        None
    } else if ids == newest_first {
        Some(HistoryOrder::NewestFirst)
    } else if ids == oldest_first {
        Some(HistoryOrder::OldestFirst)
    } else {
        return Err(c.refuse(
            "observations_history",
            format!(
                "[0, …, {}] (newest first) or [{}, …, 0] (oldest first)",
                h - 1,
                h - 1
            ),
            format!("{ids:?}"),
        ));
    };
    if order.is_some() {
        match c.get("observations_history_priority").and_then(|v| v.as_str()) {
            Some("time") => {}
            None => notes.push(
                "no observations_history_priority: whole frames are stacked (`time`, rl_sar's behaviour before the key existed)".into(),
            ),
            Some(other) => {
                return Err(c.refuse(
                    "observations_history_priority",
                    "`time` (whole frames stacked); `term` priority cannot be mapped",
                    format!("`{other}`"),
                ))
            }
        }
    }

    // Actions.
    let default_pose = per_joint("default_dof_pos")?;
    let action_scale = per_joint("action_scale")?;
    let (lower, upper) = (
        c.list("clip_actions_lower").unwrap_or_default(),
        c.list("clip_actions_upper").unwrap_or_default(),
    );
    let clip = if lower.is_empty() || upper.is_empty() {
        notes.push("no action clip in the config: Reflex clips the raw action to ±100".into());
        ActionClip::default()
    } else {
        let lower = per_joint("clip_actions_lower")?;
        let upper = per_joint("clip_actions_upper")?;
        if lower.iter().zip(&upper).all(|(l, u)| *l == -*u) {
            ActionClip::Symmetric(uniform(&upper, &names))
        } else {
            ActionClip::Range {
                lower: uniform(&lower, &names),
                upper: uniform(&upper, &names),
            }
        }
    };
    let kp = per_joint("rl_kp")?;
    let kd = per_joint("rl_kd")?;
    if let Ok(limits) = per_joint("torque_limits") {
        let spec = model.spec().map_err(|e| FileError::Schema {
            file: config.to_path_buf(),
            message: e.to_string(),
        })?;
        let above: Vec<String> = names
            .iter()
            .enumerate()
            .filter_map(|(i, name)| {
                let effort = spec.limits[spec.joint_index(name)?].effort_nm;
                (limits[i] > effort).then(|| format!("{name} {} > {effort}", limits[i]))
            })
            .collect();
        if !above.is_empty() {
            notes.push(format!(
                "torque_limits above the URDF's effort limits (N·m: {}); rl_sar does not enforce them, Reflex clamps to the URDF's",
                above.join(", ")
            ));
        }
    }

    let model_name = c
        .get("model_name")
        .and_then(|v| v.as_str())
        .ok_or_else(|| c.refuse("model_name", "the policy's file name", "nothing"))?;
    let model_path = config.parent().unwrap_or(Path::new(".")).join(model_name);
    let manifest = ManifestDecl {
        kind: PolicyKind::Locomotion,
        robot: model.name.to_string(),
        policy_hz,
        model: Some(ModelDecl {
            file: "policy.onnx".into(),
            inputs: vec![TensorDecl {
                name: crate::onnx_writer::INPUT_NAME.into(),
                shape: vec![1, (frame * h) as i64],
            }],
            outputs: vec![TensorDecl {
                name: crate::onnx_writer::OUTPUT_NAME.into(),
                shape: vec![1, n as i64],
            }],
        }),
        joints: names.clone(),
        observation: ObservationDecl {
            terms,
            scales,
            clip: c.f64("clip_obs")?,
            history: History {
                length: h,
                order,
                fill: HistoryFill::Zeros,
            },
        },
        joint_action: Some(JointActionDecl {
            scale: uniform(&action_scale, &names),
            clip,
            default_pose_rad: names.iter().cloned().zip(default_pose).collect(),
            kp: uniform(&kp, &names),
            kd: uniform(&kd, &names),
            interpolate: false,
        }),
        ee_action: None,
        residual: None,
        command: [0.0; 3],
        command_limits: CommandLimits::default(),
        lipschitz_bound: None,
    };
    notes.push(
        "command_limits: rl_sar declares none; ±1 m/s, ±1 m/s, ±1 rad/s (legged_gym's training ranges) — edit them to the policy's own".into(),
    );
    Ok(Imported {
        manifest,
        model: model_path,
        notes,
    })
}

/// The manifest as YAML, with a header saying where it came from.
pub fn to_yaml(m: &ManifestDecl, provenance: &str) -> String {
    let body = serde_norway::to_string(m).unwrap_or_default();
    let header: String = provenance.lines().map(|l| format!("# {l}\n")).collect();
    format!("{header}{body}")
}
