//! The RT cycle: read → supervise → command from the policy, the certified fallback or a safe
//! stop → bumpless step limit → clamp to limits → write, with its own measurements.
//!
//! [`ControlLoop::cycle`] is the whole RT body. It allocates nothing, takes no lock and makes no
//! syscall besides reading the vDSO clock and the robot's own I/O; its work is bounded by the
//! controllers'. `tests/` proves the no-allocation part with a counting global allocator.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use reflex_hardware::{HwError, JointCommand, Robot, RobotSpec, RobotState};
use reflex_policies::{Controller, Tick};

use crate::rt::{now_ns, spin_until_ns};
use crate::stats::LoopStats;
use crate::supervisor::{Cause, Mode, Supervisor, SupervisorConfig};

/// A stall injected into the cycle body on purpose (the `latency_spike` fault).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InjectedStall {
    /// Cycle on which the body stalls.
    pub cycle: u64,
    /// How long it busy-waits (ns).
    pub duration_ns: u64,
}

/// The RT loop's state: the robot, the controllers and the buffers they share, all allocated
/// before the first cycle.
pub struct ControlLoop<R: Robot> {
    robot: R,
    primary: Box<dyn Controller>,
    fallback: Box<dyn Controller>,
    supervisor: Supervisor,
    spec: RobotSpec,
    state: RobotState,
    cmd: JointCommand,
    period_s: f64,
    policy_decimation: u64,
    stalls: Vec<InjectedStall>,
    next_stall: usize,
    estop: Arc<AtomicBool>,
    reset: Arc<AtomicBool>,
    /// CLOCK_MONOTONIC at the first cycle when loop time is wall time (robot-triggered loops,
    /// whose cycles are not evenly spaced); `None`: loop time is cycles × period.
    wall_clock_origin: Option<Option<u64>>,
    /// Measurements; read them after the loop (or between cycles on the same thread).
    pub stats: LoopStats,
}

impl<R: Robot> ControlLoop<R> {
    /// A loop at `control_hz` whose policy ticks every `policy_decimation` cycles. `primary`
    /// commands in POLICY mode, `fallback` in FALLBACK mode; `stalls` are injected slow cycles.
    pub fn new(
        robot: R,
        primary: Box<dyn Controller>,
        fallback: Box<dyn Controller>,
        safety: SupervisorConfig,
        control_hz: f64,
        policy_decimation: u64,
        mut stalls: Vec<InjectedStall>,
    ) -> Self {
        let spec = robot.spec().clone();
        stalls.sort_by_key(|s| s.cycle);
        Self {
            state: RobotState::new(&spec),
            cmd: JointCommand::new(&spec),
            supervisor: Supervisor::new(safety, &spec),
            robot,
            primary,
            fallback,
            spec,
            period_s: 1.0 / control_hz,
            policy_decimation: policy_decimation.max(1),
            stalls,
            next_stall: 0,
            estop: Arc::new(AtomicBool::new(false)),
            reset: Arc::new(AtomicBool::new(false)),
            wall_clock_origin: None,
            stats: LoopStats::default(),
        }
    }

    /// Activates the robot, reads the first state and resets the controllers on it. Not RT.
    pub fn start(&mut self) -> Result<(), HwError> {
        self.start_when_ready(std::time::Duration::ZERO)
    }

    /// [`Self::start`] for robots whose first state may take a while (a ROS topic): activates,
    /// then waits up to `timeout` for the first complete state. Not RT.
    pub fn start_when_ready(&mut self, timeout: std::time::Duration) -> Result<(), HwError> {
        self.robot.activate()?;
        let give_up = std::time::Instant::now() + timeout;
        loop {
            match self.robot.read(&mut self.state) {
                Ok(()) => break,
                Err(HwError::NoData) if std::time::Instant::now() < give_up => {
                    std::thread::sleep(std::time::Duration::from_millis(1))
                }
                Err(e) => return Err(e),
            }
        }
        self.primary.reset(&self.state);
        self.fallback.reset(&self.state);
        Ok(())
    }

    /// Deactivates the robot. Not RT.
    pub fn stop(&mut self) -> Result<(), HwError> {
        self.robot.deactivate()
    }

    /// Measures loop time (sensor staleness, saturation, the controllers' clock) on the wall
    /// clock instead of as cycles × period: for robot-triggered loops.
    pub fn use_wall_clock(&mut self) {
        self.wall_clock_origin = Some(None);
    }

    /// The e-stop input: set it (from any thread) and the next cycle goes to SAFE_STOP.
    pub fn estop_handle(&self) -> Arc<AtomicBool> {
        self.estop.clone()
    }

