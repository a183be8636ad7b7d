//! From checked rule files to egg rewrites: the vocabulary the `dsl` checker sees (our op table),
//! the built-in rule files embedded in the binary, and one searcher/applier pair per rule.

use crate::diag::{Error, Source};
use crate::egraph::saturate::QRewrite;
use crate::ir::op::OpKind;
use dsl::ast::{AttrPatterns, Pattern, Phase, Rule, Tolerance};
use egg::Rewrite;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The rule files built into qcc, by file name. Each declares its phase (`phase simplify`,
/// `phase lower`), as a user's file does.
pub const BUILTIN: &[(&str, &str)] = &[
    ("rules/bn.rules", include_str!("../../../rules/bn.rules")),
    ("rules/pad.rules", include_str!("../../../rules/pad.rules")),
    (
        "rules/affine.rules",
        include_str!("../../../rules/affine.rules"),
    ),
    (
        "rules/activation.rules",
        include_str!("../../../rules/activation.rules"),
    ),
    (
        "rules/normalize.rules",
        include_str!("../../../rules/normalize.rules"),
    ),
    (
        "rules/linear.rules",
        include_str!("../../../rules/linear.rules"),
    ),
    (
        "rules/cleanup.rules",
        include_str!("../../../rules/cleanup.rules"),
    ),
    (
        "rules/quant.rules",
        include_str!("../../../rules/quant.rules"),
    ),
    (
        "rules/lower.rules",
        include_str!("../../../rules/lower.rules"),
    ),
];

fn builtin_files() -> Vec<(String, String)> {
    BUILTIN
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect()
}

/// The op table, as the rule checker sees it.
pub struct Vocab;

impl dsl::Vocabulary for Vocab {
    fn op_arity(&self, op: &str) -> Option<(usize, usize)> {
        OpKind::from_name(op).map(|k| k.schema().arity())
    }
    fn has_attr(&self, op: &str, attr: &str) -> bool {
        OpKind::from_name(op)
            .map(|k| k.schema().attr(attr).is_some())
            .unwrap_or(false)
    }
    fn attrs_of(&self, op: &str) -> Option<Vec<String>> {
        OpKind::from_name(op).map(|k| {
            k.schema()
                .attrs
                .iter()
                .map(|a| a.name.to_string())
                .collect()
        })
    }
}

/// A rule ready to run.
pub struct CompiledRule {
    pub ast: Rule,
    pub file: String,
    /// The stages that run it: its file's `phase` declaration.
    pub phases: Vec<Phase>,
    pub root_kind: OpKind,
    /// Pattern names bound to values (operand variables and named op results), in pattern order.
    pub operand_names: Vec<String>,
    /// Number of ops in the pattern.
    pub op_count: usize,
}

impl CompiledRule {
    pub fn name(&self) -> &str {
        &self.ast.name.name
    }
    pub fn tolerance(&self) -> Tolerance {
        self.ast.tolerance()
    }
    pub fn doc(&self) -> String {
        self.ast
            .doc
            .as_ref()
            .map(|d| {
                d.lines
                    .iter()
                    .map(|l| l.trim())
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default()
    }
}

fn collect(p: &Pattern, names: &mut Vec<String>, ops: &mut usize) {
    // A repeated variable is one binding.
    let mut add = |n: &str| {
        if !names.iter().any(|m| m == n) {
            names.push(n.to_string());
        }
    };
    if let Pattern::Var(v) = p {
        add(&v.name);
    }
    if let Pattern::Op(o) = p {
        if let Some(n) = &o.name {
            add(&n.name);
        }
        *ops += 1;
        for c in &o.operands {
            collect(c, names, ops);
        }
    }
}

fn compile_rule(ast: Rule, file: &str, phases: &[Phase]) -> Option<CompiledRule> {
    let root_kind = OpKind::from_name(&ast.pattern.op.name)?;
    let mut operand_names = vec![];
    let mut op_count = 0;
    collect(
        &Pattern::Op(ast.pattern.clone()),
        &mut operand_names,
        &mut op_count,
    );
    Some(CompiledRule {
        ast,
        file: file.to_string(),
        phases: phases.to_vec(),
        root_kind,
        operand_names,
        op_count,
    })
}

/// The rule language's diagnostics as an `Error`, rendered once with their spans.
pub fn convert(d: &dsl::Diagnostics) -> Error {
    Error::source(
        Source {
            name: d.file_name.clone(),
            text: d.source.clone(),
        },
        d.diagnostics.clone(),
    )
}

/// One `quantize(act(producer(…)))` pattern: the op kinds and what the pattern says of each
/// one's attributes (`min: none`, `trans_a: false`, …).
#[derive(Clone, Debug, PartialEq)]
pub struct AbsorbedForm {
    pub act: OpKind,
    pub producer: OpKind,
    pub act_attrs: Option<AttrPatterns>,
    pub producer_attrs: Option<AttrPatterns>,
}

/// The sandwiches the lowering rules take whole ([`RuleSet::absorbed_activations`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Absorption {
    pub forms: Vec<AbsorbedForm>,
}

impl Absorption {
    /// Whether some rule's pattern takes `act` (with its attributes) on top of `producer`
    /// (with its own). Guards are not evaluated: they hold for what the quantizer writes.
    pub fn absorbs(&self, act: &crate::ir::Op, producer: &crate::ir::Op) -> bool {
        self.forms.iter().any(|f| {
            f.act == act.kind
                && f.producer == producer.kind
                && crate::rules::search::attrs_match(f.act_attrs.as_ref(), &act.attrs)
                && crate::rules::search::attrs_match(f.producer_attrs.as_ref(), &producer.attrs)
        })
    }
}

/// A set of rules from one or more files, checked and compiled.
pub struct RuleSet {
    pub rules: Vec<Arc<CompiledRule>>,
}

impl RuleSet {
    /// Parses and checks every file, reporting every error of every file; refuses a rule name
    /// defined in two files.
    pub fn load(files: &[(String, String)]) -> Result<RuleSet, Error> {
        let mut rules: Vec<Arc<CompiledRule>> = vec![];
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        let mut errors: Vec<String> = vec![];
        for (name, text) in files {
            match dsl::parse_and_check(name, text, &Vocab) {
                Err(d) => errors.push(convert(&d).to_string()),
                Ok(file) => {
                    let phases = file.phases();
                    for r in file.rules {
                        let rname = r.name.name.clone();
                        if let Some(prev) = seen.insert(rname.clone(), name.clone()) {
                            errors.push(format!(
                                "error: rule `{rname}` is defined in both {prev} and {name}"
                            ));
                            continue;
                        }
                        match compile_rule(r, name, &phases) {
                            Some(c) => rules.push(Arc::new(c)),
                            None => errors.push(format!(
                                "error: rule `{rname}` in {name} does not start with a known op"
                            )),
                        }
                    }
                }
            }
        }
        if !errors.is_empty() {
            return Err(Error::msg(
                errors.join("\n").trim_start_matches("error: ").to_string(),
            ));
        }
        Ok(RuleSet { rules })
    }

    /// The built-in rules plus the given user files, every phase: what a compile loads (and
    /// refuses as a whole when any file is wrong) before splitting by phase.
    pub fn with_builtin(user: &[(String, String)]) -> Result<RuleSet, Error> {
        let mut files = builtin_files();
        files.extend(user.iter().cloned());
        RuleSet::load(&files)
    }

    /// The rules that run in `phase`.
    pub fn only(&self, phase: Phase) -> RuleSet {
        RuleSet {
            rules: self
                .rules
                .iter()
                .filter(|r| r.phases.contains(&phase))
                .cloned()
                .collect(),
        }
    }

    /// The simplify phase of the built-in rules plus the given user files: what `--emit float`
    /// runs.
    pub fn builtin_and(user: &[(String, String)]) -> Result<RuleSet, Error> {
        Ok(RuleSet::with_builtin(user)?.only(Phase::Simplify))
    }

    /// The lowering phase (QDQ sandwiches → integer ops) of the built-in rules plus the given
    /// user files.
    pub fn lowering_and(user: &[(String, String)]) -> Result<RuleSet, Error> {
        Ok(RuleSet::with_builtin(user)?.only(Phase::Lower))
    }

    /// Every built-in rule, of both phases.
    pub fn all_builtin() -> Result<RuleSet, Error> {
        RuleSet::load(&builtin_files())
    }

    /// The activation/producer sandwiches some rule lowers as one: a pattern
    /// `quantize(act(producer(…)))`, as `lower-conv-relu` is `quantize(relu(conv2d(…)))`, with
    /// what it says of both ops' attributes (the clip rules need both bounds, the gemm ones
    /// an untransposed a). The quantizer keeps an activation inside its producer's
    /// sandwich only where one matches, so what it absorbs is what the rules can lower.
    pub fn absorbed_activations(&self) -> Absorption {
        let op = |p: &Pattern| match p {
            Pattern::Op(o) => Some(o.clone()),
            _ => None,
        };
        let forms = self
            .rules
            .iter()
            .filter(|r| r.root_kind == OpKind::Quantize)
            .filter_map(|r| {
                let act = op(r.ast.pattern.operands.first()?)?;
                let producer = op(act.operands.first()?)?;
                Some(AbsorbedForm {
                    act: OpKind::from_name(&act.op.name)?,
                    producer: OpKind::from_name(&producer.op.name)?,
                    act_attrs: act.attrs.clone(),
                    producer_attrs: producer.attrs.clone(),
                })
            })
            .collect();
        Absorption { forms }
    }

    pub fn rewrites(&self) -> Vec<QRewrite> {
        self.rules
            .iter()
            .map(|r| {
                Rewrite::new(r.name().to_string(), r.clone(), r.clone())
                    .expect("the applier binds no variables")
            })
            .collect()
    }
}
