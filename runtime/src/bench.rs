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

/// Runs `reflex scenario run` as a child process: (wall s, peak RSS MiB).
fn scenario_child(
    file: &Path,
    episodes: u64,
    jobs: usize,
    out: &Path,
) -> anyhow::Result<(f64, f64)> {
    let t0 = std::time::Instant::now();
    let child = Command::new(std::env::current_exe()?)
        .args(["scenario", "run"])
        .arg(file)
        .args([
            "--seeds",
            &episodes.to_string(),
            "--jobs",
            &jobs.to_string(),
            "--out",
        ])
        .arg(out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let mut status = 0;
    // SAFETY: rusage is plain data, zero-initialised; wait4 reaps exactly this child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    anyhow::ensure!(
        pid > 0,
        "waiting for the scenario run: {}",
        std::io::Error::last_os_error()
    );
    // A pass rate below the file's threshold exits 1 and still measures the sweep.
    anyhow::ensure!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) <= 1,
        "the scenario run failed (status {status})"
    );
    Ok((t0.elapsed().as_secs_f64(), usage.ru_maxrss as f64 / 1024.0))
}

fn bench_scenario(file: &Path, episodes: u64) -> anyhow::Result<()> {
    let s = crate::scenario::load(file)?;
    let total = episodes * s.spec.variants.len() as u64;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let dir = std::env::temp_dir().join(format!("reflex-bench-scenario-{}", std::process::id()));
    println!(
        "scenario sweep: {} ({total} episodes of {} s robot time per run), {cpus} CPUs",
        file.display(),
        s.spec.duration_s
    );
    println!("  workers  wall (s)  episodes/s  speed-up  peak RSS (MiB)");
    let mut base: Option<(f64, f64)> = None;
    for jobs in [1, cpus.max(2)] {
        let (wall, rss) = scenario_child(file, episodes, jobs, &dir.join(jobs.to_string()))?;
        let rate = total as f64 / wall;
        let (r1, m1) = *base.get_or_insert((rate, rss));
        println!(
            "  {jobs:>7}  {wall:>8.1}  {rate:>10.2}  {:>7.2}×  {rss:>14.0}",
            rate / r1
        );
        if jobs > 1 {
            println!(
                "  memory per added worker: {:.1} MiB (peak RSS difference / {})",
                (rss - m1) / (jobs - 1) as f64,
                jobs - 1
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
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

fn bench_loop(path: &Path, seconds: f64, priority: i32, cpu: usize) -> anyhow::Result<()> {
    println!(
        "reflex bench loop: {} at 1 kHz for {seconds} s per run, SCHED_FIFO {priority}; cyclictest \
         (same interval and priority) runs at the same time on the other CPU, then the two swap \
         CPUs, so both see the same moments and the same CPUs",
        path.display()
    );
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let other = if cpu == 0 { 1 } else { 0 };
    let arrangements: Vec<(usize, Option<usize>)> = if cpus >= 2 {
        vec![(cpu, Some(other)), (other, Some(cpu))]
    } else {
        vec![(cpu, None)]
    };
    let loops = (seconds * 1000.0).round() as u64;
    for frozen in [false, true] {
        println!(
            "{}",
            if frozen {
                "Without physics on the RT thread (the world frozen, as a real robot's RT thread sees it):"
            } else {
                "With the simulator's physics on the RT thread between cycles:"
            }
        );
        loop_runs(path, seconds, priority, &arrangements, loops, frozen)?;
    }
    Ok(())
}

/// One `bench loop` series: Reflex and cyclictest side by side in each arrangement.
fn loop_runs(
    path: &Path,
    seconds: f64,
    priority: i32,
    arrangements: &[(usize, Option<usize>)],
    loops: u64,
    frozen: bool,
) -> anyhow::Result<()> {
    let mut ratios: Vec<[f64; 3]> = Vec::new();
    for &(reflex_cpu, baseline_cpu) in arrangements {
        let mut cfg = load_with(path, ClockKind::Realtime, 1000.0, 0.001)?;
        cfg.config.realtime.priority = priority;
        cfg.config.realtime.cpu = Some(reflex_cpu);
        cfg.config.realtime.lock_memory = true;
        cfg.config.realtime.prefault_stack_kib = 256;
        // Started first (it needs a moment to set up) and given a second more than Reflex, so
        // it runs through the whole of Reflex's run.
        let child = baseline_cpu.map(|c| cyclictest_spawn(priority, c, loops + 1000));
        std::thread::sleep(std::time::Duration::from_millis(300));
        let rep = driver::run(
            &cfg,
            RunOptions {
                duration_s: Some(seconds),
                world_frozen: frozen,
                ..Default::default()
            },
        )?;
        println!(
            "  Reflex on CPU {reflex_cpu}, cyclictest on CPU {}:",
            baseline_cpu.map_or("—".into(), |c| c.to_string())
        );
        for line in &rep.realtime.refused {
            println!("    warning: {line}");
        }
        let w = rep
            .wakeup_latency_us
            .context("realtime clock reports wake-up latency")?;
        print_row("  reflex wake-up", &w);
        print_row("  reflex compute", &rep.compute_us);
        print_row("  sim physics", &rep.physics_us);
        println!(
            "      cycles {}  overruns {}  missed deadlines {}",
            rep.cycles, rep.overruns, rep.missed_deadlines
        );
        match child.map(|c| c.and_then(cyclictest_finish)) {
            Some(Ok(c)) => {
                print_row("  cyclictest", &c);
                let r = [
                    w.p50 / c.p50.max(1.0),
                    w.p99 / c.p99.max(1.0),
                    w.p999 / c.p999.max(1.0),
                ];
                println!(
                    "      wake-up ratio reflex/cyclictest: p50 {:.2}  p99 {:.2}  p99.9 {:.2}",
                    r[0], r[1], r[2]
                );
                ratios.push(r);
            }
            Some(Err(e)) => {
                println!("    cyclictest not run: {e:#} (Debian: apt-get install rt-tests)")
            }
            None => println!("    one CPU: no concurrent baseline"),
        }
    }
    if !ratios.is_empty() {
        let mean = |i: usize| ratios.iter().map(|r| r[i]).sum::<f64>() / ratios.len() as f64;
        println!(
            "  wake-up ratio, both arrangements: p50 {:.2}  p99 {:.2}  p99.9 {:.2} (target ≤ 1.10)",
            mean(0),
            mean(1),
            mean(2)
        );
    }
    Ok(())
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

/// Starts cyclictest (one thread, 1 ms interval, `priority`, pinned to `cpu`, `loops` wake-ups,
/// histogram to 20 ms).
fn cyclictest_spawn(priority: i32, cpu: usize, loops: u64) -> anyhow::Result<std::process::Child> {
    Command::new("cyclictest")
        .args([
            "-m",
            "-q",
            "-t1",
            &format!("-p{priority}"),
            &format!("-a{cpu}"),
            "-i1000",
            &format!("-l{loops}"),
            "-h20000",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("starting cyclictest")
}

/// Waits for cyclictest and reads its histogram.
fn cyclictest_finish(child: std::process::Child) -> anyhow::Result<LatencySummaryUs> {
    let out = child.wait_with_output().context("waiting for cyclictest")?;
    if !out.status.success() {
        bail!(
            "cyclictest failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    parse_cyclictest_histogram(&String::from_utf8_lossy(&out.stdout))
}

/// Parses cyclictest's `-h` output (`latency_us count` rows, `# Max Latencies: N`).
pub fn parse_cyclictest_histogram(text: &str) -> anyhow::Result<LatencySummaryUs> {
    let mut buckets: Vec<(u64, u64)> = Vec::new();
    let mut max = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# Max Latencies:") {
            max = rest
                .split_whitespace()
                .next()
                .and_then(|v| v.parse::<u64>().ok());
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let mut it = line.split_whitespace();
        if let (Some(a), Some(b)) = (it.next(), it.next()) {
            if let (Ok(us), Ok(n)) = (a.parse::<u64>(), b.parse::<u64>()) {
                buckets.push((us, n));
            }
        }
    }
    let total: u64 = buckets.iter().map(|b| b.1).sum();
    if total == 0 {
        bail!("cyclictest printed no histogram");
    }
    let q = |p: f64| {
        let want = (p * total as f64).ceil() as u64;
        let mut acc = 0;
        for &(us, n) in &buckets {
            acc += n;
            if acc >= want {
                return us as f64;
            }
        }
        buckets.last().map(|b| b.0 as f64).unwrap_or(0.0)
    };
    let mean = buckets
        .iter()
        .map(|&(us, n)| us as f64 * n as f64)
        .sum::<f64>()
        / total.max(1) as f64;
    Ok(LatencySummaryUs {
        samples: total,
        mean,
        p50: q(0.5),
        p99: q(0.99),
        p999: q(0.999),
        max: max.map(|m| m as f64).unwrap_or_else(|| q(1.0)),
        saturated: 0,
    })
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
        let rapier = steps / rep.wall_time_s;
        println!(
            "  {name:<6} rapier: {rapier:>9.0} steps/s  {:>6.1}x real time  (step p50 {:.1} µs)",
            rep.realtime_factor, rep.physics_us.p50
        );
        match mujoco(python, name, urdf, dt, seconds) {
            Ok(mj) => println!(
                "  {name:<6} mujoco: {mj:>9.0} steps/s  {:>6.1}x real time  -> rapier/mujoco {:.3}",
                mj * dt,
                rapier / mj
            ),
            Err(e) => println!("  {name:<6} mujoco not run: {e:#} (pip install mujoco)"),
        }
    }
    println!("  target: A1 ≥ 20x real time at dt 0.002 s");
    Ok(())
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

/// The HIMLoco model alone on CPU 0: back to back, and at the policy's 50 Hz (idle between
/// calls, as in a deployment).
fn isolated_inference(model: &Path) -> anyhow::Result<(LatencySummaryUs, LatencySummaryUs)> {
    use reflex_policies::onnx::{self, OnnxModel, SessionOptions};
    onnx::runtime(None)?;
    let mut m = OnnxModel::open(model, &SessionOptions::default())?;
    let x: Vec<f32> = (0..m.input_len())
        .map(|i| ((i * 37 % 17) as f32 - 8.0) / 8.0)
        .collect();
    let mut y = vec![0.0f32; m.output_len()];
    let pin = crate::config::RealtimeSection {
        cpu: Some(0),
        ..Default::default()
    };
    crate::rt::apply(&pin);
    let tight = time_calls(3000, || {
        let _ = m.run(&x, &mut y);
    });
    let mut h = crate::stats::LatencyHistogram::new();
    for _ in 0..250 {
        std::thread::sleep(std::time::Duration::from_millis(20));
        let t0 = crate::rt::now_ns();
        let _ = m.run(&x, &mut y);
        h.record_ns(crate::rt::now_ns() - t0);
    }
    Ok((tight, h.summary_us()))
}

fn bench_deploy(seconds: f64, python: &str) -> anyhow::Result<()> {
    let repo = std::env::current_dir()?;
    let python = repo.join(python);
    anyhow::ensure!(
        python.exists(),
        "{} not found (run ./dev setup)",
        python.display()
    );
    let model = repo.join("policies/models/go2_himloco/policy.onnx");
    // In a thread of its own, so its pinning stays there.
    let (tight, at_rate) = std::thread::scope(|s| s.spawn(|| isolated_inference(&model)).join())
        .map_err(|_| anyhow::anyhow!("isolation thread panicked"))??;
    println!(
        "reflex bench deploy: Go2 in MuJoCo (SCHED_FIFO 85, the robot's own computer) behind Cyclone DDS, reflex node (robot-triggered 500 Hz, HIMLoco 50 Hz at 0.5 m/s), {seconds} s walking per run, {} CPUs",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "  the model alone on CPU 0: back to back p50 {:.1} µs p99 {:.1} µs; at 50 Hz (idle between calls) p50 {:.1} µs p99 {:.1} µs",
        tight.p50, tight.p99, at_rate.p50, at_rate.p99
    );
    for (k, (name, extra)) in [
        (
            "Reflex's placement, the I/O thread spinning up to 200 µs for each answer",
            "",
        ),
        (
            "Reflex's placement, the I/O thread parking at once",
            "threads:\n  ros_io: {spin_us: 0}\n",
        ),
        (
            "every thread but the RT one as the OS made it",
            "threads:\n  place: false\n",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let dir =
            std::env::temp_dir().join(format!("reflex-bench-deploy-{}-{k}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let text = std::fs::read_to_string(repo.join("launch/config/go2_ros.yaml"))?
            .replace("../../", &format!("{}/", repo.display()))
            .replace(
                "  node_name: reflex\n",
                "  node_name: reflex\n  only_loopback: true\n",
            )
            .replace("  command: [0.0, 0.0, 0.0]", "  command: [0.5, 0.0, 0.0]")
            + extra;
        std::fs::write(dir.join("go2_ros.yaml"), text)?;
        let script = format!(
            "set -e; ip link set lo up; ip link set lo multicast on; cd {peer}; \
             chrt -f 85 {py} mujoco_robot.py --model go2 --out {dir}/robot.json --duration {pd} --judge-from 5 & \
             {exe} node --config {dir}/go2_ros.yaml --duration {nd} --report {dir}/report.json > {dir}/node.log 2>&1; wait",
            peer = repo.join("tests/peer").display(),
            py = python.display(),
            dir = dir.display(),
            exe = std::env::current_exe()?.display(),
            pd = seconds + 8.0,
            nd = seconds + 5.0,
        );
        use std::io::Write;
        std::io::stdout().flush()?;
        let out = Command::new("unshare")
            .args(["-n", "sh", "-c", &script])
            .output()
            .context("unshare")?;
        if !out.status.success() {
            bail!(
                "namespace run failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let read = |f: &str| -> anyhow::Result<serde_json::Value> {
            Ok(serde_json::from_str(
                &std::fs::read_to_string(dir.join(f)).with_context(|| f.to_string())?,
            )?)
        };
        let (rep, robot) = (read("report.json")?, read("robot.json")?);
        let us = |v: &serde_json::Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN);
        let p = &rep["policy"];
        let inf = &p["thread"]["inference_us"];
        println!("  {name}:");
        println!(
            "    policy inference p50 {:.1} µs p99 {:.1} µs  -> ×{:.2} / ×{:.2} the model alone at 50 Hz (×{:.2} / ×{:.2} back to back); late results {} of {} ticks, by stage {}",
            us(inf, "p50"),
            us(inf, "p99"),
            us(inf, "p50") / at_rate.p50,
            us(inf, "p99") / at_rate.p99,
            us(inf, "p50") / tight.p50,
            us(inf, "p99") / tight.p99,
            p["late_results"],
            p["thread"]["ticks"],
            p["late_by"]
        );
        let b = &p["budget"];
        println!(
            "    policy tick (µs, mean/p99): wake {:.0}/{:.0}, observation {:.0}/{:.0}, inference {:.0}/{:.0}, hand-off {:.0}/{:.0} = {:.0}/{:.0}",
            us(&b["wake_us"], "mean"), us(&b["wake_us"], "p99"),
            us(&b["observation_us"], "mean"), us(&b["observation_us"], "p99"),
            us(&b["inference_us"], "mean"), us(&b["inference_us"], "p99"),
            us(&b["handoff_us"], "mean"), us(&b["handoff_us"], "p99"),
            us(&b["total_us"], "mean"), us(&b["total_us"], "p99"),
        );
        let c = &rep["bridge"]["budget_us"];
        let stages = [
            "stamp_to_received",
            "received_to_read",
            "read_to_write",
            "write_to_published",
        ];
        let sum: f64 = stages.iter().map(|k| us(&c[*k], "mean")).sum();
        println!(
            "    per cycle (µs, mean/p99): {} = {:.0}; end to end {:.0}/{:.0}; missed cycles {}",
            stages
                .iter()
                .map(|k| format!("{k} {:.0}/{:.0}", us(&c[*k], "mean"), us(&c[*k], "p99")))
                .collect::<Vec<_>>()
                .join(", "),
            sum,
            us(&c["end_to_end"], "mean"),
            us(&c["end_to_end"], "p99"),
            rep["missed_cycles"]
        );
        let threads: Vec<String> = rep["threads"]["threads"]
            .as_array()
            .map(|v| {
                v.iter()
                    .filter(|t| !t["class"].is_null())
                    .map(|t| {
                        format!(
                            "{} {} CPUs {} {:.1} s",
                            t["name"].as_str().unwrap_or(""),
                            if t["scheduler"] == "fifo" {
                                format!("FIFO {}", t["priority"])
                            } else {
                                format!("nice {}", t["nice"])
                            },
                            t["cpus"],
                            t["cpu_time_s"].as_f64().unwrap_or(0.0)
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        println!("    threads: {}", threads.join("; "));
        println!(
            "    the robot: mean forward {:.3} m/s, lowest {:.3} m, largest tilt {:.3} rad; mode {}",
            robot["mean_forward_m_s"].as_f64().unwrap_or(f64::NAN),
            robot["min_height_m"].as_f64().unwrap_or(f64::NAN),
            robot["max_tilt_rad"].as_f64().unwrap_or(f64::NAN),
            rep["final_mode"]
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

fn bench_ros(seconds: f64, python: &str) -> anyhow::Result<()> {
    let repo = std::env::current_dir()?;
    let dir = std::env::temp_dir().join(format!("reflex-bench-ros-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    // Absolute but not canonical: resolving the venv's symlink would lose the venv.
    let python = repo.join(python);
    anyhow::ensure!(
        python.exists(),
        "{} not found (run ./dev setup)",
        python.display()
    );
    let stand = [
        -0.1, 0.8, -1.5, 0.1, 0.8, -1.5, -0.1, 1.0, -1.5, 0.1, 1.0, -1.5,
    ];
    let spec = a1_spec()?;
    let joints: serde_json::Map<String, serde_json::Value> = spec
        .joint_names
        .iter()
        .zip(stand)
        .map(|(n, q)| (n.clone(), serde_json::Value::from(q)))
        .collect();
    std::fs::write(
        dir.join("joints.json"),
        serde_json::Value::Object(joints).to_string(),
    )?;
    let text = std::fs::read_to_string(repo.join("launch/config/a1_ros.yaml"))?
        .replace("../../", &format!("{}/", repo.display()))
        .replace(
            "  node_name: reflex\n",
            "  node_name: reflex\n  only_loopback: true\n",
        )
        .replace(
            "command_interface: effort_array",
            "command_interface: joint_trajectory",
        )
        .replace(
            "  kind: stand_up\n  duration_s: 2.0\n",
            "  kind: joint_pd_hold\n",
        );
    std::fs::write(dir.join("a1_ros.yaml"), text)?;
    let exe = std::env::current_exe()?;
    let script = format!(
        "set -e; ip link set lo up; ip link set lo multicast on; cd {peer}; \
         {py} pingpong.py pong 25 & {py} pingpong.py ping 1500 {dir}/pingpong.json; wait; \
         {py} robot_peer.py --joints {dir}/joints.json --out {dir}/peer.json --interface joint_trajectory --duration {pd} --stop-at {stop} --poll-us 20 & \
         {exe} node --config {dir}/a1_ros.yaml --duration {nd} --report {dir}/report.json > {dir}/node.log 2>&1; wait",
        peer = repo.join("tests/peer").display(),
        py = python.display(),
        dir = dir.display(),
        exe = exe.display(),
        pd = seconds + 2.0,
        stop = seconds,
        nd = seconds,
    );
    println!("reflex bench ros: A1 joint states at 500 Hz from a Cyclone DDS peer, robot-triggered cycles, loopback-only network namespace");
    use std::io::Write;
    std::io::stdout().flush()?;
    let out = Command::new("unshare")
        .args(["-n", "sh", "-c", &script])
        .output()
        .context("unshare")?;
    if !out.status.success() {
        bail!(
            "namespace run failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let read = |f: &str| -> anyhow::Result<serde_json::Value> {
        Ok(serde_json::from_str(
            &std::fs::read_to_string(dir.join(f)).with_context(|| f.to_string())?,
        )?)
    };
    let (pp, peer, rep) = (
        read("pingpong.json")?,
        read("peer.json")?,
        read("report.json")?,
    );
    let base50 = pp["one_way_p50_us"].as_f64().unwrap_or(f64::NAN);
    let base99 = pp["one_way_p99_us"].as_f64().unwrap_or(f64::NAN);
    println!("  cyclone ping-pong one-way (python ↔ python): p50 {base50:>7.1} µs  p99 {base99:>7.1} µs  (n={})", pp["samples"]);
    let inb = &rep["bridge"]["inbound_latency_us"];
    let (i50, i99) = (
        inb["p50"].as_f64().unwrap_or(f64::NAN),
        inb["p99"].as_f64().unwrap_or(f64::NAN),
    );
    println!("  peer publish → RT cycle reads it:           p50 {i50:>7.1} µs  p99 {i99:>7.1} µs  (n={}) ratio p50 {:.2} (target ≤ 1.20)", inb["samples"], i50 / base50);
    let mut out_us: Vec<f64> = peer["commands"]
        .as_array()
        .map(|c| {
            c.iter()
                .filter_map(|x| x.get(2).and_then(|v| v.as_f64()))
                .collect()
        })
        .unwrap_or_default();
    out_us.sort_by(f64::total_cmp);
    let q = |p: f64| {
        out_us
            .get(((out_us.len() as f64 * p) as usize).min(out_us.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::NAN)
    };
    println!("  RT write → peer receives it:                p50 {:>7.1} µs  p99 {:>7.1} µs  (n={}) ratio p50 {:.2} (target ≤ 1.20)", q(0.5), q(0.99), out_us.len(), q(0.5) / base50);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cyclictest_histogram_percentiles() {
        let text = "# Histogram\n000001 000050\n000002 000040\n000010 000009\n000080 000001\n# Total: 000000100\n# Max Latencies: 00083\n";
        let s = parse_cyclictest_histogram(text).unwrap();
        assert_eq!(s.samples, 100);
        assert_eq!(s.p50, 1.0);
        assert_eq!(s.p99, 10.0);
        assert_eq!(s.p999, 80.0);
        assert_eq!(s.max, 83.0);
    }
}
