//! What the code generator tells the linker about the code it made: the C prefix, the model's
//! inputs and outputs, the scratch size and the CPU features the code needs. The header, the C
//! shim and `NAME_model_json` are all rendered from this one description.

use crate::backend::profile::ProfileStep;
use crate::diag::{Error, Result};
use runtime::library::ABI_VERSION;
use runtime::DType;
use serde_json::{json, Value};

/// The contract between the code generator and the linker. The object file defines one global
/// function, `{prefix}_run_impl(inputs, outputs, void *scratch)` (the pointer types of
/// [`Interface::pointer_types`])
/// (System V ABI, returns 0), which assumes the features are present and the scratch is 64-byte
/// aligned and `scratch_size` bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    /// A C identifier; every exported symbol starts with it (default "qcc").
    pub prefix: String,
    /// The IR model's name.
    pub model_name: String,
    /// In the model's order.
    pub inputs: Vec<Port>,
    pub outputs: Vec<Port>,
    /// Bytes of the caller's arena.
    pub scratch_size: usize,
    /// How `NAME_run_threads` and `NAME_run_parallel` split each step of `NAME_step_impl`, in
    /// call order.
    pub splits: Vec<Split>,
    /// Bytes (a multiple of 64) each thread beyond the first adds to the scratch: the largest
    /// span of one split step's temporaries.
    pub temp_span: usize,
    /// The least estimated work a part of a split step gets (`backend::Options`); 0 splits
    /// every step as far as its units go.
    pub thread_grain_ns: u64,
    /// CPU features the code needs, named as GCC's `__builtin_cpu_supports` names them
    /// ("sse4.1", "avx2", "fma", …; see `runtime::cpu::KNOWN_FEATURES`).
    pub features: Vec<String>,
    /// The target as given: "native", "x86-64-v2", "x86-64-v3", …
    pub target: String,
    pub weight_bits: u8,
    pub qcc_version: String,
    /// A profiling build's steps, in call order (`None` for an ordinary library, whose shim,
    /// header, exports and JSON do not change): the object's entry calls
    /// `{prefix}_profile_mark(i)` before step `i` and `{prefix}_profile_mark(n)` after the last,
    /// and the shim defines it and exports the profile.
    pub profile: Option<Vec<ProfileStep>>,
}

/// One step as the threaded entries see it: `units` work units, any partition of which
/// computes the same bytes; its temporaries start at arena offset `temp_lo` (0 without any).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    pub units: usize,
    pub temp_lo: usize,
    /// Its estimated single-thread nanoseconds ([`crate::backend::work::step_ns`]).
    pub work_ns: u64,
}

/// An input or output: row-major in the IR's shape (NCHW as in ONNX), of element type `dtype`
/// (f32 for any float or quantized value; an integer or bool value of a plain type passes as
/// itself: token ids, bytes, masks, arg_max's indices).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Port {
    pub name: String,
    pub shape: Vec<usize>,
    pub dtype: DType,
}

impl Port {
    pub fn elements(&self) -> usize {
        self.shape.iter().product()
    }

    /// The C type of one element, as the header and the shim spell it.
    pub fn c_type(&self) -> &'static str {
        match self.dtype {
            DType::I8 => "int8_t",
            DType::U8 => "uint8_t",
            DType::I32 => "int32_t",
            DType::I64 => "int64_t",
            // One byte, 0 or 1, as numpy and ONNX store bool.
            DType::Bool => "uint8_t",
            _ => "float",
        }
    }
}

/// The prefix when `--prefix` is not given.
pub const DEFAULT_PREFIX: &str = "qcc";

impl Interface {
    /// The most parts `split` is worth cutting into: every unit its own without a grain, else
    /// parts of at least a grain of estimated work (1: it runs whole on the calling thread).
    pub fn most_parts(&self, split: &Split) -> usize {
        if self.thread_grain_ns == 0 {
            return split.units;
        }
        let worth = split.work_ns / self.thread_grain_ns;
        split
            .units
            .min(usize::try_from(worth).unwrap_or(usize::MAX))
            .max(1)
    }

