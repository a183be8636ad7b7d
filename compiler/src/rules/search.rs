//! Matching a rule's pattern in the e-graph: every way the op tree can be found below a class,
//! with its bindings, kept only where the rule's guards hold.

use crate::egraph::analysis::{use_count, QGraph, TensorAnalysis};
use crate::egraph::lang::ENode;
use crate::ir::attr::Attr;
use crate::ir::op::OpKind;
use crate::rules::eval::{Bindings, Operand};
use crate::rules::ruleset::CompiledRule;
use crate::rules::value::Value;
use dsl::ast::{AttrPatternValue, AttrPatterns, Clause, LiteralKind, OpPattern, Pattern};
use egg::{Id, SearchMatches, Searcher, Subst, Var};
use std::sync::Arc;

/// A match before guards: operand bindings by name and the meta class of every pattern op.
#[derive(Clone, Debug, Default)]
pub struct Raw {
    pub operands: Vec<(String, Id)>,
    /// The attribute leaf class of each op of the pattern, in pre-order.
    pub metas: Vec<Id>,
}

impl Raw {
    /// Binds `name` to `class`; a name bound before (a non-linear pattern, `mul(x, x)`) must
    /// name the same class, or the match fails (`false`).
    fn bind(&mut self, name: &str, class: Id) -> bool {
        match self.operands.iter().find(|(n, _)| n == name) {
            Some((_, bound)) => *bound == class,
            None => {
                self.operands.push((name.to_string(), class));
                true
            }
        }
    }
}

fn literal_matches(lit: &LiteralKind, attr: &Attr) -> bool {
    match (lit, attr) {
        (LiteralKind::Int(i), Attr::Int(a)) => i == a,
        (LiteralKind::Int(i), Attr::Float(a)) => (*i as f32) == *a,
        (LiteralKind::Float(f), Attr::Float(a)) => (*f as f32) == *a,
        (LiteralKind::Bool(b), Attr::Bool(a)) => b == a,
        (LiteralKind::Str(s), Attr::Str(a)) => s == a,
        (LiteralKind::List(items), Attr::Ints(v)) => {
            items.len() == v.len()
                && items
                    .iter()
                    .zip(v)
                    .all(|(l, a)| literal_matches(&l.kind, &Attr::Int(*a)))
        }
        (LiteralKind::List(items), Attr::Floats(v)) => {
            items.len() == v.len()
                && items
                    .iter()
                    .zip(v)
                    .all(|(l, a)| literal_matches(&l.kind, &Attr::Float(*a)))
        }
        _ => false,
    }
}

/// Whether an op's attributes satisfy a pattern's attribute part: each named attribute present
/// (equal to the literal, where one is given) or absent (`none`), as the pattern says.
pub fn attrs_match(p: Option<&AttrPatterns>, attrs: &crate::ir::attr::Attrs) -> bool {
    p.is_none_or(|a| {
        a.entries
            .iter()
            .all(|e| match (&e.value, attrs.get(&e.name.name)) {
                (AttrPatternValue::Absent(_), found) => found.is_none(),
                (_, None) => false,
                (AttrPatternValue::Literal(l), Some(v)) => literal_matches(&l.kind, v),
                _ => true,
            })
    })
}

/// Whether a meta class is a frozen op's (`--keep-float`): no pattern matches such an op.
fn is_frozen(egraph: &QGraph, meta: Id) -> bool {
    egraph[meta]
        .nodes
        .iter()
        .any(|n| matches!(n, ENode::Meta(m) if m.frozen))
}

/// The attributes of a meta class.
pub fn meta_attrs(egraph: &QGraph, meta: Id) -> Option<&crate::ir::attr::Attrs> {
    egraph[meta].nodes.iter().find_map(|n| match n {
        ENode::Meta(m) => Some(&m.attrs),
        _ => None,
    })
}

/// Every way `p` matches class `class`, extending `partial`.
fn match_op(
    egraph: &QGraph,
    p: &OpPattern,
    kind: OpKind,
    class: Id,
    partial: Raw,
    out: &mut Vec<Raw>,
    limit: usize,
) {
    let class = egraph.find(class);
    for node in egraph[class].nodes.iter() {
        if out.len() >= limit {
            return;
        }
        let ENode::Op(k, children) = node else {
            continue;
        };
        if *k != kind || children.len() != p.operands.len() + 1 {
            continue;
        }
        let meta = egraph.find(children[0]);
        let Some(attrs) = meta_attrs(egraph, meta) else {
            continue;
        };
        if !attrs_match(p.attrs.as_ref(), attrs) || is_frozen(egraph, meta) {
            continue;
        }
        let mut seed = partial.clone();
        seed.metas.push(meta);
        if let Some(name) = &p.name {
            if !seed.bind(&name.name, class) {
                continue;
            }
        }
        let mut states = vec![seed];
        for (operand, &child) in p.operands.iter().zip(&children[1..]) {
            let mut next = vec![];
            for st in states {
                match operand {
                    Pattern::Wildcard(_) => next.push(st),
                    Pattern::Var(v) => {
                        let mut st = st;
                        if st.bind(&v.name, egraph.find(child)) {
                            next.push(st);
                        }
                    }
                    Pattern::Op(sub) => {
                        if let Some(k) = OpKind::from_name(&sub.op.name) {
                            match_op(egraph, sub, k, child, st, &mut next, limit);
                        }
                    }
                }
            }
            states = next;
        }
        out.extend(states);
    }
}

