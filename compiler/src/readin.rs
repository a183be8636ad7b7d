//! Reading files with bounded memory: a user's input file is read for as many bytes as it holds
//! (a stream such as /dev/zero up to a cap), and a file a model names (external ONNX data, the
//! IR's `.safetensors`) only if it is a regular file inside the model's directory once every
//! symbolic link is resolved.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// The most bytes read from something that is not a regular file (a pipe, a device), whose
/// length cannot be known in advance.
pub const STREAM_CAP: u64 = 1 << 30;

/// Reads a file the user named, allocating no more than it holds: a regular file for its
/// length, anything else up to [`STREAM_CAP`] bytes (beyond that it is refused).
pub fn read_input(path: &Path) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    if meta.is_dir() {
        return Err(std::io::Error::other("it is a directory"));
    }
    if meta.is_file() {
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        file.take(meta.len()).read_to_end(&mut bytes)?;
        return Ok(bytes);
    }
    let mut bytes = Vec::new();
    file.take(STREAM_CAP + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > STREAM_CAP {
        return Err(std::io::Error::other(format!(
            "it is not a regular file and gives more than {STREAM_CAP} bytes"
        )));
    }
    Ok(bytes)
}

/// Reads `name`, a file a model names, relative to the model's directory `base`. Refused: an
/// absolute name, a `..` component, a symbolic link leading outside `base`, and anything but a
/// regular file (a device such as /dev/zero would be read until memory runs out). Returns the
/// path read and its bytes; errors are sentences about `what`.
pub fn read_beside(base: &Path, name: &str, what: &str) -> Result<(PathBuf, Vec<u8>), String> {
    let rel = Path::new(name);
    if name.is_empty()
        || !rel
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(format!(
            "{what} is stored in `{name}`, outside the model's directory: only a relative path below it is allowed"
        ));
    }
    let base = if base.as_os_str().is_empty() {
        Path::new(".")
    } else {
        base
    };
    let path = base.join(rel);
    let unreadable = |e: std::io::Error| {
        format!(
            "{what} is stored in {}, which cannot be read: {e}",
            path.display()
        )
    };
    let dir = std::fs::canonicalize(base).map_err(unreadable)?;
    let real = std::fs::canonicalize(&path).map_err(unreadable)?;
    if !real.starts_with(&dir) {
        return Err(format!(
            "{what} is stored in {}, which leads to {}, outside the model's directory",
            path.display(),
            real.display()
        ));
    }
    let file = std::fs::File::open(&real).map_err(unreadable)?;
    let meta = file.metadata().map_err(unreadable)?;
    if !meta.is_file() {
        return Err(format!(
            "{what} is stored in {}, which is not a regular file",
            path.display()
        ));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(meta.len())
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    Ok((path, bytes))
}

/// What a file is, from its first bytes, when it is plainly not text: said instead of a parse
/// error about its first byte.
pub fn binary_kind(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x7fELF") {
        Some("an ELF file (a compiled library or program)")
    } else if bytes.starts_with(b"\x93NUMPY") {
        Some("a numpy .npy array")
    } else if bytes.starts_with(b"PK\x03\x04") {
        Some("a zip archive (a PyTorch checkpoint or .npz?)")
    } else if bytes.len() >= 9
        && u64::from_le_bytes(bytes[..8].try_into().unwrap_or_default()) < bytes.len() as u64
        && bytes[8] == b'{'
    {
        Some("a safetensors weights file")
    } else {
        None
    }
}

/// Reads a text file (IR, rules, ranges) with bounded memory: a UTF-8 byte order mark is
/// skipped, a binary file is named for what it is, and bytes that are not UTF-8 are located by
/// line and column.
pub fn read_text(path: &Path, expected: &str) -> crate::diag::Result<String> {
    use crate::diag::Error;
    let bytes = read_input(path).map_err(|e| Error::io(path, e))?;
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(text.to_string()),
        Err(e) => {
            if let Some(kind) = binary_kind(bytes) {
                return Err(Error::msg(format!(
                    "{} is {kind}, not {expected}",
                    path.display()
                )));
            }
            let at = e.valid_up_to();
            let before = &bytes[..at];
            let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
            let line_start = before
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |p| p + 1);
            // Columns count characters, as the other diagnostics do; what precedes is valid.
            let col =
                std::str::from_utf8(&before[line_start..]).map_or(1, |s| s.chars().count() + 1);
            Err(Error::msg(format!(
                "{}:{line}:{col}: byte 0x{:02x} is not UTF-8; {expected} is UTF-8 text",
                path.display(),
                bytes[at]
            )))
        }
    }
}
