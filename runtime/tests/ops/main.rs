//! Every op of `runtime::ops` against a naive formula written independently, straight from the
//! ONNX definition (nested loops, f64 accumulation), over proptest-generated shapes and values.

mod common;

mod arith;
mod attention;
mod batch_norm;
mod binary;
mod bitwise;
mod conv;
mod conv_transpose;
mod elementwise;
mod gather_elements;
mod gemm;
mod loss;
mod normalize;
mod pool;
mod quant;
mod reduce;
mod resize;
mod shape;
mod softmax;
mod top_k;
mod unary;
