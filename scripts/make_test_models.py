#!/usr/bin/env python3
"""Regenerate the test policies under policies/models/ (ONNX + the manifests already there).

  a1_stand_bc/policy.onnx     A1 locomotion layout (270 -> 64 -> 64 -> 12, ELU), behaviour-cloned
                              from Reflex's stand controller: `reflex record` runs the expert
                              (scripts/configs/a1_expert.yaml: stand-up from jittered lying poses,
                              sensor noise, five 60 N pushes, applied by the run driver's fault
                              schedule) in the simulator and writes (observation, expert action)
                              pairs in the manifest's layout from 2 s on (the hold, where the
                              expert is a function of the state; the stand-up before it depends on
                              time); this script fits the MLP with Adam on the MSE. The hold's
                              target is the fixed stand pose, so the expert's action is zero and
                              the clone is a near-zero-action stander: a test fixture, not a
                              walking policy.
  panda_reach/policy.onnx     Panda manipulation (SERL 7-D delta action): a = tanh(G (x* - x)) on
                              the position, zero rotation and gripper; Gemm + Tanh. Moves the end
                              effector to x* = TARGET.
  a1_residual/base.onnx       ResiP-style pair on the A1 layout: the base emits a chunk [1, 4, 12]
  a1_residual/residual.onnx   (the BC policy's action repeated); the residual (282 -> 64 -> 12)
                              has a zero-initialised last layer, so base + 0.1 x residual = base.

Usage (from the repo root, after `./dev setup`):
  cargo build --release -p reflex-runtime
  .venv/bin/python scripts/make_test_models.py
"""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "policies" / "models"
REFLEX = ROOT / "target" / "release" / "reflex"
OPSET = 17
PANDA_TARGET = np.array([0.45, 0.10, 0.40], dtype=np.float32)


def save(graph, path: Path, doc: str):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="reflex make_test_models.py")
    model.ir_version = 8
    model.doc_string = doc
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path)
    print("wrote", path.relative_to(ROOT), f"({path.stat().st_size} bytes)")


def mlp_graph(name, layers, in_name, in_dim, out_name, out_shape, act="Elu", tail=None):
    """layers: list of (W [in, out], b [out]); activation between layers, none after the last."""
    nodes, inits = [], []
    cur = in_name
    for i, (w, b) in enumerate(layers):
        wn, bn, y = f"{name}_w{i}", f"{name}_b{i}", f"{name}_h{i}"
        inits += [numpy_helper.from_array(w.astype(np.float32), wn), numpy_helper.from_array(b.astype(np.float32), bn)]
        nodes.append(helper.make_node("Gemm", [cur, wn, bn], [y], name=f"{name}_gemm{i}"))
        cur = y
        if i < len(layers) - 1:
            a = f"{name}_a{i}"
            nodes.append(helper.make_node(act, [cur], [a], name=f"{name}_{act.lower()}{i}"))
            cur = a
    if tail is not None:
        n, extra_inits, cur = tail(cur)
        nodes += n
        inits += extra_inits
    nodes.append(helper.make_node("Identity", [cur], [out_name], name=f"{name}_out"))
    return helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info(in_name, TensorProto.FLOAT, [1, in_dim])],
        [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, out_shape)],
        inits,
    )


def elu(x):
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0)))


def fit_bc(obs, act, hidden=(64, 64), steps=6000, lr=1e-3, seed=0):
    rng = np.random.default_rng(seed)
    dims = [obs.shape[1], *hidden, act.shape[1]]
    params = []
    for i in range(len(dims) - 1):
        w = rng.normal(0, np.sqrt(2.0 / dims[i]), (dims[i], dims[i + 1])).astype(np.float64)
        params.append([w, np.zeros(dims[i + 1])])
    m = [[np.zeros_like(p) for p in layer] for layer in params]
    v = [[np.zeros_like(p) for p in layer] for layer in params]
    n = obs.shape[0]
    for t in range(1, steps + 1):
        idx = rng.integers(0, n, 256)
        x, y = obs[idx], act[idx]
        hs, zs = [x], []
        for i, (w, b) in enumerate(params):
            z = hs[-1] @ w + b
            zs.append(z)
            hs.append(elu(z) if i < len(params) - 1 else z)
        g = 2 * (hs[-1] - y) / len(idx)
        for i in reversed(range(len(params))):
            w, b = params[i]
            gw, gb = hs[i].T @ g, g.sum(0)
            if i > 0:
                g = (g @ w.T) * np.where(zs[i - 1] > 0, 1.0, np.exp(np.minimum(zs[i - 1], 0)))
            for j, gp in enumerate((gw, gb)):
                m[i][j] = 0.9 * m[i][j] + 0.1 * gp
                v[i][j] = 0.999 * v[i][j] + 0.001 * gp * gp
                params[i][j] -= lr * (m[i][j] / (1 - 0.9**t)) / (np.sqrt(v[i][j] / (1 - 0.999**t)) + 1e-8)
        if t % 2000 == 0:
            h = obs
            for i, (w, b) in enumerate(params):
                h = h @ w + b
                h = elu(h) if i < len(params) - 1 else h
            print(f"  step {t}: train MSE {np.mean((h - act) ** 2):.5f} (action variance {act.var():.5f})")
    return params


