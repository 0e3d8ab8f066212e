//! Parser for the subset of Python that TorchScript's serializer prints in `code/__torch__/**.py`:
//! class bodies with annotations, `def` with typed parameters and defaults, and method bodies
//! made of assignments, `if/else`, `return`, `pass` and expression statements; expressions are
//! names, attribute chains, calls (positional + keyword), list/tuple literals, numbers, strings.

use std::collections::HashMap;

/// Positional and keyword arguments of a call.
type CallArgs = (Vec<Expr>, Vec<(String, Expr)>);

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Name(String),
    Int(i64),
    Float(f64),
    Str(String),
    Attr(Box<Expr>, String),
    Call(Box<Expr>, Vec<Expr>, Vec<(String, Expr)>),
    List(Vec<Expr>),
    Tuple(Vec<Expr>),
    Neg(Box<Expr>),
    Index(Box<Expr>, Box<Expr>),
}

impl Expr {
    /// `a.b.c` for a pure name/attribute chain.
    pub fn dotted(&self) -> Option<String> {
        match self {
            Expr::Name(n) => Some(n.clone()),
            Expr::Attr(b, a) => b.dotted().map(|d| format!("{d}.{a}")),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Stmt {
    Assign(Vec<String>, Expr, String),
    Return(Expr, String),
    If(Expr, Vec<Stmt>, Vec<Stmt>, String),
    Pass,
    Expr(Expr, String),
}

#[derive(Debug, Clone)]
pub struct Param {
    pub name: String,
    pub default: Option<Expr>,
}

#[derive(Debug, Clone)]
pub struct Func {
    pub name: String,
    pub params: Vec<Param>,
    pub body: Vec<Stmt>,
}

#[derive(Debug, Clone, Default)]
pub struct Class {
    /// The class's qualified name (kept for messages and debugging).
    #[allow(dead_code)]
    pub name: String,
    pub methods: HashMap<String, Func>,
    /// `name : Final[T] = value` lines (e.g. Linear's in_features/out_features)
    pub finals: Vec<(String, String)>,
}

#[derive(Debug, Default)]
pub struct Code {
    pub classes: HashMap<String, Class>,
    pub functions: HashMap<String, Func>,
}

// ---------------------------------------------------------------- tokens
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Id(String),
    Int(i64),
    Float(f64),
    Str(String),
    P(char),
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let c: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = vec![];
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch == '#' {
            break;
        } else if ch.is_alphabetic() || ch == '_' {
            let s0 = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push(Tok::Id(c[s0..i].iter().collect()));
        } else if ch.is_ascii_digit() || (ch == '.' && i + 1 < c.len() && c[i + 1].is_ascii_digit())
        {
            let s0 = i;
            let mut float = false;
            while i < c.len() {
                let d = c[i];
                if d.is_ascii_digit() {
                    i += 1;
                } else if d == '.' {
                    float = true;
                    i += 1;
                } else if (d == 'e' || d == 'E') && i + 1 < c.len() {
                    float = true;
                    i += 1;
                    if c[i] == '+' || c[i] == '-' {
                        i += 1;
                    }
                } else {
                    break;
                }
            }
            let t: String = c[s0..i].iter().collect();
            if float {
                out.push(Tok::Float(
                    t.parse::<f64>().map_err(|_| format!("bad number {t}"))?,
                ));
            } else {
                out.push(Tok::Int(
                    t.parse::<i64>().map_err(|_| format!("bad number {t}"))?,
                ));
            }
        } else if ch == '"' || ch == '\'' {
            let q = ch;
            i += 1;
            let mut s = String::new();
            while i < c.len() && c[i] != q {
                if c[i] == '\\' && i + 1 < c.len() {
                    i += 1;
                    s.push(match c[i] {
                        'n' => '\n',
                        't' => '\t',
                        o => o,
                    });
                } else {
                    s.push(c[i]);
                }
                i += 1;
            }
            if i >= c.len() {
                return Err("unterminated string".into());
            }
            i += 1;
            out.push(Tok::Str(s));
        } else if "()[],=.:-".contains(ch) {
            if ch == '-' && i + 1 < c.len() && c[i + 1] == '>' {
                out.push(Tok::P('>'));
                i += 2;
            } else if ch == '=' && i + 1 < c.len() && c[i + 1] == '=' {
                return Err("`==` is not in the supported subset".into());
            } else {
                out.push(Tok::P(ch));
                i += 1;
            }
        } else {
            return Err(format!("character `{ch}` is not in the supported subset"));
        }
    }
    Ok(out)
}

struct Parser {
    t: Vec<Tok>,
    i: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.t.get(self.i)
    }
    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(&Tok::P(c)) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn expect(&mut self, c: char) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected `{c}`, found {:?}", self.peek()))
        }
    }
    fn expr(&mut self) -> Result<Expr, String> {
        if self.eat('-') {
            return Ok(match self.expr()? {
                Expr::Int(v) => Expr::Int(-v),
                Expr::Float(v) => Expr::Float(-v),
                e => Expr::Neg(Box::new(e)),
            });
        }
        let mut e = self.primary()?;
        loop {
            if self.eat('.') {
                match self.t.get(self.i).cloned() {
                    Some(Tok::Id(a)) => {
                        self.i += 1;
                        e = Expr::Attr(Box::new(e), a);
                    }
                    t => return Err(format!("expected a name after `.`, found {t:?}")),
                }
            } else if self.eat('(') {
                let (args, kw) = self.args(')')?;
                e = Expr::Call(Box::new(e), args, kw);
            } else if self.eat('[') {
                let ix = self.expr()?;
                self.expect(']')?;
                e = Expr::Index(Box::new(e), Box::new(ix));
            } else {
                return Ok(e);
            }
        }
    }
    fn args(&mut self, close: char) -> Result<CallArgs, String> {
        let (mut args, mut kw) = (vec![], vec![]);
        loop {
            if self.eat(close) {
                return Ok((args, kw));
            }
            if let (Some(Tok::Id(n)), Some(Tok::P('='))) =
                (self.t.get(self.i).cloned(), self.t.get(self.i + 1))
            {
                self.i += 2;
                kw.push((n, self.expr()?));
            } else {
                args.push(self.expr()?);
            }
            if !self.eat(',') {
                self.expect(close)?;
                return Ok((args, kw));
            }
        }
    }
    fn primary(&mut self) -> Result<Expr, String> {
        let t = self.t.get(self.i).cloned();
        self.i += 1;
        match t {
            Some(Tok::Id(n)) => Ok(Expr::Name(n)),
            Some(Tok::Int(v)) => Ok(Expr::Int(v)),
            Some(Tok::Float(v)) => Ok(Expr::Float(v)),
            Some(Tok::Str(s)) => Ok(Expr::Str(s)),
            Some(Tok::P('(')) => {
                let (items, kw) = self.args(')')?;
                if !kw.is_empty() {
                    return Err("keyword in a tuple".into());
                }
                let trailing = matches!(self.t.get(self.i - 2), Some(Tok::P(',')));
                if items.len() == 1 && !trailing {
                    Ok(items.into_iter().next().unwrap())
                } else {
                    Ok(Expr::Tuple(items))
                }
            }
            Some(Tok::P('[')) => {
                let (items, _) = self.args(']')?;
                Ok(Expr::List(items))
            }
            t => Err(format!("unexpected {t:?}")),
        }
    }
}

