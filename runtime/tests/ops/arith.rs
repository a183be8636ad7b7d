//! arith (integers, f16, f64), compare, logic, where and Tensor::cast against per-element
//! formulas written from the ONNX and C definitions, with one operand broadcast from a scalar.

use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use runtime::f16;
use runtime::ops::{arith, compare, logic, where_, ArithOp, CmpOp, LogicOp};
use runtime::{DType, Tensor};

fn arr<T>(v: Vec<T>) -> ArrayD<T> {
    let n = v.len();
    ArrayD::from_shape_vec(IxDyn(&[n]), v).unwrap()
}

fn scalar<T: Clone>(v: T) -> ArrayD<T> {
    ArrayD::from_elem(IxDyn(&[]), v)
}

/// Python's `%`: the remainder takes the divisor's sign.
fn py_mod(p: i64, q: i64) -> i64 {
    let r = p.rem_euclid(q);
    if q < 0 && r != 0 {
        r + q
    } else {
        r
    }
}

const OPS: [ArithOp; 6] = [
    ArithOp::Add,
    ArithOp::Sub,
    ArithOp::Mul,
    ArithOp::Div,
    ArithOp::Mod,
    ArithOp::Fmod,
];

proptest! {
    #[test]
    fn i64_arith_wraps_and_divides_toward_zero(
        a in prop::collection::vec(any::<i64>(), 1..20), b in any::<i64>(), k in 0..6usize,
    ) {
        let op = OPS[k];
        let got = arith(&Tensor::I64(arr(a.clone())), &Tensor::I64(scalar(b)), op);
        if b == 0 && matches!(op, ArithOp::Div | ArithOp::Mod | ArithOp::Fmod) {
            prop_assert!(got.is_err());
            return Ok(());
        }
        let want: Vec<i64> = a.iter().map(|&p| match op {
            ArithOp::Add => p.wrapping_add(b),
            ArithOp::Sub => p.wrapping_sub(b),
            ArithOp::Mul => p.wrapping_mul(b),
            ArithOp::Div => p.wrapping_div(b),
            ArithOp::Fmod => p.wrapping_rem(b),
            ArithOp::Mod => if b == -1 { 0 } else { py_mod(p, b) },
        }).collect();
        prop_assert_eq!(got.unwrap(), Tensor::I64(arr(want)));
    }

    #[test]
    fn i8_and_u8_arith_wrap(a in prop::collection::vec(any::<i8>(), 1..20), b in any::<i8>(), k in 0..4usize) {
        let op = OPS[k];
        prop_assume!(b != 0 || op != ArithOp::Div);
        let got = arith(&Tensor::I8(arr(a.clone())), &Tensor::I8(scalar(b)), op).unwrap();
        let want: Vec<i8> = a.iter().map(|&p| match op {
            ArithOp::Add => p.wrapping_add(b),
            ArithOp::Sub => p.wrapping_sub(b),
            ArithOp::Mul => p.wrapping_mul(b),
            _ => p.wrapping_div(b),
        }).collect();
        prop_assert_eq!(got, Tensor::I8(arr(want)));
        let (ua, ub): (Vec<u8>, u8) = (a.iter().map(|&v| v as u8).collect(), b as u8);
        let got = arith(&Tensor::U8(arr(ua.clone())), &Tensor::U8(scalar(ub)), op).unwrap();
        let want: Vec<u8> = ua.iter().map(|&p| match op {
            ArithOp::Add => p.wrapping_add(ub),
            ArithOp::Sub => p.wrapping_sub(ub),
            ArithOp::Mul => p.wrapping_mul(ub),
            _ => p / ub,
        }).collect();
        prop_assert_eq!(got, Tensor::U8(arr(want)));
    }

    #[test]
    fn f16_arith_rounds_the_f32_result_once(
        a in prop::collection::vec(-1000.0f32..1000.0, 1..20), b in -1000.0f32..1000.0, k in 0..4usize,
    ) {
        let op = OPS[k];
        let h: Vec<f16> = a.iter().map(|&v| f16::from_f32(v)).collect();
        let hb = f16::from_f32(b);
        let got = arith(&Tensor::F16(arr(h.clone())), &Tensor::F16(scalar(hb)), op).unwrap();
        let want: Vec<f16> = h.iter().map(|&p| {
            let (x, y) = (p.to_f32(), hb.to_f32());
            f16::from_f32(match op {
                ArithOp::Add => x + y,
                ArithOp::Sub => x - y,
                ArithOp::Mul => x * y,
                _ => x / y,
            })
        }).collect();
        let (Tensor::F16(g), w) = (got, arr(want)) else { panic!("f16 result") };
        // Bits, so that NaN (0/0) compares as itself.
        prop_assert_eq!(g.mapv(|v| v.to_bits()), w.mapv(|v| v.to_bits()));
    }

    #[test]
    fn comparisons_and_where_follow_ieee(
        a in prop::collection::vec(prop_oneof![Just(f64::NAN), -3.0f64..3.0, Just(1.0)], 1..20),
        b in prop_oneof![Just(f64::NAN), Just(1.0), -3.0f64..3.0],
        k in 0..5usize,
    ) {
        let (_, op) = CmpOp::ALL[k];
        let got = compare(&Tensor::F64(arr(a.clone())), &Tensor::F64(scalar(b)), op).unwrap();
        let want: Vec<bool> = a.iter().map(|&p| match op {
            CmpOp::Equal => p == b,
            CmpOp::Less => p < b,
            CmpOp::Greater => p > b,
            CmpOp::LessOrEqual => p <= b,
            CmpOp::GreaterOrEqual => p >= b,
        }).collect();
        prop_assert_eq!(&got, &arr(want.clone()));
        let picked = where_(&got, &Tensor::I64(arr((0..a.len() as i64).collect())), &Tensor::I64(scalar(-1))).unwrap();
        let want_w: Vec<i64> = want.iter().enumerate().map(|(i, &c)| if c { i as i64 } else { -1 }).collect();
        prop_assert_eq!(picked, Tensor::I64(arr(want_w)));
    }

    #[test]
    fn logic_is_boolean_algebra(a in prop::collection::vec(any::<bool>(), 1..20), b in any::<bool>(), k in 0..3usize) {
        let (_, op) = LogicOp::ALL[k];
        let got = logic(&arr(a.clone()), &scalar(b), op).unwrap();
        let want: Vec<bool> = a.iter().map(|&p| match op {
            LogicOp::And => p && b,
            LogicOp::Or => p || b,
            LogicOp::Xor => p != b,
        }).collect();
        prop_assert_eq!(got, arr(want));
    }

    #[test]
    fn casts_follow_numpy_astype(v in prop::collection::vec(prop_oneof![any::<f32>(), -300.0f32..300.0], 1..20)) {
        let t = Tensor::F32(arr(v.clone()));
        let want_i32: Vec<i32> = v.iter().map(|&x| {
            if x.is_nan() { 0 } else { x.trunc().clamp(i32::MIN as f32, i32::MAX as f32) as i32 }
        }).collect();
        prop_assert_eq!(t.cast(DType::I32), Tensor::I32(arr(want_i32)));
        let want_b: Vec<bool> = v.iter().map(|&x| x != 0.0).collect();
        prop_assert_eq!(t.cast(DType::Bool), Tensor::Bool(arr(want_b)));
        let want_h: Vec<u16> = v.iter().map(|&x| f16::from_f32(x).to_bits()).collect();
        let Tensor::F16(h) = t.cast(DType::F16) else { panic!("f16") };
        prop_assert_eq!(h.mapv(|x| x.to_bits()), arr(want_h));
        let wide: Vec<i64> = v.iter().map(|&x| if x.is_finite() { x as i64 } else { 0 }).collect();
        let want_i8: Vec<i8> = wide.iter().map(|&x| (x & 0xff) as u8 as i8).collect();
        prop_assert_eq!(Tensor::I64(arr(wide)).cast(DType::I8), Tensor::I8(arr(want_i8)));
    }
}