def a1_bc():
    demos = Path("/tmp/reflex_a1_demos")
    subprocess.run(
        [str(REFLEX), "record", "--config", "scripts/configs/a1_expert.yaml", "--manifest",
         "policies/models/a1_stand_bc/policy.yaml", "--duration", "10", "--episodes", "16", "--skip", "2.0", "--out", str(demos)],
        cwd=ROOT, check=True,
    )
    head = json.loads(demos.with_suffix(".json").read_text())
    raw = np.fromfile(demos.with_suffix(".f32"), dtype="<f4")
    r, o, a = head["rows"], head["obs_dim"], head["act_dim"]
    obs = raw[: r * o].reshape(r, o).astype(np.float64)
    act = raw[r * o:].reshape(r, a).astype(np.float64)
    print(f"A1 BC: {r} pairs, obs {o}, action {a}")
    params = fit_bc(obs, act)
    layers = [(w, b) for w, b in params]
    save(mlp_graph("a1_bc", layers, "obs", o, "actions", [1, a]), MODELS / "a1_stand_bc" / "policy.onnx",
         "A1 stand policy, behaviour-cloned from Reflex's stand controller (see scripts/make_test_models.py)")
    return layers, o, a


def panda_reach():
    gain = 8.0  # per metre of error, before tanh; |a| saturates ~12 cm away
    w = np.zeros((7, 7), dtype=np.float32)
    b = np.zeros(7, dtype=np.float32)
    for k in range(3):
        w[k, k] = -gain  # input ee_pos[k] -> action k
        b[k] = gain * PANDA_TARGET[k]
    tail = lambda cur: ([helper.make_node("Tanh", [cur], ["panda_t"], name="panda_tanh")], [], "panda_t")
    save(mlp_graph("panda", [(w, b)], "obs", 7, "action", [1, 7], tail=tail), MODELS / "panda_reach" / "policy.onnx",
         f"Panda reach: a = tanh(8 (x* - x)), x* = {PANDA_TARGET.tolist()}")


def a1_residual(bc_layers, o, a):
    horizon = 4
    last_w, last_b = bc_layers[-1]
    chunk_layers = bc_layers[:-1] + [(np.tile(last_w, (1, horizon)), np.tile(last_b, horizon))]

    def reshape_tail(cur):
        shape = numpy_helper.from_array(np.array([1, horizon, a], dtype=np.int64), "chunk_shape")
        return [helper.make_node("Reshape", [cur, "chunk_shape"], ["chunk"], name="to_chunk")], [shape], "chunk"

    save(mlp_graph("base", chunk_layers, "obs", o, "action_chunk", [1, horizon, a], tail=reshape_tail),
         MODELS / "a1_residual" / "base.onnx", "ResiP-style base: the A1 BC policy emitting a 4-step action chunk")
    rng = np.random.default_rng(1)
    w0 = rng.normal(0, 0.05, (o + a, 64)).astype(np.float32)
    b0 = np.zeros(64, dtype=np.float32)
    w1 = np.zeros((64, a), dtype=np.float32)  # zero-initialised head, as ResiP does
    b1 = np.zeros(a, dtype=np.float32)
    save(mlp_graph("residual", [(w0, b0), (w1, b1)], "obs_and_base_action", o + a, "residual", [1, a], act="Relu"),
         MODELS / "a1_residual" / "residual.onnx", "ResiP-style residual with a zero last layer")


def main():
    if not REFLEX.exists():
        sys.exit(f"{REFLEX} not found: run `cargo build --release -p reflex-runtime` first")
    layers, o, a = a1_bc()
    panda_reach()
    a1_residual(layers, o, a)


if __name__ == "__main__":
    main()
