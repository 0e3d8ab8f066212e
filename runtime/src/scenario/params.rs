//! An episode's parameters: drawn from a generator seeded by the scenario's seed and the
//! episode's index alone, and the run config they make.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use reflex_validate::PerJoint;
use serde::{Deserialize, Serialize};

use super::{Interval, PushDirection, Scenario, Variant};
use crate::config::{LoadedConfig, SafetySection};
use crate::faults::Fault;

/// The parameters an episode was run with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpisodeParams {
    /// Simulator seed.
    pub seed: u64,
    /// Link mass scale.
    pub mass_scale: f64,
    /// Base payload (kg).
    pub payload_kg: f64,
    /// Ground friction.
    pub friction: f64,
    /// Motor strength.
    pub motor_strength: f64,
    /// Driver gain scale.
    pub gain_scale: f64,
    /// Largest |encoder offset| drawn (rad).
    pub max_joint_offset_rad: f64,
    /// Joint position noise (rad).
    pub joint_position_noise_rad: f64,
    /// Gyro noise (rad/s).
    pub gyro_noise_rad_s: f64,
    /// IMU latency (cycles).
    pub imu_latency_cycles: usize,
    /// Actuation delay (cycles).
    pub action_delay_cycles: usize,
    /// Rough ground: the highest tile step (m; 0 flat).
    #[serde(default)]
    pub rough_terrain_m: f64,
    /// The policy's simulated inference time (cycles).
    #[serde(default)]
    pub policy_latency_cycles: u64,
    /// Joint velocity noise (rad/s).
    #[serde(default)]
    pub joint_velocity_noise_rad_s: f64,
    /// The push: time (s), force (N, world frame), magnitude (N).
    pub push: Option<(f64, [f64; 3], f64)>,
    /// The fault handed to this episode from `fault_cycle`, by kind and time.
    pub fault: Option<(String, f64)>,
}

fn draw(rng: &mut ChaCha8Rng, i: Option<Interval>) -> Option<f64> {
    i.map(|[a, b]| if a == b { a } else { rng.random_range(a..=b) })
}

