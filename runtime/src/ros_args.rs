//! What `ros2 launch` passes to a node: `--ros-args` with remaps (`-r from:=to`, including
//! `__node:=` and `__ns:=`), parameters (`-p name:=value`) and parameter files
//! (`--params-file FILE` in ROS 2's `ros__parameters` YAML). Parsed here so the node accepts them
//! with either transport (rcl parses them again itself under r2r).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Parsed `--ros-args`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RosArgs {
    /// Remaps in order (`__node`, `__ns` and topic names).
    pub remaps: Vec<(String, String)>,
    /// Parameters for this node (from `-p` and parameter files; later ones win).
    pub params: BTreeMap<String, String>,
}

/// Why the arguments were refused.
#[derive(Debug, thiserror::Error)]
pub enum RosArgsError {
    /// A malformed argument.
    #[error("--ros-args: {0}")]
    Malformed(String),
    /// A parameter file could not be read or parsed.
    #[error("{file}: {message}")]
    ParamsFile {
        /// The file.
        file: PathBuf,
        /// What failed.
        message: String,
    },
}

fn split_assign(s: &str) -> Result<(String, String), RosArgsError> {
    s.split_once(":=")
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .ok_or_else(|| RosArgsError::Malformed(format!("expected NAME:=VALUE, found `{s}`")))
}

impl RosArgs {
    /// Parses everything after `--ros-args` (up to a lone `--`). `node_name` selects the
    /// parameter-file section (`/**`, `NAME` or `/NAME` apply).
    pub fn parse(args: &[String], node_name: &str) -> Result<RosArgs, RosArgsError> {
        let mut out = RosArgs::default();
        let mut files = Vec::new();
        let mut in_ros = false;
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--ros-args" => in_ros = true,
                "--" => in_ros = false,
                "-r" | "--remap" if in_ros => {
                    let v = it
                        .next()
                        .ok_or_else(|| RosArgsError::Malformed(format!("{a} needs FROM:=TO")))?;
                    out.remaps.push(split_assign(v)?);
                }
                "-p" | "--param" if in_ros => {
                    let v = it
                        .next()
                        .ok_or_else(|| RosArgsError::Malformed(format!("{a} needs NAME:=VALUE")))?;
                    let (k, v) = split_assign(v)?;
                    out.params.insert(k, v);
                }
                "--params-file" if in_ros => {
                    let v = it.next().ok_or_else(|| {
                        RosArgsError::Malformed("--params-file needs a FILE".into())
                    })?;
                    files.push(PathBuf::from(v));
                }
                "--log-level" | "-e" | "--enclave" if in_ros => {
                    it.next();
                }
                other if in_ros && other.starts_with('-') => {
                    // Other rcl flags (e.g. --disable-rosout-logs) take no value here.
                }
                other if in_ros => {
                    return Err(RosArgsError::Malformed(format!("unexpected `{other}`")))
                }
                _ => {}
            }
        }
        let node = out
            .remaps
            .iter()
            .rev()
            .find(|(k, _)| k == "__node" || k == "__name")
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| node_name.to_string());
        // Files first, then -p on top (rcl's precedence).
        let cli = std::mem::take(&mut out.params);
        for f in files {
            out.params.extend(params_file(&f, &node)?);
        }
        out.params.extend(cli);
        Ok(out)
    }
}

/// Reads the parameters for `node` from a ROS 2 parameter file.
pub fn params_file(file: &Path, node: &str) -> Result<BTreeMap<String, String>, RosArgsError> {
    let err = |message: String| RosArgsError::ParamsFile {
        file: file.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(file).map_err(|e| err(format!("cannot read: {e}")))?;
    let doc: serde_norway::Value = serde_norway::from_str(&text).map_err(|e| err(e.to_string()))?;
    let map = doc
        .as_mapping()
        .ok_or_else(|| err("expected a map of node names to `ros__parameters`".into()))?;
    let mut out = BTreeMap::new();
    for (k, v) in map {
        let key = k.as_str().unwrap_or_default();
        let applies = key == "/**"
            || key == node
            || key.trim_start_matches('/') == node
            || key.ends_with(&format!("/{node}"));
        if !applies {
            continue;
        }
        let params = v
            .get("ros__parameters")
            .and_then(|p| p.as_mapping())
            .ok_or_else(|| err(format!("`{key}` has no `ros__parameters` map")))?;
        flatten("", params, &mut out);
    }
    Ok(out)
}

fn flatten(prefix: &str, m: &serde_norway::Mapping, out: &mut BTreeMap<String, String>) {
    for (k, v) in m {
        let name = format!("{prefix}{}", k.as_str().unwrap_or_default());
        match v {
            serde_norway::Value::Mapping(inner) => flatten(&format!("{name}."), inner, out),
            serde_norway::Value::String(s) => {
                out.insert(name, s.clone());
            }
            other => {
                let text = serde_norway::to_string(other).unwrap_or_default();
                out.insert(name, text.trim().to_string());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_what_ros2_launch_passes() {
        let dir = std::env::temp_dir().join(format!("reflex-rosargs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("params.yaml");
        std::fs::write(&f, "/**:\n  ros__parameters:\n    config: /a.yaml\n    duration_s: 5.0\nother:\n  ros__parameters:\n    config: /nope.yaml\na1_reflex:\n  ros__parameters:\n    rates:\n      control_hz: 500\n").unwrap();
        let a = RosArgs::parse(
            &args(&format!("--ros-args -r __node:=a1_reflex -r /joint_states:=/a1/joint_states --params-file {} -p duration_s:=2.0", f.display())),
            "reflex",
        )
        .unwrap();
        assert_eq!(a.remaps[0], ("__node".into(), "a1_reflex".into()));
        assert_eq!(
            a.remaps[1],
            ("/joint_states".into(), "/a1/joint_states".into())
        );
        assert_eq!(a.params["config"], "/a.yaml");
        assert_eq!(a.params["duration_s"], "2.0", "-p wins over the file");
        assert_eq!(
            a.params["rates.control_hz"], "500",
            "the renamed node's own section applies"
        );
        assert!(RosArgs::parse(&args("--ros-args -r nonsense"), "reflex").is_err());
    }
}
