//! The sound Lipschitz certificate of an MLP: the product of per-layer bounds.

use super::{ElementOp, Layer, LayerBound, Mlp};

impl Mlp {
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

/// Largest singular value of the row-major `rows × cols` matrix, rounded up.
pub fn spectral_norm_upper(w: &[f32], rows: usize, cols: usize) -> f64 {
    let m = nalgebra::DMatrix::from_fn(rows, cols, |r, c| w[r * cols + c] as f64);
    let s = m.singular_values().iter().copied().fold(0.0, f64::max);
    s * (1.0 + 1e-9) + f64::MIN_POSITIVE
}