/// The parameters of episode `k` (a function of the scenario's seed and `k` only).
pub fn params(s: &Scenario, k: u64) -> EpisodeParams {
    let sp = &s.spec;
    let mut rng = ChaCha8Rng::seed_from_u64(sp.seed ^ k.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let r = &sp.randomize;
    let sim = s.base.config.sim.as_ref();
    let base = |f: fn(&crate::config::SimSection) -> f64, d: f64| sim.map_or(d, f);
    let mass_scale = draw(&mut rng, r.mass_scale).unwrap_or(base(|s| s.mass_scale, 1.0));
    let payload_kg = draw(&mut rng, r.payload_kg).unwrap_or(base(|s| s.payload_kg, 0.0));
    let friction = draw(&mut rng, r.friction).unwrap_or(base(|s| s.ground_friction, 1.0));
    let motor_strength =
        draw(&mut rng, r.motor_strength).unwrap_or(base(|s| s.motor_strength, 1.0));
    let gain_scale = draw(&mut rng, r.gain_scale).unwrap_or(base(|s| s.gain_scale, 1.0));
    let max_joint_offset_rad = r.joint_offset_rad.unwrap_or(0.0);
    let joint_position_noise_rad = draw(&mut rng, r.joint_position_noise_rad)
        .unwrap_or(base(|s| s.noise.joint_position_rad, 0.0));
    let gyro_noise_rad_s =
        draw(&mut rng, r.gyro_noise_rad_s).unwrap_or(base(|s| s.noise.gyro_rad_s, 0.0));
    let imu_latency_cycles = draw(&mut rng, r.imu_latency_cycles)
        .map_or(sim.map_or(0, |s| s.imu_latency_cycles), |v| {
            v.round() as usize
        });
    let action_delay_cycles = draw(&mut rng, r.action_delay_cycles)
        .map_or(sim.map_or(0, |s| s.action_delay_cycles), |v| {
            v.round() as usize
        });
    let push = sp.push.as_ref().map(|p| {
        let at = draw(&mut rng, Some(p.at_s)).unwrap_or(0.0);
        let mag = draw(&mut rng, Some(p.force_n)).unwrap_or(0.0);
        let angle = match p.direction {
            PushDirection::Horizontal => rng.random_range(0.0..std::f64::consts::TAU),
            PushDirection::Lateral => {
                if rng.random_bool(0.5) {
                    std::f64::consts::FRAC_PI_2
                } else {
                    -std::f64::consts::FRAC_PI_2
                }
            }
            PushDirection::Longitudinal => {
                if rng.random_bool(0.5) {
                    0.0
                } else {
                    std::f64::consts::PI
                }
            }
        };
        (at, [mag * angle.cos(), mag * angle.sin(), 0.0], mag)
    });
    let fault = (!sp.fault_cycle.is_empty()).then(|| {
        let f = &sp.fault_cycle[(k % sp.fault_cycle.len() as u64) as usize];
        (f.kind().to_string(), f.at_s())
    });
    // Drawn last, so that adding it left every other draw of existing files as it was.
    let rough_terrain_m =
        draw(&mut rng, r.rough_terrain_m).unwrap_or(base(|s| s.rough_terrain_m, 0.0));
    let policy_latency_cycles = draw(&mut rng, r.policy_latency_cycles)
        .map_or(sim.map_or(0, |s| s.policy_latency_cycles), |v| {
            v.round() as u64
        });
    let joint_velocity_noise_rad_s = draw(&mut rng, r.joint_velocity_noise_rad_s)
        .unwrap_or(base(|s| s.noise.joint_velocity_rad_s, 0.0));
    EpisodeParams {
        seed: sp.seed.wrapping_add(k),
        rough_terrain_m,
        policy_latency_cycles,
        joint_velocity_noise_rad_s,
        mass_scale,
        payload_kg,
        friction,
        motor_strength,
        gain_scale,
        max_joint_offset_rad,
        joint_position_noise_rad,
        gyro_noise_rad_s,
        imu_latency_cycles,
        action_delay_cycles,
        push,
        fault,
    }
}

/// The run config of episode `k` in `variant`.
pub fn episode_config(s: &Scenario, k: u64, p: &EpisodeParams, variant: Variant) -> LoadedConfig {
    let mut cfg = s.base.clone();
    let c = &mut cfg.config;
    let spec = &s.spec;
    if let Some(sim) = c.sim.as_mut() {
        sim.seed = p.seed;
        sim.mass_scale = p.mass_scale;
        sim.payload_kg = p.payload_kg;
        sim.ground_friction = p.friction;
        sim.motor_strength = p.motor_strength;
        sim.gain_scale = p.gain_scale;
        sim.noise.joint_position_rad = p.joint_position_noise_rad;
        sim.noise.gyro_rad_s = p.gyro_noise_rad_s;
        sim.noise.joint_velocity_rad_s = p.joint_velocity_noise_rad_s;
        sim.imu_latency_cycles = p.imu_latency_cycles;
        sim.action_delay_cycles = p.action_delay_cycles;
        sim.rough_terrain_m = p.rough_terrain_m;
        sim.policy_latency_cycles = p.policy_latency_cycles;
        if p.max_joint_offset_rad > 0.0 {
            // A stream of their own, from the episode's seed: the offsets are a function of the
            // episode alone, like every other parameter.
            let mut rng = ChaCha8Rng::seed_from_u64(p.seed ^ 0x000F_F5E7);
            let names = s.base.robot().joint_names();
            sim.joint_offset_rad = Some(PerJoint::ByName(
                names
                    .into_iter()
                    .map(|n| {
                        let o = rng.random_range(-p.max_joint_offset_rad..=p.max_joint_offset_rad);
                        (n, o)
                    })
                    .collect(),
            ));
        }
    }
    if let Some(pol) = c.policy.as_mut() {
        if let Some(cmd) = spec.command {
            pol.command = Some(cmd);
        }
        if !spec.command_schedule.is_empty() {
            pol.command_schedule = spec.command_schedule.clone();
        }
    }
    c.teleop = None;
    c.faults.extend(spec.faults.iter().cloned());
    if !spec.fault_cycle.is_empty() {
        c.faults
            .push(spec.fault_cycle[(k % spec.fault_cycle.len() as u64) as usize].clone());
    }
    if let Some((at_s, force_n, _)) = p.push {
        if let Some(push) = &spec.push {
            c.faults.push(Fault::Push {
                at_s,
                duration_s: push.duration_s,
                force_n,
            });
        }
    }
    if variant == Variant::PolicyAlone {
        // No safety layer: the supervisor never hands over; the policy runs to the end.
        c.safety = SafetySection {
            max_tilt_rad: 3.2,
            safe_stop_tilt_rad: 3.2,
            torque_saturation_ms: 10_000.0,
            sensor_timeout_ms: 10_000.0,
            sensor_lost_ms: 10_000.0,
            joint_limit_margin_rad: 1.0,
            target_limit_margin_rad: 3.0,
            max_late_periods: 1000,
            ..c.safety.clone()
        };
        c.faults.retain(|f| {
            !matches!(
                f,
                Fault::FallbackDrill { .. } | Fault::NonFiniteAction { .. }
            )
        });
    }
    cfg
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn go2_walk() -> Scenario {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/ci/go2_walk.yaml");
        crate::scenario::load(&p).expect("the CI scenario loads")
    }

    #[test]
    fn an_episode_draws_the_same_parameters_from_its_index_alone_within_the_ranges() {
        let s = go2_walk();
        let all: Vec<EpisodeParams> = (0..200).map(|k| params(&s, k)).collect();
        // Drawn again in another order: the same, bit for bit.
        for k in (0..200).rev() {
            assert_eq!(params(&s, k), all[k as usize]);
        }
        assert_ne!(all[0], all[1]);
        let r = &s.spec.randomize;
        let within = |v: f64, i: Option<Interval>| {
            let [lo, hi] = i.unwrap();
            (lo..=hi).contains(&v)
        };
        for p in &all {
            assert!(within(p.mass_scale, r.mass_scale), "{p:?}");
            assert!(within(p.payload_kg, r.payload_kg), "{p:?}");
            assert!(within(p.friction, r.friction), "{p:?}");
            assert!(within(p.motor_strength, r.motor_strength), "{p:?}");
            assert!(within(p.gain_scale, r.gain_scale), "{p:?}");
            assert!(
                p.imu_latency_cycles <= 2 && p.action_delay_cycles <= 4,
                "{p:?}"
            );
            let (at, f, mag) = p.push.unwrap();
            assert!(
                (4.0..=5.5).contains(&at) && (0.0..=160.0).contains(&mag),
                "{p:?}"
            );
            assert!(
                ((f[0].hypot(f[1])) - mag).abs() < 1e-9 && f[2] == 0.0,
                "{p:?}"
            );
        }
        // The draws cover their ranges (not one value repeated).
        let delays: std::collections::BTreeSet<usize> =
            all.iter().map(|p| p.action_delay_cycles).collect();
        assert_eq!(delays.len(), 5, "{delays:?}");
    }
}
