//! The ROS 2 messages Reflex exchanges, as serde structs whose field order is the `.msg` field
//! order (CDR is positional): they serialise to the exact bytes rmw_cyclonedds puts on the wire
//! (checked against Cyclone DDS). ROS → Rust: int32 → i32, uint32 → u32, float64 → f64,
//! byte → u8, string → String, T[] → Vec<T>, T[N] → [T; N].
//!
//! These are the only ROS message types the mapping logic knows; the r2r transport converts its
//! generated types to and from these.
#![allow(missing_docs)]
use serde::{Deserialize, Serialize};

pub mod builtin_interfaces {
    use super::*;
    #[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct Time {
        pub sec: i32,
        pub nanosec: u32,
    }
    #[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct Duration {
        pub sec: i32,
        pub nanosec: u32,
    }
    impl Time {
        /// The system clock now (ROS time without a /clock source).
        pub fn now() -> Self {
            Self::from_ns(crate::ros::system_time_ns())
        }
        /// From nanoseconds since the Unix epoch.
        pub fn from_ns(ns: i128) -> Self {
            Time {
                sec: ns.div_euclid(1_000_000_000) as i32,
                nanosec: ns.rem_euclid(1_000_000_000) as u32,
            }
        }
        /// Nanoseconds since the Unix epoch.
        pub fn as_ns(&self) -> i128 {
            self.sec as i128 * 1_000_000_000 + self.nanosec as i128
        }
    }
}

pub mod std_msgs {
    use super::builtin_interfaces::Time;
    use super::*;
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct Header {
        pub stamp: Time,
        pub frame_id: String,
    }
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct MultiArrayDimension {
        pub label: String,
        pub size: u32,
        pub stride: u32,
    }
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct MultiArrayLayout {
        pub dim: Vec<MultiArrayDimension>,
        pub data_offset: u32,
    }
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct Float64MultiArray {
        pub layout: MultiArrayLayout,
        pub data: Vec<f64>,
    }
    #[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct Bool {
        pub data: bool,
    }
    /// `std_msgs/Empty`: rosidl gives an empty message one placeholder byte.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct Empty {
        pub structure_needs_at_least_one_member: u8,
    }
}

pub mod geometry_msgs {
    use super::std_msgs::Header;
    use super::*;
    #[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct Vector3 {
        pub x: f64,
        pub y: f64,
        pub z: f64,
    }
    #[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct Point {
        pub x: f64,
        pub y: f64,
        pub z: f64,
    }
    #[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct Quaternion {
        pub x: f64,
        pub y: f64,
        pub z: f64,
        pub w: f64,
    }
    #[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct Pose {
        pub position: Point,
        pub orientation: Quaternion,
    }
    #[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct Twist {
        pub linear: Vector3,
        pub angular: Vector3,
    }
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct TwistStamped {
        pub header: Header,
        pub twist: Twist,
    }
    #[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct Wrench {
        pub force: Vector3,
        pub torque: Vector3,
    }
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct WrenchStamped {
        pub header: Header,
        pub wrench: Wrench,
    }
    // float64[36] > 32: serde derive has no impl for [f64; 36] -> custom (de)serializer.
    #[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
    pub struct PoseWithCovariance {
        pub pose: Pose,
        #[serde(with = "super::arr36")]
        pub covariance: [f64; 36],
    }
    #[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
    pub struct TwistWithCovariance {
        pub twist: Twist,
        #[serde(with = "super::arr36")]
        pub covariance: [f64; 36],
    }
    impl Default for PoseWithCovariance {
        fn default() -> Self {
            Self {
                pose: Pose::default(),
                covariance: [0.0; 36],
            }
        }
    }
    impl Default for TwistWithCovariance {
        fn default() -> Self {
            Self {
                twist: Twist::default(),
                covariance: [0.0; 36],
            }
        }
    }
}

pub mod sensor_msgs {
    use super::geometry_msgs::{Quaternion, Vector3};
    use super::std_msgs::Header;
    use super::*;
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct Joy {
        pub header: Header,
        pub axes: Vec<f32>,
        pub buttons: Vec<i32>,
    }
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct JointState {
        pub header: Header,
        pub name: Vec<String>,
        pub position: Vec<f64>,
        pub velocity: Vec<f64>,
        pub effort: Vec<f64>,
    }
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct Imu {
        pub header: Header,
        pub orientation: Quaternion,
        pub orientation_covariance: [f64; 9],
        pub angular_velocity: Vector3,
        pub angular_velocity_covariance: [f64; 9],
        pub linear_acceleration: Vector3,
        pub linear_acceleration_covariance: [f64; 9],
    }
}

pub mod trajectory_msgs {
    use super::builtin_interfaces::Duration;
    use super::std_msgs::Header;
    use super::*;
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct JointTrajectoryPoint {
        pub positions: Vec<f64>,
        pub velocities: Vec<f64>,
        pub accelerations: Vec<f64>,
        pub effort: Vec<f64>,
        pub time_from_start: Duration,
    }
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct JointTrajectory {
        pub header: Header,
        pub joint_names: Vec<String>,
        pub points: Vec<JointTrajectoryPoint>,
    }
}

pub mod diagnostic_msgs {
    use super::std_msgs::Header;
    use super::*;
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct KeyValue {
        pub key: String,
        pub value: String,
    }
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct DiagnosticStatus {
        pub level: u8, // `byte`: OK=0 WARN=1 ERROR=2 STALE=3
        pub name: String,
        pub message: String,
        pub hardware_id: String,
        pub values: Vec<KeyValue>,
    }
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct DiagnosticArray {
        pub header: Header,
        pub status: Vec<DiagnosticStatus>,
    }
}

pub mod nav_msgs {
    use super::geometry_msgs::{PoseWithCovariance, TwistWithCovariance};
    use super::std_msgs::Header;
    use super::*;
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct Odometry {
        pub header: Header,
        pub child_frame_id: String,
        pub pose: PoseWithCovariance,
        pub twist: TwistWithCovariance,
    }
}

/// (De)serialize [f64; 36] as a CDR fixed array (serde tuple: no length prefix).
pub mod arr36 {
    use serde::{
        de::{Error, SeqAccess, Visitor},
        ser::SerializeTuple,
        Deserializer, Serializer,
    };
    pub fn serialize<S: Serializer>(a: &[f64; 36], s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(36)?;
        for x in a {
            t.serialize_element(x)?;
        }
        t.end()
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[f64; 36], D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = [f64; 36];
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("36 f64")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = [0.0; 36];
                for (i, slot) in out.iter_mut().enumerate() {
                    *slot = seq
                        .next_element()?
                        .ok_or_else(|| A::Error::invalid_length(i, &self))?;
                }
                Ok(out)
            }
        }
        d.deserialize_tuple(36, V)
    }
}
