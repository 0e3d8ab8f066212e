//! Unitree robots without ROS: `reflex node` on the SDK2 backend drives a Go2 simulated by
//! MuJoCo that speaks SDK2 with the SDK's own IDL types and CRC (`tests/peer/mujoco_robot.py
//! --sdk2`, PyPI `unitree-sdk2`), in a loopback-only network namespace.

mod common;

use std::process::Command;

use common::{
    in_loopback_namespace, one_at_a_time, peer_dir, python, shipped_config_text, transitions,
    with_a_steady_peer, work_dir,
};
use reflex_hardware::unitree::crc::{low_cmd_crc, low_state_crc};
use reflex_hardware::unitree::msg::{LowCmd, LowState};
use serde_json::Value;

/// A small deterministic generator (xorshift) for random messages.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn f32(&mut self) -> f32 {
        (self.next() % 2_000_001) as f32 / 1000.0 - 1000.0
    }
    fn u8(&mut self) -> u8 {
        self.next() as u8
    }
    fn u32(&mut self) -> u32 {
        self.next() as u32
    }
}

#[test]
fn reflex_s_crc_equals_the_sdk_s_for_random_messages() {
    let mut r = Rng(0x9E37_79B9_7F4A_7C15);
    let mut cmds = Vec::new();
    let mut states = Vec::new();
    for _ in 0..200 {
        let mut c = LowCmd {
            sn: [r.u32(), r.u32()],
            bandwidth: r.next() as u16,
            ..LowCmd::default()
        };
        for m in c.motor_cmd.iter_mut() {
            m.mode = r.u8();
            m.q = r.f32();
            m.dq = r.f32();
            m.tau = r.f32();
            m.kp = r.f32();
            m.kd = r.f32();
            m.reserve = [r.u32(), r.u32(), r.u32()];
        }
        c.wireless_remote.iter_mut().for_each(|b| *b = r.u8());
        c.led.iter_mut().for_each(|b| *b = r.u8());
        c.gpio = r.u8();
        c.reserve = r.u32();
        c.crc = low_cmd_crc(&c);
        cmds.push(c);
        let mut s = LowState {
            head: [r.u8(), r.u8()],
            tick: r.u32(),
            ..LowState::default()
        };
        s.imu_state.quaternion = [r.f32(), r.f32(), r.f32(), r.f32()];
        s.imu_state.gyroscope = [r.f32(), r.f32(), r.f32()];
        // The SDK packs temperatures as signed bytes and fan speeds as signed shorts (its
        // format string's `b` / `h`): keep them in range, as real readings are.
        s.imu_state.temperature = r.u8() % 100;
        for m in s.motor_state.iter_mut() {
            m.mode = r.u8();
            m.q = r.f32();
            m.dq = r.f32();
            m.tau_est = r.f32();
            m.temperature = r.u8() % 100;
            m.lost = r.u32();
        }
        s.bms_state.current = r.u32() as i32;
        s.bms_state.cell_vol[3] = r.next() as u16;
        s.foot_force = [r.next() as i16, 7, -9, 11];
        s.wireless_remote.iter_mut().for_each(|b| *b = r.u8());
        s.power_v = r.f32();
        s.fan_frequency[2] = (r.next() % 30_000) as u16;
        s.crc = low_state_crc(&s);
        states.push(s);
    }
    let dir = std::env::temp_dir().join(format!("reflex-sdk2-crc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = serde_json::json!({"low_cmd": cmds, "low_state": states});
    std::fs::write(dir.join("in.json"), input.to_string()).unwrap();
    let out = Command::new(python())
        .current_dir(peer_dir())
        .arg("sdk2_crc.py")
        .arg(dir.join("in.json"))
        .arg(dir.join("out.json"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&std::fs::read(dir.join("out.json")).unwrap()).unwrap();
    for (k, (ours, theirs)) in cmds
        .iter()
        .zip(v["low_cmd"].as_array().unwrap())
        .enumerate()
    {
        assert_eq!(ours.crc as u64, theirs.as_u64().unwrap(), "LowCmd #{k}");
    }
    for (k, (ours, theirs)) in states
        .iter()
        .zip(v["low_state"].as_array().unwrap())
        .enumerate()
    {
        assert_eq!(ours.crc as u64, theirs.as_u64().unwrap(), "LowState #{k}");
    }
}

struct Outcome {
    robot: Value,
    report: Value,
}

/// One run of the MuJoCo Go2 (`robot_args`) and the node for `node_seconds`, repeated while the
/// peer itself paused (see `with_a_steady_peer`).
fn run(tag: &str, robot_args: &str, node_seconds: f64, config_extra: &str) -> Outcome {
    let _one = one_at_a_time();
    with_a_steady_peer(
        tag,
        |k| {
            run_once(
                &format!("{tag}-{k}"),
                robot_args,
                node_seconds,
                config_extra,
            )
        },
        |o| &o.robot,
    )
}

fn run_once(tag: &str, robot_args: &str, node_seconds: f64, config_extra: &str) -> Outcome {
    let dir = work_dir("sdk2", tag);
    let text = shipped_config_text("launch/config/go2_unitree.yaml")
        .replace(
            "  network_interface: eth0    # the interface on the robot's network (192.168.123.0/24)\n",
            "  only_loopback: true\n",
        )
        .replace("  command: [0.0, 0.0, 0.0]", "  command: [0.5, 0.0, 0.0]")
        + config_extra;
    std::fs::write(dir.join("go2_unitree.yaml"), text).unwrap();
    // The simulator stands for the robot's own computer: above every Reflex thread.
    let run = in_loopback_namespace(
        &dir,
        "node.log",
        &format!(
            "cd {peer}; \
             chrt -f 85 {py} mujoco_robot.py --sdk2 --model go2 --out {d}/robot.json {robot_args} & \
             {reflex} node --config {d}/go2_unitree.yaml --duration {node_seconds} --report {d}/report.json > {d}/node.log 2>&1; wait",
            peer = peer_dir().display(),
            py = python().display(),
            d = dir.display(),
            reflex = env!("CARGO_BIN_EXE_reflex"),
        ),
    );
    Outcome {
        robot: run.json("robot.json"),
        report: run.json("report.json"),
    }
}

/// The robot's result without its traces, for failure messages.
fn summary(robot: &Value) -> Value {
    let mut r = robot.clone();
    if let Some(m) = r.as_object_mut() {
        m.remove("trace");
        m.remove("diagnostics");
    }
    r
}

#[test]
fn the_go2_walks_through_sdk2_and_bad_low_states_are_counted() {
    // Every 50th LowState with a wrong CRC, every 100th period a truncated one beside it.
    let o = run(
        "walk",
        "--duration 17 --judge-from 6 --corrupt-every 50 --short-every 100",
        15.0,
        "",
    );
    let r = &o.robot;
    assert_eq!(r["commanded"], true, "{r}");
    assert_eq!(
        r["low_cmds_with_bad_crc"], 0,
        "Reflex's LowCmd CRCs are the SDK's"
    );
    let v = r["mean_forward_m_s"].as_f64().unwrap();
    assert!(
        (0.35..=0.60).contains(&v),
        "walked at {v} m/s; supervisor {}; robot {}",
        o.report["supervisor"],
        summary(r)
    );
    assert!(
        r["min_height_m"].as_f64().unwrap() > 0.2 && r["max_tilt_rad"].as_f64().unwrap() < 0.35,
        "fell: {r}"
    );
    assert_eq!(transitions(&o.report), vec![], "{}", o.report["supervisor"]);
    let rej = &o.report["bridge"]["rejections"];
    for (kind, sent) in [
        (
            "crc_mismatch",
            r["low_states_with_bad_crc"].as_u64().unwrap(),
        ),
        ("wrong_length", r["short_low_states"].as_u64().unwrap()),
    ] {
        let n = rej[kind].as_u64().unwrap();
        assert!(
            sent > 50 && n <= sent && n * 10 >= sent * 8,
            "{kind}: {sent} sent, {n} counted ({rej})"
        );
    }
}

#[test]
fn a_stalled_low_state_stream_degrades_to_the_fallback_and_back_or_to_a_safe_stop() {
    let o = run(
        "stall",
        "--duration 12 --judge-from 5 --stall-at 6 --stall-ms 40",
        10.0,
        "",
    );
    assert_eq!(
        transitions(&o.report),
        vec![
            ("FALLBACK".to_string(), "sensor_stale".to_string()),
            ("POLICY".to_string(), "recovered".to_string())
        ]
    );
    assert!(
        o.robot["min_height_m"].as_f64().unwrap() > 0.2,
        "{}",
        o.robot
    );
    let o = run(
        "lost",
        "--duration 12 --judge-from 5 --stall-at 6 --stall-ms 400",
        10.0,
        "",
    );
    assert_eq!(
        transitions(&o.report),
        vec![
            ("FALLBACK".to_string(), "sensor_stale".to_string()),
            ("SAFE_STOP".to_string(), "sensor_stale".to_string())
        ]
    );
    assert_eq!(o.report["final_mode"], "SAFE_STOP");
}
