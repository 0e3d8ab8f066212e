//! Collecting findings: ranges, finiteness, joint-name maps and per-joint values, checked the
//! same way in every file.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use reflex_hardware::RobotSpec;

use crate::{FileError, PerJoint};

/// One thing wrong with a value: which field, what would have been accepted, what was there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Dotted path of the field (`safety.sensor_lost_ms`, `controller.kp.FR_hip_joint`).
    pub field: String,
    /// What would have been accepted.
    pub expected: String,
    /// What the file holds.
    pub found: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "field `{}`: expected {}, found {}",
            self.field, self.expected, self.found
        )
    }
}

/// An interval of accepted values. Every bound is checked with comparisons that are false for
/// NaN, so NaN and infinities outside the interval are refused by construction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Range {
    lo: f64,
    lo_open: bool,
    hi: f64,
    hi_open: bool,
}

impl Range {
    /// `[lo, hi]`.
    pub const fn closed(lo: f64, hi: f64) -> Range {
        Range {
            lo,
            lo_open: false,
            hi,
            hi_open: false,
        }
    }

    /// `(lo, hi]`.
    pub const fn open_closed(lo: f64, hi: f64) -> Range {
        Range {
            lo,
            lo_open: true,
            hi,
            hi_open: false,
        }
    }

    /// `[lo, ∞)`, finite.
    pub const fn at_least(lo: f64) -> Range {
        Range {
            lo,
            lo_open: false,
            hi: f64::MAX,
            hi_open: false,
        }
    }

    /// `(lo, ∞)`, finite.
    pub const fn above(lo: f64) -> Range {
        Range {
            lo,
            lo_open: true,
            hi: f64::MAX,
            hi_open: false,
        }
    }

    /// Any finite number.
    pub const fn finite() -> Range {
        Range::closed(f64::MIN, f64::MAX)
    }

    /// Whether `v` is inside (false for NaN).
    pub fn contains(&self, v: f64) -> bool {
        let lo_ok = if self.lo_open {
            v > self.lo
        } else {
            v >= self.lo
        };
        let hi_ok = if self.hi_open {
            v < self.hi
        } else {
            v <= self.hi
        };
        lo_ok && hi_ok
    }

    /// The interval as text: `(0, 10000]`, `≥ 0`, `> 0`, `finite`.
    pub fn describe(&self) -> String {
        let unbounded_hi = self.hi == f64::MAX;
        let unbounded_lo = self.lo == f64::MIN;
        match (unbounded_lo, unbounded_hi) {
            (true, true) => "finite".into(),
            (false, true) => format!("{} {}", if self.lo_open { ">" } else { "≥" }, self.lo),
            (true, false) => format!("{} {}", if self.hi_open { "<" } else { "≤" }, self.hi),
            (false, false) => format!(
                "{}{}, {}{}",
                if self.lo_open { "(" } else { "[" },
                self.lo,
                self.hi,
                if self.hi_open { ")" } else { "]" }
            ),
        }
    }
}

/// The joint names a map may use, and how to name that set in a message.
#[derive(Debug, Clone, Copy)]
pub struct JointSet<'a> {
    /// Accepted names.
    pub names: &'a [String],
    /// How a message refers to one of them (e.g. "a joint of `a1`").
    pub described_as: &'a str,
}

/// Collects findings about one file. Checks never stop at the first finding, so a user sees
/// everything wrong with a file at once; [`Checker::finish`] turns them into one error.
#[derive(Debug, Clone)]
pub struct Checker {
    file: PathBuf,
    findings: Vec<Finding>,
    warnings: Vec<Finding>,
}

