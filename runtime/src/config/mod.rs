//! Run configuration: one YAML file per robot and mode (`launch/config/*.yaml`).
//!
//! Loading is strict: unknown fields are refused, missing fields are named, and every value is
//! checked before anything moves — all findings of a file at once, each naming the file, the
//! field and what was expected. Reading and the checks themselves are `reflex_validate`'s; this
//! module says what a run config holds and which rules apply to it. Faults are declared here and
//! checked by [`crate::faults`], their one home.

mod checks;
pub(crate) use checks::check_policy;
mod ros;
mod sections;
mod unitree;

use std::path::{Path, PathBuf};

use reflex_hardware::catalogue::{self, RobotModel};
use reflex_validate::{Checker, FileError, FileKind, Finding};
use serde::Deserialize;

use crate::faults::Fault;
pub use ros::{RosSection, RosTopics, RosTransportKind, TriggerKind};
pub use sections::*;
pub use unitree::{interface_address, UnitreeSection};

/// Why a config was refused (every message names the file).
pub type ConfigError = FileError;

/// The whole run configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Which robot and backend.
    pub robot: RobotSection,
    /// Loop rates.
    pub rates: Rates,
    /// Simulator settings (required when `robot.backend` is `sim`).
    #[serde(default)]
    pub sim: Option<SimSection>,
    /// ROS 2 bridge settings (required when `robot.backend` is `ros2`).
    #[serde(default)]
    pub ros: Option<RosSection>,
    /// Unitree SDK2 settings (required when `robot.backend` is `unitree`).
    #[serde(default)]
    pub unitree: Option<UnitreeSection>,
    /// Real-time thread settings.
    #[serde(default)]
    pub realtime: RealtimeSection,
    /// Where the other threads run.
    #[serde(default)]
    pub threads: ThreadsSection,
    /// The controller to run (with a policy: the start-up controller until the policy takes over).
    pub controller: ControllerSection,
    /// A learned policy run through ONNX Runtime on the policy thread.
    #[serde(default)]
    pub policy: Option<PolicySection>,
    /// The supervisor: thresholds and the certified fallback.
    #[serde(default)]
    pub safety: SafetySection,
    /// Operator inputs over ROS 2 (teleop), with any backend.
    #[serde(default)]
    pub teleop: Option<TeleopSection>,
    /// Faults injected on purpose (see [`crate::faults`]).
    #[serde(default)]
    pub faults: Vec<Fault>,
}

/// A config that passed every check, with the file it came from.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The file it was read from.
    pub file: PathBuf,
    /// The checked contents.
    pub config: Config,
    /// Findings that are accepted but probably not what was meant.
    pub warnings: Vec<Finding>,
}

impl LoadedConfig {
    /// A single-finding error for this file.
    pub fn invalid(
        &self,
        field: &str,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> ConfigError {
        FileError::invalid(&self.file, field, expected, found)
    }

    /// The robot's catalogue entry (checked at load).
    pub fn robot(&self) -> &'static RobotModel {
        catalogue::model(&self.config.robot.model).expect("robot.model is checked at load")
    }

    /// Control cycles per policy tick.
    pub fn policy_decimation(&self) -> u64 {
        (self.config.rates.control_hz / self.config.rates.policy_hz).round() as u64
    }

    /// A path from this config, resolved against the config file's folder.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.file.parent().unwrap_or(Path::new(".")).join(p)
        }
    }

    /// Physics steps per control cycle (1 when there is no simulator).
    pub fn physics_decimation(&self) -> usize {
        match &self.config.sim {
            Some(sim) => (1.0 / (self.config.rates.control_hz * sim.physics_dt_s)).round() as usize,
            None => 1,
        }
    }

    /// The clock simulated time runs on (a real robot: real time).
    pub fn clock(&self) -> ClockKind {
        self.config
            .sim
            .as_ref()
            .map(|s| s.clock)
            .unwrap_or(ClockKind::Realtime)
    }

    /// Adds faults given on the command line (`--fault '{kind: push, at_s: 3, ...}'`, one YAML
    /// mapping each) and checks the result like a config file's own faults.
    pub fn with_faults(mut self, faults: &[String]) -> Result<LoadedConfig, ConfigError> {
        for (i, text) in faults.iter().enumerate() {
            let f: Fault = reflex_validate::read::parse_yaml(&self.file, text, FileKind::RunConfig)
                .map_err(|e| FileError::Schema {
                    file: self.file.clone(),
                    message: format!(
                        "--fault #{} `{}`: {}",
                        i + 1,
                        abbreviate(text, 120),
                        match e {
                            FileError::Schema { message, .. } => message,
                            other => other.to_string(),
                        }
                    ),
                })?;
            self.config.faults.push(f);
        }
        self.warnings = check(&self.file, &self.config)?;
        Ok(self)
    }
}

