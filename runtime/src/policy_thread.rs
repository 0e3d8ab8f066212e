//! The policy thread and its link with the RT thread.
//!
//! The RT thread publishes a state snapshot at every policy tick into a triple buffer; the policy
//! thread builds the observation, runs ONNX Runtime and publishes a [`PolicyTarget`] into another
//! triple buffer. On the real-time clock the RT thread never waits for inference: it keeps the
//! last target, and a result that has not arrived one policy period after its tick is counted as
//! late ([`PolicyLink`] owns that accounting; the supervisor acts on it). On the lockstep clock
//! there is no real time to keep, so the RT thread waits (parked) for the policy thread to have
//! handled each tick: simulated runs are deterministic. What a target means for the motors is
//! `reflex_policies::tracking`'s business.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::{JoinHandle, Thread};
use std::time::Duration;

use reflex_hardware::ros::teleop::{monotonic_ns, HumanSample, TwistSample};
use reflex_hardware::RobotState;
use reflex_policies::command::{CommandSource, LiveCommand};
use reflex_policies::intervention::{HumanInput, Intervention};
use reflex_policies::policy::{OnnxPolicy, PolicyTarget};
use reflex_policies::Tick;
use serde::Serialize;
use triple_buffer::{triple_buffer, Input, Output};

use crate::config::ClockKind;
use crate::faults::PolicyFaults;
use crate::rt::{now_ns, sleep_until_ns};
use crate::stats::{LatencyHistogram, LatencySummaryUs};

/// A state snapshot for policy tick `seq` (RT → policy thread).
#[derive(Debug, Clone)]
struct Snapshot {
    seq: u64,
    state: RobotState,
    /// When the RT thread published it (monotonic ns).
    published_ns: u64,
}

/// A target with the times of its tick (policy thread → RT).
#[derive(Debug, Clone)]
struct Published {
    target: PolicyTarget,
    /// The tick's snapshot publication (monotonic ns, the RT thread's clock).
    snapshot_ns: u64,
    /// The policy thread started on it.
    started_ns: u64,
    /// Observation building and command lookup (ns): the step less its inference.
    observation_ns: u64,
    /// The policy thread published it.
    published_ns: u64,
}

/// The stages of a policy tick, from the RT thread's snapshot to its pick-up of the result.
#[derive(Debug, Clone, Serialize)]
pub struct TickBudgetReport {
    /// Snapshot → the policy thread starts on it (its wake-up and scheduling).
    pub wake_us: LatencySummaryUs,
    /// Observation building.
    pub observation_us: LatencySummaryUs,
    /// Inference (all models).
    pub inference_us: LatencySummaryUs,
    /// Result published → picked up by an RT cycle.
    pub handoff_us: LatencySummaryUs,
    /// Snapshot → pick-up: the whole tick as the RT thread sees it.
    pub total_us: LatencySummaryUs,
}

/// Results that took longer than a policy period, by the stage that took longest; and ticks
/// that never had a result (the policy thread was still busy when the next snapshot replaced
/// theirs).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct LateCauses {
    /// The policy thread started late (scheduling, a busy core).
    pub wake: u64,
    /// Observation building took longest.
    pub observation: u64,
    /// Inference took longest.
    pub inference: u64,
    /// The hand-off back took longest.
    pub handoff: u64,
    /// Ticks skipped entirely.
    pub skipped: u64,
}

#[derive(Debug, Clone, Default)]
struct TickBudget {
    wake: LatencyHistogram,
    observation: LatencyHistogram,
    inference: LatencyHistogram,
    handoff: LatencyHistogram,
    total: LatencyHistogram,
    late: LateCauses,
}

/// State shared between the RT thread, the policy thread and the driver.
#[derive(Debug, Default)]
struct Shared {
    /// Set by the driver to end the policy thread.
    stop: AtomicBool,
    /// CLOCK_MONOTONIC time of RT cycle 0 (ns), 0 until the loop starts.
    loop_start_ns: AtomicU64,
    /// Highest tick the policy thread has finished with (result published or not), +1.
    handled: AtomicU64,
    /// The RT thread (lockstep: woken when a tick is handled).
    rt_thread: OnceLock<Thread>,
    /// The policy thread (lockstep: woken when a snapshot is published).
    policy_thread: OnceLock<Thread>,
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
    /// Human take-overs (a `teleop.ee_twist` section).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interventions: Option<InterventionReport>,
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
    /// Lockstep only: the result of a tick is taken this many cycles after it (< decimation).
    pub lockstep_latency_cycles: u64,
}

