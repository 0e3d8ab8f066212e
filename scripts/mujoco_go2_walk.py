#!/usr/bin/env python3
"""MuJoCo reference run of the HIMLoco Go2 policy on the imported Go2 URDF.

Setup (as in scripts/bench_mujoco.py and the policy README's reference table):
  * the URDF (go2.urdf: primitives, or go2_mesh.urdf: convex meshes) loaded with mujoco.MjSpec;
    a free joint on the root `base`; a plane floor, friction 1 (MuJoCo default torsional/rolling
    0.005/0.0001); robot geoms collide with the floor only (contype 1/conaffinity 0, floor 0/1);
  * implicitfast integrator, dt 0.002 s, armature 0.01 kg m^2 on the 12 actuated joints;
  * motor-driver PD kp 40, kd 1 (target velocity 0), torque clamped to the URDF effort limits
    (hip/thigh 23.7 N m, calf 45.43 N m): as MuJoCo position actuators (PD in C, default) or
    computed in Python each physics step (--pd python);
  * the policy every 10 physics steps (50 Hz), onnxruntime, observations exactly as the policy's
    README says: per frame [cmd*(2,2,0.25), base ang vel (body)*0.25, projected gravity,
    (q-default)*1, dq*0.05, last raw action], clipped to +-100, 6 frames newest first;
  * policy joint order FL, FR, RL, RR; joints (and actuators) are addressed by name, so the
    URDF's own order does not matter (HARDWARE_JOINTS/JOINT_MAPPING: rl_sar's hardware order
    FR, FL, RR, RL and its mapping, checked against the policy order at import);
  * start: standing at the default pose, feet on the floor, zero velocity; the history is
    filled with the first frame; the policy runs from t = 0 with a constant command;
  * figures over [settle, settle + measure] s (2 s, 8 s by default).
Prints one JSON object; each run carries the policy README's reference figures ("readme").
--bench also times mj_step alone (PD actuators in C; robot standing, and walking at 0.5 m/s).

Usage: mujoco_go2_walk.py [--urdf go2.urdf|go2_mesh.urdf] [--policy .../policy.onnx]
       [--pd actuator|python] [--history newest_first|oldest_first] [--friction 1.0]
       [--self-collisions] [--settle 2] [--measure 8] [--cmd VX VY WZ ...] [--bench]
"""
import argparse
import json
import math
import time
from pathlib import Path

import mujoco
import numpy as np
import onnxruntime as ort

HERE = Path(__file__).resolve().parent
ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / "policies/models/go2_himloco/policy.onnx"

# Policy order (Isaac Gym alphabetical): FL, FR, RL, RR x (hip, thigh, calf).
LEGS_POLICY = ["FL", "FR", "RL", "RR"]
PARTS = ["hip", "thigh", "calf"]
POLICY_JOINTS = [f"{leg}_{p}_joint" for leg in LEGS_POLICY for p in PARTS]
# Unitree hardware order FR, FL, RR, RL; rl_sar joint_mapping: policy i <-> hardware MAPPING[i].
HARDWARE_JOINTS = [f"{leg}_{p}_joint" for leg in ["FR", "FL", "RR", "RL"] for p in PARTS]
JOINT_MAPPING = [3, 4, 5, 0, 1, 2, 9, 10, 11, 6, 7, 8]
assert all(HARDWARE_JOINTS[JOINT_MAPPING[i]] == POLICY_JOINTS[i] for i in range(12))

DEFAULT = np.array([0.1, 0.8, -1.5, -0.1, 0.8, -1.5, 0.1, 1.0, -1.5, -0.1, 1.0, -1.5])
ACTION_SCALE = np.array([0.125, 0.25, 0.25] * 4)
KP, KD = 40.0, 1.0
CMD_SCALE = np.array([2.0, 2.0, 0.25])
ANG_VEL_SCALE, DOF_POS_SCALE, DOF_VEL_SCALE = 0.25, 1.0, 0.05
CLIP_OBS, CLIP_ACT = 100.0, 100.0
HISTORY = 6
FRAME = 45
DECIMATION = 10
DT = 0.002
ARMATURE = 0.01

