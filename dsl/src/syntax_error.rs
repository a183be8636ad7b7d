//! pest's syntax errors in words: "expected `=>` or a `let`, found `foo`" rather than a list of
//! grammar rule names.

use crate::ast::Span;
use crate::diag::Diagnostic;
use crate::parser::Rule;
use pest::error::{Error, ErrorVariant, InputLocation};

/// One diagnostic for pest's (single) syntax error.
pub(crate) fn convert(text: &str, e: &Error<Rule>) -> Diagnostic {
    let pos = match e.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    }
    .min(text.len());
    let (found, span) = found_at(text, pos);
    if text[pos..].starts_with("///") {
        return Diagnostic::new(
            "a doc comment can only stand right before a `rule`",
            Span::new(pos, pos + 3),
            "doc comment",
        )
        .with_note("use `//` for other comments");
    }
    let positives = match &e.variant {
        ErrorVariant::ParsingError { positives, .. } => positives,
        ErrorVariant::CustomError { message } => {
            return Diagnostic::new(message.clone(), span, "here")
        }
    };
    let mut d = Diagnostic::new(
        format!("expected {}, found {found}", expected(positives)),
        span,
        format!("unexpected {found}"),
    );
    let before = text[..pos].trim_end();
    if positives.contains(&Rule::kw_rule)
        && before
            .lines()
            .last()
            .is_some_and(|l| l.trim_start().starts_with("///"))
    {
        d.message = format!("expected `rule` after the doc comment, found {found}");
    }
    if text[pos..].starts_with("phase") && !positives.contains(&Rule::kw_phase) {
        d = d.with_note("a file declares its phase once, before its first rule");
    }
    let after_comparison = positives.contains(&Rule::or_op) && !positives.contains(&Rule::cmp_op);
    if after_comparison
        && ["==", "!=", "<", ">"]
            .iter()
            .any(|op| text[pos..].starts_with(op))
    {
        d = d.with_note("comparisons do not chain: write `a < b && b < c`");
    }
    if positives.len() == 2
        && positives.contains(&Rule::lparen)
        && positives.contains(&Rule::assign)
    {
        d = d.with_note(
            "a pattern matches op applications: `relu(x)`, or `r = relu(x)` to name the result",
        );
    }
    for (close, open) in [
        (Rule::rparen, '('),
        (Rule::rbracket, '['),
        (Rule::rbrace, '{'),
    ] {
        if positives.contains(&close) {
            // Only worth pointing at when it is on an earlier line than the error.
            if let Some(at) = unclosed(before, open).filter(|at| text[*at..pos].contains('\n')) {
                d = d.with_secondary(
                    Span::new(at, at + 1),
                    format!("this `{open}` is not closed"),
                );
            }
        }
    }
    d
}

/// The innermost bracket still open at the end of `text`, if it is an `open` one.
fn unclosed(text: &str, open: char) -> Option<usize> {
    let mut stack = vec![];
    let mut in_comment = false;
    let mut prev = '\0';
    for (i, c) in text.char_indices() {
        match c {
            '\n' => in_comment = false,
            _ if in_comment => {}
            '/' if prev == '/' => in_comment = true,
            '(' | '[' | '{' => stack.push((c, i)),
            ')' | ']' | '}' => {
                stack.pop();
            }
            _ => {}
        }
        prev = c;
    }
    stack.last().filter(|(c, _)| *c == open).map(|(_, i)| *i)
}

/// What stands at `pos`: a word, a number, an operator or the end of the file.
fn found_at(text: &str, pos: usize) -> (String, Span) {
    let rest = &text[pos.min(text.len())..];
    let Some(first) = rest.chars().next() else {
        return ("end of file".into(), Span::new(text.len(), text.len()));
    };
    let len = if first.is_ascii_alphanumeric() || first == '_' {
        rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(rest.len())
    } else if ["=>", "==", "!=", "<=", ">=", "&&", "||", "//"]
        .iter()
        .any(|op| rest.starts_with(op))
    {
        2
    } else {
        first.len_utf8()
    };
    let word = &rest[..len];
    let shown = if word.trim().is_empty() {
        "a blank".to_string()
    } else {
        format!("`{word}`")
    };
    (shown, Span::new(pos, pos + len))
}

/// How a grammar rule reads in "expected …", and where it goes in the list.
fn describe(rule: Rule) -> Option<(u8, &'static str)> {
    use Rule::*;
    Some(match rule {
        kw_phase => (0, "`phase`"),
        phase_name => (0, "a phase (`simplify` or `lower`)"),
        kw_rule => (0, "`rule`"),
        doc | doc_line => (1, "a doc comment"),
        rule_name => (2, "a rule name"),
        kw_match => (3, "`match`"),
        op_pattern => (4, "an op"),
        ident => (5, "a name"),
        wildcard => (6, "`_`"),
        kw_none => (6, "`none`"),
        prefix_op | expr | conj | cmp | sum | product | unary | postfix | call | paren | list => {
            (7, "an expression")
        }
        number | signed_number => (8, "a number"),
        literal | lit_list | bool_lit => (9, "a literal"),
        dtype => (10, "a type"),
        kw_quant => (11, "`quant`"),
        kw_type => (12, "`type`"),
        or_op | and_op | cmp_op | add_op | mul_op => (13, "an operator"),
        lparen => (14, "`(`"),
        lbracket => (15, "`[`"),
        assign => (16, "`=`"),
        colon => (17, "`:`"),
        comma => (18, "`,`"),
        rparen => (19, "`)`"),
        rbracket => (20, "`]`"),
        lbrace => (21, "`{`"),
        kw_axis => (22, "`axis`"),
        kw_where => (23, "`where`"),
        kw_let => (24, "a `let`"),
        arrow => (25, "`=>`"),
        kw_exact => (26, "`exact`"),
        kw_rel => (27, "`rel`"),
        kw_lsb => (28, "`lsb`"),
        kw_tolerance => (29, "`tolerance`"),
        rbrace => (30, "`}`"),
        EOI => (31, "end of file"),
        _ => return None,
    })
}

/// "`a`", "`a` or `b`", "`a`, `b` or `c`", with the pieces of an expression folded together.
fn expected(positives: &[Rule]) -> String {
    let mut items: Vec<(u8, &str)> = positives.iter().filter_map(|r| describe(*r)).collect();
    let at_expression_start = positives.contains(&Rule::prefix_op);
    let after_expression = items.iter().any(|(_, d)| *d == "an operator");
    items.retain(|(_, d)| {
        // Where an expression may start, its first tokens are just "an expression".
        let expression_start = matches!(
            *d,
            "a name" | "a number" | "a type" | "a literal" | "`(`" | "`[`"
        );
        // After an expression, `[` (a subscript) goes with the operators, and `(` (a call) only
        // continues a name: neither helps the reader.
        let subscript = matches!(*d, "`[`" | "`(`");
        !(at_expression_start && expression_start || after_expression && subscript)
    });
    items.sort();
    items.dedup();
    let words: Vec<&str> = items.into_iter().map(|(_, d)| d).collect();
    match words.as_slice() {
        [] => "something else".to_string(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}
