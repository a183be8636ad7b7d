//! The integer matrix product under qconv2d, qconv_transpose2d and qgemm: every dot product
//! between the rows of two i16 matrices, accumulated in i32 with two's-complement wraparound
//! (so the order of summation cannot change a result), handed to a store callback.
//!
//! With AVX2 the main tiles are written with `vpmaddwd` explicitly: left to itself, LLVM chose
//! `vpmulld` on 8 lanes or `vpmaddwd` on 16 depending on the code around the same loop (measured
//! 9 against 28 GMAC/s). `vpmaddwd` adds two i16 products into one i32 lane, truncated to 32 bits,
//! which is the wrapping sum, so both paths give the same bits. Elsewhere plain loops.

/// Calls `store(i, j, Σ_t lhs[i·k + t] · rhs[j·k + t])` once for every `i < m`, `j < n`, in an
/// unspecified order; the sum wraps modulo 2³². `lhs` is `m × k` and `rhs` is `n × k`, row-major.
pub(crate) fn dot_all<F: FnMut(usize, usize, i32)>(
    m: usize,
    n: usize,
    k: usize,
    lhs: &[i16],
    rhs: &[i16],
    mut store: F,
) {
    assert!(
        lhs.len() >= m * k && rhs.len() >= n * k,
        "dot_all: operands of {} and {} elements for {m}×{k} and {n}×{k}",
        lhs.len(),
        rhs.len()
    );
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2.
        unsafe { avx2::dot_all(m, n, k, lhs, rhs, &mut store) };
        return;
    }
    // Without AVX2 (half the registers, half the width) single dot products measured fastest.
    tiles::<1, 1, F>(m, n, k, lhs, rhs, &mut store, tile::<1, 1>);
}

/// Every `MR × NR` tile of the output through `main`, then the leftover rows and columns in
/// thinner tiles.
#[inline(always)]
fn tiles<const MR: usize, const NR: usize, F: FnMut(usize, usize, i32)>(
    m: usize,
    n: usize,
    k: usize,
    lhs: &[i16],
    rhs: &[i16],
    store: &mut F,
    main: impl Fn(usize, &[i16], &[i16]) -> [[i32; NR]; MR],
) {
    let m_main = m - m % MR;
    let n_main = n - n % NR;
    // Blocks of `lhs` rows that stay in L2 while every row of `rhs` passes by; within a block,
    // columns outer, so the NR rows of `rhs` stay in L1.
    let block = (LHS_BLOCK_BYTES / (2 * k * MR).max(1)).max(1) * MR;
    for first in (0..m_main).step_by(block) {
        let rows = first..(first + block).min(m_main);
        for j in (0..n_main).step_by(NR) {
            for i in rows.clone().step_by(MR) {
                emit(main(k, &lhs[i * k..], &rhs[j * k..]), i, j, store);
            }
        }
        for j in n_main..n {
            for i in rows.clone().step_by(MR) {
                emit(tile::<MR, 1>(k, &lhs[i * k..], &rhs[j * k..]), i, j, store);
            }
        }
    }
    for i in m_main..m {
        for j in (0..n_main).step_by(NR) {
            emit(tile::<1, NR>(k, &lhs[i * k..], &rhs[j * k..]), i, j, store);
        }
        for j in n_main..n {
            emit(tile::<1, 1>(k, &lhs[i * k..], &rhs[j * k..]), i, j, store);
        }
    }
}

/// How much of `lhs` one pass over `rhs` reads.
const LHS_BLOCK_BYTES: usize = 128 << 10;

#[inline(always)]
fn emit<const MR: usize, const NR: usize, F: FnMut(usize, usize, i32)>(
    t: [[i32; NR]; MR],
    i0: usize,
    j0: usize,
    store: &mut F,
) {
    for (i, row) in t.iter().enumerate() {
        for (j, &v) in row.iter().enumerate() {
            store(i0 + i, j0 + j, v);
        }
    }
}

