//! `.npy` input and output files (f32, or any element type the IR holds), with errors a person
//! can act on.

use crate::diag::{Error, Result};
use crate::fsio::write_atomic;
use ndarray::ArrayD;
use ndarray_npy::{ReadNpyError, ReadNpyExt, WriteNpyExt};
use runtime::{DType, Tensor};
use std::path::Path;

/// Reads an f32 array of any rank.
pub fn read_f32(path: &Path) -> Result<ArrayD<f32>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    ArrayD::<f32>::read_npy(std::io::BufReader::new(file)).map_err(|e| {
        let why = match e {
            ReadNpyError::WrongDescriptor(d) => format!(
                "it holds elements of type {d}, qcc takes float32 ('<f4'): convert it with `x.astype(numpy.float32)`"
            ),
            ReadNpyError::MissingData => "it is truncated: the header promises more data than the file holds".into(),
            ReadNpyError::ParseHeader(h) => format!("it is not a valid .npy file ({h})"),
            other => other.to_string(),
        };
        Error::msg(format!("cannot read {}: {why}", path.display()))
    })
}

/// Writes an f32 array atomically.
pub fn write_f32(path: &Path, a: &ArrayD<f32>) -> Result<()> {
    let mut bytes = Vec::new();
    a.write_npy(&mut bytes)
        .map_err(|e| Error::msg(format!("cannot encode {}: {e}", path.display())))?;
    write_atomic(path, |f| std::io::Write::write_all(f, &bytes))
}

/// Reads an array whose element type must be `want` (one the IR holds: f32, i8, u8, i32); a file
/// of another type gets the same advice as in `read_f32`, for the type wanted.
pub fn read_tensor(path: &Path, want: DType) -> Result<Tensor> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let cursor = || std::io::Cursor::new(&bytes);
    let fail = |why: String| Error::msg(format!("cannot read {}: {why}", path.display()));
    let (name, descr) = numpy_type(want);
    let wrong = |have: &str| {
        fail(format!(
            "it holds elements of type {have}, qcc takes {name} ('{descr}'): convert it with `x.astype(numpy.{name})`"
        ))
    };
    // The element type is in the header; trying each type in turn reads it without a parser.
    macro_rules! try_type {
        ($t:ty, $variant:ident) => {
            match ArrayD::<$t>::read_npy(cursor()) {
                Ok(a) => {
                    let t = Tensor::$variant(a);
                    if t.dtype() != want {
                        return Err(wrong(&format!("'{}'", numpy_type(t.dtype()).1)));
                    }
                    return Ok(t);
                }
                Err(ReadNpyError::WrongDescriptor(d)) => d.to_string(),
                Err(ReadNpyError::MissingData) => {
                    return Err(fail(
                        "it is truncated: the header promises more data than the file holds".into(),
                    ))
                }
                Err(ReadNpyError::ParseHeader(h)) => {
                    return Err(fail(format!("it is not a valid .npy file ({h})")))
                }
                Err(other) => return Err(fail(other.to_string())),
            }
        };
    }
    try_type!(f32, F32);
    try_type!(i8, I8);
    try_type!(u8, U8);
    let descriptor = try_type!(i32, I32);
    Err(wrong(&descriptor))
}

/// numpy's name and little-endian descriptor of an element type.
fn numpy_type(d: DType) -> (&'static str, &'static str) {
    match d {
        DType::F32 => ("float32", "<f4"),
        DType::I8 => ("int8", "|i1"),
        DType::U8 => ("uint8", "|u1"),
        DType::I32 => ("int32", "<i4"),
    }
}

/// Writes a tensor of any element type atomically.
pub fn write_tensor(path: &Path, t: &Tensor) -> Result<()> {
    let mut bytes = Vec::new();
    let r = match t {
        Tensor::F32(a) => a.write_npy(&mut bytes),
        Tensor::I8(a) => a.write_npy(&mut bytes),
        Tensor::U8(a) => a.write_npy(&mut bytes),
        Tensor::I32(a) => a.write_npy(&mut bytes),
    };
    r.map_err(|e| Error::msg(format!("cannot encode {}: {e}", path.display())))?;
    write_atomic(path, |f| std::io::Write::write_all(f, &bytes))
}
