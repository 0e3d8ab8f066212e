#!/usr/bin/env python3
"""Torch-free reference reader for TorchScript policy archives (torch.jit.save zip files).

Reads the archive with zipfile + a recording pickle.Unpickler (no torch import), extracts the
float32 tensors (respecting storage offset and strides), and evaluates the archive's own
TorchScript `forward` (code/__torch__/**.py, parsed with Python's `ast`) with numpy. Nothing
about the network is assumed: layer sizes, slices, the normalize eps, ELU alpha, ... all come
from the archive.

Usage:
  torchscript_reference.py ARCHIVE --dump                      # entries, object graph, tensors, code
  torchscript_reference.py ARCHIVE --onnx MODEL.onnx [-n 100]  # compare with onnxruntime
  torchscript_reference.py ARCHIVE --save-ref FILE [-n 100]    # write inputs + float64 outputs (text)
  torchscript_reference.py ARCHIVE --describe                  # recognised exporter shape
  torchscript_reference.py ARCHIVE --eval IN.f32 OUT.f64       # float32 rows in, float64 outputs out

Only the numpy/onnxruntime parts need the venv; --dump and --describe need numpy only.
"""
import argparse
import ast
import collections
import io
import pickle
import struct
import sys
import zipfile

import numpy as np

DTYPES = {  # torch storage class -> numpy dtype (little-endian, as torch writes on x86/arm)
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


# ----------------------------------------------------------------------------- pickle side
class StorageType:
    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"torch.{self.name}"


class StorageRef:
    """persistent id ('storage', torch.FloatStorage, key, location, numel)"""

    def __init__(self, pid):
        tag, stype, key, location, numel = pid
        assert tag == "storage", pid
        self.stype, self.key, self.location, self.numel = stype, key, location, numel

    def __repr__(self):
        return f"Storage({self.stype.name}, key={self.key!r}, {self.location}, numel={self.numel})"


class TensorRef:
    def __init__(self, storage, offset, size, stride, requires_grad, hooks):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)
        self.requires_grad = requires_grad
        self.value = None  # filled by Archive

    def __repr__(self):
        return (f"_rebuild_tensor_v2(storage={self.storage.key!r} {self.storage.stype.name}, "
                f"offset={self.offset}, size={list(self.size)}, stride={list(self.stride)})")


def rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False, hooks=None, *rest):
    return TensorRef(storage, offset, size, stride, requires_grad, hooks)


class TSObject:
    """A scripted module/object: class __torch__.<qualname>, state = its attribute dict."""
    qualname = "?"

    def __setstate__(self, state):
        self.state = state  # dict in attribute order

    def __repr__(self):
        return f"<{self.qualname}>"


_classes = {}


class RecordingUnpickler(pickle.Unpickler):
    ALLOWED = {("collections", "OrderedDict"): collections.OrderedDict,
               ("torch._utils", "_rebuild_tensor_v2"): rebuild_tensor_v2}

    def __init__(self, data):
        super().__init__(io.BytesIO(data))
        self.globals_seen = []

    def find_class(self, module, name):
        self.globals_seen.append(f"{module}.{name}")
        if (module, name) in self.ALLOWED:
            return self.ALLOWED[(module, name)]
        if module == "torch" and name in DTYPES:
            return StorageType(name)
        if module.startswith("__torch__"):
            q = f"{module}.{name}"
            if q not in _classes:
                _classes[q] = type(name, (TSObject,), {"qualname": q})
            return _classes[q]
        raise pickle.UnpicklingError(f"global {module}.{name} is not understood")

    def persistent_load(self, pid):
        return StorageRef(pid)


