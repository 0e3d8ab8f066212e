//! The supervisor: decides on the RT thread, every cycle, who commands the robot — it alone.
//!
//! Modes: `POLICY` (the start-up controller, then the learned policy once it has taken over) →
//! `FALLBACK` (the certified fallback) → `SAFE_STOP` (joint damping). Within `POLICY` the
//! supervisor also owns the hand-over from start-up to the policy ([`Commander`]). A fault
//! detected in a cycle switches the mode in that same cycle, before the command is written.
//! Going back to `POLICY` takes an explicit reset, except after a transient sensor gap when
//! `recover_from_stale` allows it. Attitude and implausible joints count only when they persist
//! over `persist_samples` new samples. Every transition is logged with its cycle and cause in a
//! fixed-size log: nothing here allocates after construction.

use reflex_hardware::{JointCommand, RobotKind, RobotSpec, RobotState};
use serde::Serialize;

/// Who commands the robot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Mode {
    /// The primary controller / learned policy.
    Policy,
    /// The certified fallback.
    Fallback,
    /// Joint damping only.
    SafeStop,
}

impl Mode {
    /// The name in reports and files: POLICY, FALLBACK, SAFE_STOP.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Policy => "POLICY",
            Mode::Fallback => "FALLBACK",
            Mode::SafeStop => "SAFE_STOP",
        }
    }
}

/// Why the mode changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// The command holds NaN or infinity.
    NonFiniteAction,
    /// A target outside the joint limits (plus margin) or a torque beyond the effort limit.
    ActionOutOfBounds,
    /// The policy's result is late by more than the allowed number of periods.
    PolicyLate,
    /// No new sensor sample for longer than the timeout.
    SensorStale,
    /// A sample with non-finite values or joints beyond their limits plus margin.
    SensorImplausible,
    /// A joint torque at its effort limit for longer than allowed.
    TorqueSaturated,
    /// |roll| or |pitch| beyond the limit.
    Attitude,
    /// The e-stop input.
    EStop,
    /// The e-stop lock topic's heartbeat went silent.
    EStopHeartbeat,
    /// The fallback's own command was not usable.
    FallbackFault,
    /// Explicit reset back to the policy.
    Reset,
    /// A fallback drill: the operator (or a scheduled fault) handed over on purpose.
    Drill,
    /// Back to the policy by itself after a transient sensor gap (`recover_from_stale`).
    Recovered,
}

/// Who writes this cycle's command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commander {
    /// The start-up controller (stand-up or hold), until the policy takes over.
    StartUp,
    /// The learned policy's targets.
    Policy,
    /// The certified fallback.
    Fallback,
    /// Safe stop (joint damping).
    SafeStop,
}

impl Cause {
    /// The cause's snake_case name (as in reports and diagnostics).
    pub fn name(self) -> &'static str {
        match self {
            Cause::NonFiniteAction => "non_finite_action",
            Cause::ActionOutOfBounds => "action_out_of_bounds",
            Cause::PolicyLate => "policy_late",
            Cause::SensorStale => "sensor_stale",
            Cause::SensorImplausible => "sensor_implausible",
            Cause::TorqueSaturated => "torque_saturated",
            Cause::Attitude => "attitude",
            Cause::EStop => "e_stop",
            Cause::EStopHeartbeat => "e_stop_heartbeat",
            Cause::FallbackFault => "fallback_fault",
            Cause::Reset => "reset",
            Cause::Drill => "drill",
            Cause::Recovered => "recovered",
        }
    }
}

/// One mode change.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Transition {
    /// RT cycle in which it happened (the command of that cycle already comes from `to`).
    pub cycle: u64,
    /// Previous mode.
    pub from: Mode,
    /// New mode.
    pub to: Mode,
    /// Why.
    pub cause: Cause,
}

