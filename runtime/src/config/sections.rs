//! Run configuration: one YAML file per robot and mode (`launch/config/*.yaml`).
//!
//! Loading is strict: unknown fields are refused, missing fields are named, and every range is
//! checked before anything moves. Every error names the file, the field and what was expected.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Why a config was refused. Each variant's message names the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Io {
        /// The config file.
        file: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The YAML does not match the schema (unknown or missing field, wrong type). The message
    /// from the parser names the field path, line and column.
    #[error("{file}: {message}")]
    Schema {
        /// The config file.
        file: PathBuf,
        /// Parser message with field path and position.
        message: String,
    },
    /// A value is out of range or inconsistent with the robot.
    #[error("{file}: field `{field}`: expected {expected}, found {found}")]
    Invalid {
        /// The config file.
        file: PathBuf,
        /// Dotted path of the field.
        field: String,
        /// What would have been accepted.
        expected: String,
        /// What the file holds.
        found: String,
    },
}

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
    /// Real-time thread settings.
    #[serde(default)]
    pub realtime: RealtimeSection,
    /// The controller to run (with a policy: the start-up controller until the policy takes over).
    pub controller: ControllerSection,
    /// A learned policy run through ONNX Runtime on the policy thread.
    #[serde(default)]
    pub policy: Option<PolicySection>,
    /// The supervisor: thresholds and the certified fallback.
    #[serde(default)]
    pub safety: SafetySection,
    /// Faults injected on purpose (simulator runs and tests).
    #[serde(default)]
    pub faults: Vec<Fault>,
}

/// The supervisor's settings. Defaults follow the deployment stacks in the anchors
/// (walk-these-ways' 1.6 rad attitude stop, rl_sar's kd 8 passive mode).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SafetySection {
    /// Certified fallback manifest (relative to this file); none: a joint PD hold of the
    /// controller's pose (not certified).
    pub fallback: Option<PathBuf>,
    /// Policy results late by more than this many policy periods trigger the fallback.
    pub max_late_periods: u64,
    /// No new sensor sample for this long triggers the fallback (ms).
    pub sensor_timeout_ms: f64,
    /// No new sensor sample for this long triggers a safe stop (ms).
    pub sensor_lost_ms: f64,
    /// Joints beyond their limits by more than this are implausible (rad).
    pub joint_limit_margin_rad: f64,
    /// A torque at its effort limit this long triggers the fallback (ms).
    pub torque_saturation_ms: f64,
    /// |roll| or |pitch| beyond this triggers the fallback (rad).
    pub max_tilt_rad: f64,
    /// |roll| or |pitch| beyond this triggers a safe stop (rad).
    pub safe_stop_tilt_rad: f64,
    /// Largest change of a position target between cycles (rad).
    pub max_target_step_rad: f64,
    /// Joint damping in safe stop (N·m·s/rad).
    pub safe_stop_kd: f64,
}

impl Default for SafetySection {
    fn default() -> Self {
        Self {
            fallback: None,
            max_late_periods: 3,
            sensor_timeout_ms: 20.0,
            sensor_lost_ms: 200.0,
            joint_limit_margin_rad: 0.1,
            torque_saturation_ms: 200.0,
            max_tilt_rad: 0.6,
            safe_stop_tilt_rad: 1.6,
            max_target_step_rad: 0.05,
            safe_stop_kd: 8.0,
        }
    }
}

/// Which robot and which backend drives it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RobotSection {
    /// Robot model name (`a1`, `panda`).
    pub model: String,
    /// Backend.
    pub backend: BackendKind,
}

/// Available backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    /// The built-in Rapier simulator.
    Sim,
    /// A robot reached over ROS 2 topics (see the `ros:` section).
    Ros2,
}

/// Loop rates.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rates {
    /// RT control loop rate (Hz): joint PD / impedance. 200–1000 Hz typical.
    pub control_hz: f64,
    /// Policy rate (Hz): must divide `control_hz`. 10–50 Hz typical.
    pub policy_hz: f64,
}

/// Which ROS 2 transport carries the bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RosTransportKind {
    /// Pure-Rust DDS (`ros2-client`): no ROS install needed.
    Dds,
    /// rcl through r2r (build with `--features r2r` and ROS 2 sourced).
    R2r,
}

