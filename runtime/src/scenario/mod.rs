//! Scenario suites: a run config, domain randomisation, disturbances, faults and pass criteria
//! in one YAML file (strict like the configs), run over many seeds (`reflex scenario run`),
//! sharded across processes or machines and merged (`reflex scenario merge`), and shown in one
//! self-contained HTML page (`reflex scenario report`).
//!
//! Every episode is a function of (scenario, variant, episode index): its randomised parameters
//! are drawn from a generator seeded by the scenario's seed and the index alone, and the
//! simulator's seed is the scenario's seed plus the index; so an episode comes out bit for bit the
//! same whichever worker or shard runs it.

pub mod cli;
pub mod params;
pub mod report;
pub mod run;

use std::path::{Path, PathBuf};

use reflex_validate::{Checker, FileError, FileKind, Range};
use serde::Deserialize;

use crate::config::{CommandStep, LoadedConfig};
use crate::faults::Fault;

/// A closed interval `[lo, hi]` to draw uniformly from (`[x, x]`: fixed).
pub type Interval = [f64; 2];

/// Domain randomisation: each field a range drawn per episode; absent fields keep the config's.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Randomize {
    /// Scale of every link's mass and inertia.
    pub mass_scale: Option<Interval>,
    /// Payload on the base (kg).
    pub payload_kg: Option<Interval>,
    /// Ground friction coefficient.
    pub friction: Option<Interval>,
    /// Motor strength (torque and limit scale).
    pub motor_strength: Option<Interval>,
    /// Scale of the motor drivers' kp and kd.
    pub gain_scale: Option<Interval>,
    /// Encoder offsets, each joint uniform in ± this (rad).
    pub joint_offset_rad: Option<f64>,
    /// Joint position noise (rad, std).
    pub joint_position_noise_rad: Option<Interval>,
    /// Joint velocity noise (rad/s, std).
    pub joint_velocity_noise_rad_s: Option<Interval>,
    /// Gyro noise (rad/s, std).
    pub gyro_noise_rad_s: Option<Interval>,
    /// IMU latency (control cycles, whole numbers drawn).
    pub imu_latency_cycles: Option<Interval>,
    /// Actuation delay (control cycles, whole numbers drawn; up to one policy period is the
    /// realistic range).
    pub action_delay_cycles: Option<Interval>,
    /// Rough ground: the highest tile step (m; see `sim.rough_terrain_m`).
    pub rough_terrain_m: Option<Interval>,
    /// The policy's inference time (control cycles, whole numbers drawn, fewer than one policy
    /// period; see `sim.policy_latency_cycles`).
    pub policy_latency_cycles: Option<Interval>,
}

/// Which way a random push points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PushDirection {
    /// Any horizontal direction.
    Horizontal,
    /// To the left or right of the robot's start heading.
    Lateral,
    /// Forward or backward.
    Longitudinal,
}

/// One random push per episode (the H-infinity setting): time, magnitude and direction drawn.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushSpec {
    /// When (s).
    pub at_s: Interval,
    /// Magnitude (N).
    pub force_n: Interval,
    /// How long (s).
    pub duration_s: f64,
    /// Direction.
    pub direction: PushDirection,
}

/// The two ways an episode can be run, to see what the safety layer buys.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, serde::Serialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    /// The config as it is: supervisor and certified fallback.
    WithSafety,
    /// The policy alone: the supervisor never hands over (limits relaxed), as a policy is run
    /// without a safety layer.
    PolicyAlone,
}

impl Variant {
    /// The name used in scenario files, results and reports.
    pub fn name(self) -> &'static str {
        match self {
            Variant::WithSafety => "with_safety",
            Variant::PolicyAlone => "policy_alone",
        }
    }
}

