//! Running a scenario's episodes (their parameters: [`super::params`]): in parallel (one
//! simulator per worker), sharded, stopped early once the robot has fallen, each episode's result
//! one JSON line; the summary computed from the lines alone, so merged shards give the unsharded
//! run's summary exactly.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::params::{episode_config, params, EpisodeParams};
use super::{Scenario, Variant};
use crate::driver::{self, CycleView, Observer, RunOptions};
use crate::supervisor::Mode;

/// One episode's result: one line of `results.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpisodeResult {
    /// Scenario name.
    pub scenario: String,
    /// Variant.
    pub variant: Variant,
    /// Episode index.
    pub episode: u64,
    /// What it ran with.
    pub params: EpisodeParams,
    /// Passed every criterion.
    pub passed: bool,
    /// The criteria it failed, in words.
    pub failures: Vec<String>,
    /// Fell (base below 0.15 m or tilted beyond 1.0 rad after the stand-up).
    pub fell: bool,
    /// Stopped early (s of robot time), once the outcome was decided.
    pub stopped_at_s: Option<f64>,
    /// Lowest base height after the stand-up (m).
    pub min_height_m: f64,
    /// Largest tilt after the stand-up (rad).
    pub max_tilt_rad: f64,
    /// Mean |forward speed − command| over the measured window (m/s; locomotion).
    pub speed_error_m_s: Option<f64>,
    /// Mode at the end.
    pub final_mode: Mode,
    /// Transitions: (s, to, cause).
    pub transitions: Vec<(f64, Mode, String)>,
    /// Commands outside the limits (clamped) — a policy asking for the impossible.
    pub clamped_commands: u64,
    /// 10 Hz trace, one row per [`TRACE_COLUMNS`].
    pub trace: Vec<[f64; TRACE_COLUMNS.len()]>,
    /// The robot model (catalogue name).
    pub robot: String,
    /// 10 Hz poses, with the trace's rows: base position (m) and orientation `[x, y, z, w]`,
    /// then the measured joint positions (rad, hardware order) — what the 3-D replay draws.
    pub poses: Vec<Vec<f32>>,
}

/// The trace's columns: t (s), base height (m), roll, pitch (rad), forward speed and the
/// commanded one (m/s), mode (0 POLICY, 1 FALLBACK, 2 SAFE_STOP), and over the 0.1 s before the
/// row the largest joint tracking error |q* − q| (rad) and the largest |τ| / effort limit.
pub const TRACE_COLUMNS: [&str; 9] = [
    "t_s",
    "height_m",
    "roll_rad",
    "pitch_rad",
    "speed_m_s",
    "command_m_s",
    "mode",
    "tracking_error_rad",
    "torque_fraction",
];

/// An episode's timing on the machine that ran it: not part of the episode's result (which is
/// the same on every machine) but of the run, in `timing.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpisodeTiming {
    /// Scenario name.
    pub scenario: String,
    /// Variant.
    pub variant: Variant,
    /// Episode index.
    pub episode: u64,
    /// The control cycle's compute time, physics excluded (µs).
    pub compute_us: crate::stats::LatencySummaryUs,
    /// The simulator's step per cycle (µs).
    pub physics_us: crate::stats::LatencySummaryUs,
    /// Wall time of the episode (s).
    pub wall_time_s: f64,
}

/// Watches an episode: fall detection (and the early stop), the trace, the speed error.
struct Watch<'a> {
    ready_s: f64,
    measure_from_s: f64,
    min_h: f64,
    max_tilt: f64,
    fell_at: Option<f64>,
    stop: &'a AtomicBool,
    err_sum: f64,
    err_n: u64,
    trace: Vec<[f64; TRACE_COLUMNS.len()]>,
    /// Pose rows, flat (7 + joints each), preallocated: the observer runs on the RT thread.
    poses: Vec<f32>,
    every: u64,
    window_track_rad: f64,
    window_torque: f64,
}

