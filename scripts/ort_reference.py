#!/usr/bin/env python3
"""Reference outputs from Python onnxruntime, for Reflex's equality tests.

usage: ort_reference.py MODEL INPUT.f32 ROWS OUTPUT.f32
Runs MODEL (one input of shape [1, N]) on each of ROWS rows of little-endian f32 in INPUT.f32,
one inference per row (batch 1, as Reflex runs it), and writes the flattened outputs.
"""
import sys

import numpy as np
import onnxruntime as ort

model, inp, rows, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
opts = ort.SessionOptions()
opts.intra_op_num_threads = 1
opts.inter_op_num_threads = 1
sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
name = sess.get_inputs()[0].name
x = np.fromfile(inp, dtype="<f4").reshape(rows, -1)
ys = [sess.run(None, {name: x[i : i + 1]})[0].ravel() for i in range(rows)]
np.concatenate(ys).astype("<f4").tofile(out)
