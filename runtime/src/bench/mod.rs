//! `reflex bench`: figures printed next to reference tools run in the same invocation, with
//! ratios. Timings on a shared VM are noisy; the ratio against a baseline measured seconds
//! apart on the same machine is the figure to read.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

use crate::config::{self, ClockKind, LoadedConfig};
use crate::driver::report::RunReport;
use crate::driver::{self, RunOptions};
use crate::stats::LatencySummaryUs;

mod round_trip;
mod rt_loop;
mod sweep;
mod wire;

use round_trip::bench_wire;
use rt_loop::bench_loop;
use sweep::bench_scenario;
use wire::{bench_deploy, bench_ros};

/// Which benchmark.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum BenchCommand {
    /// RT loop at 1 kHz on the A1 (wake-up latency, cycle compute) next to cyclictest run at the
    /// same time on the other CPU, then with the CPUs swapped.
    Loop {
        /// Config to run (its clock is forced to `realtime`, its rate to 1 kHz).
        #[arg(long, default_value = "launch/config/a1_stand.yaml")]
        config: PathBuf,
        /// Seconds of each run.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// SCHED_FIFO priority for both Reflex and cyclictest.
        #[arg(long, default_value_t = 80)]
        priority: i32,
        /// Reflex's CPU in the first run (cyclictest takes it in the second).
        #[arg(long, default_value_t = 1)]
        cpu: usize,
    },
    /// Inference latency of each policy kind through ort next to Python onnxruntime on the same
    /// model, and the full policy tick (observation + inference + hand-off).
    Policy {
        /// Timed calls per model.
        #[arg(long, default_value_t = 5000)]
        iterations: usize,
        /// Python interpreter with the `onnxruntime` package.
        #[arg(long, default_value = ".venv/bin/python")]
        python: String,
    },
    /// The pure-Rust MLP executor (the fallback's) next to ort on the same models, with
    /// allocations per call.
    Mlp {
        /// Timed calls per model.
        #[arg(long, default_value_t = 20000)]
        iterations: usize,
    },
    /// ROS 2 transport latency on loopback (in a private network namespace): Cyclone DDS robot
    /// peer → RT cycle and RT write → peer, next to a Cyclone ping-pong between two peers.
    Ros {
        /// Seconds the robot publishes at 500 Hz.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Python interpreter with the `cyclonedds` package.
        #[arg(long, default_value = ".venv/bin/python")]
        python: String,
    },
    /// The DDS wire's round trip at C speed: a robot on Cyclone DDS's C library (built from
    /// `tests/peer/c`) answered by a C peer and by `reflex node`, next to Cyclone's `ddsperf`
    /// ping/pong, in loopback-only network namespaces; where Reflex's part of it goes.
    Wire {
        /// Seconds of each run.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
    },
    /// The whole deployment stack at once: the Go2 simulated by MuJoCo behind Cyclone DDS (in
    /// a loopback-only network namespace; the simulator stands for the robot's own computer, so
    /// it runs at SCHED_FIFO 85, above every Reflex thread), `reflex node` with the HIMLoco
    /// policy walking it at 0.5 m/s, robot-triggered at 500 Hz; with Reflex's thread placement,
    /// with the I/O thread parking at once, and with every thread left as the OS made it. Reports the latency budget, late policy results and the policy's
    /// inference next to the same model alone.
    Deploy {
        /// Seconds of walking measured per run.
        #[arg(long, default_value_t = 60.0)]
        seconds: f64,
        /// Python interpreter with `mujoco` and `cyclonedds`.
        #[arg(long, default_value = ".venv/bin/python")]
        python: String,
    },
    /// The Go2 under the HIMLoco policy in Reflex's simulator, next to the same policy in
    /// MuJoCo on the same URDF: speed, yaw rate, height and attitude per velocity command.
    Walk {
        /// Python interpreter with the `mujoco` and `onnxruntime` packages (skipped when
        /// missing).
        #[arg(long, default_value = ".venv/bin/python")]
        python: String,
    },
    /// The largest pushes (0.2 s on the base) the stand controller and the certified fallback
    /// each hold a legged robot through, same seed, lateral and forward.
    Push {
        /// Config with a stand-up controller and `safety.fallback` (simulator).
        #[arg(long, default_value = "launch/config/a1_policy.yaml")]
        config: PathBuf,
        /// Largest force tried (N); forces go up in steps of 10 N from 10 N.
        #[arg(long, default_value_t = 200.0)]
        max_force: f64,
    },
    /// Scenario sweep throughput: episodes per second with 1 worker and with every CPU, and the
    /// memory each worker adds (each run a separate `reflex scenario run` process).
    Scenario {
        /// The scenario file.
        #[arg(long, default_value = "scenarios/ci/go2_walk.yaml")]
        file: PathBuf,
        /// Episodes per variant in each run (enough that the last, unevenly long episodes do
        /// not dominate the wall time).
        #[arg(long, default_value_t = 40)]
        episodes: u64,
    },
    /// Simulator steps per second for the A1, the Go2 and the Panda, next to MuJoCo on the same
    /// URDF.
    Sim {
        /// Physics step (s).
        #[arg(long, default_value_t = 0.002)]
        dt: f64,
        /// Simulated seconds per robot.
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        /// Python interpreter with the `mujoco` package (skipped when it is missing).
        #[arg(long, default_value = "python3")]
        python: String,
    },
}

