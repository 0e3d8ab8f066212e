//! A pure-Rust executor for MLPs stored as ONNX, with a sound Lipschitz certificate.
//!
//! Accepted graphs are chains: one input, one output, each node taking the previous value and
//! constants. Operators: `Gemm`, `MatMul` (+ `Add`), `Relu`, `Tanh`, `Elu` (alpha ≤ 1),
//! `LeakyRelu` (|alpha| ≤ 1), `Identity`, and element-wise `Add`/`Sub`/`Mul`/`Div` by a constant
//! (input/output normalisation). Anything else is refused with the operator's name.
//!
//! After [`Mlp::load`], [`Mlp::run`] allocates nothing and does a fixed amount of work (a fixed
//! sequence of dense layers): it is what runs on the RT thread. The matrix-vector kernel is
//! chosen once at load by CPU feature detection (AVX2+FMA on x86-64, portable code elsewhere),
//! so one binary runs everywhere.
//!
//! Files: `import` (ONNX → layers, the accepted operator set), `kernel` (the packed
//! matrix-vector kernels), `certificate` (the Lipschitz bound), `export` (layers → ONNX).

mod certificate;
mod export;
mod import;
mod kernel;

pub use certificate::spectral_norm_upper;
use kernel::{Kernel, PackedAffine};

use std::path::PathBuf;

/// Why a model was refused at load.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MlpError {
    /// The file could not be read (missing, not a regular file, too large).
    #[error(transparent)]
    File(#[from] reflex_validate::FileError),
    /// Not a valid ONNX protobuf.
    #[error("{file}: not an ONNX model: {reason}")]
    Decode {
        /// The model file.
        file: PathBuf,
        /// Decoder message.
        reason: String,
    },
    /// An operator outside the supported set.
    #[error("{file}: node `{node}`: operator `{op}` is not supported by the pure-Rust MLP executor (supported: Gemm, MatMul, Add, Sub, Mul, Div, Relu, Tanh, Elu, LeakyRelu, Identity)")]
    UnsupportedOperator {
        /// The model file.
        file: PathBuf,
        /// Node name.
        node: String,
        /// Operator type.
        op: String,
    },
    /// The opset is outside what the executor implements.
    #[error("{file}: opset {version} of domain `{domain}` is not supported (expected the default domain, opset 7–23)")]
    UnsupportedOpset {
        /// The model file.
        file: PathBuf,
        /// Operator-set domain.
        domain: String,
        /// Its version.
        version: i64,
    },
    /// A weight is NaN or infinite.
    #[error("{file}: tensor `{tensor}` holds a non-finite value at index {index}")]
    NonFinite {
        /// The model file.
        file: PathBuf,
        /// Initializer name.
        tensor: String,
        /// First bad index.
        index: usize,
    },
    /// The graph is not a chain the executor understands, or shapes do not line up.
    #[error("{file}: {reason}")]
    Structure {
        /// The model file.
        file: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// An activation function (each 1-Lipschitz as accepted).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Activation {
    /// max(0, x).
    Relu,
    /// tanh(x).
    Tanh,
    /// x if x > 0 else alpha·(exp(x) − 1); alpha ≤ 1.
    Elu(f32),
    /// x if x ≥ 0 else alpha·x; |alpha| ≤ 1.
    LeakyRelu(f32),
}

/// Element-wise operation with a constant (broadcast to the layer width).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElementOp {
    /// x + c.
    Add,
    /// x − c.
    Sub,
    /// x · c.
    Mul,
    /// x / c.
    Div,
}

/// One step of the chain.
#[derive(Debug, Clone, PartialEq)]
pub enum Layer {
    /// y = W x + b, W stored row-major `outputs × inputs`.
    Affine {
        /// Weights, row-major.
        w: Vec<f32>,
        /// Bias.
        b: Vec<f32>,
        /// Input width.
        inputs: usize,
        /// Output width.
        outputs: usize,
    },
    /// y = x ∘ c.
    Elementwise {
        /// Which operation.
        op: ElementOp,
        /// The constant, one value per element.
        c: Vec<f32>,
    },
    /// y = f(x).
    Activation(Activation),
}

/// Per-layer factor of the Lipschitz certificate.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerBound {
    /// Human-readable description (e.g. `Affine 48→256`).
    pub layer: String,
    /// Upper bound of the layer's ℓ2 Lipschitz constant.
    pub bound: f64,
}

/// A loaded MLP, ready to run without allocating.
#[derive(Debug, Clone)]
pub struct Mlp {
    layers: Vec<Layer>,
    input_name: String,
    output_name: String,
    inputs: usize,
    outputs: usize,
    buf_a: Vec<f32>,
    buf_b: Vec<f32>,
    /// Affine layers' weights packed for the kernel, in layer order.
    packed: Vec<PackedAffine>,
    kernel: Kernel,
}

