//! The ROS 2 bridge as a Reflex robot: [`RosRobot`] implements [`Robot`] for the RT thread; the
//! transport's I/O thread talks to it only through lock-free slots (triple buffers) and an
//! `AtomicWaker`: the RT thread never takes a lock or waits on ROS.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{JoinHandle, Thread};

use futures::task::AtomicWaker;
use triple_buffer::{triple_buffer, Input, Output};

use crate::ros::inbound::{Arrival, Reject, Rejections, StateAssembler};
use crate::ros::mapping::{
    diagnostics, encode_command, CommandInterface, CommandMessage, CommandTrace, LoopStatus,
    OutboundCommand,
};
use crate::ros::msg::diagnostic_msgs::DiagnosticArray;
use crate::ros::msg::geometry_msgs::WrenchStamped;
use crate::ros::msg::nav_msgs::Odometry;
use crate::ros::msg::sensor_msgs::{Imu, JointState};
use crate::ros::publishers::WriterGuid;
use crate::ros::teleop::monotonic_ns;
use crate::ros::{system_time_ns, BridgeConfig, BridgeError};
use crate::{HwError, JointCommand, Robot, RobotSpec, RobotState};

/// Inbound latency samples kept (one per consumed state: 200 s at 500 Hz).
const LATENCY_CAPACITY: usize = 100_000;

/// When a robot-triggered RT thread spins for the next state instead of parking
/// (CLOCK_MONOTONIC ns, `from_ns..until_ns`; empty: park throughout).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SpinWindow {
    /// Start spinning here.
    pub from_ns: u64,
    /// Park again from here.
    pub until_ns: u64,
}

impl SpinWindow {
    /// No spinning.
    pub const NONE: Self = Self {
        from_ns: 0,
        until_ns: 0,
    };
}

/// A state sample for the RT thread.
#[derive(Debug, Clone)]
pub struct StateSample {
    seq: u64,
    complete: bool,
    state: RobotState,
    /// The joint-state message's stamp (ns since the Unix epoch).
    stamp_ns: i128,
    /// When the I/O thread received it: system time (ns) and monotonic time (ns).
    received_ns: (i128, u64),
}

/// One command's way through Reflex, from the state it answers to its publication (ns): the
/// deployment's latency budget per cycle. The stages add up to `end_to_end_ns` (the first on
/// the system clock, the others on the monotonic one).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CycleBudget {
    /// State stamp → its arrival at the I/O thread (network and DDS).
    pub stamp_to_received_ns: i64,
    /// Arrival → the RT cycle's read (hand-off and the RT thread's wake-up).
    pub received_to_read_ns: i64,
    /// Read → write (the cycle body).
    pub read_to_write_ns: i64,
    /// Write → the command handed to DDS (the I/O thread's pick-up and encoding).
    pub write_to_published_ns: i64,
    /// State stamp → command handed to DDS (system clock).
    pub end_to_end_ns: i64,
}

/// Budget samples kept (one per command: 200 s at 500 Hz).
const BUDGET_CAPACITY: usize = 100_000;

/// State shared by the RT side, the I/O thread and the owner.
#[derive(Debug, Default)]
pub struct BridgeShared {
    /// The RT thread, unparked when a new state arrives (robot-triggered cycles).
    rt_thread: OnceLock<Thread>,
    /// Ends the I/O thread.
    pub stop: AtomicBool,
    /// Joint-state samples accepted.
    pub samples: AtomicU64,
    /// Commands published.
    pub commands: AtomicU64,
    /// Rejections by reason (written by the I/O thread).
    pub rejections: Mutex<Rejections>,
    /// The writers the state topics are locked to (written by the I/O thread).
    pub publishers: Mutex<StatePublishers>,
    /// The latency budget of each published command (written by the I/O thread).
    pub budget: Mutex<Vec<CycleBudget>>,
    /// Wakes the I/O thread when the RT thread has written a command.
    pub waker: AtomicWaker,
    /// Sequence number of the newest command the RT thread wrote.
    pub written: AtomicU64,
}

/// The writers the state topics accepted samples from (locked to), as dotted hex GUIDs.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct StatePublishers {
    /// `sensor_msgs/JointState`.
    pub joint_states: Option<String>,
    /// `sensor_msgs/Imu`.
    pub imu: Option<String>,
    /// `nav_msgs/Odometry`.
    pub odometry: Option<String>,
    /// `geometry_msgs/WrenchStamped`.
    pub wrench: Option<String>,
}

