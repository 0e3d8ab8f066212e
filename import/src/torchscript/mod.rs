//! Reading a TorchScript archive (`torch.jit.save` zip) without torch, and recognising the
//! plain-MLP policy exporters Reflex can convert to ONNX:
//!
//! * legged_gym `export_policy_as_jit`: the scripted actor `nn.Sequential` (Linear/ELU) is the root;
//! * rsl_rl / IsaacLab `_TorchPolicyExporter`: `actor(normalizer(x))`, normalizer Identity or
//!   `EmpiricalNormalization` ((x - mean) / (std + eps));
//! * HIMLoco `PolicyExporterHIM`: estimator MLP on the observation history, its output sliced into
//!   velocity and an L2-normalised latent, concatenated with the current frame, fed to the actor.
//!
//! Nothing is taken from class names alone: the archive's own TorchScript `forward` code is parsed
//! and evaluated symbolically into a small op graph, and that graph must match one of the shapes.
//! Anything else is refused with an error that names the archive, the module and what was not
//! understood, and says how to export ONNX with torch instead.
//!
//! Layers: [`zip`] (stored + inflate), [`pickle`] (protocol-2 VM, persistent-id storages),
//! [`Archive`] (records, tensors), [`script`] (TorchScript subset parser), [`graph`] (symbolic
//! evaluation), [`recognise`], [`Policy::forward`] (reference forward in f64).

mod graph;
mod pickle;
mod script;
#[cfg(test)]
mod tests;
mod zip;

use std::fmt;
use std::path::Path;

// ============================================================================ errors

/// What kind of refusal an [`ImportError`] is.
#[derive(Debug, Clone, PartialEq)]
pub enum ErrorKind {
    /// The file cannot be read as a zip/pickle/TorchScript archive at all.
    Malformed,
    /// A well-formed archive that is not one of the plain MLP exporters.
    Refused,
    /// The file could not be read.
    Io,
}

/// Why an archive was not converted. The message names the archive and what was not
/// understood, and (for refusals) says how to export ONNX with torch instead.
#[derive(Debug, Clone)]
pub struct ImportError {
    /// The archive's path.
    pub archive: String,
    /// Malformed, refused or unreadable.
    pub kind: ErrorKind,
    /// What was not understood.
    pub what: String,
}

/// How to export ONNX with torch (ARCHIVE is replaced by the archive's path).
pub const ONNX_HINT: &str =
    "export ONNX with torch instead, e.g. `m = torch.jit.load(\"ARCHIVE\"); \
torch.onnx.export(m, torch.zeros(1, OBS_DIM), \"policy.onnx\", input_names=[\"obs\"], \
output_names=[\"actions\"], opset_version=17)` (OBS_DIM: the policy's observation width), \
then import the .onnx";

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ErrorKind::Io => write!(f, "{}: {}", self.archive, self.what),
            ErrorKind::Malformed => write!(
                f,
                "{}: not a TorchScript archive Reflex can read: {}; {}",
                self.archive,
                self.what,
                ONNX_HINT.replace("ARCHIVE", &self.archive)
            ),
            ErrorKind::Refused => write!(
                f,
                "{}: {}: Reflex converts only plain MLP exporters (legged_gym export_policy_as_jit, \
                 rsl_rl/IsaacLab _TorchPolicyExporter, HIMLoco PolicyExporterHIM); {}",
                self.archive,
                self.what,
                ONNX_HINT.replace("ARCHIVE", &self.archive)
            ),
        }
    }
}

impl std::error::Error for ImportError {}

/// Internal error: kind + message, the archive name is attached at the API boundary.
#[derive(Debug, Clone)]
pub struct E(pub ErrorKind, pub String);
type R<T> = Result<T, E>;

fn malformed<T>(s: impl Into<String>) -> R<T> {
    Err(E(ErrorKind::Malformed, s.into()))
}
fn refused<T>(s: impl Into<String>) -> R<T> {
    Err(E(ErrorKind::Refused, s.into()))
}

use pickle::{DType, TensorRef, Value};

// ============================================================================ archive + tensors

