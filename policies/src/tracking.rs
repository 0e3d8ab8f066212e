//! Executing a policy's targets at the control rate (the RT thread): joint targets held, or
//! interpolated linearly over a policy period, and tracked with the target's PD gains; or
//! end-effector targets tracked by the Cartesian impedance law. The hand-off of targets between
//! threads is the runtime's business; this is only what a target means for the motors.

use reflex_hardware::{JointCommand, RobotState};

use crate::cartesian::CartesianImpedance;
use crate::policy::PolicyTarget;
use crate::{command_is_finite, ControlFault};

/// Turns the newest [`PolicyTarget`] into a motor-driver command every control cycle. Sized at
/// construction; [`TargetTracker::command`] allocates nothing.
pub struct TargetTracker {
    impedance: Option<CartesianImpedance>,
    interpolate: bool,
    decimation: u64,
    from_rad: Vec<f64>,
    arrived_cycle: u64,
}

impl TargetTracker {
    /// A tracker for a robot of `n_joints`. `impedance` executes end-effector targets;
    /// `interpolate` spreads a joint target over `decimation` control cycles (one policy period).
    pub fn new(
        n_joints: usize,
        impedance: Option<CartesianImpedance>,
        interpolate: bool,
        decimation: u64,
    ) -> Self {
        Self {
            impedance,
            interpolate,
            decimation: decimation.max(1),
            from_rad: vec![0.0; n_joints],
            arrived_cycle: 0,
        }
    }

    /// A new target arrived in `cycle`: interpolation restarts from `current_target_rad` (the
    /// position targets commanded until now). Allocation-free.
    pub fn retarget(&mut self, cycle: u64, current_target_rad: &[f64]) {
        self.from_rad.copy_from_slice(current_target_rad);
        self.arrived_cycle = cycle;
    }

    /// Writes the command that executes `target` in `cycle`. A target holding NaN or infinity
    /// is a fault: the command is not usable and the supervisor hands over.
    pub fn command(
        &mut self,
        cycle: u64,
        target: &PolicyTarget,
        state: &RobotState,
        cmd: &mut JointCommand,
    ) -> Result<(), ControlFault> {
        match (&mut self.impedance, &target.ee) {
            (Some(imp), Some(ee)) => {
                let finite = ee
                    .position_m
                    .iter()
                    .chain(&ee.orientation_xyzw)
                    .all(|v| v.is_finite());
                if !finite {
                    return Err(ControlFault::NonFinite);
                }
                imp.command(ee, state, cmd)
            }
            _ => {
                let frac = if self.interpolate {
                    ((cycle.saturating_sub(self.arrived_cycle) + 1) as f64 / self.decimation as f64)
                        .min(1.0)
                } else {
                    1.0
                };
                for (i, q) in cmd.position_rad.iter_mut().enumerate() {
                    let from = self.from_rad[i];
                    *q = from + frac * (target.joint_target_rad[i] - from);
                }
                cmd.velocity_rad_s.fill(0.0);
                cmd.kp.copy_from_slice(&target.kp);
                cmd.kd.copy_from_slice(&target.kd);
                cmd.effort_ff_nm.fill(0.0);
            }
        }
        if command_is_finite(cmd) {
            Ok(())
        } else {
            Err(ControlFault::NonFinite)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reflex_hardware::{JointLimits, RobotKind, RobotSpec};

    fn spec() -> RobotSpec {
        RobotSpec::uniform(
            "t",
            RobotKind::Legged,
            &["a", "b"],
            JointLimits {
                lower_rad: -3.0,
                upper_rad: 3.0,
                velocity_rad_s: 10.0,
                effort_nm: 10.0,
            },
        )
    }

    #[test]
    fn interpolation_reaches_the_target_in_one_policy_period() {
        let s = spec();
        let mut t = TargetTracker::new(2, None, true, 4);
        let mut target = PolicyTarget::new(2, 2, false);
        target.joint_target_rad = vec![1.0, -1.0];
        target.kp = vec![40.0, 40.0];
        let state = RobotState::new(&s);
        let mut cmd = JointCommand::new(&s);
        t.retarget(10, &[0.0, 0.0]);
        let mut seen = Vec::new();
        for c in 10..15 {
            t.command(c, &target, &state, &mut cmd).unwrap();
            seen.push(cmd.position_rad[0]);
        }
        assert_eq!(seen, vec![0.25, 0.5, 0.75, 1.0, 1.0]);
        assert_eq!(cmd.kp, vec![40.0, 40.0]);
        let mut hold = TargetTracker::new(2, None, false, 4);
        hold.retarget(0, &[0.0, 0.0]);
        hold.command(0, &target, &state, &mut cmd).unwrap();
        assert_eq!(cmd.position_rad, vec![1.0, -1.0]);
    }

    #[test]
    fn a_non_finite_target_is_a_fault_not_a_command() {
        let s = spec();
        let mut t = TargetTracker::new(2, None, false, 1);
        let mut target = PolicyTarget::new(2, 2, false);
        target.joint_target_rad[1] = f64::NAN;
        let mut cmd = JointCommand::new(&s);
        assert_eq!(
            t.command(0, &target, &RobotState::new(&s), &mut cmd),
            Err(ControlFault::NonFinite)
        );
    }
}
