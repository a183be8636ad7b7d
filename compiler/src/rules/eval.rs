//! Evaluating the rule language's expressions (guards, lets, attribute values, constants of a
//! replacement) against what a match bound.

use crate::ir::attr::{Attr, Attrs};
use crate::ir::types::{ElemType, TensorType};
use crate::rules::tensor_fns;
use crate::rules::value::{arith, compare, equal, map, VResult, Value};
use dsl::ast::{self, BinaryOp, Expr, ExprKind, UnaryOp};
use egg::Id;
use ndarray::{ArrayD, IxDyn};
use runtime::{DType, Tensor};
use std::collections::HashMap;
use std::sync::Arc;

/// A value of the matched graph bound to a pattern name.
#[derive(Clone, Debug)]
pub struct Operand {
    pub id: Id,
    pub ty: TensorType,
    pub constant: Option<Arc<Tensor>>,
    pub single_use: bool,
}

/// Everything a match bound, plus the lets computed so far.
#[derive(Clone, Debug, Default)]
pub struct Bindings {
    pub operands: HashMap<String, Operand>,
    pub attrs: HashMap<String, Attr>,
    pub dicts: HashMap<String, Attrs>,
    pub lets: HashMap<String, Value>,
}

pub fn dtype_of(d: ast::DType) -> DType {
    match d {
        ast::DType::F32 => DType::F32,
        ast::DType::I8 => DType::I8,
        ast::DType::U8 => DType::U8,
        ast::DType::I16 => DType::I16,
        ast::DType::I32 => DType::I32,
    }
}

/// The code range of a storage type (`(0, 0)` for f32, which has none: `qmin(x)` of a float
/// value compares as 0 rather than failing the guard).
fn storage_range(d: DType) -> (i64, i64) {
    match d {
        DType::F32 => (0, 0),
        q => {
            let (lo, hi) = runtime::qops::qrange(q);
            (lo as i64, hi as i64)
        }
    }
}

impl Bindings {
    fn operand(&self, e: &Expr) -> VResult<&Operand> {
        match &e.kind {
            ExprKind::Var(v) => self
                .operands
                .get(v)
                .ok_or_else(|| format!("`{v}` is not a value of the pattern")),
            _ => Err("expected the name of a pattern value".into()),
        }
    }

    fn var(&self, name: &str) -> VResult<Value> {
        if let Some(v) = self.lets.get(name) {
            return Ok(v.clone());
        }
        if let Some(a) = self.attrs.get(name) {
            return Value::from_attr(a);
        }
        if let Some(o) = self.operands.get(name) {
            return match &o.constant {
                Some(t) => Ok(Value::from_tensor(t)),
                None => Err(format!("`{name}` is not a constant")),
            };
        }
        if self.dicts.contains_key(name) {
            return Err(format!("`{name}` is an attribute dictionary, not a value"));
        }
        Err(format!("`{name}` is not bound"))
    }

