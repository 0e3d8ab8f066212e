//! The RT cycle: read → operator inputs → policy hand-off → supervise → command from whoever the
//! supervisor puts in charge (start-up controller, policy targets, certified fallback, safe stop)
//! → bumpless step limit → clamp to limits → write, with its own measurements.
//!
//! [`ControlLoop::cycle`] is the whole RT body. It allocates nothing, takes no lock and makes no
//! syscall besides reading the vDSO clock and the robot's own I/O (lockstep runs also park while
//! the policy thread handles a tick); its work is bounded by the controllers'. `tests/` proves
//! the no-allocation part with a counting global allocator, through the run driver.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use reflex_hardware::{HwError, JointCommand, Robot, RobotSpec, RobotState};
use reflex_policies::tracking::TargetTracker;
use reflex_policies::{Controller, Phase, Tick};

use crate::policy_thread::PolicyLink;
use crate::rt::now_ns;
use crate::stats::LoopStats;
use crate::supervisor::{Cause, Commander, Mode, Supervisor, SupervisorConfig};

pub use reflex_hardware::OperatorInputs;

/// A learned policy as the RT thread executes it: the hand-off link and the target tracker.
pub struct PolicyStage {
    /// Hand-off with the policy thread, lateness accounting.
    pub link: PolicyLink,
    /// Turns targets into motor commands.
    pub tracker: TargetTracker,
}

/// The RT loop's state: the robot, the controllers and the buffers they share, all allocated
/// before the first cycle.
pub struct ControlLoop<R: Robot> {
    robot: R,
    startup: Box<dyn Controller>,
    policy: Option<PolicyStage>,
    fallback: Box<dyn Controller>,
    supervisor: Supervisor,
    spec: RobotSpec,
    state: RobotState,
    cmd: JointCommand,
    period_s: f64,
    policy_decimation: u64,
    operator: Arc<OperatorInputs>,
    /// The engagement stamp of the last e-stop acted on (0: none).
    estop_acted_on_ns: u64,
    /// CLOCK_MONOTONIC at the start of the previous cycle (0: none yet).
    previous_cycle_ns: u64,
    /// The e-stop flag as the previous cycle saw it.
    estop_was_on: bool,
    /// (start of the cycle that first saw the flag, start of the one before).
    estop_first_seen: (u64, u64),
    /// CLOCK_MONOTONIC at the first cycle when loop time is wall time (robot-triggered loops,
    /// whose cycles are not evenly spaced); `None`: loop time is cycles × period.
    wall_clock_origin: Option<Option<u64>>,
    /// Measurements; read them after the loop (or between cycles on the same thread).
    pub stats: LoopStats,
}

