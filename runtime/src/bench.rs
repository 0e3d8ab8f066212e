//! `reflex bench`: figures printed next to reference tools run in the same invocation, with
//! ratios. Timings on a shared VM are noisy; the ratio against a baseline measured seconds
//! apart on the same machine is the figure to read.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use anyhow::{bail, Context};

use crate::config::{self, ClockKind, LoadedConfig};
use crate::run::{self, Progress, RunReport};
use crate::stats::LatencySummaryUs;

/// Which benchmark.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum BenchCommand {
    /// RT loop at 1 kHz on the A1 (wake-up latency, cycle compute) next to cyclictest.
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
        /// CPU both are pinned to.
        #[arg(long, default_value_t = 1)]
        cpu: usize,
    },
    /// Simulator steps per second for the A1 and the Panda, next to MuJoCo on the same URDF.
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

fn bench_loop(path: &Path, seconds: f64, priority: i32, cpu: usize) -> anyhow::Result<()> {
    let mut cfg = load_with(path, ClockKind::Realtime, 1000.0, 0.001)?;
    cfg.config.realtime.priority = priority;
    cfg.config.realtime.cpu = Some(cpu);
    cfg.config.realtime.lock_memory = true;
    cfg.config.realtime.prefault_stack_kib = 256;
    println!(
        "reflex bench loop: {} at 1 kHz for {seconds} s, SCHED_FIFO {priority}, CPU {cpu}",
        path.display()
    );
    let rep = run::run(&cfg, seconds, Arc::new(Progress::default()))?;
    for line in &rep.realtime.refused {
        println!("  warning: {line}");
    }
    let w = rep
        .wakeup_latency_us
        .context("realtime clock reports wake-up latency")?;
    print_row("reflex wake-up", &w);
    print_row("reflex compute", &rep.compute_us);
    print_row("sim physics", &rep.physics_us);
    println!(
        "  cycles {}  overruns {}  missed deadlines {}",
        rep.cycles, rep.overruns, rep.missed_deadlines
    );
    let loops = (seconds * 1000.0).round() as u64;
    match cyclictest(priority, cpu, loops) {
        Ok(c) => {
            print_row("cyclictest", &c);
            println!(
                "  wake-up p99 ratio reflex/cyclictest: {:.2} (target ≤ 1.20)",
                w.p99 / c.p99.max(1.0)
            );
        }
        Err(e) => println!("  cyclictest not run: {e:#} (Debian: apt-get install rt-tests)"),
    }
    println!(
        "  cycle compute p99 {:.2} µs (target < 20 µs, physics excluded)",
        rep.compute_us.p99
    );
    Ok(())
}

fn print_row(name: &str, s: &LatencySummaryUs) {
    println!(
        "  {name:<16} µs: p50 {:>8.1}  p99 {:>8.1}  p99.9 {:>8.1}  max {:>8.1}  (n={})",
        s.p50, s.p99, s.p999, s.max, s.samples
    );
}

/// Runs cyclictest (one thread, 1 ms interval, same priority and CPU) and reads its histogram.
fn cyclictest(priority: i32, cpu: usize, loops: u64) -> anyhow::Result<LatencySummaryUs> {
    let out = Command::new("cyclictest")
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
        .output()
        .context("starting cyclictest")?;
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
    Ok(LatencySummaryUs {
        samples: total,
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
        ("a1", "launch/config/a1_stand.yaml", "sim/models/a1/a1.urdf"),
        (
            "panda",
            "launch/config/panda_hold.yaml",
            "sim/models/panda/panda.urdf",
        ),
    ] {
        let cfg = load_with(Path::new(path), ClockKind::Lockstep, 1.0 / dt, dt)?;
        let rep: RunReport = run::run(&cfg, seconds, Arc::new(Progress::default()))?;
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
    let out = Command::new(python)
        .args([
            "scripts/bench_mujoco.py",
            "--urdf",
            urdf,
            "--model",
            model,
            "--dt",
            &dt.to_string(),
            "--seconds",
            &seconds.to_string(),
        ])
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
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("reading its JSON line")?;
    v["steps_per_s"]
        .as_f64()
        .context("no steps_per_s in its output")
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
