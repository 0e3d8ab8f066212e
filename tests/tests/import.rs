//! `reflex import`: rl_sar deployment configs of several robots and trainers become manifests
//! (or are refused by name), and TorchScript policies become ONNX that reproduces them.
//!
//! The rl_sar configs here are written for these tests in rl_sar's v3 format, after the
//! conventions its shipped configs use (legged_gym's A1: oldest-first history and a FL/FR swap
//! of Unitree's order; IsaacLab/robot_lab: no history, the SDK order, unit command scales); the
//! HIMLoco Go2 config is rl_sar's own (policies/models/go2_himloco, Apache-2.0).

use std::path::{Path, PathBuf};

use reflex_import::rl_sar;
use reflex_policies::manifest::{ActionClip, HistoryOrder, ObsTerm, TermScale};
use reflex_policies::onnx::{self, OnnxModel, SessionOptions};
use reflex_tests::{repo_root, venv_python};

fn go2_dir() -> PathBuf {
    repo_root().join("policies/models/go2_himloco")
}

fn temp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("reflex-import-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

const A1_BASE: &str = "a1:
  dt: 0.005
  decimation: 4
  num_of_dofs: 12
  wheel_indices: []
  default_dof_pos: [0.0, 0.8, -1.5, 0.0, 0.8, -1.5, 0.0, 0.8, -1.5, 0.0, 0.8, -1.5]
  joint_names: [FR_hip_joint, FR_thigh_joint, FR_calf_joint, FL_hip_joint, FL_thigh_joint, FL_calf_joint,
                RR_hip_joint, RR_thigh_joint, RR_calf_joint, RL_hip_joint, RL_thigh_joint, RL_calf_joint]
  joint_mapping: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
";

/// legged_gym's A1 layout: Isaac Gym's alphabetical order FL, FR, RL, RR (a swap of Unitree's),
/// six frames oldest first, the A1's 0.25 action scale.
const A1_LEGGED_GYM: &str = "a1/legged_gym:
  model_name: model.onnx
  num_observations: 45
  observations: [commands, ang_vel, gravity_vec, dof_pos, dof_vel, actions]
  observations_history: [5, 4, 3, 2, 1, 0]
  observations_history_priority: time
  clip_obs: 100.0
  clip_actions_lower: [-100, -100, -100, -100, -100, -100, -100, -100, -100, -100, -100, -100]
  clip_actions_upper: [100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100]
  rl_kp: [40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40, 40]
  rl_kd: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
  fixed_kp: [80, 80, 80, 80, 80, 80, 80, 80, 80, 80, 80, 80]
  fixed_kd: [3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3]
  num_of_dofs: 12
  action_scale: [0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25]
  wheel_indices: []
  lin_vel_scale: 2.0
  ang_vel_scale: 0.25
  dof_pos_scale: 1.0
  dof_vel_scale: 0.05
  commands_scale: [2.0, 2.0, 0.25]
  torque_limits: [33.5, 33.5, 33.5, 33.5, 33.5, 33.5, 33.5, 33.5, 33.5, 33.5, 33.5, 33.5]
  default_dof_pos: [0.1, 0.8, -1.5, -0.1, 0.8, -1.5, 0.1, 1.0, -1.5, -0.1, 1.0, -1.5]
  joint_mapping: [3, 4, 5, 0, 1, 2, 9, 10, 11, 6, 7, 8]
";

/// An IsaacLab / robot_lab style Go2 policy: joints in the SDK order (identity mapping), no
/// history, unit command scales, base linear velocity observed, a per-joint asymmetric clip.
const GO2_ISAACLAB: &str = "go2/robot_lab:
  model_name: policy.pt
  num_observations: 48
  observations: [lin_vel, ang_vel, gravity_vec, commands, dof_pos, dof_vel, actions]
  observations_history: []
  clip_obs: 100.0
  clip_actions_lower: [-10, -10, -10, -10, -10, -10, -10, -10, -10, -10, -10, -10]
  clip_actions_upper: [10, 12, 12, 10, 12, 12, 10, 12, 12, 10, 12, 12]
  rl_kp: [25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25, 25]
  rl_kd: [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]
  fixed_kp: [60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60, 60]
  fixed_kd: [5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5]
  num_of_dofs: 12
  action_scale: [0.125, 0.25, 0.25, 0.125, 0.25, 0.25, 0.125, 0.25, 0.25, 0.125, 0.25, 0.25]
  wheel_indices: []
  lin_vel_scale: 1.0
  ang_vel_scale: 1.0
  dof_pos_scale: 1.0
  dof_vel_scale: 1.0
  commands_scale: [1.0, 1.0, 1.0]
  torque_limits: [23.5, 23.5, 23.5, 23.5, 23.5, 23.5, 23.5, 23.5, 23.5, 23.5, 23.5, 23.5]
  default_dof_pos: [-0.1, 0.8, -1.5, 0.1, 0.8, -1.5, -0.1, 1.0, -1.5, 0.1, 1.0, -1.5]
  joint_mapping: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
";

fn write_pair(
    tag: &str,
    robot: &str,
    base: &str,
    policy: &str,
    config: &str,
) -> (PathBuf, PathBuf) {
    let d = temp(tag).join(robot);
    std::fs::create_dir_all(d.join(policy)).unwrap();
    std::fs::write(d.join("base.yaml"), base).unwrap();
    std::fs::write(d.join(policy).join("config.yaml"), config).unwrap();
    (d.join(policy).join("config.yaml"), d.join("base.yaml"))
}

#[test]
fn the_committed_go2_fixture_is_what_reflex_import_makes() {
    onnx::runtime(None).expect("ONNX Runtime: ./dev setup");
    let out = temp("go2");
    let r = reflex_import::import_rl_sar(
        &go2_dir().join("rl_sar_config.yaml"),
        &go2_dir().join("rl_sar_base.yaml"),
        None,
        Some(&go2_dir().join("himloco.pt")),
        &out,
    )
    .expect("import");
    let a = r.agreement.expect("TorchScript source");
    assert!(a.max_abs_diff <= 1e-5, "{a:?}");
    // The manifest differs only in the provenance header's paths.
    let body = |p: &Path| {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(body(&r.manifest), body(&go2_dir().join("policy.yaml")));
    // The same graph and weights (the doc string names the source path).
    let graph = |p: &Path| {
        use prost::Message;
        reflex_policies::onnx_proto::ModelProto::decode(std::fs::read(p).unwrap().as_slice())
            .unwrap()
            .graph
    };
    assert!(
        graph(&r.model) == graph(&go2_dir().join("policy.onnx")),
        "the committed policy.onnx is not the importer's"
    );
    let m = rl_sar::import(
        &go2_dir().join("rl_sar_config.yaml"),
        &go2_dir().join("rl_sar_base.yaml"),
        None,
    )
    .unwrap()
    .manifest;
    let o = &m.observation;
    assert_eq!(o.history.length, 6);
    assert_eq!(
        o.history.order,
        Some(HistoryOrder::NewestFirst),
        "rl_sar [0..5]: 0 is the latest"
    );
    assert_eq!(
        m.joints[0], "FL_hip_joint",
        "policy joint 0 is hardware joint 3"
    );
    assert_eq!(
        m.joint_action.as_ref().unwrap().default_pose_rad["FR_hip_joint"],
        -0.1
    );
    assert_eq!(
        o.scales[&ObsTerm::Command],
        TermScale::PerElement(vec![2.0, 2.0, 0.25])
    );
}

#[test]
fn legged_gym_a1_config_maps_with_its_order_history_and_an_onnx_model() {
    onnx::runtime(None).expect("ONNX Runtime: ./dev setup");
    let (config, base) = write_pair("a1", "a1", A1_BASE, "legged_gym", A1_LEGGED_GYM);
    // A 270 → 12 model in this layout: the A1 BC test policy.
    let model = repo_root().join("policies/models/a1_stand_bc/policy.onnx");
    let out = temp("a1-out");
    let r = reflex_import::import_rl_sar(&config, &base, None, Some(&model), &out).expect("import");
    assert!(
        r.agreement.is_none(),
        "an ONNX source is copied, not converted"
    );
    let spec = reflex_tests::spec_of("a1");
    let m = reflex_policies::manifest::Manifest::load(&r.manifest, &spec).unwrap();
    let d = &m.decl;
    assert_eq!(d.observation.history.order, Some(HistoryOrder::OldestFirst));
    assert_eq!(
        &d.joints[..3],
        ["FL_hip_joint", "FL_thigh_joint", "FL_calf_joint"]
    );
    assert_eq!(
        d.model.as_ref().unwrap().inputs[0].name,
        "obs",
        "the ONNX model's own input name"
    );
    assert_eq!(d.policy_hz, 50.0);
    let a = d.joint_action.as_ref().unwrap();
    assert_eq!(
        a.clip,
        ActionClip::Symmetric(reflex_validate::PerJoint::All(100.0))
    );
    assert_eq!(a.default_pose_rad["RL_thigh_joint"], 1.0);
}

#[test]
fn isaaclab_style_go2_config_maps_a_torchscript_mlp() {
    onnx::runtime(None).expect("ONNX Runtime: ./dev setup");
    let (config, base) = write_pair(
        "go2-isaaclab",
        "go2",
        &std::fs::read_to_string(go2_dir().join("rl_sar_base.yaml")).unwrap(),
        "robot_lab",
        GO2_ISAACLAB,
    );
    // A 48 → 12 legged_gym-style TorchScript MLP (synthetic, scripts/make_torchscript_fixtures.py).
    let model = repo_root().join("import/fixtures/torchscript/legged_gym_mlp.pt");
    let out = temp("go2-isaaclab-out");
    let r = reflex_import::import_rl_sar(&config, &base, None, Some(&model), &out).expect("import");
    assert!(r.agreement.unwrap().max_abs_diff <= 1e-5);
    let m = reflex_policies::manifest::Manifest::load(&r.manifest, &reflex_tests::spec_of("go2"))
        .unwrap();
    let d = &m.decl;
    assert_eq!(d.observation.history.length, 1);
    assert_eq!(
        d.joints[0], "FR_hip_joint",
        "identity mapping: the SDK order"
    );
    assert_eq!(d.observation.terms[0], ObsTerm::BaseLinVel);
    assert!(
        !d.observation.scales.contains_key(&ObsTerm::Command),
        "unit scales are left out"
    );
    match &d.joint_action.as_ref().unwrap().clip {
        ActionClip::Range { lower, upper } => {
            assert_eq!(lower, &reflex_validate::PerJoint::All(-10.0));
            assert_eq!(upper.resolve(&d.joints)[1], 12.0);
        }
        c => panic!("an asymmetric clip is a range: {c:?}"),
    }
    assert!(
        r.notes.iter().any(|n| n.contains("base_lin_vel")),
        "{:?}",
        r.notes
    );
}

#[test]
fn what_cannot_be_mapped_is_refused_by_name() {
    let cases: Vec<(&str, &str, String, &str)> = vec![
        (
            "wheels",
            "a1",
            A1_LEGGED_GYM.replace("  wheel_indices: []", "  wheel_indices: [2, 5, 8, 11]"),
            "wheel_indices",
        ),
        (
            "term_priority",
            "a1",
            A1_LEGGED_GYM.replace("priority: time", "priority: term"),
            "`term` priority",
        ),
        (
            "phase",
            "a1",
            A1_LEGGED_GYM.replace("[commands, ang_vel,", "[phase, commands, ang_vel,"),
            "`phase`",
        ),
        (
            "gappy_history",
            "a1",
            A1_LEGGED_GYM.replace("[5, 4, 3, 2, 1, 0]", "[0, 2, 4]"),
            "observations_history",
        ),
        (
            "legacy_key",
            "a1",
            A1_LEGGED_GYM.replace(
                "  num_of_dofs: 12\n  action",
                "  framework: isaacgym\n  num_of_dofs: 12\n  action",
            ),
            "`framework`",
        ),
        (
            "not_a_permutation",
            "a1",
            A1_LEGGED_GYM.replace(
                "[3, 4, 5, 0, 1, 2, 9, 10, 11, 6, 7, 8]",
                "[3, 3, 5, 0, 1, 2, 9, 10, 11, 6, 7, 8]",
            ),
            "a permutation of 0..12",
        ),
        (
            "short_array",
            "a1",
            A1_LEGGED_GYM.replace(
                "  rl_kd: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]",
                "  rl_kd: [1, 1]",
            ),
            "rl_kd",
        ),
        (
            "frame_width",
            "a1",
            A1_LEGGED_GYM.replace("num_observations: 45", "num_observations: 48"),
            "num_observations",
        ),
        (
            "humanoid",
            "gr1t1",
            A1_LEGGED_GYM.replace("a1/legged_gym:", "gr1t1/legged_gym:"),
            "catalogue",
        ),
    ];
    for (tag, robot, config, needle) in cases {
        let base = A1_BASE.replace("a1:", &format!("{robot}:"));
        let (c, b) = write_pair(tag, robot, &base, "legged_gym", &config);
        let e = rl_sar::import(&c, &b, None).expect_err(tag).to_string();
        assert!(e.contains(needle), "{tag}: `{needle}` not in: {e}");
        assert!(
            e.contains("config.yaml") || e.contains("base.yaml"),
            "{tag}: file named: {e}"
        );
    }
    let e = reflex_import::convert_torchscript(
        &repo_root().join("import/fixtures/torchscript/refuse_lstm.pt"),
    )
    .expect_err("LSTM")
    .to_string();
    assert!(
        e.contains("not a plain MLP exporter") && e.contains("torch.onnx.export"),
        "{e}"
    );
}

#[test]
fn the_himloco_conversion_matches_the_archive_and_an_independent_conversion() {
    onnx::runtime(None).expect("ONNX Runtime: ./dev setup");
    let dir = temp("ts");
    let (d, bytes) = reflex_import::convert_torchscript(&go2_dir().join("himloco.pt")).unwrap();
    let ours = dir.join("himloco.onnx");
    std::fs::write(&ours, bytes).unwrap();
    // (1) against the archive's own weights, evaluated directly in f64.
    let a = reflex_import::agreement(&d, &ours, 200).unwrap();
    assert!(a.max_abs_diff <= 1e-5, "vs the archive's weights: {a:?}");
    // (2) against the independent conversion shipped with the policy, both in ONNX Runtime.
    let rows = reflex_import::onnx_writer::probe_inputs(270, 200, 11);
    let mut m1 = OnnxModel::open(&ours, &SessionOptions::default()).unwrap();
    let mut m2 = OnnxModel::open(
        &go2_dir().join("reference_conversion.onnx"),
        &SessionOptions::default(),
    )
    .unwrap();
    let (mut y1, mut y2, mut worst) = (vec![0.0f32; 12], vec![0.0f32; 12], 0.0f32);
    let mut flat = Vec::new();
    for x in &rows {
        let x: Vec<f32> = x.iter().map(|v| *v as f32).collect();
        m1.run(&x, &mut y1).unwrap();
        m2.run(&x, &mut y2).unwrap();
        worst = y1
            .iter()
            .zip(&y2)
            .map(|(a, b)| (a - b).abs())
            .fold(worst, f32::max);
        flat.extend(x);
    }
    assert!(worst <= 1e-5, "vs the independent conversion: {worst}");
    // (3) against torch-free Python evaluating the archive's own printed forward code in numpy.
    let inp = dir.join("x.f32");
    std::fs::write(
        &inp,
        flat.iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    let out = dir.join("y.f64");
    venv_python(&[
        "scripts/torchscript_reference.py",
        go2_dir().join("himloco.pt").to_str().unwrap(),
        "--eval",
        inp.to_str().unwrap(),
        out.to_str().unwrap(),
    ]);
    let theirs: Vec<f64> = std::fs::read(&out)
        .unwrap()
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(theirs.len(), 200 * 12);
    let mut worst = 0.0f64;
    for (k, x) in flat.chunks_exact(270).enumerate() {
        let x: Vec<f32> = x.to_vec();
        m1.run(&x, &mut y1).unwrap();
        for j in 0..12 {
            worst = worst.max((y1[j] as f64 - theirs[k * 12 + j]).abs());
        }
    }
    assert!(
        worst <= 1e-5,
        "vs the numpy evaluation of the archive's code: {worst}"
    );
}
