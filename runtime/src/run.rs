//! Building a run from a config and driving the RT loop on its own thread.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use reflex_hardware::{GroundTruth, JointCommand, Robot, RobotKind, RobotState};
use reflex_policies::cartesian::{CartesianImpedance, Chain, ImpedanceGains};
use reflex_policies::fallback::CertifiedFallback;
use reflex_policies::manifest::{Manifest, PolicyKind};
use reflex_policies::onnx::{self, ProviderReport, SessionOptions};
use reflex_policies::policy::OnnxPolicy;
use reflex_policies::{Controller, JointPdHold, PdGains, StandUp};
use reflex_sim::{Model, SensorNoise, SimConfig, SimRobot};
use serde::Serialize;

use crate::config::{
    joint_map_values, per_joint_values, ClockKind, ConfigError, ControllerKind, Fault,
    LoadedConfig, TriggerKind,
};
use crate::control_loop::{ControlLoop, InjectedStall};
use crate::plant::{Plant, SimPlant, Window, WorldEffect};
use crate::policy_thread::{
    self, PolicyFaults, PolicyFollower, PolicyShared, PolicyStall, PolicyThreadReport, PolicyTiming,
};
use crate::rt::{self, now_ns, sleep_until_ns, RtStatus};
use crate::stats::LatencySummaryUs;
use crate::supervisor::{Mode, SupervisorConfig, Transition};

