//! Rules: the `dsl` crate's checked rule files turned into e-graph rewrites, the evaluator of their
//! expressions, and `qcc rules check`.

pub mod admit;
pub mod apply;
pub mod check;
pub mod eval;
pub mod fixture;
pub mod ops_doc;
pub mod ruleset;
pub mod sample;
pub mod sample_int;
pub mod search;
pub mod tensor_fns;
pub mod value;
pub mod values;

pub use ruleset::{CompiledRule, RuleSet};
