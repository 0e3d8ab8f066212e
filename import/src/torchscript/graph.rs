//! Symbolic evaluation of the archive's `forward` into an op graph over one [batch, n] input.

use super::pickle::Value;
use super::script::{Code, Expr, Func, Stmt};
use super::{refused, Archive, TensorF32, E, R};
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Input,
    /// a parameter/buffer read from the module tree
    Const {
        path: String,
        t: TensorF32,
    },
    Scalar(f64),
    Linear {
        x: usize,
        w: usize,
        b: Option<usize>,
    },
    Elu {
        x: usize,
        alpha: f64,
    },
    /// along dim `dim` (as written, may be negative); end None = to the end
    Slice {
        x: usize,
        dim: i64,
        start: i64,
        end: Option<i64>,
        step: i64,
    },
    Cat {
        xs: Vec<usize>,
        dim: i64,
    },
    Norm {
        x: usize,
        p: f64,
        dims: Vec<i64>,
        keepdim: bool,
    },
    ClampMin {
        x: usize,
        min: f64,
    },
    ExpandAs {
        x: usize,
        like: usize,
    },
    Add {
        a: usize,
        b: usize,
        alpha: f64,
    },
    Sub {
        a: usize,
        b: usize,
        alpha: f64,
    },
    Mul {
        a: usize,
        b: usize,
    },
    Div {
        a: usize,
        b: usize,
    },
}

#[derive(Debug, Clone)]
#[allow(dead_code)]
enum V<'a> {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<V<'a>>),
    Tuple(Vec<V<'a>>),
    Obj { path: String, v: &'a Value },
    T(usize),
    Func(String),
}

pub struct Graph {
    pub nodes: Vec<Node>,
    pub output: usize,
}

struct Ev<'a> {
    ar: &'a Archive,
    code: &'a Code,
    nodes: Vec<Node>,
    consts: HashMap<String, usize>,
    /// (module path, class) of the frames being evaluated, for error messages
    frames: Vec<(String, String, String)>,
}

const FULL: i64 = i64::MAX;

impl<'a> Ev<'a> {
    fn push(&mut self, n: Node) -> usize {
        self.nodes.push(n);
        self.nodes.len() - 1
    }

    fn where_(&self) -> String {
        match self.frames.last() {
            Some((p, c, m)) => format!("module `{p}` of type `{c}`, method `{m}`"),
            None => "the archive".into(),
        }
    }

    fn refuse<T>(&self, stmt: &str, what: impl std::fmt::Display) -> R<T> {
        refused(format!("{}: `{}`: {}", self.where_(), stmt, what))
    }

