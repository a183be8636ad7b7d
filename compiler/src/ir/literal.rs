//! The literals of the text IR turned into values: numbers, strings, attribute values, tensor
//! types and `dense<[…]>` constants, each checked against what it is for.

use crate::diag::{Diagnostic, Span};
use crate::ir::attr::Attr;
use crate::ir::syntax::{is_token, Rule};
use crate::ir::types::{ElemType, QuantType, TensorType};
use crate::ir::verify::check_type;
use ndarray::{ArrayD, IxDyn};
use pest::iterators::Pair;
use runtime::{DType, Tensor};

pub(crate) fn span_of(p: &Pair<'_, Rule>) -> Span {
    Span::new(p.as_span().start(), p.as_span().end())
}

/// The span of a statement without the whitespace and comments pest skipped after its last
/// token (an optional trailing part that is absent leaves them inside the pair).
pub(crate) fn statement_span(p: &Pair<'_, Rule>) -> Span {
    let end = p
        .clone()
        .into_inner()
        .last()
        .map_or(p.as_span().end(), |c| c.as_span().end());
    Span::new(p.as_span().start(), end)
}

/// The children of a pair that carry meaning (tokens left out).
pub(crate) fn children<'i>(p: &Pair<'i, Rule>) -> Vec<Pair<'i, Rule>> {
    p.clone()
        .into_inner()
        .filter(|c| !is_token(c.as_rule()))
        .collect()
}

/// A number as written: `1`, `-2`, `0.5`, `1e-5`, `inf`, `nan`.
fn is_int_text(text: &str) -> bool {
    !text.contains(['.', 'e', 'E', 'i', 'n'])
}

pub(crate) fn int(p: &Pair<'_, Rule>, what: &str) -> Result<i64, Diagnostic> {
    let text = p.as_str();
    if !is_int_text(text) {
        return Err(Diagnostic::new(
            format!("{what} must be an integer, found `{text}`"),
            span_of(p),
            "not an integer",
        ));
    }
    text.parse::<i64>().map_err(|_| {
        Diagnostic::new(
            format!("integer `{text}` is out of range"),
            span_of(p),
            "too large",
        )
    })
}

/// An integer that must fit `lo..=hi` (`what` names it in the message).
fn int_in(
    p: &Pair<'_, Rule>,
    what: &str,
    lo: i64,
    hi: i64,
    range: &str,
) -> Result<i64, Diagnostic> {
    let v = int(p, what)?;
    if v < lo || v > hi {
        return Err(Diagnostic::new(
            format!("{what} {v} does not fit in {range}"),
            span_of(p),
            format!("outside {lo}..={hi}"),
        ));
    }
    Ok(v)
}

/// An f32; integers are fine (`1` is `1.0`), a literal too large for f32 is not.
pub(crate) fn float(p: &Pair<'_, Rule>) -> Result<f32, Diagnostic> {
    let text = p.as_str();
    let v: f32 = text.parse().map_err(|_| {
        Diagnostic::new(
            format!("`{text}` is not a number"),
            span_of(p),
            "not a number",
        )
    })?;
    if v.is_infinite() && !text.contains('i') {
        return Err(Diagnostic::new(
            format!("`{text}` is out of range for f32"),
            span_of(p),
            "too large for f32",
        ));
    }
    Ok(v)
}

/// The text of a string literal, escapes resolved (`\"`, `\\`, `\n`, `\r`, `\t`, `\0`, `\'`,
/// `\u{…}`: what Rust's `{:?}` writes, which is how the printer writes strings).
pub(crate) fn string(p: &Pair<'_, Rule>) -> Result<String, Diagnostic> {
    let raw = p.as_str();
    let inner = raw.get(1..raw.len().saturating_sub(1)).unwrap_or("");
    let base = p.as_span().start() + 1;
    let mut out = String::new();
    let mut chars = inner.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let bad = |len: usize| {
            Diagnostic::new(
                "unknown escape in string",
                Span::new(base + i, base + i + len),
                "not an escape",
            )
        };
        let Some((_, e)) = chars.next() else {
            return Err(bad(1));
        };
        match e {
            '"' => out.push('"'),
            '\\' => out.push('\\'),
            '\'' => out.push('\''),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            '0' => out.push('\0'),
            'u' => {
                let rest = &inner[i + 2..];
                let close = rest.find('}').filter(|_| rest.starts_with('{'));
                let code = close
                    .and_then(|c| u32::from_str_radix(&rest[1..c], 16).ok())
                    .and_then(char::from_u32);
                match (close, code) {
                    (Some(c), Some(ch)) => {
                        out.push(ch);
                        // Skip `{…}`: its chars are all ASCII.
                        for _ in 0..=c {
                            chars.next();
                        }
                    }
                    _ => return Err(bad(2)),
                }
            }
            other => return Err(bad(1 + other.len_utf8())),
        }
    }
    Ok(out)
}