/// Why a run could not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The config was refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The simulator could not be built.
    #[error("{file}: simulator: {source}")]
    Sim {
        /// The config file.
        file: std::path::PathBuf,
        /// What failed.
        source: reflex_sim::SimError,
    },
    /// The robot refused a lifecycle transition.
    #[error("robot: {0}")]
    Hardware(#[from] reflex_hardware::HwError),
    /// A model manifest was refused.
    #[error(transparent)]
    Manifest(#[from] reflex_policies::manifest::ManifestError),
    /// The certified fallback was refused.
    #[error(transparent)]
    Fallback(#[from] reflex_policies::fallback::FallbackError),
    /// ONNX Runtime or a model was refused.
    #[error(transparent)]
    Onnx(#[from] reflex_policies::onnx::OnnxError),
    /// The ROS 2 bridge could not start.
    #[error("{0}")]
    Bridge(String),
    /// The RT thread could not be started or died.
    #[error("RT thread: {0}")]
    Thread(String),
}

/// Builds the simulator the config describes. Not RT.
pub fn build_sim(cfg: &LoadedConfig) -> Result<SimRobot, RunError> {
    let c = &cfg.config;
    let sim = c
        .sim
        .as_ref()
        .ok_or_else(|| cfg.invalid("sim", "a `sim:` section", "nothing"))?;
    let model = Model::from_name(&c.robot.model)
        .ok_or_else(|| cfg.invalid("robot.model", "a known model", c.robot.model.clone()))?;
    let mut sc = SimConfig::new(model);
    sc.physics_dt_s = sim.physics_dt_s;
    sc.seed = sim.seed;
    sc.initial_pose_jitter_rad = sim.initial_pose_jitter_rad;
    sc.joint_damping_nm_s_rad = sim.joint_damping_nm_s_rad;
    sc.ground_friction = sim.ground_friction;
    sc.solver_iterations = sim.solver_iterations;
    sc.noise = SensorNoise {
        joint_position_rad: sim.noise.joint_position_rad,
        joint_velocity_rad_s: sim.noise.joint_velocity_rad_s,
        gyro_rad_s: sim.noise.gyro_rad_s,
        accelerometer_m_s2: sim.noise.accelerometer_m_s2,
    };
    SimRobot::new(&sc).map_err(|source| RunError::Sim {
        file: cfg.file.clone(),
        source,
    })
}

/// Builds the configured controller for `robot`, checking the pose against its joint limits.
pub fn build_controller(
    cfg: &LoadedConfig,
    robot: &dyn Robot,
) -> Result<Box<dyn Controller>, ConfigError> {
    let spec = robot.spec();
    let joints = &spec.joint_names;
    let c = &cfg.config.controller;
    let pose = joint_map_values(&c.pose_rad, joints);
    for (i, (q, lim)) in pose.iter().zip(&spec.limits).enumerate() {
        if *q < lim.lower_rad || *q > lim.upper_rad {
            return Err(cfg.invalid(
                &format!("controller.pose_rad.{}", joints[i]),
                format!(
                    "an angle within the joint's limits [{:.4}, {:.4}] rad",
                    lim.lower_rad, lim.upper_rad
                ),
                q.to_string(),
            ));
        }
    }
    let gains = PdGains {
        kp: per_joint_values(&c.kp, joints),
        kd: per_joint_values(&c.kd, joints),
    };
    let wrap = |e: reflex_policies::ControllerError| {
        cfg.invalid("controller", "valid controller parameters", e.to_string())
    };
    Ok(match c.kind {
        ControllerKind::StandUp => {
            let duration_s = c.duration_s.unwrap_or(0.0);
            Box::new(StandUp::new(pose, gains, duration_s).map_err(wrap)?)
        }
        ControllerKind::JointPdHold => Box::new(JointPdHold::new(pose, gains).map_err(wrap)?),
    })
}

/// How the robot fared, judged from the simulator's ground truth and the commands.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RobotOutcome {
    /// Legged robot: measured from `measured_from_s` (end of stand-up + 0.5 s settle) to the end.
    Legged {
        /// When the measurement window starts (s).
        measured_from_s: f64,
        /// Lowest base height (m).
        min_base_height_m: f64,
        /// Highest base height (m).
        max_base_height_m: f64,
        /// Base height at the end (m).
        final_base_height_m: f64,
        /// Largest |roll| (rad).
        max_abs_roll_rad: f64,
        /// Largest |pitch| (rad).
        max_abs_pitch_rad: f64,
    },
    /// Arm: the largest |q* − q| over all joints and cycles (joint-space control), and where
    /// the end effector ended.
    Arm {
        /// Largest joint tracking error (rad) while under joint PD (0 under impedance control).
        max_joint_tracking_error_rad: f64,
        /// End-effector position at the end, base frame (m).
        final_ee_position_m: [f64; 3],
    },
}

/// The JSON run report (`reflex run --report PATH`).
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// Config file.
    pub config: String,
    /// Robot model.
    pub robot: String,
    /// `lockstep` or `realtime`.
    pub clock: ClockKind,
    /// Simulated duration (s).
    pub duration_s: f64,
    /// Wall time the run took (s).
    pub wall_time_s: f64,
    /// Simulated time per wall time.
    pub realtime_factor: f64,
    /// Cycles completed.
    pub cycles: u64,
    /// Control rate (Hz).
    pub rate_hz: f64,
    /// Policy rate (Hz).
    pub policy_hz: f64,
    /// Physics steps per control cycle.
    pub physics_steps_per_cycle: usize,
    /// Cycles that ended after the next deadline (lockstep: body longer than a period).
    pub overruns: u64,
    /// Deadlines skipped after overruns.
    pub missed_deadlines: u64,
    /// Wake-up latency (actual wake − deadline), µs; `null` on the lockstep clock.
    pub wakeup_latency_us: Option<LatencySummaryUs>,
    /// RT cycle body (read → controller → clamp → write), µs.
    pub compute_us: LatencySummaryUs,
    /// Simulator physics per cycle (the robot's stand-in), µs.
    pub physics_us: LatencySummaryUs,
    /// Commands changed by the limit clamp.
    pub clamped_commands: u64,
    /// Robot I/O errors.
    pub io_errors: u64,
    /// The supervisor's mode at the end (POLICY, FALLBACK, SAFE_STOP).
    pub final_mode: Mode,
    /// What the controller in charge was doing at the end (e.g. `holding`, `policy`).
    pub final_phase: String,
    /// Position targets held back by the per-cycle step limit (bumpless transfer).
    pub limited_targets: u64,
    /// Mode transitions with their causes, and the fallback in use.
    pub supervisor: SupervisorReport,
    /// Real-time settings in force.
    pub realtime: RtStatus,
    /// How the robot fared (simulator runs; `null` when there is no ground truth to judge by).
    pub outcome: Option<RobotOutcome>,
    /// Cycles whose robot state did not arrive within the timeout (robot-triggered loops).
    pub missed_cycles: u64,
    /// ROS 2 bridge traffic and rejections (ROS backends).
    pub bridge: Option<crate::plant::BridgeReport>,
    /// The learned policy, when the config runs one.
    pub policy: Option<PolicyReport>,
}

/// A transition with its time.
#[derive(Debug, Clone, Serialize)]
pub struct TransitionReport {
    /// When (s since start).
    pub time_s: f64,
    /// Cycle, modes and cause.
    #[serde(flatten)]
    pub transition: Transition,
}

/// The supervisor's part of the run report.
#[derive(Debug, Clone, Serialize)]
pub struct SupervisorReport {
    /// The fallback in use.
    pub fallback: FallbackInfo,
    /// Every mode change, in order.
    pub transitions: Vec<TransitionReport>,
    /// Transitions beyond the log's capacity.
    pub dropped_transitions: u64,
    /// Cycles commanded by the policy / primary controller.
    pub cycles_in_policy: u64,
    /// Cycles commanded by the fallback.
    pub cycles_in_fallback: u64,
    /// Cycles in safe stop.
    pub cycles_in_safe_stop: u64,
}

/// Live progress, readable from another thread while the loop runs.
#[derive(Debug, Default)]
pub struct Progress {
    /// Cycles completed.
    pub cycles: AtomicU64,
    /// Overruns so far.
    pub overruns: AtomicU64,
    /// Set by the RT thread when it has finished.
    pub done: AtomicBool,
}

fn finite_or(x: f64, fallback: f64) -> f64 {
    if x.is_finite() {
        x
    } else {
        fallback
    }
}

struct OutcomeTracker {
    kind: RobotKind,
    settle_s: f64,
    measured_from_s: Option<f64>,
    min_h: f64,
    max_h: f64,
    last_h: f64,
    max_roll: f64,
    max_pitch: f64,
    max_err: f64,
    ee: [f64; 3],
    measured: bool,
}

impl OutcomeTracker {
    fn new(kind: RobotKind) -> Self {
        Self {
            kind,
            settle_s: 0.5,
            measured_from_s: None,
            min_h: f64::INFINITY,
            max_h: f64::NEG_INFINITY,
            last_h: 0.0,
            max_roll: 0.0,
            max_pitch: 0.0,
            max_err: 0.0,
            ee: [0.0; 3],
            measured: false,
        }
    }

    fn observe(
        &mut self,
        state: &RobotState,
        cmd: &JointCommand,
        gt: Option<GroundTruth>,
        t_s: f64,
        holding_since: Option<f64>,
    ) {
        match self.kind {
            RobotKind::Legged => {
                let Some(gt) = gt else { return };
                self.measured = true;
                self.last_h = gt.base_position_m[2];
                let Some(since) = holding_since else { return };
                if t_s < since + self.settle_s {
                    return;
                }
                self.measured_from_s.get_or_insert(since + self.settle_s);
                let (r, p) = reflex_hardware::roll_pitch_rad(gt.base_orientation_xyzw);
                self.min_h = self.min_h.min(self.last_h);
                self.max_h = self.max_h.max(self.last_h);
                self.max_roll = self.max_roll.max(r.abs());
                self.max_pitch = self.max_pitch.max(p.abs());
            }
            RobotKind::Arm => {
                self.measured = true;
                if let Some(ee) = state.end_effector {
                    self.ee = ee.position_m;
                }
                for (i, (a, b)) in state
                    .joints
                    .position_rad
                    .iter()
                    .zip(&cmd.position_rad)
                    .enumerate()
                {
                    if cmd.kp[i] > 0.0 {
                        self.max_err = self.max_err.max((a - b).abs());
                    }
                }
            }
        }
    }

    fn finish(&self) -> Option<RobotOutcome> {
        if !self.measured {
            return None;
        }
        Some(match self.kind {
            RobotKind::Legged => RobotOutcome::Legged {
                measured_from_s: self.measured_from_s.unwrap_or(f64::NAN),
                min_base_height_m: finite_or(self.min_h, self.last_h),
                max_base_height_m: finite_or(self.max_h, self.last_h),
                final_base_height_m: self.last_h,
                max_abs_roll_rad: self.max_roll,
                max_abs_pitch_rad: self.max_pitch,
            },
            RobotKind::Arm => RobotOutcome::Arm {
                max_joint_tracking_error_rad: self.max_err,
                final_ee_position_m: self.ee,
            },
        })
    }
}

/// Faults of a config, in control cycles and policy ticks.
struct FaultPlan {
    stalls: Vec<InjectedStall>,
    windows: Vec<Window>,
    policy: PolicyFaults,
    estop_cycles: Vec<u64>,
    reset_cycles: Vec<u64>,
}

fn plan_faults(cfg: &LoadedConfig) -> FaultPlan {
    let c = &cfg.config;
    let hz = c.rates.control_hz;
    let cycle = |t: f64| (t * hz).round() as u64;
    let tick = |t: f64| (t * c.rates.policy_hz).ceil() as u64;
    let mut plan = FaultPlan {
        stalls: Vec::new(),
        windows: Vec::new(),
        policy: PolicyFaults::default(),
        estop_cycles: Vec::new(),
        reset_cycles: Vec::new(),
    };
    let mut window = |at_s: f64, duration_s: f64, effect| {
        plan.windows.push(Window {
            from_cycle: cycle(at_s),
            to_cycle: cycle(at_s + duration_s),
            effect,
        })
    };
    for f in &c.faults {
        match *f {
            Fault::Push {
                at_s,
                duration_s,
                force_n,
            } => window(at_s, duration_s, WorldEffect::Push(force_n)),
            Fault::SensorDropout { at_s, duration_s } => {
                window(at_s, duration_s, WorldEffect::SensorDropout)
            }
            Fault::SensorNoiseBurst {
                at_s,
                duration_s,
                scale,
            } => window(at_s, duration_s, WorldEffect::NoiseScale(scale)),
            Fault::MotorWeakness {
                at_s,
                duration_s,
                strength,
            } => window(at_s, duration_s, WorldEffect::MotorStrength(strength)),
            _ => {}
        }
    }
    for f in &c.faults {
        match *f {
            Fault::LatencySpike { at_s, duration_ms } => plan.stalls.push(InjectedStall {
                cycle: cycle(at_s),
                duration_ns: (duration_ms * 1e6) as u64,
            }),
            Fault::PolicyFreeze { at_s, duration_s } => plan.policy.freezes.push(PolicyStall {
                from_tick: tick(at_s),
                ticks: ((duration_s * c.rates.policy_hz).round() as u64).max(1),
            }),
            Fault::NonFiniteAction { at_s } => plan.policy.non_finite_from_tick.push(tick(at_s)),
            Fault::Estop { at_s } => plan.estop_cycles.push(cycle(at_s)),
            Fault::Reset { at_s } => plan.reset_cycles.push(cycle(at_s)),
            _ => {}
        }
    }
    plan
}

/// The supervisor thresholds of a config.
pub fn safety_config(cfg: &LoadedConfig) -> SupervisorConfig {
    let s = &cfg.config.safety;
    SupervisorConfig {
        max_late_periods: s.max_late_periods,
        sensor_timeout_s: s.sensor_timeout_ms / 1e3,
        sensor_lost_s: s.sensor_lost_ms / 1e3,
        joint_limit_margin_rad: s.joint_limit_margin_rad,
        torque_saturation_s: s.torque_saturation_ms / 1e3,
        max_tilt_rad: s.max_tilt_rad,
        safe_stop_tilt_rad: s.safe_stop_tilt_rad,
        max_target_step_rad: s.max_target_step_rad,
        safe_stop_kd: s.safe_stop_kd,
    }
}

/// Which fallback runs, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct FallbackInfo {
    /// `certified_mlp` or `joint_pd_hold` (not certified).
    pub kind: String,
    /// The manifest, for a certified fallback.
    pub manifest: Option<String>,
    /// Computed Lipschitz bound.
    pub certified_bound: Option<f64>,
    /// Declared Lipschitz bound.
    pub declared_bound: Option<f64>,
}