impl Checker {
    /// A checker for `file` (used in messages only).
    pub fn new(file: &Path) -> Checker {
        Checker {
            file: file.to_path_buf(),
            findings: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// The file being checked.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Records a finding.
    pub fn error(
        &mut self,
        field: impl Into<String>,
        expected: impl Into<String>,
        found: impl fmt::Display,
    ) {
        self.findings.push(Finding {
            field: field.into(),
            expected: expected.into(),
            found: found.to_string(),
        });
    }

    /// Checks a whole number against `allowed`; the finding says "at most {hi} {unit}" when the
    /// range starts at 0, else "{lo}–{hi} {unit}". Returns whether it passed.
    pub fn whole(
        &mut self,
        field: &str,
        v: u64,
        allowed: std::ops::RangeInclusive<u64>,
        unit: &str,
    ) -> bool {
        if allowed.contains(&v) {
            return true;
        }
        let expected = match (*allowed.start(), *allowed.end()) {
            (0, hi) => format!("at most {hi} {unit}"),
            (lo, hi) => format!("{lo}–{hi} {unit}"),
        };
        self.error(field, expected, v);
        false
    }

    /// Records a warning: accepted, but probably not what the user meant.
    pub fn warn(
        &mut self,
        field: impl Into<String>,
        expected: impl Into<String>,
        found: impl fmt::Display,
    ) {
        self.warnings.push(Finding {
            field: field.into(),
            expected: expected.into(),
            found: found.to_string(),
        });
    }

    /// Whether nothing has been found so far.
    pub fn clean(&self) -> bool {
        self.findings.is_empty()
    }

    /// Findings so far.
    pub fn count(&self) -> usize {
        self.findings.len()
    }

    /// Records a finding unless `ok`. Returns `ok`.
    pub fn require(
        &mut self,
        ok: bool,
        field: &str,
        expected: impl Into<String>,
        found: impl fmt::Display,
    ) -> bool {
        if !ok {
            self.error(field, expected, found);
        }
        ok
    }

    /// Checks `v ∈ range`; the message reads "{what} in {range} {unit}". Returns whether it passed.
    pub fn range(&mut self, field: &str, v: f64, what: &str, range: Range, unit: &str) -> bool {
        if range.contains(v) {
            return true;
        }
        let expected = match range.describe().as_str() {
            "finite" => match (what.contains("finite"), unit.is_empty()) {
                (true, true) => what.to_string(),
                (true, false) => format!("{what} in {unit}"),
                (false, true) => format!("{what}, finite"),
                (false, false) => format!("{what}, finite, in {unit}"),
            },
            d if d.starts_with(['≥', '>', '≤', '<']) => {
                format!("{what} {d}{}", unit_suffix(unit))
            }
            d => format!("{what} in {d}{}", unit_suffix(unit)),
        };
        self.error(field, expected, v);
        false
    }

    /// Checks every element of a list (`field[i]`) against `range`.
    pub fn each(&mut self, field: &str, values: &[f64], what: &str, range: Range, unit: &str) {
        for (i, v) in values.iter().enumerate() {
            self.range(&format!("{field}[{i}]"), *v, what, range, unit);
        }
    }

    /// Checks that `map` names every joint of `joints` exactly once (YAML maps cannot repeat a
    /// key), no other name, and that every value is in `range`.
    pub fn joint_map(
        &mut self,
        field: &str,
        map: &BTreeMap<String, f64>,
        joints: JointSet<'_>,
        what: &str,
        range: Range,
        unit: &str,
    ) {
        for (name, v) in map {
            if !joints.names.iter().any(|j| j == name) {
                self.error(
                    format!("{field}.{name}"),
                    format!("{}: {}", joints.described_as, joints.names.join(", ")),
                    format!("unknown joint `{name}`"),
                );
                continue;
            }
            self.range(&format!("{field}.{name}"), *v, what, range, unit);
        }
        let missing: Vec<&str> = joints
            .names
            .iter()
            .filter(|j| !map.contains_key(*j))
            .map(|j| j.as_str())
            .collect();
        if !missing.is_empty() {
            self.error(
                field,
                "a value for every joint",
                format!("no value for {}", missing.join(", ")),
            );
        }
    }

    /// Checks a value given for all joints or per joint name with the same rule either way.
    pub fn per_joint(
        &mut self,
        field: &str,
        v: &PerJoint,
        joints: JointSet<'_>,
        what: &str,
        range: Range,
        unit: &str,
    ) {
        match v {
            PerJoint::All(x) => {
                self.range(field, *x, what, range, unit);
            }
            PerJoint::ByName(m) => self.joint_map(field, m, joints, what, range, unit),
        }
    }

    /// Checks that each position in `map` (by joint name) lies within that joint's limits in
    /// `spec`. Names not in `spec`, and non-finite values, are left to [`Self::joint_map`].
    pub fn within_joint_limits(
        &mut self,
        field: &str,
        map: &BTreeMap<String, f64>,
        spec: &RobotSpec,
    ) {
        for (name, q) in map {
            let Some(i) = spec.joint_index(name) else {
                continue;
            };
            let lim = &spec.limits[i];
            // Non-finite values are reported by the range check of `joint_map`.
            if q.is_finite() && !(*q >= lim.lower_rad && *q <= lim.upper_rad) {
                self.error(
                    format!("{field}.{name}"),
                    format!(
                        "an angle within the joint's limits [{:.4}, {:.4}] rad",
                        lim.lower_rad, lim.upper_rad
                    ),
                    q,
                );
            }
        }
    }

    /// The warnings so far.
    pub fn warnings(&self) -> &[Finding] {
        &self.warnings
    }

    /// `Ok(warnings)` when nothing was found, else one error listing every finding.
    pub fn finish(self) -> Result<Vec<Finding>, FileError> {
        if self.findings.is_empty() {
            Ok(self.warnings)
        } else {
            Err(FileError::Invalid {
                file: self.file,
                findings: self.findings,
            })
        }
    }
}

fn unit_suffix(unit: &str) -> String {
    if unit.is_empty() {
        String::new()
    } else {
        format!(" {unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_refuse_nan_and_infinity_and_describe_themselves() {
        let r = Range::open_closed(0.0, 10_000.0);
        assert!(r.contains(500.0) && !r.contains(0.0) && !r.contains(f64::NAN));
        assert!(!Range::at_least(0.0).contains(f64::INFINITY));
        assert!(!Range::finite().contains(f64::NAN));
        assert_eq!(r.describe(), "(0, 10000]");
        assert_eq!(Range::at_least(0.0).describe(), "≥ 0");
        let mut c = Checker::new(Path::new("x.yaml"));
        assert!(!c.range("rates.control_hz", f64::NAN, "a rate", r, "Hz"));
        assert!(!c.range("g", -1.0, "a gain", Range::at_least(0.0), ""));
        let e = c.finish().unwrap_err().to_string();
        assert_eq!(
            e,
            "x.yaml: field `rates.control_hz`: expected a rate in (0, 10000] Hz, found NaN\n\
             x.yaml: field `g`: expected a gain ≥ 0, found -1"
        );
    }

    #[test]
    fn whole_numbers_outside_their_range_name_it() {
        let mut c = Checker::new(Path::new("x.yaml"));
        assert!(c.whole("a", 50, 0..=50, "cycles") && c.whole("b", 1, 1..=100, "iterations"));
        assert!(!c.whole("a", 51, 0..=50, "cycles"));
        assert!(!c.whole("b", 0, 1..=100, "iterations"));
        assert_eq!(
            c.finish().unwrap_err().to_string(),
            "x.yaml: field `a`: expected at most 50 cycles, found 51\n\
             x.yaml: field `b`: expected 1–100 iterations, found 0"
        );
    }

    #[test]
    fn joint_maps_report_unknown_missing_and_bad_values_together() {
        let names: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let set = JointSet {
            names: &names,
            described_as: "a joint of `t`",
        };
        let map: BTreeMap<String, f64> = [("a".into(), 1.0), ("x".into(), 0.0), ("b".into(), -1.0)]
            .into_iter()
            .collect();
        let mut c = Checker::new(Path::new("t.yaml"));
        c.joint_map("kp", &map, set, "a gain", Range::at_least(0.0), "");
        let f = c.finish().unwrap_err();
        let msgs: Vec<String> = f.findings().iter().map(|f| f.to_string()).collect();
        assert_eq!(
            msgs,
            vec![
                "field `kp.b`: expected a gain ≥ 0, found -1",
                "field `kp.x`: expected a joint of `t`: a, b, c, found unknown joint `x`",
                "field `kp`: expected a value for every joint, found no value for c",
            ]
        );
    }

    #[test]
    fn scalar_and_per_joint_forms_follow_the_same_rule() {
        let names: Vec<String> = vec!["a".into()];
        let set = JointSet {
            names: &names,
            described_as: "a joint",
        };
        for v in [
            PerJoint::All(-1.0),
            PerJoint::ByName([("a".to_string(), -1.0)].into_iter().collect()),
        ] {
            let mut c = Checker::new(Path::new("t.yaml"));
            c.per_joint("kp", &v, set, "a gain", Range::at_least(0.0), "N·m/rad");
            assert_eq!(c.count(), 1, "{v:?}");
        }
    }
}
