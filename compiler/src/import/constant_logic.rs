//! The rest of the numpy-style operations that fold shape subgraphs: comparisons and boolean
//! logic, `Where`, `Range`, `Expand` and `ReduceProd` on import-time constants. Like those in
//! `constant.rs`, each checks its arguments (shapes, sizes, types) and returns a sentence when
//! they are wrong: the values come from a file.

use crate::import::constant::{
    broadcast_shapes, checked_numel, too_large, Const, MAX_FOLDED_ELEMENTS,
};
use ndarray::{ArrayD, Axis, IxDyn};

/// A comparison that folds (ONNX Equal, Less, Greater, LessOrEqual, GreaterOrEqual).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Lt,
    Gt,
    Le,
    Ge,
}

/// A boolean operation that folds (ONNX And, Or, Xor).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Logic {
    And,
    Or,
    Xor,
}

/// The broadcast shape of `shapes`, within the folding bound.
fn broadcast_all(shapes: &[&[usize]]) -> Result<Vec<usize>, String> {
    let mut out: Vec<usize> = Vec::new();
    for s in shapes {
        out = broadcast_shapes(&out, s).ok_or_else(|| {
            let all: Vec<String> = shapes.iter().map(|s| format!("{s:?}")).collect();
            format!("shapes {} do not broadcast", all.join(", "))
        })?;
    }
    if checked_numel(&out).is_none_or(|n| n > MAX_FOLDED_ELEMENTS) {
        return Err(too_large(&out));
    }
    Ok(out)
}

/// `f` applied elementwise to `a` and `b` broadcast to `shape` (which `broadcast_all` checked).
fn zip2<T: Copy, U>(
    a: &ArrayD<T>,
    b: &ArrayD<T>,
    shape: &[usize],
    f: impl Fn(T, T) -> U,
) -> ArrayD<U> {
    let s = IxDyn(shape);
    let x = a
        .broadcast(s.clone())
        .expect("broadcast_all checked the shapes");
    let y = b
        .broadcast(s.clone())
        .expect("broadcast_all checked the shapes");
    let v: Vec<U> = x.iter().zip(y.iter()).map(|(&p, &q)| f(p, q)).collect();
    ArrayD::from_shape_vec(s, v).expect("one value per element")
}

fn mixed(a: &Const, b: &Const) -> String {
    format!(
        "operands of different element types ({} and {})",
        a.ty().name(),
        b.ty().name()
    )
}

impl Const {
    /// Elementwise comparison with numpy broadcasting; a bool result.
    pub fn compare(op: Cmp, a: &Const, b: &Const) -> Result<Const, String> {
        let shape = broadcast_all(&[a.shape(), b.shape()])?;
        fn cmp<T: PartialOrd>(op: Cmp) -> impl Fn(T, T) -> bool {
            move |p, q| match op {
                Cmp::Eq => p == q,
                Cmp::Lt => p < q,
                Cmp::Gt => p > q,
                Cmp::Le => p <= q,
                Cmp::Ge => p >= q,
            }
        }
        Ok(Const::Bool(match (a, b) {
            (Const::F32(x), Const::F32(y)) => zip2(x, y, &shape, cmp(op)),
            (Const::I64(x), Const::I64(y)) => zip2(x, y, &shape, cmp(op)),
            (Const::I32(x), Const::I32(y)) => zip2(x, y, &shape, cmp(op)),
            (Const::I8(x), Const::I8(y)) => zip2(x, y, &shape, cmp(op)),
            (Const::U8(x), Const::U8(y)) => zip2(x, y, &shape, cmp(op)),
            (Const::Bool(x), Const::Bool(y)) => zip2(x, y, &shape, cmp(op)),
            _ => return Err(mixed(a, b)),
        }))
    }

