//! ONNX `TensorProto` (initializers, `Constant` values) decoded into import-time constants:
//! raw little-endian bytes, the typed repeated fields, or external data beside the model file.

use crate::import::constant::{checked_numel, Const, ConstType};
use ndarray::{ArrayD, IxDyn};
use onnx_protobuf::TensorProto;
use std::path::Path;

/// Tensors larger than this are refused: a corrupt dimension must not make the importer try to
/// allocate terabytes.
const MAX_ELEMENTS: usize = 1 << 32;

/// ONNX `TensorProto.DataType` codes qcc uses by number.
pub mod dtype {
    pub const FLOAT: i32 = 1;
    pub const UINT8: i32 = 2;
    pub const INT8: i32 = 3;
    pub const INT32: i32 = 6;
    pub const INT64: i32 = 7;
    pub const BOOL: i32 = 9;
}

/// The ONNX name of a data type code, for messages.
pub fn dtype_name(code: i32) -> String {
    let name = match code {
        0 => "undefined",
        1 => "float",
        2 => "uint8",
        3 => "int8",
        4 => "uint16",
        5 => "int16",
        6 => "int32",
        7 => "int64",
        8 => "string",
        9 => "bool",
        10 => "float16",
        11 => "double",
        12 => "uint32",
        13 => "uint64",
        14 => "complex64",
        15 => "complex128",
        16 => "bfloat16",
        17 => "float8e4m3fn",
        18 => "float8e4m3fnuz",
        19 => "float8e5m2",
        20 => "float8e5m2fnuz",
        21 => "uint4",
        22 => "int4",
        _ => return format!("unknown type {code}"),
    };
    name.to_string()
}

/// The IR storage type of an ONNX data type code, if the IR holds it.
pub fn ir_dtype(code: i32) -> Option<runtime::DType> {
    use runtime::DType;
    Some(match code {
        1 => DType::F32,
        2 => DType::U8,
        3 => DType::I8,
        4 => DType::U16,
        5 => DType::I16,
        6 => DType::I32,
        7 => DType::I64,
        9 => DType::Bool,
        10 => DType::F16,
        11 => DType::F64,
        12 => DType::U32,
        13 => DType::U64,
        _ => return None,
    })
}

/// The folding type of an ONNX data type code, if qcc can hold it.
pub fn const_type(code: i32) -> Option<ConstType> {
    Some(match code {
        dtype::FLOAT => ConstType::F32,
        dtype::UINT8 => ConstType::U8,
        dtype::INT8 => ConstType::I8,
        dtype::INT32 => ConstType::I32,
        dtype::INT64 => ConstType::I64,
        dtype::BOOL => ConstType::Bool,
        _ => return None,
    })
}

/// Decodes a tensor. `what` names it in messages (`initializer `conv1.weight``); `base_dir` is
/// the model's directory, where external data lives (`None` when importing bytes).
pub fn decode(t: &TensorProto, what: &str, base_dir: Option<&Path>) -> Result<Const, String> {
    let ty = const_type(t.data_type).ok_or_else(|| {
        format!(
            "{what} has element type {}; qcc imports f32, u8, i8 and i32 tensors (and int64 and bool constants that fold away)",
            dtype_name(t.data_type)
        )
    })?;
    let mut shape = Vec::with_capacity(t.dims.len());
    for &d in &t.dims {
        if d < 0 {
            return Err(format!(
                "{what} has a negative dimension {d} in its shape {:?}",
                t.dims
            ));
        }
        shape.push(
            usize::try_from(d)
                .map_err(|_| format!("{what} has a dimension {d} too large for this machine"))?,
        );
    }
    let n = checked_numel(&shape)
        .filter(|&n| n <= MAX_ELEMENTS)
        .ok_or_else(|| format!("{what} has an implausibly large shape {:?}", t.dims))?;
    if t.segment.is_some() {
        return Err(format!(
            "{what} is a segment of a larger tensor, which qcc does not import"
        ));
    }
    // data_location 1 is EXTERNAL.
    if t.data_location.value() == 1 {
        let bytes = external_bytes(t, what, base_dir)?;
        return from_raw(ty, &shape, n, &bytes, what);
    }
    if !t.raw_data.is_empty() {
        return from_raw(ty, &shape, n, &t.raw_data, what);
    }
    let count = |len: usize| {
        if len == n {
            Ok(())
        } else {
            Err(format!(
                "{what} has {len} values for its shape {:?} of {n} elements",
                t.dims
            ))
        }
    };
    let s = IxDyn(&shape);
    let bad_shape = |_| format!("{what} does not fit its shape {:?}", t.dims);
    Ok(match ty {
        ConstType::F32 => {
            count(t.float_data.len())?;
            Const::F32(ArrayD::from_shape_vec(s, t.float_data.clone()).map_err(bad_shape)?)
        }
        ConstType::I64 => {
            count(t.int64_data.len())?;
            Const::I64(ArrayD::from_shape_vec(s, t.int64_data.clone()).map_err(bad_shape)?)
        }
        // The narrow integer types travel in int32_data, one value per element.
        ConstType::I32 => {
            count(t.int32_data.len())?;
            Const::I32(ArrayD::from_shape_vec(s, t.int32_data.clone()).map_err(bad_shape)?)
        }
        ConstType::I8 => {
            count(t.int32_data.len())?;
            Const::I8(
                ArrayD::from_shape_vec(s, t.int32_data.iter().map(|&v| v as i8).collect())
                    .map_err(bad_shape)?,
            )
        }
        ConstType::U8 => {
            count(t.int32_data.len())?;
            Const::U8(
                ArrayD::from_shape_vec(s, t.int32_data.iter().map(|&v| v as u8).collect())
                    .map_err(bad_shape)?,
            )
        }
        ConstType::Bool => {
            count(t.int32_data.len())?;
            Const::Bool(
                ArrayD::from_shape_vec(s, t.int32_data.iter().map(|&v| v != 0).collect())
                    .map_err(bad_shape)?,
            )
        }
    })
}

