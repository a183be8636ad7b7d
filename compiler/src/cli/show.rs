//! `qcc show MODEL -o graph.svg`: runs the pipeline to the stage asked for and draws it
//! (`crate::show`), coloured by the per-layer SQNR with `--color sqnr`.

use crate::backend::target::Target;
use crate::cli::{ShowColor, ShowStage};
use crate::diag::{Error, Result};
use crate::pipeline::{compile, is_quantized, load, Calibration, Options, Stage};
use crate::quant::Method;
use std::collections::BTreeMap;
use std::path::Path;

pub fn show(
    model_path: &Path,
    output: &Path,
    stage: ShowStage,
    calib: &[String],
    color: Option<ShowColor>,
    target: &str,
) -> Result<()> {
    crate::fsio::refuse_overwriting(model_path, output)?;
    let by_sqnr = color == Some(ShowColor::Sqnr);
    if by_sqnr && calib.is_empty() {
        return Err(Error::msg(
            "--color sqnr measures each layer on samples: give them with --calib",
        ));
    }
    let model = load(model_path)?;
    let quantized = is_quantized(&model);
    if by_sqnr && quantized {
        return Err(Error::msg(format!(
            "{} is already quantized: --color sqnr compares a float model with its int8 form",
            model_path.display()
        )));
    }
    let mut opts = Options::new(Target::parse(target)?)?;
    opts.stop = match stage {
        ShowStage::Float => Stage::Float,
        // The per-layer SQNR is measured on the integer model.
        ShowStage::Qdq if !by_sqnr => Stage::Qdq,
        _ => Stage::Int,
    };
    if !calib.is_empty() {
        opts.quant.calibration = Calibration::Samples {
            samples: crate::cli::run::read_inputs(&model, calib)?,
            method: Method::Mse,
        };
    } else if stage != ShowStage::Float && !quantized {
        eprintln!("warning: no --calib data: the quantization parameters shown are data-free ones");
    }
    opts.quant.layer_report = by_sqnr;
    let compiled = compile(&model, &opts, |_, _| {})?;
    let drawn = match stage {
        ShowStage::Float => &compiled.float,
        ShowStage::Qdq => compiled.qdq.as_ref().ok_or_else(|| {
            Error::msg(format!(
                "{} holds integer ops: it has no QDQ stage to draw",
                model_path.display()
            ))
        })?,
        ShowStage::Int => compiled
            .int
            .as_ref()
            .expect("the pipeline ran to the integer model"),
    };
    let sqnr: Option<BTreeMap<String, f64>> = compiled
        .report
        .layers
        .as_ref()
        .map(|layers| layers.iter().map(|l| (l.name.clone(), l.sqnr_db)).collect());
    let svg = crate::show::render(drawn, Some(&model), sqnr.as_ref());
    crate::fsio::write_bytes_atomic(output, svg.as_bytes())
}
