//! What an operator (or a scripted fault) asks of the robot from outside the loop — e-stop,
//! reset, a fallback drill, a lock topic's heartbeat — and the one monotonic clock every thread
//! stamps with. Any thread sets these; the RT thread reads them at the start of each cycle.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Nanoseconds on CLOCK_MONOTONIC: the clock of the RT loop, the ROS I/O threads and the teleop
/// inputs alike. vDSO-backed: no syscall, no allocation.
#[inline]
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Operator inputs shared by every thread; the RT thread reads them at the start of each cycle.
#[derive(Debug, Default)]
pub struct OperatorInputs {
    /// E-stop held: safe stop until released and reset.
    pub estop: AtomicBool,
    /// A reset back to the policy was requested (consumed by the next cycle).
    pub reset: AtomicBool,
    /// A fallback drill was requested (consumed by the next cycle).
    pub drill: AtomicBool,
    /// [`monotonic_ns`] after which a silent lock topic counts as an e-stop (0: no heartbeat is
    /// required). The teleop node moves it forward with every lock message.
    pub heartbeat_deadline_ns: AtomicU64,
    /// [`monotonic_ns`] just after the e-stop was last engaged (0: never): lets the RT thread
    /// report whether it acted on it in the first cycle that started after it.
    pub estop_engaged_ns: AtomicU64,
}

impl OperatorInputs {
    /// Engages the e-stop, then stamps when: a cycle that starts after the stamp sees it.
    pub fn engage_estop(&self) {
        if !self.estop.swap(true, Ordering::AcqRel) {
            self.estop_engaged_ns
                .store(monotonic_ns().max(1), Ordering::Release);
        }
    }

    /// Whether a required heartbeat has gone silent at `now_ns`. Allocation-free.
    #[inline]
    pub fn heartbeat_lost(&self, now_ns: u64) -> bool {
        let d = self.heartbeat_deadline_ns.load(Ordering::Acquire);
        d != 0 && now_ns > d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_heartbeat_is_lost_only_past_its_deadline_and_engaging_is_stamped_once() {
        let o = OperatorInputs::default();
        assert!(!o.heartbeat_lost(u64::MAX), "no heartbeat required");
        o.heartbeat_deadline_ns.store(1_000, Ordering::Release);
        assert!(!o.heartbeat_lost(1_000));
        assert!(o.heartbeat_lost(1_001));
        let before = monotonic_ns();
        o.engage_estop();
        let stamp = o.estop_engaged_ns.load(Ordering::Acquire);
        o.engage_estop();
        assert!(o.estop.load(Ordering::Acquire));
        assert!(stamp >= before && stamp <= monotonic_ns());
        assert_eq!(
            o.estop_engaged_ns.load(Ordering::Acquire),
            stamp,
            "stamped once"
        );
    }
}
