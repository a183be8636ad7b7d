//! Values known at import time (initializers, `Constant` nodes, folded shape arithmetic) and the
//! numpy-style operations that folding ONNX shape subgraphs needs. Every operation checks its
//! arguments first: ndarray panics on bad shapes, and the data here comes from a file.

use ndarray::{ArrayD, Axis, IxDyn};
use runtime::ops::SliceAxis;
use runtime::Tensor;

/// Folding never builds a constant larger than this many elements: a corrupt shape must not make
/// the importer allocate without bound.
pub const MAX_FOLDED_ELEMENTS: usize = 1 << 24;

/// A tensor whose value the importer knows, of the types shape arithmetic folds in (a value used
/// at run time becomes a weight of the same type).
#[derive(Clone, Debug, PartialEq)]
pub enum Const {
    F32(ArrayD<f32>),
    I64(ArrayD<i64>),
    I32(ArrayD<i32>),
    I8(ArrayD<i8>),
    U8(ArrayD<u8>),
    /// Import-time decisions (Dropout's `training_mode`), comparisons in shape subgraphs, masks.
    Bool(ArrayD<bool>),
}

/// Applies `$e` to the array inside a `Const`, whatever its element type.
macro_rules! each {
    ($c:expr, $a:ident => $e:expr) => {
        match $c {
            Const::F32($a) => $e,
            Const::I64($a) => $e,
            Const::I32($a) => $e,
            Const::I8($a) => $e,
            Const::U8($a) => $e,
            Const::Bool($a) => $e,
        }
    };
}

/// Like `each!`, for an expression that yields an array of the same element type (a `Result`).
macro_rules! same {
    ($c:expr, $a:ident => $e:expr) => {
        match $c {
            Const::F32($a) => Const::F32($e?),
            Const::I64($a) => Const::I64($e?),
            Const::I32($a) => Const::I32($e?),
            Const::I8($a) => Const::I8($e?),
            Const::U8($a) => Const::U8($e?),
            Const::Bool($a) => Const::Bool($e?),
        }
    };
}

/// The element types a folded value may have, named as in messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConstType {
    F32,
    I64,
    I32,
    I8,
    U8,
    Bool,
}

impl ConstType {
    pub fn name(self) -> &'static str {
        match self {
            ConstType::F32 => "f32",
            ConstType::I64 => "i64",
            ConstType::I32 => "i32",
            ConstType::I8 => "i8",
            ConstType::U8 => "u8",
            ConstType::Bool => "bool",
        }
    }
}

/// A binary arithmetic op that folds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arith {
    Add,
    Sub,
    Mul,
    Div,
    /// The remainder with the divisor's sign (ONNX Mod, fmod = 0; integers only).
    Mod,
    /// The remainder with the dividend's sign (C fmod; ONNX Mod, fmod = 1).
    Fmod,
}

/// ONNX Slice's bounds along an axis of length `dim`: negative indices count from the end, then
/// `start` and `end` are clamped to `[0, dim]` (step > 0) or to `[0, dim − 1]` and
/// `[-1, dim − 1]` (step < 0, where -1 means "past index 0"). INT_MAX/INT_MIN ends saturate.
pub fn normalize_slice(dim: i64, start: i64, end: i64, step: i64) -> (i64, i64) {
    let wrap = |v: i64| if v < 0 { v.saturating_add(dim) } else { v };
    let (start, end) = (wrap(start), wrap(end));
    if step > 0 {
        (start.clamp(0, dim), end.clamp(0, dim))
    } else {
        (start.clamp(0, (dim - 1).max(0)), end.clamp(-1, dim - 1))
    }
}

