//! Observation building and action mapping between policy order and hardware order.
//!
//! Runs on the policy thread; buffers are sized at construction, so building an observation
//! or mapping an action allocates nothing.

use reflex_hardware::{RobotSpec, RobotState};

use reflex_validate::FileError;

use crate::manifest::{HistoryFill, HistoryOrder, Manifest, ObsTerm, PolicyKind, TermScale};

/// Hardware index of each policy joint.
fn joint_map(m: &Manifest, spec: &RobotSpec) -> Result<Vec<usize>, FileError> {
    m.decl
        .joints
        .iter()
        .enumerate()
        .map(|(i, name)| {
            spec.joint_index(name).ok_or_else(|| {
                m.invalid(
                    &format!("joints[{i}]"),
                    format!("a joint of `{}`", spec.model),
                    format!("unknown joint `{name}`"),
                )
            })
        })
        .collect()
}

/// Builds stacked, scaled, clipped observations in the manifest's layout.
#[derive(Debug, Clone)]
pub struct ObservationBuilder {
    terms: Vec<(ObsTerm, Vec<f64>)>,
    hw_index: Vec<usize>,
    default_pose: Vec<f64>,
    clip: f64,
    frame_len: usize,
    history: Vec<f32>,
    history_len: usize,
    newest: usize,
    order: HistoryOrder,
    fill: HistoryFill,
    frames_seen: usize,
}

impl ObservationBuilder {
    /// A builder for `m` driving `spec`'s robot.
    pub fn new(m: &Manifest, spec: &RobotSpec) -> Result<Self, FileError> {
        let hw_index = joint_map(m, spec)?;
        let default_pose = match &m.decl.joint_action {
            Some(a) => m
                .decl
                .joints
                .iter()
                .map(|j| a.default_pose_rad.get(j).copied().unwrap_or(0.0))
                .collect(),
            None => vec![0.0; m.decl.joints.len()],
        };
        let o = &m.decl.observation;
        let terms = o
            .terms
            .iter()
            .map(|t| {
                let n = m.term_len(*t);
                let s = match o.scales.get(t) {
                    Some(TermScale::All(x)) => vec![*x; n],
                    Some(TermScale::PerElement(v)) => v.clone(),
                    None => vec![1.0; n],
                };
                (*t, s)
            })
            .collect();
        let frame_len = m.frame_len();
        Ok(Self {
            terms,
            hw_index,
            default_pose,
            clip: o.clip,
            frame_len,
            history: vec![0.0; frame_len * o.history.length],
            history_len: o.history.length,
            newest: 0,
            order: o.history.order(),
            fill: o.history.fill,
            frames_seen: 0,
        })
    }

    /// Elements of one frame.
    pub fn frame_len(&self) -> usize {
        self.frame_len
    }

    /// Elements of the stacked observation.
    pub fn len(&self) -> usize {
        self.frame_len * self.history_len
    }

    /// True when the observation is empty (never, for a valid manifest).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets the history (the next frame fills every slot, as legged_gym does at reset).
    pub fn reset(&mut self) {
        self.frames_seen = 0;
    }

