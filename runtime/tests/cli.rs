//! The `reflex` binary end to end: run writes a report with the promised fields; check refuses
//! bad configs with a message and a non-zero exit, before anything runs.

mod common;

use common::repo;
use std::process::Command;

#[test]
fn run_writes_a_report_with_the_documented_fields() {
    let report = std::env::temp_dir().join(format!("reflex-cli-{}.json", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_reflex"))
        .current_dir(repo())
        .args([
            "run",
            "--config",
            "launch/config/a1_stand.yaml",
            "--duration",
            "2.5",
            "--report",
        ])
        .arg(&report)
        .output()
        .expect("reflex runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("1250 cycles at 500 Hz"), "{stdout}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(v["cycles"], 1250);
    assert_eq!(v["rate_hz"], 500.0);
    assert_eq!(v["overruns"], 0);
    assert_eq!(v["final_mode"], "POLICY");
    assert_eq!(v["final_phase"], "holding");
    for k in ["p50", "p99", "max"] {
        assert!(v["compute_us"][k].as_f64().unwrap() > 0.0, "compute_us.{k}");
    }
    let h = v["outcome"]["final_base_height_m"].as_f64().unwrap();
    assert!((0.25..0.35).contains(&h), "A1 final height {h}");
    for k in ["min_base_height_m", "max_abs_roll_rad", "max_abs_pitch_rad"] {
        assert!(v["outcome"][k].is_number(), "outcome.{k}");
    }
    std::fs::remove_file(report).ok();
}

#[test]
fn check_refuses_a_bad_config_with_file_field_and_expectation() {
    let bad = std::env::temp_dir().join(format!("reflex-cli-bad-{}.yaml", std::process::id()));
    let text = std::fs::read_to_string(repo().join("launch/config/panda_hold.yaml")).unwrap();
    std::fs::write(&bad, text.replace("control_hz: 1000", "control_hz: -5")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_reflex"))
        .args(["check", "--config"])
        .arg(&bad)
        .output()
        .expect("reflex runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(bad.to_str().unwrap())
            && err.contains("`rates.control_hz`")
            && err.contains("found -5"),
        "{err}"
    );
    std::fs::remove_file(bad).ok();
}

#[test]
fn check_accepts_the_shipped_configs() {
    for cfg in [
        "launch/config/a1_stand.yaml",
        "launch/config/panda_hold.yaml",
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_reflex"))
            .current_dir(repo())
            .args(["check", "--config", cfg])
            .output()
            .expect("reflex runs");
        assert!(
            out.status.success(),
            "{cfg}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn faults_can_be_injected_from_the_command_line() {
    let report = std::env::temp_dir().join(format!("reflex-cli-fault-{}.json", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_reflex"))
        .current_dir(repo())
        .args([
            "run",
            "--config",
            "launch/config/a1_policy.yaml",
            "--duration",
            "3.5",
            "--report",
        ])
        .arg(&report)
        .args(["--fault", "{kind: non_finite_action, at_s: 3.0}"])
        .output()
        .expect("reflex runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let t = &v["supervisor"]["transitions"][0];
    assert_eq!(t["cause"], "non_finite_action");
    assert_eq!(t["to"], "FALLBACK");
    assert_eq!(v["final_mode"], "FALLBACK");
    std::fs::remove_file(report).ok();

    let bad = Command::new(env!("CARGO_BIN_EXE_reflex"))
        .current_dir(repo())
        .args([
            "run",
            "--config",
            "launch/config/a1_stand.yaml",
            "--fault",
            "{kind: meteor, at_s: 1}",
        ])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("--fault #1") && err.contains("unknown variant `meteor`"),
        "{err}"
    );
}
