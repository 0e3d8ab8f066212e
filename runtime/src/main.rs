//! `reflex`: run, check and benchmark Reflex configurations.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use reflex_runtime::config;
use reflex_runtime::driver::outcome::RobotOutcome;
use reflex_runtime::driver::report::RunReport;
use reflex_runtime::driver::{self, Progress, RunOptions};
use reflex_runtime::{assemble, fallback_tools as ft, record};

/// Counts allocations for `reflex bench` (one relaxed atomic add per allocation).
#[global_allocator]
static GLOBAL: reflex_runtime::alloc_count::CountingAllocator =
    reflex_runtime::alloc_count::CountingAllocator;

#[derive(Parser)]
#[command(
    name = "reflex",
    version,
    about = "Real-time runtime for learned robot policies"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the loop the config describes and print a summary.
    Run {
        /// Config file (YAML), e.g. launch/config/a1_stand.yaml.
        #[arg(long)]
        config: PathBuf,
        /// Robot time to run (s).
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        /// Write the JSON run report here.
        #[arg(long)]
        report: Option<PathBuf>,
        /// Inject a fault (repeatable), one YAML mapping as in the config's `faults:`, e.g.
        /// '{kind: push, at_s: 3.0, duration_s: 0.2, force_n: [0, 60, 0]}'.
        #[arg(long)]
        fault: Vec<String>,
        /// Measure the outcome from this long after the robot is ready (s).
        #[arg(long, default_value_t = 0.5)]
        settle: f64,
        /// Velocity command for a locomotion policy: vx,vy,yaw_rate (m/s, m/s, rad/s).
        #[arg(long, value_parser = parse_command, allow_hyphen_values = true)]
        command: Option<[f64; 3]>,
        /// A velocity-command step (repeatable): T:vx,vy,yaw_rate from T seconds on.
        #[arg(long, value_parser = parse_command_at, allow_hyphen_values = true)]
        command_at: Vec<(f64, [f64; 3])>,
    },
    /// Run as a ROS 2 node (what `ros2 launch reflex a1.launch.py` starts): until SIGINT/SIGTERM.
    /// Accepts `--ros-args` (remaps, `-p`, `--params-file`); the parameter `config` names the
    /// run config when --config is not given.
    Node {
        /// Run config (YAML); else the `config` parameter.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Stop after this much time (s); else run until signalled (or the `duration_s` parameter).
        #[arg(long)]
        duration: Option<f64>,
        /// Write the JSON run report here when the node stops.
        #[arg(long)]
        report: Option<PathBuf>,
        /// `--ros-args ...` as ros2 launch passes them.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ros_args: Vec<String>,
    },
    /// Validate a config and everything it names (robot, controller, fallback, policy model)
    /// without moving anything; exits non-zero on any finding, prints warnings.
    Check {
        /// Config file (YAML).
        #[arg(long)]
        config: PathBuf,
        /// Faults to add (repeatable), as `reflex run --fault` takes them.
        #[arg(long)]
        fault: Vec<String>,
        /// The run's duration (s): faults scheduled at or after it are reported.
        #[arg(long)]
        duration: Option<f64>,
    },
    /// Record expert demonstrations (the config's controller) in a policy's observation and
    /// action layout, for behaviour cloning.
    Record {
        /// Config whose controller is the expert (its sim section sets noise, pushes, jitter).
        #[arg(long)]
        config: PathBuf,
        /// Manifest giving the observation and action layout.
        #[arg(long)]
        manifest: PathBuf,
        /// Robot time per episode (s).
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        /// Episodes (seeds seed, seed+1, ...).
        #[arg(long, default_value_t = 4)]
        episodes: usize,
        /// Keep pairs from this time on in each episode (s).
        #[arg(long, default_value_t = 0.0)]
        skip: f64,
        /// Output prefix: writes PREFIX.f32 and PREFIX.json.
        #[arg(long)]
        out: PathBuf,
    },
    /// Learn a certified (Lipschitz-bounded) fallback from the config's controller as expert.
    FallbackFit {
        /// Config whose controller is the expert (noise, pushes, jitter from its sim section).
        #[arg(long)]
        config: PathBuf,
        /// Lipschitz bounds to fit; the first is written to --out, all are evaluated.
        #[arg(long, value_delimiter = ',', default_value = "80")]
        lipschitz: Vec<f64>,
        /// Robot time per recorded episode (s).
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        /// Recorded episodes.
        #[arg(long, default_value_t = 8)]
        episodes: usize,
        /// Joint position noise levels (rad, std) for the closed-loop evaluation.
        #[arg(long, value_delimiter = ',', default_value = "0,0.01")]
        noise: Vec<f64>,
        /// Damping the motor driver adds under the fallback (N·m·s/rad); default: the expert's
        /// own kd (its smallest, if per joint), so damping stays in the driver, on fresh
        /// velocities, even when the state stream stalls.
        #[arg(long)]
        driver_kd: Option<f64>,
        /// Output folder for fallback.onnx and fallback.yaml.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Bring a policy trained elsewhere: an rl_sar deployment config to a manifest, TorchScript
    /// (plain MLP exporters) to ONNX, without torch.
    Import {
        #[command(subcommand)]
        what: ImportCommand,
    },
    /// Scenario suites: randomised episodes over many seeds, sharded and merged, with a report.
    Scenario {
        #[command(subcommand)]
        what: reflex_runtime::scenario::cli::ScenarioCommand,
    },
    /// Print a model's per-layer norms and its Lipschitz certificate (pure-Rust MLP loader).
    Certify {
        /// The ONNX model.
        model: PathBuf,
    },
    /// Benchmarks that print figures and ratios against reference tools run alongside.
    Bench {
        #[command(subcommand)]
        which: reflex_runtime::bench::BenchCommand,
    },
}