COMMANDS = [(0.0, 0.0, 0.0), (0.5, 0.0, 0.0), (1.0, 0.0, 0.0), (0.5, 0.0, 0.5), (0.0, 0.3, 0.0), (0.0, 0.0, 1.0)]
# The policy README's table (MuJoCo 4.0, example-robot-data Go2 URDF), verbatim.
README_TABLE = {
    (0.0, 0.0, 0.0): "0.01 m/s (stands) | 0.00 rad/s | 0.25-0.26 m | 0.03 / 0.05 rad | no",
    (0.5, 0.0, 0.0): "0.46-0.47 m/s | 0.01 rad/s | 0.27 m | 0.04 / 0.09 rad | no",
    (1.0, 0.0, 0.0): "0.65-0.73 m/s (heading drifts) | - | 0.27 m | 0.02 / 0.04 rad | no",
    (0.5, 0.0, 0.5): "walks a circle | 0.43 rad/s | 0.28 m | 0.06 / 0.08 rad | no",
    (0.0, 0.3, 0.0): "0.12 m/s sideways | 0.04 rad/s | 0.27 m | 0.13 / 0.08 rad | no",
    (0.0, 0.0, 1.0): "does not turn in place | 0.00 rad/s | 0.29 m | 0.05 / 0.05 rad | no",
}


def build(urdf: str, pd: str, friction: float = 1.0, self_collisions: bool = False):
    effort = urdf_efforts(urdf)
    spec = mujoco.MjSpec.from_file(str(urdf))
    spec.option.timestep = DT
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    spec.compiler.discardvisual = True
    for g in spec.geoms:  # robot-floor contacts only (as Reflex's simulator), unless asked
        g.contype, g.conaffinity = (1, 1) if self_collisions else (1, 0)
        g.friction = [friction, 0.005, 0.0001]
    root = spec.worldbody.first_body()
    assert root.name == "base", root.name
    root.add_freejoint()
    spec.worldbody.add_geom(name="floor", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[50, 50, 0.1],
                            friction=[friction, 0.005, 0.0001], contype=0, conaffinity=1)
    for j in spec.joints:
        if j.type == mujoco.mjtJoint.mjJNT_FREE:
            continue
        j.armature = ARMATURE
    # Actuators in policy order so that ctrl[i] is policy joint i.
    for name, e in zip(POLICY_JOINTS, effort):
        act = spec.add_actuator(name=name, target=name, trntype=mujoco.mjtTrn.mjTRN_JOINT)
        act.gaintype = mujoco.mjtGain.mjGAIN_FIXED
        act.biastype = mujoco.mjtBias.mjBIAS_AFFINE
        if pd == "actuator":
            act.gainprm[0] = KP
            act.biasprm[:3] = [0.0, -KP, -KD]
        else:  # plain motor, torque computed in Python
            act.gainprm[0] = 1.0
            act.biasprm[:3] = [0.0, 0.0, 0.0]
        act.forcelimited = True
        act.forcerange = [-e, e]
    return spec.compile()


def urdf_efforts(urdf: str) -> np.ndarray:
    """<limit effort> per policy joint, read from the URDF itself."""
    import xml.etree.ElementTree as ET
    root = ET.parse(urdf).getroot()
    eff = {j.get("name"): float(j.find("limit").get("effort")) for j in root.findall("joint")
           if j.find("limit") is not None}
    return np.array([eff[n] for n in POLICY_JOINTS])


