//! ONNX Runtime sessions through `ort` (dynamically loaded `libonnxruntime.so`).
//!
//! Library discovery, in order: the path given by the config, then `ORT_DYLIB_PATH`, then the
//! project's own install location (`.ort/libonnxruntime.so`, written by `./dev setup` from the
//! PyPI `onnxruntime` wheel). `ort` panics when its first call finds no library, so every path
//! here loads the library explicitly first and turns each failure into an error that says how to
//! provide it.
//!
//! Sessions run on the policy thread only: ONNX Runtime allocates inside every inference.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ort::environment::Environment;
use ort::ep::{self, ExecutionProvider};
use ort::memory::Allocator;
use ort::session::builder::{GraphOptimizationLevel, SessionBuilder};
use ort::session::{HasSelectedOutputs, OutputSelector, RunOptions, Session};
use ort::value::{Tensor, ValueType};

use crate::manifest::{Manifest, ModelDecl};

/// The file name the project installs the library under.
pub const PROJECT_LIBRARY: &str = ".ort/libonnxruntime.so";

/// Why ONNX Runtime or a model could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    /// No library was found where Reflex looks.
    #[error("ONNX Runtime library not found (looked at: {looked}). Provide it with one of: `./dev setup` (installs onnxruntime 1.32.0 from PyPI into {PROJECT_LIBRARY}); `export ORT_DYLIB_PATH=/path/to/libonnxruntime.so` (e.g. site-packages/onnxruntime/capi/libonnxruntime.so.1.32.0 of `pip install onnxruntime`); or `onnxruntime.library: /path/to/libonnxruntime.so` in the run config")]
    NotFound {
        /// Paths tried.
        looked: String,
    },
    /// The library exists but could not be loaded.
    #[error("ONNX Runtime library {path}: {reason}")]
    Load {
        /// The library path.
        path: PathBuf,
        /// What failed (dlopen message, missing symbol, version).
        reason: String,
    },
    /// The manifest (or Reflex's own check of the model file) refused it.
    #[error(transparent)]
    Manifest(#[from] reflex_validate::FileError),
    /// ONNX Runtime could not turn the model file into a session.
    #[error("{file}: ONNX Runtime refused the model: {reason}")]
    Model {
        /// The model file.
        file: PathBuf,
        /// ONNX Runtime's message (unsupported operator or opset, bad protobuf, ...).
        reason: String,
    },
    /// The model's inputs/outputs do not match what the manifest declares.
    #[error("{manifest}: field `{field}`: expected {expected} (as the model {model} has), found {found}")]
    Mismatch {
        /// The manifest.
        manifest: PathBuf,
        /// Dotted field path in the manifest.
        field: String,
        /// What the model has.
        expected: String,
        /// What the manifest says.
        found: String,
        /// The model file.
        model: PathBuf,
    },
    /// An inference failed.
    #[error("inference failed: {0}")]
    Run(String),
}

/// Execution providers, tried in the order given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// NVIDIA TensorRT (embedded GPUs: Jetson).
    Tensorrt,
    /// NVIDIA CUDA.
    Cuda,
    /// ONNX Runtime's CPU kernels (always available).
    Cpu,
}

/// Session options from the run config.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionOptions {
    /// Providers in order of preference; CPU is always the last resort.
    pub providers: Vec<Provider>,
    /// TensorRT: build fp16 engines.
    pub tensorrt_fp16: bool,
    /// TensorRT: cache built engines here (building takes minutes on a Jetson).
    pub tensorrt_engine_cache: Option<PathBuf>,
    /// Inferences run at load, before the loop starts.
    pub warmup_runs: usize,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            providers: vec![Provider::Cpu],
            tensorrt_fp16: false,
            tensorrt_engine_cache: None,
            warmup_runs: 10,
        }
    }
}

/// Which provider runs, and why the others do not.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct ProviderReport {
    /// Providers requested, in order.
    pub requested: Vec<Provider>,
    /// The provider that runs the model (the first one that registered).
    pub active: Option<Provider>,
    /// Providers that failed to register, with ONNX Runtime's reason.
    pub failed: Vec<(Provider, String)>,
}

