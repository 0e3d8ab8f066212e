//! `reflex bench wire`: the DDS wire's round trip at C speed. A robot on Cyclone DDS's C
//! library (`tests/peer/c/wire_peer.c`, built here from Debian's `cyclonedds-dev`) publishes an
//! A1's joint states and IMU at 500 Hz and times each answer; it is answered by another C peer
//! (the same exchange at C speed) and by `reflex node`, next to Cyclone's own `ddsperf`
//! ping/pong, all in one invocation, each in a loopback-only network namespace. Against Reflex
//! the robot runs at SCHED_FIFO 85, above every Reflex thread, as in the wire tests (it stands
//! for the robot's own computer; on two shared cores a starved robot would be measured, not
//! Reflex). The baselines run both so and as the OS schedules them: on this VM SCHED_FIFO makes
//! ddsperf's round trip about 2× slower, and the reference is the DDS at its best.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

use super::wire::{in_loopback_namespace, read_json};

/// How the robot (and a baseline's peers, where said) are scheduled.
const FIFO: &str = "chrt -f 85";

fn sched(chrt: &str) -> &'static str {
    if chrt.is_empty() {
        ""
    } else {
        ", SCHED_FIFO 85"
    }
}

/// The robot's publishing rate (Unitree's low-level rate).
const RATE_HZ: f64 = 500.0;
/// ddsperf's payload: about the size of a 12-joint `sensor_msgs/JointState`.
const DDSPERF_SIZE_B: usize = 512;

/// Round-trip figures (µs).
struct RoundTrip {
    p50: f64,
    p99: f64,
    p999: Option<f64>,
    samples: u64,
    note: String,
}

