//! The manifest's rules: every value checked against the robot, all findings at once.

use reflex_hardware::RobotSpec;
use reflex_validate::{Checker, JointSet, Range};

use super::*;

impl Manifest {
    pub(super) fn check(&self, spec: &RobotSpec, c: &mut Checker) {
        let d = &self.decl;
        if d.robot != spec.model {
            c.error(
                "robot",
                format!("`{}` (the robot this run drives)", spec.model),
                format!("`{}`", d.robot),
            );
        }
        c.range(
            "policy_hz",
            d.policy_hz,
            "a rate",
            Range::open_closed(0.0, 1000.0),
            "Hz",
        );
        for (i, j) in d.joints.iter().enumerate() {
            if spec.joint_index(j).is_none() {
                c.error(
                    format!("joints[{i}]"),
                    format!(
                        "a joint of `{}`: {}",
                        spec.model,
                        spec.joint_names.join(", ")
                    ),
                    format!("unknown joint `{j}`"),
                );
            }
            if d.joints[..i].contains(j) {
                c.error(
                    format!("joints[{i}]"),
                    "each joint once",
                    format!("`{j}` twice"),
                );
            }
        }
        let o = &d.observation;
        if o.terms.is_empty() {
            c.error("observation.terms", "at least one term", "none");
        }
        if o.history.length == 0 || o.history.length > 100 {
            c.error(
                "observation.history.length",
                "1–100 frames",
                o.history.length,
            );
        }
        if o.history.length > 1 && o.history.order.is_none() {
            c.error(
                "observation.history.order",
                "`newest_first` (HIMLoco, rl_sar [0, 1, ...]) or `oldest_first` (rl_sar [.., 1, 0]): trainers differ, so a stacked history must say which",
                "nothing",
            );
        }
        c.range("observation.clip", o.clip, "a clip", Range::above(0.0), "");
        for (term, scale) in &o.scales {
            let field = format!("observation.scales.{}", term_name(*term));
            if !o.terms.contains(term) {
                c.error(
                    &field,
                    "a scale for a term listed in observation.terms",
                    "a term not in the list",
                );
            }
            match scale {
                TermScale::All(x) => {
                    c.range(&field, *x, "a scale", Range::finite(), "");
                }
                TermScale::PerElement(v) => {
                    let n = self.term_len(*term);
                    if v.len() != n {
                        c.error(
                            &field,
                            format!("1 or {n} values"),
                            format!("{} values", v.len()),
                        );
                    }
                    c.each(&field, v, "a scale", Range::finite(), "");
                }
            }
        }
        let action_space = match d.kind {
            PolicyKind::Residual => match &d.residual {
                None => {
                    c.error(
                        "residual",
                        "a `residual:` section for kind residual",
                        "nothing",
                    );
                    return;
                }
                Some(r) => {
                    c.range(
                        "residual.scale",
                        r.scale,
                        "a scale",
                        Range::at_least(0.0),
                        "",
                    );
                    if r.action_space == PolicyKind::Residual {
                        c.error(
                            "residual.action_space",
                            "locomotion or manipulation",
                            "residual",
                        );
                        return;
                    }
                    if r.execute_steps == 0 || r.execute_steps > 1000 {
                        c.error("residual.execute_steps", "1–1000 steps", r.execute_steps);
                    }
                    r.action_space
                }
            },
            k => {
                if d.model.is_none() {
                    c.error(
                        "model",
                        "a `model:` section (file, inputs, outputs)",
                        "nothing",
                    );
                }
                k
            }
        };
        match action_space {
            PolicyKind::Locomotion => self.check_joint_action(spec, c),
            PolicyKind::Manipulation => self.check_ee_action(c),
            PolicyKind::Residual => {}
        }
        if let Some(v) = d.command.iter().find(|v| !v.is_finite()) {
            c.error("command", "finite velocities (m/s, m/s, rad/s)", v);
        }
        let l = &d.command_limits;
        for (field, r, unit) in [
            ("command_limits.vx_m_s", l.vx_m_s, "m/s"),
            ("command_limits.vy_m_s", l.vy_m_s, "m/s"),
            ("command_limits.yaw_rate_rad_s", l.yaw_rate_rad_s, "rad/s"),
        ] {
            let ok = r.iter().all(|v| v.is_finite() && v.abs() <= 20.0) && r[0] <= r[1];
            c.require(
                ok,
                field,
                format!("[lowest, highest] {unit}, finite, lowest ≤ highest, within ±20"),
                format!("{r:?}"),
            );
        }
    }

