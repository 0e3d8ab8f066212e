//! ROS 2 bridge: a robot reached over ROS 2 topics, behind the one [`crate::Robot`] interface.
//!
//! Only this module knows ROS message types. Two transports share the mapping logic
//! ([`mapping`]): the pure-Rust DDS transport ([`dds`], `ros2-client`, the default; needs no ROS
//! install) and r2r (`r2r` cargo feature, for operators with ROS 2 Humble/Jazzy sourced).
//! Sensors use sensor-data QoS (best effort, keep last 5), commands reliable QoS (keep last 10).

pub mod bridge;
#[cfg(feature = "dds")]
pub mod dds;
pub mod inbound;
pub mod mapping;
pub mod msg;
pub mod publishers;
#[cfg(feature = "r2r")]
pub mod r2r_transport;
pub mod teleop;

pub use bridge::{IoSide, RosRobot, SpinWindow};
pub use inbound::{Plausibility, Rejections, StampPolicy};
pub use mapping::{CommandInterface, LoopStatus};
pub use publishers::{AcceptFrom, GuidPattern, WriterGuid};

/// System time (ns since the Unix epoch): the clock ROS stamps use. vDSO, no allocation.
pub fn system_time_ns() -> i128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0)
}

/// Topics, QoS-relevant choices and node identity of a bridge.
#[derive(Debug, Clone, PartialEq)]
pub struct BridgeConfig {
    /// Node name (`-r __node:=...` overrides it).
    pub node_name: String,
    /// Node namespace (`-r __ns:=...` overrides it).
    pub namespace: String,
    /// DDS domain (ROS_DOMAIN_ID).
    pub domain_id: u16,
    /// Keep DDS traffic on the loopback interface.
    pub only_loopback: bool,
    /// Keep DDS traffic on the interface with this address (a robot's own network).
    pub network_address: Option<std::net::Ipv4Addr>,
    /// `sensor_msgs/JointState` input.
    pub joint_states_topic: String,
    /// `sensor_msgs/Imu` input (legged robots).
    pub imu_topic: Option<String>,
    /// `nav_msgs/Odometry` input (optional).
    pub odometry_topic: Option<String>,
    /// `geometry_msgs/WrenchStamped` input (optional, arms).
    pub wrench_topic: Option<String>,
    /// Command output topic.
    pub command_topic: String,
    /// What the command topic carries.
    pub command_interface: CommandInterface,
    /// `diagnostic_msgs/DiagnosticArray` output.
    pub diagnostics_topic: String,
    /// Diagnostics rate (Hz).
    pub diagnostics_hz: f64,
    /// Stamp checks on inbound messages.
    pub stamps: StampPolicy,
    /// What one inbound sample may show.
    pub plausibility: Plausibility,
    /// Whose samples the state topics accept.
    pub accept_from: AcceptFrom,
    /// Topic remappings `from → to` (`-r from:=to`), applied to fully qualified names.
    pub remaps: Vec<(String, String)>,
    /// After handing the RT thread a new state, spin this long for its answer before parking
    /// (robot-triggered loops: saves a wake-up per command; 0 for clock-triggered loops).
    pub spin_for_command_us: u64,
}

impl BridgeConfig {
    /// A node that is not a robot bridge (the teleop node): identity, domain and remaps only;
    /// the robot topics stay empty.
    pub fn node_only(
        node_name: &str,
        namespace: &str,
        domain_id: u16,
        only_loopback: bool,
        remaps: Vec<(String, String)>,
    ) -> Self {
        BridgeConfig {
            node_name: node_name.into(),
            namespace: namespace.into(),
            domain_id,
            only_loopback,
            network_address: None,
            joint_states_topic: String::new(),
            imu_topic: None,
            odometry_topic: None,
            wrench_topic: None,
            command_topic: String::new(),
            command_interface: CommandInterface::PositionArray,
            diagnostics_topic: String::new(),
            diagnostics_hz: 1.0,
            stamps: StampPolicy {
                max_age_s: 0.0,
                max_lead_s: 0.0,
            },
            plausibility: Plausibility::default(),
            accept_from: AcceptFrom::Any,
            remaps,
            spin_for_command_us: 0,
        }
    }

    /// The fully qualified, remapped name of `topic` for this node.
    pub fn resolve(&self, topic: &str) -> String {
        let ns = self.namespace.trim_end_matches('/');
        let full = if topic.starts_with('/') {
            topic.to_string()
        } else {
            format!("{ns}/{topic}")
        };
        for (from, to) in &self.remaps {
            let from_full = if from.starts_with('/') {
                from.clone()
            } else {
                format!("{ns}/{from}")
            };
            if from_full == full {
                return if to.starts_with('/') {
                    to.clone()
                } else {
                    format!("{ns}/{to}")
                };
            }
        }
        full
    }
}

/// Why a bridge could not start.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    /// The transport could not be created (participant, node, topic).
    #[error("ROS 2 transport: {0}")]
    Transport(String),
    /// The transport is not compiled in.
    #[error("ROS 2 transport `{0}` is not compiled into this binary (cargo feature `{0}`)")]
    NotCompiled(&'static str),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(ns: &str, remaps: &[(&str, &str)]) -> BridgeConfig {
        BridgeConfig {
            node_name: "reflex".into(),
            namespace: ns.into(),
            domain_id: 0,
            only_loopback: true,
            network_address: None,
            joint_states_topic: "joint_states".into(),
            imu_topic: None,
            odometry_topic: None,
            wrench_topic: None,
            command_topic: "/cmd".into(),
            command_interface: CommandInterface::PositionArray,
            diagnostics_topic: "/diagnostics".into(),
            diagnostics_hz: 10.0,
            stamps: StampPolicy {
                max_age_s: 0.0,
                max_lead_s: 0.0,
            },
            plausibility: Plausibility::default(),
            accept_from: AcceptFrom::FirstWriter,
            remaps: remaps
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            spin_for_command_us: 0,
        }
    }

    #[test]
    fn names_resolve_against_the_namespace_and_remaps() {
        assert_eq!(cfg("/a1", &[]).resolve("joint_states"), "/a1/joint_states");
        assert_eq!(cfg("/", &[]).resolve("joint_states"), "/joint_states");
        assert_eq!(
            cfg("/a1", &[("joint_states", "/robot/js")]).resolve("joint_states"),
            "/robot/js"
        );
        assert_eq!(
            cfg("/", &[("/imu", "/imu/data")]).resolve("/imu"),
            "/imu/data"
        );
        assert_eq!(cfg("/", &[("/imu", "/imu/data")]).resolve("/cmd"), "/cmd");
    }
}
