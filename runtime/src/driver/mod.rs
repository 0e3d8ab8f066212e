//! The one run driver: every loop Reflex runs — `reflex run`, `reflex node`, `reflex record`,
//! `reflex fallback-fit`, closed-loop evaluation and the tests — is [`run`].
//!
//! It builds the backend and controllers from the config ([`crate::assemble`]), wraps the
//! backend with the config's fault schedule ([`crate::faults`]), starts the policy thread, and
//! runs the RT thread: the [`scheduler`] starts each cycle and accounts for its timing, the
//! [`ControlLoop`] body runs, the world advances (simulated physics, measured apart), the
//! diagnostics status is published, and every [`Observer`] sees the cycle. Observers run on the
//! RT thread: keep them short and allocation-free on the real-time clock.

pub mod outcome;
pub mod report;
pub mod scheduler;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reflex_hardware::ros::LoopStatus;
use reflex_hardware::{GroundTruth, HwError, JointCommand, OperatorInputs, Robot, RobotState};
use reflex_policies::fallback::CertifiedFallback;
use reflex_policies::tracking::TargetTracker;
use reflex_policies::{Controller, Phase};

use crate::assemble::{self, LoadedPolicy};
use crate::config::{BackendKind, ClockKind, ConfigError, LoadedConfig, TriggerKind};
use crate::control_loop::{ControlLoop, PolicyStage};
use crate::faults::{Delays, FaultSchedule, Faulted, OperatorInput};
use crate::plant::{Plant, SimPlant};
use crate::policy_thread::{self, Commands, PolicyTiming};
use crate::rt::{self, now_ns, thread_cpu_ns, RtStatus};
use crate::supervisor::Mode;
use crate::threads::{self, ThreadsReport};
use outcome::OutcomeTracker;
use report::{
    EstopReport, FallbackInfo, PolicyReport, RunReport, SupervisorReport, TraceRow,
    TransitionReport, TRACE_CAPACITY, TRACE_HZ,
};
use scheduler::{Scheduler, Trigger};

/// Why a run could not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The config (or a file it names) was refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The simulator could not be built.
    #[error("{file}: simulator: {reason}")]
    Sim {
        /// The config file.
        file: PathBuf,
        /// What failed.
        reason: String,
    },
    /// No state arrived from the robot at start-up.
    #[error("no state from the robot within {waited_s} s: waited for {inputs}. {hint}")]
    NoFirstState {
        /// How long it waited (s).
        waited_s: f64,
        /// What it waited for (topics, types, domain).
        inputs: String,
        /// What to check.
        hint: &'static str,
    },
    /// The robot refused a lifecycle transition.
    #[error("robot: {0}")]
    Hardware(HwError),
    /// The certified fallback was refused.
    #[error(transparent)]
    Fallback(#[from] reflex_policies::fallback::FallbackError),
    /// ONNX Runtime or a model was refused.
    #[error(transparent)]
    Onnx(#[from] reflex_policies::onnx::OnnxError),
    /// The ROS 2 bridge could not start.
    #[error("{0}")]
    Bridge(String),
    /// The RT or policy thread could not be started or died.
    #[error("{0}")]
    Thread(String),
}

/// Live progress, readable from another thread while the loop runs.
#[derive(Debug, Default)]
pub struct Progress {
    /// Cycles completed.
    pub cycles: AtomicU64,
    /// Overruns so far.
    pub overruns: AtomicU64,
    /// Set by the RT thread when it has finished.
    pub done: AtomicBool,
}

/// What an observer sees after each cycle.
pub struct CycleView<'a> {
    /// Cycle number.
    pub cycle: u64,
    /// Loop time at the start of the cycle (s).
    pub time_s: f64,
    /// Mode the command of this cycle came from.
    pub mode: Mode,
    /// What the controller in charge is doing.
    pub phase: Phase,
    /// The state read in this cycle.
    pub state: &'a RobotState,
    /// The command written in this cycle.
    pub command: &'a JointCommand,
    /// Simulator ground truth after this cycle's physics (`None` on real robots).
    pub ground_truth: Option<GroundTruth>,
    /// The velocity command of the policy's newest target (locomotion policies).
    pub policy_command: Option<[f64; 3]>,
    /// The robot's joint limits, in the order of `state` and `command`.
    pub limits: &'a [reflex_hardware::JointLimits],
}

/// A per-cycle hook: recorders, outcome trackers, scenario metrics, test probes. Runs on the RT
/// thread after the cycle's world step.
pub trait Observer: Send {
    /// On the RT thread, once the robot is active and before the first cycle.
    fn started(&mut self) {}