/// What starts a control cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerKind {
    /// The local clock, on absolute deadlines at `rates.control_hz`.
    Clock,
    /// The arrival of the robot's state (libfranka, Unitree low-level): the command goes back in
    /// the same period; no state within `state_timeout_ms` counts as a missed cycle.
    RobotState,
}

/// Topic names (relative names resolve against the node's namespace; `--ros-args -r` remaps).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosTopics {
    /// `sensor_msgs/JointState` input.
    pub joint_states: String,
    /// `sensor_msgs/Imu` input (required for legged robots).
    #[serde(default)]
    pub imu: Option<String>,
    /// `nav_msgs/Odometry` input.
    #[serde(default)]
    pub odometry: Option<String>,
    /// `geometry_msgs/WrenchStamped` input.
    #[serde(default)]
    pub wrench: Option<String>,
    /// Command output.
    pub command: String,
    /// `diagnostic_msgs/DiagnosticArray` output.
    #[serde(default = "default_diagnostics_topic")]
    pub diagnostics: String,
}

fn default_diagnostics_topic() -> String {
    "/diagnostics".into()
}

/// The ROS 2 bridge.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosSection {
    /// `dds` (default) or `r2r`.
    #[serde(default = "default_transport")]
    pub transport: RosTransportKind,
    /// Node name.
    #[serde(default = "default_node_name")]
    pub node_name: String,
    /// Node namespace.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// DDS domain; default: `ROS_DOMAIN_ID`, else 0.
    #[serde(default)]
    pub domain_id: Option<u16>,
    /// Keep DDS traffic on loopback (tests, single-machine setups).
    #[serde(default)]
    pub only_loopback: bool,
    /// Topics.
    pub topics: RosTopics,
    /// What the command topic carries.
    pub command_interface: reflex_hardware::ros::CommandInterface,
    /// What starts a cycle.
    #[serde(default = "default_trigger")]
    pub trigger: TriggerKind,
    /// Robot-triggered cycles: how long to wait for the state (ms).
    #[serde(default = "default_state_timeout")]
    pub state_timeout_ms: f64,
    /// Reject inbound stamps older than this (ms; 0 disables).
    #[serde(default = "default_stamp_age")]
    pub max_stamp_age_ms: f64,
    /// Reject inbound stamps further ahead than this (ms; 0 disables).
    #[serde(default = "default_stamp_lead")]
    pub max_stamp_lead_ms: f64,
    /// Diagnostics rate (Hz).
    #[serde(default = "default_diagnostics_hz")]
    pub diagnostics_hz: f64,
}

fn default_transport() -> RosTransportKind {
    RosTransportKind::Dds
}
fn default_node_name() -> String {
    "reflex".into()
}
fn default_namespace() -> String {
    "/".into()
}
fn default_trigger() -> TriggerKind {
    TriggerKind::Clock
}
fn default_state_timeout() -> f64 {
    5.0
}
fn default_stamp_age() -> f64 {
    200.0
}
fn default_stamp_lead() -> f64 {
    50.0
}
fn default_diagnostics_hz() -> f64 {
    10.0
}

/// How simulated time relates to wall time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockKind {
    /// As fast as possible: each cycle runs as soon as the previous one and its physics end.
    Lockstep,
    /// One control period of wall time per cycle, on absolute deadlines.
    Realtime,
}

/// Simulator settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimSection {
    /// Physics step (s); the control period must be a whole number of steps.
    pub physics_dt_s: f64,
    /// Lockstep or real time.
    pub clock: ClockKind,
    /// Seed of every random draw; same config and seed ⇒ bit-identical run.
    #[serde(default)]
    pub seed: u64,
    /// Uniform random perturbation (± rad) of the initial joint positions.
    #[serde(default)]
    pub initial_pose_jitter_rad: f64,
    /// Viscous joint damping (N·m·s/rad).
    #[serde(default)]
    pub joint_damping_nm_s_rad: f64,
    /// Robot–ground friction coefficient.
    #[serde(default = "default_friction")]
    pub ground_friction: f64,
    /// Rapier solver iterations (substeps) per physics step; each costs a mass-matrix rebuild.
    #[serde(default = "default_solver_iterations")]
    pub solver_iterations: usize,
    /// Sensor noise standard deviations.
    #[serde(default)]
    pub noise: NoiseSection,
}