pub fn parse_expr(s: &str) -> Result<Expr, String> {
    let mut p = Parser {
        t: tokenize(s)?,
        i: 0,
    };
    let e = p.expr()?;
    if p.i != p.t.len() {
        return Err(format!("trailing tokens in `{s}`"));
    }
    Ok(e)
}

fn parse_simple(s: &str) -> Result<Stmt, String> {
    let text = s.trim().to_string();
    if text == "pass" {
        return Ok(Stmt::Pass);
    }
    if let Some(r) = text.strip_prefix("return ") {
        return Ok(Stmt::Return(parse_expr(r)?, text.clone()));
    }
    if text == "return" {
        return Ok(Stmt::Return(Expr::Name("None".into()), text.clone()));
    }
    // assignment: a top-level `=`
    let toks = tokenize(&text)?;
    let mut depth = 0;
    for (k, t) in toks.iter().enumerate() {
        match t {
            Tok::P('(') | Tok::P('[') => depth += 1,
            Tok::P(')') | Tok::P(']') => depth -= 1,
            Tok::P('=') if depth == 0 => {
                let mut names = vec![];
                for lt in &toks[..k] {
                    match lt {
                        Tok::Id(n) => names.push(n.clone()),
                        Tok::P(',') => {}
                        _ => {
                            return Err(format!("assignment target in `{text}` is not a name list"))
                        }
                    }
                }
                let mut p = Parser {
                    t: toks[k + 1..].to_vec(),
                    i: 0,
                };
                let e = p.expr()?;
                if p.i != p.t.len() {
                    return Err(format!("trailing tokens in `{text}`"));
                }
                return Ok(Stmt::Assign(names, e, text.clone()));
            }
            _ => {}
        }
    }
    Ok(Stmt::Expr(parse_expr(&text)?, text.clone()))
}

