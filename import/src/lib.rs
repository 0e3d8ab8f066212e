#![deny(missing_docs)]
//! Bringing policies trained elsewhere into Reflex.
//!
//! - [`torchscript`]: reads a TorchScript archive (`torch.jit.save`) without torch — its zip,
//!   its pickled module tree and weights, and its own printed `forward` code, evaluated
//!   symbolically — and recognises the plain MLP exporters (legged_gym's
//!   `export_policy_as_jit`, rsl_rl/IsaacLab's `_TorchPolicyExporter`, HIMLoco's
//!   `PolicyExporterHIM`). Anything else is refused with a message that says how to export ONNX
//!   with torch.
//! - [`onnx_writer`]: writes a recognised policy as an ONNX model (Gemm, Elu, Sub/Div, Slice,
//!   ReduceL2, Max, Div, Concat) and checks it against the archive's own weights.
//! - [`rl_sar`]: turns an rl_sar deployment config (`config.yaml` with its robot's `base.yaml`) into
//!   a Reflex model manifest; what cannot be mapped is refused by name.

pub mod onnx_writer;
pub mod rl_sar;
pub mod torchscript;

use std::path::{Path, PathBuf};

use reflex_policies::onnx::{OnnxModel, SessionOptions};
use reflex_validate::FileError;

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportFailure {
    /// The deployment config, or a file it names, was refused.
    #[error(transparent)]
    File(#[from] FileError),
    /// The TorchScript archive was refused.
    #[error(transparent)]
    TorchScript(#[from] torchscript::ImportError),
    /// ONNX Runtime could not check the result.
    #[error(transparent)]
    Onnx(#[from] reflex_policies::onnx::OnnxError),
    /// The conversion does not reproduce its source.
    #[error("{0}")]
    Mismatch(String),
    /// Writing the output failed.
    #[error("{path}: cannot write: {reason}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error.
        reason: String,
    },
}

/// How a converted model compares with its source on random observations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Agreement {
    /// Observation rows compared.
    pub rows: usize,
    /// Largest |ONNX Runtime − the archive's own weights evaluated exactly (f64)|.
    pub max_abs_diff: f64,
    /// The same against an f32 evaluation, the arithmetic torch runs the archive in.
    pub max_abs_diff_f32: f64,
}

/// Largest difference accepted between a conversion and its source.
pub const TOLERANCE: f64 = 1e-5;

/// Converts a TorchScript archive of a plain MLP exporter to ONNX bytes.
pub fn convert_torchscript(
    archive: &Path,
) -> Result<(torchscript::Description, Vec<u8>), torchscript::ImportError> {
    let d = torchscript::describe(archive)?;
    let doc = format!(
        "converted by `reflex import` (without torch) from {} ({:?}, root {})",
        archive.display(),
        d.exporter,
        d.root_class
    );
    let bytes = onnx_writer::to_onnx(&d, &doc);
    Ok((d, bytes))
}

/// Runs `onnx` in ONNX Runtime (which must be initialised) on `rows` random observations and
/// compares each output with the archive's own weights evaluated directly.
pub fn agreement(
    d: &torchscript::Description,
    onnx: &Path,
    rows: usize,
) -> Result<Agreement, ImportFailure> {
    let mut m = OnnxModel::open(onnx, &SessionOptions::default())?;
    let (n_in, n_out) = (d.policy.input_dim(), d.policy.output_dim());
    if m.input_len() != n_in || m.output_len() != n_out {
        return Err(ImportFailure::Mismatch(format!(
            "{}: {} inputs / {} outputs, the archive has {n_in} / {n_out}",
            onnx.display(),
            m.input_len(),
            m.output_len()
        )));
    }
    let (mut worst, mut worst64) = (0.0f64, 0.0f64);
    let mut y = vec![0.0f32; n_out];
    for x in onnx_writer::probe_inputs(n_in, rows, 7) {
        let x32: Vec<f32> = x.iter().map(|v| *v as f32).collect();
        m.run(&x32, &mut y)?;
        // The references see exactly the f32 inputs ONNX Runtime sees.
        let r32 = d.policy.forward_f32(&x32);
        let xr: Vec<f64> = x32.iter().map(|v| *v as f64).collect();
        let r64 = d.policy.forward(&xr);
        for ((a, b), c) in y.iter().zip(&r32).zip(&r64) {
            worst = worst.max((*a - *b).abs() as f64);
            worst64 = worst64.max((*a as f64 - c).abs());
        }
    }
    Ok(Agreement {
        rows,
        max_abs_diff: worst64,
        max_abs_diff_f32: worst,
    })
}

/// What `import_rl_sar` wrote and measured.
#[derive(Debug, Clone)]
pub struct RlSarImport {
    /// The manifest written.
    pub manifest: PathBuf,
    /// The model written beside it.
    pub model: PathBuf,
    /// Mapping notes.
    pub notes: Vec<String>,
    /// The conversion's agreement with the archive (TorchScript sources).
    pub agreement: Option<Agreement>,
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), ImportFailure> {
    std::fs::write(path, bytes).map_err(|e| ImportFailure::Write {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Imports an rl_sar policy into `out`: `out/policy.yaml` (the manifest) and `out/policy.onnx`
/// (converted from TorchScript, or copied from ONNX), then checks both the way a run will.
/// `model` overrides the config's `model_name`. ONNX Runtime must be initialised.
pub fn import_rl_sar(
    config: &Path,
    base: &Path,
    robot: Option<&str>,
    model: Option<&Path>,
    out: &Path,
) -> Result<RlSarImport, ImportFailure> {
    let mut imported = rl_sar::import(config, base, robot)?;
    let source = model
        .map(Path::to_path_buf)
        .unwrap_or(imported.model.clone());
    std::fs::create_dir_all(out).map_err(|e| ImportFailure::Write {
        path: out.to_path_buf(),
        reason: e.to_string(),
    })?;
    let onnx_path = out.join("policy.onnx");
    let manifest_path = out.join("policy.yaml");
    let decl = imported
        .manifest
        .model
        .as_mut()
        .expect("locomotion has a model");
    let (in_w, out_w) = (
        decl.inputs[0].shape[1] as usize,
        decl.outputs[0].shape[1] as usize,
    );
    let is_onnx = source.extension().is_some_and(|e| e == "onnx");
    let description = if is_onnx {
        let bytes = reflex_validate::read_bytes(&source, reflex_validate::FileKind::Model)?;
        let (input, output) = io_names(&source, &bytes)?;
        decl.inputs[0].name = input;
        decl.outputs[0].name = output;
        write(&onnx_path, &bytes)?;
        None
    } else {
        let (d, bytes) = convert_torchscript(&source)?;
        if d.policy.input_dim() != in_w || d.policy.output_dim() != out_w {
            return Err(ImportFailure::Mismatch(format!(
                "{}: the model takes {} and gives {} values; the config's observation layout gives {in_w} and it drives {out_w} joints",
                source.display(),
                d.policy.input_dim(),
                d.policy.output_dim()
            )));
        }
        write(&onnx_path, &bytes)?;
        Some(d)
    };
    let provenance = format!(
        "Written by `reflex import rl-sar` from {} (base {}), model {}.\n{}",
        config.display(),
        base.display(),
        source.display(),
        imported
            .notes
            .iter()
            .map(|n| format!("note: {n}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    write(
        &manifest_path,
        rl_sar::to_yaml(&imported.manifest, &provenance).as_bytes(),
    )?;
    // Check what was written as a run will: the manifest against the robot, the model's real
    // inputs and outputs against the manifest, the conversion against its source.
    let spec = reflex_hardware::catalogue::model(&imported.manifest.robot)
        .expect("checked by the mapping")
        .spec()
        .map_err(|e| ImportFailure::Mismatch(e.to_string()))?;
    let m = reflex_policies::manifest::Manifest::load(&manifest_path, &spec)?;
    let decl = m.decl.model.clone().expect("locomotion has a model");
    OnnxModel::load(&m, &decl, "model", &SessionOptions::default())?;
    let agreement = match &description {
        Some(d) => {
            let a = agreement(d, &onnx_path, 100)?;
            if a.max_abs_diff.is_nan() || a.max_abs_diff > TOLERANCE {
                return Err(ImportFailure::Mismatch(format!(
                    "{}: the conversion differs from the archive's own weights by {:.3e} (tolerance {TOLERANCE:e})",
                    onnx_path.display(),
                    a.max_abs_diff
                )));
            }
            Some(a)
        }
        None => None,
    };
    Ok(RlSarImport {
        manifest: manifest_path,
        model: onnx_path,
        notes: imported.notes,
        agreement,
    })
}

/// The names of an ONNX model's single input and output.
fn io_names(file: &Path, bytes: &[u8]) -> Result<(String, String), FileError> {
    use prost::Message;
    let refuse = |m: &str| FileError::Schema {
        file: file.to_path_buf(),
        message: m.to_string(),
    };
    let model = reflex_policies::onnx_proto::ModelProto::decode(bytes)
        .map_err(|e| refuse(&format!("not an ONNX model (protobuf: {e})")))?;
    let g = model
        .graph
        .ok_or_else(|| refuse("an ONNX model without a graph"))?;
    let init: std::collections::HashSet<&str> =
        g.initializer.iter().map(|t| t.name.as_str()).collect();
    let inputs: Vec<&str> = g
        .input
        .iter()
        .map(|v| v.name.as_str())
        .filter(|n| !init.contains(n))
        .collect();
    match (inputs.as_slice(), g.output.as_slice()) {
        ([i], [o]) => Ok((i.to_string(), o.name.clone())),
        _ => Err(refuse(&format!(
            "a policy with one input and one output, found {} inputs and {} outputs (recurrent policies with state inputs cannot be mapped)",
            inputs.len(),
            g.output.len()
        ))),
    }
}
