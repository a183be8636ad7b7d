//! Values of the rule language's expressions: numeric and boolean arrays (a number is rank 0, a
//! list rank 1, a constant tensor any rank) and element types, with NumPy broadcasting.

use crate::ir::attr::{Attr, AttrKind};
use ndarray::{ArrayD, IxDyn, Zip};
use runtime::{DType, Tensor};

/// An expression's value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Numbers; `int` when every element is an integer by type (integer tensors, shapes, ints).
    Num {
        a: ArrayD<f64>,
        int: bool,
    },
    Bool(ArrayD<bool>),
    DType(DType),
    /// A string attribute (a `unary` op's `fn`): only passed on, compared or named in a builtin.
    Str(String),
}

pub type VResult<T> = Result<T, String>;

impl Value {
    pub fn int(v: i64) -> Value {
        Value::Num {
            a: ArrayD::from_elem(IxDyn(&[]), v as f64),
            int: true,
        }
    }
    pub fn float(v: f64) -> Value {
        Value::Num {
            a: ArrayD::from_elem(IxDyn(&[]), v),
            int: false,
        }
    }
    pub fn boolean(v: bool) -> Value {
        Value::Bool(ArrayD::from_elem(IxDyn(&[]), v))
    }
    pub fn ints(v: &[i64]) -> Value {
        Value::Num {
            a: ArrayD::from_shape_vec(IxDyn(&[v.len()]), v.iter().map(|&x| x as f64).collect())
                .expect("1-D"),
            int: true,
        }
    }
    pub fn floats(v: &[f64]) -> Value {
        Value::Num {
            a: ArrayD::from_shape_vec(IxDyn(&[v.len()]), v.to_vec()).expect("1-D"),
            int: false,
        }
    }

    pub fn from_tensor(t: &Tensor) -> Value {
        let shape = IxDyn(t.shape());
        let data = t.to_f64_vec();
        let a = ArrayD::from_shape_vec(shape, data).expect("tensor data fits its shape");
        Value::Num {
            a,
            int: t.dtype() != DType::F32,
        }
    }

    pub fn from_attr(a: &Attr) -> VResult<Value> {
        Ok(match a {
            Attr::Int(v) => Value::int(*v),
            Attr::Float(v) => Value::float(*v as f64),
            Attr::Bool(v) => Value::boolean(*v),
            Attr::Ints(v) => Value::ints(v),
            Attr::Floats(v) => Value::floats(&v.iter().map(|&x| x as f64).collect::<Vec<_>>()),
            Attr::Str(s) => Value::Str(s.clone()),
        })
    }

    pub fn describe(&self) -> String {
        match self {
            Value::Num { a, int } if a.ndim() == 0 => {
                format!("{} {}", if *int { "integer" } else { "number" }, a[[]])
            }
            Value::Num { a, .. } => format!("array of shape {:?}", a.shape()),
            Value::Bool(a) if a.ndim() == 0 => format!("boolean {}", a[[]]),
            Value::Bool(a) => format!("boolean array of shape {:?}", a.shape()),
            Value::DType(d) => format!("element type {d}"),
            Value::Str(s) => format!("string {s:?}"),
        }
    }

    pub fn num(&self) -> VResult<(&ArrayD<f64>, bool)> {
        match self {
            Value::Num { a, int } => Ok((a, *int)),
            other => Err(format!("expected a number, got {}", other.describe())),
        }
    }

    /// The truth of a guard: a boolean array is true when every element is.
    pub fn truth(&self) -> VResult<bool> {
        match self {
            Value::Bool(a) => Ok(a.iter().all(|&b| b)),
            other => Err(format!("expected a boolean, got {}", other.describe())),
        }
    }

    pub fn scalar(&self) -> VResult<f64> {
        let (a, _) = self.num()?;
        if a.len() != 1 {
            return Err(format!("expected a single number, got {}", self.describe()));
        }
        Ok(*a.iter().next().expect("one element"))
    }

