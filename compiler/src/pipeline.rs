//! The compiler as a library: the passes in order ([`load`] (import) → simplify → equalize →
//! calibrate (→ round weights, with `--rounding adaround`) → quantize (→ choose ranges → quantize again, calibrating `layerwise`) → lower),
//! each a function over a `Model` with its options, and one driver, [`compile`], that the CLI,
//! the tests, the benchmarks and other callers share; the integer model then goes to
//! `backend::codegen` (plan + Cranelift) and `backend::link::link`.
//! Passes print nothing: what `--explain` shows comes from the [`Report`] the driver returns.
//!
//! Every stage's output is verified. The target is part of the options from the start, because
//! the quantizer's default weight width depends on it (7-bit weights where the target has no
//! VNNI, so `pmaddubsw` cannot saturate; 8-bit where it has).

use crate::backend::target::Target;
use crate::diag::{Error, Result};
use crate::egraph::saturate::{simplify_keeping, Limits, Report as SaturationReport};
use crate::ir::model::Model;
use crate::ir::verify::verify_or_error;
use crate::quant::calibrate::calibrate_observed;
use crate::quant::equalize::Equalized;
use crate::quant::histogram::Histogram;
use crate::quant::report::Layer;
use crate::quant::rounding::{Learned, Rounding, DEFAULT_SWEEPS};
use crate::quant::target::{next, Precision, Raise, Search, Step};
use crate::quant::{
    data_free_means, data_free_ranges, BiasCorrection, Means, Method, Ranges, Warning, WeightBits,
    DEFAULT_INPUT_RANGE,
};
use crate::rules::RuleSet;
use runtime::Tensor;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Reads a model: an `.onnx` file is imported (and verified), anything else parsed as IR with the
/// weights its header names.
pub fn load(path: &Path) -> Result<Model> {
    load_with(path, &crate::import::InputShapes::default())
}

/// [`load`], fixing the open dimensions of an ONNX model's inputs (an IR file's shapes are
/// always static, so `shapes` only applies to `.onnx`).
pub fn load_with(path: &Path, shapes: &crate::import::InputShapes) -> Result<Model> {
    if path.extension().is_some_and(|e| e == "onnx") {
        let m = crate::import::import_file_with(path, shapes)?;
        verify_or_error(&m, None)?;
        Ok(m)
    } else {
        crate::ir::weights::read_model(path)
    }
}

/// Whether a model is already quantized (the output of `--emit int` or `--emit qdq`, or a QDQ
/// ONNX model): such a model is lowered as it is, never calibrated again.
pub fn is_quantized(model: &Model) -> bool {
    model.ops_in_order().iter().any(|&id| {
        model
            .node(id)
            .op()
            .is_some_and(|op| op.kind.declares_result())
    })
}

/// Whether every op of a model is a float op or a quantize/dequantize (a QDQ model).
pub fn has_no_integer_ops(model: &Model) -> bool {
    use crate::ir::op::OpKind;
    model.ops_in_order().iter().all(|&id| {
        model.node(id).op().is_none_or(|op| {
            !op.kind.declares_result() || matches!(op.kind, OpKind::Quantize | OpKind::Dequantize)
        })
    })
}

/// Runs the rules over a verified model with weights loaded. The result is verified; rules that
/// built an ill-typed replacement are listed in the report (their replacement was dropped).
pub fn optimize(
    model: &Model,
    rules: &RuleSet,
    limits: &Limits,
) -> Result<(Model, SaturationReport)> {
    optimize_keeping(model, rules, limits, &BTreeSet::new())
}

/// [`optimize`], leaving the ops named in `keep` as they are: no rule rewrites them (the ops
/// `--keep-float` keeps, which lowering would otherwise turn into integer ops).
pub fn optimize_keeping(
    model: &Model,
    rules: &RuleSet,
    limits: &Limits,
    keep: &BTreeSet<String>,
) -> Result<(Model, SaturationReport)> {
    verify_or_error(model, None)?;
    let rewrites = rules.rewrites();
    let (mut out, report) = simplify_keeping(model, &rewrites, limits, keep)
        .map_err(|e| Error::msg(format!("optimizing @{}: {e}", model.name)))?;
    crate::fuse::fuse_silu(&mut out);
    verify_or_error(&out, None).map_err(|e| {
        Error::msg(format!(
            "the optimizer produced an invalid model (a bug in qcc): {e}"
        ))
    })?;
    Ok((out, report))
}

