//! The RT cycle: read → controller → clamp to limits → write, with its own measurements.
//!
//! [`ControlLoop::cycle`] is the whole RT body. It allocates nothing, takes no lock and makes no
//! syscall besides reading the vDSO clock and the robot's own I/O; its work is bounded by the
//! controller's. `tests/` proves the no-allocation part with a counting global allocator.

use reflex_hardware::{HwError, JointCommand, Robot, RobotSpec, RobotState};
use reflex_policies::{Controller, Tick};

use crate::rt::{now_ns, spin_until_ns};
use crate::stats::LoopStats;

/// A stall injected into the cycle body on purpose (the `latency_spike` fault).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InjectedStall {
    /// Cycle on which the body stalls.
    pub cycle: u64,
    /// How long it busy-waits (ns).
    pub duration_ns: u64,
}

/// The RT loop's state: the robot, the controller and the buffers they share, all allocated
/// before the first cycle.
pub struct ControlLoop<R: Robot> {
    robot: R,
    controller: Box<dyn Controller>,
    spec: RobotSpec,
    state: RobotState,
    cmd: JointCommand,
    period_s: f64,
    policy_decimation: u64,
    stalls: Vec<InjectedStall>,
    next_stall: usize,
    /// Measurements; read them after the loop (or between cycles on the same thread).
    pub stats: LoopStats,
}

impl<R: Robot> ControlLoop<R> {
    /// A loop at `control_hz` whose policy ticks every `policy_decimation` cycles.
    /// `stalls` are injected slow cycles (sorted here).
    pub fn new(
        robot: R,
        controller: Box<dyn Controller>,
        control_hz: f64,
        policy_decimation: u64,
        mut stalls: Vec<InjectedStall>,
    ) -> Self {
        let spec = robot.spec().clone();
        stalls.sort_by_key(|s| s.cycle);
        Self {
            state: RobotState::new(&spec),
            cmd: JointCommand::new(&spec),
            robot,
            controller,
            spec,
            period_s: 1.0 / control_hz,
            policy_decimation: policy_decimation.max(1),
            stalls,
            next_stall: 0,
            stats: LoopStats::default(),
        }
    }

    /// Activates the robot, reads the first state and resets the controller on it. Not RT.
    pub fn start(&mut self) -> Result<(), HwError> {
        self.robot.activate()?;
        self.robot.read(&mut self.state)?;
        self.controller.reset(&self.state);
        Ok(())
    }

    /// Deactivates the robot. Not RT.
    pub fn stop(&mut self) -> Result<(), HwError> {
        self.robot.deactivate()
    }

    /// One RT cycle. See the module docs for its guarantees.
    #[inline]
    pub fn cycle(&mut self) {
        let t0 = now_ns();
        let n = self.stats.cycles;
        let tick = Tick {
            cycle: n,
            time_s: n as f64 * self.period_s,
            period_s: self.period_s,
            policy_tick: n.is_multiple_of(self.policy_decimation),
        };
        if self.robot.read(&mut self.state).is_err() {
            // Keep the previous state; the supervisor (next issue) decides when it is stale.
            self.stats.io_errors += 1;
        }
        self.controller.update(&tick, &self.state, &mut self.cmd);
        if let Some(stall) = self.stalls.get(self.next_stall) {
            if stall.cycle == n {
                spin_until_ns(t0 + stall.duration_ns);
                self.next_stall += 1;
            }
        }
        self.stats.clamped_commands +=
            self.cmd
                .clamp_to(&self.spec, &self.state.joints.position_rad) as u64;
        if self.robot.write(&self.cmd).is_err() {
            self.stats.io_errors += 1;
        }
        self.stats.compute.record_ns(now_ns().saturating_sub(t0));
        self.stats.cycles += 1;
    }

    /// The control period (s).
    pub fn period_s(&self) -> f64 {
        self.period_s
    }

    /// The robot (e.g. to step the simulator between cycles).
    pub fn robot_mut(&mut self) -> &mut R {
        &mut self.robot
    }

    /// The robot.
    pub fn robot(&self) -> &R {
        &self.robot
    }

    /// The state read in the last cycle.
    pub fn state(&self) -> &RobotState {
        &self.state
    }

    /// The command written in the last cycle (after the limit clamp).
    pub fn command(&self) -> &JointCommand {
        &self.cmd
    }

    /// What the controller is doing now.
    pub fn phase(&self) -> &'static str {
        self.controller.phase()
    }
}
