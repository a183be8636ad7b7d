//! The one door to the `gemm` crate: a safe, bounds-checked f32 matrix product over strided slices.
//!
//! Every kernel that multiplies matrices (conv, conv-transpose, gemm, matmul) goes through
//! [`sgemm`], so the `unsafe` call and the proof that it stays inside its slices live here alone.

/// A read-only `rows × cols` matrix inside a slice: element `(i, j)` is `data[i·rs + j·cs]`.
#[derive(Clone, Copy)]
pub(crate) struct Mat<'a> {
    pub data: &'a [f32],
    pub rs: usize,
    pub cs: usize,
}

impl<'a> Mat<'a> {
    /// A row-major matrix whose rows are `rs` elements apart.
    pub fn rows(data: &'a [f32], rs: usize) -> Self {
        Mat { data, rs, cs: 1 }
    }
}

/// How the product lands in the destination.
#[derive(Clone, Copy)]
pub(crate) enum Store {
    /// `dst = a·b`; the destination's old contents are never read.
    Overwrite,
    /// `dst = dst_scale·dst + prod_scale·(a·b)`.
    Accumulate { dst_scale: f32, prod_scale: f32 },
}

/// `dst (m × n, rows dst_rs apart, columns contiguous) ← a (m × k) · b (k × n)`, single-threaded.
///
/// Panics (a caller bug, not a user-input path) when a matrix would reach past its slice.
#[allow(clippy::too_many_arguments)]
pub(crate) fn sgemm(
    m: usize,
    n: usize,
    k: usize,
    a: Mat<'_>,
    b: Mat<'_>,
    dst: &mut [f32],
    dst_rs: usize,
    store: Store,
) {
    if m == 0 || n == 0 {
        return;
    }
    // The largest offset each operand is read or written at must lie inside its slice.
    let reach = |rows: usize, cols: usize, rs: usize, cs: usize| (rows - 1) * rs + (cols - 1) * cs;
    if k > 0 {
        assert!(
            reach(m, k, a.rs, a.cs) < a.data.len(),
            "sgemm: lhs {m}×{k} (strides {}, {}) exceeds its {} elements",
            a.rs,
            a.cs,
            a.data.len()
        );
        assert!(
            reach(k, n, b.rs, b.cs) < b.data.len(),
            "sgemm: rhs {k}×{n} (strides {}, {}) exceeds its {} elements",
            b.rs,
            b.cs,
            b.data.len()
        );
    }
    assert!(
        reach(m, n, dst_rs, 1) < dst.len(),
        "sgemm: dst {m}×{n} (row stride {dst_rs}) exceeds its {} elements",
        dst.len()
    );
    // Overlapping destination rows would make the result depend on the kernel's write order.
    assert!(
        m == 1 || dst_rs >= n,
        "sgemm: dst rows overlap (row stride {dst_rs} < {n} columns)"
    );
    let (read_dst, dst_scale, prod_scale) = match store {
        Store::Overwrite => (false, 0.0, 1.0),
        Store::Accumulate {
            dst_scale,
            prod_scale,
        } => (true, dst_scale, prod_scale),
    };
    // SAFETY: the assertions above keep every accessed offset inside the three slices; `dst` is
    // borrowed mutably, so it cannot alias `a` or `b`; all strides are non-negative and fit isize
    // because they address elements of live slices.
    unsafe {
        ::gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_rs as isize,
            read_dst,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            dst_scale,
            prod_scale,
            false,
            false,
            false,
            ::gemm::Parallelism::None,
        );
    }
}
