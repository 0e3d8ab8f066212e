//! The velocity command a locomotion policy sees: from the run (a fixed command or a schedule of
//! time → command), or live from an operator (a `geometry_msgs/Twist` stream), always clipped to
//! the ranges the manifest declares. A live stream that stops decays to zero after its timeout:
//! a robot whose operator went quiet stands.

use crate::manifest::CommandLimits;

/// A command that arrived from outside (teleop): when, on CLOCK_MONOTONIC, and what.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LiveCommand {
    /// Messages accepted so far (0: none yet).
    pub seq: u64,
    /// Arrival time of the newest (ns, CLOCK_MONOTONIC).
    pub received_ns: u64,
    /// vx (m/s), vy (m/s), yaw rate (rad/s).
    pub command: [f64; 3],
}

/// Where each tick's velocity command comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandSource {
    base: [f64; 3],
    schedule: Vec<(f64, [f64; 3])>,
    limits: CommandLimits,
    timeout_ns: u64,
    decay_ns: u64,
}

impl CommandSource {
    /// `base` until the first step of `schedule` (time in s since the loop's start → command),
    /// each step until the next; a live command, once one has arrived, replaces both: it holds
    /// for `timeout_s` after it arrived, then decays linearly to zero over `decay_s`.
    pub fn new(
        base: [f64; 3],
        mut schedule: Vec<(f64, [f64; 3])>,
        limits: CommandLimits,
        timeout_s: f64,
        decay_s: f64,
    ) -> Self {
        schedule.sort_by(|a, b| a.0.total_cmp(&b.0));
        Self {
            base,
            schedule,
            limits,
            timeout_ns: (timeout_s.max(0.0) * 1e9) as u64,
            decay_ns: (decay_s.max(0.0) * 1e9) as u64,
        }
    }

    /// The command at loop time `t_s`, given the newest live command (if any) and the
    /// monotonic time `now_ns`. Allocation-free.
    pub fn at(&self, t_s: f64, live: Option<&LiveCommand>, now_ns: u64) -> [f64; 3] {
        let cmd = match live.filter(|l| l.seq > 0) {
            Some(l) => {
                let age = now_ns.saturating_sub(l.received_ns);
                let executed = self.limits.clip(l.command);
                if age <= self.timeout_ns {
                    executed
                } else if age < self.timeout_ns + self.decay_ns {
                    let k = 1.0 - (age - self.timeout_ns) as f64 / self.decay_ns as f64;
                    executed.map(|v| v * k)
                } else {
                    [0.0; 3]
                }
            }
            None => self
                .schedule
                .iter()
                .rev()
                .find(|(at, _)| *at <= t_s)
                .map_or(self.base, |(_, c)| *c),
        };
        self.limits.clip(cmd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> CommandSource {
        CommandSource::new(
            [0.1, 0.0, 0.0],
            vec![(4.0, [0.0; 3]), (2.0, [0.5, 0.0, 0.3])],
            CommandLimits::default(),
            0.5,
            0.5,
        )
    }

    #[test]
    fn the_schedule_is_followed_in_time_order() {
        let s = source();
        assert_eq!(s.at(0.0, None, 0), [0.1, 0.0, 0.0]);
        assert_eq!(s.at(2.0, None, 0), [0.5, 0.0, 0.3]);
        assert_eq!(s.at(3.9, None, 0), [0.5, 0.0, 0.3]);
        assert_eq!(s.at(4.0, None, 0), [0.0; 3]);
    }

    #[test]
    fn a_live_command_holds_then_decays_to_zero_and_is_clipped() {
        let s = source();
        let live = LiveCommand {
            seq: 3,
            received_ns: 1_000_000_000,
            command: [2.0, 0.0, -0.4],
        };
        let at = |ms: u64| s.at(0.0, Some(&live), 1_000_000_000 + ms * 1_000_000);
        assert_eq!(at(0), [1.0, 0.0, -0.4], "clipped to ±1 m/s");
        assert_eq!(at(500), [1.0, 0.0, -0.4], "held for the timeout");
        let half = at(750);
        assert!(
            (half[0] - 0.5).abs() < 1e-9 && (half[2] + 0.2).abs() < 1e-9,
            "{half:?}"
        );
        assert_eq!(at(1000), [0.0; 3], "decayed: the robot stands");
        assert_eq!(
            s.at(3.0, Some(&LiveCommand::default()), 0),
            [0.5, 0.0, 0.3],
            "no live command yet"
        );
        let nan = LiveCommand {
            command: [f64::NAN, 0.0, 0.0],
            ..live
        };
        assert_eq!(s.at(0.0, Some(&nan), 1_000_000_000), [0.0; 3]);
    }
}
