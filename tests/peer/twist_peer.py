#!/usr/bin/env python3
"""An operator's joystick node played by Cyclone DDS: publishes geometry_msgs/Twist on /cmd_vel
(teleop_twist_joy's topic and QoS: reliable) at --rate from --start to --stop seconds after the
node matched, then goes quiet. Optionally a burst of hostile messages. Writes what it sent.
"""
import argparse
import json
import math
import time

from cyclonedds.core import Policy, Qos
from cyclonedds.domain import DomainParticipant
from cyclonedds.pub import DataWriter
from cyclonedds.topic import Topic
from cyclonedds.util import duration

from ros2_msgs import Twist, Vector3

REPR = Policy.DataRepresentation(use_cdrv0_representation=True)
RELIABLE = Qos(Policy.Reliability.Reliable(max_blocking_time=duration(milliseconds=100)),
               Policy.History.KeepLast(10), Policy.Durability.Volatile, REPR)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--vx", type=float, default=0.5)
    ap.add_argument("--wz", type=float, default=0.0)
    ap.add_argument("--rate", type=float, default=20.0)
    ap.add_argument("--start", type=float, default=1.0)
    ap.add_argument("--stop", type=float, default=5.0)
    ap.add_argument("--duration", type=float, default=8.0)
    ap.add_argument("--hostile", action="store_true", help="also send NaN, huge and 10 kHz bursts")
    ap.add_argument("--wait-match", type=float, default=20.0)
    args = ap.parse_args()
    dp = DomainParticipant(0)
    w = DataWriter(dp, Topic(dp, "rt/cmd_vel", Twist, qos=RELIABLE), qos=RELIABLE)
    t_end = time.time() + args.wait_match
    while not w.get_matched_subscriptions() and time.time() < t_end:
        time.sleep(0.01)
    matched = bool(w.get_matched_subscriptions())
    t0 = time.monotonic()
    sent, hostile, next_t = 0, 0, t0 + args.start
    while time.monotonic() - t0 < args.duration:
        now = time.monotonic() - t0
        if args.start <= now < args.stop and time.monotonic() >= next_t:
            w.write(Twist(linear=Vector3(x=args.vx), angular=Vector3(z=args.wz)))
            sent += 1
            next_t += 1.0 / args.rate
            if args.hostile and sent == 10:
                for bad in (Twist(linear=Vector3(x=math.nan)), Twist(linear=Vector3(x=1e6)),
                            Twist(angular=Vector3(z=math.inf))):
                    w.write(bad)
                    hostile += 1
                for _ in range(100):  # a 10 kHz burst
                    w.write(Twist(linear=Vector3(x=args.vx)))
                    hostile += 1
                    time.sleep(1e-4)
        time.sleep(0.002)
    json.dump({"matched": matched, "sent": sent, "hostile": hostile, "start": args.start, "stop": args.stop},
              open(args.out, "w"))


if __name__ == "__main__":
    main()
