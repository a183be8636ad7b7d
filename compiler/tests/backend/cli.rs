//! `qcc MODEL -o model.so` from the command line: the backend's stages as files (`--emit clif`,
//! `--emit obj`), the profiling build (`--profile`), and refused requests, each a clear message
//! with no output left behind.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn qcc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_qcc"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("qcc runs")
}

/// The integer digits model, written once per test into `dir`.
fn digits_int(dir: &Path) -> PathBuf {
    let out = dir.join("digits.int.ir");
    let o = qcc(&[
        "examples/digits/digits.ir",
        "-o",
        out.to_str().expect("UTF-8 path"),
        "--emit",
        "int",
        "--calib",
        "examples/digits/test_images.npy",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out
}

#[test]
fn clif_and_object_are_the_backend_stages() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let int = digits_int(dir.path());
    let clif = dir.path().join("digits.clif");
    let obj = dir.path().join("digits.o");
    for (path, emit) in [(&clif, "clif"), (&obj, "obj")] {
        let o = qcc(&[
            int.to_str().unwrap(),
            "-o",
            path.to_str().unwrap(),
            "--emit",
            emit,
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let text = std::fs::read_to_string(&clif).expect("CLIF is text");
    // One function per kernel, each named, and the entry.
    assert!(
        text.contains("; qcc_k0\n") && text.contains("function"),
        "{}",
        &text[..200.min(text.len())]
    );
    let bytes = std::fs::read(&obj).expect("the object exists");
    assert_eq!(&bytes[..4], b"\x7fELF", "an ELF object");
}

#[test]
fn bad_requests_are_refused_without_output() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let int = digits_int(dir.path());
    let int = int.to_str().unwrap();
    let so = dir.path().join("m.so");
    let so = so.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &[int, "-o", so, "--target", "arm64"],
            "unknown target `arm64`",
        ),
        (
            &[int, "-o", so, "--target", "x86-64-v3+avx9"],
            "unknown CPU feature `avx9`",
        ),
        (
            &[int, "-o", so, "--prefix", "9lives"],
            "is not a C identifier",
        ),
        (
            &[int, "-o", so, "--emit", "int"],
            "an output ending in .so is a shared library",
        ),
        (
            &[int, "-o", so, "--calib", "examples/digits/test_images.npy"],
            "is already quantized",
        ),
        (
            &[int, "-o", so, "--emit", "int", "--profile"],
            "--profile times the kernels of a compiled library",
        ),
    ];
    for (args, want) in cases {
        let o = qcc(args);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "qcc {args:?} succeeded");
        assert!(
            !stderr.contains("panicked"),
            "qcc {args:?} panicked:\n{stderr}"
        );
        assert!(
            stderr.contains(want),
            "qcc {args:?}: expected `{want}` in:\n{stderr}"
        );
        assert!(!Path::new(so).exists(), "qcc {args:?} left {so} behind");
    }
}

/// The functions a library defines in its dynamic symbol table, sorted.
fn exports(so: &Path) -> Vec<String> {
    use object::{Object, ObjectSymbol};
    let bytes = std::fs::read(so).expect("the library exists");
    let file = object::File::parse(&*bytes).expect("an ELF file");
    let mut names: Vec<String> = file
        .dynamic_symbols()
        .filter(|s| s.is_definition())
        .map(|s| s.name().expect("a name").to_string())
        .collect();
    names.sort();
    names
}

type ProfileFn = unsafe extern "C" fn(*mut u64, usize) -> usize;
type RunsFn = unsafe extern "C" fn() -> u64;
type ResetFn = unsafe extern "C" fn();
type StepsFn = unsafe extern "C" fn() -> *const std::ffi::c_char;

/// The profile of a loaded profiling build: the sums per step and the run count.
fn read_profile(lib: &libloading::Library) -> (Vec<u64>, u64) {
    // SAFETY: the signatures are those the profiling build's header declares.
    unsafe {
        let profile: libloading::Symbol<ProfileFn> = lib.get(b"qcc_profile").expect("exported");
        let runs: libloading::Symbol<RunsFn> = lib.get(b"qcc_profile_runs").expect("exported");
        let n = profile(std::ptr::null_mut(), 0);
        let mut ns = vec![0u64; n];
        assert_eq!(profile(ns.as_mut_ptr(), n), n);
        (ns, runs())
    }
}

