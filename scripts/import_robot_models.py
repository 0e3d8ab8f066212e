#!/usr/bin/env python3
"""Regenerate hardware/models/{a1,panda,go2}/*.urdf from the PyPI wheel `example-robot-data`.

What it changes, and why (the simulator needs primitive collision shapes only):
  * every <visual> element is removed (they reference .dae meshes we do not ship);
  * A1: the empty `base` link and its `floating_base` fixed joint are removed, so `trunk` is the
    root (an empty root welded by a fixed joint reads as "anchored to the world" to loaders);
  * Panda: the collision-primitive variant `panda_collision.urdf` is the source, and the two
    finger joints become fixed (the gripper is optional and not actuated by Reflex yet).
  * Go2: its collisions are convex STL meshes; each becomes the primitive fitted to it (boxes for
    the trunk, hips and thighs, two cylinders per calf, a sphere r 0.023 m per foot: the feet are
    the contact points, a sphere gives one exact contact where a mesh's depends on its
    triangulation), composed with the collision's own origin (PRIMITIVES below).
Usage: pip download --no-deps example-robot-data==6.0.0 -d /tmp/erd
       python3 scripts/import_robot_models.py /tmp/erd/example_robot_data-6.0.0-0-py3-none-any.whl
"""
import math
import sys
import zipfile
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "cmeel.prefix/share/example-robot-data/robots/"
SOURCES = {
    "a1": ("a1_description/urdf/a1.urdf", "a1.urdf"),
    "panda": ("panda_description/urdf/panda_collision.urdf", "panda.urdf"),
}


def strip(xml_text: str, fixed_joints: set, drop_links: set) -> str:
    root = ET.fromstring(xml_text)
    for link in root.findall("link"):
        for visual in link.findall("visual"):
            link.remove(visual)
    for joint in root.findall("joint"):
        if joint.get("name") in fixed_joints:
            joint.set("type", "fixed")
            for tag in ("axis", "limit", "mimic", "dynamics"):
                for el in joint.findall(tag):
                    joint.remove(el)
    for link in root.findall("link"):
        if link.get("name") in drop_links:
            root.remove(link)
    for joint in root.findall("joint"):
        if joint.find("parent").get("link") in drop_links:
            root.remove(joint)
    for tag in ("gazebo", "transmission", "material"):
        for el in root.findall(tag):
            root.remove(el)
    ET.indent(root)
    return '<?xml version="1.0"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# Primitive fitted to each collision STL, in the STL's own frame (m, rad). Fitted by
# tools/fit_primitives.py on the convex hull of each mesh (every STL here is convex):
#   box      = axis-aligned box of largest intersection-over-union with the mesh,
#   cylinder = axis along the mesh's principal axis, full extent, radius of largest IoU,
#   sphere   = least-squares sphere through the foot's lower half (rms residual 0.8 mm).
# Left/right mirror meshes share one entry (y mirrored) after symmetrising the two fits.
PRIMITIVES = {
    # trunk shell incl. head: mesh bbox 0.474 x 0.194 x 0.196 m, IoU of this box 0.77
    "base_convex.stl": ("box", {"size": (0.435, 0.165, 0.161)}, (0.090, 0.0, -0.009), (0, 0, 0)),
    # hip motor housing (rear legs only in the source), IoU 0.78
    "hip_convex.stl": ("box", {"size": (0.111, 0.063, 0.084)}, (-0.012, 0.006, 0.0), (0, 0, 0)),
    # thigh (tapered wedge, knee motor at the top), IoU 0.68
    "thigh_convex.stl": ("box", {"size": (0.075, 0.071, 0.218)}, (-0.003, -0.020, -0.064), (0, 0, 0)),
    "thigh_mirror_convex.stl": ("box", {"size": (0.075, 0.071, 0.218)}, (-0.003, 0.020, -0.064), (0, 0, 0)),
    # calf, two straight segments of the bent shin, IoU 0.75 / 0.68
    "calf_upper_convex.stl": ("cylinder", {"radius": 0.015, "length": 0.172}, (0.008, 0.0, -0.0555), (0, -0.147, 0)),
    "calf_upper_mirror_convex.stl": ("cylinder", {"radius": 0.015, "length": 0.172}, (0.008, 0.0, -0.0555), (0, -0.147, 0)),
    "calf_lower_convex.stl": ("cylinder", {"radius": 0.017, "length": 0.082}, (0.0113, 0.0, -0.1764), (0, 0.244, 0)),
    "calf_lower_mirror_convex.stl": ("cylinder", {"radius": 0.017, "length": 0.082}, (0.0113, 0.0, -0.1764), (0, 0.244, 0)),
    # foot: lowest point 0.0230 m below the foot frame (mesh: 0.0229 m)
    "foot_convex.stl": ("sphere", {"radius": 0.023}, (-0.002, 0.0, 0.0), (0, 0, 0)),
}