impl LoadedConfig {
    /// Sets the velocity command (`--command`) and adds schedule steps (`--command-at`) from the
    /// command line, and checks the result like the config's own.
    pub fn with_commands(
        mut self,
        command: Option<[f64; 3]>,
        steps: &[(f64, [f64; 3])],
    ) -> Result<LoadedConfig, ConfigError> {
        if command.is_none() && steps.is_empty() {
            return Ok(self);
        }
        let Some(p) = self.config.policy.as_mut() else {
            return Err(self.invalid(
                "policy",
                "a `policy:` section: --command and --command-at drive a locomotion policy",
                "nothing",
            ));
        };
        if command.is_some() {
            p.command = command;
        }
        p.command_schedule.extend(
            steps
                .iter()
                .map(|&(at_s, command)| CommandStep { at_s, command }),
        );
        self.warnings = check(&self.file, &self.config)?;
        Ok(self)
    }
}

/// `text` cut to about `max` characters for a message (user input is echoed, never in bulk).
fn abbreviate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}… ({} bytes)", &text[..i], text.len()),
        None => text.to_string(),
    }
}

/// Reads, parses and checks a config file (bounded read, see `reflex_validate`). Checks that
/// need the robot's joint list happen here too: the robot comes from the catalogue.
pub fn load(path: &Path) -> Result<LoadedConfig, ConfigError> {
    let text = reflex_validate::read_text(path, FileKind::RunConfig)?;
    parse(path, &text)
}

/// Parses and checks config text; `path` is used in messages only.
pub fn parse(path: &Path, text: &str) -> Result<LoadedConfig, ConfigError> {
    let config: Config = reflex_validate::read::parse_yaml(path, text, FileKind::RunConfig)?;
    let warnings = check(path, &config)?;
    Ok(LoadedConfig {
        file: path.to_path_buf(),
        config,
        warnings,
    })
}

