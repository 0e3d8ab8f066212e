//! Learned policies through the real ONNX Runtime library, closed loop in the simulator.

use std::path::{Path, PathBuf};

use reflex_hardware::{Robot, RobotState};
use reflex_policies::manifest::Manifest;
use reflex_policies::onnx::{self, OnnxModel, SessionOptions};
use reflex_policies::policy::OnnxPolicy;
use reflex_policies::Phase;
use reflex_runtime::assemble;
use reflex_runtime::driver::outcome::RobotOutcome;
use reflex_tests::{edit, load_text, repo_root, shipped_text_abs, venv_python, write_temp};

fn models() -> PathBuf {
    repo_root().join("policies/models")
}

fn init_ort() {
    onnx::runtime(None).expect("ONNX Runtime: run ./dev setup");
}

#[test]
fn a1_stands_ten_seconds_under_the_onnx_policy() {
    let cfg = load_text("a1_policy", &shipped_text_abs("a1_policy.yaml"));
    let rep = reflex_tests::run_for(&cfg, 12.0);
    assert_eq!(rep.final_phase, Phase::Policy);
    assert_eq!(rep.supervisor.cycles_in_fallback, 0);
    let p = rep.policy.as_ref().expect("policy report");
    let handover = p.handover_s.expect("the policy took over");
    assert!(handover < 2.0, "handover at {handover} s");
    assert_eq!(p.providers[0].active, Some(onnx::Provider::Cpu));
    // CPU-only library: TensorRT and CUDA are requested and reported unavailable, not hidden.
    assert_eq!(p.providers[0].failed.len(), 2, "{:?}", p.providers);
    assert!(p.thread.ticks >= 500, "policy ticks {}", p.thread.ticks);
    assert_eq!(p.late_results, 0);
    assert_eq!(p.thread.errors, 0);
    let RobotOutcome::Legged {
        min_base_height_m,
        max_base_height_m,
        max_abs_roll_rad,
        max_abs_pitch_rad,
        measured_from_s,
        ..
    } = rep.outcome.expect("simulator runs judge the outcome")
    else {
        panic!("legged outcome")
    };
    assert!(measured_from_s <= 2.1);
    assert!(
        (0.25..=0.35).contains(&min_base_height_m) && max_base_height_m <= 0.35,
        "height {min_base_height_m}..{max_base_height_m}"
    );
    assert!(
        max_abs_roll_rad < 0.1 && max_abs_pitch_rad < 0.1,
        "attitude {max_abs_roll_rad} {max_abs_pitch_rad}"
    );
}

#[test]
fn panda_end_effector_reaches_the_policy_target() {
    let cfg = load_text("panda_reach", &shipped_text_abs("panda_reach.yaml"));
    let rep = reflex_tests::run_for(&cfg, 5.0);
    let RobotOutcome::Arm {
        final_ee_position_m: p,
        ..
    } = rep.outcome.expect("simulator runs judge the outcome")
    else {
        panic!("arm outcome")
    };
    let target = [0.45, 0.10, 0.40];
    let err =
        ((p[0] - target[0]).powi(2) + (p[1] - target[1]).powi(2) + (p[2] - target[2]).powi(2))
            .sqrt();
    assert!(err < 0.01, "end effector at {p:?}, {err} m from {target:?}");
    assert_eq!(rep.clamped_commands, 0);
}

