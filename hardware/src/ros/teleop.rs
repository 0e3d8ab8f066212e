//! Operator inputs over ROS 2 that are not the robot: a `geometry_msgs/Twist` velocity command
//! (`/cmd_vel`, the convention of teleop_twist_joy and nav2) for locomotion policies. They run on
//! their own node and I/O thread with any robot backend (the simulator included), are validated
//! and rate-limited there, and reach the policy thread only through a triple buffer.
//!
//! Untrusted input: non-finite values and absurd magnitudes are rejected, messages arriving
//! faster than the configured rate are dropped, and every rejection is counted by kind.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Instant;

use futures::task::AtomicWaker;
use triple_buffer::{triple_buffer, Input, Output};

use crate::ros::msg::geometry_msgs::Twist;
use crate::ros::{BridgeConfig, BridgeError};

/// Monotonic nanoseconds since the process's first call: the clock teleop samples are stamped
/// with on arrival and judged by (their timeouts are in wall time, whatever the robot's clock).
pub fn monotonic_ns() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// The newest accepted velocity command.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TwistSample {
    /// Accepted messages so far (0: none yet).
    pub seq: u64,
    /// Arrival time ([`monotonic_ns`]).
    pub received_ns: u64,
    /// Linear velocity (m/s): x forward, y left.
    pub linear_m_s: [f64; 3],
    /// Angular velocity (rad/s): z is the yaw rate.
    pub angular_rad_s: [f64; 3],
}

/// Where the teleop inputs come from.
#[derive(Debug, Clone, PartialEq)]
pub struct TeleopConfig {
    /// Node identity and DDS domain (the topic fields of the bridge config are unused).
    pub node: BridgeConfig,
    /// The `geometry_msgs/Twist` topic.
    pub twist_topic: String,
    /// Most messages per second accepted; faster ones are dropped and counted.
    pub max_rate_hz: f64,
    /// Largest |component| accepted (m/s, rad/s); larger messages are rejected whole.
    pub max_magnitude: f64,
}

/// Teleop messages accepted and rejected, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct TeleopCounts {
    /// Accepted.
    pub accepted: u64,
    /// Rejected: NaN or infinity.
    pub non_finite: u64,
    /// Rejected: a component beyond the magnitude limit.
    pub too_large: u64,
    /// Dropped: faster than the rate limit.
    pub rate_limited: u64,
}

/// State shared with the I/O thread.
#[derive(Debug, Default)]
pub struct TeleopShared {
    stop: AtomicBool,
    /// Wakes the I/O thread (to stop).
    pub waker: AtomicWaker,
    accepted: AtomicU64,
    non_finite: AtomicU64,
    too_large: AtomicU64,
    rate_limited: AtomicU64,
}

impl TeleopShared {
    /// Whether the owner asked the I/O thread to end.
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }
}

/// The I/O thread's end: what a transport calls with each inbound message.
pub struct TeleopIo {
    sample: Input<TwistSample>,
    seq: u64,
    last_accept_ns: Option<u64>,
    min_interval_ns: u64,
    max_magnitude: f64,
    /// Shared with the owner.
    pub shared: Arc<TeleopShared>,
}

impl TeleopIo {
    /// A `geometry_msgs/Twist` arrived at `now_ns`: validate, rate-limit, hand over.
    pub fn on_twist(&mut self, m: &Twist, now_ns: u64) {
        let v = [
            m.linear.x,
            m.linear.y,
            m.linear.z,
            m.angular.x,
            m.angular.y,
            m.angular.z,
        ];
        let count = |c: &AtomicU64| {
            c.fetch_add(1, Ordering::Relaxed);
        };
        if v.iter().any(|x| !x.is_finite()) {
            return count(&self.shared.non_finite);
        }
        if v.iter().any(|x| x.abs() > self.max_magnitude) {
            return count(&self.shared.too_large);
        }
        if self
            .last_accept_ns
            .is_some_and(|t| now_ns.saturating_sub(t) < self.min_interval_ns)
        {
            return count(&self.shared.rate_limited);
        }
        self.last_accept_ns = Some(now_ns);
        self.seq += 1;
        *self.sample.input_buffer_mut() = TwistSample {
            seq: self.seq,
            received_ns: now_ns,
            linear_m_s: [v[0], v[1], v[2]],
            angular_rad_s: [v[3], v[4], v[5]],
        };
        self.sample.publish();
        count(&self.shared.accepted);
    }
}

