//! The text IR parser: text → [`Model`], with every problem reported at once as diagnostics with
//! spans. It checks what the text alone decides (names, op names, operand counts, attributes,
//! literals); types of ops against their operands are the verifier's.

use crate::diag::{Diagnostic, Error, Source, Span};
use crate::ir::attr::{AttrKind, Attrs};
use crate::ir::literal::{
    attr_value, children, dense, span_of, statement_span, string, tensor_type,
};
use crate::ir::model::{Model, Node, NodeId, NodeKind, WeightData};
use crate::ir::op::{schemas, Op, OpKind, OpSchema};
use crate::ir::suggest::closest;
use crate::ir::syntax::{parse_tree, Rule};
use pest::iterators::Pair;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Parses a model. Node spans point at their statements; weights written in the text are
/// `WeightData::Inline`, the others `External` (see `weights::load_weights`).
pub fn parse(source: &Source) -> Result<Model, Error> {
    let tree = parse_tree(&source.text).map_err(|d| Error::source(source.clone(), vec![d]))?;
    let mut b = Builder::default();
    b.model(&tree);
    if b.diags.is_empty() {
        return Ok(b.model);
    }
    b.diags.sort_by_key(|d| d.span.start);
    Err(Error::source(source.clone(), b.diags))
}

/// A name and where it was defined; `id` is `None` when the definition was broken (the name still
/// counts as defined so that its uses do not pile up more errors).
#[derive(Clone, Copy)]
struct Def {
    span: Span,
    id: Option<NodeId>,
}

/// A use of a name: `%x` or `@w`, where.
struct Ref {
    name: String,
    weight: bool,
    span: Span,
}

impl Ref {
    fn from_pair(p: &Pair<'_, Rule>) -> Ref {
        let text = p.as_str();
        Ref {
            name: text[1..].to_string(),
            weight: p.as_rule() == Rule::global_name,
            span: span_of(p),
        }
    }
    fn sigil(&self) -> char {
        if self.weight {
            '@'
        } else {
            '%'
        }
    }
}

#[derive(Default)]
struct Builder {
    model: Model,
    diags: Vec<Diagnostic>,
    /// `%` names: inputs and op results. Defined before use (SSA order).
    values: BTreeMap<String, Def>,
    /// `@` names: weights. Visible everywhere in the model.
    weights: BTreeMap<String, Def>,
    /// Uses of `%` names not (yet) defined where they appear, with the op they belong to.
    early: Vec<Ref>,
    /// Op nodes and their operands, wired once every weight is known.
    pending: Vec<(NodeId, Vec<Ref>)>,
    /// Names compared so far looking for "did you mean" (see [`SUGGEST_BUDGET`]).
    compared: usize,
}

/// How many names the "did you mean" searches of one file may compare in all. Each undefined
/// name is compared with every defined one, so a file with thousands of both (a generated model
/// with one typo'd prefix) would take n·m edit distances — 19 s for 8,000 of each; past the
/// budget the errors come without a suggestion, which no one reads that far down anyway.
const SUGGEST_BUDGET: usize = 1 << 20;

impl Builder {
    fn model(&mut self, tree: &Pair<'_, Rule>) {
        let mut ret = None;
        for p in children(tree) {
            match p.as_rule() {
                Rule::global_name => self.model.name = p.as_str()[1..].to_string(),
                Rule::weights_clause => {
                    if let Some(s) = children(&p).first() {
                        match string(s) {
                            Ok(f) => self.model.weights_file = Some(f),
                            Err(d) => self.diags.push(d),
                        }
                    }
                }
                Rule::weight_decl => self.weight(&p),
                Rule::input_decl => self.input(&p),
                Rule::op_decl => self.op(&p),
                Rule::return_stmt => ret = Some(p),
                _ => {}
            }
        }
        self.wire();
        if let Some(r) = ret {
            self.ret(&r);
        }
        self.orphan_weights();
    }