impl Mlp {
    /// Builds an executor from layers (e.g. ones just trained). `inputs` is the input width.
    pub fn from_layers(
        layers: Vec<Layer>,
        input_name: String,
        output_name: String,
        inputs: usize,
    ) -> Mlp {
        let layers = fold_bias(layers);
        let mut widest = inputs;
        let mut w = inputs;
        for l in &layers {
            if let Layer::Affine { outputs, .. } = l {
                w = *outputs;
                widest = widest.max(w);
            }
        }
        let packed = layers
            .iter()
            .filter_map(|l| match l {
                Layer::Affine {
                    w, inputs, outputs, ..
                } => Some(PackedAffine::pack(w, *inputs, *outputs)),
                _ => None,
            })
            .collect();
        Mlp {
            layers,
            input_name,
            output_name,
            inputs,
            outputs: w,
            buf_a: vec![0.0; widest],
            buf_b: vec![0.0; widest],
            packed,
            kernel: Kernel::detect(),
        }
    }

    /// Input width.
    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// Output width.
    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// Name of the graph input.
    pub fn input_name(&self) -> &str {
        &self.input_name
    }

    /// Name of the graph output.
    pub fn output_name(&self) -> &str {
        &self.output_name
    }

    /// The layers, in order.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// Which matrix-vector kernel runs (`avx2+fma` or `portable`).
    pub fn kernel_name(&self) -> &'static str {
        self.kernel.name()
    }

    /// Evaluates the MLP: `input.len() == inputs()`, `output.len() == outputs()` (checked).
    /// Allocates nothing; work is fixed by the layer sizes.
    pub fn run(&mut self, input: &[f32], output: &mut [f32]) -> Result<(), SizeMismatch> {
        if input.len() != self.inputs || output.len() != self.outputs {
            return Err(SizeMismatch {
                expected: (self.inputs, self.outputs),
                got: (input.len(), output.len()),
            });
        }
        let (mut cur, mut next) = (&mut self.buf_a, &mut self.buf_b);
        let mut w = self.inputs;
        cur[..w].copy_from_slice(input);
        let mut packed = self.packed.iter();
        for layer in &self.layers {
            match layer {
                Layer::Affine {
                    b, inputs, outputs, ..
                } => {
                    let p = packed.next().expect("one packed matrix per affine layer");
                    self.kernel
                        .affine(p, &cur[..*inputs], b, &mut next[..*outputs]);
                    std::mem::swap(&mut cur, &mut next);
                    w = *outputs;
                }
                Layer::Elementwise { op, c } => {
                    let x = &mut cur[..w];
                    match op {
                        ElementOp::Add => x.iter_mut().zip(c).for_each(|(x, c)| *x += c),
                        ElementOp::Sub => x.iter_mut().zip(c).for_each(|(x, c)| *x -= c),
                        ElementOp::Mul => x.iter_mut().zip(c).for_each(|(x, c)| *x *= c),
                        ElementOp::Div => x.iter_mut().zip(c).for_each(|(x, c)| *x /= c),
                    }
                }
                Layer::Activation(a) => {
                    let x = &mut cur[..w];
                    match *a {
                        Activation::Relu => x.iter_mut().for_each(|v| *v = v.max(0.0)),
                        Activation::Tanh => x.iter_mut().for_each(|v| *v = v.tanh()),
                        Activation::Elu(al) => x.iter_mut().for_each(|v| {
                            if *v <= 0.0 {
                                *v = al * v.exp_m1()
                            }
                        }),
                        Activation::LeakyRelu(al) => x.iter_mut().for_each(|v| {
                            if *v < 0.0 {
                                *v *= al
                            }
                        }),
                    }
                }
            }
        }
        output.copy_from_slice(&cur[..self.outputs]);
        Ok(())
    }
}

/// A dense ReLU MLP with deterministic pseudo-random weights (He-scaled), e.g. the
/// 48 → 256 → 256 → 12 network the benchmarks compare runtimes on.
pub fn random_relu_mlp(widths: &[usize], seed: u64) -> Mlp {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) as f64 / (1u64 << 31) as f64) * 2.0 - 1.0
    };
    let mut layers = Vec::new();
    for k in 0..widths.len() - 1 {
        let (i, o) = (widths[k], widths[k + 1]);
        let s = (6.0 / i as f64).sqrt();
        layers.push(Layer::Affine {
            w: (0..i * o).map(|_| (next() * s) as f32).collect(),
            b: (0..o).map(|_| (next() * 0.1) as f32).collect(),
            inputs: i,
            outputs: o,
        });
        if k + 2 < widths.len() {
            layers.push(Layer::Activation(Activation::Relu));
        }
    }
    Mlp::from_layers(layers, "obs".into(), "action".into(), widths[0])
}