/// Builds the bindings of a raw match: operand facts, bound attributes and dictionaries.
pub fn bindings(egraph: &QGraph, rule: &CompiledRule, raw: &Raw) -> Option<Bindings> {
    let mut b = Bindings::default();
    for (name, id) in &raw.operands {
        let data = &egraph[*id].data;
        b.operands.insert(
            name.clone(),
            Operand {
                id: *id,
                ty: data.ty.clone()?,
                constant: data.constant.clone(),
                single_use: use_count(egraph, *id) == 1,
            },
        );
    }
    let mut metas = raw.metas.iter();
    let mut stack = vec![&rule.ast.pattern];
    while let Some(p) = stack.pop() {
        let meta = *metas.next()?;
        let attrs = meta_attrs(egraph, meta)?;
        if let Some(a) = &p.attrs {
            if let Some(d) = &a.dict {
                b.dicts.insert(d.name.clone(), attrs.clone());
            }
            for e in &a.entries {
                if let AttrPatternValue::Bind(v) = &e.value {
                    b.attrs
                        .insert(v.name.clone(), attrs.get(&e.name.name)?.clone());
                }
            }
        }
        // Pre-order, left to right: push children reversed.
        for o in p.operands.iter().rev() {
            if let Pattern::Op(sub) = o {
                stack.push(sub);
            }
        }
    }
    Some(b)
}

/// Runs the guards and lets in order; `None` when a guard fails or cannot be evaluated.
pub fn run_clauses(b: &mut Bindings, rule: &CompiledRule) -> Option<()> {
    for c in &rule.ast.clauses {
        match c {
            Clause::Where { guards, .. } => {
                for g in guards {
                    if !b.eval(g).and_then(|v| v.truth()).ok()? {
                        return None;
                    }
                }
            }
            Clause::Let { name, value, .. } => {
                let v: Value = b.eval(value).ok()?;
                b.lets.insert(name.name.clone(), v);
            }
        }
    }
    Some(())
}

/// The egg variable that carries operand binding `name`.
pub fn operand_var(name: &str) -> Var {
    format!("?{name}").parse().expect("a valid variable name")
}

/// The egg variable that carries the meta class of the pattern's `i`-th op.
pub fn meta_var(i: usize) -> Var {
    format!("?meta.{i}").parse().expect("a valid variable name")
}

impl Searcher<ENode, TensorAnalysis> for Arc<CompiledRule> {
    fn search_eclass_with_limit(
        &self,
        egraph: &QGraph,
        eclass: Id,
        limit: usize,
    ) -> Option<SearchMatches<'_, ENode>> {
        let mut raws = vec![];
        match_op(
            egraph,
            &self.ast.pattern,
            self.root_kind,
            eclass,
            Raw::default(),
            &mut raws,
            limit,
        );
        let mut substs = vec![];
        for raw in raws {
            let Some(mut b) = bindings(egraph, self, &raw) else {
                continue;
            };
            if run_clauses(&mut b, self).is_none() {
                continue;
            }
            let mut s = Subst::with_capacity(raw.operands.len() + raw.metas.len());
            for (name, id) in &raw.operands {
                s.insert(operand_var(name), *id);
            }
            for (i, m) in raw.metas.iter().enumerate() {
                s.insert(meta_var(i), *m);
            }
            substs.push(s);
        }
        if substs.is_empty() {
            return None;
        }
        Some(SearchMatches {
            eclass,
            substs,
            ast: None,
        })
    }

    fn vars(&self) -> Vec<Var> {
        let mut v: Vec<Var> = self.operand_names.iter().map(|n| operand_var(n)).collect();
        v.extend((0..self.op_count).map(meta_var));
        v
    }
}

/// Reads a match back from its substitution.
pub fn raw_of(rule: &CompiledRule, s: &Subst) -> Option<Raw> {
    let operands = rule
        .operand_names
        .iter()
        .map(|n| Some((n.clone(), *s.get(operand_var(n))?)))
        .collect::<Option<Vec<_>>>()?;
    let metas = (0..rule.op_count)
        .map(|i| s.get(meta_var(i)).copied())
        .collect::<Option<Vec<_>>>()?;
    Some(Raw { operands, metas })
}