/// The lowering stage: the lowering rules (which leave the ops named in `keep` float), then
/// every `dequantize` of a constant left (a float op's weight) folded into an f32 constant,
/// whose names go to `folded`. The result is verified.
pub fn lower(
    qdq: &Model,
    rules: &RuleSet,
    limits: &Limits,
    keep: &BTreeSet<String>,
    folded: &mut Vec<String>,
) -> Result<(Model, SaturationReport)> {
    let (mut int, report) = optimize_keeping(qdq, rules, limits, keep)?;
    *folded = crate::fold_dequantize::fold_constant_dequantize(&mut int);
    verify_or_error(&int, None)?;
    Ok((int, report))
}

/// The weight width the quantizer uses when the caller does not choose: 8 bits where the target
/// has a VNNI dot product (exact for every i8 weight), 7 elsewhere, so that AVX2's `pmaddubsw`
/// and the SSE route's pair sums cannot saturate. Decided by the target, never the build machine.
pub fn default_weight_bits(target: &Target) -> WeightBits {
    if target.has_vnni() {
        WeightBits::Eight
    } else {
        WeightBits::Seven
    }
}

/// How far [`compile`] goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// The simplified float model.
    Float,
    /// Float ops between quantize and dequantize.
    Qdq,
    /// The integer model, ready for the backend.
    Int,
}

/// Where the activation ranges come from.
#[derive(Clone, Debug)]
pub enum Calibration {
    /// Observed by running the float model over samples: one array per model input, in signature
    /// order and of the input's element type, whose leading axis counts samples.
    Samples {
        samples: Vec<Tensor>,
        method: Method,
    },
    /// The ranges of an earlier calibration, in a file written from [`Report::ranges`].
    File(PathBuf),
    /// The ranges of an earlier calibration, in memory (a caller trying several quantizer
    /// options on one calibration).
    Ranges(Ranges),
    /// Derived from the folded BatchNorm statistics and this range for every input.
    DataFree { input_range: (f32, f32) },
}

impl Default for Calibration {
    fn default() -> Self {
        Calibration::DataFree {
            input_range: DEFAULT_INPUT_RANGE,
        }
    }
}

/// What the quantizer is told.
#[derive(Clone, Debug, Default)]
pub struct QuantOptions {
    pub calibration: Calibration,
    /// `None`: [`default_weight_bits`] of the target.
    pub weight_bits: Option<WeightBits>,
    /// Per-op weight bits (by result name, without `%`), overriding `weight_bits`.
    pub bits_for: BTreeMap<String, WeightBits>,
    /// Ops to leave in float, by result name without `%`.
    pub keep_float: BTreeSet<String>,
    /// Float tensors quantized to 16-bit codes for the convolutions that read them, by name
    /// without `%` (`--activation-bits-for NAME=16`).
    pub wide: BTreeSet<String>,
    /// `None`: empirical with calibration samples, data-free otherwise.
    pub bias_correction: Option<BiasCorrection>,
    /// The input range data-free bias correction assumes when the ranges come from samples or a
    /// file (with [`Calibration::DataFree`], its own range is used).
    pub input_range: Option<(f32, f32)>,
    /// Cross-layer equalization before calibrating.
    pub equalize: bool,
    /// Measure the per-layer SQNR of the integer model against the float one on the calibration
    /// samples ([`Report::layers`]).
    pub layer_report: bool,
    /// Keep every observed tensor's histogram ([`Report::histograms`]), calibrating on samples.
    pub histograms: bool,
    /// How weights round to codes: nearest, learned on the calibration samples, or (the
    /// default) learned when there are enough of them.
    pub rounding: Rounding,
    /// The budget of sweeps per weight row of `Rounding::Adaround` (`None`: the default).
    pub rounding_sweeps: Option<usize>,
    /// `--target-sqnr DB`: raise precision layer by layer until every output's SQNR on the
    /// calibration samples reaches it ([`crate::quant::target`]).
    pub target_sqnr: Option<f64>,
    /// `--target-float`: the search may also leave layers in float (exact, but a float layer
    /// runs as strict scalar code in a library, many times slower than its int8 kernel).
    pub target_float: bool,
}