#[derive(Subcommand)]
enum ImportCommand {
    /// An rl_sar policy (`policy/<robot>/<policy>/config.yaml` with the robot's `base.yaml`):
    /// writes OUT/policy.yaml and OUT/policy.onnx (converted from TorchScript or copied) and
    /// checks both the way a run will.
    RlSar {
        /// The policy's config.yaml.
        #[arg(long)]
        config: PathBuf,
        /// The robot's base.yaml (default: ../base.yaml from the config).
        #[arg(long)]
        base: Option<PathBuf>,
        /// Reflex robot model (default: the config's robot directory name).
        #[arg(long)]
        robot: Option<String>,
        /// The model file (default: the config's model_name beside it): .pt or .onnx.
        #[arg(long)]
        model: Option<PathBuf>,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
    },
    /// A TorchScript archive of a plain MLP exporter (legged_gym, rsl_rl/IsaacLab, HIMLoco) to
    /// ONNX, checked against the archive's own weights.
    Torchscript {
        /// The archive (.pt).
        model: PathBuf,
        /// The ONNX file to write.
        #[arg(long)]
        out: PathBuf,
    },
}

fn import_cmd(what: ImportCommand) -> anyhow::Result<()> {
    reflex_policies::onnx::runtime(None)?;
    match what {
        ImportCommand::RlSar {
            config,
            base,
            robot,
            model,
            out,
        } => {
            let base = base.unwrap_or_else(|| {
                config
                    .parent()
                    .and_then(|p| p.parent())
                    .unwrap_or(std::path::Path::new("."))
                    .join("base.yaml")
            });
            let r = reflex_import::import_rl_sar(
                &config,
                &base,
                robot.as_deref(),
                model.as_deref(),
                &out,
            )?;
            for n in &r.notes {
                println!("note: {n}");
            }
            if let Some(a) = r.agreement {
                println!(
                    "conversion checked: ONNX Runtime vs the archive's weights on {} random observations, max |Δ| = {:.2e} (tolerance {:e}; {:.2e} against the archive evaluated in f32)",
                    a.rows,
                    a.max_abs_diff,
                    reflex_import::TOLERANCE,
                    a.max_abs_diff_f32
                );
            }
            println!(
                "wrote {} and {}; check it with `reflex check` on a run config whose policy.manifest names it",
                r.manifest.display(),
                r.model.display()
            );
            Ok(())
        }
        ImportCommand::Torchscript { model, out } => {
            let (d, bytes) = reflex_import::convert_torchscript(&model)?;
            std::fs::write(&out, bytes).with_context(|| format!("writing {}", out.display()))?;
            let a = reflex_import::agreement(&d, &out, 100)?;
            anyhow::ensure!(
                a.max_abs_diff <= reflex_import::TOLERANCE,
                "{}: the conversion differs from the archive by {:.3e}",
                out.display(),
                a.max_abs_diff
            );
            println!("{d}");
            println!(
                "wrote {}: ONNX Runtime vs the archive's weights on {} random observations, max |Δ| = {:.2e} ({:.2e} against the archive evaluated in f32)",
                out.display(),
                a.rows,
                a.max_abs_diff,
                a.max_abs_diff_f32
            );
            Ok(())
        }
    }
}