    /// Evaluates an expression.
    pub fn eval(&self, e: &Expr) -> VResult<Value> {
        match &e.kind {
            ExprKind::Var(v) => self.var(v),
            ExprKind::Int(i) => Ok(Value::int(*i)),
            ExprKind::Float(f) => Ok(Value::float(*f)),
            ExprKind::Bool(b) => Ok(Value::boolean(*b)),
            ExprKind::Str(s) => Ok(Value::Str(s.clone())),
            ExprKind::DType(d) => Ok(Value::DType(dtype_of(*d))),
            ExprKind::List(items) => {
                let vals: Vec<Value> =
                    items.iter().map(|i| self.eval(i)).collect::<VResult<_>>()?;
                if vals
                    .iter()
                    .all(|v| matches!(v, Value::Bool(a) if a.ndim() == 0))
                    && !vals.is_empty()
                {
                    let b: Vec<bool> = vals.iter().map(|v| v.truth()).collect::<VResult<_>>()?;
                    return Ok(Value::Bool(
                        ArrayD::from_shape_vec(IxDyn(&[b.len()]), b).expect("1-D"),
                    ));
                }
                let mut int = true;
                let mut out = vec![];
                for v in &vals {
                    let (a, i) = v.num()?;
                    if a.ndim() != 0 {
                        return Err("list elements must be single numbers".into());
                    }
                    int &= i;
                    out.push(a[[]]);
                }
                Ok(Value::Num {
                    a: ArrayD::from_shape_vec(IxDyn(&[out.len()]), out).expect("1-D"),
                    int,
                })
            }
            ExprKind::Unary {
                op: UnaryOp::Neg,
                operand,
            } => map(&self.eval(operand)?, |x| -x, true),
            ExprKind::Unary {
                op: UnaryOp::Not,
                operand,
            } => Ok(Value::boolean(!self.eval(operand)?.truth()?)),
            ExprKind::Binary { op, lhs, rhs } => self.binary(*op, lhs, rhs),
            ExprKind::Call { func, args } => self.call(&func.name, args),
            ExprKind::Index { base, index } => {
                let b = self.eval(base)?;
                let i = self.eval(index)?.scalar()?;
                let (a, int) = b.num()?;
                if a.ndim() != 1 {
                    return Err(format!(
                        "only lists and vectors can be indexed, not {}",
                        b.describe()
                    ));
                }
                if i < 0.0 || i.fract() != 0.0 || i as usize >= a.len() {
                    return Err(format!(
                        "index {i} is out of range for a list of {}",
                        a.len()
                    ));
                }
                Ok(Value::Num {
                    a: ArrayD::from_elem(IxDyn(&[]), a[[i as usize]]),
                    int,
                })
            }
            ExprKind::Broadcast { base, axis, rank } => {
                let b = self.eval(base)?;
                let (a, int) = b.num()?;
                let n = a.len();
                if a.ndim() > 1 {
                    return Err(format!(
                        "only a vector can be broadcast along an axis, not {}",
                        b.describe()
                    ));
                }
                let mut shape = vec![1; *rank];
                shape[*axis] = n;
                let v: Vec<f64> = a.iter().copied().collect();
                Ok(Value::Num {
                    a: ArrayD::from_shape_vec(IxDyn(&shape), v).expect("n elements"),
                    int,
                })
            }
        }
    }

    fn binary(&self, op: BinaryOp, lhs: &Expr, rhs: &Expr) -> VResult<Value> {
        match op {
            BinaryOp::And => Ok(Value::boolean(
                self.eval(lhs)?.truth()? && self.eval(rhs)?.truth()?,
            )),
            BinaryOp::Or => Ok(Value::boolean(
                self.eval(lhs)?.truth()? || self.eval(rhs)?.truth()?,
            )),
            _ => {
                let (a, b) = (self.eval(lhs)?, self.eval(rhs)?);
                match op {
                    BinaryOp::Eq => Ok(Value::boolean(equal(&a, &b)?)),
                    BinaryOp::Ne => Ok(Value::boolean(!equal(&a, &b)?)),
                    BinaryOp::Lt => compare(&a, &b, |x, y| x < y),
                    BinaryOp::Le => compare(&a, &b, |x, y| x <= y),
                    BinaryOp::Gt => compare(&a, &b, |x, y| x > y),
                    BinaryOp::Ge => compare(&a, &b, |x, y| x >= y),
                    BinaryOp::Add => arith(&a, &b, |x, y| x + y, true),
                    BinaryOp::Sub => arith(&a, &b, |x, y| x - y, true),
                    BinaryOp::Mul => arith(&a, &b, |x, y| x * y, true),
                    BinaryOp::Div => arith(&a, &b, |x, y| x / y, false),
                    BinaryOp::And | BinaryOp::Or => unreachable!("handled above"),
                }
            }
        }
    }

