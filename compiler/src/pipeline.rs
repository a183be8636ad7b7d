//! The passes in order, each stating what holds before and after it. Today: simplify (float IR
//! in, float IR out: same function within rule tolerances, verified).

use crate::diag::{Error, Result};
use crate::egraph::saturate::{simplify, Limits, Report};
use crate::ir::model::Model;
use crate::ir::verify::verify_or_error;
use crate::rules::RuleSet;

/// Runs the rules over a verified model with weights loaded. The result is verified; rules that
/// built an ill-typed replacement are listed in the report (their replacement was dropped).
pub fn optimize(model: &Model, rules: &RuleSet, limits: &Limits) -> Result<(Model, Report)> {
    verify_or_error(model, None)?;
    let rewrites = rules.rewrites();
    let (out, report) = simplify(model, &rewrites, limits)
        .map_err(|e| Error::msg(format!("optimizing @{}: {e}", model.name)))?;
    verify_or_error(&out, None).map_err(|e| {
        Error::msg(format!(
            "the optimizer produced an invalid model (a bug in qcc): {e}"
        ))
    })?;
    Ok((out, report))
}
