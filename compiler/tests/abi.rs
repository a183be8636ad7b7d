//! Tests of the C ABI around the generated code (issue 5): the header, the shim and the JSON
//! description; linking a stand-in object into `model.so` (determinism, errors, atomic output);
//! the runtime loader (round trip, shape errors, CPU features, threads); C and Python programs
//! calling libraries; the guard-page harness; `qcc run model.so`; memcheck on compiled models.

mod abi {
    pub mod c_programs;
    pub mod grain;
    pub mod guard;
    pub mod library;
    pub mod link;
    pub mod memcheck;
    pub mod real;
    pub mod support;
}