struct Loaded {
    env: Environment,
    path: PathBuf,
}

static RUNTIME: OnceLock<Loaded> = OnceLock::new();
static INIT: Mutex<()> = Mutex::new(());

/// Where the library is looked for, in order.
pub fn candidate_paths(configured: Option<&Path>) -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(p) = configured {
        v.push(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        v.push(PathBuf::from(p));
    }
    v.push(PathBuf::from(PROJECT_LIBRARY));
    // A binary under target/{debug,release}/ finds the checkout's install too.
    if let Ok(exe) = std::env::current_exe() {
        for up in exe.ancestors().skip(1).take(4) {
            v.push(up.join(PROJECT_LIBRARY));
        }
    }
    v
}

/// Loads ONNX Runtime once per process (later calls return the same library). Never panics.
pub fn runtime(configured: Option<&Path>) -> Result<&'static Path, OnnxError> {
    if let Some(l) = RUNTIME.get() {
        return Ok(&l.path);
    }
    let _guard = INIT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(l) = RUNTIME.get() {
        return Ok(&l.path);
    }
    let candidates = candidate_paths(configured);
    // The first candidate that exists is the one used: a configured path that is missing is an
    // error, not a reason to silently pick another library.
    let path = match candidates.iter().find(|p| p.exists()) {
        Some(p) if configured.is_none() || Some(p.as_path()) == configured => p.clone(),
        _ if configured.is_some() => {
            return Err(OnnxError::Load {
                path: configured.map(Path::to_path_buf).unwrap_or_default(),
                reason: "file does not exist (set by `onnxruntime.library` in the run config)"
                    .into(),
            })
        }
        _ => {
            return Err(OnnxError::NotFound {
                looked: candidates
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
        }
    };
    let builder = match ort::init_from(&path) {
        Ok(b) => b,
        Err(ort::LoadDynamicError::Dlopen { error, .. }) => {
            let detail = std::error::Error::source(&error)
                .map(|s| s.to_string())
                .unwrap_or_default();
            return Err(OnnxError::Load {
                path,
                reason: format!("{error}: {detail}"),
            });
        }
        Err(e) => {
            return Err(OnnxError::Load {
                path,
                reason: e.to_string(),
            })
        }
    };
    let env = builder
        .with_name("reflex")
        .with_telemetry(false)
        .with_logger(std::sync::Arc::new(
            |lvl: ort::logging::LogLevel, cat: &str, _id: &str, _loc: &str, msg: &str| {
                if lvl >= ort::logging::LogLevel::Warning {
                    eprintln!("[onnxruntime {lvl:?} {cat}] {msg}");
                }
            },
        ))
        .build()
        .map_err(|e| OnnxError::Load {
            path: path.clone(),
            reason: e.to_string(),
        })?;
    let _ = RUNTIME.set(Loaded { env, path });
    Ok(&RUNTIME.get().expect("just set").path)
}

fn environment() -> Result<&'static Environment, OnnxError> {
    RUNTIME
        .get()
        .map(|l| &l.env)
        .ok_or_else(|| OnnxError::NotFound {
            looked: "ONNX Runtime was not initialised: call onnx::runtime() first".into(),
        })
}

fn register(
    builder: &mut SessionBuilder,
    p: Provider,
    opts: &SessionOptions,
) -> Result<(), String> {
    match p {
        Provider::Tensorrt => {
            let mut trt = ep::TensorRT::default()
                .with_device_id(0)
                .with_fp16(opts.tensorrt_fp16);
            if let Some(dir) = &opts.tensorrt_engine_cache {
                let d = dir.display().to_string();
                trt = trt
                    .with_engine_cache(true)
                    .with_engine_cache_path(d.clone())
                    .with_timing_cache(true)
                    .with_timing_cache_path(d);
            }
            trt.register(builder).map_err(|e| e.to_string())
        }
        Provider::Cuda => ep::CUDA::default()
            .with_device_id(0)
            .register(builder)
            .map_err(|e| e.to_string()),
        Provider::Cpu => ep::CPU::default()
            .register(builder)
            .map_err(|e| e.to_string()),
    }
}