class Go2:
    def __init__(self, urdf: str, pd: str, friction: float = 1.0, self_collisions: bool = False):
        self.m = build(urdf, pd, friction, self_collisions)
        self.pd = pd
        self.effort = urdf_efforts(urdf)
        m = self.m
        jids = [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, n) for n in POLICY_JOINTS]
        self.qadr = np.array([m.jnt_qposadr[j] for j in jids])
        self.vadr = np.array([m.jnt_dofadr[j] for j in jids])
        self.base = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, "base")
        self.floor = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, "floor")
        self.d = mujoco.MjData(m)
        self.target = DEFAULT.copy()

    def reset_standing(self, q=DEFAULT):
        m, d = self.m, self.d
        mujoco.mj_resetData(m, d)
        d.qpos[3:7] = [1, 0, 0, 0]
        d.qpos[self.qadr] = q
        d.qpos[2] = 1.0
        mujoco.mj_kinematics(m, d)
        # lowest point of the robot: put it on the floor (distance from the plane z = 0)
        low = 1.0
        for g in range(m.ngeom):
            if g != self.floor:
                low = min(low, _geom_lowest(m, d, g))
        d.qpos[2] = 1.0 - low + 1e-4
        mujoco.mj_forward(m, d)
        self.target = np.array(q, dtype=float)
        d.ctrl[:] = self.target if self.pd == "actuator" else 0.0

    def q(self):
        return self.d.qpos[self.qadr].copy()

    def dq(self):
        return self.d.qvel[self.vadr].copy()

    def step(self, n: int):
        if self.pd == "actuator":
            self.d.ctrl[:] = self.target
            mujoco.mj_step(self.m, self.d, nstep=n)
        else:
            for _ in range(n):
                tau = KP * (self.target - self.q()) - KD * self.dq()
                self.d.ctrl[:] = np.clip(tau, -self.effort, self.effort)
                mujoco.mj_step(self.m, self.d)

    def base_state(self):
        d = self.d
        quat = d.qpos[3:7].copy()  # w, x, y, z
        R = np.zeros(9)
        mujoco.mju_quat2Mat(R, quat)
        R = R.reshape(3, 3)  # body -> world
        v_body = R.T @ d.qvel[0:3]  # free joint linear velocity is in the world frame
        w_body = d.qvel[3:6].copy()  # free joint angular velocity is in the body frame
        g_body = R.T @ np.array([0.0, 0.0, -1.0])
        return d.qpos[0:3].copy(), quat, R, v_body, w_body, g_body

    def trunk_on_floor(self):
        """Whether the trunk (base) touches the floor: counted as a fall."""
        d = self.d
        for c in d.contact[: d.ncon]:
            if self.floor in (c.geom1, c.geom2):
                g = c.geom2 if c.geom1 == self.floor else c.geom1
                if self.m.geom_bodyid[g] == self.base:
                    return True
        return False


def _geom_lowest(m, d, g):
    """Lowest world z of geom g (exact for sphere/box/cylinder, mesh vertices for meshes)."""
    R = d.geom_xmat[g].reshape(3, 3)
    p = d.geom_xpos[g]
    s = m.geom_size[g]
    t = m.geom_type[g]
    if t == mujoco.mjtGeom.mjGEOM_SPHERE:
        return p[2] - s[0]
    if t == mujoco.mjtGeom.mjGEOM_BOX:
        return p[2] - np.abs(R[2, :]) @ s[:3]
    if t == mujoco.mjtGeom.mjGEOM_CYLINDER:
        a = R[2, 2]
        return p[2] - abs(a) * s[1] - math.sqrt(max(0.0, 1 - a * a)) * s[0]
    if t == mujoco.mjtGeom.mjGEOM_CAPSULE:
        return p[2] - abs(R[2, 2]) * s[1] - s[0]
    if t == mujoco.mjtGeom.mjGEOM_MESH:
        mid = m.geom_dataid[g]
        a, n = m.mesh_vertadr[mid], m.mesh_vertnum[mid]
        v = m.mesh_vert[a:a + n]
        return float((v @ R.T + p)[:, 2].min())
    return p[2] - m.geom_rbound[g]