impl<R: Robot> ControlLoop<R> {
    /// A loop at `control_hz` whose policy ticks every `policy_decimation` cycles. `startup`
    /// commands until the policy (if any) takes over, `fallback` in FALLBACK mode; `operator`
    /// carries the e-stop, reset and drill inputs any thread may set.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        robot: R,
        startup: Box<dyn Controller>,
        policy: Option<PolicyStage>,
        fallback: Box<dyn Controller>,
        safety: SupervisorConfig,
        control_hz: f64,
        policy_decimation: u64,
        operator: Arc<OperatorInputs>,
    ) -> Self {
        let spec = robot.spec().clone();
        Self {
            state: RobotState::new(&spec),
            cmd: JointCommand::new(&spec),
            supervisor: Supervisor::new(safety, &spec),
            robot,
            startup,
            policy,
            fallback,
            spec,
            period_s: 1.0 / control_hz,
            policy_decimation: policy_decimation.max(1),
            operator,
            estop_acted_on_ns: 0,
            previous_cycle_ns: 0,
            estop_was_on: false,
            estop_first_seen: (0, 0),
            wall_clock_origin: None,
            stats: LoopStats::default(),
        }
    }

    /// Activates the robot, waits up to `timeout` for its first complete state and resets the
    /// controllers on it. Not RT. On timeout: [`HwError::NoData`].
    pub fn start(&mut self, timeout: std::time::Duration) -> Result<(), HwError> {
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
        self.startup.reset(&self.state);
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

    /// The operator inputs (e-stop, reset, drill): set them from any thread.
    pub fn operator(&self) -> Arc<OperatorInputs> {
        self.operator.clone()
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
        let op = &self.operator;
        let estop = op.estop.load(Ordering::Acquire);
        if estop {
            sup.switch(n, Mode::SafeStop, Cause::EStop);
            if !self.estop_was_on {
                self.estop_first_seen = (t0, self.previous_cycle_ns);
            }
            // The engagement's stamp is taken just after the flag is set: a cycle that started
            // after it and did not act on it would be late.
            let engaged = op.estop_engaged_ns.load(Ordering::Acquire);
            if engaged != 0 && engaged != self.estop_acted_on_ns {
                self.estop_acted_on_ns = engaged;
                let (seen, previous) = self.estop_first_seen;
                let st = &mut self.stats;
                st.estops_seen += 1;
                st.estops_seen_late += u64::from(previous > engaged);
                st.estop_max_reaction_ns =
                    st.estop_max_reaction_ns.max(seen.saturating_sub(engaged));
            }
        } else if op.heartbeat_lost(t0) {
            sup.switch(n, Mode::SafeStop, Cause::EStopHeartbeat);
        } else if self.operator.reset.swap(false, Ordering::Relaxed) && sup.mode() != Mode::Policy {
            sup.switch(n, Mode::Policy, Cause::Reset);
            if sup.commander() == Commander::StartUp {
                self.startup.reset(&self.state);
            }
        }
        self.previous_cycle_ns = t0;
        self.estop_was_on = estop;
        if self.operator.drill.swap(false, Ordering::Relaxed) && sup.mode() == Mode::Policy {
            sup.switch(n, Mode::Fallback, Cause::Drill);
        }
        // The policy observes from the moment the start-up controller has the robot ready (its
        // history and last action begin there, as a training episode does) in every mode, so
        // that a reset finds it current; its lateness counts once it commands.
        let mut late = 0;
        if let Some(p) = self.policy.as_mut() {
            let handed_over = sup.handover_cycle().is_some();
            let observing = handed_over || self.startup.phase() == Phase::Holding;
            let counting = sup.commander() == Commander::Policy;
            if p.link.exchange(&tick, &self.state, observing, counting) {
                p.tracker.retarget(n, &self.cmd.position_rad);
            }
            late = p.link.consecutive_late();
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
            } else if sup.commander() == Commander::Policy && sup.late(late) {
                sup.switch(n, Mode::Fallback, Cause::PolicyLate);
            }
        }
        // Back from a transient sensor gap, when the config allows it.
        if sup.mode() == Mode::Fallback
            && sup.recover(n, now_s, sensor.is_none() && attitude.is_none())
            && sup.commander() == Commander::StartUp
        {
            self.startup.reset(&self.state);
        }
        // The command, from whoever is in charge; a fault in it hands over in this same cycle.
        if sup.commander() == Commander::StartUp {
            let r = self.startup.update(&tick, &self.state, &mut self.cmd);
            let ready = r.is_ok()
                && self.startup.phase() == Phase::Holding
                && self.policy.as_ref().is_some_and(|p| p.link.has_target());
            if ready {
                sup.hand_over(n);
                if let Some(p) = self.policy.as_mut() {
                    p.tracker.retarget(n, &self.cmd.position_rad);
                }
            } else if r.is_err() {
                sup.switch(n, Mode::Fallback, Cause::NonFiniteAction);
            }
        }
        if sup.commander() == Commander::Policy {
            let r = match self.policy.as_mut() {
                Some(p) => p
                    .tracker
                    .command(n, p.link.target(), &self.state, &mut self.cmd),
                None => Ok(()),
            };
            if r.is_err() {
                sup.switch(n, Mode::Fallback, Cause::NonFiniteAction);
            }
        }
        if sup.mode() == Mode::Policy {
            let fault = sup
                .check_command(&self.cmd, &self.spec)
                .or_else(|| sup.check_saturation(&self.cmd, &self.state, &self.spec, now_s));
            if let Some(cause) = fault {
                sup.switch(n, Mode::Fallback, cause);
            }
        }
        if sup.mode() == Mode::Fallback {
            let r = self.fallback.update(&tick, &self.state, &mut self.cmd);
            if r.is_err()
                || sup.check_command(&self.cmd, &self.spec) == Some(Cause::NonFiniteAction)
            {
                sup.switch(n, Mode::SafeStop, Cause::FallbackFault);
            }
        }
        if sup.mode() == Mode::SafeStop {
            sup.safe_stop_command(&self.state, &mut self.cmd);
        }
        self.stats.limited_targets += sup.limit_target_steps(&mut self.cmd) as u64;
        self.stats.clamped_commands +=
            self.cmd
                .clamp_to(&self.spec, &self.state.joints.position_rad) as u64;
        if self.robot.write(&self.cmd).is_err() {
            self.stats.io_errors += 1;
        }
        sup.count_cycle();
        let waited = self.policy.as_mut().map_or(0, |p| p.link.take_wait_ns());
        self.stats.last_compute_ns = now_ns().saturating_sub(t0).saturating_sub(waited);
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

    /// The robot and the loop's measurements at once (for the scheduler's wait).
    pub fn robot_and_stats(&mut self) -> (&mut R, &mut LoopStats) {
        (&mut self.robot, &mut self.stats)
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

    /// The policy's link, when the loop runs one.
    pub fn policy_link(&self) -> Option<&PolicyLink> {
        self.policy.as_ref().map(|p| &p.link)
    }

    /// What the controller in charge is doing now.
    pub fn phase(&self) -> Phase {
        match self.supervisor.commander() {
            Commander::StartUp => self.startup.phase(),
            Commander::Policy => Phase::Policy,
            Commander::Fallback => Phase::Fallback,
            Commander::SafeStop => Phase::SafeStop,
        }
    }
}
