//! `reflex bench loop`: the RT loop's wake-up latency and cycle compute next to cyclictest, run
//! at the same time on the other CPU and then with the CPUs swapped, with the simulator's physics
//! on the RT thread and with the world frozen.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context};

use super::*;

pub(super) fn bench_loop(
    path: &Path,
    seconds: f64,
    priority: i32,
    cpu: usize,
) -> anyhow::Result<()> {
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
