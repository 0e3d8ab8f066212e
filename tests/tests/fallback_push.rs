//! The certified fallback is as robust as the controller it replaces: it holds the robot through
//! every 0.2 s push on the base that the stand controller of the same config holds it through
//! (same seed, simulator), laterally both ways and forward.

use reflex_hardware::Robot;
use reflex_policies::fallback::CertifiedFallback;
use reflex_runtime::assemble;
use reflex_runtime::config::{self, LoadedConfig};
use reflex_runtime::fallback_tools::{push_survival, Holder};
use reflex_tests::shipped_config;

fn fallback(cfg: &LoadedConfig) -> Holder {
    let sim = assemble::build_sim(cfg).unwrap();
    let manifest = cfg.resolve(cfg.config.safety.fallback.as_ref().unwrap());
    Holder::Fallback(Box::new(
        CertifiedFallback::load(&manifest, sim.spec()).unwrap(),
    ))
}

/// For each push: the stand controller and the fallback, each on its own.
fn compare(config: &str, pushes: &[[f64; 3]]) {
    let cfg = config::load(&shipped_config(config)).unwrap();
    for &force in pushes {
        let stand = push_survival(&cfg, Holder::StartUp, force, 0.2).unwrap();
        let fb = push_survival(&cfg, fallback(&cfg), force, 0.2).unwrap();
        assert!(
            stand.survived,
            "{config}: the stand controller falls under {force:?} N: {stand:?}"
        );
        assert!(
            fb.survived,
            "{config}: the certified fallback falls under {force:?} N, which the stand controller holds: {fb:?} vs {stand:?}"
        );
    }
}

#[test]
fn a1_fallback_holds_the_pushes_its_stand_controller_holds() {
    compare(
        "a1_policy.yaml",
        &[
            [0.0, 80.0, 0.0],
            [0.0, -80.0, 0.0],
            [80.0, 0.0, 0.0],
            [-60.0, 40.0, 0.0],
        ],
    );
}

#[test]
fn go2_fallback_holds_the_pushes_its_stand_controller_holds() {
    compare(
        "go2_policy.yaml",
        &[[0.0, 110.0, 0.0], [0.0, -110.0, 0.0], [100.0, 0.0, 0.0]],
    );
}

#[test]
fn a_push_beyond_both_is_reported_as_a_fall() {
    // The probe can fail: 200 N knocks the A1 over under either controller.
    let cfg = config::load(&shipped_config("a1_policy.yaml")).unwrap();
    let stand = push_survival(&cfg, Holder::StartUp, [0.0, 200.0, 0.0], 0.2).unwrap();
    let fb = push_survival(&cfg, fallback(&cfg), [0.0, 200.0, 0.0], 0.2).unwrap();
    assert!(!stand.survived && !fb.survived, "{stand:?} {fb:?}");
}
