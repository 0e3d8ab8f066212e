//! The certified fallback: a Lipschitz-bounded MLP state-feedback controller that runs in pure
//! Rust on the RT thread (no ONNX Runtime, no allocation, bounded time).
//!
//! Its manifest declares `lipschitz_bound`; at load the runtime computes a sound upper bound of
//! the model's ℓ2 Lipschitz constant (normalisation included, see [`Mlp::lipschitz_certificate`])
//! and refuses a model whose bound exceeds the declared one.
//!
//! Control law: features x = [q − q_ref, dq] (hardware order, rad and rad/s) → u = MLP(x), sent
//! as feed-forward torque (N·m); the driver adds `driver_kd` damping.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use reflex_hardware::{JointCommand, RobotSpec, RobotState};
use reflex_validate::{load_yaml, Checker, FileError, FileKind, JointSet, PerJoint, Range};
use serde::{Deserialize, Serialize};

use crate::mlp::{LayerBound, Mlp, MlpError};
use crate::{command_is_finite, ControlFault, Controller, Phase, Tick};

/// The fallback manifest (YAML beside the .onnx).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FallbackManifest {
    /// Always `fallback`.
    pub kind: String,
    /// Robot model it was trained for.
    pub robot: String,
    /// The MLP (ONNX), relative to the manifest.
    pub model: PathBuf,
    /// Declared ℓ2 Lipschitz bound of the whole map x → u (N·m per unit of ‖x‖).
    pub lipschitz_bound: f64,
    /// The certificate computed when the model was written (informative; re-checked at load).
    #[serde(default)]
    pub certified_bound: Option<f64>,
    /// Reference pose q_ref (rad) per joint name.
    pub reference_pose_rad: BTreeMap<String, f64>,
    /// Damping the driver adds (N·m·s/rad).
    #[serde(default)]
    pub driver_kd: f64,
    /// How the model was made (free text).
    #[serde(default)]
    pub provenance: String,
}

