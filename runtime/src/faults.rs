//! The fault schedule: every fault injected on purpose has its one home here. Faults are
//! declared in the config's `faults:` (or `reflex run --fault`), checked at load, compiled to
//! control cycles and policy ticks, and applied each at its own point:
//!
//! - **world** (push, motor weakness): by the plant, before its physics step;
//! - **sensor** (dropout, noise burst): on the robot's read, by the [`Faulted`] wrapper, so they
//!   work the same on every backend;
//! - **timing** (latency spike): a stall in the robot's write, inside the RT cycle, by the same
//!   wrapper;
//! - **policy** (freeze, non-finite action): on the policy thread ([`PolicyFaults`]);
//! - **operator** (e-stop, reset, fallback drill): given to the supervisor at the start of the
//!   cycle ([`FaultSchedule::operator_input`]).

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use reflex_hardware::ros::LoopStatus;
use reflex_hardware::{GroundTruth, HwError, JointCommand, Robot, RobotSpec, RobotState};
use reflex_validate::{Checker, Range};
use serde::Deserialize;

use crate::config::{BackendKind, Config};
use crate::plant::{BridgeReport, Plant, WorldEffect};
use crate::rt::{now_ns, spin_until_ns};

/// A fault injected on purpose.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// The RT cycle stalls (busy-waits in the robot write) for `duration_ms` once, at `at_s`.
    LatencySpike {
        /// When (s since start).
        at_s: f64,
        /// How long the cycle stalls (ms, at most 1000).
        duration_ms: f64,
    },
    /// The policy emits a non-finite action at its first tick at or after `at_s`.
    NonFiniteAction {
        /// When (s since start).
        at_s: f64,
    },
    /// Sensors deliver no new sample from `at_s` for `duration_s`.
    SensorDropout {
        /// When (s since start).
        at_s: f64,
        /// How long (s).
        duration_s: f64,
    },
    /// Gaussian noise of these standard deviations is added to every sample from `at_s` for
    /// `duration_s` (on top of the robot's own).
    SensorNoiseBurst {
        /// When (s since start).
        at_s: f64,
        /// How long (s).
        duration_s: f64,
        /// Joint position noise (rad).
        #[serde(default)]
        joint_position_rad: f64,
        /// Joint velocity noise (rad/s).
        #[serde(default)]
        joint_velocity_rad_s: f64,
        /// Gyro noise (rad/s).
        #[serde(default)]
        gyro_rad_s: f64,
    },
    /// Motors deliver `strength` (0–1) of their torque from `at_s` for `duration_s` (simulator).
    MotorWeakness {
        /// When (s since start).
        at_s: f64,
        /// How long (s).
        duration_s: f64,
        /// Fraction of torque delivered.
        strength: f64,
    },
    /// The e-stop input is pressed at `at_s`.
    Estop {
        /// When (s since start).
        at_s: f64,
    },
    /// A reset back to the policy is requested at `at_s`.
    Reset {
        /// When (s since start).
        at_s: f64,
    },
    /// The supervisor hands over to the fallback at `at_s` (cause `drill`): a rehearsal of the
    /// fallback, and how its closed-loop behaviour is measured.
    FallbackDrill {
        /// When (s since start).
        at_s: f64,
    },
    /// The policy thread freezes (produces no results) from `at_s` for `duration_s`.
    PolicyFreeze {
        /// When (s since start).
        at_s: f64,
        /// How long (s).
        duration_s: f64,
    },
    /// The base carries `mass_kg` more (a payload dropped on it; negative: part or all of
    /// `sim.payload_kg` lost) from `at_s` for `duration_s` (simulator).
    Payload {
        /// When (s since start).
        at_s: f64,
        /// How long (s).
        duration_s: f64,
        /// Mass added (kg; negative: removed, never below no payload).
        mass_kg: f64,
    },
    /// A force pushes the base from `at_s` for `duration_s` (simulator).
    Push {
        /// When (s since start).
        at_s: f64,
        /// How long (s).
        duration_s: f64,
        /// Force in the world frame (N).
        force_n: [f64; 3],
    },
}

