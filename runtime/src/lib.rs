//! qcc's runtime: the reference semantics of every op (the oracle of every test and the engine of
//! calibration) and the loader for the `model.so` libraries qcc writes.
//!
//! Nothing here knows about the IR: ops are plain functions over [`Tensor`]s and parameter structs,
//! and the compiler's interpreter maps IR nodes onto them.

pub mod cpu;
pub mod element;
#[cfg(unix)]
pub mod guard;
pub mod library;
pub mod ops;
pub mod qops;
pub mod scratch;
pub mod tensor;

pub use element::Elem;
pub use half::f16;
pub use library::{Library, LibraryError, ModelInfo, PortInfo};
pub use scratch::Scratch;
pub use tensor::{DType, Tensor};