    /// Appends a frame from `state` and writes the stacked observation into `out`.
    pub fn build(
        &mut self,
        state: &RobotState,
        command: &[f64; 3],
        last_action: &[f32],
        out: &mut [f32],
    ) {
        let slot = (self.newest + 1) % self.history_len;
        let start = slot * self.frame_len;
        let mut k = start;
        let clip = self.clip;
        let frame = &mut self.history;
        let mut put = |v: f64, s: f64| {
            frame[k] = (v * s).clamp(-clip, clip) as f32;
            k += 1;
        };
        let q = &state.joints.position_rad;
        let dq = &state.joints.velocity_rad_s;
        for (term, scale) in &self.terms {
            match term {
                ObsTerm::Command => (0..3).for_each(|i| put(command[i], scale[i])),
                ObsTerm::BaseLinVel => {
                    let v = state.base_linear_velocity_m_s.unwrap_or([0.0; 3]);
                    (0..3).for_each(|i| put(v[i], scale[i]))
                }
                ObsTerm::BaseAngVel => {
                    (0..3).for_each(|i| put(state.imu.angular_velocity_rad_s[i], scale[i]))
                }
                ObsTerm::ProjectedGravity => {
                    let g = state.imu.projected_gravity();
                    (0..3).for_each(|i| put(g[i], scale[i]))
                }
                ObsTerm::DofPos => {
                    for (i, &h) in self.hw_index.iter().enumerate() {
                        put(q[h] - self.default_pose[i], scale[i]);
                    }
                }
                ObsTerm::JointPos => {
                    for (i, &h) in self.hw_index.iter().enumerate() {
                        put(q[h], scale[i]);
                    }
                }
                ObsTerm::DofVel => {
                    for (i, &h) in self.hw_index.iter().enumerate() {
                        put(dq[h], scale[i]);
                    }
                }
                ObsTerm::LastAction => {
                    for (i, a) in last_action.iter().enumerate() {
                        put(*a as f64, scale[i]);
                    }
                }
                ObsTerm::EePos => {
                    let p = state.end_effector.map(|e| e.position_m).unwrap_or_default();
                    (0..3).for_each(|i| put(p[i], scale[i]))
                }
                ObsTerm::EeQuat => {
                    let r = state
                        .end_effector
                        .map(|e| e.orientation_xyzw)
                        .unwrap_or([0.0, 0.0, 0.0, 1.0]);
                    (0..4).for_each(|i| put(r[i], scale[i]))
                }
                ObsTerm::EeForce => {
                    let f = state.end_effector.map(|e| e.force_n).unwrap_or_default();
                    (0..3).for_each(|i| put(f[i], scale[i]))
                }
            }
        }
        self.newest = slot;
        if self.frames_seen == 0 {
            // After a reset the older slots hold the first frame (legged_gym) or zeros (rl_sar).
            for h in 0..self.history_len {
                if h != slot {
                    match self.fill {
                        HistoryFill::FirstFrame => self
                            .history
                            .copy_within(start..start + self.frame_len, h * self.frame_len),
                        HistoryFill::Zeros => {
                            self.history[h * self.frame_len..(h + 1) * self.frame_len].fill(0.0)
                        }
                    }
                }
            }
        }
        self.frames_seen += 1;
        // Stack: oldest first = slots newest+1, newest+2, ..., newest.
        for j in 0..self.history_len {
            let age_rank = match self.order {
                HistoryOrder::OldestFirst => j,
                HistoryOrder::NewestFirst => self.history_len - 1 - j,
            };
            let s = (self.newest + 1 + age_rank) % self.history_len;
            out[j * self.frame_len..(j + 1) * self.frame_len]
                .copy_from_slice(&self.history[s * self.frame_len..(s + 1) * self.frame_len]);
        }
    }
}

/// Joint-space action mapping: hardware target = default + clip(action) × scale.
#[derive(Debug, Clone)]
pub struct JointActionMap {
    hw_index: Vec<usize>,
    default_pose: Vec<f64>,
    scale: Vec<f64>,
    clip_lower: Vec<f64>,
    clip_upper: Vec<f64>,
    /// PD gains in hardware order.
    pub kp_hw: Vec<f64>,
    /// Velocity gains in hardware order.
    pub kd_hw: Vec<f64>,
    /// Interpolate targets over a policy period.
    pub interpolate: bool,
}

impl JointActionMap {
    /// The mapping of `m` (which must have a joint action) onto `spec`'s robot. Joints the
    /// policy does not drive keep kp = kd = 0 and target 0 (callers hold them otherwise).
    pub fn new(m: &Manifest, spec: &RobotSpec) -> Result<Self, FileError> {
        let a = m
            .decl
            .joint_action
            .as_ref()
            .ok_or_else(|| m.invalid("joint_action", "a joint action section", "nothing"))?;
        let hw_index = joint_map(m, spec)?;
        let default_pose: Vec<f64> = m
            .decl
            .joints
            .iter()
            .map(|j| a.default_pose_rad[j])
            .collect();
        let n_hw = spec.num_joints();
        let mut kp_hw = vec![0.0; n_hw];
        let mut kd_hw = vec![0.0; n_hw];
        let (kp, kd) = (a.kp.resolve(&m.decl.joints), a.kd.resolve(&m.decl.joints));
        for (i, &h) in hw_index.iter().enumerate() {
            kp_hw[h] = kp[i];
            kd_hw[h] = kd[i];
        }
        let (clip_lower, clip_upper) = a.clip.resolve(&m.decl.joints);
        Ok(Self {
            scale: a.scale.resolve(&m.decl.joints),
            hw_index,
            default_pose,
            clip_lower,
            clip_upper,
            kp_hw,
            kd_hw,
            interpolate: a.interpolate,
        })
    }

    /// Clips a raw action (policy order) in place, per joint. NaN stays NaN (the supervisor
    /// refuses it).
    pub fn clip(&self, action: &mut [f32]) {
        for (i, a) in action.iter_mut().enumerate() {
            *a = a.clamp(self.clip_lower[i] as f32, self.clip_upper[i] as f32);
        }
    }

    /// Writes hardware-order targets for a clipped `action` (policy order) into
    /// `target_hw_rad`: default + action × scale.
    pub fn targets(&self, action: &[f32], target_hw_rad: &mut [f64]) {
        for (i, &h) in self.hw_index.iter().enumerate() {
            target_hw_rad[h] = self.default_pose[i] + action[i] as f64 * self.scale[i];
        }
    }

