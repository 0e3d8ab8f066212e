#!/usr/bin/env python3
"""Writes small synthetic TorchScript archives WITHOUT torch, in the byte layout torch.jit.save
(PyTorchStreamWriter/miniz, TorchScript serializer) used for himloco.pt:

  <prefix>/data/<k>        STORED, raw little-endian storage bytes, one record per storage
  <prefix>/data.pkl        STORED, protocol-2 pickle written the way torch's C++ Pickler does
  <prefix>/code/__torch__/...py   DEFLATED, TorchScript source of every class/function used
  <prefix>/constants.pkl   STORED, b'\\x80\\x02).' (empty tuple)
  <prefix>/version         STORED, b'4\\n'  (himloco.pt says 4; normalize() uses aten::div)

zip details copied from himloco.pt: local headers with version-needed 0 (STORED) / 20
(DEFLATED), flags 0x0808 (data descriptor + UTF-8), time/date/crc/sizes 0 in the local header,
an extra field 'FB' + len + 'Z'*pad so every record's data starts on a 64-byte boundary,
a 16-byte data descriptor (PK\\x07\\x08 crc csize usize) after each record, central directory
with made-by 0, then a zip64 end record (made-by 0x031E, needed 45), zip64 locator, end record.

Not written: the *.debug_pkl records (source-range debug info, ignored by the importer;
expected to be optional for torch.jit.load, not checked). The TorchScript text of the rsl_rl/IsaacLab classes is written
after the printer style seen in himloco.pt and in extracted real archives (see REPORT.md);
whether torch.jit.load accepts these hand-written files was not checked (no torch here).

Each fixture also gets <name>.ref.txt (5 inputs + float64 outputs from torchscript_reference.py).
Usage: make_torchscript_fixtures.py [OUTDIR]   (default: import/fixtures/torchscript/)
       make_torchscript_fixtures.py --selfcheck path/to/himloco.pt   (pickler/zip writer vs the real archive)
"""
import os
import struct
import sys
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


# ----------------------------------------------------------------------------- pickler
class Tensor:
    """A tensor to pickle: storage (a Storage), offset, size, stride, requires_grad."""

    def __init__(self, storage, offset, size, stride, requires_grad):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride
        self.requires_grad = requires_grad


class Storage:
    def __init__(self, array):
        self.array = np.ascontiguousarray(array).reshape(-1)
        self.key = None

    @property
    def stype(self):
        return {np.float32: "FloatStorage", np.int64: "LongStorage"}[self.array.dtype.type]


def contiguous(array, requires_grad):
    a = np.asarray(array)
    st = [int(np.prod(a.shape[i + 1:])) for i in range(a.ndim)]
    return Tensor(Storage(a), 0, list(a.shape), st, requires_grad)


class Obj:
    """A scripted object: class qualname + ordered attribute list [(name, value)]."""

    def __init__(self, qualname, attrs):
        self.qualname, self.attrs = qualname, attrs


