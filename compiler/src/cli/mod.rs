//! The command-line interface: argument definitions and one function per subcommand.

mod accuracy;
mod bench;
mod build;
pub(crate) mod console;
pub use build::{prepare, write_beside, Prepared};
mod import;
mod library;
mod rules;
mod run;
mod show;

use crate::cli::console::say_raw;
use crate::diag::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// qcc compiles trained float neural networks into dependency-free int8 shared libraries.
///
/// `qcc MODEL.ir -o OUT.ir --emit float` optimizes a model; the subcommands below do the rest.
#[derive(Parser, Debug)]
#[command(name = "qcc", version, about, long_about = None, args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub compile: CompileArgs,
}

/// What to emit.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Emit {
    /// The optimized float IR (BatchNorms folded, cleanup applied), with its weights beside it.
    Float,
    /// Float ops between quantize and dequantize: the quantizer's output.
    Qdq,
    /// The integer IR: every op with an integer form lowered to it.
    Int,
    /// The QDQ stage as an ONNX model (QuantizeLinear/DequantizeLinear with qcc's parameters,
    /// int8 weights), for ONNX Runtime and Netron (chosen by an output ending in `.onnx`).
    Onnx,
    /// The backend's Cranelift IR, one function per kernel (text).
    Clif,
    /// The object file the library is linked from.
    Obj,
    /// The shared library and its header (chosen by an output ending in `.so`).
    #[value(skip)]
    Library,
}

