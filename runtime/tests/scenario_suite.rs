//! The scenario suite as CI runs it: the CI scenarios' pass rates (the real binary, real
//! physics, the real HIMLoco policy), sharding and merging across processes, bit-for-bit
//! re-runs of one seed, and the HTML report opened in a real headless browser.

mod common;

use common::repo;
use std::path::{Path, PathBuf};
use std::process::Command;

fn tmp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("reflex-scenario-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn reflex(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_reflex"))
        .current_dir(repo())
        .args(args)
        .output()
        .expect("reflex runs")
}

fn ok(out: &std::process::Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    text
}

fn lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn the_ci_suites_pass_their_thresholds_and_the_report_renders_in_a_browser() {
    let go2 = tmp("ci-go2");
    let a1 = tmp("ci-a1");
    let out = reflex(&[
        "scenario",
        "run",
        "scenarios/ci/go2_walk.yaml",
        "--out",
        go2.to_str().unwrap(),
    ]);
    let text = ok(&out);
    assert!(text.contains("go2_walk with_safety"), "{text}");
    let a1_ops = tmp("ci-a1-operator");
    for (file, dir) in [
        ("scenarios/ci/a1_faults.yaml", &a1),
        ("scenarios/ci/a1_operator.yaml", &a1_ops),
    ] {
        let text = ok(&reflex(&[
            "scenario",
            "run",
            file,
            "--out",
            dir.to_str().unwrap(),
        ]));
        // Exit 0 (checked by `ok`): at or above the file's pass rate. The operator's inputs must
        // never fail.
        assert!(
            !file.contains("operator") || text.contains("16/16 passed (100.0 %)"),
            "{file}: {text}"
        );
    }
    let episodes = [&go2, &a1, &a1_ops]
        .iter()
        .map(|d| lines(&d.join("results.jsonl")).len())
        .sum::<usize>();
    assert!(episodes >= 200, "{episodes} episodes");
    // Every fault kind there is: nine handed out in turn by a1_faults, the operator's e-stop and
    // reset in every a1_operator episode (whose pass criteria check the modes cycle by cycle).
    let kinds: std::collections::BTreeSet<String> = lines(&a1.join("results.jsonl"))
        .into_iter()
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(&l).unwrap();
            v["params"]["fault"][0].as_str().map(String::from)
        })
        .collect();
    assert_eq!(kinds.len(), 9, "fault kinds in the cycle: {kinds:?}");
    for l in lines(&a1_ops.join("results.jsonl")) {
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        let causes: Vec<&str> = v["transitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t[2].as_str().unwrap())
            .collect();
        assert_eq!(causes, ["drill", "reset", "e_stop"], "{l}");
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(go2.join("summary.json")).unwrap()).unwrap();
    let s = &summary["scenarios"]["go2_walk"];
    for v in ["with_safety", "policy_alone"] {
        let rate = s[v]["pass_rate"].as_f64().unwrap();
        assert!(rate >= 0.7, "{v}: pass rate {rate}");
        assert!(
            !s[v]["survival"].as_array().unwrap().is_empty(),
            "{v}: no survival bins"
        );
    }

    // The report, rendered by Chromium: its plots hold the run's data points.
    let html = go2.join("report.html");
    ok(&reflex(&[
        "scenario",
        "report",
        go2.to_str().unwrap(),
        "--out",
        html.to_str().unwrap(),
    ]));
    let chromium = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| {
            Command::new("sh")
                .args(["-c", &format!("command -v {c}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect("chromium is installed by ./dev setup");
    let url = format!("file://{}", html.display());
    let flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
    ];
    let dom = Command::new(chromium)
        .args(flags)
        .args(["--dump-dom", &url])
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout).to_string();
    let shot = go2.join("report.png");
    let png = Command::new(chromium)
        .args(flags)
        .args([
            "--window-size=1200,3000",
            &format!("--screenshot={}", shot.display()),
            &url,
        ])
        .output()
        .unwrap();
    assert!(
        shot.exists() && std::fs::metadata(&shot).unwrap().len() > 10_000,
        "no screenshot: {}",
        String::from_utf8_lossy(&png.stderr)
    );
    // The browser's DOM: the summary rows, a survival polyline per variant, and per-episode
    // height traces with the run's samples.
    assert!(
        dom.contains(r#"data-scenario="go2_walk" data-variant="with_safety""#),
        "{}",
        &dom[..dom.len().min(2000)]
    );
    let counts = |series: &str| -> Vec<usize> {
        dom.match_indices(&format!(r#"data-series="{series}" data-points=""#))
            .map(|(i, m)| {
                dom[i + m.len()..]
                    .split('"')
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0)
            })
            .collect()
    };
    let height = counts("height");
    assert!(
        height.len() >= 3 && height.iter().all(|n| *n >= 20),
        "height traces: {height:?}"
    );
    for v in ["with_safety", "policy_alone"] {
        let c = counts(v);
        assert!(c.len() == 1 && c[0] >= 3, "survival curve {v}: {c:?}");
    }
    for series in ["tracking", "torque", "roll", "speed", "command", "mode"] {
        let c = counts(series);
        assert!(
            c.len() == height.len() && c.iter().all(|n| *n >= 20),
            "{series}: {c:?}"
        );
    }
    // The 3-D replays: drawn by the page's script in the browser, every collision shape of the
    // Go2 (19) in the first frame, with the episode's frames loaded.
    let replays: Vec<(usize, usize)> = dom
        .match_indices(r#"<canvas class="replay""#)
        .map(|(i, _)| {
            let tag = &dom[i..i + dom[i..].find('>').unwrap()];
            let attr = |a: &str| -> usize {
                tag.split(&format!(r#"{a}=""#))
                    .nth(1)
                    .and_then(|t| t.split('"').next())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0)
            };
            (attr("data-frames"), attr("data-drawn"))
        })
        .collect();
    assert!(
        replays.len() >= 2 && replays.iter().all(|&(f, d)| f >= 20 && d == 19),
        "replays (frames, shapes drawn): {replays:?}"
    );
    let compute = counts("compute_p99");
    assert!(
        compute == [120],
        "compute-time histogram over every episode: {compute:?}"
    );
}

#[test]
fn shards_merged_equal_the_unsharded_run_and_a_seed_reruns_bit_for_bit() {
    let whole = tmp("whole");
    ok(&reflex(&[
        "scenario",
        "run",
        "scenarios/ci/go2_walk.yaml",
        "--seeds",
        "8",
        "--jobs",
        "2",
        "--out",
        whole.to_str().unwrap(),
    ]));
    // Four shards, four separate processes, then merged.
    let mut shards = Vec::new();
    let mut children = Vec::new();
    for i in 0..4 {
        let d = tmp(&format!("shard{i}"));
        children.push(
            Command::new(env!("CARGO_BIN_EXE_reflex"))
                .current_dir(repo())
                .args([
                    "scenario",
                    "run",
                    "scenarios/ci/go2_walk.yaml",
                    "--seeds",
                    "8",
                    "--jobs",
                    "1",
                    "--shard",
                    &format!("{i}/4"),
                    "--out",
                    d.to_str().unwrap(),
                ])
                .spawn()
                .unwrap(),
        );
        shards.push(d);
    }
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let merged = tmp("merged");
    let mut args: Vec<String> = vec!["scenario".into(), "merge".into()];
    args.extend(shards.iter().map(|d| d.display().to_string()));
    args.extend(["--out".into(), merged.display().to_string()]);
    ok(&reflex(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    ));
    assert_eq!(
        std::fs::read_to_string(merged.join("summary.json")).unwrap(),
        std::fs::read_to_string(whole.join("summary.json")).unwrap(),
        "merged summary differs from the unsharded one"
    );
    assert_eq!(
        lines(&merged.join("results.jsonl")),
        lines(&whole.join("results.jsonl")),
        "episodes differ between shards and the whole run"
    );
    // Any one episode again, alone: the same line, bit for bit (a failing one when there is).
    let all = lines(&whole.join("results.jsonl"));
    let pick = all
        .iter()
        .find(|l| l.contains(r#""passed":false"#))
        .unwrap_or(&all[5])
        .clone();
    let v: serde_json::Value = serde_json::from_str(&pick).unwrap();
    let k = v["episode"].as_u64().unwrap();
    let again = tmp("again");
    // Episode k alone: shard k of k + 1 over k + 1 seeds.
    let _ = reflex(&[
        "scenario",
        "run",
        "scenarios/ci/go2_walk.yaml",
        "--seeds",
        &(k + 1).to_string(),
        "--shard",
        &format!("{k}/{}", k + 1),
        "--out",
        again.to_str().unwrap(),
    ]);
    let rerun = lines(&again.join("results.jsonl"));
    assert!(
        rerun.contains(&pick),
        "episode {k} did not reproduce:\n{pick}\nvs\n{rerun:?}"
    );
}

#[test]
fn a_suite_below_its_pass_rate_exits_1_and_a_bad_file_exits_2() {
    let d = tmp("exit");
    let cfg = repo().join("launch/config/a1_stand.yaml");
    let file = d.join("never.yaml");
    // Nothing hands over in a plain stand-up: expecting FALLBACK fails every episode.
    std::fs::write(
        &file,
        format!(
            "name: never\nconfig: {}\nduration_s: 1.0\nepisodes: 2\npass:\n  no_fall: false\n  expect_modes: [{{at_s: 0.5, mode: FALLBACK}}]\n  min_pass_rate: 0.5\n",
            cfg.display()
        ),
    )
    .unwrap();
    let out = reflex(&[
        "scenario",
        "run",
        file.to_str().unwrap(),
        "--out",
        d.join("o").to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("never: pass rate 0.000 below 0.5"), "{text}");
    // Its results are written all the same.
    assert_eq!(lines(&d.join("o/results.jsonl")).len(), 2);
    std::fs::write(&file, "name: never\nduration_s: 1\npass: {}\n").unwrap();
    let out = reflex(&[
        "scenario",
        "run",
        file.to_str().unwrap(),
        "--out",
        d.join("o").to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("never.yaml") && text.contains("config"),
        "{text}"
    );
}