impl Observer for Watch<'_> {
    fn on_cycle(&mut self, v: &CycleView) {
        let Some(gt) = v.ground_truth else { return };
        let h = gt.base_position_m[2];
        let (r, p) = reflex_hardware::roll_pitch_rad(gt.base_orientation_xyzw);
        let (fwd, _, _) = crate::driver::outcome::planar_velocity(&gt);
        let cmd = v.policy_command.map_or(0.0, |c| c[0]);
        let mode = match v.mode {
            Mode::Policy => 0.0,
            Mode::Fallback => 1.0,
            Mode::SafeStop => 2.0,
        };
        let n = v.limits.len().min(v.state.joints.position_rad.len());
        for j in 0..n {
            let e = (v.command.position_rad[j] - v.state.joints.position_rad[j]).abs();
            let limit = v.limits[j].effort_nm;
            let tau =
                v.state.joints.effort_nm[j].abs() / if limit > 0.0 { limit } else { f64::INFINITY };
            self.window_track_rad = self.window_track_rad.max(e);
            self.window_torque = self.window_torque.max(tau);
        }
        // Rows into buffers sized before the run (the observer runs on the RT thread).
        if v.cycle.is_multiple_of(self.every) && self.trace.len() < self.trace.capacity() {
            self.trace.push([
                v.time_s,
                h,
                r,
                p,
                fwd,
                cmd,
                mode,
                self.window_track_rad,
                self.window_torque,
            ]);
            self.window_track_rad = 0.0;
            self.window_torque = 0.0;
            let width = 7 + v.state.joints.position_rad.len();
            if self.poses.len() + width <= self.poses.capacity() {
                self.poses
                    .extend(gt.base_position_m.iter().map(|x| *x as f32));
                self.poses
                    .extend(gt.base_orientation_xyzw.iter().map(|x| *x as f32));
                self.poses
                    .extend(v.state.joints.position_rad.iter().map(|x| *x as f32));
            }
        }
        if v.time_s < self.ready_s {
            return;
        }
        self.min_h = self.min_h.min(h);
        self.max_tilt = self.max_tilt.max(r.abs().max(p.abs()));
        if v.time_s >= self.measure_from_s && v.policy_command.is_some() {
            self.err_sum += (fwd - cmd).abs();
            self.err_n += 1;
        }
        if self.fell_at.is_none() && (h < 0.15 || r.abs().max(p.abs()) > 1.0) {
            self.fell_at = Some(v.time_s);
        }
        // The outcome is decided half a second after a fall: stop there.
        if self.fell_at.is_some_and(|t| v.time_s > t + 0.5) {
            self.stop.store(true, Ordering::Relaxed);
        }
    }
}

