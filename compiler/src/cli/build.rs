//! `qcc MODEL -o OUT`: the command line's flags turned into the library pipeline's options
//! (`crate::pipeline`), and what the stages report printed.

use crate::backend::target::Target;
use crate::cli::console::{tell, tell_raw};
use crate::cli::{CompileArgs, Emit};
use crate::diag::{Error, Result};
use crate::egraph::saturate::Limits;
use crate::import::InputShapes;
use crate::ir::weights::save_model;
use crate::pipeline::{
    compile_staged, has_no_integer_ops, is_quantized, load_with, Calibration, Compiled, Options,
    QuantOptions, Report, Stage,
};
use crate::quant::rounding::Rounding;
use crate::quant::{BiasCorrection, Method, WeightBits, DEFAULT_INPUT_RANGE};
use crate::rules::admit::admit;
use crate::rules::RuleSet;
use dsl::ast::Phase;
use runtime::DType;
use std::collections::{BTreeMap, BTreeSet};

/// Reads the user's rule files.
pub fn read_rule_files(paths: &[std::path::PathBuf]) -> Result<Vec<(String, String)>> {
    paths
        .iter()
        .map(|p| crate::readin::read_text(p, "a rules file").map(|t| (p.display().to_string(), t)))
        .collect()
}

/// A compile command read and checked: the model loaded, the pipeline's options, the stage to
/// write and where, and warnings about the choices made for the user. What `qcc MODEL -o OUT`
/// and the Python package's `qcc.compile` share.
pub struct Prepared {
    pub model: crate::ir::Model,
    pub opts: Options,
    pub stage: Emit,
    pub output: std::path::PathBuf,
    pub warnings: Vec<String>,
}

pub fn build(args: &CompileArgs) -> Result<()> {
    let Prepared {
        model,
        opts,
        stage,
        output,
        warnings,
    } = prepare(args)?;
    for w in &warnings {
        tell!("warning: {w}");
    }
    if matches!(stage, Emit::Library | Emit::Obj | Emit::Clif) {
        // Before calibrating: a port the library cannot pass is known from the model alone.
        crate::backend::check_ports(&model)?;
    }
    let bar = progress_bar();
    let compiled = compile_staged(&model, &opts, |p| {
        let doing = match p.stage {
            "calibrate" => "calibrating",
            "round weights" => "learning the rounding",
            "choose ranges" => "choosing ranges",
            "raise precision" => "raising precision",
            other => other,
        };
        if p.detail.is_empty() {
            bar.set_message(doing);
        } else {
            bar.set_message(format!("{doing} ({})", p.detail));
        }
        bar.set_length(p.total as u64);
        bar.set_position(p.done as u64);
    })?;
    bar.finish_and_clear();
    print_report(&compiled.report, &compiled, args.explain, args.report);
    write_beside(args, &model, &compiled)?;
    match stage {
        Emit::Float | Emit::Qdq | Emit::Int => save_model(compiled.last(), &output),
        Emit::Onnx => {
            let qdq = compiled
                .qdq
                .as_ref()
                .expect("a float or QDQ model has a QDQ stage");
            crate::export::write(qdq, &output)
        }
        _ => {
            let int = compiled
                .int
                .as_ref()
                .expect("the pipeline ran to the integer model");
            crate::cli::library::write(int, &opts.target, args, stage, &output)
        }
    }
}

