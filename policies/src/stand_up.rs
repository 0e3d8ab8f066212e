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
    /// Loop time of the first update since the last reset: the ramp is timed from there (a
    /// reset after an e-stop stands the robot up over `duration_s` again, not at once).
    started_s: Option<f64>,
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
            started_s: None,
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
        self.started_s = None;
    }

    fn update(
        &mut self,
        tick: &Tick,
        _state: &RobotState,
        cmd: &mut JointCommand,
    ) -> Result<(), ControlFault> {
        let started = *self.started_s.get_or_insert(tick.time_s);
        if tick.policy_tick || tick.time_s == started {
            let elapsed_s = tick.time_s - started;
            let s = smoothstep(elapsed_s / self.duration_s);
            for ((t, a), b) in self
                .target_rad
                .iter_mut()
                .zip(&self.start_rad)
                .zip(&self.stand_rad)
            {
                *t = a + s * (b - a);
            }
            self.standing = elapsed_s >= self.duration_s;
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

#[cfg(test)]
mod tests {
    use super::*;
    use reflex_hardware::catalogue;

    #[test]
    fn a_reset_ramps_up_again_from_where_the_robot_lies() {
        let spec = catalogue::model("a1").unwrap().spec().unwrap();
        let n = spec.num_joints();
        let mut c = StandUp::new(
            vec![1.0; n],
            PdGains {
                kp: vec![60.0; n],
                kd: vec![5.0; n],
            },
            1.0,
        )
        .unwrap();
        let mut state = RobotState::new(&spec);
        let mut cmd = JointCommand::new(&spec);
        let tick = |t: f64| Tick {
            cycle: (t * 100.0) as u64,
            time_s: t,
            period_s: 0.01,
            policy_tick: true,
        };
        c.reset(&state);
        c.update(&tick(0.0), &state, &mut cmd).unwrap();
        c.update(&tick(1.0), &state, &mut cmd).unwrap();
        assert_eq!((cmd.position_rad[0], c.phase()), (1.0, Phase::Holding));
        // An e-stop laid it down at 0.2 rad; reset at 7 s: the ramp starts over from there.
        state.joints.position_rad.fill(0.2);
        c.reset(&state);
        c.update(&tick(7.0), &state, &mut cmd).unwrap();
        assert_eq!((cmd.position_rad[0], c.phase()), (0.2, Phase::StandingUp));
        c.update(&tick(7.5), &state, &mut cmd).unwrap();
        assert!((cmd.position_rad[0] - 0.6).abs() < 1e-12, "halfway");
        c.update(&tick(8.0), &state, &mut cmd).unwrap();
        assert_eq!((cmd.position_rad[0], c.phase()), (1.0, Phase::Holding));
    }
}