    /// After cycle `view.cycle` and its world step.
    fn on_cycle(&mut self, view: &CycleView);

    /// Just before (`starting`) and after the world's step of each cycle: e.g. to keep the
    /// simulator's physics out of a measurement of the RT path.
    fn world_step(&mut self, _starting: bool) {}
}

impl<F: FnMut(&CycleView) + Send> Observer for F {
    fn on_cycle(&mut self, view: &CycleView) {
        self(view)
    }
}

/// How to run.
#[derive(Default)]
pub struct RunOptions<'a> {
    /// Robot time to run (s); `None`: until `stop`.
    pub duration_s: Option<f64>,
    /// Ends the run when set (e.g. by SIGINT).
    pub stop: Option<&'a AtomicBool>,
    /// Updated as the run goes.
    pub progress: Option<&'a Progress>,
    /// ROS topic remaps from `--ros-args`.
    pub remaps: &'a [(String, String)],
    /// Per-cycle hooks.
    pub observers: Vec<&'a mut dyn Observer>,
    /// Use this fallback instead of the config's (closed-loop evaluation of a candidate).
    pub fallback: Option<CertifiedFallback>,
    /// The outcome is measured from this long after the robot is ready (the start-up
    /// controller holding, or the policy in command); `None`: 0.5 s.
    pub settle_s: Option<f64>,
    /// Leave warnings to the report (scenario episodes: hundreds of runs of one config).
    pub quiet: bool,
    /// The world does not advance: no physics between cycles (`reflex bench loop`: the RT thread
    /// as on a real robot, where physics is the world's own and costs the thread nothing).
    pub world_frozen: bool,
}

/// Runs the config's loop and returns its report.
pub fn run(cfg: &LoadedConfig, opts: RunOptions<'_>) -> Result<RunReport, RunError> {
    let schedule = FaultSchedule::compile(
        &cfg.config.faults,
        cfg.config.rates.control_hz,
        cfg.config.rates.policy_hz,
    );
    match cfg.config.robot.backend {
        BackendKind::Sim => {
            let sim = assemble::build_sim(cfg)?;
            let s = cfg.config.sim.as_ref();
            let seed = s.map_or(0, |s| s.seed);
            let delays = Delays::new(
                Some(reflex_hardware::Robot::spec(&sim)),
                s.map_or(0, |s| s.imu_latency_cycles),
                s.map_or(0, |s| s.action_delay_cycles),
            );
            let plant = Faulted::new(
                SimPlant::new(sim, cfg.physics_decimation()),
                &schedule,
                seed,
                delays,
            );
            drive(cfg, plant, schedule, opts)
        }
        BackendKind::Ros2 => {
            let ros = assemble::build_ros(cfg, opts.remaps)?;
            drive(
                cfg,
                Faulted::new(ros, &schedule, 0, Delays::none()),
                schedule,
                opts,
            )
        }
        BackendKind::Unitree => {
            let robot = assemble::build_unitree(cfg)?;
            drive(
                cfg,
                Faulted::new(robot, &schedule, 0, Delays::none()),
                schedule,
                opts,
            )
        }
    }
}

fn trigger(cfg: &LoadedConfig) -> Trigger {
    if let (ClockKind::Realtime, Some(u)) = (cfg.clock(), cfg.config.unitree.as_ref()) {
        // The robot sends a LowState every 2 ms: each one starts a cycle.
        return Trigger::RobotState {
            timeout_ns: (u.state_timeout_ms * 1e6) as u64,
            spin_ns: cfg.config.realtime.spin_for_state_us * 1_000,
        };
    }
    match (cfg.clock(), cfg.config.ros.as_ref()) {
        (ClockKind::Lockstep, _) => Trigger::Lockstep,
        (ClockKind::Realtime, Some(r)) if r.trigger == TriggerKind::RobotState => {
            Trigger::RobotState {
                timeout_ns: (r.state_timeout_ms * 1e6) as u64,
                spin_ns: cfg.config.realtime.spin_for_state_us * 1_000,
            }
        }
        (ClockKind::Realtime, _) => Trigger::Clock,
    }
}

