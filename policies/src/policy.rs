//! Learned policies on the policy thread: observation → ONNX Runtime → target for the RT thread.
//!
//! One [`OnnxPolicy`] covers the three kinds of the manifest:
//! - locomotion: joint target = default + clip(action) × scale, held (or interpolated) and
//!   tracked with the manifest's PD gains on the RT thread;
//! - manipulation: a 7-D end-effector delta in [-1, 1] (xyz, rpy, gripper), scaled, applied to
//!   the measured pose in the base frame and clipped to the workspace box; the RT thread tracks
//!   it with the Cartesian impedance controller;
//! - residual: base action (one step of a chunk executed open-loop over `execute_steps`) plus
//!   scale × residual(observation, base action), in normalised action space, then mapped as the
//!   action space says.

use nalgebra::{Quaternion, UnitQuaternion};
use reflex_hardware::{RobotSpec, RobotState};

use crate::cartesian::{clip_to_box, EeTarget};
use crate::intervention::HumanAction;
use crate::manifest::{EeActionDecl, Manifest, ModelDecl, PolicyKind};
use crate::observation::{check_kind_fits_robot, JointActionMap, ObservationBuilder};
use crate::onnx::{OnnxError, OnnxModel, ProviderReport, SessionOptions};

/// What the policy thread hands to the RT thread. Buffers are sized once; the RT thread reads
/// it in place.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyTarget {
    /// Policy tick this target answers; `u64::MAX` until the first one.
    pub seq: u64,
    /// Joint targets in hardware order (joint-space policies).
    pub joint_target_rad: Vec<f64>,
    /// PD gains in hardware order.
    pub kp: Vec<f64>,
    /// Velocity gains in hardware order.
    pub kd: Vec<f64>,
    /// End-effector target (manipulation policies).
    pub ee: Option<EeTarget>,
    /// The composed action in policy order (before scaling): what the robot executes — the
    /// human's on the axes a human controls while intervening.
    pub action: Vec<f32>,
    /// The policy's own action (policy order): equal to `action` unless a human intervened.
    pub policy_action: Vec<f32>,
    /// A human's action replaced the policy's in this tick.
    pub intervention: bool,
    /// Base action of a residual policy (policy order), for inspection.
    pub base_action: Vec<f32>,
    /// Inference time of this tick (ns), all models included.
    pub inference_ns: u64,
    /// The velocity command the observation carried (locomotion; zeros otherwise).
    pub command: [f64; 3],
}

impl PolicyTarget {
    /// An empty target for a robot of `n_joints` and an action of `action_len`.
    pub fn new(n_joints: usize, action_len: usize, ee: bool) -> Self {
        Self {
            seq: u64::MAX,
            joint_target_rad: vec![0.0; n_joints],
            kp: vec![0.0; n_joints],
            kd: vec![0.0; n_joints],
            ee: ee.then_some(EeTarget {
                position_m: [0.0; 3],
                orientation_xyzw: [0.0, 0.0, 0.0, 1.0],
                gripper: 0.0,
            }),
            action: vec![0.0; action_len],
            policy_action: vec![0.0; action_len],
            intervention: false,
            base_action: vec![0.0; action_len],
            inference_ns: 0,
            command: [0.0; 3],
        }
    }

    /// Copies `other` in place (equal sizes): no allocation.
    pub fn copy_from(&mut self, other: &PolicyTarget) {
        self.seq = other.seq;
        self.joint_target_rad
            .copy_from_slice(&other.joint_target_rad);
        self.kp.copy_from_slice(&other.kp);
        self.kd.copy_from_slice(&other.kd);
        self.ee = other.ee;
        self.action.copy_from_slice(&other.action);
        self.policy_action.copy_from_slice(&other.policy_action);
        self.intervention = other.intervention;
        self.base_action.copy_from_slice(&other.base_action);
        self.inference_ns = other.inference_ns;
        self.command = other.command;
    }
}

enum Models {
    Single(OnnxModel),
    Residual {
        base: Box<OnnxModel>,
        residual: OnnxModel,
        scale: f32,
        execute_steps: usize,
        horizon: usize,
        chunk: Vec<f32>,
        step: usize,
        residual_in: Vec<f32>,
        residual_out: Vec<f32>,
    },
}

struct EeMap {
    decl: EeActionDecl,
}

enum ActionOut {
    Joint(JointActionMap),
    Ee(EeMap),
}

/// A policy loaded from a manifest: runs on the policy thread.
pub struct OnnxPolicy {
    manifest: Manifest,
    obs: ObservationBuilder,
    obs_buf: Vec<f32>,
    models: Models,
    out: ActionOut,
    last_action: Vec<f32>,
    /// Velocity command (vx, vy, yaw rate) fed to locomotion observations.
    pub command: [f64; 3],
}

