//! `qcc MODEL -o OUT --emit float`: the compilation pipeline from the command line.

use crate::cli::{CompileArgs, Emit};
use crate::diag::{Error, Result};
use crate::egraph::saturate::Limits;
use crate::ir::weights::{read_model, save_model};
use crate::pipeline::optimize;
use crate::quant::qdq::default_weight_bits;
use crate::quant::{
    calibrate_with_means, data_free_means, data_free_ranges, BiasCorrection, Means, Method, Ranges,
    WeightBits, DEFAULT_INPUT_RANGE,
};
use crate::rules::RuleSet;
use std::path::Path;
use std::time::Instant;

/// Reads the user's rule files.
pub fn read_rule_files(paths: &[std::path::PathBuf]) -> Result<Vec<(String, String)>> {
    paths
        .iter()
        .map(|p| {
            std::fs::read_to_string(p)
                .map(|t| (p.display().to_string(), t))
                .map_err(|e| Error::io(p, e))
        })
        .collect()
}

/// Reads a model from .ir or .onnx.
pub fn read_any(path: &Path) -> Result<crate::ir::Model> {
    if path.extension().is_some_and(|e| e == "onnx") {
        let m = crate::import::import_file(path)?;
        crate::ir::verify::verify_or_error(&m, None)?;
        Ok(m)
    } else {
        read_model(path)
    }
}

pub fn compile(args: &CompileArgs) -> Result<()> {
    let (Some(model_path), Some(output)) = (&args.model, &args.output) else {
        return Err(Error::msg(
            "give a model and an output: `qcc model.ir -o out.ir --emit float`",
        ));
    };
    let quant_flags = [
        (!args.calib.is_empty(), "--calib"),
        (args.ranges.is_some(), "--ranges"),
        (args.save_ranges.is_some(), "--save-ranges"),
        (args.input_range.is_some(), "--input-range"),
        (args.weight_bits.is_some(), "--weight-bits"),
        (args.report, "--report"),
        (args.bias_correction.is_some(), "--bias-correction"),
        (args.equalize, "--equalize"),
        (!args.keep_float.is_empty(), "--keep-float"),
        (!args.weight_bits_for.is_empty(), "--weight-bits-for"),
    ];
    let stage = args.stage();
    if args.profile && !matches!(stage, Emit::Library | Emit::Obj | Emit::Clif) {
        return Err(Error::msg(
            "--profile times the kernels of a compiled library: give an output ending in .so (or --emit obj/clif)",
        ));
    }
    if stage == Emit::Float {
        if let Some((_, flag)) = quant_flags.iter().find(|(given, _)| *given) {
            return Err(Error::msg(format!(
                "{flag} only matters when quantizing: add --emit qdq or --emit int"
            )));
        }
    }
    if args.report && args.calib.is_empty() {
        return Err(Error::msg(
            "--report compares float and int8 on samples: give them with --calib",
        ));
    }
    if args.input_range.is_some() && (!args.calib.is_empty() || args.ranges.is_some()) {
        return Err(Error::msg("--input-range is for quantizing without data; with --calib or --ranges the data decide the input's range"));
    }
    // Rules first: a broken rule file is refused before any model is touched.
    let user = read_rule_files(&args.rules)?;
    let rules = if args.no_builtin_rules {
        RuleSet::load(&user)?
    } else {
        RuleSet::builtin_and(&user)?
    };
    let model = read_any(model_path)?;
    let is_so = output.extension().is_some_and(|e| e == "so");
    if is_so != (stage == Emit::Library) {
        return Err(Error::msg(if is_so {
            "an output ending in .so is a shared library: leave out --emit (or name the output after the stage, e.g. model.int.ir)".to_string()
        } else {
            format!(
                "a shared library's name must end in .so, not `{}`",
                output.display()
            )
        }));
    }
    // A model that is already quantized (the output of `--emit int` or `--emit qdq`, or a QDQ
    // ONNX model) is lowered and compiled as it is: quantizing it again would calibrate codes.
    let quantized = model.ops_in_order().iter().any(|&id| {
        model
            .node(id)
            .op()
            .is_some_and(|op| op.kind.declares_result())
    });
    if quantized && matches!(stage, Emit::Library | Emit::Obj | Emit::Clif) {
        if let Some((_, flag)) = quant_flags.iter().find(|(given, _)| *given) {
            return Err(Error::msg(format!(
                "{} is already quantized: {flag} has nothing to do",
                model_path.display()
            )));
        }
        let lowering = RuleSet::lowering_and(&user)?;
        let (int, _) = optimize(&model, &lowering, &Limits::default())?;
        return crate::cli::library::write(&int, args, stage, output);
    }
    let limits = Limits {
        iterations: args.iter_limit,
        nodes: args.node_limit,
        ..Limits::default()
    };
    let t = Instant::now();
    let (mut float, report) = optimize(&model, &rules, &limits)?;
    let elapsed = t.elapsed();
    if args.explain {
        eprint!("{}", crate::explain::explain(&report, &float));
        eprintln!("simplify took {:.0} ms", elapsed.as_secs_f64() * 1e3);
    }
    if !report.saturated() {
        eprintln!(
            "warning: saturation stopped at the {}; the result is correct but may miss rewrites",
            report.stop
        );
    }
    if stage == Emit::Float {
        return save_model(&float, output);
    }
    if args.equalize {
        let (eq, done) = crate::quant::equalize::equalize(&float)?;
        float = eq;
        if args.explain {
            eprintln!("equalized {} layer pairs", done.pairs.len());
            for (a, b) in &done.pairs {
                eprintln!("  %{a} → %{b}");
            }
        }
    }
    let correction: BiasCorrection = match args.bias_correction.as_deref() {
        Some(s) => s.parse()?,
        None if !args.calib.is_empty() => BiasCorrection::Empirical,
        None => BiasCorrection::DataFree,
    };
    if correction == BiasCorrection::Empirical && args.calib.is_empty() {
        return Err(Error::msg(
            "--bias-correction empirical measures input means on samples: give them with --calib (or use data-free)",
        ));
    }
    let linear_inputs = crate::quant::bias_correction::linear_inputs(&float);
    let means_of: &[_] = if correction == BiasCorrection::Empirical {
        &linear_inputs
    } else {
        &[]
    };
    let (ranges, observed_means) = ranges_for(args, &float, means_of)?;
    let bits = match args.weight_bits.as_deref() {
        Some("8") => WeightBits::Eight,
        Some(_) => WeightBits::Seven,
        None => default_weight_bits(),
    };
    let mut opts = crate::quant::qdq::Options::new(bits);
    opts.input_means = match correction {
        BiasCorrection::Off => Default::default(),
        BiasCorrection::Empirical => observed_means,
        BiasCorrection::DataFree => {
            let input_range = match &args.input_range {
                Some(s) => parse_range(s)?,
                None => DEFAULT_INPUT_RANGE,
            };
            data_free_means(&float, input_range, &linear_inputs)?
        }
    };
    opts.keep_float = args
        .keep_float
        .iter()
        .map(|n| n.trim_start_matches('%').to_string())
        .collect();
    for spec in &args.weight_bits_for {
        let bad = || {
            Error::msg(format!(
                "--weight-bits-for takes `OP=7` or `OP=8`, not `{spec}`"
            ))
        };
        let (name, b) = spec.split_once('=').ok_or_else(bad)?;
        let b = match b.trim() {
            "8" => WeightBits::Eight,
            "7" => WeightBits::Seven,
            _ => return Err(bad()),
        };
        opts.bits_for
            .insert(name.trim().trim_start_matches('%').to_string(), b);
    }
    let t = Instant::now();
    let q = crate::quant::qdq::quantize_with(&float, &ranges, &opts)?;
    if args.explain {
        eprintln!("quantize took {:.0} ms", t.elapsed().as_secs_f64() * 1e3);
    }
    for w in &q.warnings {
        eprintln!("warning: {w}");
    }
    if args.explain {
        let bits_n = if bits == WeightBits::Eight { 8 } else { 7 };
        eprintln!(
            "quantized with {bits_n}-bit weights, ranges from {}",
            ranges.method
        );
        for (name, kind) in &q.float_ops {
            eprintln!("  stays float: %{name} ({kind})");
        }
    }
    if stage == Emit::Qdq {
        return save_model(&q.model, output);
    }
    let lowering = RuleSet::lowering_and(&[])?;
    let t = Instant::now();
    let (int, report) = optimize(&q.model, &lowering, &limits)?;
    if args.explain {
        eprint!("lowering: {}", crate::explain::explain(&report, &int));
        eprintln!("lowering took {:.0} ms", t.elapsed().as_secs_f64() * 1e3);
    }
    if args.report {
        let samples = crate::cli::run::read_inputs(&float, &args.calib)?;
        let layers = crate::quant::report::report(&float, &int, &samples)?;
        eprint!("{}", crate::quant::report::render(&layers));
    }
    if stage == Emit::Int {
        return save_model(&int, output);
    }
    crate::cli::library::write(&int, args, stage, output)
}

