//! `qcc bench`: the interpreter's latency on one batch, median of many runs (a benchmark tool,
//! not a test).

use crate::cli::console::say;
use crate::cli::run::read_inputs;
use crate::diag::{Error, Result};
use crate::interp;
use crate::ir::weights::read_model;
use runtime::Tensor;
use std::path::Path;
use std::time::Instant;

pub fn bench(model_path: &Path, inputs: &[String], runs: usize, json: bool) -> Result<()> {
    if runs == 0 {
        return Err(Error::msg("--runs must be at least 1"));
    }
    let model = read_model(model_path)?;
    let data = read_inputs(&model, inputs)?;
    let feed: Vec<Tensor> = model
        .inputs
        .iter()
        .zip(&data)
        .map(|(&id, a)| {
            let node = model.node(id);
            let (_, layout) = crate::batch::count_batches(&node.name, &node.ty.shape, a.shape())?;
            Ok(crate::batch::batch_of(a, &node.ty.shape, layout, 0))
        })
        .collect::<Result<_>>()?;
    interp::run(&model, &feed)?;
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            interp::run(&model, &feed).map(|_| t.elapsed().as_secs_f64() * 1e3)
        })
        .collect::<Result<_>>()?;
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let min = times[0];
    if json {
        say!("{{\"median_ms\": {median:.4}, \"min_ms\": {min:.4}, \"runs\": {runs}}}");
    } else {
        say!("@{}: median {median:.3} ms, min {min:.3} ms over {runs} runs (reference interpreter, one thread)", model.name);
    }
    Ok(())
}
