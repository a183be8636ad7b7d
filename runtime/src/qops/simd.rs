//! Runs a kernel compiled for AVX2 when the CPU has it: integer kernels are plain loops that
//! LLVM vectorizes, and the baseline x86-64 target (SSE2) leaves half the vector width unused.
//! Integer arithmetic is exact, so the two builds of a kernel give the same bits.

/// A kernel and its operands. `run` must be `#[inline(always)]`: it is then compiled into
/// [`dispatch`]'s AVX2 function with AVX2 enabled (a closure would stay a separate function,
/// compiled for the baseline).
pub(crate) trait Kernel {
    type Output;
    /// Runs the kernel; `wide` tells whether this copy is compiled for AVX2, so that it can pick
    /// tile sizes that suit the vector width.
    fn run(self, wide: bool) -> Self::Output;
}

/// `k.run(true)` compiled with AVX2 enabled when the CPU has AVX2, else `k.run(false)`.
pub(crate) fn dispatch<K: Kernel>(k: K) -> K::Output {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, the only feature `avx2` is compiled with.
        return unsafe { avx2(k) };
    }
    k.run(false)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn avx2<K: Kernel>(k: K) -> K::Output {
    k.run(true)
}
