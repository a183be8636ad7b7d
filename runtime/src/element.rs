//! The element types a `Tensor` holds, as one trait: which `DType` each is, how it goes in and out
//! of a `Tensor`, and the numeric conversions Cast and the integer kernels share.

use crate::tensor::{DType, Tensor};
use half::f16;
use ndarray::ArrayD;

/// An element type of [`Tensor`]. Conversions go through `f64` from floats and through `i128`
/// from integers and bools, so every integer value is carried exactly.
pub trait Elem: Copy + PartialEq + PartialOrd + Default + Send + Sync + 'static {
    const DTYPE: DType;
    /// f16, f32, f64.
    const FLOAT: bool;
    fn wrap(a: ArrayD<Self>) -> Tensor;
    fn view(t: &Tensor) -> Option<&ArrayD<Self>>;
    fn to_f64(self) -> f64;
    /// Integers exactly, bools as 0/1; floats truncate toward zero (NaN is 0).
    fn to_i128(self) -> i128;
    /// Floats round to nearest even; integers truncate toward zero and saturate (NaN is 0);
    /// bool is `v != 0` (NaN is true, as in numpy).
    fn from_f64(v: f64) -> Self;
    /// Integers keep the low bits (two's complement wrap, as numpy's `astype`); floats round to
    /// nearest even; bool is `v != 0`.
    fn from_i128(v: i128) -> Self;
}

/// One element converted as ONNX Cast does (and numpy's `astype`, which its reference uses).
pub fn convert<S: Elem, T: Elem>(v: S) -> T {
    if S::FLOAT {
        T::from_f64(v.to_f64())
    } else {
        T::from_i128(v.to_i128())
    }
}

macro_rules! int_elem {
    ($t:ty, $d:ident) => {
        impl Elem for $t {
            const DTYPE: DType = DType::$d;
            const FLOAT: bool = false;
            fn wrap(a: ArrayD<Self>) -> Tensor {
                Tensor::$d(a)
            }
            fn view(t: &Tensor) -> Option<&ArrayD<Self>> {
                match t {
                    Tensor::$d(a) => Some(a),
                    _ => None,
                }
            }
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn to_i128(self) -> i128 {
                self as i128
            }
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            fn from_i128(v: i128) -> Self {
                v as $t
            }
        }
    };
}
int_elem!(i8, I8);
int_elem!(u8, U8);
int_elem!(i16, I16);
int_elem!(u16, U16);
int_elem!(i32, I32);
int_elem!(u32, U32);
int_elem!(i64, I64);
int_elem!(u64, U64);

macro_rules! float_elem {
    ($t:ty, $d:ident) => {
        impl Elem for $t {
            const DTYPE: DType = DType::$d;
            const FLOAT: bool = true;
            fn wrap(a: ArrayD<Self>) -> Tensor {
                Tensor::$d(a)
            }
            fn view(t: &Tensor) -> Option<&ArrayD<Self>> {
                match t {
                    Tensor::$d(a) => Some(a),
                    _ => None,
                }
            }
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn to_i128(self) -> i128 {
                self as i128
            }
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            fn from_i128(v: i128) -> Self {
                v as $t
            }
        }
    };
}
float_elem!(f32, F32);
float_elem!(f64, F64);

impl Elem for f16 {
    const DTYPE: DType = DType::F16;
    const FLOAT: bool = true;
    fn wrap(a: ArrayD<Self>) -> Tensor {
        Tensor::F16(a)
    }
    fn view(t: &Tensor) -> Option<&ArrayD<Self>> {
        match t {
            Tensor::F16(a) => Some(a),
            _ => None,
        }
    }
    fn to_f64(self) -> f64 {
        self.to_f64()
    }
    fn to_i128(self) -> i128 {
        self.to_f64() as i128
    }
    fn from_f64(v: f64) -> Self {
        f16::from_f64(v)
    }
    fn from_i128(v: i128) -> Self {
        // Every integer that does not overflow f16 is exact in f64, so one rounding happens.
        f16::from_f64(v as f64)
    }
}

impl Elem for bool {
    const DTYPE: DType = DType::Bool;
    const FLOAT: bool = false;
    fn wrap(a: ArrayD<Self>) -> Tensor {
        Tensor::Bool(a)
    }
    fn view(t: &Tensor) -> Option<&ArrayD<Self>> {
        match t {
            Tensor::Bool(a) => Some(a),
            _ => None,
        }
    }
    fn to_f64(self) -> f64 {
        self as u8 as f64
    }
    fn to_i128(self) -> i128 {
        self as i128
    }
    fn from_f64(v: f64) -> Self {
        v != 0.0
    }
    fn from_i128(v: i128) -> Self {
        v != 0
    }
}