# ----------------------------------------------------------------------------- archive
class Archive:
    def __init__(self, path):
        self.path = path
        self.zip = zipfile.ZipFile(path)
        names = self.zip.namelist()
        pk = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pk) != 1:
            raise ValueError(f"{path}: not a TorchScript archive (no <name>/data.pkl)")
        self.prefix = pk[0].split("/")[0]
        up = RecordingUnpickler(self.read("data.pkl"))
        self.root = up.load()
        self.globals_seen = up.globals_seen
        self.constants = RecordingUnpickler(self.read("constants.pkl")).load()
        self.version = self.read("version").decode().strip()
        self.tensors = []  # (path, TensorRef)
        self._collect(self.root, "")
        for _, t in self.tensors:
            self._materialise(t)
        self.code = {}  # qualified class/function name -> ast node
        for n in names:
            if n.startswith(self.prefix + "/code/") and n.endswith(".py"):
                mod = n[len(self.prefix) + 6:-3].replace("/", ".")
                tree = ast.parse(self.zip.read(n).decode())
                for node in tree.body:
                    if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
                        self.code[f"{mod}.{node.name}"] = node

    def read(self, rel):
        return self.zip.read(f"{self.prefix}/{rel}")

    def _collect(self, obj, path):
        if isinstance(obj, TSObject):
            for k, v in obj.state.items():
                self._collect(v, f"{path}.{k}" if path else k)
        elif isinstance(obj, TensorRef):
            self.tensors.append((path, obj))

    def _materialise(self, t):
        dt = np.dtype(DTYPES[t.storage.stype.name]).newbyteorder("<")
        raw = self.read(f"data/{t.storage.key}")
        buf = np.frombuffer(raw, dtype=dt)
        assert buf.size == t.storage.numel, (t, buf.size)
        n = int(np.prod(t.size)) if t.size else 1
        if n:
            last = t.offset + sum((s - 1) * st for s, st in zip(t.size, t.stride))
            assert last < buf.size, f"tensor {t} reads past its storage"
        view = np.lib.stride_tricks.as_strided(
            buf[t.offset:], shape=t.size, strides=[s * dt.itemsize for s in t.stride], writeable=False)
        t.value = np.array(view)  # contiguous copy

    # ---------------------------------------------------------------- dump
    def dump(self, out=sys.stdout):
        p = lambda *a: print(*a, file=out)
        p(f"# archive {self.path}: prefix `{self.prefix}/`, version {self.version!r}, "
          f"constants.pkl = {self.constants!r}")
        raw = open(self.path, "rb").read()
        p("entry | method | size | stored | data offset (mod 64) | local extra")
        for i in self.zip.infolist():
            o = i.header_offset
            nl, el = struct.unpack("<HH", raw[o + 26:o + 30])
            d = o + 30 + nl + el
            m = {0: "STORED", 8: "DEFLATED"}.get(i.compress_type, str(i.compress_type))
            p(f"{i.filename} | {m} | {i.file_size} | {i.compress_size} | {d} ({d % 64}) | {el} B")
        p("\n# globals referenced by data.pkl:", sorted(set(self.globals_seen)))
        p("\n# object graph (data.pkl)")
        self._dump_obj(self.root, "", 0, p)
        p("\n# code")
        for n in self.zip.namelist():
            if n.startswith(self.prefix + "/code/") and n.endswith(".py"):
                p(f"## {n}\n{self.zip.read(n).decode()}")

    def _dump_obj(self, obj, name, depth, p):
        ind = "  " * depth
        if isinstance(obj, TSObject):
            p(f"{ind}{name or '<root>'}: {obj.qualname}")
            for k, v in obj.state.items():
                self._dump_obj(v, k, depth + 1, p)
        elif isinstance(obj, TensorRef):
            p(f"{ind}{name}: {obj!r} {obj.storage.location} numel={obj.storage.numel}")
        else:
            p(f"{ind}{name} = {obj!r}")


# ----------------------------------------------------------------------------- TorchScript
class TSFunction:
    def __init__(self, node, self_obj=None):
        self.node, self.self_obj = node, self_obj


class Unsupported(Exception):
    pass