    /// Records a definition; a second one of the same name is an error pointing at both.
    fn define(&mut self, weight: bool, name_pair: &Pair<'_, Rule>, id: Option<NodeId>) {
        let r = Ref::from_pair(name_pair);
        let table = if weight {
            &mut self.weights
        } else {
            &mut self.values
        };
        if let Some(first) = table.get(&r.name) {
            self.diags.push(
                Diagnostic::new(
                    format!("{}{} is defined twice", r.sigil(), r.name),
                    r.span,
                    "defined again here",
                )
                .with_secondary(first.span, "first defined here"),
            );
            return;
        }
        table.insert(r.name, Def { span: r.span, id });
    }

    fn add_node(
        &mut self,
        name: &str,
        kind: NodeKind,
        p: &Pair<'_, Rule>,
        ty: crate::ir::TensorType,
    ) -> NodeId {
        let node = Node {
            name: name.to_string(),
            kind,
            ty,
            span: Some(statement_span(p)),
        };
        self.model.graph.add_node(node)
    }

    fn weight(&mut self, p: &Pair<'_, Rule>) {
        let parts = children(p);
        let [name, ty, rest @ ..] = parts.as_slice() else {
            return;
        };
        let id = match tensor_type(ty) {
            Err(d) => {
                self.diags.push(d);
                None
            }
            Ok(t) => {
                let data = match rest.first() {
                    None => Some(WeightData::External),
                    Some(lit) => match dense(lit, &t) {
                        Ok(tensor) => Some(WeightData::Inline(Arc::new(tensor))),
                        Err(d) => {
                            self.diags.push(d);
                            None
                        }
                    },
                };
                data.map(|data| self.add_node(&name.as_str()[1..], NodeKind::Weight(data), p, t))
            }
        };
        self.define(true, name, id);
    }

    fn input(&mut self, p: &Pair<'_, Rule>) {
        let parts = children(p);
        let [name, ty] = parts.as_slice() else { return };
        let id = match tensor_type(ty) {
            Err(d) => {
                self.diags.push(d);
                None
            }
            Ok(t) => {
                let id = self.add_node(&name.as_str()[1..], NodeKind::Input, p, t);
                self.model.inputs.push(id);
                Some(id)
            }
        };
        self.define(false, name, id);
    }

    fn op(&mut self, p: &Pair<'_, Rule>) {
        let parts = children(p);
        let Some(name) = parts.first() else { return };
        let mut operands = vec![];
        let mut attrs = None;
        let mut op_name = None;
        let mut ty = None;
        for c in &parts[1..] {
            match c.as_rule() {
                Rule::op_name => op_name = Some(c.clone()),
                Rule::local_name | Rule::global_name => operands.push(Ref::from_pair(c)),
                Rule::attr_dict => attrs = Some(c.clone()),
                Rule::tensor_type => ty = Some(c.clone()),
                _ => {}
            }
        }
        for r in operands
            .iter()
            .filter(|r| !r.weight && !self.values.contains_key(&r.name))
        {
            self.early.push(Ref {
                name: r.name.clone(),
                weight: false,
                span: r.span,
            });
        }
        let (Some(op_name), Some(ty)) = (op_name, ty) else {
            return;
        };
        let ty = tensor_type(&ty).map_err(|d| self.diags.push(d)).ok();
        let op = self.resolve_op(&op_name, &operands, attrs.as_ref(), statement_span(p));
        let id = match (op, ty) {
            (Some(op), Some(ty)) => {
                let id = self.add_node(&name.as_str()[1..], NodeKind::Op(op), p, ty);
                self.pending.push((id, operands));
                Some(id)
            }
            _ => None,
        };
        self.define(false, name, id);
    }