impl Fault {
    /// The config spelling of the fault's kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::LatencySpike { .. } => "latency_spike",
            Fault::NonFiniteAction { .. } => "non_finite_action",
            Fault::SensorDropout { .. } => "sensor_dropout",
            Fault::SensorNoiseBurst { .. } => "sensor_noise_burst",
            Fault::MotorWeakness { .. } => "motor_weakness",
            Fault::Estop { .. } => "estop",
            Fault::Reset { .. } => "reset",
            Fault::FallbackDrill { .. } => "fallback_drill",
            Fault::PolicyFreeze { .. } => "policy_freeze",
            Fault::Push { .. } => "push",
            Fault::Payload { .. } => "payload",
        }
    }

    /// When it starts (s).
    pub fn at_s(&self) -> f64 {
        match *self {
            Fault::LatencySpike { at_s, .. }
            | Fault::NonFiniteAction { at_s }
            | Fault::SensorDropout { at_s, .. }
            | Fault::SensorNoiseBurst { at_s, .. }
            | Fault::MotorWeakness { at_s, .. }
            | Fault::Payload { at_s, .. }
            | Fault::Estop { at_s }
            | Fault::Reset { at_s }
            | Fault::FallbackDrill { at_s }
            | Fault::PolicyFreeze { at_s, .. }
            | Fault::Push { at_s, .. } => at_s,
        }
    }

    /// How long it lasts (s); instantaneous faults: 0.
    pub fn duration_s(&self) -> f64 {
        match *self {
            Fault::LatencySpike { duration_ms, .. } => duration_ms / 1e3,
            Fault::SensorDropout { duration_s, .. }
            | Fault::SensorNoiseBurst { duration_s, .. }
            | Fault::MotorWeakness { duration_s, .. }
            | Fault::Payload { duration_s, .. }
            | Fault::PolicyFreeze { duration_s, .. }
            | Fault::Push { duration_s, .. } => duration_s,
            _ => 0.0,
        }
    }
}

/// Longest time a fault may be scheduled at or last (s): a day.
const MAX_FAULT_TIME_S: f64 = 86_400.0;

/// The config rules for faults: finite times within a day, positive bounded durations, values
/// in range, faults that need a policy or the simulator only where they apply, and no two
/// windows of the same kind overlapping (the first's end would cut the second short).
pub fn check(c: &mut Checker, cfg: &Config) {
    let sim = cfg.robot.backend == BackendKind::Sim;
    for (i, f) in cfg.faults.iter().enumerate() {
        let field = |k: &str| format!("faults[{i}].{k}");
        c.require(
            Range::closed(0.0, MAX_FAULT_TIME_S).contains(f.at_s()),
            &field("at_s"),
            "a time ≥ 0 s, at most a day (86400 s)",
            f.at_s(),
        );
        match f {
            Fault::LatencySpike { duration_ms, .. } => {
                c.range(
                    &field("duration_ms"),
                    *duration_ms,
                    "a stall",
                    Range::open_closed(0.0, 1000.0),
                    "ms",
                );
            }
            Fault::SensorDropout { duration_s, .. }
            | Fault::MotorWeakness { duration_s, .. }
            | Fault::Payload { duration_s, .. }
            | Fault::PolicyFreeze { duration_s, .. }
            | Fault::Push { duration_s, .. }
            | Fault::SensorNoiseBurst { duration_s, .. } => {
                c.range(
                    &field("duration_s"),
                    *duration_s,
                    "a duration",
                    Range::open_closed(0.0, MAX_FAULT_TIME_S),
                    "s",
                );
            }
            _ => {}
        }
        match f {
            Fault::SensorNoiseBurst {
                joint_position_rad,
                joint_velocity_rad_s,
                gyro_rad_s,
                ..
            } => {
                let noise = [*joint_position_rad, *joint_velocity_rad_s, *gyro_rad_s];
                for (k, v, hi) in [
                    ("joint_position_rad", noise[0], 1.0),
                    ("joint_velocity_rad_s", noise[1], 100.0),
                    ("gyro_rad_s", noise[2], 100.0),
                ] {
                    c.range(
                        &field(k),
                        v,
                        "a standard deviation",
                        Range::closed(0.0, hi),
                        "",
                    );
                }
                c.require(
                    noise.iter().any(|v| *v > 0.0),
                    &field("kind"),
                    "a burst with some noise (joint_position_rad, joint_velocity_rad_s or gyro_rad_s > 0)",
                    "all zero",
                );
            }
            Fault::MotorWeakness { strength, .. } => {
                c.range(
                    &field("strength"),
                    *strength,
                    "a fraction of torque",
                    Range::closed(0.0, 1.0),
                    "",
                );
            }
            Fault::Payload { mass_kg, .. } => {
                c.range(
                    &field("mass_kg"),
                    *mass_kg,
                    "a mass",
                    Range::closed(-50.0, 50.0),
                    "kg",
                );
            }
            Fault::Push { force_n, .. } => {
                c.each(
                    &field("force_n"),
                    force_n,
                    "a force",
                    Range::closed(-10_000.0, 10_000.0),
                    "N",
                );
            }
            _ => {}
        }
        let needs_policy = matches!(
            f,
            Fault::PolicyFreeze { .. } | Fault::NonFiniteAction { .. }
        );
        if needs_policy && cfg.policy.is_none() {
            c.error(
                field("kind"),
                format!(
                    "a fault that applies: {} needs a `policy:` section",
                    f.kind()
                ),
                f.kind(),
            );
        }
        let needs_sim = matches!(
            f,
            Fault::Push { .. } | Fault::MotorWeakness { .. } | Fault::Payload { .. }
        );
        if needs_sim && !sim {
            c.error(
                field("kind"),
                format!(
                    "a fault that applies: {} acts on the simulated world (robot.backend: sim)",
                    f.kind()
                ),
                f.kind(),
            );
        }
        for (j, g) in cfg.faults[..i].iter().enumerate() {
            let same = std::mem::discriminant(f) == std::mem::discriminant(g);
            let windowed = f.duration_s() > 0.0 && !matches!(f, Fault::LatencySpike { .. });
            let overlap =
                f.at_s() < g.at_s() + g.duration_s() && g.at_s() < f.at_s() + f.duration_s();
            if same && windowed && overlap {
                c.error(
                    field("at_s"),
                    format!(
                        "a {} that does not overlap faults[{j}] ({} s for {} s)",
                        f.kind(),
                        g.at_s(),
                        g.duration_s()
                    ),
                    f.at_s(),
                );
            }
        }
    }
}