/// Why a fallback was refused at load.
#[derive(Debug, thiserror::Error)]
pub enum FallbackError {
    /// The manifest could not be read, parsed, or holds a bad value.
    #[error(transparent)]
    File(#[from] FileError),
    /// The model does not fit the robot.
    #[error("{file}: {message}")]
    Manifest {
        /// Manifest path.
        file: PathBuf,
        /// What failed.
        message: String,
    },
    /// The model was refused by the MLP loader.
    #[error(transparent)]
    Model(#[from] MlpError),
    /// The computed certificate exceeds the declared bound.
    #[error("{file}: field `lipschitz_bound`: expected a bound ≥ the certificate computed from the model {model} ({computed:.6}; per layer: {layers}), found {declared}")]
    Certificate {
        /// Manifest path.
        file: PathBuf,
        /// Model path.
        model: PathBuf,
        /// Computed bound.
        computed: f64,
        /// Declared bound.
        declared: f64,
        /// Per-layer factors.
        layers: String,
    },
}

/// A loaded, certified fallback controller.
pub struct CertifiedFallback {
    mlp: Mlp,
    reference_hw: Vec<f64>,
    driver_kd: f64,
    x: Vec<f32>,
    u: Vec<f32>,
    /// The computed Lipschitz bound.
    pub certified_bound: f64,
    /// Per-layer factors of the bound.
    pub layers: Vec<LayerBound>,
    /// The manifest's declared bound.
    pub declared_bound: f64,
}

impl CertifiedFallback {
    /// Loads the manifest and model, checks the joints and shapes against `spec`, and certifies
    /// the Lipschitz bound.
    pub fn load(manifest: &Path, spec: &RobotSpec) -> Result<Self, FallbackError> {
        let m: FallbackManifest = load_yaml(manifest, FileKind::FallbackManifest)?;
        let mut c = Checker::new(manifest);
        if m.kind != "fallback" {
            c.error("kind", "`fallback`", format!("`{}`", m.kind));
        }
        if m.robot != spec.model {
            c.error(
                "robot",
                format!("`{}`", spec.model),
                format!("`{}`", m.robot),
            );
        }
        c.range(
            "lipschitz_bound",
            m.lipschitz_bound,
            "a bound",
            Range::above(0.0),
            "",
        );
        c.range(
            "driver_kd",
            m.driver_kd,
            "a damping",
            Range::closed(0.0, 100.0),
            "N·m·s/rad",
        );
        let joints = JointSet {
            names: &spec.joint_names,
            described_as: &format!("a joint of `{}`", spec.model),
        };
        c.joint_map(
            "reference_pose_rad",
            &m.reference_pose_rad,
            joints,
            "an angle",
            Range::finite(),
            "rad",
        );
        c.within_joint_limits("reference_pose_rad", &m.reference_pose_rad, spec);
        c.finish()?;
        let reference_hw =
            PerJoint::ByName(m.reference_pose_rad.clone()).resolve(&spec.joint_names);
        let model = manifest.parent().unwrap_or(Path::new(".")).join(&m.model);
        let mlp = Mlp::load(&model)?;
        Self::certify(
            mlp,
            reference_hw,
            m.driver_kd,
            m.lipschitz_bound,
            (manifest.to_path_buf(), model),
        )
    }

    /// A fallback from an MLP in memory (e.g. one just fitted): same checks as [`Self::load`].
    pub fn from_mlp(
        mlp: Mlp,
        reference_hw: Vec<f64>,
        driver_kd: f64,
        declared_bound: f64,
    ) -> Result<Self, FallbackError> {
        Self::certify(
            mlp,
            reference_hw,
            driver_kd,
            declared_bound,
            (PathBuf::from("<memory>"), PathBuf::from("<memory>")),
        )
    }

    /// Checks the shapes and the certificate; `files` (manifest, model) name them in errors.
    fn certify(
        mlp: Mlp,
        reference_hw: Vec<f64>,
        driver_kd: f64,
        declared_bound: f64,
        files: (PathBuf, PathBuf),
    ) -> Result<Self, FallbackError> {
        let (file, model) = files;
        let n = reference_hw.len();
        let (bound, layers) = mlp.lipschitz_certificate();
        if mlp.inputs() != 2 * n || mlp.outputs() != n {
            return Err(FallbackError::Manifest {
                file: model,
                message: format!(
                    "expected {} inputs ([q − q_ref, dq]) and {n} outputs (torques), found {} and {}",
                    2 * n,
                    mlp.inputs(),
                    mlp.outputs()
                ),
            });
        }
        if bound > declared_bound {
            return Err(FallbackError::Certificate {
                file,
                model,
                computed: bound,
                declared: declared_bound,
                layers: layers
                    .iter()
                    .map(|l| format!("{} {:.4}", l.layer, l.bound))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        Ok(Self {
            x: vec![0.0; 2 * n],
            u: vec![0.0; n],
            mlp,
            reference_hw,
            driver_kd,
            certified_bound: bound,
            layers,
            declared_bound,
        })
    }

    /// The MLP (for tests and benchmarks).
    pub fn mlp_mut(&mut self) -> &mut Mlp {
        &mut self.mlp
    }

    /// The reference pose in hardware order.
    pub fn reference_pose(&self) -> &[f64] {
        &self.reference_hw
    }
}

impl Controller for CertifiedFallback {
    fn reset(&mut self, _state: &RobotState) {}

    fn update(
        &mut self,
        _tick: &Tick,
        state: &RobotState,
        cmd: &mut JointCommand,
    ) -> Result<(), ControlFault> {
        let n = self.reference_hw.len();
        for i in 0..n {
            self.x[i] = (state.joints.position_rad[i] - self.reference_hw[i]) as f32;
            self.x[n + i] = state.joints.velocity_rad_s[i] as f32;
        }
        // Sizes were checked at load: run cannot fail.
        let _ = self.mlp.run(&self.x, &mut self.u);
        for i in 0..n {
            cmd.effort_ff_nm[i] = self.u[i] as f64;
        }
        cmd.position_rad.copy_from_slice(&self.reference_hw);
        cmd.velocity_rad_s.fill(0.0);
        cmd.kp.fill(0.0);
        cmd.kd.fill(self.driver_kd);
        if command_is_finite(cmd) {
            Ok(())
        } else {
            Err(ControlFault::NonFinite)
        }
    }

    fn phase(&self) -> Phase {
        Phase::Fallback
    }
}
