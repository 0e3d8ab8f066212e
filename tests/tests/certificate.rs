//! The pure-Rust MLP executor and the Lipschitz certificate against the real ONNX Runtime.

use std::path::{Path, PathBuf};

use reflex_policies::fallback::CertifiedFallback;
use reflex_policies::fit::empirical_lipschitz;
use reflex_policies::mlp::{random_relu_mlp, Activation, ElementOp, Layer, Mlp, MlpError};
use reflex_policies::onnx::{self, OnnxModel, SessionOptions};
use reflex_tests::{repo_root, write_temp};

fn models() -> PathBuf {
    repo_root().join("policies/models")
}

fn a1_spec() -> reflex_hardware::RobotSpec {
    reflex_tests::spec_of("a1")
}

#[test]
fn committed_fallback_is_certified_below_its_declared_bound() {
    let fb =
        CertifiedFallback::load(&models().join("a1_fallback/fallback.yaml"), &a1_spec()).unwrap();
    assert!(
        fb.certified_bound <= fb.declared_bound,
        "{} > {}",
        fb.certified_bound,
        fb.declared_bound
    );
    assert!(fb.layers.len() >= 3);
}

#[test]
fn a_model_whose_bound_exceeds_the_declared_one_is_refused_with_both_numbers() {
    let dir = std::env::temp_dir().join(format!("reflex-cert-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        models().join("a1_fallback/fallback.onnx"),
        dir.join("fallback.onnx"),
    )
    .unwrap();
    let text = std::fs::read_to_string(models().join("a1_fallback/fallback.yaml")).unwrap();
    let declared = text
        .lines()
        .find(|l| l.starts_with("lipschitz_bound:"))
        .unwrap();
    std::fs::write(
        dir.join("fallback.yaml"),
        text.replace(declared, "lipschitz_bound: 30.0"),
    )
    .unwrap();
    let err = CertifiedFallback::load(&dir.join("fallback.yaml"), &a1_spec())
        .err()
        .expect("refused")
        .to_string();
    let certified: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("certified_bound: "))
        .expect("the manifest records its certificate")
        .parse()
        .unwrap();
    assert!(
        err.contains("fallback.yaml: field `lipschitz_bound`")
            && err.contains("found 30")
            && err.contains(&format!("{certified:.6}")),
        "{err}"
    );
    assert!(
        err.contains("Affine 24→64"),
        "per-layer factors named: {err}"
    );
}

#[test]
fn computed_bound_is_never_below_an_empirical_lower_bound() {
    for file in [
        "a1_fallback/fallback.onnx",
        "a1_stand_bc/policy.onnx",
        "panda_reach/policy.onnx",
    ] {
        let mut m = Mlp::load(&models().join(file)).unwrap();
        let (bound, _) = m.lipschitz_certificate();
        for radius in [0.01, 0.3, 3.0] {
            let empirical = empirical_lipschitz(&mut m, 3000, radius, 11);
            assert!(
                empirical > 0.0 && empirical <= bound,
                "{file}: empirical {empirical} > certified {bound}"
            );
        }
    }
}

/// A network with every supported operator kind: Sub/Div normalisation, Gemm, LeakyRelu, Tanh,
/// Elu, Mul/Add output scaling.
fn every_operator_mlp() -> Mlp {
    let base = random_relu_mlp(&[10, 32, 16, 4], 5);
    let mut layers = vec![
        Layer::Elementwise {
            op: ElementOp::Sub,
            c: (0..10).map(|i| i as f32 * 0.1).collect(),
        },
        Layer::Elementwise {
            op: ElementOp::Div,
            c: (0..10).map(|i| 0.5 + i as f32 * 0.2).collect(),
        },
    ];
    let mut acts = [Activation::LeakyRelu(0.2), Activation::Elu(0.7)].into_iter();
    for l in base.layers() {
        match l {
            Layer::Activation(_) => {
                layers.push(Layer::Activation(acts.next().unwrap_or(Activation::Tanh)))
            }
            other => layers.push(other.clone()),
        }
    }
    layers.push(Layer::Activation(Activation::Tanh));
    layers.push(Layer::Elementwise {
        op: ElementOp::Mul,
        c: vec![2.0, 0.5, 1.0, 3.0],
    });
    Mlp::from_layers(layers, "x".into(), "y".into(), 10)
}

#[test]
fn executor_matches_onnx_runtime_within_1e_5() {
    onnx::runtime(None).expect("ONNX Runtime: run ./dev setup");
    let dir = std::env::temp_dir().join(format!("reflex-exec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bench = dir.join("mlp_48_256_256_12.onnx");
    std::fs::write(
        &bench,
        random_relu_mlp(&[48, 256, 256, 12], 1).to_onnx("test"),
    )
    .unwrap();
    let every = dir.join("every_operator.onnx");
    std::fs::write(&every, every_operator_mlp().to_onnx("test")).unwrap();
    let files = [
        models().join("a1_fallback/fallback.onnx"),
        models().join("a1_stand_bc/policy.onnx"),
        models().join("panda_reach/policy.onnx"),
        bench,
        every,
    ];
    for file in files {
        let mut ours = Mlp::load(&file).unwrap();
        let mut ort = OnnxModel::open(&file, &SessionOptions::default()).unwrap();
        let (n, m) = (ours.inputs(), ours.outputs());
        let (mut a, mut b) = (vec![0.0f32; m], vec![0.0f32; m]);
        let mut worst = 0.0f32;
        for k in 0..200 {
            let x: Vec<f32> = (0..n)
                .map(|i| (((k * 131 + i * 977) % 1009) as f32 / 1009.0 - 0.5) * 4.0)
                .collect();
            ours.run(&x, &mut a).unwrap();
            ort.run(&x, &mut b).unwrap();
            // 1e-5 absolute, relative for outputs above 1 (the fallback's torques reach ~30 N·m,
            // where one f32 ULP is already 2e-6 and the two sum in different orders).
            worst = a
                .iter()
                .zip(&b)
                .map(|(p, q)| (p - q).abs() / p.abs().max(1.0))
                .fold(worst, f32::max);
        }
        assert!(
            worst <= 1e-5,
            "{}: max |Δ|/max(1,|y|) = {worst} (kernel {})",
            file.display(),
            ours.kernel_name()
        );
    }
}

#[test]
fn unsupported_operators_are_refused_by_name() {
    // The residual base reshapes its output into an action chunk.
    let err = Mlp::load(&models().join("a1_residual/base.onnx")).unwrap_err();
    assert!(
        matches!(&err, MlpError::UnsupportedOperator { op, .. } if op == "Reshape"),
        "{err}"
    );
    assert!(err.to_string().contains("`Reshape`"), "{err}");
    let garbage = write_temp("not_onnx", "this is not a protobuf");
    assert!(Mlp::load(Path::new(&garbage)).is_err());
}
