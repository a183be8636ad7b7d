//! `qcc run` and `qcc check`: the reference interpreter from the command line, or a compiled
//! `model.so` through the runtime loader.

use crate::batch::run_tensor_batches;
use crate::cli::accuracy::{labelled_output, read_labels, top1};
use crate::cli::console::{say, tell};
use crate::diag::{Error, Result};
use crate::import::names::sanitize;
use crate::ir::model::Model;
use crate::npy;
use indicatif::{ProgressBar, ProgressStyle};
use runtime::{DType, Tensor};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// Splits `name=path` or `path` arguments and orders them by the given names.
pub fn assign(kind: &str, args: &[String], names: &[String]) -> Result<Vec<PathBuf>> {
    names
        .iter()
        .zip(assign_some(kind, args, names)?)
        .map(|(n, p)| p.ok_or_else(|| Error::msg(format!("no file given for {kind} `{n}`"))))
        .collect()
}

/// [`assign`], leaving out the names no argument mentions (a caller wanting only some outputs).
pub fn assign_some(kind: &str, args: &[String], names: &[String]) -> Result<Vec<Option<PathBuf>>> {
    let mut out: Vec<Option<PathBuf>> = vec![None; names.len()];
    for a in args {
        let (name, path) = match a.split_once('=') {
            Some((n, p)) if !n.is_empty() => (Some(n.trim_start_matches('%')), p),
            _ => (None, a.as_str()),
        };
        let idx = match name {
            // The model's own spelling, or the ONNX name it was imported from (`/` and `:`
            // become `_` in IR identifiers).
            Some(n) => names
                .iter()
                .position(|m| m == n)
                .or_else(|| names.iter().position(|m| *m == sanitize(n)))
                .ok_or_else(|| {
                    Error::msg(format!(
                        "the model has no {kind} named `{n}`; its {kind}s are: {}",
                        names.join(", ")
                    ))
                })?,
            None if names.len() == 1 => 0,
            None => {
                return Err(Error::msg(format!(
                    "the model has {} {kind}s ({}): say which {kind} each file is for, as `name=file.npy`",
                    names.len(),
                    names.join(", ")
                )))
            }
        };
        if out[idx].replace(PathBuf::from(path)).is_some() {
            return Err(Error::msg(format!(
                "{kind} `{}` is given twice",
                names[idx]
            )));
        }
    }
    Ok(out)
}

pub fn io_names(model: &Model) -> (Vec<String>, Vec<String>) {
    let ins = model
        .inputs
        .iter()
        .map(|&i| model.node(i).name.clone())
        .collect();
    let outs = model
        .outputs
        .iter()
        .map(|&o| model.node(o).name.clone())
        .collect();
    (ins, outs)
}

/// The `.npy` files of `args` (see [`assign`]), each read as its input's element type.
pub fn read_inputs(model: &Model, args: &[String]) -> Result<Vec<Tensor>> {
    let (ins, _) = io_names(model);
    assign("input", args, &ins)?
        .iter()
        .zip(&model.inputs)
        .map(|(p, &id)| npy::read_tensor(p, model.node(id).ty.elem.storage()))
        .collect()
}

/// Whether `path` names a compiled library rather than an IR file.
pub fn is_library(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "so")
}

/// Loads a `model.so` through the runtime, which refuses it on a CPU without its features.
pub fn load_library(path: &Path) -> Result<runtime::Library> {
    runtime::Library::load(path).map_err(|e| Error::msg(e.to_string()))
}