class TorchPickler:
    """Emits the opcode sequence torch's C++ Pickler emits for a module tree (see REPORT.md)."""

    def __init__(self):
        self.out = bytearray(b"\x80\x02")
        self.memo_n = 0
        self.strings, self.globals_ = {}, {}
        self.storages = []

    def put(self):
        self.out += b"q" + bytes([self.memo_n]) if self.memo_n < 256 else b"r" + struct.pack("<I", self.memo_n)
        self.memo_n += 1
        return self.memo_n - 1

    def get(self, i):
        self.out += b"h" + bytes([i]) if i < 256 else b"j" + struct.pack("<I", i)

    def string(self, s):
        if s in self.strings:
            return self.get(self.strings[s])
        b = s.encode()
        self.out += b"X" + struct.pack("<I", len(b)) + b
        self.strings[s] = self.put()

    def glob(self, module, name):
        k = (module, name)
        if k in self.globals_:
            return self.get(self.globals_[k])
        self.out += b"c" + module.encode() + b"\n" + name.encode() + b"\n"
        self.globals_[k] = self.put()

    def int_(self, v):
        if 0 <= v < 256:
            self.out += b"K" + bytes([v])
        elif 0 <= v < 65536:
            self.out += b"M" + struct.pack("<H", v)
        elif -2 ** 31 <= v < 2 ** 31:
            self.out += b"J" + struct.pack("<i", v)
        else:
            self.out += b"\x8a\x08" + struct.pack("<q", v)

    def value(self, v):
        if v is None:
            self.out += b"N"
        elif v is True:
            self.out += b"\x88"
        elif v is False:
            self.out += b"\x89"
        elif isinstance(v, int):
            self.int_(v)
        elif isinstance(v, float):
            self.out += b"G" + struct.pack(">d", v)
        elif isinstance(v, str):
            self.string(v)
        elif isinstance(v, Tensor):
            self.tensor(v)
        elif isinstance(v, Obj):
            self.obj(v)
        else:
            raise TypeError(v)

    def tuple_(self, items):
        self.out += b"("
        for x in items:
            self.value(x)
        self.out += b"t"

    def tensor(self, t):
        if t.storage.key is None:
            t.storage.key = str(len(self.storages))
            self.storages.append(t.storage)
        self.glob("torch._utils", "_rebuild_tensor_v2")
        self.out += b"("
        self.out += b"("
        self.string("storage")
        self.glob("torch", t.storage.stype)
        self.string(t.storage.key)
        self.string("cpu")
        self.int_(t.storage.array.size)
        self.out += b"t"
        self.out += b"Q"
        self.put()
        self.int_(t.offset)
        self.tuple_(t.size)
        self.tuple_(t.stride)
        self.value(t.requires_grad)
        self.glob("collections", "OrderedDict")
        self.out += b")R"
        self.out += b"tR"
        self.put()

    def obj(self, o):
        module, name = o.qualname.rsplit(".", 1)
        self.glob(module, name)
        self.out += b")\x81}("
        for k, v in o.attrs:
            self.string(k)
            self.value(v)
        self.out += b"ub"
        self.put()

    def dump(self, root):
        self.obj(root)
        self.out += b"."
        return bytes(self.out)


# ----------------------------------------------------------------------------- zip writer
def write_torch_zip(path, prefix, records):
    """records: [(relative name, bytes, compress)] in order. Layout copied from himloco.pt."""
    f = bytearray()
    central = []
    for rel, data, compress in records:
        name = f"{prefix}/{rel}".encode()
        off = len(f)
        if compress:
            c = zlib.compressobj(6, zlib.DEFLATED, -15)
            stored = c.compress(data) + c.flush()
            method, need = 8, 20
        else:
            stored, method, need = data, 0, 0
        pad = (64 - (off + 30 + len(name) + 4) % 64) % 64
        extra = b"FB" + struct.pack("<H", pad) + b"Z" * pad
        f += struct.pack("<IHHHHHIIIHH", 0x04034B50, need, 0x0808, method, 0, 0, 0, 0, 0, len(name), len(extra))
        f += name + extra
        assert len(f) % 64 == 0
        f += stored
        crc = zlib.crc32(data) & 0xFFFFFFFF
        f += struct.pack("<IIII", 0x08074B50, crc, len(stored), len(data))
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 0, need, 0x0808, method, 0, 0, crc,
                                   len(stored), len(data), len(name), 0, 0, 0, 0, 0, off) + name)
    cd_off = len(f)
    for c in central:
        f += c
    cd_size = len(f) - cd_off
    z64 = len(f)
    n = len(central)
    f += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 0x031E, 45, 0, 0, n, n, cd_size, cd_off)
    f += struct.pack("<IIQI", 0x07064B50, 0, z64, 1)
    f += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, cd_size, cd_off, 0)
    with open(path, "wb") as fh:
        fh.write(f)


# ----------------------------------------------------------------------------- TorchScript text
LINEAR = '''class Linear(Module):
  __parameters__ = ["weight", "bias", ]
  __buffers__ = []
  weight : Tensor
  bias : Tensor
  training : bool
  _is_full_backward_hook : NoneType
  out_features : Final[int] = {out}
  in_features : Final[int] = {inp}
  def forward(self: {q},
    input: Tensor) -> Tensor:
    weight = self.weight
    bias = self.bias
    return torch.linear(input, weight, bias)
'''

ELU = '''class ELU(Module):
  __parameters__ = []
  __buffers__ = []
  training : bool
  _is_full_backward_hook : NoneType
  inplace : Final[bool] = False
  alpha : Final[float] = {alpha_decl}
  def forward(self: {q},
    input: Tensor) -> Tensor:
    _0 = __torch__.torch.nn.functional.elu(input, {alpha}, False, )
    return _0
'''

