//! Up-or-down rounding of one weight row by exact coordinate descent on its output error, the
//! search behind `--rounding adaround` ([`crate::quant::rounding`]).
//!
//! A row `u` of weights in units of their scale (`u = w/s`) is to get integer codes `c`, each
//! `⌊u_i⌋` or `⌈u_i⌉`. On inputs `x` (the patches the row reads), the row's output error is
//! `s²·Σ_x (dᵀx)² = s²·dᵀ H d` with residues `d = c − u` and `H = Σ_x x xᵀ`. Nearest rounding
//! minimizes each `|d_i|` alone; the correlations in `H` (neighbouring taps of an image see
//! nearly the same values) let errors of opposite sign cancel, which nearest rounding leaves to
//! chance. AdaRound (Nagel et al. 2020, "Up or Down? Adaptive Rounding for Post-Training
//! Quantization", ICML) relaxes the choice and follows a gradient; the objective being quadratic,
//! this descends it exactly instead, one coordinate at a time:
//!
//! - with `g = H' d` kept (`H' = H + λI`), moving `c_i` by `δ = ±1` changes `dᵀH'd` by
//!   `δ·(2·g_i + δ·H'_ii)`: read in O(1), and a move taken updates `g` in O(K);
//! - a sweep visits every coordinate once in order and takes every move that lowers the error;
//!   the search stops after a sweep that moved nothing or after the budget of sweeps.
//!
//! Every move taken lowers `dᵀH'd`, so the result is never worse than the start (nearest rounding)
//! on that measure. The damping `λ` (a share of `H`'s mean diagonal, as GPTQ damps its Hessian)
//! charges every residue a little, which keeps a row that saw fewer input patches than it has
//! weights from buying a small error on the samples with large residues the samples cannot see.

/// The outcome of one row's search.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Descent {
    /// Codes that ended away from their nearest rounding.
    pub moved: usize,
    /// `dᵀHd − 2bᵀd` (undamped) before and after.
    pub before: f64,
    pub after: f64,
}

