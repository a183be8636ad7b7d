//! The canonical printer: one clause per line, two-space indent, single spaces around binary
//! operators, the fewest parentheses that keep the tree, one blank line between rules, and every
//! `//` comment kept (comments inside a multi-line clause move above it).
//! `print(parse(x)) == x` for every file in this form.

use crate::ast::*;
use std::fmt::Write as _;

/// Prints a file in canonical form.
pub fn print(file: &RuleFile) -> String {
    let mut p = Printer {
        lines: vec![],
        comments: &file.comments,
        next: 0,
        last_end: 0,
        after: After::Nothing,
    };
    if let Some(decl) = &file.phase {
        p.file_comments(decl.span.start);
        if p.after == (After::Comment { blank: true }) {
            p.lines.push(String::new());
        }
        let names: Vec<&str> = decl.phases.iter().map(|ph| ph.name()).collect();
        p.line(0, 0, format!("phase {}", names.join(", ")), decl.span);
        p.after = After::Rule;
    }
    for rule in &file.rules {
        p.rule(rule);
    }
    p.file_comments(usize::MAX);
    let mut out = p.lines.join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    out
}

/// Prints one expression as it would appear in a guard.
pub fn print_expr(e: &Expr) -> String {
    let mut s = String::new();
    expr(&mut s, e);
    s
}

/// What was printed last at file level: decides the blank lines.
#[derive(Clone, Copy, PartialEq)]
enum After {
    Nothing,
    Rule,
    Comment { blank: bool },
}

struct Printer<'a> {
    lines: Vec<String>,
    comments: &'a [Comment],
    /// The first comment not yet printed.
    next: usize,
    /// Where the element printed last ends in the source.
    last_end: usize,
    after: After,
}

impl Printer<'_> {
    /// A trailing comment just after the element printed last goes on its line.
    fn take_trailing(&mut self, before: usize) -> bool {
        match self.comments.get(self.next) {
            Some(c)
                if c.trailing
                    && c.span.start >= self.last_end
                    && c.span.start < before
                    && !self.lines.is_empty() =>
            {
                if let Some(last) = self.lines.last_mut() {
                    let _ = write!(last, " //{}", c.text);
                }
                self.next += 1;
                true
            }
            _ => false,
        }
    }

    /// Comments between rules (or before the first, after the last), with their blank lines.
    fn file_comments(&mut self, limit: usize) {
        while let Some(c) = self
            .comments
            .get(self.next)
            .filter(|c| c.span.start < limit)
        {
            if self.take_trailing(limit) {
                continue;
            }
            if matches!(self.after, After::Rule | After::Comment { blank: true }) {
                self.lines.push(String::new());
            }
            self.lines.push(format!("//{}", c.text));
            self.after = After::Comment {
                blank: c.blank_after,
            };
            self.next += 1;
        }
    }

    /// One line of a rule, after the comments that precede it (or stand inside its span).
    fn line(&mut self, indent: usize, comment_indent: usize, text: String, span: Span) {
        while let Some(c) = self
            .comments
            .get(self.next)
            .filter(|c| c.span.start < span.end)
        {
            if !self.take_trailing(span.start) {
                self.lines
                    .push(format!("{}//{}", " ".repeat(comment_indent), c.text));
                self.next += 1;
            }
        }
        self.lines.push(format!("{}{text}", " ".repeat(indent)));
        self.last_end = span.end;
    }

    fn rule(&mut self, r: &Rule) {
        self.file_comments(r.span.start);
        if self.after != After::Nothing && self.after != (After::Comment { blank: false }) {
            self.lines.push(String::new());
        }
        if let Some(doc) = &r.doc {
            for (i, l) in doc.lines.iter().enumerate() {
                // All comments inside the doc block go above its first line.
                let span = if i == 0 {
                    doc.span
                } else {
                    Span::new(doc.span.end, doc.span.end)
                };
                self.line(0, 0, format!("///{l}"), span);
            }
        }
        self.line(0, 0, format!("rule {} {{", r.name.name), r.header_span);
        let mut s = String::from("match ");
        op_pattern(&mut s, &r.pattern);
        self.line(2, 2, s, r.match_span);
        for c in &r.clauses {
            let mut s = String::new();
            match c {
                Clause::Where { guards, .. } => {
                    s.push_str("where ");
                    list(&mut s, guards, expr);
                }
                Clause::Let { name, value, .. } => {
                    let _ = write!(s, "let {} = ", name.name);
                    expr(&mut s, value);
                }
            }
            self.line(2, 2, s, c.span());
        }
        let mut s = String::from("=> ");
        term(&mut s, &r.replacement);
        self.line(2, 2, s, r.replacement_span);
        if let Some(t) = &r.tolerance {
            let s = match t.tolerance {
                Tolerance::Exact => "tolerance exact".to_string(),
                Tolerance::Rel(v) => format!("tolerance rel {}", float(v)),
                Tolerance::Lsb(n) => format!("tolerance lsb {n}"),
            };
            self.line(2, 2, s, t.span);
        }
        self.line(0, 2, "}".into(), r.close_span());
        self.after = After::Rule;
    }
}

fn list<T>(out: &mut String, items: &[T], f: fn(&mut String, &T)) {
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        f(out, x);
    }
}

fn op_pattern(out: &mut String, p: &OpPattern) {
    if let Some(n) = &p.name {
        let _ = write!(out, "{} = ", n.name);
    }
    let _ = write!(out, "{}(", p.op.name);
    list(out, &p.operands, pattern);
    out.push(')');
    if let Some(a) = &p.attrs {
        out.push_str(" {");
        let mut first = true;
        if let Some(d) = &a.dict {
            out.push_str(&d.name);
            first = false;
        }
        for e in &a.entries {
            if !first {
                out.push_str(", ");
            }
            first = false;
            let _ = write!(out, "{}: ", e.name.name);
            match &e.value {
                AttrPatternValue::Bind(v) => out.push_str(&v.name),
                AttrPatternValue::Wildcard(_) => out.push('_'),
                AttrPatternValue::Absent(_) => out.push_str("none"),
                AttrPatternValue::Literal(l) => literal(out, l),
            }
        }
        out.push('}');
    }
}

