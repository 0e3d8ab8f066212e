//! The CRC Unitree's motor controllers check: the SDK's `crc32_core` (CRC-32/MPEG-2: polynomial
//! 0x04C11DB7, initial value 0xFFFFFFFF, no reflection, no final XOR) over the message's C struct
//! layout (little-endian, natural alignment), taken as 32-bit words, every word but the last
//! (the `crc` field itself). A LowCmd without the right CRC is ignored by the robot; a LowState
//! whose CRC does not match was corrupted (or forged) on the way.

use crate::unitree::msg::{LowCmd, LowState};

/// `sizeof(LowCmd_)` in the SDK's C++ headers.
pub const LOW_CMD_BYTES: usize = 812;
/// `sizeof(LowState_)` in the SDK's C++ headers.
pub const LOW_STATE_BYTES: usize = 1180;

/// The SDK's `crc32_core` over `words`.
pub fn crc32_core(words: impl IntoIterator<Item = u32>) -> u32 {
    const POLY: u32 = 0x04C1_1DB7;
    let mut crc = 0xFFFF_FFFFu32;
    for data in words {
        let mut bit = 1u32 << 31;
        for _ in 0..32 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ POLY
            } else {
                crc << 1
            };
            if data & bit != 0 {
                crc ^= POLY;
            }
            bit >>= 1;
        }
    }
    crc
}

/// Little-endian writer of a C struct layout with explicit padding.
struct Packer<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl Packer<'_> {
    fn bytes(&mut self, b: &[u8]) {
        self.buf[self.at..self.at + b.len()].copy_from_slice(b);
        self.at += b.len();
    }
    fn u8(&mut self, v: u8) {
        self.bytes(&[v]);
    }
    fn pad(&mut self, n: usize) {
        self.at += n;
    }
    fn u16(&mut self, v: u16) {
        self.bytes(&v.to_le_bytes());
    }
    fn i16(&mut self, v: i16) {
        self.bytes(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes());
    }
    fn i32(&mut self, v: i32) {
        self.bytes(&v.to_le_bytes());
    }
    fn f32(&mut self, v: f32) {
        self.bytes(&v.to_le_bytes());
    }
    /// The header LowCmd and LowState share: head, level flag, frame reserve, serial number,
    /// version, bandwidth (then 2 bytes of padding).
    fn header(
        &mut self,
        head: &[u8; 2],
        flags: [u8; 2],
        sn: &[u32; 2],
        version: &[u32; 2],
        bandwidth: u16,
    ) {
        self.bytes(head);
        self.u8(flags[0]);
        self.u8(flags[1]);
        sn.iter().chain(version).for_each(|v| self.u32(*v));
        self.u16(bandwidth);
        self.pad(2);
    }
}

fn words(buf: &[u8]) -> impl Iterator<Item = u32> + '_ {
    // Every word but the last: the CRC field.
    buf[..buf.len() - 4]
        .chunks_exact(4)
        .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
}

/// The CRC of `cmd` as the robot checks it (its own `crc` field is not part of it).
pub fn low_cmd_crc(cmd: &LowCmd) -> u32 {
    let mut buf = [0u8; LOW_CMD_BYTES];
    let mut p = Packer {
        buf: &mut buf,
        at: 0,
    };
    p.header(
        &cmd.head,
        [cmd.level_flag, cmd.frame_reserve],
        &cmd.sn,
        &cmd.version,
        cmd.bandwidth,
    );
    for m in &cmd.motor_cmd {
        p.u8(m.mode);
        p.pad(3);
        for v in [m.q, m.dq, m.tau, m.kp, m.kd] {
            p.f32(v);
        }
        m.reserve.iter().for_each(|v| p.u32(*v));
    }
    p.u8(cmd.bms_cmd.off);
    p.bytes(&cmd.bms_cmd.reserve);
    p.bytes(&cmd.wireless_remote);
    p.bytes(&cmd.led);
    p.bytes(&cmd.fan);
    p.u8(cmd.gpio);
    p.pad(1);
    p.u32(cmd.reserve);
    p.u32(cmd.crc);
    debug_assert_eq!(p.at, LOW_CMD_BYTES);
    crc32_core(words(&buf))
}

/// The CRC of `s` as the robot computes it.
pub fn low_state_crc(s: &LowState) -> u32 {
    let mut buf = [0u8; LOW_STATE_BYTES];
    let mut p = Packer {
        buf: &mut buf,
        at: 0,
    };
    p.header(
        &s.head,
        [s.level_flag, s.frame_reserve],
        &s.sn,
        &s.version,
        s.bandwidth,
    );
    let imu = &s.imu_state;
    imu.quaternion
        .iter()
        .chain(&imu.gyroscope)
        .chain(&imu.accelerometer)
        .chain(&imu.rpy)
        .for_each(|v| p.f32(*v));
    p.u8(imu.temperature);
    p.pad(3);
    for m in &s.motor_state {
        p.u8(m.mode);
        p.pad(3);
        for v in [m.q, m.dq, m.ddq, m.tau_est, m.q_raw, m.dq_raw, m.ddq_raw] {
            p.f32(v);
        }
        p.u8(m.temperature);
        p.pad(3);
        p.u32(m.lost);
        m.reserve.iter().for_each(|v| p.u32(*v));
    }
    let b = &s.bms_state;
    p.bytes(&[b.version_high, b.version_low, b.status, b.soc]);
    p.i32(b.current);
    p.u16(b.cycle);
    p.bytes(&b.bq_ntc);
    p.bytes(&b.mcu_ntc);
    b.cell_vol.iter().for_each(|v| p.u16(*v));
    s.foot_force
        .iter()
        .chain(&s.foot_force_est)
        .for_each(|v| p.i16(*v));
    p.u32(s.tick);
    p.bytes(&s.wireless_remote);
    p.u8(s.bit_flag);
    p.pad(3);
    p.f32(s.adc_reel);
    p.u8(s.temperature_ntc1);
    p.u8(s.temperature_ntc2);
    p.pad(2);
    p.f32(s.power_v);
    p.f32(s.power_a);
    s.fan_frequency.iter().for_each(|v| p.u16(*v));
    p.u32(s.reserve);
    p.u32(s.crc);
    debug_assert_eq!(p.at, LOW_STATE_BYTES);
    crc32_core(words(&buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_core_is_crc32_mpeg2() {
        // CRC-32/MPEG-2 of the bytes "123456789" is 0x0376E6E7; as one word-stream the SDK
        // feeds each little-endian word most significant bit first, so feed the big-endian
        // words of the same bytes.
        let bytes = *b"12345678";
        let w = [
            u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
            u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
        ];
        assert_eq!(crc32_core(w), crc_mpeg2_bytes(&bytes));
    }

    /// A byte-wise CRC-32/MPEG-2, written independently of `crc32_core`.
    fn crc_mpeg2_bytes(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in data {
            crc ^= (b as u32) << 24;
            for _ in 0..8 {
                crc = if crc & 0x8000_0000 != 0 {
                    (crc << 1) ^ 0x04C1_1DB7
                } else {
                    crc << 1
                };
            }
        }
        crc
    }

    #[test]
    fn check_value_of_crc32_mpeg2() {
        assert_eq!(crc_mpeg2_bytes(b"123456789"), 0x0376_E6E7);
    }
}