    /// The op of a statement: a known name, the right operand count, attributes the schema
    /// declares with values of the right kind, every required one present.
    fn resolve_op(
        &mut self,
        name: &Pair<'_, Rule>,
        operands: &[Ref],
        attrs: Option<&Pair<'_, Rule>>,
        stmt: Span,
    ) -> Option<Op> {
        let Some(kind) = OpKind::from_name(name.as_str()) else {
            let mut d = Diagnostic::new(
                format!("unknown op `{}`", name.as_str()),
                span_of(name),
                "not an op",
            );
            match closest(name.as_str(), schemas().iter().map(|s| s.name), 1).first() {
                Some(near) => d = d.with_note(format!("help: did you mean `{near}`?")),
                None => d = d.with_note("the ops are listed in docs/ir.md"),
            }
            self.diags.push(d);
            return None;
        };
        let schema = kind.schema();
        let mut ok = self.check_arity(schema, operands, name, stmt);
        let mut given = Attrs::new();
        let mut spans: BTreeMap<String, Span> = BTreeMap::new();
        for a in attrs.map(children).unwrap_or_default() {
            let [an, av] = children(&a).try_into().ok()?;
            let key = an.as_str().to_string();
            if let Some(&first) = spans.get(&key) {
                self.diags.push(
                    Diagnostic::new(
                        format!("attribute `{key}` is given twice"),
                        span_of(&an),
                        "given again here",
                    )
                    .with_secondary(first, "first given here"),
                );
                ok = false;
                continue;
            }
            spans.insert(key.clone(), span_of(&an));
            let Some(spec) = schema.attr(&key) else {
                self.diags.push(unknown_attr(schema, &key, span_of(&an)));
                ok = false;
                continue;
            };
            let value = match attr_value(&av) {
                Ok(v) => v,
                Err(d) => {
                    self.diags.push(d);
                    ok = false;
                    continue;
                }
            };
            match value.coerce(spec.kind) {
                Ok(v) => {
                    given.insert(key, v);
                }
                Err(v) => {
                    self.diags.push(
                        Diagnostic::new(
                            format!(
                                "attribute `{key}` of {} must be {}, found {}",
                                schema.name,
                                article(spec.kind),
                                article(v.kind())
                            ),
                            span_of(&av),
                            article(v.kind()),
                        )
                        .with_note(format!("`{key}`: {}", spec.doc)),
                    );
                    ok = false;
                }
            }
        }
        for spec in schema
            .attrs
            .iter()
            .filter(|s| s.required && !spans.contains_key(s.name))
        {
            let at = attrs.map(span_of).unwrap_or(span_of(name));
            self.diags.push(
                Diagnostic::new(
                    format!("{} needs attribute `{}`", schema.name, spec.name),
                    at,
                    format!("`{}` missing", spec.name),
                )
                .with_note(format!(
                    "`{}` ({}): {}",
                    spec.name,
                    spec.kind.name(),
                    spec.doc
                )),
            );
            ok = false;
        }
        ok.then(|| Op::new(kind, given))
    }

