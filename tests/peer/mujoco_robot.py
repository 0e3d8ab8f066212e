#!/usr/bin/env python3
"""A legged robot played by MuJoCo behind Cyclone DDS: an independent simulator on the wire.

The robot is Reflex's own URDF (hardware/models/<model>/<model>.urdf) in MuJoCo 4, with what a
real robot's low-level driver gives: sensor_msgs/JointState (position, velocity, effort) and
sensor_msgs/Imu (orientation, gyro and accelerometer from MuJoCo sensors at the base) at --rate,
published before each control period; joint torques from Reflex's effort commands
(std_msgs/Float64MultiArray, hardware order) applied until the next one. Before the first command
the driver holds the pose with its own PD; a command stream that stops for 50 ms leaves damping
only, as Unitree's drivers do.

Physics: dt 0.001 s, implicitfast, floor friction 1 with 4 noslip iterations (MuJoCo's soft
contacts otherwise let loaded feet creep: under a controller that leans on its feet, an A1 slides
into the splits over seconds, which a real floor's static friction does not do), armature
0.01 kg m^2, robot-floor contacts only, torques clamped to the URDF effort limits. Faults on the robot's side: --stall-at T
--stall-ms D (the state stream pauses), --push-at T --push-n FX FY FZ --push-s S (a force on the
base). Times are seconds after the first command.

Writes JSON: matched, states and commands counted, the base height/roll/pitch trace at 50 Hz,
and the minimum height, largest tilt and mean forward speed (heading frame) from --judge-from on,
while commands keep coming; and its own publish gaps over 10 ms that it did not schedule (the VM
paused it), with the longest.
With --sdk2 it speaks Unitree SDK2 instead (rt/lowstate, rt/lowcmd, the SDK's own IDL and CRC
from PyPI's unitree-sdk2): the motors then run each LowCmd's PD + tau at every physics step.

usage: mujoco_robot.py --model a1 --out RESULT.json [--duration 10] [--rate 500] [--sdk2]
"""
import argparse
import ctypes
import json
import math
import time
from pathlib import Path

import mujoco
import numpy as np
from cyclonedds.core import Policy, Qos
from cyclonedds.domain import DomainParticipant
from cyclonedds.pub import DataWriter
from cyclonedds.sub import DataReader
from cyclonedds.topic import Topic
from cyclonedds.util import duration

from ros2_msgs import (DiagnosticArray, Float64MultiArray, Header, Imu, JointState, Quaternion,
                       Time, Vector3)

ROOT = Path(__file__).resolve().parents[2]
REPR = Policy.DataRepresentation(use_cdrv0_representation=True)
SENSOR = Qos(Policy.Reliability.BestEffort, Policy.History.KeepLast(5), Policy.Durability.Volatile, REPR)
RELIABLE = Qos(Policy.Reliability.Reliable(max_blocking_time=duration(milliseconds=100)),
               Policy.History.KeepLast(10), Policy.Durability.Volatile, REPR)

# Reflex's hardware order for the Unitree quadrupeds (the catalogue's): FR, FL, RR, RL.
JOINTS = [f"{leg}_{p}_joint" for leg in ["FR", "FL", "RR", "RL"] for p in ["hip", "thigh", "calf"]]
# The stand pose of launch/config/a1_ros.yaml and go2_ros.yaml (hardware order).
STAND = [-0.1, 0.8, -1.5, 0.1, 0.8, -1.5, -0.1, 1.0, -1.5, 0.1, 1.0, -1.5]
DT = 0.001