    fn check_joint_action(&self, spec: &RobotSpec, c: &mut Checker) {
        let d = &self.decl;
        let Some(a) = d.joint_action.as_ref() else {
            c.error(
                "joint_action",
                "a `joint_action:` section for a joint-space policy",
                "nothing",
            );
            return;
        };
        let set = JointSet {
            names: &d.joints,
            described_as: "one of the manifest's joints",
        };
        c.joint_map(
            "joint_action.default_pose_rad",
            &a.default_pose_rad,
            set,
            "an angle",
            Range::finite(),
            "rad",
        );
        c.within_joint_limits("joint_action.default_pose_rad", &a.default_pose_rad, spec);
        c.per_joint(
            "joint_action.scale",
            &a.scale,
            set,
            "a scale",
            Range::at_least(0.0),
            "rad",
        );
        c.per_joint(
            "joint_action.kp",
            &a.kp,
            set,
            "a gain",
            Range::closed(0.0, 10_000.0),
            "N·m/rad",
        );
        c.per_joint(
            "joint_action.kd",
            &a.kd,
            set,
            "a gain",
            Range::closed(0.0, 1_000.0),
            "N·m·s/rad",
        );
        match &a.clip {
            ActionClip::Symmetric(clip) => {
                c.per_joint(
                    "joint_action.clip",
                    clip,
                    set,
                    "a clip",
                    Range::above(0.0),
                    "",
                );
            }
            ActionClip::Range { lower, upper } => {
                c.per_joint(
                    "joint_action.clip.lower",
                    lower,
                    set,
                    "a bound",
                    Range::finite(),
                    "",
                );
                c.per_joint(
                    "joint_action.clip.upper",
                    upper,
                    set,
                    "a bound",
                    Range::finite(),
                    "",
                );
                let (lo, hi) = (lower.resolve(&d.joints), upper.resolve(&d.joints));
                for (j, name) in d.joints.iter().enumerate() {
                    if lo[j] >= hi[j] {
                        c.error(
                            format!("joint_action.clip.{name}"),
                            "lower < upper",
                            format!("[{}, {}]", lo[j], hi[j]),
                        );
                    }
                }
            }
        }
        // A joint the policy does not drive would be left limp (kp = kd = 0).
        let undriven: Vec<&str> = spec
            .joint_names
            .iter()
            .filter(|j| !d.joints.contains(j))
            .map(|j| j.as_str())
            .collect();
        if !undriven.is_empty() {
            c.error(
                "joints",
                format!(
                    "every actuated joint of `{}` (a joint the policy does not drive would be left without gains)",
                    spec.model
                ),
                format!("no {}", undriven.join(", ")),
            );
        }
    }

    fn check_ee_action(&self, c: &mut Checker) {
        let Some(a) = self.decl.ee_action.as_ref() else {
            c.error(
                "ee_action",
                "an `ee_action:` section for a manipulation policy",
                "nothing",
            );
            return;
        };
        let i = &a.impedance;
        for (field, v) in [
            ("ee_action.translation_scale_m", a.translation_scale_m),
            ("ee_action.rotation_scale_rad", a.rotation_scale_rad),
            (
                "ee_action.impedance.translational_stiffness_n_m",
                i.translational_stiffness_n_m,
            ),
            (
                "ee_action.impedance.rotational_stiffness_nm_rad",
                i.rotational_stiffness_nm_rad,
            ),
            (
                "ee_action.impedance.translational_damping_n_s_m",
                i.translational_damping_n_s_m,
            ),
            (
                "ee_action.impedance.rotational_damping_nm_s_rad",
                i.rotational_damping_nm_s_rad,
            ),
            (
                "ee_action.impedance.max_position_error_m",
                i.max_position_error_m,
            ),
            (
                "ee_action.impedance.max_rotation_error_rad",
                i.max_rotation_error_rad,
            ),
            (
                "ee_action.impedance.joint_damping_nm_s_rad",
                i.joint_damping_nm_s_rad,
            ),
        ] {
            c.range(field, v, "a finite value", Range::at_least(0.0), "");
        }
        let w = &a.workspace;
        for k in 0..3 {
            if w.min_m[k].partial_cmp(&w.max_m[k]) != Some(std::cmp::Ordering::Less) {
                c.error(
                    "ee_action.workspace",
                    "min_m < max_m on every axis",
                    format!("{:?} .. {:?}", w.min_m, w.max_m),
                );
                break;
            }
        }
    }
}
