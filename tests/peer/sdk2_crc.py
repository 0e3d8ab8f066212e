#!/usr/bin/env python3
"""The SDK's CRC of messages given as JSON (Reflex's serde layout of LowCmd_ / LowState_).

usage: sdk2_crc.py IN.json OUT.json — IN: {"low_cmd": [...], "low_state": [...]};
OUT: {"low_cmd": [crc, ...], "low_state": [crc, ...]}: the SDK's own CRC (its `_crc_py`); exits
non-zero if the fast CRC the peers use ever disagrees with it.
"""
import json
import sys

from sdk2 import load


def fill(obj, d):
    """Copies the JSON fields into the SDK's IDL object, nested structs and arrays included."""
    for k, v in d.items():
        cur = getattr(obj, k)
        if isinstance(v, dict):
            fill(cur, v)
        elif isinstance(v, list) and v and isinstance(v[0], dict):
            for o, e in zip(cur, v):
                fill(o, e)
        else:
            setattr(obj, k, v)


def main():
    sdk = load()
    data = json.load(open(sys.argv[1]))
    out = {"low_cmd": [], "low_state": []}
    for d in data["low_cmd"]:
        m = sdk.new_low_cmd()
        fill(m, d)
        out["low_cmd"].append(sdk.crc.Crc(m))
        assert sdk.fast_crc(m) == out["low_cmd"][-1]
    for d in data["low_state"]:
        m = sdk.new_low_state()
        fill(m, d)
        out["low_state"].append(sdk.crc.Crc(m))
        assert sdk.fast_crc(m) == out["low_state"][-1]
    json.dump(out, open(sys.argv[2], "w"))


if __name__ == "__main__":
    main()
