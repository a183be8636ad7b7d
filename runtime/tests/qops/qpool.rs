//! qmax_pool, qavg_pool and qglobal_avg_pool against naive formulas (ONNX windows, ceil_mode,
//! count_include_pad both ways) and against their quantized float simulations.

use crate::common::*;
use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use runtime::ops::{
    avg_pool, dequantize, global_avg_pool, max_pool, quantize, PoolParams, QuantParams,
};
use runtime::qops::{
    avg_pool_requant, global_avg_pool_requant, qavg_pool, qglobal_avg_pool, qmax_pool, Requant,
};
use runtime::{DType, Tensor};

fn window() -> impl Strategy<Value = PoolParams> {
    (
        [1..=3usize, 1..=3],
        [1..=3usize, 1..=3],
        [1..=2usize, 1..=2],
        [0..=2usize, 0..=2, 0..=2, 0..=2],
        any::<bool>(),
    )
        .prop_map(|(kernel, strides, dilations, pads, ceil_mode)| PoolParams {
            kernel,
            strides,
            pads,
            dilations,
            ceil_mode,
        })
}

/// A window and an input shape it fits.
fn case() -> impl Strategy<Value = (Vec<usize>, PoolParams)> {
    (window(), 1..=2usize, 1..=3usize, [0..=5usize, 0..=5]).prop_map(|(p, n, c, extra)| {
        let len = |a: usize| {
            (p.dilations[a] * (p.kernel[a] - 1) + 1)
                .saturating_sub(p.pads[a] + p.pads[a + 2])
                .max(1)
                + extra[a]
        };
        (vec![n, c, len(0), len(1)], p)
    })
}

/// The ONNX output length: floor or ceil of the window count, dropping a ceil-mode window that
/// would start past the input and its begin padding.
fn out_len(len: usize, p: &PoolParams, a: usize) -> usize {
    let span = p.dilations[a] * (p.kernel[a] - 1) + 1;
    let q = (len + p.pads[a] + p.pads[a + 2] - span) as f64 / p.strides[a] as f64;
    let mut out = if p.ceil_mode { q.ceil() } else { q.floor() } as usize + 1;
    if p.ceil_mode && (out - 1) * p.strides[a] >= len + p.pads[a] {
        out -= 1;
    }
    out
}

/// For each output position: the codes inside the input and the count of taps inside the
/// explicitly padded input.
fn windows<T: Copy>(
    x: &ArrayD<T>,
    p: &PoolParams,
    mut f: impl FnMut(&[T], usize) -> T,
) -> ArrayD<T> {
    let s = x.shape();
    let (h, w) = (s[2] as isize, s[3] as isize);
    let (pt, pl, pb, pr) = (
        p.pads[0] as isize,
        p.pads[1] as isize,
        p.pads[2] as isize,
        p.pads[3] as isize,
    );
    ArrayD::from_shape_fn(
        IxDyn(&[s[0], s[1], out_len(s[2], p, 0), out_len(s[3], p, 1)]),
        |idx| {
            let mut inside = vec![];
            let mut padded = 0;
            for ki in 0..p.kernel[0] {
                for kj in 0..p.kernel[1] {
                    let y = (idx[2] * p.strides[0] + ki * p.dilations[0]) as isize - pt;
                    let z = (idx[3] * p.strides[1] + kj * p.dilations[1]) as isize - pl;
                    if y >= 0 && y < h && z >= 0 && z < w {
                        inside.push(x[[idx[0], idx[1], y as usize, z as usize]]);
                    }
                    if y >= -pt && y < h + pb && z >= -pl && z < w + pr {
                        padded += 1;
                    }
                }
            }
            f(&inside, padded)
        },
    )
}

fn naive_avg(
    x: &ArrayD<u8>,
    zx: i32,
    p: &PoolParams,
    include_pad: bool,
    rq: &Requant,
) -> ArrayD<u8> {
    windows(x, p, |inside, padded| {
        let count = if include_pad { padded } else { inside.len() };
        let sum: i64 = inside.iter().map(|&v| i64::from(v) - i64::from(zx)).sum();
        if count == 0 {
            rq.zero_point.clamp(rq.lo, rq.hi) as u8
        } else {
            naive_requant(rq, count - 1, wrap(sum)) as u8
        }
    })
}