    /// The inverse mapping: the action (policy order) that produces hardware-order targets
    /// `target_hw_rad` — how expert demonstrations are expressed in the policy's action space.
    pub fn action_from_targets(&self, target_hw_rad: &[f64], action: &mut [f32]) {
        for (i, &h) in self.hw_index.iter().enumerate() {
            let s = if self.scale[i] != 0.0 {
                self.scale[i]
            } else {
                1.0
            };
            action[i] = ((target_hw_rad[h] - self.default_pose[i]) / s) as f32;
        }
    }

    /// The default pose in hardware order (joints not driven by the policy: 0).
    pub fn default_pose_hw(&self, n_hw: usize) -> Vec<f64> {
        let mut out = vec![0.0; n_hw];
        for (i, &h) in self.hw_index.iter().enumerate() {
            out[h] = self.default_pose[i];
        }
        out
    }
}

/// Checks that the policy kind fits the robot.
pub fn check_kind_fits_robot(m: &Manifest, spec: &RobotSpec) -> Result<(), FileError> {
    use reflex_hardware::RobotKind;
    match (m.action_space(), spec.kind) {
        (PolicyKind::Manipulation, RobotKind::Legged) => Err(m.invalid(
            "kind",
            "a joint-space policy for a legged robot",
            "manipulation",
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::ManifestDecl;
    use reflex_hardware::{JointLimits, RobotKind};

    fn spec() -> RobotSpec {
        RobotSpec::uniform(
            "two",
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

    fn manifest(order: &str) -> Manifest {
        let text = format!(
            "kind: locomotion
robot: two
policy_hz: 50
joints: [b, a]
observation:
  terms: [dof_pos, dof_vel, last_action]
  scales: {{dof_vel: 0.5}}
  clip: 1.0
  history: {{length: 2, order: {order}}}
joint_action:
  scale: [0.5, 0.25]
  default_pose_rad: {{a: 0.1, b: -0.2}}
  kp: 40
  kd: 1
"
        )
        .replace("scale: [0.5, 0.25]", "scale: {b: 0.5, a: 0.25}");
        Manifest {
            file: "m.yaml".into(),
            decl: serde_norway::from_str::<ManifestDecl>(&text).unwrap(),
        }
    }

    #[test]
    fn frames_are_in_policy_order_scaled_clipped_and_stacked_as_declared() {
        let s = spec();
        let mut state = RobotState::new(&s);
        state.joints.position_rad = vec![0.3, 0.8]; // hardware order a, b
        state.joints.velocity_rad_s = vec![1.0, 4.0];
        let mut out = vec![0.0f32; 12];
        let mut newest = ObservationBuilder::new(&manifest("newest_first"), &s).unwrap();
        newest.build(&state, &[0.0; 3], &[0.5, -0.5], &mut out);
        // Policy order b, a: dof_pos = q − default, dof_vel × 0.5 clipped to ±1, last action.
        let first = [1.0f32, 0.2, 1.0, 0.5, 0.5, -0.5];
        assert_eq!(&out[..6], &first, "newest frame");
        assert_eq!(
            &out[6..],
            &first,
            "a reset fills the history with the first frame"
        );
        state.joints.position_rad = vec![0.1, -0.2];
        newest.build(&state, &[0.0; 3], &[0.0, 0.0], &mut out);
        assert_eq!(
            &out[..2],
            &[0.0, 0.0],
            "newest first: the current frame leads"
        );
        assert_eq!(&out[6..], &first, "then the previous one");
        let mut oldest = ObservationBuilder::new(&manifest("oldest_first"), &s).unwrap();
        state.joints.position_rad = vec![0.3, 0.8];
        oldest.build(&state, &[0.0; 3], &[0.5, -0.5], &mut out);
        state.joints.position_rad = vec![0.1, -0.2];
        oldest.build(&state, &[0.0; 3], &[0.0, 0.0], &mut out);
        assert_eq!(&out[..6], &first, "oldest first: the previous frame leads");
        assert_eq!(&out[6..8], &[0.0, 0.0]);
    }

    #[test]
    fn actions_map_to_hardware_targets_by_name_and_back() {
        let s = spec();
        let map = JointActionMap::new(&manifest("newest_first"), &s).unwrap();
        let mut target = vec![0.0; 2];
        map.targets(&[1.0, -2.0], &mut target);
        // b = -0.2 + 1.0 × 0.5, a = 0.1 + (-2.0) × 0.25, written in hardware order (a, b).
        assert!((target[0] - (-0.4)).abs() < 1e-12 && (target[1] - 0.3).abs() < 1e-12);
        let mut back = [0.0f32; 2];
        map.action_from_targets(&target, &mut back);
        assert_eq!(back, [1.0, -2.0]);
        assert_eq!(map.kp_hw, vec![40.0, 40.0]);
    }
}
