//! What Reflex sends to the motor drivers each cycle.

use crate::RobotSpec;

/// Per-joint motor-driver command in hardware order:
/// `τ = kp·(q* − q) + kd·(dq* − dq) + τ_ff`, clamped by the driver to its effort limit.
#[derive(Debug, Clone, PartialEq)]
pub struct JointCommand {
    /// Position target q* (rad).
    pub position_rad: Vec<f64>,
    /// Velocity target dq* (rad/s).
    pub velocity_rad_s: Vec<f64>,
    /// Position gain (N·m/rad).
    pub kp: Vec<f64>,
    /// Velocity gain (N·m·s/rad).
    pub kd: Vec<f64>,
    /// Feed-forward torque τ_ff (N·m).
    pub effort_ff_nm: Vec<f64>,
}

impl JointCommand {
    /// A passive command (all gains and torques zero) sized for `spec`.
    /// The only place the buffers are allocated.
    pub fn new(spec: &RobotSpec) -> Self {
        let n = spec.num_joints();
        Self {
            position_rad: vec![0.0; n],
            velocity_rad_s: vec![0.0; n],
            kp: vec![0.0; n],
            kd: vec![0.0; n],
            effort_ff_nm: vec![0.0; n],
        }
    }

    /// Number of joints the buffers hold.
    pub fn num_joints(&self) -> usize {
        self.position_rad.len()
    }

    /// Copies `other` into `self` without allocating (buffers must have equal sizes).
    pub fn copy_from(&mut self, other: &JointCommand) {
        self.position_rad.copy_from_slice(&other.position_rad);
        self.velocity_rad_s.copy_from_slice(&other.velocity_rad_s);
        self.kp.copy_from_slice(&other.kp);
        self.kd.copy_from_slice(&other.kd);
        self.effort_ff_nm.copy_from_slice(&other.effort_ff_nm);
    }

    /// The torque the driver applies for this command on joint `i` at measured `q`, `dq`,
    /// before the effort clamp.
    pub fn torque_nm(&self, i: usize, q_rad: f64, dq_rad_s: f64) -> f64 {
        self.kp[i] * (self.position_rad[i] - q_rad)
            + self.kd[i] * (self.velocity_rad_s[i] - dq_rad_s)
            + self.effort_ff_nm[i]
    }

    /// Brings the command inside `spec`'s limits in place: q* into the joint range, τ_ff into
    /// the effort limit, gains non-negative; any non-finite entry becomes a passive damping
    /// command for that joint (q* held at the measured position, kp 0). Returns how many
    /// entries were changed. Never allocates.
    pub fn clamp_to(&mut self, spec: &RobotSpec, measured_q_rad: &[f64]) -> usize {
        let mut changed = 0;
        for (i, lim) in spec.limits.iter().enumerate() {
            let finite = self.position_rad[i].is_finite()
                && self.velocity_rad_s[i].is_finite()
                && self.kp[i].is_finite()
                && self.kd[i].is_finite()
                && self.effort_ff_nm[i].is_finite();
            if !finite {
                self.position_rad[i] = lim.clamp_position(measured_q_rad[i]);
                self.velocity_rad_s[i] = 0.0;
                self.kp[i] = 0.0;
                self.kd[i] = if self.kd[i].is_finite() {
                    self.kd[i].max(0.0)
                } else {
                    0.0
                };
                self.effort_ff_nm[i] = 0.0;
                changed += 1;
                continue;
            }
            let q = lim.clamp_position(self.position_rad[i]);
            let dq = self.velocity_rad_s[i].clamp(-lim.velocity_rad_s, lim.velocity_rad_s);
            let ff = lim.clamp_effort(self.effort_ff_nm[i]);
            let kp = self.kp[i].max(0.0);
            let kd = self.kd[i].max(0.0);
            if q != self.position_rad[i]
                || dq != self.velocity_rad_s[i]
                || ff != self.effort_ff_nm[i]
                || kp != self.kp[i]
                || kd != self.kd[i]
            {
                changed += 1;
            }
            self.position_rad[i] = q;
            self.velocity_rad_s[i] = dq;
            self.effort_ff_nm[i] = ff;
            self.kp[i] = kp;
            self.kd[i] = kd;
        }
        changed
    }

    /// True when every entry is finite and inside `spec`'s limits (what [`Self::clamp_to`]
    /// guarantees).
    pub fn is_within(&self, spec: &RobotSpec) -> bool {
        spec.limits.iter().enumerate().all(|(i, lim)| {
            let q = self.position_rad[i];
            let dq = self.velocity_rad_s[i];
            let ff = self.effort_ff_nm[i];
            q.is_finite()
                && (lim.lower_rad..=lim.upper_rad).contains(&q)
                && dq.abs() <= lim.velocity_rad_s
                && ff.abs() <= lim.effort_nm
                && self.kp[i] >= 0.0
                && self.kd[i] >= 0.0
                && self.kp[i].is_finite()
                && self.kd[i].is_finite()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{JointLimits, RobotKind};

    fn spec() -> RobotSpec {
        RobotSpec::uniform(
            "test",
            RobotKind::Arm,
            &["a", "b"],
            JointLimits {
                lower_rad: -1.0,
                upper_rad: 1.0,
                velocity_rad_s: 2.0,
                effort_nm: 10.0,
            },
        )
    }

    #[test]
    fn clamp_brings_targets_and_torques_inside_limits() {
        let s = spec();
        let mut c = JointCommand::new(&s);
        c.position_rad = vec![3.0, -0.5];
        c.effort_ff_nm = vec![-50.0, 1.0];
        c.kp = vec![20.0, -1.0];
        assert_eq!(c.clamp_to(&s, &[0.0, 0.0]), 2);
        assert_eq!(c.position_rad, vec![1.0, -0.5]);
        assert_eq!(c.effort_ff_nm, vec![-10.0, 1.0]);
        assert_eq!(c.kp, vec![20.0, 0.0]);
        assert!(c.is_within(&s));
    }

    #[test]
    fn non_finite_entry_becomes_passive_hold_at_measured_position() {
        let s = spec();
        let mut c = JointCommand::new(&s);
        c.kp = vec![20.0, 20.0];
        c.position_rad = vec![f64::NAN, 0.2];
        assert_eq!(c.clamp_to(&s, &[0.4, 0.0]), 1);
        assert_eq!(c.position_rad[0], 0.4);
        assert_eq!(c.kp[0], 0.0);
        assert!(c.is_within(&s));
    }
}
