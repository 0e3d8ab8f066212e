//! `reflex scenario run | merge | report`: the command line over [`super::run`] and
//! [`super::report`], with the exit status a CI job reads (1: below the pass rate, from
//! [`BelowPassRate`]; anything refused: an error).

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::{report, run};

/// `reflex scenario`'s subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ScenarioCommand {
    /// Run a scenario file's episodes; writes OUT/results.jsonl and OUT/summary.json and exits
    /// non-zero when the with-safety pass rate falls below the file's `pass.min_pass_rate`.
    Run {
        /// The scenario file (YAML).
        file: PathBuf,
        /// Episodes (default: the file's `episodes`).
        #[arg(long)]
        seeds: Option<u64>,
        /// Workers, one simulator each (default: the CPUs).
        #[arg(long)]
        jobs: Option<usize>,
        /// Run only shard I of N (`I/N`, from 0): episodes k with k % N == I.
        #[arg(long, value_parser = parse_shard)]
        shard: Option<(u64, u64)>,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
    },
    /// Join shards' results into one results.jsonl and the summary an unsharded run gives.
    Merge {
        /// Shard output folders.
        dirs: Vec<PathBuf>,
        /// The scenario file, to fail (exit 1) below its `pass.min_pass_rate` as `run` does.
        #[arg(long)]
        scenario: Option<PathBuf>,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
    },
    /// One self-contained HTML report of a results folder.
    Report {
        /// A results folder (from run or merge).
        dir: PathBuf,
        /// The HTML file to write.
        #[arg(long)]
        out: PathBuf,
    },
}

fn parse_shard(s: &str) -> Result<(u64, u64), String> {
    let (i, n) = s
        .split_once('/')
        .ok_or_else(|| format!("expected I/N (e.g. 0/4), found `{s}`"))?;
    let (i, n): (u64, u64) = (
        i.trim()
            .parse()
            .map_err(|_| format!("shard index `{i}` is not a number"))?,
        n.trim()
            .parse()
            .map_err(|_| format!("shard count `{n}` is not a number"))?,
    );
    if n == 0 || i >= n {
        return Err(format!("expected 0 ≤ I < N, found {i}/{n}"));
    }
    Ok((i, n))
}

/// Survival bins (N) in summaries.
const SURVIVAL_BIN_N: f64 = 20.0;

/// Writes a run's (or a merge's) results.jsonl, timing.jsonl and summary.json into `out`.
fn write_outputs(out: &Path, o: &run::RunOutput) -> anyhow::Result<run::Summary> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    run::write_jsonl(&out.join("results.jsonl"), &o.results)?;
    run::write_jsonl(&out.join("timing.jsonl"), &o.timing)?;
    let summary = run::summarize(&o.results, SURVIVAL_BIN_N);
    std::fs::write(
        out.join("summary.json"),
        serde_json::to_string_pretty(&summary)?,
    )?;
    Ok(summary)
}

/// Prints the pass rates and the first failures; an error when the with-safety variant of a
/// scenario passes less than `min_pass_rate`.
fn print_and_check(
    summary: &run::Summary,
    results: &[run::EpisodeResult],
    min_pass_rate: f64,
) -> anyhow::Result<()> {
    let mut below = Vec::new();
    for (name, vs) in &summary.scenarios {
        for (v, sum) in vs {
            println!(
                "  {name} {}: {}/{} passed ({:.1} %), {} fell{}",
                v.name(),
                sum.passed,
                sum.episodes,
                sum.pass_rate * 100.0,
                sum.fell,
                sum.push_at_half_survival_n
                    .map(|f| format!(", 50 % survival at a {f:.0} N push"))
                    .unwrap_or_default()
            );
            if *v == super::Variant::WithSafety && sum.pass_rate < min_pass_rate {
                below.push(format!(
                    "{name}: pass rate {:.3} below {min_pass_rate}",
                    sum.pass_rate
                ));
            }
        }
    }
    for r in results.iter().filter(|r| !r.passed).take(10) {
        println!(
            "    failed: {} episode {} (seed {}): {}",
            r.variant.name(),
            r.episode,
            r.params.seed,
            r.failures.join("; ")
        );
    }
    if below.is_empty() {
        Ok(())
    } else {
        Err(BelowPassRate(below.join("; ")).into())
    }
}

/// A scenario suite passed less often than its `pass.min_pass_rate` (exit status 1).
#[derive(Debug)]
pub struct BelowPassRate(String);

impl std::fmt::Display for BelowPassRate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BelowPassRate {}

/// Runs a `reflex scenario` subcommand.
pub fn run(what: ScenarioCommand) -> anyhow::Result<()> {
    match what {
        ScenarioCommand::Run {
            file,
            seeds,
            jobs,
            shard,
            out,
        } => {
            let s = super::load(&file)?;
            let episodes = seeds.unwrap_or(s.spec.episodes);
            anyhow::ensure!(
                (1..=1_000_000).contains(&episodes),
                "--seeds: expected 1–1000000 episodes, found {episodes}"
            );
            let jobs =
                jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            anyhow::ensure!(
                (1..=256).contains(&jobs),
                "--jobs: expected 1–256, found {jobs}"
            );
            let t0 = std::time::Instant::now();
            let output = run::run(&s, episodes, jobs, shard.unwrap_or((0, 1)))
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let wall = t0.elapsed().as_secs_f64();
            let summary = write_outputs(&out, &output)?;
            println!(
                "{}: {} episodes in {wall:.1} s on {jobs} workers ({:.2} episodes/s); results in {}",
                s.spec.name,
                output.results.len(),
                output.results.len() as f64 / wall.max(1e-9),
                out.display()
            );
            print_and_check(&summary, &output.results, s.spec.pass.min_pass_rate)
        }
        ScenarioCommand::Merge {
            dirs,
            scenario: file,
            out,
        } => {
            let merged = run::merge(&dirs).map_err(anyhow::Error::msg)?;
            let summary = write_outputs(&out, &merged)?;
            println!(
                "merged {} episodes from {} shards into {}",
                merged.results.len(),
                dirs.len(),
                out.display()
            );
            let min = match file {
                Some(f) => super::load(&f)?.spec.pass.min_pass_rate,
                None => 0.0,
            };
            print_and_check(&summary, &merged.results, min)
        }
        ScenarioCommand::Report { dir, out } => {
            let results: Vec<run::EpisodeResult> =
                run::read_jsonl(&dir.join("results.jsonl")).map_err(anyhow::Error::msg)?;
            let timing_path = dir.join("timing.jsonl");
            let timing: Vec<run::EpisodeTiming> = if timing_path.exists() {
                run::read_jsonl(&timing_path).map_err(anyhow::Error::msg)?
            } else {
                Vec::new()
            };
            let summary = run::summarize(&results, SURVIVAL_BIN_N);
            let page = report::html(
                &format!("Reflex scenario report: {}", dir.display()),
                &results,
                &timing,
                &summary,
            );
            std::fs::write(&out, page).with_context(|| format!("writing {}", out.display()))?;
            println!("wrote {} ({} episodes)", out.display(), results.len());
            Ok(())
        }
    }
}
