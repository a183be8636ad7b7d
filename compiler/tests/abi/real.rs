//! The ABI around real generated code: the digits example (committed, so always present)
//! quantized, compiled by the backend and linked by `backend::link`, then run through the runtime
//! loader (bit-exact with the interpreter), under the guard-page harness, from two threads, from
//! the README's C and Python examples, and linked twice to the same bytes.

use super::support::{cc, run_python};
use ndarray::{s, ArrayD, Axis};
use qcc::backend::link::link;
use qcc::backend::target::Target;
use qcc::backend::{codegen, Options};
use qcc::ir::Model as IrModel;
use qcc::pipeline::{self, Calibration};
use qcc::quant::{BiasCorrection, Method, WeightBits};
use runtime::guard::{run_guarded, Flush};
use runtime::{Library, Tensor};
use std::path::{Path, PathBuf};
use std::process::Command;

/// (weight bits, target): the pmaddubsw route and the exact i16 route.
const ROUTES: &[(WeightBits, &str)] = &[
    (WeightBits::Seven, "x86-64-v2"),
    (WeightBits::Eight, "x86-64-v3"),
];

fn images() -> ArrayD<f32> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/digits/test_images.npy");
    ndarray_npy::read_npy(&path).expect("the example's images")
}

/// The digits model in the integer dialect, calibrated on the first 100 images.
fn digits_int(bits: WeightBits) -> IrModel {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/digits");
    let float = qcc::ir::weights::read_model(&root.join("digits.ir")).expect("digits.ir reads");
    let calib = images().slice(s![..100, .., .., ..]).to_owned().into_dyn();
    let mut opts = pipeline::Options::new(Target::native()).expect("built-in rules");
    opts.quant.calibration = Calibration::Samples {
        samples: vec![calib.into()],
        method: Method::MinMax,
    };
    opts.quant.weight_bits = Some(bits);
    opts.quant.bias_correction = Some(BiasCorrection::Off);
    let compiled = pipeline::compile(&float, &opts, |_, _| {}).expect("the pipeline runs");
    compiled.int.expect("an integer model")
}

/// Compiles and links `model` into `dir/NAME.so`.
fn build(model: &IrModel, target: &str, prefix: &str, dir: &Path, name: &str) -> PathBuf {
    let compiled = codegen(
        model,
        &Options {
            prefix: prefix.into(),
            target: Target::parse(target).expect("a valid target"),
            keep_clif: false,
            profile: false,
            // Every split, however small, so that 2, 3 and 7 threads are exercised.
            thread_grain_ns: 0,
        },
    )
    .expect("compiles");
    let out = dir.join(format!("{name}.so"));
    link(&compiled.interface, &compiled.object, &out).unwrap_or_else(|e| panic!("{e}"));
    out
}

/// Image `i` as the model's input (1x1x8x8).
fn image(i: usize) -> Tensor {
    let a = images().index_axis(Axis(0), i).to_owned();
    Tensor::F32(a.insert_axis(Axis(0)))
}

fn bits(ts: &[Tensor]) -> Vec<Vec<u32>> {
    ts.iter()
        .map(|t| {
            t.as_f32()
                .expect("f32")
                .iter()
                .map(|v| v.to_bits())
                .collect()
        })
        .collect()
}

#[test]
fn digits_through_the_loader_equals_the_interpreter() {
    let dir = tempfile::tempdir().expect("dir");
    for &(wb, target) in ROUTES {
        let int = digits_int(wb);
        let model =
            Library::load(build(&int, target, "digits", dir.path(), target)).expect("loads");
        let what = format!("{wb:?} weights, {target}");
        assert_eq!(model.info().target, target);
        let mut scratch = model.scratch();
        for i in 100..140 {
            let want = qcc::interp::run(&int, &[image(i)]).expect("interprets");
            let got = model
                .run_with_scratch(&[image(i)], &mut scratch)
                .expect("runs");
            assert_eq!(bits(&got), bits(&want), "{what}: image {i}");
        }
        // Every buffer against a guard page, both ends: no stray read or write, same result.
        let want = model.run(&[image(100)]).expect("runs");
        for flush in [Flush::Start, Flush::End] {
            let got = run_guarded(&model, &[image(100)], flush).expect("runs");
            assert_eq!(bits(&got), bits(&want), "{what}: guarded {flush:?}");
        }
        // Two threads at once, each with its own scratch and images.
        let expected: Vec<Vec<Tensor>> = (0..2)
            .map(|t| model.run(&[image(200 + t)]).expect("runs"))
            .collect();
        std::thread::scope(|sc| {
            for (t, want) in expected.iter().enumerate() {
                let model = &model;
                sc.spawn(move || {
                    let mut scratch = model.scratch();
                    for _ in 0..300 {
                        let got = model
                            .run_with_scratch(&[image(200 + t)], &mut scratch)
                            .expect("runs");
                        assert_eq!(bits(&got), bits(want), "thread {t}");
                    }
                });
            }
        });
    }
}