fn load_model(
    m: &Manifest,
    decl: &ModelDecl,
    field: &str,
    opts: &SessionOptions,
    input: usize,
    output: usize,
    what_in: &str,
) -> Result<OnnxModel, OnnxError> {
    let model = OnnxModel::load(m, decl, field, opts)?;
    let mismatch = |f: &str, expected: String, found: usize| OnnxError::Mismatch {
        manifest: m.file.clone(),
        field: format!("{field}.{f}"),
        expected,
        found: format!("{found} values"),
        model: model.file().to_path_buf(),
    };
    if model.input_len() != input {
        return Err(mismatch(
            "inputs[0].shape",
            format!("{input} values ({what_in})"),
            model.input_len(),
        ));
    }
    if output != 0 && model.output_len() % output != 0 {
        return Err(mismatch(
            "outputs[0].shape",
            format!("a multiple of the action size {output}"),
            model.output_len(),
        ));
    }
    Ok(model)
}

impl OnnxPolicy {
    /// Loads the models a manifest names and checks every shape against the robot and the
    /// observation/action layout. ONNX Runtime must be initialised (`onnx::runtime`).
    pub fn load(
        manifest: Manifest,
        spec: &RobotSpec,
        opts: &SessionOptions,
    ) -> Result<OnnxPolicy, OnnxError> {
        let m = &manifest;
        check_kind_fits_robot(m, spec)?;
        let obs = ObservationBuilder::new(m, spec)?;
        let obs_len = obs.len();
        let a = m.action_len();
        let o = &m.decl.observation;
        let layout = format!(
            "the observation layout gives {} per frame × {} frames = {obs_len}",
            obs.frame_len(),
            o.history.length
        );
        let models = match (m.decl.kind, &m.decl.model, &m.decl.residual) {
            (PolicyKind::Residual, _, Some(r)) => {
                let base = load_model(m, &r.base, "residual.base", opts, obs_len, a, &layout)?;
                let horizon = base.output_len() / a;
                if r.execute_steps > horizon {
                    return Err(OnnxError::Mismatch {
                        manifest: m.file.clone(),
                        field: "residual.execute_steps".into(),
                        expected: format!("at most the base chunk's horizon {horizon}"),
                        found: r.execute_steps.to_string(),
                        model: base.file().to_path_buf(),
                    });
                }
                let residual = load_model(
                    m,
                    &r.residual,
                    "residual.residual",
                    opts,
                    obs_len + a,
                    a,
                    &format!("observation {obs_len} + base action {a}"),
                )?;
                if residual.output_len() != a {
                    return Err(OnnxError::Mismatch {
                        manifest: m.file.clone(),
                        field: "residual.residual.outputs[0].shape".into(),
                        expected: format!("{a} values (one action)"),
                        found: format!("{} values", residual.output_len()),
                        model: residual.file().to_path_buf(),
                    });
                }
                Models::Residual {
                    chunk: vec![0.0; base.output_len()],
                    base: Box::new(base),
                    residual,
                    scale: r.scale as f32,
                    execute_steps: r.execute_steps,
                    horizon,
                    step: 0,
                    residual_in: vec![0.0; obs_len + a],
                    residual_out: vec![0.0; a],
                }
            }
            (_, Some(decl), _) => {
                let model = load_model(m, decl, "model", opts, obs_len, a, &layout)?;
                if model.output_len() != a {
                    return Err(OnnxError::Mismatch {
                        manifest: m.file.clone(),
                        field: "model.outputs[0].shape".into(),
                        expected: format!(
                            "{a} values (the action size of a {:?} policy)",
                            m.action_space()
                        ),
                        found: format!("{} values", model.output_len()),
                        model: model.file().to_path_buf(),
                    });
                }
                Models::Single(model)
            }
            _ => return Err(m.invalid("model", "a model section", "nothing").into()),
        };
        let out = match m.action_space() {
            PolicyKind::Manipulation => ActionOut::Ee(EeMap {
                decl: m
                    .decl
                    .ee_action
                    .clone()
                    .ok_or_else(|| m.invalid("ee_action", "an ee_action section", "nothing"))?,
            }),
            _ => ActionOut::Joint(JointActionMap::new(m, spec)?),
        };
        let command = m.decl.command;
        Ok(OnnxPolicy {
            obs_buf: vec![0.0; obs_len],
            obs,
            models,
            out,
            last_action: vec![0.0; a],
            command,
            manifest,
        })
    }

    /// The manifest it was loaded from.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The kind of policy.
    pub fn kind(&self) -> PolicyKind {
        self.manifest.decl.kind
    }

    /// Execution providers of each model.
    pub fn providers(&self) -> Vec<ProviderReport> {
        match &self.models {
            Models::Single(m) => vec![m.providers.clone()],
            Models::Residual { base, residual, .. } => {
                vec![base.providers.clone(), residual.providers.clone()]
            }
        }
    }

    /// An empty target sized for this policy.
    pub fn new_target(&self, n_joints: usize) -> PolicyTarget {
        PolicyTarget::new(
            n_joints,
            self.last_action.len(),
            matches!(self.out, ActionOut::Ee(_)),
        )
    }

    /// Forgets history, the last action and any chunk in progress.
    pub fn reset(&mut self) {
        self.obs.reset();
        self.last_action.fill(0.0);
        if let Models::Residual { step, .. } = &mut self.models {
            *step = 0;
        }
    }