fn main() -> std::process::ExitCode {
    let code = match real_main() {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e:#}");
            // A suite below its pass rate ran fine: 1, apart from the 2 of anything refused.
            if e.downcast_ref::<reflex_runtime::scenario::cli::BelowPassRate>()
                .is_some()
            {
                1
            } else {
                2
            }
        }
    };
    if assemble::model_load_abandoned() {
        // ONNX Runtime may still be inside the abandoned load: leave without running its
        // static destructors under it.
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let _ = std::io::stderr().flush();
        // SAFETY: _exit ends the process at once; nothing after it runs.
        unsafe { libc::_exit(code) };
    }
    std::process::ExitCode::from(code as u8)
}

fn real_main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Run {
            config,
            duration,
            report,
            fault,
            settle,
            command,
            command_at,
        } => run_cmd(
            config,
            duration,
            report,
            &fault,
            settle,
            (command, &command_at),
        ),
        Command::Node {
            config,
            duration,
            report,
            ros_args,
        } => node_cmd(config, duration, report, ros_args),
        Command::Check {
            config,
            fault,
            duration,
        } => check_cmd(&config, &fault, duration),
        Command::Record {
            config,
            manifest,
            duration,
            episodes,
            skip,
            out,
        } => {
            let cfg = config::load(&config)?;
            let (demos, _) = record::record(&cfg, &manifest, duration, episodes, skip)?;
            demos
                .save(&out)
                .with_context(|| format!("writing {}", out.display()))?;
            println!(
                "recorded {} pairs (obs {}, action {}) to {}.f32/.json",
                demos.rows(),
                demos.obs_dim,
                demos.act_dim,
                out.display()
            );
            Ok(())
        }
        Command::Bench { which } => reflex_runtime::bench::run(which),
        Command::Import { what } => import_cmd(what),
        Command::Scenario { what } => reflex_runtime::scenario::cli::run(what),
        Command::Certify { model } => {
            let mlp = reflex_policies::mlp::Mlp::load(&model)?;
            let (bound, layers) = mlp.lipschitz_certificate();
            println!("{}: {} → {}", model.display(), mlp.inputs(), mlp.outputs());
            for l in &layers {
                println!("  {:<20} {:>12.6}", l.layer, l.bound);
            }
            println!("  Lipschitz bound (ℓ2, product of the above): {bound:.6}");
            Ok(())
        }
        Command::FallbackFit {
            config,
            lipschitz,
            duration,
            episodes,
            noise,
            driver_kd,
            out,
        } => fallback_fit_cmd(
            &config, &lipschitz, duration, episodes, &noise, driver_kd, out,
        ),
    }
}