/// Everything [`compile`] needs.
pub struct Options {
    pub target: Target,
    /// The rules of the simplify stage.
    pub rules: RuleSet,
    /// The rules that lower a QDQ model to the integer dialect.
    pub lowering: RuleSet,
    pub limits: Limits,
    pub stop: Stage,
    pub quant: QuantOptions,
}

impl Options {
    /// The built-in rules, default limits and data-free quantization, up to the integer model.
    pub fn new(target: Target) -> Result<Options> {
        Ok(Options {
            target,
            rules: RuleSet::builtin_and(&[])?,
            lowering: RuleSet::lowering_and(&[])?,
            limits: Limits::default(),
            stop: Stage::Int,
            quant: QuantOptions::default(),
        })
    }

    /// The weight width of every layer not named in `bits_for`.
    pub fn weight_bits(&self) -> WeightBits {
        self.quant
            .weight_bits
            .unwrap_or_else(|| default_weight_bits(&self.target))
    }
}

/// What each stage did: the data `--explain` and `--report` print.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// The simplify stage's saturation (absent for an already quantized model).
    pub simplify: Option<SaturationReport>,
    /// The layer pairs cross-layer equalization rescaled.
    pub equalized: Option<Equalized>,
    /// The activation ranges the quantizer used.
    pub ranges: Option<Ranges>,
    /// The weight width used where no per-op choice was made.
    pub weight_bits: Option<WeightBits>,
    /// The quantizer's warnings (saturated biases, …).
    pub warnings: Vec<Warning>,
    /// How many linear layers had their bias corrected for the mean shift of weight rounding.
    pub bias_corrected: usize,
    /// Ops left in float because they have no integer form: (name, op kind).
    pub float_ops: Vec<(String, String)>,
    /// Why each op of `float_ops` stays float, by name.
    pub float_reasons: BTreeMap<String, String>,
    /// The lowering stage's saturation.
    pub lowering: Option<SaturationReport>,
    /// The dequantizes of constants folded into f32 constants after lowering (by name): weights
    /// of float ops left in the integer graph, stored dequantized rather than dequantized per run.
    pub folded: Vec<String>,
    /// Per-layer SQNR, worst first, when [`QuantOptions::layer_report`] asked for it.
    pub layers: Option<Vec<Layer>>,
    /// Each observed tensor's calibration histogram by name, when
    /// [`QuantOptions::histograms`] asked for them and the ranges came from samples.
    pub histograms: Option<BTreeMap<String, Histogram>>,
    /// What the `layerwise` calibration chose, when it ran.
    pub layerwise: Option<crate::quant::layerwise::Chosen>,
    /// What learned rounding did, when it ran.
    pub rounding: Option<Learned>,
    /// With `Rounding::Auto`: the rounding it chose, and on how many samples (`None`: none).
    pub auto_rounding: Option<(Rounding, Option<usize>)>,
    /// What `--target-sqnr` chose, when it ran.
    pub target: Option<Search>,
    /// Wall time per stage, in the order they ran.
    pub times: Vec<(&'static str, Duration)>,
}

/// The models [`compile`] produced, up to the stage asked for.
pub struct Compiled {
    /// The simplified float model (the input itself when it was already quantized).
    pub float: Model,
    /// The QDQ model (the input itself when it was a QDQ model).
    pub qdq: Option<Model>,
    pub int: Option<Model>,
    pub report: Report,
}

impl Compiled {
    /// The last model produced: the one the stage asked for.
    pub fn last(&self) -> &Model {
        self.int
            .as_ref()
            .or(self.qdq.as_ref())
            .unwrap_or(&self.float)
    }
}

/// Runs one stage, recording its wall time.
fn timed<T>(
    times: &mut Vec<(&'static str, Duration)>,
    what: &'static str,
    f: impl FnOnce() -> Result<T>,
) -> Result<T> {
    let t = Instant::now();
    let out = f()?;
    times.push((what, t.elapsed()));
    Ok(out)
}

/// Where a long compile is: the stage running, what it works on (a raise `--target-sqnr` tries,
/// and the stage inside it), and how far it has come.
#[derive(Clone, Copy, Debug)]
pub struct Progress<'a> {
    /// `calibrate`, `round weights`, `choose ranges` or `raise precision`.
    pub stage: &'static str,
    /// What the stage works on, when it says (empty otherwise).
    pub detail: &'a str,
    pub done: usize,
    pub total: usize,
}

