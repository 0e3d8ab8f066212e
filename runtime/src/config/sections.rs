//! The sections of a run config: their fields, units and defaults (the rules: `checks.rs`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use reflex_validate::PerJoint;
use serde::Deserialize;

/// Which robot and which backend drives it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RobotSection {
    /// Robot model name from the catalogue (`a1`, `panda`).
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
    /// A Unitree robot over SDK2's low-level DDS interface (see the `unitree:` section).
    Unitree,
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
    /// PGS iterations inside each solver iteration; cheaper than solver iterations.
    #[serde(default = "default_pgs_iterations")]
    pub pgs_iterations: usize,
    /// Sensor noise standard deviations.
    #[serde(default)]
    pub noise: NoiseSection,
    /// Every link's mass and inertia × this (0.5–2; domain randomisation).
    #[serde(default = "one")]
    pub mass_scale: f64,
    /// A payload on the base (kg, 0–50).
    #[serde(default)]
    pub payload_kg: f64,
    /// The motors deliver this × the driver's torque, limits included (0.5–1.5).
    #[serde(default = "one")]
    pub motor_strength: f64,
    /// The motor drivers apply kp and kd × this (0.5–1.5).
    #[serde(default = "one")]
    pub gain_scale: f64,
    /// Rough ground ahead of a legged robot: 0.4 m tiles (x 0.6–8 m, y ±1.6 m) each raised by
    /// up to this much (m, 0–0.2, drawn from the seed); 0: flat.
    #[serde(default)]
    pub rough_terrain_m: f64,
    /// Encoder offsets added to the reported joint positions (rad, per joint or one for all,
    /// |offset| ≤ 0.2).
    #[serde(default)]
    pub joint_offset_rad: Option<PerJoint>,
    /// The IMU reading the loop sees is this many control cycles old (0–50).
    #[serde(default)]
    pub imu_latency_cycles: usize,
    /// Commands reach the motors this many control cycles after they are written (0–100).
    #[serde(default)]
    pub action_delay_cycles: usize,
    /// On the lockstep clock, a policy result reaches the loop this many control cycles after
    /// its tick's observation (fewer than the cycles per policy tick): the inference time a
    /// real computer takes. The real-time clock has the real one.
    #[serde(default)]
    pub policy_latency_cycles: u64,
}

fn one() -> f64 {
    1.0
}

fn default_friction() -> f64 {
    1.0
}
fn default_pgs_iterations() -> usize {
    1
}

fn default_solver_iterations() -> usize {
    2
}

/// Sensor noise standard deviations.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq)]
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
    /// Robot-triggered cycles: the RT thread stops parking this long before the next state is
    /// due (one period after the last) and spins for it, up to as long after (µs; 0: park
    /// throughout). Saves the futex wake-up on the state's way in, for this much CPU per cycle.
    #[serde(default)]
    pub spin_for_state_us: u64,
}

/// Placement of one class of thread (see [`crate::threads`]); unset fields keep the default.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThreadSection {
    /// SCHED_FIFO priority 1–99; 0: the normal scheduler.
    #[serde(default)]
    pub priority: Option<i32>,
    /// Nice value on the normal scheduler (−20–19).
    #[serde(default)]
    pub nice: Option<i32>,
    /// CPUs the threads may run on.
    #[serde(default)]
    pub cpus: Option<Vec<usize>>,
    /// `ros_io` only: after handing the RT thread a state, spin this long for its answer before
    /// parking (µs; 0: park at once). Default: 200 for robot-triggered cycles, 0 otherwise.
    #[serde(default)]
    pub spin_us: Option<u64>,
}

/// `threads:` — where every thread besides the RT one runs (the RT thread: `realtime:`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThreadsSection {
    /// Place the threads at all (false: leave them as the OS made them, for comparison).
    pub place: bool,
    /// The policy thread (ONNX Runtime).
    pub policy: Option<ThreadSection>,
    /// The ROS I/O thread.
    pub ros_io: Option<ThreadSection>,
    /// The DDS library's threads and the ROS spinner.
    pub dds: Option<ThreadSection>,
    /// The teleop node's threads.
    pub teleop: Option<ThreadSection>,
}

impl Default for ThreadsSection {
    fn default() -> Self {
        Self {
            place: true,
            policy: None,
            ros_io: None,
            dds: None,
            teleop: None,
        }
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
    /// Velocity commands that change during the run: each step holds from its time until the
    /// next (before the first: `command`). A `teleop.twist` stream, once it speaks, overrides.
    #[serde(default)]
    pub command_schedule: Vec<CommandStep>,
    /// ONNX Runtime settings.
    #[serde(default)]
    pub onnxruntime: OnnxRuntimeSection,
}

/// One step of a velocity-command schedule.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandStep {
    /// From when (s since start).
    pub at_s: f64,
    /// vx (m/s), vy (m/s), yaw rate (rad/s).
    pub command: [f64; 3],
}

