//! Writing a recognised TorchScript policy as an ONNX model, and checking the file against the
//! archive's own weights.
//!
//! Opset 17, one float32 input `obs [1, N]` and one output `actions [1, A]`: Linear → `Gemm`
//! (transB = 1), ELU → `Elu(alpha)`, the rsl_rl normaliser → `Sub(mean)`, `Div(std + eps)`;
//! HIMLoco's glue → `Slice` (axis 1) of the observation and of the estimator's output,
//! `F.normalize` → `ReduceL2(keepdims) → Max(eps) → Div`, then `Concat` (axis 1).

use prost::Message;
use reflex_policies::onnx_proto::{
    AttributeProto, Dimension, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TensorTypeProto, TypeProto, ValueInfoProto, DATA_TYPE_FLOAT,
};

use crate::torchscript::{Description, Layer, Piece, Policy};

/// ONNX element type INT64.
const DATA_TYPE_INT64: i32 = 7;

/// The graph input's name (legged_gym / rsl_rl / IsaacLab's ONNX exporters use it too).
pub const INPUT_NAME: &str = "obs";
/// The graph output's name.
pub const OUTPUT_NAME: &str = "actions";

#[derive(Default)]
struct Builder {
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    next: usize,
}

fn value_info(name: &str, n: usize) -> ValueInfoProto {
    let dim = |v: i64| Dimension {
        dim_value: Some(v),
        dim_param: None,
    };
    ValueInfoProto {
        name: name.to_string(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type: DATA_TYPE_FLOAT,
                shape: Some(TensorShapeProto {
                    dim: vec![dim(1), dim(n as i64)],
                }),
            }),
        }),
    }
}

impl Builder {
    fn name(&mut self, what: &str) -> String {
        self.next += 1;
        format!("{what}_{}", self.next)
    }

    fn floats(&mut self, what: &str, dims: Vec<i64>, v: &[f32]) -> String {
        let name = self.name(what);
        self.inits.push(TensorProto {
            dims,
            data_type: DATA_TYPE_FLOAT,
            name: name.clone(),
            raw_data: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ..Default::default()
        });
        name
    }

    fn ints(&mut self, what: &str, v: &[i64]) -> String {
        let name = self.name(what);
        self.inits.push(TensorProto {
            dims: vec![v.len() as i64],
            data_type: DATA_TYPE_INT64,
            name: name.clone(),
            int64_data: v.to_vec(),
            ..Default::default()
        });
        name
    }

    fn node(&mut self, op: &str, inputs: Vec<String>, attribute: Vec<AttributeProto>) -> String {
        let out = self.name(&op.to_lowercase());
        self.nodes.push(NodeProto {
            input: inputs,
            output: vec![out.clone()],
            name: out.clone(),
            op_type: op.to_string(),
            attribute,
            ..Default::default()
        });
        out
    }

    fn mlp(&mut self, layers: &[Layer], mut x: String) -> String {
        for l in layers {
            x = match l {
                Layer::Linear { w, b } => {
                    let (out, inp) = (w.shape[0] as i64, w.shape[1] as i64);
                    let wn = self.floats("w", vec![out, inp], &w.data);
                    let bn = self.floats("b", vec![out], b);
                    let trans_b = AttributeProto {
                        name: "transB".into(),
                        i: 1,
                        r#type: 2,
                        ..Default::default()
                    };
                    self.node("Gemm", vec![x, wn, bn], vec![trans_b])
                }
                Layer::Elu { alpha } => {
                    let a = AttributeProto {
                        name: "alpha".into(),
                        f: *alpha as f32,
                        r#type: 1,
                        ..Default::default()
                    };
                    self.node("Elu", vec![x], vec![a])
                }
            };
        }
        x
    }

    fn slice(&mut self, x: &str, start: usize, end: usize) -> String {
        let s = self.ints("starts", &[start as i64]);
        let e = self.ints("ends", &[end as i64]);
        let a = self.ints("axes", &[1]);
        self.node("Slice", vec![x.to_string(), s, e, a], vec![])
    }
}

/// The ONNX model (protobuf bytes) of a recognised policy. `doc` is stored in the model.
pub fn to_onnx(d: &Description, doc: &str) -> Vec<u8> {
    let mut b = Builder::default();
    let input = INPUT_NAME.to_string();
    let last = match &d.policy {
        Policy::Mlp {
            normalizer, layers, ..
        } => {
            let mut x = input.clone();
            if let Some(n) = normalizer {
                let n_in = n.mean.len() as i64;
                let mean = b.floats("mean", vec![1, n_in], &n.mean);
                let denom: Vec<f32> = n.std.iter().map(|s| (*s as f64 + n.eps) as f32).collect();
                let denom = b.floats("std_plus_eps", vec![1, n_in], &denom);
                x = b.node("Sub", vec![x, mean], vec![]);
                x = b.node("Div", vec![x, denom], vec![]);
            }
            b.mlp(layers, x)
        }
        Policy::Him {
            estimator,
            actor,
            glue,
            ..
        } => {
            let e = b.mlp(estimator, input.clone());
            let mut pieces = Vec::new();
            for p in glue {
                pieces.push(match *p {
                    Piece::Obs { start, end } => b.slice(&input, start, end),
                    Piece::Est { start, end } => b.slice(&e, start, end),
                    Piece::EstL2Normalized { start, end, eps } => {
                        let z = b.slice(&e, start, end);
                        let axes = AttributeProto {
                            name: "axes".into(),
                            ints: vec![1],
                            r#type: 7,
                            ..Default::default()
                        };
                        let keep = AttributeProto {
                            name: "keepdims".into(),
                            i: 1,
                            r#type: 2,
                            ..Default::default()
                        };
                        let norm = b.node("ReduceL2", vec![z.clone()], vec![axes, keep]);
                        let eps = b.floats("eps", vec![], &[eps as f32]);
                        let denom = b.node("Max", vec![norm, eps], vec![]);
                        b.node("Div", vec![z, denom], vec![])
                    }
                });
            }
            let axis = AttributeProto {
                name: "axis".into(),
                i: 1,
                r#type: 2,
                ..Default::default()
            };
            let cat = b.node("Concat", pieces, vec![axis]);
            b.mlp(actor, cat)
        }
    };
    b.nodes.push(NodeProto {
        input: vec![last],
        output: vec![OUTPUT_NAME.into()],
        name: "output".into(),
        op_type: "Identity".into(),
        ..Default::default()
    });
    let model = ModelProto {
        ir_version: 8,
        producer_name: "reflex import".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: doc.to_string(),
        graph: Some(GraphProto {
            node: b.nodes,
            name: "policy".into(),
            initializer: b.inits,
            input: vec![value_info(INPUT_NAME, d.policy.input_dim())],
            output: vec![value_info(OUTPUT_NAME, d.policy.output_dim())],
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

/// `count` deterministic pseudo-random observation rows of `width`, standard normal (the spread
/// of normalised observations), for comparing a conversion against its source.
pub fn probe_inputs(width: usize, count: usize, seed: u64) -> Vec<Vec<f64>> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    let mut uniform = move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    (0..count)
        .map(|_| {
            (0..width)
                .map(|_| {
                    // Box-Muller.
                    let (u, v) = (uniform(), uniform());
                    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
                })
                .collect()
        })
        .collect()
}