/// Supervisor thresholds (from the config's `safety:` section).
#[derive(Debug, Clone, PartialEq)]
pub struct SupervisorConfig {
    /// Policy results late by more than this many policy periods trigger the fallback.
    pub max_late_periods: u64,
    /// No new sample for this long (s) is stale: the fallback takes over.
    pub sensor_timeout_s: f64,
    /// No new sample for this long (s) is lost: safe stop (a fallback cannot control blind).
    pub sensor_lost_s: f64,
    /// Joints measured beyond their limits by more than this (rad) are implausible.
    pub joint_limit_margin_rad: f64,
    /// Position targets beyond the limits by more than this (rad) are out-of-bounds actions.
    pub target_limit_margin_rad: f64,
    /// A torque at the effort limit this long (s) is saturation.
    pub torque_saturation_s: f64,
    /// |roll| or |pitch| beyond this (rad) triggers the fallback (legged robots).
    pub max_tilt_rad: f64,
    /// |roll| or |pitch| beyond this (rad) triggers a safe stop (legged robots).
    pub safe_stop_tilt_rad: f64,
    /// Largest change of a position target between two cycles (rad): keeps commands continuous.
    pub max_target_step_rad: f64,
    /// Damping in safe stop (N·m·s/rad).
    pub safe_stop_kd: f64,
    /// Consecutive new samples an attitude or joint-limit condition must hold on.
    pub persist_samples: u32,
    /// FALLBACK → POLICY after a sensor gap no longer than `.0` (s) followed by `.1` (s) of
    /// healthy sensors; `None`: only an explicit reset.
    pub recover_from_stale: Option<(f64, f64)>,
}

/// Where an automatic return from a sensor gap stands.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Recovery {
    /// Not eligible (not in FALLBACK for a stale sensor, or a gap too long, or another fault).
    Never,
    /// In FALLBACK for a stale sensor; waiting for samples to return.
    AwaitingSamples,
    /// Samples returned after a short gap; healthy since this loop time (s).
    HealthySince(f64),
}

impl Default for SupervisorConfig {
    /// The defaults of the config's `safety:` section (their one home).
    fn default() -> Self {
        crate::assemble::supervisor_config(&crate::config::SafetySection::default())
    }
}

const LOG_CAPACITY: usize = 64;

/// Whether `span` has passed between `since` and `now` (s), robust to the rounding of loop
/// times computed as cycles × period (a nanosecond of slack).
fn elapsed(now: f64, since: f64, span: f64) -> bool {
    now - since >= span - 1e-9
}

/// The supervisor's state. Owned by the RT loop.
pub struct Supervisor {
    cfg: SupervisorConfig,
    legged: bool,
    mode: Mode,
    log: [Option<Transition>; LOG_CAPACITY],
    logged: usize,
    /// Transitions that did not fit in the log.
    pub dropped_transitions: u64,
    last_cause: Option<Cause>,
    last_stamp_s: f64,
    /// Loop time of the last new sample.
    last_sample_s: Option<f64>,
    saturated_since_s: Option<f64>,
    prev_target: Vec<f64>,
    have_prev: bool,
    /// Cycle in which the policy took over from the start-up controller.
    handover_cycle: Option<u64>,
    /// Cycles spent in each mode (POLICY, FALLBACK, SAFE_STOP).
    pub cycles_in_mode: [u64; 3],
    /// This cycle brought a new sample.
    new_sample: bool,
    /// Gap before this cycle's new sample (s).
    last_gap_s: f64,
    /// Consecutive new samples with joints beyond their limits, tilt beyond the fallback limit,
    /// tilt beyond the safe-stop limit.
    streaks: [u32; 3],
    recovery: Recovery,
}

impl Supervisor {
    /// A supervisor for `spec`'s robot, starting in `POLICY`.
    pub fn new(cfg: SupervisorConfig, spec: &RobotSpec) -> Self {
        Self {
            cfg,
            legged: spec.kind == RobotKind::Legged,
            mode: Mode::Policy,
            log: [None; LOG_CAPACITY],
            logged: 0,
            dropped_transitions: 0,
            last_cause: None,
            last_stamp_s: f64::NEG_INFINITY,
            last_sample_s: None,
            saturated_since_s: None,
            prev_target: vec![0.0; spec.num_joints()],
            have_prev: false,
            handover_cycle: None,
            cycles_in_mode: [0; 3],
            new_sample: false,
            last_gap_s: 0.0,
            streaks: [0; 3],
            recovery: Recovery::Never,
        }
    }

