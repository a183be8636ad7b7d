//! `.npy` input and output files: f32 arrays in, f32 arrays out, with errors a person can act on.

use crate::diag::{Error, Result};
use crate::fsio::write_atomic;
use ndarray::ArrayD;
use ndarray_npy::{ReadNpyError, ReadNpyExt, WriteNpyExt};
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
