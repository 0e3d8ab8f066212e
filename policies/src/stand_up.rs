//! Quadruped stand-up: interpolate from the measured (lying) pose to the standing pose, then
//! hold it with joint PD.

use reflex_hardware::{JointCommand, RobotState};

use crate::{write_pd, ControlFault, Controller, ControllerError, PdGains, Phase, Tick};

/// Stand-up controller. The interpolation target advances on policy ticks (the slow rate);
/// the PD command is refreshed every control cycle.
#[derive(Debug, Clone)]
pub struct StandUp {
    start_rad: Vec<f64>,
    stand_rad: Vec<f64>,
    target_rad: Vec<f64>,
    gains: PdGains,
    duration_s: f64,
    standing: bool,
}

impl StandUp {
    /// A stand-up to `stand_rad` (hardware order) over `duration_s`, with `gains`.
    pub fn new(
        stand_rad: Vec<f64>,
        gains: PdGains,
        duration_s: f64,
    ) -> Result<Self, ControllerError> {
        gains.validate(stand_rad.len())?;
        if !(duration_s.is_finite() && duration_s > 0.0) {
            return Err(ControllerError::OutOfRange {
                field: "duration_s",
                value: duration_s,
                expected: "a duration > 0 s",
            });
        }
        let n = stand_rad.len();
        Ok(Self {
            start_rad: vec![0.0; n],
            target_rad: stand_rad.clone(),
            stand_rad,
            gains,
            duration_s,
            standing: false,
        })
    }
}

/// Smooth 0→1 ramp with zero slope at both ends (cubic smoothstep).
fn smoothstep(x: f64) -> f64 {
    let x = x.clamp(0.0, 1.0);
    x * x * (3.0 - 2.0 * x)
}

impl Controller for StandUp {
    fn reset(&mut self, state: &RobotState) {
        self.start_rad.copy_from_slice(&state.joints.position_rad);
        self.target_rad.copy_from_slice(&state.joints.position_rad);
        self.standing = false;
    }

    fn update(
        &mut self,
        tick: &Tick,
        _state: &RobotState,
        cmd: &mut JointCommand,
    ) -> Result<(), ControlFault> {
        if tick.policy_tick || tick.cycle == 0 {
            let s = smoothstep(tick.time_s / self.duration_s);
            for ((t, a), b) in self
                .target_rad
                .iter_mut()
                .zip(&self.start_rad)
                .zip(&self.stand_rad)
            {
                *t = a + s * (b - a);
            }
            self.standing = tick.time_s >= self.duration_s;
        }
        write_pd(&self.target_rad, &self.gains, cmd);
        Ok(())
    }

    fn phase(&self) -> Phase {
        if self.standing {
            Phase::Holding
        } else {
            Phase::StandingUp
        }
    }
}
