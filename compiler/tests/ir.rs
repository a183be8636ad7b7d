//! Tests of the text IR: fixtures in `tests/ir/` (parsed, printed, loaded with their weights),
//! snapshots of every diagnostic, a fuzz test, and the checks that keep docs/ir.md honest.

mod ir {
    pub mod docs;
    pub mod errors;
    pub mod fuzz;
    pub mod limits;
    pub mod support;
    pub mod text;
    pub mod weights;
}

#[path = "fuzz/bounded_alloc.rs"]
mod bounded_alloc;

#[global_allocator]
static ALLOC: bounded_alloc::Bounded = bounded_alloc::Bounded;
