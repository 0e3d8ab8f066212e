#![warn(missing_docs)]
//! What turns robot state into joint commands: built-in controllers now, learned policies
//! (ONNX Runtime) and the certified fallback next.
//!
//! Every [`Controller`] is driven by the runtime's RT thread: [`Controller::reset`] once at
//! activation (may allocate), then [`Controller::update`] every control cycle (must not
//! allocate, lock or block, and its work is bounded).

pub mod cartesian;
pub mod fallback;
pub mod fit;
mod joint_pd;
pub mod manifest;
pub mod mlp;
pub mod observation;
pub mod onnx;
pub mod onnx_proto;
pub mod policy;
mod stand_up;

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

/// A controller run by the RT loop.
pub trait Controller: Send {
    /// Called once when the loop starts, with the first measured state. Not real-time.
    fn reset(&mut self, state: &RobotState);

    /// Writes this cycle's command from the newest state. Real-time: no allocation, no locks.
    fn update(&mut self, tick: &Tick, state: &RobotState, cmd: &mut JointCommand);

    /// A short name of what the controller is doing now (e.g. `standing_up`, `holding`),
    /// for reports and diagnostics.
    fn phase(&self) -> &'static str;

    /// Consecutive policy results that were late (0 for controllers without a policy).
    /// Read by the supervisor every cycle.
    fn consecutive_late(&self) -> u64 {
        0
    }
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
