//! The integer reference semantics of qcc's quantized ops: the oracle the generated code matches
//! bit for bit. docs/ir.md ("Integer semantics") states every formula, rounding and saturation;
//! this module is that table, executable.
//!
//! Activations are u8 with a per-tensor zero point, weights i8 per output channel (zero point 0),
//! biases i32 with scale `S_w·S_x`. Every accumulator is i32 with two's-complement wraparound,
//! so no summation order can change a result, and every requantization goes through the one
//! definition in [`fixed`]. Like `ops`, kernels panic with the op's name and the shapes when
//! handed inconsistent operands (callers verify first); parameters made from reals come back as
//! [`QuantError`]s.

mod add;
mod broadcast;
pub mod codes;
mod conv;
mod conv_transpose;
pub mod fixed;
mod gemm;
mod igemm;
mod lut;
mod matmul;
mod mul;
mod params;
mod pool;
mod requantize;
pub mod resize;
mod simd;
mod softmax;

pub use self::add::{input_problem, qadd, AddParams, ADD_LEFT_SHIFT};
pub use self::codes::{dequantize_value, qrange, quantize_value};
pub use self::conv::{qconv2d, ActivationCode};
pub use self::conv_transpose::qconv_transpose2d;
pub use self::fixed::{
    multiply_by_quantized_multiplier, rounding_divide_by_pot, saturating_rounding_doubling_high_mul,
};
pub use self::gemm::qgemm;
pub use self::lut::{build_lut, lut};
pub use self::matmul::{qmatmul, QMATMUL_MAX_K};
pub use self::mul::{qmul, MulParams};
pub use self::params::{clamp_bounds, fixed_multiplier, QuantError, Requant};
pub use self::pool::{
    avg_pool_requant, global_avg_pool_requant, qavg_pool, qglobal_avg_pool, qmax_pool,
};
pub use self::requantize::requantize;
pub use self::resize::qresize_linear;
pub use self::softmax::{
    qsoftmax, qsoftmax_problem, qsoftmax_reciprocal, qsoftmax_table, QSOFTMAX_MAX_AXIS,
    QSOFTMAX_MIN_SCALE, QSOFTMAX_ONE,
};
