//! Reflex against an independent simulator on the wire: `reflex node` (pure-Rust DDS) drives an
//! A1 simulated by MuJoCo behind Cyclone DDS (`tests/peer/mujoco_robot.py`), inside a
//! loopback-only network namespace. What a user cares about is asserted on the robot's side:
//! it stands, through hostile publishers beside it and through a stall and a push. The simulator
//! stands for the robot's own computer, so it runs at SCHED_FIFO 85, above every Reflex thread
//! (on two shared cores a starved stand-in would look like a stalled robot).

mod common;

use common::{
    in_loopback_namespace, one_at_a_time, peer_dir, python, shipped_config_text, transitions,
    with_a_steady_peer, work_dir,
};
use serde_json::Value;

struct Outcome {
    robot: Value,
    report: Value,
    hostile: Option<Value>,
}

/// Runs the MuJoCo robot (`robot_args`), optionally the hostile peer (`hostile_args`), and the
/// node on `launch/config/a1_ros.yaml` plus `config_extra`, for `node_seconds`; again while the
/// peer itself paused (see `with_a_steady_peer`).
fn run(
    tag: &str,
    robot_args: &str,
    hostile_args: Option<&str>,
    config_extra: &str,
    node_seconds: f64,
) -> Outcome {
    let _one = one_at_a_time();
    with_a_steady_peer(
        tag,
        |k| {
            run_once(
                &format!("{tag}-{k}"),
                robot_args,
                hostile_args,
                config_extra,
                node_seconds,
            )
        },
        |o| &o.robot,
    )
}

fn run_once(
    tag: &str,
    robot_args: &str,
    hostile_args: Option<&str>,
    config_extra: &str,
    node_seconds: f64,
) -> Outcome {
    let dir = work_dir("wire", tag);
    let python = python();
    let text = shipped_config_text("launch/config/a1_ros.yaml").replace(
        "  node_name: reflex\n",
        "  node_name: reflex\n  only_loopback: true\n",
    ) + config_extra;
    std::fs::write(dir.join("a1_ros.yaml"), text).unwrap();
    let hostile = hostile_args.map_or(String::new(), |a| {
        format!(
            "{py} hostile_peer.py --out {d}/hostile.json {a} & ",
            py = python.display(),
            d = dir.display()
        )
    });
    let run = in_loopback_namespace(
        &dir,
        "node.log",
        &format!(
            "cd {peer_dir}; \
             chrt -f 85 {py} mujoco_robot.py --model a1 --out {d}/robot.json {robot_args} & \
             {hostile}\
             {reflex} node --config {d}/a1_ros.yaml --duration {node_seconds} --report {d}/report.json > {d}/node.log 2>&1; \
             wait",
            peer_dir = peer_dir().display(),
            py = python.display(),
            d = dir.display(),
            reflex = env!("CARGO_BIN_EXE_reflex"),
        ),
    );
    Outcome {
        robot: run.json("robot.json"),
        report: run.json("report.json"),
        hostile: hostile_args.map(|_| run.json("hostile.json")),
    }
}

fn assert_standing(robot: &Value, what: &str) {
    let min_z = robot["min_height_m"].as_f64().unwrap();
    let tilt = robot["max_tilt_rad"].as_f64().unwrap();
    assert!(
        min_z > 0.2 && tilt < 0.35,
        "{what}: the robot did not stay standing (min height {min_z:.3} m, max tilt {tilt:.3} rad)"
    );
}

#[test]
fn hostile_publishers_beside_the_robot_are_rejected_by_kind_and_it_keeps_standing() {
    let o = run(
        "hostile",
        "--duration 11 --judge-from 2.5",
        Some("--start 3 --duration 4 --rate 20"),
        "",
        10.0,
    );
    assert_eq!(o.robot["commanded"], true, "{}", o.robot);
    let hostile = o.hostile.unwrap();
    assert_eq!(hostile["heard_robot"], true);
    assert_eq!(transitions(&o.report), vec![], "the mode never changed");
    assert_eq!(o.report["final_mode"], "POLICY");
    let rej = &o.report["bridge"]["rejections"];
    for (kind, sent) in hostile["sent"].as_object().unwrap() {
        let sent = sent.as_u64().unwrap();
        let counted = rej[kind].as_u64().unwrap();
        assert!(sent > 0, "{kind}: nothing sent");
        // Best-effort samples may be lost on the way (never accepted): each one that arrived
        // is counted as its kind.
        assert!(
            counted <= sent && counted * 10 >= sent * 8,
            "{kind}: {sent} sent, {counted} counted ({rej})"
        );
    }
    for kind in ["wrong_length", "unknown_joint", "non_finite", "joint_jump"] {
        assert_eq!(
            rej[kind], 0,
            "{kind}: the robot's own samples were refused ({rej})"
        );
    }
    let locked = o.report["bridge"]["publishers"]["joint_states"].as_str();
    assert!(
        locked.is_some_and(|g| g.len() == 47),
        "{}",
        o.report["bridge"]
    );
    let diag = &o.robot["diagnostics"].as_array().unwrap().last().unwrap()[1];
    assert_eq!(diag["mode"], "POLICY");
    assert!(
        diag["rejected_foreign_publisher"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 0,
        "{diag}"
    );
    assert_standing(&o.robot, "hostile publishers");
    // The latency budget: the stages of a command add up to its end-to-end latency.
    let b = &o.report["bridge"]["budget_us"];
    let mean = |k: &str| b[k]["mean"].as_f64().unwrap();
    let stages = mean("stamp_to_received")
        + mean("received_to_read")
        + mean("read_to_write")
        + mean("write_to_published");
    let e2e = mean("end_to_end");
    assert!(
        b["end_to_end"]["samples"].as_u64().unwrap() > 1000 && (stages - e2e).abs() <= 0.1 * e2e,
        "stages {stages:.1} µs vs end to end {e2e:.1} µs: {b}"
    );
    assert!(diag["end_to_end_us"].as_str().is_some(), "{diag}");
}

#[test]
fn after_a_stall_the_certified_fallback_holds_a_lateral_push_and_control_returns_to_the_policy() {
    // A 30 ms stall of the state stream at 4 s (FALLBACK by the 20 ms rule), then a 60 N lateral
    // push for 0.2 s at 4.3 s while the certified fallback is in charge.
    let o = run(
        "stall_push",
        "--duration 11 --judge-from 2.5 --stall-at 4 --stall-ms 30 --push-at 4.3 --push-n 0 60 0 --push-s 0.2",
        None,
        "",
        10.0,
    );
    assert_eq!(
        transitions(&o.report),
        vec![
            ("FALLBACK".to_string(), "sensor_stale".to_string()),
            ("POLICY".to_string(), "recovered".to_string())
        ],
        "node log in the report dir"
    );
    assert_standing(&o.robot, "stall then push under the fallback");
    // Without automatic recovery the fallback keeps the robot standing until the end.
    let o = run(
        "stall_push_no_recovery",
        "--duration 11 --judge-from 2.5 --stall-at 4 --stall-ms 30 --push-at 4.3 --push-n 0 60 0 --push-s 0.2",
        None,
        "  recover_from_stale: null\n",
        10.0,
    );
    assert_eq!(
        transitions(&o.report),
        vec![("FALLBACK".to_string(), "sensor_stale".to_string())]
    );
    assert_eq!(o.report["final_mode"], "FALLBACK");
    assert_standing(&o.robot, "push under the fallback, no recovery");
}
