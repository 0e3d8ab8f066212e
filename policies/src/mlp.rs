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

use std::path::{Path, PathBuf};

use prost::Message;

use crate::onnx_proto::{ModelProto, NodeProto, TensorProto};

/// Why a model was refused at load.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MlpError {
    /// The file could not be read.
    #[error("{file}: cannot read: {reason}")]
    Io {
        /// The model file.
        file: PathBuf,
        /// OS message.
        reason: String,
    },
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

fn structure(file: &Path, reason: impl Into<String>) -> MlpError {
    MlpError::Structure {
        file: file.to_path_buf(),
        reason: reason.into(),
    }
}

fn attr_f(node: &NodeProto, name: &str, default: f32) -> f32 {
    node.attribute
        .iter()
        .find(|a| a.name == name)
        .map(|a| a.f)
        .unwrap_or(default)
}

fn attr_i(node: &NodeProto, name: &str, default: i64) -> i64 {
    node.attribute
        .iter()
        .find(|a| a.name == name)
        .map(|a| a.i)
        .unwrap_or(default)
}

struct Constants<'a> {
    file: &'a Path,
    map: std::collections::HashMap<String, (Vec<i64>, Vec<f32>)>,
}

impl Constants<'_> {
    fn add(&mut self, t: &TensorProto) -> Result<(), MlpError> {
        // Non-float constants (e.g. the int64 shape of a Reshape) are not kept: an operator
        // that would need one is refused by name when the chain reaches it.
        let Some(values) = t.to_f32() else {
            return Ok(());
        };
        if values.len() != t.numel() {
            return Err(structure(
                self.file,
                format!(
                    "tensor `{}` holds {} values for dims {:?}",
                    t.name,
                    values.len(),
                    t.dims
                ),
            ));
        }
        if let Some(index) = values.iter().position(|v| !v.is_finite()) {
            return Err(MlpError::NonFinite {
                file: self.file.to_path_buf(),
                tensor: t.name.clone(),
                index,
            });
        }
        self.map.insert(t.name.clone(), (t.dims.clone(), values));
        Ok(())
    }

    fn get(&self, name: &str) -> Option<&(Vec<i64>, Vec<f32>)> {
        self.map.get(name)
    }
}

/// Splits a binary node's inputs into (the running value, a constant); `commutative` allows
/// the constant first.
fn value_and_const<'c>(
    file: &Path,
    node: &NodeProto,
    current: &str,
    consts: &'c Constants,
    commutative: bool,
) -> Result<&'c (Vec<i64>, Vec<f32>), MlpError> {
    let [a, b] = node.input.as_slice() else {
        return Err(structure(
            file,
            format!("node `{}` ({}) needs two inputs", node.name, node.op_type),
        ));
    };
    if a == current {
        if let Some(c) = consts.get(b) {
            return Ok(c);
        }
    }
    if commutative && b == current {
        if let Some(c) = consts.get(a) {
            return Ok(c);
        }
    }
    Err(structure(
        file,
        format!(
            "node `{}` ({}): expected the previous value `{current}` {} and a constant initializer; the executor runs chains only",
            node.name,
            node.op_type,
            if commutative { "and" } else { "first" }
        ),
    ))
}

/// A constant 2-D weight as the row-major `outputs × inputs` matrix the executor keeps, scaled
/// by `scale`. ONNX stores it `[inputs, outputs]`, or `[outputs, inputs]` when `transposed`
/// (Gemm with transB = 1). Returns (weights, inputs, outputs).
fn weight_matrix(
    file: &Path,
    node: &NodeProto,
    dims: &[i64],
    values: &[f32],
    transposed: bool,
    scale: f32,
) -> Result<(Vec<f32>, usize, usize), MlpError> {
    let [rows, cols] = dims else {
        return Err(structure(
            file,
            format!(
                "node `{}` ({}): the weight must be 2-D, found dims {dims:?}",
                node.name, node.op_type
            ),
        ));
    };
    let (rows, cols) = (*rows as usize, *cols as usize);
    let (inputs, outputs) = if transposed {
        (cols, rows)
    } else {
        (rows, cols)
    };
    let mut weights = vec![0.0f32; inputs * outputs];
    for o in 0..outputs {
        for i in 0..inputs {
            let v = if transposed {
                values[o * cols + i]
            } else {
                values[i * cols + o]
            };
            weights[o * inputs + i] = scale * v;
        }
    }
    Ok((weights, inputs, outputs))
}

