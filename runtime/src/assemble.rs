//! Everything a run needs, built from a checked config: the backend (simulator or ROS 2
//! bridge), the start-up controller, the fallback, the policy, and the runtime's own types for
//! each config section. The one place config sections turn into runtime types; nothing here
//! runs on the RT thread.

use reflex_hardware::catalogue::RobotModel;
use std::sync::Arc;

use reflex_hardware::ros::teleop::{JoyInput, LockInput, Teleop, TeleopConfig, TwistInput};
use reflex_hardware::ros::{BridgeConfig, Plausibility, RosRobot, StampPolicy};
use reflex_hardware::{OperatorInputs, RobotSpec};
use reflex_policies::cartesian::{CartesianImpedance, Chain, ImpedanceGains};
use reflex_policies::command::CommandSource;
use reflex_policies::fallback::CertifiedFallback;
use reflex_policies::intervention::{Intervention, InterventionConfig, EE_AXES};
use reflex_policies::manifest::{Manifest, PolicyKind};
use reflex_policies::onnx::{self, SessionOptions};
use reflex_policies::policy::OnnxPolicy;
use reflex_policies::{Controller, JointPdHold, PdGains, StandUp};
use reflex_sim::{SensorNoise, SimConfig, SimRobot};
use reflex_validate::FileError;

use crate::config::{ControllerKind, LoadedConfig, RosTransportKind, SafetySection, TriggerKind};
use crate::driver::report::FallbackInfo;
use crate::driver::RunError;
use crate::supervisor::SupervisorConfig;

/// The supervisor thresholds of a `safety:` section.
pub fn supervisor_config(s: &SafetySection) -> SupervisorConfig {
    SupervisorConfig {
        max_late_periods: s.max_late_periods,
        sensor_timeout_s: s.sensor_timeout_ms / 1e3,
        sensor_lost_s: s.sensor_lost_ms / 1e3,
        joint_limit_margin_rad: s.joint_limit_margin_rad,
        target_limit_margin_rad: s.target_limit_margin_rad,
        torque_saturation_s: s.torque_saturation_ms / 1e3,
        max_tilt_rad: s.max_tilt_rad,
        safe_stop_tilt_rad: s.safe_stop_tilt_rad,
        max_target_step_rad: s.max_target_step_rad,
        safe_stop_kd: s.safe_stop_kd,
        persist_samples: s.persist_samples,
        recover_from_stale: s
            .recover_from_stale
            .map(|r| (r.max_stale_ms / 1e3, r.healthy_ms / 1e3)),
    }
}

/// The simulator settings of a config's `sim:` section.
pub fn sim_config(cfg: &LoadedConfig) -> Result<SimConfig, RunError> {
    let sim = cfg
        .config
        .sim
        .as_ref()
        .ok_or_else(|| cfg.invalid("sim", "a `sim:` section", "nothing"))?;
    let mut sc = SimConfig::new(cfg.robot());
    sc.physics_dt_s = sim.physics_dt_s;
    sc.seed = sim.seed;
    sc.initial_pose_jitter_rad = sim.initial_pose_jitter_rad;
    sc.joint_damping_nm_s_rad = sim.joint_damping_nm_s_rad;
    sc.ground_friction = sim.ground_friction;
    sc.solver_iterations = sim.solver_iterations;
    sc.pgs_iterations = sim.pgs_iterations;
    sc.mass_scale = sim.mass_scale;
    sc.payload_kg = sim.payload_kg;
    sc.motor_strength = sim.motor_strength;
    sc.gain_scale = sim.gain_scale;
    sc.rough_terrain_m = sim.rough_terrain_m;
    if let Some(off) = &sim.joint_offset_rad {
        sc.joint_offset_rad = off.resolve(&cfg.robot().joint_names());
    }
    sc.noise = SensorNoise {
        joint_position_rad: sim.noise.joint_position_rad,
        joint_velocity_rad_s: sim.noise.joint_velocity_rad_s,
        gyro_rad_s: sim.noise.gyro_rad_s,
        accelerometer_m_s2: sim.noise.accelerometer_m_s2,
    };
    Ok(sc)
}

