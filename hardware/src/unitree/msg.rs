//! Unitree SDK2's low-level messages for the Go2 family (`unitree_go` IDL), field for field as
//! the SDK declares them (`unitree_sdk2`'s `LowState_.idl` / `LowCmd_.idl`, BSD-3): CDR on the
//! wire, the same DDS type names, so Reflex and the robot's own Cyclone DDS match.

use serde::{Deserialize, Serialize};

/// The DDS type name of [`LowState`].
pub const LOW_STATE_TYPE: &str = "unitree_go::msg::dds_::LowState_";
/// The DDS type name of [`LowCmd`].
pub const LOW_CMD_TYPE: &str = "unitree_go::msg::dds_::LowCmd_";
/// Motors in a message (the Go2 uses the first 12).
pub const MOTORS: usize = 20;
/// `q` that tells a motor to hold no position (the SDK's `PosStopF`).
pub const POS_STOP_F: f32 = 2.146e9;
/// `dq` that tells a motor to hold no velocity (the SDK's `VelStopF`).
pub const VEL_STOP_F: f32 = 16000.0;

/// `unitree_go::msg::dds_::IMUState_`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ImuState {
    /// Orientation, w x y z.
    pub quaternion: [f32; 4],
    /// Angular rate (rad/s), body frame.
    pub gyroscope: [f32; 3],
    /// Specific force (m/s²), body frame.
    pub accelerometer: [f32; 3],
    /// Roll, pitch, yaw (rad).
    pub rpy: [f32; 3],
    /// °C.
    pub temperature: u8,
}

/// `unitree_go::msg::dds_::MotorState_`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct MotorState {
    /// Motor mode.
    pub mode: u8,
    /// Position (rad).
    pub q: f32,
    /// Velocity (rad/s).
    pub dq: f32,
    /// Acceleration (rad/s²).
    pub ddq: f32,
    /// Estimated torque (N·m).
    pub tau_est: f32,
    /// Raw position.
    pub q_raw: f32,
    /// Raw velocity.
    pub dq_raw: f32,
    /// Raw acceleration.
    pub ddq_raw: f32,
    /// °C.
    pub temperature: u8,
    /// Lost frames.
    pub lost: u32,
    /// Reserved.
    pub reserve: [u32; 2],
}

/// `unitree_go::msg::dds_::BmsState_`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct BmsState {
    /// Version, high byte.
    pub version_high: u8,
    /// Version, low byte.
    pub version_low: u8,
    /// Status.
    pub status: u8,
    /// State of charge (%).
    pub soc: u8,
    /// Current (mA).
    pub current: i32,
    /// Charge cycles.
    pub cycle: u16,
    /// Temperatures.
    pub bq_ntc: [u8; 2],
    /// Temperatures.
    pub mcu_ntc: [u8; 2],
    /// Cell voltages (mV).
    pub cell_vol: [u16; 15],
}

/// `unitree_go::msg::dds_::LowState_`: what the robot publishes on `rt/lowstate` at 500 Hz.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LowState {
    /// Frame header.
    pub head: [u8; 2],
    /// Level flag.
    pub level_flag: u8,
    /// Reserved.
    pub frame_reserve: u8,
    /// Serial number.
    pub sn: [u32; 2],
    /// Version.
    pub version: [u32; 2],
    /// Bandwidth.
    pub bandwidth: u16,
    /// The IMU.
    pub imu_state: ImuState,
    /// Motors, Unitree's order (Go2: FR, FL, RR, RL × hip, thigh, calf; then unused).
    pub motor_state: [MotorState; MOTORS],
    /// The battery.
    pub bms_state: BmsState,
    /// Foot contact force.
    pub foot_force: [i16; 4],
    /// Estimated foot force.
    pub foot_force_est: [i16; 4],
    /// Milliseconds since boot.
    pub tick: u32,
    /// The remote's raw bytes.
    #[serde(with = "bytes40")]
    pub wireless_remote: [u8; 40],
    /// Flags.
    pub bit_flag: u8,
    /// ADC.
    pub adc_reel: f32,
    /// °C.
    pub temperature_ntc1: u8,
    /// °C.
    pub temperature_ntc2: u8,
    /// Battery voltage (V).
    pub power_v: f32,
    /// Battery current (A).
    pub power_a: f32,
    /// Fan speeds.
    pub fan_frequency: [u16; 4],
    /// Reserved.
    pub reserve: u32,
    /// CRC-32 of the message's C layout (see [`crate::unitree::crc`]).
    pub crc: u32,
}

