//! The policy thread and its hand-off with the RT thread.
//!
//! The RT thread publishes a state snapshot at every policy tick into a triple buffer; the policy
//! thread builds the observation, runs ONNX Runtime and publishes a [`PolicyTarget`] into another
//! triple buffer. The RT thread never waits for inference on the real-time clock: it holds (or
//! interpolates) the last target, and a result that has not arrived one policy period after its
//! tick is counted as late. On the lockstep clock there is no real time to keep, so the RT thread
//! waits for the policy thread to have handled each tick: runs are deterministic.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use reflex_hardware::{JointCommand, RobotState};
use reflex_policies::cartesian::CartesianImpedance;
use reflex_policies::policy::{OnnxPolicy, PolicyTarget};
use reflex_policies::{Controller, Tick};
use serde::Serialize;
use triple_buffer::{triple_buffer, Input, Output};

use crate::config::ClockKind;
use crate::rt::{now_ns, sleep_until_ns};
use crate::stats::{LatencyHistogram, LatencySummaryUs};

/// A state snapshot for policy tick `seq` (RT → policy thread).
#[derive(Debug, Clone)]
pub struct Snapshot {
    seq: u64,
    state: RobotState,
}

/// State shared between the RT thread, the policy thread and the driver.
#[derive(Debug)]
pub struct PolicyShared {
    /// Set by the driver to end the policy thread.
    pub stop: AtomicBool,
    /// CLOCK_MONOTONIC time of RT cycle 0 (ns), 0 until the loop starts.
    pub loop_start_ns: AtomicU64,
    /// Highest tick the policy thread has finished with (result published or not), +1.
    pub handled: AtomicU64,
    /// Policy ticks whose result had not arrived one policy period later (written by RT).
    pub late_results: AtomicU64,
    /// Longest run of consecutive late results (written by RT).
    pub max_consecutive_late: AtomicU64,
    /// Cycle at which the policy took over; `u64::MAX` until it does (written by RT).
    pub handover_cycle: AtomicU64,
}

impl Default for PolicyShared {
    fn default() -> Self {
        Self {
            stop: AtomicBool::new(false),
            loop_start_ns: AtomicU64::new(0),
            handled: AtomicU64::new(0),
            late_results: AtomicU64::new(0),
            max_consecutive_late: AtomicU64::new(0),
            handover_cycle: AtomicU64::new(u64::MAX),
        }
    }
}

/// A stall of the policy thread injected on purpose (`policy_stall` fault).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PolicyStall {
    /// First policy tick that stalls.
    pub from_tick: u64,
    /// Ticks it lasts.
    pub ticks: u64,
}

/// Faults injected into the policy thread.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PolicyFaults {
    /// Windows in which the thread produces nothing.
    pub freezes: Vec<PolicyStall>,
    /// Ticks whose published target is NaN (the model "emits" a non-finite action).
    pub non_finite_from_tick: Vec<u64>,
}

/// What the policy thread reports when it ends.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyThreadReport {
    /// Ticks computed.
    pub ticks: u64,
    /// Inference time per tick (all models), µs.
    pub inference_us: LatencySummaryUs,
    /// Whole tick (observation + inference + hand-off), µs.
    pub tick_us: LatencySummaryUs,
    /// Ticks whose inference failed (no target published).
    pub errors: u64,
    /// The first error message, if any.
    pub first_error: Option<String>,
}

/// Timing the policy thread needs from the loop.
#[derive(Debug, Clone, Copy)]
pub struct PolicyTiming {
    /// The loop's clock.
    pub clock: ClockKind,
    /// Control cycles per policy tick.
    pub decimation: u64,
    /// Control period (ns).
    pub period_ns: u64,
}

