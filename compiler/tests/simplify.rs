//! Tests of the optimizer (issue 3): one fixture per built-in rule in `tests/simplify/`, the
//! BatchNorms it must leave alone, DAG-aware extraction, user rules and `qcc rules check` through
//! the binary, errors, determinism, and the real models of `QCC_TEST_MODELS`.

mod simplify {
    pub mod cli;
    pub mod cookbook;
    pub mod dag;
    pub mod determinism;
    pub mod docs;
    pub mod models;
    pub mod rules;
    pub mod support;
}
