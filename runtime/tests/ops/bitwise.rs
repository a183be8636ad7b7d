//! bitwise and bitwise_not against Rust's own operators per element type, with one operand
//! broadcast from a row; shifts against Rust's shifts where the amount is in range and ONNX's
//! sign fill (0, or -1 for a right shift of a negative value) where it is negative or too wide.

use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use runtime::ops::{bitwise, bitwise_not, BitOp};
use runtime::Tensor;

fn arr<T>(shape: &[usize], v: Vec<T>) -> ArrayD<T> {
    ArrayD::from_shape_vec(IxDyn(shape), v).unwrap()
}

proptest! {
    #[test]
    fn i32_and_or_xor_not_broadcast(
        rows in 1..4usize, a in prop::collection::vec(any::<i32>(), 12), b in prop::collection::vec(any::<i32>(), 3), k in 0..3usize,
    ) {
        let op = [BitOp::And, BitOp::Or, BitOp::Xor][k];
        let av = a[..rows * 3].to_vec();
        let got = bitwise(&Tensor::I32(arr(&[rows, 3], av.clone())), &Tensor::I32(arr(&[3], b.clone())), op).unwrap();
        let want: Vec<i32> = av.iter().enumerate().map(|(i, &p)| {
            let q = b[i % 3];
            match op { BitOp::And => p & q, BitOp::Or => p | q, _ => p ^ q }
        }).collect();
        prop_assert_eq!(got, Tensor::I32(arr(&[rows, 3], want)));
        let not = bitwise_not(&Tensor::I32(arr(&[rows, 3], av.clone()))).unwrap();
        prop_assert_eq!(not, Tensor::I32(arr(&[rows, 3], av.iter().map(|&p| !p).collect())));
    }

    #[test]
    fn i8_and_u64_not(a in prop::collection::vec(any::<i8>(), 1..9), b in prop::collection::vec(any::<u64>(), 1..9)) {
        let n = a.len();
        let got = bitwise_not(&Tensor::I8(arr(&[n], a.clone()))).unwrap();
        prop_assert_eq!(got, Tensor::I8(arr(&[n], a.iter().map(|&p| !p).collect())));
        let m = b.len();
        let got = bitwise(&Tensor::U64(arr(&[m], b.clone())), &Tensor::U64(arr(&[1], vec![b[0]])), BitOp::Xor).unwrap();
        prop_assert_eq!(got, Tensor::U64(arr(&[m], b.iter().map(|&p| p ^ b[0]).collect())));
    }

    #[test]
    fn unsigned_shifts(a in prop::collection::vec(any::<u16>(), 1..9), s in prop::collection::vec(0u16..20, 1..9), left in any::<bool>()) {
        let n = a.len().min(s.len());
        let (a, s) = (a[..n].to_vec(), s[..n].to_vec());
        let op = if left { BitOp::ShiftLeft } else { BitOp::ShiftRight };
        let got = bitwise(&Tensor::U16(arr(&[n], a.clone())), &Tensor::U16(arr(&[n], s.clone())), op).unwrap();
        let want: Vec<u16> = a.iter().zip(&s).map(|(&p, &q)| {
            let r = if left { p.checked_shl(q as u32) } else { p.checked_shr(q as u32) };
            r.unwrap_or(0)
        }).collect();
        prop_assert_eq!(got, Tensor::U16(arr(&[n], want)));
    }

    #[test]
    fn signed_shifts(a in prop::collection::vec(any::<i8>(), 1..9), s in prop::collection::vec(any::<i8>(), 1..9), left in any::<bool>()) {
        let n = a.len().min(s.len());
        let (a, s) = (a[..n].to_vec(), s[..n].to_vec());
        let op = if left { BitOp::ShiftLeft } else { BitOp::ShiftRight };
        let got = bitwise(&Tensor::I8(arr(&[n], a.clone())), &Tensor::I8(arr(&[n], s.clone())), op).unwrap();
        let want: Vec<i8> = a.iter().zip(&s).map(|(&p, &q)| match (left, (0..8).contains(&q)) {
            (true, true) => p.wrapping_shl(q as u32),
            (false, true) => p >> q,
            (true, false) => 0,
            (false, false) => if p < 0 { -1 } else { 0 },
        }).collect();
        prop_assert_eq!(got, Tensor::I8(arr(&[n], want)));
    }

    #[test]
    fn i64_shifts_broadcast(a in prop::collection::vec(any::<i64>(), 1..9), s in -70i64..70, left in any::<bool>()) {
        let n = a.len();
        let op = if left { BitOp::ShiftLeft } else { BitOp::ShiftRight };
        let got = bitwise(&Tensor::I64(arr(&[n], a.clone())), &Tensor::I64(arr(&[1], vec![s])), op).unwrap();
        let want: Vec<i64> = a.iter().map(|&p| match (left, (0..64).contains(&s)) {
            (true, true) => p.wrapping_shl(s as u32),
            (false, true) => p >> s,
            (true, false) => 0,
            (false, false) => if p < 0 { -1 } else { 0 },
        }).collect();
        prop_assert_eq!(got, Tensor::I64(arr(&[n], want)));
    }
}

#[test]
fn refusals() {
    let f = Tensor::F32(arr(&[1], vec![1.0]));
    assert!(bitwise(&f, &f, BitOp::And)
        .unwrap_err()
        .contains("integers"));
    assert!(bitwise_not(&f).unwrap_err().contains("integers"));
    let i = Tensor::I8(arr(&[1], vec![1]));
    let u = Tensor::U8(arr(&[1], vec![1]));
    assert!(bitwise(&i, &u, BitOp::Or)
        .unwrap_err()
        .contains("different"));
    let b = Tensor::Bool(arr(&[1], vec![true]));
    assert!(bitwise(&b, &b, BitOp::Xor).is_err());
}
