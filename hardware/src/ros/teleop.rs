//! Operator inputs over ROS 2 that are not the robot, on their own node and I/O thread with any
//! robot backend (the simulator included):
//!
//! - a velocity command for locomotion policies: `geometry_msgs/Twist` or `TwistStamped`
//!   (`/cmd_vel`, the convention of teleop_twist_joy and nav2), optionally gated by a
//!   `sensor_msgs/Joy` enable (deadman) button as teleop_twist_joy's `require_enable_button` /
//!   `enable_button` do: twists count only while it is held, and its release sends zero;
//! - a 6-D end-effector twist for manipulation policies (spacenav's `spacenav/twist`, MoveIt
//!   Servo-style delta twists) and the Joy buttons beside it (gripper, intervene), handed to the
//!   policy thread, which decides whether the human takes over (`reflex_policies::intervention`);
//! - an e-stop lock, `std_msgs/Bool` (twist_mux's convention: true blocks), optionally a
//!   heartbeat (silent for longer than its timeout = locked, from the node's start), and a
//!   `std_msgs/Empty` reset. The lock acts on [`OperatorInputs`], which the RT thread reads at
//!   the start of every cycle: the cycle that sees it is a safe stop.
//!
//! Untrusted input: non-finite values, absurd magnitudes, oversized Joy arrays and stamped
//! messages older than `max_age` are rejected; messages faster than each input's rate are
//! dropped (never a lock's `true`); every one is counted by input and reason. Validated samples
//! reach the policy thread only through triple buffers; teleop never commands the motors itself.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use futures::task::AtomicWaker;
use serde::Serialize;
use triple_buffer::{triple_buffer, Input, Output};

use crate::operator::OperatorInputs;
use crate::ros::msg::builtin_interfaces::Time;
use crate::ros::msg::geometry_msgs::Twist;
use crate::ros::msg::sensor_msgs::Joy;
use crate::ros::{BridgeConfig, BridgeError};

pub use crate::operator::monotonic_ns;

/// Most Joy buttons (and axes) a message may carry; larger messages are rejected whole.
pub const MAX_JOY_BUTTONS: usize = 64;

/// The newest accepted velocity command.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TwistSample {
    /// Accepted messages so far, the deadman's zeros included (0: none yet).
    pub seq: u64,
    /// Arrival time ([`monotonic_ns`]).
    pub received_ns: u64,
    /// Linear velocity (m/s): x forward, y left.
    pub linear_m_s: [f64; 3],
    /// Angular velocity (rad/s): z is the yaw rate.
    pub angular_rad_s: [f64; 3],
}

/// The newest end-effector twist and Joy buttons from a human: what the policy thread's
/// intervention logic decides on.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HumanSample {
    /// Accepted end-effector twists so far (0: none yet).
    pub twist_seq: u64,
    /// Arrival of the newest twist ([`monotonic_ns`]).
    pub twist_received_ns: u64,
    /// Linear (x, y, z) then angular (x, y, z) components as sent.
    pub twist: [f64; 6],
    /// Accepted Joy messages so far (0: none yet).
    pub joy_seq: u64,
    /// Arrival of the newest Joy message ([`monotonic_ns`]).
    pub joy_received_ns: u64,
    /// Buttons held in the newest Joy message, bit i = button i.
    pub buttons: u64,
}

impl HumanSample {
    /// Whether button `i` was held in the newest Joy message.
    pub fn button(&self, i: usize) -> bool {
        i < MAX_JOY_BUTTONS && self.buttons & (1 << i) != 0
    }
}

/// A twist input (velocity command or end-effector twist).
#[derive(Debug, Clone, PartialEq)]
pub struct TwistInput {
    /// Topic.
    pub topic: String,
    /// `geometry_msgs/TwistStamped` (else `Twist`).
    pub stamped: bool,
    /// Most messages per second accepted.
    pub max_rate_hz: f64,
    /// Largest |component| accepted (m/s, rad/s, or the device's units).
    pub max_magnitude: f64,
}