    /// How many threads beyond the caller's a run pays for: the work of the steps that split,
    /// [`crate::backend::START_GRAINS`] grains of it per extra thread (starting and joining a
    /// thread costs tens of microseconds). Unbounded without a grain; 0 when no step splits.
    pub fn extra_threads_paid(&self) -> u64 {
        let split: u64 = self
            .splits
            .iter()
            .filter(|s| self.most_parts(s) > 1)
            .map(|s| s.work_ns)
            .sum();
        match (split, self.thread_grain_ns) {
            (0, _) => 0,
            (_, 0) => u64::from(u32::MAX),
            (w, g) => w / (crate::backend::START_GRAINS * g),
        }
    }

    /// The C types of the entry points' input and output pointers: `const float *const *` and
    /// `float *const *` when every port is f32 (what callers of f32 models have always passed),
    /// `const void *const *` and `void *const *` when a port holds another type.
    pub fn pointer_types(&self) -> (&'static str, &'static str) {
        if self
            .inputs
            .iter()
            .chain(&self.outputs)
            .all(|p| p.dtype == DType::F32)
        {
            ("const float *const *", "float *const *")
        } else {
            ("const void *const *", "void *const *")
        }
    }

    /// Checks what the C side relies on: a usable prefix, features the shim can test, at least
    /// one output, and no port whose byte size overflows.
    pub fn validate(&self) -> Result<()> {
        if !crate::backend::valid_prefix(&self.prefix) {
            return Err(Error::msg(format!(
                "the prefix `{}` is not a C identifier (letters, digits and `_`, not starting with a digit)",
                self.prefix
            )));
        }
        if self.prefix.starts_with("__") {
            return Err(Error::msg(format!(
                "the prefix `{}` starts with `__`, which C reserves for the implementation",
                self.prefix
            )));
        }
        let unknown: Vec<&str> = self
            .features
            .iter()
            .map(|f| f.as_str())
            .filter(|f| !runtime::cpu::is_known(f))
            .collect();
        if !unknown.is_empty() {
            return Err(Error::msg(format!(
                "unknown CPU feature(s) {} for model @{}; the library can check only: {}",
                unknown.join(", "),
                self.model_name,
                runtime::cpu::KNOWN_FEATURES.join(", ")
            )));
        }
        if self.outputs.is_empty() {
            return Err(Error::msg(format!(
                "model @{} has no outputs",
                self.model_name
            )));
        }
        for p in self.inputs.iter().chain(&self.outputs) {
            let fits = p
                .shape
                .iter()
                .try_fold(p.dtype.size_bytes(), |acc, &d| acc.checked_mul(d))
                .is_some();
            if !fits {
                return Err(Error::msg(format!(
                    "%{} of model @{} is too large to address",
                    p.name, self.model_name
                )));
            }
        }
        if let Some(steps) = &self.profile {
            let bad = steps.iter().find(|st| {
                [&st.name, &st.kind, &st.result, &st.attrs]
                    .into_iter()
                    .chain(&st.operands)
                    .any(|f| f.contains(['\t', '\n']))
            });
            if let Some(st) = bad {
                return Err(Error::msg(format!(
                    "profile step %{} of model @{} has a tab or newline in its description, \
                     which would break NAME_profile_steps' one-line-per-step format",
                    st.name.escape_debug(),
                    self.model_name
                )));
            }
        }
        Ok(())
    }

    /// The description `NAME_model_json` returns: compact, keys in sorted order (serde_json's
    /// map is a BTreeMap), so equal interfaces give equal bytes.
    pub fn model_json(&self) -> String {
        let ports = |ps: &[Port]| -> Value {
            ps.iter()
                .map(|p| {
                    json!({
                        "name": p.name,
                        "shape": p.shape,
                        "dtype": p.dtype.name(),
                        "elements": p.elements(),
                    })
                })
                .collect()
        };
        json!({
            "abi": ABI_VERSION,
            "prefix": self.prefix,
            "model": self.model_name,
            "inputs": ports(&self.inputs),
            "outputs": ports(&self.outputs),
            "scratch_size": self.scratch_size,
            "features": self.features,
            "target": self.target,
            "weight_bits": self.weight_bits,
            "qcc_version": self.qcc_version,
        })
        .to_string()
    }
}