/// One ONNX model with one input and one output, run with preallocated buffers.
pub struct OnnxModel {
    session: Session,
    input: Tensor<f32>,
    options: RunOptions<HasSelectedOutputs>,
    input_len: usize,
    output_shape: Vec<usize>,
    /// Which provider runs it.
    pub providers: ProviderReport,
    file: PathBuf,
}

/// Refuses a model whose initializers or constants hold NaN or infinity: ONNX Runtime loads such a
/// model happily and the robot would find out in the loop.
/// Reflex's own checks of a model file before ONNX Runtime sees it: a bounded read, a valid
/// ONNX protobuf with a graph, and finite weights (ONNX Runtime accepts NaN weights). Returns
/// the bytes the session is built from, so the file is read once.
fn read_checked_model(file: &Path) -> Result<Vec<u8>, reflex_validate::FileError> {
    use prost::Message;
    let bytes = reflex_validate::read_bytes(file, reflex_validate::FileKind::Model)?;
    let refuse = |reason: String| reflex_validate::FileError::Schema {
        file: file.to_path_buf(),
        message: reason,
    };
    let model = crate::onnx_proto::ModelProto::decode(bytes.as_slice())
        .map_err(|e| refuse(format!("not an ONNX model (protobuf: {e})")))?;
    let Some(graph) = model.graph else {
        return Err(refuse("an ONNX model without a graph".into()));
    };
    let constants = graph
        .node
        .iter()
        .filter(|n| n.op_type == "Constant")
        .flat_map(|n| {
            n.attribute.iter().filter_map(|a| {
                a.t.clone()
                    .map(|t| (n.output.first().cloned().unwrap_or_default(), t))
            })
        });
    let initializers = graph
        .initializer
        .iter()
        .map(|t| (t.name.clone(), t.clone()));
    for (name, t) in initializers.chain(constants) {
        if let Some(values) = t.to_f32() {
            if let Some(i) = values.iter().position(|v| !v.is_finite()) {
                return Err(refuse(format!(
                    "a non-finite weight: tensor `{name}` holds {} at index {i} (weights must be finite)",
                    values[i]
                )));
            }
        }
    }
    Ok(bytes)
}

fn tensor_dims(v: &ValueType) -> Option<Vec<i64>> {
    match v {
        ValueType::Tensor { shape, .. } => Some(shape.to_vec()),
        _ => None,
    }
}

fn open_session(
    file: &Path,
    opts: &SessionOptions,
) -> Result<(Session, ProviderReport), OnnxError> {
    let env = environment()?;
    let model_err = |reason: String| OnnxError::Model {
        file: file.to_path_buf(),
        reason,
    };
    let bytes = read_checked_model(file)?;
    let mut builder = Session::builder(env)
        .and_then(|b| {
            b.with_optimization_level(GraphOptimizationLevel::All)
                .map_err(Into::into)
        })
        .and_then(|b| b.with_intra_threads(1).map_err(Into::into))
        .and_then(|b| b.with_inter_threads(1).map_err(Into::into))
        // No spin-waiting: the policy thread shares its core with the wire's threads.
        .and_then(|b| b.with_intra_op_spinning(false).map_err(Into::into))
        .and_then(|b| b.with_inter_op_spinning(false).map_err(Into::into))
        .map_err(|e: ort::Error| model_err(e.to_string()))?;
    let mut report = ProviderReport {
        requested: opts.providers.clone(),
        ..Default::default()
    };
    for &p in &opts.providers {
        match register(&mut builder, p, opts) {
            Ok(()) => {
                report.active.get_or_insert(p);
            }
            Err(reason) => report.failed.push((p, reason)),
        }
    }
    // ONNX Runtime always keeps its CPU kernels as the last resort.
    report.active.get_or_insert(Provider::Cpu);
    let session = builder
        .commit_from_memory(&bytes)
        .map_err(|e| model_err(e.to_string()))?;
    Ok((session, report))
}

