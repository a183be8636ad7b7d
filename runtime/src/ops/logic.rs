//! Comparisons (Equal, Less, Greater, LessOrEqual, GreaterOrEqual → bool), boolean logic (And,
//! Or, Xor, Not) and Where, on tensors of any element type with numpy broadcasting.

use super::arith::zip_broadcast;
use crate::element::Elem;
use crate::{tensor_each, Tensor};
use ndarray::{ArrayD, IxDyn};

/// A comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Equal,
    Less,
    Greater,
    LessOrEqual,
    GreaterOrEqual,
}

impl CmpOp {
    /// The IR's name of each comparison, in the order of [`CmpOp::ALL`].
    pub const ALL: [(&'static str, CmpOp); 5] = [
        ("equal", CmpOp::Equal),
        ("less", CmpOp::Less),
        ("greater", CmpOp::Greater),
        ("less_or_equal", CmpOp::LessOrEqual),
        ("greater_or_equal", CmpOp::GreaterOrEqual),
    ];
    pub fn from_name(name: &str) -> Option<CmpOp> {
        CmpOp::ALL.iter().find(|(n, _)| *n == name).map(|&(_, c)| c)
    }
    /// IEEE comparisons: anything against NaN is false (Equal too).
    fn holds<T: PartialOrd>(self, p: T, q: T) -> bool {
        match self {
            CmpOp::Equal => p == q,
            CmpOp::Less => p < q,
            CmpOp::Greater => p > q,
            CmpOp::LessOrEqual => p <= q,
            CmpOp::GreaterOrEqual => p >= q,
        }
    }
}

/// `a op b` for two tensors of the same element type.
pub fn compare(a: &Tensor, b: &Tensor, op: CmpOp) -> Result<ArrayD<bool>, String> {
    fn typed<T: Elem>(a: &ArrayD<T>, b: &Tensor, op: CmpOp) -> Result<ArrayD<bool>, String> {
        let b = T::view(b).ok_or("operands of different element types")?;
        zip_broadcast(a, b, |p, q| Ok(op.holds(p, q)))
    }
    tensor_each!(a, x => typed(x, b, op))
}

/// A binary boolean op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogicOp {
    And,
    Or,
    Xor,
}

impl LogicOp {
    pub const ALL: [(&'static str, LogicOp); 3] = [
        ("and", LogicOp::And),
        ("or", LogicOp::Or),
        ("xor", LogicOp::Xor),
    ];
    pub fn from_name(name: &str) -> Option<LogicOp> {
        LogicOp::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, c)| c)
    }
}

pub fn logic(a: &ArrayD<bool>, b: &ArrayD<bool>, op: LogicOp) -> Result<ArrayD<bool>, String> {
    zip_broadcast(a, b, |p, q| {
        Ok(match op {
            LogicOp::And => p & q,
            LogicOp::Or => p | q,
            LogicOp::Xor => p ^ q,
        })
    })
}

pub fn not(a: &ArrayD<bool>) -> ArrayD<bool> {
    a.mapv(|v| !v)
}

/// `cond ? x : y` elementwise, the three broadcast together.
pub fn where_(cond: &ArrayD<bool>, x: &Tensor, y: &Tensor) -> Result<Tensor, String> {
    fn typed<T: Elem>(c: &ArrayD<bool>, x: &ArrayD<T>, y: &Tensor) -> Result<Tensor, String> {
        let y = T::view(y).ok_or("the two value operands have different element types")?;
        let xy = super::binary::broadcast_shapes(x.shape(), y.shape());
        let shape = xy
            .and_then(|s| super::binary::broadcast_shapes(c.shape(), &s))
            .ok_or_else(|| {
                format!(
                    "shapes {:?}, {:?} and {:?} do not broadcast",
                    c.shape(),
                    x.shape(),
                    y.shape()
                )
            })?;
        let s = IxDyn(&shape);
        let (c, x, y) = (
            c.broadcast(s.clone()).expect("broadcast shape"),
            x.broadcast(s.clone()).expect("broadcast shape"),
            y.broadcast(s.clone()).expect("broadcast shape"),
        );
        let v: Vec<T> = c
            .iter()
            .zip(x.iter().zip(y.iter()))
            .map(|(&c, (&p, &q))| if c { p } else { q })
            .collect();
        Ok(T::wrap(
            ArrayD::from_shape_vec(s, v).expect("one value per element"),
        ))
    }
    tensor_each!(x, a => typed(cond, a, y))
}
