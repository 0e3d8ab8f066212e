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