/// Runs a benchmark and prints its figures.
pub fn run(which: BenchCommand) -> anyhow::Result<()> {
    match which {
        BenchCommand::Loop {
            config,
            seconds,
            priority,
            cpu,
        } => bench_loop(&config, seconds, priority, cpu),
        BenchCommand::Policy { iterations, python } => bench_policy(iterations, &python),
        BenchCommand::Mlp { iterations } => bench_mlp(iterations),
        BenchCommand::Ros { seconds, python } => bench_ros(seconds, &python),
        BenchCommand::Wire { seconds } => bench_wire(seconds),
        BenchCommand::Walk { python } => bench_walk(&python),
        BenchCommand::Deploy { seconds, python } => bench_deploy(seconds, &python),
        BenchCommand::Push { config, max_force } => bench_push(&config, max_force),
        BenchCommand::Scenario { file, episodes } => bench_scenario(&file, episodes),
        BenchCommand::Sim {
            dt,
            seconds,
            python,
        } => bench_sim(dt, seconds, &python),
    }
}

fn load_with(
    path: &Path,
    clock: ClockKind,
    control_hz: f64,
    dt_s: f64,
) -> anyhow::Result<LoadedConfig> {
    let mut cfg = config::load(path)?;
    cfg.config.rates.control_hz = control_hz;
    cfg.config.rates.policy_hz = 50.0_f64.min(control_hz);
    let sim = cfg
        .config
        .sim
        .as_mut()
        .with_context(|| format!("{}: the benchmark needs a `sim:` section", path.display()))?;
    sim.clock = clock;
    sim.physics_dt_s = dt_s;
    Ok(cfg)
}

fn run_for(cfg: &LoadedConfig, seconds: f64) -> anyhow::Result<RunReport> {
    Ok(driver::run(
        cfg,
        RunOptions {
            duration_s: Some(seconds),
            ..Default::default()
        },
    )?)
}

fn a1_spec() -> anyhow::Result<reflex_hardware::RobotSpec> {
    Ok(reflex_hardware::catalogue::model("a1")
        .context("a1 is in the catalogue")?
        .spec()?)
}

fn print_row(name: &str, s: &LatencySummaryUs) {
    println!(
        "  {name:<16} µs: p50 {:>8.1}  p99 {:>8.1}  p99.9 {:>8.1}  max {:>8.1}  (n={})",
        s.p50, s.p99, s.p999, s.max, s.samples
    );
}