/// Builds the simulator the config describes. Not RT.
pub fn build_sim(cfg: &LoadedConfig) -> Result<SimRobot, RunError> {
    SimRobot::new(&sim_config(cfg)?).map_err(|e| RunError::Sim {
        file: cfg.file.clone(),
        reason: e.to_string(),
    })
}

/// The robot's spec from the catalogue (joint order, URDF limits), without a simulator.
pub fn robot_spec(cfg: &LoadedConfig) -> Result<RobotSpec, RunError> {
    cfg.robot().spec().map_err(|e| RunError::Sim {
        file: cfg.file.clone(),
        reason: e.to_string(),
    })
}

fn gains(cfg: &LoadedConfig, spec: &RobotSpec) -> PdGains {
    let c = &cfg.config.controller;
    PdGains {
        kp: c.kp.resolve(&spec.joint_names),
        kd: c.kd.resolve(&spec.joint_names),
    }
}

fn controller_error(cfg: &LoadedConfig, e: reflex_policies::ControllerError) -> FileError {
    cfg.invalid("controller", "valid controller parameters", e.to_string())
}

/// The configured start-up controller for `spec` (pose, limits and gains checked at load).
pub fn build_startup(
    cfg: &LoadedConfig,
    spec: &RobotSpec,
) -> Result<Box<dyn Controller>, FileError> {
    let c = &cfg.config.controller;
    let pose = reflex_validate::PerJoint::ByName(c.pose_rad.clone()).resolve(&spec.joint_names);
    let g = gains(cfg, spec);
    Ok(match c.kind {
        ControllerKind::StandUp => Box::new(
            StandUp::new(pose, g, c.duration_s.unwrap_or(0.0))
                .map_err(|e| controller_error(cfg, e))?,
        ),
        ControllerKind::JointPdHold => {
            Box::new(JointPdHold::new(pose, g).map_err(|e| controller_error(cfg, e))?)
        }
    })
}