/// Broadcasts a constant to `width` (scalar, `[width]` or `[1, width]`).
fn broadcast(
    file: &Path,
    node: &NodeProto,
    c: &(Vec<i64>, Vec<f32>),
    width: usize,
) -> Result<Vec<f32>, MlpError> {
    match c.1.len() {
        1 => Ok(vec![c.1[0]; width]),
        n if n == width => Ok(c.1.clone()),
        n => Err(structure(
            file,
            format!(
                "node `{}` ({}): constant of {n} values does not broadcast to width {width}",
                node.name, node.op_type
            ),
        )),
    }
}

impl Mlp {
    /// Loads and checks an ONNX MLP from a file.
    pub fn load(path: &Path) -> Result<Mlp, MlpError> {
        let bytes = std::fs::read(path).map_err(|e| MlpError::Io {
            file: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Mlp::from_bytes(path, &bytes)
    }

    /// Loads an ONNX MLP from bytes; `file` names it in errors.
    pub fn from_bytes(file: &Path, bytes: &[u8]) -> Result<Mlp, MlpError> {
        let model = ModelProto::decode(bytes).map_err(|e| MlpError::Decode {
            file: file.to_path_buf(),
            reason: e.to_string(),
        })?;
        for op in &model.opset_import {
            let default_domain = op.domain.is_empty() || op.domain == "ai.onnx";
            if !default_domain || !(7..=23).contains(&op.version) {
                return Err(MlpError::UnsupportedOpset {
                    file: file.to_path_buf(),
                    domain: op.domain.clone(),
                    version: op.version,
                });
            }
        }
        let graph = model
            .graph
            .as_ref()
            .ok_or_else(|| structure(file, "the model has no graph"))?;
        let mut consts = Constants {
            file,
            map: Default::default(),
        };
        for t in &graph.initializer {
            consts.add(t)?;
        }
        let inputs: Vec<_> = graph
            .input
            .iter()
            .filter(|i| consts.get(&i.name).is_none())
            .collect();
        let [input] = inputs.as_slice() else {
            return Err(structure(
                file,
                format!("expected exactly one graph input, found {}", inputs.len()),
            ));
        };
        let [output] = graph.output.as_slice() else {
            return Err(structure(
                file,
                format!(
                    "expected exactly one graph output, found {}",
                    graph.output.len()
                ),
            ));
        };
        let dims: Vec<Option<i64>> = input
            .r#type
            .as_ref()
            .and_then(|t| t.tensor_type.as_ref())
            .and_then(|t| t.shape.as_ref())
            .map(|s| s.dim.iter().map(|d| d.dim_value).collect())
            .unwrap_or_default();
        let width = match dims.as_slice() {
            [Some(n)] | [_, Some(n)] if *n > 0 => *n as usize,
            _ => {
                return Err(structure(
                    file,
                    format!(
                        "input `{}`: expected shape [N] or [batch, N] with fixed N, found {dims:?}",
                        input.name
                    ),
                ))
            }
        };

        let mut layers = Vec::new();
        let mut current = input.name.clone();
        let mut w = width;
        for node in &graph.node {
            let node_name = if node.name.is_empty() {
                node.op_type.clone()
            } else {
                node.name.clone()
            };
            let named = NodeProto {
                name: node_name,
                ..node.clone()
            };
            let node = &named;
            if node.op_type == "Constant" {
                let t = node
                    .attribute
                    .iter()
                    .find(|a| a.name == "value")
                    .and_then(|a| a.t.clone())
                    .ok_or_else(|| {
                        structure(
                            file,
                            format!("Constant node `{}` has no tensor `value`", node.name),
                        )
                    })?;
                let out = node.output.first().cloned().unwrap_or_default();
                consts.add(&TensorProto { name: out, ..t })?;
                continue;
            }
            let layer = match node.op_type.as_str() {
                "Gemm" => {
                    if node.input.first() != Some(&current) {
                        return Err(structure(file, format!("node `{}` (Gemm): its first input must be the previous value `{current}`", node.name)));
                    }
                    if attr_i(node, "transA", 0) != 0 {
                        return Err(structure(
                            file,
                            format!("node `{}` (Gemm): transA = 1 is not supported", node.name),
                        ));
                    }
                    let trans_b = attr_i(node, "transB", 0) != 0;
                    let alpha = attr_f(node, "alpha", 1.0);
                    let beta = attr_f(node, "beta", 1.0);
                    let (bd, bv) =
                        node.input
                            .get(1)
                            .and_then(|n| consts.get(n))
                            .ok_or_else(|| {
                                structure(
                                    file,
                                    format!(
                                        "node `{}` (Gemm): B must be a constant initializer",
                                        node.name
                                    ),
                                )
                            })?;
                    let (weights, inputs, outputs) =
                        weight_matrix(file, node, bd, bv, trans_b, alpha)?;
                    if inputs != w {
                        return Err(structure(file, format!("node `{}` (Gemm): B expects width {inputs}, the previous value has {w}", node.name)));
                    }
                    let bias = match node.input.get(2).filter(|n| !n.is_empty()) {
                        Some(n) => {
                            let c = consts.get(n).ok_or_else(|| {
                                structure(
                                    file,
                                    format!(
                                        "node `{}` (Gemm): C must be a constant initializer",
                                        node.name
                                    ),
                                )
                            })?;
                            broadcast(file, node, c, outputs)?
                                .into_iter()
                                .map(|v| beta * v)
                                .collect()
                        }
                        None => vec![0.0; outputs],
                    };
                    w = outputs;
                    Layer::Affine {
                        w: weights,
                        b: bias,
                        inputs,
                        outputs,
                    }
                }
                "MatMul" => {
                    let (bd, bv) = value_and_const(file, node, &current, &consts, false)?;
                    let (weights, inputs, outputs) = weight_matrix(file, node, bd, bv, false, 1.0)?;
                    if inputs != w {
                        return Err(structure(file, format!("node `{}` (MatMul): weight expects width {inputs}, the previous value has {w}", node.name)));
                    }
                    w = outputs;
                    Layer::Affine {
                        w: weights,
                        b: vec![0.0; outputs],
                        inputs,
                        outputs,
                    }
                }
                "Add" | "Sub" | "Mul" | "Div" => {
                    let commutative = matches!(node.op_type.as_str(), "Add" | "Mul");
                    let c = value_and_const(file, node, &current, &consts, commutative)?;
                    let c = broadcast(file, node, c, w)?;
                    let op = match node.op_type.as_str() {
                        "Add" => ElementOp::Add,
                        "Sub" => ElementOp::Sub,
                        "Mul" => ElementOp::Mul,
                        _ => ElementOp::Div,
                    };
                    if op == ElementOp::Div && c.contains(&0.0) {
                        return Err(structure(
                            file,
                            format!("node `{}` (Div): divides by zero", node.name),
                        ));
                    }
                    Layer::Elementwise { op, c }
                }
                "Relu" => Layer::Activation(Activation::Relu),
                "Tanh" => Layer::Activation(Activation::Tanh),
                "Elu" => {
                    let a = attr_f(node, "alpha", 1.0);
                    if !(0.0..=1.0).contains(&a) {
                        return Err(structure(file, format!("node `{}` (Elu): alpha = {a} is not in [0, 1]: the layer would not be 1-Lipschitz", node.name)));
                    }
                    Layer::Activation(Activation::Elu(a))
                }
                "LeakyRelu" => {
                    let a = attr_f(node, "alpha", 0.01);
                    if a.abs() > 1.0 {
                        return Err(structure(file, format!("node `{}` (LeakyRelu): |alpha| = {a} > 1: the layer would not be 1-Lipschitz", node.name)));
                    }
                    Layer::Activation(Activation::LeakyRelu(a))
                }
                "Identity" => {
                    if node.input.first() != Some(&current) {
                        return Err(structure(file, format!("node `{}` (Identity): its input must be the previous value `{current}`", node.name)));
                    }
                    current = node.output.first().cloned().unwrap_or_default();
                    continue;
                }
                other => {
                    return Err(MlpError::UnsupportedOperator {
                        file: file.to_path_buf(),
                        node: node.name.clone(),
                        op: other.to_string(),
                    })
                }
            };
            if let Layer::Activation(_) = layer {
                if node.input.first() != Some(&current) {
                    return Err(structure(
                        file,
                        format!(
                            "node `{}` ({}): its input must be the previous value `{current}`",
                            node.name, node.op_type
                        ),
                    ));
                }
            }
            let [out] = node.output.as_slice() else {
                return Err(structure(
                    file,
                    format!(
                        "node `{}` ({}): expected one output",
                        node.name, node.op_type
                    ),
                ));
            };
            current = out.clone();
            layers.push(layer);
        }
        if current != output.name {
            return Err(structure(
                file,
                format!(
                    "the chain ends in `{current}` but the graph output is `{}`",
                    output.name
                ),
            ));
        }
        Ok(Mlp::from_layers(
            layers,
            input.name.clone(),
            output.name.clone(),
            width,
        ))
    }

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

    /// A sound upper bound of the ℓ2 Lipschitz constant of the whole map (normalisation
    /// included), with the factor of each layer. Affine layers contribute their spectral norm
    /// (largest singular value, from an f64 SVD, inflated by a relative 1e-9 to cover the
    /// decomposition's rounding); element-wise scalings their largest |factor|; shifts and the
    /// accepted activations 1. The product is never below the true constant.
    pub fn lipschitz_certificate(&self) -> (f64, Vec<LayerBound>) {
        let mut per = Vec::new();
        for l in &self.layers {
            let (name, bound) = match l {
                Layer::Affine {
                    w, inputs, outputs, ..
                } => (
                    format!("Affine {inputs}→{outputs}"),
                    spectral_norm_upper(w, *outputs, *inputs),
                ),
                Layer::Elementwise {
                    op: ElementOp::Add | ElementOp::Sub,
                    ..
                } => ("Shift".to_string(), 1.0),
                Layer::Elementwise {
                    op: ElementOp::Mul,
                    c,
                } => (
                    "Scale (Mul)".to_string(),
                    c.iter().map(|v| (*v as f64).abs()).fold(0.0, f64::max),
                ),
                Layer::Elementwise {
                    op: ElementOp::Div,
                    c,
                } => (
                    "Scale (Div)".to_string(),
                    c.iter()
                        .map(|v| 1.0 / (*v as f64).abs())
                        .fold(0.0, f64::max),
                ),
                Layer::Activation(a) => (format!("{a:?}"), 1.0),
            };
            per.push(LayerBound { layer: name, bound });
        }
        let total = per.iter().map(|p| p.bound).product::<f64>();
        (total, per)
    }
}

impl Mlp {
    /// Encodes the MLP as an ONNX model (opset 17): `Gemm` (transB = 1) per affine layer, the
    /// activations as their operators, element-wise layers as `Add`/`Sub`/`Mul`/`Div` with
    /// constant initializers. Input and output are `[1, N]` float tensors.
    pub fn to_onnx(&self, doc: &str) -> Vec<u8> {
        use crate::onnx_proto::*;
        use prost::Message;
        let tensor = |name: &str, dims: Vec<i64>, v: &[f32]| TensorProto {
            dims,
            data_type: DATA_TYPE_FLOAT,
            name: name.to_string(),
            raw_data: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ..Default::default()
        };
        let value_info = |name: &str, n: usize| ValueInfoProto {
            name: name.to_string(),
            r#type: Some(TypeProto {
                tensor_type: Some(TensorTypeProto {
                    elem_type: DATA_TYPE_FLOAT,
                    shape: Some(TensorShapeProto {
                        dim: vec![
                            Dimension {
                                dim_value: Some(1),
                                dim_param: None,
                            },
                            Dimension {
                                dim_value: Some(n as i64),
                                dim_param: None,
                            },
                        ],
                    }),
                }),
            }),
        };
        let float_attr = |name: &str, f: f32| AttributeProto {
            name: name.to_string(),
            f,
            r#type: 1,
            ..Default::default()
        };
        let mut nodes = Vec::new();
        let mut inits = Vec::new();
        let mut cur = self.input_name.clone();
        let last = self.layers.len().saturating_sub(1);
        for (i, l) in self.layers.iter().enumerate() {
            let out = if i == last {
                self.output_name.clone()
            } else {
                format!("h{i}")
            };
            let node = |op: &str, inputs: Vec<String>, attribute: Vec<AttributeProto>| NodeProto {
                input: inputs,
                output: vec![out.clone()],
                name: format!("{}{i}", op.to_lowercase()),
                op_type: op.to_string(),
                attribute,
                ..Default::default()
            };
            match l {
                Layer::Affine {
                    w,
                    b,
                    inputs,
                    outputs,
                } => {
                    inits.push(tensor(
                        &format!("w{i}"),
                        vec![*outputs as i64, *inputs as i64],
                        w,
                    ));
                    inits.push(tensor(&format!("b{i}"), vec![*outputs as i64], b));
                    let trans_b = AttributeProto {
                        name: "transB".into(),
                        i: 1,
                        r#type: 2,
                        ..Default::default()
                    };
                    nodes.push(node(
                        "Gemm",
                        vec![cur.clone(), format!("w{i}"), format!("b{i}")],
                        vec![trans_b],
                    ));
                }
                Layer::Elementwise { op, c } => {
                    inits.push(tensor(&format!("c{i}"), vec![c.len() as i64], c));
                    let name = match op {
                        ElementOp::Add => "Add",
                        ElementOp::Sub => "Sub",
                        ElementOp::Mul => "Mul",
                        ElementOp::Div => "Div",
                    };
                    nodes.push(node(name, vec![cur.clone(), format!("c{i}")], vec![]));
                }
                Layer::Activation(a) => {
                    let (op, attrs) = match a {
                        Activation::Relu => ("Relu", vec![]),
                        Activation::Tanh => ("Tanh", vec![]),
                        Activation::Elu(al) => ("Elu", vec![float_attr("alpha", *al)]),
                        Activation::LeakyRelu(al) => ("LeakyRelu", vec![float_attr("alpha", *al)]),
                    };
                    nodes.push(node(op, vec![cur.clone()], attrs));
                }
            }
            cur = out;
        }
        let model = ModelProto {
            ir_version: 8,
            producer_name: "reflex".into(),
            doc_string: doc.into(),
            graph: Some(GraphProto {
                node: nodes,
                name: "mlp".into(),
                initializer: inits,
                input: vec![value_info(&self.input_name, self.inputs)],
                output: vec![value_info(&self.output_name, self.outputs)],
                ..Default::default()
            }),
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: 17,
            }],
            ..Default::default()
        };
        model.encode_to_vec()
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