/// The I/O thread's ends: what every transport calls with inbound messages and asks for
/// outbound ones. The mapping logic lives here and in [`crate::ros::mapping`], once.
pub struct IoSide {
    assembler: StateAssembler,
    state_in: Input<StateSample>,
    seq: u64,
    commands: Output<OutboundCommand>,
    last_command: u64,
    status: Output<LoopStatus>,
    last_diag_ns: i128,
    diag_period_ns: i128,
    joint_names: Vec<String>,
    interface: CommandInterface,
    node: String,
    pending_budget: Option<CommandTrace>,
    last_end_to_end_ns: i64,
    /// Shared with the RT side and the owner.
    pub shared: Arc<BridgeShared>,
}

impl IoSide {
    fn publish_state(&mut self, m: &JointState, at: &Arrival) {
        self.seq += 1;
        let buf = self.state_in.input_buffer_mut();
        buf.seq = self.seq;
        buf.complete = self.assembler.complete();
        buf.state.copy_from(self.assembler.state());
        buf.stamp_ns = m.header.stamp.as_ns();
        buf.received_ns = (at.now_ns, at.monotonic_ns);
        self.state_in.publish();
        self.shared.samples.fetch_add(1, Ordering::Relaxed);
        if let Some(t) = self.shared.rt_thread.get() {
            t.unpark();
        }
    }

    /// Publishes the counters when they changed: a rejection, or a topic newly locked.
    fn counted(&mut self, r: Result<(), Reject>, locked_before: bool) -> bool {
        if r.is_err() {
            if let Ok(mut g) = self.shared.rejections.lock() {
                *g = self.assembler.rejections;
            }
        }
        if r.is_ok() && !locked_before {
            let f = &self.assembler.filters;
            let hex = |g: Option<WriterGuid>| g.map(|g| g.to_string());
            if let Ok(mut p) = self.shared.publishers.lock() {
                *p = StatePublishers {
                    joint_states: hex(f.joint_states.locked()),
                    imu: hex(f.imu.locked()),
                    odometry: hex(f.odometry.locked()),
                    wrench: hex(f.wrench.locked()),
                };
            }
        }
        r.is_ok()
    }

    fn arrival(writer: Option<WriterGuid>) -> Arrival {
        Arrival {
            writer,
            now_ns: system_time_ns(),
            monotonic_ns: monotonic_ns(),
        }
    }

    /// A `sensor_msgs/JointState` arrived from `writer` (`None`: the transport cannot say):
    /// validate, assemble, hand the state to the RT thread.
    pub fn on_joint_state(&mut self, m: &JointState, writer: Option<WriterGuid>) {
        let locked = self.assembler.filters.joint_states.locked().is_some();
        let at = Self::arrival(writer);
        let r = self.assembler.joint_state(m, at);
        if self.counted(r, locked) {
            self.publish_state(m, &at);
        }
    }

    /// A Unitree SDK2 `LowState_` arrived from `writer`: CRC-checked, then taken apart into the
    /// IMU and the joints (the robot's motor order is the catalogue's hardware order), stamped
    /// on arrival (LowState carries only the robot's boot tick), and checked like any state.
    #[cfg(feature = "dds")]
    pub fn on_low_state(&mut self, m: &crate::unitree::msg::LowState, writer: Option<WriterGuid>) {
        if crate::unitree::crc::low_state_crc(m) != m.crc {
            self.assembler.rejections.count(Reject::CrcMismatch);
            self.counted(Err(Reject::CrcMismatch), true);
            return;
        }
        let (imu, js) = crate::unitree::split_low_state(m, &self.joint_names, system_time_ns());
        self.on_imu(&imu, writer);
        self.on_joint_state(&js, writer);
    }

    /// A state sample that could not be decoded (wrong size or layout) arrived: counted.
    pub fn on_undecodable(&mut self) {
        self.assembler.rejections.count(Reject::WrongLength);
        self.counted(Err(Reject::WrongLength), true);
    }

    /// A `sensor_msgs/Imu` arrived (it goes out with the next joint state).
    pub fn on_imu(&mut self, m: &Imu, writer: Option<WriterGuid>) {
        let locked = self.assembler.filters.imu.locked().is_some();
        let r = self.assembler.imu(m, Self::arrival(writer));
        self.counted(r, locked);
    }

    /// A `nav_msgs/Odometry` arrived.
    pub fn on_odometry(&mut self, m: &Odometry, writer: Option<WriterGuid>) {
        let locked = self.assembler.filters.odometry.locked().is_some();
        let r = self.assembler.odometry(m, Self::arrival(writer));
        self.counted(r, locked);
    }

