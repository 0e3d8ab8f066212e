//! The pickle VM for `data.pkl`: the protocol-2 opcodes torch's serializer emits, persistent-id
//! storages and tensor rebuilds, into a small value tree.

use super::{malformed, R};

#[derive(Debug, Clone, PartialEq)]
pub enum DType {
    F32,
    F64,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
}

impl DType {
    pub fn from_storage(name: &str) -> Option<DType> {
        Some(match name {
            "FloatStorage" => DType::F32,
            "DoubleStorage" => DType::F64,
            "HalfStorage" => DType::F16,
            "BFloat16Storage" => DType::BF16,
            "LongStorage" => DType::I64,
            "IntStorage" => DType::I32,
            "ShortStorage" => DType::I16,
            "CharStorage" => DType::I8,
            "ByteStorage" => DType::U8,
            "BoolStorage" => DType::Bool,
            _ => return None,
        })
    }
    #[cfg(test)]
    #[allow(dead_code)]
    pub fn size(&self) -> usize {
        match self {
            DType::F64 | DType::I64 => 8,
            DType::F32 | DType::I32 => 4,
            DType::F16 | DType::BF16 | DType::I16 => 2,
            _ => 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct StorageRef {
    pub dtype: DType,
    /// record name under `<prefix>/data/`
    pub key: String,
    pub location: String,
    pub numel: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TensorRef {
    pub storage: StorageRef,
    pub offset: u64,
    pub size: Vec<u64>,
    pub stride: Vec<u64>,
    pub requires_grad: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    /// `module.name` from GLOBAL
    Global(String),
    /// NEWOBJ of a `__torch__.*` class; `state` set by BUILD (a Dict of attributes)
    Object {
        class: String,
        state: Box<Value>,
    },
    Storage(StorageRef),
    Tensor(TensorRef),
    Mark,
}

impl Value {
    pub fn attr(&self, name: &str) -> Option<&Value> {
        if let Value::Object { state, .. } = self {
            if let Value::Dict(items) = &**state {
                return items
                    .iter()
                    .find(|(k, _)| matches!(k, Value::Str(s) if s == name))
                    .map(|(_, v)| v);
            }
        }
        None
    }
    #[cfg(test)]
    pub fn attrs(&self) -> Vec<(&str, &Value)> {
        if let Value::Object { state, .. } = self {
            if let Value::Dict(items) = &**state {
                return items
                    .iter()
                    .filter_map(|(k, v)| {
                        if let Value::Str(s) = k {
                            Some((s.as_str(), v))
                        } else {
                            None
                        }
                    })
                    .collect();
            }
        }
        vec![]
    }
    pub fn class(&self) -> Option<&str> {
        if let Value::Object { class, .. } = self {
            Some(class)
        } else {
            None
        }
    }
}

fn as_u64(v: &Value, what: &str) -> R<u64> {
    match v {
        Value::Int(i) if *i >= 0 => Ok(*i as u64),
        _ => malformed(format!("{what}: expected a non-negative int, got {v:?}")),
    }
}
fn as_u64_tuple(v: &Value, what: &str) -> R<Vec<u64>> {
    match v {
        Value::Tuple(t) | Value::List(t) => t.iter().map(|x| as_u64(x, what)).collect(),
        _ => malformed(format!("{what}: expected a tuple, got {v:?}")),
    }
}

/// Protocol-2 pickle VM for torch's data.pkl / constants.pkl. Memo values are copies, which is
/// exact for torch's C++ Pickler (it memoises objects only after BUILD), not for pickles that
/// mutate a memoised object afterwards.
pub fn load(data: &[u8]) -> R<Value> {
    let mut st: Vec<Value> = Vec::new();
    let mut memo: Vec<Option<Value>> = Vec::new();
    let mut p = 0usize;
    let take = |p: &mut usize, n: usize| -> R<&[u8]> {
        if *p + n > data.len() {
            return malformed("pickle truncated");
        }
        let s = &data[*p..*p + n];
        *p += n;
        Ok(s)
    };
    fn pop(st: &mut Vec<Value>) -> R<Value> {
        st.pop()
            .map_or_else(|| malformed("pickle stack underflow"), Ok)
    }
    fn pop_mark(st: &mut Vec<Value>) -> R<Vec<Value>> {
        match st.iter().rposition(|v| matches!(v, Value::Mark)) {
            Some(i) => {
                let items = st.split_off(i + 1);
                st.pop();
                Ok(items)
            }
            None => malformed("pickle MARK missing"),
        }
    }
    fn line(data: &[u8], p: &mut usize) -> R<String> {
        let s = *p;
        while *p < data.len() && data[*p] != b'\n' {
            *p += 1;
        }
        if *p >= data.len() {
            return malformed("pickle GLOBAL line truncated");
        }
        let l = String::from_utf8_lossy(&data[s..*p]).into_owned();
        *p += 1;
        Ok(l)
    }
    fn set_memo(memo: &mut Vec<Option<Value>>, i: usize, v: Value) {
        if memo.len() <= i {
            memo.resize(i + 1, None);
        }
        memo[i] = Some(v);
    }
    loop {
        let at = p;
        let op = take(&mut p, 1)?[0];
        match op {
            0x80 => {
                let v = take(&mut p, 1)?[0];
                if v > 5 {
                    return malformed(format!("pickle protocol {v}"));
                }
            }
            0x95 => {
                take(&mut p, 8)?; // FRAME (protocol 4): length only
            }
            b'.' => return pop(&mut st),
            b'c' => {
                let m = line(data, &mut p)?;
                let n = line(data, &mut p)?;
                st.push(Value::Global(format!("{m}.{n}")));
            }
            b'q' => {
                let i = take(&mut p, 1)?[0] as usize;
                let v = st.last().cloned().ok_or(super::E(
                    super::ErrorKind::Malformed,
                    "BINPUT on empty stack".into(),
                ))?;
                set_memo(&mut memo, i, v);
            }
            b'r' => {
                let b = take(&mut p, 4)?;
                let i = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
                let v = st.last().cloned().ok_or(super::E(
                    super::ErrorKind::Malformed,
                    "LONG_BINPUT on empty stack".into(),
                ))?;
                set_memo(&mut memo, i, v);
            }
            0x94 => {
                let i = memo.len();
                let v = st.last().cloned().ok_or(super::E(
                    super::ErrorKind::Malformed,
                    "MEMOIZE on empty stack".into(),
                ))?;
                set_memo(&mut memo, i, v);
            }
            b'h' | b'j' => {
                let i = if op == b'h' {
                    take(&mut p, 1)?[0] as usize
                } else {
                    let b = take(&mut p, 4)?;
                    u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize
                };
                match memo.get(i).cloned().flatten() {
                    Some(v) => st.push(v),
                    None => return malformed(format!("pickle memo {i} unset")),
                }
            }
            b'(' => st.push(Value::Mark),
            b')' => st.push(Value::Tuple(vec![])),
            b't' => {
                let items = pop_mark(&mut st)?;
                st.push(Value::Tuple(items));
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                if st.len() < n {
                    return malformed("pickle stack underflow");
                }
                let items = st.split_off(st.len() - n);
                st.push(Value::Tuple(items));
            }
            b']' => st.push(Value::List(vec![])),
            b'a' => {
                let v = pop(&mut st)?;
                match st.last_mut() {
                    Some(Value::List(l)) => l.push(v),
                    _ => return malformed("APPEND to a non-list"),
                }
            }
            b'e' => {
                let items = pop_mark(&mut st)?;
                match st.last_mut() {
                    Some(Value::List(l)) => l.extend(items),
                    _ => return malformed("APPENDS to a non-list"),
                }
            }
            b'}' => st.push(Value::Dict(vec![])),
            b's' => {
                let v = pop(&mut st)?;
                let k = pop(&mut st)?;
                match st.last_mut() {
                    Some(Value::Dict(d)) => d.push((k, v)),
                    _ => return malformed("SETITEM on a non-dict"),
                }
            }
            b'u' => {
                let items = pop_mark(&mut st)?;
                if items.len() % 2 != 0 {
                    return malformed("SETITEMS with an odd number of items");
                }
                match st.last_mut() {
                    Some(Value::Dict(d)) => {
                        let mut it = items.into_iter();
                        while let (Some(k), Some(v)) = (it.next(), it.next()) {
                            d.push((k, v));
                        }
                    }
                    _ => return malformed("SETITEMS on a non-dict"),
                }
            }
            b'N' => st.push(Value::None),
            0x88 => st.push(Value::Bool(true)),
            0x89 => st.push(Value::Bool(false)),
            b'K' => st.push(Value::Int(take(&mut p, 1)?[0] as i64)),
            b'M' => {
                let b = take(&mut p, 2)?;
                st.push(Value::Int(u16::from_le_bytes([b[0], b[1]]) as i64))
            }
            b'J' => {
                let b = take(&mut p, 4)?;
                st.push(Value::Int(
                    i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64
                ))
            }
            0x8a => {
                let n = take(&mut p, 1)?[0] as usize;
                if n > 8 {
                    return malformed("LONG1 wider than 64 bits");
                }
                let b = take(&mut p, n)?;
                let mut v: i64 = 0;
                for (i, &x) in b.iter().enumerate() {
                    v |= (x as i64) << (8 * i);
                }
                if n > 0 && n < 8 && b[n - 1] & 0x80 != 0 {
                    v -= 1i64 << (8 * n);
                }
                st.push(Value::Int(v));
            }
            b'G' => {
                let b = take(&mut p, 8)?;
                st.push(Value::Float(f64::from_be_bytes(b.try_into().unwrap())));
            }
            b'X' | 0x8c => {
                let n = if op == b'X' {
                    let b = take(&mut p, 4)?;
                    u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize
                } else {
                    take(&mut p, 1)?[0] as usize
                };
                let s = take(&mut p, n)?;
                match std::str::from_utf8(s) {
                    Ok(s) => st.push(Value::Str(s.to_string())),
                    Err(_) => return malformed("pickle string is not UTF-8"),
                }
            }
            b'Q' => {
                let pid = pop(&mut st)?;
                st.push(persistent(pid)?);
            }
            0x81 => {
                let args = pop(&mut st)?;
                let cls = pop(&mut st)?;
                match (cls, args) {
                    (Value::Global(c), Value::Tuple(a))
                        if a.is_empty() && c.starts_with("__torch__.") =>
                    {
                        st.push(Value::Object {
                            class: c,
                            state: Box::new(Value::None),
                        })
                    }
                    (c, _) => {
                        return malformed(format!(
                            "NEWOBJ of {c:?} (only scripted __torch__ classes are expected)"
                        ))
                    }
                }
            }
            b'b' => {
                let state = pop(&mut st)?;
                match st.last_mut() {
                    Some(Value::Object { state: s, .. }) => **s = state,
                    _ => return malformed("BUILD on a non-object"),
                }
            }
            b'R' => {
                let args = pop(&mut st)?;
                let f = pop(&mut st)?;
                st.push(reduce(f, args)?);
            }
            _ => {
                return malformed(format!(
                    "pickle opcode 0x{op:02x} at byte {at} is not understood"
                ))
            }
        }
    }
}

fn persistent(pid: Value) -> R<Value> {
    if let Value::Tuple(t) = &pid {
        if let [Value::Str(tag), Value::Global(g), Value::Str(key), Value::Str(loc), n] =
            t.as_slice()
        {
            if tag == "storage" {
                let name = g.strip_prefix("torch.").unwrap_or(g);
                let dtype = match DType::from_storage(name) {
                    Some(d) => d,
                    None => return malformed(format!("storage type {g} is not understood")),
                };
                return Ok(Value::Storage(StorageRef {
                    dtype,
                    key: key.clone(),
                    location: loc.clone(),
                    numel: as_u64(n, "storage numel")?,
                }));
            }
        }
    }
    malformed(format!("persistent id {pid:?} is not a torch storage"))
}

fn reduce(f: Value, args: Value) -> R<Value> {
    let name = match &f {
        Value::Global(g) => g.as_str(),
        _ => return malformed(format!("REDUCE of {f:?}")),
    };
    let a = match args {
        Value::Tuple(a) => a,
        _ => return malformed("REDUCE arguments are not a tuple"),
    };
    match name {
        "torch._utils._rebuild_tensor_v2" | "torch._utils._rebuild_tensor" => {
            if a.len() < 4 {
                return malformed("_rebuild_tensor_v2 with too few arguments");
            }
            let storage = match &a[0] {
                Value::Storage(s) => s.clone(),
                v => return malformed(format!("_rebuild_tensor_v2 storage is {v:?}")),
            };
            Ok(Value::Tensor(TensorRef {
                storage,
                offset: as_u64(&a[1], "tensor offset")?,
                size: as_u64_tuple(&a[2], "tensor size")?,
                stride: as_u64_tuple(&a[3], "tensor stride")?,
                requires_grad: matches!(a.get(4), Some(Value::Bool(true))),
            }))
        }
        "collections.OrderedDict" => Ok(Value::Dict(vec![])),
        // typed lists in older TorchScript pickles
        "torch.jit._pickle.build_intlist"
        | "torch.jit._pickle.build_doublelist"
        | "torch.jit._pickle.build_boollist"
        | "torch.jit._pickle.build_tensorlist"
        | "torch.jit._pickle.build_list" => a
            .into_iter()
            .next()
            .map_or_else(|| malformed("empty build_list"), Ok),
        "torch.jit._pickle.restore_type_tag" => a
            .into_iter()
            .next()
            .map_or_else(|| malformed("empty restore_type_tag"), Ok),
        _ => malformed(format!("data.pkl calls `{name}`, which is not understood")),
    }
}