/// What an episode must show to pass.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PassCriteria {
    /// The base never below 0.15 m nor tilted beyond 1.0 rad after the stand-up.
    #[serde(default = "yes")]
    pub no_fall: bool,
    /// Largest |roll| or |pitch| after the stand-up (rad).
    #[serde(default)]
    pub max_tilt_rad: Option<f64>,
    /// Largest mean |forward speed − commanded| over the measured window (m/s).
    #[serde(default)]
    pub max_speed_error_m_s: Option<f64>,
    /// Most commands outside the joint limits (clamped by the driver) an episode may send
    /// (0: none may).
    #[serde(default)]
    pub max_clamped_commands: Option<u64>,
    /// Modes the supervisor must be in at given times (read from its transitions; POLICY before
    /// the first): e.g. SAFE_STOP one control cycle after an e-stop.
    #[serde(default)]
    pub expect_modes: Vec<ModeAt>,
    /// Modes an episode may end in.
    #[serde(default)]
    pub final_modes: Option<Vec<crate::supervisor::Mode>>,
    /// With a fault from `fault_cycle`: the supervisor's first transition no earlier than the
    /// fault and at most this long after it (s). (Per kind, the detection takes: a non-finite
    /// action its policy tick, a freeze `max_late_periods` policy periods, a dropout
    /// `sensor_timeout_ms`.)
    #[serde(default)]
    pub handover_within_s: Option<f64>,
    /// `reflex scenario run` (and `merge --scenario`) fails when the with-safety variant passes
    /// less often than this (the policy-alone variant is for comparison).
    #[serde(default = "default_pass_rate")]
    pub min_pass_rate: f64,
}

/// The supervisor's mode expected at a moment of the episode.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModeAt {
    /// When (s of robot time).
    pub at_s: f64,
    /// POLICY, FALLBACK or SAFE_STOP.
    pub mode: crate::supervisor::Mode,
}

fn yes() -> bool {
    true
}
fn default_pass_rate() -> f64 {
    0.9
}

/// A scenario file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Name in reports.
    pub name: String,
    /// The run config (relative to this file; simulator backend).
    pub config: PathBuf,
    /// Robot time per episode (s).
    pub duration_s: f64,
    /// Episodes when `--seeds` is not given.
    #[serde(default = "default_episodes")]
    pub episodes: u64,
    /// Base seed of the randomisation and the simulator.
    #[serde(default)]
    pub seed: u64,
    /// Variants to run every episode in (default: with the safety layer only).
    #[serde(default = "default_variants")]
    pub variants: Vec<Variant>,
    /// Domain randomisation.
    #[serde(default)]
    pub randomize: Randomize,
    /// A random push per episode.
    #[serde(default)]
    pub push: Option<PushSpec>,
    /// Velocity command (locomotion), replacing the config's.
    #[serde(default)]
    pub command: Option<[f64; 3]>,
    /// Velocity-command schedule, replacing the config's.
    #[serde(default)]
    pub command_schedule: Vec<CommandStep>,
    /// Faults every episode gets.
    #[serde(default)]
    pub faults: Vec<Fault>,
    /// Faults handed out in turn: episode i gets `fault_cycle[i % len]`.
    #[serde(default)]
    pub fault_cycle: Vec<Fault>,
    /// Pass criteria.
    pub pass: PassCriteria,
}

fn default_episodes() -> u64 {
    100
}
fn default_variants() -> Vec<Variant> {
    vec![Variant::WithSafety]
}

/// A scenario that passed its checks, with the run config it names, loaded and checked.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The file.
    pub file: PathBuf,
    /// Its contents.
    pub spec: ScenarioFile,
    /// The run config.
    pub base: LoadedConfig,
}

fn check_interval(c: &mut Checker, field: &str, v: &Option<Interval>, lo: f64, hi: f64) {
    if let Some([a, b]) = v {
        let ok = Range::closed(lo, hi).contains(*a) && Range::closed(lo, hi).contains(*b) && a <= b;
        c.require(
            ok,
            field,
            format!("[low, high] within [{lo}, {hi}], low ≤ high"),
            format!("[{a}, {b}]"),
        );
    }
}

