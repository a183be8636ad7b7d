//! Running a model over many samples: an `.npy` file's leading axis counts samples. A model whose
//! input is `1x3x224x224` takes `Nx3x224x224` (batches concatenated along axis 0) or
//! `Nx1x3x224x224` (whole inputs stacked on a new axis); outputs come back the same way.

use crate::diag::{Error, Result};
use crate::interp;
use crate::ir::model::Model;
use crate::ir::types::fmt_shape;
use ndarray::{ArrayD, Axis, IxDyn, Slice};
use runtime::Tensor;

/// How the samples of a file are laid out against the model's input shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// `[k·B, rest…]` for an input `[B, rest…]`: batches concatenated on axis 0.
    Concatenated,
    /// `[k, B, rest…]`: whole inputs stacked on a new leading axis.
    Stacked,
}

/// How many model runs an array of shape `given` holds for an input of shape `shape`, and how
/// they are laid out.
pub fn count_batches(name: &str, shape: &[usize], given: &[usize]) -> Result<(usize, Layout)> {
    let wrong = || {
        Error::msg(format!(
            "input %{name} expects {} (N×{} or N×{} for N samples), but the file holds {}",
            fmt_shape(shape),
            fmt_shape(shape.get(1..).unwrap_or(&[])),
            fmt_shape(shape),
            fmt_shape(given)
        ))
    };
    if given.len() == shape.len() + 1 && given[1..] == *shape && given[0] > 0 {
        return Ok((given[0], Layout::Stacked));
    }
    if given == shape {
        return Ok((1, Layout::Stacked));
    }
    if shape.is_empty()
        || given.len() != shape.len()
        || given[1..] != shape[1..]
        || shape[0] == 0
        || given[0] == 0
        || !given[0].is_multiple_of(shape[0])
    {
        return Err(wrong());
    }
    Ok((given[0] / shape[0], Layout::Concatenated))
}

/// The `b`-th model input held by `t`, of its element type.
pub fn batch_of(t: &Tensor, shape: &[usize], layout: Layout, b: usize) -> Tensor {
    runtime::tensor_map!(t, a => slice_batch(a, shape, layout, b))
}

/// The `b`-th run's inputs of `model` from `samples` (one array per model input, in signature
/// order, laid out as `layout` says).
pub fn model_inputs(model: &Model, samples: &[Tensor], layout: Layout, b: usize) -> Vec<Tensor> {
    model
        .inputs
        .iter()
        .zip(samples)
        .map(|(&id, a)| batch_of(a, &model.node(id).ty.shape, layout, b))
        .collect()
}

fn slice_batch<T: Clone>(a: &ArrayD<T>, shape: &[usize], layout: Layout, b: usize) -> ArrayD<T> {
    let slice = if a.shape() == shape {
        a.clone()
    } else {
        match layout {
            Layout::Stacked => a.index_axis(Axis(0), b).to_owned(),
            Layout::Concatenated => a
                .slice_axis(Axis(0), Slice::from(b * shape[0]..(b + 1) * shape[0]))
                .to_owned(),
        }
    };
    slice
        .into_shape_with_order(IxDyn(shape))
        .expect("count_batches checked the shape")
}

/// Runs the interpreter over every batch of the given inputs (in signature order) and returns each
/// output laid out as the inputs were. `progress` is told after every batch.
pub fn run_batches(
    model: &Model,
    inputs: &[ArrayD<f32>],
    progress: impl FnMut(usize, usize),
) -> Result<Vec<ArrayD<f32>>> {
    let ports: Vec<(String, Vec<usize>)> = model
        .inputs
        .iter()
        .map(|&id| (model.node(id).name.clone(), model.node(id).ty.shape.clone()))
        .collect();
    run_batches_with(
        &ports,
        model.outputs.len(),
        inputs,
        |feed| interp::run(model, feed),
        progress,
    )
}