    fn call(&self, f: &str, args: &[Expr]) -> VResult<Value> {
        let arg = |i: usize| self.eval(&args[i]);
        let quant = |i: usize| -> VResult<(&TensorType, Option<&crate::ir::types::QuantType>)> {
            let o = self.operand(&args[i])?;
            Ok((&o.ty, o.ty.elem.quant()))
        };
        match f {
            "const" => Ok(Value::boolean(
                args.iter()
                    .map(|a| self.operand(a).map(|o| o.constant.is_some()))
                    .collect::<VResult<Vec<_>>>()?
                    .into_iter()
                    .all(|b| b),
            )),
            "single_use" => Ok(Value::boolean(self.operand(&args[0])?.single_use)),
            "rank" => Ok(Value::int(self.operand(&args[0])?.ty.rank() as i64)),
            "shape" => Ok(Value::ints(
                &self
                    .operand(&args[0])?
                    .ty
                    .shape
                    .iter()
                    .map(|&d| d as i64)
                    .collect::<Vec<_>>(),
            )),
            "dtype" => Ok(Value::DType(self.operand(&args[0])?.ty.elem.storage())),
            "scale" | "zero_point" | "axis" => {
                let (t, q) = quant(0)?;
                let q = q.ok_or_else(|| format!("{t} is not quantized"))?;
                Ok(match (f, q.axis) {
                    ("scale", None) => Value::float(q.scales[0] as f64),
                    ("scale", Some(_)) => {
                        Value::floats(&q.scales.iter().map(|&s| s as f64).collect::<Vec<_>>())
                    }
                    ("zero_point", None) => Value::int(q.zero_points[0] as i64),
                    ("zero_point", Some(_)) => {
                        Value::ints(&q.zero_points.iter().map(|&z| z as i64).collect::<Vec<_>>())
                    }
                    (_, a) => Value::int(a.map(|a| a as i64).unwrap_or(-1)),
                })
            }
            "qmin" | "qmax" => {
                let (lo, hi) = storage_range(self.operand(&args[0])?.ty.elem.storage());
                Ok(Value::int(if f == "qmin" { lo } else { hi }))
            }
            "codes" => {
                let (lo, hi) = storage_range(self.operand(&args[0])?.ty.elem.storage());
                if hi - lo > 65535 {
                    return Err("only 8-bit (and 16-bit) types have a table of codes".into());
                }
                Ok(Value::ints(&(lo..=hi).collect::<Vec<_>>()))
            }
            "move_axis" => {
                let int = |i: usize| -> VResult<i64> {
                    let x = arg(i)?.scalar()?;
                    if x.fract() == 0.0 {
                        Ok(x as i64)
                    } else {
                        Err(format!("move_axis takes integers, got {x}"))
                    }
                };
                // Negative axes count from the end, as ONNX's do.
                let (r, a, b) = (int(0)?, int(1)?, int(2)?);
                let axis = |x: i64| if x < 0 { x + r } else { x };
                let (from, to) = (axis(a), axis(b));
                if !(0..r).contains(&from) || !(0..r).contains(&to) {
                    return Err(format!(
                        "move_axis({r}, {a}, {b}): both axes must lie in -{r}..{r}"
                    ));
                }
                let mut perm: Vec<i64> = (0..r).filter(|&i| i != from).collect();
                perm.insert(to as usize, from);
                Ok(Value::ints(&perm))
            }
            "len" => {
                let v = arg(0)?;
                Ok(Value::int(match &v {
                    Value::Num { a, .. } => a.len(),
                    Value::Bool(a) => a.len(),
                    Value::DType(_) => return Err("an element type has no length".into()),
                    Value::Str(s) => s.chars().count(),
                } as i64))
            }
            "all" | "any" => match arg(0)? {
                Value::Bool(a) => Ok(Value::boolean(if f == "all" {
                    a.iter().all(|&b| b)
                } else {
                    a.iter().any(|&b| b)
                })),
                other => Err(format!("{f} needs booleans, got {}", other.describe())),
            },
            "round" => map(&arg(0)?, f64::round_ties_even, true).map(as_int),
            "floor" => map(&arg(0)?, f64::floor, true).map(as_int),
            "abs" => map(&arg(0)?, f64::abs, true),
            "sqrt" => map(&arg(0)?, f64::sqrt, false),
            "exp" => map(&arg(0)?, f64::exp, false),
            "unary_fn" => {
                let name = match arg(0)? {
                    Value::Str(s) => s,
                    other => {
                        return Err(format!(
                            "unary_fn needs a function name, got {}",
                            other.describe()
                        ))
                    }
                };
                let f = runtime::ops::UnaryFn::from_name(&name)
                    .ok_or_else(|| format!("unknown unary function `{name}`"))?;
                let given = arg(1)?;
                let (p, _) = given.num()?;
                let p: Vec<f32> = p.iter().map(|&v| v as f32).collect();
                let p = f.params(&p)?;
                // In f32, as the interpreter evaluates it: a table of the same function. A NaN
                // result comes back as 0, which a table quantizes to the zero point, as
                // `quantize` maps NaN.
                map(
                    &arg(2)?,
                    |v| {
                        let y = f.eval(v as f32, &p);
                        if y.is_nan() {
                            0.0
                        } else {
                            y as f64
                        }
                    },
                    false,
                )
            }
            "sum" => {
                let v = arg(0)?;
                let (a, int) = v.num()?;
                let axes = arg(1)?;
                let (ax, _) = axes.num()?;
                let mut axes: Vec<usize> = ax
                    .iter()
                    .map(|&x| {
                        if x >= 0.0 && (x as usize) < a.ndim() {
                            Ok(x as usize)
                        } else {
                            Err(format!("axis {x} is out of range for {}", v.describe()))
                        }
                    })
                    .collect::<VResult<_>>()?;
                axes.sort_unstable();
                axes.dedup();
                let mut out = a.clone();
                for &x in axes.iter().rev() {
                    out = out.sum_axis(ndarray::Axis(x));
                }
                Ok(Value::Num { a: out, int })
            }
            "lookup" => {
                let (t, tint) = arg(0)?.num().map(|(a, i)| (a.clone(), i))?;
                let (ix, _) = arg(1)?.num().map(|(a, i)| (a.clone(), i))?;
                if t.ndim() != 1 {
                    return Err(format!(
                        "lookup: the table has shape {:?}, not one axis",
                        t.shape()
                    ));
                }
                let n = t.len();
                let mut out = Vec::with_capacity(ix.len());
                for &i in ix.iter() {
                    if i.fract() != 0.0 || i < 0.0 || i >= n as f64 {
                        return Err(format!("lookup: index {i} is outside the table's 0..{n}"));
                    }
                    out.push(t[i as usize]);
                }
                let a = ndarray::ArrayD::from_shape_vec(ix.raw_dim(), out)
                    .map_err(|e| e.to_string())?;
                Ok(Value::Num { a, int: tint })
            }
            "min" => arith(&arg(0)?, &arg(1)?, f64::min, true),
            "max" => arith(&arg(0)?, &arg(1)?, f64::max, true),
            "clamp" => arith(
                &arith(&arg(0)?, &arg(1)?, f64::max, true)?,
                &arg(2)?,
                f64::min,
                true,
            ),
            "fixed_point_multiplier" | "fixed_point_shift" => {
                let m = arg(0)?;
                let (a, _) = m.num()?;
                let mut out = Vec::with_capacity(a.len());
                for &x in a.iter() {
                    // The integer semantics' own definition (shift in −31..=30, tiny
                    // multipliers flushed to zero), so a rule cannot build a requantization
                    // that the verifier or the interpreter would refuse.
                    let (q, s) = runtime::qops::fixed_multiplier(x).map_err(|e| e.to_string())?;
                    out.push(if f == "fixed_point_multiplier" {
                        q as f64
                    } else {
                        s as f64
                    });
                }
                Ok(Value::Num {
                    a: ArrayD::from_shape_vec(a.raw_dim(), out).expect("same shape"),
                    int: true,
                })
            }
            other if tensor_fns::is(other) => {
                let values: Vec<Value> =
                    args.iter().map(|a| self.eval(a)).collect::<VResult<_>>()?;
                tensor_fns::call(other, &values)
            }
            other => Err(format!("unknown builtin `{other}`")),
        }
    }