impl Const {
    pub fn ty(&self) -> ConstType {
        match self {
            Const::F32(_) => ConstType::F32,
            Const::I64(_) => ConstType::I64,
            Const::I32(_) => ConstType::I32,
            Const::I8(_) => ConstType::I8,
            Const::U8(_) => ConstType::U8,
            Const::Bool(_) => ConstType::Bool,
        }
    }
    pub fn shape(&self) -> &[usize] {
        each!(self, a => a.shape())
    }
    pub fn len(&self) -> usize {
        each!(self, a => a.len())
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A 1-D int64 constant (what `Shape` produces and `Reshape` reads).
    pub fn i64_vec(v: Vec<i64>) -> Const {
        let n = v.len();
        Const::I64(ArrayD::from_shape_vec(IxDyn(&[n]), v).expect("a vector fits its own length"))
    }

    /// The value as an IR tensor (every type a constant may have, the IR holds too).
    pub fn to_tensor(&self) -> Option<Tensor> {
        Some(match self {
            Const::F32(a) => Tensor::F32(a.as_standard_layout().into_owned()),
            Const::I32(a) => Tensor::I32(a.as_standard_layout().into_owned()),
            Const::I8(a) => Tensor::I8(a.as_standard_layout().into_owned()),
            Const::U8(a) => Tensor::U8(a.as_standard_layout().into_owned()),
            Const::I64(a) => Tensor::I64(a.as_standard_layout().into_owned()),
            Const::Bool(a) => Tensor::Bool(a.as_standard_layout().into_owned()),
        })
    }

    /// The elements as integers, for the integer types (shapes, axes, pads, indices).
    pub fn ints(&self) -> Option<Vec<i64>> {
        match self {
            Const::I64(a) => Some(a.iter().copied().collect()),
            Const::I32(a) => Some(a.iter().map(|&v| v as i64).collect()),
            Const::I8(a) => Some(a.iter().map(|&v| v as i64).collect()),
            Const::U8(a) => Some(a.iter().map(|&v| v as i64).collect()),
            Const::Bool(a) => Some(a.iter().map(|&v| v as i64).collect()),
            Const::F32(_) => None,
        }
    }

    /// The elements as f32 (every type converts; used for scales and bounds).
    pub fn floats(&self) -> Vec<f32> {
        match self {
            Const::F32(a) => a.iter().copied().collect(),
            Const::I64(a) => a.iter().map(|&v| v as f32).collect(),
            Const::I32(a) => a.iter().map(|&v| v as f32).collect(),
            Const::I8(a) => a.iter().map(|&v| v as f32).collect(),
            Const::U8(a) => a.iter().map(|&v| v as f32).collect(),
            Const::Bool(a) => a.iter().map(|&v| u8::from(v) as f32).collect(),
        }
    }

    /// The same elements in a new shape with as many elements.
    pub fn reshape(&self, shape: &[usize]) -> Result<Const, String> {
        let n = checked_numel(shape).ok_or_else(|| format!("shape {shape:?} is too large"))?;
        if n != self.len() {
            return Err(format!(
                "cannot reshape {} elements of shape {:?} to {:?}",
                self.len(),
                self.shape(),
                shape
            ));
        }
        Ok(same!(self, a => reshape_array(a, shape)))
    }

    /// Axes permuted: output axis i is input axis `perm[i]`.
    pub fn transpose(&self, perm: &[usize]) -> Result<Const, String> {
        let rank = self.shape().len();
        let mut seen = vec![false; rank];
        if perm.len() != rank
            || perm
                .iter()
                .any(|&p| p >= rank || std::mem::replace(&mut seen[p], true))
        {
            return Err(format!(
                "{perm:?} is not a permutation of the {rank} axes of a value of shape {:?}",
                self.shape()
            ));
        }
        Ok(
            same!(self, a => Ok::<_, String>(a.view().permuted_axes(IxDyn(perm)).as_standard_layout().into_owned())),
        )
    }

    /// numpy `take` along `axis` with `indices` of any shape (negative indices count from the end).
    pub fn gather(
        &self,
        axis: usize,
        indices: &[i64],
        indices_shape: &[usize],
    ) -> Result<Const, String> {
        let shape = self.shape().to_vec();
        let dim = *shape
            .get(axis)
            .ok_or_else(|| format!("axis {axis} is out of range for shape {shape:?}"))?;
        let mut idx = Vec::with_capacity(indices.len());
        for &i in indices {
            let j = if i < 0 { i + dim as i64 } else { i };
            if j < 0 || j >= dim as i64 {
                return Err(format!(
                    "index {i} is out of range for axis {axis} of size {dim}"
                ));
            }
            idx.push(j as usize);
        }
        let mut out_shape = shape[..axis].to_vec();
        out_shape.extend_from_slice(indices_shape);
        out_shape.extend_from_slice(&shape[axis + 1..]);
        Ok(same!(self, a => reshape_array(&a.select(Axis(axis), &idx), &out_shape)))
    }

    /// A strided copy (the `slice` op's semantics), one entry per axis; empty axes allowed.
    pub fn strided(&self, axes: &[SliceAxis]) -> Const {
        use runtime::ops::slice;
        match self {
            Const::F32(a) => Const::F32(slice(a, axes)),
            Const::I64(a) => Const::I64(slice(a, axes)),
            Const::I32(a) => Const::I32(slice(a, axes)),
            Const::I8(a) => Const::I8(slice(a, axes)),
            Const::U8(a) => Const::U8(slice(a, axes)),
            Const::Bool(a) => Const::Bool(slice(a, axes)),
        }
    }

    /// Joins constants of one element type along `axis`.
    pub fn concat(parts: &[&Const], axis: usize) -> Result<Const, String> {
        let first = parts.first().ok_or("concat of nothing")?;
        if let Some(p) = parts.iter().find(|p| p.ty() != first.ty()) {
            return Err(format!(
                "concat mixes {} and {}",
                first.ty().name(),
                p.ty().name()
            ));
        }
        macro_rules! join {
            ($variant:ident) => {{
                let views: Vec<_> = parts
                    .iter()
                    .map(|p| match p {
                        Const::$variant(a) => a.view(),
                        _ => unreachable!("element types were checked above"),
                    })
                    .collect();
                let shapes: Vec<&[usize]> = views.iter().map(|v| v.shape()).collect();
                let joined = ndarray::concatenate(Axis(axis), &views).map_err(|_| {
                    format!("cannot concatenate shapes {shapes:?} along axis {axis}")
                })?;
                Const::$variant(joined.as_standard_layout().into_owned())
            }};
        }
        if parts.iter().any(|p| axis >= p.shape().len()) {
            return Err(format!(
                "axis {axis} is out of range for a value of shape {:?}",
                first.shape()
            ));
        }
        Ok(match first.ty() {
            ConstType::F32 => join!(F32),
            ConstType::I64 => join!(I64),
            ConstType::I32 => join!(I32),
            ConstType::I8 => join!(I8),
            ConstType::U8 => join!(U8),
            ConstType::Bool => join!(Bool),
        })
    }

    /// Element type conversion with numpy's `astype` rules (float to integer truncates toward
    /// zero; out-of-range values saturate, which ONNX leaves undefined).
    pub fn cast(&self, to: ConstType) -> Const {
        // bool goes through u8 (false/true are 0/1) and anything becomes bool by `!= 0`, as in
        // numpy; `as` knows neither.
        if let Const::Bool(a) = self {
            return Const::U8(a.mapv(u8::from)).cast(to);
        }
        macro_rules! conv {
            ($t:ty) => {
                match self {
                    Const::F32(a) => a.mapv(|v| v as $t),
                    Const::I64(a) => a.mapv(|v| v as $t),
                    Const::I32(a) => a.mapv(|v| v as $t),
                    Const::I8(a) => a.mapv(|v| v as $t),
                    Const::U8(a) => a.mapv(|v| v as $t),
                    Const::Bool(_) => unreachable!("bool was converted above"),
                }
            };
        }
        match to {
            ConstType::F32 => Const::F32(conv!(f32)),
            ConstType::I64 => Const::I64(conv!(i64)),
            ConstType::I32 => Const::I32(conv!(i32)),
            ConstType::I8 => Const::I8(conv!(i8)),
            ConstType::U8 => Const::U8(conv!(u8)),
            ConstType::Bool => Const::Bool(conv!(f64).mapv(|v| v != 0.0)),
        }
    }

    /// A tensor of `shape` filled with the single element of `self`.
    pub fn filled(&self, shape: &[usize]) -> Result<Const, String> {
        if checked_numel(shape).is_none_or(|n| n > MAX_FOLDED_ELEMENTS) {
            return Err(too_large(shape));
        }
        if self.len() != 1 {
            return Err(format!("the fill value has {} elements, not 1", self.len()));
        }
        Ok(
            same!(self, a => Ok::<_, String>(ArrayD::from_elem(IxDyn(shape), *a.iter().next().expect("one element")))),
        )
    }

    /// Elementwise arithmetic with numpy broadcasting; integers wrap and divide toward zero.
    pub fn arith(op: Arith, a: &Const, b: &Const) -> Result<Const, String> {
        let shape = broadcast_shapes(a.shape(), b.shape()).ok_or_else(|| {
            format!(
                "shapes {:?} and {:?} do not broadcast",
                a.shape(),
                b.shape()
            )
        })?;
        if checked_numel(&shape).is_none_or(|n| n > MAX_FOLDED_ELEMENTS) {
            return Err(too_large(&shape));
        }
        macro_rules! int {
            ($x:expr, $y:expr) => {
                zip_with($x, $y, &shape, |p, q| match op {
                    Arith::Add => Ok(p.wrapping_add(q)),
                    Arith::Sub => Ok(p.wrapping_sub(q)),
                    Arith::Mul => Ok(p.wrapping_mul(q)),
                    Arith::Div | Arith::Mod | Arith::Fmod if q == 0 => {
                        Err("integer division by zero".to_string())
                    }
                    Arith::Div => Ok(p.wrapping_div(q)),
                    Arith::Fmod => Ok(p.wrapping_rem(q)),
                    Arith::Mod => {
                        let (r, zero) = (p.wrapping_rem(q), Default::default());
                        // Shift a remainder whose sign differs from the divisor's by one divisor.
                        Ok(if r != zero && ((r < zero) != (q < zero)) {
                            r.wrapping_add(q)
                        } else {
                            r
                        })
                    }
                })
            };
        }
        Ok(match (a, b) {
            (Const::F32(x), Const::F32(y)) => Const::F32(zip_with(x, y, &shape, |p, q| {
                Ok(match op {
                    Arith::Add => p + q,
                    Arith::Sub => p - q,
                    Arith::Mul => p * q,
                    Arith::Div => p / q,
                    Arith::Fmod => p % q,
                    Arith::Mod => return Err("mod on floats needs fmod = 1".to_string()),
                })
            })?),
            (Const::I64(x), Const::I64(y)) => Const::I64(int!(x, y)?),
            (Const::I32(x), Const::I32(y)) => Const::I32(int!(x, y)?),
            (Const::I8(x), Const::I8(y)) => Const::I8(int!(x, y)?),
            (Const::U8(x), Const::U8(y)) => Const::U8(int!(x, y)?),
            _ => {
                return Err(format!(
                    "operands of different element types ({} and {})",
                    a.ty().name(),
                    b.ty().name()
                ))
            }
        })
    }
}

pub fn too_large(shape: &[usize]) -> String {
    format!("a constant of shape {shape:?} would have more than the {MAX_FOLDED_ELEMENTS} elements qcc folds at most")
}

/// The product of the dimensions, `None` on overflow.
pub fn checked_numel(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// numpy broadcasting of two shapes, `None` when they do not broadcast.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let rank = a.len().max(b.len());
    let dim = |s: &[usize], i: usize| {
        if i + s.len() < rank {
            1
        } else {
            s[i + s.len() - rank]
        }
    };
    (0..rank)
        .map(|i| match (dim(a, i), dim(b, i)) {
            (x, y) if x == y => Some(x),
            (1, y) => Some(y),
            (x, 1) => Some(x),
            _ => None,
        })
        .collect()
}

fn reshape_array<T: Clone>(a: &ArrayD<T>, shape: &[usize]) -> Result<ArrayD<T>, String> {
    let flat: Vec<T> = a.iter().cloned().collect();
    ArrayD::from_shape_vec(IxDyn(shape), flat)
        .map_err(|_| format!("cannot reshape {:?} to {shape:?}", a.shape()))
}

fn zip_with<T: Copy>(
    a: &ArrayD<T>,
    b: &ArrayD<T>,
    shape: &[usize],
    f: impl Fn(T, T) -> Result<T, String>,
) -> Result<ArrayD<T>, String> {
    let bad = || {
        format!(
            "shapes {:?} and {:?} do not broadcast",
            a.shape(),
            b.shape()
        )
    };
    let x = a.broadcast(IxDyn(shape)).ok_or_else(bad)?;
    let y = b.broadcast(IxDyn(shape)).ok_or_else(bad)?;
    let v: Result<Vec<T>, String> = x.iter().zip(y.iter()).map(|(&p, &q)| f(p, q)).collect();
    ArrayD::from_shape_vec(IxDyn(shape), v?).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn i64s(shape: &[usize], v: &[i64]) -> Const {
        Const::I64(ArrayD::from_shape_vec(IxDyn(shape), v.to_vec()).unwrap())
    }

    #[test]
    fn slices_follow_onnx_clamping() {
        let c = i64s(&[5], &[0, 1, 2, 3, 4]);
        let s = |st, en, sp| {
            let (st, en) = normalize_slice(5, st, en, sp);
            let axis = SliceAxis::new(5, st, en, sp).expect("normalized");
            c.strided(&[axis]).ints().unwrap()
        };
        assert_eq!(s(1, i64::MAX, 1), vec![1, 2, 3, 4]);
        assert_eq!(s(-2, 100, 1), vec![3, 4]);
        assert_eq!(s(-1, i64::MIN, -1), vec![4, 3, 2, 1, 0]);
        assert_eq!(s(0, 5, 2), vec![0, 2, 4]);
        assert_eq!(s(3, 1, 1), Vec::<i64>::new());
        assert_eq!(SliceAxis::new(5, 0, 1, 0), None, "a zero step");
    }

    #[test]
    fn gather_keeps_index_shape() {
        let c = i64s(&[2, 3], &[1, 2, 3, 4, 5, 6]);
        let g = c.gather(1, &[-1], &[]).unwrap();
        assert_eq!(g.shape(), &[2]);
        assert_eq!(g.ints().unwrap(), vec![3, 6]);
        assert!(c.gather(0, &[2], &[]).is_err());
    }

    #[test]
    fn mod_takes_the_divisors_sign_and_fmod_the_dividends() {
        let a = i64s(&[4], &[7, -7, 7, -7]);
        let b = i64s(&[4], &[3, 3, -3, -3]);
        let m = |op| Const::arith(op, &a, &b).unwrap().ints().unwrap();
        assert_eq!(m(Arith::Mod), vec![1, 2, -2, -1]);
        assert_eq!(m(Arith::Fmod), vec![1, -1, 1, -1]);
        assert!(Const::arith(Arith::Mod, &a, &i64s(&[1], &[0])).is_err());
    }

    #[test]
    fn arithmetic_broadcasts_and_refuses_bad_input() {
        let a = i64s(&[2, 1], &[6, 8]);
        let b = i64s(&[2], &[2, -3]);
        assert_eq!(
            Const::arith(Arith::Div, &a, &b).unwrap().ints().unwrap(),
            vec![3, -2, 4, -2]
        );
        assert!(Const::arith(Arith::Div, &a, &i64s(&[], &[0])).is_err());
        assert!(Const::arith(Arith::Add, &a, &i64s(&[3], &[1, 2, 3])).is_ok());
        assert!(Const::arith(Arith::Add, &b, &i64s(&[3], &[1, 2, 3])).is_err());
        assert!(Const::arith(Arith::Add, &b, &Const::F32(ArrayD::zeros(IxDyn(&[2])))).is_err());
    }

    #[test]
    fn shape_operations_check_their_arguments() {
        let c = i64s(&[2, 3], &[1, 2, 3, 4, 5, 6]);
        assert_eq!(
            c.transpose(&[1, 0]).unwrap().ints().unwrap(),
            vec![1, 4, 2, 5, 3, 6]
        );
        assert!(c.transpose(&[0, 0]).is_err());
        assert!(c.transpose(&[0]).is_err());
        assert!(c.reshape(&[4]).is_err());
        assert!(c.reshape(&[usize::MAX, 2]).is_err());
        assert!(Const::concat(&[&c, &i64s(&[1, 2], &[0, 0])], 0).is_err());
        assert_eq!(
            Const::concat(&[&c, &i64s(&[1, 3], &[7, 8, 9])], 0)
                .unwrap()
                .shape(),
            &[3, 3]
        );
        assert!(i64s(&[], &[0]).filled(&[1 << 20, 1 << 20]).is_err());
    }
}