/// Compiling a model.
#[derive(clap::Args, Debug)]
pub struct CompileArgs {
    /// The model: a .ir file (or .onnx, imported on the fly).
    #[arg(required = true)]
    pub model: Option<PathBuf>,
    /// Where to write the result.
    #[arg(short, long, required = true)]
    pub output: Option<PathBuf>,
    /// The stage to emit [default: a shared library for an output ending in .so, the QDQ model
    /// as ONNX for .onnx, else float]
    #[arg(long, value_enum)]
    pub emit: Option<Emit>,
    /// A rules file to add to the built-in rules (repeatable). Its `phase` declaration says
    /// which stage runs it (simplify when it has none); every rule is checked first (cached by
    /// the file's content) and a wrong one refuses the compile.
    #[arg(long = "rules", value_name = "FILE")]
    pub rules: Vec<PathBuf>,
    /// Use only the rules of the given files, not the built-in ones, in every phase (simplify
    /// and lower).
    #[arg(long)]
    pub no_builtin_rules: bool,
    /// Apply this rule of a --rules file although `qcc rules check` could not instantiate it
    /// (repeatable). Rules that fail the check are refused regardless.
    #[arg(long, value_name = "RULE")]
    pub allow_unchecked: Vec<String>,
    /// Print which rules fired, the e-graph size, why saturation stopped, the cost before and
    /// after, and every BatchNorm left unfolded with the reason.
    #[arg(long)]
    pub explain: bool,
    /// Calibration samples (.npy, leading axis = samples; `name=FILE` for several inputs).
    #[arg(long = "calib", value_name = "FILE")]
    pub calib: Vec<String>,
    /// How calibration turns observations into ranges: minmax, percentile[:P], entropy, mse
    /// (MSE-optimal clipping: best or near-best end to end on every model measured, see
    /// compiler/examples/calibration_methods.rs), or layerwise (per tensor, the candidate of
    /// the others that lowers the next layer's error and then the output's, in a simulation of
    /// the quantized model on the samples: up to 2.3 dB better on detectors and classifiers,
    /// 1.2 dB worse on one recognizer, 10–20× slower; README, "Calibration methods").
    #[arg(long, default_value = "mse")]
    pub calibration: String,
    /// Reuse the ranges of an earlier calibration (a JSON file written by --save-ranges).
    #[arg(long, value_name = "FILE", conflicts_with = "calib")]
    pub ranges: Option<PathBuf>,
    /// The shape of an ONNX input whose dimensions the model leaves open (a detector exported
    /// for any image size): `[NAME=]1x3x640x640`, NAME optional for a model with one input;
    /// repeat for several inputs. Without it, open dimensions take the shape of the --calib
    /// samples, and an open batch dimension is 1.
    #[arg(long = "input-shape", value_name = "[NAME=]SHAPE")]
    pub input_shape: Vec<String>,
    /// Write the calibrated ranges for reuse.
    #[arg(long, value_name = "FILE")]
    pub save_ranges: Option<PathBuf>,
    /// Without --calib: the range assumed for every input, `LO,HI` (data-free quantization).
    // Hyphen values allowed: LO is usually negative, and `--input-range -1,1` must not read as a flag.
    #[arg(long, value_name = "LO,HI", allow_hyphen_values = true)]
    pub input_range: Option<String>,
    /// Weight bits: 8, or 7 so that AVX2's pmaddubsw cannot saturate [default: 8 when --target
    /// has VNNI, 7 otherwise].
    #[arg(long, value_parser = ["7", "8"])]
    pub weight_bits: Option<String>,
    /// Leave these ops in float (comma-separated result names, as `--report` prints them).
    #[arg(long, value_delimiter = ',', value_name = "OP,…")]
    pub keep_float: Vec<String>,
    /// Weight bits for one op, overriding --weight-bits: `NAME=8` or `NAME=7` (repeatable).
    #[arg(long, value_name = "OP=BITS")]
    pub weight_bits_for: Vec<String>,
    /// Activation bits for one tensor: `NAME=16` quantizes it to i16 codes, 257 times finer
    /// than u8, for a sensitive tensor such as a model input (repeatable). The tensor must be a
    /// model input or a float op's result, read only by convolutions of one group (no
    /// horizontal dilation); the library
    /// then needs AVX2.
    #[arg(long, value_name = "TENSOR=BITS")]
    pub activation_bits_for: Vec<String>,
    /// Correct each conv/gemm bias for the mean shift its weight rounding causes: `empirical`
    /// (input means observed on the --calib samples), `data-free` (estimated from the folded
    /// BatchNorm statistics) or `off`. Default: empirical with --calib, data-free without.
    #[arg(long, value_name = "MODE")]
    pub bias_correction: Option<String>,
    /// How weights round to codes: `nearest`, `adaround` (each weight of a conv/gemm/matmul
    /// rounded up or down so that the layer's output, on the input the quantized model gives it,
    /// stays closest to the float layer's on the --calib samples; README, "Learned rounding"), or
    /// `auto`: adaround with 16 --calib samples or more, nearest with fewer. Default: auto.
    #[arg(long, value_name = "MODE")]
    pub rounding: Option<String>,
    /// The budget of --rounding adaround: sweeps over each layer's weights (each sweep tries
    /// every weight's other rounding once; the search stops early when a sweep changes nothing).
    #[arg(long, value_name = "N")]
    pub rounding_sweeps: Option<usize>,
    /// Raise precision where the int8 model loses most until every output's SQNR against the
    /// float model on the --calib samples reaches DB, in integer: 16-bit codes for a float
    /// input only convolutions read, then, layer by layer from the one adding the most noise
    /// (by --report's measure), 8-bit weights where it has 7. A raise that does not lift the
    /// worst output on both halves of the samples is undone. Prints what it chose, as flags.
    #[arg(long, value_name = "DB", value_parser = decibels)]
    pub target_sqnr: Option<f64>,
    /// Let --target-sqnr also leave layers in float when the integer raises are spent: exact,
    /// but a float layer runs as strict scalar code, many times slower than its int8 kernel
    /// (two 1×1 convs float took a document classifier from 1.7 to 29 ms).
    #[arg(long, requires = "target_sqnr")]
    pub target_float: bool,
    /// Cross-layer equalization before calibrating: rescale the channels of consecutive layers
    /// joined through ReLU (not ReLU6) so their per-channel weight ranges match.
    #[arg(long)]
    pub equalize: bool,
    /// After quantizing, print per layer the SQNR between the float activation and the
    /// dequantized integer one on the --calib samples, worst first.
    #[arg(long)]
    pub report: bool,
    /// Write one self-contained HTML page (no script, nothing loaded) of the compile: the time
    /// of each stage, the integer graph coloured by SQNR, each layer's SQNR as a bar chart, the
    /// rules fired and on which values, and each activation's calibration histogram with the
    /// range chosen for it. Needs --calib.
    #[arg(long, value_name = "FILE")]
    pub report_html: Option<PathBuf>,
    /// Saturation limit: iterations.
    #[arg(long, default_value_t = 64)]
    pub iter_limit: usize,
    /// Saturation limit: e-nodes.
    #[arg(long, default_value_t = 200_000)]
    pub node_limit: usize,
    /// The CPU a library is built for: native, x86-64-v2, x86-64-v3 or x86-64-v4, optionally
    /// with +FEATURE… (the library refuses to run on a CPU without them).
    #[arg(long, default_value = "native")]
    pub target: String,
    /// The C identifier the library's symbols start with (NAME_run, NAME_scratch_size, …), so
    /// that two models can be linked into one program.
    #[arg(long, default_value = "qcc")]
    pub prefix: String,
    /// A profiling build: the library also times each kernel call and exports the times per
    /// step (NAME_profile, NAME_profile_steps, …, declared in the header). For measuring only:
    /// the timing costs a little and the library keeps global counters.
    #[arg(long)]
    pub profile: bool,
    /// The least work, in estimated microseconds on one thread, that `NAME_run_threads` and
    /// `NAME_run_parallel` give each thread of a step: smaller steps run on fewer threads, and a
    /// model too small to repay starting threads runs on the calling thread alone. 0 splits
    /// every step. Results are the same bytes whatever it is.
    #[arg(long, value_name = "US", value_parser = microseconds,
          default_value_t = crate::backend::DEFAULT_THREAD_GRAIN_NS as f64 / 1e3)]
    pub thread_grain: f64,
}

