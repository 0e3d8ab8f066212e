//! Making certified fallbacks: record the expert (the run driver with the config's faults,
//! pushes included), fit under a Lipschitz bound, evaluate closed loop under measurement noise
//! and disturbances, write ONNX + manifest (`reflex fallback-fit`).

use std::path::Path;

use reflex_hardware::RobotSpec;
use reflex_policies::fallback::{CertifiedFallback, FallbackManifest};
use reflex_policies::fit::{fit_lipschitz_mlp, FitOptions, FitReport};
use reflex_policies::mlp::Mlp;
use reflex_validate::PerJoint;
use serde::Serialize;

use crate::config::{LoadedConfig, SafetySection};
use crate::driver::report::RunReport;
use crate::driver::{self, CycleView, Observer, RunError, RunOptions};
use crate::faults::Fault;
use crate::supervisor::Mode;

/// The expert's reference (standing) pose in hardware order.
pub fn reference_pose(cfg: &LoadedConfig, spec: &RobotSpec) -> Vec<f64> {
    PerJoint::ByName(cfg.config.controller.pose_rad.clone()).resolve(&spec.joint_names)
}

/// Closed-loop behaviour of a fallback that takes over from the start-up controller.
#[derive(Debug, Clone, Serialize)]
pub struct ClosedLoop {
    /// Joint position noise the sensors had (rad, std).
    pub position_noise_rad: f64,
    /// Mean base height under the fallback (m).
    pub mean_base_height_m: f64,
    /// Lowest base height under the fallback (m).
    pub min_base_height_m: f64,
    /// RMS of the cycle-to-cycle change of commanded torque (N·m): noise passed to the motors.
    pub torque_jitter_rms_nm: f64,
    /// Whether the base dropped below 0.2 m.
    pub fell: bool,
}

/// The config a fallback is evaluated with: sensor noise `noise_rad` on joint positions (10×
/// that per second on velocities), no initial jitter, a fallback drill as soon as the start-up
/// controller is done, then `disturbances`; the supervisor only stops a robot that has fallen
/// over, so the fallback alone is measured.
pub fn evaluation_config(
    cfg: &LoadedConfig,
    noise_rad: f64,
    disturbances: &[Fault],
) -> LoadedConfig {
    let mut c = cfg.clone();
    if let Some(sim) = c.config.sim.as_mut() {
        sim.noise.joint_position_rad = noise_rad;
        sim.noise.joint_velocity_rad_s = noise_rad * 10.0;
        sim.initial_pose_jitter_rad = 0.0;
    }
    let ready_s = c.config.controller.duration_s.unwrap_or(0.0);
    c.config.faults = vec![Fault::FallbackDrill {
        at_s: ready_s + 2.0 / c.config.rates.policy_hz,
    }];
    c.config.faults.extend_from_slice(disturbances);
    c.config.safety = SafetySection {
        max_tilt_rad: 3.0,
        safe_stop_tilt_rad: 3.2,
        torque_saturation_ms: 1e4,
        sensor_timeout_ms: 1e4,
        sensor_lost_ms: 1e4,
        joint_limit_margin_rad: 1.0,
        target_limit_margin_rad: 3.0,
        ..Default::default()
    };
    c
}

/// Measures the robot while the fallback commands.
#[derive(Default)]
struct FallbackProbe {
    sum_h: f64,
    count: usize,
    min_h: f64,
    jitter2: f64,
    prev: Vec<f64>,
}

impl Observer for FallbackProbe {
    fn on_cycle(&mut self, v: &CycleView) {
        if v.mode != Mode::Fallback {
            return;
        }
        let Some(gt) = v.ground_truth else { return };
        let h = gt.base_position_m[2];
        self.sum_h += h;
        self.count += 1;
        self.min_h = self.min_h.min(h);
        let tau = &v.command.effort_ff_nm;
        if self.prev.len() == tau.len() {
            self.jitter2 += tau
                .iter()
                .zip(&self.prev)
                .map(|(a, b)| (a - b).powi(2))
                .sum::<f64>()
                / tau.len() as f64;
            self.prev.copy_from_slice(tau);
        } else {
            self.prev = tau.clone();
        }
    }
}

/// Runs the stand-up, hands over to `fallback` in a drill and measures it for `duration_s` with
/// joint position noise `noise_rad`, under `disturbances` (e.g. pushes).
pub fn evaluate(
    cfg: &LoadedConfig,
    fallback: CertifiedFallback,
    noise_rad: f64,
    duration_s: f64,
    disturbances: &[Fault],
) -> Result<(ClosedLoop, RunReport), RunError> {
    let c = evaluation_config(cfg, noise_rad, disturbances);
    let mut probe = FallbackProbe {
        min_h: f64::INFINITY,
        ..Default::default()
    };
    let ready_s = c.config.controller.duration_s.unwrap_or(0.0);
    let report = driver::run(
        &c,
        RunOptions {
            duration_s: Some(ready_s + duration_s),
            observers: vec![&mut probe],
            fallback: Some(fallback),
            ..Default::default()
        },
    )?;
    let n = probe.count.max(1) as f64;
    Ok((
        ClosedLoop {
            position_noise_rad: noise_rad,
            mean_base_height_m: probe.sum_h / n,
            min_base_height_m: probe.min_h,
            torque_jitter_rms_nm: (probe.jitter2 / n).sqrt(),
            fell: probe.min_h < 0.2,
        },
        report,
    ))
}