/// Starts the policy thread. Returns the RT side's ends of the slots.
pub fn spawn(
    mut policy: OnnxPolicy,
    n_joints: usize,
    first_state: &RobotState,
    timing: PolicyTiming,
    faults: PolicyFaults,
    shared: Arc<PolicyShared>,
) -> std::io::Result<(JoinHandle<PolicyThreadReport>, PolicyLink)> {
    let (state_in, mut state_out) = triple_buffer(&Snapshot {
        seq: u64::MAX,
        state: first_state.clone(),
    });
    let target = policy.new_target(n_joints);
    let (mut target_in, target_out) = triple_buffer(&target);
    let shared_rt = shared.clone();
    let handle = std::thread::Builder::new()
        .name("reflex-policy".into())
        .spawn(move || {
            let mut work = target;
            let mut inference = LatencyHistogram::new();
            let mut tick_hist = LatencyHistogram::new();
            let (mut ticks, mut errors, mut first_error) = (0u64, 0u64, None);
            let mut next_tick = 0u64;
            while !shared.stop.load(Ordering::Acquire) {
                // Wait for the snapshot of `next_tick`.
                match timing.clock {
                    ClockKind::Realtime => {
                        let start = shared.loop_start_ns.load(Ordering::Acquire);
                        if start == 0 {
                            std::thread::sleep(std::time::Duration::from_micros(200));
                            continue;
                        }
                        // Half a control period after the tick's cycle starts, the RT thread has
                        // published its snapshot.
                        let due = start
                            + next_tick * timing.decimation * timing.period_ns
                            + timing.period_ns / 2;
                        if next_tick > 0 {
                            sleep_until_ns(due);
                        }
                    }
                    ClockKind::Lockstep => {
                        if !state_out.updated() {
                            std::thread::yield_now();
                            continue;
                        }
                    }
                }
                if shared.stop.load(Ordering::Acquire) {
                    break;
                }
                let snap = state_out.read();
                if snap.seq == u64::MAX {
                    // The policy has not started yet (the robot is not ready).
                    std::thread::sleep(std::time::Duration::from_millis(1));
                    continue;
                }
                if snap.seq < next_tick {
                    // The RT thread has not published this tick yet (it overran): look again soon.
                    std::thread::sleep(std::time::Duration::from_micros(100));
                    continue;
                }
                if ticks == 0 && errors == 0 {
                    policy.reset();
                }
                let seq = snap.seq;
                let t0 = now_ns();
                let stalled = faults
                    .freezes
                    .iter()
                    .find(|s| seq >= s.from_tick && seq < s.from_tick + s.ticks);
                if let Some(s) = stalled {
                    if timing.clock == ClockKind::Realtime {
                        // A real stall: the thread is stuck for the whole window.
                        let until = t0 + s.ticks * timing.decimation * timing.period_ns;
                        sleep_until_ns(until);
                    }
                    next_tick = seq + 1;
                    shared.handled.store(next_tick, Ordering::Release);
                    continue;
                }
                match policy.step(&snap.state, &mut work) {
                    Ok(()) => {
                        work.seq = seq;
                        if faults.non_finite_from_tick.contains(&seq) {
                            // Injected: the model "emits" NaN; the RT supervisor must catch it.
                            work.action.fill(f32::NAN);
                            work.joint_target_rad.fill(f64::NAN);
                            if let Some(ee) = work.ee.as_mut() {
                                ee.position_m = [f64::NAN; 3];
                            }
                        }
                        target_in.input_buffer_mut().copy_from(&work);
                        target_in.publish();
                        inference.record_ns(work.inference_ns);
                        ticks += 1;
                    }
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| e.to_string());
                    }
                }
                tick_hist.record_ns(now_ns() - t0);
                next_tick = seq + 1;
                shared.handled.store(next_tick, Ordering::Release);
            }
            PolicyThreadReport {
                ticks,
                inference_us: inference.summary_us(),
                tick_us: tick_hist.summary_us(),
                errors,
                first_error,
            }
        })?;
    let link = PolicyLink {
        state_in,
        targets: target_out,
        timing,
        shared: shared_rt,
    };
    Ok((handle, link))
}

/// The RT thread's ends of the hand-off with the policy thread.
pub struct PolicyLink {
    state_in: Input<Snapshot>,
    targets: Output<PolicyTarget>,
    timing: PolicyTiming,
    shared: Arc<PolicyShared>,
}

/// What the RT thread executes with a policy: a start-up controller until the robot is ready and
/// the first target has arrived, then the policy's targets (joint PD, or Cartesian impedance).
pub struct PolicyFollower {
    startup: Box<dyn Controller>,
    state_in: Input<Snapshot>,
    targets: Output<PolicyTarget>,
    impedance: Option<CartesianImpedance>,
    shared: Arc<PolicyShared>,
    timing: PolicyTiming,
    following: bool,
    interpolate: bool,
    prev_target: Vec<f64>,
    last_seq: u64,
    arrived_cycle: u64,
    late_results: u64,
    max_consecutive_late: u64,
    consecutive_late: u64,
}

