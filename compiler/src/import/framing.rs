//! A check of the outermost protobuf framing of a model file. The protobuf parser accepts a file
//! cut at a field boundary inside a nested message (the graph) as a shorter, valid model;
//! checking that every top-level field fits in the file turns such a truncation into an error.

/// Walks the top-level fields of a protobuf message: `Err` names the first field that runs past
/// the end of the bytes or has a wire type ONNX never uses.
pub fn check(bytes: &[u8]) -> Result<(), String> {
    let mut pos = 0usize;
    while pos < bytes.len() {
        let key = varint(bytes, &mut pos).ok_or("it ends inside a field tag")?;
        let field = key >> 3;
        let len = match key & 7 {
            0 => {
                varint(bytes, &mut pos).ok_or_else(|| format!("it ends inside field {field}"))?;
                0
            }
            1 => 8,
            2 => varint(bytes, &mut pos)
                .ok_or_else(|| format!("it ends inside the length of field {field}"))?,
            5 => 4,
            w => {
                return Err(format!(
                    "field {field} has wire type {w}, which ONNX does not use"
                ))
            }
        };
        let rest = (bytes.len() - pos) as u64;
        if len > rest {
            return Err(format!(
                "field {field} claims {len} bytes but only {rest} remain (the file is truncated)"
            ));
        }
        pos += len as usize;
    }
    Ok(())
}

/// Reads a base-128 varint at `pos`, advancing it; `None` at the end of the bytes or past 10 bytes.
fn varint(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..70).step_by(7) {
        let b = *bytes.get(*pos)?;
        *pos += 1;
        v |= u64::from(b & 0x7f).checked_shl(shift).unwrap_or(0);
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn fields_must_fit_in_the_bytes() {
        // field 1 varint 8; field 7 (length-delimited) of 3 bytes.
        let ok = [0x08, 0x08, 0x3a, 0x03, 1, 2, 3];
        assert_eq!(check(&ok), Ok(()));
        assert!(check(&ok[..6])
            .unwrap_err()
            .contains("field 7 claims 3 bytes but only 2 remain"));
        assert!(check(&ok[..1]).unwrap_err().contains("inside field 1"));
        assert!(check(&[0x0b]).unwrap_err().contains("wire type 3"));
        assert_eq!(check(&[]), Ok(()));
    }
}