/// A dense row-major f32 tensor copied out of the archive.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorF32 {
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Values, row-major.
    pub data: Vec<f32>,
}

/// An opened archive: its records, pickled module tree and constants.
pub(crate) struct Archive {
    pub name: String,
    pub zip: zip::Zip,
    /// the top folder of every record (torch uses the file stem at save time, e.g. `policy`)
    pub prefix: String,
    pub root: Value,
    /// `constants.pkl` (an empty tuple for plain exporters).
    #[cfg_attr(not(test), allow(dead_code))]
    pub constants: Value,
    /// The archive's file-format version record.
    #[cfg_attr(not(test), allow(dead_code))]
    pub version: String,
}

impl Archive {
    pub fn open(path: &Path) -> Result<Archive, ImportError> {
        let name = path.display().to_string();
        let bytes = reflex_validate::read_bytes(path, reflex_validate::FileKind::TorchScript)
            .map_err(|e| ImportError {
                archive: name.clone(),
                kind: ErrorKind::Io,
                what: match e {
                    reflex_validate::FileError::Io { reason, .. } => reason,
                    other => other.to_string(),
                },
            })?;
        Archive::from_bytes(&name, bytes).map_err(|E(kind, what)| ImportError {
            archive: name.clone(),
            kind,
            what,
        })
    }

    pub fn from_bytes(name: &str, bytes: Vec<u8>) -> R<Archive> {
        let zip = zip::Zip::parse(bytes)?;
        let pk: Vec<&str> = zip
            .entries
            .iter()
            .map(|e| e.name.as_str())
            .filter(|n| n.ends_with("/data.pkl") && n.matches('/').count() == 1)
            .collect();
        let prefix = match pk.as_slice() {
            [one] => one.trim_end_matches("/data.pkl").to_string(),
            [] => {
                // a torch.save() state dict / checkpoint has archive/data.pkl too, but no code/
                return malformed(
                    "no <name>/data.pkl record (a zip file, but not written by torch)",
                );
            }
            _ => return malformed("several data.pkl records"),
        };
        let has_code = zip
            .entries
            .iter()
            .any(|e| e.name.starts_with(&format!("{prefix}/code/")));
        if !has_code {
            return refused(
                "the archive has no code/ folder: it is a torch.save() checkpoint or state dict (weights without a network), not a TorchScript module",
            );
        }
        // torch >= 2.1 writes <prefix>/byteorder ("little"); older archives are little-endian
        if let Ok(b) = zip.read(&format!("{prefix}/byteorder")) {
            if b.as_ref() != b"little" {
                return refused(format!(
                    "the archive's tensors are `{}`-endian",
                    String::from_utf8_lossy(&b)
                ));
            }
        }
        let root = pickle::load(&zip.read(&format!("{prefix}/data.pkl"))?)?;
        let constants = match zip.read(&format!("{prefix}/constants.pkl")) {
            Ok(b) => pickle::load(&b)?,
            Err(_) => Value::Tuple(vec![]),
        };
        let version = match zip.read(&format!("{prefix}/version")) {
            Ok(b) => String::from_utf8_lossy(&b).trim().to_string(),
            Err(_) => String::new(),
        };
        Ok(Archive {
            name: name.to_string(),
            zip,
            prefix,
            root,
            constants,
            version,
        })
    }