#[test]
fn workspace_box_clips_the_end_effector_target() {
    // Same policy (target x = 0.45 m), box ending at x = 0.35 m: the arm stops at the wall.
    let manifest_text = std::fs::read_to_string(models().join("panda_reach/policy.yaml")).unwrap();
    let boxed = edit(
        &manifest_text,
        "max_m: [0.6, 0.2, 0.6]",
        "max_m: [0.35, 0.2, 0.6]",
    )
    .replace(
        "file: policy.onnx",
        &format!(
            "file: {}",
            models().join("panda_reach/policy.onnx").display()
        ),
    );
    let manifest = write_temp("boxed_manifest", &boxed);
    let text = edit(
        &shipped_text_abs("panda_reach.yaml"),
        &format!(
            "{}/policies/models/panda_reach/policy.yaml",
            repo_root().display()
        ),
        manifest.to_str().unwrap(),
    );
    let cfg = load_text("panda_boxed", &text);
    let rep = reflex_tests::run_for(&cfg, 5.0);
    let RobotOutcome::Arm {
        final_ee_position_m: p,
        ..
    } = rep.outcome.expect("simulator runs judge the outcome")
    else {
        panic!("arm outcome")
    };
    assert!(
        p[0] < 0.355 && p[0] > 0.33,
        "x = {} m: the box ends at 0.35 m",
        p[0]
    );
    assert!(
        (p[1] - 0.10).abs() < 0.01 && (p[2] - 0.40).abs() < 0.01,
        "y, z still reach the target: {p:?}"
    );
}

fn a1_policy(manifest: &str) -> (OnnxPolicy, reflex_sim::SimRobot) {
    init_ort();
    let cfg = load_text("a1_for_policy", &shipped_text_abs("a1_stand.yaml"));
    let sim = assemble::build_sim(&cfg).unwrap();
    let spec = sim.spec().clone();
    let m = Manifest::load(&models().join(manifest), &spec).unwrap();
    (
        OnnxPolicy::load(m, &spec, &SessionOptions::default()).unwrap(),
        sim,
    )
}

#[test]
fn zero_residual_gives_exactly_the_base_action() {
    let (mut policy, mut sim) = a1_policy("a1_residual/policy.yaml");
    let mut state = RobotState::new(sim.spec());
    let mut target = policy.new_target(12);
    sim.activate().unwrap();
    let mut moved = false;
    for k in 0..12 {
        sim.read(&mut state).unwrap();
        policy.step(&state, &mut target).unwrap();
        assert_eq!(
            target.action, target.base_action,
            "tick {k}: composed action differs from the base action"
        );
        moved |= target.action.iter().any(|a| *a != 0.0);
        sim.step(20);
    }
    assert!(
        moved,
        "the base produced only zeros: the test would prove nothing"
    );
}