/// An effect over a window of control cycles: from `from_cycle` (inclusive) to `to_cycle`
/// (exclusive).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window<E> {
    /// First cycle.
    pub from_cycle: u64,
    /// First cycle after.
    pub to_cycle: u64,
    /// What happens.
    pub effect: E,
}

impl<E> Window<E> {
    fn contains(&self, cycle: u64) -> bool {
        cycle >= self.from_cycle && cycle < self.to_cycle
    }
}

/// What a sensor fault does to the robot's read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SensorEffect {
    /// No new sample.
    Dropout,
    /// Added Gaussian noise (standard deviations: joint position rad, joint velocity rad/s, gyro
    /// rad/s).
    Noise([f64; 3]),
}

/// A stall of the RT cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stall {
    /// Cycle in which it happens.
    pub cycle: u64,
    /// How long (ns).
    pub duration_ns: u64,
}

/// A freeze of the policy thread.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PolicyStall {
    /// First policy tick that stalls.
    pub from_tick: u64,
    /// Ticks it lasts.
    pub ticks: u64,
}

/// Faults the policy thread applies to itself.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PolicyFaults {
    /// Windows in which the thread produces nothing.
    pub freezes: Vec<PolicyStall>,
    /// Ticks whose published target is NaN (the model "emits" a non-finite action).
    pub non_finite_ticks: Vec<u64>,
}

impl PolicyFaults {
    /// The freeze covering `tick`, if any.
    pub fn freeze_at(&self, tick: u64) -> Option<PolicyStall> {
        self.freezes
            .iter()
            .find(|s| tick >= s.from_tick && tick < s.from_tick + s.ticks)
            .copied()
    }
}

/// What the operator (or a scripted fault) asks of the supervisor at the start of a cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperatorInput {
    /// E-stop pressed: safe stop until reset.
    Estop,
    /// Back to the policy (releases the e-stop).
    Reset,
    /// Hand over to the fallback (a drill).
    FallbackDrill,
}

/// A config's faults compiled to cycles and ticks.
#[derive(Debug, Clone, Default)]
pub struct FaultSchedule {
    /// World effects, applied by the plant before physics.
    pub world: Vec<Window<WorldEffect>>,
    /// Sensor effects, applied on the robot's read.
    pub sensor: Vec<Window<SensorEffect>>,
    /// Stalls of the RT cycle.
    pub stalls: Vec<Stall>,
    /// Policy-thread faults.
    pub policy: PolicyFaults,
    /// Operator inputs by cycle, in order.
    pub operator: Vec<(u64, OperatorInput)>,
}