pub fn run(
    model_path: &Path,
    inputs: &[String],
    outputs: &[String],
    labels: Option<&str>,
    threads: usize,
) -> Result<()> {
    if !is_library(model_path) && threads != 1 {
        return Err(Error::msg(format!(
            "--threads is for a compiled model.so; {} runs in the reference interpreter, on one thread",
            model_path.display()
        )));
    }
    if is_library(model_path) {
        let lib = load_library(model_path)?;
        let info = lib.info();
        let ports: Vec<(String, Vec<usize>, DType)> = info
            .inputs
            .iter()
            .map(|p| (p.name.clone(), p.shape.clone(), p.dtype))
            .collect();
        let outs: Vec<String> = info.outputs.iter().map(|p| p.name.clone()).collect();
        let title = format!("running @{} ({})", info.model_name, model_path.display());
        let mut scratch = lib.scratch_threads(threads);
        return run_with(&title, &ports, &outs, inputs, outputs, labels, |feed| {
            lib.run_tensors_threads(feed, &mut scratch, threads)
                .map_err(|e| Error::msg(e.to_string()))
        });
    }
    let model = crate::pipeline::load(model_path)?;
    let (ins, outs) = io_names(&model);
    let ports: Vec<(String, Vec<usize>, DType)> = ins
        .into_iter()
        .zip(&model.inputs)
        .map(|(n, &id)| {
            let ty = &model.node(id).ty;
            (n, ty.shape.clone(), ty.elem.storage())
        })
        .collect();
    let title = format!("running @{}", model.name);
    run_with(&title, &ports, &outs, inputs, outputs, labels, |feed| {
        crate::interp::run(&model, feed)
    })
}

/// `qcc run` on anything that runs one batch at a time: reads the inputs, runs every batch,
/// scores the labels, writes the outputs.
fn run_with(
    title: &str,
    ports: &[(String, Vec<usize>, DType)],
    outs: &[String],
    inputs: &[String],
    outputs: &[String],
    labels: Option<&str>,
    run_one: impl FnMut(&[Tensor]) -> Result<Vec<Tensor>>,
) -> Result<()> {
    let ins: Vec<String> = ports.iter().map(|(n, _, _)| n.clone()).collect();
    // Any subset of the outputs: a detector's user may want its boxes and not its features.
    let out_paths = assign_some("output", outputs, outs)?;
    // The labels are read before the run so that a broken file costs no run time.
    let labels = match labels {
        Some(arg) => {
            let (index, path) = labelled_output(arg, outs)?;
            Some((index, read_labels(&path)?))
        }
        None => None,
    };
    let data: Vec<Tensor> = assign("input", inputs, &ins)?
        .iter()
        .zip(ports)
        .map(|(p, (_, _, want))| npy::read_tensor(p, *want))
        .collect::<Result<_>>()?;
    let shapes: Vec<(String, Vec<usize>)> = ports
        .iter()
        .map(|(n, s, _)| (n.clone(), s.clone()))
        .collect();
    let bar = if std::io::stderr().is_terminal() {
        let b = ProgressBar::new(0);
        b.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} batches, {eta} left")
                .expect("valid template"),
        );
        b.set_message(title.to_string());
        Some(b)
    } else {
        None
    };
    let results = run_tensor_batches(&shapes, outs.len(), &data, run_one, |done, total| {
        if let Some(b) = &bar {
            b.set_length(total as u64);
            b.set_position(done as u64);
        }
    })?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    // Scored before anything is written: a run that fails leaves no outputs behind.
    let score = match &labels {
        Some((index, labels)) => {
            let scores = results[*index].as_f32().ok_or_else(|| {
                Error::msg(format!(
                    "output %{} is {}; --labels scores f32 outputs",
                    outs[*index],
                    results[*index].dtype()
                ))
            })?;
            Some(top1(&outs[*index], scores, labels)?)
        }
        None => None,
    };
    for (path, t) in out_paths.iter().zip(&results) {
        if let Some(path) = path {
            npy::write_tensor(path, t)?;
        }
    }
    if let Some(score) = score {
        say!("{score}");
        if score.nan > 0 {
            tell!(
                "warning: {} of {} outputs hold NaN; they count as wrong",
                score.nan,
                score.total
            );
        }
    }
    Ok(())
}

pub fn check(model_path: &Path) -> Result<()> {
    let model = crate::pipeline::load(model_path)?;
    let ops = model.ops_in_order().len();
    let weights = model.weights();
    let bytes: usize = weights.iter().map(|&w| model.node(w).ty.size_bytes()).sum();
    say!(
        "@{}: {ops} ops, {} weights ({bytes} bytes), valid",
        model.name,
        weights.len()
    );
    for &i in &model.inputs {
        say!("  input  %{} : {}", model.node(i).name, model.node(i).ty);
    }
    for &o in &model.outputs {
        say!("  output %{} : {}", model.node(o).name, model.node(o).ty);
    }
    Ok(())
}
