//! The float reference semantics of every op (and the shape ops the integer interpreter shares):
//! plain functions over `ndarray` arrays and the parameter structs of [`params`].
//!
//! Callers (the compiler's interpreter) verify shapes first; a kernel handed inconsistent shapes
//! panics with a message naming the op and the shapes. Every result is in standard layout.

mod argmax;
mod arith;
mod attention;
mod batch_norm;
mod binary;
mod bitwise;
mod conv;
mod conv_transpose;
mod elementwise;
pub mod fixed_point;
mod gather;
mod gather_elements;
mod gemm;
pub mod geometry;
mod logic;
mod loss;
mod normalize;
pub mod params;
mod pool;
mod quant;
mod reduce;
pub mod resize;
mod sgemm;
mod shape;
mod slice;
mod softmax;
pub mod strict;
mod top_k;
mod unary;

pub use self::argmax::arg_extreme;
pub use self::arith::{arith, zip_broadcast, ArithOp};
pub use self::attention::{
    attention, attention_shape, AttentionMask, AttentionParams, AttentionResult,
};
pub use self::batch_norm::batch_norm;
pub use self::binary::{binary, broadcast_shapes, max_min_codes};
pub use self::bitwise::{bitwise, bitwise_not, BitOp};
pub use self::conv::conv2d;
pub use self::conv_transpose::conv_transpose2d;
pub use self::elementwise::{clip, hard_sigmoid, hard_swish, leaky_relu, relu, sigmoid};
pub use self::gather::gather;
pub use self::gather_elements::gather_elements;
pub use self::gemm::{batch_offsets, gemm, matmul};
pub use self::logic::{compare, logic, not, where_, CmpOp, LogicOp};
pub use self::loss::{nll_loss, LossReduction};
pub use self::normalize::{group_stats, normalize};
pub use self::params::*;
pub use self::pool::{avg_pool, global_avg_pool, max_pool};
pub use self::quant::{dequantize, quantize};
pub use self::reduce::{reduce, reduce_codes, reduce_group, reduce_mean, ReduceFn};
pub use self::resize::{
    resize_linear, resize_nearest, CoordMode, NearestMode, ResizeMode, ResizeParams,
};
pub use self::shape::{concat, expand, pad, reshape, transpose};
pub use self::slice::{slice, slice_len, SliceAxis};
pub use self::softmax::softmax;
pub use self::top_k::top_k_indices;
pub use self::unary::{unary, UnaryDef, UnaryFn, UNARY_FNS};
