//! The run report (`reflex run --report PATH`): everything a run measured, in one JSON document.

use reflex_policies::manifest::PolicyKind;
use reflex_policies::onnx::ProviderReport;
use reflex_policies::Phase;
use serde::Serialize;

use crate::config::ClockKind;
use crate::driver::outcome::RobotOutcome;
use crate::plant::BridgeReport;
use crate::policy_thread::PolicyThreadReport;
use crate::rt::RtStatus;
use crate::stats::LatencySummaryUs;
use crate::supervisor::{Mode, Transition};

/// The JSON run report.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// Config file.
    pub config: String,
    /// Robot model.
    pub robot: String,
    /// `lockstep` or `realtime`.
    pub clock: ClockKind,
    /// What started each cycle: `lockstep`, `clock` or `robot_state`.
    pub trigger: &'static str,
    /// Robot time run (s).
    pub duration_s: f64,
    /// Wall time the run took (s).
    pub wall_time_s: f64,
    /// Robot time per wall time.
    pub realtime_factor: f64,
    /// Cycles completed.
    pub cycles: u64,
    /// Control rate (Hz).
    pub rate_hz: f64,
    /// Policy rate (Hz).
    pub policy_hz: f64,
    /// Physics steps per control cycle.
    pub physics_steps_per_cycle: usize,
    /// Cycles that ended after the next deadline (lockstep: whose body took more CPU time than
    /// a period).
    pub overruns: u64,
    /// Deadlines skipped after overruns.
    pub missed_deadlines: u64,
    /// Cycles whose robot state did not arrive within the timeout (robot-triggered loops).
    pub missed_cycles: u64,
    /// Wake-up latency (actual wake − deadline), µs; `null` unless clock-triggered in real time.
    pub wakeup_latency_us: Option<LatencySummaryUs>,
    /// RT cycle body (read → supervise → command → clamp → write), µs.
    pub compute_us: LatencySummaryUs,
    /// Simulator physics per cycle (the robot's stand-in), µs.
    pub physics_us: LatencySummaryUs,
    /// Commands changed by the limit clamp.
    pub clamped_commands: u64,
    /// Robot I/O errors (reads without a new sample, failed writes).
    pub io_errors: u64,
    /// The supervisor's mode at the end (POLICY, FALLBACK, SAFE_STOP).
    pub final_mode: Mode,
    /// What the controller in charge was doing at the end.
    pub final_phase: Phase,
    /// Position targets held back by the per-cycle step limit (bumpless transfer).
    pub limited_targets: u64,
    /// Mode transitions with their causes, and the fallback in use.
    pub supervisor: SupervisorReport,
    /// Real-time settings in force.
    pub realtime: RtStatus,
    /// Every thread of the process as the OS ran it (scheduler, priority, CPUs, CPU time).
    pub threads: crate::threads::ThreadsReport,
    /// How the robot fared (simulator runs; `null` when there is no ground truth to judge by).
    pub outcome: Option<RobotOutcome>,
    /// ROS 2 bridge traffic and rejections (ROS backends).
    pub bridge: Option<BridgeReport>,
    /// The learned policy, when the config runs one.
    pub policy: Option<PolicyReport>,
    /// Teleop messages accepted and rejected (when the config has a `teleop:` section).
    pub teleop: Option<reflex_hardware::ros::teleop::TeleopCounts>,
    /// E-stops engaged from outside the loop (lock topic, scripted) and how fast they acted.
    pub estops: EstopReport,
    /// Warnings about the config and the run (accepted, but probably not what was meant).
    pub warnings: Vec<String>,
    /// The run sampled at [`TRACE_HZ`]: what happened when (simulator ground truth where it
    /// exists).
    pub trace: Vec<TraceRow>,
}

/// Rate of the run report's trace (Hz).
pub const TRACE_HZ: f64 = 10.0;

/// Rows the trace holds at most (an hour at 10 Hz); later cycles are not traced.
pub const TRACE_CAPACITY: usize = 36_000;

/// One row of the trace.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct TraceRow {
    /// Loop time (s).
    pub t_s: f64,
    /// Who commanded.
    pub mode: Mode,
    /// Base height (m, ground truth).
    pub base_height_m: Option<f64>,
    /// Velocity along the base's heading (m/s, ground truth).
    pub forward_speed_m_s: Option<f64>,
    /// Velocity to the base's left (m/s, ground truth).
    pub lateral_speed_m_s: Option<f64>,
    /// Yaw rate (rad/s, ground truth).
    pub yaw_rate_rad_s: Option<f64>,
    /// The policy's velocity command (locomotion).
    pub command: Option<[f64; 3]>,
    /// The newest policy target's executed action was a human's (a `teleop.ee_twist`).
    pub intervention: Option<bool>,
    /// The newest end-effector target (m, base frame; manipulation).
    pub ee_target_m: Option<[f64; 3]>,
}

/// E-stops engaged from outside the loop, and whether each was acted on in time.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct EstopReport {
    /// Engagements acted on.
    pub seen: u64,
    /// Of those, acted on later than the first cycle that started after the engagement (the
    /// contract is 0).
    pub seen_late: u64,
    /// Longest engagement → start of the cycle that acted on it (µs): within one period.
    pub max_reaction_us: f64,
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
    /// Cycles commanded by the start-up controller or the policy.
    pub cycles_in_policy: u64,
    /// Cycles commanded by the fallback.
    pub cycles_in_fallback: u64,
    /// Cycles in safe stop.
    pub cycles_in_safe_stop: u64,
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
    /// The stages of a tick, snapshot to pick-up (the deployment's latency budget per tick).
    pub budget: crate::policy_thread::TickBudgetReport,
    /// Results later than a policy period, by the stage that made them late.
    pub late_by: crate::policy_thread::LateCauses,
    /// The policy thread's own figures.
    pub thread: PolicyThreadReport,
}
