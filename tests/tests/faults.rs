//! Every fault type on the A1 under its ONNX policy with the certified fallback: the robot does
//! not fall, the fallback commands in the very cycle a fault is detected, and every command
//! written on every cycle is inside the robot's limits and continuous.

use reflex_runtime::driver::report::RunReport;
use reflex_runtime::supervisor::{Cause, Mode};
use reflex_tests::{edit, load_text, run_observed, shipped_text_abs, spec_of, SafetyWatch};

/// Runs a1_policy.yaml with `fault`; `safety` lines are added to its `safety:` section.
fn run_with_fault(
    tag: &str,
    fault: &str,
    duration_s: f64,
    safety: &str,
) -> (RunReport, SafetyWatch) {
    let text = edit(
        &shipped_text_abs("a1_policy.yaml"),
        "safety:\n",
        &format!("safety:\n{safety}"),
    );
    let text = format!("{text}faults:\n  - {fault}\n");
    let cfg = load_text(tag, &text);
    // After the stand-up (2 s at 500 Hz) the robot must stay up.
    let mut watch = SafetyWatch::new(spec_of("a1"), 1000, 0.2);
    let rep = run_observed(&cfg, duration_s, &mut watch);
    (rep, watch)
}

fn fallback_transition(rep: &RunReport) -> (u64, Cause) {
    let t = rep
        .supervisor
        .transitions
        .iter()
        .find(|t| t.transition.to == Mode::Fallback)
        .unwrap_or_else(|| panic!("no fallback: {:?}", rep.supervisor.transitions));
    (t.transition.cycle, t.transition.cause)
}

#[test]
fn non_finite_action_hands_over_in_the_cycle_it_arrives() {
    let (rep, w) = run_with_fault("nan", "{kind: non_finite_action, at_s: 3.0}", 6.0, "");
    w.assert_safe("non-finite action", &rep);
    // Lockstep: the policy's tick-150 result is applied at cycle 1500.
    assert_eq!(fallback_transition(&rep), (1500, Cause::NonFiniteAction));
}

#[test]
fn policy_freeze_hands_over_after_the_allowed_late_periods() {
    let (rep, w) = run_with_fault(
        "freeze",
        "{kind: policy_freeze, at_s: 3.0, duration_s: 1.0}",
        6.0,
        "",
    );
    w.assert_safe("policy freeze", &rep);
    let (cycle, cause) = fallback_transition(&rep);
    assert_eq!(cause, Cause::PolicyLate);
    // Ticks 150.. give nothing; late counted at ticks 151.., > 3 late periods at tick 154.
    assert_eq!(cycle, 1540);
}

#[test]
fn sensor_dropout_hands_over_when_samples_are_stale() {
    let (rep, w) = run_with_fault(
        "dropout",
        "{kind: sensor_dropout, at_s: 3.0, duration_s: 0.15}",
        6.0,
        "",
    );
    w.assert_safe("sensor dropout", &rep);
    let (cycle, cause) = fallback_transition(&rep);
    assert_eq!(cause, Cause::SensorStale);
    // The sample of t = 3.0 s (cycle 1500) is the first one missing, so the last arrived at
    // cycle 1499; 20 ms timeout at 500 Hz = 10 cycles.
    assert_eq!(cycle, 1509);
}

#[test]
fn sensor_noise_burst_is_ridden_out() {
    let (rep, w) = run_with_fault(
        "noise",
        "{kind: sensor_noise_burst, at_s: 3.0, duration_s: 1.0, joint_position_rad: 0.01, joint_velocity_rad_s: 0.5, gyro_rad_s: 0.1}",
        6.0,
        "",
    );
    w.assert_safe("sensor noise burst", &rep);
}

#[test]
fn push_beyond_the_tilt_limit_hands_over_to_the_fallback() {
    let (rep, w) = run_with_fault(
        "push",
        "{kind: push, at_s: 3.0, duration_s: 0.2, force_n: [0.0, 60.0, 0.0]}",
        6.0,
        "  max_tilt_rad: 0.15\n",
    );
    w.assert_safe("push", &rep);
    let (_, cause) = fallback_transition(&rep);
    assert_eq!(cause, Cause::Attitude);
}

#[test]
fn motor_weakness_does_not_bring_the_robot_down() {
    let (rep, w) = run_with_fault(
        "weak",
        "{kind: motor_weakness, at_s: 3.0, duration_s: 2.0, strength: 0.5}",
        6.0,
        "",
    );
    w.assert_safe("motor weakness", &rep);
}

