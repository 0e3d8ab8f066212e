//! How the robot fared, judged from the simulator's ground truth and the commands: the outcome
//! tracker the driver runs on every simulated cycle (allocation-free).

use reflex_hardware::{GroundTruth, JointCommand, RobotKind, RobotState};
use serde::Serialize;

/// How the robot fared.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RobotOutcome {
    /// Legged robot, measured from `measured_from_s` (the start-up controller holding + 0.5 s,
    /// or the policy's take-over + 2 s) to the end.
    Legged {
        /// When the measurement window starts (s).
        measured_from_s: f64,
        /// Lowest base height (m).
        min_base_height_m: f64,
        /// Highest base height (m).
        max_base_height_m: f64,
        /// Base height at the end (m).
        final_base_height_m: f64,
        /// Largest |roll| (rad).
        max_abs_roll_rad: f64,
        /// Largest |pitch| (rad).
        max_abs_pitch_rad: f64,
        /// Mean velocity along the base's heading (m/s, body x projected on the ground).
        mean_forward_speed_m_s: f64,
        /// Mean velocity to the base's left (m/s, body y projected on the ground).
        mean_lateral_speed_m_s: f64,
        /// Mean yaw rate (rad/s, world z).
        mean_yaw_rate_rad_s: f64,
    },
    /// Arm: the largest |q* − q| over all joints and cycles (joint-space control), and where
    /// the end effector ended.
    Arm {
        /// Largest joint tracking error (rad) while under joint PD (0 under impedance control).
        max_joint_tracking_error_rad: f64,
        /// End-effector position at the end, base frame (m).
        final_ee_position_m: [f64; 3],
    },
}

fn finite_or(x: f64, fallback: f64) -> f64 {
    if x.is_finite() {
        x
    } else {
        fallback
    }
}

/// Heading (yaw, rad) of an orientation quaternion `[x, y, z, w]`.
pub fn yaw_rad(q: [f64; 4]) -> f64 {
    let [x, y, z, w] = q;
    (2.0 * (w * z + x * y)).atan2(1.0 - 2.0 * (y * y + z * z))
}

/// Velocity along the heading, to the left, and the yaw rate of the base (from ground truth).
pub fn planar_velocity(gt: &GroundTruth) -> (f64, f64, f64) {
    let yaw = yaw_rad(gt.base_orientation_xyzw);
    let [vx, vy, _] = gt.base_linear_velocity_m_s;
    (
        vx * yaw.cos() + vy * yaw.sin(),
        -vx * yaw.sin() + vy * yaw.cos(),
        gt.base_angular_velocity_rad_s[2],
    )
}

/// Accumulates the outcome over a run.
#[derive(Debug, Clone)]
pub struct OutcomeTracker {
    kind: RobotKind,
    measured_from_s: Option<f64>,
    min_h: f64,
    max_h: f64,
    last_h: f64,
    max_roll: f64,
    max_pitch: f64,
    sum_fwd: f64,
    sum_lat: f64,
    sum_yaw: f64,
    samples: u64,
    max_err: f64,
    ee: [f64; 3],
    measured: bool,
}

impl OutcomeTracker {
    /// A tracker for a robot of `kind`.
    pub fn new(kind: RobotKind) -> Self {
        Self {
            kind,
            measured_from_s: None,
            min_h: f64::INFINITY,
            max_h: f64::NEG_INFINITY,
            last_h: 0.0,
            max_roll: 0.0,
            max_pitch: 0.0,
            sum_fwd: 0.0,
            sum_lat: 0.0,
            sum_yaw: 0.0,
            samples: 0,
            max_err: 0.0,
            ee: [0.0; 3],
            measured: false,
        }
    }