TANH = '''class Tanh(Module):
  __parameters__ = []
  __buffers__ = []
  training : bool
  _is_full_backward_hook : NoneType
  def forward(self: {q},
    input: Tensor) -> Tensor:
    return torch.tanh(input)
'''

FUNC_ELU = '''def elu(input: Tensor,
    alpha: float=1.,
    inplace: bool=False) -> Tensor:
  if inplace:
    result = torch.elu_(input, alpha)
  else:
    result = torch.elu(input, alpha)
  return result
'''

FUNC_NORMALIZE = '''def normalize(input: Tensor,
    p: float=2.,
    dim: int=1,
    eps: float=9.9999999999999998e-13,
    out: Optional[Tensor]=None) -> Tensor:
  if torch.__is__(out, None):
    _1 = torch.clamp_min(torch.norm(input, p, [dim], True), eps)
    denom = torch.expand_as(_1, input)
    _0 = torch.div(input, denom)
  else:
    out0 = unchecked_cast(Tensor, out)
    _2 = torch.clamp_min_(torch.norm(input, p, [dim], True), eps)
    denom0 = torch.expand_as(_2, input)
    _0 = torch.div(input, denom0, out=out0)
  return _0
'''

IDENTITY = '''class Identity(Module):
  __parameters__ = []
  __buffers__ = []
  training : bool
  _is_full_backward_hook : NoneType
  def forward(self: {q},
    input: Tensor) -> Tensor:
    return input
'''

NORM_NEW = '''class EmpiricalNormalization(Module):
  __parameters__ = []
  __buffers__ = ["_mean", "_var", "_std", "count", ]
  _mean : Tensor
  _var : Tensor
  _std : Tensor
  count : Tensor
  training : bool
  _is_full_backward_hook : NoneType
  eps : float
  until : NoneType
  def forward(self: {q},
    x: Tensor) -> Tensor:
    _mean = self._mean
    _0 = torch.sub(x, _mean)
    _std = self._std
    eps = self.eps
    return torch.div(_0, torch.add(_std, eps))
'''

NORM_OLD = '''class EmpiricalNormalization(Module):
  __parameters__ = []
  __buffers__ = ["_mean", "_var", "_std", ]
  _mean : Tensor
  _var : Tensor
  _std : Tensor
  training : bool
  _is_full_backward_hook : NoneType
  eps : float
  until : NoneType
  count : int
  def forward(self: {q},
    x: Tensor) -> Tensor:
    if self.training:
      _0 = (self).update(x, )
    else:
      pass
    _mean = self._mean
    _1 = torch.sub(x, _mean)
    _std = self._std
    eps = self.eps
    return torch.div(_1, torch.add(_std, eps))
  def update(self: {q},
    x: Tensor) -> NoneType:
    _2 = uninitialized(NoneType)
    ops.prim.RaiseException("Exception")
    return _2
'''

EXPORTER = '''class _TorchPolicyExporter(Module):
  __parameters__ = []
  __buffers__ = []
  training : bool
  _is_full_backward_hook : Optional[bool]
  is_recurrent : bool
  actor : {actor_q}
  normalizer : {norm_q}
  def forward(self: {q},
    x: Tensor) -> Tensor:
    actor = self.actor
    normalizer = self.normalizer
    _0 = (actor).forward((normalizer).forward(x, ), )
    return _0
  def reset(self: {q}) -> NoneType:
    return None
'''

HIM = '''class PolicyExporterHIM(Module):
  __parameters__ = []
  __buffers__ = []
  training : bool
  _is_full_backward_hook : Optional[bool]
  actor : {actor_q}
  estimator : {est_q}
  def forward(self: {q},
    obs_history: Tensor) -> Tensor:
{body}'''

# HIMLoco fork seen in the wild: manual normalisation z / (|z| + 1e-8) -> must be refused
HIM_VARIANT_BODY = '''    estimator = self.estimator
    _0 = torch.slice((estimator).forward(obs_history, ))
    parts = torch.slice(_0, 1, 0, 19)
    vel = torch.slice(parts, -1, None, 3)
    z = torch.slice(parts, -1, 3)
    z_norm = torch.norm(z, 2., [-1], True)
    z0 = torch.div(z, torch.add(z_norm, 1e-08))
    actor = self.actor
    _1 = torch.slice(torch.slice(obs_history), 1, 0, 45)
    _2 = (actor).forward(torch.cat([_1, vel, z0], 1), )
    return _2
'''

