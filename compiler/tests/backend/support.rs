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
    let calib: Vec<Tensor> = calib.iter().cloned().map(Into::into).collect();
    integer_on(float, &calib, bits)
}

/// [`integer`] on samples of any input type (token ids, bytes).
pub fn integer_on(float: &Model, calib: &[Tensor], bits: WeightBits) -> Model {
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

/// A library built from `model` for `target`, linked by `backend::link` (the C shim with the
/// threaded entries) and loaded by the runtime.
pub struct Lib {
    pub compiled: Compiled,
    lib: runtime::Library,
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
            // Every split, however small, so that 2, 3 and 7 threads are exercised.
            thread_grain_ns: 0,
        },
    )
    .unwrap_or_else(|e| panic!("@{} does not compile: {e}", model.name));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let so = dir.path().join("m.so");
    qcc::backend::link::link(&compiled.interface, &compiled.object, &so)
        .unwrap_or_else(|e| panic!("linking @{} failed: {e}", model.name));
    let lib = runtime::Library::load(&so).expect("the library loads");
    Lib {
        compiled,
        lib,
        _dir: dir,
    }
}

/// How a run is made: `NAME_run_threads` on this many threads (1 is `NAME_run`'s code), or
/// `NAME_run_parallel` on a pool of scoped threads.
#[derive(Clone, Copy, Debug)]
pub enum Mode {
    Threads(usize),
    Pool(usize),
}

/// Every way a library runs that must give the same bytes: 1, 2, 3 and 7 threads of its own,
/// and 3 tasks at once on a caller's pool.
pub const MODES: &[Mode] = &[
    Mode::Threads(1),
    Mode::Threads(2),
    Mode::Threads(3),
    Mode::Threads(7),
    Mode::Pool(3),
];

/// A caller's pool for `NAME_run_parallel`: one scoped thread per task.
struct ScopedPool;

impl runtime::library::ParallelFor for ScopedPool {
    fn parallel_for(&self, count: usize, task: &(dyn Fn(usize) + Sync)) {
        std::thread::scope(|sc| {
            for i in 1..count {
                sc.spawn(move || task(i));
            }
            if count > 0 {
                task(0);
            }
        });
    }
}

impl Lib {
    /// Runs the library on `inputs` with a scratch arena filled with `fill` (garbage, to show
    /// no kernel reads what it did not write), on one thread.
    pub fn run(&self, inputs: &[Tensor], fill: u8) -> Vec<Vec<f32>> {
        self.run_mode(inputs, fill, Mode::Threads(1))
    }

    /// The loaded library, for the guard-page harness.
    pub fn library(&self) -> &runtime::Library {
        &self.lib
    }

    /// As [`Lib::run`], the way `mode` says.
    pub fn run_mode(&self, inputs: &[Tensor], fill: u8, mode: Mode) -> Vec<Vec<f32>> {
        let it = &self.compiled.interface;
        // Inputs of any port type, as their bytes in 8-byte aligned buffers.
        let xs: Vec<Vec<u64>> = inputs
            .iter()
            .map(|t| {
                let bytes = t.to_le_bytes();
                let mut words = vec![0u64; bytes.len().div_ceil(8)];
                for (w, c) in words.iter_mut().zip(bytes.chunks(8)) {
                    let mut b = [0u8; 8];
                    b[..c.len()].copy_from_slice(c);
                    *w = u64::from_le_bytes(b);
                }
                words
            })
            .collect();
        let mut outs: Vec<Vec<f32>> = it
            .outputs
            .iter()
            .map(|p| {
                assert_eq!(
                    p.dtype,
                    runtime::DType::F32,
                    "output %{} is not f32",
                    p.name
                );
                vec![f32::NAN; p.shape.iter().product()]
            })
            .collect();
        let threads = match mode {
            Mode::Threads(t) | Mode::Pool(t) => t,
        };
        let size = self.lib.scratch_size_threads(threads);
        let mut scratch = vec![fill; size + 64];
        let off = scratch.as_ptr().align_offset(64);
        let ins: Vec<*const std::ffi::c_void> = xs.iter().map(|x| x.as_ptr().cast()).collect();
        let outp: Vec<*mut std::ffi::c_void> =
            outs.iter_mut().map(|o| o.as_mut_ptr().cast()).collect();
        // SAFETY: the pointers are the model's inputs and outputs with the shapes the interface
        // gives, and the scratch is aligned and as large as the thread count needs.
        let rc = unsafe {
            let s = scratch.as_mut_ptr().add(off).cast();
            match mode {
                Mode::Threads(1) => self.lib.run_raw(ins.as_ptr(), outp.as_ptr(), s),
                Mode::Threads(t) => self.lib.run_threads_raw(ins.as_ptr(), outp.as_ptr(), s, t),
                Mode::Pool(t) => {
                    self.lib
                        .run_parallel_raw(ins.as_ptr(), outp.as_ptr(), s, t, &ScopedPool)
                }
            }
        };
        assert_eq!(rc, 0, "{mode:?}");
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
    for (fill, &mode) in [0u8, 0xA5]
        .into_iter()
        .flat_map(|f| MODES.iter().map(move |m| (f, m)))
    {
        let got = lib.run_mode(inputs, fill, mode);
        let what = format!("{what} [{mode:?}]");
        let what = what.as_str();
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

/// Deterministic values `(k − half)/8` for `k` in `[0, 2·half)` from a xorshift of `seed`: few
/// distinct values, so ties (equal maxima, repeated keys) come up often.
pub fn stepped_values(shape: &[usize], seed: u64, half: u64) -> ndarray::ArrayD<f32> {
    let n: usize = shape.iter().product();
    let v = xorshift(seed)
        .take(n)
        .map(|s| ((s % (2 * half)) as f32 - half as f32) / 8.0)
        .collect();
    ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(shape), v).expect("shape")
}

/// Deterministic values in (-1, 1) from a xorshift of `seed`.
pub fn values(n: usize, seed: u64) -> Vec<f32> {
    xorshift(seed)
        .take(n)
        .map(|s| (s % 20_001) as f32 / 10_000.0 - 1.0)
        .collect()
}

/// `samples` images of `chw` (one image, `[1, c, h, w]`, when 0; else `[samples, 1, c, h, w]`,
/// a calibration file's layout) of [`values`] times `amplitude`.
pub fn images(
    samples: usize,
    [c, h, w]: [usize; 3],
    seed: u64,
    amplitude: f32,
) -> ndarray::ArrayD<f32> {
    let mut shape = vec![1, c, h, w];
    if samples > 0 {
        shape.insert(0, samples);
    }
    let n = shape.iter().product();
    let v = values(n, seed).into_iter().map(|v| amplitude * v).collect();
    ndarray::ArrayD::from_shape_vec(shape, v).expect("the shape holds the values")
}

/// The xorshift sequence from `seed` (made odd, so never all zeros).
fn xorshift(seed: u64) -> impl Iterator<Item = u64> {
    let mut s = seed | 1;
    std::iter::repeat_with(move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    })
}

/// Values as the IR's `dense<[…]>` writes them.
pub fn list(v: &[f32]) -> String {
    let s: Vec<String> = v.iter().map(|x| format!("{x:.4}")).collect();
    s.join(", ")
}