#[test]
fn latency_spike_is_counted_and_ridden_out() {
    let (rep, w) = run_with_fault(
        "spike",
        "{kind: latency_spike, at_s: 3.0, duration_ms: 20.0}",
        6.0,
        "",
    );
    w.assert_safe("latency spike", &rep);
    assert!(rep.overruns >= 1);
}

#[test]
fn estop_goes_to_safe_stop_in_the_same_cycle_and_reset_needs_the_operator() {
    let (rep, w) = run_with_fault(
        "estop",
        "{kind: estop, at_s: 3.0}\n  - {kind: reset, at_s: 3.5}",
        5.0,
        "",
    );
    assert!(w.bad_commands.is_empty(), "{:?}", w.bad_commands);
    let t: Vec<_> = rep
        .supervisor
        .transitions
        .iter()
        .map(|t| (t.transition.cycle, t.transition.to, t.transition.cause))
        .collect();
    assert_eq!(
        t,
        vec![
            (1500, Mode::SafeStop, Cause::EStop),
            (1750, Mode::Policy, Cause::Reset)
        ]
    );
    assert_eq!(w.modes[1500], Mode::SafeStop);
    assert_eq!(rep.final_mode, Mode::Policy);
}

#[test]
fn a_payload_dropped_on_the_base_loads_the_legs_until_it_is_lifted_off() {
    let text = format!(
        "{}faults:\n  - {{kind: payload, at_s: 3.0, duration_s: 2.0, mass_kg: 6}}\n",
        shipped_text_abs("a1_policy.yaml")
    );
    let cfg = load_text("payload", &text);
    // Mean |τ| over the calves (they carry the weight) and base height, per window.
    let mut sums = [(0.0, 0.0, 0u32); 3];
    let mut probe = |v: &reflex_runtime::driver::CycleView| {
        let w = match v.time_s {
            t if (2.5..3.0).contains(&t) => 0,
            t if (3.5..5.0).contains(&t) => 1,
            t if (5.5..6.0).contains(&t) => 2,
            _ => return,
        };
        let tau: f64 = [2, 5, 8, 11]
            .iter()
            .map(|&j| v.state.joints.effort_nm[j].abs())
            .sum();
        sums[w].0 += tau / 4.0;
        sums[w].1 += v.ground_truth.map_or(0.0, |g| g.base_position_m[2]);
        sums[w].2 += 1;
    };
    let rep = run_observed(&cfg, 6.0, &mut probe);
    let mean = |i: usize| (sums[i].0 / sums[i].2 as f64, sums[i].1 / sums[i].2 as f64);
    let (before, during, after) = (mean(0), mean(1), mean(2));
    // The A1 weighs about 12 kg: 6 kg more is about half as much again on the legs.
    assert!(
        during.0 > 1.3 * before.0,
        "calf torque {before:?} → {during:?}"
    );
    assert!(during.1 < before.1, "base height {before:?} → {during:?}");
    assert!(
        (after.0 - before.0).abs() < 0.15 * before.0,
        "lifted off: {before:?} → {after:?}"
    );
    assert_eq!(
        rep.final_mode,
        Mode::Policy,
        "{:?}",
        rep.supervisor.transitions
    );
}

#[test]
fn simulated_inference_time_delivers_each_result_that_many_cycles_after_its_tick() {
    // Cycles (mod the 10 per policy tick) at which the policy's joint targets change, with the
    // result taken at once and 3 cycles late.
    let phases = |latency: u64| {
        let text = edit(
            &shipped_text_abs("a1_policy.yaml"),
            "sim:\n",
            &format!("sim:\n  policy_latency_cycles: {latency}\n"),
        );
        let cfg = load_text(&format!("latency{latency}"), &text);
        let mut last: Vec<f64> = vec![];
        let mut seen = std::collections::BTreeMap::new();
        let mut probe = |v: &reflex_runtime::driver::CycleView| {
            if v.phase == reflex_policies::Phase::Policy
                && v.cycle > 1500
                && !last.is_empty()
                && last != v.command.position_rad
            {
                *seen.entry(v.cycle % 10).or_insert(0u32) += 1;
            }
            last.clone_from(&v.command.position_rad);
        };
        let rep = run_observed(&cfg, 5.0, &mut probe);
        assert_eq!(
            rep.final_mode,
            Mode::Policy,
            "{:?}",
            rep.supervisor.transitions
        );
        seen
    };
    let now = phases(0);
    let late = phases(3);
    assert_eq!(now.keys().copied().collect::<Vec<_>>(), [0], "{now:?}");
    assert_eq!(late.keys().copied().collect::<Vec<_>>(), [3], "{late:?}");
    assert!(late[&3] >= 90 && now[&0] >= 90, "{now:?} {late:?}");
}