/// Operator inputs over ROS 2, with any backend (the simulator included).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeleopSection {
    /// Node name of the teleop node.
    #[serde(default = "default_teleop_node")]
    pub node_name: String,
    /// DDS domain; default: `ROS_DOMAIN_ID`, else 0.
    #[serde(default)]
    pub domain_id: Option<u16>,
    /// Keep DDS traffic on loopback.
    #[serde(default)]
    pub only_loopback: bool,
    /// Stamped messages (TwistStamped, Joy) whose stamp is further than this from the system
    /// clock are stale and rejected (ms).
    #[serde(default = "default_max_age")]
    pub max_age_ms: f64,
    /// A velocity command (`geometry_msgs/Twist` or `TwistStamped`) for locomotion policies.
    #[serde(default)]
    pub twist: Option<TwistSection>,
    /// A `sensor_msgs/Joy` input: the deadman button, gripper and intervene buttons.
    #[serde(default)]
    pub joy: Option<JoySection>,
    /// A 6-D end-effector twist for manipulation policies: the human's intervention.
    #[serde(default)]
    pub ee_twist: Option<EeTwistSection>,
    /// An e-stop lock topic and its reset.
    #[serde(default)]
    pub estop: Option<EstopSection>,
}

fn default_max_age() -> f64 {
    500.0
}

/// The `sensor_msgs/Joy` topic (joy_node, spacenav's `spacenav/joy`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoySection {
    /// Topic.
    #[serde(default = "default_joy_topic")]
    pub topic: String,
    /// Most messages per second accepted.
    #[serde(default = "default_twist_rate")]
    pub max_rate_hz: f64,
    /// A Joy message older than this no longer holds any button (ms): a silent joystick is
    /// released.
    #[serde(default = "default_twist_timeout")]
    pub timeout_ms: f64,
}

fn default_joy_topic() -> String {
    "/joy".into()
}

/// The end-effector twist (spacenav's `spacenav/twist`, MoveIt Servo's delta twists), mapped
/// into the policy's 7-D action: action = clip(component × scale, −1, 1).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EeTwistSection {
    /// Topic.
    #[serde(default = "default_ee_twist_topic")]
    pub topic: String,
    /// `geometry_msgs/TwistStamped` (else `Twist`).
    #[serde(default)]
    pub stamped: bool,
    /// Most messages per second accepted.
    #[serde(default = "default_twist_rate")]
    pub max_rate_hz: f64,
    /// Action per unit of linear twist.
    #[serde(default = "one")]
    pub linear_scale: f64,
    /// Action per unit of angular twist.
    #[serde(default = "one")]
    pub angular_scale: f64,
    /// The human acts when the mapped action's norm exceeds this (SERL: 0.001).
    #[serde(default = "default_threshold")]
    pub threshold: f64,
    /// The human keeps control this long after the last input (ms; SERL: 500).
    #[serde(default = "default_twist_timeout")]
    pub hold_ms: f64,
    /// A twist older than this is no input (ms): a silent device is released.
    #[serde(default = "default_twist_timeout")]
    pub timeout_ms: f64,
    /// The action axes the human controls (x, y, z, roll, pitch, yaw, gripper); the others
    /// keep the policy's action. Default: all.
    #[serde(default = "all_axes")]
    pub axes: Vec<String>,
    /// Joy button that closes the gripper (action −1; HIL-SERL: the SpaceMouse's left).
    #[serde(default)]
    pub gripper_close_button: Option<u32>,
    /// Joy button that opens the gripper (action +1; the right).
    #[serde(default)]
    pub gripper_open_button: Option<u32>,
    /// Joy button that takes over while held, with whatever the twist says.
    #[serde(default)]
    pub intervene_button: Option<u32>,
}

fn default_ee_twist_topic() -> String {
    "/spacenav/twist".into()
}
fn default_threshold() -> f64 {
    1e-3
}
fn all_axes() -> Vec<String> {
    reflex_policies::intervention::EE_AXES
        .iter()
        .map(|a| a.to_string())
        .collect()
}

/// The e-stop lock (twist_mux's convention: `std_msgs/Bool`, true blocks) and its reset.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EstopSection {
    /// The `std_msgs/Bool` lock topic.
    #[serde(default = "default_estop_topic")]
    pub topic: String,
    /// The `std_msgs/Empty` topic that resets to the policy once the lock is released.
    #[serde(default = "default_reset_topic")]
    pub reset_topic: String,
    /// A lock topic silent for longer than this counts as locked (ms), from the start; none:
    /// no heartbeat required.
    #[serde(default)]
    pub heartbeat_timeout_ms: Option<f64>,
    /// Most releases and resets per second accepted (a lock is never dropped).
    #[serde(default = "default_estop_rate")]
    pub max_rate_hz: f64,
}