/// The files a compile writes beside its output: `--save-ranges` and `--report-html`.
pub fn write_beside(
    args: &CompileArgs,
    model: &crate::ir::Model,
    compiled: &Compiled,
) -> Result<()> {
    if let (Some(path), Some(ranges)) = (&args.save_ranges, &compiled.report.ranges) {
        ranges.save(path)?;
    }
    if let Some(path) = &args.report_html {
        // The file's name only: the page must not change with the directory it was made in.
        let file = args
            .model
            .as_deref()
            .and_then(|p| p.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let about = [("model", file), ("target", args.target.clone())];
        let page = crate::show::html::page(model, compiled, &about);
        crate::fsio::write_bytes_atomic(path, page.as_bytes())?;
    }
    Ok(())
}

/// Checks a compile command's flags against each other (before any file is read), reads the
/// user's rules (refusing wrong ones) and the model, and turns the flags into [`Options`].
pub fn prepare(args: &CompileArgs) -> Result<Prepared> {
    let (Some(model_path), Some(output)) = (&args.model, &args.output) else {
        return Err(Error::msg(
            "give a model and an output: `qcc model.ir -o out.ir --emit float`",
        ));
    };
    // The target first: the quantizer's default weight width depends on it.
    let target = Target::parse(&args.target)?;
    let quant_flags = [
        (!args.calib.is_empty(), "--calib"),
        (args.ranges.is_some(), "--ranges"),
        (args.save_ranges.is_some(), "--save-ranges"),
        (args.input_range.is_some(), "--input-range"),
        (args.weight_bits.is_some(), "--weight-bits"),
        (args.report, "--report"),
        (args.target_sqnr.is_some(), "--target-sqnr"),
        (args.report_html.is_some(), "--report-html"),
        (args.bias_correction.is_some(), "--bias-correction"),
        (args.equalize, "--equalize"),
        (args.rounding.is_some(), "--rounding"),
        (args.rounding_sweeps.is_some(), "--rounding-sweeps"),
        (!args.keep_float.is_empty(), "--keep-float"),
        (!args.weight_bits_for.is_empty(), "--weight-bits-for"),
        (
            !args.activation_bits_for.is_empty(),
            "--activation-bits-for",
        ),
    ];
    let given_quant_flag = quant_flags.iter().find(|(given, _)| *given).map(|f| f.1);
    let stage = args.stage();
    if args.profile && !matches!(stage, Emit::Library | Emit::Obj | Emit::Clif) {
        return Err(Error::msg(
            "--profile times the kernels of a compiled library: give an output ending in .so (or --emit obj/clif)",
        ));
    }
    if let (Emit::Float, Some(flag)) = (stage, given_quant_flag) {
        return Err(Error::msg(format!(
            "{flag} only matters when quantizing: add --emit qdq, --emit int or --emit onnx"
        )));
    }
    if args.report && args.calib.is_empty() {
        return Err(Error::msg(
            "--report compares float and int8 on samples: give them with --calib",
        ));
    }
    if args.target_sqnr.is_some() && args.calib.is_empty() {
        return Err(Error::msg(
            "--target-sqnr measures the outputs' SQNR on samples: give them with --calib",
        ));
    }
    if args.report_html.is_some() && args.calib.is_empty() {
        return Err(Error::msg(
            "--report-html draws each layer's SQNR and each activation's histogram from samples: give them with --calib",
        ));
    }
    if args.input_range.is_some() && (!args.calib.is_empty() || args.ranges.is_some()) {
        return Err(Error::msg("--input-range is for quantizing without data; with --calib or --ranges the data decide the input's range"));
    }
    let input_range = args.input_range.as_deref().map(parse_range).transpose()?;
    let bias_correction: Option<BiasCorrection> = args
        .bias_correction
        .as_deref()
        .map(str::parse)
        .transpose()?;
    if bias_correction == Some(BiasCorrection::Empirical) && args.calib.is_empty() {
        return Err(Error::msg(
            "--bias-correction empirical measures input means on samples: give them with --calib (or use data-free)",
        ));
    }
    let rounding: Rounding = args.rounding.as_deref().unwrap_or("auto").parse()?;
    if rounding == Rounding::Adaround && args.calib.is_empty() {
        return Err(Error::msg(
            "--rounding adaround learns each layer's rounding on samples: give them with --calib",
        ));
    }
    if args.rounding_sweeps.is_some() && rounding == Rounding::Nearest {
        return Err(Error::msg(
            "--rounding-sweeps is the budget of --rounding adaround, and --rounding nearest learns nothing",
        ));
    }
    if args.rounding_sweeps == Some(0) {
        return Err(Error::msg(
            "--rounding-sweeps must be at least 1 (--rounding nearest does no sweep)",
        ));
    }
    let bits_for = parse_bits_for(&args.weight_bits_for)?;
    let wide = parse_activation_bits(&args.activation_bits_for)?;
    // Rules first: a broken or wrong rule file is refused before any model is touched.
    let user = read_rule_files(&args.rules)?;
    let all_rules = if args.no_builtin_rules {
        RuleSet::load(&user)?
    } else {
        RuleSet::with_builtin(&user)?
    };
    admit(&all_rules, &user, &args.allow_unchecked)?;
    crate::fsio::refuse_overwriting(model_path, output)?;
    if let Some(html) = &args.report_html {
        crate::fsio::refuse_overwriting(model_path, html)?;
    }
    let model = load_with(model_path, &input_shapes(args)?)?;
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
    let quantized = is_quantized(&model);
    if quantized && stage != Emit::Float {
        if let Some(flag) = given_quant_flag {
            return Err(Error::msg(format!(
                "{} is already quantized: {flag} has nothing to do",
                model_path.display()
            )));
        }
        if stage == Emit::Onnx && !has_no_integer_ops(&model) {
            return Err(Error::msg(format!(
                "{} holds integer ops: --emit onnx writes a QDQ model, so give it the float model (or its --emit qdq stage)",
                model_path.display()
            )));
        }
        if stage == Emit::Qdq {
            return Err(Error::msg(format!(
                "{} is already quantized: --emit qdq has nothing to do (--emit int lowers it)",
                model_path.display()
            )));
        }
    }
    let calibration = if let Some(path) = &args.ranges {
        Calibration::File(path.clone())
    } else if args.calib.is_empty() {
        Calibration::DataFree {
            input_range: input_range.unwrap_or(DEFAULT_INPUT_RANGE),
        }
    } else {
        Calibration::Samples {
            samples: crate::cli::run::read_inputs(&model, &args.calib)?,
            method: args.calibration.parse::<Method>()?,
        }
    };
    let mut warnings = vec![];
    if let (false, true, Calibration::DataFree { input_range }) =
        (quantized, stage != Emit::Float, &calibration)
    {
        // Only float inputs take the assumed range (token ids, bytes and masks are not
        // quantized), so a model without one is told so rather than given a range it ignores.
        let float_inputs = model
            .inputs
            .iter()
            .any(|&i| model.node(i).ty.elem == crate::ir::ElemType::F32);
        warnings.push(if float_inputs {
            format!(
                "no --calib data: activation ranges are derived from the folded BatchNorm statistics and an input range of [{}, {}]; calibrating on real samples does better",
                input_range.0, input_range.1
            )
        } else {
            "no --calib data: activation ranges are derived from the weights and folded BatchNorm statistics alone (the inputs are not float, so no input range applies); calibrating on real samples does better".to_string()
        });
    }
    if quantized && stage != Emit::Float {
        // An already quantized model is only lowered: the simplify phase never runs on it.
        for r in all_rules
            .rules
            .iter()
            .filter(|r| !r.phases.contains(&Phase::Lower) && user.iter().any(|(f, _)| *f == r.file))
        {
            tell!(
                "warning: rule {} ({}) is a simplify-phase rule and {} is already quantized: it does not run (declare `phase lower` to rewrite the quantized graph)",
                r.name(),
                r.file,
                model_path.display()
            );
        }
    }
    let opts = Options {
        target,
        rules: all_rules.only(Phase::Simplify),
        lowering: all_rules.only(Phase::Lower),
        limits: Limits {
            iterations: args.iter_limit,
            nodes: args.node_limit,
            ..Limits::default()
        },
        stop: match stage {
            Emit::Float => Stage::Float,
            Emit::Qdq => Stage::Qdq,
            // The per-layer report measures the integer model, so it runs the whole way.
            Emit::Onnx if !args.report && args.report_html.is_none() => Stage::Qdq,
            _ => Stage::Int,
        },
        quant: QuantOptions {
            calibration,
            weight_bits: args.weight_bits.as_deref().map(|b| match b {
                "8" => WeightBits::Eight,
                _ => WeightBits::Seven,
            }),
            bits_for,
            wide,
            keep_float: args
                .keep_float
                .iter()
                .map(|n| n.trim_start_matches('%').to_string())
                .collect(),
            bias_correction,
            input_range,
            equalize: args.equalize,
            layer_report: args.report || args.report_html.is_some(),
            histograms: args.report_html.is_some(),
            rounding,
            rounding_sweeps: args.rounding_sweeps,
            target_sqnr: args.target_sqnr,
            target_float: args.target_float,
        },
    };
    Ok(Prepared {
        model,
        opts,
        stage,
        output: output.clone(),
        warnings,
    })
}

/// What `--target-sqnr` chose: always (the choice changes the library), each step with
/// `--explain`.
fn print_search(search: &crate::quant::target::Search, explain: bool, ms: f64) {
    if explain {
        for s in &search.steps {
            match &s.refused {
                Some(why) => tell!("  target-sqnr: %{}: {}: refused: {why}", s.layer, s.raise),
                None => tell!(
                    "  target-sqnr: %{}: {} → worst output {:.1} dB{}",
                    s.layer,
                    s.raise,
                    s.sqnr_db,
                    if s.kept { "" } else { ", undone" }
                ),
            }
        }
    }
    let kept = search.kept().count();
    let tried = search.steps.len();
    let summary = format!(
        "worst output {:.1} → {:.1} dB on the calibration samples with {kept} raise{} ({tried} tried, {ms:.0} ms)",
        search.start_db,
        search.end_db,
        if kept == 1 { "" } else { "s" },
    );
    match (&search.gave_up, kept) {
        (None, 0) => tell!(
            "--target-sqnr {}: met as quantized (worst output {:.1} dB on the calibration samples)",
            search.target_db,
            search.start_db
        ),
        (None, _) => tell!(
            "--target-sqnr {}: met: {summary}; the same without searching: {}",
            search.target_db,
            search.flags()
        ),
        (Some(why), _) => {
            tell!(
                "warning: --target-sqnr {} not reached: {summary}; stopped because {why}",
                search.target_db
            );
            if kept > 0 {
                tell!("  kept: {}", search.flags());
            }
        }
    }
}

/// A progress bar for the long stages (calibration, learned rounding, `--target-sqnr`'s
/// trials), drawn only on a terminal.
fn progress_bar() -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(0);
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len}, {eta} left")
            .expect("valid template"),
    );
    bar
}

