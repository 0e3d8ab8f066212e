//! The `unitree:` section: a Unitree robot over SDK2's low-level DDS interface, no ROS.

use reflex_hardware::catalogue::RobotModel;
use reflex_validate::{Checker, Range};
use serde::Deserialize;

use super::ros::{check_domain, AcceptFromSection, PlausibilitySection};

/// The Unitree SDK2 backend (`robot.backend: unitree`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitreeSection {
    /// The network interface on the robot's network (Unitree: 192.168.123.0/24), e.g. `eth0`;
    /// none: every interface.
    #[serde(default)]
    pub network_interface: Option<String>,
    /// DDS domain (Unitree's robots use 0); default: `ROS_DOMAIN_ID`, else 0.
    #[serde(default)]
    pub domain_id: Option<u16>,
    /// Keep DDS traffic on loopback (tests, a simulator on this machine).
    #[serde(default)]
    pub only_loopback: bool,
    /// The LowState topic.
    #[serde(default = "default_lowstate")]
    pub lowstate_topic: String,
    /// The LowCmd topic.
    #[serde(default = "default_lowcmd")]
    pub lowcmd_topic: String,
    /// How long a cycle waits for the next LowState (ms; the robot sends one every 2 ms).
    #[serde(default = "default_state_timeout")]
    pub state_timeout_ms: f64,
    /// How long to wait for the robot's first LowState at start-up (s).
    #[serde(default = "default_first_state_timeout")]
    pub first_state_timeout_s: f64,
    /// Whose LowState samples are accepted (as `ros.accept_from`).
    #[serde(default)]
    pub accept_from: AcceptFromSection,
    /// What one sample may show (as `ros.plausibility`).
    #[serde(default)]
    pub plausibility: PlausibilitySection,
}

fn default_lowstate() -> String {
    "rt/lowstate".into()
}
fn default_lowcmd() -> String {
    "rt/lowcmd".into()
}
fn default_state_timeout() -> f64 {
    4.0
}
fn default_first_state_timeout() -> f64 {
    10.0
}

/// The robots SDK2's `unitree_go` messages serve.
const UNITREE_GO: [&str; 2] = ["go2", "a1"];

pub(super) fn check(c: &mut Checker, u: &UnitreeSection, robot: &RobotModel) {
    c.require(
        UNITREE_GO.contains(&robot.name),
        "robot.model",
        format!(
            "a robot SDK2's unitree_go messages drive ({})",
            UNITREE_GO.join(", ")
        ),
        format!("`{}`", robot.name),
    );
    check_domain(c, "unitree.domain_id", u.domain_id);
    c.range(
        "unitree.state_timeout_ms",
        u.state_timeout_ms,
        "a timeout",
        Range::open_closed(0.0, 1000.0),
        "ms",
    );
    c.range(
        "unitree.first_state_timeout_s",
        u.first_state_timeout_s,
        "a timeout",
        Range::open_closed(0.0, 600.0),
        "s",
    );
    for (field, t) in [
        ("unitree.lowstate_topic", &u.lowstate_topic),
        ("unitree.lowcmd_topic", &u.lowcmd_topic),
    ] {
        let ok = !t.is_empty()
            && t.len() <= 256
            && t.chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '/');
        c.require(
            ok,
            field,
            "a DDS topic name (letters, digits, `_`, `/`)",
            format!("`{t}`"),
        );
    }
    if let Some(iface) = &u.network_interface {
        if u.only_loopback {
            c.error(
                "unitree.network_interface",
                "no interface with only_loopback: true",
                format!("`{iface}`"),
            );
        } else if interface_address(iface).is_none() {
            c.error(
                "unitree.network_interface",
                format!(
                    "a network interface of this machine with an IPv4 address ({})",
                    interfaces().join(", ")
                ),
                format!("`{iface}`"),
            );
        }
    }
    if u.accept_from.resolve().is_none() {
        c.error(
            "unitree.accept_from",
            "`first_writer`, `any`, or a list of GUIDs",
            format!("{:?}", u.accept_from),
        );
    }
}

/// This machine's network interfaces with an IPv4 address: (name, address).
fn interface_list() -> Vec<(String, std::net::Ipv4Addr)> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs allocates a list we walk read-only and free with freeifaddrs.
    unsafe {
        if libc::getifaddrs(&mut head) != 0 {
            return out;
        }
        let mut p = head;
        while !p.is_null() {
            let a = (*p).ifa_addr;
            if !a.is_null() && (*a).sa_family as i32 == libc::AF_INET {
                let sin = &*(a as *const libc::sockaddr_in);
                let ip = std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                let name = std::ffi::CStr::from_ptr((*p).ifa_name)
                    .to_string_lossy()
                    .into_owned();
                out.push((name, ip));
            }
            p = (*p).ifa_next;
        }
        libc::freeifaddrs(head);
    }
    out
}

fn interfaces() -> Vec<String> {
    interface_list().into_iter().map(|(n, _)| n).collect()
}

/// The IPv4 address of interface `name`, if this machine has it.
pub fn interface_address(name: &str) -> Option<std::net::Ipv4Addr> {
    interface_list()
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, ip)| ip)
}