#[test]
fn residual_is_scaled_and_added_to_the_base() {
    // Make the residual head non-zero: bias 1.0 on every output → a = base + 0.1.
    use prost::Message;
    use reflex_policies::onnx_proto::ModelProto;
    let dir = std::env::temp_dir().join(format!("reflex-residual-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["policy.yaml", "base.onnx"] {
        std::fs::copy(models().join("a1_residual").join(f), dir.join(f)).unwrap();
    }
    let mut m = ModelProto::decode(
        std::fs::read(models().join("a1_residual/residual.onnx"))
            .unwrap()
            .as_slice(),
    )
    .unwrap();
    let g = m.graph.as_mut().unwrap();
    let b1 = g
        .initializer
        .iter_mut()
        .find(|t| t.name == "residual_b1")
        .expect("last bias");
    let ones: Vec<u8> = (0..12).flat_map(|_| 1.0f32.to_le_bytes()).collect();
    b1.raw_data = ones;
    b1.float_data.clear();
    std::fs::write(dir.join("residual.onnx"), m.encode_to_vec()).unwrap();
    init_ort();
    let cfg = load_text("a1_for_residual", &shipped_text_abs("a1_stand.yaml"));
    let mut sim = assemble::build_sim(&cfg).unwrap();
    let spec = sim.spec().clone();
    let manifest = Manifest::load(&dir.join("policy.yaml"), &spec).unwrap();
    let mut policy = OnnxPolicy::load(manifest, &spec, &SessionOptions::default()).unwrap();
    let mut state = RobotState::new(&spec);
    sim.read(&mut state).unwrap();
    let mut t = policy.new_target(12);
    policy.step(&state, &mut t).unwrap();
    for (a, b) in t.action.iter().zip(&t.base_action) {
        assert!((a - (b + 0.1)).abs() < 1e-6, "{a} vs {b} + 0.1");
    }
}

#[test]
fn base_action_chunk_is_executed_open_loop_over_its_horizon() {
    // The base runs once per 4 ticks: within a chunk the base action changes only by the chunk's
    // own entries (identical here), even though the state changes every tick.
    let (mut policy, mut sim) = a1_policy("a1_residual/policy.yaml");
    let mut state = RobotState::new(sim.spec());
    let mut t = policy.new_target(12);
    sim.activate().unwrap();
    let mut bases = Vec::new();
    for _ in 0..8 {
        sim.read(&mut state).unwrap();
        policy.step(&state, &mut t).unwrap();
        bases.push(t.base_action.clone());
        sim.step(20);
    }
    assert_eq!(bases[0], bases[1]);
    assert_eq!(bases[0], bases[3]);
    assert_ne!(bases[3], bases[4], "a new chunk starts at tick 4");
    assert_eq!(bases[4], bases[7]);
}

#[test]
fn stalled_policy_is_counted_late_while_the_rt_loop_keeps_its_rate() {
    let text = edit(
        &shipped_text_abs("a1_policy.yaml"),
        "clock: lockstep",
        "clock: realtime",
    );
    let text = format!("{text}faults:\n  - {{kind: policy_freeze, at_s: 2.5, duration_s: 0.5}}\n");
    let cfg = load_text("stall_rt", &text);
    let rep = reflex_tests::run_for(&cfg, 3.5);
    let p = rep.policy.as_ref().unwrap();
    // Late results are counted until the supervisor gives up on the policy (> 3 periods late).
    assert!(p.late_results >= 4, "late results {}", p.late_results);
    let t = &rep.supervisor.transitions;
    assert_eq!(t.len(), 1, "{t:?}");
    assert_eq!(
        t[0].transition.cause,
        reflex_runtime::supervisor::Cause::PolicyLate
    );
    assert!(
        (2.5..2.65).contains(&t[0].time_s),
        "fallback at {} s",
        t[0].time_s
    );
    assert_eq!(rep.cycles, 1750);
    // The RT loop did not wait for the stalled policy: the run took its own duration.
    assert!(
        rep.wall_time_s < 3.5 + 0.25,
        "wall time {} s",
        rep.wall_time_s
    );
    // Waiting for the frozen policy would miss every deadline of its 0.5 s (250 cycles); a
    // shared 2-core machine running other tests beside this one misses a few on its own.
    assert!(
        rep.missed_deadlines < 90,
        "the loop lost its rate: {} missed deadlines",
        rep.missed_deadlines
    );
}

#[test]
fn outputs_equal_python_onnxruntime_within_1e_5() {
    init_ort();
    let (a1, panda) = (reflex_tests::spec_of("a1"), reflex_tests::spec_of("panda"));
    let cases: [(&str, &str, &reflex_hardware::RobotSpec); 4] = [
        ("a1_stand_bc/policy.yaml", "model", &a1),
        ("panda_reach/policy.yaml", "model", &panda),
        ("a1_residual/policy.yaml", "base", &a1),
        ("a1_residual/policy.yaml", "residual", &a1),
    ];
    let dir = std::env::temp_dir().join(format!("reflex-ortref-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (manifest, which, spec) in cases {
        let m = Manifest::load(&models().join(manifest), spec).unwrap();
        let decl = match which {
            "model" => m.decl.model.clone().unwrap(),
            "base" => m.decl.residual.clone().unwrap().base,
            _ => m.decl.residual.clone().unwrap().residual,
        };
        let mut model = OnnxModel::load(&m, &decl, which, &SessionOptions::default()).unwrap();
        let rows = 32;
        let n = model.input_len();
        // Deterministic pseudo-random inputs in [-2, 2].
        let x: Vec<f32> = (0..rows * n)
            .map(|i| (((i as u64 * 2654435761) % 10007) as f32 / 10007.0) * 4.0 - 2.0)
            .collect();
        let mut ours = vec![0.0f32; rows * model.output_len()];
        for r in 0..rows {
            let o = model.output_len();
            model
                .run(&x[r * n..(r + 1) * n], &mut ours[r * o..(r + 1) * o])
                .unwrap();
        }
        let inp = dir.join(format!("{which}.in.f32"));
        let out = dir.join(format!("{which}.out.f32"));
        std::fs::write(
            &inp,
            x.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>(),
        )
        .unwrap();
        let model_file = model.file().to_path_buf();
        venv_python(&[
            "scripts/ort_reference.py",
            model_file.to_str().unwrap(),
            inp.to_str().unwrap(),
            &rows.to_string(),
            out.to_str().unwrap(),
        ]);
        let theirs: Vec<f32> = std::fs::read(&out)
            .unwrap()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        assert_eq!(theirs.len(), ours.len(), "{manifest} {which}");
        let worst = ours
            .iter()
            .zip(&theirs)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst <= 1e-5, "{manifest} {which}: max |Δ| = {worst}");
    }
}

/// Loads a manifest's policy the way a run does; returns the error text.
fn refusal(manifest: &Path, robot: &str) -> String {
    init_ort();
    let cfg = load_text(
        &format!("{robot}_refusal"),
        &shipped_text_abs(if robot == "a1" {
            "a1_stand.yaml"
        } else {
            "panda_hold.yaml"
        }),
    );
    let sim = assemble::build_sim(&cfg).unwrap();
    match Manifest::load(manifest, sim.spec()) {
        Err(e) => e.to_string(),
        Ok(m) => match OnnxPolicy::load(m, sim.spec(), &SessionOptions::default()) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{} was accepted", manifest.display()),
        },
    }
}