fn drive<P: Plant>(
    cfg: &LoadedConfig,
    plant: Faulted<P>,
    schedule: FaultSchedule,
    mut opts: RunOptions<'_>,
) -> Result<RunReport, RunError> {
    let spec = plant.spec().clone();
    let startup = assemble::build_startup(cfg, &spec)?;
    let (fallback, fallback_info): (Box<dyn Controller>, FallbackInfo) = match opts.fallback.take()
    {
        Some(fb) => {
            let info = assemble::certified_info(&fb, None);
            (Box::new(fb), info)
        }
        None => assemble::build_fallback(cfg, &spec)?,
    };
    let loaded = assemble::build_policy(cfg, &spec)?;
    let c = &cfg.config;
    let control_hz = c.rates.control_hz;
    let cycles_total = opts
        .duration_s
        .map(|d| (d * control_hz).round().max(1.0) as u64)
        .unwrap_or(u64::MAX);
    let period_ns = (1e9 / control_hz).round() as u64;
    let trigger = trigger(cfg);
    let mut warnings: Vec<String> = cfg.warnings.iter().map(|w| w.to_string()).collect();
    if let Some(d) = opts.duration_s {
        warnings.extend(FaultSchedule::unreached(&c.faults, d));
    }
    for w in &warnings {
        if !opts.quiet {
            eprintln!("[reflex] warning: {}: {w}", cfg.file.display());
        }
    }

    // E-stop, reset and drill: the fault schedule, the teleop node and the RT thread share them.
    let operator = Arc::new(OperatorInputs::default());
    let mut teleop = match assemble::teleop_config(cfg, opts.remaps) {
        Some(tc) => Some(assemble::build_teleop(cfg, &tc, operator.clone())?),
        None => None,
    };
    let mut policy_meta = None;
    let mut policy_thread = None;
    let stage = match loaded {
        None => None,
        Some(LoadedPolicy {
            policy,
            impedance,
            interpolate,
            commands,
            intervention,
        }) => {
            let providers = policy.providers();
            for p in &providers {
                for (ep, why) in &p.failed {
                    if !opts.quiet {
                        eprintln!("[reflex] execution provider {ep:?} unavailable: {why}");
                    }
                }
            }
            policy_meta = Some((
                policy.manifest().file.display().to_string(),
                policy.kind(),
                providers,
            ));
            let timing = PolicyTiming {
                clock: cfg.clock(),
                decimation: cfg.policy_decimation(),
                period_ns,
                lockstep_latency_cycles: cfg
                    .config
                    .sim
                    .as_ref()
                    .map_or(0, |s| s.policy_latency_cycles),
            };
            let live = teleop.as_mut().and_then(|t| t.take_velocity());
            let human = teleop
                .as_mut()
                .and_then(|t| t.take_human())
                .zip(intervention);
            let (thread, link) = policy_thread::spawn(
                policy,
                spec.num_joints(),
                &RobotState::new(&spec),
                timing,
                schedule.policy.clone(),
                Commands {
                    source: commands,
                    live,
                    human,
                },
            )
            .map_err(|e| RunError::Thread(format!("policy thread: {e}")))?;
            policy_thread = Some(thread);
            Some(PolicyStage {
                link,
                tracker: TargetTracker::new(
                    spec.num_joints(),
                    impedance,
                    interpolate,
                    cfg.policy_decimation(),
                ),
            })
        }
    };
    let mut ctl = ControlLoop::new(
        plant,
        startup,
        stage,
        fallback,
        assemble::supervisor_config(&c.safety),
        control_hz,
        cfg.policy_decimation(),
        operator.clone(),
    );
    let mut scheduler = Scheduler::new(trigger, period_ns);
    if scheduler.wall_clock_loop_time() {
        ctl.use_wall_clock();
    }
    let rt_cfg = c.realtime.clone();
    let clock = cfg.clock();
    let stop = opts.stop;
    let world_frozen = opts.world_frozen;
    let progress = opts.progress;
    let observers = &mut opts.observers;
    let kind = spec.kind;
    // The simulator has its first state at once; a ROS robot may take a while to appear.
    let first_state_s = match (&c.ros, &c.unitree) {
        (Some(r), _) => r.first_state_timeout_s,
        (_, Some(u)) => u.first_state_timeout_s,
        _ => 1.0,
    };
    let settle_s = opts.settle_s.unwrap_or(0.5);

    // Every thread but the RT one exists now: place them (real-time clock only).
    let placed = cfg.clock() == ClockKind::Realtime && c.threads.place;
    let place_refused = if placed {
        let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get());
        threads::place(&threads::placements(&c.realtime, &c.threads, ncpu))
    } else {
        vec![]
    };
    for line in &place_refused {
        eprintln!("[reflex] warning: {line}");
    }

    let result = std::thread::scope(|scope| {
        let rt = std::thread::Builder::new()
            .name("reflex-rt".into())
            .spawn_scoped(scope, move || -> Result<_, RunError> {
                // Lockstep runs as fast as it can: a SCHED_FIFO busy loop would only starve the
                // machine, so real-time settings apply to the real-time clock alone.
                let rt_status = match clock {
                    ClockKind::Realtime => rt::apply(&rt_cfg),
                    ClockKind::Lockstep => RtStatus::default(),
                };
                for line in &rt_status.refused {
                    eprintln!("[reflex] warning: {line}");
                }
                ctl.start(Duration::from_secs_f64(first_state_s))
                    .map_err(|e| match e {
                        HwError::NoData => RunError::NoFirstState {
                            waited_s: first_state_s,
                            inputs: ctl.robot().describe_inputs(),
                            hint: "Is the robot's driver running and publishing? Check ROS_DOMAIN_ID, the topic names (remap with --ros-args -r /joint_states:=/your/topic) and that the message names every joint.",
                        },
                        e => RunError::Hardware(e),
                    })?;
                let trace_every = ((control_hz / TRACE_HZ).round() as u64).max(1);
                let rows = (cycles_total / trace_every + 1).min(TRACE_CAPACITY as u64) as usize;
                let mut trace: Vec<TraceRow> = Vec::with_capacity(rows);
                let mut tracker = OutcomeTracker::new(kind);
                let mut window_from: Option<f64> = None;
                let mut status = LoopStatus::default();
                let mut op_cursor = 0;
                for o in observers.iter_mut() {
                    o.started();
                }
                let wall_start = now_ns();
                scheduler.start(wall_start);
                let mut n = 0u64;
                while n < cycles_total && !stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
                    let (robot, stats) = ctl.robot_and_stats();
                    scheduler.wait(robot, stats);
                    while let Some(input) = schedule.operator_input(n, &mut op_cursor) {
                        match input {
                            OperatorInput::Estop => operator.engage_estop(),
                            OperatorInput::Reset => {
                                operator.estop.store(false, Ordering::Relaxed);
                                operator.reset.store(true, Ordering::Relaxed);
                            }
                            OperatorInput::FallbackDrill => {
                                operator.drill.store(true, Ordering::Relaxed)
                            }
                        }
                    }
                    ctl.robot_mut().begin_cycle(n);
                    let cpu0 = if trigger == Trigger::Lockstep { thread_cpu_ns() } else { 0 };
                    ctl.cycle();
                    let body_cpu = if trigger == Trigger::Lockstep {
                        thread_cpu_ns().saturating_sub(cpu0)
                    } else {
                        0
                    };
                    // The world side (physics in the simulator), measured apart.
                    for o in observers.iter_mut() {
                        o.world_step(true);
                    }
                    let p0 = now_ns();
                    if !world_frozen {
                        ctl.robot_mut().advance(n);
                    }
                    let end = now_ns();
                    ctl.stats.physics.record_ns(end - p0);
                    for o in observers.iter_mut() {
                        o.world_step(false);
                    }
                    scheduler.finish(body_cpu, end, &mut ctl.stats);
                    let sup = ctl.supervisor();
                    status.cycles = ctl.stats.cycles;
                    status.overruns = ctl.stats.overruns;
                    status.mode = sup.mode() as u8;
                    status.transitions = sup.transition_count();
                    status.last_cause = sup.last_cause().map(|c| c.name());
                    status.missed_cycles = ctl.stats.missed_cycles;
                    status.last_compute_us = ctl.stats.last_compute_ns as f64 / 1e3;
                    status.late_results = ctl.policy_link().map_or(0, |l| l.late_results());
                    ctl.robot_mut().publish_status(&status);
                    let t_s = (n + 1) as f64 / control_hz;
                    if window_from.is_none() && matches!(ctl.phase(), Phase::Holding | Phase::Policy)
                    {
                        window_from = Some(t_s + settle_s);
                    }
                    let ground_truth = ctl.robot().ground_truth();
                    tracker.observe(ctl.state(), ctl.command(), ground_truth, t_s, window_from);
                    let view = CycleView {
                        cycle: n,
                        time_s: n as f64 / control_hz,
                        mode: ctl.supervisor().mode(),
                        phase: ctl.phase(),
                        state: ctl.state(),
                        command: ctl.command(),
                        ground_truth,
                        policy_command: ctl
                            .policy_link()
                            .filter(|l| l.has_target())
                            .map(|l| l.target().command),
                        limits: &spec.limits,
                    };
                    if n.is_multiple_of(trace_every) && trace.len() < trace.capacity() {
                        let target = ctl
                            .policy_link()
                            .filter(|l| l.has_target())
                            .map(|l| l.target());
                        let v = ground_truth.as_ref().map(outcome::planar_velocity);
                        trace.push(TraceRow {
                            t_s: view.time_s,
                            mode: view.mode,
                            base_height_m: ground_truth.map(|g| g.base_position_m[2]),
                            forward_speed_m_s: v.map(|v| v.0),
                            lateral_speed_m_s: v.map(|v| v.1),
                            yaw_rate_rad_s: v.map(|v| v.2),
                            command: view.policy_command,
                            intervention: target.map(|t| t.intervention),
                            ee_target_m: target.and_then(|t| t.ee).map(|e| e.position_m),
                        });
                    }
                    for o in observers.iter_mut() {
                        o.on_cycle(&view);
                    }
                    if let Some(p) = progress {
                        p.cycles.store(ctl.stats.cycles, Ordering::Relaxed);
                        p.overruns.store(ctl.stats.overruns, Ordering::Relaxed);
                    }
                    n += 1;
                }
                let wall_s = (now_ns() - wall_start) as f64 / 1e9;
                // Every thread is still alive: read back how the OS ran each.
                let thread_table = threads::read_back();
                ctl.stop().map_err(RunError::Hardware)?;
                if let Some(p) = progress {
                    p.done.store(true, Ordering::Release);
                }
                Ok((ctl, rt_status, tracker, wall_s, trace, thread_table))
            })
            .map_err(|e| RunError::Thread(format!("RT thread: {e}")))?;
        rt.join()
            .map_err(|_| RunError::Thread("the RT thread panicked".into()))?
    });
    // Whatever happened to the RT thread, the policy thread and the teleop node end here.
    let policy_thread = policy_thread.map(|t| t.stop());
    let teleop_counts = teleop.as_mut().map(|t| {
        let _ = t.shutdown();
        t.counts()
    });
    let (ctl, rt_status, tracker, wall_s, trace, thread_table) = result?;
    let s = &ctl.stats;
    let sup = ctl.supervisor();
    let sim_s = s.cycles as f64 / control_hz;
    let policy = match (policy_meta, policy_thread, ctl.policy_link()) {
        (Some((manifest, kind, providers)), Some(thread), Some(link)) => Some(PolicyReport {
            manifest,
            kind,
            providers,
            handover_s: sup.handover_cycle().map(|h| h as f64 / control_hz),
            late_results: link.late_results(),
            max_consecutive_late: link.max_consecutive_late(),
            budget: link.budget(),
            late_by: link.late_causes(),
            thread: thread.map_err(RunError::Thread)?,
        }),
        _ => None,
    };
    Ok(RunReport {
        config: cfg.file.display().to_string(),
        robot: c.robot.model.clone(),
        clock,
        trigger: trigger.name(),
        duration_s: sim_s,
        wall_time_s: wall_s,
        realtime_factor: if wall_s > 0.0 { sim_s / wall_s } else { 0.0 },
        cycles: s.cycles,
        rate_hz: control_hz,
        policy_hz: c.rates.policy_hz,
        physics_steps_per_cycle: ctl.robot().physics_steps(),
        overruns: s.overruns,
        missed_deadlines: s.missed_deadlines,
        missed_cycles: s.missed_cycles,
        wakeup_latency_us: (trigger == Trigger::Clock).then(|| s.wakeup.summary_us()),
        compute_us: s.compute.summary_us(),
        physics_us: s.physics.summary_us(),
        clamped_commands: s.clamped_commands,
        io_errors: s.io_errors,
        final_mode: sup.mode(),
        final_phase: ctl.phase(),
        limited_targets: s.limited_targets,
        estops: EstopReport {
            seen: s.estops_seen,
            seen_late: s.estops_seen_late,
            max_reaction_us: s.estop_max_reaction_ns as f64 / 1e3,
        },
        supervisor: SupervisorReport {
            fallback: fallback_info,
            transitions: sup
                .transitions()
                .map(|t| TransitionReport {
                    time_s: t.cycle as f64 / control_hz,
                    transition: *t,
                })
                .collect(),
            dropped_transitions: sup.dropped_transitions,
            cycles_in_policy: sup.cycles_in_mode[0],
            cycles_in_fallback: sup.cycles_in_mode[1],
            cycles_in_safe_stop: sup.cycles_in_mode[2],
        },
        realtime: rt_status,
        threads: ThreadsReport {
            placed,
            threads: thread_table,
            refused: place_refused,
        },
        outcome: tracker.finish(),
        bridge: ctl.robot().bridge_report(),
        policy,
        teleop: teleop_counts,
        warnings,
        trace,
    })
}