    /// The observation of the last [`Self::step`].
    pub fn observation(&self) -> &[f32] {
        &self.obs_buf
    }

    /// One policy tick: builds the observation from `state`, runs the model(s), writes the
    /// target into `out` (all fields but `seq`).
    pub fn step(&mut self, state: &RobotState, out: &mut PolicyTarget) -> Result<(), OnnxError> {
        self.step_with(state, out, None)
    }

    /// [`Self::step`], with a human's action (end-effector policies) replacing the policy's on
    /// the axes the human controls: the executed action is then the human's, and it is what
    /// the next observation's `last_action` sees.
    pub fn step_with(
        &mut self,
        state: &RobotState,
        out: &mut PolicyTarget,
        human: Option<&HumanAction>,
    ) -> Result<(), OnnxError> {
        let t0 = std::time::Instant::now();
        self.obs
            .build(state, &self.command, &self.last_action, &mut self.obs_buf);
        let a_len = self.last_action.len();
        match &mut self.models {
            Models::Single(m) => {
                m.run(&self.obs_buf, &mut out.action)?;
                out.base_action.copy_from_slice(&out.action);
            }
            Models::Residual {
                base,
                residual,
                scale,
                execute_steps,
                horizon,
                chunk,
                step,
                residual_in,
                residual_out,
            } => {
                if *step == 0 {
                    base.run(&self.obs_buf, chunk)?;
                }
                let k = (*step).min(*horizon - 1);
                out.base_action
                    .copy_from_slice(&chunk[k * a_len..(k + 1) * a_len]);
                let n = self.obs_buf.len();
                residual_in[..n].copy_from_slice(&self.obs_buf);
                residual_in[n..].copy_from_slice(&out.base_action);
                residual.run(residual_in, residual_out)?;
                for ((a, b), r) in out
                    .action
                    .iter_mut()
                    .zip(out.base_action.iter())
                    .zip(residual_out.iter())
                {
                    *a = b + *scale * r;
                }
                *step = (*step + 1) % *execute_steps;
            }
        }
        // The executed action is the clipped one, and it is what the next observation's
        // `last_action` sees (legged_gym, rl_sar). A non-finite action is passed on, not hidden:
        // the RT supervisor refuses it in the cycle it arrives and hands over to the fallback.
        if let ActionOut::Joint(map) = &self.out {
            map.clip(&mut out.action);
        }
        out.policy_action.copy_from_slice(&out.action);
        out.intervention = false;
        if let (Some(h), ActionOut::Ee(_)) = (human, &self.out) {
            for ((a, h), on) in out.action.iter_mut().zip(h.action).zip(h.axes) {
                if on {
                    *a = h;
                }
            }
            out.intervention = true;
        }
        self.last_action.copy_from_slice(&out.action);
        match &self.out {
            ActionOut::Joint(map) => {
                map.targets(&out.action, &mut out.joint_target_rad);
                out.kp.copy_from_slice(&map.kp_hw);
                out.kd.copy_from_slice(&map.kd_hw);
            }
            ActionOut::Ee(map) => {
                let ee = state.end_effector.unwrap_or_default();
                let a = |i: usize| (out.action[i] as f64).clamp(-1.0, 1.0);
                let d = &map.decl;
                let p = [
                    ee.position_m[0] + a(0) * d.translation_scale_m,
                    ee.position_m[1] + a(1) * d.translation_scale_m,
                    ee.position_m[2] + a(2) * d.translation_scale_m,
                ];
                let [x, y, z, w] = ee.orientation_xyzw;
                let current = UnitQuaternion::from_quaternion(Quaternion::new(w, x, y, z));
                let delta = UnitQuaternion::from_euler_angles(
                    a(3) * d.rotation_scale_rad,
                    a(4) * d.rotation_scale_rad,
                    a(5) * d.rotation_scale_rad,
                );
                let r = delta * current;
                out.ee = Some(EeTarget {
                    position_m: clip_to_box(p, d.workspace.min_m, d.workspace.max_m),
                    orientation_xyzw: [r.i, r.j, r.k, r.w],
                    gripper: a(6),
                });
                out.joint_target_rad
                    .copy_from_slice(&state.joints.position_rad);
            }
        }
        out.inference_ns = t0.elapsed().as_nanos() as u64;
        out.command = self.command;
        Ok(())
    }

    /// Runs the model(s) on an explicit observation (for tests and benchmarks): the raw action.
    pub fn infer(&mut self, observation: &[f32], action: &mut [f32]) -> Result<(), OnnxError> {
        match &mut self.models {
            Models::Single(m) => m.run(observation, action),
            Models::Residual {
                base,
                residual,
                scale,
                chunk,
                residual_in,
                residual_out,
                ..
            } => {
                base.run(observation, chunk)?;
                let a = action.len();
                let n = observation.len();
                residual_in[..n].copy_from_slice(observation);
                residual_in[n..].copy_from_slice(&chunk[..a]);
                residual.run(residual_in, residual_out)?;
                for i in 0..a {
                    action[i] = chunk[i] + *scale * residual_out[i];
                }
                Ok(())
            }
        }
    }
}