/// Runs one episode.
pub fn episode(
    s: &Scenario,
    variant: Variant,
    k: u64,
) -> Result<(EpisodeResult, EpisodeTiming), String> {
    let p = params(s, k);
    let cfg = episode_config(s, k, &p, variant);
    let ready_s = cfg.config.controller.duration_s.unwrap_or(0.0) + 0.5;
    let stop = AtomicBool::new(false);
    let hz = cfg.config.rates.control_hz;
    let mut w = Watch {
        ready_s,
        measure_from_s: ready_s + 2.0,
        min_h: f64::INFINITY,
        max_tilt: 0.0,
        fell_at: None,
        stop: &stop,
        err_sum: 0.0,
        err_n: 0,
        trace: Vec::with_capacity((s.spec.duration_s * 10.0) as usize + 2),
        poses: Vec::with_capacity(
            ((s.spec.duration_s * 10.0) as usize + 2) * (7 + cfg.robot().joints.len()),
        ),
        every: ((hz / 10.0).round() as u64).max(1),
        window_track_rad: 0.0,
        window_torque: 0.0,
    };
    let rep = driver::run(
        &cfg,
        RunOptions {
            duration_s: Some(s.spec.duration_s),
            stop: Some(&stop),
            observers: vec![&mut w],
            quiet: true,
            ..Default::default()
        },
    )
    .map_err(|e| format!("episode {k}: {e}"))?;
    let transitions: Vec<(f64, Mode, String)> = rep
        .supervisor
        .transitions
        .iter()
        .map(|t| {
            (
                t.time_s,
                t.transition.to,
                t.transition.cause.name().to_string(),
            )
        })
        .collect();
    let fell = w.fell_at.is_some();
    let speed_error_m_s = (w.err_n > 0).then(|| w.err_sum / w.err_n as f64);
    let crit = &s.spec.pass;
    let mut failures = Vec::new();
    if crit.no_fall && fell {
        failures.push(format!("fell at {:.2} s", w.fell_at.unwrap_or(0.0)));
    }
    if let Some(t) = crit.max_tilt_rad {
        if w.max_tilt > t {
            failures.push(format!("tilted {:.3} rad > {t}", w.max_tilt));
        }
    }
    if let (Some(e), Some(max)) = (speed_error_m_s, crit.max_speed_error_m_s) {
        if e > max && !fell {
            failures.push(format!("speed error {e:.3} m/s > {max}"));
        }
    }
    for want in &crit.expect_modes {
        let mode = transitions
            .iter()
            .rev()
            .find(|(t, _, _)| *t <= want.at_s + 1e-9)
            .map_or(Mode::Policy, |(_, m, _)| *m);
        if mode != want.mode {
            failures.push(format!(
                "mode at {} s was {}, expected {}",
                want.at_s,
                mode.name(),
                want.mode.name()
            ));
        }
    }
    let final_mode = rep.final_mode;
    if let Some(max) = crit.max_clamped_commands {
        if rep.clamped_commands > max {
            failures.push(format!(
                "clamped {} commands outside the joint limits > {max}",
                rep.clamped_commands
            ));
        }
    }
    if let Some(modes) = &crit.final_modes {
        if !modes.contains(&final_mode) {
            failures.push(format!("ended in {}", final_mode.name()));
        }
    }
    // Faults the supervisor must act on (the others the policy may ride out).
    const MUST_HAND_OVER: [&str; 5] = [
        "non_finite_action",
        "policy_freeze",
        "sensor_dropout",
        "fallback_drill",
        "estop",
    ];
    if let (Some(within_s), Some((kind, at_s)), Variant::WithSafety) =
        (crit.handover_within_s, &p.fault, variant)
    {
        if MUST_HAND_OVER.contains(&kind.as_str()) {
            match transitions.first() {
                Some((t, _, _)) if *t >= *at_s - 1e-9 && *t <= at_s + within_s + 1e-9 => {}
                Some((t, _, cause)) => failures.push(format!(
                    "handover at {t:.3} s ({cause}), the fault at {at_s} s (allowed {within_s} s)"
                )),
                None => failures.push(format!("no handover after the fault at {at_s} s")),
            }
        }
    }
    let timing = EpisodeTiming {
        scenario: s.spec.name.clone(),
        variant,
        episode: k,
        compute_us: rep.compute_us,
        physics_us: rep.physics_us,
        wall_time_s: rep.wall_time_s,
    };
    let result = EpisodeResult {
        scenario: s.spec.name.clone(),
        variant,
        episode: k,
        passed: failures.is_empty(),
        failures,
        fell,
        stopped_at_s: stop.load(Ordering::Relaxed).then_some(rep.duration_s),
        min_height_m: w.min_h,
        max_tilt_rad: w.max_tilt,
        speed_error_m_s,
        final_mode,
        transitions,
        clamped_commands: rep.clamped_commands,
        trace: w.trace,
        robot: cfg.robot().name.to_string(),
        poses: w
            .poses
            .chunks_exact(7 + cfg.robot().joints.len())
            .map(<[f32]>::to_vec)
            .collect(),
        params: p,
    };
    Ok((result, timing))
}

/// Pass rate and failure reasons of one variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariantSummary {
    /// Episodes.
    pub episodes: u64,
    /// Passed.
    pub passed: u64,
    /// Passed / episodes.
    pub pass_rate: f64,
    /// Fell.
    pub fell: u64,
    /// Episodes failing each criterion (by the criterion's first word).
    pub failures: BTreeMap<String, u64>,
    /// Survival against push magnitude: (bin upper edge N, episodes, survived).
    pub survival: Vec<(f64, u64, u64)>,
    /// Push magnitude at 50 % survival (N), interpolated between bins.
    pub push_at_half_survival_n: Option<f64>,
}

/// The summary of a run: per scenario and variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Scenario → variant → summary.
    pub scenarios: BTreeMap<String, BTreeMap<Variant, VariantSummary>>,
}