/// An attribute value: a boolean, a string, a number or a list (of integers when every element
/// is an integer, else of floats; `[]` is an empty integer list).
pub(crate) fn attr_value(p: &Pair<'_, Rule>) -> Result<Attr, Diagnostic> {
    match p.as_rule() {
        Rule::boolean => Ok(Attr::Bool(p.as_str() == "true")),
        Rule::string => Ok(Attr::Str(string(p)?)),
        Rule::number if is_int_text(p.as_str()) => Ok(Attr::Int(int(p, "an integer")?)),
        Rule::number => Ok(Attr::Float(float(p)?)),
        _ => {
            let items = children(p);
            if items.iter().all(|n| is_int_text(n.as_str())) {
                Ok(Attr::Ints(
                    items
                        .iter()
                        .map(|n| int(n, "an integer"))
                        .collect::<Result<_, _>>()?,
                ))
            } else {
                Ok(Attr::Floats(
                    items.iter().map(float).collect::<Result<_, _>>()?,
                ))
            }
        }
    }
}

fn storage_type(p: &Pair<'_, Rule>) -> DType {
    // The grammar admits only the names `DType::name` spells.
    DType::from_name(p.as_str()).unwrap_or(DType::F32)
}

fn quant_type(p: &Pair<'_, Rule>) -> Result<QuantType, Diagnostic> {
    let parts = children(p);
    let (Some(storage), Some(params)) = (parts.first(), parts.get(1)) else {
        return Err(Diagnostic::new("malformed quantized type", span_of(p), ""));
    };
    let storage = storage_type(storage);
    let zp = |n: &Pair<'_, Rule>| {
        int_in(n, "zero point", i32::MIN as i64, i32::MAX as i64, "i32").map(|v| v as i32)
    };
    let f = children(params);
    match (params.as_rule(), f.as_slice()) {
        (Rule::per_tensor, [scale, zero]) => Ok(QuantType {
            storage,
            scales: vec![float(scale)?],
            zero_points: vec![zp(zero)?],
            axis: None,
        }),
        (Rule::per_axis, [axis, scales, zeros]) => {
            let axis = int_in(axis, "quantization axis", 0, i64::MAX, "0..")? as usize;
            let scales = children(scales)
                .iter()
                .map(float)
                .collect::<Result<Vec<_>, _>>()?;
            let zero_points = children(zeros)
                .iter()
                .map(zp)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(QuantType {
                storage,
                scales,
                zero_points,
                axis: Some(axis),
            })
        }
        _ => Err(Diagnostic::new("malformed quantized type", span_of(p), "")),
    }
}

/// A tensor type, checked on its own: dimensions that fit in memory, sane quantization.
pub(crate) fn tensor_type(p: &Pair<'_, Rule>) -> Result<TensorType, Diagnostic> {
    let parts = children(p);
    let (Some(dims), Some(elem)) = (parts.first(), parts.get(1)) else {
        return Err(Diagnostic::new("malformed tensor type", span_of(p), ""));
    };
    let mut shape = vec![];
    for d in dims.as_str().split('x').filter(|d| !d.is_empty()) {
        let v: usize = d.parse().map_err(|_| {
            Diagnostic::new(
                format!("dimension {d} is too large"),
                span_of(dims),
                "too large",
            )
        })?;
        shape.push(v);
    }
    let elem = match elem.as_rule() {
        Rule::quant_type => ElemType::Quant(quant_type(elem)?),
        _ => ElemType::from_storage(storage_type(elem)),
    };
    let ty = TensorType::new(shape, elem);
    // Everything downstream multiplies sizes freely: refuse types whose byte size cannot be
    // addressed instead of letting a product overflow later.
    let bytes = ty
        .shape
        .iter()
        .try_fold(ty.elem.storage().size_bytes(), |acc, &d| acc.checked_mul(d));
    if bytes.is_none_or(|b| b > isize::MAX as usize) {
        return Err(Diagnostic::new(
            format!("{ty} is too large to exist"),
            span_of(p),
            "its byte size overflows",
        ));
    }
    if let Some(m) = check_type(&ty) {
        return Err(Diagnostic::new(m, span_of(p), "in this type"));
    }
    Ok(ty)
}

/// The range of an integer storage type (bool: 0 and 1), for dense literals.
fn int_range(d: DType) -> (i128, i128) {
    match d {
        DType::I8 => (i8::MIN as i128, i8::MAX as i128),
        DType::U8 => (0, u8::MAX as i128),
        DType::I16 => (i16::MIN as i128, i16::MAX as i128),
        DType::U16 => (0, u16::MAX as i128),
        DType::U32 => (0, u32::MAX as i128),
        DType::I64 => (i64::MIN as i128, i64::MAX as i128),
        DType::U64 => (0, u64::MAX as i128),
        DType::Bool => (0, 1),
        _ => (i32::MIN as i128, i32::MAX as i128),
    }
}

