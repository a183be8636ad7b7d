//! The runtime loader on stand-in libraries: what it reads, what it computes, what it refuses
//! (wrong inputs, a CPU without the recorded features, bad pointers), and threads.

use super::support::{check, x_values, Standin, NZ};
use ndarray::{ArrayD, IxDyn};
use runtime::library::{RUN_ERR_ALIGN, RUN_ERR_CPU, RUN_ERR_NULL, RUN_OK};
use runtime::{Library, Tensor};

fn tensor(shape: &[usize], values: Vec<f32>) -> Tensor {
    Tensor::F32(ArrayD::from_shape_vec(IxDyn(shape), values).expect("shape fits"))
}

fn x(k: f32) -> Tensor {
    tensor(&[1, 2, 3], x_values(k))
}

fn z() -> Tensor {
    tensor(&[2, 3], (0..NZ).map(|i| 10.0 * i as f32).collect())
}

#[test]
fn round_trip() {
    let dir = tempfile::tempdir().expect("dir");
    let so = Standin::new("pair")
        .two()
        .features(&["sse4.1"])
        .build(dir.path(), "pair");
    let model = Library::load(&so).expect("loads");
    check("round_trip_info", &format!("{:#?}", model.info()));
    let out = model.run(&[x(0.0), z()]).expect("runs");
    let xs = x_values(0.0);
    let y: Vec<f32> = xs.iter().map(|v| 2.0 * v).collect();
    let w: Vec<f32> = (0..NZ)
        .map(|i| xs[i % xs.len()] + 10.0 * i as f32)
        .collect();
    assert_eq!(out, vec![tensor(&[1, 2, 3], y), tensor(&[2, 3], w)]);
    // The explicit prefix works too, and a wrong one names what is missing.
    Library::load_with_prefix(&so, "pair").expect("loads");
    let err = Library::load_with_prefix(&so, "qcc").expect_err("no qcc_ symbols");
    assert!(
        err.to_string()
            .ends_with("it does not export `qcc_model_json`"),
        "{err}"
    );
}

#[test]
fn wrong_inputs_name_both_shapes() {
    let dir = tempfile::tempdir().expect("dir");
    let model = Library::load(Standin::new("pair").two().build(dir.path(), "pair")).expect("loads");
    let wide = tensor(&[1, 3, 2], x_values(0.0));
    let cases: Vec<(&str, Vec<Tensor>)> = vec![
        ("shape", vec![x(0.0), wide.clone()]),
        ("rank", vec![tensor(&[6], x_values(0.0)), z()]),
        ("count", vec![x(0.0)]),
        (
            "dtype",
            vec![x(0.0), Tensor::zeros(runtime::DType::I8, &[2, 3])],
        ),
    ];
    let text: Vec<String> = cases
        .into_iter()
        .map(|(name, inputs)| format!("{name}: {}", model.run(&inputs).expect_err(name)))
        .collect();
    check("wrong_inputs", &text.join("\n"));
}

/// A feature this CPU lacks, from candidates no CPU has all of (Intel lacks SSE4a, AMD lacks
/// AVX512-FP16).
pub fn missing_feature() -> &'static str {
    ["avx512fp16", "avx512vp2intersect", "sse4a"]
        .into_iter()
        .find(|f| runtime::cpu::host_has(f) == Some(false))
        .expect("this CPU has every candidate feature: add one it lacks to the list")
}

#[test]
fn refuses_a_cpu_without_the_features() {
    let dir = tempfile::tempdir().expect("dir");
    let lacking = missing_feature();
    let so = Standin::new("wide")
        .features(&["sse4.1", lacking])
        .build(dir.path(), "wide");
    let err = Library::load(&so).expect_err("refused").to_string();
    let shown = err
        .replace(&dir.path().display().to_string(), "DIR")
        .replace(lacking, "FEATURE");
    check("missing_feature", &shown);
}

/// `NAME_run`'s own checks, called directly: misaligned scratch, null pointers.
#[test]
fn run_codes() {
    let dir = tempfile::tempdir().expect("dir");
    let model = Library::load(Standin::new("qcc").build(dir.path(), "m")).expect("loads");
    let xs = x_values(1.0);
    let mut y = vec![0f32; xs.len()];
    let mut scratch = model.scratch();
    let base = scratch.as_mut_ptr();
    let ins = [xs.as_ptr()];
    let outs = [y.as_mut_ptr()];
    let null_in = [std::ptr::null::<f32>()];
    let null_out = [std::ptr::null_mut::<f32>()];
    // The scratch is 64 bytes larger than needed, so the shifted pointers stay inside it.
    let mut big = runtime::Scratch::new(model.info().scratch_size + 64);
    let big_ptr = big.as_mut_ptr();
    unsafe {
        let run = |i: *const *const f32, o: *const *mut f32, s: *mut u8| {
            model.run_raw(i.cast(), o.cast(), s.cast())
        };
        assert_eq!(
            run(ins.as_ptr(), outs.as_ptr(), big_ptr.add(4)),
            RUN_ERR_ALIGN
        );
        assert_eq!(
            run(ins.as_ptr(), outs.as_ptr(), big_ptr.add(32)),
            RUN_ERR_ALIGN
        );
        assert_eq!(
            run(ins.as_ptr(), outs.as_ptr(), std::ptr::null_mut()),
            RUN_ERR_NULL
        );
        assert_eq!(run(std::ptr::null(), outs.as_ptr(), base), RUN_ERR_NULL);
        assert_eq!(run(ins.as_ptr(), std::ptr::null(), base), RUN_ERR_NULL);
        assert_eq!(run(null_in.as_ptr(), outs.as_ptr(), base), RUN_ERR_NULL);
        assert_eq!(run(ins.as_ptr(), null_out.as_ptr(), base), RUN_ERR_NULL);
        assert_eq!(y, vec![0.0; xs.len()], "nothing ran");
        assert_eq!(run(ins.as_ptr(), outs.as_ptr(), big_ptr.add(64)), RUN_OK);
    }
    assert_eq!(y, xs.iter().map(|v| 2.0 * v).collect::<Vec<_>>());
    assert_ne!(RUN_ERR_CPU, RUN_OK);
}

/// Two threads on one `Library`, each with its own scratch, give what one thread gives.
#[test]
fn two_threads_at_once() {
    let dir = tempfile::tempdir().expect("dir");
    let model = Library::load(Standin::new("pair").two().build(dir.path(), "pair")).expect("loads");
    let expected: Vec<Vec<Tensor>> = (0..2)
        .map(|t| model.run(&[x(t as f32), z()]).expect("runs"))
        .collect();
    let barrier = std::sync::Barrier::new(2);
    std::thread::scope(|s| {
        for (t, want) in expected.iter().enumerate() {
            let (model, barrier) = (&model, &barrier);
            s.spawn(move || {
                let mut scratch = model.scratch();
                barrier.wait();
                for _ in 0..2000 {
                    let got = model
                        .run_with_scratch(&[x(t as f32), z()], &mut scratch)
                        .expect("runs");
                    assert_eq!(&got, want, "thread {t}");
                }
            });
        }
    });
}

#[test]
fn not_a_model() {
    let dir = tempfile::tempdir().expect("dir");
    let text = dir.path().join("text.so");
    std::fs::write(&text, "hello").expect("written");
    let err = Library::load(&text).expect_err("not ELF").to_string();
    assert!(
        err.contains("is not a qcc model library: it is not a shared library"),
        "{err}"
    );
    let err = Library::load(dir.path().join("absent.so"))
        .expect_err("absent")
        .to_string();
    assert!(err.starts_with("cannot load "), "{err}");
}