fn bench_sim(dt: f64, seconds: f64, python: &str) -> anyhow::Result<()> {
    println!("reflex bench sim: dt {dt} s, {seconds} s simulated per robot, lockstep");
    for (name, path, urdf) in [
        (
            "a1",
            "launch/config/a1_stand.yaml",
            "hardware/models/a1/a1.urdf",
        ),
        (
            "go2",
            "launch/config/go2_stand.yaml",
            "hardware/models/go2/go2.urdf",
        ),
        (
            "panda",
            "launch/config/panda_hold.yaml",
            "hardware/models/panda/panda.urdf",
        ),
    ] {
        let cfg = load_with(Path::new(path), ClockKind::Lockstep, 1.0 / dt, dt)?;
        let rep: RunReport = run_for(&cfg, seconds)?;
        let steps = rep.cycles as f64 * rep.physics_steps_per_cycle as f64;
        let rapier_loop = steps / rep.wall_time_s;
        let (rapier, profile, height) = rapier_alone(name, dt, seconds, 2, 1)?;
        println!(
            "  {name:<6} rapier, physics alone: {rapier:>9.0} steps/s  {:>6.1}x real time",
            rapier * dt
        );
        println!(
            "  {name:<6} rapier, the whole loop ({path}, from its start pose): {rapier_loop:>9.0} steps/s  {:>6.1}x real time  (step p50 {:.1} µs)",
            rep.realtime_factor, rep.physics_us.p50
        );
        match mujoco(python, name, urdf, dt, seconds) {
            Ok(mj) => println!(
                "  {name:<6} mujoco, physics alone: {mj:>9.0} steps/s  {:>6.1}x real time  -> rapier/mujoco {:.3} (physics alone)",
                mj * dt,
                rapier / mj
            ),
            Err(e) => println!("  {name:<6} mujoco not run: {e:#} (pip install mujoco)"),
        }
        if name != "panda" {
            // The lever the profile points at: the mass matrix is rebuilt once per solver
            // iteration (velocity assembly), so trade solver iterations for PGS ones.
            let (fast, _, h) = rapier_alone(name, dt, seconds, 1, 2)?;
            println!(
                "  {name:<6} lever, 1 solver iteration × 2 PGS (default 2 × 1): {fast:>9.0} steps/s  ×{:.2}; base height after {:.0} s {h:.4} m against {height:.4} m (not the default: with it the Go2's fallback held 90 N forward against its stand controller's 100 N, bench push)",
                fast / rapier,
                2.0 * seconds
            );
        }
        println!(
            "  {name:<6} where a rapier step goes (µs, mean of {} steps, {:.1} contact points per step): {}",
            profile.steps,
            profile.contacts_per_step(),
            profile
                .per_step_us()
                .iter()
                .map(|(k, v)| format!("{} {v:.1}", k.trim()))
                .collect::<Vec<_>>()
                .join(" | ")
        );
    }
    println!("  physics alone: both engines start standing (legged: base 0.32 m, hip 0, thigh 0.9, calf -1.5 rad; Panda: zeros) under joint PD (legged kp 60 kd 2, Panda 600 / 50; the Panda's driver adds gravity compensation in Reflex, as FCI does), armature as each model sets it, robot-floor contacts only");
    println!("  target: A1 ≥ 20x real time at dt 0.002 s; rapier/mujoco ≥ 0.5 on the A1 and Go2 (issue 13)");
    Ok(())
}

