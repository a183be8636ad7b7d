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
    let bytes = read_checked(path)?;
    ArrayD::<f32>::read_npy(std::io::Cursor::new(&bytes)).map_err(|e| {
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
    let bytes = read_checked(path)?;
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

/// Reads a `.npy` file whose header promises no more data than the file holds: the `.npy`
/// reader allocates the header, then the array, from the sizes the file states before it reads
/// them, so a 100 KB file claiming terabytes would abort the process.
pub fn read_checked(path: &Path) -> Result<Vec<u8>> {
    let bytes = crate::readin::read_input(path).map_err(|e| Error::io(path, e))?;
    if let Err(why) = check_sizes(&bytes) {
        return Err(Error::msg(format!(
            "cannot read {}: it is truncated: {why}",
            path.display()
        )));
    }
    Ok(bytes)
}

/// Checks the header length and the array's size against the bytes there are. A header this
/// check cannot read passes: the `.npy` reader then says what is wrong with it.
fn check_sizes(bytes: &[u8]) -> Result<(), String> {
    let Some(rest) = bytes.strip_prefix(b"\x93NUMPY") else {
        return Ok(());
    };
    let (Some(&major), Some(rest)) = (rest.first(), rest.get(2..)) else {
        return Ok(());
    };
    let width = if major == 1 { 2 } else { 4 };
    let Some(len) = rest.get(..width) else {
        return Ok(());
    };
    let header_len = len.iter().rev().fold(0u64, |n, &b| n << 8 | u64::from(b));
    let after = (rest.len() - width) as u64;
    if header_len > after {
        return Err(format!(
            "the header is said to be {header_len} bytes, the file holds {after} after its start"
        ));
    }
    let mut cursor = std::io::Cursor::new(bytes);
    let Ok(header) = ndarray_npy::npy::header::Header::from_reader(&mut cursor) else {
        return Ok(());
    };
    let data = bytes.len() as u64 - cursor.position();
    // Elements take at least one byte whatever the descriptor says, which bounds what any
    // reader allocates to a few times the file.
    let descr = header.type_descriptor.to_string();
    let digits: String = descr
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    let elem_bytes = digits.parse::<u64>().unwrap_or(1).max(1);
    let need = header
        .shape
        .iter()
        .try_fold(elem_bytes, |n, &d| n.checked_mul(d as u64));
    match need {
        Some(need) if need <= data => Ok(()),
        _ => Err(format!(
            "the header promises {} elements of {elem_bytes} bytes, the file holds {data} bytes of data",
            header
                .shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("×")
        )),
    }
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
