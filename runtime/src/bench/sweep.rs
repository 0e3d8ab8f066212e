//! `reflex bench scenario`: a scenario sweep's episodes per second with one worker and with every
//! CPU, and the memory each worker adds; each run a separate `reflex scenario run` process.

use std::path::Path;
use std::process::Command;

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

pub(super) fn bench_scenario(file: &Path, episodes: u64) -> anyhow::Result<()> {
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