fn check_cmd(
    path: &std::path::Path,
    faults: &[String],
    duration: Option<f64>,
) -> anyhow::Result<()> {
    if let Some(d) = duration {
        anyhow::ensure!(
            d.is_finite() && d > 0.0,
            "--duration: expected a time > 0 s, found {d}"
        );
    }
    let cfg = config::load(path)?.with_faults(faults)?;
    let spec = assemble::robot_spec(&cfg)?;
    match cfg.config.robot.backend {
        config::BackendKind::Sim => {
            assemble::build_sim(&cfg)?;
        }
        config::BackendKind::Ros2 => {
            assemble::bridge_config(&cfg, &[])?;
        }
        config::BackendKind::Unitree => {
            assemble::unitree_bridge_config(&cfg)?;
        }
    }
    assemble::build_startup(&cfg, &spec)?;
    assemble::build_fallback(&cfg, &spec)?;
    if let Some(p) = assemble::build_policy(&cfg, &spec)? {
        for r in p.policy.providers() {
            println!(
                "policy model: providers requested {:?}, active {:?}",
                r.requested, r.active
            );
            for (ep, why) in &r.failed {
                println!("  {ep:?} unavailable: {why}");
            }
        }
    }
    for w in &cfg.warnings {
        println!("warning: {}: {w}", path.display());
    }
    if let Some(d) = duration {
        for w in reflex_runtime::faults::FaultSchedule::unreached(&cfg.config.faults, d) {
            println!("warning: {}: {w}", path.display());
        }
    }
    println!("{}: ok", path.display());
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn fallback_fit_cmd(
    config: &std::path::Path,
    lipschitz: &[f64],
    duration: f64,
    episodes: usize,
    noise: &[f64],
    driver_kd: Option<f64>,
    out: Option<PathBuf>,
) -> anyhow::Result<()> {
    let cfg = config::load(config)?;
    let spec = assemble::robot_spec(&cfg)?;
    let reference = ft::reference_pose(&cfg, &spec);
    let driver_kd = match driver_kd {
        Some(kd) => kd,
        None => cfg
            .config
            .controller
            .kd
            .resolve(&spec.joint_names)
            .into_iter()
            .fold(f64::INFINITY, f64::min),
    };
    anyhow::ensure!(
        (0.0..=100.0).contains(&driver_kd),
        "--driver-kd: expected a damping in [0, 100] N·m·s/rad, found {driver_kd}"
    );
    println!("motor-driver damping under the fallback: {driver_kd} N·m·s/rad");
    let (demos, _) = record::record_torques(&cfg, &reference, driver_kd, duration, episodes, 2.0)?;
    println!(
        "recorded {} (state, expert torque) pairs from {} ({} faults applied per episode)",
        demos.rows(),
        config.display(),
        cfg.config.faults.len()
    );
    let stand = || Ok(ft::Holder::StartUp);
    let (expert_push_n, _) = ft::largest_push(&cfg, &stand, [0.0, 1.0, 0.0], 150.0)?;
    println!("the expert itself holds a 0.2 s lateral push of up to {expert_push_n:.0} N");
    println!(
        "{:>8} {:>10} {:>10} {:>10} | closed loop: noise → mean / min height, torque jitter; largest 0.2 s lateral push held",
        "L", "certified", "train mse", "val mse"
    );
    for (k, &l) in lipschitz.iter().enumerate() {
        let (mlp, rep) = ft::fit(&demos, l, 0);
        let mut line = format!(
            "{:>8.1} {:>10.3} {:>10.4} {:>10.4} |",
            l, rep.certified_bound, rep.train_mse, rep.validation_mse
        );
        for &nz in noise {
            let fb = reflex_policies::fallback::CertifiedFallback::from_mlp(
                mlp.clone(),
                reference.clone(),
                driver_kd,
                l,
            )?;
            let (cl, _) = ft::evaluate(&cfg, fb, nz, 6.0, &[])?;
            line += &format!(
                " {nz:.3} rad → {:.3}/{:.3} m, {:.2} N·m{};",
                cl.mean_base_height_m,
                cl.min_base_height_m,
                cl.torque_jitter_rms_nm,
                if cl.fell { " FELL" } else { "" }
            );
        }
        let holder = || {
            Ok(ft::Holder::Fallback(Box::new(
                reflex_policies::fallback::CertifiedFallback::from_mlp(
                    mlp.clone(),
                    reference.clone(),
                    driver_kd,
                    l,
                )?,
            )))
        };
        let (push_n, _) = ft::largest_push(&cfg, &holder, [0.0, 1.0, 0.0], 150.0)?;
        line += &format!(" largest lateral push {push_n:.0} N");
        println!("{line}");
        if let (0, Some(dir)) = (k, &out) {
            let prov = format!(
                "reflex fallback-fit --config {} --lipschitz {l}: 24-64-12 ReLU MLP imitating the expert's torques ({} pairs, val mse {:.4})",
                config.display(),
                demos.rows(),
                rep.validation_mse
            );
            ft::write(dir, &spec, &reference, &mlp, l, driver_kd, &prov)
                .with_context(|| format!("writing {}", dir.display()))?;
            println!("wrote {}/fallback.onnx and fallback.yaml", dir.display());
        }
    }
    Ok(())
}

type Commands<'a> = (Option<[f64; 3]>, &'a [(f64, [f64; 3])]);