/// What the stages did, on stderr: warnings always, the rest with `--explain`, and `--report`'s
/// table with `table` (`--report-html` measures it too, for its page, without printing it).
fn print_report(report: &Report, compiled: &Compiled, explain: bool, table: bool) {
    let took = |stage: &str| {
        report
            .times
            .iter()
            .filter(|(s, _)| *s == stage)
            .map(|(_, d)| d.as_secs_f64() * 1e3)
            .sum::<f64>()
    };
    if let Some(simplify) = &report.simplify {
        if explain {
            tell_raw!("{}", crate::explain::explain(simplify, &compiled.float));
            tell!("simplify took {:.0} ms", took("simplify"));
        }
        if !simplify.saturated() {
            tell!(
                "warning: saturation stopped at the {}; the result is correct but may miss rewrites",
                simplify.stop
            );
        }
    }
    if let (true, Some(done)) = (explain, &report.equalized) {
        tell!("equalized {} layer pairs", done.pairs.len());
        for (a, b) in &done.pairs {
            tell!("  %{a} → %{b}");
        }
    }
    if let (Some(bits), Some(ranges)) = (report.weight_bits, &report.ranges) {
        if explain {
            // Calibration runs the float model over every sample: on real models it is most of
            // a compile's time, so it is listed beside the passes.
            if report.times.iter().any(|(s, _)| *s == "calibrate") {
                tell!("calibrate took {:.0} ms", took("calibrate"));
            }
            if let Some(chosen) = &report.layerwise {
                let by: Vec<String> = chosen
                    .by_candidate
                    .iter()
                    .map(|(m, n)| format!("{m} {n}"))
                    .collect();
                tell!(
                    "layerwise: chose {} ranges on {} sample{} ({}; {} more proposed by the next layer, refused by the output); simulated output SQNR {:.1} dB with MSE ranges, {:.1} dB chosen; took {:.0} ms",
                    chosen.by_candidate.values().sum::<usize>(),
                    chosen.samples,
                    if chosen.samples == 1 { "" } else { "s" },
                    by.join(", "),
                    chosen.refused,
                    chosen.mse_db,
                    chosen.chosen_db,
                    took("choose ranges")
                );
            }
            match report.auto_rounding {
                Some((Rounding::Nearest, Some(n))) => tell!(
                    "rounding: nearest, as --rounding auto does with fewer than {} samples ({n} given; --rounding adaround learns from them anyway)",
                    crate::quant::rounding::AUTO_MIN_SAMPLES
                ),
                Some((Rounding::Adaround, Some(n))) => tell!(
                    "rounding: adaround, as --rounding auto does with {} samples or more ({n} given; --rounding nearest compiles faster)",
                    crate::quant::rounding::AUTO_MIN_SAMPLES
                ),
                _ => {}
            }
            if let Some(r) = report.rounding.as_ref().filter(|r| r.layers.is_empty()) {
                tell!(
                    "adaround: no layer learned its rounding from {} sample{}; every weight rounds to nearest",
                    r.samples,
                    if r.samples == 1 { "" } else { "s" }
                );
            }
            if let Some(r) = report.rounding.as_ref().filter(|r| !r.layers.is_empty()) {
                tell!(
                    "adaround: {} of {} weights rounded away from nearest in {} layers, on up to {} input patches per layer from {} sample{}; sampled layer output error {:.1} dB lower on average (least: {}); took {:.0} ms",
                    r.moved,
                    r.weights,
                    r.layers.len(),
                    r.patches,
                    r.samples,
                    if r.samples == 1 { "" } else { "s" },
                    r.mean_gain_db,
                    r.layers
                        .first()
                        .map_or("none".to_string(), |(n, g)| format!("%{n} {g:.1} dB")),
                    took("round weights")
                );
            }
            if let Some(r) = report.rounding.as_ref().filter(|r| !r.skipped.is_empty()) {
                tell!(
                    "adaround: left at nearest rounding, too few input patches in the samples (fewer than weights per output channel): {}",
                    r.skipped.iter().map(|n| format!("%{n}")).collect::<Vec<_>>().join(", ")
                );
            }
            tell!("quantize took {:.0} ms", took("quantize"));
        }
        if let Some(search) = &report.target {
            print_search(search, explain, took("raise precision"));
        }
        for w in &report.warnings {
            tell!("warning: {w}");
        }
        if explain {
            let bits_n = if bits == WeightBits::Eight { 8 } else { 7 };
            tell!(
                "quantized with {bits_n}-bit weights, ranges from {}",
                ranges.method
            );
            for (name, kind) in &report.float_ops {
                let why = report.float_reasons.get(name).map_or("", String::as_str);
                tell!("  stays float: %{name} ({kind}): {why}");
            }
            // The tensors given 16 bits, as the quantizer wrote their codes.
            if let Some(qdq) = &compiled.qdq {
                for id in qdq.ops_in_order() {
                    let n = qdq.node(id);
                    if let Some(q) = n.ty.elem.quant().filter(|q| q.storage == DType::I16) {
                        let readers: Vec<String> = qdq
                            .users(id)
                            .into_iter()
                            .flat_map(|(d, _)| qdq.users(d))
                            .map(|(u, _)| format!("%{}", qdq.node(u).name))
                            .collect();
                        tell!(
                            "  16-bit codes: %{} (scale {:e}, zero point {}), read by {}",
                            n.name,
                            q.scales[0],
                            q.zero_points[0],
                            readers.join(", ")
                        );
                    }
                }
            }
        }
    }
    if let (true, Some(lowering), Some(int)) = (explain, &report.lowering, &compiled.int) {
        tell_raw!("lowering: {}", crate::explain::explain(lowering, int));
        let came_quantized = report.simplify.is_none();
        let left = crate::explain::float_ops(int, &report.float_reasons, came_quantized);
        tell_raw!(
            "{}",
            crate::explain::explain_float_ops(&left, &report.folded)
        );
        tell!("lowering took {:.0} ms", took("lower"));
    }
    if let (true, Some(layers)) = (table, &report.layers) {
        tell_raw!("{}", crate::quant::report::render(layers));
    }
}

