//! What the integration tests share: the repository's paths, the test Python, shipped configs
//! to edit, and runs inside a loopback-only network namespace (`unshare -n`: no traffic leaves it).
// Each test binary uses part of this.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// The repository's root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

/// The Python of `./dev setup` (Cyclone DDS, MuJoCo, onnxruntime, unitree-sdk2).
pub fn python() -> PathBuf {
    let p = repo().join(".venv/bin/python");
    assert!(p.exists(), "{} missing: run ./dev setup", p.display());
    p
}

/// The test peers' folder (`tests/peer`).
pub fn peer_dir() -> PathBuf {
    repo().join("tests/peer")
}

/// A shipped config's text (`rel` from the repository's root) with its relative paths made
/// absolute, to be edited and written anywhere.
pub fn shipped_config_text(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel))
        .unwrap()
        .replace("../../", &format!("{}/", repo().display()))
}

/// Holds the test binary's real-time runs to one at a time (two at once on two cores would each
/// measure the other).
pub fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A fresh folder for one run's files.
pub fn work_dir(prefix: &str, tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("reflex-{prefix}-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A finished namespace run: the JSON files it wrote, with the log to show when one is missing.
pub struct NamespaceRun {
    dir: PathBuf,
    log: String,
}

impl NamespaceRun {
    /// `file` (in the run's folder) as JSON.
    pub fn json(&self, file: &str) -> Value {
        let text = std::fs::read_to_string(self.dir.join(file))
            .unwrap_or_else(|e| panic!("{file}: {e}\nlog:\n{}", self.log));
        serde_json::from_str(&text).unwrap()
    }
}

/// Runs the shell `body` in a fresh network namespace with only loopback, up and with multicast
/// on; panics with the run's output and `dir/log_name` if it fails.
pub fn in_loopback_namespace(dir: &Path, log_name: &str, body: &str) -> NamespaceRun {
    let script = format!("set -e; ip link set lo up; ip link set lo multicast on; {body}");
    let out = Command::new("unshare")
        .args(["-n", "sh", "-c", &script])
        .output()
        .expect("unshare runs");
    let log = std::fs::read_to_string(dir.join(log_name)).unwrap_or_default();
    assert!(
        out.status.success(),
        "namespace run failed: {}\n{}\nlog:\n{log}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    NamespaceRun {
        dir: dir.to_path_buf(),
        log,
    }
}

/// The robot peer's publish gaps that it did not schedule (`tests/peer/mujoco_robot.py`:
/// `[t_s, gap_ms]`, while commands came), longer than `over_ms`.
pub fn peer_pauses_over(robot: &Value, over_ms: f64) -> Vec<(f64, f64)> {
    robot["publish_gaps_over_10ms"]
        .as_array()
        .map(|gaps| {
            gaps.iter()
                .filter_map(|g| Some((g[0].as_f64()?, g[1].as_f64()?)))
                .filter(|&(_, ms)| ms > over_ms)
                .collect()
        })
        .unwrap_or_default()
}

/// A pause of the robot peer itself this long (three quarters of the node's 20 ms sensor
/// timeout) makes a run unfit to judge the node: with the peer's period and the node's own
/// delay it can reach the timeout, and then FALLBACK is the right answer to a robot that went
/// quiet, not a fault of the node.
pub const PEER_PAUSE_LIMIT_MS: f64 = 15.0;

/// Runs `attempt` (given its number) until the robot peer kept its rate while it was commanded
/// (no pause over [`PEER_PAUSE_LIMIT_MS`]), at most four times: the shared VM sometimes stops
/// the peer's process for tens of milliseconds, at times for seconds on end. Panics if every attempt had such a pause, so
/// a machine that cannot hold the rate fails loudly instead of passing untested.
pub fn with_a_steady_peer<T>(
    what: &str,
    mut attempt: impl FnMut(u32) -> T,
    robot: impl Fn(&T) -> &Value,
) -> T {
    let mut seen = Vec::new();
    for k in 1..=4 {
        let out = attempt(k);
        let pauses = peer_pauses_over(robot(&out), PEER_PAUSE_LIMIT_MS);
        if pauses.is_empty() {
            return out;
        }
        eprintln!("{what}: attempt {k}: the robot peer paused (t_s, ms) {pauses:?}; rerunning");
        seen.push(pauses);
    }
    panic!("{what}: the robot peer paused on every attempt, nothing judged: {seen:?}");
}

/// A run report's mode transitions as (to, cause).
pub fn transitions(report: &Value) -> Vec<(String, String)> {
    report["supervisor"]["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["to"].as_str().unwrap_or_default().to_string(),
                t["cause"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}
