//! Tests of quantization (issue 4): one QDQ fixture per lowering rule in `tests/lower/`, every
//! stage of the real models printed, re-read and run against ONNX Runtime, the digits example's
//! accuracy in int8, refused bad input through the binary, and determinism.

mod lower {
    pub mod cli;
    pub mod data_free;
    pub mod digits;
    pub mod float_left;
    pub mod models;
    pub mod rules;
    pub mod support;
}
