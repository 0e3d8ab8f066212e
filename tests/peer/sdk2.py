"""Unitree SDK2's own Python pieces for the test peers: the `unitree_go` IDL types and the SDK's
CRC (packing and `crc32_core`), from PyPI's `unitree-sdk2` (BSD-3, installed with --no-deps by
./dev setup).

The wheel's package __init__ imports modules it does not ship, and its CRC class loads a C
library it does not ship either; so the package is entered without its __init__, and the CRC
class is told it is not on Linux, where it uses the SDK's own pure-Python crc32_core (`_crc_py`,
the same algorithm as the C one). Nothing of the SDK is reimplemented here.

`fast_crc(msg)` is for the 500 Hz peer: the SDK's own packing, then CRC-32/MPEG-2 by PyPI's
`fastcrc` over the big-endian words, which is how the SDK's current release computes it
(`crc32.mpeg_2(words_to_bytes(data))`); `sdk2_crc.py` checks the two agree.
"""
import importlib.util
import sys
import types


def load():
    if "unitree_sdk2py" not in sys.modules:
        spec = importlib.util.find_spec("unitree_sdk2py")
        if spec is None:
            raise SystemExit("unitree-sdk2 is not installed (./dev setup installs it)")
        pkg = types.ModuleType("unitree_sdk2py")
        pkg.__path__ = list(spec.submodule_search_locations)
        sys.modules["unitree_sdk2py"] = pkg
    import unitree_sdk2py.utils.crc as crcmod
    crcmod.platform.system = lambda: "pure-python"
    from unitree_sdk2py.idl.default import unitree_go_msg_dds__LowCmd_, unitree_go_msg_dds__LowState_
    from unitree_sdk2py.idl.unitree_go.msg.dds_ import LowCmd_, LowState_
    crc = crcmod.CRC()

    def fast_crc(msg):
        from fastcrc import crc32
        pack = crc._CRC__PackLowCmd if isinstance(msg, LowCmd_) else crc._CRC__PackLowState
        return crc32.mpeg_2(b"".join(w.to_bytes(4, "big") for w in pack(msg)))

    return types.SimpleNamespace(crc=crc, fast_crc=fast_crc, LowCmd_=LowCmd_, LowState_=LowState_,
                                 new_low_cmd=unitree_go_msg_dds__LowCmd_,
                                 new_low_state=unitree_go_msg_dds__LowState_)