/// Chooses each `codes[i]` between `⌊u_i⌋` and `⌈u_i⌉` (within `±qmax`), starting from the given
/// codes (nearest rounding), to lower `dᵀ(H + λI)d − 2bᵀd` for `d = codes − u`. `h` is `H`
/// row-major (`k × k`, symmetric, `k = u.len()`), `g0` is `H·d − b` at the start, computed by the
/// caller (one matrix product for a whole layer is much faster than a product per row). The
/// linear term `b` is zero when the layer's input is the float one; on a quantized input it
/// carries the error the input brings ([`crate::quant::rounding`]).
#[allow(clippy::too_many_arguments)]
pub fn descend(
    h: &[f32],
    g0: &[f32],
    b: &[f32],
    lambda: f64,
    u: &[f64],
    codes: &mut [i32],
    qmax: i32,
    sweeps: usize,
) -> Descent {
    let k = u.len();
    debug_assert_eq!(h.len(), k * k);
    debug_assert_eq!(codes.len(), k);
    let start: Vec<i32> = codes.to_vec();
    let mut d: Vec<f64> = codes.iter().zip(u).map(|(&c, &u)| c as f64 - u).collect();
    let mut g: Vec<f64> = g0
        .iter()
        .zip(&d)
        .map(|(&g, &d)| g as f64 + lambda * d)
        .collect();
    // With `g = H'd − b`: `dᵀHd − 2bᵀd = dᵀg − λdᵀd − bᵀd`.
    let undamped = |d: &[f64], g: &[f64]| -> f64 {
        d.iter()
            .zip(g)
            .zip(b)
            .map(|((d, g), &b)| d * g - lambda * d * d - b as f64 * d)
            .sum::<f64>()
    };
    let before = undamped(&d, &g);
    for _ in 0..sweeps {
        let mut moved = false;
        for i in 0..k {
            let lo = u[i].floor();
            if lo == u[i] {
                // An integer weight has one rounding.
                continue;
            }
            let c = codes[i];
            let other = if c as f64 <= lo { c + 1 } else { c - 1 };
            if other.abs() > qmax {
                continue;
            }
            let delta = (other - c) as f64;
            let hii = h[i * k + i] as f64 + lambda;
            let change = delta * (2.0 * g[i] + delta * hii);
            // A move must win by more than the rounding noise of `g`, or two equal choices
            // would swap back and forth.
            if change < -1e-9 * hii {
                codes[i] = other;
                d[i] += delta;
                let row = &h[i * k..(i + 1) * k];
                for (gj, &hij) in g.iter_mut().zip(row) {
                    *gj += delta * hij as f64;
                }
                g[i] += delta * lambda;
                moved = true;
            }
        }
        if !moved {
            break;
        }
    }
    Descent {
        moved: codes.iter().zip(&start).filter(|(a, b)| a != b).count(),
        before,
        after: undamped(&d, &g),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn quad(h: &[f32], d: &[f64]) -> f64 {
        let k = d.len();
        (0..k)
            .map(|i| {
                (0..k)
                    .map(|j| d[i] * h[i * k + j] as f64 * d[j])
                    .sum::<f64>()
            })
            .sum()
    }

    /// H = Σ x xᵀ over random patches, u random, codes nearest.
    fn case(k: usize, n: usize, seed: u64) -> (Vec<f32>, Vec<f64>, Vec<i32>) {
        let mut s = seed | 1;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64
        };
        // Correlated inputs: a shared level plus noise, as neighbouring taps of an image.
        let xs: Vec<Vec<f64>> = (0..n)
            .map(|_| {
                let level = next() * 2.0;
                (0..k).map(|_| level + 0.3 * (next() - 0.5)).collect()
            })
            .collect();
        let mut h = vec![0f32; k * k];
        for i in 0..k {
            for j in 0..k {
                h[i * k + j] = xs.iter().map(|x| x[i] * x[j]).sum::<f64>() as f32;
            }
        }
        let u: Vec<f64> = (0..k).map(|_| (next() - 0.5) * 20.0).collect();
        let codes = u.iter().map(|v| v.round() as i32).collect();
        (h, u, codes)
    }

    fn g_of(h: &[f32], u: &[f64], codes: &[i32]) -> Vec<f32> {
        let k = u.len();
        (0..k)
            .map(|i| {
                (0..k)
                    .map(|j| h[i * k + j] as f64 * (codes[j] as f64 - u[j]))
                    .sum::<f64>() as f32
            })
            .collect()
    }

    proptest! {
        /// Every code stays one of its two roundings, the error never rises, the reported errors
        /// are the true ones, and on correlated inputs the search finds a real improvement.
        #[test]
        fn lowers_the_output_error_within_up_or_down(k in 2usize..24, n in 1usize..40, seed in any::<u64>()) {
            let (h, u, mut codes) = case(k, n, seed);
            let g = g_of(&h, &u, &codes);
            let r = descend(&h, &g, &vec![0.0; k], 0.0, &u, &mut codes, 127, 20);
            for (c, v) in codes.iter().zip(&u) {
                prop_assert!(*c as f64 == v.floor() || *c as f64 == v.ceil(), "{c} for {v}");
            }
            let d: Vec<f64> = codes.iter().zip(&u).map(|(&c, &u)| c as f64 - u).collect();
            let d0: Vec<f64> = u.iter().map(|v| v.round() - v).collect();
            let (after, before) = (quad(&h, &d), quad(&h, &d0));
            prop_assert!(after <= before * (1.0 + 1e-6) + 1e-6, "{after} > {before}");
            prop_assert!((r.after - after).abs() <= 1e-3 * (1.0 + after.abs()), "{} vs {after}", r.after);
            prop_assert!((r.before - before).abs() <= 1e-3 * (1.0 + before.abs()));
        }

        /// With a linear term (a quantized input's error), the objective `dᵀHd − 2bᵀd` never
        /// rises, the reported values are the true ones, and no single move lowers it further.
        #[test]
        fn lowers_the_objective_with_a_linear_term(k in 2usize..16, n in 1usize..40, seed in any::<u64>(), scale in 0.0f64..50.0) {
            let (h, u, mut codes) = case(k, n, seed);
            let b: Vec<f32> = (0..k).map(|i| (((i as u64 * 2654435761 + seed) % 1000) as f64 / 500.0 - 1.0) as f32 * scale as f32).collect();
            let g: Vec<f32> = g_of(&h, &u, &codes).iter().zip(&b).map(|(g, b)| g - b).collect();
            let r = descend(&h, &g, &b, 0.0, &u, &mut codes, 127, 200);
            let f = |codes: &[i32]| {
                let d: Vec<f64> = codes.iter().zip(&u).map(|(&c, &u)| c as f64 - u).collect();
                quad(&h, &d) - 2.0 * d.iter().zip(&b).map(|(d, &b)| d * b as f64).sum::<f64>()
            };
            let start: Vec<i32> = u.iter().map(|v| v.round() as i32).collect();
            let (after, before) = (f(&codes), f(&start));
            prop_assert!(after <= before + 1e-6 * (1.0 + before.abs()), "{after} > {before}");
            prop_assert!((r.after - after).abs() <= 1e-3 * (1.0 + after.abs()), "{} vs {after}", r.after);
            prop_assert!((r.before - before).abs() <= 1e-3 * (1.0 + before.abs()));
            for i in 0..k {
                let mut other = codes.clone();
                other[i] = if codes[i] as f64 <= u[i].floor() { codes[i] + 1 } else { codes[i] - 1 };
                if u[i].floor() != u[i] {
                    prop_assert!(f(&other) >= after - 1e-3 * (1.0 + after.abs()), "move {i} lowers it");
                }
            }
        }
    }

    #[test]
    fn cancels_errors_of_opposite_sign_on_correlated_taps() {
        // Two taps that always see the same value: 0.4 and 0.4 round to 0 and 0 (error 0.8·x),
        // but rounding one up gives −0.6 + 0.4 = −0.2·x.
        let h = [1.0f32, 1.0, 1.0, 1.0];
        let u = [0.4, 0.4];
        let mut codes = [0, 0];
        let g = g_of(&h, &u, &codes);
        let r = descend(&h, &g, &[0.0; 2], 0.0, &u, &mut codes, 127, 4);
        assert_eq!(r.moved, 1);
        assert!(
            (r.before - 0.64).abs() < 1e-6 && (r.after - 0.04).abs() < 1e-6,
            "{r:?}"
        );
    }

    #[test]
    fn damping_keeps_unseen_weights_nearest() {
        // The second tap never sees input: without damping its rounding is free; with damping,
        // moving it off nearest only costs.
        let h = [1.0f32, 0.0, 0.0, 0.0];
        let u = [0.3, 0.4];
        let mut codes = [0, 0];
        let g = g_of(&h, &u, &codes);
        let r = descend(&h, &g, &[0.0; 2], 0.01, &u, &mut codes, 127, 4);
        assert_eq!((codes, r.moved), ([0, 0], 0));
    }

    #[test]
    fn codes_stay_within_qmax() {
        // Visited first, the first tap would cancel the error best by going from 127 to 128,
        // past qmax; the second tap moves instead.
        let h = [1.0f32, 1.0, 1.0, 1.0];
        let u = [127.3, 0.45];
        let mut codes = [127, 0];
        let g = g_of(&h, &u, &codes);
        descend(&h, &g, &[0.0; 2], 0.0, &u, &mut codes, 127, 4);
        assert_eq!(codes, [127, 1]);
    }
}