LSTM_EXPORTER = '''class PolicyExporterLSTM(Module):
  __parameters__ = []
  __buffers__ = ["hidden_state", "cell_state", ]
  hidden_state : Tensor
  cell_state : Tensor
  training : bool
  _is_full_backward_hook : Optional[bool]
  is_recurrent : bool
  actor : {actor_q}
  memory : __torch__.torch.nn.modules.rnn.LSTM
  def forward(self: {q},
    x: Tensor) -> Tensor:
    memory = self.memory
    _0 = torch.unsqueeze(x, 0)
    hidden_state = self.hidden_state
    cell_state = self.cell_state
    _1 = (memory).forward(_0, (hidden_state, cell_state), )
    out, _2, = _1
    h, c, = _2
    actor = self.actor
    return (actor).forward(torch.squeeze(out, 0), )
'''

LSTM = '''class LSTM(Module):
  __parameters__ = ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", ]
  __buffers__ = []
  weight_ih_l0 : Tensor
  weight_hh_l0 : Tensor
  bias_ih_l0 : Tensor
  bias_hh_l0 : Tensor
  training : bool
  _is_full_backward_hook : NoneType
  def forward(self: __torch__.torch.nn.modules.rnn.LSTM,
    input: Tensor,
    hx: Optional[Tuple[Tensor, Tensor]]=None) -> Tuple[Tensor, Tuple[Tensor, Tensor]]:
    _0 = torch.lstm(input, hx, [self.weight_ih_l0, self.weight_hh_l0, self.bias_ih_l0, self.bias_hh_l0], True, 1, 0., False, False, False)
    out, h, c, = _0
    return (out, (h, c))
'''


def sequential_text(q, children, forward_arg="input", mangled_name="Sequential"):
    cls = q.rsplit(".", 1)[1]
    lines = [f"class {cls}(Module):", "  __parameters__ = []", "  __buffers__ = []", "  training : bool",
             "  _is_full_backward_hook : NoneType"]
    for i, (cq, _) in enumerate(children):
        lines.append(f'  __annotations__["{i}"] = {cq}')
    lines += [f"  def forward(self: {q},", f"    {forward_arg}: Tensor) -> Tensor:"]
    n = len(children)
    for i in range(n):
        lines.append(f'    _{i} = getattr(self, "{i}")')
    prev = forward_arg
    for i in range(n - 1):
        lines.append(f"    {forward_arg}{i} = (_{i}).forward({prev}, )")
        prev = f"{forward_arg}{i}"
    lines.append(f"    return (_{n - 1}).forward({prev}, )")
    lines += [f"  def __len__(self: {q}) -> int:", f"    return {n}", ""]
    return "\n".join(lines)