impl FaultSchedule {
    /// Compiles `faults` for a loop at `control_hz` with a policy at `policy_hz`.
    pub fn compile(faults: &[Fault], control_hz: f64, policy_hz: f64) -> FaultSchedule {
        let cycle = |t: f64| (t * control_hz).round() as u64;
        let tick = |t: f64| (t * policy_hz).ceil() as u64;
        let mut s = FaultSchedule::default();
        fn window<E>(from: u64, to: u64, effect: E) -> Window<E> {
            Window {
                from_cycle: from,
                to_cycle: to.max(from + 1),
                effect,
            }
        }
        for f in faults {
            let at = f.at_s();
            let (from, to) = (cycle(at), cycle(at + f.duration_s()));
            match *f {
                Fault::Push { force_n, .. } => {
                    s.world.push(window(from, to, WorldEffect::Push(force_n)))
                }
                Fault::MotorWeakness { strength, .. } => {
                    s.world
                        .push(window(from, to, WorldEffect::MotorStrength(strength)))
                }
                Fault::Payload { mass_kg, .. } => {
                    s.world
                        .push(window(from, to, WorldEffect::Payload(mass_kg)))
                }
                Fault::SensorDropout { .. } => {
                    s.sensor.push(window(from, to, SensorEffect::Dropout))
                }
                Fault::SensorNoiseBurst {
                    joint_position_rad,
                    joint_velocity_rad_s,
                    gyro_rad_s,
                    ..
                } => s.sensor.push(window(
                    from,
                    to,
                    SensorEffect::Noise([joint_position_rad, joint_velocity_rad_s, gyro_rad_s]),
                )),
                Fault::LatencySpike { duration_ms, .. } => s.stalls.push(Stall {
                    cycle: cycle(at),
                    duration_ns: (duration_ms * 1e6) as u64,
                }),
                Fault::PolicyFreeze { duration_s, .. } => s.policy.freezes.push(PolicyStall {
                    from_tick: tick(at),
                    ticks: ((duration_s * policy_hz).round() as u64).max(1),
                }),
                Fault::NonFiniteAction { .. } => s.policy.non_finite_ticks.push(tick(at)),
                Fault::Estop { .. } => s.operator.push((cycle(at), OperatorInput::Estop)),
                Fault::Reset { .. } => s.operator.push((cycle(at), OperatorInput::Reset)),
                Fault::FallbackDrill { .. } => {
                    s.operator.push((cycle(at), OperatorInput::FallbackDrill))
                }
            }
        }
        s.stalls.sort_by_key(|x| x.cycle);
        s.operator.sort_by_key(|x| x.0);
        s
    }

    /// Warnings for faults that a run of `duration_s` will never reach.
    pub fn unreached(faults: &[Fault], duration_s: f64) -> Vec<String> {
        faults
            .iter()
            .enumerate()
            .filter(|(_, f)| f.at_s() >= duration_s)
            .map(|(i, f)| {
                format!(
                    "faults[{i}] ({} at {} s) is at or after the run's end ({duration_s} s): it will not fire",
                    f.kind(),
                    f.at_s()
                )
            })
            .collect()
    }

    /// The operator inputs of `cycle` (allocation-free; `cursor` keeps the position).
    pub fn operator_input(&self, cycle: u64, cursor: &mut usize) -> Option<OperatorInput> {
        while let Some(&(c, input)) = self.operator.get(*cursor) {
            if c > cycle {
                return None;
            }
            *cursor += 1;
            if c == cycle {
                return Some(input);
            }
        }
        None
    }
}

/// A robot with the schedule's sensor, timing and world faults applied: the backend every run
/// drives. Without faults it adds a few comparisons per cycle.
pub struct Faulted<P: Plant> {
    inner: P,
    world: Vec<(Window<WorldEffect>, bool)>,
    sensor: Vec<Window<SensorEffect>>,
    stalls: Vec<Stall>,
    next_stall: usize,
    cycle: Option<u64>,
    rng: ChaCha8Rng,
    delays: Delays,
}

/// Latencies the loop lives with on a real robot, simulated: the IMU reading `imu` cycles old,
/// commands reaching the motors `action` cycles after they are written. Ring buffers sized at
/// construction: nothing allocates in the loop.
pub struct Delays {
    imu: Vec<reflex_hardware::ImuState>,
    commands: Vec<JointCommand>,
    imu_at: usize,
    cmd_at: usize,
    imu_filled: usize,
    cmd_filled: usize,
}

impl Delays {
    /// No delay.
    pub fn none() -> Self {
        Self::new(None, 0, 0)
    }

