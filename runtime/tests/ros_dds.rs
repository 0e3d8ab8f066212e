//! The ROS 2 wire, end to end: `reflex node` (pure-Rust DDS transport) against a robot played by
//! Eclipse Cyclone DDS (PyPI `cyclonedds`, the DDS of rmw_cyclonedds), both inside a
//! loopback-only network namespace this test creates (`unshare -n`): no traffic leaves it.

mod common;

use std::process::Command;

use common::{
    in_loopback_namespace, one_at_a_time, peer_dir, python, repo, shipped_config_text, work_dir,
};
use serde_json::Value;

/// The A1's joints in hardware order and the stand pose of launch/config/a1_ros.yaml.
const JOINTS: [(&str, f64); 12] = [
    ("FR_hip_joint", -0.1),
    ("FR_thigh_joint", 0.8),
    ("FR_calf_joint", -1.5),
    ("FL_hip_joint", 0.1),
    ("FL_thigh_joint", 0.8),
    ("FL_calf_joint", -1.5),
    ("RR_hip_joint", -0.1),
    ("RR_thigh_joint", 1.0),
    ("RR_calf_joint", -1.5),
    ("RL_hip_joint", 0.1),
    ("RL_thigh_joint", 1.0),
    ("RL_calf_joint", -1.5),
];

struct Outcome {
    peer: Value,
    report: Value,
}

/// Runs the peer and the node in a fresh loopback-only network namespace.
/// `launch_args`: run the node the way `ros2 launch` does (the installed wrapper, `--ros-args`
/// with remaps and a parameter file naming the config) instead of with `--config`.
fn run_pair(
    tag: &str,
    trigger: &str,
    interface: &str,
    peer_args: &str,
    node_seconds: f64,
    launch_args: Option<&str>,
    config_extra: &str,
) -> Outcome {
    // One robot and one node at a time: on a 2-core machine, parallel pairs starve each other.
    let _one = one_at_a_time();
    let dir = work_dir("ros", tag);
    let python = python();
    // The robot reports q = pose − 0.01·(k+1) on hardware joint k: every joint a distinct value.
    let joints: serde_json::Map<String, Value> = JOINTS
        .iter()
        .enumerate()
        .map(|(k, (n, p))| (n.to_string(), Value::from(p - 0.01 * (k + 1) as f64)))
        .collect();
    std::fs::write(dir.join("joints.json"), Value::Object(joints).to_string()).unwrap();
    let text = shipped_config_text("launch/config/a1_ros.yaml")
        .replace(
            "  node_name: reflex\n",
            "  node_name: reflex\n  only_loopback: true\n",
        )
        .replace("trigger: robot_state", &format!("trigger: {trigger}"))
        .replace(
            "command_interface: effort_array",
            &format!("command_interface: {interface}"),
        )
        .replace(
            "  kind: stand_up\n  duration_s: 2.0\n",
            "  kind: joint_pd_hold\n",
        )
        + config_extra;
    std::fs::write(dir.join("a1_ros.yaml"), text).unwrap();
    let report = dir.join("report.json");
    let node = match launch_args {
        None => format!(
            "{} node --config {}/a1_ros.yaml --duration {node_seconds} --report {}",
            env!("CARGO_BIN_EXE_reflex"),
            dir.display(),
            report.display()
        ),
        Some(ros_args) => {
            // What ros2 launch writes for `parameters=[{...}]`, and the installed wrapper.
            let params = format!("/**:\n  ros__parameters:\n    config: {}/a1_ros.yaml\n    duration_s: {node_seconds}\n", dir.display());
            std::fs::write(dir.join("launch_params.yaml"), params).unwrap();
            let wrapper = dir.join("reflex_node");
            std::fs::copy(repo().join("launch/scripts/reflex_node"), &wrapper).unwrap();
            std::fs::copy(env!("CARGO_BIN_EXE_reflex"), dir.join("reflex")).unwrap();
            format!(
                "{} --report {} --ros-args {ros_args} --params-file {}/launch_params.yaml",
                wrapper.display(),
                report.display(),
                dir.display()
            )
        }
    };
    let run = in_loopback_namespace(
        &dir,
        "node.log",
        &format!(
            "cd {peer_dir}; {py} robot_peer.py --joints {dir}/joints.json --out {dir}/peer.json --interface {interface} {peer_args} & \
             {node} > {dir}/node.log 2>&1; \
             wait",
            peer_dir = peer_dir().display(),
            py = python.display(),
            dir = dir.display(),
        ),
    );
    Outcome {
        peer: run.json("peer.json"),
        report: run.json("report.json"),
    }
}

