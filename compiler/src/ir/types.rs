//! IR types: `tensor<1x3x224x224xf32>`, with plain or quantized element types.

use runtime::DType;
use std::fmt;

/// Per-tensor or per-axis affine quantization `r = scale·(q − zero_point)` of a storage type.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantType {
    /// The integer storage: `I8`, `U8`, `I16` (activations given 16 bits) or `I32`.
    pub storage: DType,
    /// One scale per tensor (`axis == None`) or one per index of `axis`.
    pub scales: Vec<f32>,
    /// Same length as `scales`.
    pub zero_points: Vec<i32>,
    pub axis: Option<usize>,
}

/// The element type of a tensor.
#[derive(Clone, Debug, PartialEq)]
pub enum ElemType {
    F32,
    I8,
    U8,
    I32,
    /// Any other plain storage type (`f64`, `f16`, `i64`, `bool`, …): values a model carries
    /// along its data path that are never quantized (docs/ir.md, "Element types").
    Other(DType),
    Quant(QuantType),
}

impl ElemType {
    /// How the elements are stored in memory.
    pub fn storage(&self) -> DType {
        match self {
            ElemType::F32 => DType::F32,
            ElemType::I8 => DType::I8,
            ElemType::U8 => DType::U8,
            ElemType::I32 => DType::I32,
            ElemType::Other(d) => *d,
            ElemType::Quant(q) => q.storage,
        }
    }
    pub fn from_storage(d: DType) -> ElemType {
        match d {
            DType::F32 => ElemType::F32,
            DType::I8 => ElemType::I8,
            DType::U8 => ElemType::U8,
            DType::I32 => ElemType::I32,
            other => ElemType::Other(other),
        }
    }
    pub fn is_float(&self) -> bool {
        matches!(self, ElemType::F32)
    }
    pub fn quant(&self) -> Option<&QuantType> {
        match self {
            ElemType::Quant(q) => Some(q),
            _ => None,
        }
    }
}

/// A statically shaped tensor type. Rank 0 (`tensor<f32>`) is a scalar.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorType {
    pub shape: Vec<usize>,
    pub elem: ElemType,
}

impl TensorType {
    pub fn new(shape: impl Into<Vec<usize>>, elem: ElemType) -> Self {
        TensorType {
            shape: shape.into(),
            elem,
        }
    }
    pub fn f32(shape: impl Into<Vec<usize>>) -> Self {
        TensorType {
            shape: shape.into(),
            elem: ElemType::F32,
        }
    }
    pub fn rank(&self) -> usize {
        self.shape.len()
    }
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
    pub fn size_bytes(&self) -> usize {
        self.numel() * self.elem.storage().size_bytes()
    }
}

/// Formats an f32 so that it parses back to the same bits and always reads as a float
/// (`1.0`, `0.25`, `1e-5`, `-inf`, `nan`).
pub fn fmt_f32(v: f32) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let a = v.abs();
    let s = if a != 0.0 && !(1e-4..1e7).contains(&a) {
        format!("{v:e}")
    } else {
        format!("{v}")
    };
    if s.contains(['.', 'e', 'n', 'i']) {
        s
    } else {
        format!("{s}.0")
    }
}

/// [`fmt_f32`] for an f64: the shortest text that parses back to the same bits.
pub fn fmt_f64(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let a = v.abs();
    let s = if a != 0.0 && !(1e-4..1e7).contains(&a) {
        format!("{v:e}")
    } else {
        format!("{v}")
    };
    if s.contains(['.', 'e', 'n', 'i']) {
        s
    } else {
        format!("{s}.0")
    }
}

/// Shape as `1x3x224x224` (empty for a scalar).
pub fn fmt_shape(shape: &[usize]) -> String {
    shape
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("x")
}

impl fmt::Display for QuantType {
    /// `!quant<u8, 0.0235, 128>` per tensor; `!quant<i8, axis 0, [0.1, 0.2], [0, 0]>` per axis.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.axis {
            None => write!(
                f,
                "!quant<{}, {}, {}>",
                self.storage,
                fmt_f32(self.scales.first().copied().unwrap_or(1.0)),
                self.zero_points.first().copied().unwrap_or(0)
            ),
            Some(axis) => {
                let s: Vec<String> = self.scales.iter().map(|&v| fmt_f32(v)).collect();
                let z: Vec<String> = self.zero_points.iter().map(|v| v.to_string()).collect();
                write!(
                    f,
                    "!quant<{}, axis {}, [{}], [{}]>",
                    self.storage,
                    axis,
                    s.join(", "),
                    z.join(", ")
                )
            }
        }
    }
}

impl fmt::Display for ElemType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ElemType::Quant(q) => q.fmt(f),
            other => f.write_str(other.storage().name()),
        }
    }
}

impl fmt::Display for TensorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.shape.is_empty() {
            write!(f, "tensor<{}>", self.elem)
        } else {
            write!(f, "tensor<{}x{}>", fmt_shape(&self.shape), self.elem)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_round_trip_through_text() {
        for v in [
            0.0f32,
            1.0,
            -2.5,
            1e-5,
            0.1,
            3.4028235e38,
            f32::MIN_POSITIVE,
            123456.78,
            1e7,
            6.0,
        ] {
            let s = fmt_f32(v);
            assert_eq!(s.parse::<f32>().unwrap().to_bits(), v.to_bits(), "{s}");
            assert!(s.contains(['.', 'e']), "{s}");
        }
    }

    #[test]
    fn types_print_mlir_style() {
        assert_eq!(
            TensorType::f32(vec![1, 3, 224, 224]).to_string(),
            "tensor<1x3x224x224xf32>"
        );
        assert_eq!(TensorType::f32(vec![]).to_string(), "tensor<f32>");
        let q = QuantType {
            storage: DType::U8,
            scales: vec![0.5],
            zero_points: vec![128],
            axis: None,
        };
        assert_eq!(
            TensorType::new(vec![2], ElemType::Quant(q)).to_string(),
            "tensor<2x!quant<u8, 0.5, 128>>"
        );
    }
}
