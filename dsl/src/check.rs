//! The semantic check of a parsed rules file: names, docs, ops against the vocabulary, builtin
//! calls, and where every variable is bound and used. It collects every problem of every rule
//! rather than stopping at the first.

use crate::ast::*;
use crate::builtins::{builtin, ArgKind, BUILTINS};
use crate::diag::{Diagnostic, Diagnostics};
use crate::Vocabulary;
use std::collections::{BTreeSet, HashMap};

/// Checks a whole file against the compiler's op vocabulary.
pub fn check(file: &RuleFile, vocab: &dyn Vocabulary) -> Result<(), Diagnostics> {
    let mut diags = vec![];
    let mut seen: HashMap<&str, Span> = HashMap::new();
    for rule in &file.rules {
        match seen.get(rule.name.name.as_str()) {
            Some(first) => diags.push(
                Diagnostic::new(
                    format!("duplicate rule name `{}`", rule.name.name),
                    rule.name.span,
                    "defined again here",
                )
                .with_secondary(*first, "first defined here")
                .with_note("rule names identify rules in `--explain` output and must be unique"),
            ),
            None => {
                seen.insert(&rule.name.name, rule.name.span);
            }
        }
        RuleChecker::new(vocab, &mut diags, rule).run();
    }
    if diags.is_empty() {
        Ok(())
    } else {
        Err(Diagnostics::new(&file.file_name, &file.source, diags))
    }
}

/// What a name is bound to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A value matched by the pattern: an operand or a named op result.
    Operand,
    /// One attribute's value (`{epsilon: eps}`).
    Attr,
    /// A whole attribute dictionary (`{conv}`), of the op it was bound on.
    Dict,
    /// A `let`.
    Let,
}

struct Binding {
    name: String,
    span: Span,
    kind: Kind,
    /// For a dictionary: the op it belongs to.
    op: Option<String>,
    used: bool,
}

/// How a name is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Use {
    /// As a number, list or tensor in arithmetic or a comparison.
    Value,
    /// Only its type (shape, dtype, quantization): constness does not matter.
    Meta,
    /// As an operand of a replacement op.
    OpOperand,
    /// In `const(…)` / `single_use(…)`: must be a pattern operand.
    OperandName,
    /// In `type(…)`: must be a pattern operand.
    TypeOf,
    /// `{conv}` in a replacement: must be a dictionary.
    Splice,
}

/// Where an expression stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ctx {
    Guard,
    Let,
    Replacement,
}

struct RuleChecker<'a> {
    vocab: &'a dyn Vocabulary,
    diags: &'a mut Vec<Diagnostic>,
    rule: &'a crate::ast::Rule,
    /// Bound so far, in binding order.
    bindings: Vec<Binding>,
    /// Operands declared `const(…)` by a top-level guard anywhere in the rule.
    consts: BTreeSet<String>,
}

impl<'a> RuleChecker<'a> {
    fn new(
        vocab: &'a dyn Vocabulary,
        diags: &'a mut Vec<Diagnostic>,
        rule: &'a crate::ast::Rule,
    ) -> Self {
        let mut consts = BTreeSet::new();
        for clause in &rule.clauses {
            if let Clause::Where { guards, .. } = clause {
                for g in guards {
                    collect_consts(g, &mut consts);
                }
            }
        }
        RuleChecker {
            vocab,
            diags,
            rule,
            bindings: vec![],
            consts,
        }
    }

    fn error(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn run(mut self) {
        let rule = self.rule;
        self.name_and_doc();
        self.pattern(&rule.pattern);
        for clause in &rule.clauses {
            match clause {
                Clause::Where { guards, .. } => {
                    for g in guards {
                        self.expr(g, Ctx::Guard);
                    }
                }
                Clause::Let { name, value, .. } => {
                    self.expr(value, Ctx::Let);
                    self.bind(name, Kind::Let, None, false);
                }
            }
        }
        self.term(&rule.replacement);
        if let Some(ToleranceClause {
            tolerance: Tolerance::Rel(r),
            span,
        }) = rule.tolerance
        {
            if r.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
                self.error(
                    Diagnostic::new(
                        "a relative tolerance must be positive",
                        span,
                        "not positive",
                    )
                    .with_note("write `tolerance exact` to require equal results"),
                );
            }
        }
        let unused: Vec<(String, Span)> = self
            .bindings
            .iter()
            .filter(|b| !b.used && !b.name.starts_with('_'))
            .map(|b| (b.name.clone(), b.span))
            .collect();
        for (name, span) in unused {
            self.error(
                Diagnostic::new(
                    format!("unused variable `{name}`"),
                    span,
                    "bound here but never used",
                )
                .with_note(format!(
                    "write `_{name}` (or `_`) if it is meant to go unused"
                )),
            );
        }
    }