/// Which controller holds the robot through a push.
pub enum Holder {
    /// The config's start-up controller (the stand controller), on its own.
    StartUp,
    /// The certified fallback, handed over to in a drill before the push.
    Fallback(Box<CertifiedFallback>),
}

/// Whether the robot stood through one push.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PushOutcome {
    /// The force (world frame, N).
    pub force_n: [f64; 3],
    /// Lowest base height from the push on (m).
    pub min_base_height_m: f64,
    /// Largest |roll| or |pitch| from the push on (rad).
    pub max_tilt_rad: f64,
    /// Stood: never below 0.2 m, never tilted beyond 0.8 rad.
    pub survived: bool,
}

/// Measures the base from the push on, in every mode.
struct PushProbe {
    from_s: f64,
    min_h: f64,
    max_tilt: f64,
}

impl Observer for PushProbe {
    fn on_cycle(&mut self, v: &CycleView) {
        let Some(gt) = v.ground_truth else { return };
        if v.time_s < self.from_s {
            return;
        }
        self.min_h = self.min_h.min(gt.base_position_m[2]);
        let (r, p) = reflex_hardware::roll_pitch_rad(gt.base_orientation_xyzw);
        self.max_tilt = self.max_tilt.max(r.abs().max(p.abs()));
    }
}

/// Stands the robot up, lets `holder` hold it, pushes the base with `force_n` for `push_s` one
/// second after the stand-up, and watches it for 3 s more (no sensor noise; the supervisor only
/// stops a robot that has fallen over, as in [`evaluation_config`]).
pub fn push_survival(
    cfg: &LoadedConfig,
    holder: Holder,
    force_n: [f64; 3],
    push_s: f64,
) -> Result<PushOutcome, RunError> {
    let ready_s = cfg.config.controller.duration_s.unwrap_or(0.0);
    let at_s = ready_s + 1.0;
    let push = Fault::Push {
        at_s,
        duration_s: push_s,
        force_n,
    };
    let mut c = evaluation_config(cfg, 0.0, &[push]);
    // The start-up controller alone: no policy takes over from it.
    c.config.policy = None;
    c.config.teleop = None;
    let fallback = match holder {
        Holder::StartUp => {
            c.config
                .faults
                .retain(|f| !matches!(f, Fault::FallbackDrill { .. }));
            None
        }
        Holder::Fallback(fb) => Some(*fb),
    };
    let mut probe = PushProbe {
        from_s: at_s,
        min_h: f64::INFINITY,
        max_tilt: 0.0,
    };
    driver::run(
        &c,
        RunOptions {
            duration_s: Some(at_s + push_s + 3.0),
            observers: vec![&mut probe],
            fallback,
            ..Default::default()
        },
    )?;
    Ok(PushOutcome {
        force_n,
        min_base_height_m: probe.min_h,
        max_tilt_rad: probe.max_tilt,
        survived: probe.min_h >= 0.2 && probe.max_tilt <= 0.8,
    })
}

/// The largest push along `direction` (unit vector) that `holder` keeps the robot standing
/// through: forces from 10 N up in steps of 10 N to `max_force_n`, stopping at the first fall.
/// Returns the force and whether every force tried was survived (the limit lies beyond).
pub fn largest_push(
    cfg: &LoadedConfig,
    holder: &dyn Fn() -> Result<Holder, RunError>,
    direction: [f64; 3],
    max_force_n: f64,
) -> Result<(f64, bool), RunError> {
    let mut largest = 0.0;
    let mut f = 10.0;
    while f <= max_force_n + 1e-9 {
        let force = direction.map(|d| d * f);
        if !push_survival(cfg, holder()?, force, 0.2)?.survived {
            return Ok((largest, false));
        }
        largest = f;
        f += 10.0;
    }
    Ok((largest, true))
}

/// Fits a fallback under `lipschitz` to recorded demonstrations.
pub fn fit(demos: &crate::record::Demonstrations, lipschitz: f64, seed: u64) -> (Mlp, FitReport) {
    let opts = FitOptions {
        lipschitz,
        seed,
        ..FitOptions::default()
    };
    fit_lipschitz_mlp(&demos.obs, &demos.act, demos.obs_dim, demos.act_dim, &opts)
}

/// Writes `DIR/fallback.onnx` and `DIR/fallback.yaml` (declared bound = `lipschitz`).
pub fn write(
    dir: &Path,
    spec: &RobotSpec,
    reference: &[f64],
    mlp: &Mlp,
    lipschitz: f64,
    driver_kd: f64,
    provenance: &str,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("fallback.onnx"), mlp.to_onnx(provenance))?;
    let m = FallbackManifest {
        kind: "fallback".into(),
        robot: spec.model.clone(),
        model: "fallback.onnx".into(),
        lipschitz_bound: lipschitz,
        certified_bound: Some(mlp.lipschitz_certificate().0),
        reference_pose_rad: spec
            .joint_names
            .iter()
            .cloned()
            .zip(reference.iter().copied())
            .collect(),
        driver_kd,
        provenance: provenance.into(),
    };
    let yaml = serde_norway::to_string(&m).map_err(std::io::Error::other)?;
    std::fs::write(
        dir.join("fallback.yaml"),
        format!("# Certified fallback written by `reflex fallback-fit`.\n{yaml}"),
    )
}
