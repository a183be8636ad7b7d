//! qcc: compiles trained float neural networks into dependency-free int8 shared libraries.
//!
//! Data flows one way: text or ONNX → [`ir::Model`] (a petgraph) → passes → interpreter or backend.

pub mod backend;
pub mod batch;
pub mod cli;
pub mod diag;
pub mod egraph;
pub mod explain;
pub mod export;
pub mod fold_dequantize;
pub mod fsio;
pub mod fuse;
pub mod import;
pub mod interp;
pub mod interp_int;
pub mod ir;
pub mod npy;
pub mod ops;
pub mod pipeline;
pub mod quant;
pub mod readin;
pub mod rules;
pub mod show;

pub use diag::{Error, Result};
