//! The `ros:` section: topics, transport, trigger and stamp limits of the ROS 2 bridge.

use reflex_hardware::catalogue::RobotModel;
use reflex_hardware::ros::{AcceptFrom, GuidPattern, Plausibility};
use reflex_hardware::RobotKind;
use reflex_validate::{Checker, Range};
use serde::Deserialize;

/// Which ROS 2 transport carries the bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RosTransportKind {
    /// Pure-Rust DDS (`ros2-client`): no ROS install needed.
    Dds,
    /// rcl through r2r (build with `--features r2r` and ROS 2 sourced).
    R2r,
}

/// What starts a control cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerKind {
    /// The local clock, on absolute deadlines at `rates.control_hz`.
    Clock,
    /// The arrival of the robot's state (libfranka, Unitree low-level): the command goes back in
    /// the same period; no state within `state_timeout_ms` counts as a missed cycle.
    RobotState,
}

/// Topic names (relative names resolve against the node's namespace; `--ros-args -r` remaps).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosTopics {
    /// `sensor_msgs/JointState` input.
    pub joint_states: String,
    /// `sensor_msgs/Imu` input (required for legged robots).
    #[serde(default)]
    pub imu: Option<String>,
    /// `nav_msgs/Odometry` input.
    #[serde(default)]
    pub odometry: Option<String>,
    /// `geometry_msgs/WrenchStamped` input.
    #[serde(default)]
    pub wrench: Option<String>,
    /// Command output.
    pub command: String,
    /// `diagnostic_msgs/DiagnosticArray` output.
    #[serde(default = "default_diagnostics_topic")]
    pub diagnostics: String,
}

fn default_diagnostics_topic() -> String {
    "/diagnostics".into()
}

/// The ROS 2 bridge.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosSection {
    /// `dds` (default) or `r2r`.
    #[serde(default = "default_transport")]
    pub transport: RosTransportKind,
    /// Node name.
    #[serde(default = "default_node_name")]
    pub node_name: String,
    /// Node namespace.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// DDS domain; default: `ROS_DOMAIN_ID`, else 0.
    #[serde(default)]
    pub domain_id: Option<u16>,
    /// Keep DDS traffic on loopback (tests, single-machine setups).
    #[serde(default)]
    pub only_loopback: bool,
    /// Topics.
    pub topics: RosTopics,
    /// What the command topic carries.
    pub command_interface: reflex_hardware::ros::CommandInterface,
    /// What starts a cycle.
    #[serde(default = "default_trigger")]
    pub trigger: TriggerKind,
    /// Robot-triggered cycles: how long to wait for the state (ms).
    #[serde(default = "default_state_timeout")]
    pub state_timeout_ms: f64,
    /// How long to wait for the robot's first complete state at start-up (s).
    #[serde(default = "default_first_state_timeout")]
    pub first_state_timeout_s: f64,
    /// Reject inbound stamps older than this (ms; 0 disables).
    #[serde(default = "default_stamp_age")]
    pub max_stamp_age_ms: f64,
    /// Reject inbound stamps further ahead than this (ms; 0 disables).
    #[serde(default = "default_stamp_lead")]
    pub max_stamp_lead_ms: f64,
    /// Diagnostics rate (Hz).
    #[serde(default = "default_diagnostics_hz")]
    pub diagnostics_hz: f64,
    /// Whose samples the state topics accept: `first_writer` (default: the first writer whose
    /// sample passes every check, for the rest of the run), `any`, or a list of GUIDs
    /// (participants: 12 bytes, writers: 16, in hex as `ros2 topic info -v` prints them).
    #[serde(default)]
    pub accept_from: AcceptFromSection,
    /// What one inbound sample may show (positions beyond the limits use
    /// `safety.joint_limit_margin_rad`).
    #[serde(default)]
    pub plausibility: PlausibilitySection,
}

/// `ros.accept_from`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum AcceptFromSection {
    /// `first_writer` or `any`.
    Keyword(AcceptKeyword),
    /// Participant or writer GUIDs.
    Listed(Vec<String>),
}

impl Default for AcceptFromSection {
    fn default() -> Self {
        AcceptFromSection::Keyword(AcceptKeyword::FirstWriter)
    }
}

/// The keywords of `ros.accept_from`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AcceptKeyword {
    /// The first writer whose sample passes every check.
    FirstWriter,
    /// Every writer.
    Any,
}

impl AcceptFromSection {
    /// The bridge's setting; `None` when a GUID does not parse (refused at load).
    pub fn resolve(&self) -> Option<AcceptFrom> {
        match self {
            AcceptFromSection::Keyword(AcceptKeyword::FirstWriter) => Some(AcceptFrom::FirstWriter),
            AcceptFromSection::Keyword(AcceptKeyword::Any) => Some(AcceptFrom::Any),
            AcceptFromSection::Listed(l) => l
                .iter()
                .map(|g| GuidPattern::parse(g))
                .collect::<Option<Vec<_>>>()
                .map(AcceptFrom::Listed),
        }
    }
}

/// `ros.plausibility`: see [`reflex_hardware::ros::inbound`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlausibilitySection {
    /// Slack of the jump checks (ms): a joint may move its velocity limit × (Δt + slack).
    pub jump_slack_ms: f64,
    /// Largest deviation of an orientation quaternion's norm from 1.
    pub quaternion_norm_tolerance: f64,
    /// Orientation change allowed beyond what the gyro shows (rad).
    pub orientation_slack_rad: f64,
}

