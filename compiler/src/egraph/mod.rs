//! Equality saturation over the model: the e-graph language, its analysis (types, constants),
//! conversion to and from the model graph, the target cost model and DAG-aware extraction.

pub mod analysis;
pub mod convert;
pub mod cost;
pub mod extract;
pub mod lang;
pub mod saturate;