fn indent(l: &str) -> usize {
    l.len() - l.trim_start_matches(' ').len()
}

/// Joins physical lines whose brackets are still open.
fn logical_lines(text: &str) -> Vec<String> {
    let mut out = vec![];
    let mut cur = String::new();
    let mut depth: i32 = 0;
    for l in text.lines() {
        if cur.is_empty() && l.trim().is_empty() {
            continue;
        }
        if !cur.is_empty() {
            cur.push(' ');
            cur.push_str(l.trim());
        } else {
            cur.push_str(l);
        }
        let mut in_str: Option<char> = None;
        for ch in l.chars() {
            match in_str {
                Some(q) if ch == q => in_str = None,
                Some(_) => {}
                None => match ch {
                    '"' | '\'' => in_str = Some(ch),
                    '(' | '[' => depth += 1,
                    ')' | ']' => depth -= 1,
                    _ => {}
                },
            }
        }
        if depth <= 0 {
            out.push(std::mem::take(&mut cur));
            depth = 0;
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn block(lines: &[String], i: &mut usize, ind: usize) -> Result<Vec<Stmt>, String> {
    let mut out = vec![];
    while *i < lines.len() && indent(&lines[*i]) >= ind {
        let l = &lines[*i];
        if indent(l) > ind {
            return Err(format!("unexpected indentation: `{}`", l.trim()));
        }
        let t = l.trim();
        if let Some(c) = t.strip_prefix("if ") {
            let cond = parse_expr(c.strip_suffix(':').ok_or("`if` without `:`")?)?;
            *i += 1;
            let body_ind = if *i < lines.len() {
                indent(&lines[*i])
            } else {
                ind + 2
            };
            if body_ind <= ind {
                return Err("empty `if` body".into());
            }
            let then = block(lines, i, body_ind)?;
            let mut els = vec![];
            if *i < lines.len() && indent(&lines[*i]) == ind && lines[*i].trim() == "else:" {
                *i += 1;
                let bi = if *i < lines.len() {
                    indent(&lines[*i])
                } else {
                    ind + 2
                };
                els = block(lines, i, bi)?;
            } else if *i < lines.len()
                && indent(&lines[*i]) == ind
                && lines[*i].trim().starts_with("elif ")
            {
                return Err("`elif` is not in the supported subset".into());
            }
            out.push(Stmt::If(cond, then, els, t.to_string()));
        } else if t.starts_with("for ")
            || t.starts_with("while ")
            || t.starts_with("with ")
            || t.starts_with("def ")
        {
            return Err(format!("`{t}` is not in the supported subset"));
        } else {
            out.push(parse_simple(t)?);
            *i += 1;
        }
    }
    Ok(out)
}

fn split_top(s: &str) -> Vec<String> {
    let mut out = vec![];
    let mut depth = 0;
    let mut cur = String::new();
    for ch in s.chars() {
        match ch {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            _ => {}
        }
        if ch == ',' && depth == 0 {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(ch);
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    out
}

fn parse_def(header: &str) -> Result<(String, Vec<Param>), String> {
    let h = header.trim().strip_prefix("def ").ok_or("not a def")?;
    let open = h.find('(').ok_or("def without `(`")?;
    let name = h[..open].trim().to_string();
    let mut depth = 0;
    let mut close = None;
    for (k, ch) in h.char_indices().skip(open) {
        match ch {
            '(' | '[' => depth += 1,
            ')' | ']' => {
                depth -= 1;
                if depth == 0 {
                    close = Some(k);
                    break;
                }
            }
            _ => {}
        }
    }
    let close = close.ok_or("def without `)`")?;
    let mut params = vec![];
    for p in split_top(&h[open + 1..close]) {
        let p = p.trim();
        let (decl, default) = match p.find('=') {
            Some(k) => (&p[..k], Some(parse_expr(p[k + 1..].trim())?)),
            None => (p, None),
        };
        let pname = decl.split(':').next().unwrap().trim().to_string();
        params.push(Param {
            name: pname,
            default,
        });
    }
    Ok((name, params))
}

impl Code {
    /// `module` is the dotted record path under code/, e.g. `__torch__.torch.nn.modules.linear`.
    pub fn add_file(&mut self, module: &str, text: &str) -> Result<(), String> {
        let lines = logical_lines(text);
        let mut i = 0;
        while i < lines.len() {
            let l = &lines[i];
            let t = l.trim();
            if indent(l) != 0 {
                return Err(format!("unexpected indentation at top level: `{t}`"));
            }
            if let Some(rest) = t.strip_prefix("class ") {
                let name = rest.split(['(', ':']).next().unwrap().trim().to_string();
                let mut cls = Class {
                    name: name.clone(),
                    ..Default::default()
                };
                i += 1;
                while i < lines.len() && indent(&lines[i]) > 0 {
                    let ci = indent(&lines[i]);
                    let ct = lines[i].trim().to_string();
                    if ct.starts_with("def ") {
                        let (fname, params) = parse_def(&ct)?;
                        i += 1;
                        let body_ind = if i < lines.len() {
                            indent(&lines[i])
                        } else {
                            0
                        };
                        if body_ind <= ci {
                            return Err(format!("method {name}.{fname} has no body"));
                        }
                        let body = block(&lines, &mut i, body_ind)
                            .map_err(|m| format!("{name}.{fname}: {m}"))?;
                        cls.methods.insert(
                            fname.clone(),
                            Func {
                                name: fname,
                                params,
                                body,
                            },
                        );
                    } else {
                        if let Some(k) = ct.find(": Final[") {
                            if let Some(eq) = ct.find(" = ") {
                                cls.finals.push((
                                    ct[..k].trim().to_string(),
                                    ct[eq + 3..].trim().to_string(),
                                ));
                            }
                        }
                        i += 1;
                    }
                }
                self.classes.insert(format!("{module}.{name}"), cls);
            } else if t.starts_with("def ") {
                let (fname, params) = parse_def(t)?;
                i += 1;
                let body_ind = if i < lines.len() {
                    indent(&lines[i])
                } else {
                    0
                };
                if body_ind == 0 {
                    return Err(format!("function {fname} has no body"));
                }
                let body = block(&lines, &mut i, body_ind).map_err(|m| format!("{fname}: {m}"))?;
                self.functions.insert(
                    format!("{module}.{fname}"),
                    Func {
                        name: fname,
                        params,
                        body,
                    },
                );
            } else if t.starts_with("import ") || t.starts_with("from ") || t.starts_with('#') {
                i += 1;
            } else {
                // top-level statements (e.g. constants) are not needed by the exporters
                i += 1;
            }
        }
        Ok(())
    }
}
