//! `reflex check` against bad input, as a careful and as a hostile user would give it: configs,
//! model manifests, fallback manifests, fault strings and files that are not what they claim.
//! Every case must be refused by the real binary with a non-zero exit, a message naming the
//! file and the field (or what is wrong with the file), within 2 s and 100 MB.

mod common;

use common::repo;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A shipped file's text with its relative paths made absolute (so it works from a temp dir).
fn shipped(rel: &str) -> String {
    let path = repo().join(rel);
    let text = std::fs::read_to_string(&path).unwrap();
    let dir = path.parent().unwrap().display().to_string();
    text.replace("../../", &format!("{}/", repo().display()))
        .replace("file: policy.onnx", &format!("file: {dir}/policy.onnx"))
        .replace(
            "model: fallback.onnx",
            &format!("model: {dir}/fallback.onnx"),
        )
}

/// `text` with `from` replaced by `to` once; `from` must be there (no silent no-op cases).
fn edit(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "no `{from}` in:\n{text}");
    text.replacen(from, to, 1)
}

/// `text` with the value of the top-level line starting with `key` replaced by `value`.
fn set_line(text: &str, key: &str, value: &str) -> String {
    let line = text
        .lines()
        .find(|l| l.starts_with(key))
        .unwrap_or_else(|| panic!("no `{key}` line in:\n{text}"));
    text.replacen(line, &format!("{key} {value}"), 1)
}

/// What a file in a case's folder is.
enum Entry {
    Text(String),
    Bytes(Vec<u8>),
    /// A sparse file of this many bytes (no disk used).
    Sparse(u64),
    Dir,
    Link(PathBuf),
}

