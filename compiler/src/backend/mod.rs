//! The backend: from the integer IR to `model.so` and `model.h`.

pub mod header;
pub mod interface;
pub mod link;
