//! Tests of the backend (issue 5): every compiled library computes exactly what the integer
//! interpreter computes, on the real models and on random graphs, on each instruction route.

mod backend {
    pub mod cli;
    pub mod families;
    pub mod fixed;
    pub mod graphs;
    pub mod lanes;
    pub mod models;
    pub mod props;
    pub mod reduce;
    pub mod resize;
    pub mod support;
    pub mod unary;
}
