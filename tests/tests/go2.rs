//! A real policy from the field: the Unitree Go2 under rl_sar's HIMLoco policy (imported with
//! `reflex import`, never retuned), in the built-in Rapier simulator. Reference: the same
//! policy in MuJoCo 4.0 on the same URDF walks 0.46 m/s at a 0.5 m/s command, stands at zero
//! and turns 0.43 rad/s at (0.5, 0, 0.5) (policies/models/go2_himloco/README.md).

use reflex_hardware::roll_pitch_rad;
use reflex_policies::Phase;
use reflex_runtime::driver::outcome::planar_velocity;
use reflex_runtime::driver::{CycleView, Observer};
use reflex_runtime::supervisor::Mode;
use reflex_tests::{edit, load_text, run_observed, shipped_text_abs};

/// Measures the walk over a window of loop time after the policy took over.
#[derive(Default)]
struct Walk {
    handover_s: Option<f64>,
    /// Window start and end, relative to the hand-over (s).
    from_s: f64,
    to_s: f64,
    samples: usize,
    forward: f64,
    yaw_rate: f64,
    max_tilt_rad: f64,
    min_height_m: f64,
    left_policy: bool,
}

impl Walk {
    fn window(from_s: f64, to_s: f64) -> Self {
        Walk {
            from_s,
            to_s,
            min_height_m: f64::INFINITY,
            ..Default::default()
        }
    }
    fn mean_forward(&self) -> f64 {
        self.forward / self.samples.max(1) as f64
    }
    fn mean_yaw_rate(&self) -> f64 {
        self.yaw_rate / self.samples.max(1) as f64
    }
}

impl Observer for Walk {
    fn on_cycle(&mut self, v: &CycleView) {
        if v.phase == Phase::Policy && self.handover_s.is_none() {
            self.handover_s = Some(v.time_s);
        }
        let Some(h) = self.handover_s else { return };
        self.left_policy |= v.mode != Mode::Policy;
        let gt = v.ground_truth.expect("simulator");
        let (r, p) = roll_pitch_rad(gt.base_orientation_xyzw);
        self.max_tilt_rad = self.max_tilt_rad.max(r.abs()).max(p.abs());
        self.min_height_m = self.min_height_m.min(gt.base_position_m[2]);
        let t = v.time_s - h;
        if t >= self.from_s && t < self.to_s {
            let (fwd, _, yaw) = planar_velocity(&gt);
            self.forward += fwd;
            self.yaw_rate += yaw;
            self.samples += 1;
        }
    }
}

/// go2_policy.yaml at `command`, measured from 2 s after the hand-over for 8 s.
fn walk(tag: &str, command: &str) -> Walk {
    let text = edit(
        &shipped_text_abs("go2_policy.yaml"),
        "  command: [0.5, 0.0, 0.0]",
        &format!("  command: {command}"),
    );
    let cfg = load_text(tag, &text);
    let mut w = Walk::window(2.0, 10.0);
    let rep = run_observed(&cfg, 12.0, &mut w);
    let h = w.handover_s.expect("the policy took over");
    assert!(h < 2.0, "{tag}: hand-over at {h} s");
    assert!(
        rep.supervisor.transitions.is_empty(),
        "{tag}: {:?}",
        rep.supervisor.transitions
    );
    assert!(!w.left_policy);
    assert_eq!(w.samples, 4000, "{tag}: 8 s at 500 Hz measured");
    assert!(w.min_height_m > 0.2, "{tag}: fell to {} m", w.min_height_m);
    assert!(w.max_tilt_rad < 0.3, "{tag}: tilted {} rad", w.max_tilt_rad);
    w
}

#[test]
fn go2_walks_at_the_commanded_speed() {
    let w = walk("go2_walk", "[0.5, 0.0, 0.0]");
    assert!(
        (0.35..=0.60).contains(&w.mean_forward()),
        "mean forward speed {} m/s at a 0.5 m/s command (MuJoCo: 0.46)",
        w.mean_forward()
    );
}

#[test]
fn go2_stands_at_zero_command() {
    let w = walk("go2_zero", "[0.0, 0.0, 0.0]");
    assert!(
        w.mean_forward().abs() < 0.1,
        "drifts at {} m/s",
        w.mean_forward()
    );
}

#[test]
fn go2_turns_while_walking() {
    let w = walk("go2_turn", "[0.5, 0.0, 0.5]");
    assert!(
        w.mean_yaw_rate() >= 0.25,
        "yaw rate {} rad/s at 0.5 rad/s commanded (MuJoCo: 0.43)",
        w.mean_yaw_rate()
    );
}

#[test]
fn go2_follows_a_command_schedule_stand_walk_stop() {
    let text = edit(
        &shipped_text_abs("go2_policy.yaml"),
        "  command: [0.5, 0.0, 0.0]",
        "  command: [0.0, 0.0, 0.0]\n  command_schedule:\n    - {at_s: 5.0, command: [0.5, 0.0, 0.0]}\n    - {at_s: 11.0, command: [0.0, 0.0, 0.0]}",
    );
    let cfg = load_text("go2_schedule", &text);
    let rep = reflex_tests::run_for(&cfg, 15.0);
    assert!(
        rep.supervisor.transitions.is_empty(),
        "{:?}",
        rep.supervisor.transitions
    );
    let mean = |from: f64, to: f64| {
        let rows: Vec<f64> = rep
            .trace
            .iter()
            .filter(|r| r.t_s >= from && r.t_s < to)
            .map(|r| r.forward_speed_m_s.unwrap())
            .collect();
        rows.iter().sum::<f64>() / rows.len() as f64
    };
    let (stand, walk, stop) = (mean(3.0, 5.0), mean(7.0, 11.0), mean(13.0, 15.0));
    assert!(stand.abs() < 0.1, "standing before the walk: {stand} m/s");
    assert!((0.35..=0.60).contains(&walk), "walking: {walk} m/s");
    assert!(stop.abs() < 0.1, "stopped after: {stop} m/s");
    let cmd_at = |t: f64| {
        rep.trace
            .iter()
            .find(|r| r.t_s >= t)
            .and_then(|r| r.command)
            .unwrap()
    };
    assert_eq!(cmd_at(4.9)[0], 0.0);
    assert_eq!(cmd_at(5.1)[0], 0.5, "the schedule reached the observation");
    assert_eq!(cmd_at(11.1)[0], 0.0);
}
