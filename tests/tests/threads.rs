//! Every thread placed on purpose: the run report names each thread's scheduler, priority and
//! CPUs as the OS applied them, and a policy thread put on the RT thread's core is warned about.

use reflex_runtime::config;
use reflex_tests::{edit, load_text, shipped_text_abs};

fn realtime_go2(extra: &str) -> String {
    let text = edit(
        &shipped_text_abs("go2_policy.yaml"),
        "clock: lockstep",
        "clock: realtime",
    );
    format!("{text}{extra}")
}

#[test]
fn the_report_names_every_thread_as_the_os_runs_it() {
    let cfg = load_text(
        "threads_placed",
        &realtime_go2("threads:\n  policy: {priority: 60, cpus: [0]}\n"),
    );
    let rep = reflex_tests::run_for(&cfg, 2.2);
    let t = &rep.threads;
    assert!(t.placed);
    let find = |name: &str| {
        t.threads
            .iter()
            .find(|x| x.name == name)
            .unwrap_or_else(|| panic!("no {name} in {:?}", t.threads))
    };
    let policy = find("reflex-policy");
    assert_eq!(policy.class, Some("policy"));
    let rt = find("reflex-rt");
    assert_eq!(rt.class, Some("rt"));
    if t.refused.is_empty() && rep.realtime.refused.is_empty() {
        // As configured, read back from the OS.
        assert_eq!((policy.scheduler, policy.priority), ("fifo", 60));
        assert_eq!(policy.cpus, vec![0]);
        assert_eq!((rt.scheduler, rt.priority), ("fifo", 80));
        assert_eq!(rt.cpus, vec![1]);
    } else {
        // Without the privileges, each refusal is said, and the report shows the OS's defaults.
        assert!(
            t.refused.iter().any(|r| r.contains("reflex-policy")),
            "{t:?}"
        );
        assert_eq!(policy.scheduler, "normal");
    }
    assert!(policy.cpu_time_s > 0.0, "the policy thread's CPU time");
    // Lockstep runs leave threads alone, and say so.
    let lock = load_text("threads_lockstep", &shipped_text_abs("go2_policy.yaml"));
    assert!(!reflex_tests::run_for(&lock, 0.5).threads.placed);
}

#[test]
fn a_policy_thread_on_the_rt_core_is_warned_about() {
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    let text = realtime_go2("threads:\n  policy: {cpus: [1]}\n");
    let path = reflex_tests::write_temp("threads_rt_core", &text);
    match config::load(&path) {
        Ok(cfg) if n >= 2 => assert!(
            cfg.warnings
                .iter()
                .any(|w| w.field == "threads.policy.cpus" && w.expected.contains("RT thread")),
            "{:?}",
            cfg.warnings
        ),
        Err(e) if n < 2 => assert!(e.to_string().contains("threads.policy.cpus")),
        other => panic!("{n} CPUs: {other:?}"),
    }
    let bad = realtime_go2("threads:\n  policy: {priority: 60, nice: 5}\n  dds: {spin_us: 10}\n");
    let err = config::load(&reflex_tests::write_temp("threads_bad", &bad))
        .expect_err("refused")
        .to_string();
    assert!(
        err.contains("threads.policy.nice") && err.contains("threads.dds.spin_us"),
        "{err}"
    );
}