/// Preallocates the input and output tensors and runs the warm-up inferences.
fn finish(
    session: Session,
    file: PathBuf,
    in_shape: Vec<usize>,
    out_shape: Vec<usize>,
    out_name: String,
    report: ProviderReport,
    opts: &SessionOptions,
) -> Result<OnnxModel, OnnxError> {
    let model_err = |reason: String| OnnxError::Model {
        file: file.clone(),
        reason,
    };
    let alloc = Allocator::default();
    let input =
        Tensor::<f32>::new(&alloc, in_shape.clone()).map_err(|e| model_err(e.to_string()))?;
    let out_tensor =
        Tensor::<f32>::new(&alloc, out_shape.clone()).map_err(|e| model_err(e.to_string()))?;
    let options = RunOptions::new()
        .map_err(|e| model_err(e.to_string()))?
        .with_outputs(
            OutputSelector::no_default()
                .with(out_name.as_str())
                .preallocate(out_name.as_str(), out_tensor),
        );
    let mut model = OnnxModel {
        session,
        input,
        options,
        input_len: in_shape.iter().product(),
        output_shape: out_shape,
        providers: report,
        file: file.clone(),
    };
    let zeros_in = vec![0.0f32; model.input_len];
    let mut out = vec![0.0f32; model.output_len()];
    for _ in 0..opts.warmup_runs {
        model
            .run(&zeros_in, &mut out)
            .map_err(|e| model_err(format!("warm-up inference: {e}")))?;
    }
    Ok(model)
}

impl OnnxModel {
    /// Loads `decl` (a model section of `manifest`), checks its real input/output against the
    /// manifest, registers the providers and runs the warm-up inferences.
    pub fn load(
        manifest: &Manifest,
        decl: &ModelDecl,
        field: &str,
        opts: &SessionOptions,
    ) -> Result<OnnxModel, OnnxError> {
        let file = manifest.model_path(decl);
        let (session, report) = open_session(&file, opts)?;
        let mismatch = |field: String, expected: String, found: String| OnnxError::Mismatch {
            manifest: manifest.file.clone(),
            field,
            expected,
            found,
            model: file.clone(),
        };
        let (ins, outs) = (session.inputs(), session.outputs());
        if ins.len() != 1 || decl.inputs.len() != 1 {
            return Err(mismatch(
                format!("{field}.inputs"),
                format!("{} input(s)", ins.len()),
                format!("{} declared; Reflex feeds exactly one", decl.inputs.len()),
            ));
        }
        if outs.len() != 1 || decl.outputs.len() != 1 {
            return Err(mismatch(
                format!("{field}.outputs"),
                format!("{} output(s)", outs.len()),
                format!("{} declared; Reflex reads exactly one", decl.outputs.len()),
            ));
        }
        let mut shapes = Vec::new();
        for (kind, outlet, d) in [
            ("inputs", &ins[0], &decl.inputs[0]),
            ("outputs", &outs[0], &decl.outputs[0]),
        ] {
            if outlet.name() != d.name {
                return Err(mismatch(
                    format!("{field}.{kind}[0].name"),
                    format!("`{}`", outlet.name()),
                    format!("`{}`", d.name),
                ));
            }
            let model_dims = tensor_dims(outlet.dtype()).ok_or_else(|| {
                mismatch(
                    format!("{field}.{kind}[0]"),
                    "a float tensor".into(),
                    format!("{}", outlet.dtype()),
                )
            })?;
            if !matches!(
                outlet.dtype(),
                ValueType::Tensor {
                    ty: ort::value::TensorElementType::Float32,
                    ..
                }
            ) {
                return Err(mismatch(
                    format!("{field}.{kind}[0]"),
                    "a float32 tensor (Reflex feeds f32)".into(),
                    format!("{}", outlet.dtype()),
                ));
            }
            let ok = model_dims.len() == d.shape.len()
                && model_dims
                    .iter()
                    .zip(&d.shape)
                    .all(|(m, s)| *s > 0 && (*m == -1 || m == s));
            if !ok {
                return Err(mismatch(
                    format!("{field}.{kind}[0].shape"),
                    format!("{model_dims:?} (-1: any fixed size)"),
                    format!("{:?}", d.shape),
                ));
            }
            shapes.push(d.shape.iter().map(|v| *v as usize).collect::<Vec<usize>>());
        }
        let (in_shape, out_shape) = (shapes[0].clone(), shapes[1].clone());
        finish(
            session,
            file,
            in_shape,
            out_shape,
            decl.outputs[0].name.clone(),
            report,
            opts,
        )
    }