/// A `dense<[…]>` literal as a tensor of the declared type (quantized types hold their storage
/// integers). Every element is checked; the first bad one is reported, with a count of the rest.
pub(crate) fn dense(p: &Pair<'_, Rule>, ty: &TensorType) -> Result<Tensor, Diagnostic> {
    let list = children(p)
        .into_iter()
        .next()
        .ok_or_else(|| Diagnostic::new("malformed dense literal", span_of(p), ""))?;
    let items = children(&list);
    if items.len() != ty.numel() {
        return Err(Diagnostic::new(
            format!(
                "the dense literal has {} elements but {ty} has {}",
                items.len(),
                ty.numel()
            ),
            span_of(p),
            format!("{} elements", items.len()),
        )
        .with_note("a dense literal lists every element, flat, in row-major order"));
    }
    let dtype = ty.elem.storage();
    let shape = IxDyn(&ty.shape);
    let first_bad = |errs: Vec<Diagnostic>| -> Diagnostic {
        let n = errs.len();
        let mut d = errs
            .into_iter()
            .next()
            .unwrap_or_else(|| Diagnostic::new("bad dense literal", span_of(p), ""));
        match n - 1 {
            0 => {}
            1 => d = d.with_note("1 more element of this literal has a problem"),
            more => {
                d = d.with_note(format!(
                    "{more} more elements of this literal have problems"
                ))
            }
        }
        d
    };
    let shape_err = |_| Diagnostic::new("dense literal does not fit its type", span_of(p), "");
    if dtype == DType::F32 {
        let (vals, errs): (Vec<_>, Vec<_>) = items.iter().map(float).partition(Result::is_ok);
        if !errs.is_empty() {
            return Err(first_bad(
                errs.into_iter().filter_map(Result::err).collect(),
            ));
        }
        let vals: Vec<f32> = vals.into_iter().filter_map(Result::ok).collect();
        return ArrayD::from_shape_vec(shape, vals)
            .map(Tensor::F32)
            .map_err(shape_err);
    }
    if dtype.is_float() {
        // f64 and f16 literals are read as f64 and rounded once to their type.
        let wide = |n: &Pair<'_, Rule>| -> Result<f64, Diagnostic> {
            n.as_str().parse::<f64>().map_err(|_| {
                Diagnostic::new(
                    format!("`{}` is not a number", n.as_str()),
                    span_of(n),
                    "not a number",
                )
            })
        };
        let (vals, errs): (Vec<_>, Vec<_>) = items.iter().map(wide).partition(Result::is_ok);
        if !errs.is_empty() {
            return Err(first_bad(
                errs.into_iter().filter_map(Result::err).collect(),
            ));
        }
        let vals: Vec<f64> = vals.into_iter().filter_map(Result::ok).collect();
        let wide = ArrayD::from_shape_vec(shape, vals).map_err(shape_err)?;
        return Ok(Tensor::F64(wide).cast(dtype));
    }
    let (lo, hi) = int_range(dtype);
    let range = dtype.name();
    let check = |n: &Pair<'_, Rule>| -> Result<i128, Diagnostic> {
        if !is_int_text(n.as_str()) {
            return Err(Diagnostic::new(
                format!(
                    "{} {range} tensor holds integers, found `{}`",
                    if dtype == DType::U8 { "a" } else { "an" },
                    n.as_str()
                ),
                span_of(n),
                "not an integer",
            ));
        }
        let v: i128 = n.as_str().parse().map_err(|_| {
            Diagnostic::new(
                format!("`{}` is not an integer", n.as_str()),
                span_of(n),
                "not an integer",
            )
        })?;
        if v < lo || v > hi {
            return Err(Diagnostic::new(
                format!("element {v} does not fit in {range}"),
                span_of(n),
                format!("outside {lo}..={hi}"),
            ));
        }
        Ok(v)
    };
    let (vals, errs): (Vec<_>, Vec<_>) = items.iter().map(check).partition(Result::is_ok);
    if !errs.is_empty() {
        return Err(first_bad(
            errs.into_iter().filter_map(Result::err).collect(),
        ));
    }
    let vals = vals.into_iter().filter_map(Result::ok);
    // In range by the check above: the casts below are exact.
    runtime::with_dtype!(dtype, T => ArrayD::from_shape_vec(
        shape,
        vals.map(<T as runtime::Elem>::from_i128).collect()
    )
    .map(<T as runtime::Elem>::wrap))
    .map_err(shape_err)
}