class Unit:
    """Collects classes (with torch-style ___torch_mangle_N names) and their code files."""

    def __init__(self):
        self.files = {}  # path under code/ -> text
        self.mangle = 0
        self.linear = {}  # (in, out) -> qualname
        self.base_used = set()
        self.functions = []

    def qual(self, module, cls):
        base = f"__torch__.{module}"
        if (base, cls) not in self.base_used:
            self.base_used.add((base, cls))
            return f"{base}.{cls}", base.replace(".", "/") + ".py"
        q = f"{base}.___torch_mangle_{self.mangle}.{cls}"
        path = base.replace(".", "/") + f"/___torch_mangle_{self.mangle}.py"
        self.mangle += 1
        return q, path

    def add(self, path, text):
        self.files[path] = self.files.get(path, "") + text

    def linear_cls(self, inp, out):
        if (inp, out) not in self.linear:
            q, p = self.qual("torch.nn.modules.linear", "Linear")
            self.add(p, LINEAR.format(q=q, inp=inp, out=out))
            self.linear[(inp, out)] = q
        return self.linear[(inp, out)]

    def elu_cls(self):
        if not hasattr(self, "_elu"):
            q, p = self.qual("torch.nn.modules.activation", "ELU")
            self.add(p, ELU.format(q=q, alpha="1.", alpha_decl="1."))
            self._elu = q
            self.function("elu", FUNC_ELU)
        return self._elu

    def function(self, name, text):
        if name not in self.functions:
            self.functions.append(name)
            self.add("__torch__/torch/nn/functional.py", text)

    def mlp(self, rng, dims, seq_module="torch.nn.modules.container", seq_cls="Sequential",
            forward_arg="input", act="elu", weight_layout=None):
        """Linear/ELU stack like rsl_rl's actor. weight_layout(i, W) -> Tensor lets a fixture store
        weights non-contiguously."""
        children = []
        for i in range(len(dims) - 1):
            w = (rng.standard_normal((dims[i + 1], dims[i])) / np.sqrt(dims[i])).astype(np.float32)
            b = (0.1 * rng.standard_normal(dims[i + 1])).astype(np.float32)
            wt = weight_layout(i, w) if weight_layout else contiguous(w, True)
            lq = self.linear_cls(dims[i], dims[i + 1])
            children.append((lq, Obj(lq, [("weight", wt), ("bias", contiguous(b, True)),
                                          ("training", False), ("_is_full_backward_hook", None)])))
            if i < len(dims) - 2:
                if act == "elu":
                    aq = self.elu_cls()
                else:
                    if not hasattr(self, "_tanh"):
                        self._tanh = self.qual("torch.nn.modules.activation", "Tanh")
                        self.add(self._tanh[1], TANH.format(q=self._tanh[0]))
                    aq = self._tanh[0]
                children.append((aq, Obj(aq, [("training", False), ("_is_full_backward_hook", None)])))
        q, p = self.qual(seq_module, seq_cls)
        self.add(p, sequential_text(q, children, forward_arg))
        attrs = [("training", False), ("_is_full_backward_hook", None)]
        attrs += [(str(i), o) for i, (_, o) in enumerate(children)]
        return q, Obj(q, attrs)


def save(path, root, unit):
    pk = TorchPickler()
    data_pkl = pk.dump(root)
    recs = [(f"data/{s.key}", s.array.astype(s.array.dtype.newbyteorder("<")).tobytes(), False)
            for s in pk.storages]
    recs.append(("data.pkl", data_pkl, False))
    for p, text in unit.files.items():
        recs.append((f"code/{p}", text.encode(), True))
    recs.append(("constants.pkl", b"\x80\x02).", False))
    recs.append(("version", b"4\n", False))
    prefix = os.path.splitext(os.path.basename(path))[0]
    write_torch_zip(path, prefix, recs)


# ----------------------------------------------------------------------------- fixtures
def legged_gym(out, rng):
    """export_policy_as_jit: torch.jit.script(copy.deepcopy(actor_critic.actor)) -> root is the
    nn.Sequential itself, saved as policy_1.pt."""
    u = Unit()
    q, root = u.mlp(rng, [48, 64, 32, 16, 12])
    root.attrs[0] = ("training", True)  # a fresh deepcopy keeps the runner's mode; both occur
    save(os.path.join(out, "legged_gym_mlp.pt"), root, u)


def strided(out, rng):
    """legged_gym shape, but weights stored the other way round (stride [1, out]) and two
    layers' weights sharing one storage at different offsets: exercises offset/stride."""
    u = Unit()
    shared, first = {}, {}

    def layout(i, w):
        if i == 0:  # transposed storage: W = S.T, S contiguous [in, out]
            first["w"] = w
            return Tensor(Storage(w.T.copy()), 0, list(w.shape), [1, w.shape[0]], True)
        if i in (1, 2):  # one flat storage holding [pad(7) | W1 | W2], with offsets
            if "s" not in shared:
                shared["s"] = []
            shared["s"].append(w)
            return None
        return contiguous(w, True)

    q, root = u.mlp(rng, [10, 8, 6, 5, 3], weight_layout=layout)
    w1, w2 = shared["s"]
    flat = np.concatenate([np.full(7, np.nan, np.float32), w1.reshape(-1), w2.reshape(-1)])
    st = Storage(flat)
    lin = [o for _, o in root.attrs if isinstance(o, Obj) and o.qualname.endswith("Linear")]
    lin[1].attrs[0] = ("weight", Tensor(st, 7, list(w1.shape), [w1.shape[1], 1], True))
    lin[2].attrs[0] = ("weight", Tensor(st, 7 + w1.size, list(w2.shape), [w2.shape[1], 1], True))
    path = os.path.join(out, "strided_mlp.pt")
    save(path, root, u)
    # the reader must get back exactly the weights that were laid out strangely
    import torchscript_reference as tr
    a = tr.Archive(path)
    got = {p: t.value for p, t in a.tensors}
    assert np.array_equal(got["2.weight"], w1) and np.array_equal(got["4.weight"], w2), "offset"
    assert got["0.weight"].shape == (8, 10) and np.array_equal(got["0.weight"], first["w"]), "stride"


