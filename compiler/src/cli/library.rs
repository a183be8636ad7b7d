//! `qcc MODEL -o model.so` (and `--emit clif|obj`): the integer model through the backend, then
//! linked into a shared library with its header, and a summary of what was built.

use crate::backend::target::Target;
use crate::backend::{codegen, link, Options};
use crate::cli::console::tell;
use crate::cli::{CompileArgs, Emit};
use crate::diag::Result;
use crate::fsio::write_bytes_atomic;
use crate::ir::Model;
use std::path::Path;
use std::time::Instant;

fn kib(n: usize) -> String {
    if n >= 10 << 20 {
        format!("{:.1} MiB", n as f64 / (1 << 20) as f64)
    } else {
        format!("{:.1} KiB", n as f64 / 1024.0)
    }
}

pub fn write(
    int: &Model,
    target: &Target,
    args: &CompileArgs,
    stage: Emit,
    output: &Path,
) -> Result<()> {
    let opts = Options {
        prefix: args.prefix.clone(),
        target: target.clone(),
        keep_clif: stage == Emit::Clif,
        profile: args.profile,
        thread_grain_ns: args.thread_grain_ns(),
    };
    let compiled = codegen(int, &opts)?;
    let mut times = compiled.times.clone();
    match stage {
        Emit::Clif => {
            let text = compiled.clif.clone().unwrap_or_default();
            write_bytes_atomic(output, text.as_bytes())?;
        }
        Emit::Obj => write_bytes_atomic(output, &compiled.object)?,
        _ => {
            let t = Instant::now();
            link::link(&compiled.interface, &compiled.object, output)?;
            times.push(("link (cc)", t.elapsed()));
        }
    }
    let m = &compiled.memory;
    let size = std::fs::metadata(output)
        .map(|md| md.len() as usize)
        .unwrap_or(0);
    tell!(
        "wrote {} ({}, {} of weights and tables) for {} [{}]; scratch arena {} (activations without reuse: {})",
        output.display(),
        kib(size),
        kib(m.weight_bytes),
        args.target,
        compiled.interface.features.join(" "),
        kib(m.arena),
        kib(m.activations),
    );
    if stage == Emit::Library {
        tell!("wrote {}", link::header_path(output).display());
    }
    if let Some(steps) = &compiled.interface.profile {
        tell!(
            "profiling build: {} steps timed ({}_profile_steps describes them)",
            steps.len(),
            args.prefix
        );
    }
    if args.explain {
        for (what, d) in &times {
            tell!("  {what}: {:.0} ms", d.as_secs_f64() * 1e3);
        }
    }
    Ok(())
}