fn parse_command(s: &str) -> Result<[f64; 3], String> {
    let v: Vec<f64> = s
        .split(',')
        .map(|x| x.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("expected vx,vy,yaw_rate (three numbers): {e}"))?;
    match v.as_slice() {
        [a, b, c] if v.iter().all(|x| x.is_finite()) => Ok([*a, *b, *c]),
        _ => Err(format!(
            "expected vx,vy,yaw_rate (three finite numbers), found `{s}`"
        )),
    }
}

fn parse_command_at(s: &str) -> Result<(f64, [f64; 3]), String> {
    let (t, c) = s
        .split_once(':')
        .ok_or_else(|| format!("expected T:vx,vy,yaw_rate, found `{s}`"))?;
    let t: f64 = t
        .trim()
        .parse()
        .map_err(|_| format!("expected a time T ≥ 0 s before `:`, found `{t}`"))?;
    if !(t.is_finite() && t >= 0.0) {
        return Err(format!("expected a time T ≥ 0 s, found {t}"));
    }
    Ok((t, parse_command(c)?))
}

fn run_cmd(
    config: PathBuf,
    duration: f64,
    report: Option<PathBuf>,
    faults: &[String],
    settle: f64,
    commands: Commands,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        settle.is_finite() && settle >= 0.0,
        "--settle: expected a time ≥ 0 s, found {settle}"
    );
    anyhow::ensure!(
        duration.is_finite() && duration > 0.0,
        "--duration: expected a time > 0 s, found {duration}"
    );
    let cfg = config::load(&config)?
        .with_faults(faults)?
        .with_commands(commands.0, commands.1)?;
    let progress = Arc::new(Progress::default());
    let total = (duration * cfg.config.rates.control_hz).round() as u64;
    let show = std::io::stderr().is_terminal();
    let p = progress.clone();
    let rate = cfg.config.rates.control_hz;
    let monitor = std::thread::spawn(move || {
        while !p.done.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(500));
            let n = p.cycles.load(Ordering::Relaxed);
            let line = format!(
                "[reflex] {:6.1}/{:.1} s robot time, {n} cycles, {} overruns",
                n as f64 / rate,
                total as f64 / rate,
                p.overruns.load(Ordering::Relaxed)
            );
            if show {
                eprint!("\r{line}");
            }
        }
        if show {
            eprintln!();
        }
    });
    let result = driver::run(
        &cfg,
        RunOptions {
            duration_s: Some(duration),
            progress: Some(&progress),
            settle_s: Some(settle),
            ..Default::default()
        },
    );
    progress.done.store(true, Ordering::Release);
    let _ = monitor.join();
    let rep = result?;
    print_summary(&rep);
    if let Some(path) = report {
        let json = serde_json::to_string_pretty(&rep)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(&path, json + "\n")
            .with_context(|| format!("writing the run report to {}", path.display()))?;
        println!("report: {}", path.display());
    }
    Ok(())
}

static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

