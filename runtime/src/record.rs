//! Recording expert demonstrations in the simulator (`reflex record`, `reflex fallback-fit`).
//!
//! The config's controller is the expert, driven by the one run driver with the config's fault
//! schedule (pushes included); a recorder observes each cycle. For behaviour cloning the
//! manifest says how a policy would see the robot (observation layout) and act (joint action:
//! target = default + action × scale): one pair per policy tick. Episodes differ by seed
//! (initial-pose jitter, sensor noise). Only cycles the expert commanded are kept.

use std::io::Write;
use std::path::Path;

use reflex_hardware::RobotSpec;
use reflex_policies::manifest::Manifest;
use reflex_policies::observation::{JointActionMap, ObservationBuilder};
use serde::Serialize;

use crate::assemble;
use crate::config::LoadedConfig;
use crate::driver::report::RunReport;
use crate::driver::{self, CycleView, Observer, RunError, RunOptions};
use crate::supervisor::Mode;

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

/// The config with its seed advanced by `episode` (each episode a different draw).
pub fn episode_config(cfg: &LoadedConfig, episode: usize) -> LoadedConfig {
    let mut c = cfg.clone();
    if let Some(sim) = c.config.sim.as_mut() {
        sim.seed = sim.seed.wrapping_add(episode as u64);
    }
    c
}

/// Runs `episodes` episodes of `duration_s` of the config's loop, each observed by `observer`
/// (told the episode first). Returns each episode's run report.
pub fn episodes<O: Observer>(
    cfg: &LoadedConfig,
    duration_s: f64,
    episodes: usize,
    observer: &mut O,
    mut begin: impl FnMut(&mut O, usize),
) -> Result<Vec<RunReport>, RunError> {
    let mut reports = Vec::with_capacity(episodes);
    for e in 0..episodes {
        begin(observer, e);
        let c = episode_config(cfg, e);
        reports.push(driver::run(
            &c,
            RunOptions {
                duration_s: Some(duration_s),
                observers: vec![observer],
                ..Default::default()
            },
        )?);
    }
    Ok(reports)
}

/// Behaviour-cloning pairs: the observation in the manifest's layout and the expert's action in
/// its action space, once per policy tick from `skip_s` on.
struct BcRecorder<'a> {
    manifest: &'a Manifest,
    obs: ObservationBuilder,
    map: JointActionMap,
    o: Vec<f32>,
    a: Vec<f32>,
    decimation: u64,
    skip_s: f64,
    demos: Demonstrations,
}

impl Observer for BcRecorder<'_> {
    fn on_cycle(&mut self, v: &CycleView) {
        if v.cycle == 0 {
            self.obs.reset();
            self.a.fill(0.0);
        }
        if !v.cycle.is_multiple_of(self.decimation) {
            return;
        }
        // The observation carries the previous expert action as `last_action`.
        self.obs
            .build(v.state, &self.manifest.decl.command, &self.a, &mut self.o);
        self.map
            .action_from_targets(&v.command.position_rad, &mut self.a);
        if v.time_s >= self.skip_s && v.mode == Mode::Policy {
            self.demos.obs.extend_from_slice(&self.o);
            self.demos.act.extend_from_slice(&self.a);
        }
    }
}

/// Records `episodes` episodes of `duration_s` each (seeds seed, seed+1, …), keeping the pairs
/// from `skip_s` on (e.g. to leave out a stand-up whose targets depend on time, not on the
/// state). Returns the pairs and each episode's report.
pub fn record(
    cfg: &LoadedConfig,
    manifest: &Path,
    duration_s: f64,
    episodes: usize,
    skip_s: f64,
) -> Result<(Demonstrations, Vec<RunReport>), RunError> {
    let spec = assemble::robot_spec(cfg)?;
    let m = Manifest::load(manifest, &spec)?;
    let obs = ObservationBuilder::new(&m, &spec)?;
    let map = JointActionMap::new(&m, &spec)?;
    let mut rec = BcRecorder {
        o: vec![0.0; obs.len()],
        a: vec![0.0; m.action_len()],
        demos: Demonstrations {
            obs_dim: obs.len(),
            act_dim: m.action_len(),
            ..Default::default()
        },
        manifest: &m,
        obs,
        map,
        decimation: cfg.policy_decimation(),
        skip_s,
    };
    let reports = self::episodes(cfg, duration_s, episodes, &mut rec, |_, _| {})?;
    Ok((rec.demos, reports))
}

/// (x = [q − q_ref, dq], u = the torque the expert's command produces) every control cycle
/// from `skip_s` on: what a certified fallback imitates.
struct TorqueRecorder {
    spec: RobotSpec,
    reference: Vec<f64>,
    driver_kd: f64,
    skip_s: f64,
    demos: Demonstrations,
}

impl Observer for TorqueRecorder {
    fn on_cycle(&mut self, v: &CycleView) {
        if v.time_s < self.skip_s || v.mode != Mode::Policy {
            return;
        }
        let (q, dq) = (&v.state.joints.position_rad, &v.state.joints.velocity_rad_s);
        let d = &mut self.demos;
        d.obs
            .extend(q.iter().zip(&self.reference).map(|(q, r)| (q - r) as f32));
        d.obs.extend(dq.iter().map(|v| *v as f32));
        for (i, lim) in self.spec.limits.iter().enumerate() {
            // What the fallback must add to the motor driver's own damping to match the expert.
            let tau = lim.clamp_effort(v.command.torque_nm(i, q[i], dq[i]));
            d.act.push((tau + self.driver_kd * dq[i]) as f32);
        }
    }
}

/// Records the expert's torques around `reference` (hardware order) from `skip_s` on, over
/// `episodes` seeds, less the damping `driver_kd` the motor driver will add under the fallback
/// (τ_expert + driver_kd·dq: the fallback's feed-forward that reproduces the expert). Returns the
/// pairs and each episode's report.
pub fn record_torques(
    cfg: &LoadedConfig,
    reference: &[f64],
    driver_kd: f64,
    duration_s: f64,
    episodes: usize,
    skip_s: f64,
) -> Result<(Demonstrations, Vec<RunReport>), RunError> {
    let spec = assemble::robot_spec(cfg)?;
    let n = spec.num_joints();
    let mut rec = TorqueRecorder {
        spec,
        reference: reference.to_vec(),
        driver_kd,
        skip_s,
        demos: Demonstrations {
            obs_dim: 2 * n,
            act_dim: n,
            ..Default::default()
        },
    };
    let reports = self::episodes(cfg, duration_s, episodes, &mut rec, |_, _| {})?;
    Ok((rec.demos, reports))
}