/// The fallback: the certified MLP the config names (refused at load if its bound exceeds the
/// declared one), else a joint PD hold of the controller's pose.
pub fn build_fallback(
    cfg: &LoadedConfig,
    spec: &RobotSpec,
) -> Result<(Box<dyn Controller>, FallbackInfo), RunError> {
    match &cfg.config.safety.fallback {
        Some(path) => {
            let p = cfg.resolve(path);
            let fb = CertifiedFallback::load(&p, spec)?;
            let info = certified_info(&fb, Some(p.display().to_string()));
            Ok((Box::new(fb), info))
        }
        None => {
            let pose = reflex_validate::PerJoint::ByName(cfg.config.controller.pose_rad.clone())
                .resolve(&spec.joint_names);
            let hold =
                JointPdHold::new(pose, gains(cfg, spec)).map_err(|e| controller_error(cfg, e))?;
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

/// The report's description of a certified fallback.
pub fn certified_info(fb: &CertifiedFallback, manifest: Option<String>) -> FallbackInfo {
    FallbackInfo {
        kind: "certified_mlp".into(),
        manifest,
        certified_bound: Some(fb.certified_bound),
        declared_bound: Some(fb.declared_bound),
    }
}

/// A loaded policy with what the RT side needs to execute it.
pub struct LoadedPolicy {
    /// The policy (for the policy thread).
    pub policy: OnnxPolicy,
    /// The impedance controller for manipulation policies.
    pub impedance: Option<CartesianImpedance>,
    /// Interpolate joint targets over a policy period.
    pub interpolate: bool,
    /// Where its velocity command comes from.
    pub commands: CommandSource,
    /// A human's take-over (a `teleop.ee_twist` section).
    pub intervention: Option<Intervention>,
}

/// The ONNX Runtime options of a config's `policy.onnxruntime` section.
pub fn session_options(cfg: &LoadedConfig) -> SessionOptions {
    let o = cfg
        .config
        .policy
        .as_ref()
        .map(|p| p.onnxruntime.clone())
        .unwrap_or_default();
    SessionOptions {
        providers: o.providers.clone(),
        tensorrt_fp16: o.tensorrt_fp16,
        tensorrt_engine_cache: o.tensorrt_engine_cache.as_ref().map(|d| cfg.resolve(d)),
        warmup_runs: o.warmup_runs,
    }
}

/// The Cartesian impedance controller for a manipulation manifest on `robot`.
fn impedance(
    cfg: &LoadedConfig,
    robot: &RobotModel,
    spec: &RobotSpec,
    manifest: &Manifest,
) -> Result<Option<CartesianImpedance>, RunError> {
    let (Some(ee), PolicyKind::Manipulation) = (&manifest.decl.ee_action, manifest.action_space())
    else {
        return Ok(None);
    };
    let tool = robot.end_effector.ok_or_else(|| {
        cfg.invalid(
            "policy.manifest",
            "a manipulation policy for an arm",
            format!("`{}` has no end effector", robot.name),
        )
    })?;
    let chain = Chain::from_urdf(robot.urdf, robot.base_link, tool.link, tool.tcp_m, spec)
        .map_err(|e| {
            cfg.invalid(
                "robot.model",
                "a URDF with a chain to the end effector",
                e.to_string(),
            )
        })?;
    let i = &ee.impedance;
    Ok(Some(CartesianImpedance::new(
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
    )))
}

/// Loads ONNX Runtime, the manifest and its models for `spec`: everything is checked here,
/// before the robot moves. `Ok(None)` when the config has no policy.
pub fn build_policy(
    cfg: &LoadedConfig,
    spec: &RobotSpec,
) -> Result<Option<LoadedPolicy>, RunError> {
    let Some(p) = &cfg.config.policy else {
        return Ok(None);
    };
    let library = p.onnxruntime.library.as_ref().map(|l| cfg.resolve(l));
    onnx::runtime(library.as_deref())?;
    let manifest = Manifest::load(&cfg.resolve(&p.manifest), spec)?;
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
    let needs_velocity = manifest
        .decl
        .observation
        .terms
        .contains(&reflex_policies::manifest::ObsTerm::BaseLinVel);
    let has_velocity = match (&cfg.config.ros, cfg.config.robot.backend) {
        (Some(r), _) => r.topics.odometry.is_some(),
        // LowState carries no base velocity estimate.
        (None, crate::config::BackendKind::Unitree) => false,
        (None, _) => true, // the simulator's state estimate
    };
    if needs_velocity && !has_velocity {
        return Err(cfg
            .invalid(
                "ros.topics.odometry",
                format!(
                    "a nav_msgs/Odometry topic: {} observes base_lin_vel, which comes from the robot's state estimator",
                    manifest.file.display()
                ),
                "nothing",
            )
            .into());
    }
    let interpolate = manifest
        .decl
        .joint_action
        .as_ref()
        .is_some_and(|a| a.interpolate);
    let impedance = impedance(cfg, cfg.robot(), spec, &manifest)?;
    let commands = command_source(cfg, &manifest);
    let intervention = intervention(cfg, &manifest)?;
    let mut policy = load_within(cfg, manifest, spec)?;
    if let Some(cmd) = p.command {
        policy.command = cmd;
    }
    Ok(Some(LoadedPolicy {
        policy,
        impedance,
        interpolate,
        commands,
        intervention,
    }))
}

static LOAD_ABANDONED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether a model load was abandoned at its time limit and may still be running inside ONNX
/// Runtime: the process must then leave without running C++ static destructors under it
/// (`reflex` exits with `_exit`).
pub fn model_load_abandoned() -> bool {
    LOAD_ABANDONED.load(std::sync::atomic::Ordering::Acquire)
}

/// Loads the policy's models (sessions and warm-up) on a helper thread and waits at most
/// `policy.onnxruntime.load_timeout_s` for them: a model that hangs ONNX Runtime is refused
/// instead of holding start-up forever. A load that times out is abandoned (see
/// [`model_load_abandoned`]); the caller is about to exit with the error.
fn load_within(
    cfg: &LoadedConfig,
    manifest: Manifest,
    spec: &RobotSpec,
) -> Result<OnnxPolicy, RunError> {
    let limit_s = cfg
        .config
        .policy
        .as_ref()
        .map_or(600.0, |p| p.onnxruntime.load_timeout_s);
    let opts = session_options(cfg);
    let warmup_runs = opts.warmup_runs;
    let (spec, file) = (spec.clone(), manifest.file.clone());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("reflex-model-load".into())
        .spawn(move || {
            let _ = tx.send(OnnxPolicy::load(manifest, &spec, &opts));
        })
        .map_err(|e| RunError::Thread(format!("model loader: {e}")))?;
    match rx.recv_timeout(std::time::Duration::from_secs_f64(limit_s)) {
        Ok(r) => Ok(r?),
        Err(_) => {
            LOAD_ABANDONED.store(true, std::sync::atomic::Ordering::Release);
            Err(cfg
                .invalid(
                    "policy.onnxruntime.load_timeout_s",
                    format!(
                        "the models of {} loaded and warmed up ({} runs) within the limit",
                        file.display(),
                        warmup_runs
                    ),
                    format!("still loading after {limit_s} s"),
                )
                .into())
        }
    }
}

/// Where a locomotion policy's velocity command comes from: the config's command (else the
/// manifest's), its schedule, the teleop stream's timeout and decay, the manifest's limits.
pub fn command_source(cfg: &LoadedConfig, manifest: &Manifest) -> CommandSource {
    let p = cfg.config.policy.as_ref();
    let base = p.and_then(|p| p.command).unwrap_or(manifest.decl.command);
    let schedule = p
        .map(|p| {
            p.command_schedule
                .iter()
                .map(|s| (s.at_s, s.command))
                .collect()
        })
        .unwrap_or_default();
    let twist = cfg.config.teleop.as_ref().and_then(|t| t.twist.as_ref());
    CommandSource::new(
        base,
        schedule,
        manifest.decl.command_limits,
        twist.map_or(0.5, |t| t.timeout_ms / 1e3),
        twist.map_or(0.5, |t| t.decay_ms / 1e3),
    )
}

/// The DDS domain: the configured one, else `ROS_DOMAIN_ID` (checked at load), else 0.
fn domain_id(configured: Option<u16>) -> u16 {
    configured
        .or_else(|| {
            std::env::var("ROS_DOMAIN_ID")
                .ok()
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The teleop node's settings, when the config has a `teleop:` section with any input.
pub fn teleop_config(cfg: &LoadedConfig, remaps: &[(String, String)]) -> Option<TeleopConfig> {
    let t = cfg.config.teleop.as_ref()?;
    if t.twist.is_none() && t.joy.is_none() && t.ee_twist.is_none() && t.estop.is_none() {
        return None;
    }
    let namespace = remaps
        .iter()
        .find(|(k, _)| k == "__ns")
        .map_or("/", |(_, v)| v.as_str());
    let ms = |v: f64| (v * 1e6) as u64;
    // Velocity commands beyond 10 m/s or rad/s, device readings beyond 10 full scales: absurd.
    let max_magnitude = 10.0;
    let deadman = t
        .twist
        .as_ref()
        .filter(|tw| tw.require_enable_button)
        .map(|tw| tw.enable_button as usize);
    Some(TeleopConfig {
        node: BridgeConfig::node_only(
            &t.node_name,
            namespace,
            domain_id(t.domain_id),
            t.only_loopback,
            remaps
                .iter()
                .filter(|(k, _)| !k.starts_with("__"))
                .cloned()
                .collect(),
        ),
        twist: t.twist.as_ref().map(|tw| TwistInput {
            topic: tw.topic.clone(),
            stamped: tw.stamped,
            max_rate_hz: tw.max_rate_hz,
            max_magnitude,
        }),
        ee_twist: t.ee_twist.as_ref().map(|e| TwistInput {
            topic: e.topic.clone(),
            stamped: e.stamped,
            max_rate_hz: e.max_rate_hz,
            max_magnitude,
        }),
        joy: t.joy.as_ref().map(|j| JoyInput {
            topic: j.topic.clone(),
            max_rate_hz: j.max_rate_hz,
            enable_button: deadman,
            timeout_ns: ms(j.timeout_ms),
        }),
        lock: t.estop.as_ref().map(|e| LockInput {
            topic: e.topic.clone(),
            reset_topic: e.reset_topic.clone(),
            heartbeat_timeout_ns: e.heartbeat_timeout_ms.map(ms),
            max_rate_hz: e.max_rate_hz,
        }),
        max_age_ns: ms(t.max_age_ms),
    })
}

/// Starts the teleop node the config describes (its I/O thread starts here), acting on
/// `operator` (e-stop, reset).
pub fn build_teleop(
    cfg: &LoadedConfig,
    tc: &TeleopConfig,
    operator: Arc<OperatorInputs>,
) -> Result<Teleop, RunError> {
    #[cfg(feature = "dds")]
    let r = Teleop::start(tc, operator, reflex_hardware::ros::dds::spawn_teleop);
    #[cfg(not(feature = "dds"))]
    let r: Result<Teleop, _> = {
        let _ = operator;
        Err(reflex_hardware::ros::BridgeError::NotCompiled("dds"))
    };
    r.map_err(|e| RunError::Bridge(format!("{}: teleop: {e}", cfg.file.display())))
}

/// The human intervention of a `teleop.ee_twist` section, refused unless the policy acts on
/// the end effector (a 7-D action: manipulation, or residual over manipulation).
pub fn intervention(
    cfg: &LoadedConfig,
    manifest: &Manifest,
) -> Result<Option<Intervention>, RunError> {
    let Some(e) = cfg.config.teleop.as_ref().and_then(|t| t.ee_twist.as_ref()) else {
        return Ok(None);
    };
    if manifest.action_space() != PolicyKind::Manipulation {
        return Err(cfg
            .invalid(
                "teleop.ee_twist",
                "a policy with an end-effector action (manipulation, or residual over it)",
                format!(
                    "a {:?} action in {}",
                    manifest.action_space(),
                    manifest.file.display()
                ),
            )
            .into());
    }
    let ms = |v: f64| (v * 1e6) as u64;
    let mut axes = [false; 7];
    for a in &e.axes {
        if let Some(i) = EE_AXES.iter().position(|x| x == a) {
            axes[i] = true;
        }
    }
    let button = |b: Option<u32>| b.map(|b| b as usize);
    Ok(Some(Intervention::new(InterventionConfig {
        linear_scale: e.linear_scale,
        angular_scale: e.angular_scale,
        threshold: e.threshold,
        hold_ns: ms(e.hold_ms),
        timeout_ns: ms(e.timeout_ms),
        axes,
        close_button: button(e.gripper_close_button),
        open_button: button(e.gripper_open_button),
        intervene_button: button(e.intervene_button),
    })))
}

/// The bridge settings of a config's `ros:` section, with `remaps` from `--ros-args`.
pub fn bridge_config(
    cfg: &LoadedConfig,
    remaps: &[(String, String)],
) -> Result<BridgeConfig, RunError> {
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
    let domain_id = domain_id(r.domain_id);
    Ok(BridgeConfig {
        node_name,
        namespace,
        domain_id,
        only_loopback: r.only_loopback,
        network_address: None,
        joint_states_topic: r.topics.joint_states.clone(),
        imu_topic: r.topics.imu.clone(),
        odometry_topic: r.topics.odometry.clone(),
        wrench_topic: r.topics.wrench.clone(),
        command_topic: r.topics.command.clone(),
        command_interface: r.command_interface,
        diagnostics_topic: r.topics.diagnostics.clone(),
        diagnostics_hz: r.diagnostics_hz,
        stamps: StampPolicy {
            max_age_s: r.max_stamp_age_ms / 1e3,
            max_lead_s: r.max_stamp_lead_ms / 1e3,
        },
        plausibility: Plausibility {
            joint_limit_margin_rad: cfg.config.safety.joint_limit_margin_rad,
            jump_slack_s: r.plausibility.jump_slack_ms / 1e3,
            quaternion_norm_tolerance: r.plausibility.quaternion_norm_tolerance,
            orientation_slack_rad: r.plausibility.orientation_slack_rad,
        },
        accept_from: r.accept_from.resolve().unwrap_or_default(),
        remaps: topic_remaps,
        spin_for_command_us: cfg
            .config
            .threads
            .ros_io
            .as_ref()
            .and_then(|t| t.spin_us)
            .unwrap_or(match r.trigger {
                TriggerKind::RobotState => 200,
                TriggerKind::Clock => 0,
            }),
    })
}

/// The bridge settings of a config's `unitree:` section (SDK2 low level: robot-triggered on
/// each LowState, commands as LowCmd).
pub fn unitree_bridge_config(cfg: &LoadedConfig) -> Result<BridgeConfig, RunError> {
    let u = cfg
        .config
        .unitree
        .as_ref()
        .ok_or_else(|| cfg.invalid("unitree", "a `unitree:` section", "nothing"))?;
    let network_address = match &u.network_interface {
        Some(name) => Some(crate::config::interface_address(name).ok_or_else(|| {
            cfg.invalid(
                "unitree.network_interface",
                "a network interface of this machine with an IPv4 address",
                format!("`{name}`"),
            )
        })?),
        None => None,
    };
    Ok(BridgeConfig {
        node_name: "reflex".into(),
        namespace: "/".into(),
        domain_id: domain_id(u.domain_id),
        only_loopback: u.only_loopback,
        network_address,
        joint_states_topic: u.lowstate_topic.clone(),
        imu_topic: None,
        odometry_topic: None,
        wrench_topic: None,
        command_topic: u.lowcmd_topic.clone(),
        command_interface: reflex_hardware::ros::CommandInterface::UnitreeLowCmd,
        diagnostics_topic: String::new(),
        diagnostics_hz: 1.0,
        // LowState has no stamp: samples are stamped on arrival.
        stamps: StampPolicy {
            max_age_s: 0.0,
            max_lead_s: 0.0,
        },
        plausibility: Plausibility {
            joint_limit_margin_rad: cfg.config.safety.joint_limit_margin_rad,
            jump_slack_s: u.plausibility.jump_slack_ms / 1e3,
            quaternion_norm_tolerance: u.plausibility.quaternion_norm_tolerance,
            orientation_slack_rad: u.plausibility.orientation_slack_rad,
        },
        accept_from: u.accept_from.resolve().unwrap_or_default(),
        remaps: vec![],
        spin_for_command_us: cfg
            .config
            .threads
            .ros_io
            .as_ref()
            .and_then(|t| t.spin_us)
            .unwrap_or(200),
    })
}

/// Starts the Unitree SDK2 backend the config describes (its I/O thread starts here).
pub fn build_unitree(cfg: &LoadedConfig) -> Result<RosRobot, RunError> {
    let spec = robot_spec(cfg)?;
    let bc = unitree_bridge_config(cfg)?;
    #[cfg(feature = "dds")]
    let robot = RosRobot::start(spec, &bc, true, reflex_hardware::unitree::spawn);
    #[cfg(not(feature = "dds"))]
    let robot: Result<RosRobot, _> = {
        let _ = (spec, bc);
        Err(reflex_hardware::ros::BridgeError::NotCompiled("dds"))
    };
    robot.map_err(|e| RunError::Bridge(format!("{}: {e}", cfg.file.display())))
}

/// Starts the ROS 2 bridge the config describes (its I/O thread starts here).
pub fn build_ros(cfg: &LoadedConfig, remaps: &[(String, String)]) -> Result<RosRobot, RunError> {
    let spec = robot_spec(cfg)?;
    let bc = bridge_config(cfg, remaps)?;
    let transport = cfg.config.ros.as_ref().map(|r| r.transport);
    let require_imu = bc.imu_topic.is_some();
    let robot = match transport {
        Some(RosTransportKind::Dds) => {
            #[cfg(feature = "dds")]
            {
                RosRobot::start(spec, &bc, require_imu, reflex_hardware::ros::dds::spawn)
            }
            #[cfg(not(feature = "dds"))]
            {
                Err(reflex_hardware::ros::BridgeError::NotCompiled("dds"))
            }
        }
        _ => {
            #[cfg(feature = "r2r")]
            {
                RosRobot::start(
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
