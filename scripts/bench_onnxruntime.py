#!/usr/bin/env python3
"""Python onnxruntime baseline for `reflex bench policy`: per-call latency of one model.

usage: bench_onnxruntime.py MODEL ITERATIONS
One thread, batch 1, CPU provider, inputs preallocated; times `session.run` per call with
perf_counter_ns and prints one JSON line with p50/p99 in microseconds.
"""
import json
import sys
import time

import numpy as np
import onnxruntime as ort

model, iters = sys.argv[1], int(sys.argv[2])
opts = ort.SessionOptions()
opts.intra_op_num_threads = 1
opts.inter_op_num_threads = 1
sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
inp = sess.get_inputs()[0]
x = np.random.default_rng(0).standard_normal([d if isinstance(d, int) else 1 for d in inp.shape]).astype(np.float32)
feed = {inp.name: x}
for _ in range(200):
    sess.run(None, feed)
t = np.empty(iters)
for i in range(iters):
    t0 = time.perf_counter_ns()
    sess.run(None, feed)
    t[i] = time.perf_counter_ns() - t0
print(json.dumps({"onnxruntime": ort.__version__, "mean_us": float(np.mean(t)) / 1e3, "p50_us": float(np.percentile(t, 50)) / 1e3, "p99_us": float(np.percentile(t, 99)) / 1e3}))