impl PolicyFollower {
    /// Wraps `startup` (run until it reports `holding` and the first target has arrived).
    pub fn new(
        startup: Box<dyn Controller>,
        link: PolicyLink,
        impedance: Option<CartesianImpedance>,
        interpolate: bool,
        n_joints: usize,
    ) -> Self {
        Self {
            startup,
            state_in: link.state_in,
            targets: link.targets,
            impedance,
            shared: link.shared,
            timing: link.timing,
            following: false,
            interpolate,
            prev_target: vec![0.0; n_joints],
            last_seq: u64::MAX,
            arrived_cycle: 0,
            late_results: 0,
            max_consecutive_late: 0,
            consecutive_late: 0,
        }
    }

    /// Whether the policy drives the robot now.
    pub fn following(&self) -> bool {
        self.following
    }

    fn publish_snapshot(&mut self, seq: u64, state: &RobotState) {
        let buf = self.state_in.input_buffer_mut();
        buf.seq = seq;
        buf.state.copy_from(state);
        self.state_in.publish();
    }

    /// Takes the newest target, if one arrived; interpolation restarts from `current_q`.
    fn pull(&mut self, cycle: u64, current_q: &[f64]) {
        if self.targets.update() {
            let seq = self.targets.output_buffer().seq;
            if seq != self.last_seq {
                self.prev_target.copy_from_slice(current_q);
                self.last_seq = seq;
                self.arrived_cycle = cycle;
            }
        }
    }

    /// Lockstep only: waits until the policy thread has handled tick `seq` (no real time to
    /// keep, and it makes runs deterministic). Gives up after 10 s of wall time.
    fn wait_handled(&self, seq: u64) {
        let give_up = now_ns() + 10_000_000_000;
        while self.shared.handled.load(Ordering::Acquire) <= seq && now_ns() < give_up {
            std::thread::yield_now();
        }
    }
}

impl Controller for PolicyFollower {
    fn reset(&mut self, state: &RobotState) {
        self.startup.reset(state);
        self.prev_target.copy_from_slice(&state.joints.position_rad);
    }

    fn update(&mut self, tick: &Tick, state: &RobotState, cmd: &mut JointCommand) {
        if tick.cycle == 0 {
            self.shared.loop_start_ns.store(now_ns(), Ordering::Release);
        }
        self.pull(tick.cycle, &cmd.position_rad);
        // The policy starts observing once the start-up controller has the robot ready: its
        // history and last action begin there, as a training episode does.
        let ready = self.following || self.startup.phase() == "holding";
        if tick.policy_tick && ready {
            let k = tick.cycle / self.timing.decimation;
            // The previous tick's result is due by now.
            if self.following && k > 0 {
                if self.last_seq == u64::MAX || self.last_seq + 1 < k {
                    self.late_results += 1;
                    self.consecutive_late += 1;
                    self.max_consecutive_late =
                        self.max_consecutive_late.max(self.consecutive_late);
                    self.shared
                        .late_results
                        .store(self.late_results, Ordering::Relaxed);
                    self.shared
                        .max_consecutive_late
                        .store(self.max_consecutive_late, Ordering::Relaxed);
                } else {
                    self.consecutive_late = 0;
                }
            }
            self.publish_snapshot(k, state);
            if self.timing.clock == ClockKind::Lockstep {
                self.wait_handled(k);
                self.pull(tick.cycle, &cmd.position_rad);
            }
        }
        if !self.following {
            self.startup.update(tick, state, cmd);
            let ready = self.startup.phase() == "holding" && self.last_seq != u64::MAX;
            if !ready {
                return;
            }
            self.following = true;
            self.shared
                .handover_cycle
                .store(tick.cycle, Ordering::Release);
            self.prev_target.copy_from_slice(&cmd.position_rad);
        }
        let t = self.targets.output_buffer();
        match (&mut self.impedance, &t.ee) {
            (Some(imp), Some(ee)) => imp.command(ee, state, cmd),
            _ => {
                let frac = if self.interpolate {
                    ((tick.cycle - self.arrived_cycle + 1) as f64 / self.timing.decimation as f64)
                        .min(1.0)
                } else {
                    1.0
                };
                for i in 0..cmd.position_rad.len() {
                    cmd.position_rad[i] =
                        self.prev_target[i] + frac * (t.joint_target_rad[i] - self.prev_target[i]);
                }
                cmd.velocity_rad_s.fill(0.0);
                cmd.kp.copy_from_slice(&t.kp);
                cmd.kd.copy_from_slice(&t.kd);
                cmd.effort_ff_nm.fill(0.0);
            }
        }
    }

    fn phase(&self) -> &'static str {
        if self.following {
            "policy"
        } else {
            self.startup.phase()
        }
    }

    fn consecutive_late(&self) -> u64 {
        self.consecutive_late
    }
}