/// Largest singular value of the row-major `rows × cols` matrix, rounded up.
pub fn spectral_norm_upper(w: &[f32], rows: usize, cols: usize) -> f64 {
    let m = nalgebra::DMatrix::from_fn(rows, cols, |r, c| w[r * cols + c] as f64);
    let s = m.singular_values().iter().copied().fold(0.0, f64::max);
    s * (1.0 + 1e-9) + f64::MIN_POSITIVE
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

/// An affine layer's weights packed in column blocks: for each block of `width` outputs, the
/// `inputs × width` sub-matrix stored input-major (zero-padded to the block width), so the
/// kernel broadcasts one input and updates `width` independent accumulators with contiguous loads.
#[derive(Debug, Clone)]
struct PackedAffine {
    blocks: Vec<(usize, usize, usize, Vec<f32>)>,
}

impl PackedAffine {
    fn pack(w: &[f32], inputs: usize, outputs: usize) -> Self {
        let mut blocks = Vec::new();
        let mut start = 0;
        while start < outputs {
            let left = outputs - start;
            let width = if left >= 64 {
                64
            } else if left > 8 {
                16
            } else {
                8
            };
            let real = left.min(width);
            let mut data = vec![0.0f32; inputs * width];
            for j in 0..inputs {
                for k in 0..real {
                    data[j * width + k] = w[(start + k) * inputs + j];
                }
            }
            blocks.push((start, width, real, data));
            start += real;
        }
        Self { blocks }
    }
}

/// The dense kernel, chosen once by CPU feature detection.
#[derive(Debug, Clone, Copy)]
enum Kernel {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Avx2Fma,
}

impl Kernel {
    fn detect() -> Kernel {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            return Kernel::Avx2Fma;
        }
        Kernel::Portable
    }

    fn name(self) -> &'static str {
        match self {
            Kernel::Portable => "portable",
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2Fma => "avx2+fma",
        }
    }

    /// y = W x + b with W packed.
    #[inline]
    fn affine(self, p: &PackedAffine, x: &[f32], b: &[f32], y: &mut [f32]) {
        match self {
            Kernel::Portable => affine_generic::<false>(p, x, b, y),
            // SAFETY: this variant exists only when AVX2 and FMA were detected at load.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2Fma => unsafe { affine_avx2_fma(p, x, b, y) },
        }
    }
}