class Interpreter:
    """Evaluates the archive's TorchScript source with numpy (float64 or float32)."""

    def __init__(self, archive, dtype=np.float64):
        self.a, self.dtype = archive, dtype
        self.trace = []  # ops executed, for --describe

    def cls(self, obj):
        node = self.a.code.get(obj.qualname)
        if not isinstance(node, ast.ClassDef):
            raise Unsupported(f"no code for class {obj.qualname}")
        return node

    def method(self, obj, name):
        for n in self.cls(obj).body:
            if isinstance(n, ast.FunctionDef) and n.name == name:
                return n
        raise Unsupported(f"{obj.qualname} has no method {name}")

    def attr(self, obj, name):
        if name not in obj.state:
            raise Unsupported(f"{obj.qualname} has no attribute {name}")
        v = obj.state[name]
        if isinstance(v, TensorRef):
            return v.value.astype(self.dtype)
        return v

    def run(self, obj, x):
        return self.call(self.method(obj, "forward"), [obj, x], {})

    def call(self, fn, args, kwargs):
        a = fn.args
        params = [p.arg for p in a.args]
        defaults = dict(zip(params[len(params) - len(a.defaults):], a.defaults))
        env = {}
        for i, p in enumerate(params):
            if i < len(args):
                env[p] = args[i]
            elif p in kwargs:
                env[p] = kwargs[p]
            else:
                env[p] = self.expr(defaults[p], env)
        r = self.block(fn.body, env)
        return r[1] if r else None

    def block(self, stmts, env):
        for s in stmts:
            if isinstance(s, ast.Assign):
                v = self.expr(s.value, env)
                for t in s.targets:
                    if isinstance(t, ast.Name):
                        env[t.id] = v
                    elif isinstance(t, ast.Tuple):
                        for tt, vv in zip(t.elts, v):
                            env[tt.id] = vv
                    else:
                        raise Unsupported(ast.unparse(s))
            elif isinstance(s, ast.Return):
                return ("ret", self.expr(s.value, env))
            elif isinstance(s, ast.If):
                r = self.block(s.body if self.expr(s.test, env) else s.orelse, env)
                if r:
                    return r
            elif isinstance(s, ast.Pass):
                pass
            elif isinstance(s, ast.Expr):
                self.expr(s.value, env)
            else:
                raise Unsupported(f"statement `{ast.unparse(s)}`")
        return None

    def dotted(self, e):
        if isinstance(e, ast.Name):
            return e.id
        if isinstance(e, ast.Attribute):
            d = self.dotted(e.value)
            return d and f"{d}.{e.attr}"
        return None

    def expr(self, e, env):
        if isinstance(e, ast.Constant):
            return e.value
        if isinstance(e, ast.Name):
            if e.id in env:
                return env[e.id]
            if e.id == "None":
                return None
            raise Unsupported(f"unknown name {e.id}")
        if isinstance(e, (ast.List, ast.Tuple)):
            return [self.expr(x, env) for x in e.elts]
        if isinstance(e, ast.UnaryOp) and isinstance(e.op, ast.USub):
            return -self.expr(e.operand, env)
        if isinstance(e, ast.Attribute):
            d = self.dotted(e)
            if d and d.startswith("__torch__."):
                node = self.a.code.get(d)
                if isinstance(node, ast.FunctionDef):
                    return TSFunction(node)
                raise Unsupported(f"unknown function {d}")
            base = self.expr(e.value, env)
            if isinstance(base, TSObject):
                return self.attr(base, e.attr)
            raise Unsupported(f"attribute `{ast.unparse(e)}`")
        if isinstance(e, ast.Call):
            kwargs = {k.arg: self.expr(k.value, env) for k in e.keywords}
            f = e.func
            # (module).forward(x, )
            if isinstance(f, ast.Attribute) and not (self.dotted(f) or "").startswith(("torch.", "__torch__.", "ops.")):
                obj = self.expr(f.value, env)
                if isinstance(obj, TSObject):
                    args = [self.expr(x, env) for x in e.args]
                    self.trace.append(("call", obj.qualname, f.attr))
                    return self.call(self.method(obj, f.attr), [obj] + args, kwargs)
            name = self.dotted(f)
            if name == "getattr":
                obj, key = self.expr(e.args[0], env), self.expr(e.args[1], env)
                return self.attr(obj, key)
            args = [self.expr(x, env) for x in e.args]
            if name in env and isinstance(env[name], TSFunction):
                self.trace.append(("fn", ast.unparse(f)))
                return self.call(env[name].node, args, kwargs)
            if name and name.startswith("__torch__."):
                fn = self.expr(f, env)
                self.trace.append(("fn", name))
                return self.call(fn.node, args, kwargs)
            return self.builtin(name, args, kwargs)
        raise Unsupported(f"expression `{ast.unparse(e)}`")

    def builtin(self, name, a, kw):
        self.trace.append(("op", name, [x if not isinstance(x, np.ndarray) else x.shape for x in a]))
        if name == "torch.linear":
            x, w, b = a
            y = x @ w.T
            return y if b is None else y + b
        if name == "torch.slice":
            x = a[0]
            dim, start, end, step = (list(a[1:]) + [0, None, None, 1][len(a) - 1:])[:4]
            dim, start = kw.get("dim", dim), kw.get("start", start)
            end, step = kw.get("end", end), kw.get("step", step)
            if end is not None and end >= 2 ** 63 - 1:
                end = None
            sl = [slice(None)] * x.ndim
            sl[dim] = slice(start, end, step)
            return x[tuple(sl)]
        if name == "torch.cat":
            return np.concatenate(a[0], axis=a[1] if len(a) > 1 else kw.get("dim", 0))
        if name == "torch.elu":
            x, alpha = a[0], (a[1] if len(a) > 1 else 1.0)
            return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))).astype(x.dtype)
        if name == "torch.relu":
            return np.maximum(a[0], 0)
        if name == "torch.tanh":
            return np.tanh(a[0])
        if name == "torch.norm":
            x, p, dims, keep = a
            assert p == 2.0, p
            return np.sqrt(np.sum(x * x, axis=tuple(dims), keepdims=keep))
        if name in ("torch.clamp_min", "torch.clamp_min_"):
            return np.maximum(a[0], self.dtype(a[1]))
        if name == "torch.expand_as":
            return np.broadcast_to(a[0], a[1].shape)
        if name in ("torch.div", "torch.sub", "torch.add", "torch.mul"):
            if "out" in kw:
                raise Unsupported(f"{name}(out=)")
            x, y = a[0], a[1]
            alpha = a[2] if len(a) > 2 else kw.get("alpha", 1)
            if isinstance(y, float):
                y = self.dtype(y)
            return {"torch.div": lambda: x / y, "torch.sub": lambda: x - alpha * y,
                    "torch.add": lambda: x + alpha * y, "torch.mul": lambda: x * y}[name]()
        if name == "torch.__is__":
            return a[0] is a[1]
        if name == "torch.__isnot__":
            return a[0] is not a[1]
        if name == "unchecked_cast":
            return a[1]
        raise Unsupported(f"op {name}")