def rpy(quat):
    w, x, y, z = quat
    roll = math.atan2(2 * (w * x + y * z), 1 - 2 * (x * x + y * y))
    pitch = math.asin(max(-1.0, min(1.0, 2 * (w * y - z * x))))
    yaw = math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
    return roll, pitch, yaw


class Policy:
    def __init__(self, path, history_order="newest_first"):
        self.sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        self.inp = self.sess.get_inputs()[0].name
        self.order = history_order
        self.frames = None
        self.last_action = np.zeros(12)

    def frame(self, cmd, w_body, g_body, q, dq):
        f = np.concatenate([np.asarray(cmd) * CMD_SCALE, w_body * ANG_VEL_SCALE, g_body,
                            (q - DEFAULT) * DOF_POS_SCALE, dq * DOF_VEL_SCALE, self.last_action])
        return np.clip(f, -CLIP_OBS, CLIP_OBS)

    def act(self, frame):
        if self.frames is None:
            self.frames = [frame.copy() for _ in range(HISTORY)]  # filled with the first frame
        else:
            self.frames = [frame] + self.frames[:-1]  # newest first
        stack = self.frames if self.order == "newest_first" else self.frames[::-1]
        obs = np.concatenate(stack).astype(np.float32)[None, :]
        a = self.sess.run(None, {self.inp: obs})[0][0].astype(np.float64)
        a = np.clip(a, -CLIP_ACT, CLIP_ACT)
        self.last_action = a
        return DEFAULT + a * ACTION_SCALE


def run(urdf, policy_path, cmd, pd="actuator", history="newest_first", settle=2.0, measure=8.0,
        friction=1.0, trace=None, self_collisions=False):
    robot = Go2(urdf, pd, friction, self_collisions)
    robot.reset_standing()
    pol = Policy(policy_path, history)
    n_ctrl = int(round((settle + measure) / (DT * DECIMATION)))
    n_settle = int(round(settle / (DT * DECIMATION)))
    rec = []
    fell_at = None
    sat = []
    for k in range(n_ctrl):
        pos, quat, R, v_b, w_b, g_b = robot.base_state()
        r, p, y = rpy(quat)
        if k >= n_settle:
            w_world = R @ w_b
            rec.append([pos[2], r, p, y, v_b[0], v_b[1], w_world[2], pos[0], pos[1], robot.d.qvel[0]])
        if fell_at is None and (pos[2] < 0.12 or abs(r) > 1.0 or abs(p) > 1.0 or robot.trunk_on_floor()):
            fell_at = k * DT * DECIMATION
        robot.target = pol.act(pol.frame(cmd, w_b, g_b, robot.q(), robot.dq()))
        robot.step(DECIMATION)
        if k >= n_settle:
            sat.append(np.abs(robot.d.actuator_force) >= robot.effort - 1e-6)
        if trace is not None:
            trace.append({"t": round((k + 1) * DT * DECIMATION, 3), "z": round(float(robot.d.qpos[2]), 4)})
    a = np.array(rec)
    yaw = np.unwrap(a[:, 3])
    return {
        "command": list(cmd),
        "mean_forward_speed_body_m_s": round(float(a[:, 4].mean()), 3),
        "mean_lateral_speed_body_m_s": round(float(a[:, 5].mean()), 3),
        "mean_world_x_speed_m_s": round(float(a[:, 9].mean()), 3),
        "mean_yaw_rate_rad_s": round(float(a[:, 6].mean()), 3),
        "yaw_change_rate_rad_s": round(float((yaw[-1] - yaw[0]) / measure), 3),
        "height_min_m": round(float(a[:, 0].min()), 3),
        "height_max_m": round(float(a[:, 0].max()), 3),
        "height_mean_m": round(float(a[:, 0].mean()), 3),
        "max_abs_roll_rad": round(float(np.abs(a[:, 1]).max()), 3),
        "max_abs_pitch_rad": round(float(np.abs(a[:, 2]).max()), 3),
        "distance_m": round(float(math.hypot(a[-1, 7] - a[0, 7], a[-1, 8] - a[0, 8])), 3),
        "torque_saturated_fraction": round(float(np.mean(sat)), 4),
        "fell": fell_at is not None,
        "fell_at_s": fell_at,
        "readme": README_TABLE.get(tuple(float(c) for c in cmd)),
    }


