//! Unitree robots without ROS: the SDK2 low-level interface (`rt/lowstate` in, `rt/lowcmd` out,
//! `unitree_go` IDL over DDS, CRC-checked), as a transport of the same bridge the ROS 2 backends
//! use ([`crate::ros::bridge`]): one robot interface, one set of inbound checks (plausibility,
//! one publisher per topic, counted rejections), robot-triggered cycles on each LowState.
//!
//! Motors are in Unitree's order, which is the catalogue's hardware order for the Unitree robots
//! (Go2: FR, FL, RR, RL × hip, thigh, calf). Each command goes to the motors as q, dq, kp, kd and
//! τ_ff (mode 0x01), so the motor drivers close the PD loop on their own encoders at their own
//! rate; motors the robot does not use are sent `PosStopF` / `VelStopF` with zero gains.

pub mod crc;
pub mod msg;

use std::net::Ipv4Addr;
use std::pin::pin;
use std::thread::JoinHandle;

use futures::{FutureExt, StreamExt};
use ros2_client::dds::rustdds::{
    self, policy, DomainParticipantBuilder, QosPolicies, QosPolicyBuilder, TopicKind,
};

use crate::ros::bridge::IoSide;
use crate::ros::mapping::{CommandMessage, OutboundCommand};
use crate::ros::msg::builtin_interfaces::Time;
use crate::ros::msg::geometry_msgs::{Quaternion, Vector3};
use crate::ros::msg::sensor_msgs::{Imu, JointState};
use crate::ros::msg::std_msgs::Header;
use crate::ros::publishers::WriterGuid;
use crate::ros::{BridgeConfig, BridgeError};
use msg::{LowCmd, LowState, MotorCmd, LOW_CMD_TYPE, LOW_STATE_TYPE};

/// The LowCmd for a command (CRC filled in): the robot's motors in its order, the rest off.
pub fn low_cmd(c: &OutboundCommand) -> LowCmd {
    let mut cmd = LowCmd::default();
    for (i, m) in cmd
        .motor_cmd
        .iter_mut()
        .enumerate()
        .take(c.position_rad.len())
    {
        *m = MotorCmd {
            mode: 0x01,
            q: c.position_rad[i] as f32,
            dq: c.velocity_rad_s[i] as f32,
            tau: c.effort_ff_nm[i] as f32,
            kp: c.kp[i] as f32,
            kd: c.kd[i] as f32,
            reserve: [0; 3],
        };
    }
    cmd.crc = crc::low_cmd_crc(&cmd);
    cmd
}

/// The IMU and joint parts of a LowState, stamped `now_ns` (system time): quaternion w x y z →
/// x y z w; motor i → joint `names[i]` (position, velocity, estimated torque).
pub fn split_low_state(m: &LowState, names: &[String], now_ns: i128) -> (Imu, JointState) {
    let header = Header {
        stamp: Time::from_ns(now_ns),
        frame_id: String::new(),
    };
    let i = &m.imu_state;
    let [w, x, y, z] = i.quaternion.map(f64::from);
    let v3 = |a: [f32; 3]| Vector3 {
        x: a[0] as f64,
        y: a[1] as f64,
        z: a[2] as f64,
    };
    let imu = Imu {
        header: header.clone(),
        orientation: Quaternion { x, y, z, w },
        angular_velocity: v3(i.gyroscope),
        linear_acceleration: v3(i.accelerometer),
        ..Default::default()
    };
    let n = names.len().min(msg::MOTORS);
    let motors = &m.motor_state[..n];
    let js = JointState {
        header,
        name: names[..n].to_vec(),
        position: motors.iter().map(|s| s.q as f64).collect(),
        velocity: motors.iter().map(|s| s.dq as f64).collect(),
        effort: motors.iter().map(|s| s.tau_est as f64).collect(),
    };
    (imu, js)
}

fn err(what: &str, e: impl std::fmt::Debug) -> BridgeError {
    BridgeError::Transport(format!("{what}: {e:?}"))
}

fn qos(reliable: bool) -> QosPolicies {
    let mut b = QosPolicyBuilder::new()
        .durability(policy::Durability::Volatile)
        .history(policy::History::KeepLast { depth: 1 });
    b = if reliable {
        b.reliability(policy::Reliability::Reliable {
            max_blocking_time: rustdds::Duration::ZERO,
        })
    } else {
        b.reliability(policy::Reliability::BestEffort)
    };
    b.build()
}

