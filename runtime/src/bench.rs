//! `reflex bench`: figures printed next to reference tools run in the same invocation.

/// Which benchmark.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum BenchCommand {
    /// Placeholder until the benchmarks land.
    Loop,
}

/// Runs a benchmark.
pub fn run(_which: BenchCommand) -> anyhow::Result<()> {
    Ok(())
}
