//! Tests of the backend (issue 5): every compiled library computes exactly what the integer
//! interpreter computes, on the real models and on random graphs, on each instruction route.

mod backend {
    pub mod cli;
    pub mod columns;
    pub mod conv_transpose;
    pub mod depthwise;
    pub mod every_op;
    pub mod families;
    pub mod fixed;
    pub mod graphs;
    pub mod index;
    pub mod lanes;
    pub mod loss;
    pub mod models;
    pub mod onnx_index;
    pub mod outputs;
    pub mod props;
    pub mod qsoftmax;
    pub mod reduce;
    pub mod resize;
    pub mod scale;
    pub mod support;
    pub mod unary;
    pub mod wide;
}
