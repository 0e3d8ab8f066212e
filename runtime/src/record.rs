//! Recording expert demonstrations in the simulator (`reflex record`).
//!
//! The config's controller is the expert; the manifest says how a policy would see the robot
//! (observation layout) and act (joint action: target = default + action × scale). Each policy
//! tick yields one pair (observation, expert action in the policy's action space). Episodes
//! differ by seed (initial-pose jitter, sensor noise); the config's pushes apply to each.
//! Offline and in lockstep: this is a data tool, not the RT loop.

use std::io::Write;
use std::path::Path;

use reflex_policies::manifest::Manifest;
use reflex_policies::observation::{JointActionMap, ObservationBuilder};
use serde::Serialize;

use crate::config::LoadedConfig;
use crate::control_loop::ControlLoop;
use crate::run::{simple_loop, RunError};
use reflex_sim::SimRobot;

/// Recorded pairs, row-major.
#[derive(Debug, Clone, Default)]
pub struct Demonstrations {
    /// Observation width.
    pub obs_dim: usize,
    /// Action width.
    pub act_dim: usize,
    /// Observations, `rows × obs_dim`.
    pub obs: Vec<f32>,
    /// Expert actions, `rows × act_dim`.
    pub act: Vec<f32>,
}

impl Demonstrations {
    /// Number of pairs.
    pub fn rows(&self) -> usize {
        self.obs.len().checked_div(self.obs_dim).unwrap_or(0)
    }

    /// Writes `PATH.f32` (observations then actions, little-endian f32) and `PATH.json`
    /// (`{"rows", "obs_dim", "act_dim"}`) — what `numpy.fromfile` reads.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        #[derive(Serialize)]
        struct Header {
            rows: usize,
            obs_dim: usize,
            act_dim: usize,
        }
        let mut f = std::io::BufWriter::new(std::fs::File::create(path.with_extension("f32"))?);
        for v in self.obs.iter().chain(&self.act) {
            f.write_all(&v.to_le_bytes())?;
        }
        f.flush()?;
        let h = Header {
            rows: self.rows(),
            obs_dim: self.obs_dim,
            act_dim: self.act_dim,
        };
        std::fs::write(
            path.with_extension("json"),
            serde_json::to_string(&h).unwrap_or_default(),
        )
    }
}

/// Runs the config's controller for `episodes` episodes of `duration_s` (seeds seed, seed+1, …)
/// in lockstep, calling `on_cycle(episode, cycle, loop)` after every cycle's command (before its
/// physics). The expert's side of every recording.
pub fn for_each_cycle(
    cfg: &LoadedConfig,
    duration_s: f64,
    episodes: usize,
    mut on_cycle: impl FnMut(usize, u64, &ControlLoop<SimRobot>),
) -> Result<(), RunError> {
    for e in 0..episodes {
        let mut c = cfg.clone();
        if let Some(sim) = c.config.sim.as_mut() {
            sim.seed = sim.seed.wrapping_add(e as u64);
        }
        let mut l = simple_loop(&c, None)?;
        l.start()?;
        let cycles = (duration_s * c.config.rates.control_hz).round() as u64;
        for n in 0..cycles {
            l.cycle();
            on_cycle(e, n, &l);
            l.robot_mut().step(c.physics_decimation());
        }
    }
    Ok(())
}

/// Records `episodes` episodes of `duration_s` each, keeping the pairs from `skip_s` on (e.g. to
/// leave out a stand-up whose targets depend on time, not on the state). One pair per policy
/// tick: the observation in the manifest's layout and the expert's action in its action space.
pub fn record(
    cfg: &LoadedConfig,
    manifest: &Path,
    duration_s: f64,
    episodes: usize,
    skip_s: f64,
) -> Result<Demonstrations, RunError> {
    let spec = crate::run::model_spec(cfg)?;
    let m = Manifest::load(manifest, &spec.model, &spec.joint_names)?;
    let mut obs = ObservationBuilder::new(&m, &spec)?;
    let map = JointActionMap::new(&m, &spec)?;
    let mut demos = Demonstrations {
        obs_dim: obs.len(),
        act_dim: m.action_len(),
        ..Default::default()
    };
    let mut o = vec![0.0f32; obs.len()];
    let mut a = vec![0.0f32; m.action_len()];
    let (dec, hz) = (cfg.policy_decimation(), cfg.config.rates.control_hz);
    for_each_cycle(cfg, duration_s, episodes, |_, n, l| {
        if n == 0 {
            obs.reset();
            a.fill(0.0);
        }
        if n % dec == 0 {
            // The observation carries the previous expert action as `last_action`.
            obs.build(l.state(), &m.decl.command, &a, &mut o);
            map.action_from_targets(&l.command().position_rad, &mut a);
            if n as f64 / hz >= skip_s {
                demos.obs.extend_from_slice(&o);
                demos.act.extend_from_slice(&a);
            }
        }
    })?;
    Ok(demos)
}
