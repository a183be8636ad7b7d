//! Gemm and MatMul → `gemm` and `matmul`.

use super::attrs;
use crate::diag::Result;
use crate::import::context::{Importer, Val};
use crate::import::node::OnnxNode;
use crate::ir::{Attr, OpKind};

pub fn gemm(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    // Before opset 7, `broadcast = 1` allowed C to broadcast; qcc always broadcasts C the
    // unidirectional way, which is the same result for every C either setting accepts.
    n.no_effect(&["broadcast"]);
    let a = cx.operand(n, 0, "A")?;
    let b = cx.operand(n, 1, "B")?;
    let c = cx.operand_opt(n, 2)?;
    let flag = |name: &str| -> Result<bool> {
        match n.int_or(name, 0)? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(n.fail(format!("has {name} = {v}; it must be 0 or 1"))),
        }
    };
    let a_ = attrs([
        ("alpha", Attr::Float(n.float_or("alpha", 1.0)?)),
        ("beta", Attr::Float(n.float_or("beta", 1.0)?)),
        ("trans_a", Attr::Bool(flag("transA")?)),
        ("trans_b", Attr::Bool(flag("transB")?)),
    ]);
    let mut ops = vec![a, b];
    ops.extend(c);
    let out = n.output()?;
    let id = cx.emit(n, out, OpKind::Gemm, a_, &ops)?;
    cx.define(out, Val::Node(id));
    Ok(())
}

pub fn matmul(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    let a = cx.operand(n, 0, "A")?;
    let b = cx.operand(n, 1, "B")?;
    let out = n.output()?;
    let id = cx.emit(n, out, OpKind::MatMul, attrs([]), &[a, b])?;
    cx.define(out, Val::Node(id));
    Ok(())
}
