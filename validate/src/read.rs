//! Reading user files within bounds: regular files only, a size limit per kind of file checked
//! before reading (and enforced while reading, for files whose size the OS does not know), UTF-8
//! text, and YAML that is pre-scanned before the parser sees it.

use std::io::Read;
use std::path::Path;

use serde::de::DeserializeOwned;

use crate::FileError;

/// The kinds of file Reflex reads, each with its size limit and how to recognise it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A run config (`launch/config/*.yaml`).
    RunConfig,
    /// A model manifest (`policy.yaml` beside the `.onnx`).
    Manifest,
    /// A certified-fallback manifest (`fallback.yaml`).
    FallbackManifest,
    /// An ONNX model.
    Model,
    /// A deployment config from another tool (rl_sar `config.yaml` / `base.yaml`).
    ForeignConfig,
    /// A TorchScript archive.
    TorchScript,
}

impl FileKind {
    /// What the kind is called in messages.
    pub fn name(self) -> &'static str {
        match self {
            FileKind::RunConfig => "run config",
            FileKind::Manifest => "model manifest",
            FileKind::FallbackManifest => "fallback manifest",
            FileKind::Model => "ONNX model",
            FileKind::ForeignConfig => "deployment config",
            FileKind::TorchScript => "TorchScript archive",
        }
    }

    /// The name with its indefinite article (`a run config`, `an ONNX model`).
    pub fn a_name(self) -> String {
        let n = self.name();
        let article = if n.starts_with(['a', 'e', 'i', 'o', 'u', 'O']) {
            "an"
        } else {
            "a"
        };
        format!("{article} {n}")
    }

    /// Largest file of this kind Reflex reads (bytes).
    pub fn max_bytes(self) -> u64 {
        match self {
            FileKind::RunConfig
            | FileKind::Manifest
            | FileKind::FallbackManifest
            | FileKind::ForeignConfig => 1 << 20,
            FileKind::Model | FileKind::TorchScript => 1 << 30,
        }
    }

    /// Top-level keys only files of this kind have (to name the wrong kind of file).
    fn signature(self) -> &'static [&'static str] {
        match self {
            FileKind::RunConfig => &["rates", "controller"],
            FileKind::Manifest => &["policy_hz", "observation"],
            FileKind::FallbackManifest => &["lipschitz_bound", "reference_pose_rad"],
            _ => &[],
        }
    }
}

fn io(file: &Path, reason: impl Into<String>) -> FileError {
    FileError::Io {
        file: file.to_path_buf(),
        reason: reason.into(),
    }
}

/// Reads a file of `kind` as bytes: only a regular file (after following links), at most the
/// kind's size limit. The OS error, if any, is reported once.
pub fn read_bytes(path: &Path, kind: FileKind) -> Result<Vec<u8>, FileError> {
    let meta = std::fs::metadata(path).map_err(|e| io(path, os_error(&e)))?;
    if !meta.is_file() {
        let what = if meta.is_dir() {
            "a directory"
        } else {
            "not a regular file (a device, pipe or socket)"
        };
        return Err(io(
            path,
            format!("expected {} file, found {what}", kind.a_name()),
        ));
    }
    let limit = kind.max_bytes();
    if meta.len() > limit {
        return Err(io(
            path,
            format!(
                "{} bytes is more than the {} limit of {} bytes",
                meta.len(),
                kind.name(),
                limit
            ),
        ));
    }
    let f = std::fs::File::open(path).map_err(|e| io(path, os_error(&e)))?;
    let mut buf = Vec::with_capacity(meta.len() as usize);
    f.take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|e| io(path, os_error(&e)))?;
    if buf.len() as u64 > limit {
        return Err(io(
            path,
            format!("more than the {} limit of {} bytes", kind.name(), limit),
        ));
    }
    Ok(buf)
}