fn per(s: f32, z: i32) -> QuantParams {
    QuantParams {
        scales: vec![s],
        zero_points: vec![z],
        axis: None,
    }
}

/// One (multiplier, shift) per count, from the pairs strategy, and a clamp.
fn count_requant(window: usize) -> impl Strategy<Value = Requant> {
    (
        prop::collection::vec(pair(), window),
        zero_point_u8(),
        any::<bool>(),
    )
        .prop_map(|(pairs, zero_point, relu)| {
            let (multiplier, shift) = pairs.into_iter().unzip();
            Requant {
                multiplier,
                shift,
                zero_point,
                lo: if relu { zero_point } else { 0 },
                hi: 255,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn max_pool_matches_naive_u8((x, p) in case().prop_flat_map(|(s, p)| (array_u8(s), Just(p)))) {
        let want = windows(&x, &p, |inside, _| inside.iter().copied().max().unwrap_or(0));
        prop_assert_eq!(qmax_pool(&Tensor::U8(x), &p), Tensor::U8(want));
    }

    #[test]
    fn max_pool_matches_naive_i8((x, p) in case().prop_flat_map(|(s, p)| {
        let n: usize = s.iter().product();
        (prop::collection::vec(any::<i8>(), n).prop_map(move |v| ArrayD::from_shape_vec(IxDyn(&s), v).unwrap()), Just(p))
    })) {
        let want = windows(&x, &p, |inside, _| inside.iter().copied().max().unwrap_or(i8::MIN));
        prop_assert_eq!(qmax_pool(&Tensor::I8(x), &p), Tensor::I8(want));
    }

    /// Quantization is monotonic, so max pooling on codes is exactly the float max pool between
    /// a dequantize and a quantize with the same parameters (windows of padding alone included).
    #[test]
    fn max_pool_is_its_float_simulation((x, p) in case().prop_flat_map(|(s, p)| (array_u8(s), Just(p))), s in scale(), z in zero_point_u8()) {
        let xf = dequantize(&Tensor::U8(x.clone()), &per(s, z));
        prop_assert_eq!(qmax_pool(&Tensor::U8(x), &p), quantize(&max_pool(&xf, &p), &per(s, z), DType::U8));
    }

    #[test]
    fn avg_pool_matches_naive(
        ((x, p), rq) in case().prop_flat_map(|(s, p)| ((array_u8(s), Just(p.clone())), count_requant(p.kernel[0] * p.kernel[1]))),
        zx in zero_point_u8(),
        include_pad in any::<bool>(),
    ) {
        prop_assert_eq!(qavg_pool(&x, zx, &p, include_pad, &rq), naive_avg(&x, zx, &p, include_pad, &rq));
    }

    /// Within one code of quantize(avg_pool(dequantize(x))), count_include_pad both ways.
    #[test]
    fn avg_pool_matches_quantized_float_simulation(
        (x, p) in case().prop_flat_map(|(s, p)| (array_u8(s), Just(p))),
        (sx, zx, u, zy) in (scale(), zero_point_u8(), -3.0f32..3.0, zero_point_u8()),
        include_pad in any::<bool>(),
    ) {
        let sy = sx * 2f32.powf(u);
        let rq = avg_pool_requant(sx, sy, p.kernel[0] * p.kernel[1], zy, 0, 255).unwrap();
        let got = qavg_pool(&x, zx, &p, include_pad, &rq);
        let yf = avg_pool(&dequantize(&Tensor::U8(x), &per(sx, zx)), &p, include_pad);
        let Tensor::U8(want) = quantize(&yf, &per(sy, zy), DType::U8) else { unreachable!() };
        for (g, w) in got.iter().zip(want.iter()) {
            prop_assert!((i32::from(*g) - i32::from(*w)).abs() <= 1, "integer {} vs float simulation {}", g, w);
        }
    }

    #[test]
    fn global_avg_pool_matches_naive_and_its_float_simulation(
        x in prop::collection::vec(1..=4usize, 2..=5).prop_flat_map(array_u8),
        (sx, zx, u, zy) in (scale(), zero_point_u8(), -3.0f32..3.0, zero_point_u8()),
    ) {
        let sy = sx * 2f32.powf(u);
        let s = x.shape().to_vec();
        let count: usize = s[2..].iter().product();
        let rq = global_avg_pool_requant(sx, sy, count, zy, 0, 255).unwrap();
        let got = qglobal_avg_pool(&x, zx, &rq);
        let mut out_shape = s.clone();
        out_shape[2..].iter_mut().for_each(|d| *d = 1);
        let want = ArrayD::from_shape_fn(IxDyn(&out_shape), |o| {
            let sum: i64 = x.indexed_iter().filter(|(i, _)| i[0] == o[0] && i[1] == o[1]).map(|(_, &v)| i64::from(v) - i64::from(zx)).sum();
            naive_requant(&rq, 0, wrap(sum)) as u8
        });
        prop_assert_eq!(&got, &want);
        let yf = global_avg_pool(&dequantize(&Tensor::U8(x), &per(sx, zx)));
        let Tensor::U8(float) = quantize(&yf, &per(sy, zy), DType::U8) else { unreachable!() };
        for (g, w) in got.iter().zip(float.iter()) {
            prop_assert!((i32::from(*g) - i32::from(*w)).abs() <= 1, "integer {} vs float simulation {}", g, w);
        }
    }
}

#[test]
fn count_include_pad_with_ceil_mode() {
    // 4×4 codes of 12 (zero point 0, S_x = S_y = 1), 2×2 window, stride 2, pad 1 at the top
    // and left only, ceil mode: windows start at −1, 1 and 3 along each axis, holding (inside,
    // padded) taps (1, 2), (2, 2), (1, 1) — the last reaches past the padded input, and that
    // overhang never counts.
    let x = ArrayD::from_elem(IxDyn(&[1, 1, 4, 4]), 12u8);
    let p = PoolParams {
        kernel: [2, 2],
        strides: [2, 2],
        pads: [1, 1, 0, 0],
        dilations: [1, 1],
        ceil_mode: true,
    };
    let rq = avg_pool_requant(1.0, 1.0, 4, 0, 0, 255).unwrap();
    let with_pad = qavg_pool(&x, 0, &p, true, &rq);
    assert_eq!(with_pad.shape(), &[1, 1, 3, 3]);
    // Sums 12·inside over counts padded_r·padded_c: 12/4, 24/4, 12/2, 24/4, 48/4, 24/2, 12/2, 24/2, 12/1.
    assert_eq!(
        with_pad.iter().copied().collect::<Vec<_>>(),
        vec![3, 6, 6, 6, 12, 12, 6, 12, 12]
    );
    assert_eq!(
        qavg_pool(&x, 0, &p, false, &rq)
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        vec![12; 9]
    );
    // Codes of 10: 10/4 = 2.5. The multiplier ¼ is (2³⁰, −1): srdhm gives 10·½ = 5 exactly, and
    // 5/2 rounds away from zero to 3 (float AveragePool then quantize would round half to even: 2).
    let ten = ArrayD::from_elem(IxDyn(&[1, 1, 4, 4]), 10u8);
    assert_eq!(qavg_pool(&ten, 0, &p, true, &rq)[[0, 0, 0, 0]], 3);
}

#[test]
fn windows_of_padding_alone() {
    // A 1×1 input with pads of 2 and a 1×1 window: most windows see only padding. Average
    // without the padding: count 0 gives the zero point (0.0), clamped; with the padding: 0/1.
    let x = ArrayD::from_elem(IxDyn(&[1, 1, 1, 1]), 200u8);
    let p = PoolParams {
        kernel: [1, 1],
        strides: [1, 1],
        pads: [2, 2, 2, 2],
        dilations: [1, 1],
        ceil_mode: false,
    };
    let rq = Requant {
        multiplier: vec![1 << 30],
        shift: vec![1],
        zero_point: 7,
        lo: 9,
        hi: 255,
    };
    let y = qavg_pool(&x, 100, &p, false, &rq);
    assert_eq!(y.shape(), &[1, 1, 5, 5]);
    assert_eq!(y[[0, 0, 2, 2]], 107);
    assert_eq!(y[[0, 0, 0, 0]], 9);
    let Tensor::U8(m) = qmax_pool(&Tensor::U8(x), &p) else {
        unreachable!()
    };
    assert_eq!((m[[0, 0, 2, 2]], m[[0, 0, 0, 0]]), (200, 0));
}
