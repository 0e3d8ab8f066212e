//! What starts each cycle and how its timing is accounted: the one home of waiting, overruns,
//! missed deadlines and missed cycles.
//!
//! - **Lockstep**: robot time is simulated; each cycle runs as soon as the previous one and its
//!   physics end. A cycle overruns when its body used more *CPU time* than a control period
//!   (what it would need on the robot): a thread preempted by the machine is not an overrun of
//!   robot time.
//! - **Clock**: absolute deadlines on CLOCK_MONOTONIC (`clock_nanosleep`, TIMER_ABSTIME); the
//!   wake-up latency is recorded; a cycle that ends after the next deadline is an overrun, and
//!   the deadlines it skipped are counted as missed.
//! - **Robot-triggered**: the robot's state starts the cycle (libfranka, Unitree low-level); no
//!   state within the timeout is a missed cycle (the supervisor sees stale sensors); the
//!   cycle's deadline is one period after the state's arrival.

use crate::plant::{Plant, SpinWindow};
use crate::rt::{now_ns, sleep_until_ns};
use crate::stats::LoopStats;

/// The three ways a cycle starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// As fast as possible, robot time simulated.
    Lockstep,
    /// The local clock, on absolute deadlines.
    Clock,
    /// The robot's state arrival, with a timeout.
    RobotState {
        /// How long to wait for a state (ns).
        timeout_ns: u64,
        /// Spin instead of parking this long either side of the state's expected arrival (ns).
        spin_ns: u64,
    },
}

impl Trigger {
    /// The report's name of the trigger.
    pub fn name(self) -> &'static str {
        match self {
            Trigger::Lockstep => "lockstep",
            Trigger::Clock => "clock",
            Trigger::RobotState { .. } => "robot_state",
        }
    }
}

/// Schedules cycles and accounts for their timing. Allocation-free.
#[derive(Debug, Clone)]
pub struct Scheduler {
    trigger: Trigger,
    period_ns: u64,
    deadline_ns: u64,
    /// When the last state arrived (robot-triggered cycles; 0: none yet).
    last_state_ns: u64,
}

/// Deadline accounting after a cycle that ended at `end_ns`: returns (overrun, deadlines
/// missed) and moves `deadline_ns` past `end_ns` when the cycle overran.
pub fn account_deadline(deadline_ns: &mut u64, end_ns: u64, period_ns: u64) -> (bool, u64) {
    if end_ns <= *deadline_ns {
        return (false, 0);
    }
    let mut missed = 0;
    while *deadline_ns < end_ns {
        *deadline_ns += period_ns;
        missed += 1;
    }
    (true, missed)
}

impl Scheduler {
    /// A scheduler for cycles of `period_ns`.
    pub fn new(trigger: Trigger, period_ns: u64) -> Self {
        Self {
            trigger,
            period_ns,
            deadline_ns: 0,
            last_state_ns: 0,
        }
    }

    /// The trigger.
    pub fn trigger(&self) -> Trigger {
        self.trigger
    }

    /// Whether the loop time is wall time (robot-triggered cycles are not evenly spaced).
    pub fn wall_clock_loop_time(&self) -> bool {
        matches!(self.trigger, Trigger::RobotState { .. })
    }

    /// Whether wake-up latency is measured (clock-triggered real-time loops).
    pub fn measures_wakeup(&self) -> bool {
        self.trigger == Trigger::Clock
    }

    /// Sets the first deadline, one period after `now_ns`.
    pub fn start(&mut self, now_ns: u64) {
        self.deadline_ns = now_ns + self.period_ns;
    }

    /// Waits until the next cycle may start.
    pub fn wait<P: Plant>(&mut self, plant: &mut P, stats: &mut LoopStats) {
        match self.trigger {
            Trigger::Lockstep => {}
            Trigger::Clock => {
                sleep_until_ns(self.deadline_ns);
                stats
                    .wakeup
                    .record_ns(now_ns().saturating_sub(self.deadline_ns));
            }
            Trigger::RobotState {
                timeout_ns,
                spin_ns,
            } => {
                let spin = match (spin_ns, self.last_state_ns) {
                    (0, _) | (_, 0) => SpinWindow::NONE,
                    (s, last) => {
                        let due = last + self.period_ns;
                        SpinWindow {
                            from_ns: due.saturating_sub(s),
                            until_ns: due + s,
                        }
                    }
                };
                match plant.wait_for_state(now_ns() + timeout_ns, spin) {
                    Some(false) => stats.missed_cycles += 1,
                    Some(true) => self.last_state_ns = now_ns(),
                    None => {}
                }
                self.deadline_ns = now_ns() + self.period_ns;
            }
        }
    }

