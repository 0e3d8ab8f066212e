#!/usr/bin/env python3
"""An operator's input devices played by Cyclone DDS: a joystick (sensor_msgs/Joy), a velocity
command (geometry_msgs/Twist or TwistStamped on /cmd_vel, teleop_twist_joy's topic), a SpaceMouse
or servo delta twist for the end effector, and an e-stop lock (std_msgs/Bool) with its reset
(std_msgs/Empty). All writers are reliable (teleop_twist_joy, spacenav and twist_mux publish with
the default profile).

A script (JSON list) says what to send when, in seconds after every writer matched:
  {"topic": "twist"|"ee_twist"|"joy"|"lock", "from": s, "to": s, "rate": hz, ...values}
      twist/ee_twist: "linear": [x, y, z], "angular": [x, y, z]; joy: "buttons": [...],
      "axes": [...]; lock: "data": true|false
  {"topic": "reset", "at": s}
  {"topic": "hostile", "at": s}: NaN, huge, stale-stamped, oversized and 10 kHz bursts on every
      configured topic (the lock gets only releases: a hostile lock would be obeyed).
Writes what it sent: per script entry the count and the first/last send time.
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

from ros2_msgs import Bool, Empty, Header, Joy, Time, Twist, TwistStamped, Vector3

REPR = Policy.DataRepresentation(use_cdrv0_representation=True)
RELIABLE = Qos(Policy.Reliability.Reliable(max_blocking_time=duration(milliseconds=100)),
               Policy.History.KeepLast(10), Policy.Durability.Volatile, REPR)


def stamp(offset_s=0.0):
    ns = time.time_ns() + int(offset_s * 1e9)
    return Header(stamp=Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000))


class Twists:
    def __init__(self, dp, topic, stamped):
        ty = TwistStamped if stamped else Twist
        self.stamped = stamped
        self.w = DataWriter(dp, Topic(dp, "rt" + topic, ty, qos=RELIABLE), qos=RELIABLE)

    def send(self, linear=(0, 0, 0), angular=(0, 0, 0), age_s=0.0):
        t = Twist(linear=Vector3(*linear), angular=Vector3(*angular))
        self.w.write(TwistStamped(header=stamp(-age_s), twist=t) if self.stamped else t)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--script", required=True, help="JSON list of what to send when")
    ap.add_argument("--twist", help="velocity command topic")
    ap.add_argument("--twist-stamped", action="store_true")
    ap.add_argument("--ee-twist", help="end-effector twist topic")
    ap.add_argument("--ee-twist-stamped", action="store_true")
    ap.add_argument("--joy", help="Joy topic")
    ap.add_argument("--lock", help="e-stop lock topic")
    ap.add_argument("--reset", help="e-stop reset topic")
    ap.add_argument("--duration", type=float, default=8.0)
    ap.add_argument("--wait-match", type=float, default=20.0)
    args = ap.parse_args()
    script = json.loads(args.script)
    dp = DomainParticipant(0)
    twist = Twists(dp, args.twist, args.twist_stamped) if args.twist else None
    ee = Twists(dp, args.ee_twist, args.ee_twist_stamped) if args.ee_twist else None
    joy = DataWriter(dp, Topic(dp, "rt" + args.joy, Joy, qos=RELIABLE), qos=RELIABLE) if args.joy else None
    lock = DataWriter(dp, Topic(dp, "rt" + args.lock, Bool, qos=RELIABLE), qos=RELIABLE) if args.lock else None
    reset = DataWriter(dp, Topic(dp, "rt" + args.reset, Empty, qos=RELIABLE), qos=RELIABLE) if args.reset else None
    writers = [w for w in (twist and twist.w, ee and ee.w, joy, lock, reset) if w is not None]
    t_end = time.time() + args.wait_match
    while not all(w.get_matched_subscriptions() for w in writers) and time.time() < t_end:
        time.sleep(0.01)
    matched = all(w.get_matched_subscriptions() for w in writers)
    time.sleep(0.2)  # let the subscriptions' readers settle
    t0 = time.monotonic()
    log = [{"sent": 0, "first_s": None, "last_s": None} for _ in script]
    due = [e.get("from", e.get("at", 0.0)) for e in script]
    hostile = 0

    def send(i, e, now):
        nonlocal hostile
        k = e["topic"]
        if k == "twist":
            twist.send(e.get("linear", (0, 0, 0)), e.get("angular", (0, 0, 0)))
        elif k == "ee_twist":
            ee.send(e.get("linear", (0, 0, 0)), e.get("angular", (0, 0, 0)))
        elif k == "joy":
            joy.write(Joy(header=stamp(), axes=e.get("axes", [0.0] * 6), buttons=e.get("buttons", [])))
        elif k == "lock":
            lock.write(Bool(data=e["data"]))
        elif k == "reset":
            reset.write(Empty())
        elif k == "hostile":
            hostile += send_hostile(twist, ee, joy, lock)
        log[i]["sent"] += 1
        log[i]["first_s"] = log[i]["first_s"] if log[i]["first_s"] is not None else now
        log[i]["last_s"] = now

    while time.monotonic() - t0 < args.duration:
        now = time.monotonic() - t0
        for i, e in enumerate(script):
            if "at" in e:
                if due[i] is not None and now >= due[i]:
                    send(i, e, now)
                    due[i] = None
            elif e["from"] <= now < e["to"] and now >= due[i]:
                send(i, e, now)
                due[i] += 1.0 / e["rate"]
        time.sleep(0.001)
    json.dump({"matched": matched, "log": log, "hostile": hostile}, open(args.out, "w"))


def send_hostile(twist, ee, joy, lock):
    n = 0
    for t in (twist, ee):
        if t is None:
            continue
        for lin in ((math.nan, 0, 0), (1e6, 0, 0), (0, 0, math.inf)):
            t.send(lin)
            n += 1
        if t.stamped:
            t.send((0.9, 0, 0), age_s=10.0)  # a stale stamp
            n += 1
        for _ in range(100):  # a 10 kHz burst
            t.send((0.0, 0, 0))
            n += 1
            time.sleep(1e-4)
    if joy is not None:
        joy.write(Joy(header=stamp(), axes=[math.nan] * 6, buttons=[1]))
        joy.write(Joy(header=stamp(), axes=[], buttons=[1] * 1000))
        joy.write(Joy(header=stamp(-10.0), axes=[], buttons=[1] * 8))
        n += 3
        for _ in range(100):
            joy.write(Joy(header=stamp(), axes=[0.0] * 6, buttons=[0] * 8))
            n += 1
            time.sleep(1e-4)
    if lock is not None:
        for _ in range(100):
            lock.write(Bool(data=False))
            n += 1
            time.sleep(1e-4)
    return n


if __name__ == "__main__":
    main()