    fn name_and_doc(&mut self) {
        let rule = self.rule;
        if !is_kebab_case(&rule.name.name) {
            let mut d = Diagnostic::new(
                format!("rule name `{}` is not kebab-case", rule.name.name),
                rule.name.span,
                "not kebab-case",
            );
            d = match kebab_suggestion(&rule.name.name) {
                Some(s) => d.with_note(format!("write lowercase words joined by `-`: `{s}`")),
                None => d.with_note("write lowercase words joined by `-`, starting with a letter: `fold-bn-into-conv`"),
            };
            self.error(d);
        }
        if rule.doc.as_ref().is_none_or(|d| d.is_blank()) {
            self.error(
                Diagnostic::new(format!("rule `{}` has no doc comment", rule.name.name), rule.name.span, "undocumented rule")
                    .with_note("state the rule's algebra in `///` lines above it, e.g. `/// relu(relu(x)) = relu(x)`"),
            );
        }
    }

    // ---- bindings ----

    fn bind(&mut self, id: &Ident, kind: Kind, op: Option<&str>, in_pattern: bool) {
        self.bind_in(id, kind, op, in_pattern, false)
    }

    /// `repeatable`: an operand variable of the pattern, which may repeat an operand name bound
    /// before in the pattern (a non-linear pattern: both places must hold the same value).
    fn bind_in(
        &mut self,
        id: &Ident,
        kind: Kind,
        op: Option<&str>,
        in_pattern: bool,
        repeatable: bool,
    ) {
        if let Some(i) = self.bindings.iter().position(|b| b.name == id.name) {
            if repeatable && in_pattern && self.bindings[i].kind == Kind::Operand {
                // The repetition is itself a use: it constrains the match.
                self.bindings[i].used = true;
                return;
            }
            let first = self.bindings[i].span;
            let message = if in_pattern {
                format!("variable `{}` is bound twice in the pattern", id.name)
            } else {
                format!("`{}` is already bound", id.name)
            };
            let mut d = Diagnostic::new(message, id.span, "bound again here")
                .with_secondary(first, "first bound here");
            if in_pattern {
                d = d.with_note("an operand variable may repeat (`mul(x, x)`: the same value in both places); other names are bound once");
            }
            self.error(d);
            return;
        }
        self.bindings.push(Binding {
            name: id.name.clone(),
            span: id.span,
            kind,
            op: op.map(String::from),
            used: false,
        });
    }

    /// Marks a read of `name` and checks that it suits `how`.
    fn use_var(&mut self, name: &str, span: Span, how: Use) {
        if name == "_" {
            self.error(Diagnostic::new(
                "`_` is a wildcard and has no value",
                span,
                "cannot be read",
            ));
            return;
        }
        let Some(i) = self.bindings.iter().position(|b| b.name == name) else {
            self.unbound(name, span);
            return;
        };
        self.bindings[i].used = true;
        let (kind, bound_at) = (self.bindings[i].kind, self.bindings[i].span);
        let bound_as = match kind {
            Kind::Operand => "an operand of the pattern",
            Kind::Attr => "an attribute value",
            Kind::Dict => "an attribute dictionary",
            Kind::Let => "a `let`",
        };
        let problem = match (how, kind) {
            (Use::Splice, Kind::Dict) => None,
            (Use::Splice, _) => Some((
                format!("`{name}` is not an attribute dictionary"),
                "only a dictionary bound with `op(…) {name}` can be handed on like this",
            )),
            (_, Kind::Dict) => Some((
                format!("`{name}` is an attribute dictionary, not a value"),
                "a dictionary can only be handed on to an op: `conv2d(…) {conv}`",
            )),
            (Use::OperandName | Use::TypeOf, Kind::Operand) => None,
            (Use::OperandName | Use::TypeOf, _) => Some((
                format!("`{name}` is not an operand of the pattern"),
                "`const`, `single_use` and `type` take names bound to operands or op results by the pattern",
            )),
            (Use::Value, Kind::Operand) if !self.consts.contains(name) => {
                self.error(
                    Diagnostic::new(
                        format!("`{name}` is used as a value but is not known to be constant"),
                        span,
                        format!("needs `const({name})`"),
                    )
                    .with_secondary(bound_at, "bound here")
                    .with_note(format!(
                        "add `const({name})` to a `where` clause; the shape, type and quantization of any operand \
                         can be read without it: `shape({name})`, `dtype({name})`, `scale({name})`"
                    )),
                );
                None
            }
            _ => None,
        };
        if let Some((message, note)) = problem {
            self.error(
                Diagnostic::new(message, span, bound_as)
                    .with_secondary(bound_at, "bound here")
                    .with_note(note),
            );
        }
    }