fn pattern(out: &mut String, p: &Pattern) {
    match p {
        Pattern::Op(o) => op_pattern(out, o),
        Pattern::Var(v) => out.push_str(&v.name),
        Pattern::Wildcard(_) => out.push('_'),
    }
}

fn literal(out: &mut String, l: &Literal) {
    match &l.kind {
        LiteralKind::Int(i) => {
            let _ = write!(out, "{i}");
        }
        LiteralKind::Float(f) => out.push_str(&float(*f)),
        LiteralKind::Bool(b) => {
            let _ = write!(out, "{b}");
        }
        LiteralKind::List(items) => {
            out.push('[');
            list(out, items, literal);
            out.push(']');
        }
        LiteralKind::Str(s) => {
            let _ = write!(out, "\"{s}\"");
        }
    }
}

fn term(out: &mut String, t: &Term) {
    match t {
        Term::Op(o) => {
            let _ = write!(out, "{}(", o.op.name);
            list(out, &o.operands, term);
            out.push(')');
            if let Some(a) = &o.attrs {
                out.push_str(" {");
                let mut first = true;
                if let Some(s) = &a.splice {
                    out.push_str(&s.name);
                    first = false;
                }
                for e in &a.entries {
                    if !first {
                        out.push_str(", ");
                    }
                    first = false;
                    let _ = write!(out, "{}: ", e.name.name);
                    expr(out, &e.value);
                }
                out.push('}');
            }
            if let Some(ty) = &o.ty {
                out.push_str(" : ");
                type_ann(out, ty);
            }
        }
        // A bare call in an operand position would read back as an op: parenthesise it.
        Term::Expr(
            e @ Expr {
                kind: ExprKind::Call { .. },
                ..
            },
        ) => {
            out.push('(');
            expr(out, e);
            out.push(')');
        }
        Term::Expr(e) => expr(out, e),
    }
}

fn type_ann(out: &mut String, t: &TypeAnn) {
    match &t.kind {
        TypeAnnKind::Plain(d) => out.push_str(d.name()),
        TypeAnnKind::Like(v) => {
            let _ = write!(out, "type({})", v.name);
        }
        TypeAnnKind::Quant {
            storage,
            scale,
            zero_point,
            axis,
        } => {
            let _ = write!(out, "quant({storage}, ");
            expr(out, scale);
            out.push_str(", ");
            expr(out, zero_point);
            if let Some(a) = axis {
                out.push_str(", axis: ");
                expr(out, a);
            }
            out.push(')');
        }
    }
}

/// Binding strength of an expression's outermost construct.
fn precedence(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Binary { op, .. } => op.precedence(),
        ExprKind::Unary { .. } => 6,
        ExprKind::Index { .. } | ExprKind::Broadcast { .. } => 7,
        _ => 8,
    }
}

fn expr_in(out: &mut String, e: &Expr, parens: bool) {
    if parens {
        out.push('(');
    }
    expr(out, e);
    if parens {
        out.push(')');
    }
}

fn expr(out: &mut String, e: &Expr) {
    match &e.kind {
        ExprKind::Var(v) => out.push_str(v),
        ExprKind::Int(i) => {
            let _ = write!(out, "{i}");
        }
        ExprKind::Float(f) => out.push_str(&float(*f)),
        ExprKind::Bool(b) => {
            let _ = write!(out, "{b}");
        }
        ExprKind::Str(s) => {
            let _ = write!(out, "\"{s}\"");
        }
        ExprKind::DType(d) => out.push_str(d.name()),
        ExprKind::List(items) => {
            out.push('[');
            list(out, items, expr);
            out.push(']');
        }
        ExprKind::Unary { op, operand } => {
            out.push_str(op.symbol());
            // `-(-x)` rather than `--x`, which reads like a decrement.
            expr_in(out, operand, precedence(operand) <= 6);
        }
        ExprKind::Binary { op, lhs, rhs } => {
            let p = op.precedence();
            // Left-associative; comparisons do not chain, so they need parentheses on both sides.
            let left_parens = precedence(lhs) < p || (op.is_comparison() && precedence(lhs) == p);
            expr_in(out, lhs, left_parens);
            let _ = write!(out, " {} ", op.symbol());
            expr_in(out, rhs, precedence(rhs) <= p);
        }
        ExprKind::Call { func, args } => {
            let _ = write!(out, "{}(", func.name);
            list(out, args, expr);
            out.push(')');
        }
        ExprKind::Index { base, index } => {
            expr_in(out, base, precedence(base) < 7);
            out.push('[');
            expr(out, index);
            out.push(']');
        }
        ExprKind::Broadcast { base, axis, rank } => {
            expr_in(out, base, precedence(base) < 7);
            out.push('[');
            for i in 0..*rank {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push(if i == *axis { ':' } else { '1' });
            }
            out.push(']');
        }
    }
}

/// Shortest text that reads back as the same f64 and always as a float (`1.0`, `0.5`, `1e-5`).
pub fn float(v: f64) -> String {
    let a = v.abs();
    let s = if a != 0.0 && !(1e-4..1e16).contains(&a) {
        format!("{v:e}")
    } else {
        format!("{v}")
    };
    if s.contains(['.', 'e']) {
        s
    } else {
        format!("{s}.0")
    }
}
