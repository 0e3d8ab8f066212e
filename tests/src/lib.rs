//! Helpers shared by the scenario tests: the shipped configs and variants of them.

use std::path::PathBuf;

use reflex_runtime::config::{self, LoadedConfig};

/// Path of a shipped config under `launch/config/`.
pub fn shipped_config(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../launch/config")
        .join(name)
}

/// Text of a shipped config.
pub fn shipped_text(name: &str) -> String {
    std::fs::read_to_string(shipped_config(name)).expect("shipped config is readable")
}

/// Replaces `from` with `to` in `text`, failing loudly if `from` is absent (so a config change
/// cannot silently turn a test into a no-op).
pub fn edit(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "config text has no `{from}`");
    text.replacen(from, to, 1)
}

/// Writes `text` to a fresh file `TAG.yaml` in its own temp folder (tests run in parallel and
/// may use the same tag) and returns its path.
pub fn write_temp(tag: &str, text: &str) -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("reflex-tests-{}/{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(format!("{tag}.yaml"));
    std::fs::write(&path, text).expect("write temp config");
    path
}

/// Loads config text as if from a file called `tag`.yaml.
pub fn load_text(tag: &str, text: &str) -> LoadedConfig {
    let path = write_temp(tag, text);
    config::load(&path).unwrap_or_else(|e| panic!("config {tag} refused: {e}"))
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("repo root")
}

/// A shipped config's text with its `../../` paths made absolute, so the text still works when
/// written somewhere else.
pub fn shipped_text_abs(name: &str) -> String {
    shipped_text(name).replace("../../", &format!("{}/", repo_root().display()))
}

/// Runs `.venv/bin/python` (installed by `./dev setup`) with `args` from the repo root.
pub fn venv_python(args: &[&str]) -> std::process::Output {
    let py = repo_root().join(".venv/bin/python");
    assert!(
        py.exists(),
        "{} is missing: run `./dev setup` (the README's `./dev test` does it)",
        py.display()
    );
    let out = std::process::Command::new(py)
        .args(args)
        .current_dir(repo_root())
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "python {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `cfg` for `duration_s` of robot time through the driver.
pub fn run_for(cfg: &LoadedConfig, duration_s: f64) -> reflex_runtime::driver::report::RunReport {
    run_observed(
        cfg,
        duration_s,
        &mut |_: &reflex_runtime::driver::CycleView| {},
    )
}

/// Runs `cfg` for `duration_s` with `observer` watching every cycle.
pub fn run_observed(
    cfg: &LoadedConfig,
    duration_s: f64,
    observer: &mut dyn reflex_runtime::driver::Observer,
) -> reflex_runtime::driver::report::RunReport {
    reflex_runtime::driver::run(
        cfg,
        reflex_runtime::driver::RunOptions {
            duration_s: Some(duration_s),
            observers: vec![observer],
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("run of {} failed: {e}", cfg.file.display()))
}

/// The robot spec of a catalogue model.
pub fn spec_of(model: &str) -> reflex_hardware::RobotSpec {
    reflex_hardware::catalogue::model(model)
        .expect("model in the catalogue")
        .spec()
        .expect("catalogue spec")
}

/// Watches every cycle of a run for what every fault test demands: commands inside the limits
/// and continuous, the robot up (after `from_cycle`), each transition in its own cycle.
pub struct SafetyWatch {
    spec: reflex_hardware::RobotSpec,
    from_cycle: u64,
    min_allowed_m: f64,
    /// Cycles seen.
    pub cycles: u64,
    /// Lowest base height after `from_cycle` (m).
    pub min_height_m: f64,
    /// Largest |roll| or |pitch| after `from_cycle` (rad).
    pub max_tilt_rad: f64,
    /// The first commands outside the limits.
    pub bad_commands: Vec<String>,
    /// The mode of every cycle.
    pub modes: Vec<reflex_runtime::supervisor::Mode>,
    /// Largest change of a position target between two cycles (rad).
    pub max_step_rad: f64,
    prev_q: Option<Vec<f64>>,
}

impl SafetyWatch {
    /// A watch for `spec`'s robot that must stay above `min_height_m` from `from_cycle` on.
    pub fn new(spec: reflex_hardware::RobotSpec, from_cycle: u64, min_height_m: f64) -> Self {
        Self {
            spec,
            from_cycle,
            min_allowed_m: min_height_m,
            cycles: 0,
            min_height_m: f64::INFINITY,
            max_tilt_rad: 0.0,
            bad_commands: Vec::new(),
            modes: Vec::new(),
            max_step_rad: 0.0,
            prev_q: None,
        }
    }

    /// Commands within limits and continuous; every transition commanded by its new mode in
    /// its own cycle.
    pub fn assert_commands(&self, what: &str, rep: &reflex_runtime::driver::report::RunReport) {
        assert_eq!(self.cycles, rep.cycles);
        assert!(
            self.bad_commands.is_empty(),
            "{what}: commands outside the limits: {:?}",
            self.bad_commands
        );
        assert!(
            self.max_step_rad <= 0.05 + 1e-9,
            "{what}: a position target jumped {} rad in one cycle",
            self.max_step_rad
        );
        for t in &rep.supervisor.transitions {
            let tr = &t.transition;
            assert_eq!(
                self.modes[tr.cycle as usize], tr.to,
                "{what}: cycle {} was not commanded by {:?}",
                tr.cycle, tr.to
            );
            if tr.cycle > 0 {
                assert_eq!(
                    self.modes[tr.cycle as usize - 1],
                    tr.from,
                    "{what}: mode before the transition"
                );
            }
        }
    }

    /// [`Self::assert_commands`], and the robot did not fall.
    pub fn assert_safe(&self, what: &str, rep: &reflex_runtime::driver::report::RunReport) {
        self.assert_commands(what, rep);
        assert!(
            self.min_height_m > self.min_allowed_m,
            "{what}: base fell to {} m",
            self.min_height_m
        );
        assert!(
            self.max_tilt_rad < 0.5,
            "{what}: tilted {} rad",
            self.max_tilt_rad
        );
    }
}

impl reflex_runtime::driver::Observer for SafetyWatch {
    fn on_cycle(&mut self, v: &reflex_runtime::driver::CycleView) {
        self.cycles += 1;
        self.modes.push(v.mode);
        let gt = v.ground_truth.expect("simulator ground truth");
        if v.cycle >= self.from_cycle {
            self.min_height_m = self.min_height_m.min(gt.base_position_m[2]);
            let (r, p) = reflex_hardware::roll_pitch_rad(gt.base_orientation_xyzw);
            self.max_tilt_rad = self.max_tilt_rad.max(r.abs()).max(p.abs());
        }
        if !v.command.is_within(&self.spec) && self.bad_commands.len() < 5 {
            self.bad_commands
                .push(format!("cycle {}: {:?}", v.cycle, v.command));
        }
        if let Some(prev) = &self.prev_q {
            let step = prev
                .iter()
                .zip(&v.command.position_rad)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            self.max_step_rad = self.max_step_rad.max(step);
        }
        self.prev_q = Some(v.command.position_rad.clone());
    }
}
