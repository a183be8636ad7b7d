//! Random graphs (see `graphs`), quantized with random weight widths, compiled for each target:
//! the library equals the integer interpreter bit for bit on inputs it was not calibrated on.

use super::graphs::{model, samples, spec};
use super::support::{assert_exact, build, float_arithmetic, integer};
use proptest::prelude::*;
use qcc::quant::WeightBits;
use runtime::Tensor;

proptest! {
    // Each case links three libraries with cc: 24 cases keep this under a minute on 2 cores.
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn libraries_equal_the_interpreter(s in spec(), eight in any::<bool>()) {
        let float = model(&s);
        let bits = if eight { WeightBits::Eight } else { WeightBits::Seven };
        let int = integer(&float, &[samples(&s, 4, s.seed ^ 0x5eed)], bits);
        // Every layer kind has an integer form: no float arithmetic is left.
        let float_ops = float_arithmetic(&int);
        prop_assert!(float_ops.is_empty(), "left in float: {float_ops:?}\n{s:?}");
        let x = samples(&s, 1, s.seed.rotate_left(17));
        for target in ["x86-64-v2", "x86-64-v3", "native"] {
            let lib = build(&int, target);
            assert_exact(&format!("{target}, {bits:?} weights, {s:?}"), &int, &lib, &[Tensor::F32(x.clone())]);
        }
    }
}
