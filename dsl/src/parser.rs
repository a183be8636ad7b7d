//! Text to syntax tree: pest checks the syntax, this file builds the AST from pest's pairs,
//! collecting every error it finds on the way (numbers out of range, malformed subscripts,
//! misplaced attribute dictionaries), and recovers the `//` comments for the printer.

use crate::ast::*;
use crate::diag::{Diagnostic, Diagnostics};
use crate::syntax_error;
use pest::iterators::Pair;
use pest::Parser as _;

#[derive(pest_derive::Parser)]
#[grammar = "grammar.pest"]
pub(crate) struct Grammar;

/// Deepest bracket nesting accepted. Real rules stay under ten; the limit keeps pest's recursive
/// descent (and everything that walks the tree) far from the stack's end on hostile input.
pub const MAX_NESTING: usize = 32;
/// Deepest expression tree accepted (long operator chains and prefix runs nest without brackets).
pub const MAX_EXPR_DEPTH: usize = 128;

/// Parses a rules file. Syntax errors stop at the first (pest cannot go on), errors found while
/// building the tree are all collected.
pub fn parse(file_name: &str, text: &str) -> Result<RuleFile, Diagnostics> {
    let fail = |d: Vec<Diagnostic>| Diagnostics::new(file_name, text, d);
    if let Some(d) = nesting_error(text) {
        return Err(fail(vec![d]));
    }
    let mut pairs = Grammar::parse(Rule::file, text)
        .map_err(|e| fail(vec![syntax_error::convert(text, &e)]))?;
    let file = pairs.next().map(|p| p.into_inner()).into_iter().flatten();
    let mut b = Builder { errors: vec![] };
    let mut rules = vec![];
    let mut phase = None;
    for p in file {
        if p.as_rule() == Rule::phase_decl {
            phase = b.phase_decl(p);
            continue;
        }
        if p.as_rule() != Rule::rule_def {
            continue;
        }
        let (s, before) = (span(&p), b.errors.len());
        match b.rule(p) {
            Some(r) => rules.push(r),
            // The grammar guarantees the shape of the pairs; should that ever break, say so.
            None if b.errors.len() == before => b.error(Diagnostic::new(
                "internal error: the parser could not build this rule",
                s,
                "here",
            )),
            None => {}
        }
    }
    if !b.errors.is_empty() {
        return Err(fail(b.errors));
    }
    Ok(RuleFile {
        file_name: file_name.to_string(),
        source: text.to_string(),
        phase,
        rules,
        comments: scan_comments(text),
    })
}