/// The activation ranges: from a file, from calibration data, or data-free with a warning.
/// With --calib, the per-channel means of `means_of` come from the same calibration runs.
fn ranges_for(
    args: &CompileArgs,
    model: &crate::ir::Model,
    means_of: &[crate::ir::model::NodeId],
) -> Result<(Ranges, Means)> {
    if let Some(path) = &args.ranges {
        return Ok((Ranges::load(path, model)?, Means::new()));
    }
    let mut means = Means::new();
    let ranges = if args.calib.is_empty() {
        let input_range = match &args.input_range {
            Some(s) => parse_range(s)?,
            None => DEFAULT_INPUT_RANGE,
        };
        eprintln!(
            "warning: no --calib data: activation ranges are derived from the folded BatchNorm statistics and an input range of [{}, {}]; calibrating on real samples does better",
            input_range.0, input_range.1
        );
        data_free_ranges(model, input_range)?
    } else {
        let method: Method = args.calibration.parse()?;
        let samples = crate::cli::run::read_inputs(model, &args.calib)?;
        let bar = indicatif::ProgressBar::new(0);
        if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        }
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "calibrating [{bar:30}] {pos}/{len} samples, {eta} left",
            )
            .expect("valid template"),
        );
        let (r, m) = calibrate_with_means(model, &samples, method, means_of, |done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        })?;
        bar.finish_and_clear();
        means = m;
        r
    };
    if let Some(path) = &args.save_ranges {
        ranges.save(path)?;
    }
    Ok((ranges, means))
}

fn parse_range(s: &str) -> Result<(f32, f32)> {
    let bad = || {
        Error::msg(format!(
            "--input-range takes `LO,HI` with LO < HI, not `{s}`"
        ))
    };
    let (a, b) = s.split_once(',').ok_or_else(bad)?;
    let (lo, hi): (f32, f32) = (
        a.trim().parse().map_err(|_| bad())?,
        b.trim().parse().map_err(|_| bad())?,
    );
    if !(lo < hi && lo.is_finite() && hi.is_finite()) {
        return Err(bad());
    }
    Ok((lo, hi))
}
