//! Writing an MLP as an ONNX model (fitted fallbacks are shipped this way).

use super::{Activation, ElementOp, Layer, Mlp};

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