/// `unitree_go::msg::dds_::MotorCmd_`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct MotorCmd {
    /// 0x01: servo (PD + τ); 0x00: off.
    pub mode: u8,
    /// Position target (rad), or [`POS_STOP_F`].
    pub q: f32,
    /// Velocity target (rad/s), or [`VEL_STOP_F`].
    pub dq: f32,
    /// Feed-forward torque (N·m).
    pub tau: f32,
    /// Position gain (N·m/rad).
    pub kp: f32,
    /// Velocity gain (N·m·s/rad).
    pub kd: f32,
    /// Reserved.
    pub reserve: [u32; 3],
}

/// `unitree_go::msg::dds_::BmsCmd_`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct BmsCmd {
    /// Power off.
    pub off: u8,
    /// Reserved.
    pub reserve: [u8; 3],
}

/// `unitree_go::msg::dds_::LowCmd_`: what the robot takes on `rt/lowcmd`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LowCmd {
    /// Frame header (0xFE, 0xEF).
    pub head: [u8; 2],
    /// 0xFF: low level.
    pub level_flag: u8,
    /// Reserved.
    pub frame_reserve: u8,
    /// Serial number.
    pub sn: [u32; 2],
    /// Version.
    pub version: [u32; 2],
    /// Bandwidth.
    pub bandwidth: u16,
    /// Motors, Unitree's order.
    pub motor_cmd: [MotorCmd; MOTORS],
    /// The battery.
    pub bms_cmd: BmsCmd,
    /// The remote's raw bytes.
    #[serde(with = "bytes40")]
    pub wireless_remote: [u8; 40],
    /// LEDs.
    pub led: [u8; 12],
    /// Fans.
    pub fan: [u8; 2],
    /// GPIO.
    pub gpio: u8,
    /// Reserved.
    pub reserve: u32,
    /// CRC-32 of the message's C layout (see [`crate::unitree::crc`]).
    pub crc: u32,
}

impl Default for LowState {
    fn default() -> Self {
        Self {
            head: [0; 2],
            level_flag: 0,
            frame_reserve: 0,
            sn: [0; 2],
            version: [0; 2],
            bandwidth: 0,
            imu_state: ImuState::default(),
            motor_state: [MotorState::default(); MOTORS],
            bms_state: BmsState::default(),
            foot_force: [0; 4],
            foot_force_est: [0; 4],
            tick: 0,
            wireless_remote: [0; 40],
            bit_flag: 0,
            adc_reel: 0.0,
            temperature_ntc1: 0,
            temperature_ntc2: 0,
            power_v: 0.0,
            power_a: 0.0,
            fan_frequency: [0; 4],
            reserve: 0,
            crc: 0,
        }
    }
}

impl Default for LowCmd {
    /// A command that holds nothing: every motor off, header and level as the SDK sets them.
    fn default() -> Self {
        Self {
            head: [0xFE, 0xEF],
            level_flag: 0xFF,
            frame_reserve: 0,
            sn: [0; 2],
            version: [0; 2],
            bandwidth: 0,
            motor_cmd: [MotorCmd {
                mode: 0,
                q: POS_STOP_F,
                dq: VEL_STOP_F,
                ..MotorCmd::default()
            }; MOTORS],
            bms_cmd: BmsCmd::default(),
            wireless_remote: [0; 40],
            led: [0; 12],
            fan: [0; 2],
            gpio: 0,
            reserve: 0,
            crc: 0,
        }
    }
}

/// `[u8; 40]` as a CDR fixed array (serde derives arrays only up to 32).
mod bytes40 {
    use serde::de::{Error, SeqAccess, Visitor};
    use serde::ser::SerializeTuple;
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8; 40], s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(40)?;
        for b in v {
            t.serialize_element(b)?;
        }
        t.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 40], D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = [u8; 40];
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("40 bytes")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<[u8; 40], A::Error> {
                let mut out = [0u8; 40];
                for (i, b) in out.iter_mut().enumerate() {
                    *b = seq
                        .next_element()?
                        .ok_or_else(|| A::Error::invalid_length(i, &self))?;
                }
                Ok(out)
            }
        }
        d.deserialize_tuple(40, V)
    }
}