fn default_friction() -> f64 {
    1.0
}
fn default_solver_iterations() -> usize {
    2
}

/// Sensor noise standard deviations.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoiseSection {
    /// Joint position noise (rad).
    #[serde(default)]
    pub joint_position_rad: f64,
    /// Joint velocity noise (rad/s).
    #[serde(default)]
    pub joint_velocity_rad_s: f64,
    /// Gyro noise (rad/s).
    #[serde(default)]
    pub gyro_rad_s: f64,
    /// Accelerometer noise (m/s²).
    #[serde(default)]
    pub accelerometer_m_s2: f64,
}

/// Real-time thread settings, applied on the real-time clock only (a lockstep run is a busy
/// loop). Each is best effort: when the OS refuses, the run says so once and goes on.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealtimeSection {
    /// SCHED_FIFO priority 1–99; 0 keeps the normal scheduler.
    #[serde(default)]
    pub priority: i32,
    /// CPU to pin the RT thread to.
    #[serde(default)]
    pub cpu: Option<usize>,
    /// Lock all current and future memory (mlockall).
    #[serde(default)]
    pub lock_memory: bool,
    /// Stack to touch up front so the loop never page-faults on it (KiB).
    #[serde(default)]
    pub prefault_stack_kib: usize,
}

/// A gain for all joints, or one per joint name.
#[derive(Debug, Clone, PartialEq)]
pub enum PerJoint {
    /// Same value for every joint.
    All(f64),
    /// One value per joint name (every joint must be present).
    ByName(BTreeMap<String, f64>),
}

