//! qcc: compiles trained float neural networks into dependency-free int8 shared libraries.
//!
//! Data flows one way: text or ONNX → [`ir::Model`] (a petgraph) → passes → interpreter or backend.

pub mod diag;
pub mod import;
pub mod ir;

pub use diag::{Error, Result};
