//! Joint-space PD hold of a fixed pose (e.g. the Panda's home pose).

use reflex_hardware::{JointCommand, RobotState};

use crate::{write_pd, ControlFault, Controller, ControllerError, PdGains, Phase, Tick};

/// Holds `target_rad` with joint PD.
#[derive(Debug, Clone)]
pub struct JointPdHold {
    target_rad: Vec<f64>,
    gains: PdGains,
}

impl JointPdHold {
    /// A hold of `target_rad` (hardware order) with `gains`.
    pub fn new(target_rad: Vec<f64>, gains: PdGains) -> Result<Self, ControllerError> {
        gains.validate(target_rad.len())?;
        Ok(Self { target_rad, gains })
    }
}

impl Controller for JointPdHold {
    fn reset(&mut self, _state: &RobotState) {}

    fn update(
        &mut self,
        _tick: &Tick,
        _state: &RobotState,
        cmd: &mut JointCommand,
    ) -> Result<(), ControlFault> {
        write_pd(&self.target_rad, &self.gains, cmd);
        Ok(())
    }

    fn phase(&self) -> Phase {
        Phase::Holding
    }
}
