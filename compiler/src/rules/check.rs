//! `qcc rules check`: every rule is tried on random instances of its pattern that satisfy its
//! guards; both sides run in the reference interpreter and must agree within the rule's
//! tolerance. A rule that is wrong is caught here, with the failing instance.

use crate::egraph::analysis::QGraph;
use crate::egraph::convert::{to_egraph, to_model};
use crate::egraph::extract::extract;
use crate::interp;
use crate::ir::print::print;
use crate::rules::apply::instantiate;
use crate::rules::ruleset::CompiledRule;
use crate::rules::sample::{const_names, Rng, Sampler};
use crate::rules::values;
use dsl::ast::Tolerance;
use egg::Searcher;
use runtime::Tensor;
use std::sync::Arc;

/// Random instances per rule, by default (`qcc rules check --instances`).
pub const CHECK_INSTANCES: usize = 24;
/// The instance generator's default seed (`qcc rules check --seed`).
pub const CHECK_SEED: u64 = 1;

/// What checking one rule found.
#[derive(Debug)]
pub enum Verdict {
    /// Both sides agreed on this many instances.
    Holds { instances: usize, worst: f64 },
    /// The sides differ (or the replacement is ill-typed) on this instance.
    Fails { why: String, instance: String },
    /// No instance satisfying the guards was found.
    Untested { tries: usize, last: String },
}

fn compare(lhs: &Tensor, rhs: &Tensor, tol: Tolerance) -> Result<f64, String> {
    if lhs.shape() != rhs.shape() || lhs.dtype() != rhs.dtype() {
        return Err(format!(
            "the sides have different types: {:?} {} against {:?} {}",
            lhs.shape(),
            lhs.dtype(),
            rhs.shape(),
            rhs.dtype()
        ));
    }
    let (a, b) = (lhs.to_f64_vec(), rhs.to_f64_vec());
    let scale = a
        .iter()
        .chain(&b)
        .filter(|v| v.is_finite())
        .fold(0f64, |m, v| m.max(v.abs()))
        .max(1e-30);
    let mut worst = 0f64;
    for (i, (&x, &y)) in a.iter().zip(&b).enumerate() {
        let d = (x - y).abs();
        // A NaN or an infinity agrees only with the same: a tolerance never excuses them (a
        // comparison with NaN is false, so `d > tolerance` alone would let it through).
        let bad = if !x.is_finite() || !y.is_finite() {
            !(x == y || x.is_nan() && y.is_nan())
        } else {
            match tol {
                // Equal as numbers: −0 and +0 differ only through a division by them, and
                // `x + 0 = x` (−0 + 0 = +0) or a conv's zero padding (0·w = −0) would fail.
                Tolerance::Exact => x != y,
                Tolerance::Rel(r) => d > r * scale,
                Tolerance::Lsb(n) => d > n as f64,
            }
        };
        if d.is_finite() {
            worst = worst.max(d / scale);
        }
        if bad {
            return Err(format!("element {i}: the pattern gives {x}, the replacement {y} (difference {d:.3e}, tolerance {tol:?} of max |value| {scale:.3e})"));
        }
    }
    Ok(worst)
}

fn random_input(
    rng: &mut Rng,
    t: &crate::ir::types::TensorType,
    mentioned: &[f32],
    wide: bool,
) -> Tensor {
    let n = t.numel();
    match t.elem.storage() {
        runtime::DType::F32 => Tensor::F32(
            ndarray::ArrayD::from_shape_vec(
                ndarray::IxDyn(&t.shape),
                (0..n).map(|_| values::draw(rng, mentioned, wide)).collect(),
            )
            .expect("n"),
        ),
        d => {
            let bytes: Vec<u8> = (0..n * d.size_bytes())
                .map(|_| rng.next_u64() as u8)
                .collect();
            let mut t = Tensor::from_le_bytes(d, &t.shape, &bytes).expect("size");
            if let Tensor::I32(a) = &mut t {
                a.mapv_inplace(|v| v % 1000);
            }
            t
        }
    }
}