/// Reads and checks a scenario file and the run config it names.
pub fn load(path: &Path) -> Result<Scenario, FileError> {
    let spec: ScenarioFile = reflex_validate::load_yaml(path, FileKind::RunConfig)?;
    let mut c = Checker::new(path);
    c.require(
        !spec.name.is_empty() && spec.name.len() <= 100,
        "name",
        "a name of 1–100 characters",
        format!("`{}`", spec.name),
    );
    c.range(
        "duration_s",
        spec.duration_s,
        "a duration",
        Range::open_closed(0.0, 3600.0),
        "s",
    );
    c.require(
        (1..=1_000_000).contains(&spec.episodes),
        "episodes",
        "1–1000000 episodes",
        spec.episodes,
    );
    c.require(
        !spec.variants.is_empty() && spec.variants.len() <= 2,
        "variants",
        "one or both of with_safety, policy_alone",
        format!("{:?}", spec.variants),
    );
    let r = &spec.randomize;
    check_interval(&mut c, "randomize.mass_scale", &r.mass_scale, 0.5, 2.0);
    check_interval(&mut c, "randomize.payload_kg", &r.payload_kg, 0.0, 50.0);
    check_interval(&mut c, "randomize.friction", &r.friction, 0.0, 5.0);
    check_interval(
        &mut c,
        "randomize.motor_strength",
        &r.motor_strength,
        0.5,
        1.5,
    );
    check_interval(&mut c, "randomize.gain_scale", &r.gain_scale, 0.5, 1.5);
    check_interval(
        &mut c,
        "randomize.joint_position_noise_rad",
        &r.joint_position_noise_rad,
        0.0,
        0.5,
    );
    check_interval(
        &mut c,
        "randomize.joint_velocity_noise_rad_s",
        &r.joint_velocity_noise_rad_s,
        0.0,
        10.0,
    );
    check_interval(
        &mut c,
        "randomize.gyro_noise_rad_s",
        &r.gyro_noise_rad_s,
        0.0,
        10.0,
    );
    check_interval(
        &mut c,
        "randomize.imu_latency_cycles",
        &r.imu_latency_cycles,
        0.0,
        50.0,
    );
    check_interval(
        &mut c,
        "randomize.action_delay_cycles",
        &r.action_delay_cycles,
        0.0,
        100.0,
    );
    check_interval(
        &mut c,
        "randomize.rough_terrain_m",
        &r.rough_terrain_m,
        0.0,
        0.2,
    );
    check_interval(
        &mut c,
        "randomize.policy_latency_cycles",
        &r.policy_latency_cycles,
        0.0,
        100.0,
    );
    if let Some(o) = r.joint_offset_rad {
        c.range(
            "randomize.joint_offset_rad",
            o,
            "an offset",
            Range::closed(0.0, 0.2),
            "rad",
        );
    }
    if let Some(p) = &spec.push {
        check_interval(
            &mut c,
            "push.at_s",
            &Some(p.at_s),
            0.0,
            spec.duration_s.max(0.0),
        );
        check_interval(&mut c, "push.force_n", &Some(p.force_n), 0.0, 10_000.0);
        c.range(
            "push.duration_s",
            p.duration_s,
            "a duration",
            Range::open_closed(0.0, 10.0),
            "s",
        );
    }
    let pc = &spec.pass;
    if let Some(t) = pc.max_tilt_rad {
        c.range(
            "pass.max_tilt_rad",
            t,
            "an angle",
            Range::open_closed(0.0, 3.2),
            "rad",
        );
    }
    if let Some(e) = pc.max_speed_error_m_s {
        c.range(
            "pass.max_speed_error_m_s",
            e,
            "a speed",
            Range::open_closed(0.0, 10.0),
            "m/s",
        );
    }
    c.range(
        "pass.min_pass_rate",
        pc.min_pass_rate,
        "a rate",
        Range::closed(0.0, 1.0),
        "",
    );
    for (i, m) in pc.expect_modes.iter().enumerate() {
        c.range(
            &format!("pass.expect_modes[{i}].at_s"),
            m.at_s,
            "a time within the episode",
            Range::closed(0.0, spec.duration_s.max(0.0)),
            "s",
        );
    }
    c.finish()?;
    let config_path = if spec.config.is_absolute() {
        spec.config.clone()
    } else {
        path.parent().unwrap_or(Path::new(".")).join(&spec.config)
    };
    let base = crate::config::load(&config_path)?;
    if base.config.sim.is_none() {
        return Err(FileError::invalid(
            path,
            "config",
            "a run config with the simulator backend (robot.backend: sim)",
            config_path.display().to_string(),
        ));
    }
    // The velocity commands, by the config's rules, and only where a policy takes them.
    let mut fc = Checker::new(path);
    if let Some([_, hi]) = spec.randomize.policy_latency_cycles {
        let per_tick = base.policy_decimation();
        if hi.round() as u64 >= per_tick {
            fc.error(
                "randomize.policy_latency_cycles",
                format!("fewer cycles than one policy period ({per_tick})"),
                hi,
            );
        }
    }
    if spec.command.is_some() || !spec.command_schedule.is_empty() {
        match &base.config.policy {
            None => fc.error(
                "command",
                "a run config with a policy (only policies take velocity commands)",
                config_path.display().to_string(),
            ),
            Some(pol) => {
                let mut pol = pol.clone();
                pol.command = spec.command;
                pol.command_schedule = spec.command_schedule.clone();
                let mut c1 = Checker::new(path);
                crate::config::check_policy(&mut c1, &pol);
                if let Err(FileError::Invalid { findings, .. }) = c1.finish() {
                    for f in findings {
                        let field = f
                            .field
                            .strip_prefix("policy.")
                            .unwrap_or(&f.field)
                            .to_string();
                        fc.error(field, f.expected, f.found);
                    }
                }
            }
        }
    }
    if let Some(t) = pc.handover_within_s {
        fc.range(
            "pass.handover_within_s",
            t,
            "a time",
            Range::open_closed(0.0, 60.0),
            "s",
        );
    }
    // Every fault, the scenario's own and those handed out in turn, by the config's rules.
    let listed = spec
        .faults
        .iter()
        .enumerate()
        .map(|(i, f)| (format!("faults[{i}]"), f))
        .chain(
            spec.fault_cycle
                .iter()
                .enumerate()
                .map(|(i, f)| (format!("fault_cycle[{i}]"), f)),
        );
    for (name, f) in listed {
        let mut one = base.config.clone();
        one.faults = vec![f.clone()];
        let mut c1 = Checker::new(path);
        crate::faults::check(&mut c1, &one);
        if let Err(FileError::Invalid { findings, .. }) = c1.finish() {
            for f in findings {
                let field = match f.field.strip_prefix("faults[0]") {
                    Some(rest) => format!("{name}{rest}"),
                    None => format!("{name}: {}", f.field),
                };
                fc.error(field, f.expected, f.found);
            }
        }
    }
    fc.finish()?;
    Ok(Scenario {
        file: path.to_path_buf(),
        spec,
        base,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Loads `body` as a scenario file next to the repository's run configs; the error's text.
    fn refused(tag: &str, body: &str) -> String {
        let dir = std::env::temp_dir().join(format!("reflex-scn-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../launch/config/go2_policy.yaml")
            .canonicalize()
            .unwrap();
        let f = dir.join("s.yaml");
        std::fs::write(&f, body.replace("CFG", &cfg.display().to_string())).unwrap();
        let e = load(&f).err().map(|e| e.to_string()).unwrap_or_default();
        std::fs::remove_dir_all(&dir).unwrap();
        e
    }

    #[test]
    fn bad_scenario_files_are_refused_naming_the_field() {
        let ok = "name: t\nconfig: CFG\nduration_s: 5\npass: {}\n";
        assert_eq!(refused("ok", ok), "");
        for (tag, body, want) in [
            ("unknown", "name: t\nconfig: CFG\nduration_s: 5\nspeed: 3\npass: {}\n", "speed"),
            (
                "interval",
                "name: t\nconfig: CFG\nduration_s: 5\nrandomize: {friction: [1.2, 0.4]}\npass: {}\n",
                "randomize.friction",
            ),
            (
                "range",
                "name: t\nconfig: CFG\nduration_s: 5\nrandomize: {mass_scale: [0.1, 1]}\npass: {}\n",
                "randomize.mass_scale",
            ),
            (
                "push",
                "name: t\nconfig: CFG\nduration_s: 5\npush: {at_s: [4, 9], force_n: [0, 10], duration_s: 0.1, direction: horizontal}\npass: {}\n",
                "push.at_s",
            ),
            (
                "command",
                "name: t\nconfig: CFG\nduration_s: 5\ncommand: [.nan, 0, 0]\npass: {}\n",
                "command",
            ),
            (
                "rate",
                "name: t\nconfig: CFG\nduration_s: 5\npass: {min_pass_rate: 1.5}\n",
                "pass.min_pass_rate",
            ),
            (
                "mode",
                "name: t\nconfig: CFG\nduration_s: 5\npass: {final_modes: [WALKING]}\n",
                "WALKING",
            ),
            (
                "mode_at",
                "name: t\nconfig: CFG\nduration_s: 5\npass: {expect_modes: [{at_s: 6, mode: POLICY}]}\n",
                "pass.expect_modes[0].at_s",
            ),
            (
                "fault",
                "name: t\nconfig: CFG\nduration_s: 5\nfault_cycle: [{kind: push, at_s: -1, duration_s: 0.1, force_n: [1, 0, 0]}]\npass: {}\n",
                "fault_cycle[0].at_s",
            ),
            ("noconfig", "name: t\nconfig: /nonexistent.yaml\nduration_s: 5\npass: {}\n", "/nonexistent.yaml"),
        ] {
            let e = refused(tag, body);
            assert!(e.contains("s.yaml") || tag == "noconfig", "{tag}: {e}");
            assert!(e.contains(want), "{tag}: expected `{want}` in: {e}");
        }
    }
}