pub(super) fn bench_wire(seconds: f64) -> anyhow::Result<()> {
    for tool in ["idlc", "cc", "ddsperf"] {
        if which(tool).is_none() {
            bail!("`{tool}` not found: install Debian's cyclonedds-dev and cyclonedds-tools (REFLEX_BENCH_DEPS=1 ./dev setup does)");
        }
    }
    let repo = std::env::current_dir()?;
    let dir = std::env::temp_dir().join(format!("reflex-bench-wire-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let peer = build_peer(&repo, &dir)?;
    println!(
        "reflex bench wire: round trips at {RATE_HZ} Hz, loopback-only network namespace, Reflex placed as configured, {seconds} s each"
    );

    let mut rows: Vec<(String, RoundTrip)> = Vec::new();
    for (mode, chrt) in [("listener", ""), ("waitset", ""), ("listener", FIFO)] {
        rows.push((
            format!(
                "ddsperf ping/pong ({mode}, {DDSPERF_SIZE_B} B){}",
                sched(chrt)
            ),
            ddsperf(&dir, mode, chrt, seconds)?,
        ));
    }
    for (k, chrt) in ["", FIFO].into_iter().enumerate() {
        let out = format!("echo-{k}.json");
        in_loopback_namespace(&format!(
            "{chrt} {p} echo {e} listener & sleep 0.3; {chrt} {p} robot {seconds} {RATE_HZ} {d}/{out}; wait",
            p = peer.display(),
            e = seconds + 2.0,
            d = dir.display(),
        ))?;
        rows.push((
            format!("C robot ↔ C answer (listener){}", sched(chrt)),
            robot_round_trip(&read_json(&dir, &out)?),
        ));
    }
    let base = std::fs::read_to_string(repo.join("launch/config/a1_ros.yaml"))?
        .replace("../../", &format!("{}/", repo.display()))
        .replace(
            "  node_name: reflex\n",
            "  node_name: reflex\n  only_loopback: true\n",
        )
        .replace(
            "  kind: stand_up\n  duration_s: 2.0\n",
            "  kind: joint_pd_hold\n",
        );
    let mut reflex_rows = Vec::new();
    for (name, text) in [
        ("reflex node (a1_ros.yaml as shipped)", base.clone()),
        (
            "reflex node, RT thread parking throughout (spin_for_state_us: 0)",
            set_spin(&base, 0)?,
        ),
    ] {
        let k = reflex_rows.len();
        let cfg = dir.join(format!("a1_ros-{k}.yaml"));
        std::fs::write(&cfg, text)?;
        let (robot, report) = (format!("reflex-robot-{k}.json"), format!("report-{k}.json"));
        in_loopback_namespace(&format!(
            "{FIFO} {p} robot {seconds} {RATE_HZ} {d}/{robot} & \
             {exe} node --config {c} --duration {ns} --report {d}/{report} > {d}/node-{k}.log 2>&1; wait",
            p = peer.display(),
            ns = seconds + 2.0,
            d = dir.display(),
            c = cfg.display(),
            exe = std::env::current_exe()?.display(),
        ))?;
        let rt = robot_round_trip(&read_json(&dir, &robot)?);
        reflex_rows.push((rt.p50, read_json(&dir, &report)?));
        rows.push((name.to_string(), rt));
    }

    // Ratios to the DDS at its best (ddsperf's listeners, no application thread on either side)
    // and to the same exchange as Reflex's (messages, QoS, robot) answered at C speed.
    let (best, like) = (&rows[0].1, &rows[3].1);
    for (name, r) in &rows {
        println!(
            "  {name:<72} p50 {:>6.1} µs  p99 {:>6.1} µs  p99.9 {}  (n={:>5}) ×{:.2} / ×{:.2} ddsperf, ×{:.2} / ×{:.2} the C answer{}",
            r.p50,
            r.p99,
            r.p999.map_or("     -".into(), |v| format!("{v:>6.1}")),
            r.samples,
            r.p50 / best.p50,
            r.p99 / best.p99,
            r.p50 / like.p50,
            r.p99 / like.p99,
            r.note
        );
    }
    println!("  ddsperf prints half of each round trip ((now - sent) / 2 in its pong handler): doubled here; its p50/p99 are the medians over its 1 s windows");
    for (k, (rtt50, rep)) in reflex_rows.iter().enumerate() {
        let c = &rep["bridge"]["budget_us"];
        let p50 = |s: &str| c[s]["p50"].as_f64().unwrap_or(f64::NAN);
        let inside = p50("received_to_read") + p50("read_to_write") + p50("write_to_published");
        println!(
            "  where a round trip goes, {} (p50 µs): C write → Reflex's I/O thread {:.1} | → RT cycle reads it {:.1} | cycle {:.1} | → handed to DDS {:.1} | DDS → the C robot takes it (the rest) {:.1}",
            if k == 0 { "as shipped" } else { "parking" },
            p50("stamp_to_received"),
            p50("received_to_read"),
            p50("read_to_write"),
            p50("write_to_published"),
            rtt50 - p50("stamp_to_received") - inside,
        );
    }
    println!("  the Python-peer figures of before: `reflex bench ros`");
    Ok(())
}

/// Compiles the C robot: `idlc` for the ROS 2 types, then `cc` against `libddsc`.
fn build_peer(repo: &Path, dir: &Path) -> anyhow::Result<PathBuf> {
    let src = repo.join("tests/peer/c");
    run(Command::new("idlc")
        .arg("-o")
        .arg(dir)
        .arg(src.join("ros2_msgs.idl")))?;
    let exe = dir.join("wire_peer");
    run(Command::new("cc")
        .args(["-O2", "-Wall", "-I"])
        .arg(dir)
        .arg("-o")
        .arg(&exe)
        .arg(src.join("wire_peer.c"))
        .arg(dir.join("ros2_msgs.c"))
        .arg("-lddsc"))?;
    Ok(exe)
}

fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let out = cmd.output().with_context(|| format!("{cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(tool))
        .find(|p| p.is_file())
}

/// `ddsperf ping 500Hz` against `ddsperf pong` in `mode`, both under `chrt` (or not).
fn ddsperf(dir: &Path, mode: &str, chrt: &str, seconds: f64) -> anyhow::Result<RoundTrip> {
    let out = dir.join(format!("ddsperf-{mode}{}.txt", chrt.len()));
    in_loopback_namespace(&format!(
        "{chrt} ddsperf -D {pd} pong {mode} > /dev/null & sleep 0.3; \
         {chrt} ddsperf -D {d} ping {RATE_HZ}Hz size {DDSPERF_SIZE_B} {mode} > {o}; wait",
        pd = seconds + 1.0,
        d = seconds.ceil(),
        o = out.display(),
    ))?;
    let text = std::fs::read_to_string(&out)?;
    parse_ddsperf(&text).with_context(|| format!("no round trips in ddsperf's output:\n{text}"))
}

/// ddsperf's ping lines (`... 50% 24.9us 90% 66.9us 99% 94.3us max 445.0us cnt 500`), one per
/// second: medians of the windows' p50 and p99, doubled into round trips.
fn parse_ddsperf(text: &str) -> Option<RoundTrip> {
    let field = |line: &str, key: &str| -> Option<f64> {
        let mut it = line.split_whitespace();
        it.find(|w| *w == key)?;
        it.next()?.strip_suffix("us")?.parse().ok()
    };
    let (mut p50, mut p99, mut n) = (Vec::new(), Vec::new(), 0u64);
    for line in text.lines() {
        if let (Some(a), Some(b)) = (field(line, "50%"), field(line, "99%")) {
            p50.push(a * 2.0);
            p99.push(b * 2.0);
            n += line
                .split_whitespace()
                .skip_while(|w| *w != "cnt")
                .nth(1)
                .and_then(|c| c.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    if p50.is_empty() {
        return None;
    }
    Some(RoundTrip {
        p50: median(&mut p50),
        p99: median(&mut p99),
        p999: None,
        samples: n,
        note: String::new(),
    })
}

/// The C robot's round trips (`wire_peer robot`'s JSON).
fn robot_round_trip(v: &serde_json::Value) -> RoundTrip {
    let r = &v["round_trip_us"];
    let f = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
    RoundTrip {
        p50: f("p50"),
        p99: f("p99"),
        p999: Some(f("p999")),
        samples: r["samples"].as_u64().unwrap_or(0),
        note: format!(
            "; {} periods unanswered, {} answers late",
            v["unanswered"], v["late"]
        ),
    }
}

/// The config with `realtime.spin_for_state_us` set to `us`.
fn set_spin(text: &str, us: u64) -> anyhow::Result<String> {
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("spin_for_state_us:"))
        .context("a1_ros.yaml sets no realtime.spin_for_state_us")?;
    Ok(text.replace(line, &format!("  spin_for_state_us: {us}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ddsperf_lines_become_round_trips() {
        let text = "[9417] participant vm:9406: new\n\
            [9417] 1.000  vm:9406 size 200 mean 42.7us min 11.2us 50% 40.0us 90% 60.1us 99% 153.8us max 355.7us cnt 499\n\
            [9417] 1.000  rss:7.4MB vcsw:1052 ivcsw:247\n\
            [9417] 2.000  vm:9406 size 200 mean 41.8us min 11.2us 50% 38.0us 90% 55.7us 99% 149.0us max 332.3us cnt 500\n\
            [9417] 3.000  vm:9406 size 200 mean 38.4us min 8.4us 50% 26.0us 90% 63.0us 99% 151.0us max 448.0us cnt 500\n";
        let r = parse_ddsperf(text).unwrap();
        assert_eq!((r.p50, r.p99, r.samples), (76.0, 302.0, 1499));
        assert!(parse_ddsperf("[1] participant new\n").is_none());
    }
}