    /// Accounts for a cycle whose body took `body_cpu_ns` of CPU time and whose work (world
    /// included) ended at `end_ns`.
    pub fn finish(&mut self, body_cpu_ns: u64, end_ns: u64, stats: &mut LoopStats) {
        let (overrun, missed) = match self.trigger {
            Trigger::Lockstep => (body_cpu_ns > self.period_ns, 0),
            Trigger::Clock => {
                self.deadline_ns += self.period_ns;
                account_deadline(&mut self.deadline_ns, end_ns, self.period_ns)
            }
            Trigger::RobotState { .. } => {
                account_deadline(&mut self.deadline_ns, end_ns, self.period_ns)
            }
        };
        stats.overruns += overrun as u64;
        stats.missed_deadlines += missed;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cycle_within_its_period_is_on_time() {
        let mut d = 1_000;
        assert_eq!(account_deadline(&mut d, 999, 1_000), (false, 0));
        assert_eq!(account_deadline(&mut d, 1_000, 1_000), (false, 0));
        assert_eq!(d, 1_000);
    }

    #[test]
    fn an_overrun_skips_every_deadline_it_crossed() {
        // Deadline at 1 ms; the cycle ends at 3.5 ms: deadlines 1, 2, 3 ms are gone, the next
        // cycle waits for 4 ms.
        let mut d = 1_000_000;
        assert_eq!(account_deadline(&mut d, 3_500_000, 1_000_000), (true, 3));
        assert_eq!(d, 4_000_000);
    }

    #[test]
    fn lockstep_counts_cpu_time_not_wall_time() {
        let mut s = Scheduler::new(Trigger::Lockstep, 2_000_000);
        let mut st = LoopStats::default();
        s.start(0);
        // A long wall-clock gap (preempted) with little CPU time is not an overrun.
        s.finish(100_000, 50_000_000, &mut st);
        assert_eq!((st.overruns, st.missed_deadlines), (0, 0));
        s.finish(2_500_000, 0, &mut st);
        assert_eq!(st.overruns, 1);
    }

    /// A robot whose state is always there; records the spin windows it is asked to wait in.
    struct Ready {
        spec: reflex_hardware::RobotSpec,
        windows: Vec<SpinWindow>,
    }

    impl reflex_hardware::Robot for Ready {
        fn spec(&self) -> &reflex_hardware::RobotSpec {
            &self.spec
        }
        fn activate(&mut self) -> Result<(), reflex_hardware::HwError> {
            Ok(())
        }
        fn deactivate(&mut self) -> Result<(), reflex_hardware::HwError> {
            Ok(())
        }
        fn read(
            &mut self,
            _out: &mut reflex_hardware::RobotState,
        ) -> Result<(), reflex_hardware::HwError> {
            Ok(())
        }
        fn write(
            &mut self,
            _cmd: &reflex_hardware::JointCommand,
        ) -> Result<(), reflex_hardware::HwError> {
            Ok(())
        }
    }

    impl Plant for Ready {
        fn wait_for_state(&mut self, _deadline_ns: u64, spin: SpinWindow) -> Option<bool> {
            self.windows.push(spin);
            Some(true)
        }
    }

    #[test]
    fn robot_triggered_cycles_spin_around_the_next_state_s_due_time() {
        let spec = reflex_hardware::catalogue::model("a1")
            .unwrap()
            .spec()
            .unwrap();
        let mut plant = Ready {
            spec,
            windows: vec![],
        };
        let (period, spin) = (2_000_000, 200_000);
        let mut s = Scheduler::new(
            Trigger::RobotState {
                timeout_ns: 4_000_000,
                spin_ns: spin,
            },
            period,
        );
        let mut st = LoopStats::default();
        s.wait(&mut plant, &mut st);
        let before = now_ns();
        s.wait(&mut plant, &mut st);
        let w = plant.windows[1];
        // No state yet: park throughout. Then: due one period after the last state's arrival.
        assert_eq!(plant.windows[0], SpinWindow::NONE);
        assert_eq!(w.until_ns - w.from_ns, 2 * spin);
        assert!(
            w.from_ns + spin <= before + period && w.from_ns + spin + 1_000_000 > before + period
        );
        assert_eq!(st.missed_cycles, 0);
        // spin_for_state_us: 0 never spins.
        let mut s = Scheduler::new(
            Trigger::RobotState {
                timeout_ns: 4_000_000,
                spin_ns: 0,
            },
            period,
        );
        s.wait(&mut plant, &mut st);
        s.wait(&mut plant, &mut st);
        assert_eq!(plant.windows[3], SpinWindow::NONE);
    }

    #[test]
    fn clock_trigger_advances_one_period_per_cycle() {
        let mut s = Scheduler::new(Trigger::Clock, 1_000);
        let mut st = LoopStats::default();
        s.start(0);
        s.finish(0, 1_500, &mut st);
        assert_eq!((st.overruns, st.missed_deadlines), (0, 0));
        s.finish(0, 4_200, &mut st);
        assert_eq!((st.overruns, st.missed_deadlines), (1, 2));
        assert_eq!(s.deadline_ns, 5_000);
    }
}
