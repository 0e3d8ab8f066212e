//! The supervisor and the Go2's certified fallback while the HIMLoco policy walks at 0.5 m/s:
//! every fault type at 5 s (the policy has walked for 3.5 s), the robot stays up (e-stop
//! excepted: its safe stop lets the robot down, damped), every command inside the limits and
//! continuous, each hand-over in the cycle the fault is seen.

use reflex_runtime::driver::report::RunReport;
use reflex_runtime::supervisor::{Cause, Mode};
use reflex_tests::{edit, load_text, run_observed, shipped_text_abs, spec_of, SafetyWatch};

/// The walking config with `fault`, and `edits` (from, to) applied to its text.
fn walk_with_fault(tag: &str, fault: &str, edits: &[(&str, &str)]) -> (RunReport, SafetyWatch) {
    let mut text = shipped_text_abs("go2_policy.yaml");
    for (from, to) in edits {
        text = edit(&text, from, to);
    }
    let cfg = load_text(tag, &format!("{text}faults:\n  - {fault}\n"));
    // From 2 s on (the stand-up is over) the base stays above 0.15 m (lying: 0.09 m).
    let mut w = SafetyWatch::new(spec_of("go2"), 1000, 0.15);
    let rep = run_observed(&cfg, 9.0, &mut w);
    (rep, w)
}

fn first_transition(rep: &RunReport) -> (u64, Mode, Cause) {
    let t = &rep
        .supervisor
        .transitions
        .first()
        .expect("a transition")
        .transition;
    (t.cycle, t.to, t.cause)
}

#[test]
fn the_fallback_catches_the_walking_go2_when_the_policy_fails() {
    for (fault, cycle, cause) in [
        (
            "{kind: non_finite_action, at_s: 5.0}",
            2500,
            Cause::NonFiniteAction,
        ),
        (
            "{kind: policy_freeze, at_s: 5.0, duration_s: 1.0}",
            2540,
            Cause::PolicyLate,
        ),
        (
            "{kind: sensor_dropout, at_s: 5.0, duration_s: 0.15}",
            2509,
            Cause::SensorStale,
        ),
    ] {
        let (rep, w) = walk_with_fault("go2_fault", fault, &[]);
        w.assert_safe(fault, &rep);
        assert_eq!(
            first_transition(&rep),
            (cycle, Mode::Fallback, cause),
            "{fault}"
        );
        assert_eq!(rep.final_mode, Mode::Fallback, "{fault}");
        // The fallback stands the robot: the last second at rest, at standing height.
        let last: Vec<_> = rep.trace.iter().filter(|r| r.t_s >= 8.0).collect();
        let speed = last
            .iter()
            .map(|r| r.forward_speed_m_s.unwrap().abs())
            .fold(0.0, f64::max);
        let h = last
            .iter()
            .map(|r| r.base_height_m.unwrap())
            .fold(f64::INFINITY, f64::min);
        assert!(
            speed < 0.05 && h > 0.25,
            "{fault}: {speed} m/s at {h} m under the fallback"
        );
    }
}

#[test]
fn a_push_beyond_the_tilt_limit_hands_the_walking_go2_to_the_fallback() {
    let (rep, w) = walk_with_fault(
        "go2_push",
        "{kind: push, at_s: 5.0, duration_s: 0.2, force_n: [0.0, 60.0, 0.0]}",
        &[("  max_tilt_rad: 1.0", "  max_tilt_rad: 0.1")],
    );
    w.assert_safe("push", &rep);
    let (_, to, cause) = first_transition(&rep);
    assert_eq!((to, cause), (Mode::Fallback, Cause::Attitude));
}

#[test]
fn disturbances_the_policy_rides_out_while_walking() {
    for fault in [
        "{kind: push, at_s: 5.0, duration_s: 0.2, force_n: [0.0, 60.0, 0.0]}",
        "{kind: motor_weakness, at_s: 5.0, duration_s: 2.0, strength: 0.6}",
        "{kind: latency_spike, at_s: 5.0, duration_ms: 20.0}",
        "{kind: sensor_noise_burst, at_s: 5.0, duration_s: 1.0, joint_position_rad: 0.01, joint_velocity_rad_s: 0.5, gyro_rad_s: 0.1}",
    ] {
        let (rep, w) = walk_with_fault("go2_ride", fault, &[]);
        w.assert_safe(fault, &rep);
        assert!(rep.supervisor.transitions.is_empty(), "{fault}: {:?}", rep.supervisor.transitions);
    }
}

#[test]
fn an_e_stop_while_walking_stops_in_the_same_cycle_and_reset_resumes() {
    let (rep, w) = walk_with_fault(
        "go2_estop",
        "{kind: estop, at_s: 5.0}\n  - {kind: reset, at_s: 5.2}",
        &[],
    );
    w.assert_commands("e-stop", &rep);
    let t: Vec<_> = rep
        .supervisor
        .transitions
        .iter()
        .map(|t| (t.transition.cycle, t.transition.to, t.transition.cause))
        .collect();
    assert_eq!(
        t,
        vec![
            (2500, Mode::SafeStop, Cause::EStop),
            (2600, Mode::Policy, Cause::Reset)
        ]
    );
    assert_eq!(w.modes[2500], Mode::SafeStop);
}

#[test]
fn the_go2_walks_onto_rough_ground_and_climbs_its_steps() {
    // Base height above the ground plane while walking at 0.5 m/s, on flat and on 0.4 m tiles
    // raised by up to 8 cm: over the tiles (x > 0.6 m) the base rides higher.
    let height_over_tiles = |tag: &str, rough: &str| {
        let text = edit(
            &shipped_text_abs("go2_policy.yaml"),
            "  seed: 1\n",
            &format!("  seed: 1\n  rough_terrain_m: {rough}\n"),
        );
        let cfg = load_text(tag, &text);
        let (mut sum, mut n, mut furthest) = (0.0, 0u32, 0.0f64);
        let mut probe = |v: &reflex_runtime::driver::CycleView| {
            if let Some(g) = v.ground_truth {
                furthest = furthest.max(g.base_position_m[0]);
                if g.base_position_m[0] > 1.2 && v.time_s > 3.0 {
                    sum += g.base_position_m[2];
                    n += 1;
                }
            }
        };
        let rep = run_observed(&cfg, 8.0, &mut probe);
        assert!(
            n > 100,
            "{tag}: never walked over the tiles (furthest x {furthest:.2} m)"
        );
        assert_eq!(
            rep.final_mode,
            Mode::Policy,
            "{tag}: {:?}",
            rep.supervisor.transitions
        );
        sum / n as f64
    };
    let flat = height_over_tiles("flat", "0.0");
    let rough = height_over_tiles("rough", "0.08");
    assert!(
        rough > flat + 0.02,
        "base height over the tiles: flat {flat:.3} m, rough {rough:.3} m"
    );
}