    /// Elementwise And/Or/Xor of two bool constants, with numpy broadcasting.
    pub fn logic(op: Logic, a: &Const, b: &Const) -> Result<Const, String> {
        let (Const::Bool(x), Const::Bool(y)) = (a, b) else {
            return Err(format!(
                "operands of types {} and {}, where bool is needed",
                a.ty().name(),
                b.ty().name()
            ));
        };
        let shape = broadcast_all(&[x.shape(), y.shape()])?;
        Ok(Const::Bool(zip2(x, y, &shape, |p, q| match op {
            Logic::And => p && q,
            Logic::Or => p || q,
            Logic::Xor => p != q,
        })))
    }

    /// Elementwise negation of a bool constant.
    pub fn not(&self) -> Result<Const, String> {
        match self {
            Const::Bool(a) => Ok(Const::Bool(a.mapv(|v| !v))),
            other => Err(format!(
                "an operand of type {}, where bool is needed",
                other.ty().name()
            )),
        }
    }

    /// ONNX `Where`: `x` where `cond` holds, else `y`, all three broadcast together.
    pub fn select(cond: &Const, x: &Const, y: &Const) -> Result<Const, String> {
        let Const::Bool(c) = cond else {
            return Err(format!(
                "a condition of type {}, where bool is needed",
                cond.ty().name()
            ));
        };
        let shape = broadcast_all(&[c.shape(), x.shape(), y.shape()])?;
        let s = IxDyn(&shape);
        let c = c
            .broadcast(s.clone())
            .expect("broadcast_all checked the shapes");
        fn pick<T: Copy>(
            c: &ndarray::ArrayViewD<bool>,
            x: &ArrayD<T>,
            y: &ArrayD<T>,
            s: &IxDyn,
        ) -> ArrayD<T> {
            let xs = x
                .broadcast(s.clone())
                .expect("broadcast_all checked the shapes");
            let ys = y
                .broadcast(s.clone())
                .expect("broadcast_all checked the shapes");
            let v: Vec<T> = c
                .iter()
                .zip(xs.iter().zip(ys.iter()))
                .map(|(&k, (&p, &q))| if k { p } else { q })
                .collect();
            ArrayD::from_shape_vec(s.clone(), v).expect("one value per element")
        }
        Ok(match (x, y) {
            (Const::F32(p), Const::F32(q)) => Const::F32(pick(&c, p, q, &s)),
            (Const::I64(p), Const::I64(q)) => Const::I64(pick(&c, p, q, &s)),
            (Const::I32(p), Const::I32(q)) => Const::I32(pick(&c, p, q, &s)),
            (Const::I8(p), Const::I8(q)) => Const::I8(pick(&c, p, q, &s)),
            (Const::U8(p), Const::U8(q)) => Const::U8(pick(&c, p, q, &s)),
            (Const::Bool(p), Const::Bool(q)) => Const::Bool(pick(&c, p, q, &s)),
            _ => return Err(mixed(x, y)),
        })
    }