# ----------------------------------------------------------------------------- recognition
def describe(archive):
    """Names the exporter shape from the module tree (class names) + which ops the forward ran."""
    root = archive.root
    q = root.qualname
    it = Interpreter(archive)
    n_in = first_linear_in(archive, root)
    it.run(root, np.zeros((1, n_in)))
    ops = sorted({t[1] for t in it.trace if t[0] == "op"})
    return {"root": q, "input_dim": n_in, "ops": ops,
            "modules": sorted({t[1] for t in it.trace if t[0] == "call"})}


def linear_in_features(obj, out):
    for k, v in obj.state.items():
        if isinstance(v, TSObject):
            if v.qualname.split(".")[-1] == "Linear":
                out.append(v.state["weight"].size[1])
            linear_in_features(v, out)
    return out


def first_linear_in(archive, obj):
    """Input width: the first Linear in_features (attribute order) for which the forward runs
    on a [1, n] zero input (the forward itself decides, e.g. HIMLoco's actor comes first in the
    attribute order but the input feeds the estimator)."""
    for n in dict.fromkeys(linear_in_features(obj, [])):
        try:
            Interpreter(archive).run(obj, np.zeros((1, n)))
            return n
        except (ValueError, IndexError):
            continue
    raise Unsupported("no input width makes the forward run")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("archive")
    ap.add_argument("--dump", action="store_true")
    ap.add_argument("--describe", action="store_true")
    ap.add_argument("--onnx")
    ap.add_argument("--save-ref")
    ap.add_argument("-n", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval", nargs=2, metavar=("IN_F32", "OUT_F64"),
                    help="evaluate little-endian float32 rows from IN_F32, write float64 outputs to OUT_F64")
    args = ap.parse_args()
    a = Archive(args.archive)
    if args.eval:
        n_in = first_linear_in(a, a.root)
        x = np.fromfile(args.eval[0], dtype="<f4").reshape(-1, n_in)
        y = np.concatenate([Interpreter(a, np.float64).run(a.root, x[i:i + 1].astype(np.float64))
                            for i in range(x.shape[0])])
        y.astype("<f8").tofile(args.eval[1])
        return
    if args.dump:
        a.dump()
        print("\n# tensors (float32 unless noted)")
        for p, t in a.tensors:
            print(f"{p}: {list(t.value.shape)} {t.value.dtype} storage {t.storage.key} "
                  f"offset {t.offset} stride {list(t.stride)}")
    if args.describe:
        print(describe(a))
    n_in = first_linear_in(a, a.root)
    rng = np.random.default_rng(args.seed)
    x = rng.standard_normal((args.n, n_in)).astype(np.float32)
    if args.onnx or args.save_ref:
        y64 = np.concatenate([Interpreter(a, np.float64).run(a.root, x[i:i + 1].astype(np.float64))
                              for i in range(args.n)])
        y32 = np.concatenate([Interpreter(a, np.float32).run(a.root, x[i:i + 1])
                              for i in range(args.n)])
        print(f"{args.archive}: input [1,{n_in}] -> output [1,{y64.shape[1]}], {args.n} random inputs (N(0,1), seed {args.seed})")
        print(f"  numpy float32 vs float64 forward: max abs diff {np.abs(y32 - y64).max():.3e}")
    if args.onnx:
        import onnxruntime as ort
        s = ort.InferenceSession(args.onnx, providers=["CPUExecutionProvider"])
        iname = s.get_inputs()[0].name
        yo = np.concatenate([s.run(None, {iname: x[i:i + 1]})[0] for i in range(args.n)])
        d = np.abs(yo.astype(np.float64) - y64)
        print(f"  onnxruntime({args.onnx}) vs numpy float64: max abs diff {d.max():.3e} "
              f"(mean {d.mean():.3e}); vs numpy float32: {np.abs(yo - y32).max():.3e}; "
              f"max |y| {np.abs(y64).max():.3f}")
        if d.max() > 1e-5:
            print("  FAIL: above 1e-5")
            sys.exit(1)
    if args.save_ref:
        with open(args.save_ref, "w") as f:
            f.write(f"# {args.archive}: inputs (float32, exact) then float64 outputs of the TorchScript forward\n")
            f.write(f"{args.n} {n_in} {y64.shape[1]}\n")
            for i in range(args.n):
                f.write(" ".join(repr(float(v)) for v in x[i]) + "\n")
                f.write(" ".join(repr(float(v)) for v in y64[i]) + "\n")
        print(f"  wrote {args.save_ref}")


if __name__ == "__main__":
    main()