/// Reflex's simulator alone, like `scripts/bench_mujoco.py`: standing from the first step under
/// joint PD, `seconds` of physics timed (after 100 warm-up steps), then as many again profiled.
/// Returns steps/s, the profile and the base height at the end.
fn rapier_alone(
    model: &str,
    dt: f64,
    seconds: f64,
    solver_iterations: usize,
    pgs_iterations: usize,
) -> anyhow::Result<(f64, reflex_sim::PhysicsProfile, f64)> {
    use reflex_hardware::{JointCommand, Robot};
    let robot = reflex_hardware::catalogue::model(model).context("not in the catalogue")?;
    let spec = robot.spec()?;
    let n = spec.joint_names.len();
    let legged = !robot.fixed_base;
    let pose: Vec<f64> = if legged {
        (0..n).map(|i| [0.0, 0.9, -1.5][i % 3]).collect()
    } else {
        vec![0.0; n]
    };
    let mut cfg = reflex_sim::SimConfig::new(robot);
    cfg.physics_dt_s = dt;
    cfg.solver_iterations = solver_iterations;
    cfg.pgs_iterations = pgs_iterations;
    cfg.initial_pose_rad = Some(pose.clone());
    if legged {
        cfg.initial_base_height_m = Some(0.32);
    }
    let mut sim = reflex_sim::SimRobot::new(&cfg)?;
    let (kp, kd) = if legged { (60.0, 2.0) } else { (600.0, 50.0) };
    let mut cmd = JointCommand::new(&spec);
    cmd.position_rad.copy_from_slice(&pose);
    cmd.kp.iter_mut().for_each(|k| *k = kp);
    cmd.kd.iter_mut().for_each(|k| *k = kd);
    sim.activate()?;
    sim.write(&cmd)?;
    sim.step(100);
    let steps = (seconds / dt).round() as usize;
    let t0 = std::time::Instant::now();
    sim.step(steps);
    let rate = steps as f64 / t0.elapsed().as_secs_f64();
    sim.enable_profile();
    sim.step(steps);
    let profile = sim.profile().context("profiling was enabled")?;
    Ok((rate, profile, sim.ground_truth().base_position_m[2]))
}

fn mujoco(python: &str, model: &str, urdf: &str, dt: f64, seconds: f64) -> anyhow::Result<f64> {
    let (dt, seconds) = (dt.to_string(), seconds.to_string());
    let v = python_json(
        python,
        &[
            "scripts/bench_mujoco.py",
            "--urdf",
            urdf,
            "--model",
            model,
            "--dt",
            &dt,
            "--seconds",
            &seconds,
        ],
    )?;
    v["steps_per_s"]
        .as_f64()
        .context("no steps_per_s in its output")
}

/// The velocity commands of the policy's MuJoCo reference table.
const WALK_COMMANDS: [[f64; 3]; 6] = [
    [0.0, 0.0, 0.0],
    [0.5, 0.0, 0.0],
    [1.0, 0.0, 0.0],
    [0.5, 0.0, 0.5],
    [0.0, 0.3, 0.0],
    [0.0, 0.0, 1.0],
];

fn bench_push(path: &Path, max_force_n: f64) -> anyhow::Result<()> {
    use crate::fallback_tools::{largest_push, Holder};
    let cfg = config::load(path)?;
    let spec = crate::assemble::robot_spec(&cfg)?;
    let manifest = cfg
        .config
        .safety
        .fallback
        .as_ref()
        .map(|f| cfg.resolve(f))
        .with_context(|| format!("{}: bench push needs `safety.fallback`", path.display()))?;
    println!(
        "reflex bench push: {} — a push of 0.2 s on the base 1 s after the stand-up, watched for 3 s; survived = never below 0.2 m nor tilted beyond 0.8 rad",
        path.display()
    );
    let fallback = || -> Result<Holder, crate::driver::RunError> {
        Ok(Holder::Fallback(Box::new(
            reflex_policies::fallback::CertifiedFallback::load(&manifest, &spec)?,
        )))
    };
    let stand = || -> Result<Holder, crate::driver::RunError> { Ok(Holder::StartUp) };
    for (name, dir) in [
        ("lateral +y", [0.0, 1.0, 0.0]),
        ("lateral -y", [0.0, -1.0, 0.0]),
        ("forward +x", [1.0, 0.0, 0.0]),
    ] {
        let show = |(f, all): (f64, bool)| {
            if all {
                format!("≥ {f:.0} N (all tried)")
            } else {
                format!("{f:.0} N")
            }
        };
        let s = largest_push(&cfg, &stand, dir, max_force_n)?;
        let fb = largest_push(&cfg, &fallback, dir, max_force_n)?;
        println!(
            "  {name}: stand controller {}, certified fallback {}  -> fallback/stand {:.2}",
            show(s),
            show(fb),
            fb.0 / s.0.max(1e-9)
        );
    }
    Ok(())
}

