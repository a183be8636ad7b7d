//! Activation ranges by tensor name, and their JSON file (`--save-ranges` writes it, `--ranges`
//! reads it back instead of calibrating).
//!
//! The file is one JSON object:
//!
//! ```json
//! {
//!   "qcc_ranges": 1,
//!   "model": "tiny",
//!   "method": "entropy",
//!   "ranges": {
//!     "c": [-1.5, 2.25],
//!     "x": [0.0, 1.0]
//!   }
//! }
//! ```
//!
//! `qcc_ranges` is the format version (1). `model` is the name of the model calibrated and
//! `method` how (`minmax`, `percentile:99.99`, `entropy`, `mse`, or `data-free` with the input
//! range), both for people. `ranges` maps the name of every model input and every f32 op result
//! (without the `%`) to `[min, max]`, finite with `min ≤ max`, as observed: not yet widened to
//! contain 0 nor turned into scales. Names are sorted; numbers are written in the shortest form
//! that reads back to the same f32. Loading checks the names against the model and reports every
//! unknown and missing one together.

use crate::diag::{Error, Result};
use crate::fsio::write_bytes_atomic;
use crate::ir::model::{Model, NodeId, NodeKind};
use crate::ir::suggest::closest;
use crate::ir::types::fmt_f32;
use std::collections::BTreeMap;
use std::path::Path;

/// The version written in `qcc_ranges`.
pub const FORMAT_VERSION: u64 = 1;

/// A range per observed tensor, and how they were obtained.
#[derive(Clone, Debug, PartialEq)]
pub struct Ranges {
    /// The model's name (without `@`).
    pub model: String,
    /// The calibration method, as [`crate::quant::Method`] prints it, or `data-free …`.
    pub method: String,
    /// Tensor name (without `%`) → `(min, max)`.
    pub ranges: BTreeMap<String, (f32, f32)>,
}

/// The tensors that get a range: every float input and every op whose result is f32, in
/// topological order.
pub fn observed_tensors(model: &Model) -> Vec<NodeId> {
    // Token ids, bytes and masks are not quantized: only float inputs get a range.
    let mut v: Vec<NodeId> = model
        .inputs
        .iter()
        .copied()
        .filter(|&i| model.node(i).ty.elem.is_float())
        .collect();
    v.extend(
        model
            .topo_order()
            .unwrap_or_default()
            .into_iter()
            .filter(|&n| {
                let node = model.node(n);
                matches!(node.kind, NodeKind::Op(_)) && node.ty.elem.is_float()
            }),
    );
    v
}

impl Ranges {
    /// The range of `%name`.
    pub fn get(&self, name: &str) -> Option<(f32, f32)> {
        self.ranges.get(name).copied()
    }

    /// The JSON text (see the module documentation).
    pub fn to_json(&self) -> String {
        let quote = |s: &str| serde_json::Value::from(s).to_string();
        let mut out = format!(
            "{{\n  \"qcc_ranges\": {FORMAT_VERSION},\n  \"model\": {},\n  \"method\": {},\n  \"ranges\": {{",
            quote(&self.model),
            quote(&self.method)
        );
        for (i, (name, (lo, hi))) in self.ranges.iter().enumerate() {
            out.push_str(if i == 0 { "\n" } else { ",\n" });
            out.push_str(&format!(
                "    {}: [{}, {}]",
                quote(name),
                fmt_f32(*lo),
                fmt_f32(*hi)
            ));
        }
        out.push_str(if self.ranges.is_empty() {
            "}\n}\n"
        } else {
            "\n  }\n}\n"
        });
        out
    }