impl<'de> Deserialize<'de> for PerJoint {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = PerJoint;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number for every joint, or a map of joint name to number")
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<PerJoint, E> {
                Ok(PerJoint::All(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<PerJoint, E> {
                Ok(PerJoint::All(v as f64))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<PerJoint, E> {
                Ok(PerJoint::All(v as f64))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<PerJoint, A::Error> {
                let mut out = BTreeMap::new();
                while let Some((k, v)) = m.next_entry::<String, f64>()? {
                    out.insert(k, v);
                }
                Ok(PerJoint::ByName(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// Built-in controllers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ControllerKind {
    /// Quadruped stand-up: interpolate to `pose_rad` over `duration_s`, then hold.
    StandUp,
    /// Joint PD hold of `pose_rad`.
    JointPdHold,
}

/// The controller to run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControllerSection {
    /// Which controller.
    pub kind: ControllerKind,
    /// Target pose (rad) per joint name: the standing pose, or the pose to hold.
    pub pose_rad: BTreeMap<String, f64>,
    /// Position gains (N·m/rad).
    pub kp: PerJoint,
    /// Velocity gains (N·m·s/rad).
    pub kd: PerJoint,
    /// Interpolation time (s): required by `stand_up`, refused by `joint_pd_hold`.
    #[serde(default)]
    pub duration_s: Option<f64>,
}

/// A learned policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySection {
    /// The model manifest (YAML beside the .onnx), relative to this config file's folder.
    pub manifest: PathBuf,
    /// Velocity command for locomotion policies (vx m/s, vy m/s, yaw rate rad/s); default: the
    /// manifest's `command`.
    #[serde(default)]
    pub command: Option<[f64; 3]>,
    /// ONNX Runtime settings.
    #[serde(default)]
    pub onnxruntime: OnnxRuntimeSection,
}

/// ONNX Runtime settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnnxRuntimeSection {
    /// `libonnxruntime.so` to load (else `ORT_DYLIB_PATH`, else `.ort/libonnxruntime.so`),
    /// relative to this config file's folder.
    #[serde(default)]
    pub library: Option<PathBuf>,
    /// Execution providers in order of preference: `tensorrt`, `cuda`, `cpu`.
    #[serde(default = "default_providers")]
    pub providers: Vec<reflex_policies::onnx::Provider>,
    /// TensorRT: fp16 engines.
    #[serde(default)]
    pub tensorrt_fp16: bool,
    /// TensorRT: engine cache folder, relative to this config file's folder.
    #[serde(default)]
    pub tensorrt_engine_cache: Option<PathBuf>,
    /// Inferences run at load, before the loop starts.
    #[serde(default = "default_warmup")]
    pub warmup_runs: usize,
}

fn default_providers() -> Vec<reflex_policies::onnx::Provider> {
    vec![reflex_policies::onnx::Provider::Cpu]
}
fn default_warmup() -> usize {
    10
}

impl Default for OnnxRuntimeSection {
    fn default() -> Self {
        Self {
            library: None,
            providers: default_providers(),
            tensorrt_fp16: false,
            tensorrt_engine_cache: None,
            warmup_runs: default_warmup(),
        }
    }
}

/// A fault injected on purpose.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// The RT cycle body busy-waits `duration_ms` once, at time `at_s` (a slow cycle).
    LatencySpike {
        /// When (s since start).
        at_s: f64,
        /// How long the cycle stalls (ms).
        duration_ms: f64,
    },
    /// The policy emits a non-finite action at its first tick at or after `at_s`.
    NonFiniteAction {
        /// When (s since start).
        at_s: f64,
    },
    /// Sensors deliver no new sample from `at_s` for `duration_s` (simulator only).
    SensorDropout {
        /// When (s since start).
        at_s: f64,
        /// How long (s).
        duration_s: f64,
    },
    /// Sensor noise multiplied by `scale` from `at_s` for `duration_s` (simulator only).
    SensorNoiseBurst {
        /// When (s since start).
        at_s: f64,
        /// How long (s).
        duration_s: f64,
        /// Noise multiplier.
        scale: f64,
    },
    /// Motors deliver `strength` (0–1) of their torque from `at_s` for `duration_s` (simulator only).
    MotorWeakness {
        /// When (s since start).
        at_s: f64,
        /// How long (s).
        duration_s: f64,
        /// Fraction of torque delivered.
        strength: f64,
    },
    /// The e-stop input is pressed at `at_s`.
    Estop {
        /// When (s since start).
        at_s: f64,
    },
    /// A reset back to the policy is requested at `at_s`.
    Reset {
        /// When (s since start).
        at_s: f64,
    },
    /// The policy thread freezes (produces no results) from `at_s` for `duration_s`.
    PolicyFreeze {
        /// When (s since start).
        at_s: f64,
        /// How long (s).
        duration_s: f64,
    },
    /// A force pushes the base from `at_s` for `duration_s` (simulator only).
    Push {
        /// When (s since start).
        at_s: f64,
        /// How long (s).
        duration_s: f64,
        /// Force in the world frame (N).
        force_n: [f64; 3],
    },
}

/// A config that passed every check, with the file it came from.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    /// The file it was read from.
    pub file: PathBuf,
    /// The checked contents.
    pub config: Config,
}

impl LoadedConfig {
    /// An [`ConfigError::Invalid`] for this file.
    pub fn invalid(
        &self,
        field: &str,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> ConfigError {
        invalid(&self.file, field, expected, found)
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
}

fn invalid(
    file: &Path,
    field: &str,
    expected: impl Into<String>,
    found: impl Into<String>,
) -> ConfigError {
    ConfigError::Invalid {
        file: file.to_path_buf(),
        field: field.to_string(),
        expected: expected.into(),
        found: found.into(),
    }
}

/// True when `x` is within 1e-6 (relative) of a whole number ≥ 1.
fn is_whole(x: f64) -> bool {
    x >= 1.0 - 1e-9 && (x - x.round()).abs() <= 1e-6 * x.max(1.0)
}

/// Reads, parses and range-checks a config file. Checks that need the robot's joint list
/// (names, limits) happen when the controller is built, with the same kind of message.
pub fn load(path: &Path) -> Result<LoadedConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        file: path.to_path_buf(),
        source,
    })?;
    parse(path, &text)
}

/// Parses and range-checks config text; `path` is used in messages only.
pub fn parse(path: &Path, text: &str) -> Result<LoadedConfig, ConfigError> {
    let config: Config = serde_norway::from_str(text).map_err(|e| ConfigError::Schema {
        file: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let loaded = LoadedConfig {
        file: path.to_path_buf(),
        config,
    };
    validate(&loaded)?;
    Ok(loaded)
}

impl LoadedConfig {
    /// Adds faults given on the command line (`--fault '{kind: push, at_s: 3, ...}'`, one YAML
    /// mapping each) and checks the result like a config file's own faults.
    pub fn with_faults(mut self, faults: &[String]) -> Result<LoadedConfig, ConfigError> {
        for (i, text) in faults.iter().enumerate() {
            let f: Fault = serde_norway::from_str(text).map_err(|e| ConfigError::Schema {
                file: self.file.clone(),
                message: format!("--fault #{} `{text}`: {e}", i + 1),
            })?;
            self.config.faults.push(f);
        }
        validate(&self)?;
        Ok(self)
    }
}

fn validate(l: &LoadedConfig) -> Result<(), ConfigError> {
    let c = &l.config;
    if reflex_sim::Model::from_name(&c.robot.model).is_none() {
        return Err(l.invalid(
            "robot.model",
            format!("one of {}", reflex_sim::Model::NAMES.join(", ")),
            format!("`{}`", c.robot.model),
        ));
    }
    let r = &c.rates;
    if !(r.control_hz.is_finite() && r.control_hz > 0.0 && r.control_hz <= 10_000.0) {
        return Err(l.invalid(
            "rates.control_hz",
            "a rate in (0, 10000] Hz",
            r.control_hz.to_string(),
        ));
    }
    if !(r.policy_hz.is_finite() && r.policy_hz > 0.0 && r.policy_hz <= r.control_hz) {
        return Err(l.invalid(
            "rates.policy_hz",
            format!("a rate in (0, control_hz = {}] Hz", r.control_hz),
            r.policy_hz.to_string(),
        ));
    }
    if !is_whole(r.control_hz / r.policy_hz) {
        return Err(l.invalid(
            "rates.policy_hz",
            format!(
                "a rate that divides control_hz = {} Hz into whole cycles",
                r.control_hz
            ),
            format!("{} (ratio {:.4})", r.policy_hz, r.control_hz / r.policy_hz),
        ));
    }
    match (c.robot.backend, &c.sim, &c.ros) {
        (BackendKind::Sim, None, _) => {
            return Err(l.invalid(
                "sim",
                "a `sim:` section because robot.backend is `sim`",
                "nothing",
            ))
        }
        (BackendKind::Sim, Some(sim), _) => validate_sim(l, sim)?,
        (BackendKind::Ros2, _, None) => {
            return Err(l.invalid(
                "ros",
                "a `ros:` section because robot.backend is `ros2`",
                "nothing",
            ))
        }
        (BackendKind::Ros2, Some(_), _) => {
            return Err(l.invalid(
                "sim",
                "no `sim:` section: robot.backend is `ros2`, the robot is real",
                "a sim section",
            ))
        }
        (BackendKind::Ros2, None, Some(ros)) => validate_ros(l, ros)?,
    }
    let rt = &c.realtime;
    if !(0..=99).contains(&rt.priority) {
        return Err(l.invalid(
            "realtime.priority",
            "a SCHED_FIFO priority 1–99, or 0 for the normal scheduler",
            rt.priority.to_string(),
        ));
    }
    if let Some(cpu) = rt.cpu {
        let n = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        if cpu >= n {
            return Err(l.invalid(
                "realtime.cpu",
                format!("a CPU index below {n} (this machine's CPUs)"),
                cpu.to_string(),
            ));
        }
    }
    if rt.prefault_stack_kib > 8192 {
        return Err(l.invalid(
            "realtime.prefault_stack_kib",
            "at most 8192 KiB",
            rt.prefault_stack_kib.to_string(),
        ));
    }
    validate_controller(l)?;
    validate_safety(l)?;
    let needs_policy = |i: usize, kind: &str| -> Result<(), ConfigError> {
        if c.policy.is_none() {
            return Err(l.invalid(
                &format!("faults[{i}].kind"),
                format!("a fault that applies: {kind} needs a `policy:` section"),
                kind.to_string(),
            ));
        }
        Ok(())
    };
    for (i, f) in c.faults.iter().enumerate() {
        let (at_s, len, len_field) = match f {
            Fault::LatencySpike { at_s, duration_ms } => (*at_s, *duration_ms, "duration_ms"),
            Fault::PolicyFreeze { at_s, duration_s } => {
                needs_policy(i, "policy_freeze")?;
                (*at_s, *duration_s, "duration_s")
            }
            Fault::NonFiniteAction { at_s } => {
                needs_policy(i, "non_finite_action")?;
                (*at_s, 1.0, "at_s")
            }
            Fault::SensorDropout { at_s, duration_s } => (*at_s, *duration_s, "duration_s"),
            Fault::SensorNoiseBurst {
                at_s,
                duration_s,
                scale,
            } => {
                if !(scale.is_finite() && *scale >= 0.0) {
                    return Err(l.invalid(
                        &format!("faults[{i}].scale"),
                        "a noise multiplier ≥ 0",
                        scale.to_string(),
                    ));
                }
                (*at_s, *duration_s, "duration_s")
            }
            Fault::MotorWeakness {
                at_s,
                duration_s,
                strength,
            } => {
                if !(0.0..=1.0).contains(strength) {
                    return Err(l.invalid(
                        &format!("faults[{i}].strength"),
                        "a fraction of torque in [0, 1]",
                        strength.to_string(),
                    ));
                }
                (*at_s, *duration_s, "duration_s")
            }
            Fault::Estop { at_s } | Fault::Reset { at_s } => (*at_s, 1.0, "at_s"),
            Fault::Push {
                at_s,
                duration_s,
                force_n,
            } => {
                if let Some(bad) = force_n.iter().find(|v| !v.is_finite()) {
                    return Err(l.invalid(
                        &format!("faults[{i}].force_n"),
                        "finite numbers (N)",
                        bad.to_string(),
                    ));
                }
                (*at_s, *duration_s, "duration_s")
            }
        };
        if !(at_s.is_finite() && at_s >= 0.0) {
            return Err(l.invalid(
                &format!("faults[{i}].at_s"),
                "a time ≥ 0 s",
                at_s.to_string(),
            ));
        }
        if !(len.is_finite() && len > 0.0) {
            return Err(l.invalid(
                &format!("faults[{i}].{len_field}"),
                "a duration > 0",
                len.to_string(),
            ));
        }
    }
    Ok(())
}

fn validate_ros(l: &LoadedConfig, r: &RosSection) -> Result<(), ConfigError> {
    let checks = [
        (
            "ros.state_timeout_ms",
            r.state_timeout_ms,
            "a timeout in (0, 1000] ms",
            1e-9,
            1000.0,
        ),
        (
            "ros.max_stamp_age_ms",
            r.max_stamp_age_ms,
            "an age in [0, 60000] ms (0 disables)",
            0.0,
            60_000.0,
        ),
        (
            "ros.max_stamp_lead_ms",
            r.max_stamp_lead_ms,
            "a lead in [0, 60000] ms (0 disables)",
            0.0,
            60_000.0,
        ),
        (
            "ros.diagnostics_hz",
            r.diagnostics_hz,
            "a rate in (0, 1000] Hz",
            1e-9,
            1000.0,
        ),
    ];
    for (field, v, expected, lo, hi) in checks {
        if !(v.is_finite() && v >= lo && v <= hi) {
            return Err(l.invalid(field, expected, v.to_string()));
        }
    }
    let topics = [
        ("ros.topics.joint_states", &r.topics.joint_states),
        ("ros.topics.command", &r.topics.command),
        ("ros.topics.diagnostics", &r.topics.diagnostics),
    ];
    for (field, t) in topics {
        let ok = !t.is_empty()
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '/')
            && !t.contains("//");
        if !ok {
            return Err(l.invalid(
                field,
                "a ROS topic name (letters, digits, `_`, `/`)",
                format!("`{t}`"),
            ));
        }
    }
    let legged = reflex_sim::Model::from_name(&l.config.robot.model).map(|m| m.description().kind)
        == Some(reflex_hardware::RobotKind::Legged);
    if legged && r.topics.imu.is_none() {
        return Err(l.invalid(
            "ros.topics.imu",
            "an IMU topic: a legged robot's supervisor needs its attitude",
            "nothing",
        ));
    }
    Ok(())
}

fn validate_safety(l: &LoadedConfig) -> Result<(), ConfigError> {
    let s = &l.config.safety;
    let checks = [
        (
            "safety.sensor_timeout_ms",
            s.sensor_timeout_ms,
            "a timeout in (0, 10000] ms",
            1e-9,
            10_000.0,
        ),
        (
            "safety.joint_limit_margin_rad",
            s.joint_limit_margin_rad,
            "a margin in [0, 1] rad",
            0.0,
            1.0,
        ),
        (
            "safety.torque_saturation_ms",
            s.torque_saturation_ms,
            "a time in (0, 10000] ms",
            1e-9,
            10_000.0,
        ),
        (
            "safety.max_tilt_rad",
            s.max_tilt_rad,
            "an angle in (0, 3.2] rad",
            1e-9,
            3.2,
        ),
        (
            "safety.safe_stop_tilt_rad",
            s.safe_stop_tilt_rad,
            "an angle in [max_tilt_rad, 3.2] rad",
            s.max_tilt_rad,
            3.2,
        ),
        (
            "safety.max_target_step_rad",
            s.max_target_step_rad,
            "a step in (0, 1] rad",
            1e-9,
            1.0,
        ),
        (
            "safety.safe_stop_kd",
            s.safe_stop_kd,
            "a damping in [0, 100]",
            0.0,
            100.0,
        ),
    ];
    for (field, v, expected, lo, hi) in checks {
        if !(v.is_finite() && v >= lo && v <= hi) {
            return Err(l.invalid(field, expected, v.to_string()));
        }
    }
    Ok(())
}

fn validate_sim(l: &LoadedConfig, sim: &SimSection) -> Result<(), ConfigError> {
    if !(sim.physics_dt_s.is_finite() && sim.physics_dt_s > 0.0 && sim.physics_dt_s <= 0.01) {
        return Err(l.invalid(
            "sim.physics_dt_s",
            "a step in (0, 0.01] s",
            sim.physics_dt_s.to_string(),
        ));
    }
    let per_cycle = 1.0 / (l.config.rates.control_hz * sim.physics_dt_s);
    if !is_whole(per_cycle) {
        return Err(l.invalid(
            "sim.physics_dt_s",
            format!(
                "a step that divides the control period 1/{} s into whole steps",
                l.config.rates.control_hz
            ),
            format!("{} ({per_cycle:.4} steps per cycle)", sim.physics_dt_s),
        ));
    }
    let checks = [
        (
            "sim.initial_pose_jitter_rad",
            sim.initial_pose_jitter_rad,
            "a perturbation in [0, 0.5] rad",
            0.0,
            0.5,
        ),
        (
            "sim.joint_damping_nm_s_rad",
            sim.joint_damping_nm_s_rad,
            "a damping in [0, 100]",
            0.0,
            100.0,
        ),
        (
            "sim.ground_friction",
            sim.ground_friction,
            "a friction coefficient in [0, 5]",
            0.0,
            5.0,
        ),
        (
            "sim.noise.joint_position_rad",
            sim.noise.joint_position_rad,
            "a standard deviation in [0, 0.5]",
            0.0,
            0.5,
        ),
        (
            "sim.noise.joint_velocity_rad_s",
            sim.noise.joint_velocity_rad_s,
            "a standard deviation in [0, 10]",
            0.0,
            10.0,
        ),
        (
            "sim.noise.gyro_rad_s",
            sim.noise.gyro_rad_s,
            "a standard deviation in [0, 10]",
            0.0,
            10.0,
        ),
        (
            "sim.noise.accelerometer_m_s2",
            sim.noise.accelerometer_m_s2,
            "a standard deviation in [0, 50]",
            0.0,
            50.0,
        ),
    ];
    for (field, v, expected, lo, hi) in checks {
        if !(v.is_finite() && v >= lo && v <= hi) {
            return Err(l.invalid(field, expected, v.to_string()));
        }
    }
    if !(1..=100).contains(&sim.solver_iterations) {
        return Err(l.invalid(
            "sim.solver_iterations",
            "1–100 iterations",
            sim.solver_iterations.to_string(),
        ));
    }
    Ok(())
}

fn validate_controller(l: &LoadedConfig) -> Result<(), ConfigError> {
    let Some(desc) = reflex_sim::Model::from_name(&l.config.robot.model).map(|m| m.description())
    else {
        return Ok(());
    };
    let c = &l.config.controller;
    match (c.kind, c.duration_s) {
        (ControllerKind::StandUp, _) if desc.kind != reflex_hardware::RobotKind::Legged => {
            return Err(l.invalid(
                "controller.kind",
                format!("a controller for an arm (joint_pd_hold): `stand_up` needs a legged robot, `{}` is an arm", desc.name),
                "`stand_up`",
            ));
        }
        (ControllerKind::StandUp, None) => {
            return Err(l.invalid(
                "controller.duration_s",
                "a duration > 0 s (required by stand_up)",
                "nothing",
            ));
        }
        (ControllerKind::StandUp, Some(d)) if !(d.is_finite() && d > 0.0) => {
            return Err(l.invalid("controller.duration_s", "a duration > 0 s", d.to_string()));
        }
        (ControllerKind::JointPdHold, Some(d)) => {
            return Err(l.invalid(
                "controller.duration_s",
                "no duration: joint_pd_hold holds its pose from the start",
                d.to_string(),
            ));
        }
        _ => {}
    }
    let names: Vec<&str> = desc.joints.to_vec();
    check_joint_map(
        l,
        "controller.pose_rad",
        &c.pose_rad,
        &names,
        |v| v.is_finite(),
        "a finite angle (rad)",
    )?;
    for (field, g) in [("controller.kp", &c.kp), ("controller.kd", &c.kd)] {
        match g {
            PerJoint::All(v) => {
                if !(v.is_finite() && *v >= 0.0) {
                    return Err(l.invalid(field, "a finite gain ≥ 0", v.to_string()));
                }
            }
            PerJoint::ByName(m) => check_joint_map(
                l,
                field,
                m,
                &names,
                |v| v.is_finite() && v >= 0.0,
                "a finite gain ≥ 0",
            )?,
        }
    }
    Ok(())
}

/// Checks that `map` names every joint of the robot exactly, and every value passes `ok`.
fn check_joint_map(
    l: &LoadedConfig,
    field: &str,
    map: &BTreeMap<String, f64>,
    joints: &[&str],
    ok: impl Fn(f64) -> bool,
    expected: &str,
) -> Result<(), ConfigError> {
    for (name, v) in map {
        if !joints.contains(&name.as_str()) {
            return Err(l.invalid(
                &format!("{field}.{name}"),
                format!(
                    "a joint of `{}`: {}",
                    l.config.robot.model,
                    joints.join(", ")
                ),
                format!("unknown joint `{name}`"),
            ));
        }
        if !ok(*v) {
            return Err(l.invalid(&format!("{field}.{name}"), expected, v.to_string()));
        }
    }
    let missing: Vec<&str> = joints
        .iter()
        .copied()
        .filter(|j| !map.contains_key(*j))
        .collect();
    if !missing.is_empty() {
        return Err(l.invalid(
            field,
            "a value for every joint",
            format!("no value for {}", missing.join(", ")),
        ));
    }
    Ok(())
}

/// Resolves a per-joint map or scalar into hardware order.
pub fn per_joint_values(v: &PerJoint, joints: &[String]) -> Vec<f64> {
    match v {
        PerJoint::All(x) => vec![*x; joints.len()],
        PerJoint::ByName(m) => joints
            .iter()
            .map(|j| m.get(j).copied().unwrap_or(0.0))
            .collect(),
    }
}

/// Resolves a joint-name map into hardware order (validated to be complete at load).
pub fn joint_map_values(m: &BTreeMap<String, f64>, joints: &[String]) -> Vec<f64> {
    joints
        .iter()
        .map(|j| m.get(j).copied().unwrap_or(0.0))
        .collect()
}