/// A duration in microseconds: finite, not negative, at most a second.
fn microseconds(text: &str) -> std::result::Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if (0.0..=1e6).contains(&v) => Ok(v),
        Ok(v) => Err(format!("{v} is not between 0 and 1000000 microseconds")),
        Err(e) => Err(format!("`{text}` is not a number of microseconds: {e}")),
    }
}

/// An SQNR target in dB: finite and above 0 (int8 starts near 40; 0 dB is noise as loud as the
/// signal).
fn decibels(text: &str) -> std::result::Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 200.0 => Ok(v),
        Ok(v) => Err(format!(
            "an SQNR target is above 0 dB and at most 200 dB, not {v}"
        )),
        Err(e) => Err(format!("`{text}` is not a number of dB: {e}")),
    }
}

impl CompileArgs {
    /// `--thread-grain` in nanoseconds ([`microseconds`] refused what does not convert).
    pub fn thread_grain_ns(&self) -> u64 {
        (self.thread_grain * 1e3).round() as u64
    }

    /// The stage to write: as given, or from the output's extension.
    pub fn stage(&self) -> Emit {
        self.emit.unwrap_or_else(|| {
            match self
                .output
                .as_ref()
                .and_then(|o| o.extension())
                .and_then(|e| e.to_str())
            {
                Some("so") => Emit::Library,
                Some("o") => Emit::Obj,
                Some("clif") => Emit::Clif,
                Some("onnx") => Emit::Onnx,
                _ => Emit::Float,
            }
        })
    }
}

/// Which stage `qcc show` draws.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShowStage {
    /// The simplified float graph.
    Float,
    /// Float ops between quantize and dequantize.
    Qdq,
    /// The integer graph.
    Int,
}

