#!/usr/bin/env python3
"""Cyclone DDS ping-pong between two Python peers: the one-way latency baseline of
`reflex bench ros`. Same message (sensor_msgs/JointState, 12 joints), QoS and loopback setup.

usage: pingpong.py pong SECONDS           # echoes rt/ping to rt/pong
       pingpong.py ping COUNT OUT.json    # sends COUNT pings at 500 Hz, writes one-way µs stats
"""
import json
import sys
import time

from cyclonedds.core import Policy, Qos
from cyclonedds.domain import DomainParticipant
from cyclonedds.pub import DataWriter
from cyclonedds.sub import DataReader
from cyclonedds.topic import Topic

from ros2_msgs import Header, JointState, Time

REPR = Policy.DataRepresentation(use_cdrv0_representation=True)
QOS = Qos(Policy.Reliability.BestEffort, Policy.History.KeepLast(5), Policy.Durability.Volatile, REPR)
NAMES = [f"joint_{i}" for i in range(12)]

dp = DomainParticipant(0)
ping_t = Topic(dp, "rt/ping", JointState, qos=QOS)
pong_t = Topic(dp, "rt/pong", JointState, qos=QOS)

if sys.argv[1] == "pong":
    r, w = DataReader(dp, ping_t, qos=QOS), DataWriter(dp, pong_t, qos=QOS)
    end = time.time() + float(sys.argv[2])
    while time.time() < end:
        for s in r.take(N=10):
            if isinstance(s, JointState):
                w.write(s)
        time.sleep(0.00005)
else:
    count, out = int(sys.argv[2]), sys.argv[3]
    w, r = DataWriter(dp, ping_t, qos=QOS), DataReader(dp, pong_t, qos=QOS)
    end = time.time() + 20
    while (not w.get_matched_subscriptions() or not r.get_matched_publications()) and time.time() < end:
        time.sleep(0.01)
    time.sleep(0.3)
    rtts = []
    for i in range(count):
        t0 = time.perf_counter_ns()
        w.write(JointState(header=Header(stamp=Time(sec=i, nanosec=0)), name=NAMES, position=[0.1] * 12, velocity=[0.0] * 12, effort=[]))
        got = False
        deadline = time.perf_counter_ns() + 50_000_000
        while not got and time.perf_counter_ns() < deadline:
            for s in r.take(N=10):
                if isinstance(s, JointState) and s.header.stamp.sec == i:
                    rtts.append((time.perf_counter_ns() - t0) / 2e3)
                    got = True
        time.sleep(0.002)
    rtts.sort()
    q = lambda p: rtts[min(len(rtts) - 1, int(p * len(rtts)))] if rtts else None
    json.dump({"samples": len(rtts), "one_way_p50_us": q(0.5), "one_way_p99_us": q(0.99)}, open(out, "w"))