/// Builds the fallback: the certified MLP the config names (refused at load if its bound
/// exceeds the declared one), else a joint PD hold of the controller's pose.
pub fn build_fallback(
    cfg: &LoadedConfig,
    robot: &dyn Robot,
) -> Result<(Box<dyn Controller>, FallbackInfo), RunError> {
    match &cfg.config.safety.fallback {
        Some(path) => {
            let p = cfg.resolve(path);
            let fb = CertifiedFallback::load(&p, robot.spec())?;
            let info = FallbackInfo {
                kind: "certified_mlp".into(),
                manifest: Some(p.display().to_string()),
                certified_bound: Some(fb.certified_bound),
                declared_bound: Some(fb.declared_bound),
            };
            Ok((Box::new(fb), info))
        }
        None => {
            let c = &cfg.config.controller;
            let joints = &robot.spec().joint_names;
            let gains = PdGains {
                kp: per_joint_values(&c.kp, joints),
                kd: per_joint_values(&c.kd, joints),
            };
            let hold =
                JointPdHold::new(joint_map_values(&c.pose_rad, joints), gains).map_err(|e| {
                    cfg.invalid("controller", "valid controller parameters", e.to_string())
                })?;
            let info = FallbackInfo {
                kind: "joint_pd_hold".into(),
                manifest: None,
                certified_bound: None,
                declared_bound: None,
            };
            Ok((Box::new(hold), info))
        }
    }
}

