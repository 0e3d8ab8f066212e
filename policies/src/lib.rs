#![deny(missing_docs)]
//! What turns robot state into joint commands: built-in controllers, learned policies (ONNX
//! Runtime) and the certified fallback.
//!
//! Every [`Controller`] is driven by the runtime's RT thread: [`Controller::reset`] once at
//! activation (may allocate), then [`Controller::update`] every control cycle (must not
//! allocate, lock or block, and its work is bounded). A controller that cannot produce a usable
//! command says so ([`ControlFault`]); the runtime's supervisor decides who commands instead.

pub mod cartesian;
pub mod command;
pub mod fallback;
pub mod fit;
pub mod intervention;
mod joint_pd;
pub mod manifest;
pub mod mlp;
pub mod observation;
pub mod onnx;
pub mod onnx_proto;
pub mod policy;
mod stand_up;
pub mod tracking;

pub use joint_pd::JointPdHold;
pub use stand_up::StandUp;

use reflex_hardware::{JointCommand, RobotState};

/// Timing of one control cycle, as the runtime sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tick {
    /// Cycle number since activation (0 on the first).
    pub cycle: u64,
    /// Time since activation (s), on the loop's clock.
    pub time_s: f64,
    /// Control period (s).
    pub period_s: f64,
    /// True on cycles where the slower policy rate ticks (every `control_hz / policy_hz` cycles).
    pub policy_tick: bool,
}

/// What the controller in charge is doing: reported in runs and diagnostics, and what the
/// supervisor reads to hand over from start-up to the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// A start-up controller is bringing the robot to its ready pose.
    StandingUp,
    /// A start-up or hold controller holds the ready pose: a policy may take over.
    Holding,
    /// The learned policy commands.
    Policy,
    /// The fallback commands.
    Fallback,
    /// Safe stop: joint damping only.
    SafeStop,
}

impl Phase {
    /// The snake_case name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Phase::StandingUp => "standing_up",
            Phase::Holding => "holding",
            Phase::Policy => "policy",
            Phase::Fallback => "fallback",
            Phase::SafeStop => "safe_stop",
        }
    }
}

/// A controller could not produce a usable command this cycle. Static data only: raising it on
/// the RT thread never allocates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ControlFault {
    /// The command it computed holds NaN or infinity.
    #[error("the command holds a non-finite value")]
    NonFinite,
}

/// A controller run by the RT loop.
pub trait Controller: Send {
    /// Called once when the loop starts (and after a reset), with the measured state. Not
    /// real-time.
    fn reset(&mut self, state: &RobotState);

    /// Writes this cycle's command from the newest state. Real-time: no allocation, no locks.
    /// A fault leaves `cmd` unspecified; the supervisor hands over in the same cycle.
    fn update(
        &mut self,
        tick: &Tick,
        state: &RobotState,
        cmd: &mut JointCommand,
    ) -> Result<(), ControlFault>;

    /// What the controller is doing now.
    fn phase(&self) -> Phase;
}

/// Whether every entry of `cmd` is finite: what controllers report as [`ControlFault::NonFinite`].
pub fn command_is_finite(cmd: &JointCommand) -> bool {
    cmd.position_rad
        .iter()
        .chain(&cmd.velocity_rad_s)
        .chain(&cmd.kp)
        .chain(&cmd.kd)
        .chain(&cmd.effort_ff_nm)
        .all(|v| v.is_finite())
}

/// Why a controller could not be built. Raised at load, never in the loop.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ControllerError {
    /// A per-joint vector does not match the robot's joint count.
    #[error("{field} has {got} entries, the robot has {expected} joints")]
    WrongLength {
        /// Which parameter.
        field: &'static str,
        /// Robot joints.
        expected: usize,
        /// Entries given.
        got: usize,
    },
    /// A parameter is outside its accepted range.
    #[error("{field} = {value} is out of range: expected {expected}")]
    OutOfRange {
        /// Which parameter.
        field: &'static str,
        /// The value given.
        value: f64,
        /// The accepted range.
        expected: &'static str,
    },
}

/// Per-joint PD gains in hardware order.
#[derive(Debug, Clone, PartialEq)]
pub struct PdGains {
    /// Position gains (N·m/rad).
    pub kp: Vec<f64>,
    /// Velocity gains (N·m·s/rad).
    pub kd: Vec<f64>,
}

impl PdGains {
    fn validate(&self, n: usize) -> Result<(), ControllerError> {
        for (field, v) in [("kp", &self.kp), ("kd", &self.kd)] {
            if v.len() != n {
                return Err(ControllerError::WrongLength {
                    field,
                    expected: n,
                    got: v.len(),
                });
            }
            if let Some(&bad) = v.iter().find(|g| !(g.is_finite() && **g >= 0.0)) {
                return Err(ControllerError::OutOfRange {
                    field,
                    value: bad,
                    expected: "a finite gain ≥ 0",
                });
            }
        }
        Ok(())
    }
}

/// Writes a joint-PD command holding `target_rad` with `gains` (zero velocity target, no
/// feed-forward). Allocation-free.
fn write_pd(target_rad: &[f64], gains: &PdGains, cmd: &mut JointCommand) {
    cmd.position_rad.copy_from_slice(target_rad);
    cmd.velocity_rad_s.fill(0.0);
    cmd.kp.copy_from_slice(&gains.kp);
    cmd.kd.copy_from_slice(&gains.kd);
    cmd.effort_ff_nm.fill(0.0);
}
