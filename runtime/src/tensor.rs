//! The value every op consumes and produces: an n-dimensional array of one of the IR's storage types.

use crate::element::Elem;
use half::f16;
use ndarray::{ArrayD, IxDyn};
use std::fmt;

/// Storage type of a tensor's elements. Quantized tensors are stored as `I8`, `U8` or `I32`;
/// their scale and zero point live in the IR type, not in the value. The others are ONNX's
/// tensor types that models carry along their data path (indices, masks, shapes, half floats).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    F32,
    I8,
    U8,
    I32,
    F64,
    F16,
    I16,
    U16,
    U32,
    I64,
    U64,
    Bool,
}

impl DType {
    /// Every storage type, in declaration order.
    pub const ALL: [DType; 12] = [
        DType::F32,
        DType::I8,
        DType::U8,
        DType::I32,
        DType::F64,
        DType::F16,
        DType::I16,
        DType::U16,
        DType::U32,
        DType::I64,
        DType::U64,
        DType::Bool,
    ];
    /// The IR's spelling (`f32`, `i64`, `bool`, …).
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::I8 => "i8",
            DType::U8 => "u8",
            DType::I32 => "i32",
            DType::F64 => "f64",
            DType::F16 => "f16",
            DType::I16 => "i16",
            DType::U16 => "u16",
            DType::U32 => "u32",
            DType::I64 => "i64",
            DType::U64 => "u64",
            DType::Bool => "bool",
        }
    }
    /// The type spelled `name` in the IR.
    pub fn from_name(name: &str) -> Option<DType> {
        DType::ALL.into_iter().find(|d| d.name() == name)
    }
    pub fn size_bytes(self) -> usize {
        match self {
            DType::I8 | DType::U8 | DType::Bool => 1,
            DType::F16 | DType::I16 | DType::U16 => 2,
            DType::F32 | DType::I32 | DType::U32 => 4,
            DType::F64 | DType::I64 | DType::U64 => 8,
        }
    }
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64 | DType::F16)
    }
    pub fn is_signed_int(self) -> bool {
        matches!(self, DType::I8 | DType::I16 | DType::I32 | DType::I64)
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A dense tensor in standard (row-major, C) layout.
#[derive(Clone, Debug, PartialEq)]
pub enum Tensor {
    F32(ArrayD<f32>),
    I8(ArrayD<i8>),
    U8(ArrayD<u8>),
    I32(ArrayD<i32>),
    F64(ArrayD<f64>),
    F16(ArrayD<f16>),
    I16(ArrayD<i16>),
    U16(ArrayD<u16>),
    U32(ArrayD<u32>),
    I64(ArrayD<i64>),
    U64(ArrayD<u64>),
    Bool(ArrayD<bool>),
}

/// Evaluates `$e` with `$a` bound to the array inside a `Tensor`, whatever its element type
/// (`$e` is compiled once per type, so it may call generic functions).
#[macro_export]
macro_rules! tensor_each {
    ($t:expr, $a:ident => $e:expr) => {
        match $t {
            $crate::Tensor::F32($a) => $e,
            $crate::Tensor::I8($a) => $e,
            $crate::Tensor::U8($a) => $e,
            $crate::Tensor::I32($a) => $e,
            $crate::Tensor::F64($a) => $e,
            $crate::Tensor::F16($a) => $e,
            $crate::Tensor::I16($a) => $e,
            $crate::Tensor::U16($a) => $e,
            $crate::Tensor::U32($a) => $e,
            $crate::Tensor::I64($a) => $e,
            $crate::Tensor::U64($a) => $e,
            $crate::Tensor::Bool($a) => $e,
        }
    };
}

/// Like [`tensor_each!`], for an `$e` that yields an array of the same element type: the result
/// is a `Tensor` of the operand's type (data movement: reshape, transpose, slice, …).
#[macro_export]
macro_rules! tensor_map {
    ($t:expr, $a:ident => $e:expr) => {
        match $t {
            $crate::Tensor::F32($a) => $crate::Tensor::F32($e),
            $crate::Tensor::I8($a) => $crate::Tensor::I8($e),
            $crate::Tensor::U8($a) => $crate::Tensor::U8($e),
            $crate::Tensor::I32($a) => $crate::Tensor::I32($e),
            $crate::Tensor::F64($a) => $crate::Tensor::F64($e),
            $crate::Tensor::F16($a) => $crate::Tensor::F16($e),
            $crate::Tensor::I16($a) => $crate::Tensor::I16($e),
            $crate::Tensor::U16($a) => $crate::Tensor::U16($e),
            $crate::Tensor::U32($a) => $crate::Tensor::U32($e),
            $crate::Tensor::I64($a) => $crate::Tensor::I64($e),
            $crate::Tensor::U64($a) => $crate::Tensor::U64($e),
            $crate::Tensor::Bool($a) => $crate::Tensor::Bool($e),
        }
    };
}

/// Runs `$body` with the type alias `$T` set to the element type of the `DType` `$d`.
#[macro_export]
macro_rules! with_dtype {
    ($d:expr, $T:ident => $body:expr) => {
        match $d {
            $crate::DType::F32 => {
                type $T = f32;
                $body
            }
            $crate::DType::I8 => {
                type $T = i8;
                $body
            }
            $crate::DType::U8 => {
                type $T = u8;
                $body
            }
            $crate::DType::I32 => {
                type $T = i32;
                $body
            }
            $crate::DType::F64 => {
                type $T = f64;
                $body
            }
            $crate::DType::F16 => {
                type $T = $crate::f16;
                $body
            }
            $crate::DType::I16 => {
                type $T = i16;
                $body
            }
            $crate::DType::U16 => {
                type $T = u16;
                $body
            }
            $crate::DType::U32 => {
                type $T = u32;
                $body
            }
            $crate::DType::I64 => {
                type $T = i64;
                $body
            }
            $crate::DType::U64 => {
                type $T = u64;
                $body
            }
            $crate::DType::Bool => {
                type $T = bool;
                $body
            }
        }
    };
}

/// Little-endian byte encoding of one element type.
trait LeBytes: Sized {
    fn put(self, out: &mut Vec<u8>);
    fn take(b: &[u8]) -> Option<Self>;
}
macro_rules! le_bytes {
    ($($t:ty),*) => {$(
        impl LeBytes for $t {
            fn put(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn take(b: &[u8]) -> Option<Self> {
                Some(<$t>::from_le_bytes(b.try_into().ok()?))
            }
        }
    )*};
}
le_bytes!(f32, f64, f16, i8, u8, i16, u16, i32, u32, i64, u64);
impl LeBytes for bool {
    fn put(self, out: &mut Vec<u8>) {
        out.push(self as u8);
    }
    fn take(b: &[u8]) -> Option<Self> {
        // Any other byte is not a bool (numpy and safetensors write 0 and 1).
        match b {
            [0] => Some(false),
            [1] => Some(true),
            _ => None,
        }
    }
}

impl Tensor {
    pub fn dtype(&self) -> DType {
        tensor_each!(self, a => elem_dtype(a))
    }
    pub fn shape(&self) -> &[usize] {
        tensor_each!(self, a => a.shape())
    }
    pub fn len(&self) -> usize {
        tensor_each!(self, a => a.len())
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// A zero-filled tensor (`false` for bool).
    pub fn zeros(dtype: DType, shape: &[usize]) -> Tensor {
        with_dtype!(dtype, T => T::wrap(ArrayD::from_elem(IxDyn(shape), T::default())))
    }
    pub fn as_f32(&self) -> Option<&ArrayD<f32>> {
        match self {
            Tensor::F32(a) => Some(a),
            _ => None,
        }
    }
    pub fn into_f32(self) -> Option<ArrayD<f32>> {
        match self {
            Tensor::F32(a) => Some(a),
            _ => None,
        }
    }
    /// The elements as f64, in row-major order (for comparisons and statistics; bools are 0/1).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        // A standard-layout array as a slice: iterating a dynamic-rank array indexes each element
        // through its shape, several times slower on the millions of a model's weights.
        tensor_each!(self, a => match a.as_slice() {
            Some(s) => s.iter().map(|&v| v.to_f64()).collect(),
            None => a.iter().map(|&v| v.to_f64()).collect(),
        })
    }
    /// Raw little-endian bytes in row-major order (bools one byte each, 0 or 1).
    pub fn to_le_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len() * self.dtype().size_bytes());
        tensor_each!(self, a => match a.as_slice() {
            Some(s) => s.iter().for_each(|&v| v.put(&mut out)),
            None => a.iter().for_each(|&v| v.put(&mut out)),
        });
        out
    }
    /// Builds a tensor from little-endian bytes; `None` when the byte count does not fit the shape
    /// (or a bool byte is neither 0 nor 1).
    pub fn from_le_bytes(dtype: DType, shape: &[usize], bytes: &[u8]) -> Option<Tensor> {
        let n: usize = shape.iter().product();
        let size = dtype.size_bytes();
        if bytes.len() != n.checked_mul(size)? {
            return None;
        }
        with_dtype!(dtype, T => {
            let v: Option<Vec<T>> = bytes.chunks_exact(size).map(T::take).collect();
            Some(T::wrap(ArrayD::from_shape_vec(IxDyn(shape), v?).ok()?))
        })
    }
    /// This tensor's elements converted to `to` as ONNX Cast does ([`crate::element::convert`]).
    pub fn cast(&self, to: DType) -> Tensor {
        with_dtype!(to, T => T::wrap(tensor_each!(self, a => a.mapv(crate::element::convert::<_, T>))))
    }
}

fn elem_dtype<T: Elem>(_: &ArrayD<T>) -> DType {
    T::DTYPE
}

macro_rules! from_array {
    ($($t:ty),*) => {$(
        impl From<ArrayD<$t>> for Tensor {
            fn from(a: ArrayD<$t>) -> Self {
                <$t as Elem>::wrap(a)
            }
        }
    )*};
}
from_array!(f32, f64, f16, i8, u8, i16, u16, i32, u32, i64, u64, bool);