/// The running policy thread, as the driver holds it.
pub struct PolicyThread {
    handle: JoinHandle<PolicyThreadReport>,
    shared: Arc<Shared>,
}

impl PolicyThread {
    /// Ends the thread and returns its report.
    pub fn stop(self) -> Result<PolicyThreadReport, String> {
        self.shared.stop.store(true, Ordering::Release);
        self.handle.thread().unpark();
        self.handle
            .join()
            .map_err(|_| "the policy thread panicked".to_string())
    }
}

/// Where each tick's velocity command comes from: the run's command and schedule, and an
/// operator's live stream when there is one.
pub struct Commands {
    /// Fixed command, schedule, limits, timeout.
    pub source: CommandSource,
    /// The teleop node's newest velocity command.
    pub live: Option<Output<TwistSample>>,
    /// The human's end-effector twist and buttons, and the logic that decides when the human
    /// takes over.
    pub human: Option<(Output<HumanSample>, Intervention)>,
}

/// Most intervention spans a report lists (the count of intervention ticks is exact).
pub const MAX_INTERVENTION_SPANS: usize = 1024;

/// A stretch of consecutive policy ticks in which a human's action was executed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct InterventionSpan {
    /// First tick.
    pub from_tick: u64,
    /// Last tick.
    pub to_tick: u64,
}

/// What the humans did over a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct InterventionReport {
    /// Policy ticks whose executed action was a human's.
    pub ticks: u64,
    /// The stretches of them, in order (the first [`MAX_INTERVENTION_SPANS`]).
    pub spans: Vec<InterventionSpan>,
}

impl InterventionReport {
    fn record(&mut self, tick: u64) {
        self.ticks += 1;
        let n = self.spans.len();
        match self.spans.last_mut() {
            Some(s) if s.to_tick + 1 == tick => s.to_tick = tick,
            _ if n < MAX_INTERVENTION_SPANS => self.spans.push(InterventionSpan {
                from_tick: tick,
                to_tick: tick,
            }),
            _ => {}
        }
    }
}