/// Every rule of a run config; all findings at once.
fn check(file: &Path, c: &Config) -> Result<Vec<Finding>, ConfigError> {
    let mut ck = Checker::new(file);
    let Some(robot) = catalogue::model(&c.robot.model) else {
        ck.error(
            "robot.model",
            format!("one of {}", catalogue::names().join(", ")),
            format!("`{}`", c.robot.model),
        );
        return ck.finish();
    };
    let spec = robot.spec().map_err(|e| FileError::Schema {
        file: file.to_path_buf(),
        message: e.to_string(),
    })?;
    checks::check_rates(&mut ck, &c.rates);
    match (c.robot.backend, &c.sim, &c.ros) {
        (BackendKind::Sim, None, _) => ck.error(
            "sim",
            "a `sim:` section because robot.backend is `sim`",
            "nothing",
        ),
        (BackendKind::Sim, Some(sim), _) => {
            checks::check_sim(&mut ck, sim, c.rates.control_hz);
            let per_tick = (c.rates.control_hz / c.rates.policy_hz).round().max(1.0) as u64;
            if sim.policy_latency_cycles >= per_tick {
                ck.error(
                    "sim.policy_latency_cycles",
                    format!(
                        "fewer cycles than one policy period ({per_tick} at {} Hz / {} Hz)",
                        c.rates.control_hz, c.rates.policy_hz
                    ),
                    sim.policy_latency_cycles,
                );
            }
            if let Some(off) = &sim.joint_offset_rad {
                let described = format!("a joint of `{}`", robot.name);
                let joints = reflex_validate::JointSet {
                    names: &spec.joint_names,
                    described_as: &described,
                };
                ck.per_joint(
                    "sim.joint_offset_rad",
                    off,
                    joints,
                    "an offset",
                    reflex_validate::Range::closed(-0.2, 0.2),
                    "rad",
                );
            }
        }
        (BackendKind::Ros2, _, None) => ck.error(
            "ros",
            "a `ros:` section because robot.backend is `ros2`",
            "nothing",
        ),
        (BackendKind::Ros2, Some(_), _) => ck.error(
            "sim",
            "no `sim:` section: robot.backend is `ros2`, the robot is real",
            "a sim section",
        ),
        (BackendKind::Ros2, None, Some(ros)) => ros::check(&mut ck, ros, robot),
        (BackendKind::Unitree, Some(_), _) => ck.error(
            "sim",
            "no `sim:` section: robot.backend is `unitree`, the robot is real",
            "a sim section",
        ),
        (BackendKind::Unitree, None, _) => match &c.unitree {
            Some(u) => unitree::check(&mut ck, u, robot),
            None => ck.error(
                "unitree",
                "a `unitree:` section because robot.backend is `unitree`",
                "nothing",
            ),
        },
    }
    if c.unitree.is_some() && c.robot.backend != BackendKind::Unitree {
        ck.error(
            "unitree",
            "no `unitree:` section unless robot.backend is `unitree`",
            "a unitree section",
        );
    }
    checks::check_realtime(&mut ck, &c.realtime);
    let spin_us = c.realtime.spin_for_state_us;
    let robot_triggered = c.unitree.is_some()
        || c.ros
            .as_ref()
            .is_some_and(|r| r.trigger == TriggerKind::RobotState);
    if spin_us > 0 && !robot_triggered {
        ck.warn(
            "realtime.spin_for_state_us",
            "0 unless cycles are robot-triggered (ros.trigger: robot_state, or the unitree backend): it does nothing here",
            spin_us,
        );
    } else if spin_us > 0 && 2e-6 * spin_us as f64 * c.rates.control_hz >= 1.0 {
        ck.warn(
            "realtime.spin_for_state_us",
            format!(
                "under half a control period ({:.0} µs): the RT thread would never park",
                5e5 / c.rates.control_hz
            ),
            spin_us,
        );
    }
    checks::check_threads(&mut ck, &c.threads, &c.realtime);
    checks::check_controller(&mut ck, &c.controller, robot, &spec);
    checks::check_safety(&mut ck, &c.safety);
    if let Some(p) = &c.policy {
        checks::check_policy(&mut ck, p);
    }
    if let Some(t) = &c.teleop {
        checks::check_teleop(&mut ck, t, c.policy.is_some());
    }
    crate::faults::check(&mut ck, c);
    ck.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "robot: {model: a1, backend: sim}
rates: {control_hz: 500, policy_hz: 50}
sim: {physics_dt_s: 0.001, clock: lockstep}
controller:
  kind: stand_up
  duration_s: 1.0
  pose_rad: {FR_hip_joint: 0, FR_thigh_joint: 0.8, FR_calf_joint: -1.5, FL_hip_joint: 0, FL_thigh_joint: 0.8, FL_calf_joint: -1.5, RR_hip_joint: 0, RR_thigh_joint: 0.8, RR_calf_joint: -1.5, RL_hip_joint: 0, RL_thigh_joint: 0.8, RL_calf_joint: -1.5}
  kp: 40
  kd: 1
";

    fn findings(extra: &str) -> Vec<String> {
        match parse(Path::new("t.yaml"), &format!("{BASE}{extra}")) {
            Ok(_) => vec![],
            Err(e) => e.findings().iter().map(|f| f.field.clone()).collect(),
        }
    }

    #[test]
    fn spinning_for_states_that_never_trigger_a_cycle_is_warned_about() {
        let warned = |extra: &str| {
            parse(Path::new("t.yaml"), &format!("{BASE}{extra}"))
                .unwrap()
                .warnings
                .iter()
                .any(|w| w.field == "realtime.spin_for_state_us")
        };
        assert!(!warned(""));
        // The simulator's lockstep clock starts every cycle itself.
        assert!(warned("realtime: {spin_for_state_us: 200}\n"));
    }

    #[test]
    fn a_valid_config_passes_and_every_finding_is_reported_at_once() {
        assert!(findings("").is_empty());
        let f = findings(
            "safety: {sensor_lost_ms: .nan, max_tilt_rad: -1}\nrealtime: {priority: 120}\n",
        );
        assert_eq!(
            f,
            vec![
                "realtime.priority",
                "safety.sensor_lost_ms",
                "safety.max_tilt_rad"
            ]
        );
    }

    #[test]
    fn nan_and_infinity_are_refused_in_every_numeric_family() {
        for (extra, field) in [
            (
                "safety: {sensor_timeout_ms: .inf, sensor_lost_ms: 300}\n",
                "safety.sensor_timeout_ms",
            ),
            (
                "safety: {joint_limit_margin_rad: .nan}\n",
                "safety.joint_limit_margin_rad",
            ),
            (
                "policy: {manifest: m.yaml, command: [.nan, 0, 0]}\n",
                "policy.command[0]",
            ),
            (
                "faults: [{kind: push, at_s: .nan, duration_s: 1, force_n: [0, 0, 0]}]\n",
                "faults[0].at_s",
            ),
            (
                "faults: [{kind: latency_spike, at_s: 1, duration_ms: 1e6}]\n",
                "faults[0].duration_ms",
            ),
        ] {
            assert_eq!(findings(extra), vec![field], "{extra}");
        }
    }

    #[test]
    fn faults_are_checked_against_each_other_and_where_they_apply() {
        let f = findings(
            "faults:\n  - {kind: push, at_s: 1, duration_s: 1, force_n: [1, 0, 0]}\n  - {kind: push, at_s: 1.5, duration_s: 1, force_n: [0, 1, 0]}\n  - {kind: policy_freeze, at_s: 1, duration_s: 1}\n",
        );
        assert_eq!(f, vec!["faults[1].at_s", "faults[2].kind"]);
    }

    #[test]
    fn per_joint_gains_follow_the_scalar_rule() {
        let text = BASE.replace("kp: 40", "kp: {FR_hip_joint: -1, FR_thigh_joint: 40, FR_calf_joint: 40, FL_hip_joint: 40, FL_thigh_joint: 40, FL_calf_joint: 40, RR_hip_joint: 40, RR_thigh_joint: 40, RR_calf_joint: 40, RL_hip_joint: 40, RL_thigh_joint: 40, RL_calf_joint: 40}");
        let e = parse(Path::new("t.yaml"), &text).unwrap_err();
        assert_eq!(e.findings()[0].field, "controller.kp.FR_hip_joint");
    }
}