#[inline(always)]
fn block<const B: usize, const FMA: bool>(data: &[f32], x: &[f32], out: &mut [f32], bias: &[f32]) {
    let mut acc = [0.0f32; B];
    for (xj, w) in x.iter().zip(data.chunks_exact(B)) {
        for k in 0..B {
            acc[k] = if FMA {
                w[k].mul_add(*xj, acc[k])
            } else {
                acc[k] + w[k] * xj
            };
        }
    }
    for (k, o) in out.iter_mut().enumerate() {
        *o = acc[k] + bias[k];
    }
}

#[inline(always)]
fn affine_generic<const FMA: bool>(p: &PackedAffine, x: &[f32], b: &[f32], y: &mut [f32]) {
    for (start, width, real, data) in &p.blocks {
        let out = &mut y[*start..start + real];
        let bias = &b[*start..start + real];
        match width {
            64 => block::<64, FMA>(data, x, out, bias),
            16 => block::<16, FMA>(data, x, out, bias),
            _ => block::<8, FMA>(data, x, out, bias),
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn affine_avx2_fma(p: &PackedAffine, x: &[f32], b: &[f32], y: &mut [f32]) {
    affine_generic::<true>(p, x, b, y)
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
        let mut back = Mlp::from_bytes(Path::new("mem.onnx"), &bytes).unwrap();
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
        affine_generic::<false>(&p, &x, &b, &mut y2);
        for (a, c) in y1.iter().zip(&y2) {
            assert!((a - c).abs() < 1e-4, "portable: {a} vs {c}");
        }
    }
}