/// The Joy input.
#[derive(Debug, Clone, PartialEq)]
pub struct JoyInput {
    /// Topic.
    pub topic: String,
    /// Most messages per second accepted.
    pub max_rate_hz: f64,
    /// The velocity command counts only while this button is held (teleop_twist_joy's
    /// `enable_button` with `require_enable_button`); `None`: no deadman.
    pub enable_button: Option<usize>,
    /// A Joy message older than this no longer holds the enable button (ns).
    pub timeout_ns: u64,
}

/// The e-stop lock input.
#[derive(Debug, Clone, PartialEq)]
pub struct LockInput {
    /// The `std_msgs/Bool` lock topic (true: e-stop).
    pub topic: String,
    /// The `std_msgs/Empty` reset topic (back to the policy once the lock is released).
    pub reset_topic: String,
    /// Silent for longer than this = locked (ns); `None`: no heartbeat required.
    pub heartbeat_timeout_ns: Option<u64>,
    /// Most lock-release and reset messages per second accepted (a lock is never dropped).
    pub max_rate_hz: f64,
}

/// Where the teleop inputs come from.
#[derive(Debug, Clone, PartialEq)]
pub struct TeleopConfig {
    /// Node identity and DDS domain (the topic fields of the bridge config are unused).
    pub node: BridgeConfig,
    /// The velocity command (locomotion).
    pub twist: Option<TwistInput>,
    /// The end-effector twist (manipulation).
    pub ee_twist: Option<TwistInput>,
    /// Joystick buttons (deadman, gripper, intervene).
    pub joy: Option<JoyInput>,
    /// E-stop lock and reset.
    pub lock: Option<LockInput>,
    /// Stamped messages whose stamp is older than this (or newer than this ahead of the system
    /// clock) are stale (ns).
    pub max_age_ns: u64,
}

/// One input's messages, accepted and rejected by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct InputCounts {
    /// Accepted.
    pub accepted: u64,
    /// Rejected: NaN or infinity.
    pub non_finite: u64,
    /// Rejected: a value beyond the magnitude limit, or a Joy message with too many entries.
    pub too_large: u64,
    /// Dropped: faster than the rate limit.
    pub rate_limited: u64,
    /// Rejected: a stamp older than `max_age` (or too far ahead).
    pub stale: u64,
    /// Ignored: a velocity command while the deadman button was not held; a reset while the
    /// lock was engaged.
    pub blocked: u64,
}

/// The lock input's effects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LockCounts {
    /// Lock messages (true or false) accepted.
    pub messages: InputCounts,
    /// Times the lock engaged the e-stop (true after false, or first).
    pub engaged: u64,
    /// Times it released.
    pub released: u64,
    /// Resets accepted (passed to the supervisor) and refused (lock engaged), rate-limited.
    pub resets: InputCounts,
}

/// What the teleop node saw, by input (those the config has).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TeleopCounts {
    /// The velocity command.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub twist: Option<InputCounts>,
    /// The end-effector twist.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ee_twist: Option<InputCounts>,
    /// The Joy messages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub joy: Option<InputCounts>,
    /// The e-stop lock and reset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock: Option<LockCounts>,
}

#[derive(Debug, Default)]
struct Counters([AtomicU64; 6]);

