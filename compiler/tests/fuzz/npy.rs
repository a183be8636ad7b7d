//! `.npy` files whose headers lie: shapes far beyond the data, overflowing products, wrong or
//! unknown descriptors, header lengths past the end, all three format versions, then random
//! byte edits. Each is read as every element type qcc takes.

use super::bounded_alloc::{cases, largest_allocation};
use proptest::prelude::*;
use runtime::DType;

const DESCRS: &[&str] = &[
    "<f4",
    "|u1",
    "|i1",
    "<i4",
    "<f8",
    "<i8",
    ">f4",
    "<f2",
    "|b1",
    "<U3",
    "O",
    "<f0",
    "<f99999999999999999999",
    "",
];

const DIMS: &[u64] = &[
    0,
    1,
    2,
    3,
    7,
    32,
    64,
    1000,
    325_520_833,
    1 << 31,
    1 << 32,
    1 << 40,
    u64::MAX / 3,
    u64::MAX,
];

#[derive(Clone, Debug)]
struct Spec {
    version: u8,
    descr: usize,
    fortran: bool,
    shape: Vec<usize>,
    data: usize,
    header_len_delta: i32,
    edits: Vec<(usize, u8)>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        1u8..=3,
        0..DESCRS.len(),
        any::<bool>(),
        prop::collection::vec(0..DIMS.len(), 0..5),
        0usize..600,
        prop_oneof![Just(0i32), -8i32..8, Just(i32::MAX / 2)],
        prop::collection::vec((any::<usize>(), any::<u8>()), 0..3),
    )
        .prop_map(
            |(version, descr, fortran, shape, data, header_len_delta, edits)| Spec {
                version,
                descr,
                fortran,
                shape,
                data,
                header_len_delta,
                edits,
            },
        )
}

fn bytes(s: &Spec) -> Vec<u8> {
    let dims: Vec<String> = s.shape.iter().map(|&i| DIMS[i].to_string()).collect();
    let shape = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let fortran = if s.fortran { "True" } else { "False" };
    let mut header = format!(
        "{{'descr': '{}', 'fortran_order': {fortran}, 'shape': {shape}, }}",
        DESCRS[s.descr]
    );
    header.push('\n');
    let mut out = b"\x93NUMPY".to_vec();
    out.extend([s.version, 0]);
    let len = (header.len() as i64 + i64::from(s.header_len_delta)).max(0);
    if s.version == 1 {
        out.extend((len.min(u16::MAX as i64) as u16).to_le_bytes());
    } else {
        out.extend((len.min(u32::MAX as i64) as u32).to_le_bytes());
    }
    out.extend(header.as_bytes());
    out.extend((0..s.data).map(|i| (i * 37) as u8));
    let n = out.len();
    for &(at, v) in &s.edits {
        out[at % n] = v;
    }
    out
}

/// What reading may allocate: a few copies of the file, whatever its header says.
fn bound(len: usize) -> usize {
    16 * len + (1 << 20)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(400), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn lying_npy_headers_are_refused_within_bounds(s in spec()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.npy");
        let b = bytes(&s);
        std::fs::write(&path, &b).unwrap();
        let (r, largest) = largest_allocation(|| {
            let mut errors = vec![];
            if let Err(e) = qcc::npy::read_f32(&path) {
                errors.push(e.to_string());
            }
            for d in [DType::F32, DType::I8, DType::U8, DType::I32] {
                if let Err(e) = qcc::npy::read_tensor(&path, d) {
                    errors.push(e.to_string());
                }
            }
            errors
        });
        prop_assert!(largest <= bound(b.len()), "reading {} bytes allocated {largest} at once", b.len());
        for e in r {
            prop_assert!(e.starts_with("error: ") && e.contains("x.npy"), "{e}");
        }
    }
}

/// The case of the issue: a 100 KB file whose header claims 325520833×3×32×32 floats.
#[test]
fn a_header_claiming_terabytes_is_refused() {
    let s = Spec {
        version: 1,
        descr: 0,
        fortran: false,
        shape: vec![8, 3, 5, 5],
        data: 0,
        header_len_delta: 0,
        edits: vec![],
    };
    let mut b = bytes(&s);
    assert!(String::from_utf8_lossy(&b).contains("(325520833, 3, 32, 32)"));
    b.resize(100_000, 0);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.npy");
    std::fs::write(&path, &b).unwrap();
    let (r, largest) = largest_allocation(|| qcc::npy::read_f32(&path));
    let e = r.expect_err("refused").to_string();
    assert!(largest <= bound(b.len()), "allocated {largest}");
    assert!(e.contains("truncated"), "{e}");
}