struct Case {
    tag: &'static str,
    /// Files of the case's folder; the config is `config.yaml` unless `config` says otherwise.
    files: Vec<(&'static str, Entry)>,
    config: Option<PathBuf>,
    args: Vec<String>,
    /// Fragments the message must hold (besides the file).
    expect: Vec<String>,
    /// The file the message must name (default: the config); relative to the case folder.
    names: String,
}

fn case(tag: &'static str, config: String, expect: &[&str]) -> Case {
    Case {
        tag,
        files: vec![("config.yaml", Entry::Text(config))],
        config: None,
        args: vec![],
        expect: expect.iter().map(|s| s.to_string()).collect(),
        names: "config.yaml".into(),
    }
}

impl Case {
    fn with(mut self, name: &'static str, e: Entry) -> Case {
        self.files.push((name, e));
        self
    }
    fn naming(mut self, name: impl Into<String>) -> Case {
        self.names = name.into();
        self
    }
    fn args(mut self, a: &[&str]) -> Case {
        self.args = a.iter().map(|s| s.to_string()).collect();
        self
    }
    fn config_at(mut self, p: PathBuf) -> Case {
        self.config = Some(p);
        self
    }
}

/// A Go2 policy config whose manifest is `policy.yaml` in the case folder.
fn go2_with_manifest(manifest: String) -> (String, Entry) {
    let cfg = edit(
        &shipped("launch/config/go2_policy.yaml"),
        &format!(
            "manifest: {}/policies/models/go2_himloco/policy.yaml",
            repo().display()
        ),
        "manifest: policy.yaml",
    );
    (cfg, Entry::Text(manifest))
}

/// A Go2 policy config whose fallback is `fallback.yaml` in the case folder.
fn go2_with_fallback(fallback: String) -> (String, Entry) {
    let cfg = edit(
        &shipped("launch/config/go2_policy.yaml"),
        &format!(
            "fallback: {}/policies/models/go2_fallback/fallback.yaml",
            repo().display()
        ),
        "fallback: fallback.yaml",
    );
    (cfg, Entry::Text(fallback))
}

fn manifest_case(tag: &'static str, manifest: String, expect: &[&str]) -> Case {
    let (cfg, m) = go2_with_manifest(manifest);
    case(tag, cfg, expect)
        .with("policy.yaml", m)
        .naming("policy.yaml")
}

fn fallback_case(tag: &'static str, fallback: String, expect: &[&str]) -> Case {
    let (cfg, f) = go2_with_fallback(fallback);
    case(tag, cfg, expect)
        .with("fallback.yaml", f)
        .naming("fallback.yaml")
}

fn cases() -> Vec<Case> {
    let a1 = shipped("launch/config/a1_stand.yaml");
    let a1p = shipped("launch/config/a1_policy.yaml");
    let go2 = shipped("launch/config/go2_policy.yaml");
    let a1_ros = shipped("launch/config/a1_ros.yaml");
    let go2_ros = shipped("launch/config/go2_ros.yaml");
    let panda = shipped("launch/config/panda_reach.yaml");
    let m = shipped("policies/models/go2_himloco/policy.yaml");
    let fb = shipped("policies/models/go2_fallback/fallback.yaml");
    let res = shipped("policies/models/a1_residual/policy.yaml");
    let onnx = std::fs::read(repo().join("policies/models/go2_himloco/policy.onnx")).unwrap();

    let deep = format!("robot: {}1{}\n", "[".repeat(200_000), "]".repeat(200_000));
    let bomb = {
        let mut s = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for k in 0..9 {
            let prev = if k == 0 {
                "a".to_string()
            } else {
                format!("b{}", k - 1)
            };
            s += &format!("b{k}: &b{k} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n");
        }
        s
    };
    // The line of `joint` in the pose map (the first map whose key ends in `pose_rad:`).
    let pose = |text: &str, joint: &str, v: &str| {
        let line = text
            .lines()
            .skip_while(|l| !l.trim_end().ends_with("pose_rad:"))
            .find(|l| l.trim_start().starts_with(&format!("{joint}:")))
            .unwrap()
            .to_string();
        let indent = &line[..line.len() - line.trim_start().len()];
        edit(text, &line, &format!("{indent}{joint}: {v}"))
    };
    let per_joint_kp = |bad: &str| {
        let mut s = String::from("kp:\n");
        for j in [
            "FR_hip_joint",
            "FR_thigh_joint",
            "FR_calf_joint",
            "FL_hip_joint",
            "FL_thigh_joint",
            "FL_calf_joint",
            "RR_hip_joint",
            "RR_thigh_joint",
            "RR_calf_joint",
            "RL_hip_joint",
            "RL_thigh_joint",
        ] {
            s += &format!("    {j}: 60.0\n");
        }
        s += &format!("    {bad}\n");
        s
    };

    vec![
        // --- Non-finite values, one per numeric family of the run config.
        case("nan_control_hz", edit(&a1, "control_hz: 500", "control_hz: .nan"), &["`rates.control_hz`", "NaN"]),
        case("inf_policy_hz", edit(&a1, "policy_hz: 50", "policy_hz: .inf"), &["`rates.policy_hz`"]),
        case("inf_physics_dt", edit(&a1, "physics_dt_s: 0.001", "physics_dt_s: .inf"), &["`sim.physics_dt_s`"]),
        case("nan_friction", edit(&a1, "seed: 1", "seed: 1\n  ground_friction: .nan"), &["`sim.ground_friction`"]),
        case("nan_sim_noise", edit(&a1, "seed: 1", "seed: 1\n  noise: {joint_position_rad: .nan}"), &["`sim.noise.joint_position_rad`"]),
        case("nan_sensor_lost", format!("{a1}safety:\n  sensor_lost_ms: .nan\n"), &["`safety.sensor_lost_ms`", "NaN"]),
        case("nan_sensor_timeout", format!("{a1}safety:\n  sensor_timeout_ms: .nan\n"), &["`safety.sensor_timeout_ms`"]),
        case("inf_tilt", format!("{a1}safety:\n  max_tilt_rad: .inf\n"), &["`safety.max_tilt_rad`"]),
        case("nan_safe_stop_kd", format!("{a1}safety:\n  safe_stop_kd: .nan\n"), &["`safety.safe_stop_kd`"]),
        case("nan_target_margin", format!("{a1}safety:\n  target_limit_margin_rad: .nan\n"), &["`safety.target_limit_margin_rad`"]),
        case("nan_pose", pose(&a1, "FR_hip_joint", ".nan"), &["`controller.pose_rad.FR_hip_joint`"]),
        case("inf_scalar_kp", edit(&a1, "kp: 60.0", "kp: .inf"), &["`controller.kp`"]),
        case("nan_stand_duration", edit(&a1, "duration_s: 1.5", "duration_s: .nan"), &["`controller.duration_s`"]),
        case("nan_command", edit(&go2, "command: [0.5, 0.0, 0.0]", "command: [.nan, 0.0, 0.0]"), &["`policy.command[0]`"]),
        case("nan_schedule_time", edit(&go2, "command: [0.5, 0.0, 0.0]", "command: [0.5, 0.0, 0.0]\n  command_schedule: [{at_s: .nan, command: [0, 0, 0]}]"), &["`policy.command_schedule[0].at_s`"]),
        case("nan_teleop_timeout", format!("{go2}teleop:\n  twist: {{timeout_ms: .nan}}\n"), &["`teleop.twist.timeout_ms`"]),
        case("nan_ros_state_timeout", edit(&a1_ros, "state_timeout_ms: 4", "state_timeout_ms: .nan"), &["`ros.state_timeout_ms`"]),
        case("inf_ros_stamp_age", edit(&a1_ros, "max_stamp_age_ms: 200", "max_stamp_age_ms: .inf"), &["`ros.max_stamp_age_ms`"]),
        case("nan_panda_pose", pose(&panda, "panda_joint4", ".nan"), &["`controller.pose_rad.panda_joint4`"]),
        // --- Per-joint maps: the same rules as scalars; complete, exact, known joints.
        case("per_joint_kp_negative", edit(&a1, "kp: 60.0", &per_joint_kp("RL_calf_joint: -5.0")), &["`controller.kp.RL_calf_joint`", "-5"]),
        case("per_joint_kp_missing", edit(&a1, "kp: 60.0", &per_joint_kp("")), &["`controller.kp`", "RL_calf_joint"]),
        case("per_joint_kp_duplicate", edit(&a1, "kp: 60.0", &per_joint_kp("RL_thigh_joint: 60.0")), &["controller.kp", "duplicate"]),
        case("per_joint_kp_unknown", edit(&a1, "kp: 60.0", &per_joint_kp("RL_knee_joint: 60.0")), &["RL_knee_joint"]),
        case("pose_missing_joint", edit(&a1, "    RL_calf_joint: -1.5\n", ""), &["`controller.pose_rad`", "RL_calf_joint"]),
        case("pose_beyond_limits", pose(&a1, "FR_calf_joint", "-0.2"), &["`controller.pose_rad.FR_calf_joint`", "limits"]),
        case("pose_duplicate_joint", edit(&a1, "    RL_calf_joint: -1.5\n", "    RL_calf_joint: -1.5\n    RL_calf_joint: -1.4\n"), &["controller.pose_rad", "duplicate"]),
        // --- Bounds on every count and duration a user sets.
        case("huge_warmup", edit(&go2, "command: [0.5, 0.0, 0.0]", "command: [0.5, 0.0, 0.0]\n  onnxruntime: {warmup_runs: 1000000000}"), &["`policy.onnxruntime.warmup_runs`"]),
        case("load_timeout_exceeded", edit(&go2, "command: [0.5, 0.0, 0.0]", "command: [0.5, 0.0, 0.0]\n  onnxruntime: {warmup_runs: 1000, load_timeout_s: 0.001}"), &["`policy.onnxruntime.load_timeout_s`", "still loading after 0.001 s"]),
        case("load_timeout_nan", edit(&go2, "command: [0.5, 0.0, 0.0]", "command: [0.5, 0.0, 0.0]\n  onnxruntime: {load_timeout_s: .nan}"), &["`policy.onnxruntime.load_timeout_s`"]),
        case("huge_schedule_time", edit(&go2, "command: [0.5, 0.0, 0.0]", "command: [0.5, 0.0, 0.0]\n  command_schedule: [{at_s: 1e12, command: [0, 0, 0]}]"), &["`policy.command_schedule[0].at_s`"]),
        case("huge_latency_spike", format!("{a1}faults:\n  - {{kind: latency_spike, at_s: 1, duration_ms: 1e6}}\n"), &["`faults[0].duration_ms`"]),
        case("nan_fault_time", format!("{a1}faults:\n  - {{kind: estop, at_s: .nan}}\n"), &["`faults[0].at_s`"]),
        case("inf_push_force", format!("{a1}faults:\n  - {{kind: push, at_s: 1, duration_s: 0.1, force_n: [.inf, 0, 0]}}\n"), &["`faults[0].force_n"]),
        case("negative_fault_duration", format!("{a1}faults:\n  - {{kind: sensor_dropout, at_s: 1, duration_s: -0.1}}\n"), &["`faults[0].duration_s`"]),
        case("overlapping_faults", format!("{a1}faults:\n  - {{kind: sensor_dropout, at_s: 1, duration_s: 1}}\n  - {{kind: sensor_dropout, at_s: 1.5, duration_s: 1}}\n"), &["`faults[1].at_s`", "overlap"]),
        case("nan_noise_burst", format!("{a1}faults:\n  - {{kind: sensor_noise_burst, at_s: 1, duration_s: 1, gyro_rad_s: .nan}}\n"), &["`faults[0].gyro_rad_s`"]),
        case("weakness_above_one", format!("{a1}faults:\n  - {{kind: motor_weakness, at_s: 1, duration_s: 1, strength: 2}}\n"), &["`faults[0].strength`"]),
        case("policy_fault_without_policy", format!("{a1}faults:\n  - {{kind: policy_freeze, at_s: 1, duration_s: 1}}\n"), &["`faults[0].kind`", "policy"]),
        case("push_on_a_real_robot", format!("{a1_ros}faults:\n  - {{kind: push, at_s: 1, duration_s: 0.1, force_n: [0, 50, 0]}}\n"), &["`faults[0].kind`", "simulated"]),
        case("payload_fault_too_heavy", format!("{a1}faults:\n  - {{kind: payload, at_s: 1, duration_s: 1, mass_kg: 500}}\n"), &["`faults[0].mass_kg`"]),
        case("payload_on_a_real_robot", format!("{a1_ros}faults:\n  - {{kind: payload, at_s: 1, duration_s: 1, mass_kg: 2}}\n"), &["`faults[0].kind`", "simulated"]),
        case("terrain_too_rough", edit(&go2, "  seed: 1\n", "  seed: 1\n  rough_terrain_m: 0.5\n"), &["`sim.rough_terrain_m`"]),
        case("inference_longer_than_a_tick", edit(&go2, "  seed: 1\n", "  seed: 1\n  policy_latency_cycles: 10\n"), &["`sim.policy_latency_cycles`", "one policy period (10"]),
        case("cpu_out_of_range", edit(&a1, "cpu: 1", "cpu: 4096"), &["`realtime.cpu`"]),
        case("rt_spin_too_long", edit(&a1_ros, "spin_for_state_us: 200", "spin_for_state_us: 50000"), &["`realtime.spin_for_state_us`", "at most 10000"]),
        case("ros_domain_out_of_range", edit(&a1_ros, "node_name: reflex", "node_name: reflex\n  domain_id: 500"), &["`ros.domain_id`"]),
        case("ros_bad_topic", edit(&a1_ros, "joint_states: /joint_states", "joint_states: '/joint states!'"), &["`ros.topics.joint_states`"]),
        case("teleop_bad_topic", edit(&go2_ros, "topic: /cmd_vel", "topic: 'cmd vel'"), &["`teleop.twist.topic`"]),
        // --- Fault strings on the command line.
        case("fault_unknown_kind", a1.clone(), &["--fault #1", "unknown variant `meteor`"]).args(&["--fault", "{kind: meteor, at_s: 1}"]),
        case("fault_not_a_mapping", a1.clone(), &["--fault #1"]).args(&["--fault", "push"]),
        case("fault_nan_time", a1.clone(), &["`faults[0].at_s`"]).args(&["--fault", "{kind: estop, at_s: .nan}"]),
        case("fault_missing_field", a1.clone(), &["--fault #1", "missing field `duration_s`"]).args(&["--fault", "{kind: push, at_s: 1, force_n: [0, 1, 0]}"]),
        case("fault_alias_bomb", a1.clone(), &["--fault #1", "alias"]).args(&["--fault", "{kind: estop, at_s: &t 1, x: *t}"]),
        case("fault_deep", a1.clone(), &["--fault #1", "nest"]).args(&["--fault", &format!("{{kind: estop, at_s: {}1{}}}", "[".repeat(60_000), "]".repeat(60_000))]),
        // --- Files that are not what they claim.
        case("tabs", edit(&a1, "  model: a1", "\tmodel: a1"), &["tab"]),
        case("alias_bomb", bomb, &["alias"]),
        case("deep_nesting", deep, &["nest"]),
        case("not_yaml_at_all", String::new(), &["config"]).with("config.yaml", Entry::Bytes(onnx.clone())),
        case("config_is_dev_zero", a1.clone(), &["not a regular file"]).config_at(PathBuf::from("/dev/zero")).naming("/dev/zero"),
        case("config_is_a_directory", a1.clone(), &["a directory"]).with("adir", Entry::Dir).config_at(PathBuf::from("adir")).naming("adir"),
        case("config_symlink_loop", a1.clone(), &["cannot read"]).with("loop_a", Entry::Link("loop_b".into())).with("loop_b", Entry::Link("loop_a".into())).config_at("loop_a".into()).naming("loop_a"),
        case("config_missing", a1.clone(), &["does not exist"]).config_at("nowhere.yaml".into()).naming("nowhere.yaml"),
        case("config_huge", a1.clone(), &["limit"]).with("huge.yaml", Entry::Sparse(1 << 31)).config_at("huge.yaml".into()).naming("huge.yaml"),
        case("manifest_is_the_config", edit(&go2, &format!("manifest: {}/policies/models/go2_himloco/policy.yaml", repo().display()), "manifest: config.yaml"), &["a run config", "model manifest"]),
        case("manifest_is_dev_zero", edit(&go2, &format!("manifest: {}/policies/models/go2_himloco/policy.yaml", repo().display()), "manifest: /dev/zero"), &["/dev/zero", "not a regular file"]).naming("/dev/zero"),
        case("manifest_is_a_directory", edit(&go2, &format!("manifest: {}/policies/models/go2_himloco/policy.yaml", repo().display()), "manifest: adir"), &["a directory"]).with("adir", Entry::Dir).naming("adir"),
        case("fallback_is_dev_zero", edit(&go2, &format!("fallback: {}/policies/models/go2_fallback/fallback.yaml", repo().display()), "fallback: /dev/zero"), &["not a regular file"]).naming("/dev/zero"),
        case("fallback_is_the_config", edit(&go2, &format!("fallback: {}/policies/models/go2_fallback/fallback.yaml", repo().display()), "fallback: config.yaml"), &["a run config", "fallback manifest"]),
        case("fallback_is_the_policy", edit(&go2, &format!("fallback: {}/policies/models/go2_fallback/fallback.yaml", repo().display()), &format!("fallback: {}/policies/models/go2_himloco/policy.yaml", repo().display())), &["a model manifest", "not a fallback manifest"]).naming(format!("{}/policies/models/go2_himloco/policy.yaml", repo().display())),
        // --- Model manifests: the same rules as the config.
        manifest_case("manifest_default_pose_beyond_limits", pose(&m, "FR_calf_joint", "-0.5"), &["`joint_action.default_pose_rad.FR_calf_joint`", "limits"]),
        manifest_case("manifest_default_pose_nan", pose(&m, "FR_calf_joint", ".nan"), &["`joint_action.default_pose_rad.FR_calf_joint`"]),
        manifest_case("manifest_per_joint_kp_negative", edit(&m, "  kp: 40.0", "  kp: {FL_hip_joint: 40, FL_thigh_joint: 40, FL_calf_joint: 40, FR_hip_joint: 40, FR_thigh_joint: 40, FR_calf_joint: -40, RL_hip_joint: 40, RL_thigh_joint: 40, RL_calf_joint: 40, RR_hip_joint: 40, RR_thigh_joint: 40, RR_calf_joint: 40}"), &["`joint_action.kp.FR_calf_joint`"]),
        manifest_case("manifest_drives_11_of_12", edit(&m, "- RR_calf_joint\n", ""), &["joints", "RR_calf_joint"]),
        manifest_case("manifest_duplicate_joint", edit(&m, "- RR_calf_joint\n", "- RR_thigh_joint\n"), &["joints", "RR_thigh_joint"]),
        manifest_case("manifest_unknown_joint", edit(&m, "- RR_calf_joint\n", "- RR_knee_joint\n"), &["RR_knee_joint"]),
        manifest_case("manifest_action_scale_nan", edit(&m, "FL_hip_joint: 0.125", "FL_hip_joint: .nan"), &["`joint_action.scale.FL_hip_joint`"]),
        manifest_case("manifest_obs_scale_inf", edit(&m, "base_ang_vel: 0.25", "base_ang_vel: .inf"), &["`observation.scales.base_ang_vel`"]),
        manifest_case("manifest_clip_nan", edit(&m, "  clip: 100.0\n  history", "  clip: .nan\n  history"), &["`observation.clip`"]),
        manifest_case("manifest_huge_history", edit(&m, "length: 6", "length: 1000000000"), &["`observation.history.length`"]),
        manifest_case("manifest_history_without_order", edit(&m, "    order: newest_first\n", ""), &["`observation.history.order`"]),
        manifest_case("manifest_policy_hz_nan", edit(&m, "policy_hz: 50.0", "policy_hz: .nan"), &["`policy_hz`"]),
        manifest_case("manifest_command_limits_inverted", edit(&m, "  vx_m_s:\n  - -1.0\n  - 1.0", "  vx_m_s:\n  - 1.0\n  - -1.0"), &["`command_limits.vx_m_s`"]),
        manifest_case("manifest_kd_inf", edit(&m, "kd: 1.0", "kd: .inf"), &["`joint_action.kd`"]),
        manifest_case("manifest_wrong_robot", edit(&m, "robot: go2", "robot: a1"), &["`robot`", "go2"]),
        manifest_case("manifest_wrong_input_shape", edit(&m, "    - 270", "    - 271"), &["`model.inputs[0].shape`", "270"]),
        manifest_case("manifest_model_dev_zero", edit(&m, &format!("file: {}/policies/models/go2_himloco/policy.onnx", repo().display()), "file: /dev/zero"), &["/dev/zero", "not a regular file"]).naming("/dev/zero"),
        manifest_case("manifest_model_is_a_directory", edit(&m, &format!("file: {}/policies/models/go2_himloco/policy.onnx", repo().display()), "file: adir"), &["a directory"]).with("adir", Entry::Dir).naming("adir"),
        manifest_case("manifest_model_not_onnx", edit(&m, &format!("file: {}/policies/models/go2_himloco/policy.onnx", repo().display()), "file: junk.onnx"), &["junk.onnx", "ONNX"]).with("junk.onnx", Entry::Bytes(b"this is not a model\n".repeat(50))).naming("junk.onnx"),
        manifest_case("manifest_model_huge", edit(&m, &format!("file: {}/policies/models/go2_himloco/policy.onnx", repo().display()), "file: huge.onnx"), &["huge.onnx", "limit"]).with("huge.onnx", Entry::Sparse(1 << 33)).naming("huge.onnx"),
        manifest_case("manifest_model_is_the_manifest", edit(&m, &format!("file: {}/policies/models/go2_himloco/policy.onnx", repo().display()), "file: policy.yaml"), &["policy.yaml", "manifest"]),
        manifest_case("manifest_unknown_term", edit(&m, "  - last_action\n", "  - foot_contacts\n"), &["observation.terms", "foot_contacts"]),
        {
            let cfg = edit(&a1p, &format!("manifest: {}/policies/models/a1_stand_bc/policy.yaml", repo().display()), "manifest: policy.yaml");
            case("residual_huge_execute_steps", cfg, &["`residual.execute_steps`"])
                .with("policy.yaml", Entry::Text(edit(&res.replace("file: base.onnx", &format!("file: {}/policies/models/a1_residual/base.onnx", repo().display())).replace("file: residual.onnx", &format!("file: {}/policies/models/a1_residual/residual.onnx", repo().display())), "execute_steps: ", "execute_steps: 1000000000 #")))
                .naming("policy.yaml")
        },
        // --- Fallback manifests: the same rules again.
        fallback_case("fallback_reference_nan", pose(&fb, "FR_calf_joint", ".nan"), &["`reference_pose_rad.FR_calf_joint`"]),
        fallback_case("fallback_reference_beyond_limits", pose(&fb, "FR_calf_joint", "-0.3"), &["`reference_pose_rad.FR_calf_joint`", "limits"]),
        fallback_case("fallback_reference_missing_joint", edit(&fb, "  RR_thigh_joint: 1.0\n", ""), &["`reference_pose_rad`", "RR_thigh_joint"]),
        fallback_case("fallback_bound_nan", set_line(&fb, "lipschitz_bound:", ".nan"), &["`lipschitz_bound`"]),
        fallback_case("fallback_bound_below_certificate", set_line(&fb, "lipschitz_bound:", "10.0"), &["`lipschitz_bound`", "found 10", "fallback.onnx"]),
        fallback_case("fallback_driver_kd_negative", set_line(&fb, "driver_kd:", "-0.5"), &["`driver_kd`"]),
        fallback_case("fallback_wrong_robot", edit(&fb, "robot: go2", "robot: a1"), &["`robot`", "go2"]),
        fallback_case("fallback_model_dev_zero", edit(&fb, &format!("model: {}/policies/models/go2_fallback/fallback.onnx", repo().display()), "model: /dev/zero"), &["not a regular file"]).naming("/dev/zero"),
        fallback_case("fallback_model_is_the_policy", edit(&fb, &format!("model: {}/policies/models/go2_fallback/fallback.onnx", repo().display()), &format!("model: {}/policies/models/go2_himloco/policy.onnx", repo().display())), &["`Slice` is not supported"]).naming(format!("{}/policies/models/go2_himloco/policy.onnx", repo().display())),
    ]
}

/// Largest resident set of any child waited for so far (bytes).
fn children_max_rss_bytes() -> u64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes the struct it is given.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    ru.ru_maxrss as u64 * 1024
}

