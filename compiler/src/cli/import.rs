//! `qcc import model.onnx [-o model.ir] [--input-shape NAME=1x3x640x640]`.

use crate::cli::console::tell;
use crate::diag::Result;
use crate::import::import_file_with;
use crate::ir::weights::save_model;
use std::path::{Path, PathBuf};

pub fn import(onnx: &Path, output: Option<PathBuf>, input_shape: &[String]) -> Result<()> {
    let out = output.unwrap_or_else(|| onnx.with_extension("ir"));
    crate::fsio::refuse_overwriting(onnx, &out)?;
    let model = import_file_with(onnx, &crate::cli::build::given_shapes(input_shape)?)?;
    crate::ir::verify::verify_or_error(&model, None)?;
    save_model(&model, &out)?;
    let ops = model.ops_in_order().len();
    let weights = model.weights().len();
    tell!(
        "imported {} ({ops} ops, {weights} weights) → {}",
        onnx.display(),
        out.display()
    );
    Ok(())
}
