//! The `qcc` Python package's native module (`qcc._qcc`): the command line, the compile
//! pipeline from CLI-style arguments (so every flag is a keyword of `qcc.compile` by
//! construction), and compiled libraries run on numpy arrays with the GIL released.
//! The Pythonic surface (keywords, calibration arrays, temporary files) is `qcc/*.py`.

use clap::{CommandFactory, Parser};
use numpy::{IntoPyArray, PyReadonlyArrayDyn};
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use qcc::cli::{Cli, CompileArgs, Emit, Prepared};
use qcc::pipeline::{compile, Compiled};
use runtime::{DType, Scratch, Tensor};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::thread::ThreadId;

create_exception!(
    _qcc,
    QccError,
    PyException,
    "qcc refused a model, a file or an option; the message says which and why."
);

fn qcc_err(e: impl std::fmt::Display) -> PyErr {
    QccError::new_err(e.to_string())
}

/// `qcc ARGS…`: the command line, exactly as the Rust binary runs it. Returns the exit code.
#[pyfunction]
fn main(py: Python<'_>, argv: Vec<String>) -> i32 {
    let cli = match Cli::try_parse_from(&argv) {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are "errors" that print to stdout and exit 0.
            let _ = e.print();
            return e.exit_code();
        }
    };
    py.detach(|| match qcc::cli::main(cli) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{e}");
            1
        }
    })
}

/// The compile command's flags: (long name, takes a value, repeatable), in `qcc --help` order,
/// without the model, the output and `--emit` (a compile from Python always makes a library).
#[pyfunction]
fn compile_flags() -> Vec<(String, bool, bool)> {
    let cmd = Cli::command();
    cmd.get_arguments()
        .filter_map(|a| {
            let long = a.get_long()?;
            if matches!(long, "output" | "emit" | "help" | "version") {
                return None;
            }
            let takes_value = a.get_action().takes_values();
            let repeatable = matches!(a.get_action(), clap::ArgAction::Append);
            Some((long.to_string(), takes_value, repeatable))
        })
        .collect()
}

/// Runs the pipeline for a compile command (`argv` as the CLI takes it, starting with the
/// program name); with `link`, writes the library and its header to the command's output.
/// Returns what the stages reported, as plain Python data.
#[pyfunction]
#[pyo3(signature = (argv, link, progress=None))]
fn build<'py>(
    py: Python<'py>,
    argv: Vec<String>,
    link: bool,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyDict>> {
    let cli = Cli::try_parse_from(&argv).map_err(|e| qcc_err(e.render()))?;
    if cli.command.is_some() {
        return Err(qcc_err("build takes a compile command, not a subcommand"));
    }
    let args: CompileArgs = cli.compile;
    let (compiled, warnings) = py
        .detach(|| -> qcc::diag::Result<_> {
            let Prepared {
                model,
                opts,
                stage,
                output,
                warnings,
            } = qcc::cli::prepare(&args)?;
            if link && stage != Emit::Library {
                return Err(qcc::diag::Error::msg(
                    "a library's output name must end in .so",
                ));
            }
            let compiled = compile(&model, &opts, |done, total| {
                if let Some(cb) = &progress {
                    // A failing callback must not stop a compile: its error is shown, not raised.
                    Python::attach(|py| {
                        if let Err(e) = cb.call1(py, (done, total)) {
                            e.print(py);
                        }
                    });
                }
            })?;
            qcc::cli::write_beside(&args, &model, &compiled)?;
            if link {
                let int = compiled
                    .int
                    .as_ref()
                    .expect("the pipeline ran to the integer model");
                let backend = qcc::backend::Options {
                    prefix: args.prefix.clone(),
                    target: opts.target.clone(),
                    keep_clif: false,
                    profile: args.profile,
                    thread_grain_ns: args.thread_grain_ns(),
                };
                let code = qcc::backend::codegen(int, &backend)?;
                qcc::backend::link::link(&code.interface, &code.object, &output)?;
            }
            Ok((compiled, warnings))
        })
        .map_err(qcc_err)?;
    report_dict(py, &compiled, warnings)
}

