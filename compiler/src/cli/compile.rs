//! `qcc MODEL -o OUT --emit float`: the compilation pipeline from the command line.

use crate::cli::{CompileArgs, Emit};
use crate::diag::{Error, Result};
use crate::egraph::saturate::Limits;
use crate::ir::weights::{read_model, save_model};
use crate::pipeline::optimize;
use crate::rules::RuleSet;
use std::path::Path;
use std::time::Instant;

/// Reads the user's rule files.
pub fn read_rule_files(paths: &[std::path::PathBuf]) -> Result<Vec<(String, String)>> {
    paths
        .iter()
        .map(|p| std::fs::read_to_string(p).map(|t| (p.display().to_string(), t)).map_err(|e| Error::io(p, e)))
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
        return Err(Error::msg("give a model and an output: `qcc model.ir -o out.ir --emit float`"));
    };
    // Rules first: a broken rule file is refused before any model is touched.
    let user = read_rule_files(&args.rules)?;
    let rules = if args.no_builtin_rules { RuleSet::load(&user)? } else { RuleSet::builtin_and(&user)? };
    let model = read_any(model_path)?;
    match args.emit {
        Emit::Float => {
            if output.extension().is_some_and(|e| e == "so") {
                return Err(Error::msg("--emit float writes IR: name the output `something.ir`"));
            }
            let limits = Limits { iterations: args.iter_limit, nodes: args.node_limit, ..Limits::default() };
            let t = Instant::now();
            let (out, report) = optimize(&model, &rules, &limits)?;
            let elapsed = t.elapsed();
            save_model(&out, output)?;
            if args.explain {
                eprint!("{}", crate::explain::explain(&report, &out));
                eprintln!("simplify took {:.0} ms", elapsed.as_secs_f64() * 1e3);
            }
            if !report.saturated() {
                eprintln!("warning: saturation stopped at the {}; the result is correct but may miss rewrites", report.stop);
            }
        }
    }
    Ok(())
}
