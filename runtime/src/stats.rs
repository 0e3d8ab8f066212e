//! Loop statistics recorded on the RT thread into histograms allocated before the loop starts.

use hdrhistogram::Histogram;
use serde::Serialize;

/// Highest value a histogram holds (ns): 1 s. Larger samples count as saturated.
const MAX_NS: u64 = 1_000_000_000;

/// A latency histogram in nanoseconds with a fixed range: recording never allocates.
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    hist: Histogram<u64>,
    saturated: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyHistogram {
    /// 1 ns – 1 s at 3 significant digits. Allocates here, never in [`Self::record_ns`].
    pub fn new() -> Self {
        let hist =
            Histogram::new_with_bounds(1, MAX_NS, 3).expect("constant histogram bounds are valid");
        Self { hist, saturated: 0 }
    }

    /// Records one sample (ns). Values above 1 s are clamped and counted as saturated.
    #[inline]
    pub fn record_ns(&mut self, ns: u64) {
        let v = ns.clamp(1, MAX_NS);
        if ns > MAX_NS {
            self.saturated += 1;
        }
        // In range by construction, and auto-resize is off: this cannot fail or allocate.
        let _ = self.hist.record(v);
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    /// Summary in microseconds.
    pub fn summary_us(&self) -> LatencySummaryUs {
        let q = |p: f64| {
            if self.hist.is_empty() {
                0.0
            } else {
                self.hist.value_at_quantile(p) as f64 / 1e3
            }
        };
        LatencySummaryUs {
            samples: self.hist.len(),
            mean: if self.hist.is_empty() {
                0.0
            } else {
                self.hist.mean() / 1e3
            },
            p50: q(0.5),
            p99: q(0.99),
            p999: q(0.999),
            max: if self.hist.is_empty() {
                0.0
            } else {
                self.hist.max() as f64 / 1e3
            },
            saturated: self.saturated,
        }
    }
}

/// Percentiles of a latency distribution, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct LatencySummaryUs {
    /// Number of samples.
    pub samples: u64,
    /// Mean (µs).
    pub mean: f64,
    /// Median (µs).
    pub p50: f64,
    /// 99th percentile (µs).
    pub p99: f64,
    /// 99.9th percentile (µs).
    pub p999: f64,
    /// Largest sample (µs).
    pub max: f64,
    /// Samples above 1 s (clamped).
    pub saturated: u64,
}

/// Everything the RT loop measures about itself.
#[derive(Debug, Clone, Default)]
pub struct LoopStats {
    /// Cycles completed.
    pub cycles: u64,
    /// Cycles whose work ended after the next deadline.
    pub overruns: u64,
    /// Deadlines skipped entirely after an overrun.
    pub missed_deadlines: u64,
    /// Actual wake-up minus deadline (ns); real-time clock only.
    pub wakeup: LatencyHistogram,
    /// Cycle body: read → controller → clamp → write (ns).
    pub compute: LatencyHistogram,
    /// Simulator physics per cycle (ns): the stand-in for the robot, measured apart.
    pub physics: LatencyHistogram,
    /// Commands changed by the limit clamp.
    pub clamped_commands: u64,
    /// Position targets held back by the per-cycle step limit (bumpless transfer).
    pub limited_targets: u64,
    /// Robot read or write errors.
    pub io_errors: u64,
    /// Robot-triggered cycles whose state did not arrive in time.
    pub missed_cycles: u64,
    /// Compute time of the last cycle (ns).
    pub last_compute_ns: u64,
    /// E-stops engaged from outside the loop (the lock topic, scripted ones) and acted on.
    pub estops_seen: u64,
    /// Of those, how many were acted on later than the first cycle that started after the
    /// e-stop was engaged (0 is the contract).
    pub estops_seen_late: u64,
    /// Longest time from an e-stop's engagement to the start of the cycle that acted on it
    /// (ns): at most one period while no cycle overruns.
    pub estop_max_reaction_ns: u64,
}