def stamp():
    t = time.time_ns()
    return Time(sec=t // 10**9, nanosec=t % 10**9)


def build(model: str, noslip: int = 0):
    urdf = ROOT / "hardware/models" / model / f"{model}.urdf"
    spec = mujoco.MjSpec.from_file(str(urdf))
    spec.option.timestep = DT
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    spec.option.noslip_iterations = noslip
    spec.compiler.discardvisual = True
    for g in spec.geoms:
        g.contype, g.conaffinity = 1, 0
        g.friction = [1.0, 0.005, 0.0001]
    root = spec.worldbody.first_body()
    root.add_freejoint()
    root.add_site(name="imu")
    spec.add_sensor(type=mujoco.mjtSensor.mjSENS_GYRO, objtype=mujoco.mjtObj.mjOBJ_SITE, objname="imu")
    spec.add_sensor(type=mujoco.mjtSensor.mjSENS_ACCELEROMETER, objtype=mujoco.mjtObj.mjOBJ_SITE, objname="imu")
    spec.worldbody.add_geom(name="floor", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[50, 50, 0.1],
                            friction=[1.0, 0.005, 0.0001], contype=0, conaffinity=1)
    import xml.etree.ElementTree as ET
    eff = {j.get("name"): float(j.find("limit").get("effort")) for j in ET.parse(urdf).getroot().findall("joint")
           if j.find("limit") is not None}
    for j in spec.joints:
        if j.type != mujoco.mjtJoint.mjJNT_FREE:
            j.armature = 0.01
    for n in JOINTS:
        act = spec.add_actuator(name=n, target=n, trntype=mujoco.mjtTrn.mjTRN_JOINT)
        act.gainprm[0] = 1.0
        act.forcelimited = True
        act.forcerange = [-eff[n], eff[n]]
    m = spec.compile()
    return m, root.name, np.array([eff[n] for n in JOINTS])


class RosLink:
    """ROS 2 topics: JointState + Imu out, effort commands (Float64MultiArray) in."""

    def __init__(self, dp):
        self.state_writer = DataWriter(dp, Topic(dp, "rt/joint_states", JointState, qos=SENSOR), qos=SENSOR)
        self.imu_w = DataWriter(dp, Topic(dp, "rt/imu/data", Imu, qos=SENSOR), qos=SENSOR)
        self.cmd_r = DataReader(dp, Topic(dp, "rt/joint_commands", Float64MultiArray, qos=RELIABLE), qos=RELIABLE)
        self.diag_r = DataReader(dp, Topic(dp, "rt/diagnostics", DiagnosticArray, qos=RELIABLE), qos=RELIABLE)
        self.d = None

    def publish(self, d, qadr, vadr):
        h = Header(stamp=stamp(), frame_id="base")
        self.state_writer.write(JointState(header=h, name=JOINTS, position=list(d.qpos[qadr]),
                                           velocity=list(d.qvel[vadr]), effort=list(d.actuator_force)))
        w, x, y, z = d.qpos[3:7]
        g, a = d.sensordata[0:3], d.sensordata[3:6]
        self.imu_w.write(Imu(header=h, orientation=Quaternion(x=x, y=y, z=z, w=w),
                             angular_velocity=Vector3(x=g[0], y=g[1], z=g[2]),
                             linear_acceleration=Vector3(x=a[0], y=a[1], z=a[2])))

    def take(self):
        """The newest command as a torque law, or None."""
        got = [s for s in self.cmd_r.take(N=20) if isinstance(s, Float64MultiArray) and len(s.data) == len(JOINTS)]
        if not got:
            return None
        tau = np.array(got[-1].data)
        return lambda q, dq: tau

    def diagnostics(self):
        return [{kv.key: kv.value for kv in s.status[0].values} for s in self.diag_r.take(N=10)
                if isinstance(s, DiagnosticArray) and s.status]

    def counts(self):
        return {}


class Sdk2Link:
    """Unitree SDK2 low level, with the SDK's own IDL and CRC: LowState out, LowCmd in; each
    motor applies kp(q* - q) + kd(dq* - dq) + tau on its own encoder, as Unitree's drivers do."""

    def __init__(self, dp, args):
        from sdk2 import load
        self.sdk = load()
        self.state_writer = DataWriter(dp, Topic(dp, "rt/lowstate", self.sdk.LowState_, qos=SENSOR), qos=SENSOR)
        self.cmd_r = DataReader(dp, Topic(dp, "rt/lowcmd", self.sdk.LowCmd_, qos=RELIABLE), qos=RELIABLE)
        self.args = args
        self.sent = 0
        self.bad_crc_sent = 0
        self.short_sent = 0
        self.bad_crc_received = 0
        if args.short_every:
            from dataclasses import dataclass
            from cyclonedds.idl import IdlStruct
            import cyclonedds.idl.annotations as annotate
            from cyclonedds.idl.types import array, uint8

            @dataclass
            @annotate.final
            class ShortLowState(IdlStruct, typename="unitree_go.msg.dds_.LowState_"):
                head: array[uint8, 2]

            self.short_t = ShortLowState
            self.short_w = DataWriter(dp, Topic(dp, "rt/lowstate", ShortLowState, qos=SENSOR), qos=SENSOR)

    def publish(self, d, qadr, vadr):
        m = self.sdk.new_low_state()
        m.head = [0xFE, 0xEF]
        m.level_flag = 0xFF
        w, x, y, z = d.qpos[3:7]
        m.imu_state.quaternion = [float(w), float(x), float(y), float(z)]
        m.imu_state.gyroscope = [float(v) for v in d.sensordata[0:3]]
        m.imu_state.accelerometer = [float(v) for v in d.sensordata[3:6]]
        for i in range(len(JOINTS)):
            ms = m.motor_state[i]
            ms.mode = 0x01
            ms.q = float(d.qpos[qadr[i]])
            ms.dq = float(d.qvel[vadr[i]])
            ms.tau_est = float(d.actuator_force[i])
        m.tick = int(time.monotonic() * 1000) & 0xFFFFFFFF
        m.crc = self.sdk.fast_crc(m)
        self.sent += 1
        if self.args.corrupt_every and self.sent % self.args.corrupt_every == 0:
            m.crc ^= 0x1
            self.bad_crc_sent += 1
        self.state_writer.write(m)
        if self.args.short_every and self.sent % self.args.short_every == 0:
            self.short_w.write(self.short_t(head=[0xFE, 0xEF]))
            self.short_sent += 1

    def take(self):
        got = [s for s in self.cmd_r.take(N=20) if isinstance(s, self.sdk.LowCmd_)]
        if not got:
            return None
        c = got[-1]
        if self.sdk.fast_crc(c) != c.crc:
            self.bad_crc_received += 1
            return None
        n = len(JOINTS)
        mc = c.motor_cmd[:n]
        q_ref = np.array([x.q for x in mc])
        dq_ref = np.array([x.dq for x in mc])
        kp = np.array([x.kp for x in mc])
        kd = np.array([x.kd for x in mc])
        tau = np.array([x.tau for x in mc])
        on = np.array([x.mode == 0x01 for x in mc])
        return lambda q, dq: np.where(on, kp * (q_ref - q) + kd * (dq_ref - dq) + tau, 0.0)

    def diagnostics(self):
        return []

    def counts(self):
        return {"low_states_with_bad_crc": self.bad_crc_sent, "short_low_states": self.short_sent,
                "low_cmds_with_bad_crc": self.bad_crc_received}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="a1", choices=["a1", "go2"])
    ap.add_argument("--out", required=True)
    ap.add_argument("--rate", type=float, default=500.0)
    ap.add_argument("--duration", type=float, default=10.0, help="seconds after the first command")
    ap.add_argument("--wait-match", type=float, default=20.0)
    ap.add_argument("--stall-at", type=float, default=-1.0)
    ap.add_argument("--stall-ms", type=float, default=0.0)
    ap.add_argument("--push-at", type=float, default=-1.0)
    ap.add_argument("--push-n", type=float, nargs=3, default=[0.0, 0.0, 0.0])
    ap.add_argument("--push-s", type=float, default=0.2)
    ap.add_argument("--judge-from", type=float, default=3.0)
    ap.add_argument("--sdk2", action="store_true",
                    help="speak Unitree SDK2 (rt/lowstate, rt/lowcmd) instead of ROS 2 topics")
    ap.add_argument("--corrupt-every", type=int, default=0,
                    help="SDK2: every Nth LowState goes out with a wrong CRC")
    ap.add_argument("--short-every", type=int, default=0,
                    help="SDK2: every Nth period also sends a truncated LowState (wrong length)")
    ap.add_argument("--noslip", type=int, default=4,
                    help="MuJoCo noslip iterations; 0 leaves MuJoCo's soft contacts, under which feet creep")
    args = ap.parse_args()

    m, base_name, effort = build(args.model, args.noslip)
    d = mujoco.MjData(m)
    jids = [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, n) for n in JOINTS]
    qadr = np.array([m.jnt_qposadr[j] for j in jids])
    vadr = np.array([m.jnt_dofadr[j] for j in jids])
    base = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, base_name)
    stand = np.array(STAND)
    # Standing pose, feet on the floor: drop from a little above and settle under the driver's PD.
    d.qpos[2] = 0.35
    d.qpos[3:7] = [1, 0, 0, 0]
    d.qpos[qadr] = stand
    kp, kd = 60.0, 2.0

    def pd_hold():
        return np.clip(kp * (stand - d.qpos[qadr]) - kd * d.qvel[vadr], -effort, effort)

    for _ in range(1000):
        d.ctrl[:] = pd_hold()
        mujoco.mj_step(m, d)

    dp = DomainParticipant(0)
    if args.sdk2:
        link = Sdk2Link(dp, args)
    else:
        link = RosLink(dp)
    js_w = link.state_writer
    t_end = time.time() + args.wait_match
    while not js_w.get_matched_subscriptions() and time.time() < t_end:
        time.sleep(0.01)
    matched = bool(js_w.get_matched_subscriptions())

    period = 1.0 / args.rate
    steps = max(1, round(period / DT))
    command = None
    first_cmd = None
    last_cmd = 0.0
    states = commands = 0
    trace, diags = [], []
    min_z, max_tilt = math.inf, 0.0
    fwd_sum, judged = 0.0, 0
    # Publish gaps the peer did not schedule (the VM or the scheduler paused it) while commands
    # came: a run with one near the node's sensor timeout cannot judge the node; the tests rerun it.
    last_pub, after_stall, gaps, max_gap = None, False, [], 0.0
    # A robot's driver locks its memory: page-outs of the shared VM must not stall it.
    ctypes.CDLL(None, use_errno=True).mlockall(3)  # MCL_CURRENT | MCL_FUTURE; best effort
    started = time.monotonic()
    next_t = started
    while True:
        now = time.monotonic()
        t = (now - first_cmd) if first_cmd is not None else -1.0
        if first_cmd is not None and t > args.duration:
            break
        if first_cmd is None and now - started > args.wait_match:
            break
        stalled = args.stall_at >= 0 and args.stall_at <= t < args.stall_at + args.stall_ms / 1e3
        if not stalled:
            pub = time.monotonic()
            if last_pub is not None and not after_stall and pub - last_cmd <= 0.05:
                gap = pub - last_pub
                max_gap = max(max_gap, gap)
                if gap > 0.010:
                    gaps.append([round(t, 3), round(gap * 1e3, 1)])
            last_pub, after_stall = pub, False
            link.publish(d, qadr, vadr)
            states += 1
        else:
            after_stall = True
        # The answer to this state: wait for it up to half a period (robot-triggered Reflex
        # answers within a fraction of a millisecond).
        wait_until = time.monotonic() + (period / 2 if not stalled else 0.0)
        while True:
            got = link.take()
            if got is not None:
                command = got
                commands += 1
                last_cmd = time.monotonic()
                if first_cmd is None:
                    first_cmd = last_cmd
                break
            if time.monotonic() >= wait_until:
                break
            time.sleep(50e-6)
        pushing = args.push_at >= 0 and args.push_at <= t < args.push_at + args.push_s
        d.xfrc_applied[base, :3] = args.push_n if pushing else [0.0, 0.0, 0.0]
        live_cmd = command is not None and time.monotonic() - last_cmd <= 0.05
        for _ in range(steps):
            # The motor drivers: each physics step, on the motors' own (fresh) encoders.
            if command is None:
                d.ctrl[:] = pd_hold()
            elif not live_cmd:
                d.ctrl[:] = np.clip(-kd * d.qvel[vadr], -effort, effort)
            else:
                d.ctrl[:] = np.clip(command(d.qpos[qadr], d.qvel[vadr]), -effort, effort)
            mujoco.mj_step(m, d)
        w, x, y, z = d.qpos[3:7]
        roll = math.atan2(2 * (w * x + y * z), 1 - 2 * (x * x + y * y))
        pitch = math.asin(max(-1.0, min(1.0, 2 * (w * y - z * x))))
        live = time.monotonic() - last_cmd <= 0.05
        if first_cmd is not None and t >= args.judge_from and live:
            min_z = min(min_z, float(d.qpos[2]))
            max_tilt = max(max_tilt, abs(roll), abs(pitch))
            yaw = math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
            vx, vy = d.qvel[0], d.qvel[1]
            fwd_sum += math.cos(yaw) * vx + math.sin(yaw) * vy
            judged += 1
        if first_cmd is not None and (not trace or t - trace[-1][0] >= 0.02):
            trace.append([round(t, 4), round(float(d.qpos[2]), 4), round(roll, 4), round(pitch, 4)])
        diags.extend([t, v] for v in link.diagnostics())
        next_t += period
        sleep = next_t - time.monotonic()
        if sleep > 0:
            time.sleep(sleep)
        else:
            next_t = time.monotonic()
    json.dump({"matched": matched, "states_sent": states, "commands": commands,
               "commanded": first_cmd is not None, "min_height_m": min_z if min_z < math.inf else None,
               "max_tilt_rad": max_tilt, "final_height_m": float(d.qpos[2]), "trace": trace,
               "mean_forward_m_s": fwd_sum / judged if judged else None,
               "diagnostics": diags[-3:], "max_publish_gap_ms": round(max_gap * 1e3, 2),
               "publish_gaps_over_10ms": gaps[:50], **link.counts()}, open(args.out, "w"))


if __name__ == "__main__":
    main()