/// A stage's `(done, total)` counts, told to `progress` as that stage's.
fn counts<'a>(
    progress: &'a mut (impl FnMut(Progress) + ?Sized),
    stage: &'static str,
) -> impl FnMut(usize, usize) + 'a {
    move |done, total| {
        progress(Progress {
            stage,
            detail: "",
            done,
            total,
        })
    }
}

/// The compilation pipeline from a verified model to `opts.stop`. `progress(done, total)` is told
/// after every calibration sample (and, calibrating `layerwise`, then after every tensor whose
/// range it chose; learning the rounding, after every layer). A model that is already quantized
/// is only lowered (or, asked for the float stage, only simplified).
pub fn compile(
    model: &Model,
    opts: &Options,
    mut progress: impl FnMut(usize, usize),
) -> Result<Compiled> {
    compile_staged(model, opts, |p| progress(p.done, p.total))
}

/// [`compile`], telling `progress` which stage each count belongs to.
pub fn compile_staged(
    model: &Model,
    opts: &Options,
    mut progress: impl FnMut(Progress),
) -> Result<Compiled> {
    let mut report = Report::default();
    if is_quantized(model) && opts.stop != Stage::Float {
        let (int, lowering) = timed(&mut report.times, "lower", || {
            lower(
                model,
                &opts.lowering,
                &opts.limits,
                &BTreeSet::new(),
                &mut report.folded,
            )
        })?;
        report.lowering = Some(lowering);
        return Ok(Compiled {
            float: model.clone(),
            // A QDQ model is its own quantized stage; one holding integer ops has none.
            qdq: has_no_integer_ops(model).then(|| model.clone()),
            int: Some(int),
            report,
        });
    }
    let (mut float, simplified) = timed(&mut report.times, "simplify", || {
        optimize(model, &opts.rules, &opts.limits)
    })?;
    report.simplify = Some(simplified);
    if opts.stop == Stage::Float {
        return Ok(Compiled {
            float,
            qdq: None,
            int: None,
            report,
        });
    }
    let q = &opts.quant;
    if q.equalize {
        let (eq, done) = timed(&mut report.times, "equalize", || {
            crate::quant::equalize::equalize(&float)
        })?;
        float = eq;
        report.equalized = Some(done);
    }
    let samples = match &q.calibration {
        Calibration::Samples { samples, .. } => Some(samples.as_slice()),
        _ => None,
    };
    let correction = q.bias_correction.unwrap_or(if samples.is_some() {
        BiasCorrection::Empirical
    } else {
        BiasCorrection::DataFree
    });
    if correction == BiasCorrection::Empirical && samples.is_none() {
        return Err(Error::msg(
            "empirical bias correction measures input means on samples: calibrate on samples (or use data-free)",
        ));
    }
    if q.layer_report && samples.is_none() {
        return Err(Error::msg(
            "the per-layer report compares float and int8 on samples: calibrate on samples",
        ));
    }
    let linear_inputs = crate::quant::bias_correction::linear_inputs(&float);
    // `layerwise` chooses among candidates read off every tensor's histogram.
    let layerwise = match &q.calibration {
        Calibration::Samples {
            samples,
            method: Method::Layerwise,
        } => Some(samples),
        _ => None,
    };
    let (ranges, observed, histograms) = timed(&mut report.times, "calibrate", || {
        ranges(
            &float,
            &q.calibration,
            &linear_inputs,
            correction,
            q.histograms || layerwise.is_some(),
            &mut counts(&mut progress, "calibrate"),
        )
    })?;
    let bits = opts.weight_bits();
    let mut base = crate::quant::qdq::Options::new(bits);
    base.absorbed = opts.lowering.absorbed_activations();
    let mut skipped = None;
    base.input_means = match correction {
        BiasCorrection::Off => Default::default(),
        BiasCorrection::Empirical => observed,
        BiasCorrection::DataFree => {
            let input_range = match &q.calibration {
                Calibration::DataFree { input_range } => *input_range,
                _ => q.input_range.unwrap_or(DEFAULT_INPUT_RANGE),
            };
            match data_free_means(&float, input_range, &linear_inputs) {
                Ok(m) => m,
                // The implicit default gives way (ranges from a file are complete without it);
                // asked for by name, its failure is the user's error.
                Err(e) if q.bias_correction.is_none() => {
                    let why = e.to_string();
                    let why = why.trim_start_matches("error: ").to_string();
                    skipped = Some(Warning::NoBiasCorrection { why });
                    Default::default()
                }
                Err(e) => return Err(e),
            }
        }
    };
    report.bias_corrected = base.input_means.len();
    let count = samples
        .map(|s| crate::quant::rounding::sample_count(&float, s))
        .transpose()?;
    let rounding = q.rounding.resolve(count);
    if q.rounding == Rounding::Auto {
        report.auto_rounding = Some((rounding, count));
    }
    if rounding == Rounding::Adaround && samples.is_none() {
        return Err(Error::msg(
            "--rounding adaround learns each layer's rounding on samples: calibrate on samples (--calib)",
        ));
    }
    if q.target_sqnr.is_some() && samples.is_none() {
        return Err(Error::msg(
            "--target-sqnr measures the outputs' SQNR on samples: calibrate on samples (--calib)",
        ));
    }
    let user = Precision {
        bits_for: q.bits_for.clone(),
        wide: q.wide.clone(),
        keep_float: q.keep_float.clone(),
    };
    let stage = Quantizing {
        float: &float,
        base: &base,
        precision: user.clone(),
        rounding,
        sweeps: q.rounding_sweeps.unwrap_or(DEFAULT_SWEEPS),
        samples,
        opts,
        // The search measures the integer model.
        lower: opts.stop >= Stage::Int || q.target_sqnr.is_some(),
    };
    let layerwise = match (layerwise, &histograms) {
        (Some(samples), Some(h)) => Some((samples.as_slice(), h)),
        _ => None,
    };
    let mut done = stage.run_with(
        &stage.precision,
        ranges,
        layerwise,
        &mut report.times,
        &mut progress,
    )?;
    if let (Some(target), Some(samples)) = (q.target_sqnr, samples) {
        let t = Instant::now();
        let (searched, search) =
            raise_until(&stage, done, target, q.target_float, samples, &mut progress)?;
        done = searched;
        report.target = Some(search);
        report.times.push(("raise precision", t.elapsed()));
    }
    report.histograms = if q.histograms { histograms } else { None };
    report.ranges = Some(done.ranges);
    report.weight_bits = Some(bits);
    report.warnings = done.warnings;
    report.warnings.extend(skipped);
    report.float_ops = done.float_ops;
    report.float_reasons = done.float_reasons;
    report.rounding = done.rounding;
    report.layerwise = done.layerwise;
    report.folded = done.folded;
    report.lowering = done.lowering;
    if opts.stop == Stage::Qdq {
        return Ok(Compiled {
            float,
            qdq: Some(done.qdq),
            int: None,
            report,
        });
    }
    let int = done.int.expect("lowered up to the integer stage");
    if let (true, Some(samples)) = (q.layer_report, samples) {
        report.layers = Some(timed(&mut report.times, "report", || {
            crate::quant::report::report(&float, &int, samples)
        })?);
    }
    Ok(Compiled {
        float,
        qdq: Some(done.qdq),
        int: Some(int),
        report,
    })
}