def normalizer_obj(u, rng, n, new_style):
    mean = rng.standard_normal((1, n)).astype(np.float32)
    var = (0.5 + rng.random((1, n))).astype(np.float32)
    std = np.sqrt(var).astype(np.float32)
    if new_style:
        q, p = u.qual("rsl_rl.networks.normalization", "EmpiricalNormalization")
        u.add(p, NORM_NEW.format(q=q))
        attrs = [("_mean", contiguous(mean, False)), ("_var", contiguous(var, False)),
                 ("_std", contiguous(std, False)), ("count", contiguous(np.array(123456, np.int64), False)),
                 ("training", False), ("_is_full_backward_hook", None), ("eps", 0.01), ("until", None)]
    else:
        q, p = u.qual("rsl_rl.modules.normalizer", "EmpiricalNormalization")
        u.add(p, NORM_OLD.format(q=q))
        attrs = [("_mean", contiguous(mean, False)), ("_var", contiguous(var, False)),
                 ("_std", contiguous(std, False)), ("training", False), ("_is_full_backward_hook", None),
                 ("eps", 0.01), ("until", None), ("count", 98304)]
    return q, Obj(q, attrs)


def isaaclab(out, rng, name, exporter_module, new_style, normalizer, actor_mlp_cls):
    u = Unit()
    n_in = 33
    if actor_mlp_cls:
        aq, actor = u.mlp(rng, [n_in, 64, 32, 6], seq_module="rsl_rl.networks.mlp", seq_cls="MLP", forward_arg="x")
    else:
        aq, actor = u.mlp(rng, [n_in, 64, 32, 6])
    if normalizer:
        nq, norm = normalizer_obj(u, rng, n_in, new_style)
    else:
        nq, p = u.qual("torch.nn.modules.linear", "Identity")
        u.add(p, IDENTITY.format(q=nq))
        norm = Obj(nq, [("training", False), ("_is_full_backward_hook", None)])
    q, p = u.qual(exporter_module, "_TorchPolicyExporter")
    u.add(p, EXPORTER.format(q=q, actor_q=aq, norm_q=nq))
    root = Obj(q, [("training", False), ("_is_full_backward_hook", None), ("is_recurrent", False),
                   ("actor", actor), ("normalizer", norm)])
    save(os.path.join(out, name), root, u)


def him_variant(out, rng):
    u = Unit()
    aq, actor = u.mlp(rng, [64, 32, 12])
    eq, est = u.mlp(rng, [270, 32, 19])
    q, p = u.qual("legged_gym.utils.helpers", "PolicyExporterHIM")
    u.add(p, HIM.format(q=q, actor_q=aq, est_q=eq, body=HIM_VARIANT_BODY))
    root = Obj(q, [("training", True), ("_is_full_backward_hook", None), ("actor", actor), ("estimator", est)])
    save(os.path.join(out, "refuse_him_variant.pt"), root, u)


def lstm(out, rng):
    u = Unit()
    aq, actor = u.mlp(rng, [16, 12])
    h = 16
    lstm_obj = Obj("__torch__.torch.nn.modules.rnn.LSTM", [
        ("weight_ih_l0", contiguous(rng.standard_normal((4 * h, 48)).astype(np.float32), True)),
        ("weight_hh_l0", contiguous(rng.standard_normal((4 * h, h)).astype(np.float32), True)),
        ("bias_ih_l0", contiguous(np.zeros(4 * h, np.float32), True)),
        ("bias_hh_l0", contiguous(np.zeros(4 * h, np.float32), True)),
        ("training", False), ("_is_full_backward_hook", None)])
    u.add("__torch__/torch/nn/modules/rnn.py", LSTM)
    q, p = u.qual("legged_gym.utils.helpers", "PolicyExporterLSTM")
    u.add(p, LSTM_EXPORTER.format(q=q, actor_q=aq))
    root = Obj(q, [("hidden_state", contiguous(np.zeros((1, 1, h), np.float32), False)),
                   ("cell_state", contiguous(np.zeros((1, 1, h), np.float32), False)),
                   ("training", False), ("_is_full_backward_hook", None), ("is_recurrent", True),
                   ("actor", actor), ("memory", lstm_obj)])
    save(os.path.join(out, "refuse_lstm.pt"), root, u)