    /// A `geometry_msgs/WrenchStamped` arrived.
    pub fn on_wrench(&mut self, m: &WrenchStamped, writer: Option<WriterGuid>) {
        let locked = self.assembler.filters.wrench.locked().is_some();
        let r = self.assembler.wrench(m, Self::arrival(writer));
        self.counted(r, locked);
    }

    /// The newest command the RT thread wrote, encoded, if it has not been sent yet.
    pub fn take_command(&mut self) -> Option<CommandMessage> {
        self.commands.update();
        let c = self.commands.output_buffer();
        if c.seq == self.last_command {
            return None;
        }
        self.last_command = c.seq;
        self.shared.commands.fetch_add(1, Ordering::Relaxed);
        self.pending_budget = Some(c.trace);
        Some(encode_command(self.interface, &self.joint_names, c))
    }

    /// The command taken last has been handed to DDS: record its latency budget.
    pub fn published(&mut self) {
        let Some(t) = self.pending_budget.take() else {
            return;
        };
        if t.state_stamp_ns == 0 {
            return;
        }
        let (now_sys, now_mono) = (system_time_ns(), monotonic_ns());
        let b = CycleBudget {
            stamp_to_received_ns: (t.received_ns.0 - t.state_stamp_ns) as i64,
            received_to_read_ns: t.read_mono_ns as i64 - t.received_ns.1 as i64,
            read_to_write_ns: t.write_mono_ns as i64 - t.read_mono_ns as i64,
            write_to_published_ns: now_mono as i64 - t.write_mono_ns as i64,
            end_to_end_ns: (now_sys - t.state_stamp_ns) as i64,
        };
        self.last_end_to_end_ns = b.end_to_end_ns;
        if let Ok(mut v) = self.shared.budget.lock() {
            if v.len() < BUDGET_CAPACITY {
                v.push(b);
            }
        }
    }

    /// Diagnostics, when they are due.
    pub fn take_diagnostics(&mut self) -> Option<DiagnosticArray> {
        let now = system_time_ns();
        if now - self.last_diag_ns < self.diag_period_ns {
            return None;
        }
        self.last_diag_ns = now;
        let status = *self.status.read();
        Some(diagnostics(
            &self.node,
            &status,
            &self.assembler.rejections,
            &self.assembler.filters,
            self.last_end_to_end_ns,
            now,
        ))
    }

    /// Spins (no syscall) up to `max` for a command newer than the last one sent: the
    /// latency/CPU trade of robot-triggered loops, where the answer follows each state closely.
    pub fn spin_for_command(&self, max: std::time::Duration) {
        let until = std::time::Instant::now() + max;
        while self.shared.written.load(Ordering::Acquire) == self.last_command
            && std::time::Instant::now() < until
        {
            std::hint::spin_loop();
        }
    }

    /// Sequence number of the last command sent.
    pub fn sent_seq(&self) -> u64 {
        self.last_command
    }

    /// Resolves once the RT thread has written a command not yet sent, or the bridge stops: what
    /// an I/O loop waits on beside its inbound streams (`select!`).
    pub fn command_or_stop(&self) -> impl std::future::Future<Output = ()> + 'static {
        let shared = self.shared.clone();
        let sent = self.sent_seq();
        futures::future::poll_fn(move |cx| {
            shared.waker.register(cx.waker());
            // Checked after registering: a command written in between is not missed.
            if shared.written.load(Ordering::Acquire) != sent || shared.stop.load(Ordering::Acquire)
            {
                std::task::Poll::Ready(())
            } else {
                std::task::Poll::Pending
            }
        })
    }

    /// Whether commands go out as `trajectory_msgs/JointTrajectory` (else Float64MultiArray).
    pub fn interface_is_trajectory(&self) -> bool {
        self.interface == CommandInterface::JointTrajectory
    }

    /// Whether the owner asked the I/O thread to end.
    pub fn stopping(&self) -> bool {
        self.shared.stop.load(Ordering::Acquire)
    }
}

/// A robot reached over ROS 2. Construct it with [`RosRobot::start`].
pub struct RosRobot {
    spec: RobotSpec,
    samples: Output<StateSample>,
    last_seq: u64,
    commands: Input<OutboundCommand>,
    status: Input<LoopStatus>,
    cmd_seq: u64,
    last_q: Vec<f64>,
    last_dq: Vec<f64>,
    /// The last state read: its stamp, arrival and read times, for the command that answers it.
    last_read: CommandTrace,
    active: bool,
    shared: Arc<BridgeShared>,
    io: Option<JoinHandle<Result<(), String>>>,
    /// Inbound latency per consumed sample (ns): system time at `read` minus the message stamp.
    /// Preallocated; stops recording when full.
    inbound_latency_ns: Vec<i64>,
    /// What the bridge waits for, in words (topics, types, domain).
    inputs: String,
}