/// Quantizing a calibrated float model: everything the stages after calibration need, so that
/// `--target-sqnr` can run them again under other precision choices.
struct Quantizing<'a> {
    float: &'a Model,
    /// The quantizer's options that no precision choice changes (bits, absorbed activations,
    /// bias correction's means).
    base: &'a crate::quant::qdq::Options,
    /// The user's precision choices (`--keep-float`, `--weight-bits-for`,
    /// `--activation-bits-for`).
    precision: Precision,
    rounding: Rounding,
    sweeps: usize,
    samples: Option<&'a [Tensor]>,
    opts: &'a Options,
    /// Whether to lower to the integer model.
    lower: bool,
}

/// What one quantization produced (and the report fields it fills).
struct Quantized {
    ranges: Ranges,
    qdq: Model,
    int: Option<Model>,
    warnings: Vec<Warning>,
    float_ops: Vec<(String, String)>,
    float_reasons: BTreeMap<String, String>,
    rounding: Option<Learned>,
    layerwise: Option<crate::quant::layerwise::Chosen>,
    folded: Vec<String>,
    lowering: Option<SaturationReport>,
}

impl Quantizing<'_> {
    /// Round weights (learned rounding), quantize, choose ranges again (`layerwise`, the first
    /// time only: its ranges are then fixed) and lower, under `precision`. Each search trial
    /// learns its rounding again: what it learned absorbs the error of the layers before (its
    /// bias shifts above all), which a raise upstream changes.
    fn run_with(
        &self,
        precision: &Precision,
        ranges: Ranges,
        layerwise: Option<(&[Tensor], &BTreeMap<String, Histogram>)>,
        times: &mut Vec<(&'static str, Duration)>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Quantized> {
        let float = self.float;
        let mut qopts = self.base.clone();
        qopts.keep_float = precision.keep_float.clone();
        qopts.bits_for = precision.bits_for.clone();
        qopts.wide = precision.wide.clone();
        let mut learned = None;
        if let (Rounding::Adaround, Some(samples)) = (self.rounding, self.samples) {
            let (rounded, shifts, l) = timed(times, "round weights", || {
                // The layers are searched on the inputs the quantized model gives them: nearest
                // rounding's QDQ model is the simulation they start from.
                let nearest = crate::quant::qdq::quantize_with(float, &ranges, &qopts)?;
                crate::quant::rounding::learn(
                    float,
                    &nearest.model,
                    &qopts.input_means,
                    samples,
                    self.base.bits,
                    &qopts.bits_for,
                    &qopts.keep_float,
                    self.sweeps,
                    crate::quant::calibrate::cores(),
                    &mut counts(&mut *progress, "round weights"),
                )
            })?;
            qopts.rounded = rounded;
            qopts.bias_shift = shifts;
            learned = Some(l);
        }
        let mut quantized = timed(times, "quantize", || {
            crate::quant::qdq::quantize_with(float, &ranges, &qopts)
        })?;
        let mut ranges = ranges;
        let mut chosen = None;
        if let Some((samples, h)) = layerwise {
            let (r, summary) = timed(times, "choose ranges", || {
                crate::quant::layerwise::choose(
                    float,
                    &quantized.model,
                    samples,
                    &ranges,
                    h,
                    crate::quant::calibrate::cores(),
                    &mut counts(&mut *progress, "choose ranges"),
                )
            })?;
            ranges = r;
            chosen = Some(summary);
            quantized = timed(times, "quantize", || {
                crate::quant::qdq::quantize_with(float, &ranges, &qopts)
            })?;
        }
        let mut folded = vec![];
        let (int, lowering) = if self.lower {
            let (int, l) = timed(times, "lower", || {
                lower(
                    &quantized.model,
                    &self.opts.lowering,
                    &self.opts.limits,
                    &quantized.kept,
                    &mut folded,
                )
            })?;
            (Some(int), Some(l))
        } else {
            (None, None)
        };
        Ok(Quantized {
            ranges,
            qdq: quantized.model,
            int,
            warnings: quantized.warnings,
            float_ops: quantized.float_ops,
            float_reasons: quantized.float_reasons,
            rounding: learned,
            layerwise: chosen,
            folded,
            lowering,
        })
    }
}

