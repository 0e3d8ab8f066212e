#!/usr/bin/env python3
"""A robot played by Eclipse Cyclone DDS (the DDS of rmw_cyclonedds), for Reflex's ROS 2 tests.

It publishes sensor_msgs/JointState (joint names shuffled in every message) and sensor_msgs/Imu
at --rate, receives Reflex's commands (Float64MultiArray or JointTrajectory) and diagnostics,
optionally sends a burst of hostile messages, stops publishing at --stop-at (seconds after its
first sample) and writes what it saw as JSON.

usage: robot_peer.py --joints JSON --out RESULT.json [--rate 500] [--duration 5] [--stop-at 2.5]
                     [--hostile-at 1.0] [--interface effort_array|position_array|joint_trajectory]
The --joints file maps joint name -> measured position (rad) the robot reports.
"""
import argparse
import json
import math
import random
import time

from cyclonedds.core import Policy, Qos
from cyclonedds.domain import DomainParticipant
from cyclonedds.pub import DataWriter
from cyclonedds.sub import DataReader
from cyclonedds.topic import Topic
from cyclonedds.util import duration

from ros2_msgs import (DiagnosticArray, Float64MultiArray, Header, Imu, JointState,
                       JointTrajectory, Quaternion, Time, Vector3)

REPR = Policy.DataRepresentation(use_cdrv0_representation=True)
SENSOR = Qos(Policy.Reliability.BestEffort, Policy.History.KeepLast(5), Policy.Durability.Volatile, REPR)
RELIABLE = Qos(Policy.Reliability.Reliable(max_blocking_time=duration(milliseconds=100)),
               Policy.History.KeepLast(10), Policy.Durability.Volatile, REPR)


def stamp(offset_s=0.0):
    t = time.time_ns() + int(offset_s * 1e9)
    return Time(sec=t // 10**9, nanosec=t % 10**9)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--joints", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--rate", type=float, default=500.0)
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--stop-at", type=float, default=2.5)
    ap.add_argument("--hostile-at", type=float, default=-1.0)
    ap.add_argument("--interface", default="effort_array")
    ap.add_argument("--wait-match", type=float, default=20.0)
    ap.add_argument("--prefix", default="", help="namespace of the robot's own topics, e.g. /a1")
    ap.add_argument("--poll-us", type=float, default=200.0, help="sleep between polls (latency benchmark: small)")
    args = ap.parse_args()
    joints = json.load(open(args.joints))
    names = list(joints)
    rng = random.Random(7)

    dp = DomainParticipant(0)
    pre = "rt" + args.prefix
    js_w = DataWriter(dp, Topic(dp, pre + "/joint_states", JointState, qos=SENSOR), qos=SENSOR)
    imu_w = DataWriter(dp, Topic(dp, pre + "/imu/data", Imu, qos=SENSOR), qos=SENSOR)
    cmd_type = JointTrajectory if args.interface == "joint_trajectory" else Float64MultiArray
    cmd_r = DataReader(dp, Topic(dp, pre + "/joint_commands", cmd_type, qos=RELIABLE), qos=RELIABLE)
    diag_r = DataReader(dp, Topic(dp, "rt/diagnostics", DiagnosticArray, qos=RELIABLE), qos=RELIABLE)

    t_end = time.time() + args.wait_match
    while not js_w.get_matched_subscriptions() and time.time() < t_end:
        time.sleep(0.01)
    matched = bool(js_w.get_matched_subscriptions())

    commands, diags, sent, hostile = [], [], 0, 0
    t0 = time.monotonic()
    period = 1.0 / args.rate
    next_t = t0
    hostile_done = args.hostile_at < 0
    while time.monotonic() - t0 < args.duration:
        now = time.monotonic() - t0
        if now < args.stop_at and time.monotonic() >= next_t:
            order = names[:]
            rng.shuffle(order)
            h = Header(stamp=stamp(), frame_id="base")
            js_w.write(JointState(header=h, name=order, position=[joints[n] for n in order],
                                  velocity=[0.0] * len(order), effort=[]))
            imu_w.write(Imu(header=h, orientation=Quaternion(x=0.0, y=0.0, z=0.0, w=1.0),
                            angular_velocity=Vector3(), linear_acceleration=Vector3(z=9.81)))
            sent += 1
            next_t += period
            if not hostile_done and now >= args.hostile_at:
                hostile_done = True
                for _ in range(10):
                    n = names[:3]
                    bad = [
                        JointState(header=Header(stamp=stamp()), name=n, position=[0.5] * 2),            # wrong length
                        JointState(header=Header(stamp=stamp()), name=["no_such_joint"], position=[0.5]),  # unknown joint
                        JointState(header=Header(stamp=stamp()), name=n, position=[math.nan, 0.5, 0.5]),   # non-finite
                        JointState(header=Header(stamp=stamp(-5.0)), name=n, position=[0.5] * 3),          # far past
                        JointState(header=Header(stamp=stamp(+5.0)), name=n, position=[0.5] * 3),          # far future
                    ]
                    for m in bad:
                        js_w.write(m)
                        hostile += 1
        for s in cmd_r.take(N=100):
            if isinstance(s, Float64MultiArray):
                commands.append([time.monotonic() - t0, list(s.data)])
            elif isinstance(s, JointTrajectory) and s.points:
                p = s.points[0]
                sent_ns = s.header.stamp.sec * 10**9 + s.header.stamp.nanosec
                commands.append([time.monotonic() - t0, list(p.positions), (time.time_ns() - sent_ns) / 1e3])
        for s in diag_r.take(N=10):
            if isinstance(s, DiagnosticArray) and s.status:
                values = {kv.key: kv.value for kv in s.status[0].values}
                values["status_name"] = s.status[0].name
                diags.append([time.monotonic() - t0, values])
        time.sleep(args.poll_us / 1e6)
    json.dump({"matched": matched, "states_sent": sent, "hostile_sent": hostile, "stop_at": args.stop_at,
               "names": names, "commands": commands, "diagnostics": diags}, open(args.out, "w"))


if __name__ == "__main__":
    main()
