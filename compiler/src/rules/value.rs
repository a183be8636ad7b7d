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
    } else if let Some(out) = along_one_run(a, b, &f) {
        out
    } else if let Some(out) = along_one_run(b, a, &|q, p| f(p, q)) {
        out
    } else {
        let (a, b) = broadcast_views(a, b)?;
        Zip::from(&a).and(&b).map_collect(|&p, &q| f(p, q))
    };
    Ok(Value::Num {
        a: out,
        int: ia && ib && keeps_int,
    })
}

/// `f(a, b)` when `a` has the broadcast shape and `b` varies along one run of `a`'s axes only
/// (its shape, aligned to `a`'s, is 1 outside the run and `a`'s size within it), both in standard
/// layout: `a` is then `[outer, run, inner]` and `b` is `[run]`, and each `b` value meets a
/// contiguous block of `inner` values of `a`. This is a weight scaled per output channel
/// (`w * s[:, 1, 1, 1]`, folding a BatchNorm): a strided broadcast walk indexes every element
/// through its dynamic shape, 15 ns per weight, most of ResNet-18's simplification.
fn along_one_run(
    a: &ArrayD<f64>,
    b: &ArrayD<f64>,
    f: &impl Fn(f64, f64) -> f64,
) -> Option<ArrayD<f64>> {
    let (sa, sb) = (a.shape(), b.shape());
    if sb.len() > sa.len() {
        return None;
    }
    let (ad, bd) = (a.as_slice()?, b.as_slice()?);
    // b's shape aligned to a's rank (NumPy pads on the left).
    let pad = sa.len() - sb.len();
    let dim_b = |k: usize| if k < pad { 1 } else { sb[k - pad] };
    let first = (0..sa.len()).find(|&k| dim_b(k) != 1).unwrap_or(sa.len());
    let end = (first..sa.len())
        .find(|&k| dim_b(k) == 1)
        .unwrap_or(sa.len());
    if (first..end).any(|k| dim_b(k) != sa[k]) || (end..sa.len()).any(|k| dim_b(k) != 1) {
        return None;
    }
    let inner: usize = sa[end..].iter().product();
    let run: usize = sa[first..end].iter().product();
    debug_assert_eq!(bd.len(), run);
    let mut out = Vec::with_capacity(ad.len());
    if !ad.is_empty() {
        for block in ad.chunks_exact(run * inner) {
            for (rows, &q) in block.chunks_exact(inner).zip(bd) {
                out.extend(rows.iter().map(|&p| f(p, q)));
            }
        }
    }
    ArrayD::from_shape_vec(IxDyn(sa), out).ok()
}

/// Element-wise comparison.
pub fn compare(x: &Value, y: &Value, f: impl Fn(f64, f64) -> bool) -> VResult<Value> {
    let ((a, _), (b, _)) = (x.num()?, y.num()?);
    let (a, b) = broadcast_views(a, b)?;
    Ok(Value::Bool(
        Zip::from(&a).and(&b).map_collect(|&p, &q| f(p, q)),
    ))
}

/// Whole-value equality: same element type, or the same shape with every element equal, a
/// number standing for a value of any shape. Two lists of different lengths differ even where
/// they would broadcast: `shape(r) == shape(x)` must not hold for shapes [1, 1] and [1].
pub fn equal(x: &Value, y: &Value) -> VResult<bool> {
    let rank = |v: &Value| match v {
        Value::Num { a, .. } => a.ndim(),
        Value::Bool(a) => a.ndim(),
        _ => 0,
    };
    let shape = |v: &Value| match v {
        Value::Num { a, .. } => a.shape().to_vec(),
        Value::Bool(a) => a.shape().to_vec(),
        _ => vec![],
    };
    if rank(x) > 0 && rank(y) > 0 && shape(x) != shape(y) {
        return Ok(false);
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A shape of rank 0–4 and a second shape broadcasting against it: each axis kept or made 1,
    /// some leading axes dropped, and sometimes the two swapped.
    fn shapes() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
        prop::collection::vec(0usize..4, 0..5).prop_flat_map(|a| {
            let n = a.len();
            (
                Just(a),
                prop::collection::vec(any::<bool>(), n),
                0..=n,
                any::<bool>(),
            )
                .prop_map(|(a, keep, drop, swap)| {
                    let b: Vec<usize> = a
                        .iter()
                        .zip(&keep)
                        .map(|(&d, &k)| if k { d } else { 1 })
                        .skip(drop)
                        .collect();
                    if swap {
                        (b, a)
                    } else {
                        (a, b)
                    }
                })
        })
    }

    fn counting(shape: &[usize], from: f64) -> Value {
        let n: usize = shape.iter().product();
        Value::Num {
            a: ArrayD::from_shape_vec(IxDyn(shape), (0..n).map(|i| from + i as f64).collect())
                .unwrap(),
            int: true,
        }
    }

    /// Lists of different lengths differ (shapes [1, 1] and [1] are not one shape); a number
    /// still stands for every element of a list.
    #[test]
    fn equality_needs_one_shape_unless_a_side_is_a_number() {
        let (a, b) = (Value::ints(&[1, 1]), Value::ints(&[1]));
        assert!(!equal(&a, &b).unwrap());
        assert!(equal(&a, &Value::int(1)).unwrap());
        assert!(equal(&a, &Value::ints(&[1, 1])).unwrap());
        assert!(!equal(&a, &Value::ints(&[1, 2])).unwrap());
    }

    proptest! {
        /// The one-run fast path computes what the strided broadcast walk computes.
        #[test]
        fn arith_matches_broadcast_walk((sa, sb) in shapes()) {
            let (x, y) = (counting(&sa, 1.0), counting(&sb, 1000.0));
            let f = |p: f64, q: f64| p * 3.0 - q;
            let got = arith(&x, &y, f, true).unwrap();
            let (a, b) = broadcast_views(x.num().unwrap().0, y.num().unwrap().0).unwrap();
            let want = Zip::from(&a).and(&b).map_collect(|&p, &q| f(p, q));
            prop_assert_eq!(got, Value::Num { a: want, int: true });
        }
    }
}
