//! Tests against the real himloco.pt and synthetic archives of the other exporters' shapes
//! (`import/fixtures/torchscript`, written by `scripts/make_torchscript_fixtures.py`).

use super::*;
use std::path::PathBuf;

fn himloco() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../policies/models/go2_himloco/himloco.pt")
}
fn fixture(n: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/torchscript")
        .join(n)
}

/// ts_reference.py --save-ref format: header line, "n in out", then input/output line pairs.
fn read_ref(p: &Path) -> Vec<(Vec<f64>, Vec<f64>)> {
    let text = std::fs::read_to_string(p).unwrap();
    let mut lines = text.lines().filter(|l| !l.starts_with('#'));
    let hdr: Vec<usize> = lines
        .next()
        .unwrap()
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    let parse = |l: &str| {
        l.split_whitespace()
            .map(|v| v.parse::<f64>().unwrap())
            .collect::<Vec<_>>()
    };
    let mut out = vec![];
    for _ in 0..hdr[0] {
        let x = parse(lines.next().unwrap());
        let y = parse(lines.next().unwrap());
        assert_eq!((x.len(), y.len()), (hdr[1], hdr[2]));
        out.push((x, y));
    }
    out
}

fn max_diff(d: &Description, r: &[(Vec<f64>, Vec<f64>)]) -> f64 {
    let mut m: f64 = 0.0;
    for (x, y) in r {
        for (a, b) in d.policy.forward(x).iter().zip(y) {
            m = m.max((a - b).abs());
        }
    }
    m
}

fn linear_shapes(ls: &[Layer]) -> Vec<[usize; 2]> {
    ls.iter()
        .filter_map(|l| {
            if let Layer::Linear { w, .. } = l {
                Some([w.shape[0], w.shape[1]])
            } else {
                None
            }
        })
        .collect()
}

#[test]
fn inflate_roundtrip_fixed_and_stored() {
    // fixed-Huffman block "abcabcabc" and a stored block, hand-made
    // zlib.compressobj(9, DEFLATED, -15).compress(b"abcabcabcabc") + flush()
    let fixed = [75u8, 76, 74, 78, 132, 33, 0];
    assert_eq!(zip::inflate::inflate(&fixed, 64).unwrap(), b"abcabcabcabc");
    let stored = [0x01, 0x03, 0x00, 0xfc, 0xff, b'x', b'y', b'z'];
    assert_eq!(zip::inflate::inflate(&stored, 64).unwrap(), b"xyz");
    assert!(zip::inflate::inflate(&fixed[..3], 64).is_err());
}

#[test]
fn himloco_zip_records() {
    let ar = Archive::open(&himloco()).unwrap();
    assert_eq!(ar.prefix, "policy");
    assert_eq!(ar.version, "4");
    assert_eq!(ar.constants, Value::Tuple(vec![]));
    assert_eq!(ar.zip.entries.len(), 41);
    for e in &ar.zip.entries {
        assert_eq!(e.data_offset % 64, 0, "{} aligned", e.name);
        assert_eq!(
            e.method,
            if e.name.contains("/code/") { 8 } else { 0 },
            "{}",
            e.name
        );
        ar.zip.read(&e.name).unwrap(); // CRC + size checked
    }
    let src = ar
        .record("code/__torch__/legged_gym/utils/helpers.py")
        .unwrap();
    let src = std::str::from_utf8(&src).unwrap();
    assert!(src.starts_with("class PolicyExporterHIM(Module):"));
    assert!(src.contains("parts = torch.slice(_1, 1, 0, 19)"));
    // the VM also reads the debug_pkl records (EMPTY_LIST, APPENDS, TUPLE3, build_intlist)
    for e in ar
        .zip
        .entries
        .iter()
        .filter(|e| e.name.ends_with(".debug_pkl"))
    {
        match pickle::load(&ar.zip.read(&e.name).unwrap()).unwrap() {
            Value::Tuple(t) => assert_eq!(
                t[0],
                Value::Str("FORMAT_WITH_STRING_TABLE".into()),
                "{}",
                e.name
            ),
            v => panic!("{}: {v:?}", e.name),
        }
    }
}

#[test]
fn himloco_pickle_tree() {
    let ar = Archive::open(&himloco()).unwrap();
    assert_eq!(
        ar.root.class(),
        Some("__torch__.legged_gym.utils.helpers.PolicyExporterHIM")
    );
    let names: Vec<_> = ar.root.attrs().iter().map(|(k, _)| k.to_string()).collect();
    assert_eq!(
        names,
        ["training", "_is_full_backward_hook", "actor", "estimator"]
    );
    let sh = tensor_shapes(&ar);
    assert_eq!(sh.len(), 14);
    assert_eq!(sh["policy.estimator.0.weight"], vec![128, 270]);
    assert_eq!(sh["policy.actor.0.weight"], vec![512, 64]);
    let (_, t) = ar
        .tensors()
        .into_iter()
        .find(|(p, _)| p == "policy.estimator.0.weight")
        .unwrap();
    assert_eq!(
        (
            t.storage.key.as_str(),
            t.offset,
            t.stride.clone(),
            t.storage.numel
        ),
        ("8", 0, vec![270, 1], 34560)
    );
    let mods = ar.modules();
    assert_eq!(mods.len(), 1 + 1 + 7 + 1 + 5);
    assert!(mods.contains(&(
        "policy.estimator.4".into(),
        "__torch__.torch.nn.modules.linear.___torch_mangle_5.Linear".into()
    )));
}