/// The `MR × NR` dot products of rows `0..MR` of `a` with rows `0..NR` of `b` (rows of length `k`).
#[inline(always)]
fn tile<const MR: usize, const NR: usize>(k: usize, a: &[i16], b: &[i16]) -> [[i32; NR]; MR] {
    let a: [&[i16]; MR] = std::array::from_fn(|i| &a[i * k..][..k]);
    let b: [&[i16]; NR] = std::array::from_fn(|j| &b[j * k..][..k]);
    let mut s = [[0i32; NR]; MR];
    for t in 0..k {
        for i in 0..MR {
            for j in 0..NR {
                // |i16 · i16| ≤ 2³⁰: the product fits, only the sum may wrap.
                s[i][j] = s[i][j].wrapping_add(i32::from(a[i][t]) * i32::from(b[j][t]));
            }
        }
    }
    s
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// [`super::dot_all`] in 4×2 tiles of `vpmaddwd` dot products.
    #[target_feature(enable = "avx2")]
    pub(super) fn dot_all<F: FnMut(usize, usize, i32)>(
        m: usize,
        n: usize,
        k: usize,
        lhs: &[i16],
        rhs: &[i16],
        store: &mut F,
    ) {
        super::tiles::<4, 2, F>(m, n, k, lhs, rhs, store, |k, a, b| tile_4x2(k, a, b));
    }

    /// Rows `0..4` of `a` dotted with rows `0..2` of `b`, 16 products per step; the last
    /// `k mod 16` products one by one.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn tile_4x2(k: usize, a: &[i16], b: &[i16]) -> [[i32; 2]; 4] {
        let a: [&[i16]; 4] = std::array::from_fn(|i| &a[i * k..][..k]);
        let b: [&[i16]; 2] = std::array::from_fn(|j| &b[j * k..][..k]);
        let main = k - k % 16;
        let mut acc = [[_mm256_setzero_si256(); 2]; 4];
        for t in (0..main).step_by(16) {
            let bv = [load(&b[0][t..]), load(&b[1][t..])];
            for i in 0..4 {
                let av = load(&a[i][t..]);
                for j in 0..2 {
                    acc[i][j] = _mm256_add_epi32(acc[i][j], _mm256_madd_epi16(av, bv[j]));
                }
            }
        }
        let mut out = [[0i32; 2]; 4];
        for (j, sums) in [
            sum4([acc[0][0], acc[1][0], acc[2][0], acc[3][0]]),
            sum4([acc[0][1], acc[1][1], acc[2][1], acc[3][1]]),
        ]
        .iter()
        .enumerate()
        {
            for i in 0..4 {
                let mut s = sums[i];
                for t in main..k {
                    s = s.wrapping_add(i32::from(a[i][t]) * i32::from(b[j][t]));
                }
                out[i][j] = s;
            }
        }
        out
    }

    /// The sums of the 8 lanes of each of 4 vectors (wrapping, as every lane sum is).
    #[inline]
    #[target_feature(enable = "avx2")]
    fn sum4(v: [__m256i; 4]) -> [i32; 4] {
        // Pairwise sums within each 128-bit half: lanes (v0 v0 v1 v1), then (v0 v1 v2 v3) per half.
        let h = _mm256_hadd_epi32(_mm256_hadd_epi32(v[0], v[1]), _mm256_hadd_epi32(v[2], v[3]));
        let s = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256::<1>(h));
        let mut out = [0i32; 4];
        // SAFETY: `out` is 16 bytes, the size of one __m128i; unaligned stores are fine.
        unsafe { _mm_storeu_si128(out.as_mut_ptr().cast(), s) };
        out
    }

    /// The first 16 elements of `v`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn load(v: &[i16]) -> __m256i {
        let v = &v[..16];
        // SAFETY: `v` holds 16 i16, 32 bytes; unaligned loads are fine.
        unsafe { _mm256_loadu_si256(v.as_ptr().cast()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn collect(m: usize, n: usize, f: impl FnOnce(&mut dyn FnMut(usize, usize, i32))) -> Vec<i32> {
        let mut out = vec![None; m * n];
        f(&mut |i, j, v| {
            assert!(
                out[i * n + j].replace(v).is_none(),
                "({i}, {j}) stored twice"
            );
        });
        out.into_iter()
            .map(|v| v.expect("every pair stored"))
            .collect()
    }

    proptest! {
        /// The dispatched product (AVX2 `vpmaddwd` tiles here) equals the portable loops, single
        /// and tiled, on any i16 values: −32768·−32768 pairs wrap alike.
        #[test]
        fn every_path_gives_the_wrapping_sums(
            (m, n, k) in (1..=9usize, 1..=7usize, 0..=40usize),
            seed in any::<u64>(),
            extreme in any::<bool>(),
        ) {
            let mut s = seed | 1;
            let mut next = || {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                if extreme && s % 3 == 0 { i16::MIN } else { s as i16 }
            };
            let lhs: Vec<i16> = (0..m * k).map(|_| next()).collect();
            let rhs: Vec<i16> = (0..n * k).map(|_| next()).collect();
            let naive: Vec<i32> = (0..m * n)
                .map(|ij| (0..k).fold(0i32, |acc, t| acc.wrapping_add(i32::from(lhs[ij / n * k + t]) * i32::from(rhs[ij % n * k + t]))))
                .collect();
            prop_assert_eq!(&collect(m, n, |st| dot_all(m, n, k, &lhs, &rhs, st)), &naive);
            prop_assert_eq!(&collect(m, n, |mut st| tiles::<1, 1, _>(m, n, k, &lhs, &rhs, &mut st, tile::<1, 1>)), &naive);
            prop_assert_eq!(&collect(m, n, |mut st| tiles::<4, 2, _>(m, n, k, &lhs, &rhs, &mut st, tile::<4, 2>)), &naive);
        }
    }
}
