//! The naive fixed-point arithmetic the kernels are checked against, and shared strategies.

use proptest::prelude::*;
use runtime::qops::Requant;

/// `a·b / 2³¹` to the nearest integer, ties up, clamped to i32: floor quotient and remainder,
/// and one more when the remainder is at least half the divisor.
pub fn naive_srdhm(a: i32, b: i32) -> i32 {
    let ab = i128::from(a) * i128::from(b);
    let d = 1i128 << 31;
    let (q, r) = (ab.div_euclid(d), ab.rem_euclid(d));
    let rounded = if 2 * r >= d { q + 1 } else { q };
    rounded.clamp(i32::MIN.into(), i32::MAX.into()) as i32
}

/// `x / 2^e` to the nearest integer, ties away from zero: round the magnitude half up, then
/// restore the sign.
pub fn naive_rdbpot(x: i32, e: i32) -> i32 {
    let mag = i64::from(x).abs();
    let d = 1i64 << e;
    let (q, r) = (mag / d, mag % d);
    let q = if 2 * r >= d { q + 1 } else { q };
    (if x < 0 { -q } else { q }) as i32
}

/// TFLite's MultiplyByQuantizedMultiplier from the two naive primitives, the left shift
/// saturated in i64.
pub fn naive_mbqm(x: i32, m: i32, shift: i32) -> i32 {
    let left = shift.max(0);
    let shifted = (i64::from(x) << left).clamp(i32::MIN.into(), i32::MAX.into()) as i32;
    naive_rdbpot(naive_srdhm(shifted, m), (-shift).max(0))
}

/// The code of accumulator `acc` in channel `c`, from the fields of `rq` (none of its methods).
pub fn naive_requant(rq: &Requant, c: usize, acc: i32) -> i32 {
    let i = if rq.multiplier.len() == 1 { 0 } else { c };
    (i64::from(naive_mbqm(acc, rq.multiplier[i], rq.shift[i])) + i64::from(rq.zero_point))
        .clamp(rq.lo.into(), rq.hi.into()) as i32
}

/// An exact i64 accumulator reduced modulo 2³², as the kernels' wrapping i32 sums are.
pub fn wrap(acc: i64) -> i32 {
    acc as i32
}

/// A u8 zero point, the extremes as often as anything in between.
pub fn zero_point_u8() -> impl Strategy<Value = i32> {
    prop_oneof![Just(0), Just(255), 0..=255i32]
}

/// u8 codes.
pub fn codes_u8(n: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), n)
}

/// i8 weights: the full range, the 8-bit symmetric range or the 7-bit one.
pub fn weights_i8(n: usize) -> impl Strategy<Value = Vec<i8>> {
    prop_oneof![
        prop::collection::vec(any::<i8>(), n),
        prop::collection::vec(-127i8..=127, n),
        prop::collection::vec(-63i8..=63, n),
    ]
}

/// An i32 bias: moderate, or near either end of the range (sums then wrap).
pub fn bias_i32(n: usize) -> impl Strategy<Value = Vec<i32>> {
    let v = prop_oneof![4 => -(1 << 20)..(1 << 20), 1 => i32::MIN..i32::MIN + (1 << 16), 1 => i32::MAX - (1 << 16)..=i32::MAX];
    prop::collection::vec(v, n)
}

/// A (multiplier, shift) pair: mostly what real layers have (a multiplier in [2³⁰, 2³¹), the top
/// included, and a right shift that keeps outputs in range), sometimes anything allowed.
pub fn pair() -> impl Strategy<Value = (i32, i32)> {
    let m = prop_oneof![(1i32 << 30)..=i32::MAX, Just(i32::MAX), Just(1 << 30)];
    prop_oneof![
        4 => (m, -20i32..=-2),
        1 => (0..=i32::MAX, -31i32..=30),
    ]
}

/// A requantization to u8 with one pair, or one per channel: any zero point, a clamp that is
/// the full range, a ReLU or any sub-range.
pub fn requant(channels: usize) -> impl Strategy<Value = Requant> {
    let pairs = prop_oneof![
        pair().prop_map(|p| vec![p]),
        prop::collection::vec(pair(), channels)
    ];
    let clamp = prop_oneof![
        Just((0, 255)),
        (0..=255i32, 0..=255i32).prop_map(|(a, b)| (a.min(b), a.max(b)))
    ];
    (pairs, zero_point_u8(), clamp, any::<bool>()).prop_map(
        |(pairs, zero_point, (lo, hi), relu)| {
            let (multiplier, shift) = pairs.into_iter().unzip();
            let lo = if relu { zero_point } else { lo };
            let hi = hi.max(lo);
            Requant {
                multiplier,
                shift,
                zero_point,
                lo,
                hi,
            }
        },
    )
}

/// A positive scale spanning several orders of magnitude.
pub fn scale() -> impl Strategy<Value = f32> {
    (-12i32..=4, 1.0f32..2.0).prop_map(|(e, m)| m * 2f32.powi(e))
}

/// Two shapes that broadcast: `a`'s, and `b` with some axes set to 1 and maybe fewer leading axes
/// (or the other way round).
pub fn broadcast_shapes() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    (
        prop::collection::vec(1..=4usize, 1..=4),
        prop::collection::vec(any::<bool>(), 4),
        0..=2usize,
        any::<bool>(),
    )
        .prop_map(|(a, ones, drop, swap)| {
            let mut b: Vec<usize> = a
                .iter()
                .zip(&ones)
                .map(|(&d, &one)| if one { 1 } else { d })
                .collect();
            b.drain(..drop.min(b.len() - 1));
            if swap {
                (b, a)
            } else {
                (a, b)
            }
        })
}

/// Codes of `shape`, as an array.
pub fn array_u8(shape: Vec<usize>) -> impl Strategy<Value = ndarray::ArrayD<u8>> {
    let n = shape.iter().product();
    codes_u8(n)
        .prop_map(move |v| ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&shape), v).unwrap())
}

/// `f(a, b)` elementwise over the broadcast of two arrays, written with ndarray's broadcasting.
pub fn naive_broadcast(
    a: &ndarray::ArrayD<u8>,
    b: &ndarray::ArrayD<u8>,
    f: impl Fn(i32, i32) -> i32,
) -> ndarray::ArrayD<u8> {
    let rank = a.ndim().max(b.ndim());
    let pad = |s: &[usize]| {
        std::iter::repeat_n(1, rank - s.len())
            .chain(s.iter().copied())
            .collect::<Vec<_>>()
    };
    let (sa, sb) = (pad(a.shape()), pad(b.shape()));
    let shape: Vec<usize> = sa.iter().zip(&sb).map(|(&x, &y)| x.max(y)).collect();
    let a = a.broadcast(ndarray::IxDyn(&shape)).unwrap();
    let b = b.broadcast(ndarray::IxDyn(&shape)).unwrap();
    ndarray::ArrayD::from_shape_fn(ndarray::IxDyn(&shape), |i| {
        f(i32::from(a[&i]), i32::from(b[&i])) as u8
    })
}
