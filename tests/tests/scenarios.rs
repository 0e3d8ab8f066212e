//! The whole runtime against the simulator: what a user cares about.

use reflex_hardware::Robot;
use reflex_policies::Phase;
use reflex_runtime::assemble;
use reflex_runtime::driver::outcome::RobotOutcome;
use reflex_runtime::driver::CycleView;
use reflex_tests::{edit, load_text, run_for, run_observed, shipped_text};

#[test]
fn a1_stands_up_and_stays_up_for_ten_seconds() {
    let cfg = load_text("a1_stand", &shipped_text("a1_stand.yaml"));
    // Stand-up takes 1.5 s (+0.5 s settle): 12 s of robot time leaves 10 s standing.
    let report = run_for(&cfg, 12.0);
    assert_eq!(report.final_phase, Phase::Holding);
    let RobotOutcome::Legged {
        measured_from_s,
        min_base_height_m,
        max_base_height_m,
        max_abs_roll_rad,
        max_abs_pitch_rad,
        ..
    } = report.outcome.expect("simulator runs judge the outcome")
    else {
        panic!("A1 reports a legged outcome");
    };
    assert!(
        measured_from_s <= 2.01,
        "standing window starts at {measured_from_s}"
    );
    assert!(
        (0.25..=0.35).contains(&min_base_height_m) && (0.25..=0.35).contains(&max_base_height_m),
        "base height left [0.25, 0.35] m: min {min_base_height_m}, max {max_base_height_m}"
    );
    assert!(max_abs_roll_rad < 0.1, "roll {max_abs_roll_rad}");
    assert!(max_abs_pitch_rad < 0.1, "pitch {max_abs_pitch_rad}");
    assert_eq!(report.cycles, 6000);
    assert_eq!(
        report.overruns, 0,
        "lockstep body never takes a whole period"
    );
}

#[test]
fn a1_lying_without_stand_up_stays_down() {
    // The same run with zero gains: the robot must not stand by itself. Guards the stand test
    // against a simulator that would report a standing height whatever the controller does.
    let text = edit(&shipped_text("a1_stand.yaml"), "kp: 60.0", "kp: 0.0");
    let cfg = load_text("a1_limp", &text);
    let report = run_for(&cfg, 3.0);
    let RobotOutcome::Legged {
        max_base_height_m, ..
    } = report.outcome.expect("simulator runs judge the outcome")
    else {
        panic!("legged outcome");
    };
    assert!(
        max_base_height_m < 0.2,
        "limp A1 rose to {max_base_height_m} m"
    );
}

#[test]
fn panda_holds_its_home_pose() {
    let cfg = load_text("panda_hold", &shipped_text("panda_hold.yaml"));
    let report = run_for(&cfg, 5.0);
    let RobotOutcome::Arm {
        max_joint_tracking_error_rad,
        ..
    } = report.outcome.expect("simulator runs judge the outcome")
    else {
        panic!("Panda reports an arm outcome");
    };
    assert!(
        max_joint_tracking_error_rad < 0.05,
        "tracking error {max_joint_tracking_error_rad} rad"
    );
}

#[test]
fn panda_end_effector_is_at_the_ready_pose_tool_point() {
    // Franka's documented O_T_EE translation in the "ready" pose is (0.307, 0, 0.487) m.
    let cfg = load_text("panda_ee", &shipped_text("panda_hold.yaml"));
    let mut sim = assemble::build_sim(&cfg).expect("sim");
    let mut state = reflex_hardware::RobotState::new(sim.spec());
    sim.read(&mut state).expect("read");
    let ee = state.end_effector.expect("arm has an end effector");
    let expected = [0.307, 0.0, 0.487];
    for (got, want) in ee.position_m.iter().zip(expected) {
        assert!(
            (got - want).abs() < 2e-3,
            "EE {:?} vs {expected:?}",
            ee.position_m
        );
    }
}

/// Runs `cycles` control cycles and returns every joint position and base pose, bit for bit.
fn trajectory(tag: &str, text: &str, cycles: usize) -> Vec<u64> {
    let cfg = load_text(tag, text);
    let mut out = Vec::new();
    let mut record = |v: &CycleView| {
        out.extend(v.state.joints.position_rad.iter().map(|q| q.to_bits()));
        let gt = v.ground_truth.expect("simulator");
        out.extend(
            gt.base_position_m
                .iter()
                .chain(&gt.base_orientation_xyzw)
                .map(|v| v.to_bits()),
        );
    };
    let rep = run_observed(
        &cfg,
        cycles as f64 / cfg.config.rates.control_hz,
        &mut record,
    );
    assert_eq!(rep.cycles, cycles as u64);
    out
}

#[test]
fn same_config_and_seed_give_a_bit_identical_trajectory() {
    let base = shipped_text("a1_stand.yaml");
    let noisy = edit(
        &base,
        "  seed: 1",
        "  seed: 1\n  initial_pose_jitter_rad: 0.05\n  noise: {joint_position_rad: 0.002, gyro_rad_s: 0.01}",
    );
    let a = trajectory("det_a", &noisy, 1500);
    let b = trajectory("det_b", &noisy, 1500);
    assert!(a == b, "two runs with the same seed diverged");
    let other_seed = edit(&noisy, "seed: 1", "seed: 2");
    let c = trajectory("det_c", &other_seed, 1500);
    assert!(a != c, "a different seed must change the noisy trajectory");
}

#[test]
fn injected_slow_cycle_is_counted_as_an_overrun_on_the_realtime_clock() {
    let text = edit(
        &shipped_text("a1_stand.yaml"),
        "clock: lockstep",
        "clock: realtime",
    );
    let text =
        format!("{text}\nfaults:\n  - {{kind: latency_spike, at_s: 0.2, duration_ms: 10}}\n");
    let cfg = load_text("overrun_rt", &text);
    let report = run_for(&cfg, 0.5);
    assert!(report.overruns >= 1, "no overrun counted: {report:?}");
    // A 10 ms stall at 500 Hz (2 ms period) skips at least 4 deadlines.
    assert!(
        report.missed_deadlines >= 4,
        "missed {}",
        report.missed_deadlines
    );
    assert!(
        report.compute_us.max >= 10_000.0,
        "stall not in the compute histogram"
    );
    let w = report
        .wakeup_latency_us
        .expect("realtime clock measures wake-up");
    assert_eq!(w.samples, report.cycles);
}

#[test]
fn injected_slow_cycle_is_counted_as_an_overrun_in_lockstep() {
    let text = format!(
        "{}\nfaults:\n  - {{kind: latency_spike, at_s: 0.1, duration_ms: 5}}\n",
        shipped_text("a1_stand.yaml")
    );
    let cfg = load_text("overrun_ls", &text);
    let report = run_for(&cfg, 0.3);
    assert!(report.overruns >= 1, "no overrun counted");
    assert!(report.wakeup_latency_us.is_none());
}
