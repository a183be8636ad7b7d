//! The command-line interface: argument definitions and one function per subcommand.

mod bench;
mod import;
mod run;

use crate::diag::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// qcc compiles trained float neural networks into dependency-free int8 shared libraries.
#[derive(Parser, Debug)]
#[command(name = "qcc", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Import an ONNX model: writes MODEL.ir and MODEL.safetensors beside it.
    Import {
        /// The .onnx file.
        model: PathBuf,
        /// The .ir file to write (default: the ONNX file's name with .ir).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Run a model in the reference interpreter on .npy inputs (leading axis = samples).
    Run {
        /// The .ir file.
        model: PathBuf,
        /// An input: `x.npy` for a single-input model, `name=x.npy` for any; repeat for several.
        #[arg(short, long = "input", required = true)]
        inputs: Vec<String>,
        /// Where to write outputs: `y.npy` for a single-output model, `name=y.npy` for any; repeatable.
        #[arg(short, long = "output", required = true)]
        outputs: Vec<String>,
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
}

/// Runs a parsed command line.
pub fn main(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Import { model, output } => import::import(&model, output),
        Command::Run { model, inputs, outputs } => run::run(&model, &inputs, &outputs),
        Command::Check { model } => run::check(&model),
        Command::Bench { model, inputs, runs, json } => bench::bench(&model, &inputs, runs, json),
    }
}
