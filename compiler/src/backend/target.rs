//! Which CPU a library is built for: `--target native|x86-64-v2|x86-64-v3|x86-64-v4[+FEATURE…]`
//! turned into Cranelift's ISA flags and into the feature list the library records and checks
//! before it runs (GCC's `__builtin_cpu_supports` names, which the runtime maps too).

use crate::diag::{Error, Result};
use cranelift_codegen::isa::{self, OwnedTargetIsa};
use cranelift_codegen::settings::{self, Configurable};

/// A feature: its name in the library's record (GCC's spelling) and Cranelift's setting.
struct Feature {
    name: &'static str,
    setting: &'static str,
}

const fn f(name: &'static str, setting: &'static str) -> Feature {
    Feature { name, setting }
}

/// Every feature Cranelift's x64 backend can use, in the order levels add them.
const FEATURES: &[Feature] = &[
    f("sse3", "has_sse3"),
    f("ssse3", "has_ssse3"),
    f("sse4.1", "has_sse41"),
    f("sse4.2", "has_sse42"),
    f("popcnt", "has_popcnt"),
    f("cmpxchg16b", "has_cmpxchg16b"),
    f("avx", "has_avx"),
    f("avx2", "has_avx2"),
    f("bmi", "has_bmi1"),
    f("bmi2", "has_bmi2"),
    f("lzcnt", "has_lzcnt"),
    f("fma", "has_fma"),
    f("avx512f", "has_avx512f"),
    f("avx512vl", "has_avx512vl"),
    f("avx512dq", "has_avx512dq"),
    f("avx512bitalg", "has_avx512bitalg"),
    f("avx512vbmi", "has_avx512vbmi"),
    f("avx512vnni", "has_avx512vnni"),
    f("avxvnni", "has_avx_vnni"),
];

/// The x86-64 micro-architecture levels (psABI), as feature lists.
const V2: &[&str] = &["sse3", "ssse3", "sse4.1", "sse4.2", "popcnt", "cmpxchg16b"];
const V3: &[&str] = &["avx", "avx2", "bmi", "bmi2", "lzcnt", "fma"];
const V4: &[&str] = &["avx512f", "avx512vl", "avx512dq"];

/// The levels `--target` accepts besides `native`.
pub const LEVELS: &[&str] = &["x86-64-v2", "x86-64-v3", "x86-64-v4"];

/// A resolved target: what the user wrote and the features the code may use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// As given (`native`, `x86-64-v3+avx512vnni`, …): recorded in the library.
    pub spec: String,
    /// GCC names, in [`FEATURES`] order.
    pub features: Vec<String>,
}

/// Whether this machine has a feature (the runtime's table, which the loader checks too).
fn host_has(name: &str) -> bool {
    runtime::cpu::host_has(name).unwrap_or(false)
}

impl Target {
    /// The machine qcc runs on.
    pub fn native() -> Target {
        Target::parse("native").expect("`native` is always a valid target")
    }