def tanh(out, rng):
    u = Unit()
    q, root = u.mlp(rng, [12, 16, 4], act="tanh")
    save(os.path.join(out, "refuse_tanh.pt"), root, u)


def selfcheck(himloco):
    """Re-write himloco.pt's object graph and STORED records with this pickler/zip writer and
    compare bytes with the real file: data.pkl must be identical, and so must the whole file up
    to the first DEFLATED record (zlib and miniz produce different deflate streams)."""
    import zipfile
    import torchscript_reference as tr
    a = tr.Archive(himloco)
    stor = {}

    def conv(o):
        if isinstance(o, tr.TSObject):
            return Obj(o.qualname, [(k, conv(v)) for k, v in o.state.items()])
        if isinstance(o, tr.TensorRef):
            k = o.storage.key
            if k not in stor:
                stor[k] = Storage(np.frombuffer(a.read(f"data/{k}"), "<f4"))
            return Tensor(stor[k], o.offset, list(o.size), list(o.stride), o.requires_grad)
        return o

    pk = TorchPickler()
    b = pk.dump(conv(a.root))
    assert b == a.read("data.pkl"), "data.pkl differs"
    z = zipfile.ZipFile(himloco)
    recs = [(i.filename.split("/", 1)[1], z.read(i.filename), i.compress_type == 8) for i in z.infolist()]
    tmp = os.path.join(HERE, "target", "selfcheck.pt")
    os.makedirs(os.path.dirname(tmp), exist_ok=True)
    write_torch_zip(tmp, a.prefix, recs)
    first_deflated = next(i.header_offset for i in z.infolist() if i.compress_type == 8)
    mine, real = open(tmp, "rb").read(), open(himloco, "rb").read()
    assert mine[:first_deflated] == real[:first_deflated], "STORED prefix differs"
    mz = zipfile.ZipFile(tmp)
    assert [(i.filename, i.compress_type, i.file_size, i.CRC) for i in mz.infolist()] == \
           [(i.filename, i.compress_type, i.file_size, i.CRC) for i in z.infolist()]
    print(f"selfcheck: data.pkl byte-identical ({len(b)} B); first {first_deflated} B of the zip identical; "
          f"entries/CRCs identical")


def main():
    if sys.argv[1:2] == ["--selfcheck"]:
        return selfcheck(sys.argv[2])
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "import", "fixtures", "torchscript")
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(20240601)
    legged_gym(out, rng)
    strided(out, rng)
    isaaclab(out, rng, "isaaclab_normalizer.pt", "isaaclab_rl.rsl_rl.exporter", True, True, True)
    isaaclab(out, rng, "isaaclab_old_normalizer.pt", "omni.isaac.lab_tasks.utils.wrappers.rsl_rl.exporter",
             False, True, False)
    isaaclab(out, rng, "isaaclab_identity.pt", "isaaclab_rl.rsl_rl.exporter", True, False, True)
    him_variant(out, rng)
    lstm(out, rng)
    tanh(out, rng)
    # references for the accepted ones, from the torch-free reference evaluator
    import torchscript_reference as tr
    for name in ["legged_gym_mlp", "strided_mlp", "isaaclab_normalizer", "isaaclab_old_normalizer",
                 "isaaclab_identity"]:
        a = tr.Archive(os.path.join(out, name + ".pt"))
        n_in = tr.first_linear_in(a, a.root)
        x = np.random.default_rng(7).standard_normal((5, n_in)).astype(np.float32)
        ys = [tr.Interpreter(a, np.float64).run(a.root, x[i:i + 1].astype(np.float64))[0] for i in range(5)]
        with open(os.path.join(out, name + ".ref.txt"), "w") as f:
            f.write(f"# {name}.pt: inputs (float32, exact) then float64 outputs of the TorchScript forward\n")
            f.write(f"5 {n_in} {len(ys[0])}\n")
            for i in range(5):
                f.write(" ".join(repr(float(v)) for v in x[i]) + "\n")
                f.write(" ".join(repr(float(v)) for v in ys[i]) + "\n")
        print(f"{name}.pt: input {n_in}, output {len(ys[0])}, |y|max {max(np.abs(y).max() for y in ys):.3f}")


if __name__ == "__main__":
    main()
