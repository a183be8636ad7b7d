//! qmatmul (two activations) against the naive formula over broadcasting batch axes, and
//! against its quantized float simulation.

use crate::common::*;
use proptest::prelude::*;
use runtime::ops::{dequantize, matmul, quantize, QuantParams};
use runtime::qops::{qmatmul, MulParams};
use runtime::{DType, Tensor};

/// Shapes `[…, M, K]` and `[…, K, N]` whose batch axes broadcast (a 1 or a missing axis on
/// either side), ranks 2 to 4.
fn shapes() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    (
        prop::collection::vec((1..=3usize, any::<bool>(), any::<bool>()), 0..=2),
        1..=5usize,
        0..=9usize,
        1..=5usize,
        any::<bool>(),
    )
        .prop_map(|(batch, m, k, n, drop_b)| {
            let mut a: Vec<usize> = batch
                .iter()
                .map(|&(d, one, _)| if one { 1 } else { d })
                .collect();
            let mut b: Vec<usize> = batch
                .iter()
                .map(|&(d, _, one)| if one { 1 } else { d })
                .collect();
            if drop_b && !b.is_empty() {
                b.remove(0);
            }
            a.extend([m, k]);
            b.extend([k, n]);
            (a, b)
        })
}

/// The formula, index by index: batch axes aligned from the right, a 1 repeating, the sum in i64
/// then wrapped to i32 as the accumulator does.
fn naive(a: &ndarray::ArrayD<u8>, b: &ndarray::ArrayD<u8>, p: &MulParams) -> ndarray::ArrayD<u8> {
    let (sa, sb) = (a.shape(), b.shape());
    let (ra, rb) = (sa.len(), sb.len());
    let (m, k, n) = (sa[ra - 2], sa[ra - 1], sb[rb - 1]);
    let r = ra.max(rb);
    let pad = |s: &[usize]| -> Vec<usize> {
        let mut v = vec![1; r - s.len()];
        v.extend_from_slice(&s[..s.len() - 2]);
        v
    };
    let (ba, bb) = (pad(sa), pad(sb));
    let batch: Vec<usize> = ba.iter().zip(&bb).map(|(&x, &y)| x.max(y)).collect();
    let mut shape = batch.clone();
    shape.extend([m, n]);
    ndarray::ArrayD::from_shape_fn(ndarray::IxDyn(&shape), |idx| {
        let pick = |bs: &[usize], rank: usize| -> Vec<usize> {
            let full: Vec<usize> = (0..r - 2)
                .map(|d| if bs[d] == 1 { 0 } else { idx[d] })
                .collect();
            full[r - rank..].to_vec()
        };
        let (ia, ib) = (pick(&ba, ra), pick(&bb, rb));
        let mut acc = 0i64;
        for t in 0..k {
            let mut ja = ia.clone();
            ja.extend([idx[r - 2], t]);
            let mut jb = ib.clone();
            jb.extend([t, idx[r - 1]]);
            acc += (i64::from(a[&ja[..]]) - i64::from(p.a_zero_point))
                * (i64::from(b[&jb[..]]) - i64::from(p.b_zero_point));
        }
        naive_requant(&p.out, 0, wrap(acc)) as u8
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn matches_naive_formula(
        ((a, b), (sa, sb, u), (za, zb, zy)) in shapes().prop_flat_map(|(sa, sb)| (array_u8(sa), array_u8(sb)))
            .prop_flat_map(|ab| (Just(ab), (scale(), scale(), -2.0f32..12.0), (zero_point_u8(), zero_point_u8(), zero_point_u8()))),
        relu in any::<bool>(),
    ) {
        let lo = if relu { zy } else { 0 };
        let p = MulParams::from_scales((sa, za), (sb, zb), (sa * sb * 2f32.powf(u), zy), lo, 255).unwrap();
        prop_assert_eq!(qmatmul(&a, &b, &p), naive(&a, &b, &p));
    }

    /// Within one code of quantize(matmul(dequantize(a), dequantize(b))); power-of-two scales
    /// keep the f32 sums exact.
    #[test]
    fn matches_quantized_float_simulation(
        ((a, b), (ea, eb, u), (za, zb, zy)) in shapes().prop_flat_map(|(sa, sb)| (array_u8(sa), array_u8(sb)))
            .prop_flat_map(|ab| (Just(ab), (-8i32..=0, -8i32..=0, 0.0f32..12.0), (zero_point_u8(), zero_point_u8(), zero_point_u8()))),
    ) {
        let (sa, sb) = (2f32.powi(ea), 2f32.powi(eb));
        let sy = sa * sb * 2f32.powf(u);
        let p = MulParams::from_scales((sa, za), (sb, zb), (sy, zy), 0, 255).unwrap();
        let got = qmatmul(&a, &b, &p);
        let per = |s: f32, z: i32| QuantParams { scales: vec![s], zero_points: vec![z], axis: None };
        let yf = matmul(&dequantize(&Tensor::U8(a), &per(sa, za)), &dequantize(&Tensor::U8(b), &per(sb, zb)));
        let Tensor::U8(want) = quantize(&yf, &per(sy, zy), DType::U8) else { unreachable!() };
        prop_assert_eq!(got.shape(), want.shape());
        for (g, w) in got.iter().zip(want.iter()) {
            prop_assert!((i32::from(*g) - i32::from(*w)).abs() <= 1, "integer {} vs float simulation {}", g, w);
        }
    }
}