/// The report of one compile as a dict of plain values.
fn report_dict<'py>(
    py: Python<'py>,
    compiled: &Compiled,
    mut warnings: Vec<String>,
) -> PyResult<Bound<'py, PyDict>> {
    let r = &compiled.report;
    warnings.extend(r.warnings.iter().map(|w| w.to_string()));
    let d = PyDict::new(py);
    d.set_item("warnings", warnings)?;
    d.set_item(
        "weight_bits",
        r.weight_bits.map(|b| match b {
            qcc::quant::WeightBits::Eight => 8,
            qcc::quant::WeightBits::Seven => 7,
        }),
    )?;
    d.set_item("bias_corrected", r.bias_corrected)?;
    d.set_item(
        "float_ops",
        r.float_ops
            .iter()
            .map(|(name, op)| {
                let e = PyDict::new(py);
                e.set_item("name", name)?;
                e.set_item("op", op)?;
                Ok(e)
            })
            .collect::<PyResult<Vec<_>>>()?,
    )?;
    let layers = match &r.layers {
        None => None,
        Some(layers) => Some(
            layers
                .iter()
                .map(|l| {
                    let e = PyDict::new(py);
                    e.set_item("name", &l.name)?;
                    e.set_item("op", &l.op)?;
                    e.set_item("sqnr_db", l.sqnr_db)?;
                    Ok(e)
                })
                .collect::<PyResult<Vec<_>>>()?,
        ),
    };
    d.set_item("layers", layers)?;
    // What --target-sqnr chose: the flags that reproduce it, and every raise it tried.
    let target = match &r.target {
        None => None,
        Some(search) => {
            let e = PyDict::new(py);
            e.set_item("target_db", search.target_db)?;
            e.set_item("start_db", search.start_db)?;
            e.set_item("end_db", search.end_db)?;
            e.set_item("met", search.gave_up.is_none())?;
            e.set_item("gave_up", search.gave_up.as_deref())?;
            e.set_item("flags", search.flags())?;
            e.set_item(
                "steps",
                search
                    .steps
                    .iter()
                    .map(|s| {
                        let t = PyDict::new(py);
                        t.set_item("layer", &s.layer)?;
                        t.set_item("raise", s.raise.to_string())?;
                        t.set_item("sqnr_db", s.sqnr_db)?;
                        t.set_item("kept", s.kept)?;
                        t.set_item("refused", s.refused.as_deref())?;
                        Ok(t)
                    })
                    .collect::<PyResult<Vec<_>>>()?,
            )?;
            Some(e)
        }
    };
    d.set_item("target", target)?;
    d.set_item(
        "times",
        r.times
            .iter()
            .map(|(stage, t)| (*stage, t.as_secs_f64()))
            .collect::<Vec<_>>(),
    )?;
    Ok(d)
}

/// A loaded `model.so`: shapes checked on every call, one scratch arena per calling thread
/// (kept for the library's lifetime), the GIL released while the model runs.
#[pyclass(frozen, module = "qcc._qcc")]
struct Library {
    lib: runtime::Library,
    scratch: Mutex<HashMap<ThreadId, Scratch>>,
}

#[pymethods]
impl Library {
    #[new]
    fn new(path: PathBuf) -> PyResult<Self> {
        let lib = runtime::Library::load(&path).map_err(qcc_err)?;
        Ok(Library {
            lib,
            scratch: Mutex::new(HashMap::new()),
        })
    }

    /// `[(name, shape)]` of the inputs, in the order `run` takes them.
    #[getter]
    fn inputs(&self) -> Vec<(String, Vec<usize>)> {
        ports(&self.lib.info().inputs)
    }

    /// `[(name, shape)]` of the outputs, in the order `run` returns them.
    #[getter]
    fn outputs(&self) -> Vec<(String, Vec<usize>)> {
        ports(&self.lib.info().outputs)
    }

    #[getter]
    fn path(&self) -> PathBuf {
        self.lib.path().to_path_buf()
    }