/// Starts the SDK2 transport: a DDS participant on `cfg`'s domain and interface, a best-effort
/// LowState reader and a reliable LowCmd writer (matching the robot's readers whatever their
/// reliability), and the I/O thread. `cfg.joint_states_topic` names the LowState topic,
/// `cfg.command_topic` the LowCmd topic.
pub fn spawn(
    cfg: BridgeConfig,
    mut io: IoSide,
) -> Result<JoinHandle<Result<(), String>>, BridgeError> {
    let mut dpb = DomainParticipantBuilder::new(cfg.domain_id);
    if cfg.only_loopback {
        dpb = dpb.with_only_networks([Ipv4Addr::LOCALHOST]);
    } else if let Some(ip) = cfg.network_address {
        dpb = dpb.with_only_networks([ip]);
    }
    let dp = dpb.build().map_err(|e| err("DDS participant", e))?;
    let state_topic = dp
        .create_topic(
            cfg.joint_states_topic.clone(),
            LOW_STATE_TYPE.into(),
            &qos(false),
            TopicKind::NoKey,
        )
        .map_err(|e| err(&format!("topic {}", cfg.joint_states_topic), e))?;
    let cmd_topic = dp
        .create_topic(
            cfg.command_topic.clone(),
            LOW_CMD_TYPE.into(),
            &qos(true),
            TopicKind::NoKey,
        )
        .map_err(|e| err(&format!("topic {}", cfg.command_topic), e))?;
    let sub = dp
        .create_subscriber(&qos(false))
        .map_err(|e| err("subscriber", e))?;
    let publ = dp
        .create_publisher(&qos(true))
        .map_err(|e| err("publisher", e))?;
    let reader = sub
        .create_datareader_no_key_cdr::<LowState>(&state_topic, None)
        .map_err(|e| err("LowState reader", e))?;
    let writer = publ
        .create_datawriter_no_key_cdr::<LowCmd>(&cmd_topic, None)
        .map_err(|e| err("LowCmd writer", e))?;
    let spin = std::time::Duration::from_micros(cfg.spin_for_command_us);
    crate::spawn_named("reflex-ros-io", move || -> Result<(), String> {
        let _keep = (&dp, &sub, &publ);
        futures::executor::block_on(async {
            let mut states = pin!(reader.async_sample_stream());
            loop {
                let wake = io.command_or_stop();
                futures::select_biased! {
                    s = states.next() => match s {
                        Some(Ok(sample)) => {
                            let w = ros2_client::Gid::from(sample.sample_info().writer_guid());
                            io.on_low_state(sample.value(), Some(WriterGuid(w.to_bytes16())));
                            io.spin_for_command(spin);
                        }
                        Some(Err(_)) => io.on_undecodable(),
                        None => {}
                    },
                    _ = wake.fuse() => {},
                }
                if let Some(CommandMessage::LowCmd(c)) = io.take_command() {
                    match writer.write(*c, None) {
                        Ok(()) => io.published(),
                        Err(e) => eprintln!("[reflex] LowCmd publish failed: {e:?}"),
                    }
                }
                if io.stopping() {
                    return Ok(());
                }
            }
        })
    })
    .map_err(|e| err("I/O thread", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_fills_the_robot_s_motors_and_stops_the_rest() {
        let mut c = OutboundCommand::new(12);
        c.position_rad[3] = 0.5;
        c.kp[3] = 40.0;
        c.kd[3] = 1.0;
        c.effort_ff_nm[3] = -2.0;
        let m = low_cmd(&c);
        assert_eq!((m.head, m.level_flag), ([0xFE, 0xEF], 0xFF));
        assert_eq!(m.motor_cmd[3].mode, 1);
        assert_eq!(
            (m.motor_cmd[3].q, m.motor_cmd[3].kp, m.motor_cmd[3].tau),
            (0.5, 40.0, -2.0)
        );
        assert_eq!(m.motor_cmd[12].mode, 0);
        assert_eq!(m.motor_cmd[12].q, msg::POS_STOP_F);
        assert_eq!(m.crc, crc::low_cmd_crc(&m));
        let mut corrupted = m;
        corrupted.motor_cmd[3].q = 0.6;
        assert_ne!(crc::low_cmd_crc(&corrupted), m.crc);
    }
}