fn materialise(dir: &Path, c: &Case) {
    for (name, e) in &c.files {
        let p = dir.join(name);
        match e {
            Entry::Text(t) => std::fs::write(&p, t).unwrap(),
            Entry::Bytes(b) => std::fs::write(&p, b).unwrap(),
            Entry::Sparse(n) => std::fs::File::create(&p).unwrap().set_len(*n).unwrap(),
            Entry::Dir => std::fs::create_dir_all(&p).unwrap(),
            Entry::Link(t) => symlink(t, &p).unwrap(),
        }
    }
}

#[test]
fn every_bad_input_is_refused_quickly_in_bounded_memory_naming_file_and_field() {
    let cases = cases();
    assert!(cases.len() >= 60, "{} cases", cases.len());
    let root = std::env::temp_dir().join(format!("reflex-check-refuses-{}", std::process::id()));
    let mut failures = Vec::new();
    for c in &cases {
        let dir = root.join(c.tag);
        std::fs::create_dir_all(&dir).unwrap();
        materialise(&dir, c);
        let config = dir.join(c.config.clone().unwrap_or("config.yaml".into()));
        let started = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_reflex"))
            .current_dir(&dir)
            .arg("check")
            .arg("--config")
            .arg(&config)
            .args(&c.args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Drain both pipes while waiting: a child blocked on a full pipe would look like a hang.
        let drain = |mut r: Box<dyn std::io::Read + Send>| {
            std::thread::spawn(move || {
                let mut s = Vec::new();
                r.read_to_end(&mut s).ok();
                s
            })
        };
        let out_t = drain(Box::new(child.stdout.take().unwrap()));
        let err_t = drain(Box::new(child.stderr.take().unwrap()));
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break Some(s);
            }
            if started.elapsed() > Duration::from_secs(2) {
                child.kill().ok();
                child.wait().ok();
                break None;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let took = started.elapsed();
        let msg = format!(
            "{}{}",
            String::from_utf8_lossy(&out_t.join().unwrap()),
            String::from_utf8_lossy(&err_t.join().unwrap())
        );
        let msg = if msg.len() > 4000 {
            format!("(a {} byte message: user input echoed in bulk?)", msg.len())
        } else {
            msg
        };
        let rss = children_max_rss_bytes();
        let named = if c.names.starts_with('/') {
            c.names.to_string()
        } else {
            dir.join(&c.names).display().to_string()
        };
        let problem = match status {
            None => Some(format!("still running after {took:?}")),
            Some(s) if s.success() => Some("accepted".into()),
            Some(s) if s.code() != Some(2) => Some(format!("exit {s:?} (a crash?)")),
            _ if !msg.contains(&named) => Some(format!("does not name {named}")),
            _ => c
                .expect
                .iter()
                .find(|f| !msg.contains(f.as_str()))
                .map(|f| format!("lacks `{f}`")),
        };
        let problem =
            problem.or_else(|| (rss > 100 << 20).then(|| format!("a child used {} MB", rss >> 20)));
        if std::env::var_os("REFLEX_SHOW_MESSAGES").is_some() {
            println!("{}: {}", c.tag, msg.trim());
        }
        if let Some(p) = problem {
            failures.push(format!(
                "{}: {p}\n    {}",
                c.tag,
                msg.trim().replace('\n', "\n    ")
            ));
        }
    }
    std::fs::remove_dir_all(&root).ok();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn check_warns_about_faults_after_the_end_and_passes_every_shipped_config() {
    let out = Command::new(env!("CARGO_BIN_EXE_reflex"))
        .current_dir(repo())
        .args([
            "check",
            "--config",
            "launch/config/a1_stand.yaml",
            "--duration",
            "5",
        ])
        .args(["--fault", "{kind: estop, at_s: 7}"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("warning:") && text.contains("faults[0]") && text.contains("will not fire"),
        "{text}"
    );
    for entry in std::fs::read_dir(repo().join("launch/config")).unwrap() {
        let p = entry.unwrap().path();
        let out = Command::new(env!("CARGO_BIN_EXE_reflex"))
            .args(["check", "--config"])
            .arg(&p)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            p.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
