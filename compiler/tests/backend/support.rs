//! Shared by the backend tests: float model → integer model (the CLI's pipeline), integer model →
//! loaded library, and the bit-for-bit comparison of the library with the interpreter.

use qcc::backend::target::Target;
use qcc::backend::{codegen, Compiled, Options};
use qcc::ir::Model;
use qcc::pipeline::{self, Calibration};
use qcc::quant::{BiasCorrection, Method, WeightBits};
use runtime::Tensor;
use std::path::Path;

/// The float model → the integer model through the library pipeline (MinMax ranges, no bias
/// correction, so each kernel sees the plain rounding of its weights).
pub fn integer(float: &Model, calib: &[ndarray::ArrayD<f32>], bits: WeightBits) -> Model {
    let mut opts = pipeline::Options::new(Target::native()).expect("built-in rules load");
    opts.quant.calibration = Calibration::Samples {
        samples: calib.to_vec(),
        method: Method::MinMax,
    };
    opts.quant.weight_bits = Some(bits);
    opts.quant.bias_correction = Some(BiasCorrection::Off);
    let compiled = pipeline::compile(float, &opts, |_, _| {}).expect("the pipeline runs");
    compiled.int.expect("an integer model")
}

/// A library built from `model` for `target`, linked with `cc` and loaded.
pub struct Lib {
    pub compiled: Compiled,
    lib: libloading::Library,
    _dir: tempfile::TempDir,
}

pub fn build(model: &Model, target: &str) -> Lib {
    let target = Target::parse(target).expect("a valid target");
    let compiled = codegen(
        model,
        &Options {
            prefix: "qcc".into(),
            target,
            keep_clif: false,
            profile: false,
        },
    )
    .unwrap_or_else(|e| panic!("@{} does not compile: {e}", model.name));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let obj = dir.path().join("m.o");
    let so = dir.path().join("m.so");
    std::fs::write(&obj, &compiled.object).expect("write the object");
    let st = std::process::Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args(["-shared", "-o"])
        .args([&so, &obj])
        .status()
        .expect("cc runs");
    assert!(st.success(), "linking {} failed", so.display());
    // SAFETY: the library was just built by us; loading it runs no initializers of note.
    let lib = unsafe { libloading::Library::new(&so) }.expect("the library loads");
    Lib {
        compiled,
        lib,
        _dir: dir,
    }
}

type RunImpl = unsafe extern "C" fn(*const *const f32, *const *mut f32, *mut u8) -> i32;

impl Lib {
    /// Runs the library on `inputs` with a scratch arena filled with `fill` (garbage, to show
    /// no kernel reads what it did not write).
    pub fn run(&self, inputs: &[Tensor], fill: u8) -> Vec<Vec<f32>> {
        let it = &self.compiled.interface;
        let xs: Vec<Vec<f32>> = inputs
            .iter()
            .map(|t| match t {
                Tensor::F32(a) => a.iter().copied().collect(),
                other => panic!("inputs are f32, not {}", other.dtype()),
            })
            .collect();
        let mut outs: Vec<Vec<f32>> = it
            .outputs
            .iter()
            .map(|p| vec![f32::NAN; p.shape.iter().product()])
            .collect();
        let mut scratch = vec![fill; it.scratch_size + 64];
        let off = scratch.as_ptr().align_offset(64);
        let ins: Vec<*const f32> = xs.iter().map(|x| x.as_ptr()).collect();
        let outp: Vec<*mut f32> = outs.iter_mut().map(|o| o.as_mut_ptr()).collect();
        // SAFETY: the pointers are the model's inputs and outputs with the shapes the interface
        // gives, and the scratch is aligned and large enough, which is all the ABI asks.
        let rc = unsafe {
            let f: libloading::Symbol<RunImpl> = self
                .lib
                .get(b"qcc_run_impl")
                .expect("qcc_run_impl is exported");
            f(ins.as_ptr(), outp.as_ptr(), scratch.as_mut_ptr().add(off))
        };
        assert_eq!(rc, 0);
        outs
    }
}

/// Asserts the library's outputs equal the interpreter's bit for bit, naming the first
/// difference.
pub fn assert_exact(what: &str, model: &Model, lib: &Lib, inputs: &[Tensor]) {
    let want = qcc::interp::run(model, inputs).unwrap_or_else(|e| panic!("{what}: interp: {e}"));
    assert_outputs(what, lib, inputs, &want);
}

/// Asserts the library's outputs on `inputs` are `want` bit for bit, naming the first difference.
pub fn assert_outputs(what: &str, lib: &Lib, inputs: &[Tensor], want: &[Tensor]) {
    for fill in [0u8, 0xA5] {
        let got = lib.run(inputs, fill);
        for (j, (g, w)) in got.iter().zip(want).enumerate() {
            let w: Vec<f32> = match w {
                Tensor::F32(a) => a.iter().copied().collect(),
                other => panic!("{what}: output {j} is {}", other.dtype()),
            };
            assert_eq!(g.len(), w.len(), "{what}: output {j} length");
            if let Some(i) = (0..w.len()).find(|&i| g[i].to_bits() != w[i].to_bits()) {
                panic!(
                    "{what}: output {j} differs at {i}: library {} interpreter {} ({:08x} vs {:08x}; {} of {} differ)",
                    g[i],
                    w[i],
                    g[i].to_bits(),
                    w[i].to_bits(),
                    (0..w.len()).filter(|&i| g[i].to_bits() != w[i].to_bits()).count(),
                    w.len()
                );
            }
        }
    }
}

/// The test models directory, which scripts/test.sh fills with ONNX models and their inputs.
pub fn models_dir() -> std::path::PathBuf {
    let dir = std::env::var_os("QCC_TEST_MODELS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/.work/models"));
    assert!(
        dir.join("manifest.json").is_file(),
        "{} has no manifest.json: run ./scripts/test.sh, which builds the ONNX models with Python first",
        dir.display()
    );
    dir
}

pub fn npy(path: &Path) -> ndarray::ArrayD<f32> {
    ndarray_npy::read_npy(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The ops of an integer model that still compute in f32: anything but the output's
/// dequantize and f32 data movement (a concat or reshape of dequantized values on their way
/// out, which keeps each part at its own scale and does no arithmetic; a resize there too,
/// which the quantizer leaves float like the other pass-through ops on the way out; max, min and
/// reduce max/min there too, which select an element and round nothing).
pub fn float_arithmetic(int: &Model) -> Vec<String> {
    use qcc::ir::OpKind::*;
    int.ops_in_order()
        .into_iter()
        .map(|id| int.node(id))
        .filter(|n| {
            n.ty.elem.quant().is_none()
                && n.op().is_some_and(|o| {
                    let selects = matches!(o.kind, Max | Min)
                        || (o.kind == Reduce && matches!(o.str("fn"), Some("max" | "min")));
                    !selects
                        && !matches!(
                            o.kind,
                            Dequantize | Concat | Reshape | Flatten | Transpose | Slice | Resize
                        )
                })
        })
        .map(|n| format!("%{} = {}", n.name, n.op().map_or("", |o| o.kind.name())))
        .collect()
}