impl RosRobot {
    /// Starts the transport's I/O thread (`spawn` gets the I/O side) and returns the robot.
    /// `require_imu`: states are complete only once an IMU message has arrived.
    pub fn start(
        spec: RobotSpec,
        cfg: &BridgeConfig,
        require_imu: bool,
        spawn: impl FnOnce(BridgeConfig, IoSide) -> Result<JoinHandle<Result<(), String>>, BridgeError>,
    ) -> Result<RosRobot, BridgeError> {
        let n = spec.num_joints();
        let (state_in, samples) = triple_buffer(&StateSample {
            seq: 0,
            complete: false,
            state: RobotState::new(&spec),
            stamp_ns: 0,
            received_ns: (0, 0),
        });
        let (commands, cmd_out) = triple_buffer(&OutboundCommand::new(n));
        let (status, status_out) = triple_buffer(&LoopStatus::default());
        let shared = Arc::new(BridgeShared::default());
        let io = IoSide {
            assembler: StateAssembler::new(
                &spec,
                cfg.stamps,
                cfg.plausibility,
                &cfg.accept_from,
                require_imu,
            ),
            state_in,
            seq: 0,
            commands: cmd_out,
            last_command: 0,
            status: status_out,
            last_diag_ns: 0,
            diag_period_ns: (1e9 / cfg.diagnostics_hz.max(0.1)) as i128,
            joint_names: spec.joint_names.clone(),
            interface: cfg.command_interface,
            node: cfg.node_name.clone(),
            pending_budget: None,
            last_end_to_end_ns: 0,
            shared: shared.clone(),
        };
        let mut inputs = if cfg.command_interface == CommandInterface::UnitreeLowCmd {
            format!(
                "Unitree SDK2 unitree_go::msg::dds_::LowState_ on {}",
                cfg.joint_states_topic
            )
        } else {
            format!(
                "sensor_msgs/JointState on {}",
                cfg.resolve(&cfg.joint_states_topic)
            )
        };
        if let Some(t) = &cfg.imu_topic {
            inputs += &format!(" and sensor_msgs/Imu on {}", cfg.resolve(t));
        }
        inputs += &format!(
            " (DDS domain {}{}), naming every joint of `{}`: {}",
            cfg.domain_id,
            if cfg.only_loopback {
                ", loopback only"
            } else {
                ""
            },
            spec.model,
            spec.joint_names.join(", ")
        );
        let handle = spawn(cfg.clone(), io)?;
        Ok(RosRobot {
            inputs,
            last_q: vec![0.0; n],
            last_dq: vec![0.0; n],
            last_read: CommandTrace::default(),
            spec,
            samples,
            last_seq: 0,
            commands,
            status,
            cmd_seq: 0,
            active: false,
            shared,
            io: Some(handle),
            inbound_latency_ns: Vec::with_capacity(LATENCY_CAPACITY),
        })
    }

    /// Waits (no lock) until a new complete state arrives or `deadline_ns` (CLOCK_MONOTONIC)
    /// passes: parked, except within `spin`, where it spins (no syscall). Returns whether one
    /// arrived: robot-triggered cycles.
    pub fn wait_for_state(
        &mut self,
        deadline_ns: u64,
        spin: SpinWindow,
        now_ns: impl Fn() -> u64,
    ) -> bool {
        loop {
            if self.samples.updated() {
                return true;
            }
            let now = now_ns();
            if now >= deadline_ns {
                return false;
            }
            if spin.from_ns <= now && now < spin.until_ns {
                std::hint::spin_loop();
                continue;
            }
            // Wake for the spin window if it is still ahead.
            let wake = if now < spin.from_ns {
                spin.from_ns.min(deadline_ns)
            } else {
                deadline_ns
            };
            std::thread::park_timeout(std::time::Duration::from_nanos((wake - now).min(1_000_000)));
        }
    }

    /// Hands the loop's status to the I/O thread for diagnostics. Allocation-free.
    pub fn set_status(&mut self, s: &LoopStatus) {
        *self.status.input_buffer_mut() = *s;
        self.status.publish();
    }

