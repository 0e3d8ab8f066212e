#!/usr/bin/env python3
"""MuJoCo baseline for `reflex bench sim`: the same URDF, dt and PD as Reflex's simulator.

Loads the URDF Reflex ships, adds what Reflex's simulator adds (a floating base and a floor for
legged models, armature, joint PD actuators clamped to the URDF effort limits), holds a pose
with PD and times `mj_step` in one C call of N steps. Prints one JSON line.
"""
import argparse
import json
import time

import mujoco

A1_STAND = {"hip": 0.0, "thigh": 0.9, "calf": -1.5}
LEGGED = ("a1", "go2")


def build(urdf: str, model: str, dt: float, kp: float, kd: float, armature: float):
    spec = mujoco.MjSpec.from_file(urdf)
    spec.option.timestep = dt
    spec.compiler.discardvisual = True
    # Like Reflex's simulator: no self-contacts, robot–floor contacts only.
    for g in spec.geoms:
        g.contype, g.conaffinity = 1, 0
    root = spec.worldbody.first_body()
    if model in LEGGED:
        root.add_freejoint()
        root.pos = [0, 0, 0.32]
        spec.worldbody.add_geom(type=mujoco.mjtGeom.mjGEOM_PLANE, size=[50, 50, 0.1], friction=[1.0, 0.005, 0.0001],
                                 contype=0, conaffinity=1)
    targets = []
    for j in spec.joints:
        if j.type == mujoco.mjtJoint.mjJNT_FREE:
            continue
        j.armature = armature
        effort = j.actfrcrange[1] if j.actfrcrange[1] > 0 else (33.5 if model in LEGGED else 87.0)
        act = spec.add_actuator(name=j.name, target=j.name, trntype=mujoco.mjtTrn.mjTRN_JOINT)
        act.gainprm[0] = kp
        act.gaintype = mujoco.mjtGain.mjGAIN_FIXED
        act.biastype = mujoco.mjtBias.mjBIAS_AFFINE
        act.biasprm[:3] = [0.0, -kp, -kd]
        act.forcelimited = True
        act.forcerange = [-effort, effort]
        q = 0.0
        if model in LEGGED:
            q = next(v for k, v in A1_STAND.items() if k in j.name)
        targets.append(q)
    m = spec.compile()
    d = mujoco.MjData(m)
    if model in LEGGED:
        d.qpos[7:] = targets
    d.ctrl[:] = targets
    return m, d


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--urdf", required=True)
    ap.add_argument("--model", choices=["a1", "go2", "panda"], required=True)
    ap.add_argument("--dt", type=float, default=0.002)
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    kp, kd, arm = (60.0, 2.0, 0.01) if args.model in LEGGED else (600.0, 50.0, 0.1)
    m, d = build(args.urdf, args.model, args.dt, kp, kd, arm)
    steps = int(round(args.seconds / args.dt))
    mujoco.mj_step(m, d, nstep=100)  # warm-up
    t0 = time.perf_counter()
    mujoco.mj_step(m, d, nstep=steps)
    wall = time.perf_counter() - t0
    out = {
        "engine": f"mujoco {mujoco.__version__}",
        "model": args.model,
        "dt_s": args.dt,
        "steps": steps,
        "steps_per_s": steps / wall,
        "realtime_factor": steps * args.dt / wall,
        "nbody": m.nbody,
        "base_height_m": float(d.qpos[2]) if args.model in LEGGED else None,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