    /// Opens a model without a manifest (benchmarks, tools): one input and one output, shapes
    /// read from the model with dynamic dimensions taken as 1.
    pub fn open(file: &Path, opts: &SessionOptions) -> Result<OnnxModel, OnnxError> {
        let (session, report) = open_session(file, opts)?;
        let model_err = |reason: String| OnnxError::Model {
            file: file.to_path_buf(),
            reason,
        };
        let dims = |o: &ort::value::Outlet| -> Result<Vec<usize>, OnnxError> {
            tensor_dims(o.dtype())
                .map(|d| d.iter().map(|v| (*v).max(1) as usize).collect())
                .ok_or_else(|| model_err(format!("`{}` is not a tensor", o.name())))
        };
        let (ins, outs) = (session.inputs(), session.outputs());
        if ins.len() != 1 || outs.len() != 1 {
            return Err(model_err(format!(
                "{} inputs and {} outputs; Reflex runs one of each",
                ins.len(),
                outs.len()
            )));
        }
        let (in_shape, out_shape, out_name) =
            (dims(&ins[0])?, dims(&outs[0])?, outs[0].name().to_string());
        finish(
            session,
            file.to_path_buf(),
            in_shape,
            out_shape,
            out_name,
            report,
            opts,
        )
    }

    /// Values the input holds.
    pub fn input_len(&self) -> usize {
        self.input_len
    }

    /// Values the output holds.
    pub fn output_len(&self) -> usize {
        self.output_shape.iter().product()
    }

    /// The declared output shape.
    pub fn output_shape(&self) -> &[usize] {
        &self.output_shape
    }

    /// The model file.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// One inference: copies `input` into the session's input tensor and the result into
    /// `output`. Lengths must match [`Self::input_len`] / [`Self::output_len`].
    pub fn run(&mut self, input: &[f32], output: &mut [f32]) -> Result<(), OnnxError> {
        if input.len() != self.input_len || output.len() != self.output_len() {
            return Err(OnnxError::Run(format!(
                "buffers of {} / {} values for a model of {} / {}",
                input.len(),
                output.len(),
                self.input_len,
                self.output_len()
            )));
        }
        self.input.extract_tensor_mut().1.copy_from_slice(input);
        let outputs = self
            .session
            .run_with_options(ort::inputs![&self.input], &self.options)
            .map_err(|e| OnnxError::Run(e.to_string()))?;
        let (_, y) = outputs[0]
            .try_extract_tensor::<f32>()
            .map_err(|e| OnnxError::Run(e.to_string()))?;
        output.copy_from_slice(y);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_library_is_an_error_that_says_how_to_provide_it() {
        // Nothing in this test binary loads the library, so the configured path is tried.
        let err = runtime(Some(Path::new("/nonexistent/libonnxruntime.so"))).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("/nonexistent/libonnxruntime.so") && msg.contains("does not exist"),
            "{msg}"
        );
        let not_found = OnnxError::NotFound {
            looked: "a, b".into(),
        }
        .to_string();
        for hint in ["./dev setup", "ORT_DYLIB_PATH", "onnxruntime.library"] {
            assert!(not_found.contains(hint), "{not_found}");
        }
    }
}
