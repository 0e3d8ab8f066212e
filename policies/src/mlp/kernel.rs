//! The dense matrix-vector kernels: weights packed in column blocks, AVX2+FMA chosen at load
//! when the CPU has it, portable code otherwise.

/// An affine layer's weights packed in column blocks: for each block of `width` outputs, the
/// `inputs × width` sub-matrix stored input-major (zero-padded to the block width), so the
/// kernel broadcasts one input and updates `width` independent accumulators with contiguous loads.
#[derive(Debug, Clone)]
pub(super) struct PackedAffine {
    blocks: Vec<(usize, usize, usize, Vec<f32>)>,
}

impl PackedAffine {
    pub(super) fn pack(w: &[f32], inputs: usize, outputs: usize) -> Self {
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
pub(super) enum Kernel {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Avx2Fma,
}

impl Kernel {
    pub(super) fn detect() -> Kernel {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            return Kernel::Avx2Fma;
        }
        Kernel::Portable
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Kernel::Portable => "portable",
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2Fma => "avx2+fma",
        }
    }

    /// y = W x + b with W packed.
    #[inline]
    pub(super) fn affine(self, p: &PackedAffine, x: &[f32], b: &[f32], y: &mut [f32]) {
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