/// Checks one rule on `instances` random instances.
pub fn check_rule(rule: &Arc<CompiledRule>, instances: usize, seed: u64) -> Verdict {
    let consts = const_names(&rule.ast);
    let mentioned = values::mentioned(&rule.ast);
    let pinned = values::pinned(&rule.ast);
    let mut rng = Rng::new(
        seed ^ rule
            .name()
            .bytes()
            .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64)),
    );
    let mut held = 0;
    let mut worst = 0f64;
    let mut tries = 0;
    let mut last = String::from("no instance could be built");
    let budget = instances * 40;
    while held < instances && tries < budget {
        tries += 1;
        let mut s = Sampler::new(&mut rng, &consts, &mentioned, &pinned);
        let root = match s.op(&rule.ast.pattern, None) {
            Ok(r) => r,
            Err(e) => {
                last = e;
                continue;
            }
        };
        let mut model = s.model;
        model.outputs = vec![root];
        if let Err(e) = crate::ir::verify::verify_or_error(&model, None) {
            last = e.to_string();
            continue;
        }
        let Ok(mut loaded) = to_egraph(&model) else {
            continue;
        };
        let root_class = loaded.roots[0];
        let egraph: &mut QGraph = &mut loaded.egraph;
        let Some(m) = rule.search_eclass(egraph, root_class) else {
            last = "the guards did not hold on the sampled instances".into();
            continue;
        };
        let subst = m.substs[0].clone();
        let text = print(&model);
        let rhs = match instantiate(egraph, rule, &subst) {
            Ok(Some(id)) => id,
            Ok(None) => continue,
            Err(e) => {
                return Verdict::Fails {
                    why: format!("the replacement cannot be built: {e}"),
                    instance: text,
                }
            }
        };
        egraph.rebuild();
        let (lt, rt) = (
            egraph[root_class].data.ty.clone(),
            egraph[rhs].data.ty.clone(),
        );
        if lt != rt {
            return Verdict::Fails {
                why: format!(
                    "the replacement has type {} but the pattern has type {}",
                    rt.map(|t| t.to_string()).unwrap_or("none".into()),
                    lt.map(|t| t.to_string()).unwrap_or("none".into())
                ),
                instance: text,
            };
        }
        loaded.roots = vec![loaded.egraph.find(rhs)];
        let Some((choice, _)) = extract(&loaded.egraph, &loaded.roots) else {
            return Verdict::Fails {
                why: "the replacement could not be extracted".into(),
                instance: text,
            };
        };
        let rhs_model = match to_model(&loaded, &choice, None) {
            Ok(m) => m,
            Err(e) => {
                return Verdict::Fails {
                    why: format!("the replacement could not be rebuilt: {e}"),
                    instance: text,
                }
            }
        };
        // Every other instance reaches across the whole float range.
        let wide = held % 2 == 1;
        let inputs: Vec<Tensor> = model
            .inputs
            .iter()
            .map(|&i| random_input(&mut rng, &model.node(i).ty, &mentioned, wide))
            .collect();
        let run = |m: &crate::ir::Model| interp::run(m, &inputs).map(|mut o| o.remove(0));
        let (l, r) = match (run(&model), run(&rhs_model)) {
            (Ok(l), Ok(r)) => (l, r),
            (Err(e), _) => {
                last = format!("the pattern instance does not run: {e}");
                continue;
            }
            (_, Err(e)) => {
                return Verdict::Fails {
                    why: format!("the replacement does not run: {e}"),
                    instance: text,
                }
            }
        };
        match compare(&l, &r, rule.tolerance()) {
            Ok(w) => {
                worst = worst.max(w);
                held += 1;
            }
            Err(why) => {
                return Verdict::Fails {
                    why,
                    instance: format!("{text}\nreplacement:\n{}", print(&rhs_model)),
                };
            }
        }
    }
    if held == 0 {
        return Verdict::Untested { tries, last };
    }
    Verdict::Holds {
        instances: held,
        worst,
    }
}