    /// The reset input: set it (from any thread) to go back to POLICY once no fault is active.
    pub fn reset_handle(&self) -> Arc<AtomicBool> {
        self.reset.clone()
    }

    /// One RT cycle. See the module docs for its guarantees.
    #[inline]
    pub fn cycle(&mut self) {
        let t0 = now_ns();
        let n = self.stats.cycles;
        let now_s = match &mut self.wall_clock_origin {
            None => n as f64 * self.period_s,
            Some(origin) => (t0 - *origin.get_or_insert(t0)) as f64 / 1e9,
        };
        let tick = Tick {
            cycle: n,
            time_s: now_s,
            period_s: self.period_s,
            policy_tick: n.is_multiple_of(self.policy_decimation),
        };
        let fresh = match self.robot.read(&mut self.state) {
            Ok(()) => true,
            Err(_) => {
                // The previous state is kept; the supervisor sees no new sample.
                self.stats.io_errors += 1;
                false
            }
        };
        let sup = &mut self.supervisor;
        // Explicit inputs first.
        if self.estop.load(Ordering::Relaxed) {
            sup.switch(n, Mode::SafeStop, Cause::EStop);
        } else if self.reset.swap(false, Ordering::Relaxed) && sup.mode() != Mode::Policy {
            sup.switch(n, Mode::Policy, Cause::Reset);
            self.primary.reset(&self.state);
        }
        // Faults visible before any command is computed.
        let sensor = sup.check_sensors(fresh, &self.state, &self.spec, now_s);
        let attitude = sup.check_attitude(&self.state);
        if attitude == Some(true) {
            sup.switch(n, Mode::SafeStop, Cause::Attitude);
        } else if sup.sensors_lost(now_s) {
            sup.switch(n, Mode::SafeStop, Cause::SensorStale);
        } else if sup.mode() == Mode::Policy {
            if let Some(cause) = sensor {
                sup.switch(n, Mode::Fallback, cause);
            } else if attitude == Some(false) {
                sup.switch(n, Mode::Fallback, Cause::Attitude);
            } else if sup.late(self.primary.consecutive_late()) {
                sup.switch(n, Mode::Fallback, Cause::PolicyLate);
            }
        }
        // The command, from whoever is in charge; a fault in it hands over in this same cycle.
        if sup.mode() == Mode::Policy {
            self.primary.update(&tick, &self.state, &mut self.cmd);
            // The policy side learns of a late result while updating: check it in this cycle.
            let late = sup
                .late(self.primary.consecutive_late())
                .then_some(Cause::PolicyLate);
            let fault = late
                .or_else(|| sup.check_command(&self.cmd, &self.spec))
                .or_else(|| sup.check_saturation(&self.cmd, &self.state, &self.spec, now_s));
            if let Some(cause) = fault {
                sup.switch(n, Mode::Fallback, cause);
            }
        }
        if sup.mode() == Mode::Fallback {
            self.fallback.update(&tick, &self.state, &mut self.cmd);
            if sup.check_command(&self.cmd, &self.spec) == Some(Cause::NonFiniteAction) {
                sup.switch(n, Mode::SafeStop, Cause::FallbackFault);
            }
        }
        if sup.mode() == Mode::SafeStop {
            sup.safe_stop_command(&self.state, &mut self.cmd);
        }
        if let Some(stall) = self.stalls.get(self.next_stall) {
            if stall.cycle == n {
                spin_until_ns(t0 + stall.duration_ns);
                self.next_stall += 1;
            }
        }
        self.stats.limited_targets += sup.limit_target_steps(&mut self.cmd) as u64;
        self.stats.clamped_commands +=
            self.cmd
                .clamp_to(&self.spec, &self.state.joints.position_rad) as u64;
        if self.robot.write(&self.cmd).is_err() {
            self.stats.io_errors += 1;
        }
        sup.count_cycle();
        self.stats.last_compute_ns = now_ns().saturating_sub(t0);
        self.stats.compute.record_ns(self.stats.last_compute_ns);
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

    /// The command written in the last cycle (after the step limit and the limit clamp).
    pub fn command(&self) -> &JointCommand {
        &self.cmd
    }

    /// The supervisor (mode, transitions, cycles per mode).
    pub fn supervisor(&self) -> &Supervisor {
        &self.supervisor
    }

    /// What the controller in charge is doing now.
    pub fn phase(&self) -> &'static str {
        match self.supervisor.mode() {
            Mode::Policy => self.primary.phase(),
            Mode::Fallback => self.fallback.phase(),
            Mode::SafeStop => "safe_stop",
        }
    }
}