    pub fn record(&self, rel: &str) -> R<std::borrow::Cow<'_, [u8]>> {
        self.zip.read(&format!("{}/{}", self.prefix, rel))
    }

    /// Copies a float32 tensor out of its storage record, honouring offset and strides
    /// (any strides, including transposed or overlapping views).
    pub fn tensor_f32(&self, t: &TensorRef, what: &str) -> R<TensorF32> {
        if t.storage.dtype != DType::F32 {
            return refused(format!(
                "tensor `{what}` is {:?}, only float32 weights are converted",
                t.storage.dtype
            ));
        }
        let raw = self.record(&format!("data/{}", t.storage.key))?;
        if raw.len() as u64 != t.storage.numel * 4 {
            return malformed(format!(
                "storage {} holds {} bytes, expected {} float32",
                t.storage.key,
                raw.len(),
                t.storage.numel
            ));
        }
        if t.size.len() != t.stride.len() {
            return malformed(format!("tensor `{what}`: size and stride ranks differ"));
        }
        let numel: u64 = t.size.iter().product();
        if numel > 0 {
            let last = t.offset
                + t.size
                    .iter()
                    .zip(&t.stride)
                    .map(|(s, st)| (s - 1) * st)
                    .sum::<u64>();
            if last >= t.storage.numel {
                return malformed(format!(
                    "tensor `{what}` reads past the end of storage {}",
                    t.storage.key
                ));
            }
        }
        let mut data = Vec::with_capacity(numel as usize);
        let mut idx = vec![0u64; t.size.len()];
        for _ in 0..numel {
            let e = t.offset + idx.iter().zip(&t.stride).map(|(i, s)| i * s).sum::<u64>();
            let b = &raw[(e * 4) as usize..(e * 4 + 4) as usize];
            data.push(f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
            for d in (0..idx.len()).rev() {
                idx[d] += 1;
                if idx[d] < t.size[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        Ok(TensorF32 {
            shape: t.size.iter().map(|&s| s as usize).collect(),
            data,
        })
    }

    /// All `code/**.py` records parsed (class and function definitions by qualified name).
    pub fn code(&self) -> R<script::Code> {
        let mut code = script::Code::default();
        let pre = format!("{}/code/", self.prefix);
        for e in &self.zip.entries {
            if let Some(rel) = e.name.strip_prefix(&pre) {
                if let Some(module) = rel.strip_suffix(".py") {
                    let text = self.zip.read(&e.name)?;
                    let text = String::from_utf8_lossy(&text).into_owned();
                    code.add_file(&module.replace('/', "."), &text)
                        .map_err(|m| E(ErrorKind::Malformed, format!("{}: {m}", e.name)))?;
                }
            }
        }
        Ok(code)
    }

    /// Module tree: (path, class) for every scripted object, depth first, attribute order.
    #[cfg(test)]
    pub fn modules(&self) -> Vec<(String, String)> {
        fn walk(v: &Value, path: &str, out: &mut Vec<(String, String)>) {
            if let Some(c) = v.class() {
                out.push((path.to_string(), c.to_string()));
                for (k, child) in v.attrs() {
                    walk(child, &format!("{path}.{k}"), out);
                }
            }
        }
        let mut out = vec![];
        walk(&self.root, &self.prefix, &mut out);
        out
    }

    /// Every tensor in the module tree: (path, TensorRef).
    #[cfg(test)]
    pub fn tensors(&self) -> Vec<(String, TensorRef)> {
        fn walk(v: &Value, path: &str, out: &mut Vec<(String, TensorRef)>) {
            for (k, child) in v.attrs() {
                let p = format!("{path}.{k}");
                match child {
                    Value::Tensor(t) => out.push((p, t.clone())),
                    Value::Object { .. } => walk(child, &p, out),
                    _ => {}
                }
            }
        }
        let mut out = vec![];
        walk(&self.root, &self.prefix, &mut out);
        out
    }
}

// ============================================================================ recognition

use graph::Node;

/// One layer of a plain MLP.
#[derive(Debug, Clone, PartialEq)]
pub enum Layer {
    /// y = x Wᵀ + b.
    Linear {
        /// Weights `[out, in]`.
        w: TensorF32,
        /// Bias `[out]`.
        b: Vec<f32>,
    },
    /// ELU with `alpha`.
    Elu {
        /// The ELU's alpha.
        alpha: f64,
    },
}

/// (x - mean) / (std + eps), rsl_rl EmpiricalNormalization
#[derive(Debug, Clone, PartialEq)]
pub struct Normalizer {
    /// Per-input mean.
    pub mean: Vec<f32>,
    /// Per-input standard deviation.
    pub std: Vec<f32>,
    /// Added to the standard deviation.
    pub eps: f64,
}

/// One piece of the actor input in HIMLoco's glue (concatenated in order along the features).
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    /// obs[:, start..end] (the current frame)
    Obs {
        /// First element.
        start: usize,
        /// One past the last.
        end: usize,
    },
    /// estimator_output[:, start..end] (the velocity)
    Est {
        /// First element.
        start: usize,
        /// One past the last.
        end: usize,
    },
    /// x / max(||x||_2, eps) of estimator_output[:, start..end] (the latent; F.normalize)
    EstL2Normalized {
        /// First element.
        start: usize,
        /// One past the last.
        end: usize,
        /// Smallest norm divided by.
        eps: f64,
    },
}

/// Which exporter made the archive.
#[derive(Debug, Clone, PartialEq)]
pub enum Exporter {
    /// legged_gym export_policy_as_jit: scripted actor Sequential
    LeggedGymSequential,
    /// rsl_rl / IsaacLab _TorchPolicyExporter
    RslRlPolicyExporter,
    /// HIMLoco PolicyExporterHIM
    HimLoco,
}

/// The network an archive holds, as Reflex understands it.
#[derive(Debug, Clone, PartialEq)]
pub enum Policy {
    /// A plain MLP, optionally on normalised inputs.
    Mlp {
        /// Input width.
        input_dim: usize,
        /// Input normalisation baked into the export.
        normalizer: Option<Normalizer>,
        /// The layers in order.
        layers: Vec<Layer>,
    },
    /// HIMLoco: an estimator MLP on the observation history, glued with the current frame into
    /// the actor's input.
    Him {
        /// Input width (the stacked history).
        input_dim: usize,
        /// The estimator's layers.
        estimator: Vec<Layer>,
        /// The actor's layers.
        actor: Vec<Layer>,
        /// The actor's input, piece by piece.
        glue: Vec<Piece>,
    },
}

/// A recognised archive.
#[derive(Debug, Clone)]
pub struct Description {
    /// The archive's path.
    pub archive: String,
    /// The pickled root module's class.
    pub root_class: String,
    /// Which exporter made it.
    pub exporter: Exporter,
    /// The network.
    pub policy: Policy,
}

fn class_base(q: &str) -> String {
    // __torch__.torch.nn.modules.linear.___torch_mangle_3.Linear -> torch.nn.modules.linear.Linear
    let s = q.strip_prefix("__torch__.").unwrap_or(q);
    s.split('.')
        .filter(|p| !p.starts_with("___torch_mangle_"))
        .collect::<Vec<_>>()
        .join(".")
}

struct Matcher<'g> {
    g: &'g graph::Graph,
}

impl<'g> Matcher<'g> {
    fn node(&self, i: usize) -> &'g Node {
        &self.g.nodes[i]
    }
    fn konst(&self, i: usize) -> Option<&'g TensorF32> {
        match self.node(i) {
            Node::Const { t, .. } => Some(t),
            _ => None,
        }
    }
    fn scalar(&self, i: usize) -> Option<f64> {
        match self.node(i) {
            Node::Scalar(s) => Some(*s),
            _ => None,
        }
    }
    /// walks back a chain of Linear/ELU from `out`; returns (layers in forward order, base node)
    fn mlp(&self, out: usize) -> R<(Vec<Layer>, usize)> {
        let mut layers = vec![];
        let mut cur = out;
        loop {
            match self.node(cur) {
                Node::Linear { x, w, b } => {
                    let w = self.konst(*w).unwrap().clone();
                    if w.shape.len() != 2 {
                        return refused(format!("linear weight of shape {:?}", w.shape));
                    }
                    let b = match b {
                        Some(b) => self.konst(*b).unwrap().data.clone(),
                        None => vec![0.0; w.shape[0]],
                    };
                    if b.len() != w.shape[0] {
                        return refused(format!(
                            "linear bias of {} for weight {:?}",
                            b.len(),
                            w.shape
                        ));
                    }
                    layers.push(Layer::Linear { w, b });
                    cur = *x;
                }
                Node::Elu { x, alpha } => {
                    layers.push(Layer::Elu { alpha: *alpha });
                    cur = *x;
                }
                _ => break,
            }
        }
        layers.reverse();
        if !matches!(layers.first(), Some(Layer::Linear { .. })) {
            return refused("the network does not start with a Linear layer");
        }
        // widths must chain
        let mut width: Option<usize> = None;
        for l in &layers {
            if let Layer::Linear { w, .. } = l {
                if let Some(wd) = width {
                    if wd != w.shape[1] {
                        return refused(format!(
                            "linear layer expects {} inputs but gets {}",
                            w.shape[1], wd
                        ));
                    }
                }
                width = Some(w.shape[0]);
            }
        }
        Ok((layers, cur))
    }
    fn dim1(&self, d: i64) -> bool {
        d == 1 || d == -1
    }
    /// obs[:, s..e] (possibly a chain of slices) -> (s, e_or_None)
    fn range_of(&self, mut i: usize, base: usize) -> Option<(usize, Option<usize>)> {
        let (mut s, mut e): (usize, Option<usize>) = (0, None);
        let mut chain = vec![];
        while i != base {
            match self.node(i) {
                Node::Slice {
                    x,
                    dim,
                    start,
                    end,
                    step: 1,
                } if self.dim1(*dim) => {
                    chain.push((*start as usize, end.map(|v| v as usize)));
                    i = *x;
                }
                _ => return None,
            }
        }
        for (a, b) in chain.into_iter().rev() {
            let ns = s + a;
            let ne = match (b, e) {
                (Some(b), Some(e)) => Some((s + b).min(e)),
                (Some(b), None) => Some(s + b),
                (None, e) => e,
            };
            s = ns;
            e = ne;
        }
        Some((s, e))
    }
    /// F.normalize(z, p=2, dim=-1, eps): div(z, expand_as(clamp_min(norm(z, 2, [dim], True), eps), z))
    fn l2norm(&self, i: usize) -> Option<(usize, f64)> {
        if let Node::Div { a: z, b } = self.node(i) {
            if let Node::ExpandAs { x, like } = self.node(*b) {
                if like != z {
                    return None;
                }
                if let Node::ClampMin { x: n, min } = self.node(*x) {
                    if let Node::Norm {
                        x: z2,
                        p,
                        dims,
                        keepdim: true,
                    } = self.node(*n)
                    {
                        if z2 == z && *p == 2.0 && dims.len() == 1 && self.dim1(dims[0]) {
                            return Some((*z, *min));
                        }
                    }
                }
            }
        }
        None
    }
    fn normalizer(&self, i: usize) -> Option<Normalizer> {
        // div(sub(x, mean), add(std, eps))
        if let Node::Div { a, b } = self.node(i) {
            if let (
                Node::Sub { a: x, b: m, alpha },
                Node::Add {
                    a: s,
                    b: e,
                    alpha: alpha2,
                },
            ) = (self.node(*a), self.node(*b))
            {
                if *x == 0 && *alpha == 1.0 && *alpha2 == 1.0 {
                    let (mean, std, eps) = (self.konst(*m)?, self.konst(*s)?, self.scalar(*e)?);
                    let ok = |t: &TensorF32| {
                        t.shape.len() <= 2 && (t.shape.len() < 2 || t.shape[0] == 1)
                    };
                    if ok(mean) && ok(std) && mean.data.len() == std.data.len() {
                        return Some(Normalizer {
                            mean: mean.data.clone(),
                            std: std.data.clone(),
                            eps,
                        });
                    }
                }
            }
        }
        None
    }
}