# --- small rotation helpers (URDF rpy = fixed-axis roll, pitch, yaw: R = Rz(y) Ry(p) Rx(r)) ---
def _rpy_to_matrix(r, p, y):
    cr, sr, cp, sp, cy, sy = math.cos(r), math.sin(r), math.cos(p), math.sin(p), math.cos(y), math.sin(y)
    return [
        [cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
        [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
        [-sp, cp * sr, cp * cr],
    ]


def _matmul(a, b):
    return [[sum(a[i][k] * b[k][j] for k in range(3)) for j in range(3)] for i in range(3)]


def _matvec(a, v):
    return [sum(a[i][k] * v[k] for k in range(3)) for i in range(3)]


def _matrix_to_rpy(m):
    p = math.asin(max(-1.0, min(1.0, -m[2][0])))
    if abs(m[2][0]) < 1.0 - 1e-9:
        r = math.atan2(m[2][1], m[2][2])
        y = math.atan2(m[1][0], m[0][0])
    else:  # gimbal lock: put everything in roll
        r = math.atan2(-m[1][2], m[1][1])
        y = 0.0
    return r, p, y


def _fmt(v):
    return " ".join(f"{x:.6g}" if abs(x) > 1e-12 else "0" for x in v)


def _floats(text, default):
    return [float(x) for x in text.split()] if text else list(default)


def _origin(el):
    o = el.find("origin")
    if o is None:
        return [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]
    return _floats(o.get("xyz"), (0, 0, 0)), _floats(o.get("rpy"), (0, 0, 0))


def _mesh_name(collision):
    mesh = collision.find("geometry/mesh")
    return None if mesh is None else mesh.get("filename").rsplit("/", 1)[-1]


def _collision_name(link_name, mesh_name):
    """Unique collision names (MuJoCo rejects repeated geom names): base, FL_foot, FL_calf_upper."""
    part = mesh_name.replace("_convex.stl", "").replace("_mirror", "")
    return link_name if link_name.endswith(part) else link_name + "_" + part.split("_")[-1]


def _to_primitive(collision, link_name):
    """Replaces a <collision>'s mesh by its fitted primitive, composed with its <origin>."""
    name = _mesh_name(collision)
    kind, dims, c, rpy = PRIMITIVES[name]
    xyz0, rpy0 = _origin(collision)
    r0 = _rpy_to_matrix(*rpy0)
    xyz = [a + b for a, b in zip(xyz0, _matvec(r0, c))]
    # Keep the source's rpy when the primitive adds no rotation (exact round trip).
    new_rpy = rpy0 if rpy == (0, 0, 0) else list(_matrix_to_rpy(_matmul(r0, _rpy_to_matrix(*rpy))))
    for el in list(collision):
        collision.remove(el)
    collision.set("name", _collision_name(link_name, name))
    ET.SubElement(collision, "origin", xyz=_fmt([round(x, 5) for x in xyz]), rpy=_fmt(new_rpy))
    geom = ET.SubElement(ET.SubElement(collision, "geometry"), kind)
    for k, v in dims.items():
        geom.set(k, _fmt(v) if isinstance(v, tuple) else f"{v:.6g}")


def convert_go2(xml_text: str, primitives: bool, mesh_prefix: str = "meshes/") -> str:
    """The Go2 URDF with visuals etc. removed and collisions as primitives or local meshes."""
    root = ET.fromstring(xml_text)
    for link in root.findall("link"):
        for visual in link.findall("visual"):
            link.remove(visual)
        for collision in link.findall("collision"):
            if _mesh_name(collision) is None:
                continue
            if primitives:
                _to_primitive(collision, link.get("name"))
            else:
                mesh = collision.find("geometry/mesh")
                collision.set("name", _collision_name(link.get("name"), _mesh_name(collision)))
                mesh.set("filename", mesh_prefix + _mesh_name(collision))
    for tag in ("gazebo", "transmission", "material"):
        for el in root.findall(tag):
            root.remove(el)
    # An empty root link held by one fixed joint (A1's `base`): drop it so the body is the root.
    children = {j.find("child").get("link") for j in root.findall("joint")}
    for link in root.findall("link"):
        name = link.get("name")
        if name in children or not _is_empty_inertial(link):
            continue
        out = [j for j in root.findall("joint") if j.find("parent").get("link") == name]
        if len(out) == 1 and out[0].get("type") == "fixed":
            root.remove(out[0])
            root.remove(link)
    ET.indent(root)
    return '<?xml version="1.0"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _is_empty_inertial(link):
    if link.find("collision") is not None or link.find("visual") is not None:
        return False
    m = link.find("inertial/mass")
    return m is None or float(m.get("value", "0")) == 0.0



def main(wheel: str) -> None:
    with zipfile.ZipFile(wheel) as zf:
        for model, (src, dst) in SOURCES.items():
            text = zf.read(PREFIX + src).decode()
            fixed = {"panda_finger_joint1", "panda_finger_joint2"} if model == "panda" else set()
            drop = {"base"} if model == "a1" else set()
            out = ROOT / "hardware" / "models" / model / dst
            out.write_text(strip(text, fixed, drop))
            print("wrote", out.relative_to(ROOT))
        text = zf.read(PREFIX + "go2_description/urdf/go2.urdf").decode()
        out = ROOT / "hardware" / "models" / "go2" / "go2.urdf"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(convert_go2(text, primitives=True))
        print("wrote", out.relative_to(ROOT))


if __name__ == "__main__":
    main(sys.argv[1])