    fn check_arity(
        &mut self,
        schema: &OpSchema,
        operands: &[Ref],
        name: &Pair<'_, Rule>,
        stmt: Span,
    ) -> bool {
        let (lo, hi) = schema.arity();
        let n = operands.len();
        if n >= lo && n <= hi {
            return true;
        }
        let want = if hi == usize::MAX {
            format!("at least {lo} operand{}", if lo == 1 { "" } else { "s" })
        } else if lo == hi {
            format!("{lo} operand{}", if lo == 1 { "" } else { "s" })
        } else {
            format!("{lo} to {hi} operands")
        };
        let span = match (operands.first(), operands.last()) {
            (Some(a), Some(b)) => Span::new(a.span.start, b.span.end),
            _ => Span::new(span_of(name).start, stmt.end.min(span_of(name).end + 2)),
        };
        let mut names: Vec<String> = schema
            .operands
            .names
            .iter()
            .map(|s| s.to_string())
            .collect();
        if schema.operands.variadic {
            if let Some(last) = names.last_mut() {
                last.push_str(", …");
            }
        }
        let all = schema.operands.names;
        let optional = match &all[all.len() - schema.operands.optional..] {
            [] => String::new(),
            [one] => format!("; `{one}` may be left out"),
            some => format!(
                "; {} may be left out",
                some.iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        self.diags.push(
            Diagnostic::new(
                format!("{} takes {want}, found {n}", schema.name),
                span,
                format!("{n} operand{}", if n == 1 { "" } else { "s" }),
            )
            .with_note(format!("{}({}){optional}", schema.name, names.join(", "))),
        );
        false
    }

    /// Adds the operand edges of every op, now that every weight is known.
    fn wire(&mut self) {
        for r in std::mem::take(&mut self.early) {
            let d = match self.values.get(&r.name) {
                Some(def) => Diagnostic::new(
                    format!("%{} is used before it is defined", r.name),
                    r.span,
                    "used here",
                )
                .with_secondary(def.span, "defined here, later"),
                None => self.undefined(&r),
            };
            self.diags.push(d);
        }
        for (id, operands) in std::mem::take(&mut self.pending) {
            for (slot, r) in operands.iter().enumerate() {
                let table = if r.weight {
                    &self.weights
                } else {
                    &self.values
                };
                match table.get(&r.name) {
                    Some(Def { id: Some(src), .. }) => {
                        self.model.graph.add_edge(*src, id, slot);
                    }
                    Some(_) => {}
                    // Undefined `%` names were reported above.
                    None if r.weight => {
                        let d = self.undefined(r);
                        self.diags.push(d);
                    }
                    None => {}
                }
            }
        }
    }

    /// "undefined %x", with the likely intended name.
    fn undefined(&mut self, r: &Ref) -> Diagnostic {
        let what = if r.weight { "weight" } else { "value" };
        let mut d = Diagnostic::new(
            format!("undefined {what} {}{}", r.sigil(), r.name),
            r.span,
            "not defined",
        );
        let (other, other_sigil) = if r.weight {
            (&self.values, '%')
        } else {
            (&self.weights, '@')
        };
        let same = if r.weight {
            &self.weights
        } else {
            &self.values
        };
        if other.contains_key(&r.name) {
            d = d.with_note(format!("help: did you mean `{other_sigil}{}`?", r.name));
        } else if self.compared < SUGGEST_BUDGET {
            self.compared += same.len();
            if let Some(near) = closest(&r.name, same.keys().map(String::as_str), 1).first() {
                d = d.with_note(format!("help: did you mean `{}{near}`?", r.sigil()));
            }
        }
        d
    }

    fn ret(&mut self, p: &Pair<'_, Rule>) {
        for v in children(p) {
            let r = Ref::from_pair(&v);
            let table = if r.weight {
                &self.weights
            } else {
                &self.values
            };
            match table.get(&r.name) {
                Some(Def { id: Some(id), .. }) => self.model.outputs.push(*id),
                Some(_) => {}
                None => {
                    let d = self.undefined(&r).with_note(
                        "`return` lists the model's outputs, which must be defined above it",
                    );
                    self.diags.push(d);
                }
            }
        }
    }

    /// Weights with data in a file need the model to name the file.
    fn orphan_weights(&mut self) {
        if self.model.weights_file.is_some() {
            return;
        }
        let external: Vec<(String, Span)> = self
            .model
            .graph
            .node_weights()
            .filter(|n| matches!(n.kind, NodeKind::Weight(WeightData::External)))
            .map(|n| (n.name.clone(), n.span.unwrap_or_default()))
            .collect();
        if let Some((name, span)) = external.first() {
            let mut d = Diagnostic::new(format!("weight @{name} has no data"), *span, "no `= dense<[…]>` and no weights file")
                .with_note("name the weights file after the model name (`model @m weights \"m.safetensors\" {`) or give the data inline");
            match external.len() - 1 {
                0 => {}
                1 => d = d.with_note("1 more weight has no data either"),
                n => d = d.with_note(format!("{n} more weights have no data either")),
            }
            self.diags.push(d);
        }
    }
}

/// "an integer", "a list of floats".
fn article(kind: AttrKind) -> String {
    let name = kind.name();
    let article = if name.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {name}")
}

fn unknown_attr(schema: &OpSchema, key: &str, span: Span) -> Diagnostic {
    let mut d = Diagnostic::new(
        format!("{} has no attribute `{key}`", schema.name),
        span,
        "unknown attribute",
    );
    if let Some(near) = closest(key, schema.attrs.iter().map(|a| a.name), 1).first() {
        d = d.with_note(format!("help: did you mean `{near}`?"));
    }
    if schema.attrs.is_empty() {
        d.with_note(format!("{} takes no attributes", schema.name))
    } else {
        let names: Vec<&str> = schema.attrs.iter().map(|a| a.name).collect();
        d.with_note(format!("{} takes: {}", schema.name, names.join(", ")))
    }
}