    /// Rejected inbound messages so far.
    pub fn rejections(&self) -> Rejections {
        self.shared
            .rejections
            .lock()
            .map(|g| *g)
            .unwrap_or_default()
    }

    /// The latency budget of every command published so far.
    pub fn budget(&self) -> Vec<CycleBudget> {
        self.shared
            .budget
            .lock()
            .map(|g| g.clone())
            .unwrap_or_default()
    }

    /// The writers the state topics are locked to so far.
    pub fn publishers(&self) -> StatePublishers {
        self.shared
            .publishers
            .lock()
            .map(|g| g.clone())
            .unwrap_or_default()
    }

    /// Joint-state samples accepted and commands published so far.
    pub fn traffic(&self) -> (u64, u64) {
        (
            self.shared.samples.load(Ordering::Relaxed),
            self.shared.commands.load(Ordering::Relaxed),
        )
    }

    /// Inbound latencies recorded so far (ns): from the message stamp (the publisher's clock) to
    /// the RT thread's `read`.
    pub fn inbound_latencies_ns(&self) -> &[i64] {
        &self.inbound_latency_ns
    }

    /// What the bridge waits for before its first complete state, in words.
    pub fn describe_inputs(&self) -> String {
        self.inputs.clone()
    }

    /// Stops the I/O thread and returns its result.
    pub fn shutdown(&mut self) -> Result<(), String> {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.waker.wake();
        match self.io.take() {
            Some(h) => h
                .join()
                .map_err(|_| "the ROS I/O thread panicked".to_string())?,
            None => Ok(()),
        }
    }
}

impl Drop for RosRobot {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

impl Robot for RosRobot {
    fn spec(&self) -> &RobotSpec {
        &self.spec
    }

    fn activate(&mut self) -> Result<(), HwError> {
        // Called on the thread that runs the loop: that is the one to wake on new states.
        let _ = self.shared.rt_thread.set(std::thread::current());
        self.active = true;
        Ok(())
    }

    fn deactivate(&mut self) -> Result<(), HwError> {
        self.active = false;
        Ok(())
    }

    fn read(&mut self, out: &mut RobotState) -> Result<(), HwError> {
        self.samples.update();
        let s = self.samples.output_buffer();
        if s.seq == self.last_seq || !s.complete {
            return Err(HwError::NoData);
        }
        if out.num_joints() != s.state.num_joints() {
            return Err(HwError::SizeMismatch {
                expected: s.state.num_joints(),
                got: out.num_joints(),
            });
        }
        self.last_seq = s.seq;
        if self.inbound_latency_ns.len() < self.inbound_latency_ns.capacity() {
            let age = system_time_ns() - (s.state.stamp_s * 1e9) as i128;
            self.inbound_latency_ns.push(age as i64);
        }
        out.copy_from(&s.state);
        self.last_read = CommandTrace {
            state_stamp_ns: s.stamp_ns,
            received_ns: s.received_ns,
            read_mono_ns: monotonic_ns(),
            write_mono_ns: 0,
        };
        self.last_q.copy_from_slice(&s.state.joints.position_rad);
        self.last_dq.copy_from_slice(&s.state.joints.velocity_rad_s);
        Ok(())
    }

    fn write(&mut self, cmd: &JointCommand) -> Result<(), HwError> {
        if !self.active {
            return Err(HwError::NotActive);
        }
        self.cmd_seq += 1;
        let c = self.commands.input_buffer_mut();
        c.seq = self.cmd_seq;
        c.stamp_ns = system_time_ns();
        // Only a command computed from a state read since the last write answers that state.
        c.trace = match std::mem::take(&mut self.last_read) {
            t if t.read_mono_ns > 0 => CommandTrace {
                write_mono_ns: monotonic_ns(),
                ..t
            },
            _ => CommandTrace::default(),
        };
        c.position_rad.copy_from_slice(&cmd.position_rad);
        c.velocity_rad_s.copy_from_slice(&cmd.velocity_rad_s);
        c.effort_ff_nm.copy_from_slice(&cmd.effort_ff_nm);
        c.kp.copy_from_slice(&cmd.kp);
        c.kd.copy_from_slice(&cmd.kd);
        for (i, lim) in self.spec.limits.iter().enumerate() {
            c.effort_total_nm[i] =
                lim.clamp_effort(cmd.torque_nm(i, self.last_q[i], self.last_dq[i]));
        }
        self.commands.publish();
        self.shared.written.store(self.cmd_seq, Ordering::Release);
        self.shared.waker.wake();
        Ok(())
    }
}
