#!/usr/bin/env python3
"""A hostile publisher beside the robot, played by Cyclone DDS from its own participant.

It listens to the robot's /joint_states and /imu/data (as anyone on the network can) and, from
--start to --start + --duration seconds after it first heard the robot, publishes on the same
topics every 1/--rate s, cycling through samples Reflex must not use:

  duplicate_joint      a joint named twice
  beyond_limits        one joint 3 rad beyond where the robot is (outside every A1/Go2 limit)
  non_unit_quaternion  a zero orientation, and one of norm 1.3
  orientation_jump     upside down, unit norm, with a still gyro and no gravity measured
  oversized            60 000 joints
  empty                no joints
  foreign_publisher    the robot's own latest state and orientation, slightly changed: plausible
                       in every field, but not from the robot

Writes JSON: how many of each it sent (the rejection kind each must be counted as).
"""
import argparse
import json
import math
import time

from cyclonedds.core import Policy, Qos
from cyclonedds.domain import DomainParticipant
from cyclonedds.pub import DataWriter
from cyclonedds.sub import DataReader
from cyclonedds.topic import Topic

from ros2_msgs import Header, Imu, JointState, Quaternion, Time, Vector3

REPR = Policy.DataRepresentation(use_cdrv0_representation=True)
SENSOR = Qos(Policy.Reliability.BestEffort, Policy.History.KeepLast(5), Policy.Durability.Volatile, REPR)


def stamp():
    t = time.time_ns()
    return Time(sec=t // 10**9, nanosec=t % 10**9)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--start", type=float, default=2.0)
    ap.add_argument("--duration", type=float, default=4.0)
    ap.add_argument("--rate", type=float, default=20.0)
    ap.add_argument("--wait", type=float, default=30.0, help="longest wait for the robot")
    args = ap.parse_args()
    dp = DomainParticipant(0)
    js_t = Topic(dp, "rt/joint_states", JointState, qos=SENSOR)
    imu_t = Topic(dp, "rt/imu/data", Imu, qos=SENSOR)
    js_w, imu_w = DataWriter(dp, js_t, qos=SENSOR), DataWriter(dp, imu_t, qos=SENSOR)
    js_r, imu_r = DataReader(dp, js_t, qos=SENSOR), DataReader(dp, imu_t, qos=SENSOR)

    robot_js, robot_imu = None, None
    heard = None
    give_up = time.monotonic() + args.wait
    sent = {k: 0 for k in ["duplicate_joint", "beyond_limits", "non_unit_quaternion", "orientation_jump",
                           "oversized", "empty", "foreign_publisher"]}
    k = 0
    next_t = None
    while time.monotonic() < give_up:
        for s in js_r.take(N=50):
            if isinstance(s, JointState) and len(s.name) == 12 and s.header.frame_id == "base":
                robot_js = s
        for s in imu_r.take(N=50):
            if isinstance(s, Imu) and s.header.frame_id == "base":
                robot_imu = s
        now = time.monotonic()
        if heard is None and robot_js is not None and robot_imu is not None:
            heard = now
            next_t = heard + args.start
            give_up = heard + args.start + args.duration
        if heard is None or now < next_t:
            time.sleep(0.001)
            continue
        next_t += 1.0 / args.rate
        h = Header(stamp=stamp(), frame_id="hostile")
        names, pos = list(robot_js.name), list(robot_js.position)
        step = k % 8
        k += 1
        if step == 0:
            js_w.write(JointState(header=h, name=names[:3] + names[:1], position=pos[:3] + pos[:1]))
            sent["duplicate_joint"] += 1
        elif step == 1:
            bad = pos[:]
            bad[2] += 3.0
            js_w.write(JointState(header=h, name=names, position=bad))
            sent["beyond_limits"] += 1
        elif step == 2:
            imu_w.write(Imu(header=h, orientation=Quaternion(x=0.0, y=0.0, z=0.0, w=0.0),
                            linear_acceleration=Vector3(z=9.81)))
            imu_w.write(Imu(header=h, orientation=Quaternion(x=0.0, y=0.0, z=0.0, w=1.3),
                            linear_acceleration=Vector3(z=9.81)))
            sent["non_unit_quaternion"] += 2
        elif step == 3:
            imu_w.write(Imu(header=h, orientation=Quaternion(x=1.0, y=0.0, z=0.0, w=0.0)))
            sent["orientation_jump"] += 1
        elif step == 4:
            n = 60_000
            js_w.write(JointState(header=h, name=(names * (n // 12 + 1))[:n], position=[0.0] * n))
            sent["oversized"] += 1
        elif step == 5:
            js_w.write(JointState(header=h))
            sent["empty"] += 1
        elif step == 6:
            js_w.write(JointState(header=h, name=names, position=[p + 0.03 for p in pos],
                                  velocity=list(robot_js.velocity)))
            sent["foreign_publisher"] += 1
        else:
            o = robot_imu.orientation
            # 0.02 rad about x, composed on the robot's orientation: unit norm, a plausible reading.
            c, s_ = math.cos(0.01), math.sin(0.01)
            q = Quaternion(x=o.w * s_ + o.x * c, y=o.y * c + o.z * s_, z=o.z * c - o.y * s_, w=o.w * c - o.x * s_)
            imu_w.write(Imu(header=h, orientation=q, angular_velocity=robot_imu.angular_velocity,
                            linear_acceleration=robot_imu.linear_acceleration))
            sent["foreign_publisher"] += 1
    json.dump({"heard_robot": heard is not None, "sent": sent}, open(args.out, "w"))


if __name__ == "__main__":
    main()
