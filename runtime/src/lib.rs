//! qcc's runtime: the reference semantics of every op (the oracle of every test and the engine of
//! calibration) and, later, the loader for the `model.so` libraries qcc writes.
//!
//! Nothing here knows about the IR: ops are plain functions over [`Tensor`]s and parameter structs,
//! and the compiler's interpreter maps IR nodes onto them.

pub mod ops;
pub mod qops;
pub mod tensor;

pub use tensor::{DType, Tensor};