    /// The current mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Who commands in the current mode.
    pub fn commander(&self) -> Commander {
        match (self.mode, self.handover_cycle) {
            (Mode::Policy, None) => Commander::StartUp,
            (Mode::Policy, Some(_)) => Commander::Policy,
            (Mode::Fallback, _) => Commander::Fallback,
            (Mode::SafeStop, _) => Commander::SafeStop,
        }
    }

    /// Hands over from the start-up controller to the policy in `cycle` (once).
    pub fn hand_over(&mut self, cycle: u64) {
        self.handover_cycle.get_or_insert(cycle);
    }

    /// The cycle in which the policy took over, if it has.
    pub fn handover_cycle(&self) -> Option<u64> {
        self.handover_cycle
    }

    /// The logged transitions, in order.
    pub fn transitions(&self) -> impl Iterator<Item = &Transition> {
        self.log.iter().take(self.logged).flatten()
    }

    /// Transitions so far (logged or dropped).
    pub fn transition_count(&self) -> u64 {
        self.logged as u64 + self.dropped_transitions
    }

    /// Cause of the newest transition.
    pub fn last_cause(&self) -> Option<Cause> {
        self.last_cause
    }

    /// Switches to `to` (if not already there) and logs why.
    pub fn switch(&mut self, cycle: u64, to: Mode, cause: Cause) {
        if self.mode == to {
            return;
        }
        let t = Transition {
            cycle,
            from: self.mode,
            to,
            cause,
        };
        if self.logged < LOG_CAPACITY {
            self.log[self.logged] = Some(t);
            self.logged += 1;
        } else {
            self.dropped_transitions += 1;
        }
        self.last_cause = Some(cause);
        self.mode = to;
        self.recovery = match (to, cause) {
            (Mode::Fallback, Cause::SensorStale) if self.cfg.recover_from_stale.is_some() => {
                Recovery::AwaitingSamples
            }
            _ => Recovery::Never,
        };
    }

    /// Counts a condition on a new sample; true once it has held on `persist_samples` of them.
    fn persists(&mut self, k: usize, holds: bool) -> bool {
        if self.new_sample {
            self.streaks[k] = if holds { self.streaks[k] + 1 } else { 0 };
        }
        holds && self.streaks[k] >= self.cfg.persist_samples
    }

    /// FALLBACK → POLICY after a transient sensor gap (see [`SupervisorConfig`]): call once per
    /// cycle after the sensor and attitude checks, with whether they found nothing. Returns
    /// whether it switched.
    pub fn recover(&mut self, cycle: u64, now_s: f64, healthy: bool) -> bool {
        let Some((max_gap_s, healthy_s)) = self.cfg.recover_from_stale else {
            return false;
        };
        if self.mode != Mode::Fallback {
            return false;
        }
        self.recovery = match self.recovery {
            Recovery::AwaitingSamples if self.new_sample => {
                if self.last_gap_s <= max_gap_s + 1e-9 && healthy {
                    Recovery::HealthySince(now_s)
                } else {
                    Recovery::Never
                }
            }
            Recovery::HealthySince(_) if !healthy => Recovery::Never,
            r => r,
        };
        if let Recovery::HealthySince(since) = self.recovery {
            if elapsed(now_s, since, healthy_s) {
                self.switch(cycle, Mode::Policy, Cause::Recovered);
                return true;
            }
        }
        false
    }