/// The summary of `results` (any order): what merged shards and an unsharded run agree on.
pub fn summarize(results: &[EpisodeResult], bins_n: f64) -> Summary {
    let mut by: BTreeMap<(String, Variant), Vec<&EpisodeResult>> = BTreeMap::new();
    for r in results {
        by.entry((r.scenario.clone(), r.variant))
            .or_default()
            .push(r);
    }
    let mut scenarios: BTreeMap<String, BTreeMap<Variant, VariantSummary>> = BTreeMap::new();
    for ((name, variant), mut rs) in by {
        rs.sort_by_key(|r| r.episode);
        let episodes = rs.len() as u64;
        let passed = rs.iter().filter(|r| r.passed).count() as u64;
        let mut failures = BTreeMap::new();
        for r in &rs {
            for f in &r.failures {
                let key = f.split_whitespace().next().unwrap_or("").to_string();
                *failures.entry(key).or_insert(0) += 1;
            }
        }
        let mut survival: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
        for r in &rs {
            if let Some((_, _, mag)) = r.params.push {
                let bin = ((mag / bins_n).floor() as u64 + 1) * bins_n as u64;
                let e = survival.entry(bin).or_insert((0, 0));
                e.0 += 1;
                e.1 += u64::from(!r.fell);
            }
        }
        let survival: Vec<(f64, u64, u64)> = survival
            .into_iter()
            .map(|(b, (n, s))| (b as f64, n, s))
            .collect();
        let half = survival.windows(2).find_map(|w| {
            let (r0, r1) = (
                w[0].2 as f64 / w[0].1.max(1) as f64,
                w[1].2 as f64 / w[1].1.max(1) as f64,
            );
            (r0 >= 0.5 && r1 < 0.5).then(|| {
                let (x0, x1) = (w[0].0 - bins_n / 2.0, w[1].0 - bins_n / 2.0);
                x0 + (r0 - 0.5) / (r0 - r1) * (x1 - x0)
            })
        });
        scenarios.entry(name).or_default().insert(
            variant,
            VariantSummary {
                episodes,
                passed,
                pass_rate: passed as f64 / episodes.max(1) as f64,
                fell: rs.iter().filter(|r| r.fell).count() as u64,
                failures,
                survival,
                push_at_half_survival_n: half,
            },
        );
    }
    Summary { scenarios }
}

/// Which episodes a shard runs: `(index, count)`, episode k when `k % count == index`.
pub type Shard = (u64, u64);

/// What a run gives: the episodes' results and their timing, both sorted by (variant, episode).
pub struct RunOutput {
    /// The results (`results.jsonl`).
    pub results: Vec<EpisodeResult>,
    /// The timing (`timing.jsonl`).
    pub timing: Vec<EpisodeTiming>,
}

/// Runs `episodes` episodes of every variant of `s` that belong to `shard`, on `jobs` workers.
pub fn run(s: &Scenario, episodes: u64, jobs: usize, shard: Shard) -> Result<RunOutput, String> {
    let work: Vec<(Variant, u64)> = s
        .spec
        .variants
        .iter()
        .flat_map(|v| (0..episodes).map(move |k| (*v, k)))
        .filter(|(_, k)| k % shard.1 == shard.0)
        .collect();
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let out = Mutex::new(Vec::with_capacity(work.len()));
    let first_error = Mutex::new(None);
    let show = std::io::stderr().is_terminal();
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(v, k)) = work.get(i) else { break };
                match episode(s, v, k) {
                    Ok(r) => out.lock().map(|mut o| o.push(r)).unwrap_or(()),
                    Err(e) => {
                        if let Ok(mut f) = first_error.lock() {
                            f.get_or_insert(e);
                        }
                    }
                }
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                if show {
                    eprint!("\r[reflex] {}: {n}/{} episodes", s.spec.name, work.len());
                    let _ = std::io::stderr().flush();
                }
            });
        }
    });
    if show {
        eprintln!();
    }
    if let Some(e) = first_error.into_inner().ok().flatten() {
        return Err(e);
    }
    let mut pairs = out
        .into_inner()
        .map_err(|_| "a worker panicked".to_string())?;
    pairs.sort_by_key(|(r, _)| (r.variant, r.episode));
    let (results, timing) = pairs.into_iter().unzip();
    Ok(RunOutput { results, timing })
}

/// Writes records as JSON lines.
pub fn write_jsonl<T: Serialize>(path: &Path, records: &[T]) -> std::io::Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    for r in records {
        serde_json::to_writer(&mut f, r)?;
        f.write_all(b"\n")?;
    }
    f.flush()
}

/// Reads JSON lines written by [`write_jsonl`] (a regular file of at most 1 GiB).
pub fn read_jsonl<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>, String> {
    let bytes = reflex_validate::read_bytes(path, reflex_validate::FileKind::Model)
        .map_err(|e| e.to_string())?;
    let text =
        String::from_utf8(bytes).map_err(|e| format!("{}: not UTF-8: {e}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| format!("{}: line {}: {e}", path.display(), i + 1))
        })
        .collect()
}

