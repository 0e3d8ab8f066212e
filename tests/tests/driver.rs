//! The one run driver: recording, fallback fitting and closed-loop evaluation run the same loop
//! with the same fault schedule as `reflex run`.

use reflex_runtime::driver::report::RunReport;
use reflex_runtime::{config, fallback_tools, record};
use reflex_tests::{load_text, repo_root, run_for};

fn expert() -> config::LoadedConfig {
    config::load(&repo_root().join("scripts/configs/a1_expert.yaml")).expect("expert config")
}

fn without_faults(cfg: &config::LoadedConfig) -> config::LoadedConfig {
    let mut c = cfg.clone();
    c.config.faults.clear();
    c
}

/// Largest |value| of column range `cols` over rows whose time lies in `[from_s, to_s)`.
fn peak(
    data: &[f32],
    width: usize,
    cols: std::ops::Range<usize>,
    rows: std::ops::Range<usize>,
) -> f32 {
    data.chunks_exact(width)
        .skip(rows.start)
        .take(rows.end - rows.start)
        .flat_map(|r| r[cols.clone()].iter().map(|v| v.abs()))
        .fold(0.0, f32::max)
}

#[test]
fn record_applies_the_config_s_pushes() {
    // a1_expert.yaml pushes the base with 60 N at 3.0 s for 0.2 s (and later); record 4 s.
    let cfg = expert();
    let manifest = repo_root().join("policies/models/a1_stand_bc/policy.yaml");
    let (pushed, _) = record::record(&cfg, &manifest, 4.0, 1, 0.0).expect("record");
    let (calm, _) = record::record(&without_faults(&cfg), &manifest, 4.0, 1, 0.0).expect("record");
    assert_eq!(pushed.rows(), calm.rows());
    // One row per policy tick (50 Hz): rows 150..170 are 3.0–3.4 s. The observation's newest
    // frame is its last 45 values (oldest_first); base angular velocity is values 3..6 of a frame.
    let w = pushed.obs_dim;
    let newest_ang_vel = (w - 45 + 3)..(w - 45 + 6);
    let with = peak(&pushed.obs, w, newest_ang_vel.clone(), 150..170);
    let without = peak(&calm.obs, w, newest_ang_vel, 150..170);
    assert!(
        with > 4.0 * without.max(0.01),
        "the push does not show in the recorded base angular velocity: {with} vs {without} without it"
    );
}

#[test]
fn fallback_fit_records_the_pushes_too() {
    let cfg = expert();
    let spec = reflex_tests::spec_of("a1");
    let reference = fallback_tools::reference_pose(&cfg, &spec);
    let (pushed, _) = record::record_torques(&cfg, &reference, 0.0, 4.0, 1, 0.0).expect("record");
    let (calm, _) = record::record_torques(&without_faults(&cfg), &reference, 0.0, 4.0, 1, 0.0)
        .expect("record");
    // One row per control cycle (500 Hz): rows 1500..1750 are the push and its aftermath;
    // q − q_ref is columns 0..12 (joint position noise: 0.005 rad).
    let with = peak(&pushed.obs, 24, 0..12, 1500..1750);
    let without = peak(&calm.obs, 24, 0..12, 1500..1750);
    assert!(
        with > 2.0 * without.max(0.02),
        "the push does not show in the recorded joint deflection: {with} vs {without}"
    );
}

fn transitions(r: &RunReport) -> Vec<(u64, String, String)> {
    r.supervisor
        .transitions
        .iter()
        .map(|t| {
            let t = &t.transition;
            (t.cycle, format!("{:?}", t.to), t.cause.name().to_string())
        })
        .collect()
}

#[test]
fn the_same_fault_plan_gives_the_same_transitions_in_run_record_and_evaluation() {
    let text = format!(
        "{}faults:
  - {{kind: estop, at_s: 2.5}}
  - {{kind: reset, at_s: 2.7}}
  - {{kind: sensor_dropout, at_s: 3.0, duration_s: 0.05}}
  - {{kind: reset, at_s: 3.3}}
  - {{kind: push, at_s: 3.6, duration_s: 0.2, force_n: [0, 80, 0]}}
",
        std::fs::read_to_string(repo_root().join("scripts/configs/a1_expert.yaml"))
            .unwrap()
            .split("faults:")
            .next()
            .unwrap()
    );
    let cfg = load_text("same_plan", &text);
    let run = run_for(&cfg, 4.5);
    let expected = transitions(&run);
    assert!(
        expected.len() >= 4,
        "the plan should change modes: {expected:?}"
    );
    let manifest = repo_root().join("policies/models/a1_stand_bc/policy.yaml");
    let (_, recorded) = record::record(&cfg, &manifest, 4.5, 1, 0.0).expect("record");
    assert_eq!(transitions(&recorded[0]), expected, "record");
    let (_, torques) =
        record::record_torques(&cfg, &[0.0; 12], 0.0, 4.5, 1, 0.0).expect("record torques");
    assert_eq!(
        transitions(&torques[0]),
        expected,
        "fallback-fit's recorder"
    );

    // Evaluation runs its own config (a drill, relaxed thresholds): the driver gives the same
    // transitions for it as `run` does.
    let fallback = reflex_policies::fallback::CertifiedFallback::load(
        &repo_root().join("policies/models/a1_fallback/fallback.yaml"),
        &reflex_tests::spec_of("a1"),
    )
    .unwrap();
    let extra: Vec<_> = cfg.config.faults.clone();
    let (_, evaluated) = fallback_tools::evaluate(&cfg, fallback, 0.0, 3.3, &extra).expect("eval");
    let eval_cfg = fallback_tools::evaluation_config(&cfg, 0.0, &extra);
    let mut eval_cfg = eval_cfg;
    eval_cfg.config.safety.fallback =
        Some(repo_root().join("policies/models/a1_fallback/fallback.yaml"));
    let direct = run_for(&eval_cfg, evaluated.duration_s);
    assert_eq!(transitions(&evaluated), transitions(&direct), "evaluation");
    assert_eq!(transitions(&evaluated)[0].2, "drill");
}