/// A running teleop node. Construct it with [`Teleop::start`].
pub struct Teleop {
    samples: Option<Output<TwistSample>>,
    shared: Arc<TeleopShared>,
    io: Option<JoinHandle<Result<(), String>>>,
}

impl Teleop {
    /// Starts the transport's I/O thread (`spawn` gets the I/O side).
    pub fn start(
        cfg: &TeleopConfig,
        spawn: impl FnOnce(
            TeleopConfig,
            TeleopIo,
        ) -> Result<JoinHandle<Result<(), String>>, BridgeError>,
    ) -> Result<Teleop, BridgeError> {
        let (sample, out) = triple_buffer(&TwistSample::default());
        let shared = Arc::new(TeleopShared::default());
        let io = TeleopIo {
            sample,
            seq: 0,
            last_accept_ns: None,
            min_interval_ns: (1e9 / cfg.max_rate_hz.max(1e-3)) as u64,
            max_magnitude: cfg.max_magnitude,
            shared: shared.clone(),
        };
        let handle = spawn(cfg.clone(), io)?;
        Ok(Teleop {
            samples: Some(out),
            shared,
            io: Some(handle),
        })
    }

    /// The reading end of the velocity command (for the policy thread); once.
    pub fn take_samples(&mut self) -> Option<Output<TwistSample>> {
        self.samples.take()
    }

    /// Messages accepted and rejected so far.
    pub fn counts(&self) -> TeleopCounts {
        let s = &self.shared;
        TeleopCounts {
            accepted: s.accepted.load(Ordering::Relaxed),
            non_finite: s.non_finite.load(Ordering::Relaxed),
            too_large: s.too_large.load(Ordering::Relaxed),
            rate_limited: s.rate_limited.load(Ordering::Relaxed),
        }
    }

    /// Stops the I/O thread and returns its result.
    pub fn shutdown(&mut self) -> Result<(), String> {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.waker.wake();
        match self.io.take() {
            Some(h) => h
                .join()
                .map_err(|_| "the teleop I/O thread panicked".to_string())?,
            None => Ok(()),
        }
    }
}

impl Drop for Teleop {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ros::msg::geometry_msgs::Vector3;

    #[test]
    fn twists_are_validated_rate_limited_and_counted() {
        let (sample, mut out) = triple_buffer(&TwistSample::default());
        let shared = Arc::new(TeleopShared::default());
        let mut io = TeleopIo {
            sample,
            seq: 0,
            last_accept_ns: None,
            min_interval_ns: 5_000_000,
            max_magnitude: 10.0,
            shared: shared.clone(),
        };
        let twist = |x: f64, wz: f64| Twist {
            linear: Vector3 { x, y: 0.0, z: 0.0 },
            angular: Vector3 {
                x: 0.0,
                y: 0.0,
                z: wz,
            },
        };
        io.on_twist(&twist(0.5, 0.2), 0);
        io.on_twist(&twist(0.6, 0.2), 1_000_000); // 1 ms later: over 200 Hz
        io.on_twist(&twist(f64::NAN, 0.0), 10_000_000);
        io.on_twist(&twist(1e6, 0.0), 20_000_000);
        io.on_twist(&twist(0.7, -0.1), 30_000_000);
        let s = *out.read();
        assert_eq!((s.seq, s.linear_m_s[0], s.angular_rad_s[2]), (2, 0.7, -0.1));
        assert_eq!(s.received_ns, 30_000_000);
        let c = TeleopCounts {
            accepted: shared.accepted.load(Ordering::Relaxed),
            non_finite: shared.non_finite.load(Ordering::Relaxed),
            too_large: shared.too_large.load(Ordering::Relaxed),
            rate_limited: shared.rate_limited.load(Ordering::Relaxed),
        };
        assert_eq!(
            c,
            TeleopCounts {
                accepted: 2,
                non_finite: 1,
                too_large: 1,
                rate_limited: 1
            }
        );
    }
}