/// `NAME=BITS` as the name (without a leading `%`) and the bits, both trimmed.
fn name_and_bits(spec: &str) -> Option<(String, &str)> {
    let (name, bits) = spec.split_once('=')?;
    Some((name.trim().trim_start_matches('%').to_string(), bits.trim()))
}

/// `--weight-bits-for OP=BITS`, each.
fn parse_bits_for(specs: &[String]) -> Result<BTreeMap<String, WeightBits>> {
    let mut out = BTreeMap::new();
    for spec in specs {
        let bad = || {
            Error::msg(format!(
                "--weight-bits-for takes `OP=7` or `OP=8`, not `{spec}`"
            ))
        };
        let (name, b) = name_and_bits(spec).ok_or_else(bad)?;
        let b = match b {
            "8" => WeightBits::Eight,
            "7" => WeightBits::Seven,
            _ => return Err(bad()),
        };
        out.insert(name, b);
    }
    Ok(out)
}

/// `--activation-bits-for TENSOR=BITS`, each: the tensors given 16 bits (8 is the default, so
/// `NAME=8` names nothing new but is accepted).
fn parse_activation_bits(specs: &[String]) -> Result<BTreeSet<String>> {
    let mut wide = BTreeSet::new();
    for spec in specs {
        let bad = || {
            Error::msg(format!(
                "--activation-bits-for takes `TENSOR=16` or `TENSOR=8`, not `{spec}`"
            ))
        };
        let (name, b) = name_and_bits(spec).ok_or_else(bad)?;
        match b {
            "16" => wide.insert(name),
            "8" => wide.remove(&name),
            _ => return Err(bad()),
        };
    }
    Ok(wide)
}