/// Joins shards' folders: results in (scenario, variant, episode) order, an episode found in
/// two shards an error (overlapping `--shard` arguments); timing joined where a shard has it.
pub fn merge(dirs: &[std::path::PathBuf]) -> Result<RunOutput, String> {
    if dirs.is_empty() {
        return Err("merge: no shard folders given".into());
    }
    let mut results: Vec<EpisodeResult> = Vec::new();
    let mut timing: Vec<EpisodeTiming> = Vec::new();
    for d in dirs {
        results.extend(read_jsonl::<EpisodeResult>(&d.join("results.jsonl"))?);
        let t = d.join("timing.jsonl");
        if t.exists() {
            timing.extend(read_jsonl::<EpisodeTiming>(&t)?);
        }
    }
    let key = |r: &EpisodeResult| (r.scenario.clone(), r.variant, r.episode);
    results.sort_by_key(key);
    timing.sort_by_key(|t| (t.scenario.clone(), t.variant, t.episode));
    for w in results.windows(2) {
        if key(&w[0]) == key(&w[1]) {
            return Err(format!(
                "merge: {} {} episode {} appears in two shards",
                w[0].scenario,
                w[0].variant.name(),
                w[0].episode
            ));
        }
    }
    Ok(RunOutput { results, timing })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn go2_walk() -> Scenario {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/ci/go2_walk.yaml");
        crate::scenario::load(&p).expect("the CI scenario loads")
    }

    fn result(variant: Variant, episode: u64, push_n: f64, fell: bool) -> EpisodeResult {
        let s = go2_walk();
        let mut params = params(&s, episode);
        params.push = Some((4.0, [push_n, 0.0, 0.0], push_n));
        EpisodeResult {
            scenario: "t".into(),
            variant,
            episode,
            params,
            passed: !fell,
            failures: if fell {
                vec!["fell at 4.5 s".into()]
            } else {
                vec![]
            },
            fell,
            stopped_at_s: None,
            min_height_m: 0.2,
            max_tilt_rad: 0.1,
            speed_error_m_s: None,
            final_mode: Mode::Policy,
            transitions: vec![],
            clamped_commands: 0,
            trace: vec![],
            robot: "go2".into(),
            poses: vec![],
        }
    }

    #[test]
    fn survival_is_binned_by_push_and_crosses_half_where_the_falls_begin() {
        // 0–20 N: all survive; 20–40 N: 3 of 4; 40–60 N: 1 of 4.
        let rs: Vec<EpisodeResult> = [
            (5.0, false),
            (15.0, false),
            (25.0, false),
            (30.0, false),
            (35.0, false),
            (39.0, true),
            (41.0, true),
            (45.0, true),
            (50.0, true),
            (55.0, false),
        ]
        .into_iter()
        .enumerate()
        .map(|(k, (f, fell))| result(Variant::WithSafety, k as u64, f, fell))
        .collect();
        let s = summarize(&rs, 20.0);
        let v = &s.scenarios["t"][&Variant::WithSafety];
        assert_eq!(v.survival, vec![(20.0, 2, 2), (40.0, 4, 3), (60.0, 4, 1)]);
        assert_eq!((v.episodes, v.passed, v.fell), (10, 6, 4));
        assert_eq!(v.failures["fell"], 4);
        // 0.75 at the 30 N bin centre, 0.25 at 50 N: half at 40 N.
        assert!((v.push_at_half_survival_n.unwrap() - 40.0).abs() < 1e-9);
    }

    #[test]
    fn merge_refuses_an_episode_found_in_two_shards() {
        let d = std::env::temp_dir().join(format!("reflex-merge-{}", std::process::id()));
        let (a, b) = (d.join("a"), d.join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        let r0 = result(Variant::WithSafety, 0, 10.0, false);
        let r1 = result(Variant::WithSafety, 1, 10.0, false);
        write_jsonl(&a.join("results.jsonl"), &[r1.clone(), r0.clone()]).unwrap();
        write_jsonl(&b.join("results.jsonl"), std::slice::from_ref(&r1)).unwrap();
        let e = merge(&[a.clone(), b.clone()]).err().unwrap();
        assert!(
            e.contains("t with_safety episode 1 appears in two shards"),
            "{e}"
        );
        write_jsonl(&b.join("results.jsonl"), &[] as &[EpisodeResult]).unwrap();
        let m = merge(&[a, b]).unwrap();
        assert_eq!(m.results, vec![r0, r1]);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