fn bench_walk(python: &str) -> anyhow::Result<()> {
    println!(
        "reflex bench walk: the Go2 under rl_sar's HIMLoco policy, 8 s measured after 2 s of walking"
    );
    println!(
        "  Reflex: launch/config/go2_policy.yaml (Rapier, stand-up from lying, PD at 1 kHz); MuJoCo: scripts/mujoco_go2_walk.py (same URDF, starts standing, PD at 500 Hz)"
    );
    println!(
        "  {:<18} | {:>8} {:>8} {:>8} {:>13} {:>12} {:>5} | {:>8} {:>8} {:>8} {:>13} {:>12} {:>5}",
        "command",
        "fwd m/s",
        "lat m/s",
        "yaw r/s",
        "height m",
        "roll/pitch",
        "fell",
        "fwd m/s",
        "lat m/s",
        "yaw r/s",
        "height m",
        "roll/pitch",
        "fell"
    );
    for cmd in WALK_COMMANDS {
        let mut cfg = config::load(Path::new("launch/config/go2_policy.yaml"))?;
        if let Some(p) = cfg.config.policy.as_mut() {
            p.command = Some(cmd);
        }
        // The policy takes over at ~1.5 s: 2 s of settling, then 8 s measured.
        let rep = driver::run(
            &cfg,
            RunOptions {
                duration_s: Some(11.5),
                settle_s: Some(2.0),
                ..Default::default()
            },
        )?;
        let ours = match rep.outcome {
            Some(crate::driver::outcome::RobotOutcome::Legged {
                min_base_height_m,
                max_base_height_m,
                max_abs_roll_rad,
                max_abs_pitch_rad,
                mean_forward_speed_m_s,
                mean_lateral_speed_m_s,
                mean_yaw_rate_rad_s,
                ..
            }) => format!(
                "{:>8.3} {:>8.3} {:>8.3} {:>6.3}–{:<6.3} {:>5.2}/{:<6.2} {:>5}",
                mean_forward_speed_m_s,
                mean_lateral_speed_m_s,
                mean_yaw_rate_rad_s,
                min_base_height_m,
                max_base_height_m,
                max_abs_roll_rad,
                max_abs_pitch_rad,
                if min_base_height_m < 0.15 || !rep.supervisor.transitions.is_empty() {
                    "yes"
                } else {
                    "no"
                }
            ),
            _ => "no outcome".into(),
        };
        let c: Vec<String> = cmd.iter().map(|v| v.to_string()).collect();
        let theirs = match python_json(
            python,
            &["scripts/mujoco_go2_walk.py", "--cmd", &c[0], &c[1], &c[2]],
        ) {
            Ok(v) => {
                let r = &v["runs"][0];
                let f = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
                format!(
                    "{:>8.3} {:>8.3} {:>8.3} {:>6.3}–{:<6.3} {:>5.2}/{:<6.2} {:>5}",
                    f("mean_forward_speed_body_m_s"),
                    f("mean_lateral_speed_body_m_s"),
                    f("mean_yaw_rate_rad_s"),
                    f("height_min_m"),
                    f("height_max_m"),
                    f("max_abs_roll_rad"),
                    f("max_abs_pitch_rad"),
                    if r["fell"].as_bool().unwrap_or(true) {
                        "yes"
                    } else {
                        "no"
                    }
                )
            }
            Err(e) => format!("mujoco not run: {e:#}"),
        };
        println!("  {:<18} | {ours} | {theirs}", format!("{cmd:?}"));
    }
    Ok(())
}

/// Runs a Python baseline script and reads the one JSON line it prints.
fn python_json(python: &str, args: &[&str]) -> anyhow::Result<serde_json::Value> {
    let out = Command::new(python)
        .args(args)
        .output()
        .with_context(|| format!("starting {python}"))?;
    if !out.status.success() {
        bail!(
            "{}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("failed")
        );
    }
    serde_json::from_slice(&out.stdout).context("reading its JSON line")
}