    fn unbound(&mut self, name: &str, span: Span) {
        let mut d = Diagnostic::new(
            format!("unbound variable `{name}`"),
            span,
            "not bound by the pattern or a `let` above",
        );
        let later_let = self.rule.clauses.iter().find_map(|c| match c {
            Clause::Let { name: n, .. } if n.name == name && n.span.start > span.start => {
                Some(n.span)
            }
            _ => None,
        });
        if let Some(at) = later_let {
            d = d
                .with_secondary(at, "bound here, after its use")
                .with_note(format!(
                    "a `let` is seen only by the clauses below it: move `let {name}` up"
                ));
        } else if let Some(similar) = closest(name, self.bindings.iter().map(|b| b.name.as_str())) {
            d = d.with_note(format!("did you mean `{similar}`?"));
        }
        self.error(d);
    }

    // ---- ops ----

    /// The op exists, takes this many operands, and has these attributes.
    fn op(
        &mut self,
        op: &Ident,
        operands: usize,
        span: Span,
        attrs: &[&Ident],
        in_replacement: bool,
    ) {
        let Some((min, max)) = self.vocab.op_arity(&op.name) else {
            let mut d = Diagnostic::new(
                format!("unknown op `{}`", op.name),
                op.span,
                "no op of this name",
            );
            if in_replacement && builtin(&op.name).is_some() {
                d = d.with_note(format!(
                    "`{0}` is a builtin function, but a call that is a whole operand of the replacement is an op: \
                     compute it with `let v = {0}(…)` and use `v`",
                    op.name
                ));
            }
            self.error(d);
            return;
        };
        if operands < min || operands > max {
            let expected = match (min, max) {
                (a, b) if a == b => format!("{a}"),
                (a, usize::MAX) => format!("at least {a}"),
                (a, b) => format!("{a} to {b}"),
            };
            self.error(Diagnostic::new(
                format!(
                    "`{}` takes {expected} operand{}, got {operands}",
                    op.name,
                    if max == 1 { "" } else { "s" }
                ),
                span,
                format!("{operands} operand{}", if operands == 1 { "" } else { "s" }),
            ));
        }
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for a in attrs {
            if let Some(first) = seen.insert(&a.name, a.span) {
                self.error(
                    Diagnostic::new(
                        format!("attribute `{}` given twice", a.name),
                        a.span,
                        "given again",
                    )
                    .with_secondary(first, "first given here"),
                );
            }
            if !self.vocab.has_attr(&op.name, &a.name) {
                self.error(Diagnostic::new(
                    format!("`{}` has no attribute `{}`", op.name, a.name),
                    a.span,
                    "unknown attribute",
                ));
            }
        }
    }

    fn pattern(&mut self, p: &OpPattern) {
        if let Some(name) = &p.name {
            self.bind(name, Kind::Operand, None, true);
        }
        let attr_names: Vec<&Ident> = p
            .attrs
            .iter()
            .flat_map(|a| a.entries.iter().map(|e| &e.name))
            .collect();
        self.op(&p.op, p.operands.len(), p.span, &attr_names, false);
        for operand in &p.operands {
            match operand {
                Pattern::Op(o) => self.pattern(o),
                Pattern::Var(v) => self.bind_in(v, Kind::Operand, None, true, true),
                Pattern::Wildcard(_) => {}
            }
        }
        if let Some(attrs) = &p.attrs {
            if let Some(dict) = &attrs.dict {
                self.bind(dict, Kind::Dict, Some(&p.op.name), true);
            }
            for e in &attrs.entries {
                if let AttrPatternValue::Bind(v) = &e.value {
                    self.bind(v, Kind::Attr, None, true);
                }
            }
        }
    }