    /// The element type a replacement's annotation names.
    pub fn elem_type(&self, ann: &ast::TypeAnn) -> VResult<ElemType> {
        match &ann.kind {
            ast::TypeAnnKind::Plain(d) => Ok(ElemType::from_storage(dtype_of(*d))),
            ast::TypeAnnKind::Like(v) => Ok(self
                .operands
                .get(&v.name)
                .ok_or_else(|| format!("`{}` is not a value", v.name))?
                .ty
                .elem
                .clone()),
            ast::TypeAnnKind::Quant {
                storage,
                scale,
                zero_point,
                axis,
            } => {
                let scales = self.eval(scale)?;
                let zps = self.eval(zero_point)?;
                let axis = axis
                    .as_ref()
                    .map(|a| self.eval(a).and_then(|v| v.scalar()))
                    .transpose()?;
                let list =
                    |v: &Value| -> VResult<Vec<f64>> { Ok(v.num()?.0.iter().copied().collect()) };
                Ok(ElemType::Quant(crate::ir::types::QuantType {
                    storage: dtype_of(*storage),
                    scales: list(&scales)?.into_iter().map(|s| s as f32).collect(),
                    zero_points: list(&zps)?.into_iter().map(|z| z as i32).collect(),
                    axis: axis.map(|a| a as usize),
                }))
            }
        }
    }
}

fn as_int(v: Value) -> Value {
    match v {
        Value::Num { a, .. } => Value::Num { a, int: true },
        other => other,
    }
}