/// The shapes for an ONNX model's open input dimensions: `--input-shape [NAME=]D0xD1…`, and
/// the shapes of the `--calib` arrays as a fallback.
fn input_shapes(args: &CompileArgs) -> Result<InputShapes> {
    let mut shapes = given_shapes(&args.input_shape)?;
    let onnx = args
        .model
        .as_ref()
        .is_some_and(|m| m.extension().is_some_and(|e| e == "onnx"));
    if onnx {
        for spec in &args.calib {
            let (name, path) = named(spec);
            let shape = crate::npy::shape_of(std::path::Path::new(&path))?;
            shapes.samples.insert(name, shape);
        }
    }
    Ok(shapes)
}

/// `NAME=VALUE`, or the empty name for a model's only input.
fn named(spec: &str) -> (String, String) {
    match spec.split_once('=') {
        Some((n, s)) => (n.trim_start_matches('%').to_string(), s.to_string()),
        None => (String::new(), spec.to_string()),
    }
}

/// The `--input-shape [NAME=]D0xD1…` flags (of `qcc` and `qcc import`).
pub(crate) fn given_shapes(specs: &[String]) -> Result<InputShapes> {
    let mut shapes = InputShapes::default();
    for spec in specs {
        let (name, dims) = named(spec);
        let shape = dims
            .split(['x', 'X', ','])
            .map(|d| d.trim().parse::<usize>())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|_| {
                Error::msg(format!(
                    "--input-shape `{spec}` is not [NAME=]D0xD1x… with whole-number sizes (e.g. images=1x3x640x640)"
                ))
            })?;
        if shapes.given.insert(name.clone(), shape).is_some() {
            return Err(Error::msg(format!(
                "--input-shape gives {} twice",
                if name.is_empty() {
                    "the input".to_string()
                } else {
                    format!("input `{name}`")
                }
            )));
        }
    }
    Ok(shapes)
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