/// Runs `run_one` (one model run: inputs of the `ports`' shapes in, `outputs` tensors out) over
/// every batch of `inputs` and returns each output laid out as the inputs were (f32 only).
pub fn run_batches_with(
    ports: &[(String, Vec<usize>)],
    outputs: usize,
    inputs: &[ArrayD<f32>],
    run_one: impl FnMut(&[Tensor]) -> Result<Vec<Tensor>>,
    progress: impl FnMut(usize, usize),
) -> Result<Vec<ArrayD<f32>>> {
    let inputs: Vec<Tensor> = inputs.iter().map(|a| Tensor::F32(a.clone())).collect();
    run_tensor_batches(ports, outputs, &inputs, run_one, progress)?
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            let dt = t.dtype();
            t.into_f32()
                .ok_or_else(|| Error::msg(format!("output {i} is {dt}, not f32")))
        })
        .collect()
}

/// `run_batches_with` for inputs and outputs of any element type (each output keeps the type
/// the model gives it).
pub fn run_tensor_batches(
    ports: &[(String, Vec<usize>)],
    outputs: usize,
    inputs: &[Tensor],
    mut run_one: impl FnMut(&[Tensor]) -> Result<Vec<Tensor>>,
    mut progress: impl FnMut(usize, usize),
) -> Result<Vec<Tensor>> {
    let mut plan: Option<(usize, Layout)> = None;
    for ((name, shape), a) in ports.iter().zip(inputs) {
        let k = count_batches(name, shape, a.shape())?;
        match plan {
            Some(p) if p.0 != k.0 => {
                return Err(Error::msg(format!(
                    "the inputs hold different sample counts ({} and {})",
                    p.0, k.0
                )))
            }
            _ => plan = Some(k),
        }
    }
    // A model without inputs runs once.
    let (batches, layout) = plan.unwrap_or((1, Layout::Stacked));
    let single = inputs
        .iter()
        .zip(ports)
        .all(|(a, (_, shape))| a.shape() == shape.as_slice());
    let mut outs: Vec<Vec<Tensor>> = vec![vec![]; outputs];
    for b in 0..batches {
        let feed: Vec<Tensor> = ports
            .iter()
            .zip(inputs)
            .map(|((_, shape), a)| batch_of(a, shape, layout, b))
            .collect();
        for (i, t) in run_one(&feed)?.into_iter().enumerate() {
            outs[i].push(t);
        }
        progress(b + 1, batches);
    }
    outs.into_iter()
        .map(|parts| {
            if single {
                return Ok(parts.into_iter().next().expect("one batch"));
            }
            assemble(&parts, layout)
        })
        .collect()
}

/// The outputs of every batch joined as the inputs were laid out.
fn assemble(parts: &[Tensor], layout: Layout) -> Result<Tensor> {
    fn join<T: Clone>(views: &[ndarray::ArrayViewD<T>], layout: Layout) -> Result<ArrayD<T>> {
        match layout {
            Layout::Stacked => ndarray::stack(Axis(0), views),
            Layout::Concatenated => ndarray::concatenate(Axis(0), views),
        }
        .map_err(|e| Error::msg(format!("cannot assemble the outputs: {e}")))
    }
    macro_rules! all {
        ($v:ident) => {{
            let views: Option<Vec<_>> = parts
                .iter()
                .map(|p| match p {
                    Tensor::$v(a) => Some(a.view()),
                    _ => None,
                })
                .collect();
            let views = views.ok_or_else(|| {
                Error::msg("the batches gave outputs of different element types".to_string())
            })?;
            Tensor::$v(join(&views, layout)?)
        }};
    }
    Ok(match parts.first() {
        Some(Tensor::F32(_)) | None => all!(F32),
        Some(Tensor::I8(_)) => all!(I8),
        Some(Tensor::U8(_)) => all!(U8),
        Some(Tensor::I32(_)) => all!(I32),
        Some(Tensor::F64(_)) => all!(F64),
        Some(Tensor::F16(_)) => all!(F16),
        Some(Tensor::I16(_)) => all!(I16),
        Some(Tensor::U16(_)) => all!(U16),
        Some(Tensor::U32(_)) => all!(U32),
        Some(Tensor::I64(_)) => all!(I64),
        Some(Tensor::U64(_)) => all!(U64),
        Some(Tensor::Bool(_)) => all!(Bool),
    })
}