/// Starts the policy thread. Returns it and the RT side's link.
pub fn spawn(
    mut policy: OnnxPolicy,
    n_joints: usize,
    first_state: &RobotState,
    timing: PolicyTiming,
    faults: PolicyFaults,
    mut commands: Commands,
) -> std::io::Result<(PolicyThread, PolicyLink)> {
    let (state_in, mut state_out) = triple_buffer(&Snapshot {
        seq: u64::MAX,
        state: first_state.clone(),
        published_ns: 0,
    });
    let target = policy.new_target(n_joints);
    let (mut target_in, target_out) = triple_buffer(&Published {
        target: target.clone(),
        snapshot_ns: 0,
        started_ns: 0,
        observation_ns: 0,
        published_ns: 0,
    });
    let shared = Arc::new(Shared::default());
    let sh = shared.clone();
    let handle = reflex_hardware::spawn_named("reflex-policy", move || {
        let shared = sh;
        let _ = shared.policy_thread.set(std::thread::current());
        let lockstep = timing.clock == ClockKind::Lockstep;
        let mut work = target;
        let mut inference = LatencyHistogram::new();
        let mut tick_hist = LatencyHistogram::new();
        let (mut ticks, mut errors, mut first_error) = (0u64, 0u64, None);
        let mut interventions = commands.human.as_ref().map(|_| InterventionReport {
            spans: Vec::with_capacity(MAX_INTERVENTION_SPANS),
            ..Default::default()
        });
        let mut next_tick = 0u64;
        while !shared.stop.load(Ordering::Acquire) {
            if lockstep {
                if !state_out.updated() {
                    std::thread::park_timeout(Duration::from_millis(1));
                    continue;
                }
            } else {
                let start = shared.loop_start_ns.load(Ordering::Acquire);
                if start == 0 {
                    std::thread::sleep(Duration::from_micros(200));
                    continue;
                }
                // Half a control period after the tick's cycle starts, the RT thread has
                // published its snapshot.
                if next_tick > 0 {
                    sleep_until_ns(
                        start
                            + next_tick * timing.decimation * timing.period_ns
                            + timing.period_ns / 2,
                    );
                }
            }
            if shared.stop.load(Ordering::Acquire) {
                break;
            }
            let snap = state_out.read();
            if snap.seq == u64::MAX || snap.seq < next_tick {
                // Not observing yet (the robot is not ready), or the RT thread has not
                // published this tick yet (it overran): look again soon.
                std::thread::sleep(Duration::from_micros(100));
                continue;
            }
            if ticks == 0 && errors == 0 {
                policy.reset();
            }
            let seq = snap.seq;
            let t0 = now_ns();
            let tick_s = (seq * timing.decimation * timing.period_ns) as f64 / 1e9;
            let live = commands.live.as_mut().map(|o| {
                let s = o.read();
                LiveCommand {
                    seq: s.seq,
                    received_ns: s.received_ns,
                    command: [s.linear_m_s[0], s.linear_m_s[1], s.angular_rad_s[2]],
                }
            });
            let now = monotonic_ns();
            policy.command = commands.source.at(tick_s, live.as_ref(), now);
            let human = commands.human.as_mut().and_then(|(h, iv)| {
                let s = h.read();
                let input = HumanInput {
                    twist: s.twist,
                    twist_at_ns: (s.twist_seq > 0).then_some(s.twist_received_ns),
                    buttons: s.buttons,
                    buttons_at_ns: (s.joy_seq > 0).then_some(s.joy_received_ns),
                };
                iv.decide(&input, now)
            });
            if let Some(s) = faults.freeze_at(seq) {
                if !lockstep {
                    // A real stall: the thread is stuck for the whole window.
                    sleep_until_ns(t0 + s.ticks * timing.decimation * timing.period_ns);
                }
            } else {
                match policy.step_with(&snap.state, &mut work, human.as_ref()) {
                    Ok(()) => {
                        work.seq = seq;
                        if work.intervention {
                            if let Some(r) = interventions.as_mut() {
                                r.record(seq);
                            }
                        }
                        if faults.non_finite_ticks.contains(&seq) {
                            // Injected: the model "emits" NaN; the RT supervisor must catch it.
                            work.action.fill(f32::NAN);
                            work.joint_target_rad.fill(f64::NAN);
                            if let Some(ee) = work.ee.as_mut() {
                                ee.position_m = [f64::NAN; 3];
                            }
                        }
                        let out = target_in.input_buffer_mut();
                        out.target.copy_from(&work);
                        out.snapshot_ns = snap.published_ns;
                        out.started_ns = t0;
                        out.published_ns = now_ns();
                        out.observation_ns =
                            (out.published_ns - t0).saturating_sub(work.inference_ns);
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
            }
            next_tick = seq + 1;
            shared.handled.store(next_tick, Ordering::Release);
            if lockstep {
                if let Some(t) = shared.rt_thread.get() {
                    t.unpark();
                }
            }
        }
        PolicyThreadReport {
            ticks,
            inference_us: inference.summary_us(),
            tick_us: tick_hist.summary_us(),
            errors,
            first_error,
            interventions,
        }
    })?;
    let link = PolicyLink {
        state_in,
        targets: target_out,
        timing,
        shared: shared.clone(),
        last_seq: u64::MAX,
        late_results: 0,
        consecutive_late: 0,
        max_consecutive_late: 0,
        waited_ns: 0,
        budget: TickBudget::default(),
    };
    Ok((PolicyThread { handle, shared }, link))
}

/// The RT thread's end of the hand-off: publishes snapshots on policy ticks, takes the newest
/// target, and counts late results. Allocation-free after construction.
pub struct PolicyLink {
    state_in: Input<Snapshot>,
    targets: Output<Published>,
    budget: TickBudget,
    timing: PolicyTiming,
    shared: Arc<Shared>,
    last_seq: u64,
    late_results: u64,
    consecutive_late: u64,
    max_consecutive_late: u64,
    waited_ns: u64,
}

impl PolicyLink {
    /// Called at the start of every cycle, after the robot's read. On policy ticks while
    /// `observing`, publishes `state` for the policy (lockstep: and waits until the policy has
    /// handled it); when `counting`, first checks that the previous tick's result has arrived.
    /// Returns whether a new target arrived in this cycle.
    pub fn exchange(
        &mut self,
        tick: &Tick,
        state: &RobotState,
        observing: bool,
        counting: bool,
    ) -> bool {
        if tick.cycle == 0 {
            let _ = self.shared.rt_thread.set(std::thread::current());
            self.shared.loop_start_ns.store(now_ns(), Ordering::Release);
        }
        let lockstep = self.timing.clock == ClockKind::Lockstep;
        let latency = if lockstep {
            self.timing.lockstep_latency_cycles
        } else {
            0
        };
        // Simulated inference time: the tick's result is taken `latency` cycles after it.
        let held = tick.cycle % self.timing.decimation.max(1) < latency;
        let mut arrived = !held && self.pull();
        if tick.policy_tick && observing {
            let k = tick.cycle / self.timing.decimation;
            if counting && k > 0 {
                if self.last_seq == u64::MAX || self.last_seq + 1 < k {
                    self.late_results += 1;
                    self.consecutive_late += 1;
                    self.max_consecutive_late =
                        self.max_consecutive_late.max(self.consecutive_late);
                } else {
                    self.consecutive_late = 0;
                }
            }
            let buf = self.state_in.input_buffer_mut();
            buf.seq = k;
            buf.state.copy_from(state);
            buf.published_ns = now_ns();
            self.state_in.publish();
            if lockstep {
                let t0 = now_ns();
                self.wait_handled(k);
                self.waited_ns = now_ns() - t0;
                if latency == 0 {
                    arrived |= self.pull();
                }
            }
        }
        arrived
    }

    /// Takes the newest target; true if it is one not seen before.
    fn pull(&mut self) -> bool {
        if self.targets.update() {
            let seq = self.targets.output_buffer().target.seq;
            if seq != self.last_seq {
                if self.last_seq != u64::MAX && seq > self.last_seq + 1 {
                    self.budget.late.skipped += seq - self.last_seq - 1;
                }
                self.last_seq = seq;
                self.account(now_ns());
                return true;
            }
        }
        false
    }

    /// Records the stages of the result just taken, and why it was late if it was.
    fn account(&mut self, now: u64) {
        let p = self.targets.output_buffer();
        let b = &mut self.budget;
        let wake = p.started_ns.saturating_sub(p.snapshot_ns);
        let handoff = now.saturating_sub(p.published_ns);
        let total = now.saturating_sub(p.snapshot_ns);
        let inference = p.target.inference_ns;
        b.wake.record_ns(wake);
        b.observation.record_ns(p.observation_ns);
        b.inference.record_ns(inference);
        b.handoff.record_ns(handoff);
        b.total.record_ns(total);
        if total > self.timing.decimation * self.timing.period_ns {
            let stages = [wake, p.observation_ns, inference, handoff];
            let worst = (0..4).max_by_key(|&i| stages[i]).unwrap_or(0);
            let late = &mut b.late;
            *[
                &mut late.wake,
                &mut late.observation,
                &mut late.inference,
                &mut late.handoff,
            ][worst] += 1;
        }
    }

    /// The stages of the ticks so far.
    pub fn budget(&self) -> TickBudgetReport {
        let b = &self.budget;
        TickBudgetReport {
            wake_us: b.wake.summary_us(),
            observation_us: b.observation.summary_us(),
            inference_us: b.inference.summary_us(),
            handoff_us: b.handoff.summary_us(),
            total_us: b.total.summary_us(),
        }
    }

    /// Late results by the stage that made them late.
    pub fn late_causes(&self) -> LateCauses {
        self.budget.late
    }

    /// Lockstep only: parks until the policy thread has handled tick `seq`. Gives up after 10 s
    /// of wall time (a dead policy thread then shows as late results).
    fn wait_handled(&self, seq: u64) {
        if let Some(t) = self.shared.policy_thread.get() {
            t.unpark();
        }
        let give_up = now_ns() + 10_000_000_000;
        while self.shared.handled.load(Ordering::Acquire) <= seq && now_ns() < give_up {
            std::thread::park_timeout(Duration::from_millis(1));
        }
    }

    /// Lockstep only: how long this cycle waited for the policy thread (ns), then 0. The
    /// wait stands in for the policy's own time: it is not part of the RT body's compute.
    pub fn take_wait_ns(&mut self) -> u64 {
        std::mem::take(&mut self.waited_ns)
    }

    /// The newest target (valid once [`Self::has_target`]).
    pub fn target(&self) -> &PolicyTarget {
        &self.targets.output_buffer().target
    }

    /// Whether any target has arrived.
    pub fn has_target(&self) -> bool {
        self.last_seq != u64::MAX
    }

    /// Consecutive late results up to now.
    pub fn consecutive_late(&self) -> u64 {
        self.consecutive_late
    }

    /// Late results so far.
    pub fn late_results(&self) -> u64 {
        self.late_results
    }

    /// Longest run of consecutive late results.
    pub fn max_consecutive_late(&self) -> u64 {
        self.max_consecutive_late
    }
}
