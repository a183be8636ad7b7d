//! End to end through ONNX (issue 12): models that keep ArgMax, Gather, Where, Expand,
//! GatherElements and Cast at run time after import — a segmentation head ending in ArgMax over
//! the channels, and a gather/mask/expand block — built with the `onnx` package
//! (tests/python/models_index.py), quantized by the pipeline, compiled to libraries that equal
//! the integer interpreter (`qcc run`) bit for bit on every tier, thread count and a pool.

use super::support::{assert_exact, build, integer};
use qcc::backend::target::Target;
use qcc::pipeline::{self, Calibration};
use qcc::quant::WeightBits;
use runtime::Tensor;
use std::path::PathBuf;

fn python() -> PathBuf {
    std::env::var_os("QCC_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python"))
}

/// `n` samples of a 1×3×16×16 input, smooth with some noise, stacked on a leading axis.
fn samples(n: usize, seed: usize) -> ndarray::ArrayD<f32> {
    let len = n * 3 * 16 * 16;
    let v = (0..len)
        .map(|i| {
            let (c, p) = ((i / 256) % 3, i % 256);
            ((p as f32 * 0.21 + c as f32 + seed as f32).sin() * 1.5)
                + (((i * 7919 + seed * 104729) % 61) as f32 / 61.0 - 0.5)
        })
        .collect();
    ndarray::ArrayD::from_shape_vec(vec![n, 1, 3, 16, 16], v).expect("sizes match")
}

#[test]
fn onnx_argmax_and_gather_heads_compile_and_equal_the_interpreter() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/python/models_index.py");
    let out = std::process::Command::new(python())
        .arg(&script)
        .arg(dir.path())
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (name, kept) in [
        ("seg_argmax", &["arg_max", "cast"][..]),
        (
            "gather_where",
            &[
                "gather",
                "compare",
                "where",
                "expand",
                "arg_max",
                "gather_elements",
                "cast",
            ][..],
        ),
    ] {
        let float = qcc::import::import_file(&dir.path().join(format!("{name}.onnx")))
            .unwrap_or_else(|e| panic!("{name}: import: {e}"));
        let int = integer(&float, &[samples(4, 1)], WeightBits::Eight);
        // The ops under test are still there at run time, not folded away.
        let ops: Vec<&str> = int
            .ops_in_order()
            .into_iter()
            .filter_map(|n| int.node(n).op().map(|o| o.kind.name()))
            .collect();
        for k in kept {
            assert!(ops.contains(k), "{name}: no {k} left in {ops:?}");
        }
        let x = samples(1, 9).index_axis_move(ndarray::Axis(0), 0);
        // The picked classes vary over the image, so a wrong index would show.
        let want = qcc::interp::run(&int, &[Tensor::F32(x.clone())]).expect("runs");
        let mut classes: Vec<u32> = want[0]
            .as_f32()
            .expect("f32")
            .iter()
            .skip(if name == "seg_argmax" { 0 } else { 256 })
            .map(|v| v.to_bits())
            .collect();
        classes.sort_unstable();
        classes.dedup();
        assert!(classes.len() >= 3, "{name}: classes {classes:?}");
        for target in ["x86-64-v2", "x86-64-v3", "native"] {
            let lib = build(&int, target);
            assert_exact(
                &format!("{name}, {target}"),
                &int,
                &lib,
                &[Tensor::F32(x.clone())],
            );
        }
        // Without samples too (the CLI's default): the f32 values computed from the indices
        // get their ranges from arg_max's [0, len − 1].
        let mut opts = pipeline::Options::new(Target::native()).expect("built-in rules load");
        opts.quant.calibration = Calibration::DataFree {
            input_range: (-2.0, 2.0),
        };
        let int = pipeline::compile(&float, &opts, |_, _| {})
            .unwrap_or_else(|e| panic!("{name}, data-free: {e}"))
            .int
            .expect("an integer model");
        let lib = build(&int, "native");
        assert_exact(
            &format!("{name}, data-free"),
            &int,
            &lib,
            &[Tensor::F32(x.clone())],
        );
    }
}
