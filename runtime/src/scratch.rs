//! The scratch arena a `model.so` computes in: a zeroed, 64-byte-aligned heap buffer owned by the
//! caller, as the C ABI asks (`NAME_scratch_size()` bytes, 64-byte aligned).

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::ptr::NonNull;

/// The alignment the C ABI promises the generated code.
pub const SCRATCH_ALIGN: usize = 64;

/// A 64-byte-aligned buffer. One per concurrent caller: the library keeps no state of its own,
/// so two threads with two scratches may run the same model at once.
pub struct Scratch {
    ptr: NonNull<u8>,
    len: usize,
}

// The buffer is plain memory owned by this value.
unsafe impl Send for Scratch {}
unsafe impl Sync for Scratch {}

impl Scratch {
    /// A zeroed buffer of `len` bytes (a dangling, aligned pointer when `len` is 0).
    pub fn new(len: usize) -> Scratch {
        if len == 0 {
            // Any non-null 64-aligned address: the library never dereferences a 0-byte arena.
            let ptr = NonNull::new(SCRATCH_ALIGN as *mut u8).expect("non-zero");
            return Scratch { ptr, len };
        }
        let layout = Layout::from_size_align(len, SCRATCH_ALIGN)
            .expect("scratch size fits the address space");
        // SAFETY: the layout has a non-zero size.
        let raw = unsafe { alloc_zeroed(layout) };
        let ptr = NonNull::new(raw).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        Scratch { ptr, len }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.ptr.as_ptr()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if self.len > 0 {
            let layout = Layout::from_size_align(self.len, SCRATCH_ALIGN).expect("as allocated");
            // SAFETY: allocated in `new` with this very layout.
            unsafe { dealloc(self.ptr.as_ptr(), layout) };
        }
    }
}

impl std::fmt::Debug for Scratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Scratch({} bytes)", self.len)
    }
}
