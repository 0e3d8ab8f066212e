//! What the run driver needs from a backend beyond the [`Robot`] trait: how the world moves
//! between cycles (simulated physics and its scheduled effects, or nothing for a real robot),
//! ground truth where it exists, robot-triggered cycles, a diagnostics sink, and a description
//! of what it waits for (for start-up errors).

pub use reflex_hardware::ros::SpinWindow;
use reflex_hardware::ros::{LoopStatus, RosRobot};
use reflex_hardware::{GroundTruth, HwError, JointCommand, Robot, RobotSpec, RobotState};
use reflex_sim::SimRobot;

use crate::rt::now_ns;

/// A change of the simulated world (fault injection, randomisation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WorldEffect {
    /// Force on the base (N, world frame).
    Push([f64; 3]),
    /// Motors deliver this fraction of their torque.
    MotorStrength(f64),
    /// The base carries this much more mass (kg).
    Payload(f64),
}

/// A backend as the run driver sees it.
pub trait Plant: Robot + 'static {
    /// Before cycle `cycle`'s read.
    fn begin_cycle(&mut self, _cycle: u64) {}

    /// After cycle `cycle`'s write: the world's own time passes (simulated physics).
    fn advance(&mut self, _cycle: u64) {}

    /// Turns a world effect on or off; false when the backend has no world to change (a real
    /// robot: configs refuse such faults at load).
    fn set_world_effect(&mut self, _effect: WorldEffect, _on: bool) -> bool {
        false
    }

    /// Simulator ground truth of the base, where one exists.
    fn ground_truth(&self) -> Option<GroundTruth> {
        None
    }

    /// Robot-triggered cycles: waits for the next state until `deadline_ns` (CLOCK_MONOTONIC),
    /// spinning instead of parking within `spin`; `None` when the backend cannot trigger cycles.
    fn wait_for_state(&mut self, _deadline_ns: u64, _spin: SpinWindow) -> Option<bool> {
        None
    }

    /// The loop's status, for the backend's diagnostics output. Allocation-free.
    fn publish_status(&mut self, _status: &LoopStatus) {}

    /// Simulated physics steps per control cycle (0 for a real robot).
    fn physics_steps(&self) -> usize {
        0
    }

    /// Traffic and rejections of a ROS 2 bridge.
    fn bridge_report(&self) -> Option<BridgeReport> {
        None
    }

    /// What the backend waits for before the first state (topics, domain), for messages.
    fn describe_inputs(&self) -> String {
        String::new()
    }
}

/// What a ROS 2 bridge saw during a run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BridgeReport {
    /// Joint-state samples accepted.
    pub samples: u64,
    /// Commands published.
    pub commands: u64,
    /// Inbound messages rejected, by reason.
    pub rejections: reflex_hardware::ros::Rejections,
    /// The writers the state topics accepted samples from (GUIDs).
    pub publishers: reflex_hardware::ros::bridge::StatePublishers,
    /// From a state message's stamp to the RT cycle that read it (µs).
    pub inbound_latency_us: crate::stats::LatencySummaryUs,
    /// The latency budget per command, stage by stage (µs).
    pub budget_us: CycleBudgetReport,
}

/// [`reflex_hardware::ros::bridge::CycleBudget`] over a run: each stage's distribution. The
/// stages' means add up to the end-to-end mean.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CycleBudgetReport {
    /// State stamp → arrival at the I/O thread (network, DDS).
    pub stamp_to_received: crate::stats::LatencySummaryUs,
    /// Arrival → the RT cycle's read.
    pub received_to_read: crate::stats::LatencySummaryUs,
    /// Read → write (the cycle body).
    pub read_to_write: crate::stats::LatencySummaryUs,
    /// Write → handed to DDS.
    pub write_to_published: crate::stats::LatencySummaryUs,
    /// State stamp → command handed to DDS.
    pub end_to_end: crate::stats::LatencySummaryUs,
}

impl CycleBudgetReport {
    /// Summarises the samples.
    pub fn of(samples: &[reflex_hardware::ros::bridge::CycleBudget]) -> Self {
        let summary = |f: &dyn Fn(&reflex_hardware::ros::bridge::CycleBudget) -> i64| {
            let mut h = crate::stats::LatencyHistogram::new();
            for b in samples {
                h.record_ns(f(b).max(0) as u64);
            }
            h.summary_us()
        };
        Self {
            stamp_to_received: summary(&|b| b.stamp_to_received_ns),
            received_to_read: summary(&|b| b.received_to_read_ns),
            read_to_write: summary(&|b| b.read_to_write_ns),
            write_to_published: summary(&|b| b.write_to_published_ns),
            end_to_end: summary(&|b| b.end_to_end_ns),
        }
    }
}

/// The simulator as a plant: physics advances after every cycle.
pub struct SimPlant {
    /// The simulated robot.
    pub sim: SimRobot,
    physics_steps: usize,
}

impl SimPlant {
    /// `physics_steps` per control cycle.
    pub fn new(sim: SimRobot, physics_steps: usize) -> Self {
        Self { sim, physics_steps }
    }
}

impl Robot for SimPlant {
    fn spec(&self) -> &RobotSpec {
        self.sim.spec()
    }
    fn activate(&mut self) -> Result<(), HwError> {
        self.sim.activate()
    }
    fn deactivate(&mut self) -> Result<(), HwError> {
        self.sim.deactivate()
    }
    fn read(&mut self, out: &mut RobotState) -> Result<(), HwError> {
        self.sim.read(out)
    }
    fn write(&mut self, cmd: &JointCommand) -> Result<(), HwError> {
        self.sim.write(cmd)
    }
}

impl Plant for SimPlant {
    fn advance(&mut self, _cycle: u64) {
        self.sim.step(self.physics_steps);
    }

    fn set_world_effect(&mut self, effect: WorldEffect, on: bool) -> bool {
        match effect {
            WorldEffect::Push(f) => self.sim.set_base_push(if on { f } else { [0.0; 3] }),
            WorldEffect::MotorStrength(k) => self.sim.set_motor_strength(if on { k } else { 1.0 }),
            WorldEffect::Payload(kg) => self.sim.set_payload_change(if on { kg } else { 0.0 }),
        }
        true
    }

    fn ground_truth(&self) -> Option<GroundTruth> {
        Some(self.sim.ground_truth())
    }

    fn physics_steps(&self) -> usize {
        self.physics_steps
    }

    fn describe_inputs(&self) -> String {
        format!("the built-in simulator ({})", self.sim.spec().model)
    }
}

impl Plant for RosRobot {
    fn wait_for_state(&mut self, deadline_ns: u64, spin: SpinWindow) -> Option<bool> {
        Some(RosRobot::wait_for_state(self, deadline_ns, spin, now_ns))
    }

    fn publish_status(&mut self, status: &LoopStatus) {
        self.set_status(status);
    }

    fn bridge_report(&self) -> Option<BridgeReport> {
        let (samples, commands) = self.traffic();
        let mut h = crate::stats::LatencyHistogram::new();
        for ns in self.inbound_latencies_ns() {
            h.record_ns((*ns).max(0) as u64);
        }
        Some(BridgeReport {
            samples,
            commands,
            rejections: self.rejections(),
            publishers: self.publishers(),
            inbound_latency_us: h.summary_us(),
            budget_us: CycleBudgetReport::of(&self.budget()),
        })
    }

    fn describe_inputs(&self) -> String {
        self.describe_inputs()
    }
}
