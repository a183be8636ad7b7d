//! Every integer op of `runtime::qops` against a naive formula written independently (i64/i128
//! arithmetic and the rounding rules of docs/ir.md spelled out), hand-computed gemmlowp cases,
//! and the link to the float semantics: each op is within one code of its quantized float
//! simulation (dequantize → float op → quantize).

mod common;

// Named after the ops (`qconv`, not `conv`): proptest keeps failing seeds in
// tests/proptest-regressions/<file>.txt, which tests/ops shares.
mod fixed;
mod lut;
mod qadd;
mod qconv;
mod qconv_transpose;
mod qgemm;
mod qmatmul;
mod qmul;
mod qpool;
mod qresize;
mod qsoftmax;
mod requantize;
