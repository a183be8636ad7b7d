//! Writing output files so that nothing is ever half-written: into a temporary file in the same
//! directory, renamed over the target only once complete.

use crate::diag::{Error, Result};
use std::io::Write;
use std::path::Path;

/// Refuses to replace anything but a regular file: renaming over a FIFO, a device node, a
/// socket, a directory or a symlink would silently turn it into a regular file (as root,
/// `-o /dev/null` would replace /dev/null).
fn check_target(path: &Path) -> Result<()> {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(()); // nothing there yet (or unreadable: the write itself will say why)
    };
    let ft = meta.file_type();
    if ft.is_file() {
        return Ok(());
    }
    #[cfg(unix)]
    use std::os::unix::fs::FileTypeExt;
    let kind = if ft.is_symlink() {
        "a symbolic link"
    } else if ft.is_dir() {
        "a directory"
    } else {
        #[cfg(unix)]
        {
            if ft.is_fifo() {
                "a named pipe"
            } else if ft.is_socket() {
                "a socket"
            } else if ft.is_block_device() || ft.is_char_device() {
                "a device"
            } else {
                "not a regular file"
            }
        }
        #[cfg(not(unix))]
        "not a regular file"
    };
    Err(Error::msg(format!(
        "refusing to write {}: it is {kind}, which qcc would replace by a regular file; give the path of a regular file",
        path.display()
    )))
}

/// A filled temporary file beside its target, not yet renamed over it.
struct Pending {
    tmp: tempfile::NamedTempFile,
    path: std::path::PathBuf,
}

fn prepare(
    path: &Path,
    fill: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> Result<Pending> {
    check_target(path)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(Error::msg(format!(
            "cannot write {}: directory {} does not exist",
            path.display(),
            dir.display()
        )));
    }
    let mut builder = tempfile::Builder::new();
    builder.prefix(".qcc-").suffix(".tmp");
    // Temporary files are created private (0600) by default; what qcc writes is an ordinary
    // output, created as any program creates a file: 0666 less the user's umask.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let mut tmp = builder.tempfile_in(dir).map_err(|e| Error::io(path, e))?;
    // Synced before the rename, so that a crash never leaves a renamed but empty file.
    fill(tmp.as_file_mut())
        .and_then(|_| tmp.as_file_mut().flush())
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| Error::io(path, e))?;
    Ok(Pending {
        tmp,
        path: path.to_path_buf(),
    })
}

impl Pending {
    fn commit(self) -> Result<()> {
        self.tmp
            .persist(&self.path)
            .map_err(|e| Error::io(&self.path, e.error))?;
        Ok(())
    }
}

/// Writes `path` atomically through `fill`.
pub fn write_atomic(
    path: &Path,
    fill: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> Result<()> {
    prepare(path, fill)?.commit()
}

/// Writes files that belong together (a library and its header): every one is written in full
/// to a temporary file first, and only when all are complete are they renamed over their
/// targets, so a failure to write one leaves none of them replaced.
pub fn write_all_atomic(files: &[(&Path, &[u8])]) -> Result<()> {
    let sources: Vec<_> = files
        .iter()
        .map(|&(path, bytes)| (path, Contents::Bytes(bytes)))
        .collect();
    write_contents_atomic(&sources)
}

/// What an output file is filled with.
pub enum Contents<'a> {
    Bytes(&'a [u8]),
    /// The contents of another file (a library the C compiler wrote): copied by the kernel
    /// (`copy_file_range`), not read into memory and written back, which for a model of 50 MB
    /// of weights was a fifth of linking it.
    CopyOf(&'a Path),
}

/// [`write_all_atomic`] for files filled from bytes or from other files.
pub fn write_contents_atomic(files: &[(&Path, Contents)]) -> Result<()> {
    let pending = files
        .iter()
        .map(|(path, contents)| match contents {
            Contents::Bytes(bytes) => prepare(path, |f| f.write_all(bytes)),
            Contents::CopyOf(from) => {
                let mut src = std::fs::File::open(from).map_err(|e| Error::io(from, e))?;
                prepare(path, |f| std::io::copy(&mut src, f).map(drop))
            }
        })
        .collect::<Result<Vec<_>>>()?;
    pending.into_iter().try_for_each(Pending::commit)
}

/// Refuses an output that is the input file itself (`qcc import m.onnx -o m.onnx`): the input
/// would be replaced by what was made from it.
pub fn refuse_overwriting(input: &Path, output: &Path) -> Result<()> {
    let same = match (std::fs::canonicalize(input), std::fs::canonicalize(output)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same {
        return Err(Error::msg(format!(
            "the output {} is the input model itself; write it to another file",
            output.display()
        )));
    }
    Ok(())
}

/// Writes bytes atomically.
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, |f| f.write_all(bytes))
}
