//! Firing a rule: compute its lets, build the replacement in the e-graph (constants folded into
//! new content-hashed leaves), check that it has the matched value's type, and union the two.

use crate::egraph::analysis::{node_type, QGraph, TensorAnalysis};
use crate::egraph::lang::{Const, ENode, Meta};
use crate::ir::attr::Attrs;
use crate::ir::op::OpKind;
use crate::ir::types::TensorType;
use crate::rules::eval::Bindings;
use crate::rules::ruleset::CompiledRule;
use crate::rules::search::{bindings, raw_of, run_clauses};
use dsl::ast::{ExprKind, Term};
use egg::{Applier, Id, PatternAst, Subst, Symbol, Var};
use std::sync::Arc;

/// Builds a replacement term; returns its class. Nothing is added when the term is ill-typed.
pub fn build(egraph: &mut QGraph, b: &Bindings, t: &Term) -> Result<Id, String> {
    match t {
        Term::Expr(e) => {
            if let ExprKind::Var(v) = &e.kind {
                if let Some(o) = b.operands.get(v) {
                    return Ok(o.id);
                }
            }
            let tensor = b.eval(e)?.to_tensor()?;
            let ty = TensorType::new(
                tensor.shape().to_vec(),
                crate::ir::types::ElemType::from_storage(tensor.dtype()),
            );
            Ok(egraph.add(ENode::Const(Const::new(Arc::new(tensor), ty, None))))
        }
        Term::Op(o) => {
            let kind = OpKind::from_name(&o.op.name)
                .ok_or_else(|| format!("unknown op `{}`", o.op.name))?;
            let schema = kind.schema();
            let mut attrs = Attrs::new();
            if let Some(a) = &o.attrs {
                if let Some(s) = &a.splice {
                    attrs = b
                        .dicts
                        .get(&s.name)
                        .cloned()
                        .ok_or_else(|| format!("`{}` is not a dictionary", s.name))?;
                }
                for e in &a.entries {
                    let spec = schema.attr(&e.name.name).ok_or_else(|| {
                        format!("{} has no attribute `{}`", schema.name, e.name.name)
                    })?;
                    attrs.insert(e.name.name.clone(), b.eval(&e.value)?.to_attr(spec.kind)?);
                }
            }
            let attrs = schema.with_defaults(&attrs);
            let declared = match &o.ty {
                Some(ann) => Some(b.elem_type(ann)?),
                None => None,
            };
            let mut children = vec![];
            for op in &o.operands {
                children.push(build(egraph, b, op)?);
            }
            // Ops that declare their result: the annotation's element type (f32 for a
            // dequantize without one) on the shape the op produces.
            let decl_ty = if kind.declares_result() {
                let elem = match (kind, declared.clone()) {
                    (_, Some(e)) => e,
                    (OpKind::Dequantize, None) => crate::ir::types::ElemType::F32,
                    _ => {
                        return Err(format!(
                            "{} needs a result type annotation (`: quant(…)` or `: type(…)`)",
                            schema.name
                        ))
                    }
                };
                let tys: Option<Vec<TensorType>> = children
                    .iter()
                    .map(|&c| egraph[c].data.ty.clone())
                    .collect();
                let tys = tys.ok_or("an operand has no type")?;
                let refs: Vec<&TensorType> = tys.iter().collect();
                let shape = crate::ir::infer::result_shape(
                    &crate::ir::op::Op {
                        kind,
                        attrs: attrs.clone(),
                    },
                    &refs,
                )?;
                Some(TensorType::new(shape, elem))
            } else {
                None
            };
            let meta = egraph.add(ENode::Meta(Meta::new(attrs, decl_ty)));
            let mut all = vec![meta];
            all.extend(children);
            let node = ENode::Op(kind, all.into_boxed_slice());
            let ty = node_type(egraph, &node)?;
            if let Some(elem) = declared {
                if ty.elem != elem {
                    return Err(format!(
                        "{} produces {} but the rule declares {}",
                        schema.name, ty.elem, elem
                    ));
                }
            }
            Ok(egraph.add(node))
        }
    }
}

/// Applies the rule to one match: `Ok(Some(id))` for the replacement's class, `Ok(None)` when a
/// guard no longer holds, `Err` when the replacement cannot be built or has the wrong type.
pub fn instantiate(
    egraph: &mut QGraph,
    rule: &CompiledRule,
    subst: &Subst,
) -> Result<Option<Id>, String> {
    let Some(raw) = raw_of(rule, subst) else {
        return Ok(None);
    };
    let Some(mut b) = bindings(egraph, rule, &raw) else {
        return Ok(None);
    };
    if run_clauses(&mut b, rule).is_none() {
        return Ok(None);
    }
    build(egraph, &b, &rule.ast.replacement).map(Some)
}

impl Applier<ENode, TensorAnalysis> for Arc<CompiledRule> {
    fn apply_one(
        &self,
        egraph: &mut QGraph,
        eclass: Id,
        subst: &Subst,
        _ast: Option<&PatternAst<ENode>>,
        _name: Symbol,
    ) -> Vec<Id> {
        // The same match is found again in every iteration: build its replacement once.
        let Some(raw) = raw_of(self, subst) else {
            return vec![];
        };
        let key: Vec<Id> = raw
            .operands
            .iter()
            .map(|(_, id)| egraph.find(*id))
            .chain(raw.metas.iter().map(|&m| egraph.find(m)))
            .chain([egraph.find(eclass)])
            .collect();
        let key = (self.name().to_string(), key);
        if egraph.analysis.applied.contains(&key) {
            return vec![];
        }
        let new = match instantiate(egraph, self, subst) {
            Ok(Some(id)) => id,
            Ok(None) => return vec![],
            Err(e) => {
                egraph.analysis.refused.push((self.name().to_string(), e));
                return vec![];
            }
        };
        egraph.analysis.applied.insert(key);
        let (have, want) = (egraph[new].data.ty.clone(), egraph[eclass].data.ty.clone());
        if have != want {
            let why = format!(
                "the replacement has type {} but the matched value has type {}",
                have.map(|t| t.to_string()).unwrap_or("none".into()),
                want.map(|t| t.to_string()).unwrap_or("none".into())
            );
            egraph.analysis.refused.push((self.name().to_string(), why));
            return vec![];
        }
        if egraph.union(eclass, new) {
            egraph
                .analysis
                .fired_at
                .push((self.name().to_string(), eclass));
            vec![eclass]
        } else {
            vec![]
        }
    }

    fn vars(&self) -> Vec<Var> {
        vec![]
    }
}
