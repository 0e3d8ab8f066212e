//! Every bad config is refused before anything moves, with a message that names the file,
//! the field and what was expected. Each case must produce its own message.

use reflex_runtime::{assemble, config};
use reflex_tests::{edit, shipped_text, write_temp};

/// Loads and builds (robot + controller) like `reflex check`; returns the error text.
fn refusal(tag: &str, text: &str) -> String {
    let path = write_temp(tag, text);
    let result = config::load(&path)
        .map_err(|e| e.to_string())
        .and_then(|cfg| {
            let sim = assemble::build_sim(&cfg).map_err(|e| e.to_string())?;
            assemble::build_startup(&cfg, reflex_hardware::Robot::spec(&sim))
                .map_err(|e| e.to_string())?;
            Ok(())
        });
    match result {
        Ok(()) => panic!("config `{tag}` was accepted"),
        Err(msg) => {
            assert!(
                msg.contains(&format!("{tag}.yaml")),
                "message does not name the file: {msg}"
            );
            msg
        }
    }
}

#[test]
fn shipped_configs_are_accepted() {
    for name in ["a1_stand.yaml", "panda_hold.yaml"] {
        let cfg = config::load(&reflex_tests::shipped_config(name)).expect(name);
        let sim = assemble::build_sim(&cfg).expect(name);
        assemble::build_startup(&cfg, reflex_hardware::Robot::spec(&sim)).expect(name);
    }
}

#[test]
fn each_bad_config_gets_its_own_specific_message() {
    let a1 = shipped_text("a1_stand.yaml");
    let panda = shipped_text("panda_hold.yaml");
    // (tag, config text, fragments the message must contain)
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "unknown_top_field",
            format!("{a1}\nspeed: 3\n"),
            vec!["unknown field `speed`", "expected one of"],
        ),
        (
            "unknown_nested_field",
            edit(&a1, "  seed: 1", "  seed: 1\n  gravity: 3"),
            vec!["sim", "unknown field `gravity`"],
        ),
        (
            "missing_control_hz",
            edit(&a1, "  control_hz: 500 ", "  #"),
            vec!["rates", "missing field `control_hz`"],
        ),
        (
            "wrong_type",
            edit(&a1, "policy_hz: 50", "policy_hz: fast"),
            vec!["rates.policy_hz", "invalid type"],
        ),
        (
            "zero_rate",
            edit(&a1, "control_hz: 500 ", "control_hz: 0 "),
            vec!["`rates.control_hz`", "(0, 10000] Hz", "found 0"],
        ),
        (
            "policy_faster_than_control",
            edit(&a1, "policy_hz: 50", "policy_hz: 800"),
            vec!["`rates.policy_hz`", "control_hz = 500"],
        ),
        (
            "policy_not_divisor",
            edit(&a1, "policy_hz: 50", "policy_hz: 30"),
            vec!["`rates.policy_hz`", "whole cycles"],
        ),
        (
            "physics_not_divisor",
            edit(&a1, "physics_dt_s: 0.001", "physics_dt_s: 0.0015"),
            vec!["`sim.physics_dt_s`", "whole steps"],
        ),
        (
            "unknown_model",
            edit(&a1, "model: a1", "model: spot"),
            vec!["`robot.model`", "a1, go2, panda", "`spot`"],
        ),
        (
            "unknown_backend",
            edit(&a1, "backend: sim", "backend: gazebo"),
            vec!["robot.backend", "unknown variant `gazebo`"],
        ),
        (
            "unknown_joint",
            edit(&a1, "FR_hip_joint: -0.1", "FR_hip_jiont: -0.1"),
            vec![
                "`controller.pose_rad.FR_hip_jiont`",
                "unknown joint",
                "FR_hip_joint",
            ],
        ),
        (
            "missing_joint",
            edit(&a1, "    RL_calf_joint: -1.5\n", ""),
            vec!["`controller.pose_rad`", "no value for RL_calf_joint"],
        ),
        (
            "negative_gain",
            edit(&a1, "kd: 2.0", "kd: -2.0"),
            vec!["`controller.kd`", "gain ≥ 0", "-2"],
        ),
        (
            "bad_priority",
            edit(&a1, "priority: 80", "priority: 120"),
            vec!["`realtime.priority`", "1–99"],
        ),
        (
            "zero_duration",
            edit(&a1, "duration_s: 1.5", "duration_s: 0"),
            vec!["`controller.duration_s`", "> 0 s"],
        ),
        (
            "pose_beyond_limit",
            edit(&a1, "FR_calf_joint: -1.5", "FR_calf_joint: -0.5"),
            vec![
                "`controller.pose_rad.FR_calf_joint`",
                "joint's limits",
                "-0.5",
            ],
        ),
        (
            "stand_up_on_arm",
            edit(
                &panda,
                "kind: joint_pd_hold",
                "kind: stand_up\n  duration_s: 1.0",
            ),
            vec!["`controller.kind`", "needs a legged robot"],
        ),
        (
            "negative_fault_time",
            format!("{a1}\nfaults:\n  - {{kind: latency_spike, at_s: -1, duration_ms: 5}}\n"),
            vec!["`faults[0].at_s`", "≥ 0 s"],
        ),
        (
            "unknown_fault",
            format!("{a1}\nfaults:\n  - {{kind: meteor, at_s: 1}}\n"),
            vec!["faults[0]", "unknown variant `meteor`"],
        ),
        (
            "cpu_out_of_range",
            edit(&a1, "cpu: 1", "cpu: 4096"),
            vec!["`realtime.cpu`", "this machine's CPUs"],
        ),
        (
            "per_joint_gain_typo",
            edit(&panda, "kp: {panda_joint1: 600", "kp: {panda_joint0: 600"),
            vec!["`controller.kp.panda_joint0`", "unknown joint"],
        ),
        (
            "gain_as_list",
            edit(&a1, "kp: 60.0", "kp: [60, 60]"),
            vec!["controller.kp", "a number for every joint, or a map"],
        ),
        (
            "stand_up_without_duration",
            edit(&a1, "  duration_s: 1.5\n", ""),
            vec!["`controller.duration_s`", "required by stand_up"],
        ),
        (
            "missing_sim_section",
            edit(&a1, "sim:\n", "simulation:\n"),
            vec!["unknown field `simulation`"],
        ),
    ];
    assert!(cases.len() >= 10);
    let mut seen = std::collections::BTreeSet::new();
    for (tag, text, fragments) in &cases {
        let msg = refusal(tag, text);
        for f in fragments {
            assert!(msg.contains(f), "case {tag}: message lacks `{f}`:\n  {msg}");
        }
        // Strip the file name so messages are compared on their content alone.
        let content = msg.replace(&format!("{tag}.yaml"), "");
        assert!(
            seen.insert(content.clone()),
            "case {tag}: same message as another case: {content}"
        );
    }
}

#[test]
fn missing_file_names_the_path() {
    let err = config::load(std::path::Path::new("/nonexistent/reflex.yaml")).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("/nonexistent/reflex.yaml") && msg.contains("cannot read"),
        "{msg}"
    );
}
