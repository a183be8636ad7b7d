//! The CPU features a `model.so` may require, under the names GCC's `__builtin_cpu_supports`
//! takes (the names recorded in the library), and whether this host has them.
//!
//! One table serves both sides of the ABI: the compiler refuses a feature not listed here before
//! it writes the C shim (which tests each name with `__builtin_cpu_supports`), and the loader
//! asks the host about each recorded name. Rust's `is_x86_feature_detected!` takes only literal
//! names, some spelled differently from GCC's (`bmi` is Rust's `bmi1`), hence the `match`.

/// The feature names (GCC's spelling) a library may record, in a fixed order.
///
/// AMX is missing on purpose: Rust 1.95 cannot detect it on stable, so the loader could not check
/// it before the first call.
pub const KNOWN_FEATURES: &[&str] = &[
    "sse3",
    "ssse3",
    "sse4.1",
    "sse4.2",
    "sse4a",
    "popcnt",
    "cmpxchg16b",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "bmi",
    "bmi2",
    "lzcnt",
    "movbe",
    "pclmul",
    "aes",
    "gfni",
    "vpclmulqdq",
    "avxvnni",
    "avx512f",
    "avx512bw",
    "avx512cd",
    "avx512dq",
    "avx512vl",
    "avx512ifma",
    "avx512vbmi",
    "avx512vbmi2",
    "avx512vnni",
    "avx512bitalg",
    "avx512vpopcntdq",
    "avx512bf16",
    "avx512fp16",
    "avx512vp2intersect",
];

/// Whether `name` (GCC's spelling) is a feature a library may record.
pub fn is_known(name: &str) -> bool {
    KNOWN_FEATURES.contains(&name)
}

/// Whether this host has the feature `name` (GCC's spelling); `None` for a name not in
/// [`KNOWN_FEATURES`].
#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
pub fn host_has(name: &str) -> Option<bool> {
    use std::arch::is_x86_feature_detected as has;
    Some(match name {
        "sse3" => has!("sse3"),
        "ssse3" => has!("ssse3"),
        "sse4.1" => has!("sse4.1"),
        "sse4.2" => has!("sse4.2"),
        "sse4a" => has!("sse4a"),
        "popcnt" => has!("popcnt"),
        "cmpxchg16b" => has!("cmpxchg16b"),
        "avx" => has!("avx"),
        "avx2" => has!("avx2"),
        "fma" => has!("fma"),
        "f16c" => has!("f16c"),
        "bmi" => has!("bmi1"),
        "bmi2" => has!("bmi2"),
        "lzcnt" => has!("lzcnt"),
        "movbe" => has!("movbe"),
        "pclmul" => has!("pclmulqdq"),
        "aes" => has!("aes"),
        "gfni" => has!("gfni"),
        "vpclmulqdq" => has!("vpclmulqdq"),
        "avxvnni" => has!("avxvnni"),
        "avx512f" => has!("avx512f"),
        "avx512bw" => has!("avx512bw"),
        "avx512cd" => has!("avx512cd"),
        "avx512dq" => has!("avx512dq"),
        "avx512vl" => has!("avx512vl"),
        "avx512ifma" => has!("avx512ifma"),
        "avx512vbmi" => has!("avx512vbmi"),
        "avx512vbmi2" => has!("avx512vbmi2"),
        "avx512vnni" => has!("avx512vnni"),
        "avx512bitalg" => has!("avx512bitalg"),
        "avx512vpopcntdq" => has!("avx512vpopcntdq"),
        "avx512bf16" => has!("avx512bf16"),
        "avx512fp16" => has!("avx512fp16"),
        "avx512vp2intersect" => has!("avx512vp2intersect"),
        _ => return None,
    })
}

/// On other architectures no x86 feature is present.
#[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
pub fn host_has(name: &str) -> Option<bool> {
    is_known(name).then_some(false)
}

/// The recorded features this host lacks (unknown names count as lacking), in the given order.
pub fn missing<'a>(features: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    features
        .into_iter()
        .filter(|f| host_has(f) != Some(true))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_feature_is_detectable() {
        for f in KNOWN_FEATURES {
            assert!(host_has(f).is_some(), "{f} has no detection");
        }
        assert_eq!(host_has("amx-tile"), None);
        assert_eq!(missing(["no-such-feature"]), vec!["no-such-feature"]);
    }
}