    /// ONNX `Range`: `start, start + delta, …` while before `limit`, from three scalars of one
    /// type; `max(ceil((limit - start) / delta), 0)` elements.
    pub fn range(start: &Const, limit: &Const, delta: &Const) -> Result<Const, String> {
        for (what, c) in [("start", start), ("limit", limit), ("delta", delta)] {
            if c.len() != 1 {
                return Err(format!(
                    "its {what} has shape {:?}, not a scalar",
                    c.shape()
                ));
            }
        }
        let count = |n: f64| -> Result<usize, String> {
            let n = n.max(0.0);
            if !n.is_finite() || n > MAX_FOLDED_ELEMENTS as f64 {
                return Err(too_large(&[n as usize]));
            }
            Ok(n as usize)
        };
        let first = |c: &Const| c.floats()[0];
        macro_rules! ints {
            ($v:ident, $t:ty) => {{
                let (Const::$v(s), Const::$v(l), Const::$v(d)) = (start, limit, delta) else {
                    unreachable!("the types were matched")
                };
                let (s, l, d) = (
                    s.iter().next().copied().unwrap_or_default(),
                    l.iter().next().copied().unwrap_or_default(),
                    d.iter().next().copied().unwrap_or_default(),
                );
                if d == 0 {
                    return Err("its delta is 0".into());
                }
                // Exact ceiling division in i128: no i64 range overflows it.
                let (span, step) = (l as i128 - s as i128, d as i128);
                let n = span / step + i128::from(span % step != 0 && (span < 0) == (step < 0));
                let n = count(n as f64)?;
                let v: Vec<$t> = (0..n)
                    .map(|i| (s as i128 + i as i128 * step) as $t)
                    .collect();
                Const::$v(ArrayD::from_shape_vec(IxDyn(&[n]), v).expect("a vector fits its length"))
            }};
        }
        if start.ty() != limit.ty() || start.ty() != delta.ty() {
            return Err(format!(
                "a start, limit and delta of different types ({}, {}, {})",
                start.ty().name(),
                limit.ty().name(),
                delta.ty().name()
            ));
        }
        Ok(match start {
            Const::F32(_) => {
                let (s, l, d) = (first(start), first(limit), first(delta));
                if d == 0.0 {
                    return Err("its delta is 0".into());
                }
                let n = count(((l - s) / d).ceil() as f64)?;
                let v: Vec<f32> = (0..n).map(|i| s + i as f32 * d).collect();
                Const::F32(
                    ArrayD::from_shape_vec(IxDyn(&[n]), v).expect("a vector fits its length"),
                )
            }
            Const::I64(_) => ints!(I64, i64),
            Const::I32(_) => ints!(I32, i32),
            Const::I8(_) => ints!(I8, i8),
            Const::U8(_) => ints!(U8, u8),
            Const::Bool(_) => return Err("bool bounds".into()),
        })
    }

    /// ONNX `Expand`: broadcast to `shape` (which may itself broadcast against the value's shape).
    pub fn expand(&self, shape: &[i64]) -> Result<Const, String> {
        let mut target = Vec::with_capacity(shape.len());
        for &d in shape {
            target.push(
                usize::try_from(d)
                    .map_err(|_| format!("the shape {shape:?} has a negative dimension"))?,
            );
        }
        let out = broadcast_all(&[self.shape(), &target])?;
        let s = IxDyn(&out);
        macro_rules! grow {
            ($a:ident) => {
                $a.broadcast(s.clone())
                    .expect("broadcast_all checked the shapes")
                    .to_owned()
            };
        }
        Ok(match self {
            Const::F32(a) => Const::F32(grow!(a)),
            Const::I64(a) => Const::I64(grow!(a)),
            Const::I32(a) => Const::I32(grow!(a)),
            Const::I8(a) => Const::I8(grow!(a)),
            Const::U8(a) => Const::U8(grow!(a)),
            Const::Bool(a) => Const::Bool(grow!(a)),
        })
    }