    /// `imu_cycles` of IMU latency and `action_cycles` of actuation delay for `spec`'s robot.
    pub fn new(spec: Option<&RobotSpec>, imu_cycles: usize, action_cycles: usize) -> Self {
        let cmds = match spec {
            Some(sp) if action_cycles > 0 => vec![JointCommand::new(sp); action_cycles + 1],
            _ => vec![],
        };
        Self {
            imu: vec![
                reflex_hardware::ImuState::default();
                if imu_cycles > 0 { imu_cycles + 1 } else { 0 }
            ],
            commands: cmds,
            imu_at: 0,
            cmd_at: 0,
            imu_filled: 0,
            cmd_filled: 0,
        }
    }

    /// Stores this cycle's IMU reading and replaces it with the one from `imu_cycles` ago (the
    /// oldest there is until the buffer has filled).
    fn delay_imu(&mut self, imu: &mut reflex_hardware::ImuState) {
        let n = self.imu.len();
        if n == 0 {
            return;
        }
        self.imu[self.imu_at] = *imu;
        self.imu_filled = (self.imu_filled + 1).min(n);
        let oldest = (self.imu_at + n + 1 - self.imu_filled) % n;
        *imu = self.imu[oldest];
        self.imu_at = (self.imu_at + 1) % n;
    }

    /// Stores `cmd` and returns the command to send now: the one from `action_cycles` ago.
    fn delay_command<'a>(&'a mut self, cmd: &'a JointCommand) -> &'a JointCommand {
        let n = self.commands.len();
        if n == 0 {
            return cmd;
        }
        self.commands[self.cmd_at].copy_from(cmd);
        self.cmd_filled = (self.cmd_filled + 1).min(n);
        let oldest = (self.cmd_at + n + 1 - self.cmd_filled) % n;
        self.cmd_at = (self.cmd_at + 1) % n;
        &self.commands[oldest]
    }
}

impl<P: Plant> Faulted<P> {
    /// Wraps `inner` with `schedule`'s faults; `seed` makes the injected noise reproducible.
    pub fn new(inner: P, schedule: &FaultSchedule, seed: u64, delays: Delays) -> Self {
        Self {
            inner,
            world: schedule.world.iter().map(|w| (*w, false)).collect(),
            sensor: schedule.sensor.clone(),
            stalls: schedule.stalls.clone(),
            next_stall: 0,
            cycle: None,
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_fa17),
            delays,
        }
    }

    /// The wrapped backend.
    pub fn inner(&self) -> &P {
        &self.inner
    }

    /// The wrapped backend.
    pub fn inner_mut(&mut self) -> &mut P {
        &mut self.inner
    }

    fn gauss(&mut self, std: f64) -> f64 {
        if std > 0.0 {
            let z: f64 = StandardNormal.sample(&mut self.rng);
            z * std
        } else {
            0.0
        }
    }
}

impl<P: Plant> Robot for Faulted<P> {
    fn spec(&self) -> &RobotSpec {
        self.inner.spec()
    }
    fn activate(&mut self) -> Result<(), HwError> {
        self.inner.activate()
    }
    fn deactivate(&mut self) -> Result<(), HwError> {
        self.inner.deactivate()
    }
    fn read(&mut self, out: &mut RobotState) -> Result<(), HwError> {
        let Some(n) = self.cycle else {
            return self.inner.read(out);
        };
        let mut noise = [0.0; 3];
        for w in &self.sensor {
            if w.contains(n) {
                match w.effect {
                    SensorEffect::Dropout => return Err(HwError::NoData),
                    SensorEffect::Noise(s) => noise = s,
                }
            }
        }
        self.inner.read(out)?;
        self.delays.delay_imu(&mut out.imu);
        if noise != [0.0; 3] {
            for i in 0..out.num_joints() {
                out.joints.position_rad[i] += self.gauss(noise[0]);
                out.joints.velocity_rad_s[i] += self.gauss(noise[1]);
            }
            for k in 0..3 {
                out.imu.angular_velocity_rad_s[k] += self.gauss(noise[2]);
            }
        }
        Ok(())
    }
    fn write(&mut self, cmd: &JointCommand) -> Result<(), HwError> {
        let r = self.inner.write(self.delays.delay_command(cmd));
        if let (Some(n), Some(s)) = (self.cycle, self.stalls.get(self.next_stall)) {
            if s.cycle == n {
                spin_until_ns(now_ns() + s.duration_ns);
                self.next_stall += 1;
            }
        }
        r
    }
}