    fn term(&mut self, t: &Term) {
        match t {
            Term::Expr(Expr {
                kind: ExprKind::Var(name),
                span,
            }) => self.use_var(name, *span, Use::OpOperand),
            Term::Expr(e) => self.expr(e, Ctx::Replacement),
            Term::Op(o) => self.op_term(o),
        }
    }

    fn op_term(&mut self, o: &OpTerm) {
        let attr_names: Vec<&Ident> = o
            .attrs
            .iter()
            .flat_map(|a| a.entries.iter().map(|e| &e.name))
            .collect();
        self.op(&o.op, o.operands.len(), o.span, &attr_names, true);
        for operand in &o.operands {
            self.term(operand);
        }
        if let Some(attrs) = &o.attrs {
            if let Some(splice) = &attrs.splice {
                self.use_var(&splice.name, splice.span, Use::Splice);
                let from = self
                    .bindings
                    .iter()
                    .find(|b| b.name == splice.name && b.kind == Kind::Dict);
                if let Some((Some(from_op), at)) = from.map(|b| (b.op.clone(), b.span)) {
                    let superset = match (
                        self.vocab.attrs_of(&from_op),
                        self.vocab.attrs_of(&o.op.name),
                    ) {
                        (Some(a), Some(b)) => a.iter().all(|x| b.contains(x)),
                        _ => false,
                    };
                    if from_op != o.op.name && !superset {
                        self.error(
                            Diagnostic::new(
                                format!("the attributes of `{from_op}` cannot be given to `{}`", o.op.name),
                                splice.span,
                                format!("attributes of a `{from_op}`"),
                            )
                            .with_secondary(at, format!("bound on a `{from_op}` here"))
                            .with_note("a dictionary can only be handed on to an op of the same kind, or one that has every attribute it has"),
                        );
                    }
                }
            }
            for e in &attrs.entries {
                self.expr(&e.value, Ctx::Replacement);
            }
        }
        if let Some(ty) = &o.ty {
            match &ty.kind {
                TypeAnnKind::Plain(_) => {}
                TypeAnnKind::Like(v) => self.use_var(&v.name, v.span, Use::TypeOf),
                TypeAnnKind::Quant {
                    storage,
                    scale,
                    zero_point,
                    axis,
                } => {
                    if *storage == DType::F32 {
                        self.error(
                            Diagnostic::new(
                                "a quantized type is stored as i8, u8, i16 or i32",
                                ty.span,
                                "stored as f32",
                            )
                            .with_note("write `: f32` for a float result"),
                        );
                    }
                    self.expr(scale, Ctx::Replacement);
                    self.expr(zero_point, Ctx::Replacement);
                    if let Some(a) = axis {
                        self.expr(a, Ctx::Replacement);
                    }
                }
            }
        }
    }

    // ---- expressions ----

    fn expr(&mut self, e: &Expr, ctx: Ctx) {
        match &e.kind {
            ExprKind::Var(name) => self.use_var(name, e.span, Use::Value),
            ExprKind::Int(_)
            | ExprKind::Float(_)
            | ExprKind::Bool(_)
            | ExprKind::Str(_)
            | ExprKind::DType(_) => {}
            ExprKind::List(items) => items.iter().for_each(|i| self.expr(i, ctx)),
            ExprKind::Unary { operand, .. } => self.expr(operand, ctx),
            ExprKind::Binary { lhs, rhs, .. } => {
                self.expr(lhs, ctx);
                self.expr(rhs, ctx);
            }
            ExprKind::Index { base, index } => {
                self.expr(base, ctx);
                self.expr(index, ctx);
            }
            ExprKind::Broadcast { base, .. } => self.expr(base, ctx),
            ExprKind::Call { func, args } => self.call(func, args, e.span, ctx),
        }
    }

