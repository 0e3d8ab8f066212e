#![deny(missing_docs)]
//! One validation layer for every file a user hands Reflex: run configs, model manifests,
//! fallback manifests (and the bytes of the models they name).
//!
//! - [`read`]: files are read only if they are regular files under a size limit, as UTF-8 text
//!   where text is expected; YAML is pre-scanned for nesting depth, anchors and aliases (which no
//!   Reflex file needs) and tab indentation before the parser sees it, so hostile input fails
//!   fast with a message that says what is wrong.
//! - [`check`]: a [`Checker`] collects every finding in a file (field, expected, found) instead
//!   of stopping at the first; ranges are written once ([`Range`]) and refuse NaN and infinity
//!   by construction; per-joint values ([`PerJoint`]) and joint-name maps are checked the same
//!   way wherever they appear.
//!
//! Every error names the file; every finding names the field, what was expected and what was
//! found.

mod check;
mod per_joint;
pub mod read;

pub use check::{Checker, Finding, JointSet, Range};
pub use per_joint::PerJoint;
pub use read::{load_yaml, read_bytes, read_text, FileKind};

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Why a user file was refused. The message names the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    /// The file could not be read (missing, not a regular file, too large, not text, OS error).
    #[error("{file}: cannot read: {reason}")]
    Io {
        /// The file.
        file: PathBuf,
        /// What went wrong, once.
        reason: String,
    },
    /// The file is not what its kind allows (YAML syntax, unknown or missing field, wrong type):
    /// the parser's message with the field path, line and column.
    #[error("{file}: {message}")]
    Schema {
        /// The file.
        file: PathBuf,
        /// What is wrong and where.
        message: String,
    },
    /// Values are out of range or inconsistent: one finding per line, each naming the field.
    #[error("{}", render(file, findings))]
    Invalid {
        /// The file.
        file: PathBuf,
        /// Every finding, in the order the checks ran.
        findings: Vec<Finding>,
    },
}

fn render(file: &Path, findings: &[Finding]) -> String {
    let mut s = String::new();
    for (i, f) in findings.iter().enumerate() {
        if i > 0 {
            s.push('\n');
        }
        let _ = write!(s, "{}: {f}", file.display());
    }
    s
}

impl FileError {
    /// A single finding in `file`.
    pub fn invalid(
        file: &Path,
        field: impl Into<String>,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> FileError {
        FileError::Invalid {
            file: file.to_path_buf(),
            findings: vec![Finding {
                field: field.into(),
                expected: expected.into(),
                found: found.into(),
            }],
        }
    }

    /// The file the error is about.
    pub fn file(&self) -> &Path {
        match self {
            FileError::Io { file, .. }
            | FileError::Schema { file, .. }
            | FileError::Invalid { file, .. } => file,
        }
    }

    /// The findings of an [`FileError::Invalid`] (empty for the other kinds).
    pub fn findings(&self) -> &[Finding] {
        match self {
            FileError::Invalid { findings, .. } => findings,
            _ => &[],
        }
    }
}
