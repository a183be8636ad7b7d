//! `.npy` input and output files of every element type the IR holds, with errors a person can
//! act on. The format is read and written here (header dict + little-endian data) because
//! `ndarray-npy` has no float16.

use crate::diag::{Error, Result};
use crate::fsio::write_atomic;
use ndarray::ArrayD;
use runtime::{DType, Tensor};
use std::path::Path;

/// Reads an f32 array of any rank.
pub fn read_f32(path: &Path) -> Result<ArrayD<f32>> {
    let t = read_tensor(path, DType::F32)?;
    Ok(t.into_f32().expect("read_tensor checked the type"))
}

/// Writes an f32 array atomically.
pub fn write_f32(path: &Path, a: &ArrayD<f32>) -> Result<()> {
    write_tensor(path, &Tensor::F32(a.clone()))
}

/// Reads an array whose element type must be `want`; a file of another type gets the numpy
/// call that converts it.
pub fn read_tensor(path: &Path, want: DType) -> Result<Tensor> {
    let bytes = read_checked(path)?;
    let fail = |why: String| Error::msg(format!("cannot read {}: {why}", path.display()));
    let (descr, fortran, shape, data) = parse(&bytes).map_err(fail)?;
    let Some(have) = dtype_of(&descr) else {
        let (name, d) = numpy_type(want);
        return Err(fail(format!(
            "it holds elements of type '{descr}', which qcc does not read; qcc takes {name} ('{d}') here: convert it with `x.astype(numpy.{name})`"
        )));
    };
    if have != want {
        let (name, d) = numpy_type(want);
        return Err(fail(format!(
            "it holds elements of type '{descr}', qcc takes {name} ('{d}'): convert it with `x.astype(numpy.{name})`"
        )));
    }
    let n = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    let need = n.and_then(|n| n.checked_mul(have.size_bytes()));
    match need {
        Some(need) if data.len() >= need => {}
        _ => {
            return Err(fail(
                "it is truncated: the header promises more data than the file holds".into(),
            ))
        }
    }
    let need = need.unwrap_or(0);
    // Fortran order lists the axes in reverse: read the transposed array, then turn it back.
    let stored: Vec<usize> = if fortran {
        shape.iter().rev().copied().collect()
    } else {
        shape.clone()
    };
    let t = Tensor::from_le_bytes(have, &stored, &data[..need]).ok_or_else(|| {
        fail("its data is not valid for its type (a bool byte other than 0 or 1)".into())
    })?;
    Ok(if fortran {
        runtime::tensor_map!(&t, a => a.clone().reversed_axes().as_standard_layout().into_owned())
    } else {
        t
    })
}

/// The shape a `.npy` file's header states, reading the header only (a calibration set can be
/// gigabytes, and its data is read once, later).
pub fn shape_of(path: &Path) -> Result<Vec<usize>> {
    use std::io::Read;
    // Version 1 headers are at most 64 KiB; later versions' longer ones are read whole.
    let mut head = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(1 << 16).read_to_end(&mut head))
        .map_err(|e| Error::io(path, e))?;
    let parsed = match parse(&head) {
        Ok(p) => Ok(p.2),
        Err(_) if head.len() == 1 << 16 => {
            let all = read_checked(path)?;
            parse(&all).map(|p| p.2)
        }
        Err(e) => Err(e),
    };
    parsed.map_err(|why| Error::msg(format!("cannot read {}: {why}", path.display())))
}

/// A header's descriptor, fortran flag and shape, and the data that follows it.
type Parsed<'a> = (String, bool, Vec<usize>, &'a [u8]);

/// The header's descriptor, fortran flag and shape, and the data that follows it.
fn parse(bytes: &[u8]) -> std::result::Result<Parsed<'_>, String> {
    let invalid = |why: &str| format!("it is not a valid .npy file ({why})");
    if !bytes.starts_with(b"\x93NUMPY") || bytes.len() < 10 {
        return Err(invalid("start does not match magic string"));
    }
    let (len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(invalid(&format!("unknown format version {v}"))),
    };
    let header = bytes
        .get(start..start.saturating_add(len))
        .ok_or_else(|| invalid("the header is cut short"))?;
    let header = std::str::from_utf8(header).map_err(|_| invalid("the header is not text"))?;
    let field = |key: &str| -> std::result::Result<&str, String> {
        let at = header
            .find(&format!("'{key}'"))
            .ok_or_else(|| invalid(&format!("the header has no '{key}'")))?;
        let rest = header[at + key.len() + 2..].trim_start();
        Ok(rest.strip_prefix(':').unwrap_or(rest).trim_start())
    };
    let descr = field("descr")?;
    let descr = descr
        .strip_prefix('\'')
        .and_then(|d| d.split('\'').next())
        .ok_or_else(|| invalid("its 'descr' is not a string"))?
        .to_string();
    let fortran = field("fortran_order")?.starts_with("True");
    let shape = field("shape")?;
    let shape = shape
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| invalid("its 'shape' is not a tuple"))?;
    let shape = shape
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|_| invalid("its 'shape' holds something other than sizes"))?;
    Ok((descr, fortran, shape, &bytes[start + len..]))
}

/// The element type of a little-endian (or byte-sized) numpy descriptor.
fn dtype_of(descr: &str) -> Option<DType> {
    let (order, code) = descr.split_at(descr.len().min(1));
    if !matches!(order, "<" | "|" | "=") {
        return None;
    }
    DType::ALL
        .into_iter()
        .find(|&d| numpy_type(d).1[1..] == *code)
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
        DType::F64 => ("float64", "<f8"),
        DType::F16 => ("float16", "<f2"),
        DType::I8 => ("int8", "|i1"),
        DType::U8 => ("uint8", "|u1"),
        DType::I16 => ("int16", "<i2"),
        DType::U16 => ("uint16", "<u2"),
        DType::I32 => ("int32", "<i4"),
        DType::U32 => ("uint32", "<u4"),
        DType::I64 => ("int64", "<i8"),
        DType::U64 => ("uint64", "<u8"),
        DType::Bool => ("bool_", "|b1"),
    }
}

/// Writes a tensor of any element type atomically (format version 1, C order).
pub fn write_tensor(path: &Path, t: &Tensor) -> Result<()> {
    let shape = match t.shape() {
        [] => "()".to_string(),
        [d] => format!("({d},)"),
        s => format!(
            "({})",
            s.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {shape}, }}",
        numpy_type(t.dtype()).1
    );
    // numpy pads the header with spaces so that the data starts on a 64-byte boundary.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
    header.push('\n');
    let len = u16::try_from(header.len()).map_err(|_| {
        Error::msg(format!(
            "cannot encode {}: its shape is too long",
            path.display()
        ))
    })?;
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&len.to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(&t.to_le_bytes());
    write_atomic(path, |f| std::io::Write::write_all(f, &bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_round_trips() {
        let dir = std::env::temp_dir().join(format!("qcc_npy_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for d in DType::ALL {
            let t = Tensor::from_le_bytes(d, &[2, 3], &vec![1u8; 6 * d.size_bytes()]).unwrap();
            let p = dir.join(format!("{d}.npy"));
            write_tensor(&p, &t).unwrap();
            assert_eq!(read_tensor(&p, d).unwrap(), t, "{d}");
            let other = if d == DType::F32 {
                DType::I64
            } else {
                DType::F32
            };
            let e = read_tensor(&p, other).unwrap_err().to_string();
            assert!(e.contains(numpy_type(d).1), "{e}");
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}
