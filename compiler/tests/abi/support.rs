//! Shared by the ABI tests: stand-in libraries (`standin.c` in place of the code generator's
//! object, linked through `backend::link`), C compilation, and this test binary run again as a
//! child process, for changed environments and for crashes that are the expected outcome.

use qcc::backend::interface::{Interface, Port};
use qcc::backend::link::link;
use qcc::backend::profile::ProfileStep;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Set in a child process to the case it should run.
pub const CHILD: &str = "QCC_ABI_CHILD";

/// Elements of input x / output y, and of input z / output w when present.
pub const NX: usize = 6;
pub const NZ: usize = 6;

/// What a stand-in library looks like.
#[derive(Clone, Debug)]
pub struct Standin {
    pub prefix: String,
    /// With a second input z and output w.
    pub two: bool,
    pub scratch: usize,
    pub features: Vec<String>,
    /// standin.c's OVERRUN: 0 none, 1 read past x, 2 read before x, 3 write past the scratch.
    pub overrun: u8,
    /// A profiling build's interface (two made-up steps; the stand-in never calls the mark).
    pub profile: bool,
}

impl Standin {
    pub fn new(prefix: &str) -> Standin {
        Standin {
            prefix: prefix.into(),
            two: false,
            scratch: 128,
            features: vec![],
            overrun: 0,
            profile: false,
        }
    }
    pub fn two(mut self) -> Standin {
        self.two = true;
        self
    }
    pub fn features(mut self, f: &[&str]) -> Standin {
        self.features = f.iter().map(|s| s.to_string()).collect();
        self
    }

    pub fn interface(&self) -> Interface {
        let port = |name: &str, shape: &[usize]| Port {
            name: name.into(),
            shape: shape.to_vec(),
            dtype: runtime::DType::F32,
        };
        let mut inputs = vec![port("x", &[1, 2, 3])];
        let mut outputs = vec![port("y", &[1, 2, 3])];
        if self.two {
            inputs.push(port("z", &[2, 3]));
            outputs.push(port("w", &[2, 3]));
        }
        Interface {
            prefix: self.prefix.clone(),
            model_name: "standin".into(),
            inputs,
            outputs,
            scratch_size: self.scratch,
            splits: vec![qcc::backend::interface::Split {
                units: 1,
                temp_lo: 0,
                work_ns: 1,
            }],
            temp_span: 0,
            thread_grain_ns: qcc::backend::DEFAULT_THREAD_GRAIN_NS,
            features: self.features.clone(),
            target: "x86-64-v2".into(),
            weight_bits: 7,
            qcc_version: "0.1.0".into(),
            profile: self.profile.then(|| {
                let step = |name: &str, kind: &str, attrs: &str| ProfileStep {
                    name: name.into(),
                    kind: kind.into(),
                    operands: vec!["tensor<1x2x3xf32>".into()],
                    result: "tensor<1x2x3x!quant<u8, 0.5, 3>>".into(),
                    attrs: attrs.into(),
                };
                vec![
                    step("x.q", "quantize", ""),
                    step("y", "dequantize", "{axis = 1}"),
                ]
            }),
        }
    }

    /// The stand-in object file, compiled in `dir`.
    pub fn object(&self, dir: &Path) -> Vec<u8> {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/abi/standin.c");
        let obj = dir.join(format!("{}-standin.o", self.prefix));
        cc(
            dir,
            &[
                "-c".into(),
                "-O2".into(),
                "-fPIC".into(),
                format!("-DRUN_IMPL={}_run_impl", self.prefix),
                format!("-DSTEP_IMPL={}_step_impl", self.prefix),
                format!("-DNX={NX}"),
                format!("-DNZ={}", if self.two { NZ } else { 0 }),
                format!("-DSCRATCH={}", self.scratch),
                format!("-DOVERRUN={}", self.overrun),
                src.display().to_string(),
                "-o".into(),
                obj.display().to_string(),
            ],
        );
        std::fs::read(&obj).expect("object written")
    }

    /// Links the stand-in into `dir/NAME.so` (and `dir/NAME.h`).
    pub fn build(&self, dir: &Path, name: &str) -> PathBuf {
        let out = dir.join(format!("{name}.so"));
        link(&self.interface(), &self.object(dir), &out)
            .unwrap_or_else(|e| panic!("linking {name} failed:\n{e}"));
        out
    }
}

/// x as the stand-in's first input holds it, offset by `k`.
pub fn x_values(k: f32) -> Vec<f32> {
    (0..NX).map(|i| k + i as f32 * 0.5 - 1.0).collect()
}

/// Runs the C compiler in `dir`, panicking with its stderr when it fails.
pub fn cc(dir: &Path, args: &[String]) {
    let out = Command::new("cc")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("cc runs");
    assert!(
        out.status.success(),
        "cc {} failed:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs the test `name` (its full path, `abi::…`) of this binary again in a child process with
/// `CHILD=case` and the given environment changes.
pub fn in_child(name: &str, case: &str, env: &[(&str, &str)]) -> Output {
    let exe = std::env::current_exe().expect("the test binary");
    let mut cmd = Command::new(exe);
    cmd.args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, case);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the test binary runs")
}

/// The case this process was started to run, if it is a child.
pub fn child_case() -> Option<String> {
    std::env::var(CHILD).ok()
}

/// Snapshots one stage's output.
pub fn check(name: &str, text: &str) {
    insta::with_settings!({ prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!(name, text);
    });
}

/// The tests' Python (with numpy): `$QCC_PYTHON` (scripts/test.sh sets it to its venv), else the
/// repository's `.venv`.
pub fn python() -> PathBuf {
    let py = std::env::var_os("QCC_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python"));
    assert!(
        py.is_file(),
        "{} does not exist: run ./scripts/test.sh (which makes the venv and sets QCC_PYTHON), or set QCC_PYTHON to a Python with numpy",
        py.display()
    );
    py
}

/// Writes `script` as `example.py` in `dir`, runs it there with the test venv's Python and
/// returns its standard output; a failing script fails the test with its standard error.
pub fn run_python(dir: &Path, script: &str) -> String {
    std::fs::write(dir.join("example.py"), script).expect("written");
    let out = Command::new(python())
        .arg("example.py")
        .current_dir(dir)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