#[test]
fn real_links_are_byte_identical() {
    let int = digits_int(WeightBits::Seven);
    let a = tempfile::tempdir().expect("dir");
    let b = tempfile::tempdir().expect("dir");
    let pa = build(&int, "x86-64-v3", "qcc", a.path(), "model");
    let pb = build(&int, "x86-64-v3", "qcc", b.path(), "model");
    assert!(std::fs::read(&pa).expect("a") == std::fs::read(&pb).expect("b"));
    assert_eq!(
        std::fs::read(pa.with_extension("h")).expect("a"),
        std::fs::read(pb.with_extension("h")).expect("b")
    );
}

/// The numbers a program printed, in order.
fn floats(text: &str) -> Vec<f32> {
    text.split(|c: char| c.is_whitespace() || c == '[' || c == ']')
        .filter_map(|w| w.parse().ok())
        .collect()
}

/// The README's examples on the real digits library print what the loader computes (to the
/// digits they print).
#[test]
fn readme_examples_on_digits() {
    let dir = tempfile::tempdir().expect("dir");
    let so = build(
        &digits_int(WeightBits::Seven),
        "x86-64-v2",
        "qcc",
        dir.path(),
        "model",
    );
    let model = Library::load(&so).expect("loads");
    let shape = model.info().inputs[0].shape.clone();
    let n: usize = shape.iter().product();
    let x = ArrayD::from_shape_vec(shape, (0..n).map(|i| i as f32).collect()).expect("shape");
    let want = model.run(&[Tensor::F32(x)]).expect("runs");
    let want: Vec<f32> = want[0]
        .as_f32()
        .expect("f32")
        .iter()
        .take(10)
        .copied()
        .collect();
    let close = |got: &[f32], who: &str| {
        assert_eq!(got.len(), want.len(), "{who}: {got:?}");
        for (g, w) in got.iter().zip(&want) {
            assert!(
                (g - w).abs() <= 1e-4 * w.abs().max(1.0),
                "{who}: {got:?} against {want:?}"
            );
        }
    };
    std::fs::write(
        dir.path().join("main.c"),
        super::c_programs::readme_block("c"),
    )
    .expect("written");
    cc(
        dir.path(),
        &[
            "-std=c11".into(),
            "main.c".into(),
            "-o".into(),
            "main".into(),
            "./model.so".into(),
            "-Wl,-rpath,$ORIGIN".into(),
        ],
    );
    let out = Command::new(dir.path().join("main"))
        .output()
        .expect("runs");
    assert!(out.status.success(), "{out:?}");
    close(&floats(&String::from_utf8_lossy(&out.stdout)), "C");
    let text = run_python(
        dir.path(),
        &super::c_programs::readme_block_with("python", "ctypes"),
    );
    assert!(text.starts_with("digits "), "{text}");
    close(&floats(&text), "Python");
}

/// Through the binary, as a person would: `qcc digits.ir -o model.so` and `--emit int` for one
/// target, then `qcc run` on the library and on the integer IR give the same bytes for every test
/// image.
#[test]
fn qcc_run_library_equals_qcc_run_int_ir() {
    let dir = tempfile::tempdir().expect("dir");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/digits");
    let ir = root.join("digits.ir");
    let images = root.join("test_images.npy");
    let qcc = |args: &[&std::ffi::OsStr]| {
        let out = Command::new(env!("CARGO_BIN_EXE_qcc"))
            .args(args)
            .current_dir(dir.path())
            .output()
            .expect("qcc runs");
        assert!(
            out.status.success(),
            "qcc {args:?}:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let os = |s: &str| std::ffi::OsString::from(s);
    // The target decides the default weight width (7 bits without VNNI), so the integer IR is
    // emitted for the same target as the library.
    for target in ["x86-64-v2", "x86-64-v3"] {
        qcc(&[
            ir.as_os_str(),
            &os("-o"),
            &os("model.int.ir"),
            &os("--emit"),
            &os("int"),
            &os("--target"),
            &os(target),
            &os("--calib"),
            images.as_os_str(),
        ]);
        qcc(&[
            &os("run"),
            &os("model.int.ir"),
            &os("--input"),
            images.as_os_str(),
            &os("-o"),
            &os("want.npy"),
        ]);
        let want = std::fs::read(dir.path().join("want.npy")).expect("written");
        qcc(&[
            ir.as_os_str(),
            &os("-o"),
            &os("model.so"),
            &os("--target"),
            &os(target),
            &os("--calib"),
            images.as_os_str(),
        ]);
        qcc(&[
            &os("run"),
            &os("model.so"),
            &os("--input"),
            images.as_os_str(),
            &os("-o"),
            &os("got.npy"),
        ]);
        let got = std::fs::read(dir.path().join("got.npy")).expect("written");
        assert!(
            got == want,
            "{target}: qcc run model.so differs from the integer IR"
        );
    }
}