fn node_kind(n: &Node) -> &'static str {
    match n {
        Node::Input => "input",
        Node::Const { .. } => "parameter",
        Node::Scalar(_) => "scalar",
        Node::Linear { .. } => "linear",
        Node::Elu { .. } => "elu",
        Node::Slice { .. } => "slice",
        Node::Cat { .. } => "cat",
        Node::Norm { .. } => "norm",
        Node::ClampMin { .. } => "clamp_min",
        Node::ExpandAs { .. } => "expand_as",
        Node::Add { .. } => "add",
        Node::Sub { .. } => "sub",
        Node::Mul { .. } => "mul",
        Node::Div { .. } => "div",
    }
}

fn first_in(layers: &[Layer]) -> usize {
    match layers.first() {
        Some(Layer::Linear { w, .. }) => w.shape[1],
        _ => 0,
    }
}
fn last_out(layers: &[Layer]) -> usize {
    layers
        .iter()
        .rev()
        .find_map(|l| {
            if let Layer::Linear { w, .. } = l {
                Some(w.shape[0])
            } else {
                None
            }
        })
        .unwrap_or(0)
}

/// Decides which exporter shape the archive's forward computes.
pub(crate) fn recognise(ar: &Archive) -> R<Description> {
    let root_class = ar.root.class().unwrap_or("?").to_string();
    let base = class_base(&root_class);
    let exporter = if base == "torch.nn.modules.container.Sequential"
        || (base.starts_with("rsl_rl.") && base.ends_with(".MLP"))
    {
        Exporter::LeggedGymSequential
    } else if base.ends_with("._TorchPolicyExporter") || base.ends_with("._TorchMLPModel") {
        // _TorchMLPModel: rsl_rl >= 4 `MLPModel.as_jit()` (obs_normalizer + mlp); no sample archive yet
        Exporter::RslRlPolicyExporter
    } else if base.ends_with(".PolicyExporterHIM") {
        Exporter::HimLoco
    } else {
        return refused(format!(
            "module `{}` of type `{root_class}` is not a plain MLP exporter (expected an nn.Sequential actor, _TorchPolicyExporter or PolicyExporterHIM)",
            ar.prefix
        ));
    };
    let code = ar.code()?;
    let g = graph::build(ar, &code)?;
    let m = Matcher { g: &g };
    let not_shape = |why: &str| -> R<Description> {
        refused(format!(
            "module `{}` of type `{root_class}`: its forward is not the {:?} shape: {why}",
            ar.prefix, exporter
        ))
    };
    let (layers, base_node) = match m.mlp(g.output) {
        Ok(x) => x,
        Err(E(_, why)) => {
            return not_shape(&format!(
                "the output is not computed by a Linear/ELU stack ({why})"
            ))
        }
    };
    let policy = match exporter {
        Exporter::LeggedGymSequential | Exporter::RslRlPolicyExporter => {
            let normalizer = if base_node == 0 {
                None
            } else if let Some(n) = m.normalizer(base_node) {
                Some(n)
            } else {
                return not_shape(
                    "the MLP input is neither the observation nor (obs - mean) / (std + eps)",
                );
            };
            if exporter == Exporter::LeggedGymSequential && normalizer.is_some() {
                return not_shape("a bare Sequential with a normaliser");
            }
            let input_dim = first_in(&layers);
            if let Some(n) = &normalizer {
                if n.mean.len() != input_dim {
                    return not_shape(&format!(
                        "normaliser of {} values before a {}-input layer",
                        n.mean.len(),
                        input_dim
                    ));
                }
            }
            Policy::Mlp {
                input_dim,
                normalizer,
                layers,
            }
        }
        Exporter::HimLoco => {
            let xs = match m.node(base_node) {
                Node::Cat { xs, dim } if m.dim1(*dim) => xs.clone(),
                _ => return not_shape("the actor input is not a concatenation along the features"),
            };
            let mut est: Option<(Vec<Layer>, usize)> = None; // (layers, est output node)
            let mut pieces = vec![];
            // find the estimator: the Linear/ELU stack on the observation under the slices
            fn under_slices(m: &Matcher, mut i: usize) -> usize {
                while let Node::Slice { x, .. } = m.node(i) {
                    i = *x;
                }
                i
            }
            for (k, &x) in xs.iter().enumerate() {
                let (target, eps) = match m.l2norm(x) {
                    Some((z, eps)) => (z, Some(eps)),
                    None => (x, None),
                };
                let root = under_slices(&m, target);
                if root == 0 {
                    if eps.is_some() {
                        return not_shape("normalises observation values");
                    }
                    match m.range_of(target, 0) {
                        Some((s, e)) => pieces.push((0usize, s, e, None)),
                        None => return not_shape("observation piece is not a plain slice"),
                    }
                    continue;
                }
                let (el, eb) = match m.mlp(root) {
                    Ok(v) => v,
                    Err(_) => {
                        return not_shape(&format!(
                            "piece {} of the actor input (a `{}` node) is neither an observation slice, an estimator output slice, \
                             nor F.normalize(p=2, dim=-1) of one, i.e. x / max(||x||, eps)",
                            k + 1,
                            node_kind(m.node(x))
                        ))
                    }
                };
                if eb != 0 {
                    return not_shape("the estimator does not read the observation directly");
                }
                match &est {
                    Some((_, r)) if *r != root => return not_shape("two different estimators"),
                    None => est = Some((el, root)),
                    _ => {}
                }
                match m.range_of(target, root) {
                    Some((s, e)) => pieces.push((1, s, e, eps)),
                    None => return not_shape("estimator piece is not a plain slice"),
                }
            }
            let (estimator, _) = match est {
                Some(e) => e,
                None => return not_shape("no estimator output in the actor input"),
            };
            let input_dim = first_in(&estimator);
            let est_out = last_out(&estimator);
            let mut glue = vec![];
            let mut width = 0;
            for (src, s, e, eps) in pieces {
                let lim = if src == 0 { input_dim } else { est_out };
                let e = e.unwrap_or(lim).min(lim);
                if s >= e {
                    return not_shape("an empty slice");
                }
                width += e - s;
                glue.push(match (src, eps) {
                    (0, _) => Piece::Obs { start: s, end: e },
                    (_, None) => Piece::Est { start: s, end: e },
                    (_, Some(eps)) => Piece::EstL2Normalized {
                        start: s,
                        end: e,
                        eps,
                    },
                });
            }
            if width != first_in(&layers) {
                return not_shape(&format!(
                    "the actor takes {} inputs but the glue gives {}",
                    first_in(&layers),
                    width
                ));
            }
            Policy::Him {
                input_dim,
                estimator,
                actor: layers,
                glue,
            }
        }
    };
    Ok(Description {
        archive: ar.name.clone(),
        root_class,
        exporter,
        policy,
    })
}