    /// Checks the sample of this cycle (`fresh`: the read succeeded) at loop time `now_s`.
    /// Returns the fault it shows, if any.
    pub fn check_sensors(
        &mut self,
        fresh: bool,
        state: &RobotState,
        spec: &RobotSpec,
        now_s: f64,
    ) -> Option<Cause> {
        let new_sample = fresh && state.stamp_s > self.last_stamp_s;
        self.new_sample = new_sample;
        if new_sample {
            self.last_gap_s = self.last_sample_s.map_or(0.0, |last| now_s - last);
            self.last_stamp_s = state.stamp_s;
            self.last_sample_s = Some(now_s);
        }
        if let Some(last) = self.last_sample_s {
            if elapsed(now_s, last, self.cfg.sensor_timeout_s) {
                return Some(Cause::SensorStale);
            }
        }
        let m = self.cfg.joint_limit_margin_rad;
        let mut beyond = false;
        for (i, lim) in spec.limits.iter().enumerate() {
            let q = state.joints.position_rad[i];
            let dq = state.joints.velocity_rad_s[i];
            // A non-finite sample cannot be controlled on: at once, not after it persists.
            if !q.is_finite() || !dq.is_finite() {
                return Some(Cause::SensorImplausible);
            }
            beyond |= q < lim.lower_rad - m || q > lim.upper_rad + m;
        }
        if self.persists(0, beyond) {
            return Some(Cause::SensorImplausible);
        }
        let imu = &state.imu;
        let imu_finite = imu
            .orientation_xyzw
            .iter()
            .chain(&imu.angular_velocity_rad_s)
            .chain(&imu.linear_acceleration_m_s2)
            .all(|v| v.is_finite());
        if !imu_finite {
            return Some(Cause::SensorImplausible);
        }
        None
    }

    /// Whether no new sample has arrived for longer than the lost threshold.
    pub fn sensors_lost(&self, now_s: f64) -> bool {
        self.last_sample_s
            .is_some_and(|last| elapsed(now_s, last, self.cfg.sensor_lost_s))
    }

    /// |roll| or |pitch| of a legged robot's base beyond the fallback limit (`Some(false)`) or
    /// the safe-stop limit (`Some(true)`), held on `persist_samples` new samples. Call after
    /// [`Self::check_sensors`] in the same cycle.
    pub fn check_attitude(&mut self, state: &RobotState) -> Option<bool> {
        if !self.legged {
            return None;
        }
        let (r, p) = state.imu.roll_pitch_rad();
        let tilt = r.abs().max(p.abs());
        let stop = self.persists(2, tilt > self.cfg.safe_stop_tilt_rad);
        let fallback = self.persists(1, tilt > self.cfg.max_tilt_rad);
        if stop {
            Some(true)
        } else if fallback {
            Some(false)
        } else {
            None
        }
    }

    /// Whether a policy's consecutive late results exceed the allowance.
    pub fn late(&self, consecutive_late: u64) -> bool {
        consecutive_late > self.cfg.max_late_periods
    }

    /// Checks a command before it is written: non-finite values, targets beyond the limits plus
    /// margin, feed-forward beyond the effort limit.
    pub fn check_command(&self, cmd: &JointCommand, spec: &RobotSpec) -> Option<Cause> {
        let m = self.cfg.target_limit_margin_rad;
        for (i, lim) in spec.limits.iter().enumerate() {
            let vals = [
                cmd.position_rad[i],
                cmd.velocity_rad_s[i],
                cmd.kp[i],
                cmd.kd[i],
                cmd.effort_ff_nm[i],
            ];
            if vals.iter().any(|v| !v.is_finite()) {
                return Some(Cause::NonFiniteAction);
            }
            let q = cmd.position_rad[i];
            if cmd.kp[i] > 0.0 && (q < lim.lower_rad - m || q > lim.upper_rad + m) {
                return Some(Cause::ActionOutOfBounds);
            }
            if cmd.effort_ff_nm[i].abs() > lim.effort_nm * 1.5 {
                return Some(Cause::ActionOutOfBounds);
            }
        }
        None
    }