/// The 48 → 256 → 256 → 12 ReLU MLP both inference benchmarks compare runtimes on, written to
/// a temp file as ONNX.
fn reference_mlp() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("reflex-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("mlp_48_256_256_12.onnx");
    let mlp = reflex_policies::mlp::random_relu_mlp(&[48, 256, 256, 12], 1);
    std::fs::write(&file, mlp.to_onnx("benchmark MLP"))?;
    Ok(file)
}

/// Times `f` `n` times (after 200 warm-up calls) into a histogram.
fn time_calls(n: usize, mut f: impl FnMut()) -> LatencySummaryUs {
    for _ in 0..200 {
        f();
    }
    let mut h = crate::stats::LatencyHistogram::new();
    for _ in 0..n {
        let t0 = crate::rt::now_ns();
        f();
        h.record_ns(crate::rt::now_ns() - t0);
    }
    h.summary_us()
}

fn python_ort(python: &str, model: &Path, iterations: usize) -> anyhow::Result<LatencySummaryUs> {
    let (m, n) = (model.display().to_string(), iterations.to_string());
    let v = python_json(python, &["scripts/bench_onnxruntime.py", &m, &n])?;
    let (p50, p99) = (
        v["p50_us"].as_f64().unwrap_or(0.0),
        v["p99_us"].as_f64().unwrap_or(0.0),
    );
    Ok(LatencySummaryUs {
        samples: iterations as u64,
        mean: v["mean_us"].as_f64().unwrap_or(p50),
        p50,
        p99,
        p999: p99,
        max: p99,
        saturated: 0,
    })
}

fn bench_policy(iterations: usize, python: &str) -> anyhow::Result<()> {
    use reflex_policies::manifest::Manifest;
    use reflex_policies::onnx::{self, OnnxModel, SessionOptions};
    use reflex_policies::policy::OnnxPolicy;

    let lib = onnx::runtime(None)?;
    println!("reflex bench policy: ort (load-dynamic, {}) vs Python onnxruntime, 1 thread, batch 1, {iterations} calls", lib.display());
    let reference = reference_mlp()?;
    let opts = SessionOptions::default();
    let mut rows: Vec<(String, LatencySummaryUs, Option<LatencySummaryUs>)> = Vec::new();
    for (name, file) in [
        ("mlp 48-256-256-12", reference.clone()),
        (
            "locomotion (a1_stand_bc)",
            PathBuf::from("policies/models/a1_stand_bc/policy.onnx"),
        ),
        (
            "manipulation (panda_reach)",
            PathBuf::from("policies/models/panda_reach/policy.onnx"),
        ),
    ] {
        let mut m = OnnxModel::open(&file, &opts)?;
        let x: Vec<f32> = (0..m.input_len())
            .map(|i| ((i * 37 % 17) as f32 - 8.0) / 8.0)
            .collect();
        let mut y = vec![0.0f32; m.output_len()];
        let ours = time_calls(iterations, || {
            let _ = m.run(&x, &mut y);
        });
        rows.push((
            name.to_string(),
            ours,
            python_ort(python, &file, iterations).ok(),
        ));
    }
    // Residual: base + residual per tick, composed; Python: the two models' medians added.
    let spec = a1_spec()?;
    let res_manifest = Manifest::load(Path::new("policies/models/a1_residual/policy.yaml"), &spec)?;
    let mut residual = OnnxPolicy::load(res_manifest, &spec, &opts)?;
    let obs = vec![0.1f32; 270];
    let mut act = vec![0.0f32; 12];
    let ours = time_calls(iterations, || {
        let _ = residual.infer(&obs, &mut act);
    });
    let py = match (
        python_ort(
            python,
            Path::new("policies/models/a1_residual/base.onnx"),
            iterations,
        ),
        python_ort(
            python,
            Path::new("policies/models/a1_residual/residual.onnx"),
            iterations,
        ),
    ) {
        (Ok(b), Ok(r)) => Some(LatencySummaryUs {
            p50: b.p50 + r.p50,
            p99: b.p99 + r.p99,
            ..b
        }),
        _ => None,
    };
    rows.push(("residual (base chunk + residual)".into(), ours, py));
    for (name, ours, py) in &rows {
        match py {
            Some(p) => println!(
                "  {name:<34} ort p50 {:>6.2} µs p99 {:>6.2} µs | python p50 {:>6.2} µs p99 {:>6.2} µs | ratio p50 {:.2} (target ≤ 0.75)",
                ours.p50, ours.p99, p.p50, p.p99, ours.p50 / p.p50
            ),
            None => println!("  {name:<34} ort p50 {:>6.2} µs p99 {:>6.2} µs | python onnxruntime not available ({python})", ours.p50, ours.p99),
        }
    }
    // Full tick on the policy thread: observation + inference + target mapping + hand-off.
    let loco = Manifest::load(Path::new("policies/models/a1_stand_bc/policy.yaml"), &spec)?;
    let mut policy = OnnxPolicy::load(loco, &spec, &opts)?;
    let mut model = OnnxModel::open(Path::new("policies/models/a1_stand_bc/policy.onnx"), &opts)?;
    let state = reflex_hardware::RobotState::new(&spec);
    let mut target = policy.new_target(12);
    let (mut tx, _rx) = triple_buffer::triple_buffer(&target);
    let tick = time_calls(iterations, || {
        let _ = policy.step(&state, &mut target);
        tx.input_buffer_mut().copy_from(&target);
        tx.publish();
    });
    let x = policy.observation().to_vec();
    let mut y = vec![0.0f32; 12];
    let infer = time_calls(iterations, || {
        let _ = model.run(&x, &mut y);
    });
    println!(
        "  full locomotion tick: p50 {:.2} µs p99 {:.2} µs; inference alone p50 {:.2} µs -> overhead {:.2} µs (target < 5 µs)",
        tick.p50,
        tick.p99,
        infer.p50,
        tick.p50 - infer.p50
    );
    Ok(())
}