/// Opens, reads and recognises an archive: the entry point for `reflex import`.
pub fn describe(path: &Path) -> Result<Description, ImportError> {
    let ar = Archive::open(path)?;
    recognise(&ar).map_err(|E(kind, what)| ImportError {
        archive: ar.name.clone(),
        kind,
        what,
    })
}

// ============================================================================ reference forward

/// The arithmetic a reference forward runs in: f64 (exact-ish) or f32 (what torch computes).
trait Scalar:
    Copy
    + std::ops::Add<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Div<Output = Self>
    + PartialOrd
{
    fn of(v: f64) -> Self;
    fn exp_m1(self) -> Self;
    fn sqrt(self) -> Self;
}

impl Scalar for f64 {
    fn of(v: f64) -> Self {
        v
    }
    fn exp_m1(self) -> Self {
        f64::exp_m1(self)
    }
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }
}

impl Scalar for f32 {
    fn of(v: f64) -> Self {
        v as f32
    }
    fn exp_m1(self) -> Self {
        f32::exp_m1(self)
    }
    fn sqrt(self) -> Self {
        f32::sqrt(self)
    }
}

fn mlp_forward<T: Scalar>(layers: &[Layer], mut x: Vec<T>) -> Vec<T> {
    for l in layers {
        match l {
            Layer::Linear { w, b } => {
                let n = w.shape[1];
                x = w
                    .data
                    .chunks_exact(n)
                    .zip(b)
                    .map(|(row, bias)| {
                        row.iter()
                            .zip(&x)
                            .fold(T::of(*bias as f64), |s, (wij, xj)| {
                                s + T::of(*wij as f64) * *xj
                            })
                    })
                    .collect();
            }
            Layer::Elu { alpha } => {
                for v in x.iter_mut() {
                    if *v <= T::of(0.0) {
                        *v = T::of(*alpha) * v.exp_m1();
                    }
                }
            }
        }
    }
    x
}