fn default_estop_topic() -> String {
    "/e_stop".into()
}
fn default_reset_topic() -> String {
    "/e_stop_reset".into()
}
fn default_estop_rate() -> f64 {
    100.0
}

fn default_teleop_node() -> String {
    "reflex_teleop".into()
}

/// The velocity-command topic (teleop_twist_joy, nav2: `/cmd_vel`): vx = linear.x,
/// vy = linear.y, yaw rate = angular.z, clipped to the manifest's `command_limits`; optionally
/// behind a Joy deadman button.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwistSection {
    /// Topic.
    #[serde(default = "default_twist_topic")]
    pub topic: String,
    /// A command holds this long after its message (ms); then it decays.
    #[serde(default = "default_twist_timeout")]
    pub timeout_ms: f64,
    /// Time over which a stale command decays linearly to zero (ms).
    #[serde(default = "default_twist_timeout")]
    pub decay_ms: f64,
    /// Most messages per second accepted (faster ones are dropped and counted).
    #[serde(default = "default_twist_rate")]
    pub max_rate_hz: f64,
    /// `geometry_msgs/TwistStamped` (else `Twist`).
    #[serde(default)]
    pub stamped: bool,
    /// Twists count only while the Joy's `enable_button` is held, and its release sends zero
    /// (teleop_twist_joy's `require_enable_button`); needs a `teleop.joy` section.
    #[serde(default)]
    pub require_enable_button: bool,
    /// The deadman button (teleop_twist_joy's `enable_button`).
    #[serde(default)]
    pub enable_button: u32,
}

fn default_twist_topic() -> String {
    "/cmd_vel".into()
}
fn default_twist_timeout() -> f64 {
    500.0
}
fn default_twist_rate() -> f64 {
    200.0
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
    /// Inferences run at load, before the loop starts (0–1000).
    #[serde(default = "default_warmup")]
    pub warmup_runs: usize,
    /// Longest the models may take to load and warm up (s); a TensorRT engine build on a
    /// Jetson takes minutes the first time (then `tensorrt_engine_cache` keeps it).
    #[serde(default = "default_load_timeout")]
    pub load_timeout_s: f64,
}

fn default_load_timeout() -> f64 {
    600.0
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
            load_timeout_s: default_load_timeout(),
        }
    }
}

/// The supervisor's settings: the one place their defaults live. Defaults follow the
/// deployment stacks in the anchors (walk-these-ways' 1.6 rad attitude stop, rl_sar's kd 8
/// passive mode).
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
    /// Joints measured beyond their limits by more than this are implausible (rad).
    pub joint_limit_margin_rad: f64,
    /// Position targets beyond a joint's limits by more than this are out-of-bounds actions
    /// (fallback); targets within it are clamped to the limits, as the joint's hard stop would
    /// do. Learned policies overshoot in fast gaits (HIMLoco's Go2 policy at 1 m/s: up to
    /// 0.2 rad).
    pub target_limit_margin_rad: f64,
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
    /// Attitude beyond a limit, and joints beyond their limits, count only when they hold on
    /// this many consecutive new samples (1–100): one bad sample never changes the mode.
    pub persist_samples: u32,
    /// Leaving FALLBACK by itself after the sensors were briefly stale; `null`: every cause
    /// needs an explicit reset.
    pub recover_from_stale: Option<RecoverSection>,
}

/// `safety.recover_from_stale`: FALLBACK → POLICY without a reset when the sensors were stale
/// for less than `max_stale_ms` and have then been healthy (fresh samples, no implausible or
/// attitude condition) for `healthy_ms`. Attitude, e-stop, implausible sensors, the policy's
/// own faults and drills always need an explicit reset; SAFE_STOP never recovers by itself.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecoverSection {
    /// Longest gap between two samples that still counts as transient (ms).
    pub max_stale_ms: f64,
    /// How long the sensors must then be healthy (ms).
    pub healthy_ms: f64,
}

impl Default for SafetySection {
    fn default() -> Self {
        Self {
            fallback: None,
            max_late_periods: 3,
            sensor_timeout_ms: 20.0,
            sensor_lost_ms: 200.0,
            joint_limit_margin_rad: 0.1,
            target_limit_margin_rad: 0.3,
            torque_saturation_ms: 200.0,
            max_tilt_rad: 0.6,
            safe_stop_tilt_rad: 1.6,
            max_target_step_rad: 0.05,
            safe_stop_kd: 8.0,
            persist_samples: 3,
            recover_from_stale: Some(RecoverSection {
                max_stale_ms: 100.0,
                healthy_ms: 1000.0,
            }),
        }
    }
}