    /// Converts to an attribute of the given kind.
    pub fn to_attr(&self, kind: AttrKind) -> VResult<Attr> {
        let as_int = |x: f64| -> VResult<i64> {
            if x.fract() == 0.0 && x.abs() < 9.0e15 {
                Ok(x as i64)
            } else {
                Err(format!("{x} is not an integer"))
            }
        };
        match (kind, self) {
            (AttrKind::Bool, Value::Bool(a)) if a.len() == 1 => {
                Ok(Attr::Bool(*a.iter().next().expect("one")))
            }
            (AttrKind::Int, v @ Value::Num { .. }) => Ok(Attr::Int(as_int(v.scalar()?)?)),
            (AttrKind::Float, v @ Value::Num { .. }) => Ok(Attr::Float(v.scalar()? as f32)),
            (AttrKind::Ints, Value::Num { a, .. }) if a.ndim() <= 1 => Ok(Attr::Ints(
                a.iter().map(|&x| as_int(x)).collect::<VResult<_>>()?,
            )),
            (AttrKind::Floats, Value::Num { a, .. }) if a.ndim() <= 1 => {
                Ok(Attr::Floats(a.iter().map(|&x| x as f32).collect()))
            }
            (AttrKind::Str, Value::Str(s)) => Ok(Attr::Str(s.clone())),
            (k, v) => Err(format!("cannot use {} as {}", v.describe(), k.a_name())),
        }
    }

    /// A constant tensor: integers become i32, everything else f32.
    pub fn to_tensor(&self) -> VResult<Tensor> {
        match self {
            Value::Num { a, int: true } => {
                if a.iter()
                    .any(|&x| x < i32::MIN as f64 || x > i32::MAX as f64)
                {
                    return Err("an integer constant does not fit in i32".into());
                }
                Ok(Tensor::I32(a.mapv(|x| x as i32)))
            }
            Value::Num { a, int: false } => Ok(Tensor::F32(a.mapv(|x| x as f32))),
            other => Err(format!("{} is not a tensor", other.describe())),
        }
    }
}

/// The two arrays as views of their common NumPy-broadcast shape (nothing is copied).
fn broadcast_views<'a, A, B>(
    a: &'a ArrayD<A>,
    b: &'a ArrayD<B>,
) -> VResult<(ndarray::ArrayViewD<'a, A>, ndarray::ArrayViewD<'a, B>)> {
    let shape = crate::ir::infer::broadcast(a.shape(), b.shape()).ok_or_else(|| {
        format!(
            "shapes {:?} and {:?} do not broadcast",
            a.shape(),
            b.shape()
        )
    })?;
    Ok((
        a.broadcast(IxDyn(&shape)).ok_or("broadcast failed")?,
        b.broadcast(IxDyn(&shape)).ok_or("broadcast failed")?,
    ))
}

/// Element-wise arithmetic.
pub fn arith(x: &Value, y: &Value, f: impl Fn(f64, f64) -> f64, keeps_int: bool) -> VResult<Value> {
    let ((a, ia), (b, ib)) = (x.num()?, y.num()?);
    // Rules fold whole weights here (a BatchNorm into a convolution): one pass into the result,
    // no broadcast copies of the operands.
    let out = if a.shape() == b.shape() {
        Zip::from(a).and(b).map_collect(|&p, &q| f(p, q))
    } else {
        let (a, b) = broadcast_views(a, b)?;
        Zip::from(&a).and(&b).map_collect(|&p, &q| f(p, q))
    };
    Ok(Value::Num {
        a: out,
        int: ia && ib && keeps_int,
    })
}

/// Element-wise comparison.
pub fn compare(x: &Value, y: &Value, f: impl Fn(f64, f64) -> bool) -> VResult<Value> {
    let ((a, _), (b, _)) = (x.num()?, y.num()?);
    let (a, b) = broadcast_views(a, b)?;
    Ok(Value::Bool(
        Zip::from(&a).and(&b).map_collect(|&p, &q| f(p, q)),
    ))
}

/// Whole-value equality: same element type, or shapes that broadcast with every element equal.
pub fn equal(x: &Value, y: &Value) -> VResult<bool> {
    match (x, y) {
        (Value::DType(a), Value::DType(b)) => Ok(a == b),
        (Value::Str(a), Value::Str(b)) => Ok(a == b),
        (Value::Bool(a), Value::Bool(b)) => {
            Ok(broadcast_views(a, b).map(|(a, b)| a == b).unwrap_or(false))
        }
        (Value::Num { .. }, Value::Num { .. }) => Ok(compare(x, y, |p, q| p == q)
            .map(|v| v.truth().unwrap_or(false))
            .unwrap_or(false)),
        (a, b) => Err(format!(
            "cannot compare {} with {}",
            a.describe(),
            b.describe()
        )),
    }
}

/// Element-wise unary function.
pub fn map(x: &Value, f: impl Fn(f64) -> f64, keeps_int: bool) -> VResult<Value> {
    let (a, int) = x.num()?;
    Ok(Value::Num {
        a: a.mapv(f),
        int: int && keeps_int,
    })
}
