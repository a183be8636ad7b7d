//! The value every op consumes and produces: an n-dimensional array of one of the IR's storage types.

use ndarray::{ArrayD, IxDyn};
use std::fmt;

/// Storage type of a tensor's elements. Quantized tensors are stored as `I8`, `U8` or `I32`;
/// their scale and zero point live in the IR type, not in the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    F32,
    I8,
    U8,
    I32,
}

impl DType {
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::I8 => "i8",
            DType::U8 => "u8",
            DType::I32 => "i32",
        }
    }
    pub fn size_bytes(self) -> usize {
        match self {
            DType::F32 | DType::I32 => 4,
            DType::I8 | DType::U8 => 1,
        }
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
}

macro_rules! each {
    ($t:expr, $a:ident => $e:expr) => {
        match $t {
            Tensor::F32($a) => $e,
            Tensor::I8($a) => $e,
            Tensor::U8($a) => $e,
            Tensor::I32($a) => $e,
        }
    };
}

impl Tensor {
    pub fn dtype(&self) -> DType {
        match self {
            Tensor::F32(_) => DType::F32,
            Tensor::I8(_) => DType::I8,
            Tensor::U8(_) => DType::U8,
            Tensor::I32(_) => DType::I32,
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
    /// A zero-filled tensor.
    pub fn zeros(dtype: DType, shape: &[usize]) -> Tensor {
        let s = IxDyn(shape);
        match dtype {
            DType::F32 => Tensor::F32(ArrayD::zeros(s)),
            DType::I8 => Tensor::I8(ArrayD::zeros(s)),
            DType::U8 => Tensor::U8(ArrayD::zeros(s)),
            DType::I32 => Tensor::I32(ArrayD::zeros(s)),
        }
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
    /// The elements as f64, in row-major order (for comparisons and statistics).
    pub fn to_f64_vec(&self) -> Vec<f64> {
        each!(self, a => a.iter().map(|&v| v as f64).collect())
    }
    /// Raw little-endian bytes in row-major order.
    pub fn to_le_bytes(&self) -> Vec<u8> {
        match self {
            Tensor::F32(a) => a.iter().flat_map(|v| v.to_le_bytes()).collect(),
            Tensor::I8(a) => a.iter().map(|&v| v as u8).collect(),
            Tensor::U8(a) => a.iter().copied().collect(),
            Tensor::I32(a) => a.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }
    /// Builds a tensor from little-endian bytes; `None` when the byte count does not fit the shape.
    pub fn from_le_bytes(dtype: DType, shape: &[usize], bytes: &[u8]) -> Option<Tensor> {
        let n: usize = shape.iter().product();
        if bytes.len() != n * dtype.size_bytes() {
            return None;
        }
        let s = IxDyn(shape);
        Some(match dtype {
            DType::F32 => Tensor::F32(
                ArrayD::from_shape_vec(
                    s,
                    bytes
                        .chunks_exact(4)
                        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                        .collect(),
                )
                .ok()?,
            ),
            DType::I32 => Tensor::I32(
                ArrayD::from_shape_vec(
                    s,
                    bytes
                        .chunks_exact(4)
                        .map(|c| i32::from_le_bytes(c.try_into().unwrap()))
                        .collect(),
                )
                .ok()?,
            ),
            DType::I8 => Tensor::I8(
                ArrayD::from_shape_vec(s, bytes.iter().map(|&b| b as i8).collect()).ok()?,
            ),
            DType::U8 => Tensor::U8(ArrayD::from_shape_vec(s, bytes.to_vec()).ok()?),
        })
    }
}

impl From<ArrayD<f32>> for Tensor {
    fn from(a: ArrayD<f32>) -> Self {
        Tensor::F32(a)
    }
}
impl From<ArrayD<i8>> for Tensor {
    fn from(a: ArrayD<i8>) -> Self {
        Tensor::I8(a)
    }
}
impl From<ArrayD<u8>> for Tensor {
    fn from(a: ArrayD<u8>) -> Self {
        Tensor::U8(a)
    }
}
impl From<ArrayD<i32>> for Tensor {
    fn from(a: ArrayD<i32>) -> Self {
        Tensor::I32(a)
    }
}