/// The first bracket that opens one level too many, if any.
fn nesting_error(text: &str) -> Option<Diagnostic> {
    let mut depth = 0usize;
    let mut in_comment = false;
    let bytes = text.as_bytes();
    for (i, &c) in bytes.iter().enumerate() {
        match c {
            b'\n' => in_comment = false,
            _ if in_comment => {}
            b'/' if bytes.get(i + 1) == Some(&b'/') => in_comment = true,
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Some(Diagnostic::new(
                        format!("brackets nested more than {MAX_NESTING} levels deep"),
                        Span::new(i, i + 1),
                        "one level too many",
                    ));
                }
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// Every `//` comment (not `///` doc comments). The language has no strings, so the first `//`
/// on a line always starts a comment or a doc comment, which runs to the end of the line.
fn scan_comments(text: &str) -> Vec<Comment> {
    let mut out = vec![];
    let mut offset = 0;
    let lines: Vec<&str> = text.split('\n').collect();
    for (n, line) in lines.iter().enumerate() {
        if let Some(pos) = line.find("//") {
            let rest = &line[pos + 2..];
            let is_doc = rest.starts_with('/') && !rest.starts_with("//");
            if !is_doc {
                let blank_after =
                    lines.get(n + 1).is_some_and(|l| l.trim().is_empty()) && n + 2 < lines.len();
                out.push(Comment {
                    text: rest.trim_end().to_string(),
                    span: Span::new(offset + pos, offset + line.trim_end().len()),
                    trailing: !line[..pos].trim().is_empty(),
                    blank_after,
                });
            }
        }
        offset += line.len() + 1;
    }
    out
}

/// The pair's text without the whitespace and comments pest lets a rule swallow at its end (a
/// rule ending in an optional part skips trivia before finding the part absent): it ends where its
/// last token does.
fn span(p: &Pair<Rule>) -> Span {
    let end = p
        .clone()
        .into_inner()
        .flatten()
        .last()
        .map_or(p.as_span().end(), |leaf| leaf.as_span().end());
    Span::new(p.as_span().start(), end)
}

fn ident(p: Pair<Rule>) -> Ident {
    Ident {
        name: p.as_str().to_string(),
        span: span(&p),
    }
}

/// A number token: an integer unless it has a fraction or an exponent.
enum Number {
    Int(i64),
    Float(f64),
}

struct Builder {
    errors: Vec<Diagnostic>,
}

impl Builder {
    fn error(&mut self, d: Diagnostic) {
        self.errors.push(d);
    }

    /// `phase simplify, lower`: each name known, none twice.
    fn phase_decl(&mut self, p: Pair<Rule>) -> Option<PhaseDecl> {
        let s = span(&p);
        let mut phases = vec![];
        let mut ok = true;
        for n in p.into_inner().filter(|n| n.as_rule() == Rule::phase_name) {
            let at = span(&n);
            match Phase::from_name(n.as_str()) {
                Some(ph) if phases.contains(&ph) => {
                    self.error(Diagnostic::new(
                        format!("phase `{ph}` is named twice"),
                        at,
                        "again here",
                    ));
                    ok = false;
                }
                Some(ph) => phases.push(ph),
                None => {
                    self.error(
                        Diagnostic::new(
                            format!("unknown phase `{}`", n.as_str()),
                            at,
                            "not a phase",
                        )
                        .with_note("the phases are `simplify` (float to float, before quantizing) and `lower` (QDQ to the integer dialect)"),
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(PhaseDecl { phases, span: s })
    }

    fn rule(&mut self, p: Pair<Rule>) -> Option<crate::ast::Rule> {
        let rule_span = span(&p);
        let mut doc = None;
        let mut name = None;
        let mut header_start = rule_span.start;
        let mut header_span = rule_span;
        let mut pattern = None;
        let mut match_span = rule_span;
        let mut clauses = vec![];
        let mut replacement = None;
        let mut replacement_span = rule_span;
        let mut tolerance = None;
        let mut ok = true;
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::doc => doc = Some(self.doc(c)),
                Rule::kw_rule => header_start = span(&c).start,
                Rule::rule_name => name = Some(ident(c)),
                Rule::lbrace => header_span = Span::new(header_start, span(&c).end),
                Rule::match_clause => {
                    match_span = span(&c);
                    pattern = c
                        .into_inner()
                        .find(|x| x.as_rule() == Rule::op_pattern)
                        .and_then(|x| self.op_pattern(x));
                    ok &= pattern.is_some();
                }
                Rule::where_clause => {
                    let s = span(&c);
                    // Every guard is built (not stopping at the first bad one) so all errors show.
                    let guards: Vec<Option<Expr>> = c
                        .into_inner()
                        .filter(|x| x.as_rule() == Rule::expr)
                        .map(|x| self.expr(x).map(|(e, _)| e))
                        .collect();
                    match guards.into_iter().collect::<Option<Vec<Expr>>>() {
                        Some(guards) => clauses.push(Clause::Where { guards, span: s }),
                        None => ok = false,
                    }
                }
                Rule::let_clause => {
                    let s = span(&c);
                    let mut it = c
                        .into_inner()
                        .filter(|x| matches!(x.as_rule(), Rule::ident | Rule::expr));
                    match (it.next().map(ident), it.next().and_then(|x| self.expr(x))) {
                        (Some(name), Some((value, _))) => clauses.push(Clause::Let {
                            name,
                            value,
                            span: s,
                        }),
                        _ => ok = false,
                    }
                }
                Rule::replacement => {
                    replacement_span = span(&c);
                    replacement = c
                        .into_inner()
                        .find(|x| x.as_rule() != Rule::arrow)
                        .and_then(|x| self.term(x));
                    ok &= replacement.is_some();
                }
                Rule::tolerance => tolerance = self.tolerance(c),
                _ => {}
            }
        }
        if !ok {
            return None;
        }
        Some(crate::ast::Rule {
            doc,
            name: name?,
            pattern: pattern?,
            clauses,
            replacement: replacement?,
            tolerance,
            span: rule_span,
            header_span,
            match_span,
            replacement_span,
        })
    }

    fn doc(&mut self, p: Pair<Rule>) -> Doc {
        let s = span(&p);
        let lines = p
            .into_inner()
            .map(|line| {
                line.into_inner()
                    .next()
                    .map(|t| t.as_str().trim_end().to_string())
                    .unwrap_or_default()
            })
            .collect();
        Doc { lines, span: s }
    }

    fn tolerance(&mut self, p: Pair<Rule>) -> Option<ToleranceClause> {
        let s = span(&p);
        let mut it = p.into_inner().skip(1);
        let kind = it.next()?;
        let value = it.next();
        let tolerance = match (kind.as_rule(), value) {
            (Rule::kw_exact, _) => Tolerance::Exact,
            (Rule::kw_rel, Some(v)) => match self.number(&v)? {
                Number::Int(i) => Tolerance::Rel(i as f64),
                Number::Float(f) => Tolerance::Rel(f),
            },
            (Rule::kw_lsb, Some(v)) => match self.number(&v)? {
                Number::Int(i) if i >= 0 => Tolerance::Lsb(i as u64),
                _ => {
                    self.error(Diagnostic::new(
                        "`tolerance lsb` takes a whole number of steps",
                        span(&v),
                        "not a non-negative integer",
                    ));
                    return None;
                }
            },
            _ => return None,
        };
        Some(ToleranceClause { tolerance, span: s })
    }

    // ---- patterns ----

    fn op_pattern(&mut self, p: Pair<Rule>) -> Option<OpPattern> {
        let mut items: Vec<Pair<Rule>> = p.into_inner().collect();
        let name = if items.get(1).is_some_and(|x| x.as_rule() == Rule::assign) {
            let n = ident(items.remove(0));
            items.remove(0);
            Some(n)
        } else {
            None
        };
        let mut it = items.into_iter();
        let op = ident(it.next()?);
        let mut operands = vec![];
        let mut attrs = None;
        let mut end = op.span.end;
        let mut ok = true;
        for c in it {
            end = end.max(span(&c).end);
            match c.as_rule() {
                Rule::op_pattern => match self.op_pattern(c) {
                    Some(o) => operands.push(Pattern::Op(o)),
                    None => ok = false,
                },
                Rule::wildcard => operands.push(Pattern::Wildcard(span(&c))),
                Rule::ident => operands.push(Pattern::Var(ident(c))),
                Rule::attr_pats => attrs = self.attr_pats(c),
                _ => {}
            }
        }
        ok.then_some(OpPattern {
            name,
            span: Span::new(op.span.start, end),
            op,
            operands,
            attrs,
        })
    }

    fn attr_pats(&mut self, p: Pair<Rule>) -> Option<AttrPatterns> {
        let s = span(&p);
        let mut dict = None;
        let mut entries = vec![];
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::ident => {
                    let id = ident(c);
                    if self.dict_first(&id, dict.as_ref(), !entries.is_empty()) {
                        dict = Some(id);
                    }
                }
                Rule::attr_pat_entry => {
                    let es = span(&c);
                    let mut it = c.into_inner().filter(|x| x.as_rule() != Rule::colon);
                    let name = ident(it.next()?);
                    let v = it.next()?;
                    let value = match v.as_rule() {
                        Rule::wildcard => AttrPatternValue::Wildcard(span(&v)),
                        Rule::kw_none => AttrPatternValue::Absent(span(&v)),
                        Rule::ident => AttrPatternValue::Bind(ident(v)),
                        _ => AttrPatternValue::Literal(self.literal(v)?),
                    };
                    entries.push(AttrPattern {
                        name,
                        value,
                        span: es,
                    });
                }
                _ => {}
            }
        }
        Some(AttrPatterns {
            dict,
            entries,
            span: s,
        })
    }

    /// Whether `id`, a bare name in an attribute block, may be its dictionary binding.
    fn dict_first(&mut self, id: &Ident, previous: Option<&Ident>, after_entries: bool) -> bool {
        if let Some(prev) = previous {
            self.error(
                Diagnostic::new(
                    "an attribute block binds one dictionary at most",
                    id.span,
                    "second dictionary",
                )
                .with_secondary(prev.span, "first dictionary")
                .with_note("write single attributes as `name: value`"),
            );
            false
        } else if after_entries {
            self.error(
                Diagnostic::new(
                    format!("the attribute dictionary `{}` must come first", id.name),
                    id.span,
                    "written after `name: value` entries",
                )
                .with_note(format!("write `{{{}, …}}`", id.name)),
            );
            false
        } else {
            true
        }
    }

    fn literal(&mut self, p: Pair<Rule>) -> Option<Literal> {
        let s = span(&p);
        let inner = p.into_inner().next()?;
        let kind = match inner.as_rule() {
            Rule::signed_number => return self.signed_number(inner),
            Rule::bool_lit => LiteralKind::Bool(inner.as_str() == "true"),
            Rule::lit_list => {
                let items: Option<Vec<Literal>> = inner
                    .into_inner()
                    .filter(|x| x.as_rule() == Rule::signed_number)
                    .map(|x| self.signed_number(x))
                    .collect();
                LiteralKind::List(items?)
            }
            Rule::str_lit => LiteralKind::Str(unquote(&inner)),
            _ => return None,
        };
        Some(Literal { kind, span: s })
    }

    fn signed_number(&mut self, p: Pair<Rule>) -> Option<Literal> {
        let s = span(&p);
        let mut negative = false;
        let mut value = None;
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::minus => negative = true,
                Rule::number => value = self.number(&c),
                _ => {}
            }
        }
        let kind = match value? {
            Number::Int(i) => LiteralKind::Int(if negative { -i } else { i }),
            Number::Float(f) => LiteralKind::Float(if negative { -f } else { f }),
        };
        Some(Literal { kind, span: s })
    }

    fn number(&mut self, p: &Pair<Rule>) -> Option<Number> {
        let text = p.as_str();
        if text.contains(['.', 'e', 'E']) {
            match text.parse::<f64>() {
                Ok(f) if f.is_finite() => Some(Number::Float(f)),
                _ => {
                    self.error(Diagnostic::new(
                        "number out of range",
                        span(p),
                        "too large for a 64-bit float",
                    ));
                    None
                }
            }
        } else {
            match text.parse::<i64>() {
                Ok(i) => Some(Number::Int(i)),
                Err(_) => {
                    self.error(Diagnostic::new(
                        "integer out of range",
                        span(p),
                        "does not fit in 64 bits",
                    ));
                    None
                }
            }
        }
    }

    // ---- replacement ----

    fn term(&mut self, p: Pair<Rule>) -> Option<Term> {
        match p.as_rule() {
            Rule::op_term => self.op_term(p).map(Term::Op),
            _ => self.expr(p).map(|(e, _)| Term::Expr(e)),
        }
    }

    fn op_term(&mut self, p: Pair<Rule>) -> Option<OpTerm> {
        let s = span(&p);
        let mut it = p.into_inner();
        let op = ident(it.next()?);
        let mut operands = vec![];
        let mut attrs = None;
        let mut ty = None;
        let mut ok = true;
        for c in it {
            match c.as_rule() {
                Rule::op_term | Rule::expr => match self.term(c) {
                    Some(t) => operands.push(t),
                    None => ok = false,
                },
                Rule::attr_terms => match self.attr_terms(c) {
                    Some(a) => attrs = Some(a),
                    None => ok = false,
                },
                Rule::type_ann => match self.type_ann(c) {
                    Some(t) => ty = Some(t),
                    None => ok = false,
                },
                _ => {}
            }
        }
        ok.then_some(OpTerm {
            op,
            operands,
            attrs,
            ty,
            span: s,
        })
    }

    fn attr_terms(&mut self, p: Pair<Rule>) -> Option<AttrTerms> {
        let s = span(&p);
        let mut splice = None;
        let mut entries = vec![];
        let mut ok = true;
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::ident => {
                    let id = ident(c);
                    if self.dict_first(&id, splice.as_ref(), !entries.is_empty()) {
                        splice = Some(id);
                    }
                }
                Rule::attr_term_entry => {
                    let es = span(&c);
                    let mut it = c.into_inner().filter(|x| x.as_rule() != Rule::colon);
                    let name = ident(it.next()?);
                    match self.expr(it.next()?) {
                        Some((value, _)) => entries.push(AttrTerm {
                            name,
                            value,
                            span: es,
                        }),
                        None => ok = false,
                    }
                }
                _ => {}
            }
        }
        ok.then_some(AttrTerms {
            splice,
            entries,
            span: s,
        })
    }

    fn type_ann(&mut self, p: Pair<Rule>) -> Option<TypeAnn> {
        let s = span(&p);
        let t = p.into_inner().find(|x| x.as_rule() != Rule::colon)?;
        let kind = match t.as_rule() {
            Rule::dtype => TypeAnnKind::Plain(DType::from_name(t.as_str())?),
            Rule::type_of => {
                TypeAnnKind::Like(ident(t.into_inner().find(|x| x.as_rule() == Rule::ident)?))
            }
            Rule::quant_type => {
                let mut storage = None;
                let mut exprs = vec![];
                for c in t.into_inner() {
                    match c.as_rule() {
                        Rule::dtype => storage = DType::from_name(c.as_str()),
                        Rule::expr => exprs.push(self.expr(c).map(|(e, _)| Box::new(e))),
                        _ => {}
                    }
                }
                let mut exprs = exprs.into_iter();
                let scale = exprs.next()??;
                let zero_point = exprs.next()??;
                let axis = match exprs.next() {
                    Some(a) => Some(a?),
                    None => None,
                };
                TypeAnnKind::Quant {
                    storage: storage?,
                    scale,
                    zero_point,
                    axis,
                }
            }
            _ => return None,
        };
        Some(TypeAnn { kind, span: s })
    }

    // ---- expressions ----

    /// An expression and the depth of its tree; `None` once an error has been recorded.
    fn expr(&mut self, p: Pair<Rule>) -> Option<(Expr, usize)> {
        match p.as_rule() {
            Rule::expr | Rule::conj | Rule::sum | Rule::product | Rule::cmp => self.binary_chain(p),
            Rule::unary => self.unary(p),
            Rule::postfix => self.postfix(p),
            _ => self.primary(p),
        }
    }

    fn deep(&mut self, e: Expr, depth: usize) -> Option<(Expr, usize)> {
        if depth > MAX_EXPR_DEPTH {
            self.error(Diagnostic::new(
                format!("expression nested more than {MAX_EXPR_DEPTH} levels deep"),
                e.span,
                "split it with `let`",
            ));
            return None;
        }
        Some((e, depth))
    }

    /// Builds every expression (so that the errors of each are reported), then fails if any did.
    fn exprs<'i>(
        &mut self,
        pairs: impl Iterator<Item = Pair<'i, Rule>>,
    ) -> Option<Vec<(Expr, usize)>> {
        let built: Vec<Option<(Expr, usize)>> = pairs.map(|p| self.expr(p)).collect();
        built.into_iter().collect()
    }

    /// `a op b op c …`, folded to the left.
    fn binary_chain(&mut self, p: Pair<Rule>) -> Option<(Expr, usize)> {
        let (operands, ops): (Vec<Pair<Rule>>, Vec<Pair<Rule>>) = p.into_inner().partition(|x| {
            !matches!(
                x.as_rule(),
                Rule::or_op | Rule::and_op | Rule::cmp_op | Rule::add_op | Rule::mul_op
            )
        });
        let mut operands = self.exprs(operands.into_iter())?.into_iter();
        let (mut lhs, mut depth) = operands.next()?;
        for (op_pair, (rhs, d)) in ops.iter().zip(operands) {
            let op = match op_pair.as_str() {
                "||" => BinaryOp::Or,
                "&&" => BinaryOp::And,
                "==" => BinaryOp::Eq,
                "!=" => BinaryOp::Ne,
                "<" => BinaryOp::Lt,
                "<=" => BinaryOp::Le,
                ">" => BinaryOp::Gt,
                ">=" => BinaryOp::Ge,
                "+" => BinaryOp::Add,
                "-" => BinaryOp::Sub,
                "*" => BinaryOp::Mul,
                "/" => BinaryOp::Div,
                _ => return None,
            };
            let s = lhs.span.to(rhs.span);
            let e = Expr {
                kind: ExprKind::Binary {
                    op,
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs),
                },
                span: s,
            };
            (lhs, depth) = self.deep(e, depth.max(d) + 1)?;
        }
        Some((lhs, depth))
    }

    fn unary(&mut self, p: Pair<Rule>) -> Option<(Expr, usize)> {
        let mut prefixes = vec![];
        let mut operand = None;
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::prefix_op => prefixes.push((
                    if c.as_str() == "!" {
                        UnaryOp::Not
                    } else {
                        UnaryOp::Neg
                    },
                    span(&c),
                )),
                _ => operand = Some(self.expr(c)?),
            }
        }
        let (mut e, mut depth) = operand?;
        for (op, s) in prefixes.into_iter().rev() {
            let sp = s.to(e.span);
            (e, depth) = self.deep(
                Expr {
                    kind: ExprKind::Unary {
                        op,
                        operand: Box::new(e),
                    },
                    span: sp,
                },
                depth + 1,
            )?;
        }
        Some((e, depth))
    }

    fn postfix(&mut self, p: Pair<Rule>) -> Option<(Expr, usize)> {
        let mut it = p.into_inner();
        let (mut e, mut depth) = self.expr(it.next()?)?;
        for sub in it {
            let s = span(&sub);
            let items: Vec<Pair<Rule>> = sub
                .into_inner()
                .filter(|x| matches!(x.as_rule(), Rule::colon | Rule::expr))
                .collect();
            let full = e.span.to(s);
            let colons: Vec<usize> = items
                .iter()
                .enumerate()
                .filter(|(_, x)| x.as_rule() == Rule::colon)
                .map(|(i, _)| i)
                .collect();
            let kind = if colons.is_empty() {
                if items.len() != 1 {
                    self.error(
                        Diagnostic::new("an index takes one integer", s, format!("{} indices", items.len()))
                            .with_note("to lay a vector along an axis, mark that axis with `:`: `s[:, 1, 1, 1]`"),
                    );
                    return None;
                }
                let (index, d) = self.expr(items.into_iter().next()?)?;
                depth = depth.max(d);
                ExprKind::Index {
                    base: Box::new(e),
                    index: Box::new(index),
                }
            } else {
                self.broadcast(e, &items, &colons, s)?
            };
            (e, depth) = self.deep(Expr { kind, span: full }, depth + 1)?;
        }
        Some((e, depth))
    }

    /// `s[1, :, 1, 1]`: exactly one `:`, every other entry the literal `1`.
    fn broadcast(
        &mut self,
        base: Expr,
        items: &[Pair<Rule>],
        colons: &[usize],
        s: Span,
    ) -> Option<ExprKind> {
        let note = "`s[1, :, 1, 1]` lays the vector `s` along axis 1 of a rank-4 tensor: one `:` for the axis, `1` elsewhere";
        if colons.len() > 1 {
            self.error(
                Diagnostic::new(
                    "a broadcast has exactly one `:`",
                    s,
                    format!("{} axes marked `:`", colons.len()),
                )
                .with_note(note),
            );
            return None;
        }
        let mut ok = true;
        for x in items.iter().filter(|x| x.as_rule() == Rule::expr) {
            if x.as_str().trim() != "1" {
                self.error(
                    Diagnostic::new(
                        "a broadcast's other axes must be `1`",
                        span(x),
                        "expected `1`",
                    )
                    .with_note(note),
                );
                ok = false;
            }
        }
        ok.then(|| ExprKind::Broadcast {
            base: Box::new(base),
            axis: colons[0],
            rank: items.len(),
        })
    }

    fn primary(&mut self, p: Pair<Rule>) -> Option<(Expr, usize)> {
        let s = span(&p);
        let leaf = |kind| Some((Expr { kind, span: s }, 1));
        match p.as_rule() {
            Rule::number => match self.number(&p)? {
                Number::Int(i) => leaf(ExprKind::Int(i)),
                Number::Float(f) => leaf(ExprKind::Float(f)),
            },
            Rule::bool_lit => leaf(ExprKind::Bool(p.as_str() == "true")),
            Rule::str_lit => leaf(ExprKind::Str(unquote(&p))),
            Rule::dtype => leaf(ExprKind::DType(DType::from_name(p.as_str())?)),
            Rule::ident => leaf(ExprKind::Var(p.as_str().to_string())),
            Rule::paren => self.expr(p.into_inner().find(|x| x.as_rule() == Rule::expr)?),
            Rule::list => {
                let items = self.exprs(p.into_inner().filter(|x| x.as_rule() == Rule::expr))?;
                let depth = items.iter().map(|(_, d)| *d).max().unwrap_or(0);
                let items = items.into_iter().map(|(e, _)| e).collect();
                self.deep(
                    Expr {
                        kind: ExprKind::List(items),
                        span: s,
                    },
                    depth + 1,
                )
            }
            Rule::call => {
                let mut it = p.into_inner();
                let func = ident(it.next()?);
                let args = self.exprs(it.filter(|x| x.as_rule() == Rule::expr))?;
                let depth = args.iter().map(|(_, d)| *d).max().unwrap_or(0);
                let args = args.into_iter().map(|(e, _)| e).collect();
                self.deep(
                    Expr {
                        kind: ExprKind::Call { func, args },
                        span: s,
                    },
                    depth + 1,
                )
            }
            _ => None,
        }
    }
}

/// A `str_lit`'s text without its quotes (the grammar allows no escapes).
fn unquote(p: &Pair<Rule>) -> String {
    let quoted = p.as_str();
    quoted[1..quoted.len() - 1].to_string()
}