    /// One cycle at time `t_s`; `window_from_s` is when measuring starts (None: not yet known).
    pub fn observe(
        &mut self,
        state: &RobotState,
        cmd: &JointCommand,
        gt: Option<GroundTruth>,
        t_s: f64,
        window_from_s: Option<f64>,
    ) {
        match self.kind {
            RobotKind::Legged => {
                let Some(gt) = gt else { return };
                self.measured = true;
                self.last_h = gt.base_position_m[2];
                let Some(from) = window_from_s else { return };
                if t_s < from {
                    return;
                }
                self.measured_from_s.get_or_insert(from);
                let (r, p) = reflex_hardware::roll_pitch_rad(gt.base_orientation_xyzw);
                self.min_h = self.min_h.min(self.last_h);
                self.max_h = self.max_h.max(self.last_h);
                self.max_roll = self.max_roll.max(r.abs());
                self.max_pitch = self.max_pitch.max(p.abs());
                let (fwd, lat, yaw_rate) = planar_velocity(&gt);
                self.sum_fwd += fwd;
                self.sum_lat += lat;
                self.sum_yaw += yaw_rate;
                self.samples += 1;
            }
            RobotKind::Arm => {
                self.measured = true;
                if let Some(ee) = state.end_effector {
                    self.ee = ee.position_m;
                }
                for (i, (a, b)) in state
                    .joints
                    .position_rad
                    .iter()
                    .zip(&cmd.position_rad)
                    .enumerate()
                {
                    if cmd.kp[i] > 0.0 {
                        self.max_err = self.max_err.max((a - b).abs());
                    }
                }
            }
        }
    }

    /// The outcome; `None` when nothing was measured (no ground truth).
    pub fn finish(&self) -> Option<RobotOutcome> {
        if !self.measured {
            return None;
        }
        let mean = |s: f64| s / self.samples.max(1) as f64;
        Some(match self.kind {
            RobotKind::Legged => RobotOutcome::Legged {
                measured_from_s: self.measured_from_s.unwrap_or(f64::NAN),
                min_base_height_m: finite_or(self.min_h, self.last_h),
                max_base_height_m: finite_or(self.max_h, self.last_h),
                final_base_height_m: self.last_h,
                max_abs_roll_rad: self.max_roll,
                max_abs_pitch_rad: self.max_pitch,
                mean_forward_speed_m_s: mean(self.sum_fwd),
                mean_lateral_speed_m_s: mean(self.sum_lat),
                mean_yaw_rate_rad_s: mean(self.sum_yaw),
            },
            RobotKind::Arm => RobotOutcome::Arm {
                max_joint_tracking_error_rad: self.max_err,
                final_ee_position_m: self.ee,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reflex_hardware::{JointLimits, RobotSpec};

    #[test]
    fn forward_speed_is_measured_along_the_heading() {
        let spec = RobotSpec::uniform(
            "t",
            RobotKind::Legged,
            &["a"],
            JointLimits {
                lower_rad: -1.0,
                upper_rad: 1.0,
                velocity_rad_s: 1.0,
                effort_nm: 1.0,
            },
        );
        let mut t = OutcomeTracker::new(RobotKind::Legged);
        // Heading +90° (facing world y), moving along world y at 0.5 m/s, turning at 0.2 rad/s.
        let h = std::f64::consts::FRAC_PI_4;
        let gt = GroundTruth {
            base_position_m: [0.0, 0.0, 0.3],
            base_orientation_xyzw: [0.0, 0.0, h.sin(), h.cos()],
            base_linear_velocity_m_s: [0.0, 0.5, 0.0],
            base_angular_velocity_rad_s: [0.0, 0.0, 0.2],
        };
        let (s, c) = (RobotState::new(&spec), JointCommand::new(&spec));
        t.observe(&s, &c, Some(gt), 0.5, Some(1.0));
        t.observe(&s, &c, Some(gt), 1.0, Some(1.0));
        let Some(RobotOutcome::Legged {
            mean_forward_speed_m_s,
            mean_lateral_speed_m_s,
            mean_yaw_rate_rad_s,
            measured_from_s,
            ..
        }) = t.finish()
        else {
            panic!()
        };
        assert!((mean_forward_speed_m_s - 0.5).abs() < 1e-12);
        assert!(mean_lateral_speed_m_s.abs() < 1e-12);
        assert!((mean_yaw_rate_rad_s - 0.2).abs() < 1e-12);
        assert_eq!(measured_from_s, 1.0);
    }
}