fn from_raw(
    ty: ConstType,
    shape: &[usize],
    n: usize,
    raw: &[u8],
    what: &str,
) -> Result<Const, String> {
    let size = match ty {
        ConstType::F32 | ConstType::I32 => 4,
        ConstType::I64 => 8,
        ConstType::I8 | ConstType::U8 | ConstType::Bool => 1,
    };
    if raw.len() != n * size {
        return Err(format!(
            "{what} has {} bytes of data, but its shape {shape:?} of {} needs {}",
            raw.len(),
            ty.name(),
            n * size
        ));
    }
    let s = IxDyn(shape);
    let bad_shape = |_| format!("{what} does not fit its shape {shape:?}");
    macro_rules! le {
        ($t:ty, $w:literal) => {
            raw.chunks_exact($w)
                .map(|c| <$t>::from_le_bytes(c.try_into().expect("chunk of the type's size")))
                .collect()
        };
    }
    Ok(match ty {
        ConstType::F32 => Const::F32(ArrayD::from_shape_vec(s, le!(f32, 4)).map_err(bad_shape)?),
        ConstType::I32 => Const::I32(ArrayD::from_shape_vec(s, le!(i32, 4)).map_err(bad_shape)?),
        ConstType::I64 => Const::I64(ArrayD::from_shape_vec(s, le!(i64, 8)).map_err(bad_shape)?),
        ConstType::I8 => Const::I8(
            ArrayD::from_shape_vec(s, raw.iter().map(|&b| b as i8).collect()).map_err(bad_shape)?,
        ),
        ConstType::U8 => Const::U8(ArrayD::from_shape_vec(s, raw.to_vec()).map_err(bad_shape)?),
        ConstType::Bool => Const::Bool(
            ArrayD::from_shape_vec(s, raw.iter().map(|&b| b != 0).collect()).map_err(bad_shape)?,
        ),
    })
}

/// Reads a tensor stored outside the model (`location`, `offset`, `length` keys), relative to the
/// model's directory and never outside it.
fn external_bytes(t: &TensorProto, what: &str, base_dir: Option<&Path>) -> Result<Vec<u8>, String> {
    let base = base_dir.ok_or_else(|| {
        format!("{what} is stored in an external file, which only works when importing a model from its file")
    })?;
    let key = |k: &str| {
        t.external_data
            .iter()
            .find(|e| e.key == k)
            .map(|e| e.value.as_str())
    };
    let location = key("location")
        .ok_or_else(|| format!("{what} is stored externally but names no location"))?;
    let number = |k: &str| -> Result<Option<usize>, String> {
        key(k)
            .map(|v| {
                v.parse::<usize>()
                    .map_err(|_| format!("{what} has an external {k} `{v}` that is not a number"))
            })
            .transpose()
    };
    let offset = number("offset")?.unwrap_or(0);
    let (path, data) = crate::readin::read_beside(base, location, what)?;
    let length = number("length")?.unwrap_or(data.len().saturating_sub(offset));
    offset
        .checked_add(length)
        .and_then(|end| data.get(offset..end))
        .map(<[u8]>::to_vec)
        .ok_or_else(|| {
            format!(
                "{what} lies at bytes {offset}..+{length} of {}, which has {} bytes",
                path.display(),
                data.len()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proto(data_type: i32, dims: &[i64]) -> TensorProto {
        let mut t = TensorProto::new();
        t.data_type = data_type;
        t.dims = dims.to_vec();
        t
    }

    #[test]
    fn typed_fields_and_raw_bytes_decode_alike() {
        let mut a = proto(dtype::FLOAT, &[2]);
        a.float_data = vec![1.5, -2.0];
        let mut b = proto(dtype::FLOAT, &[2]);
        b.raw_data = [1.5f32, -2.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert_eq!(
            decode(&a, "a", None).unwrap(),
            decode(&b, "b", None).unwrap()
        );
        let mut c = proto(dtype::INT8, &[3]);
        c.int32_data = vec![-1, 2, -128];
        assert_eq!(
            decode(&c, "c", None).unwrap().ints().unwrap(),
            vec![-1, 2, -128]
        );
    }

    #[test]
    fn bad_tensors_are_refused_with_their_name() {
        let mut t = proto(dtype::FLOAT, &[3]);
        t.float_data = vec![1.0];
        assert_eq!(
            decode(&t, "initializer `w`", None).unwrap_err(),
            "initializer `w` has 1 values for its shape [3] of 3 elements"
        );
        let h = proto(10, &[1]);
        assert!(decode(&h, "initializer `h`", None)
            .unwrap_err()
            .contains("element type float16"));
        let big = proto(dtype::FLOAT, &[1 << 40, 1 << 40]);
        assert!(decode(&big, "b", None)
            .unwrap_err()
            .contains("implausibly large"));
        let neg = proto(dtype::FLOAT, &[-1]);
        assert!(decode(&neg, "n", None).unwrap_err().contains("negative"));
    }
}