fn bench_mlp(iterations: usize) -> anyhow::Result<()> {
    use crate::alloc_count::allocations;
    use reflex_policies::mlp::Mlp;
    use reflex_policies::onnx::{self, OnnxModel, SessionOptions};

    onnx::runtime(None)?;
    let reference = reference_mlp()?;
    println!("reflex bench mlp: pure-Rust MLP executor vs ort (1 thread, preallocated I/O), {iterations} calls");
    for (name, file) in [
        ("mlp 48-256-256-12 relu", reference),
        (
            "a1 certified fallback 24-64-12",
            PathBuf::from("policies/models/a1_fallback/fallback.onnx"),
        ),
    ] {
        let mut ours = Mlp::load(&file)?;
        let mut ort = OnnxModel::open(&file, &SessionOptions::default())?;
        let x: Vec<f32> = (0..ours.inputs())
            .map(|i| ((i * 37 % 17) as f32 - 8.0) / 8.0)
            .collect();
        let mut y = vec![0.0f32; ours.outputs()];
        let a0 = allocations();
        let rust = time_calls(iterations, || {
            let _ = ours.run(&x, &mut y);
        });
        let rust_allocs = (allocations() - a0) as f64 / (iterations + 200) as f64;
        let a0 = allocations();
        let theirs = time_calls(iterations, || {
            let _ = ort.run(&x, &mut y);
        });
        let ort_allocs = (allocations() - a0) as f64 / (iterations + 200) as f64;
        println!(
            "  {name:<32} rust p50 {:>6.2} µs p99 {:>6.2} µs, {rust_allocs:.1} allocs/call | ort p50 {:>6.2} µs p99 {:>6.2} µs, {ort_allocs:.1} Rust-side allocs/call* | ratio p50 {:.2} (target ≤ 1.00, kernel {})",
            rust.p50,
            rust.p99,
            theirs.p50,
            theirs.p99,
            rust.p50 / theirs.p50,
            ours.kernel_name()
        );
    }
    println!("  * ONNX Runtime allocates inside its C++ code with malloc, which Rust's allocator does not see; run it off the RT thread.");
    Ok(())
}
