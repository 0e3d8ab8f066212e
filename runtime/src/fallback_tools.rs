//! Making certified fallbacks: record the expert, fit under a Lipschitz bound, evaluate closed
//! loop under measurement noise, write ONNX + manifest (`reflex fallback fit`), and print a
//! model's certificate (`reflex certify`).

use std::path::Path;

use reflex_hardware::{JointCommand, Robot, RobotSpec, RobotState};
use reflex_policies::fallback::{CertifiedFallback, FallbackManifest};
use reflex_policies::fit::{fit_lipschitz_mlp, FitOptions, FitReport};
use reflex_policies::mlp::Mlp;
use reflex_policies::{Controller, Tick};
use serde::Serialize;

use crate::config::{joint_map_values, LoadedConfig};
use crate::record::{for_each_cycle, Demonstrations};
use crate::run::{build_controller, build_sim, simple_loop, RunError};

/// The expert's reference (standing) pose in hardware order.
pub fn reference_pose(cfg: &LoadedConfig, spec: &RobotSpec) -> Vec<f64> {
    joint_map_values(&cfg.config.controller.pose_rad, &spec.joint_names)
}

/// Records (x = [q − q_ref, dq], u = the torque the expert's command produces) from `skip_s`
/// on, over `episodes` seeds.
pub fn record_torques(
    cfg: &LoadedConfig,
    duration_s: f64,
    episodes: usize,
    skip_s: f64,
) -> Result<Demonstrations, RunError> {
    let spec = crate::run::model_spec(cfg)?;
    let reference = reference_pose(cfg, &spec);
    let n = spec.num_joints();
    let mut d = Demonstrations {
        obs_dim: 2 * n,
        act_dim: n,
        ..Default::default()
    };
    let hz = cfg.config.rates.control_hz;
    for_each_cycle(cfg, duration_s, episodes, |_, k, l| {
        if (k as f64) / hz < skip_s {
            return;
        }
        let (s, cmd) = (l.state(), l.command());
        let (q, dq) = (&s.joints.position_rad, &s.joints.velocity_rad_s);
        d.obs
            .extend(q.iter().zip(&reference).map(|(q, r)| (q - r) as f32));
        d.obs.extend(dq.iter().map(|v| *v as f32));
        for i in 0..n {
            d.act
                .push(spec.limits[i].clamp_effort(cmd.torque_nm(i, q[i], dq[i])) as f32);
        }
    })?;
    Ok(d)
}

/// Closed-loop behaviour of a fallback that takes over from the stand-up controller.
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

struct Sequence {
    first: Box<dyn Controller>,
    second: CertifiedFallback,
    switched: bool,
}

impl Controller for Sequence {
    fn reset(&mut self, s: &RobotState) {
        self.first.reset(s);
    }
    fn update(&mut self, t: &Tick, s: &RobotState, c: &mut JointCommand) {
        if !self.switched && self.first.phase() == "holding" {
            self.switched = true;
        }
        if self.switched {
            self.second.update(t, s, c)
        } else {
            self.first.update(t, s, c)
        }
    }
    fn phase(&self) -> &'static str {
        if self.switched {
            "fallback"
        } else {
            self.first.phase()
        }
    }
}

/// Runs the stand-up, hands over to `fallback` and measures it for `duration_s` with joint
/// position noise `noise_rad` (velocity noise 10× that, per second).
pub fn evaluate(
    cfg: &LoadedConfig,
    fallback: CertifiedFallback,
    noise_rad: f64,
    duration_s: f64,
) -> Result<ClosedLoop, RunError> {
    let mut c = cfg.clone();
    if let Some(sim) = c.config.sim.as_mut() {
        sim.noise.joint_position_rad = noise_rad;
        sim.noise.joint_velocity_rad_s = noise_rad * 10.0;
        sim.initial_pose_jitter_rad = 0.0;
    }
    c.config.faults.clear();
    // The fallback alone is measured: the supervisor only stops a robot that has fallen over.
    c.config.safety = crate::config::SafetySection {
        max_tilt_rad: 3.0,
        safe_stop_tilt_rad: 3.2,
        torque_saturation_ms: 1e4,
        sensor_timeout_ms: 1e4,
        sensor_lost_ms: 1e4,
        joint_limit_margin_rad: 1.0,
        ..Default::default()
    };
    let sim = build_sim(&c)?;
    let first = build_controller(&c, &sim)?;
    let seq = Sequence {
        first,
        second: fallback,
        switched: false,
    };
    let mut l = simple_loop(&c, Some(Box::new(seq)))?;
    l.start()?;
    let hz = c.config.rates.control_hz;
    let (mut sum, mut count, mut min_h, mut jitter2) = (0.0, 0usize, f64::INFINITY, 0.0);
    let mut prev: Option<Vec<f64>> = None;
    let total = ((duration_s + 2.0) * hz) as u64;
    for _ in 0..total {
        l.cycle();
        l.robot_mut().step(c.physics_decimation());
        if l.phase() == "fallback" {
            let h = l.robot().ground_truth().base_position_m[2];
            sum += h;
            count += 1;
            min_h = min_h.min(h);
            let tau = &l.command().effort_ff_nm;
            if let Some(p) = &prev {
                jitter2 +=
                    tau.iter().zip(p).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / tau.len() as f64;
            }
            prev = Some(tau.clone());
        }
    }
    Ok(ClosedLoop {
        position_noise_rad: noise_rad,
        mean_base_height_m: sum / count.max(1) as f64,
        min_base_height_m: min_h,
        torque_jitter_rms_nm: (jitter2 / count.max(1) as f64).sqrt(),
        fell: min_h < 0.2,
    })
}

/// Fits a fallback under `lipschitz` to recorded demonstrations.
pub fn fit(demos: &Demonstrations, lipschitz: f64, seed: u64) -> (Mlp, FitReport) {
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
    robot: &dyn Robot,
    reference: &[f64],
    mlp: &Mlp,
    lipschitz: f64,
    driver_kd: f64,
    provenance: &str,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("fallback.onnx"), mlp.to_onnx(provenance))?;
    let spec = robot.spec();
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
        format!("# Certified fallback written by `reflex fallback fit`.\n{yaml}"),
    )
}