impl Default for PlausibilitySection {
    fn default() -> Self {
        let p = Plausibility::default();
        Self {
            jump_slack_ms: p.jump_slack_s * 1e3,
            quaternion_norm_tolerance: p.quaternion_norm_tolerance,
            orientation_slack_rad: p.orientation_slack_rad,
        }
    }
}

fn default_transport() -> RosTransportKind {
    RosTransportKind::Dds
}
fn default_node_name() -> String {
    "reflex".into()
}
fn default_namespace() -> String {
    "/".into()
}
fn default_trigger() -> TriggerKind {
    TriggerKind::Clock
}
fn default_state_timeout() -> f64 {
    5.0
}
fn default_first_state_timeout() -> f64 {
    10.0
}
fn default_stamp_age() -> f64 {
    200.0
}
fn default_stamp_lead() -> f64 {
    50.0
}
fn default_diagnostics_hz() -> f64 {
    10.0
}

/// The largest DDS domain id the RTPS port mapping allows (ROS 2: 0–232, 0–101 on Linux with
/// the default ephemeral port range).
pub const MAX_DOMAIN_ID: u16 = 232;

/// Checks a configured domain id, or (none configured) the `ROS_DOMAIN_ID` it falls back to:
/// a malformed environment variable is refused rather than read as domain 0.
pub(crate) fn check_domain(c: &mut Checker, field: &str, configured: Option<u16>) {
    match configured {
        Some(d) => {
            c.require(
                d <= MAX_DOMAIN_ID,
                field,
                format!("a DDS domain id 0–{MAX_DOMAIN_ID}"),
                d,
            );
        }
        None => {
            if let Ok(v) = std::env::var("ROS_DOMAIN_ID") {
                let ok = v.trim().is_empty()
                    || v.trim().parse::<u16>().is_ok_and(|d| d <= MAX_DOMAIN_ID);
                c.require(
                    ok,
                    field,
                    format!(
                        "(from the environment's ROS_DOMAIN_ID) a DDS domain id 0–{MAX_DOMAIN_ID}"
                    ),
                    format!("`{v}`"),
                );
            }
        }
    }
}

pub(super) fn check(c: &mut Checker, r: &RosSection, robot: &RobotModel) {
    check_domain(c, "ros.domain_id", r.domain_id);
    c.range(
        "ros.state_timeout_ms",
        r.state_timeout_ms,
        "a timeout",
        Range::open_closed(0.0, 1000.0),
        "ms",
    );
    c.range(
        "ros.first_state_timeout_s",
        r.first_state_timeout_s,
        "a timeout",
        Range::open_closed(0.0, 600.0),
        "s",
    );
    c.range(
        "ros.max_stamp_age_ms",
        r.max_stamp_age_ms,
        "an age (0 disables)",
        Range::closed(0.0, 60_000.0),
        "ms",
    );
    c.range(
        "ros.max_stamp_lead_ms",
        r.max_stamp_lead_ms,
        "a lead (0 disables)",
        Range::closed(0.0, 60_000.0),
        "ms",
    );
    c.range(
        "ros.diagnostics_hz",
        r.diagnostics_hz,
        "a rate",
        Range::open_closed(0.0, 1000.0),
        "Hz",
    );
    if r.accept_from.resolve().is_none() {
        c.error(
            "ros.accept_from",
            "`first_writer`, `any`, or a list of GUIDs (24 hex digits: a participant, 32: a writer; `.` `:` `-` may separate them)",
            format!("{:?}", r.accept_from),
        );
    }
    if matches!(&r.accept_from, AcceptFromSection::Listed(l) if l.is_empty() || l.len() > 64) {
        c.error("ros.accept_from", "1–64 GUIDs", "an empty or longer list");
    }
    let p = &r.plausibility;
    c.range(
        "ros.plausibility.jump_slack_ms",
        p.jump_slack_ms,
        "a slack",
        Range::closed(0.0, 1000.0),
        "ms",
    );
    c.range(
        "ros.plausibility.quaternion_norm_tolerance",
        p.quaternion_norm_tolerance,
        "a tolerance",
        Range::open_closed(0.0, 0.5),
        "",
    );
    c.range(
        "ros.plausibility.orientation_slack_rad",
        p.orientation_slack_rad,
        "a slack",
        Range::closed(0.0, 3.2),
        "rad",
    );
    if r.transport == RosTransportKind::R2r
        && r.accept_from != AcceptFromSection::Keyword(AcceptKeyword::Any)
    {
        c.warn(
            "ros.accept_from",
            "`any` with the r2r transport: r2r 0.9 does not say which writer sent a sample, so state topics accept every publisher (use SROS2 access control)",
            format!("{:?}", r.accept_from),
        );
    }
    let mut topics = vec![
        ("ros.topics.joint_states", r.topics.joint_states.as_str()),
        ("ros.topics.command", r.topics.command.as_str()),
        ("ros.topics.diagnostics", r.topics.diagnostics.as_str()),
    ];
    for (field, t) in [
        ("ros.topics.imu", &r.topics.imu),
        ("ros.topics.odometry", &r.topics.odometry),
        ("ros.topics.wrench", &r.topics.wrench),
    ] {
        if let Some(t) = t {
            topics.push((field, t.as_str()));
        }
    }
    for (field, t) in topics {
        let ok = !t.is_empty()
            && t.len() <= 256
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '/')
            && !t.contains("//");
        c.require(
            ok,
            field,
            "a ROS topic name (letters, digits, `_`, `/`)",
            format!("`{t}`"),
        );
    }
    if robot.kind == RobotKind::Legged && r.topics.imu.is_none() {
        c.error(
            "ros.topics.imu",
            "an IMU topic: a legged robot's supervisor needs its attitude",
            "nothing",
        );
    }
}
