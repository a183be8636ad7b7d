//! How long a step takes on one thread, roughly: the threaded entries split a step only when
//! its parts are worth more than the barrier around them, and start threads at all only when
//! the split work repays starting them (ARCHITECTURE.md, "Threads").
//!
//! The estimate is an order of magnitude, not a prediction: multiply-accumulates at the rate the
//! dense int8 kernels reach (about 250 per nanosecond on one AVX-512 VNNI core, fewer on AVX2,
//! which only makes the estimate generous) plus half a nanosecond per element written and a
//! quarter per element read, the rates of the elementwise and data-movement kernels (measured
//! per op kind with `bench/roofline.py` on ResNet-18, MobileNetV2 and EfficientNet-Lite0: qadd
//! is slower, pooling and copies faster). Being off by 2× moves a threshold by 2×, which changes
//! which small steps stay on the calling thread, never a result: every split computes the same
//! bytes.

use crate::backend::Step;
use crate::ir::op::OpKind;

/// Multiply-accumulates per nanosecond of the dense kernels.
const MACS_PER_NS: u64 = 250;

/// The estimated single-thread nanoseconds of `step`.
pub fn step_ns(step: &Step) -> u64 {
    let elems = |shape: &[usize]| shape.iter().product::<usize>() as u64;
    let out = elems(&step.out.ty.shape);
    let read: u64 = step
        .args
        .iter()
        .filter(|a| a.weight.is_none())
        .map(|a| elems(&a.ty.shape))
        .sum();
    (macs(step, out) / MACS_PER_NS)
        .saturating_add(out / 2)
        .saturating_add(read / 4)
}

/// The multiply-accumulates of a convolution, gemm or matmul (0 for any other op): each output
/// element sums one reduction's worth of products.
fn macs(step: &Step, out: u64) -> u64 {
    use OpKind::*;
    let reduction = match step.op.kind {
        Conv2d | QConv2d => step
            .args
            .get(1)
            .map(|w| w.ty.shape.iter().skip(1).product::<usize>()),
        // Every input element meets every kernel tap of its group's outputs.
        ConvTranspose2d | QConvTranspose2d => {
            return match (step.args.first(), step.args.get(1)) {
                (Some(x), Some(w)) => {
                    let input: u64 = x.ty.shape.iter().product::<usize>() as u64;
                    input.saturating_mul(w.ty.shape.iter().skip(1).product::<usize>() as u64)
                }
                _ => 0,
            };
        }
        Gemm | QGemm | MatMul | QMatMul => step.args.first().and_then(|a| {
            // MatMul and QMatMul declare no `trans_a`: their reduction is the last axis too.
            let trans_a = matches!(step.op.bool_of("trans_a"), Ok(true));
            let shape = &a.ty.shape;
            if trans_a && shape.len() >= 2 {
                Some(shape[shape.len() - 2])
            } else {
                shape.last().copied()
            }
        }),
        _ => None,
    };
    out.saturating_mul(reduction.unwrap_or(0) as u64)
}