    fn call(&mut self, func: &Ident, args: &[Expr], span: Span, ctx: Ctx) {
        let Some(b) = builtin(&func.name) else {
            let mut d = Diagnostic::new(
                format!("unknown function `{}`", func.name),
                func.span,
                "not a builtin function",
            );
            if self.vocab.op_arity(&func.name).is_some() {
                d = d.with_note(format!(
                    "`{}` is an op: ops appear in the pattern and as whole operands of the replacement, \
                     never inside an expression (arithmetic computes constants)",
                    func.name
                ));
            } else if let Some(s) = closest(&func.name, BUILTINS.iter().map(|b| b.name)) {
                d = d.with_note(format!("did you mean `{s}`?"));
            }
            self.error(d);
            // Still look at the arguments, for unbound names.
            for a in args {
                self.arg(a, Use::Meta, ctx);
            }
            return;
        };
        if args.len() < b.min_args || args.len() > b.max_args {
            let expected = match (b.min_args, b.max_args) {
                (a, m) if a == m => format!("{a} argument{}", if a == 1 { "" } else { "s" }),
                (a, _) => format!("at least {a} argument{}", if a == 1 { "" } else { "s" }),
            };
            self.error(Diagnostic::new(
                format!("`{}` takes {expected}, got {}", b.name, args.len()),
                span,
                format!(
                    "{} argument{}",
                    args.len(),
                    if args.len() == 1 { "" } else { "s" }
                ),
            ));
        }
        if b.guard_only && ctx != Ctx::Guard {
            self.error(Diagnostic::new(
                format!(
                    "`{}` is a guard: it can only stand in a `where` clause",
                    b.name
                ),
                func.span,
                "outside a `where` clause",
            ));
        }
        for a in args {
            match b.args {
                ArgKind::Value => self.expr(a, ctx),
                ArgKind::Meta => self.arg(a, Use::Meta, ctx),
                ArgKind::Operand => match &a.kind {
                    ExprKind::Var(name) => self.use_var(name, a.span, Use::OperandName),
                    _ => self.error(Diagnostic::new(
                        format!("`{}` takes names of pattern operands", b.name),
                        a.span,
                        "not a name",
                    )),
                },
            }
        }
    }

    /// An argument read as `how` when it is a plain name, as an expression otherwise.
    fn arg(&mut self, a: &Expr, how: Use, ctx: Ctx) {
        match &a.kind {
            ExprKind::Var(name) => self.use_var(name, a.span, how),
            _ => self.expr(a, ctx),
        }
    }
}

/// `const(a, b)` guards that hold whenever the rule fires: top-level ones, possibly under `&&`.
fn collect_consts(g: &Expr, out: &mut BTreeSet<String>) {
    match &g.kind {
        ExprKind::Binary {
            op: BinaryOp::And,
            lhs,
            rhs,
        } => {
            collect_consts(lhs, out);
            collect_consts(rhs, out);
        }
        ExprKind::Call { func, args } if func.name == "const" => {
            for a in args {
                if let ExprKind::Var(n) = &a.kind {
                    out.insert(n.clone());
                }
            }
        }
        _ => {}
    }
}

/// Lowercase ASCII words of letters and digits joined by single `-`, starting with a letter.
pub fn is_kebab_case(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.split('-').all(|w| {
            !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

/// `FoldBn_into_conv` → `fold-bn-into-conv`.
fn kebab_suggestion(name: &str) -> Option<String> {
    let mut out = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if c == '_' || c == '-' {
            out.push('-');
            prev_lower = false;
        } else if c.is_ascii_uppercase() {
            if prev_lower {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
            prev_lower = false;
        } else {
            out.push(c);
            prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        }
    }
    let words: Vec<&str> = out.split('-').filter(|w| !w.is_empty()).collect();
    let s = words.join("-");
    is_kebab_case(&s).then_some(s)
}

/// The candidate nearest to `name` by edit distance, if it is near enough to be a typo.
fn closest<'n>(name: &str, candidates: impl Iterator<Item = &'n str>) -> Option<&'n str> {
    let limit = if name.len() <= 3 { 1 } else { 2 };
    candidates
        .filter(|c| *c != name)
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(cur).min(row[j])
            };
            prev = cur;
        }
    }
    row[b.len()]
}