fn commands(peer: &Value) -> Vec<(f64, Vec<f64>)> {
    peer["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c[0].as_f64().unwrap(),
                c[1].as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_f64().unwrap())
                    .collect(),
            )
        })
        .collect()
}

#[test]
fn dds_node_maps_joints_by_name_rejects_hostile_input_and_degrades_when_the_robot_goes_quiet() {
    let o = run_pair(
        "clock",
        "clock",
        "effort_array",
        "--duration 5 --stop-at 2.5 --hostile-at 1.0",
        4.0,
        None,
        "",
    );
    assert_eq!(o.peer["matched"], true, "peer never discovered the node");
    let cmds = commands(&o.peer);
    assert!(!cmds.is_empty(), "no command reached the peer");
    let stop_at = o.peer["stop_at"].as_f64().unwrap();
    // While the robot publishes: τ_k = kp · (pose_k − q_k) = 40 · 0.01 · (k+1), in hardware
    // order, although the names arrive shuffled in every message.
    let active: Vec<_> = cmds
        .iter()
        .filter(|(t, _)| *t > 0.6 && *t < stop_at - 0.1)
        .collect();
    for (t, data) in &active {
        assert_eq!(data.len(), 12);
        for (k, v) in data.iter().enumerate() {
            let expected = 0.4 * (k + 1) as f64;
            assert!(
                (v - expected).abs() < 1e-9,
                "t={t:.3}: joint {k} got {v}, expected {expected}"
            );
        }
    }
    // The command rate the robot sees is the loop's 500 Hz, hostile burst included.
    let window = stop_at - 0.1 - 0.6;
    let rate = active.len() as f64 / window;
    assert!((425.0..=520.0).contains(&rate), "command rate {rate:.0} Hz");
    // Every kind of hostile message was rejected and counted, none applied.
    let rej = &o.report["bridge"]["rejections"];
    for k in [
        "wrong_length",
        "unknown_joint",
        "non_finite",
        "stale_stamp",
        "future_stamp",
    ] {
        assert_eq!(rej[k].as_u64(), Some(10), "{k}: {rej}");
    }
    // The robot went quiet: stale → certified fallback, then lost → safe stop (damping only).
    let t: Vec<(String, String)> = o.report["supervisor"]["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["to"].as_str().unwrap().to_string(),
                t["cause"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        t,
        vec![
            ("FALLBACK".into(), "sensor_stale".into()),
            ("SAFE_STOP".into(), "sensor_stale".into())
        ],
        "{t:?}"
    );
    let (_, last) = cmds.last().unwrap();
    assert!(
        last.iter().all(|v| v.abs() < 1e-9),
        "safe stop should command no torque at rest: {last:?}"
    );
    // Diagnostics carried the mode and the rejection counters.
    let diags = o.peer["diagnostics"].as_array().unwrap();
    let last_diag = &diags.last().expect("diagnostics received")[1];
    assert_eq!(last_diag["mode"], "SAFE_STOP");
    assert_eq!(last_diag["last_cause"], "sensor_stale");
    assert_eq!(last_diag["rejected_unknown_joint"], "10");
    assert!(diags.iter().any(|d| d[1]["mode"] == "POLICY"));
}

#[test]
fn robot_triggered_cycles_answer_every_state_and_count_timeouts() {
    let o = run_pair(
        "trigger",
        "robot_state",
        "joint_trajectory",
        "--duration 4 --stop-at 2.0",
        3.0,
        None,
        "",
    );
    let cmds = o.peer["commands"].as_array().unwrap();
    let states = o.peer["states_sent"].as_u64().unwrap();
    // On the RT side every accepted state triggered a cycle that was not a timeout (within 1%: a
    // state landing at a timeout's edge is read by that cycle, which still counts as missed).
    let samples = o.report["bridge"]["samples"].as_u64().unwrap();
    let cycles = o.report["cycles"].as_u64().unwrap();
    let missed = o.report["missed_cycles"].as_u64().unwrap();
    assert!(
        samples + 5 >= states,
        "the node accepted {samples} of {states} states"
    );
    assert!(
        (cycles - missed).abs_diff(samples) <= (samples / 100).max(5),
        "{cycles} cycles, {missed} timeouts, {samples} states"
    );
    // The robot gets an answer to (nearly) every state. The I/O thread sends the newest command
    // (latest-value hand-off): on a loaded 2-core machine a few may be coalesced, never queued.
    let answered = cmds.iter().filter(|c| c[0].as_f64().unwrap() < 2.0).count() as u64;
    assert!(
        answered * 10 >= states * 8,
        "{answered} commands for {states} states"
    );
    // Joint targets: the hold pose, in hardware order.
    let positions: Vec<f64> = cmds[cmds.len() / 2][1]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    for (k, (_, p)) in JOINTS.iter().enumerate() {
        assert!(
            (positions[k] - p).abs() < 1e-9,
            "joint {k}: {} vs {p}",
            positions[k]
        );
    }
    // After the robot stops, each cycle times out (4 ms) and counts as missed: ~1 s of them.
    assert!(missed > 150, "missed cycles {missed}");
    assert_eq!(o.report["final_mode"], "SAFE_STOP");
}

#[test]
fn node_accepts_what_ros2_launch_passes() {
    // Renamed node, robot topics under /a1 remapped, config from the parameter file.
    let ros_args = "-r __node:=a1_reflex -r /joint_states:=/a1/joint_states -r /imu/data:=/a1/imu/data -r /joint_commands:=/a1/joint_commands";
    let o = run_pair(
        "launch",
        "clock",
        "effort_array",
        "--duration 3 --stop-at 3 --prefix /a1",
        2.0,
        Some(ros_args),
        "",
    );
    assert_eq!(o.peer["matched"], true);
    let cmds = commands(&o.peer);
    assert!(
        cmds.len() > 300,
        "{} commands on the remapped topic",
        cmds.len()
    );
    let (_, last) = cmds.last().unwrap();
    for (k, v) in last.iter().enumerate() {
        assert!((v - 0.4 * (k + 1) as f64).abs() < 1e-9, "joint {k}: {v}");
    }
    let diag = &o.peer["diagnostics"]
        .as_array()
        .unwrap()
        .last()
        .expect("diagnostics")[1];
    assert_eq!(diag["status_name"], "a1_reflex: control loop");
    assert_eq!(
        o.report["cycles"], 1000,
        "duration_s from the parameter file"
    );
}

#[test]
fn diagnostics_carry_the_policy_s_late_results() {
    // The A1 under its ONNX policy over the wire; the policy thread freezes for 0.5 s.
    let extra = format!(
        "policy:\n  manifest: {}/policies/models/a1_stand_bc/policy.yaml\nfaults:\n  - {{kind: policy_freeze, at_s: 1.5, duration_s: 0.5}}\n",
        repo().display()
    );
    let o = run_pair(
        "late",
        "clock",
        "effort_array",
        "--duration 8 --stop-at 7",
        3.0,
        None,
        &extra,
    );
    let late = o.report["policy"]["late_results"].as_u64().unwrap();
    assert!(late >= 4, "late results {late}: {}", o.report["policy"]);
    let t = &o.report["supervisor"]["transitions"][0];
    assert_eq!(
        (t["to"].as_str(), t["cause"].as_str()),
        (Some("FALLBACK"), Some("policy_late"))
    );
    let diags = o.peer["diagnostics"].as_array().unwrap();
    let last = &diags.last().expect("diagnostics received")[1];
    assert_eq!(
        last["late_results"],
        late.to_string(),
        "diagnostics: {last}"
    );
    assert_eq!(last["mode"], "FALLBACK");
}

#[test]
fn start_up_against_an_absent_robot_says_what_it_waited_for() {
    let dir = std::env::temp_dir().join(format!("reflex-ros-{}-absent", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = std::fs::read_to_string(repo().join("launch/config/a1_ros.yaml"))
        .unwrap()
        .replace("../../", &format!("{}/", repo().display()))
        .replace(
            "  node_name: reflex\n",
            "  node_name: reflex\n  only_loopback: true\n  first_state_timeout_s: 1.0\n",
        );
    std::fs::write(dir.join("a1_ros.yaml"), text).unwrap();
    let script = format!(
        "ip link set lo up; ip link set lo multicast on; {} run --config {}/a1_ros.yaml --duration 1",
        env!("CARGO_BIN_EXE_reflex"),
        dir.display()
    );
    let out = Command::new("unshare")
        .args(["-n", "sh", "-c", &script])
        .output()
        .expect("unshare runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for part in [
        "no state from the robot within 1 s",
        "sensor_msgs/JointState on /joint_states",
        "sensor_msgs/Imu on /imu/data",
        "DDS domain 0",
        "FR_hip_joint",
        "ROS_DOMAIN_ID",
    ] {
        assert!(err.contains(part), "message lacks `{part}`: {err}");
    }
    assert_eq!(err.matches("no state").count(), 1, "said once: {err}");
}