    /// Parses `BASE[+FEATURE…]` where BASE is `native` or an x86-64 level.
    pub fn parse(spec: &str) -> Result<Target> {
        let mut parts = spec.split('+');
        let base = parts.next().unwrap_or_default();
        let mut want: Vec<&str> = match base {
            "native" => FEATURES
                .iter()
                .map(|f| f.name)
                .filter(|n| host_has(n))
                .collect(),
            "x86-64-v2" => V2.to_vec(),
            "x86-64-v3" => [V2, V3].concat(),
            "x86-64-v4" => [V2, V3, V4].concat(),
            other => {
                return Err(Error::msg(format!(
                    "unknown target `{other}`: expected `native` or one of {}, optionally \
                     followed by `+FEATURE` (features: {})",
                    LEVELS.join(", "),
                    FEATURES
                        .iter()
                        .map(|f| f.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                )))
            }
        };
        for extra in parts {
            if !FEATURES.iter().any(|f| f.name == extra) {
                return Err(Error::msg(format!(
                    "unknown CPU feature `{extra}` in target `{spec}`: known features are {}",
                    FEATURES
                        .iter()
                        .map(|f| f.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            want.push(extra);
        }
        if !cfg!(target_arch = "x86_64") {
            return Err(Error::msg(
                "qcc generates x86-64 code and must run on an x86-64 host",
            ));
        }
        // SSE4.1 is the floor: the kernels widen with pmovzx/pmovsx and round with roundss.
        for floor in ["ssse3", "sse4.1"] {
            if !want.contains(&floor) {
                return Err(Error::msg(format!(
                    "target `{spec}` lacks {floor}, which qcc's kernels need (x86-64-v2 is the \
                     oldest supported level)"
                )));
            }
        }
        let features = FEATURES
            .iter()
            .map(|f| f.name)
            .filter(|n| want.contains(n))
            .map(String::from)
            .collect();
        Ok(Target {
            spec: spec.to_string(),
            features,
        })
    }

    pub fn has(&self, name: &str) -> bool {
        self.features.iter().any(|f| f == name)
    }

    /// Features this target needs that the host lacks.
    pub fn missing_on_host(&self) -> Vec<String> {
        self.features
            .iter()
            .filter(|f| !host_has(f))
            .cloned()
            .collect()
    }

    /// Cranelift's ISA for this target. `pic` for a shared object, not for in-process JIT.
    pub fn isa(&self, pic: bool) -> Result<OwnedTargetIsa> {
        let mut flags = settings::builder();
        let set = |flags: &mut settings::Builder, k: &str, v: &str| {
            flags
                .set(k, v)
                .map_err(|e| Error::msg(format!("cranelift setting {k}={v}: {e}")))
        };
        set(&mut flags, "opt_level", "speed")?;
        set(&mut flags, "is_pic", if pic { "true" } else { "false" })?;
        set(
            &mut flags,
            "enable_verifier",
            if cfg!(debug_assertions) {
                "true"
            } else {
                "false"
            },
        )?;
        let mut builder = isa::lookup_by_name("x86_64-unknown-linux-gnu")
            .map_err(|e| Error::msg(format!("cranelift has no x86-64 backend: {e}")))?;
        for f in FEATURES {
            if self.has(f.name) {
                builder
                    .enable(f.setting)
                    .map_err(|e| Error::msg(format!("cranelift feature {}: {e}", f.setting)))?;
            }
        }
        builder
            .finish(settings::Flags::new(flags))
            .map_err(|e| Error::msg(format!("cranelift ISA for target `{}`: {e}", self.spec)))
    }

    /// Whether the code may use a VNNI dot product (Cranelift folds the u8·i8 widening
    /// dot-accumulate tree into `vpdpbusd`).
    pub fn has_vnni(&self) -> bool {
        self.has("avxvnni") || (self.has("avx512vnni") && self.has("avx512vl"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_nest_and_extras_append() {
        let v2 = Target::parse("x86-64-v2").unwrap();
        let v3 = Target::parse("x86-64-v3").unwrap();
        assert!(v2.features.iter().all(|f| v3.has(f)));
        assert!(v3.has("avx2") && !v2.has("avx2"));
        let x = Target::parse("x86-64-v3+avx512vnni").unwrap();
        assert!(
            x.has("avx512vnni") && !x.has_vnni(),
            "vnni needs avx512vl too"
        );
        assert!(Target::parse("x86-64-v4+avx512vnni").unwrap().has_vnni());
    }

    #[test]
    fn bad_targets_say_what_is_known() {
        let e = Target::parse("arm64").unwrap_err().to_string();
        assert!(
            e.contains("unknown target `arm64`") && e.contains("x86-64-v3"),
            "{e}"
        );
        let e = Target::parse("x86-64-v3+avx9").unwrap_err().to_string();
        assert!(e.contains("`avx9`") && e.contains("avx512vnni"), "{e}");
    }
}
