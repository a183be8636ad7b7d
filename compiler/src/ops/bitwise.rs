//! `bitwise {fn}`: ONNX BitwiseAnd, BitwiseOr, BitwiseXor, BitwiseNot and BitShift on integer
//! tensors (numpy broadcasting; BitShift as opset 28 defines it, on any integer type). Never
//! quantized, no kernel: the backend refuses a library holding one by name.

use super::{emit, OpFamily};
use crate::diag::Result;
use crate::export::graph::{self, Graph};
use crate::import::context::Importer;
use crate::import::node::OnnxNode;
use crate::ir::attr::{Attr, AttrKind};
use crate::ir::infer::broadcast;
use crate::ir::op::{AttrSpec, Op, OperandSpec};
use crate::ir::types::{ElemType, TensorType};
use runtime::ops::{bitwise, bitwise_not, BitOp};
use runtime::{DType, Tensor};

pub struct Bitwise;

/// The ONNX op of each IR `fn` (BitShift's two directions share one ONNX op).
const ONNX: &[(&str, &str)] = &[
    ("BitwiseAnd", "and"),
    ("BitwiseOr", "or"),
    ("BitwiseXor", "xor"),
    ("BitwiseNot", "not"),
    ("BitShift", "shift_left"),
    ("BitShift", "shift_right"),
];

/// `None` for `not`, the one-operand form.
fn bit_op(op: &Op) -> std::result::Result<Option<BitOp>, String> {
    let f = op.str_of("fn")?;
    if f == "not" {
        return Ok(None);
    }
    BitOp::from_name(&f).map(Some).ok_or_else(|| {
        format!("attribute `fn` = \"{f}\" is not and, or, xor, not, shift_left or shift_right")
    })
}

fn integer(what: &str, t: &TensorType) -> std::result::Result<DType, String> {
    let d = t.elem.storage();
    if t.elem.quant().is_some() || d.is_float() || d == DType::Bool {
        return Err(format!(
            "operand `{what}` must be a plain integer tensor, got {t}"
        ));
    }
    Ok(d)
}

impl OpFamily for Bitwise {
    fn name(&self) -> &'static str {
        "bitwise"
    }
    fn operands(&self) -> OperandSpec {
        OperandSpec {
            names: &["a", "b"],
            optional: 1,
            variadic: false,
        }
    }
    fn attrs(&self) -> &'static [AttrSpec] {
        &[AttrSpec {
            name: "fn",
            kind: AttrKind::Str,
            default: None,
            required: true,
            doc: "and, or, xor, shift_left, shift_right (a, b) or not (a alone)",
        }]
    }
    fn doc(&self) -> &'static str {
        "a bitwise op on integers, broadcasting; a shift out of [0, width) gives the sign fill"
    }

    fn infer(&self, op: &Op, operands: &[&TensorType]) -> std::result::Result<TensorType, String> {
        let a = operands[0];
        let d = integer("a", a)?;
        if bit_op(op)?.is_none() {
            if operands.len() != 1 {
                return Err("`not` takes one operand".into());
            }
            return Ok(TensorType::new(a.shape.clone(), ElemType::from_storage(d)));
        }
        let b = operands.get(1).ok_or("this `fn` takes two operands")?;
        if integer("b", b)? != d {
            return Err(format!(
                "operands `a` ({a}) and `b` ({b}) have different element types"
            ));
        }
        let shape = broadcast(&a.shape, &b.shape)
            .ok_or_else(|| format!("operands `a` ({a}) and `b` ({b}) do not broadcast"))?;
        Ok(TensorType::new(shape, ElemType::from_storage(d)))
    }

    fn eval(&self, op: &Op, args: &[&Tensor]) -> std::result::Result<Tensor, String> {
        match bit_op(op)? {
            None => bitwise_not(args[0]),
            Some(f) => bitwise(
                args[0],
                args.get(1).ok_or("this `fn` takes two operands")?,
                f,
            ),
        }
    }

    fn onnx_ops(&self) -> &'static [&'static str] {
        &[
            "BitShift",
            "BitwiseAnd",
            "BitwiseNot",
            "BitwiseOr",
            "BitwiseXor",
        ]
    }
    fn import(&self, cx: &mut Importer, n: &OnnxNode) -> Result<()> {
        let f = match n.op_type() {
            "BitShift" => match n.string("direction")?.as_deref() {
                Some("LEFT") => "shift_left",
                Some("RIGHT") => "shift_right",
                other => {
                    return Err(n.fail(format!(
                        "has direction {other:?}; BitShift's is \"LEFT\" or \"RIGHT\""
                    )))
                }
            },
            t => ONNX
                .iter()
                .find(|o| o.0 == t)
                .map(|o| o.1)
                .expect("an onnx_ops entry"),
        };
        let inputs: &[usize] = if f == "not" { &[0] } else { &[0, 1] };
        let a = [("fn".to_string(), Attr::Str(f.into()))]
            .into_iter()
            .collect();
        emit(cx, n, self.name(), a, inputs)
    }
    fn export(
        &self,
        g: &mut Graph,
        op: &Op,
        inputs: Vec<String>,
        out: String,
    ) -> std::result::Result<(), String> {
        let f = op.str_of("fn")?;
        let t = ONNX
            .iter()
            .find(|o| o.1 == f)
            .map(|o| o.0)
            .ok_or("no such `fn`")?;
        let attrs = match f.as_str() {
            "shift_left" => vec![graph::string("direction", "LEFT")],
            "shift_right" => vec![graph::string("direction", "RIGHT")],
            _ => vec![],
        };
        g.node(t, inputs, vec![out], attrs);
        Ok(())
    }
}