/// A loop over the config's simulator with its controller (no policy thread) and fallback:
/// for tools and tests that drive cycles themselves.
pub fn simple_loop(
    cfg: &LoadedConfig,
    primary: Option<Box<dyn Controller>>,
) -> Result<ControlLoop<SimRobot>, RunError> {
    let sim = build_sim(cfg)?;
    let primary = match primary {
        Some(p) => p,
        None => build_controller(cfg, &sim)?,
    };
    let (fallback, _) = build_fallback(cfg, &sim)?;
    Ok(ControlLoop::new(
        sim,
        primary,
        fallback,
        safety_config(cfg),
        cfg.config.rates.control_hz,
        cfg.policy_decimation(),
        plan_faults(cfg).stalls,
    ))
}

/// A loaded policy with what the RT side needs to execute it.
pub struct LoadedPolicy {
    /// The policy (for the policy thread).
    pub policy: OnnxPolicy,
    /// The impedance controller for manipulation policies.
    pub impedance: Option<CartesianImpedance>,
    /// Interpolate joint targets over a policy period.
    pub interpolate: bool,
}

/// Loads ONNX Runtime, the manifest and its models for `robot`: everything is checked here,
/// before the robot moves. `Ok(None)` when the config has no policy.
pub fn build_policy(
    cfg: &LoadedConfig,
    robot: &dyn Robot,
) -> Result<Option<LoadedPolicy>, RunError> {
    let Some(p) = &cfg.config.policy else {
        return Ok(None);
    };
    let spec = robot.spec();
    let library = p.onnxruntime.library.as_ref().map(|l| cfg.resolve(l));
    onnx::runtime(library.as_deref())?;
    let manifest = Manifest::load(&cfg.resolve(&p.manifest), &spec.model, &spec.joint_names)?;
    if (manifest.decl.policy_hz - cfg.config.rates.policy_hz).abs() > 1e-9 {
        return Err(cfg
            .invalid(
                "rates.policy_hz",
                format!(
                    "the policy's rate {} Hz (policy_hz in {})",
                    manifest.decl.policy_hz,
                    manifest.file.display()
                ),
                cfg.config.rates.policy_hz.to_string(),
            )
            .into());
    }
    let opts = SessionOptions {
        providers: p.onnxruntime.providers.clone(),
        tensorrt_fp16: p.onnxruntime.tensorrt_fp16,
        tensorrt_engine_cache: p
            .onnxruntime
            .tensorrt_engine_cache
            .as_ref()
            .map(|d| cfg.resolve(d)),
        warmup_runs: p.onnxruntime.warmup_runs,
    };
    let interpolate = manifest
        .decl
        .joint_action
        .as_ref()
        .map(|a| a.interpolate)
        .unwrap_or(false);
    let impedance = match (&manifest.decl.ee_action, manifest.action_space()) {
        (Some(ee), PolicyKind::Manipulation) => {
            let desc = Model::from_name(&spec.model)
                .map(|m| m.description())
                .ok_or_else(|| cfg.invalid("robot.model", "a known model", spec.model.clone()))?;
            let (tip, tcp) = desc.end_effector.ok_or_else(|| {
                cfg.invalid(
                    "policy.manifest",
                    "a manipulation policy for an arm",
                    format!("`{}` has no end effector", spec.model),
                )
            })?;
            let chain =
                Chain::from_urdf(desc.urdf, desc.base_link, tip, tcp, spec).map_err(|e| {
                    cfg.invalid(
                        "robot.model",
                        "a URDF with a chain to the end effector",
                        e.to_string(),
                    )
                })?;
            let i = &ee.impedance;
            Some(CartesianImpedance::new(
                chain,
                ImpedanceGains {
                    translational_stiffness: i.translational_stiffness_n_m,
                    rotational_stiffness: i.rotational_stiffness_nm_rad,
                    translational_damping: i.translational_damping_n_s_m,
                    rotational_damping: i.rotational_damping_nm_s_rad,
                    max_position_error_m: i.max_position_error_m,
                    max_rotation_error_rad: i.max_rotation_error_rad,
                    joint_damping: i.joint_damping_nm_s_rad,
                },
            ))
        }
        _ => None,
    };
    let mut policy = OnnxPolicy::load(manifest, spec, &opts)?;
    if let Some(cmd) = p.command {
        if let Some(bad) = cmd.iter().find(|v| !v.is_finite()) {
            return Err(cfg
                .invalid(
                    "policy.command",
                    "finite velocities (m/s, m/s, rad/s)",
                    bad.to_string(),
                )
                .into());
        }
        policy.command = cmd;
    }
    Ok(Some(LoadedPolicy {
        policy,
        impedance,
        interpolate,
    }))
}

