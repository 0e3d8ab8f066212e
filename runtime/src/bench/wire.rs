//! `reflex bench deploy` and `reflex bench ros`: the whole stack and the ROS 2 wire, against
//! peers and baselines run alongside.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context};

use super::*;

pub(super) fn bench_deploy(seconds: f64, python: &str) -> anyhow::Result<()> {
    let repo = std::env::current_dir()?;
    let python = repo.join(python);
    anyhow::ensure!(
        python.exists(),
        "{} not found (run ./dev setup)",
        python.display()
    );
    let model = repo.join("policies/models/go2_himloco/policy.onnx");
    // In a thread of its own, so its pinning stays there.
    let (tight, at_rate) = std::thread::scope(|s| s.spawn(|| isolated_inference(&model)).join())
        .map_err(|_| anyhow::anyhow!("isolation thread panicked"))??;
    println!(
        "reflex bench deploy: Go2 in MuJoCo (SCHED_FIFO 85, the robot's own computer) behind Cyclone DDS, reflex node (robot-triggered 500 Hz, HIMLoco 50 Hz at 0.5 m/s), {seconds} s walking per run, {} CPUs",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "  the model alone on CPU 0: back to back p50 {:.1} µs p99 {:.1} µs; at 50 Hz (idle between calls) p50 {:.1} µs p99 {:.1} µs",
        tight.p50, tight.p99, at_rate.p50, at_rate.p99
    );
    for (k, (name, extra)) in [
        (
            "Reflex's placement, the I/O thread spinning up to 200 µs for each answer",
            "",
        ),
        (
            "Reflex's placement, the I/O thread parking at once",
            "threads:\n  ros_io: {spin_us: 0}\n",
        ),
        (
            "every thread but the RT one as the OS made it",
            "threads:\n  place: false\n",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let dir =
            std::env::temp_dir().join(format!("reflex-bench-deploy-{}-{k}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let text = std::fs::read_to_string(repo.join("launch/config/go2_ros.yaml"))?
            .replace("../../", &format!("{}/", repo.display()))
            .replace(
                "  node_name: reflex\n",
                "  node_name: reflex\n  only_loopback: true\n",
            )
            .replace("  command: [0.0, 0.0, 0.0]", "  command: [0.5, 0.0, 0.0]")
            + extra;
        std::fs::write(dir.join("go2_ros.yaml"), text)?;
        let script = format!(
            "cd {peer}; \
             chrt -f 85 {py} mujoco_robot.py --model go2 --out {dir}/robot.json --duration {pd} --judge-from 5 & \
             {exe} node --config {dir}/go2_ros.yaml --duration {nd} --report {dir}/report.json > {dir}/node.log 2>&1; wait",
            peer = repo.join("tests/peer").display(),
            py = python.display(),
            dir = dir.display(),
            exe = std::env::current_exe()?.display(),
            pd = seconds + 8.0,
            nd = seconds + 5.0,
        );
        in_loopback_namespace(&script)?;
        let read = |f: &str| read_json(&dir, f);
        let (rep, robot) = (read("report.json")?, read("robot.json")?);
        let us = |v: &serde_json::Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN);
        let p = &rep["policy"];
        let inf = &p["thread"]["inference_us"];
        println!("  {name}:");
        println!(
            "    policy inference p50 {:.1} µs p99 {:.1} µs  -> ×{:.2} / ×{:.2} the model alone at 50 Hz (×{:.2} / ×{:.2} back to back); late results {} of {} ticks, by stage {}",
            us(inf, "p50"),
            us(inf, "p99"),
            us(inf, "p50") / at_rate.p50,
            us(inf, "p99") / at_rate.p99,
            us(inf, "p50") / tight.p50,
            us(inf, "p99") / tight.p99,
            p["late_results"],
            p["thread"]["ticks"],
            p["late_by"]
        );
        let b = &p["budget"];
        println!(
            "    policy tick (µs, mean/p99): wake {:.0}/{:.0}, observation {:.0}/{:.0}, inference {:.0}/{:.0}, hand-off {:.0}/{:.0} = {:.0}/{:.0}",
            us(&b["wake_us"], "mean"), us(&b["wake_us"], "p99"),
            us(&b["observation_us"], "mean"), us(&b["observation_us"], "p99"),
            us(&b["inference_us"], "mean"), us(&b["inference_us"], "p99"),
            us(&b["handoff_us"], "mean"), us(&b["handoff_us"], "p99"),
            us(&b["total_us"], "mean"), us(&b["total_us"], "p99"),
        );
        let c = &rep["bridge"]["budget_us"];
        let stages = [
            "stamp_to_received",
            "received_to_read",
            "read_to_write",
            "write_to_published",
        ];
        let sum: f64 = stages.iter().map(|k| us(&c[*k], "mean")).sum();
        println!(
            "    per cycle (µs, mean/p99): {} = {:.0}; end to end {:.0}/{:.0}; missed cycles {}",
            stages
                .iter()
                .map(|k| format!("{k} {:.0}/{:.0}", us(&c[*k], "mean"), us(&c[*k], "p99")))
                .collect::<Vec<_>>()
                .join(", "),
            sum,
            us(&c["end_to_end"], "mean"),
            us(&c["end_to_end"], "p99"),
            rep["missed_cycles"]
        );
        let threads: Vec<String> = rep["threads"]["threads"]
            .as_array()
            .map(|v| {
                v.iter()
                    .filter(|t| !t["class"].is_null())
                    .map(|t| {
                        format!(
                            "{} {} CPUs {} {:.1} s",
                            t["name"].as_str().unwrap_or(""),
                            if t["scheduler"] == "fifo" {
                                format!("FIFO {}", t["priority"])
                            } else {
                                format!("nice {}", t["nice"])
                            },
                            t["cpus"],
                            t["cpu_time_s"].as_f64().unwrap_or(0.0)
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        println!("    threads: {}", threads.join("; "));
        println!(
            "    the robot: mean forward {:.3} m/s, lowest {:.3} m, largest tilt {:.3} rad; mode {}",
            robot["mean_forward_m_s"].as_f64().unwrap_or(f64::NAN),
            robot["min_height_m"].as_f64().unwrap_or(f64::NAN),
            robot["max_tilt_rad"].as_f64().unwrap_or(f64::NAN),
            rep["final_mode"]
        );
    }
    Ok(())
}

pub(super) fn bench_ros(seconds: f64, python: &str) -> anyhow::Result<()> {
    let repo = std::env::current_dir()?;
    let dir = std::env::temp_dir().join(format!("reflex-bench-ros-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    // Absolute but not canonical: resolving the venv's symlink would lose the venv.
    let python = repo.join(python);
    anyhow::ensure!(
        python.exists(),
        "{} not found (run ./dev setup)",
        python.display()
    );
    let stand = [
        -0.1, 0.8, -1.5, 0.1, 0.8, -1.5, -0.1, 1.0, -1.5, 0.1, 1.0, -1.5,
    ];
    let spec = a1_spec()?;
    let joints: serde_json::Map<String, serde_json::Value> = spec
        .joint_names
        .iter()
        .zip(stand)
        .map(|(n, q)| (n.clone(), serde_json::Value::from(q)))
        .collect();
    std::fs::write(
        dir.join("joints.json"),
        serde_json::Value::Object(joints).to_string(),
    )?;
    let text = std::fs::read_to_string(repo.join("launch/config/a1_ros.yaml"))?
        .replace("../../", &format!("{}/", repo.display()))
        .replace(
            "  node_name: reflex\n",
            "  node_name: reflex\n  only_loopback: true\n",
        )
        .replace(
            "command_interface: effort_array",
            "command_interface: joint_trajectory",
        )
        .replace(
            "  kind: stand_up\n  duration_s: 2.0\n",
            "  kind: joint_pd_hold\n",
        );
    std::fs::write(dir.join("a1_ros.yaml"), text)?;
    let exe = std::env::current_exe()?;
    let script = format!(
        "cd {peer}; \
         {py} pingpong.py pong 25 & {py} pingpong.py ping 1500 {dir}/pingpong.json; wait; \
         {py} robot_peer.py --joints {dir}/joints.json --out {dir}/peer.json --interface joint_trajectory --duration {pd} --stop-at {stop} --poll-us 20 & \
         {exe} node --config {dir}/a1_ros.yaml --duration {nd} --report {dir}/report.json > {dir}/node.log 2>&1; wait",
        peer = repo.join("tests/peer").display(),
        py = python.display(),
        dir = dir.display(),
        exe = exe.display(),
        pd = seconds + 2.0,
        stop = seconds,
        nd = seconds,
    );
    println!("reflex bench ros: A1 joint states at 500 Hz from a Cyclone DDS peer, robot-triggered cycles, loopback-only network namespace");
    in_loopback_namespace(&script)?;
    let read = |f: &str| read_json(&dir, f);
    let (pp, peer, rep) = (
        read("pingpong.json")?,
        read("peer.json")?,
        read("report.json")?,
    );
    let base50 = pp["one_way_p50_us"].as_f64().unwrap_or(f64::NAN);
    let base99 = pp["one_way_p99_us"].as_f64().unwrap_or(f64::NAN);
    println!("  cyclone ping-pong one-way (python ↔ python): p50 {base50:>7.1} µs  p99 {base99:>7.1} µs  (n={})", pp["samples"]);
    let inb = &rep["bridge"]["inbound_latency_us"];
    let (i50, i99) = (
        inb["p50"].as_f64().unwrap_or(f64::NAN),
        inb["p99"].as_f64().unwrap_or(f64::NAN),
    );
    println!("  peer publish → RT cycle reads it:           p50 {i50:>7.1} µs  p99 {i99:>7.1} µs  (n={}) ratio p50 {:.2} (target ≤ 1.20)", inb["samples"], i50 / base50);
    let mut out_us: Vec<f64> = peer["commands"]
        .as_array()
        .map(|c| {
            c.iter()
                .filter_map(|x| x.get(2).and_then(|v| v.as_f64()))
                .collect()
        })
        .unwrap_or_default();
    out_us.sort_by(f64::total_cmp);
    let q = |p: f64| {
        out_us
            .get(((out_us.len() as f64 * p) as usize).min(out_us.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::NAN)
    };
    println!("  RT write → peer receives it:                p50 {:>7.1} µs  p99 {:>7.1} µs  (n={}) ratio p50 {:.2} (target ≤ 1.20)", q(0.5), q(0.99), out_us.len(), q(0.5) / base50);
    Ok(())
}

/// The HIMLoco model alone on CPU 0: back to back, and at the policy's 50 Hz (idle between
/// calls, as in a deployment).
fn isolated_inference(model: &Path) -> anyhow::Result<(LatencySummaryUs, LatencySummaryUs)> {
    use reflex_policies::onnx::{self, OnnxModel, SessionOptions};
    onnx::runtime(None)?;
    let mut m = OnnxModel::open(model, &SessionOptions::default())?;
    let x: Vec<f32> = (0..m.input_len())
        .map(|i| ((i * 37 % 17) as f32 - 8.0) / 8.0)
        .collect();
    let mut y = vec![0.0f32; m.output_len()];
    let pin = crate::config::RealtimeSection {
        cpu: Some(0),
        ..Default::default()
    };
    crate::rt::apply(&pin);
    let tight = time_calls(3000, || {
        let _ = m.run(&x, &mut y);
    });
    let mut h = crate::stats::LatencyHistogram::new();
    for _ in 0..250 {
        std::thread::sleep(std::time::Duration::from_millis(20));
        let t0 = crate::rt::now_ns();
        let _ = m.run(&x, &mut y);
        h.record_ns(crate::rt::now_ns() - t0);
    }
    Ok((tight, h.summary_us()))
}

/// Runs the shell `body` in a fresh network namespace with only loopback (up, multicast on), so
/// that no benchmark traffic leaves the machine; an error with the run's output if it fails.
pub(super) fn in_loopback_namespace(body: &str) -> anyhow::Result<()> {
    use std::io::Write;
    std::io::stdout().flush()?;
    let script = format!("set -e; ip link set lo up; ip link set lo multicast on; {body}");
    let out = Command::new("unshare")
        .args(["-n", "sh", "-c", &script])
        .output()
        .context("unshare")?;
    if !out.status.success() {
        bail!(
            "namespace run failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// `file` in `dir` as JSON.
pub(super) fn read_json(dir: &Path, file: &str) -> anyhow::Result<serde_json::Value> {
    Ok(serde_json::from_str(
        &std::fs::read_to_string(dir.join(file)).with_context(|| file.to_string())?,
    )?)
}
