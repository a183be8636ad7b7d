//! The `qcc` command line: parses arguments and hands each subcommand to `qcc::cli`.

use clap::Parser;
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = qcc::cli::Cli::parse();
    match qcc::cli::main(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Not `eprintln!`, which panics when stderr is a closed pipe.
            let _ = writeln!(std::io::stderr().lock(), "{e}");
            ExitCode::FAILURE
        }
    }
}
