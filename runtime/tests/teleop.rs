//! Teleop end to end: `reflex run` on the built-in simulator, real-time clock, with operator
//! devices played by Eclipse Cyclone DDS (`tests/peer/teleop_peer.py`: joystick, velocity
//! command, SpaceMouse / servo twist, e-stop lock and reset), inside a loopback-only network
//! namespace. Peer times are seconds after every writer matched the teleop node; run times are
//! loop times, so windows are compared by length, not by clock.

mod common;

use common::{
    in_loopback_namespace, one_at_a_time, peer_dir, python, shipped_config_text, transitions,
    work_dir,
};
use serde_json::{json, Value};

/// Runs `config` (a shipped config, on the real-time clock, with `teleop` appended) for
/// `seconds` against the peer sending `script`. Returns the run report and the peer's log.
fn teleop_run(
    tag: &str,
    config: &str,
    edit: &[(&str, &str)],
    teleop: &str,
    peer_topics: &str,
    script: Value,
    seconds: f64,
) -> (Value, Value) {
    let _one = one_at_a_time();
    let dir = work_dir("teleop", tag);
    let mut text = shipped_config_text(config).replace("clock: lockstep", "clock: realtime");
    for (from, to) in edit {
        assert!(text.contains(from), "{config} lacks `{from}`");
        text = text.replace(from, to);
    }
    text += &format!("teleop:\n  only_loopback: true\n{teleop}");
    std::fs::write(dir.join("run.yaml"), text).unwrap();
    std::fs::write(dir.join("script.json"), script.to_string()).unwrap();
    let run = in_loopback_namespace(
        &dir,
        "run.log",
        &format!(
            "cd {peer}; {py} teleop_peer.py --out {dir}/peer.json {peer_topics} \
             --script \"$(cat {dir}/script.json)\" --duration {seconds} & \
             {exe} run --config {dir}/run.yaml --duration {seconds} --report {dir}/report.json \
             > {dir}/run.log 2>&1; wait",
            peer = peer_dir().display(),
            py = python().display(),
            dir = dir.display(),
            exe = env!("CARGO_BIN_EXE_reflex"),
        ),
    );
    let (report, peer) = (run.json("report.json"), run.json("peer.json"));
    assert_eq!(
        peer["matched"], true,
        "the peer never matched the teleop node"
    );
    (report, peer)
}

fn go2(tag: &str, teleop: &str, peer_topics: &str, script: Value, seconds: f64) -> (Value, Value) {
    teleop_run(
        tag,
        "launch/config/go2_policy.yaml",
        &[("  command: [0.5, 0.0, 0.0]", "  command: [0.0, 0.0, 0.0]")],
        teleop,
        peer_topics,
        script,
        seconds,
    )
}

fn rows(report: &Value) -> &Vec<Value> {
    report["trace"].as_array().unwrap()
}