/// The policy's part of the run report.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyReport {
    /// Manifest file.
    pub manifest: String,
    /// Policy kind.
    pub kind: PolicyKind,
    /// Execution providers per model: requested, active, failed with reasons.
    pub providers: Vec<ProviderReport>,
    /// When the policy took over from the start-up controller (s); null if it never did.
    pub handover_s: Option<f64>,
    /// Policy results that had not arrived one policy period after their tick.
    pub late_results: u64,
    /// Longest run of consecutive late results.
    pub max_consecutive_late: u64,
    /// The policy thread's own figures.
    pub thread: PolicyThreadReport,
}

/// Runs the configured loop for `duration_s` of robot time on a dedicated RT thread.
/// `progress` is updated as it goes. Returns the run report.
pub fn run(
    cfg: &LoadedConfig,
    duration_s: f64,
    progress: Arc<Progress>,
) -> Result<RunReport, RunError> {
    run_observed(cfg, duration_s, progress, None)
}

/// What an observer sees after each cycle (on the RT thread: keep it short).
pub struct CycleView<'a> {
    /// Cycle number.
    pub cycle: u64,
    /// Mode the command of this cycle came from.
    pub mode: Mode,
    /// The state read in this cycle.
    pub state: &'a RobotState,
    /// The command written in this cycle.
    pub command: &'a JointCommand,
    /// Simulator ground truth after this cycle's physics (`None` on real robots).
    pub ground_truth: Option<GroundTruth>,
}

/// A per-cycle callback for tests and tools (it runs on the RT thread).
pub type CycleObserver = Box<dyn FnMut(&CycleView) + Send>;

/// [`run`] with a per-cycle observer.
pub fn run_observed(
    cfg: &LoadedConfig,
    duration_s: f64,
    progress: Arc<Progress>,
    observer: Option<CycleObserver>,
) -> Result<RunReport, RunError> {
    run_until(cfg, Some(duration_s), progress, observer, None)
}

/// The robot spec of the config's model (URDF joint order and limits), without a simulator.
pub fn model_spec(cfg: &LoadedConfig) -> Result<reflex_hardware::RobotSpec, RunError> {
    let model = Model::from_name(&cfg.config.robot.model).ok_or_else(|| {
        cfg.invalid(
            "robot.model",
            "a known model",
            cfg.config.robot.model.clone(),
        )
    })?;
    reflex_sim::robot_spec(model).map_err(|source| RunError::Sim {
        file: cfg.file.clone(),
        source,
    })
}