impl Counters {
    fn add(&self, reason: Reason) {
        self.0[reason as usize].fetch_add(1, Ordering::Relaxed);
    }
    fn read(&self) -> InputCounts {
        let g = |r: Reason| self.0[r as usize].load(Ordering::Relaxed);
        InputCounts {
            accepted: g(Reason::Accepted),
            non_finite: g(Reason::NonFinite),
            too_large: g(Reason::TooLarge),
            rate_limited: g(Reason::RateLimited),
            stale: g(Reason::Stale),
            blocked: g(Reason::Blocked),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Reason {
    Accepted,
    NonFinite,
    TooLarge,
    RateLimited,
    Stale,
    Blocked,
}

/// State shared with the I/O thread.
#[derive(Debug, Default)]
pub struct TeleopShared {
    stop: AtomicBool,
    /// Wakes the I/O thread (to stop).
    pub waker: AtomicWaker,
    twist: Counters,
    ee_twist: Counters,
    joy: Counters,
    lock: Counters,
    reset: Counters,
    engaged: AtomicU64,
    released: AtomicU64,
}

impl TeleopShared {
    /// Whether the owner asked the I/O thread to end.
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }
}

/// Admits at most one message per interval.
#[derive(Debug, Clone, Copy)]
struct RateGate {
    min_interval_ns: u64,
    last_ns: Option<u64>,
}

impl RateGate {
    fn new(max_rate_hz: f64) -> Self {
        Self {
            min_interval_ns: (1e9 / max_rate_hz.max(1e-3)) as u64,
            last_ns: None,
        }
    }
    fn admit(&mut self, now_ns: u64) -> bool {
        if self
            .last_ns
            .is_some_and(|t| now_ns.saturating_sub(t) < self.min_interval_ns)
        {
            return false;
        }
        self.last_ns = Some(now_ns);
        true
    }
}

/// The I/O thread's end: what a transport calls with each inbound message.
pub struct TeleopIo {
    cfg: TeleopConfig,
    velocity: Input<TwistSample>,
    velocity_seq: u64,
    human: Input<HumanSample>,
    human_now: HumanSample,
    twist_gate: RateGate,
    ee_gate: RateGate,
    joy_gate: RateGate,
    lock_gate: RateGate,
    reset_gate: RateGate,
    /// The deadman button was held in the newest Joy message.
    enabled: bool,
    locked: bool,
    operator: Arc<OperatorInputs>,
    /// Shared with the owner.
    pub shared: Arc<TeleopShared>,
}

fn finite_and_bounded(v: &[f64], max: f64) -> Result<(), Reason> {
    if v.iter().any(|x| !x.is_finite()) {
        Err(Reason::NonFinite)
    } else if v.iter().any(|x| x.abs() > max) {
        Err(Reason::TooLarge)
    } else {
        Ok(())
    }
}

fn twist_values(m: &Twist) -> [f64; 6] {
    [
        m.linear.x,
        m.linear.y,
        m.linear.z,
        m.angular.x,
        m.angular.y,
        m.angular.z,
    ]
}

impl TeleopIo {
    /// Whether a message stamped `stamp` (None: unstamped) is fresh at system time `sys_ns`.
    fn fresh(&self, stamp: Option<&Time>, sys_ns: i128) -> bool {
        stamp.is_none_or(|t| (sys_ns - t.as_ns()).unsigned_abs() <= self.cfg.max_age_ns as u128)
    }

    /// A velocity command arrived at `now_ns` (`stamp`: its header's, if stamped; `sys_ns`:
    /// the system clock now): validate, gate by the deadman, rate-limit, hand over.
    pub fn on_twist(&mut self, m: &Twist, stamp: Option<&Time>, now_ns: u64, sys_ns: i128) {
        let Some(input) = &self.cfg.twist else { return };
        let v = twist_values(m);
        let verdict = finite_and_bounded(&v, input.max_magnitude).and_then(|()| {
            if !self.fresh(stamp, sys_ns) {
                return Err(Reason::Stale);
            }
            let deadman = self.cfg.joy.as_ref().and_then(|j| j.enable_button);
            if deadman.is_some() && !self.deadman_held(now_ns) {
                return Err(Reason::Blocked);
            }
            if !self.twist_gate.admit(now_ns) {
                return Err(Reason::RateLimited);
            }
            Ok(())
        });
        match verdict {
            Ok(()) => {
                self.publish_velocity(now_ns, [v[0], v[1], v[2]], [v[3], v[4], v[5]]);
                self.shared.twist.add(Reason::Accepted);
            }
            Err(r) => self.shared.twist.add(r),
        }
    }

    fn deadman_held(&self, now_ns: u64) -> bool {
        let timeout = self.cfg.joy.as_ref().map_or(0, |j| j.timeout_ns);
        self.enabled
            && self.human_now.joy_seq > 0
            && now_ns.saturating_sub(self.human_now.joy_received_ns) <= timeout
    }

    fn publish_velocity(&mut self, now_ns: u64, linear_m_s: [f64; 3], angular_rad_s: [f64; 3]) {
        self.velocity_seq += 1;
        *self.velocity.input_buffer_mut() = TwistSample {
            seq: self.velocity_seq,
            received_ns: now_ns,
            linear_m_s,
            angular_rad_s,
        };
        self.velocity.publish();
    }

    /// An end-effector twist arrived: validate, rate-limit, hand over.
    pub fn on_ee_twist(&mut self, m: &Twist, stamp: Option<&Time>, now_ns: u64, sys_ns: i128) {
        let Some(input) = &self.cfg.ee_twist else {
            return;
        };
        let v = twist_values(m);
        let verdict = finite_and_bounded(&v, input.max_magnitude).and_then(|()| {
            if !self.fresh(stamp, sys_ns) {
                Err(Reason::Stale)
            } else if !self.ee_gate.admit(now_ns) {
                Err(Reason::RateLimited)
            } else {
                Ok(())
            }
        });
        match verdict {
            Ok(()) => {
                let h = &mut self.human_now;
                h.twist_seq += 1;
                h.twist_received_ns = now_ns;
                h.twist = v;
                *self.human.input_buffer_mut() = *h;
                self.human.publish();
                self.shared.ee_twist.add(Reason::Accepted);
            }
            Err(r) => self.shared.ee_twist.add(r),
        }
    }

    /// A Joy message arrived: validate, rate-limit, update the buttons (and the deadman: its
    /// release sends a zero velocity command at once).
    pub fn on_joy(&mut self, m: &Joy, now_ns: u64, sys_ns: i128) {
        let Some(input) = &self.cfg.joy else { return };
        let verdict = if m.axes.len() > MAX_JOY_BUTTONS || m.buttons.len() > MAX_JOY_BUTTONS {
            Err(Reason::TooLarge)
        } else if m.axes.iter().any(|a| !a.is_finite()) {
            Err(Reason::NonFinite)
        } else if !self.fresh(Some(&m.header.stamp), sys_ns) {
            Err(Reason::Stale)
        } else if !self.joy_gate.admit(now_ns) {
            Err(Reason::RateLimited)
        } else {
            Ok(())
        };
        if let Err(r) = verdict {
            return self.shared.joy.add(r);
        }
        let buttons = m
            .buttons
            .iter()
            .enumerate()
            .filter(|(_, b)| **b != 0)
            .fold(0u64, |acc, (i, _)| acc | (1 << i));
        let was_enabled = self.enabled;
        self.enabled = input.enable_button.is_some_and(|b| buttons & (1 << b) != 0);
        let h = &mut self.human_now;
        h.joy_seq += 1;
        h.joy_received_ns = now_ns;
        h.buttons = buttons;
        *self.human.input_buffer_mut() = *h;
        self.human.publish();
        if was_enabled && !self.enabled && self.cfg.twist.is_some() {
            self.publish_velocity(now_ns, [0.0; 3], [0.0; 3]);
        }
        self.shared.joy.add(Reason::Accepted);
    }

    /// A lock message arrived: true engages the e-stop (always, whatever the rate), false
    /// releases it (rate-limited); either feeds the heartbeat.
    pub fn on_lock(&mut self, locked: bool, now_ns: u64) {
        let Some(input) = &self.cfg.lock else { return };
        if !locked && !self.lock_gate.admit(now_ns) {
            return self.shared.lock.add(Reason::RateLimited);
        }
        if let Some(t) = input.heartbeat_timeout_ns {
            self.operator
                .heartbeat_deadline_ns
                .store(now_ns + t, Ordering::Release);
        }
        if locked && !self.locked {
            self.operator.engage_estop();
            self.shared.engaged.fetch_add(1, Ordering::Relaxed);
        } else if !locked && self.locked {
            self.operator.estop.store(false, Ordering::Release);
            self.shared.released.fetch_add(1, Ordering::Relaxed);
        }
        self.locked = locked;
        self.shared.lock.add(Reason::Accepted);
    }

    /// A reset arrived: passed to the supervisor unless the lock is engaged (or its heartbeat
    /// silent).
    pub fn on_reset(&mut self, now_ns: u64) {
        if self.cfg.lock.is_none() {
            return;
        }
        if self.locked || self.operator.heartbeat_lost(now_ns) {
            return self.shared.reset.add(Reason::Blocked);
        }
        if !self.reset_gate.admit(now_ns) {
            return self.shared.reset.add(Reason::RateLimited);
        }
        self.operator.reset.store(true, Ordering::Release);
        self.shared.reset.add(Reason::Accepted);
    }
}

/// A running teleop node. Construct it with [`Teleop::start`].
pub struct Teleop {
    velocity: Option<Output<TwistSample>>,
    human: Option<Output<HumanSample>>,
    cfg: TeleopConfig,
    shared: Arc<TeleopShared>,
    io: Option<JoinHandle<Result<(), String>>>,
}

impl Teleop {
    /// The I/O side for `cfg`, acting on `operator`, and the node's reading ends (no thread).
    pub fn io(cfg: &TeleopConfig, operator: Arc<OperatorInputs>) -> (TeleopIo, Teleop) {
        let (velocity, velocity_out) = triple_buffer(&TwistSample::default());
        let (human, human_out) = triple_buffer(&HumanSample::default());
        let shared = Arc::new(TeleopShared::default());
        let rate = |i: Option<f64>| RateGate::new(i.unwrap_or(1.0));
        if let Some(t) = cfg.lock.as_ref().and_then(|l| l.heartbeat_timeout_ns) {
            // twist_mux: a lock topic that has not spoken within its timeout is locked — from
            // the start too.
            operator
                .heartbeat_deadline_ns
                .store(monotonic_ns() + t, Ordering::Release);
        }
        let io = TeleopIo {
            velocity,
            velocity_seq: 0,
            human,
            human_now: HumanSample::default(),
            twist_gate: rate(cfg.twist.as_ref().map(|t| t.max_rate_hz)),
            ee_gate: rate(cfg.ee_twist.as_ref().map(|t| t.max_rate_hz)),
            joy_gate: rate(cfg.joy.as_ref().map(|t| t.max_rate_hz)),
            lock_gate: rate(cfg.lock.as_ref().map(|t| t.max_rate_hz)),
            reset_gate: rate(cfg.lock.as_ref().map(|t| t.max_rate_hz)),
            enabled: false,
            locked: false,
            operator,
            shared: shared.clone(),
            cfg: cfg.clone(),
        };
        let node = Teleop {
            velocity: Some(velocity_out),
            human: Some(human_out),
            cfg: cfg.clone(),
            shared,
            io: None,
        };
        (io, node)
    }

    /// Starts the transport's I/O thread (`spawn` gets the I/O side), acting on `operator`.
    pub fn start(
        cfg: &TeleopConfig,
        operator: Arc<OperatorInputs>,
        spawn: impl FnOnce(
            TeleopConfig,
            TeleopIo,
        ) -> Result<JoinHandle<Result<(), String>>, BridgeError>,
    ) -> Result<Teleop, BridgeError> {
        let (io, mut node) = Self::io(cfg, operator);
        node.io = Some(spawn(cfg.clone(), io)?);
        Ok(node)
    }

    /// The reading end of the velocity command (for the policy thread); once.
    pub fn take_velocity(&mut self) -> Option<Output<TwistSample>> {
        self.cfg.twist.as_ref()?;
        self.velocity.take()
    }

    /// The reading end of the human's end-effector twist and buttons (for the policy
    /// thread's intervention logic); once.
    pub fn take_human(&mut self) -> Option<Output<HumanSample>> {
        self.cfg.ee_twist.as_ref()?;
        self.human.take()
    }

    /// Messages accepted and rejected so far, by input.
    pub fn counts(&self) -> TeleopCounts {
        let s = &self.shared;
        let c = &self.cfg;
        TeleopCounts {
            twist: c.twist.as_ref().map(|_| s.twist.read()),
            ee_twist: c.ee_twist.as_ref().map(|_| s.ee_twist.read()),
            joy: c.joy.as_ref().map(|_| s.joy.read()),
            lock: c.lock.as_ref().map(|_| LockCounts {
                messages: s.lock.read(),
                engaged: s.engaged.load(Ordering::Relaxed),
                released: s.released.load(Ordering::Relaxed),
                resets: s.reset.read(),
            }),
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
    use crate::ros::msg::std_msgs::Header;

    const MS: u64 = 1_000_000;

    fn twist(x: f64, wz: f64) -> Twist {
        Twist {
            linear: Vector3 { x, y: 0.0, z: 0.0 },
            angular: Vector3 {
                x: 0.0,
                y: 0.0,
                z: wz,
            },
        }
    }

    fn joy(buttons: &[i32], stamp_ns: i128) -> Joy {
        Joy {
            header: Header {
                stamp: Time::from_ns(stamp_ns),
                frame_id: String::new(),
            },
            axes: vec![0.0; 6],
            buttons: buttons.to_vec(),
        }
    }

    fn config(deadman: Option<usize>, heartbeat_ms: Option<u64>) -> TeleopConfig {
        let twist = TwistInput {
            topic: "/cmd_vel".into(),
            stamped: false,
            max_rate_hz: 200.0,
            max_magnitude: 10.0,
        };
        TeleopConfig {
            node: BridgeConfig::node_only("reflex_teleop", "/", 0, true, vec![]),
            twist: Some(twist.clone()),
            ee_twist: Some(twist),
            joy: Some(JoyInput {
                topic: "/joy".into(),
                max_rate_hz: 200.0,
                enable_button: deadman,
                timeout_ns: 500 * MS,
            }),
            lock: Some(LockInput {
                topic: "/e_stop".into(),
                reset_topic: "/e_stop_reset".into(),
                heartbeat_timeout_ns: heartbeat_ms.map(|m| m * MS),
                max_rate_hz: 100.0,
            }),
            max_age_ns: 500 * MS,
        }
    }

    #[test]
    fn twists_are_validated_rate_limited_and_counted() {
        let op = Arc::new(OperatorInputs::default());
        let (mut io, mut node) = Teleop::io(&config(None, None), op);
        let mut out = node.take_velocity().unwrap();
        io.on_twist(&twist(0.5, 0.2), None, 0, 0);
        io.on_twist(&twist(0.6, 0.2), None, MS, 0); // 1 ms later: over 200 Hz
        io.on_twist(&twist(f64::NAN, 0.0), None, 10 * MS, 0);
        io.on_twist(&twist(1e6, 0.0), None, 20 * MS, 0);
        let old = Time::from_ns(0);
        io.on_twist(&twist(0.4, 0.0), Some(&old), 25 * MS, 2_000_000_000);
        io.on_twist(&twist(0.7, -0.1), None, 30 * MS, 0);
        let s = *out.read();
        assert_eq!((s.seq, s.linear_m_s[0], s.angular_rad_s[2]), (2, 0.7, -0.1));
        assert_eq!(s.received_ns, 30 * MS);
        assert_eq!(
            node.counts().twist.unwrap(),
            InputCounts {
                accepted: 2,
                non_finite: 1,
                too_large: 1,
                rate_limited: 1,
                stale: 1,
                blocked: 0
            }
        );
    }

    #[test]
    fn the_deadman_gates_the_velocity_command_and_its_release_sends_zero() {
        let op = Arc::new(OperatorInputs::default());
        let (mut io, mut node) = Teleop::io(&config(Some(4), None), op);
        let mut out = node.take_velocity().unwrap();
        io.on_twist(&twist(0.5, 0.0), None, 0, 0);
        assert_eq!(out.read().seq, 0, "no Joy yet: blocked");
        io.on_joy(&joy(&[0, 0, 0, 0, 1], 0), 10 * MS, 0);
        io.on_twist(&twist(0.5, 0.0), None, 20 * MS, 0);
        assert_eq!(out.read().linear_m_s[0], 0.5, "held: accepted");
        io.on_joy(&joy(&[0, 0, 0, 0, 0], 0), 30 * MS, 0);
        let s = *out.read();
        assert_eq!((s.seq, s.linear_m_s[0], s.received_ns), (2, 0.0, 30 * MS));
        io.on_twist(&twist(0.5, 0.0), None, 40 * MS, 0);
        assert_eq!(out.read().linear_m_s[0], 0.0, "released: blocked");
        io.on_joy(&joy(&[0, 0, 0, 0, 1], 0), 50 * MS, 0);
        io.on_twist(&twist(0.5, 0.0), None, 600 * MS, 0);
        assert_eq!(
            out.read().linear_m_s[0],
            0.0,
            "the Joy went silent: blocked"
        );
        assert_eq!(node.counts().twist.unwrap().blocked, 3);
        let mut huge = joy(&[1; 65], 0);
        io.on_joy(&huge, 700 * MS, 0);
        huge.buttons.clear();
        huge.axes[2] = f32::NAN;
        io.on_joy(&huge, 710 * MS, 0);
        io.on_joy(&joy(&[1], -2_000_000_000), 720 * MS, 0);
        let j = node.counts().joy.unwrap();
        assert_eq!(
            (j.accepted, j.too_large, j.non_finite, j.stale),
            (3, 1, 1, 1)
        );
    }

    #[test]
    fn the_lock_engages_at_once_releases_and_only_then_takes_a_reset() {
        let op = Arc::new(OperatorInputs::default());
        let (mut io, node) = Teleop::io(&config(None, None), op.clone());
        io.on_lock(false, 0);
        io.on_lock(true, MS);
        for k in 0..100 {
            io.on_lock(true, MS + k); // a flood of locks: every one honoured
        }
        assert!(op.estop.load(Ordering::Acquire));
        assert!(op.estop_engaged_ns.load(Ordering::Acquire) > 0);
        io.on_reset(5 * MS);
        assert!(!op.reset.load(Ordering::Acquire), "no reset while locked");
        io.on_lock(false, 20 * MS);
        io.on_lock(false, 21 * MS); // rate-limited
        assert!(!op.estop.load(Ordering::Acquire));
        io.on_reset(30 * MS);
        assert!(op.reset.load(Ordering::Acquire));
        let l = node.counts().lock.unwrap();
        assert_eq!((l.engaged, l.released), (1, 1));
        assert_eq!((l.messages.accepted, l.messages.rate_limited), (103, 1));
        assert_eq!((l.resets.accepted, l.resets.blocked), (1, 1));
    }

    #[test]
    fn a_heartbeat_is_armed_from_the_start_and_fed_by_every_lock_message() {
        let op = Arc::new(OperatorInputs::default());
        let t0 = monotonic_ns();
        let (mut io, _node) = Teleop::io(&config(None, Some(200)), op.clone());
        assert!(!op.heartbeat_lost(t0));
        assert!(
            op.heartbeat_lost(monotonic_ns() + 201 * MS),
            "silent from the start"
        );
        io.on_lock(false, t0 + 150 * MS);
        assert!(!op.heartbeat_lost(t0 + 340 * MS));
        assert!(op.heartbeat_lost(t0 + 351 * MS));
        io.on_reset(t0 + 400 * MS);
        assert!(!op.reset.load(Ordering::Acquire), "no reset while silent");
    }

    #[test]
    fn end_effector_twists_and_buttons_reach_the_human_sample() {
        let op = Arc::new(OperatorInputs::default());
        let (mut io, mut node) = Teleop::io(&config(None, None), op);
        let mut h = node.take_human().unwrap();
        io.on_ee_twist(&twist(0.3, -0.2), None, 10 * MS, 0);
        io.on_joy(&joy(&[0, 1], 0), 12 * MS, 0);
        let s = *h.read();
        assert_eq!(s.twist, [0.3, 0.0, 0.0, 0.0, 0.0, -0.2]);
        assert_eq!((s.twist_seq, s.twist_received_ns), (1, 10 * MS));
        assert!(!s.button(0) && s.button(1) && !s.button(99));
        io.on_ee_twist(&twist(f64::INFINITY, 0.0), None, 20 * MS, 0);
        assert_eq!(node.counts().ee_twist.unwrap().non_finite, 1);
    }
}