    /// Reads the JSON text; `origin` names it in errors. Names are not checked against a model
    /// here: [`Ranges::check`] does that.
    pub fn from_json(text: &str, origin: &str) -> Result<Ranges> {
        let bad = |m: String| Error::msg(format!("{origin}: {m}"));
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| bad(format!("not valid JSON: {e}")))?;
        let obj = v.as_object().ok_or_else(|| {
            bad("expected a JSON object with `qcc_ranges`, `model`, `method` and `ranges`".into())
        })?;
        match obj.get("qcc_ranges").and_then(|v| v.as_u64()) {
            Some(FORMAT_VERSION) => {}
            Some(n) => {
                return Err(bad(format!(
                    "format version {n}, but this qcc reads version {FORMAT_VERSION}"
                )))
            }
            None => {
                return Err(bad(
                    "no `qcc_ranges` version number: not a qcc ranges file".into()
                ))
            }
        }
        let string = |key: &str| -> Result<String> {
            obj.get(key)
                .and_then(|v| v.as_str())
                .map(str::to_string)
                .ok_or_else(|| bad(format!("`{key}` must be a string")))
        };
        let (model, method) = (string("model")?, string("method")?);
        let map = obj
            .get("ranges")
            .and_then(|v| v.as_object())
            .ok_or_else(|| bad("`ranges` must be an object".into()))?;
        let mut ranges = BTreeMap::new();
        for (name, r) in map {
            let pair = r.as_array().filter(|a| a.len() == 2);
            // serde_json holds the f64 nearest to the text; printed again it is the text's
            // digits (at most 9), which f32 then rounds once: the f32 that was written.
            let num = |v: &serde_json::Value| {
                v.as_number()
                    .and_then(|n| n.to_string().parse::<f32>().ok())
            };
            let (lo, hi) = match pair.map(|a| (num(&a[0]), num(&a[1]))) {
                Some((Some(lo), Some(hi))) => (lo, hi),
                _ => {
                    return Err(bad(format!(
                        "the range of `{name}` must be [min, max], two numbers"
                    )))
                }
            };
            if !lo.is_finite() || !hi.is_finite() || lo > hi {
                return Err(bad(format!(
                    "the range of `{name}` is [{}, {}]: expected finite numbers with min ≤ max",
                    fmt_f32(lo),
                    fmt_f32(hi)
                )));
            }
            ranges.insert(name.clone(), (lo, hi));
        }
        Ok(Ranges {
            model,
            method,
            ranges,
        })
    }

    /// Checks that the names are exactly the model's observed tensors; every unknown and missing
    /// name is reported in one error (unknown ones with the names they may have meant).
    pub fn check(&self, model: &Model, origin: &str) -> Result<()> {
        let expected: Vec<String> = observed_tensors(model)
            .into_iter()
            .map(|n| model.node(n).name.clone())
            .collect();
        let known: std::collections::BTreeSet<&str> = expected.iter().map(String::as_str).collect();
        let mut problems = vec![];
        for name in self.ranges.keys().filter(|n| !known.contains(n.as_str())) {
            let near = closest(name, expected.iter().map(String::as_str), 3);
            let hint = if near.is_empty() {
                String::new()
            } else {
                format!(
                    " (did you mean {}?)",
                    near.iter()
                        .map(|n| format!("%{n}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            problems.push(format!(
                "  %{name} is not a tensor of @{}{hint}",
                model.name
            ));
        }
        let missing: Vec<&String> = expected
            .iter()
            .filter(|n| !self.ranges.contains_key(n.as_str()))
            .collect();
        if !missing.is_empty() {
            let shown: Vec<String> = missing.iter().take(10).map(|n| format!("%{n}")).collect();
            let more = missing.len().saturating_sub(10);
            let more = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            problems.push(format!("  no range for {}{more}", shown.join(", ")));
        }
        if problems.is_empty() {
            return Ok(());
        }
        let made_for = if self.model != model.name {
            format!(" (they were made for @{})", self.model)
        } else {
            String::new()
        };
        Err(Error::msg(format!(
            "{origin}: the ranges do not match @{}{made_for}:\n{}",
            model.name,
            problems.join("\n")
        )))
    }

    /// Writes the JSON file atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        write_bytes_atomic(path, self.to_json().as_bytes())
    }

    /// Reads a JSON file and checks it against `model`.
    pub fn load(path: &Path, model: &Model) -> Result<Ranges> {
        let text = crate::readin::read_text(path, "a ranges JSON file")?;
        let origin = path.display().to_string();
        let r = Ranges::from_json(&text, &origin)?;
        r.check(model, &origin)?;
        Ok(r)
    }
}