/// The bridge settings of a config's `ros:` section, with `remaps` from `--ros-args`.
pub fn bridge_config(
    cfg: &LoadedConfig,
    remaps: &[(String, String)],
) -> Result<reflex_hardware::ros::BridgeConfig, RunError> {
    let r = cfg
        .config
        .ros
        .as_ref()
        .ok_or_else(|| cfg.invalid("ros", "a `ros:` section", "nothing"))?;
    let mut node_name = r.node_name.clone();
    let mut namespace = r.namespace.clone();
    let mut topic_remaps = Vec::new();
    for (from, to) in remaps {
        match from.as_str() {
            "__node" | "__name" => node_name = to.clone(),
            "__ns" => namespace = to.clone(),
            _ => topic_remaps.push((from.clone(), to.clone())),
        }
    }
    let domain_id = r
        .domain_id
        .or_else(|| {
            std::env::var("ROS_DOMAIN_ID")
                .ok()
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0);
    Ok(reflex_hardware::ros::BridgeConfig {
        node_name,
        namespace,
        domain_id,
        only_loopback: r.only_loopback,
        joint_states_topic: r.topics.joint_states.clone(),
        imu_topic: r.topics.imu.clone(),
        odometry_topic: r.topics.odometry.clone(),
        wrench_topic: r.topics.wrench.clone(),
        command_topic: r.topics.command.clone(),
        command_interface: r.command_interface,
        diagnostics_topic: r.topics.diagnostics.clone(),
        diagnostics_hz: r.diagnostics_hz,
        stamps: reflex_hardware::ros::StampPolicy {
            max_age_s: r.max_stamp_age_ms / 1e3,
            max_lead_s: r.max_stamp_lead_ms / 1e3,
        },
        remaps: topic_remaps,
        spin_for_command_us: match r.trigger {
            TriggerKind::RobotState => 200,
            TriggerKind::Clock => 0,
        },
    })
}

/// Starts the ROS 2 bridge the config describes (its I/O thread starts here).
pub fn build_ros(
    cfg: &LoadedConfig,
    remaps: &[(String, String)],
) -> Result<reflex_hardware::ros::RosRobot, RunError> {
    let spec = model_spec(cfg)?;
    let bc = bridge_config(cfg, remaps)?;
    let r = cfg.config.ros.as_ref().expect("checked by bridge_config");
    let require_imu = bc.imu_topic.is_some();
    let robot = match r.transport {
        crate::config::RosTransportKind::Dds => {
            #[cfg(feature = "dds")]
            {
                reflex_hardware::ros::RosRobot::start(
                    spec,
                    &bc,
                    require_imu,
                    reflex_hardware::ros::dds::spawn,
                )
            }
            #[cfg(not(feature = "dds"))]
            {
                Err(reflex_hardware::ros::BridgeError::NotCompiled("dds"))
            }
        }
        crate::config::RosTransportKind::R2r => {
            #[cfg(feature = "r2r")]
            {
                reflex_hardware::ros::RosRobot::start(
                    spec,
                    &bc,
                    require_imu,
                    reflex_hardware::ros::r2r_transport::spawn,
                )
            }
            #[cfg(not(feature = "r2r"))]
            {
                Err(reflex_hardware::ros::BridgeError::NotCompiled("r2r"))
            }
        }
    };
    robot.map_err(|e| RunError::Bridge(format!("{}: {e}", cfg.file.display())))
}

/// Runs the config's loop until `duration_s` of robot time (or forever with `None`) or until
/// `stop` is set; builds the backend the config names. `remaps` come from `--ros-args`.
pub fn run_until(
    cfg: &LoadedConfig,
    duration_s: Option<f64>,
    progress: Arc<Progress>,
    observer: Option<CycleObserver>,
    stop: Option<Arc<std::sync::atomic::AtomicBool>>,
) -> Result<RunReport, RunError> {
    run_with_remaps(cfg, duration_s, progress, observer, stop, &[])
}

/// [`run_until`] with ROS topic remaps.
pub fn run_with_remaps(
    cfg: &LoadedConfig,
    duration_s: Option<f64>,
    progress: Arc<Progress>,
    observer: Option<CycleObserver>,
    stop: Option<Arc<std::sync::atomic::AtomicBool>>,
    remaps: &[(String, String)],
) -> Result<RunReport, RunError> {
    match cfg.config.robot.backend {
        crate::config::BackendKind::Sim => {
            let sim = build_sim(cfg)?;
            let plan = plan_faults(cfg);
            let plant = SimPlant::new(sim, plan.windows.clone(), cfg.physics_decimation());
            drive(cfg, plant, plan, duration_s, progress, observer, stop)
        }
        crate::config::BackendKind::Ros2 => {
            let ros = build_ros(cfg, remaps)?;
            drive(
                cfg,
                ros,
                plan_faults(cfg),
                duration_s,
                progress,
                observer,
                stop,
            )
        }
    }
}

fn drive<P: Plant>(
    cfg: &LoadedConfig,
    plant: P,
    plan: FaultPlan,
    duration_s: Option<f64>,
    progress: Arc<Progress>,
    mut observer: Option<CycleObserver>,
    stop: Option<Arc<std::sync::atomic::AtomicBool>>,
) -> Result<RunReport, RunError> {
    let startup = build_controller(cfg, &plant)?;
    let (fallback, fallback_info) = build_fallback(cfg, &plant)?;
    let loaded = build_policy(cfg, &plant)?;
    let c = &cfg.config;
    let control_hz = c.rates.control_hz;
    let cycles_total = duration_s
        .map(|d| (d * control_hz).round().max(1.0) as u64)
        .unwrap_or(u64::MAX);
    let kind = plant.spec().kind;
    let n_joints = plant.spec().num_joints();
    let clock = c
        .sim
        .as_ref()
        .map(|s| s.clock)
        .unwrap_or(ClockKind::Realtime);
    let trigger = c
        .ros
        .as_ref()
        .map(|r| (r.trigger, r.state_timeout_ms))
        .unwrap_or((TriggerKind::Clock, 0.0));
    let period_ns = (1e9 / control_hz).round() as u64;
    let timing = PolicyTiming {
        clock,
        decimation: cfg.policy_decimation(),
        period_ns,
    };

    let mut policy_thread = None;
    let controller: Box<dyn Controller> = match loaded {
        None => startup,
        Some(lp) => {
            let shared = Arc::new(PolicyShared::default());
            let first = RobotState::new(plant.spec());
            let meta = (
                lp.policy.manifest().file.display().to_string(),
                lp.policy.kind(),
                lp.policy.providers(),
            );
            for p in &meta.2 {
                for (ep, why) in &p.failed {
                    eprintln!("[reflex] execution provider {ep:?} unavailable: {why}");
                }
            }
            let (handle, link) = policy_thread::spawn(
                lp.policy,
                n_joints,
                &first,
                timing,
                plan.policy.clone(),
                shared.clone(),
            )
            .map_err(|e| RunError::Thread(e.to_string()))?;
            policy_thread = Some((handle, shared.clone(), meta));
            Box::new(PolicyFollower::new(
                startup,
                link,
                lp.impedance,
                lp.interpolate,
                n_joints,
            ))
        }
    };
    let mut ctl = ControlLoop::new(
        plant,
        controller,
        fallback,
        safety_config(cfg),
        control_hz,
        cfg.policy_decimation(),
        plan.stalls,
    );
    if trigger.0 == TriggerKind::RobotState {
        ctl.use_wall_clock();
    }
    let (estop, reset) = (ctl.estop_handle(), ctl.reset_handle());
    let (estop_cycles, reset_cycles) = (plan.estop_cycles, plan.reset_cycles);
    let rt_cfg = c.realtime.clone();
    let file = cfg.file.display().to_string();
    let robot_name = c.robot.model.clone();
    let policy_hz = c.rates.policy_hz;
    let stop = stop.unwrap_or_default();

    let rt_thread = std::thread::Builder::new()
        .name("reflex-rt".into())
        .spawn(move || -> Result<RunReport, RunError> {
            // Lockstep runs as fast as it can: a SCHED_FIFO busy loop would only starve the
            // machine, so real-time settings apply to the real-time clock alone.
            let rt_status = match clock {
                ClockKind::Realtime => rt::apply(&rt_cfg),
                ClockKind::Lockstep => RtStatus::default(),
            };
            for line in &rt_status.refused {
                eprintln!("[reflex] warning: {line}");
            }
            ctl.start_when_ready(std::time::Duration::from_secs(10))?;
            let mut tracker = OutcomeTracker::new(kind);
            let mut holding_since: Option<f64> = None;
            let mut status = reflex_hardware::ros::LoopStatus::default();
            let wall_start = now_ns();
            let mut deadline = wall_start + period_ns;
            let mut n = 0u64;
            while n < cycles_total && !stop.load(Ordering::Relaxed) {
                match (clock, trigger.0) {
                    (ClockKind::Lockstep, _) => {}
                    (ClockKind::Realtime, TriggerKind::Clock) => {
                        sleep_until_ns(deadline);
                        ctl.stats
                            .wakeup
                            .record_ns(now_ns().saturating_sub(deadline));
                    }
                    (ClockKind::Realtime, TriggerKind::RobotState) => {
                        let t0 = now_ns();
                        let timeout_ns = (trigger.1 * 1e6) as u64;
                        if ctl.robot_mut().wait_for_state(t0 + timeout_ns) == Some(false) {
                            ctl.stats.missed_cycles += 1;
                        }
                        // The cycle's deadline runs from the state's arrival.
                        deadline = now_ns() + period_ns;
                    }
                }
                if estop_cycles.contains(&n) {
                    estop.store(true, Ordering::Relaxed);
                }
                if reset_cycles.contains(&n) {
                    estop.store(false, Ordering::Relaxed);
                    reset.store(true, Ordering::Relaxed);
                }
                let cycle_start = now_ns();
                ctl.cycle();
                // The world side (physics in the simulator), measured apart.
                let p0 = now_ns();
                ctl.robot_mut().advance(n);
                let end = now_ns();
                ctl.stats.physics.record_ns(end - p0);
                let sup = ctl.supervisor();
                status.cycles = ctl.stats.cycles;
                status.overruns = ctl.stats.overruns;
                status.mode = sup.mode() as u8;
                status.transitions = sup.transition_count();
                status.last_cause = sup.last_cause().map(|c| c.name());
                status.missed_cycles = ctl.stats.missed_cycles;
                status.last_compute_us = ctl.stats.last_compute_ns as f64 / 1e3;
                ctl.robot_mut().publish_status(&status);
                let ground_truth = ctl.robot().ground_truth();
                if let Some(obs) = observer.as_mut() {
                    obs(&CycleView {
                        cycle: n,
                        mode: ctl.supervisor().mode(),
                        state: ctl.state(),
                        command: ctl.command(),
                        ground_truth,
                    });
                }
                let t_s = (n + 1) as f64 / control_hz;
                if holding_since.is_none() && matches!(ctl.phase(), "holding" | "policy") {
                    holding_since = Some(t_s);
                }
                tracker.observe(ctl.state(), ctl.command(), ground_truth, t_s, holding_since);
                match clock {
                    ClockKind::Realtime => {
                        if trigger.0 == TriggerKind::Clock {
                            deadline += period_ns;
                        }
                        if end > deadline {
                            ctl.stats.overruns += 1;
                            while deadline < end {
                                deadline += period_ns;
                                ctl.stats.missed_deadlines += 1;
                            }
                        }
                    }
                    // No sleeping: a cycle body longer than a period would have missed its
                    // deadline on the robot.
                    ClockKind::Lockstep => {
                        if p0 - cycle_start > period_ns {
                            ctl.stats.overruns += 1;
                        }
                    }
                }
                progress.cycles.store(ctl.stats.cycles, Ordering::Relaxed);
                progress
                    .overruns
                    .store(ctl.stats.overruns, Ordering::Relaxed);
                n += 1;
            }
            let wall_s = (now_ns() - wall_start) as f64 / 1e9;
            ctl.stop()?;
            progress.done.store(true, Ordering::Release);
            let s = &ctl.stats;
            let sim_s = s.cycles as f64 / control_hz;
            Ok(RunReport {
                config: file,
                robot: robot_name,
                clock,
                duration_s: sim_s,
                wall_time_s: wall_s,
                realtime_factor: if wall_s > 0.0 { sim_s / wall_s } else { 0.0 },
                cycles: s.cycles,
                rate_hz: control_hz,
                policy_hz,
                physics_steps_per_cycle: ctl.robot().physics_steps(),
                overruns: s.overruns,
                missed_deadlines: s.missed_deadlines,
                missed_cycles: s.missed_cycles,
                wakeup_latency_us: (clock == ClockKind::Realtime
                    && trigger.0 == TriggerKind::Clock)
                    .then(|| s.wakeup.summary_us()),
                compute_us: s.compute.summary_us(),
                physics_us: s.physics.summary_us(),
                clamped_commands: s.clamped_commands,
                io_errors: s.io_errors,
                final_mode: ctl.supervisor().mode(),
                final_phase: ctl.phase().to_string(),
                limited_targets: s.limited_targets,
                supervisor: SupervisorReport {
                    fallback: fallback_info,
                    transitions: ctl
                        .supervisor()
                        .transitions()
                        .map(|t| TransitionReport {
                            time_s: t.cycle as f64 / control_hz,
                            transition: *t,
                        })
                        .collect(),
                    dropped_transitions: ctl.supervisor().dropped_transitions,
                    cycles_in_policy: ctl.supervisor().cycles_in_mode[0],
                    cycles_in_fallback: ctl.supervisor().cycles_in_mode[1],
                    cycles_in_safe_stop: ctl.supervisor().cycles_in_mode[2],
                },
                realtime: rt_status,
                outcome: tracker.finish(),
                policy: None,
                bridge: ctl.robot().bridge_report(),
            })
        })
        .map_err(|e| RunError::Thread(e.to_string()));
    let result = rt_thread.and_then(|h| {
        h.join()
            .map_err(|_| RunError::Thread("the RT thread panicked".into()))?
    });
    // Whatever happened to the RT thread, the policy thread ends here.
    let policy_report = policy_thread.map(|(handle, shared, (manifest, kind, providers))| {
        shared.stop.store(true, Ordering::Release);
        let thread = handle.join();
        (shared, manifest, kind, providers, thread)
    });
    let mut report = result?;
    if let Some((shared, manifest, kind, providers, thread)) = policy_report {
        let thread = thread.map_err(|_| RunError::Thread("the policy thread panicked".into()))?;
        let handover = shared.handover_cycle.load(Ordering::Acquire);
        report.policy = Some(PolicyReport {
            manifest,
            kind,
            providers,
            handover_s: (handover != u64::MAX).then(|| handover as f64 / control_hz),
            late_results: shared.late_results.load(Ordering::Acquire),
            max_consecutive_late: shared.max_consecutive_late.load(Ordering::Acquire),
            thread,
        });
    }
    Ok(report)
}
