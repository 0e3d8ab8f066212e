#!/usr/bin/env python3
"""Regenerate hardware/models/{a1,panda}/*.urdf from the PyPI wheel `example-robot-data`.

What it changes, and why (the simulator needs primitive collision shapes only):
  * every <visual> element is removed (they reference .dae meshes we do not ship);
  * A1: the empty `base` link and its `floating_base` fixed joint are removed, so `trunk` is the
    root (an empty root welded by a fixed joint reads as "anchored to the world" to loaders);
  * Panda: the collision-primitive variant `panda_collision.urdf` is the source, and the two
    finger joints become fixed (the gripper is optional and not actuated by Reflex yet).
Usage: pip download --no-deps example-robot-data==6.0.0 -d /tmp/erd
       python3 scripts/import_robot_models.py /tmp/erd/example_robot_data-6.0.0-0-py3-none-any.whl
"""
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


def main(wheel: str) -> None:
    with zipfile.ZipFile(wheel) as zf:
        for model, (src, dst) in SOURCES.items():
            text = zf.read(PREFIX + src).decode()
            fixed = {"panda_finger_joint1", "panda_finger_joint2"} if model == "panda" else set()
            drop = {"base"} if model == "a1" else set()
            out = ROOT / "hardware" / "models" / model / dst
            out.write_text(strip(text, fixed, drop))
            print("wrote", out.relative_to(ROOT))


if __name__ == "__main__":
    main(sys.argv[1])
