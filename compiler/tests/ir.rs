//! Tests of the text IR: fixtures in `tests/ir/` (parsed, printed, loaded with their weights),
//! snapshots of every diagnostic, a fuzz test, and the checks that keep docs/ir.md honest.

mod ir {
    pub mod docs;
    pub mod errors;
    pub mod fuzz;
    pub mod support;
    pub mod text;
    pub mod weights;
}
