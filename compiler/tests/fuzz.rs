//! Fuzz targets (issue 15) for the readers the other fuzz tests do not cover: `.npy` files with
//! lying headers, and the compiler's rule loader and checker on mutated `rules/*.rules`. No
//! panic, no abort, no allocation beyond a bound set by the input's length; every error renders.
//! Case counts are small for CI; `scripts/fuzz.sh` runs them longer through `QCC_FUZZ_CASES`.

mod fuzz {
    pub mod bounded_alloc;
    pub mod npy;
    pub mod rules;
}

#[global_allocator]
static ALLOC: fuzz::bounded_alloc::Bounded = fuzz::bounded_alloc::Bounded;