/// Folds `Affine` followed by an element-wise `Add` (MatMul + Add) into the affine bias.
fn fold_bias(layers: Vec<Layer>) -> Vec<Layer> {
    let mut out: Vec<Layer> = Vec::with_capacity(layers.len());
    for l in layers {
        if let (
            Some(Layer::Affine { b, .. }),
            Layer::Elementwise {
                op: ElementOp::Add,
                c,
            },
        ) = (out.last_mut(), &l)
        {
            b.iter_mut().zip(c).for_each(|(b, c)| *b += c);
            continue;
        }
        out.push(l);
    }
    out
}

/// Input or output slice of the wrong length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("MLP expects {expected:?} (inputs, outputs), got {got:?}")]
pub struct SizeMismatch {
    /// (inputs, outputs) the MLP has.
    pub expected: (usize, usize),
    /// (inputs, outputs) given.
    pub got: (usize, usize),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Mlp {
        // 2 → 3 → 1 with ReLU, and input normalisation (x − 1) / 2.
        Mlp::from_layers(
            vec![
                Layer::Elementwise {
                    op: ElementOp::Sub,
                    c: vec![1.0, 1.0],
                },
                Layer::Elementwise {
                    op: ElementOp::Div,
                    c: vec![2.0, 2.0],
                },
                Layer::Affine {
                    w: vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0],
                    b: vec![0.0, 0.0, -1.0],
                    inputs: 2,
                    outputs: 3,
                },
                Layer::Activation(Activation::Relu),
                Layer::Affine {
                    w: vec![1.0, -1.0, 2.0],
                    b: vec![0.5],
                    inputs: 3,
                    outputs: 1,
                },
            ],
            "x".into(),
            "y".into(),
            2,
        )
    }

    #[test]
    fn evaluates_a_hand_computed_network() {
        let mut m = tiny();
        let mut y = [0.0f32];
        m.run(&[5.0, 3.0], &mut y).unwrap();
        // normalised (2, 1); hidden relu(2, 1, 2) → 2 − 1 + 4 + 0.5
        assert_eq!(y[0], 5.5);
        assert!(m.run(&[1.0], &mut y).is_err());
    }

    #[test]
    fn certificate_is_the_product_of_layer_norms() {
        let (total, per) = tiny().lipschitz_certificate();
        assert_eq!(per.len(), 5);
        assert!((per[1].bound - 0.5).abs() < 1e-12);
        // Second affine layer: ‖[1, −1, 2]‖₂ = √6.
        assert!((per[4].bound - 6f64.sqrt()).abs() < 1e-6 && per[4].bound >= 6f64.sqrt());
        let expected = per.iter().map(|p| p.bound).product::<f64>();
        assert_eq!(total, expected);
    }

    #[test]
    fn onnx_export_round_trips_through_the_loader() {
        let mut m = random_relu_mlp(&[5, 16, 3], 7);
        let bytes = m.to_onnx("test");
        let mut back = Mlp::from_bytes(std::path::Path::new("mem.onnx"), &bytes).unwrap();
        let x = [0.1, -0.2, 0.3, 0.4, -0.5];
        let (mut a, mut b) = ([0.0f32; 3], [0.0f32; 3]);
        m.run(&x, &mut a).unwrap();
        back.run(&x, &mut b).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn kernels_agree() {
        let w: Vec<f32> = (0..37 * 53)
            .map(|i| ((i * 7919) % 101) as f32 / 50.0 - 1.0)
            .collect();
        let p = PackedAffine::pack(&w, 53, 37);
        let x: Vec<f32> = (0..53).map(|i| (i as f32 * 0.37).sin()).collect();
        let b = vec![0.1f32; 37];
        let mut y1 = [0.0f32; 37];
        let mut y2 = vec![0.0; 37];
        // Reference: plain row-major dot products in f64.
        for (o, y) in y1.iter_mut().enumerate() {
            *y = ((0..53)
                .map(|j| w[o * 53 + j] as f64 * x[j] as f64)
                .sum::<f64>()
                + 0.1) as f32;
        }
        Kernel::detect().affine(&p, &x, &b, &mut y2);
        for (a, c) in y1.iter().zip(&y2) {
            assert!((a - c).abs() < 1e-4, "{a} vs {c}");
        }
        Kernel::Portable.affine(&p, &x, &b, &mut y2);
        for (a, c) in y1.iter().zip(&y2) {
            assert!((a - c).abs() < 1e-4, "portable: {a} vs {c}");
        }
    }
}
