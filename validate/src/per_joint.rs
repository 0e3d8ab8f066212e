//! A value for every joint, or one per joint name: the one type every file uses for gains,
//! action scales and limits.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The same number for every joint, or a number per joint name.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum PerJoint {
    /// Same value for every joint.
    All(f64),
    /// One value per joint name (checked to name every joint exactly once).
    ByName(BTreeMap<String, f64>),
}

impl PerJoint {
    /// The values in the order of `joints` (after a check has made the map complete; a name
    /// missing from the map gives 0).
    pub fn resolve(&self, joints: &[String]) -> Vec<f64> {
        match self {
            PerJoint::All(x) => vec![*x; joints.len()],
            PerJoint::ByName(m) => joints
                .iter()
                .map(|j| m.get(j).copied().unwrap_or(0.0))
                .collect(),
        }
    }
}

impl<'de> Deserialize<'de> for PerJoint {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = PerJoint;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number for every joint, or a map of joint name to number")
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<PerJoint, E> {
                Ok(PerJoint::All(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<PerJoint, E> {
                Ok(PerJoint::All(v as f64))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<PerJoint, E> {
                Ok(PerJoint::All(v as f64))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<PerJoint, A::Error> {
                let mut out = BTreeMap::new();
                while let Some((k, v)) = m.next_entry::<String, f64>()? {
                    if out.insert(k.clone(), v).is_some() {
                        return Err(serde::de::Error::custom(format!(
                            "joint `{k}` is named twice"
                        )));
                    }
                }
                Ok(PerJoint::ByName(out))
            }
        }
        d.deserialize_any(V)
    }
}