fn node_cmd(
    config: Option<PathBuf>,
    duration: Option<f64>,
    report: Option<PathBuf>,
    ros_args: Vec<String>,
) -> anyhow::Result<()> {
    let args = reflex_runtime::ros_args::RosArgs::parse(&ros_args, "reflex")?;
    let config = config
        .or_else(|| args.params.get("config").map(PathBuf::from))
        .context("no run config: pass --config FILE or the `config` parameter (-p config:=FILE or a params file)")?;
    let duration = duration.or_else(|| {
        args.params
            .get("duration_s")
            .and_then(|d| d.parse().ok())
            .filter(|d: &f64| *d > 0.0)
    });
    let cfg = config::load(&config)?;
    // SAFETY: installing an async-signal-safe handler that only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s = stop.clone();
    std::thread::spawn(move || loop {
        if STOP.load(Ordering::Relaxed) {
            s.store(true, Ordering::Relaxed);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    });
    eprintln!(
        "[reflex] node starting: {} ({} remaps)",
        config.display(),
        args.remaps.len()
    );
    let rep = driver::run(
        &cfg,
        RunOptions {
            duration_s: duration,
            stop: Some(&stop),
            remaps: &args.remaps,
            ..Default::default()
        },
    )?;
    print_summary(&rep);
    if let Some(path) = report {
        std::fs::write(&path, serde_json::to_string_pretty(&rep)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn print_summary(r: &RunReport) {
    println!(
        "{}: {} cycles at {} Hz ({:.1} s robot time in {:.2} s wall, {:.1}x real time, clock {:?})",
        r.robot, r.cycles, r.rate_hz, r.duration_s, r.wall_time_s, r.realtime_factor, r.clock
    );
    if let Some(w) = &r.wakeup_latency_us {
        println!(
            "  wake-up latency µs: p50 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}",
            w.p50, w.p99, w.p999, w.max
        );
    }
    let c = &r.compute_us;
    println!(
        "  cycle compute µs:   p50 {:.1}  p99 {:.1}  max {:.1}   (physics per cycle p50 {:.1} µs, measured apart)",
        c.p50, c.p99, c.max, r.physics_us.p50
    );
    println!(
        "  overruns {}  missed deadlines {}  clamped commands {}  io errors {}  final mode {:?} ({})",
        r.overruns,
        r.missed_deadlines,
        r.clamped_commands,
        r.io_errors,
        r.final_mode,
        r.final_phase.name()
    );
    match &r.outcome {
        None => println!("  robot: no ground truth to judge by (real robot)"),
        Some(RobotOutcome::Legged {
            measured_from_s,
            min_base_height_m,
            max_base_height_m,
            final_base_height_m,
            max_abs_roll_rad,
            max_abs_pitch_rad,
            mean_forward_speed_m_s,
            mean_lateral_speed_m_s,
            mean_yaw_rate_rad_s,
        }) => println!(
            "  robot (from {measured_from_s:.2} s): base height min {min_base_height_m:.3} m, max {max_base_height_m:.3} m, final {final_base_height_m:.3} m; max |roll| {max_abs_roll_rad:.3} rad, max |pitch| {max_abs_pitch_rad:.3} rad; mean speed forward {mean_forward_speed_m_s:.3} m/s, lateral {mean_lateral_speed_m_s:.3} m/s, yaw rate {mean_yaw_rate_rad_s:.3} rad/s"
        ),
        Some(RobotOutcome::Arm {
            max_joint_tracking_error_rad,
            final_ee_position_m: p,
        }) => println!(
            "  robot: max joint tracking error {max_joint_tracking_error_rad:.4} rad; end effector at ({:.3}, {:.3}, {:.3}) m",
            p[0], p[1], p[2]
        ),
    }
    let sup = &r.supervisor;
    println!(
        "  supervisor: fallback {}{}; cycles in POLICY {}, FALLBACK {}, SAFE_STOP {}",
        sup.fallback.kind,
        match (sup.fallback.certified_bound, sup.fallback.declared_bound) {
            (Some(c), Some(d)) => format!(" (Lipschitz {c:.3} ≤ declared {d})"),
            _ => String::new(),
        },
        sup.cycles_in_policy,
        sup.cycles_in_fallback,
        sup.cycles_in_safe_stop
    );
    for t in &sup.transitions {
        let tr = &t.transition;
        println!(
            "    {:>8.3} s (cycle {}): {:?} → {:?} ({:?})",
            t.time_s, tr.cycle, tr.from, tr.to, tr.cause
        );
    }
    if let Some(p) = &r.policy {
        println!(
            "  policy {:?}: {} ticks, inference p50 {:.1} µs p99 {:.1} µs, late {}, providers {:?}",
            p.kind,
            p.thread.ticks,
            p.thread.inference_us.p50,
            p.thread.inference_us.p99,
            p.late_results,
            p.providers.iter().map(|x| x.active).collect::<Vec<_>>()
        );
    }
    if let Some(b) = &r.bridge {
        println!(
            "  ROS 2: {} samples in, {} commands out, {} rejected ({:?}), {} missed cycles",
            b.samples,
            b.commands,
            b.rejections.total(),
            b.rejections,
            r.missed_cycles
        );
    }
    for line in &r.realtime.refused {
        println!("  realtime refused: {line}");
    }
    if r.threads.placed {
        let placed: Vec<String> = r
            .threads
            .threads
            .iter()
            .filter(|t| t.class.is_some())
            .map(|t| {
                let sched = if t.scheduler == "fifo" {
                    format!("FIFO {}", t.priority)
                } else {
                    format!("nice {}", t.nice)
                };
                format!("{} {sched} CPUs {:?} {:.2} s", t.name, t.cpus, t.cpu_time_s)
            })
            .collect();
        println!("  threads: {}", placed.join("; "));
    }
}