fn policy_forward<T: Scalar>(p: &Policy, obs: &[T]) -> Vec<T> {
    assert_eq!(obs.len(), p.input_dim(), "observation width");
    match p {
        Policy::Mlp {
            normalizer, layers, ..
        } => {
            let mut x = obs.to_vec();
            if let Some(n) = normalizer {
                for (i, v) in x.iter_mut().enumerate() {
                    *v = (*v - T::of(n.mean[i] as f64)) / (T::of(n.std[i] as f64) + T::of(n.eps));
                }
            }
            mlp_forward(layers, x)
        }
        Policy::Him {
            estimator,
            actor,
            glue,
            ..
        } => {
            let e = mlp_forward(estimator, obs.to_vec());
            let mut a = vec![];
            for piece in glue {
                match *piece {
                    Piece::Obs { start, end } => a.extend_from_slice(&obs[start..end]),
                    Piece::Est { start, end } => a.extend_from_slice(&e[start..end]),
                    Piece::EstL2Normalized { start, end, eps } => {
                        let z = &e[start..end];
                        let mut n = z.iter().fold(T::of(0.0), |acc, v| acc + *v * *v).sqrt();
                        if n < T::of(eps) {
                            n = T::of(eps);
                        }
                        a.extend(z.iter().map(|v| *v / n));
                    }
                }
            }
            mlp_forward(actor, a)
        }
    }
}