/// A copy of a model folder in a temp dir, with `edit` applied to the manifest text and
/// `model_edit` to the decoded model (ONNX protobuf).
fn variant(
    folder: &str,
    tag: &str,
    manifest_edit: impl Fn(String) -> String,
    model_edit: impl Fn(&mut reflex_policies::onnx_proto::ModelProto),
) -> PathBuf {
    use prost::Message;
    let dir = std::env::temp_dir().join(format!("reflex-bad-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = models().join(folder);
    for e in std::fs::read_dir(&src).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_owned();
        if p.extension().is_some_and(|x| x == "onnx") {
            let mut m = reflex_policies::onnx_proto::ModelProto::decode(
                std::fs::read(&p).unwrap().as_slice(),
            )
            .unwrap();
            model_edit(&mut m);
            std::fs::write(dir.join(name), m.encode_to_vec()).unwrap();
        } else {
            std::fs::copy(&p, dir.join(name)).unwrap();
        }
    }
    let mp = dir.join("policy.yaml");
    let text = std::fs::read_to_string(&mp).unwrap();
    std::fs::write(&mp, manifest_edit(text)).unwrap();
    mp
}

#[test]
fn bad_models_and_manifests_are_refused_at_load_with_the_problem_named() {
    let same = |s: String| s;
    let keep = |_: &mut reflex_policies::onnx_proto::ModelProto| {};
    let cases: Vec<(&str, PathBuf, Vec<&str>)> = vec![
        (
            "wrong input shape",
            variant(
                "a1_stand_bc",
                "shape",
                |s| s.replace("shape: [1, 270]", "shape: [1, 45]"),
                keep,
            ),
            vec!["model.inputs[0].shape", "[1, 270]", "[1, 45]"],
        ),
        (
            "history does not match the model",
            variant(
                "a1_stand_bc",
                "history",
                |s| s.replace("length: 6", "length: 5"),
                keep,
            ),
            vec![
                "model.inputs[0].shape",
                "45 per frame × 5 frames = 225",
                "270 values",
            ],
        ),
        (
            "wrong output name",
            variant(
                "a1_stand_bc",
                "outname",
                |s| s.replace("name: actions", "name: action"),
                keep,
            ),
            vec!["model.outputs[0].name", "`actions`", "`action`"],
        ),
        (
            "missing manifest field",
            variant(
                "a1_stand_bc",
                "missing",
                |s| s.replace("policy_hz: 50\n", ""),
                keep,
            ),
            vec!["missing field `policy_hz`"],
        ),
        (
            "missing default pose entry",
            variant(
                "a1_stand_bc",
                "default",
                |s| s.replace("    RR_calf_joint: -1.5\n", ""),
                keep,
            ),
            vec![
                "joint_action.default_pose_rad",
                "no value for RR_calf_joint",
            ],
        ),
        (
            "unknown joint name",
            variant(
                "a1_stand_bc",
                "joint",
                |s| s.replacen("FL_hip_joint,", "FL_hipjoint,", 1),
                keep,
            ),
            vec!["joints[0]", "unknown joint `FL_hipjoint`"],
        ),
        (
            "non-finite weight",
            variant("a1_stand_bc", "nan", same, |m| {
                let t = &mut m.graph.as_mut().unwrap().initializer[0];
                t.raw_data[0..4].copy_from_slice(&f32::NAN.to_le_bytes());
            }),
            vec!["non-finite", "a1_bc_w0"],
        ),
        (
            "missing model file",
            variant(
                "a1_stand_bc",
                "nofile",
                |s| s.replace("file: policy.onnx", "file: gone.onnx"),
                keep,
            ),
            vec!["gone.onnx", "does not exist"],
        ),
        (
            "unsupported opset",
            variant("a1_stand_bc", "opset", same, |m| {
                m.opset_import[0].version = 99
            }),
            vec!["refused the model", "99"],
        ),
        (
            "unsupported operator",
            variant("a1_stand_bc", "op", same, |m| {
                m.graph.as_mut().unwrap().node[1].op_type = "FooBarOp".into()
            }),
            vec!["refused the model", "FooBarOp"],
        ),
        (
            "manifest for another robot",
            variant(
                "a1_stand_bc",
                "robot",
                |s| s.replace("robot: a1", "robot: go1"),
                keep,
            ),
            vec!["field `robot`", "`a1`", "`go1`"],
        ),
    ];
    for (what, manifest, fragments) in &cases {
        let msg = refusal(manifest, "a1");
        for f in fragments {
            assert!(msg.contains(f), "{what}: message lacks `{f}`:\n  {msg}");
        }
    }
    // A manipulation policy on a legged robot is refused by kind.
    let msg = refusal(&models().join("panda_reach/policy.yaml"), "a1");
    assert!(msg.contains("field `robot`"), "{msg}");
}

#[test]
fn velocity_command_from_the_run_config_reaches_the_observation() {
    let text = edit(
        &shipped_text_abs("a1_policy.yaml"),
        "  manifest: ",
        "  command: [0.5, -0.2, 0.3]\n  manifest: ",
    );
    let cfg = load_text("a1_command", &text);
    let mut sim = assemble::build_sim(&cfg).unwrap();
    let mut lp = assemble::build_policy(&cfg, &sim.spec().clone())
        .unwrap()
        .expect("policy");
    let mut state = RobotState::new(sim.spec());
    sim.read(&mut state).unwrap();
    let mut t = lp.policy.new_target(12);
    lp.policy.step(&state, &mut t).unwrap();
    // Newest frame last (oldest_first), command first in the frame, scaled by [2, 2, 0.25].
    let obs = lp.policy.observation();
    let frame = &obs[obs.len() - 45..];
    assert_eq!(&frame[..3], &[1.0, -0.4, 0.075]);
}
