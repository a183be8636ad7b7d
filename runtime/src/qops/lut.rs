//! lut: a single-input float function between a dequantize and a quantize, as a 256-entry table
//! indexed by the input code; and the table built so that it is exact by construction.

use super::codes::{dequantize_value, qrange, quantize_value};
use crate::{DType, Tensor};
use ndarray::ArrayD;

/// `y = table[x − qmin_in]`: `table[x]` for u8 codes, `table[x + 128]` for i8. The entries are
/// codes of `out` (u8 or i8).
pub fn lut(x: &Tensor, table: &[i32], out: DType) -> Tensor {
    assert_eq!(
        table.len(),
        256,
        "lut: the table has {} entries, not 256",
        table.len()
    );
    let (qmin, qmax) = match out {
        DType::U8 | DType::I8 => qrange(out),
        _ => panic!("lut: result type {out} must be u8 or i8"),
    };
    if let Some((i, v)) = table
        .iter()
        .enumerate()
        .find(|(_, v)| !(qmin..=qmax).contains(*v))
    {
        panic!("lut: entry {i} ({v}) is not a {out} code");
    }
    let index: ArrayD<usize> = match x {
        Tensor::U8(a) => a.as_standard_layout().mapv(usize::from),
        Tensor::I8(a) => a
            .as_standard_layout()
            .mapv(|v| (i32::from(v) + 128) as usize),
        _ => panic!(
            "lut: input {:?} must be u8 or i8, not {}",
            x.shape(),
            x.dtype()
        ),
    };
    // The entries were checked to be codes of `out`: the narrowing casts are exact.
    match out {
        DType::U8 => Tensor::U8(index.mapv(|i| table[i] as u8)),
        _ => Tensor::I8(index.mapv(|i| table[i] as i8)),
    }
}

/// The table of `f` from codes `input = (scale, zero_point, dtype)` to codes `output`: entry `i`
/// is `quantize(f(dequantize(qmin_in + i)))`, both conversions exactly as `ops::dequantize` and
/// `ops::quantize` compute them (round half to even). So `lut` with this table equals the float
/// chain dequantize → f → quantize on every input, bit for bit.
pub fn build_lut(
    f: impl Fn(f32) -> f32,
    input: (f32, i32, DType),
    output: (f32, i32, DType),
) -> Vec<i32> {
    let (qmin, _) = match input.2 {
        DType::U8 | DType::I8 => qrange(input.2),
        dt => panic!("build_lut: input type {dt} must be u8 or i8"),
    };
    assert!(
        matches!(output.2, DType::U8 | DType::I8),
        "build_lut: output type {} must be u8 or i8",
        output.2
    );
    (0..256)
        .map(|i| {
            quantize_value(
                f(dequantize_value(qmin + i, input.0, input.1)),
                output.0,
                output.1,
                output.2,
            )
        })
        .collect()
}