/// `--target-sqnr`: while the worst output's SQNR on the samples is below `target`, take the
/// next raise in precision ([`crate::quant::target::next`]: 16-bit codes for a float tensor
/// only convolutions read, then, layer by layer from the one adding the most noise, 8-bit
/// weights and, with `allow_float`, float), quantize again, and keep it only if the worst output gained at least
/// [`MIN_GAIN_DB`] on each half of the samples. Stops at the target, when nothing is left to raise, or after [`PATIENCE`]
/// refused raises in a row.
fn raise_until(
    stage: &Quantizing,
    first: Quantized,
    target: f64,
    allow_float: bool,
    samples: &[Tensor],
    progress: &mut dyn FnMut(Progress),
) -> Result<(Quantized, Search)> {
    let float = stage.float;
    let cores = crate::quant::calibrate::cores();
    let (mut measured, reference) =
        crate::quant::report::measure_keeping(float, int_of(&first), samples, cores)?;
    let mut halves = measured.halves;
    let mut search = Search {
        target_db: target,
        start_db: halves.all,
        end_db: halves.all,
        steps: vec![],
        gave_up: None,
    };
    let mut best: Option<Quantized> = None;
    let mut now = stage.precision.clone();
    let mut refused: BTreeSet<Raise> = BTreeSet::new();
    let mut in_a_row = 0;
    while search.end_db < target {
        let next = next(
            float,
            &measured,
            stage.base.bits,
            &now,
            &refused,
            allow_float,
        );
        let Some((layer, raise)) = next else {
            search.gave_up = Some(if allow_float {
                "nothing is left to raise".to_string()
            } else {
                "nothing is left to raise in integer (--target-float would also try layers in float)"
                    .to_string()
            });
            break;
        };
        if in_a_row >= PATIENCE {
            search.gave_up = Some(format!(
                "{PATIENCE} raises in a row did not lift the worst output"
            ));
            break;
        }
        let trial = now.with(&raise);
        let mut scratch = vec![];
        // The trial's own stages are told as steps of this one.
        let detail = format!("step {}, {raise}", search.steps.len() + 1);
        let mut told = |p: Progress| {
            let inner = format!("{detail}: {}", p.stage);
            progress(Progress {
                stage: "raise precision",
                detail: &inner,
                done: p.done,
                total: p.total,
            })
        };
        counts(&mut told, "quantize")(0, 0);
        let tried = stage.run_with(&trial, first.ranges.clone(), None, &mut scratch, &mut told);
        // A raise the quantizer refuses is passed over, as one that does not help.
        let (h, q, why) = match tried {
            Ok(q) => (
                Some(crate::quant::report::worst_output(
                    float,
                    int_of(&q),
                    &reference,
                    samples,
                    cores,
                )?),
                Some(q),
                None,
            ),
            Err(e) => (None, None, Some(e.to_string())),
        };
        // Both halves of the samples must gain: a raise that helps only some samples fits
        // them rather than the model.
        let kept = h.is_some_and(|h| h.gains_on_both(&halves, MIN_GAIN_DB));
        search.steps.push(Step {
            layer,
            raise: raise.clone(),
            sqnr_db: h.map_or(f64::NAN, |h| h.all),
            kept,
            refused: why.map(|w| w.trim_start_matches("error: ").to_string()),
        });
        match (q, h) {
            (Some(q), Some(h)) if kept => {
                search.end_db = h.all;
                halves = h;
                measured = crate::quant::report::measure(float, int_of(&q), samples, cores)?;
                best = Some(q);
                now = trial;
                in_a_row = 0;
            }
            _ => {
                refused.insert(raise);
                in_a_row += 1;
            }
        }
    }
    Ok((best.unwrap_or(first), search))
}