impl Policy {
    /// Input width.
    pub fn input_dim(&self) -> usize {
        match self {
            Policy::Mlp { input_dim, .. } | Policy::Him { input_dim, .. } => *input_dim,
        }
    }
    /// Output width.
    pub fn output_dim(&self) -> usize {
        match self {
            Policy::Mlp { layers, .. } => last_out(layers),
            Policy::Him { actor, .. } => last_out(actor),
        }
    }
    /// One observation row in, one action row out, computed in f64 from the f32 weights
    /// (panics if `obs` is not [`Self::input_dim`] wide).
    pub fn forward(&self, obs: &[f64]) -> Vec<f64> {
        policy_forward(self, obs)
    }

    /// The same in f32, the arithmetic torch itself runs the archive in.
    pub fn forward_f32(&self, obs: &[f32]) -> Vec<f32> {
        policy_forward(self, obs)
    }
}

impl fmt::Display for Description {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn layers(f: &mut fmt::Formatter<'_>, name: &str, ls: &[Layer]) -> fmt::Result {
            write!(f, "  {name}:")?;
            for l in ls {
                match l {
                    Layer::Linear { w, .. } => write!(f, " Linear[{}x{}]", w.shape[0], w.shape[1])?,
                    Layer::Elu { alpha } => write!(f, " ELU({alpha})")?,
                }
            }
            writeln!(f)
        }
        writeln!(
            f,
            "{}: {:?} (root `{}`)",
            self.archive, self.exporter, self.root_class
        )?;
        match &self.policy {
            Policy::Mlp {
                input_dim,
                normalizer,
                layers: ls,
            } => {
                writeln!(
                    f,
                    "  input {input_dim}, output {}",
                    self.policy.output_dim()
                )?;
                if let Some(n) = normalizer {
                    writeln!(
                        f,
                        "  normaliser: (x - mean[{}]) / (std[{}] + {})",
                        n.mean.len(),
                        n.std.len(),
                        n.eps
                    )?;
                }
                layers(f, "layers", ls)
            }
            Policy::Him {
                input_dim,
                estimator,
                actor,
                glue,
            } => {
                writeln!(
                    f,
                    "  input {input_dim}, output {}",
                    self.policy.output_dim()
                )?;
                layers(f, "estimator", estimator)?;
                writeln!(f, "  actor input = cat({glue:?})")?;
                layers(f, "actor", actor)
            }
        }
    }
}

/// Convenience for tooling: tensor map path -> shape of every tensor in the tree.
#[cfg(test)]
pub(crate) fn tensor_shapes(ar: &Archive) -> std::collections::HashMap<String, Vec<u64>> {
    ar.tensors().into_iter().map(|(p, t)| (p, t.size)).collect()
}