impl<P: Plant> Plant for Faulted<P> {
    fn begin_cycle(&mut self, cycle: u64) {
        self.cycle = Some(cycle);
        while self
            .stalls
            .get(self.next_stall)
            .is_some_and(|s| s.cycle < cycle)
        {
            self.next_stall += 1;
        }
        self.inner.begin_cycle(cycle);
    }
    fn advance(&mut self, cycle: u64) {
        for (w, active) in self.world.iter_mut() {
            let on = w.contains(cycle);
            if on != *active {
                *active = on;
                self.inner.set_world_effect(w.effect, on);
            }
        }
        self.inner.advance(cycle);
    }
    fn set_world_effect(&mut self, effect: WorldEffect, on: bool) -> bool {
        self.inner.set_world_effect(effect, on)
    }
    fn ground_truth(&self) -> Option<GroundTruth> {
        self.inner.ground_truth()
    }
    fn wait_for_state(&mut self, deadline_ns: u64, spin: crate::plant::SpinWindow) -> Option<bool> {
        self.inner.wait_for_state(deadline_ns, spin)
    }
    fn publish_status(&mut self, status: &LoopStatus) {
        self.inner.publish_status(status)
    }
    fn physics_steps(&self) -> usize {
        self.inner.physics_steps()
    }
    fn bridge_report(&self) -> Option<BridgeReport> {
        self.inner.bridge_report()
    }
    fn describe_inputs(&self) -> String {
        self.inner.describe_inputs()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_hand_back_the_reading_and_command_from_n_cycles_ago() {
        let spec = RobotSpec::uniform(
            "t",
            reflex_hardware::RobotKind::Legged,
            &["a"],
            reflex_hardware::JointLimits {
                lower_rad: -1.0,
                upper_rad: 1.0,
                velocity_rad_s: 1.0,
                effort_nm: 1.0,
            },
        );
        let mut d = Delays::new(Some(&spec), 2, 3);
        let mut cmd = JointCommand::new(&spec);
        let (mut imus, mut sent) = (Vec::new(), Vec::new());
        for k in 0..8 {
            let mut imu = reflex_hardware::ImuState::default();
            imu.angular_velocity_rad_s[0] = k as f64;
            d.delay_imu(&mut imu);
            imus.push(imu.angular_velocity_rad_s[0]);
            cmd.position_rad[0] = k as f64;
            sent.push(d.delay_command(&cmd).position_rad[0]);
        }
        // The oldest there is until the buffer fills, then exactly n cycles old.
        assert_eq!(imus, [0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(sent, [0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 4.0]);
        let mut none = Delays::none();
        let mut imu = reflex_hardware::ImuState::default();
        imu.angular_velocity_rad_s[0] = 7.0;
        none.delay_imu(&mut imu);
        assert_eq!(imu.angular_velocity_rad_s[0], 7.0);
    }

    #[test]
    fn faults_compile_to_cycles_and_ticks() {
        let faults = vec![
            Fault::Push {
                at_s: 3.0,
                duration_s: 0.2,
                force_n: [0.0, 60.0, 0.0],
            },
            Fault::NonFiniteAction { at_s: 3.01 },
            Fault::Estop { at_s: 2.0 },
            Fault::Reset { at_s: 1.0 },
            Fault::LatencySpike {
                at_s: 0.5,
                duration_ms: 5.0,
            },
        ];
        let s = FaultSchedule::compile(&faults, 500.0, 50.0);
        assert_eq!((s.world[0].from_cycle, s.world[0].to_cycle), (1500, 1600));
        assert_eq!(s.policy.non_finite_ticks, vec![151]);
        assert_eq!(
            s.operator,
            vec![(500, OperatorInput::Reset), (1000, OperatorInput::Estop)]
        );
        assert_eq!(
            s.stalls,
            vec![Stall {
                cycle: 250,
                duration_ns: 5_000_000
            }]
        );
        let mut cursor = 0;
        let inputs: Vec<_> = (0..1200)
            .filter_map(|n| s.operator_input(n, &mut cursor).map(|i| (n, i)))
            .collect();
        assert_eq!(
            inputs,
            vec![(500, OperatorInput::Reset), (1000, OperatorInput::Estop)]
        );
        assert_eq!(
            FaultSchedule::unreached(&faults, 2.5).len(),
            2,
            "the push and the non-finite action are after a 2.5 s run"
        );
    }
}