/// What `qcc show` colours boxes by.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShowColor {
    /// Each layer's SQNR against the float model on the --calib samples (as --report prints).
    Sqnr,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Draw one stage of a model's graph as SVG: ops with shapes, their types, attributes and
    /// quantization parameters on hover, absorbed and float-in-integer ops marked, edges as
    /// wide as their tensors.
    Show {
        /// The model (.onnx or .ir).
        model: PathBuf,
        /// The .svg file to write.
        #[arg(short, long)]
        output: PathBuf,
        /// The stage to draw.
        #[arg(long, value_enum, default_value = "int")]
        stage: ShowStage,
        /// Calibration samples (.npy, leading axis = samples; `name=FILE` for several inputs).
        #[arg(long = "calib", value_name = "FILE")]
        calib: Vec<String>,
        /// Colour each op (needs --calib).
        #[arg(long, value_enum)]
        color: Option<ShowColor>,
        /// The target, which decides the default weight width (as for compiling).
        #[arg(long, default_value = "native")]
        target: String,
    },
    /// Import an ONNX model: writes MODEL.ir and MODEL.safetensors beside it.
    Import {
        /// The .onnx file.
        model: PathBuf,
        /// The .ir file to write (default: the ONNX file's name with .ir).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// The shape of an input whose dimensions the model leaves open: `[NAME=]1x3x640x640`,
        /// NAME optional for a model with one input; repeat for several inputs.
        #[arg(long = "input-shape", value_name = "[NAME=]SHAPE")]
        input_shape: Vec<String>,
    },
    /// Run a model on .npy inputs (leading axis = samples): an .ir file in the reference
    /// interpreter, or a compiled .so through the runtime loader.
    Run {
        /// The .ir file, or a model.so that qcc compiled.
        model: PathBuf,
        /// An input: `x.npy` for a single-input model, `name=x.npy` for any; repeat for several
        /// (none for a model without inputs). The file has the input's element type.
        #[arg(short, long = "input")]
        inputs: Vec<String>,
        /// Where to write outputs: `y.npy` for a single-output model, `name=y.npy` for any; repeat
        /// for several. Outputs not named are computed and not written.
        #[arg(short, long = "output", required = true)]
        outputs: Vec<String>,
        /// Class labels, one per sample: a text file with one integer per line, or an .npy array
        /// of integers. Prints the top-1 accuracy of the output (`name=FILE` picks the output of
        /// a model with several).
        #[arg(long, value_name = "FILE")]
        labels: Option<String>,
        /// Threads a compiled .so runs each batch on (the calling one and N − 1 it starts):
        /// the outputs are the same, bit for bit, for every N.
        #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
        threads: u16,
    },
    /// Verify a model: parse it, load its weights, check every type; prints a summary.
    Check {
        /// The .ir file.
        model: PathBuf,
    },
    /// Time the reference interpreter on one batch of an input (median over runs).
    Bench {
        /// The .ir file.
        model: PathBuf,
        /// As for `run`; the first batch of each file is used.
        #[arg(short, long = "input", required = true)]
        inputs: Vec<String>,
        /// Timed runs after one warm-up run.
        #[arg(long, default_value_t = 20)]
        runs: usize,
        /// Print one JSON line instead of a sentence.
        #[arg(long)]
        json: bool,
    },
    /// Work with rule files.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum RulesCommand {
    /// Check rules on random instances: both sides of every rule are evaluated in the reference
    /// interpreter and must agree within the rule's tolerance. Without files: the built-in rules.
    Check {
        /// Rule files (default: the built-in rules).
        files: Vec<PathBuf>,
        /// Random instances per rule.
        #[arg(long, default_value_t = crate::rules::check::CHECK_INSTANCES)]
        instances: usize,
        /// Seed of the instance generator.
        #[arg(long, default_value_t = crate::rules::check::CHECK_SEED)]
        seed: u64,
    },
    /// Print rule files in canonical form (the built-in rules without files).
    Print { files: Vec<PathBuf> },
    /// Snapshot-test rules: each fixture NAME.ir (or every .ir in a directory) is rewritten by
    /// the rules of its phase and must print as NAME.expected.ir beside it. A fixture's
    /// `// fires: RULE N, …` line counts firings; `// phase: lower` picks the phase (default:
    /// lower for an already quantized model). The rules are checked first, as for a compile.
    Test {
        /// A rules file (give `-` for the built-in rules alone).
        rules: PathBuf,
        /// Fixtures: .ir files or directories of them.
        #[arg(required = true)]
        fixtures: Vec<PathBuf>,
        /// Only the given rules, not the built-in ones.
        #[arg(long)]
        no_builtin_rules: bool,
        /// Apply this rule although the checker could not instantiate it (repeatable).
        #[arg(long, value_name = "RULE")]
        allow_unchecked: Vec<String>,
        /// Write each fixture's result as its expected file instead of comparing.
        #[arg(long)]
        bless: bool,
    },
    /// Print the ops a rule can name, with their operands and attributes (the table in
    /// docs/dsl.md, generated from the op table).
    Ops,
}

/// Runs a parsed command line.
pub fn main(cli: Cli) -> Result<()> {
    let Some(command) = cli.command else {
        return build::build(&cli.compile);
    };
    match command {
        Command::Import {
            model,
            output,
            input_shape,
        } => import::import(&model, output, &input_shape),
        Command::Run {
            model,
            inputs,
            outputs,
            labels,
            threads,
        } => run::run(&model, &inputs, &outputs, labels.as_deref(), threads.into()),
        Command::Check { model } => run::check(&model),
        Command::Show {
            model,
            output,
            stage,
            calib,
            color,
            target,
        } => show::show(&model, &output, stage, &calib, color, &target),
        Command::Bench {
            model,
            inputs,
            runs,
            json,
        } => bench::bench(&model, &inputs, runs, json),
        Command::Rules {
            command:
                RulesCommand::Check {
                    files,
                    instances,
                    seed,
                },
        } => rules::check(&files, instances, seed),
        Command::Rules {
            command: RulesCommand::Print { files },
        } => rules::print(&files),
        Command::Rules {
            command:
                RulesCommand::Test {
                    rules,
                    fixtures,
                    no_builtin_rules,
                    allow_unchecked,
                    bless,
                },
        } => rules::test(&rules, &fixtures, no_builtin_rules, &allow_unchecked, bless),
        Command::Rules {
            command: RulesCommand::Ops,
        } => {
            say_raw!("{}", crate::rules::ops_doc::ops_table());
            Ok(())
        }
    }
}
