//! ONNX value names turned into IR identifiers (`[A-Za-z0-9_][A-Za-z0-9_.\-]*`), unique within a
//! model, in an order that depends only on the file.

use std::collections::HashSet;

/// Rewrites an ONNX name to the IR's identifier rule: leading `/` dropped (PyTorch scopes start
/// with one), every other character outside `[A-Za-z0-9_.-]` and a leading `.` or `-` become `_`.
pub fn sanitize(raw: &str) -> String {
    let trimmed = raw.trim_start_matches('/');
    let mut out = String::with_capacity(trimmed.len());
    for (i, c) in trimmed.chars().enumerate() {
        let ok = c.is_ascii_alphanumeric() || c == '_' || (i > 0 && (c == '.' || c == '-'));
        out.push(if ok { c } else { '_' });
    }
    if out.is_empty() {
        out.push('v');
    }
    out
}

/// Hands out unique identifiers: the first value to ask for a name gets it, later ones get `_1`,
/// `_2`, … appended, so the result is a function of the order of the file alone.
#[derive(Debug, Default)]
pub struct Namer {
    taken: HashSet<String>,
}

impl Namer {
    /// A unique identifier for the ONNX name `raw`.
    pub fn fresh(&mut self, raw: &str) -> String {
        let base = sanitize(raw);
        if self.taken.insert(base.clone()) {
            return base;
        }
        let mut i = 1usize;
        loop {
            let candidate = format!("{base}_{i}");
            if self.taken.insert(candidate.clone()) {
                return candidate;
            }
            i += 1;
        }
    }
}

impl Namer {
    /// The identifier of `raw` itself if nobody has it yet (then it is taken), else `None`.
    pub fn claim(&mut self, raw: &str) -> Option<String> {
        let base = sanitize(raw);
        self.taken.insert(base.clone()).then_some(base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_identifier_rule() {
        assert_eq!(
            sanitize("/layer1/layer1.0/conv1/Conv_output_0"),
            "layer1_layer1.0_conv1_Conv_output_0"
        );
        assert_eq!(sanitize("conv1.weight"), "conv1.weight");
        assert_eq!(sanitize("a:b c"), "a_b_c");
        assert_eq!(sanitize(".hidden"), "_hidden");
        assert_eq!(sanitize("-x"), "_x");
        assert_eq!(sanitize("7-up"), "7-up");
        assert_eq!(sanitize("//"), "v");
        assert_eq!(sanitize(""), "v");
        assert_eq!(sanitize("é"), "_");
    }

    #[test]
    fn duplicates_get_numbered_in_order() {
        let mut n = Namer::default();
        assert_eq!(n.fresh("a/b"), "a_b");
        assert_eq!(n.fresh("a_b"), "a_b_1");
        assert_eq!(n.fresh("/a/b"), "a_b_2");
        assert_eq!(n.fresh("a_b_1"), "a_b_1_1");
    }
}
