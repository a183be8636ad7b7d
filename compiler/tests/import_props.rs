//! Properties of the ONNX-specific resolution done at import, against the spec's own formulas:
//! SAME padding keeps `ceil(in / stride)` outputs, ConvTranspose reaches the `output_shape` it
//! was asked for, and Reshape's `0`/`-1` resolve to the shape numpy would give.

#[path = "../../tests/onnx/build.rs"]
mod build;

use build::{i64s, int, ints, string, G};
use proptest::prelude::*;
use qcc::import::import_bytes;
use qcc::ir::Model;

fn output_shape(m: &Model) -> Vec<usize> {
    m.node(m.outputs[0]).ty.shape.clone()
}

fn attr_ints(m: &Model, name: &str) -> Vec<i64> {
    let op = m.node(m.outputs[0]).op().expect("an op").clone();
    op.ints(name).expect("attribute").to_vec()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn same_padding_keeps_ceil_in_over_stride(
        h in 1i64..30, w in 1i64..30, k in 1i64..6, s in 1i64..4, d in 1i64..3, upper in any::<bool>(), pool in any::<bool>()
    ) {
        let mode = if upper { "SAME_UPPER" } else { "SAME_LOWER" };
        let mut g = G::new(13);
        g.input("x", &[1, 2, h, w]);
        if pool {
            g.node("MaxPool", &["x"], &["y"], vec![
                ints("kernel_shape", &[k, k]), ints("strides", &[s, s]), ints("dilations", &[d, d]), string("auto_pad", mode),
            ]);
        } else {
            g.weight("w", &[3, 2, k, k]).node("Conv", &["x", "w"], &["y"], vec![
                ints("strides", &[s, s]), ints("dilations", &[d, d]), string("auto_pad", mode),
            ]);
        }
        g.output("y");
        let m = import_bytes(&g.bytes(), "same.onnx").expect("imports");
        let ceil = |v: i64| ((v + s - 1) / s) as usize;
        prop_assert_eq!(&output_shape(&m)[2..], &[ceil(h), ceil(w)][..]);
        let pads = attr_ints(&m, "pads");
        for (i, size) in [h, w].into_iter().enumerate() {
            let total = ((ceil(size) as i64 - 1) * s + (k - 1) * d + 1 - size).max(0);
            let (begin, end) = (pads[i], pads[i + 2]);
            prop_assert_eq!(begin + end, total);
            // The odd pixel goes to the end for SAME_UPPER, to the beginning for SAME_LOWER.
            prop_assert_eq!(if upper { end - begin } else { begin - end }, total % 2);
        }
    }

    #[test]
    fn conv_transpose_reaches_its_output_shape(
        h in 1i64..12, k in 1i64..5, s in 1i64..4, d in 1i64..3, op in 0i64..3, crop in 0i64..4, same in any::<bool>()
    ) {
        let op = op.min(s - 1);
        let full = s * (h - 1) + op + (k - 1) * d + 1;
        let target = if same { h * s } else { (full - crop).max(1) };
        prop_assume!(target <= full);
        let mut g = G::new(13);
        let mut attrs = vec![ints("strides", &[s, s]), ints("dilations", &[d, d]), ints("output_padding", &[op, op])];
        if same {
            attrs.push(string("auto_pad", "SAME_UPPER"));
        } else {
            attrs.push(ints("output_shape", &[target, target]));
        }
        g.input("x", &[1, 2, h, h]).weight("w", &[2, 3, k, k]).node("ConvTranspose", &["x", "w"], &["y"], attrs).output("y");
        let m = import_bytes(&g.bytes(), "ct.onnx").expect("imports");
        prop_assert_eq!(output_shape(&m), vec![1, 3, target as usize, target as usize]);
    }

    #[test]
    fn reshape_resolves_zero_and_minus_one(
        dims in prop::collection::vec(1usize..5, 1..5), split in 0usize..5, copy in any::<bool>(), infer_at in 0usize..5
    ) {
        // Target: the first `split` dims kept (as 0 when `copy`), the rest merged; one entry is -1.
        let split = split.min(dims.len());
        let mut expect: Vec<usize> = dims[..split].to_vec();
        expect.push(dims[split..].iter().product());
        let mut target: Vec<i64> = expect.iter().enumerate().map(|(i, &d)| if copy && i < split { 0 } else { d as i64 }).collect();
        let at = infer_at % target.len();
        target[at] = -1;
        let mut g = G::new(14);
        let input: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
        g.input("x", &input)
            .init(i64s("shape", &[target.len() as i64], target.clone()))
            .node("Reshape", &["x", "shape"], &["y"], vec![int("allowzero", 0)])
            .output("y");
        let m = import_bytes(&g.bytes(), "r.onnx").expect("imports");
        prop_assert_eq!(output_shape(&m), expect);
    }
}
