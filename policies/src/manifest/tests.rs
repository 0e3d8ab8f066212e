//! The manifest's rules on small in-memory manifests.

use super::*;
use reflex_hardware::{JointLimits, RobotKind};

fn spec() -> RobotSpec {
    RobotSpec::uniform(
        "two",
        RobotKind::Legged,
        &["a", "b"],
        JointLimits {
            lower_rad: -1.0,
            upper_rad: 1.0,
            velocity_rad_s: 10.0,
            effort_nm: 10.0,
        },
    )
}

const GOOD: &str = "kind: locomotion
robot: two
policy_hz: 50
model: {file: p.onnx, inputs: [{name: obs, shape: [1, 12]}], outputs: [{name: a, shape: [1, 2]}]}
joints: [b, a]
observation:
  terms: [dof_pos, dof_vel, last_action]
  history: {length: 2, order: newest_first}
joint_action:
  scale: 0.25
  default_pose_rad: {a: 0.1, b: -0.2}
  kp: 40
  kd: {a: 1, b: 1}
";

fn findings(text: &str) -> Vec<String> {
    let decl: ManifestDecl = serde_norway::from_str(text).unwrap();
    let m = Manifest {
        file: "m.yaml".into(),
        decl,
    };
    let mut c = Checker::new(&m.file);
    m.check(&spec(), &mut c);
    match c.finish() {
        Ok(_) => vec![],
        Err(e) => e.findings().iter().map(|f| f.field.clone()).collect(),
    }
}

#[test]
fn a_valid_manifest_passes_and_sizes_follow_the_layout() {
    assert!(findings(GOOD).is_empty());
    let decl: ManifestDecl = serde_norway::from_str(GOOD).unwrap();
    let m = Manifest {
        file: "m.yaml".into(),
        decl,
    };
    assert_eq!(
        (m.frame_len(), m.observation_len(), m.action_len()),
        (6, 12, 2)
    );
}

#[test]
fn the_same_rules_hold_for_manifest_values_as_for_config_values() {
    let cases = [
        (
            "default_pose_rad: {a: 0.1, b: -0.2}",
            "default_pose_rad: {a: 1.5, b: -0.2}",
            "joint_action.default_pose_rad.a",
        ),
        ("kd: {a: 1, b: 1}", "kd: {a: 1, b: -1}", "joint_action.kd.b"),
        ("kd: {a: 1, b: 1}", "kd: {a: 1}", "joint_action.kd"),
        ("scale: 0.25", "scale: .nan", "joint_action.scale"),
        (
            "history: {length: 2, order: newest_first}",
            "history: {length: 2}",
            "observation.history.order",
        ),
        ("joints: [b, a]", "joints: [b]", "joints"),
    ];
    for (from, to, field) in cases {
        let f = findings(&GOOD.replace(from, to));
        assert!(f.contains(&field.to_string()), "{to}: {f:?}");
    }
}
