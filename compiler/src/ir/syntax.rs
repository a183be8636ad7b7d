//! The pest grammar of the text IR (`grammar.pest`) and its syntax errors, told in words
//! ("expected `:` or `(`") rather than in pest's rule names.

use crate::diag::{Diagnostic, Span};
use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::Pair;
use pest::Parser;

#[derive(pest_derive::Parser)]
#[grammar = "ir/grammar.pest"]
struct IrParser;

/// Parses a whole file into its `model` pair, or says where and why the text is not IR.
pub(crate) fn parse_tree(text: &str) -> Result<Pair<'_, Rule>, Diagnostic> {
    let mut pairs = IrParser::parse(Rule::file, text).map_err(|e| syntax_error(text, e))?;
    // `file = { SOI ~ model ~ EOI }`: the file pair holds exactly one model pair.
    let file = pairs
        .next()
        .ok_or_else(|| Diagnostic::new("empty parse", Span::new(0, 0), ""))?;
    file.into_inner()
        .find(|p| p.as_rule() == Rule::model)
        .ok_or_else(|| Diagnostic::new("expected `model`", Span::new(0, 0), ""))
}

/// Tokens carry no meaning of their own: the parser skips them.
pub(crate) fn is_token(rule: Rule) -> bool {
    use Rule::*;
    matches!(
        rule,
        kw_model
            | kw_weights
            | kw_weight
            | kw_input
            | kw_return
            | kw_dense
            | kw_tensor
            | kw_axis
            | kw_quant
            | lbrace
            | rbrace
            | lparen
            | rparen
            | langle
            | rangle
            | lbracket
            | rbracket
            | comma
            | colon
            | equals
            | EOI
    )
}

/// What a rule looks like, for "expected …" messages.
fn words(rule: Rule) -> &'static str {
    use Rule::*;
    match rule {
        file | model | kw_model => "`model`",
        weights_clause | kw_weights => "`weights \"file.safetensors\"`",
        weight_decl | kw_weight => "`weight`",
        input_decl | op_decl | local_name => "a value name like `%x`",
        kw_input => "`input`",
        return_stmt | kw_return => "`return`",
        global_name => "a weight name like `@w`",
        op_name => "an op name",
        attr_dict => "attributes `{…}`",
        attr | attr_name => "an attribute name",
        list => "a list `[…]`",
        dense | kw_dense => "`dense<[…]>`",
        tensor_type | kw_tensor => "a type like `tensor<1x3xf32>`",
        dims => "dimensions",
        scalar_type => {
            "an element type (f32, f64, f16, i8, u8, i16, u16, i32, u32, i64, u64, bool)"
        }
        quant_type | kw_quant => "`!quant<…>`",
        per_tensor => "a scale and a zero point",
        per_axis | kw_axis => "`axis`",
        number => "a number",
        boolean => "`true` or `false`",
        string => "a string",
        lbrace => "`{`",
        rbrace => "`}`",
        lparen => "`(`",
        rparen => "`)`",
        langle => "`<`",
        rangle => "`>`",
        lbracket => "`[`",
        rbracket => "`]`",
        comma => "`,`",
        colon => "`:`",
        equals => "`=`",
        EOI => "the end of the file",
        statement => "a statement",
        operands | value_ref => "a value name like `%x` or `@w`",
        attr_value => "an attribute value",
        name_body | name_char => "a name",
        WHITESPACE | COMMENT => "whitespace",
    }
}

/// `a`, `a or b`, `a, b or c`.
fn enumerate(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// The token found at `pos`, as the person would name it, and its byte length.
fn found_at(text: &str, pos: usize) -> (String, usize) {
    let rest = text.get(pos..).unwrap_or("");
    let Some(first) = rest.chars().next() else {
        return ("the end of the file".into(), 0);
    };
    let is_word =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '%' | '@' | '.' | '-' | '!');
    let len = if is_word(first) {
        rest.char_indices()
            .find(|&(_, c)| !is_word(c))
            .map_or(rest.len(), |(i, _)| i)
    } else {
        first.len_utf8()
    };
    let tok = &rest[..len];
    let shown = if first == '\n' || first == '\r' {
        "the end of the line".to_string()
    } else {
        format!("`{tok}`")
    };
    (shown, if first == '\n' { 0 } else { len })
}

fn syntax_error(text: &str, e: pest::error::Error<Rule>) -> Diagnostic {
    let pos = match e.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let (found, len) = found_at(text, pos);
    let span = Span::new(pos, pos + len);
    match &e.variant {
        ErrorVariant::ParsingError { positives, .. } if !positives.is_empty() => {
            let mut expected: Vec<&str> = vec![];
            for &r in positives {
                let w = words(r);
                if !expected.contains(&w) {
                    expected.push(w);
                }
            }
            Diagnostic::new(
                format!(
                    "syntax error: expected {}, found {found}",
                    enumerate(&expected)
                ),
                span,
                "unexpected here",
            )
        }
        ErrorVariant::ParsingError { .. } => Diagnostic::new(
            format!("syntax error: unexpected {found}"),
            span,
            "unexpected here",
        ),
        ErrorVariant::CustomError { message } => {
            Diagnostic::new(format!("syntax error: {message}"), span, "")
        }
    }
}