/// Mean forward speed over trace rows in [from, to) s.
fn mean_speed(report: &Value, from: f64, to: f64) -> f64 {
    let v: Vec<f64> = rows(report)
        .iter()
        .filter(|r| (from..to).contains(&r["t_s"].as_f64().unwrap()))
        .map(|r| r["forward_speed_m_s"].as_f64().unwrap())
        .collect();
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// The first and last trace times with a non-zero commanded forward velocity.
fn commanded_window(report: &Value) -> (f64, f64) {
    let t: Vec<f64> = rows(report)
        .iter()
        .filter(|r| r["command"][0].as_f64().is_some_and(|v| v > 0.0))
        .map(|r| r["t_s"].as_f64().unwrap())
        .collect();
    assert!(!t.is_empty(), "no velocity command reached the policy");
    (t[0], *t.last().unwrap())
}

const TWIST: &str = "  twist: {topic: /cmd_vel, timeout_ms: 500, decay_ms: 500}\n";

#[test]
fn a_twist_stream_drives_the_simulated_go2_and_its_silence_stops_it() {
    // The joystick asks for 0.5 m/s for 5 s, then goes quiet.
    let (rep, _) = go2(
        "twist",
        TWIST,
        "--twist /cmd_vel",
        json!([{"topic": "twist", "from": 2.0, "to": 7.0, "rate": 20, "linear": [0.5, 0, 0]}]),
        10.0,
    );
    assert_eq!(transitions(&rep), vec![], "{}", rep["supervisor"]);
    let accepted = rep["teleop"]["twist"]["accepted"].as_u64().unwrap();
    assert!(accepted >= 90, "accepted {accepted} of 100 twists");
    let (on, off) = commanded_window(&rep);
    // Before the stream: standing. While it lasts (after 1.5 s to speed up): walking. After it
    // stops, the command holds 0.5 s, decays over 0.5 s, and the robot comes to a stand.
    let before = mean_speed(&rep, 2.5, on);
    let during = mean_speed(&rep, on + 1.5, off - 0.8);
    let after = mean_speed(&rep, off + 1.5, 10.0);
    assert!(
        before.abs() < 0.1,
        "standing before the stream: {before} m/s"
    );
    assert!(
        (0.3..=0.6).contains(&during),
        "walking while the stream lasts: {during} m/s"
    );
    assert!(
        after.abs() < 0.1,
        "standing after the stream stopped: {after} m/s"
    );
    assert!(
        off - on > 4.0 && off - on < 6.5,
        "commanded for {} s",
        off - on
    );
}

#[test]
fn the_deadman_button_gates_the_go2_s_speed_and_its_release_stops_it_at_once() {
    // Twists for 8 s; the enable button (4, a gamepad's LB) held for 4 s of them.
    let (rep, _) = go2(
        "deadman",
        "  twist: {topic: /cmd_vel, timeout_ms: 500, decay_ms: 500, require_enable_button: true, enable_button: 4}\n  joy: {topic: /joy}\n",
        "--twist /cmd_vel --joy /joy",
        json!([
            {"topic": "twist", "from": 1.0, "to": 9.0, "rate": 20, "linear": [0.5, 0, 0]},
            {"topic": "joy", "from": 3.0, "to": 7.0, "rate": 20, "buttons": [0, 0, 0, 0, 1]},
            {"topic": "joy", "from": 7.0, "to": 9.0, "rate": 20, "buttons": [0, 0, 0, 0, 0]},
        ]),
        11.0,
    );
    assert_eq!(transitions(&rep), vec![], "{}", rep["supervisor"]);
    let t = &rep["teleop"]["twist"];
    // 2 s before the button and 2 s after it: ~80 twists ignored.
    assert!(t["blocked"].as_u64().unwrap() >= 70, "{t}");
    let (on, off) = commanded_window(&rep);
    // The release sends zero at once: no 0.5 s hold and 0.5 s decay after it (the trace is
    // sampled at 10 Hz).
    assert!(
        (3.7..=4.3).contains(&(off - on)),
        "commanded for {} s while the button was held 4 s",
        off - on
    );
    let during = mean_speed(&rep, on + 1.5, off);
    let after = mean_speed(&rep, off + 1.5, 11.0);
    assert!(
        (0.3..=0.6).contains(&during),
        "walking while held: {during} m/s"
    );
    assert!(
        after.abs() < 0.1,
        "standing after the release, twists still coming: {after} m/s"
    );
}

#[test]
fn hostile_teleop_input_is_rejected_and_counted_with_the_robot_unaffected() {
    let (rep, peer) = go2(
        "hostile",
        "  twist: {topic: /cmd_vel, stamped: true}\n  joy: {topic: /joy}\n  estop: {topic: /e_stop, reset_topic: /e_stop_reset}\n",
        "--twist /cmd_vel --twist-stamped --joy /joy --lock /e_stop --reset /e_stop_reset",
        json!([
            {"topic": "twist", "from": 2.0, "to": 5.0, "rate": 20, "linear": [0.3, 0, 0]},
            {"topic": "hostile", "at": 3.0},
        ]),
        6.0,
    );
    assert_eq!(peer["hostile"], 307, "{peer}");
    let t = &rep["teleop"];
    let tw = &t["twist"];
    assert_eq!(
        (tw["non_finite"].as_u64(), tw["too_large"].as_u64()),
        (Some(2), Some(1)),
        "{tw}"
    );
    assert_eq!(tw["stale"], 1, "a TwistStamped 10 s old: {tw}");
    assert!(
        tw["rate_limited"].as_u64().unwrap() >= 80,
        "the 10 kHz burst: {tw}"
    );
    let joy = &t["joy"];
    assert_eq!(
        (
            joy["non_finite"].as_u64(),
            joy["too_large"].as_u64(),
            joy["stale"].as_u64()
        ),
        (Some(1), Some(1), Some(1)),
        "{joy}"
    );
    assert!(joy["rate_limited"].as_u64().unwrap() >= 80, "{joy}");
    let lock = &t["lock"];
    assert!(
        lock["messages"]["rate_limited"].as_u64().unwrap() >= 80,
        "{lock}"
    );
    assert_eq!(lock["engaged"], 0, "{lock}");
    assert_eq!(transitions(&rep), vec![], "{}", rep["supervisor"]);
    let max_cmd = rows(&rep)
        .iter()
        .filter_map(|r| r["command"][0].as_f64())
        .fold(0.0f64, f64::max);
    assert!(
        max_cmd <= 0.3 + 1e-12,
        "a hostile value reached the policy: {max_cmd}"
    );
}

#[test]
fn an_e_stop_lock_stops_the_a1_in_the_cycle_it_is_seen_a_reset_stands_it_up_and_a_silent_heartbeat_stops_it(
) {
    // The lock publisher beats at 20 Hz; locks for 1 s; a reset while locked is refused, one
    // after the release accepted; then the publisher goes silent (heartbeat 2 s).
    let (rep, _) = teleop_run(
        "estop",
        "launch/config/a1_stand.yaml",
        &[],
        "  estop: {topic: /e_stop, reset_topic: /e_stop_reset, heartbeat_timeout_ms: 2000}\n",
        "--lock /e_stop --reset /e_stop_reset",
        json!([
            {"topic": "lock", "from": 0.0, "to": 2.5, "rate": 20, "data": false},
            {"topic": "lock", "from": 2.5, "to": 3.5, "rate": 20, "data": true},
            {"topic": "reset", "at": 3.0},
            {"topic": "lock", "from": 3.5, "to": 7.0, "rate": 20, "data": false},
            {"topic": "reset", "at": 4.0},
        ]),
        11.5,
    );
    assert_eq!(
        transitions(&rep),
        vec![
            ("SAFE_STOP".to_string(), "e_stop".to_string()),
            ("POLICY".to_string(), "reset".to_string()),
            ("SAFE_STOP".to_string(), "e_stop_heartbeat".to_string()),
        ],
        "{}",
        rep["supervisor"]
    );
    let e = &rep["estops"];
    assert_eq!(e["seen"], 1, "{e}");
    assert_eq!(
        e["seen_late"], 0,
        "acted on in the first cycle after the lock: {e}"
    );
    // Within a 2 ms period unless the VM stalled the RT thread; far below a lost cycle train.
    assert!(e["max_reaction_us"].as_f64().unwrap() < 20_000.0, "{e}");
    let l = &rep["teleop"]["lock"];
    assert_eq!(
        (l["engaged"].as_u64(), l["released"].as_u64()),
        (Some(1), Some(1)),
        "{l}"
    );
    assert_eq!(
        (
            l["resets"]["accepted"].as_u64(),
            l["resets"]["blocked"].as_u64()
        ),
        (Some(1), Some(1)),
        "{l}"
    );
    // Stood, lay down (damping), stood up again after the reset, lay down at the silence.
    let tr = rep["supervisor"]["transitions"].as_array().unwrap();
    let t = |i: usize| tr[i]["time_s"].as_f64().unwrap();
    let height = |from: f64, to: f64| -> f64 {
        let h: Vec<f64> = rows(&rep)
            .iter()
            .filter(|r| (from..to).contains(&r["t_s"].as_f64().unwrap()))
            .map(|r| r["base_height_m"].as_f64().unwrap())
            .collect();
        h.iter().sum::<f64>() / h.len().max(1) as f64
    };
    assert!(height(t(0) - 0.5, t(0)) > 0.25, "standing before the lock");
    assert!(
        height(t(1) - 0.3, t(1)) < 0.2,
        "sinking in safe stop (damping only)"
    );
    assert!(
        height(t(1) + 2.0, t(2)) > 0.25,
        "standing again after the reset"
    );
    // Reset at 4 s, last beat at 7 s, heartbeat 2 s.
    assert!(
        (t(2) - t(1) - 5.0).abs() < 0.6,
        "heartbeat lost 2 s after the last beat"
    );
}

#[test]
fn a_human_s_twist_takes_over_the_panda_s_policy_while_it_acts_and_for_the_hold_time() {
    // MoveIt Servo-style delta twists (TwistStamped): 2 s of −0.5 along y, then 2 s of zeros
    // (a released device); later the gripper-close button for 0.5 s.
    let (rep, _) = teleop_run(
        "panda",
        "launch/config/panda_reach.yaml",
        &[],
        "  joy: {topic: /spacenav/joy}\n  ee_twist: {topic: /servo/delta_twist_cmds, stamped: true, hold_ms: 500, gripper_close_button: 0, gripper_open_button: 1}\n",
        "--ee-twist /servo/delta_twist_cmds --ee-twist-stamped --joy /spacenav/joy",
        json!([
            {"topic": "ee_twist", "from": 3.0, "to": 5.0, "rate": 50, "linear": [0, -0.5, 0]},
            {"topic": "ee_twist", "from": 5.0, "to": 7.0, "rate": 50},
            {"topic": "joy", "from": 8.0, "to": 8.5, "rate": 20, "buttons": [1, 0]},
            {"topic": "joy", "from": 8.5, "to": 10.0, "rate": 20, "buttons": [0, 0]},
        ]),
        12.0,
    );
    assert_eq!(transitions(&rep), vec![], "{}", rep["supervisor"]);
    let iv = &rep["policy"]["thread"]["interventions"];
    let spans: Vec<(u64, u64)> = iv["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["from_tick"].as_u64().unwrap(),
                s["to_tick"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(spans.len(), 2, "a twist and a button: {iv}");
    let len = |(a, b): (u64, u64)| b - a + 1;
    // 10 Hz policy: 2 s of input + 0.5 s hold = 25 ticks; 0.5 s of button + 0.5 s = 10.
    assert!((23..=27).contains(&len(spans[0])), "{spans:?}");
    assert!((8..=12).contains(&len(spans[1])), "{spans:?}");
    assert_eq!(iv["ticks"].as_u64().unwrap(), len(spans[0]) + len(spans[1]));
    // The human's action is executed: the target moves along −y (policy's goal y = 0.10),
    // and the policy brings it back afterwards.
    let tick_s = |k: u64| k as f64 / 10.0;
    let target_y = |from: f64, to: f64| -> Vec<f64> {
        rows(&rep)
            .iter()
            .filter(|r| (from..to).contains(&r["t_s"].as_f64().unwrap()))
            .filter_map(|r| r["ee_target_m"][1].as_f64())
            .collect()
    };
    let before = target_y(tick_s(spans[0].0) - 0.5, tick_s(spans[0].0));
    assert!(
        before.iter().all(|y| (y - 0.10).abs() < 0.02),
        "at the policy's goal: {before:?}"
    );
    let during = target_y(tick_s(spans[0].0) + 0.5, tick_s(spans[0].1) - 0.5);
    assert!(
        during.iter().cloned().fold(f64::MAX, f64::min) < 0.0,
        "the human pulled it along −y: {during:?}"
    );
    let flagged = rows(&rep)
        .iter()
        .filter(|r| r["intervention"] == true)
        .count();
    assert!(
        (30..=40).contains(&flagged),
        "trace rows flagged: {flagged}"
    );
    let end = target_y(11.0, 12.0);
    assert!(
        end.iter().all(|y| (y - 0.10).abs() < 0.02),
        "back at the policy's goal: {end:?}"
    );
}