    /// Tracks torque saturation (the driver's torque for `cmd` at the measured state reaching the
    /// effort limit) and reports it once it has lasted long enough.
    pub fn check_saturation(
        &mut self,
        cmd: &JointCommand,
        state: &RobotState,
        spec: &RobotSpec,
        now_s: f64,
    ) -> Option<Cause> {
        let saturated = spec.limits.iter().enumerate().any(|(i, lim)| {
            cmd.torque_nm(
                i,
                state.joints.position_rad[i],
                state.joints.velocity_rad_s[i],
            )
            .abs()
                >= lim.effort_nm
        });
        if !saturated {
            self.saturated_since_s = None;
            return None;
        }
        let since = *self.saturated_since_s.get_or_insert(now_s);
        elapsed(now_s, since, self.cfg.torque_saturation_s).then_some(Cause::TorqueSaturated)
    }

    /// Writes the safe-stop command: hold nothing, damp every joint.
    pub fn safe_stop_command(&self, state: &RobotState, cmd: &mut JointCommand) {
        cmd.position_rad.copy_from_slice(&state.joints.position_rad);
        cmd.velocity_rad_s.fill(0.0);
        cmd.kp.fill(0.0);
        cmd.kd.fill(self.cfg.safe_stop_kd);
        cmd.effort_ff_nm.fill(0.0);
    }

    /// Bumpless transfer: limits the change of every position target since the last cycle.
    /// Returns how many targets were limited.
    pub fn limit_target_steps(&mut self, cmd: &mut JointCommand) -> usize {
        let step = self.cfg.max_target_step_rad;
        let mut limited = 0;
        if self.have_prev {
            for (q, prev) in cmd.position_rad.iter_mut().zip(&self.prev_target) {
                let d = *q - prev;
                if d.abs() > step {
                    *q = prev + d.clamp(-step, step);
                    limited += 1;
                }
            }
        }
        self.prev_target.copy_from_slice(&cmd.position_rad);
        self.have_prev = true;
        limited
    }