/// The integer model of a run the search made (it always lowers).
fn int_of(q: &Quantized) -> &Model {
    q.int.as_ref().expect("the search lowers")
}

/// The least gain in the worst output's SQNR that keeps a raise: less is within what the
/// calibration samples can tell, and a raise costs speed.
const MIN_GAIN_DB: f64 = 0.05;

/// Refused raises in a row after which `--target-sqnr` stops: past a handful, the layers left
/// are ones whose noise the outputs do not feel.
const PATIENCE: usize = 8;

/// The histograms of a calibration, when kept.
type Histograms = Option<BTreeMap<String, Histogram>>;

/// The activation ranges (and, calibrating on samples with empirical bias correction, the input
/// means of `linear_inputs` from the same runs; with `histograms`, each tensor's histogram).
fn ranges(
    float: &Model,
    calibration: &Calibration,
    linear_inputs: &[crate::ir::model::NodeId],
    correction: BiasCorrection,
    histograms: bool,
    progress: impl FnMut(usize, usize),
) -> Result<(Ranges, Means, Histograms)> {
    match calibration {
        Calibration::File(path) => Ok((Ranges::load(path, float)?, Means::new(), None)),
        Calibration::Ranges(r) => Ok((r.clone(), Means::new(), None)),
        Calibration::DataFree { input_range } => {
            Ok((data_free_ranges(float, *input_range)?, Means::new(), None))
        }
        Calibration::Samples { samples, method } => {
            let means_of: &[_] = if correction == BiasCorrection::Empirical {
                linear_inputs
            } else {
                &[]
            };
            let c = calibrate_observed(
                float,
                samples,
                *method,
                means_of,
                histograms,
                crate::quant::calibrate::cores(),
                progress,
            )?;
            Ok((c.ranges, c.means, histograms.then_some(c.histograms)))
        }
    }
}
