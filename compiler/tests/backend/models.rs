//! The real models (tests/python/make_models.py), quantized as `qcc --emit int` does and compiled
//! for each instruction route: the library's outputs equal the interpreter's bit for bit.

use super::support::{assert_exact, build, float_arithmetic, integer, models_dir, npy};
use qcc::quant::WeightBits;
use runtime::guard::{run_guarded_threads, Flush};
use runtime::Tensor;

/// Which (weight bits, target) pairs a model is checked on: 7-bit weights on a target without
/// VNNI take the pmaddubsw routes (Cranelift's on x86-64-v2, the AVX2 micro-kernels' on
/// x86-64-v3), 8-bit ones on x86-64-v3 the exact i16 micro-kernels, and `native` takes VNNI
/// where the machine has it.
const ROUTES: &[(WeightBits, &str)] = &[
    (WeightBits::Seven, "x86-64-v2"),
    (WeightBits::Seven, "x86-64-v3"),
    (WeightBits::Eight, "x86-64-v3"),
    (WeightBits::Eight, "native"),
];

fn check(name: &str) {
    let dir = models_dir();
    let float = qcc::import::import_file(&dir.join(format!("{name}.onnx")))
        .unwrap_or_else(|e| panic!("{name}: import: {e}"));
    // The samples are stacked on a leading axis: calibrate on all, compare on the first.
    let calib = npy(&dir.join(format!("{name}.input.npy")));
    let input = calib.index_axis(ndarray::Axis(0), 0).to_owned();
    for &(bits, target) in ROUTES {
        let int = integer(&float, std::slice::from_ref(&calib), bits);
        let lib = build(&int, target);
        let what = format!("{name} ({bits:?} weights, {target})");
        assert_exact(&what, &int, &lib, &[Tensor::F32(input.clone())]);
        // Threads under the guard-page harness: every part's temporaries inside the scratch
        // that thread count asks for, no access outside any buffer.
        let inputs = [Tensor::F32(input.clone())];
        let want = lib.library().run(&inputs).expect("runs");
        for threads in [2, 7] {
            for flush in [Flush::Start, Flush::End] {
                let got = run_guarded_threads(lib.library(), &inputs, flush, threads)
                    .unwrap_or_else(|e| panic!("{what}: guarded: {e}"));
                assert!(
                    got.iter().zip(&want).all(|(g, w)| g
                        .as_f32()
                        .unwrap()
                        .iter()
                        .map(|v| v.to_bits())
                        .eq(w.as_f32().unwrap().iter().map(|v| v.to_bits()))),
                    "{what}: guarded on {threads} threads ({flush:?}) differs"
                );
            }
        }
    }
}

#[test]
fn tiny_cnn() {
    check("tiny_cnn");
}

/// conv, maxpool, a dilated conv and a Gemm → BatchNorm1d → ReLU → Gemm head (issue 14): every
/// layer integer (the BN folded into the gemm, the ReLU its clamp), bit-exact on every route.
#[test]
fn conv_mlp_head() {
    let dir = models_dir();
    let float = qcc::import::import_file(&dir.join("conv_mlp_head.onnx")).expect("imports");
    let calib = npy(&dir.join("conv_mlp_head.input.npy"));
    let int = integer(&float, std::slice::from_ref(&calib), WeightBits::Eight);
    let float_ops = float_arithmetic(&int);
    assert!(float_ops.is_empty(), "left in float: {float_ops:?}");
    check("conv_mlp_head");
}

#[test]
fn resnet18() {
    check("resnet18");
}

#[test]
fn mobilenetv2() {
    check("mobilenetv2");
}

/// conv + HardSwish, SE with a broadcast Mul, SiLU, Gelu and Tanh: every activation a table,
/// every Mul of two activations a qmul.
#[test]
fn mobilenetv3_block() {
    check("mobilenetv3_block");
}

#[test]
fn efficientnet_lite0() {
    check("efficientnet_lite0");
}

/// The small models that cover every op the importer knows, including the float ops that stay
/// float in an integer graph (softmax, matmul, reduce_mean, concat, pad, transpose, …), a QDQ
/// model with per-axis quantization, BatchNorm in the places folding cannot reach, Pad's edge,
/// reflect and wrap modes and crops (gathers of codes), Tile, Trilu and TopK, the ops that
/// compare with constants (LRN, Hardmax, OneHot, IsNaN, IsInf), ScatterND and ScatterElements
/// with constant indices, and Einsum as the importer
/// decomposes it (matmuls of two activations and of a weight, a diagonal gathered from codes).
#[test]
fn every_op_models() {
    for name in [
        "bn_variants",
        "every_op_act",
        "every_op_clip6",
        "every_op_conv",
        "every_op_opset11",
        "every_op_opset21",
        "every_op_pool",
        "every_op_qdq",
        "every_op_shape",
        "every_op_unary",
        "every_op_resize",
        "every_op_resize19",
        "every_op_upsample9",
        "every_op_resize10",
        "fpn_resize",
        "every_op_pad_modes",
        "every_op_tile_trilu_topk",
        "every_op_masks",
        "every_op_einsum",
        "every_op_scatter",
    ] {
        check(name);
    }
}

/// Split, Slice on run-time data, the YOLOX Focus stem and concats of differently scaled
/// branches: bit-exact on every route, and no float arithmetic is left.
#[test]
fn slice_split_focus_models() {
    for name in [
        "split_slice_op13",
        "split_op18",
        "split_slice_op9",
        "yolox_focus",
    ] {
        let dir = models_dir();
        let float = qcc::import::import_file(&dir.join(format!("{name}.onnx")))
            .unwrap_or_else(|e| panic!("{name}: import: {e}"));
        let calib = npy(&dir.join(format!("{name}.input.npy")));
        let int = integer(&float, std::slice::from_ref(&calib), WeightBits::Eight);
        let float_ops = float_arithmetic(&int);
        assert!(float_ops.is_empty(), "{name}: left in float: {float_ops:?}");
        check(name);
    }
}

#[test]
fn digits_example() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/digits");
    let float = qcc::ir::weights::read_model(&root.join("digits.ir")).expect("digits.ir reads");
    let images = npy(&root.join("test_images.npy"));
    let calib = images
        .slice(ndarray::s![..100, .., .., ..])
        .to_owned()
        .into_dyn();
    let eval = images
        .slice(ndarray::s![100..101, .., .., ..])
        .to_owned()
        .into_dyn();
    for &(bits, target) in ROUTES {
        let int = integer(&float, std::slice::from_ref(&calib), bits);
        let lib = build(&int, target);
        assert_exact(
            &format!("digits ({bits:?}, {target})"),
            &int,
            &lib,
            &[Tensor::F32(eval.clone())],
        );
    }
}