    /// Counts a cycle in the current mode.
    pub fn count_cycle(&mut self) {
        let k = match self.mode {
            Mode::Policy => 0,
            Mode::Fallback => 1,
            Mode::SafeStop => 2,
        };
        self.cycles_in_mode[k] += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reflex_hardware::{JointLimits, RobotKind};

    fn spec() -> RobotSpec {
        RobotSpec::uniform(
            "t",
            RobotKind::Legged,
            &["a"],
            JointLimits {
                lower_rad: -1.0,
                upper_rad: 1.0,
                velocity_rad_s: 10.0,
                effort_nm: 10.0,
            },
        )
    }

    #[test]
    fn stale_after_the_timeout_and_fresh_again_on_a_new_stamp() {
        let s = spec();
        let mut sup = Supervisor::new(SupervisorConfig::default(), &s);
        let mut st = RobotState::new(&s);
        st.stamp_s = 1.0;
        assert_eq!(sup.check_sensors(true, &st, &s, 0.0), None);
        assert_eq!(
            sup.check_sensors(true, &st, &s, 0.01),
            None,
            "same stamp, not yet stale"
        );
        assert_eq!(
            sup.check_sensors(false, &st, &s, 0.021),
            Some(Cause::SensorStale)
        );
        st.stamp_s = 1.03;
        assert_eq!(sup.check_sensors(true, &st, &s, 0.03), None);
    }

    #[test]
    fn target_steps_are_limited_and_transitions_logged() {
        let s = spec();
        let mut sup = Supervisor::new(SupervisorConfig::default(), &s);
        let mut c = JointCommand::new(&s);
        sup.limit_target_steps(&mut c);
        c.position_rad[0] = 0.5;
        assert_eq!(sup.limit_target_steps(&mut c), 1);
        assert!((c.position_rad[0] - 0.05).abs() < 1e-12);
        sup.switch(7, Mode::Fallback, Cause::PolicyLate);
        sup.switch(8, Mode::Fallback, Cause::Attitude);
        let t: Vec<_> = sup.transitions().collect();
        assert_eq!(t.len(), 1);
        assert_eq!(
            (t[0].cycle, t[0].to, t[0].cause),
            (7, Mode::Fallback, Cause::PolicyLate)
        );
    }

    #[test]
    fn attitude_and_limits_count_only_when_they_persist() {
        let s = spec();
        let mut sup = Supervisor::new(SupervisorConfig::default(), &s);
        let mut st = RobotState::new(&s);
        // Upside down (a 180° roll) and a joint beyond its limit on one sample, then normal.
        let (upside_down, level) = ([1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]);
        let mut sample = |sup: &mut Supervisor, k: u32, q: f64, o: [f64; 4]| {
            st.stamp_s = k as f64 * 0.002;
            st.joints.position_rad[0] = q;
            st.imu.orientation_xyzw = o;
            let now = k as f64 * 0.002;
            (
                sup.check_sensors(true, &st, &s, now),
                sup.check_attitude(&st),
            )
        };
        assert_eq!(sample(&mut sup, 1, 0.0, level), (None, None));
        assert_eq!(
            sample(&mut sup, 2, 1.5, upside_down),
            (None, None),
            "one bad sample"
        );
        assert_eq!(sample(&mut sup, 3, 0.0, level), (None, None));
        assert_eq!(sample(&mut sup, 4, 1.5, upside_down), (None, None));
        assert_eq!(sample(&mut sup, 5, 1.5, upside_down), (None, None));
        assert_eq!(
            sample(&mut sup, 6, 1.5, upside_down),
            (Some(Cause::SensorImplausible), Some(true)),
            "three in a row"
        );
        // A non-finite sample cannot wait.
        assert_eq!(
            sample(&mut sup, 7, f64::NAN, level).0,
            Some(Cause::SensorImplausible)
        );
    }

    #[test]
    fn a_short_sensor_gap_recovers_after_healthy_samples_a_long_one_does_not() {
        let s = spec();
        let cfg = SupervisorConfig {
            recover_from_stale: Some((0.1, 0.5)),
            ..SupervisorConfig::default()
        };
        let run = |gap_s: f64| {
            let mut sup = Supervisor::new(cfg.clone(), &s);
            let mut st = RobotState::new(&s);
            let mut recovered_at = None;
            let mut stamp = 0.0;
            for cycle in 0..1000u64 {
                let t = cycle as f64 * 0.002;
                let gap = (1.0..1.0 + gap_s).contains(&t);
                if !gap {
                    stamp += 0.002;
                    st.stamp_s = stamp;
                }
                let sensor = sup.check_sensors(!gap, &st, &s, t);
                if sup.mode() == Mode::Policy {
                    if let Some(c) = sensor {
                        sup.switch(cycle, Mode::Fallback, c);
                    }
                }
                if sup.recover(cycle, t, sensor.is_none()) {
                    recovered_at = Some(t);
                }
            }
            (recovered_at, sup.mode())
        };
        let (at, mode) = run(0.05);
        let at = at.expect("a 50 ms gap recovers");
        assert!((1.549..1.56).contains(&at), "recovered at {at} s");
        assert_eq!(mode, Mode::Policy);
        assert_eq!(
            run(0.15),
            (None, Mode::Fallback),
            "a 150 ms gap needs a reset"
        );
    }

    #[test]
    fn non_finite_and_out_of_range_commands_are_faults() {
        let s = spec();
        let sup = Supervisor::new(SupervisorConfig::default(), &s);
        let mut c = JointCommand::new(&s);
        c.kp[0] = 10.0;
        assert_eq!(sup.check_command(&c, &s), None);
        c.position_rad[0] = 1.4;
        assert_eq!(sup.check_command(&c, &s), Some(Cause::ActionOutOfBounds));
        c.position_rad[0] = f64::NAN;
        assert_eq!(sup.check_command(&c, &s), Some(Cause::NonFiniteAction));
    }
}