/// `--profile`: one step per kernel call, described in the model's op order, each timed on every
/// run; the outputs are those of the ordinary build, which exports none of it.
#[test]
fn profiling_build_times_every_step() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let int = digits_int(dir.path());
    let plain = dir.path().join("plain.so");
    let prof = dir.path().join("prof.so");
    for (so, extra) in [(&plain, None), (&prof, Some("--profile"))] {
        let mut args = vec![int.to_str().unwrap(), "-o", so.to_str().unwrap()];
        args.extend(extra);
        let o = qcc(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let abi = [
        "qcc_model_json",
        "qcc_run",
        "qcc_run_parallel",
        "qcc_run_threads",
        "qcc_scratch_size",
        "qcc_scratch_size_threads",
    ];
    assert_eq!(exports(&plain), abi);
    let mut want: Vec<&str> = abi.to_vec();
    want.extend([
        "qcc_profile",
        "qcc_profile_reset",
        "qcc_profile_runs",
        "qcc_profile_steps",
    ]);
    want.sort();
    assert_eq!(exports(&prof), want);
    let header = std::fs::read_to_string(prof.with_extension("h")).expect("the header");
    assert!(header.contains("size_t qcc_profile(uint64_t *ns, size_t n);"));
    let plain_header = std::fs::read_to_string(plain.with_extension("h")).expect("the header");
    assert!(!plain_header.contains("profile"), "{plain_header}");

    // The steps are the model's ops in order; any after them copy or dequantize an output.
    let model = qcc::ir::weights::read_model(&int).expect("the integer model reads back");
    let ops = model.ops_in_order();
    // SAFETY: a library qcc just built; loading it runs libgcc's CPU detection only.
    let lib = unsafe { libloading::Library::new(&prof) }.expect("the library loads");
    let text = unsafe {
        let steps: libloading::Symbol<StepsFn> = lib.get(b"qcc_profile_steps").expect("exported");
        std::ffi::CStr::from_ptr(steps())
            .to_str()
            .expect("UTF-8")
            .to_string()
    };
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    assert!(text.ends_with('\n') && lines.len() >= ops.len(), "{text}");
    assert!(header.contains(&format!("#define QCC_PROFILE_STEPS {}\n", lines.len())));
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line.len(), 5, "step {i}: {line:?}");
        let Some(&id) = ops.get(i) else {
            assert!(
                matches!(line[1], "dequantize" | "reshape"),
                "step {i}: {line:?}"
            );
            continue;
        };
        let n = model.node(id);
        let op = n.op().expect("an op");
        assert_eq!(line[0], n.name, "step {i}");
        assert_eq!(line[1], op.kind.name(), "step {i}");
        assert_eq!(line[3], n.ty.to_string(), "step {i}: the result type");
        // Activations are quantized per tensor, so their types print in full.
        let first = model.operands(id)[0];
        assert!(
            line[2].starts_with(&model.node(first).ty.to_string()),
            "step {i}: {line:?}"
        );
    }
    let conv = lines
        .iter()
        .find(|l| l[1] == "qconv2d")
        .expect("digits has convolutions");
    assert!(
        conv[4]
            .starts_with("{strides = [1, 1], pads = [1, 1, 1, 1], dilations = [1, 1], groups = 1"),
        "{conv:?}"
    );

    let loaded = runtime::library::Library::load(&prof).expect("the runtime loads it");
    let reference = runtime::library::Library::load(&plain).expect("the runtime loads it");
    let images = super::support::npy(&root().join("examples/digits/test_images.npy"));
    let x = runtime::Tensor::F32(
        images
            .index_axis(ndarray::Axis(0), 0)
            .to_owned()
            .insert_axis(ndarray::Axis(0)),
    );
    let (ns, runs) = read_profile(&lib);
    assert_eq!((ns.len(), runs), (lines.len(), 0), "{ns:?}");
    assert!(ns.iter().all(|&t| t == 0), "{ns:?}");
    let runs_made = 3;
    for _ in 0..runs_made {
        let got = loaded.run(std::slice::from_ref(&x)).expect("runs");
        let want = reference.run(std::slice::from_ref(&x)).expect("runs");
        assert_eq!(got, want, "profiling changed the outputs");
    }
    let (ns, runs) = read_profile(&lib);
    assert_eq!(runs, runs_made);
    assert!(ns.iter().all(|&t| t > 0), "a step was not timed: {ns:?}");
    // SAFETY: as above.
    unsafe {
        let reset: libloading::Symbol<ResetFn> = lib.get(b"qcc_profile_reset").expect("exported");
        reset();
    }
    assert_eq!(read_profile(&lib), (vec![0; lines.len()], 0));
    loaded.run(std::slice::from_ref(&x)).expect("runs");
    assert_eq!(read_profile(&lib).1, 1);
}
