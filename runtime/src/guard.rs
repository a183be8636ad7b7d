//! A guard-page harness for compiled models: every input, output and the scratch placed flush
//! against an inaccessible (`PROT_NONE`) page, so that generated code reading or writing one byte
//! outside its buffers faults at once instead of corrupting memory quietly.
//!
//! One run guards the start of every buffer, another the end (alignment allowing: a scratch must
//! start 64-byte aligned, so its end is flush only when its size is a multiple of 64). Inputs
//! are also made read-only, since the C ABI passes them as `const`. Unlike valgrind this needs
//! nothing installed, so the test command can always run it.

use crate::library::{Library, LibraryError, RUN_OK};
use crate::scratch::SCRATCH_ALIGN;
use crate::tensor::Tensor;
use std::ffi::c_void;
use std::io;

/// Which end of each buffer touches a guard page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flush {
    Start,
    End,
}

/// `len` bytes inside an anonymous mapping, with a `PROT_NONE` page before and after.
pub struct GuardedBuffer {
    base: *mut libc::c_void,
    map_len: usize,
    data: *mut u8,
    data_len: usize,
    ptr: *mut u8,
    len: usize,
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as usize
    } else {
        4096
    }
}

impl GuardedBuffer {
    /// A zeroed buffer of `len` bytes starting at a multiple of `align` (a power of two).
    pub fn new(len: usize, align: usize, flush: Flush) -> io::Result<GuardedBuffer> {
        let page = page_size();
        let data_len = len.div_ceil(page) * page;
        let map_len = data_len + 2 * page;
        // SAFETY: a fresh private anonymous mapping; nothing else refers to it.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: inside the mapping just made.
        let data = unsafe { (base as *mut u8).add(page) };
        let mut buffer = GuardedBuffer {
            base,
            map_len,
            data,
            data_len,
            ptr: data,
            len,
        };
        buffer.protect(libc::PROT_READ | libc::PROT_WRITE)?;
        if flush == Flush::End {
            let end = data as usize + data_len;
            let start = (end - len) & !(align - 1);
            buffer.ptr = start as *mut u8;
        }
        Ok(buffer)
    }

    fn protect(&mut self, prot: libc::c_int) -> io::Result<()> {
        if self.data_len == 0 {
            return Ok(());
        }
        // SAFETY: the data pages belong to this mapping.
        if unsafe { libc::mprotect(self.data.cast(), self.data_len, prot) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Makes the buffer read-only from now on.
    pub fn freeze(&mut self) -> io::Result<()> {
        self.protect(libc::PROT_READ)
    }

    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.ptr
    }

    /// Bytes between the end of the buffer and the guard page after it.
    pub fn slack_after(&self) -> usize {
        self.data as usize + self.data_len - (self.ptr as usize + self.len)
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: `len` readable and writable bytes at `ptr` (until `freeze`).
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
    }

    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `len` readable bytes at `ptr`.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Drop for GuardedBuffer {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped once.
        unsafe { libc::munmap(self.base, self.map_len) };
    }
}

/// Runs `model` once with every buffer against a guard page on the `flush` side; a stray access
/// kills the process with SIGSEGV. Returns the outputs, to compare with an ordinary run.
pub fn run_guarded(
    model: &Library,
    inputs: &[Tensor],
    flush: Flush,
) -> Result<Vec<Tensor>, GuardError> {
    run_guarded_threads(model, inputs, flush, 1)
}

/// As [`run_guarded`], through `NAME_run_threads` on `threads` threads, with the scratch that
/// thread count needs (each further thread's temporaries at its end, so the last one's
/// overrun faults too).
pub fn run_guarded_threads(
    model: &Library,
    inputs: &[Tensor],
    flush: Flush,
    threads: usize,
) -> Result<Vec<Tensor>, GuardError> {
    let info = model.info();
    let arrays = model.check_inputs(inputs)?;
    let mut ins = Vec::with_capacity(arrays.len());
    for t in &arrays {
        let bytes = t.to_le_bytes();
        let mut b = GuardedBuffer::new(bytes.len(), t.dtype().size_bytes(), flush)?;
        b.as_mut_slice().copy_from_slice(&bytes);
        b.freeze()?;
        ins.push(b);
    }
    let mut outs = info
        .outputs
        .iter()
        .map(|p| {
            let size = p.dtype.size_bytes();
            GuardedBuffer::new(p.elements() * size, size, flush)
        })
        .collect::<io::Result<Vec<_>>>()?;
    let mut scratch =
        GuardedBuffer::new(model.scratch_size_threads(threads), SCRATCH_ALIGN, flush)?;
    let in_ptrs: Vec<*const c_void> = ins.iter_mut().map(|b| b.as_mut_ptr() as _).collect();
    let out_ptrs: Vec<*mut c_void> = outs.iter_mut().map(|b| b.as_mut_ptr() as _).collect();
    // SAFETY: each buffer holds its port's element count and type; the scratch is aligned and
    // sized.
    let code = unsafe {
        model.run_threads_raw(
            in_ptrs.as_ptr(),
            out_ptrs.as_ptr(),
            scratch.as_mut_ptr().cast(),
            threads,
        )
    };
    if code != RUN_OK {
        return Err(LibraryError::Run {
            prefix: info.prefix.clone(),
            code,
        }
        .into());
    }
    // x86-64 is little-endian: the buffers' native bytes are the tensors' little-endian ones.
    Ok(info
        .outputs
        .iter()
        .zip(&outs)
        .map(|(p, b)| Tensor::from_le_bytes(p.dtype, &p.shape, b.as_slice()).expect("port size"))
        .collect())
}

/// A guarded run that could not start, or that the library refused.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    #[error("cannot map guarded buffers: {0}")]
    Map(#[from] io::Error),
    #[error(transparent)]
    Library(#[from] LibraryError),
}