def bench(urdf, seconds=10.0):
    """mj_step only, PD as actuators (in C), robot standing on the floor at the default pose."""
    robot = Go2(urdf, "actuator")
    robot.reset_standing()
    m, d = robot.m, robot.d
    d.ctrl[:] = DEFAULT
    mujoco.mj_step(m, d, nstep=500)  # settle onto the floor
    steps = int(round(seconds / DT))
    best = 0.0
    for _ in range(3):
        t0 = time.perf_counter()
        mujoco.mj_step(m, d, nstep=steps)
        best = max(best, steps / (time.perf_counter() - t0))
    # Walking at 0.5 m/s: time mj_step alone (10 steps per call) and the whole loop.
    robot = Go2(urdf, "actuator")
    robot.reset_standing()
    pol = Policy(POLICY)
    n_ctrl = int(round(seconds / (DT * DECIMATION)))
    t_step = 0.0
    t0 = time.perf_counter()
    for _ in range(n_ctrl):
        pos, quat, R, v_b, w_b, g_b = robot.base_state()
        robot.target = pol.act(pol.frame((0.5, 0.0, 0.0), w_b, g_b, robot.q(), robot.dq()))
        t1 = time.perf_counter()
        robot.step(DECIMATION)
        t_step += time.perf_counter() - t1
    loop = n_ctrl * DECIMATION / (time.perf_counter() - t0)
    return {"steps_per_s_mj_step_standing": round(best), "realtime_factor_standing": round(best * DT, 1),
            "steps_per_s_mj_step_walking": round(n_ctrl * DECIMATION / t_step),
            "steps_per_s_whole_loop_walking": round(loop), "nbody": m.nbody, "ngeom": m.ngeom,
            "nv": m.nv, "base_height_standing_m": round(float(d.qpos[2]), 4),
            "ncon_standing": int(d.ncon)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--urdf", default=str(ROOT / "hardware/models/go2/go2.urdf"))
    ap.add_argument("--policy", default=str(POLICY))
    ap.add_argument("--pd", choices=["actuator", "python"], default="actuator")
    ap.add_argument("--history", choices=["newest_first", "oldest_first"], default="newest_first")
    ap.add_argument("--friction", type=float, default=1.0)
    ap.add_argument("--settle", type=float, default=2.0)
    ap.add_argument("--measure", type=float, default=8.0)
    ap.add_argument("--cmd", type=float, nargs=3, action="append", help="vx vy wz (repeatable)")
    ap.add_argument("--self-collisions", action="store_true",
                    help="robot geoms also collide with each other (MuJoCo excludes parent-child pairs)")
    ap.add_argument("--bench", action="store_true")
    args = ap.parse_args()
    out = {"engine": f"mujoco {mujoco.__version__}", "onnxruntime": ort.__version__,
           "urdf": args.urdf, "pd": args.pd, "history": args.history, "friction": args.friction,
           "dt_s": DT, "decimation": DECIMATION, "kp": KP, "kd": KD, "armature": ARMATURE,
           "self_collisions": args.self_collisions, "settle_s": args.settle, "measure_s": args.measure, "runs": []}
    for cmd in (args.cmd or COMMANDS):
        out["runs"].append(run(args.urdf, args.policy, tuple(cmd), args.pd, args.history,
                               args.settle, args.measure, args.friction,
                               self_collisions=args.self_collisions))
    if args.bench:
        out["bench"] = bench(args.urdf)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
