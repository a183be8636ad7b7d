//! The `qcc` command line: parses arguments and hands each subcommand to `qcc::cli`.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = qcc::cli::Cli::parse();
    match qcc::cli::main(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