    fn call_method(
        &mut self,
        path: &str,
        obj: &'a Value,
        method: &str,
        args: Vec<V<'a>>,
        stmt: &str,
    ) -> R<V<'a>> {
        let class = obj.class().unwrap_or("?").to_string();
        let f = match self.code.classes.get(&class).and_then(|c| c.methods.get(method)) {
            Some(f) => f,
            None => {
                return self.refuse(stmt, format!("module `{path}` of type `{class}` has no TorchScript method `{method}` in the archive"))
            }
        };
        if self.frames.len() > 48 {
            return self.refuse(stmt, "calls nest too deep");
        }
        self.frames
            .push((path.to_string(), class, method.to_string()));
        let mut a = vec![V::Obj {
            path: path.to_string(),
            v: obj,
        }];
        a.extend(args);
        let r = self.call_func(f, a, vec![]);
        self.frames.pop();
        r
    }

    fn call_func(&mut self, f: &'a Func, args: Vec<V<'a>>, kw: Vec<(String, V<'a>)>) -> R<V<'a>> {
        let mut env: HashMap<String, V<'a>> = HashMap::new();
        if args.len() > f.params.len() {
            return self.refuse(&f.name, "too many arguments");
        }
        let mut args = args.into_iter();
        for p in &f.params {
            let v = if let Some(a) = args.next() {
                a
            } else if let Some((_, v)) = kw.iter().find(|(k, _)| k == &p.name) {
                v.clone()
            } else if let Some(d) = &p.default {
                let mut empty = HashMap::new();
                self.expr(d, &mut empty, &f.name)?
            } else {
                return self.refuse(&f.name, format!("argument `{}` missing", p.name));
            };
            env.insert(p.name.clone(), v);
        }
        match self.block(&f.body, &mut env)? {
            Some(v) => Ok(v),
            None => Ok(V::None),
        }
    }

    fn block(&mut self, body: &'a [Stmt], env: &mut HashMap<String, V<'a>>) -> R<Option<V<'a>>> {
        for s in body {
            match s {
                Stmt::Pass => {}
                Stmt::Assign(names, e, text) => {
                    let v = self.expr(e, env, text)?;
                    if names.len() == 1 {
                        env.insert(names[0].clone(), v);
                    } else {
                        match v {
                            V::Tuple(items) | V::List(items) if items.len() == names.len() => {
                                for (n, it) in names.iter().zip(items) {
                                    env.insert(n.clone(), it);
                                }
                            }
                            _ => return self.refuse(text, "tuple unpacking of a non-tuple"),
                        }
                    }
                }
                Stmt::Return(e, text) => return Ok(Some(self.expr(e, env, text)?)),
                Stmt::Expr(e, text) => {
                    self.expr(e, env, text)?;
                }
                Stmt::If(c, then, els, text) => {
                    let b = match self.expr(c, env, text)? {
                        V::Bool(b) => b,
                        v => {
                            return self
                                .refuse(text, format!("condition is not a constant bool ({v:?})"))
                        }
                    };
                    if let Some(r) = self.block(if b { then } else { els }, env)? {
                        return Ok(Some(r));
                    }
                }
            }
        }
        Ok(None)
    }

    fn attr_of(&mut self, path: &str, obj: &'a Value, name: &str, stmt: &str) -> R<V<'a>> {
        let v = match obj.attr(name) {
            Some(v) => v,
            None => return self.refuse(stmt, format!("module `{path}` has no attribute `{name}`")),
        };
        let p = format!("{path}.{name}");
        Ok(match v {
            Value::None => V::None,
            Value::Bool(b) => V::Bool(*b),
            Value::Int(i) => V::Int(*i),
            Value::Float(f) => V::Float(*f),
            Value::Str(s) => V::Str(s.clone()),
            Value::Object { .. } => V::Obj { path: p, v },
            Value::Tensor(t) => {
                if let Some(&id) = self.consts.get(&p) {
                    V::T(id)
                } else {
                    let t = self.ar.tensor_f32(t, &p)?;
                    let id = self.push(super::graph::Node::Const { path: p.clone(), t });
                    self.consts.insert(p, id);
                    V::T(id)
                }
            }
            other => return self.refuse(stmt, format!("attribute `{p}` is {other:?}")),
        })
    }

    fn expr(&mut self, e: &'a Expr, env: &mut HashMap<String, V<'a>>, stmt: &str) -> R<V<'a>> {
        match e {
            Expr::Int(i) => Ok(V::Int(*i)),
            Expr::Float(f) => Ok(V::Float(*f)),
            Expr::Str(s) => Ok(V::Str(s.clone())),
            Expr::Neg(x) => match self.expr(x, env, stmt)? {
                V::Int(i) => Ok(V::Int(-i)),
                V::Float(f) => Ok(V::Float(-f)),
                _ => self.refuse(stmt, "unary minus on a tensor"),
            },
            Expr::List(xs) => Ok(V::List(
                xs.iter()
                    .map(|x| self.expr(x, env, stmt))
                    .collect::<R<_>>()?,
            )),
            Expr::Tuple(xs) => Ok(V::Tuple(
                xs.iter()
                    .map(|x| self.expr(x, env, stmt))
                    .collect::<R<_>>()?,
            )),
            Expr::Name(n) => match n.as_str() {
                "None" => Ok(V::None),
                "True" => Ok(V::Bool(true)),
                "False" => Ok(V::Bool(false)),
                _ => match env.get(n) {
                    Some(v) => Ok(v.clone()),
                    None => self.refuse(stmt, format!("name `{n}` is not defined")),
                },
            },
            Expr::Attr(base, name) => {
                if let Some(d) = e.dotted() {
                    if d.starts_with("__torch__.") {
                        return if self.code.functions.contains_key(&d) {
                            Ok(V::Func(d))
                        } else {
                            self.refuse(
                                stmt,
                                format!("function `{d}` is not in the archive's code"),
                            )
                        };
                    }
                }
                match self.expr(base, env, stmt)? {
                    V::Obj { path, v } => self.attr_of(&path, v, name, stmt),
                    _ => self.refuse(stmt, format!("attribute `{name}` of a non-module")),
                }
            }
            Expr::Index(..) => self.refuse(stmt, "indexing is not in the supported subset"),
            Expr::Call(f, args, kw) => {
                // method call on a module value: (m).forward(x, )
                if let Expr::Attr(base, m) = &**f {
                    let head = base
                        .dotted()
                        .map(|d| d.split('.').next().unwrap().to_string());
                    let local = match &head {
                        Some(h) => env.contains_key(h),
                        None => true,
                    };
                    if local {
                        if let V::Obj { path, v } = self.expr(base, env, stmt)? {
                            if !kw.is_empty() {
                                return self.refuse(stmt, "keyword arguments to a module method");
                            }
                            let a = args
                                .iter()
                                .map(|x| self.expr(x, env, stmt))
                                .collect::<R<Vec<_>>>()?;
                            return self.call_method(&path, v, m, a, stmt);
                        }
                    }
                }
                let name = match f.dotted() {
                    Some(n) => n,
                    None => return self.refuse(stmt, "call of a computed value"),
                };
                if name == "getattr" {
                    if let [o, Expr::Str(k)] = args.as_slice() {
                        if let V::Obj { path, v } = self.expr(o, env, stmt)? {
                            return self.attr_of(&path, v, k, stmt);
                        }
                    }
                    return self.refuse(stmt, "getattr on a non-module");
                }
                let a = args
                    .iter()
                    .map(|x| self.expr(x, env, stmt))
                    .collect::<R<Vec<_>>>()?;
                let k = kw
                    .iter()
                    .map(|(n, x)| Ok((n.clone(), self.expr(x, env, stmt)?)))
                    .collect::<R<Vec<_>>>()?;
                let fv = if env.contains_key(&name) {
                    Some(env[&name].clone())
                } else if name.starts_with("__torch__.") {
                    Some(self.expr(f, env, stmt)?)
                } else {
                    None
                };
                if let Some(V::Func(q)) = fv {
                    let func = &self.code.functions[&q];
                    if self.frames.len() > 48 {
                        return self.refuse(stmt, "calls nest too deep");
                    }
                    let (p, c, _) = self.frames.last().cloned().unwrap_or_default();
                    self.frames.push((p, c, q.clone()));
                    let r = self.call_func(func, a, k);
                    self.frames.pop();
                    return r;
                }
                self.builtin(&name, a, k, stmt)
            }
        }
    }

    fn tensor(&self, v: &V<'a>, stmt: &str, what: &str) -> R<usize> {
        match v {
            V::T(i) => Ok(*i),
            _ => self.refuse(stmt, format!("{what} is not a tensor")),
        }
    }

    fn num(&self, v: &V<'a>, stmt: &str) -> R<f64> {
        match v {
            V::Int(i) => Ok(*i as f64),
            V::Float(f) => Ok(*f),
            _ => self.refuse(stmt, "expected a number"),
        }
    }

    fn int_or_none(&self, v: Option<&V<'a>>, default: Option<i64>, stmt: &str) -> R<Option<i64>> {
        match v {
            None => Ok(default),
            Some(V::None) => Ok(None),
            Some(V::Int(i)) => Ok(Some(*i)),
            Some(_) => self.refuse(stmt, "expected an int or None"),
        }
    }

    fn builtin(
        &mut self,
        name: &str,
        a: Vec<V<'a>>,
        kw: Vec<(String, V<'a>)>,
        stmt: &str,
    ) -> R<V<'a>> {
        let arg = |i: usize, k: &str| -> Option<V<'a>> {
            a.get(i)
                .cloned()
                .or_else(|| kw.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
        };
        if kw.iter().any(|(n, _)| n == "out") {
            return self.refuse(stmt, format!("`{name}(..., out=)` is not supported"));
        }
        match name {
            "torch.linear" => {
                let x = self.tensor(&a[0], stmt, "linear input")?;
                let w = self.tensor(&a[1], stmt, "linear weight")?;
                let b = match a.get(2) {
                    None | Some(V::None) => None,
                    Some(v) => Some(self.tensor(v, stmt, "linear bias")?),
                };
                if !matches!(self.nodes[w], Node::Const { .. }) || b.is_some_and(|b| !matches!(self.nodes[b], Node::Const { .. })) {
                    return self.refuse(stmt, "linear weights that are computed, not parameters");
                }
                Ok(V::T(self.push(Node::Linear { x, w, b })))
            }
            "torch.elu" => {
                let x = self.tensor(&a[0], stmt, "elu input")?;
                let alpha = match arg(1, "alpha") {
                    Some(v) => self.num(&v, stmt)?,
                    None => 1.0,
                };
                for (i, k) in [(2, "scale"), (3, "input_scale")] {
                    if let Some(v) = arg(i, k) {
                        if self.num(&v, stmt)? != 1.0 {
                            return self.refuse(stmt, "elu with scale != 1 (SELU-like)");
                        }
                    }
                }
                Ok(V::T(self.push(Node::Elu { x, alpha })))
            }
            "torch.slice" => {
                let x = self.tensor(&a[0], stmt, "slice input")?;
                let dim = self.int_or_none(arg(1, "dim").as_ref(), Some(0), stmt)?.unwrap_or(0);
                let start = self.int_or_none(arg(2, "start").as_ref(), None, stmt)?;
                let end = self.int_or_none(arg(3, "end").as_ref(), None, stmt)?;
                let step = self.int_or_none(arg(4, "step").as_ref(), Some(1), stmt)?.unwrap_or(1);
                let end = match end {
                    Some(FULL) => None,
                    e => e,
                };
                let start = start.unwrap_or(0);
                if start == 0 && end.is_none() && step == 1 {
                    return Ok(V::T(x)); // full slice (what `x[:, ...]` prints as): identity
                }
                if dim == 0 || dim == -2 {
                    return self.refuse(stmt, "slices the batch dimension");
                }
                if step != 1 || start < 0 || end.is_some_and(|e| e < 0) {
                    return self.refuse(stmt, "slice with a step or negative bounds");
                }
                Ok(V::T(self.push(Node::Slice { x, dim, start, end, step })))
            }
            "torch.cat" => {
                let xs = match &a[0] {
                    V::List(l) | V::Tuple(l) => l.iter().map(|v| self.tensor(v, stmt, "cat item")).collect::<R<Vec<_>>>()?,
                    _ => return self.refuse(stmt, "cat of a non-list"),
                };
                let dim = self.int_or_none(arg(1, "dim").as_ref(), Some(0), stmt)?.unwrap_or(0);
                Ok(V::T(self.push(Node::Cat { xs, dim })))
            }
            "torch.norm" => {
                let x = self.tensor(&a[0], stmt, "norm input")?;
                let p = match arg(1, "p") {
                    Some(v) => self.num(&v, stmt)?,
                    None => 2.0,
                };
                let dims = match arg(2, "dim") {
                    Some(V::List(l)) => l.iter().map(|v| match v {
                        V::Int(i) => Ok(*i),
                        _ => self.refuse(stmt, "norm dims"),
                    }).collect::<R<Vec<_>>>()?,
                    _ => return self.refuse(stmt, "norm without explicit dims"),
                };
                let keepdim = matches!(arg(3, "keepdim"), Some(V::Bool(true)));
                if a.len() > 4 {
                    return self.refuse(stmt, "norm with a dtype");
                }
                Ok(V::T(self.push(Node::Norm { x, p, dims, keepdim })))
            }
            "torch.clamp_min" => {
                let x = self.tensor(&a[0], stmt, "clamp_min input")?;
                let min = self.num(&a[1], stmt)?;
                Ok(V::T(self.push(Node::ClampMin { x, min })))
            }
            "torch.expand_as" => {
                let x = self.tensor(&a[0], stmt, "expand_as input")?;
                let like = self.tensor(&a[1], stmt, "expand_as other")?;
                Ok(V::T(self.push(Node::ExpandAs { x, like })))
            }
            "torch.add" | "torch.sub" | "torch.mul" | "torch.div" => {
                if kw.iter().any(|(n, _)| n == "rounding_mode") {
                    return self.refuse(stmt, "div with a rounding mode");
                }
                let mut ops = vec![];
                for v in a.iter().take(2) {
                    ops.push(match v {
                        V::T(i) => *i,
                        V::Int(_) | V::Float(_) => {
                            let s = self.num(v, stmt)?;
                            self.push(Node::Scalar(s))
                        }
                        _ => return self.refuse(stmt, "arithmetic on a non-tensor"),
                    });
                }
                if ops.len() != 2 {
                    return self.refuse(stmt, "arithmetic with one operand");
                }
                let alpha = match arg(2, "alpha") {
                    Some(v) => self.num(&v, stmt)?,
                    None => 1.0,
                };
                let (x, y) = (ops[0], ops[1]);
                Ok(V::T(self.push(match name {
                    "torch.add" => Node::Add { a: x, b: y, alpha },
                    "torch.sub" => Node::Sub { a: x, b: y, alpha },
                    "torch.mul" => Node::Mul { a: x, b: y },
                    _ => Node::Div { a: x, b: y },
                })))
            }
            "torch.__is__" | "torch.__isnot__" => {
                let same = match (&a[0], &a[1]) {
                    (V::None, V::None) => true,
                    (V::None, _) | (_, V::None) => false,
                    _ => return self.refuse(stmt, "`is` between non-None values"),
                };
                Ok(V::Bool(if name == "torch.__is__" { same } else { !same }))
            }
            "unchecked_cast" => Ok(a.get(1).cloned().unwrap_or(V::None)),
            "uninitialized" => Ok(V::None),
            "ops.prim.RaiseException" => self.refuse(stmt, "the forward raises an exception on this path (e.g. a training-mode branch or a @torch.jit.unused method)"),
            _ => self.refuse(stmt, format!("op `{name}` is not one of the plain-MLP ops (linear, elu, slice, cat, normalize, add/sub/mul/div)")),
        }
    }
}

/// Evaluates `root.forward(x)` of the archive symbolically.
pub fn build(ar: &Archive, code: &Code) -> R<Graph> {
    let mut ev = Ev {
        ar,
        code,
        nodes: vec![Node::Input],
        consts: HashMap::new(),
        frames: vec![],
    };
    let root_path = ar.prefix.clone();
    match &ar.root {
        Value::Object { .. } => {}
        _ => return refused("data.pkl does not hold a scripted module"),
    }
    let out = ev.call_method(&root_path, &ar.root, "forward", vec![V::T(0)], "forward(x)")?;
    let output = match out {
        V::T(i) => i,
        other => {
            return Err(E(
                super::ErrorKind::Refused,
                format!(
                    "module `{root_path}` of type `{}`: forward returns {other:?}, not one tensor",
                    ar.root.class().unwrap_or("?")
                ),
            ))
        }
    };
    Ok(Graph {
        nodes: ev.nodes,
        output,
    })
}