    /// What the library says of itself: model name, prefix, target, CPU features, weight bits,
    /// scratch size and the qcc version that built it.
    #[getter]
    fn info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let i = self.lib.info();
        let d = PyDict::new(py);
        d.set_item("model", &i.model_name)?;
        d.set_item("prefix", &i.prefix)?;
        d.set_item("target", &i.target)?;
        d.set_item("features", &i.features)?;
        d.set_item("weight_bits", i.weight_bits)?;
        d.set_item("scratch_size", i.scratch_size)?;
        d.set_item("qcc_version", &i.qcc_version)?;
        Ok(d)
    }

    /// The numpy dtype name of each input (`float32`, `int32`, `int64`, `int8`, `uint8`,
    /// `bool`), in the order `run` takes them.
    #[getter]
    fn input_dtypes(&self) -> Vec<&'static str> {
        self.lib
            .info()
            .inputs
            .iter()
            .map(|p| numpy_name(p.dtype))
            .collect()
    }

    /// The numpy dtype name of each output, in the order `run` returns them.
    #[getter]
    fn output_dtypes(&self) -> Vec<&'static str> {
        self.lib
            .info()
            .outputs
            .iter()
            .map(|p| numpy_name(p.dtype))
            .collect()
    }

    /// Runs the model on arrays of its inputs' dtypes in input order on `threads` threads (the
    /// same outputs, bit for bit, for every count); returns the outputs in output order. A
    /// model whose ports are all float32 reads row-major arrays without a copy.
    #[pyo3(signature = (inputs, threads = 1))]
    fn run<'py>(
        &self,
        py: Python<'py>,
        inputs: Vec<Bound<'py, PyAny>>,
        threads: usize,
    ) -> PyResult<Vec<Bound<'py, PyAny>>> {
        if threads == 0 {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "threads must be at least 1",
            ));
        }
        let info = self.lib.info();
        let all_f32 = info
            .inputs
            .iter()
            .chain(&info.outputs)
            .all(|p| p.dtype == DType::F32);
        let me = std::thread::current().id();
        let needed = self.lib.scratch_size_threads(threads);
        let mut scratch = self
            .scratch
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&me)
            .filter(|s| s.len() >= needed)
            .unwrap_or_else(|| self.lib.scratch_threads(threads));
        let result = if all_f32 {
            let arrays: Vec<PyReadonlyArrayDyn<'py, f32>> = inputs
                .iter()
                .map(|a| a.extract())
                .collect::<Result<_, _>>()?;
            let views: Vec<_> = arrays.iter().map(|a| a.as_array()).collect();
            py.detach(|| self.lib.run_views_threads(&views, &mut scratch, threads))
                .map(|outs| outs.into_iter().map(Tensor::F32).collect::<Vec<_>>())
        } else {
            let tensors: Vec<Tensor> = inputs
                .iter()
                .zip(&info.inputs)
                .map(|(a, p)| to_tensor(a, p.dtype))
                .collect::<PyResult<_>>()?;
            py.detach(|| {
                self.lib
                    .run_tensors_threads(&tensors, &mut scratch, threads)
            })
        };
        self.scratch
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(me, scratch);
        let outputs = result.map_err(qcc_err)?;
        outputs.into_iter().map(|t| to_numpy(py, t)).collect()
    }
}

/// numpy's name for a port's element type.
fn numpy_name(d: DType) -> &'static str {
    match d {
        DType::I8 => "int8",
        DType::U8 => "uint8",
        DType::I32 => "int32",
        DType::I64 => "int64",
        DType::Bool => "bool",
        _ => "float32",
    }
}

/// A numpy array of element type `d` (the Python layer checked the dtype and named the port).
fn to_tensor(a: &Bound<'_, PyAny>, d: DType) -> PyResult<Tensor> {
    macro_rules! read {
        ($t:ty, $v:ident) => {{
            let a: PyReadonlyArrayDyn<'_, $t> = a.extract()?;
            Tensor::$v(a.as_array().to_owned())
        }};
    }
    Ok(match d {
        DType::I8 => read!(i8, I8),
        DType::U8 => read!(u8, U8),
        DType::I32 => read!(i32, I32),
        DType::I64 => read!(i64, I64),
        DType::Bool => read!(bool, Bool),
        _ => read!(f32, F32),
    })
}

fn to_numpy(py: Python<'_>, t: Tensor) -> PyResult<Bound<'_, PyAny>> {
    Ok(match t {
        Tensor::F32(a) => a.into_pyarray(py).into_any(),
        Tensor::I8(a) => a.into_pyarray(py).into_any(),
        Tensor::U8(a) => a.into_pyarray(py).into_any(),
        Tensor::I32(a) => a.into_pyarray(py).into_any(),
        Tensor::I64(a) => a.into_pyarray(py).into_any(),
        Tensor::Bool(a) => a.into_pyarray(py).into_any(),
        other => {
            return Err(qcc_err(format!(
                "a library returned {}, which no port holds",
                other.dtype()
            )))
        }
    })
}

fn ports(ps: &[runtime::library::PortInfo]) -> Vec<(String, Vec<usize>)> {
    ps.iter()
        .map(|p| (p.name.clone(), p.shape.clone()))
        .collect()
}

#[pymodule]
fn _qcc(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(main, m)?)?;
    m.add_function(wrap_pyfunction!(compile_flags, m)?)?;
    m.add_function(wrap_pyfunction!(build, m)?)?;
    m.add_class::<Library>()?;
    m.add("QccError", m.py().get_type::<QccError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
