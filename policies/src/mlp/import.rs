//! Reading an ONNX chain into layers: the accepted operators, constants and shapes.

use std::path::Path;

use prost::Message;

use super::{Activation, ElementOp, Layer, Mlp, MlpError};
use crate::onnx_proto::{ModelProto, NodeProto, TensorProto};

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
        let bytes = reflex_validate::read_bytes(path, reflex_validate::FileKind::Model)?;
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
}