    /// ONNX `ReduceProd` over `axes` (sorted, distinct, in range), keeping them as size 1 when
    /// `keepdims`; integers wrap.
    pub fn reduce_prod(&self, axes: &[usize], keepdims: bool) -> Result<Const, String> {
        macro_rules! prod {
            ($a:ident, $one:expr, $mul:expr) => {{
                let mut r = $a.clone();
                for &ax in axes.iter().rev() {
                    r = r.fold_axis(Axis(ax), $one, |&acc, &v| $mul(acc, v));
                    if keepdims {
                        r.insert_axis_inplace(Axis(ax));
                    }
                }
                r
            }};
        }
        Ok(match self {
            Const::F32(a) => Const::F32(prod!(a, 1.0, |p: f32, q: f32| p * q)),
            Const::I64(a) => Const::I64(prod!(a, 1, i64::wrapping_mul)),
            Const::I32(a) => Const::I32(prod!(a, 1, i32::wrapping_mul)),
            Const::I8(a) => Const::I8(prod!(a, 1, i8::wrapping_mul)),
            Const::U8(a) => Const::U8(prod!(a, 1, u8::wrapping_mul)),
            Const::Bool(_) => return Err("a bool operand".into()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn i64s(shape: &[usize], v: &[i64]) -> Const {
        Const::I64(ArrayD::from_shape_vec(IxDyn(shape), v.to_vec()).unwrap())
    }
    fn scalar(v: i64) -> Const {
        i64s(&[], &[v])
    }
    fn bools(c: &Const) -> Vec<bool> {
        match c {
            Const::Bool(a) => a.iter().copied().collect(),
            _ => panic!("not bool"),
        }
    }

    #[test]
    fn comparisons_broadcast_and_give_bools() {
        let a = i64s(&[3], &[1, 2, 3]);
        assert_eq!(
            bools(&Const::compare(Cmp::Lt, &a, &scalar(2)).unwrap()),
            [true, false, false]
        );
        assert_eq!(
            bools(&Const::compare(Cmp::Ge, &a, &scalar(2)).unwrap()),
            [false, true, true]
        );
        assert_eq!(
            bools(&Const::compare(Cmp::Eq, &a, &scalar(3)).unwrap()),
            [false, false, true]
        );
        assert!(Const::compare(Cmp::Eq, &a, &Const::F32(ArrayD::zeros(IxDyn(&[3])))).is_err());
        let t = Const::compare(Cmp::Gt, &a, &scalar(1)).unwrap();
        assert_eq!(bools(&t.not().unwrap()), [true, false, false]);
        let f = Const::compare(Cmp::Le, &a, &scalar(2)).unwrap();
        assert_eq!(
            bools(&Const::logic(Logic::Xor, &t, &f).unwrap()),
            [true, false, true]
        );
        assert!(a.not().is_err());
    }

    #[test]
    fn where_picks_by_condition() {
        let c = Const::compare(Cmp::Lt, &i64s(&[2, 1], &[0, 5]), &scalar(3)).unwrap();
        let w = Const::select(&c, &i64s(&[3], &[1, 2, 3]), &scalar(-1)).unwrap();
        assert_eq!(w.shape(), &[2, 3]);
        assert_eq!(w.ints().unwrap(), vec![1, 2, 3, -1, -1, -1]);
        assert!(Const::select(&scalar(1), &scalar(1), &scalar(1)).is_err());
    }

    #[test]
    fn range_counts_like_onnx() {
        let r = |s, l, d| {
            Const::range(&scalar(s), &scalar(l), &scalar(d))
                .unwrap()
                .ints()
                .unwrap()
        };
        assert_eq!(r(0, 5, 2), vec![0, 2, 4]);
        assert_eq!(r(10, 4, -3), vec![10, 7]);
        assert_eq!(r(3, 3, 1), Vec::<i64>::new());
        assert_eq!(r(5, 0, 1), Vec::<i64>::new());
        assert!(Const::range(&scalar(0), &scalar(5), &scalar(0)).is_err());
        assert!(Const::range(&scalar(0), &scalar(i64::MAX), &scalar(1)).is_err());
        let f = |v: f32| Const::F32(ArrayD::from_elem(IxDyn(&[]), v));
        assert_eq!(
            Const::range(&f(1.0), &f(2.0), &f(0.25)).unwrap().floats(),
            vec![1.0, 1.25, 1.5, 1.75]
        );
    }

    #[test]
    fn expand_and_reduce_prod() {
        let a = i64s(&[3, 1], &[1, 2, 3]);
        let e = a.expand(&[2, 1, 2]).unwrap();
        assert_eq!(e.shape(), &[2, 3, 2]);
        assert!(a.expand(&[2, 2]).is_err());
        assert!(a.expand(&[-1]).is_err());
        let p = i64s(&[2, 3], &[1, 2, 3, 4, 5, 6]);
        assert_eq!(
            p.reduce_prod(&[1], false).unwrap().ints().unwrap(),
            vec![6, 120]
        );
        assert_eq!(p.reduce_prod(&[0, 1], true).unwrap().shape(), &[1, 1]);
        assert_eq!(
            p.reduce_prod(&[0, 1], false).unwrap().ints().unwrap(),
            vec![720]
        );
    }
}