#[test]
fn himloco_recognised_with_shapes() {
    let d = describe(&himloco()).unwrap();
    assert_eq!(d.exporter, Exporter::HimLoco);
    match &d.policy {
        Policy::Him {
            input_dim,
            estimator,
            actor,
            glue,
        } => {
            assert_eq!(*input_dim, 270);
            assert_eq!(linear_shapes(estimator), [[128, 270], [64, 128], [19, 64]]);
            assert_eq!(
                linear_shapes(actor),
                [[512, 64], [256, 512], [128, 256], [12, 128]]
            );
            assert_eq!(
                estimator
                    .iter()
                    .filter(|l| **l == Layer::Elu { alpha: 1.0 })
                    .count(),
                2
            );
            assert_eq!(
                actor
                    .iter()
                    .filter(|l| **l == Layer::Elu { alpha: 1.0 })
                    .count(),
                3
            );
            assert_eq!(
                glue,
                &vec![
                    Piece::Obs { start: 0, end: 45 },
                    Piece::Est { start: 0, end: 3 },
                    Piece::EstL2Normalized {
                        start: 3,
                        end: 19,
                        eps: 1e-12
                    },
                ]
            );
        }
        p => panic!("{p:?}"),
    }
    assert_eq!(d.policy.output_dim(), 12);
    println!("{d}");
}

#[test]
fn fixtures_accepted_and_match_reference() {
    let cases = [
        (
            "legged_gym_mlp",
            Exporter::LeggedGymSequential,
            false,
            vec![[64, 48], [32, 64], [16, 32], [12, 16]],
        ),
        (
            "strided_mlp",
            Exporter::LeggedGymSequential,
            false,
            vec![[8, 10], [6, 8], [5, 6], [3, 5]],
        ),
        (
            "isaaclab_normalizer",
            Exporter::RslRlPolicyExporter,
            true,
            vec![[64, 33], [32, 64], [6, 32]],
        ),
        (
            "isaaclab_old_normalizer",
            Exporter::RslRlPolicyExporter,
            true,
            vec![[64, 33], [32, 64], [6, 32]],
        ),
        (
            "isaaclab_identity",
            Exporter::RslRlPolicyExporter,
            false,
            vec![[64, 33], [32, 64], [6, 32]],
        ),
    ];
    for (name, exp, has_norm, shapes) in cases {
        let d = describe(&fixture(&format!("{name}.pt"))).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(d.exporter, exp, "{name}");
        match &d.policy {
            Policy::Mlp {
                normalizer, layers, ..
            } => {
                assert_eq!(normalizer.is_some(), has_norm, "{name}");
                if let Some(n) = normalizer {
                    assert_eq!((n.mean.len(), n.eps), (33, 0.01));
                }
                assert_eq!(linear_shapes(layers), shapes, "{name}");
            }
            p => panic!("{name}: {p:?}"),
        }
        let m = max_diff(&d, &read_ref(&fixture(&format!("{name}.ref.txt"))));
        println!("{name}: max |rust - numpy| = {m:.3e}");
        assert!(m <= 1e-6, "{name}: {m}");
    }
}

#[test]
fn other_torchscript_refused_with_a_clear_message() {
    for (name, needle) in [
        ("refuse_lstm", "of type `__torch__.legged_gym.utils.helpers.PolicyExporterLSTM` is not a plain MLP exporter"),
        ("refuse_tanh", "op `torch.tanh`"),
        ("refuse_him_variant", "not the HimLoco shape"),
    ] {
        let p = fixture(&format!("{name}.pt"));
        let e = describe(&p).expect_err(name);
        let msg = e.to_string();
        println!("{msg}\n");
        assert_eq!(e.kind, ErrorKind::Refused, "{msg}");
        assert!(msg.contains(&p.display().to_string()), "{msg}");
        assert!(msg.contains(needle), "{name}: {msg}");
        assert!(msg.contains("torch.onnx.export"), "{msg}");
        assert!(msg.contains("module `"), "{msg}");
    }
}

#[test]
fn not_an_archive() {
    let dir = std::env::temp_dir().join(format!("reflex-ts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bytes = std::fs::read(himloco()).unwrap();
    // truncated: no end-of-central-directory record
    let p = dir.join("truncated.pt");
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    let e = describe(&p).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Malformed, "{e}");
    // one flipped byte in a stored weight: CRC mismatch
    let mut b2 = bytes.clone();
    b2[64 + 100] ^= 0xFF;
    let p = dir.join("flipped.pt");
    std::fs::write(&p, &b2).unwrap();
    let e = describe(&p).unwrap_err();
    assert!(e.to_string().contains("CRC mismatch"), "{e}");
    let e = describe(&dir.join("missing.pt")).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Io);
}