/// Reads a text file of `kind` (see [`read_bytes`]); it must be UTF-8.
pub fn read_text(path: &Path, kind: FileKind) -> Result<String, FileError> {
    let bytes = read_bytes(path, kind)?;
    String::from_utf8(bytes).map_err(|e| {
        io(
            path,
            format!(
                "expected {} (UTF-8 text), found binary data (invalid UTF-8 at byte {})",
                kind.a_name(),
                e.utf8_error().valid_up_to()
            ),
        )
    })
}

/// The OS error's own text, without the `(os error N)` suffix Rust appends.
fn os_error(e: &std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::NotFound {
        return "the file does not exist".into();
    }
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Reads and parses a YAML file of `kind` into `T` (strict: unknown fields are the type's own
/// business, `deny_unknown_fields`). See [`parse_yaml`].
pub fn load_yaml<T: DeserializeOwned>(path: &Path, kind: FileKind) -> Result<T, FileError> {
    let text = read_text(path, kind)?;
    parse_yaml(path, &text, kind)
}

/// Deepest nesting accepted (block indentation levels, sequence entries and flow brackets).
pub const MAX_YAML_DEPTH: usize = 32;

/// Parses YAML text of `kind` (`path` for messages). Before the parser runs, the text is scanned
/// in one pass: tabs in indentation, anchors and aliases (no Reflex file needs them, and aliases
/// are how a small file expands into a huge one) and nesting deeper than [`MAX_YAML_DEPTH`] are
/// refused with the line. Parser errors that name the wrong kind of file are said so.
pub fn parse_yaml<T: DeserializeOwned>(
    path: &Path,
    text: &str,
    kind: FileKind,
) -> Result<T, FileError> {
    let schema = |message: String| FileError::Schema {
        file: path.to_path_buf(),
        message,
    };
    scan_yaml(text).map_err(schema)?;
    // Typed maps keep the last of two equal keys; a generic parse refuses them, so a joint named
    // twice (or any repeated field) is an error, not a silent overwrite.
    if let Err(e) = serde_norway::from_str::<serde_norway::Value>(text) {
        let msg = e.to_string();
        if msg.contains("duplicate entry") {
            return Err(schema(msg.replacen(
                "duplicate entry",
                "a key given twice (each may appear once):",
                1,
            )));
        }
    }
    serde_norway::from_str(text).map_err(|e| {
        let msg = e.to_string();
        match other_kind(text, kind) {
            Some((other, keys)) => schema(format!(
                "this is a {} (it has {}), not a {}: {msg}",
                other.name(),
                keys,
                kind.name()
            )),
            None => schema(msg),
        }
    })
}

fn other_kind(text: &str, kind: FileKind) -> Option<(FileKind, String)> {
    let v: serde_norway::Value = serde_norway::from_str(text).ok()?;
    let map = v.as_mapping()?;
    let has = |k: &str| map.contains_key(serde_norway::Value::String(k.into()));
    [
        FileKind::RunConfig,
        FileKind::Manifest,
        FileKind::FallbackManifest,
    ]
    .into_iter()
    .filter(|k| *k != kind)
    .find(|k| k.signature().iter().all(|s| has(s)))
    .map(|k| {
        let keys = k
            .signature()
            .iter()
            .map(|s| format!("`{s}`"))
            .collect::<Vec<_>>()
            .join(" and ");
        (k, keys)
    })
}

/// One pass over YAML text: tabs in indentation, anchors/aliases, nesting depth.
pub fn scan_yaml(text: &str) -> Result<(), String> {
    let mut indents: Vec<usize> = Vec::new();
    let mut flow = 0usize;
    let mut block_scalar: Option<usize> = None;
    let mut quote: Option<char> = None;
    for (n, line) in text.lines().enumerate() {
        let lineno = n + 1;
        let content = line.trim_start_matches(' ');
        let indent = line.len() - content.len();
        if let Some(min) = block_scalar {
            if content.is_empty() || indent > min {
                continue;
            }
            block_scalar = None;
        }
        if quote.is_none() {
            if content.starts_with('\t') {
                return Err(format!(
                    "line {lineno}: a tab character in the indentation: YAML indents with spaces only"
                ));
            }
            if content.is_empty() || content.starts_with('#') {
                continue;
            }
            if content == "---" || content == "..." {
                continue;
            }
            if flow == 0 {
                while indents.last().is_some_and(|&top| top >= indent) {
                    indents.pop();
                }
                indents.push(indent);
            }
        }
        // Sequence entries at the start of a line nest one level each (`- - x`).
        let mut dashes = 0;
        let mut rest = content;
        while let Some(r) = rest.strip_prefix("- ") {
            dashes += 1;
            rest = r.trim_start_matches(' ');
        }
        let mut prev = ' ';
        let mut chars = rest.chars().peekable();
        let mut last_token = ' ';
        while let Some(c) = chars.next() {
            match quote {
                Some('"') => {
                    if c == '\\' {
                        chars.next();
                    } else if c == '"' {
                        quote = None;
                    }
                }
                Some(_) => {
                    if c == '\'' {
                        if chars.peek() == Some(&'\'') {
                            chars.next();
                        } else {
                            quote = None;
                        }
                    }
                }
                None => {
                    let token_start = matches!(prev, ' ' | ':' | '[' | '{' | ',' | '-');
                    match c {
                        '#' if prev == ' ' => break,
                        '"' | '\'' if token_start => quote = Some(c),
                        '[' | '{' => {
                            flow += 1;
                            if indents.len() + dashes + flow > MAX_YAML_DEPTH {
                                return Err(format!(
                                    "line {lineno}: nesting deeper than {MAX_YAML_DEPTH} levels (no Reflex file needs more)"
                                ));
                            }
                        }
                        ']' | '}' => flow = flow.saturating_sub(1),
                        '&' | '*' if token_start && chars.peek().is_some_and(|n| !n.is_whitespace()) => {
                            return Err(format!(
                                "line {lineno}: YAML anchors and aliases (`&name`, `*name`) are not accepted in Reflex files"
                            ))
                        }
                        _ => {}
                    }
                    if !c.is_whitespace() {
                        last_token = c;
                    }
                }
            }
            prev = c;
        }
        if quote.is_none() && flow == 0 && matches!(last_token, '|' | '>') {
            block_scalar = Some(indent);
        }
        let depth = indents.len() + dashes + flow;
        if depth > MAX_YAML_DEPTH {
            return Err(format!(
                "line {lineno}: nesting deeper than {MAX_YAML_DEPTH} levels (no Reflex file needs more)"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_yaml_passes_the_scan() {
        let text = "a: 1\nb:\n  c: [1, 2, {d: 3}]\n  e: 'it''s # not a comment'\n  f: \"x*y &z\"\nlist:\n  - {kind: push, at_s: 3}\n  - - 1\n    - 2\n# a comment with *star and &amp\n";
        scan_yaml(text).unwrap();
    }

    #[test]
    fn hostile_yaml_fails_fast_with_the_line() {
        let deep = "[".repeat(200_000);
        let closed = format!("a: {deep}1{}\n", "]".repeat(200_000));
        let t0 = std::time::Instant::now();
        assert!(scan_yaml(&deep).unwrap_err().contains("nesting deeper"));
        assert!(scan_yaml(&closed)
            .unwrap_err()
            .contains("line 1: nesting deeper"));
        let mut block = String::new();
        for i in 0..100 {
            block.push_str(&" ".repeat(i));
            block.push_str("a:\n");
        }
        assert!(scan_yaml(&block).unwrap_err().contains("line 33"));
        assert!(t0.elapsed().as_secs_f64() < 0.5);
        let bomb = "a: &a [1, 1]\nb: &b [*a, *a]\n";
        assert!(scan_yaml(bomb).unwrap_err().contains("anchors and aliases"));
        let tabs = "a:\n\tb: 1\n";
        assert!(scan_yaml(tabs).unwrap_err().contains("line 2: a tab"));
    }

    #[test]
    fn block_scalars_are_skipped() {
        scan_yaml("doc: |\n  anything *goes [ here\nnext: 1\n").unwrap();
    }
}
