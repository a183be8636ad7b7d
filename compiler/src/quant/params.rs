//! Choosing quantization parameters from ranges and weights: u8 asymmetric per-tensor activations,
//! i8 symmetric per-channel weights (8 or 7 bits), i32 biases with `S_b = S_w·S_x`.
//!
//! Every choice is total: a degenerate input gets valid parameters and a [`Warning`] the caller
//! can show; only non-finite data is refused, with an error naming the tensor.

use crate::diag::{Error, Result};
use crate::ir::types::{fmt_f32, QuantType};
use ndarray::{ArrayD, Axis, Dimension};
use runtime::ops::QuantParams;
use runtime::{DType, Tensor};
use std::fmt;

/// The u8 code range of activations.
pub const U8_QMIN: i32 = 0;
pub const U8_QMAX: i32 = 255;

/// The smallest scale ever chosen from data: 2⁻²³ (f32's epsilon, the floor PyTorch's observers
/// use too). Below it the requantization multipliers `S_w·S_x/S_y` of the neighbouring ops grow
/// past what a 32-bit fixed-point multiplier and shift represent comfortably.
pub const MIN_SCALE: f32 = f32::EPSILON;

/// The scale of a tensor that is identically zero (activation) or a weight channel that is all
/// zeros: every code represents it exactly whatever the scale, and 1.0 keeps the neighbours'
/// requantization multipliers at their usual size.
pub const ZERO_SCALE: f32 = 1.0;

/// How many bits a weight code has. Seven bits (`[-63, 63]`) keep `pmaddubsw`'s 16-bit pair sums
/// from saturating on AVX2 without VNNI (`2·255·63 < 2¹⁵`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightBits {
    Eight,
    Seven,
}

impl WeightBits {
    /// The largest code magnitude: 127 or 63 (the range is symmetric, `-128` is never used).
    pub fn qmax(self) -> i32 {
        match self {
            WeightBits::Eight => 127,
            WeightBits::Seven => 63,
        }
    }
}

/// Quantization parameters of one tensor: `r = scale·(q − zero_point)` per tensor (`axis ==
/// None`, one scale) or per index of `axis`.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    pub storage: DType,
    pub scales: Vec<f32>,
    pub zero_points: Vec<i32>,
    pub axis: Option<usize>,
}

impl Params {
    /// Per-tensor parameters.
    pub fn per_tensor(storage: DType, scale: f32, zero_point: i32) -> Params {
        Params {
            storage,
            scales: vec![scale],
            zero_points: vec![zero_point],
            axis: None,
        }
    }

    /// The IR's quantized element type with these parameters.
    pub fn quant_type(&self) -> QuantType {
        QuantType {
            storage: self.storage,
            scales: self.scales.clone(),
            zero_points: self.zero_points.clone(),
            axis: self.axis,
        }
    }

    /// The parameters as the runtime's kernels take them.
    pub fn runtime(&self) -> QuantParams {
        QuantParams {
            scales: self.scales.clone(),
            zero_points: self.zero_points.clone(),
            axis: self.axis,
        }
    }

    /// The real interval the codes of a per-tensor u8 parameter set span: `[S·(0 − Z), S·(255 − Z)]`.
    pub fn u8_range(&self) -> (f32, f32) {
        let (s, z) = (self.scales[0], self.zero_points[0]);
        ((U8_QMIN - z) as f32 * s, (U8_QMAX - z) as f32 * s)
    }

    /// `dequantize(quantize(x))` with exactly the runtime's rounding (half to even) and clamping:
    /// what a quantized model sees in place of `x`.
    pub fn fake_quantize(&self, x: &ArrayD<f32>) -> ArrayD<f32> {
        let q = self.runtime();
        runtime::ops::dequantize(&runtime::ops::quantize(x, &q, self.storage), &q)
    }
}

impl From<&Params> for QuantType {
    fn from(p: &Params) -> QuantType {
        p.quant_type()
    }
}

impl From<Params> for QuantType {
    fn from(p: Params) -> QuantType {
        QuantType {
            storage: p.storage,
            scales: p.scales,
            zero_points: p.zero_points,
            axis: p.axis,
        }
    }
}

/// Something the caller should tell the user: parameters were chosen, but from odd data.
#[derive(Clone, Debug, PartialEq)]
pub enum Warning {
    /// The activation was zero on all the data: scale [`ZERO_SCALE`], zero point 0.
    ZeroRange { tensor: String },
    /// The activation's range is narrower than `255·MIN_SCALE`: scale floored at [`MIN_SCALE`].
    TinyRange { tensor: String, range: (f32, f32) },
    /// These output channels of a weight are all zeros: scale [`ZERO_SCALE`].
    ZeroChannels {
        tensor: String,
        channels: Vec<usize>,
    },
    /// These weight channels are so small that their scale was floored at [`MIN_SCALE`].
    TinyChannels {
        tensor: String,
        channels: Vec<usize>,
    },
    /// Bias values that do not fit i32 at `S_b = S_w·S_x` and were saturated.
    BiasSaturated {
        tensor: String,
        channels: Vec<usize>,
    },
    /// Data-free bias correction, the default without samples, could not propagate its input
    /// range through the model (`why`), so no bias was corrected.
    NoBiasCorrection { why: String },
}

/// At most a handful of channel numbers, then how many more.
fn channel_list(channels: &[usize]) -> String {
    let shown: Vec<String> = channels.iter().take(8).map(|c| c.to_string()).collect();
    let more = channels.len().saturating_sub(8);
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::NoBiasCorrection { why } => write!(
                f,
                "no bias correction: the data-free one (the default without --calib) failed: {why}; calibrate with samples for empirical correction, or pass --bias-correction off"
            ),
            Warning::ZeroRange { tensor } => {
                write!(f, "%{tensor} was zero on all the calibration data: quantized with scale {} and zero point 0", fmt_f32(ZERO_SCALE))
            }
            Warning::TinyRange { tensor, range } => write!(
                f,
                "%{tensor} only spans [{}, {}]: its scale is raised to {MIN_SCALE:e}",
                fmt_f32(range.0),
                fmt_f32(range.1)
            ),
            Warning::ZeroChannels { tensor, channels } => write!(
                f,
                "@{tensor}: output channel{} {} {} all zeros (scale {})",
                if channels.len() == 1 { "" } else { "s" },
                channel_list(channels),
                if channels.len() == 1 { "is" } else { "are" },
                fmt_f32(ZERO_SCALE)
            ),
            Warning::TinyChannels { tensor, channels } => write!(
                f,
                "@{tensor}: output channel{} {} {} so small that the scale is raised to {MIN_SCALE:e} (they quantize to 0)",
                if channels.len() == 1 { "" } else { "s" },
                channel_list(channels),
                if channels.len() == 1 { "is" } else { "are" }
            ),
            Warning::BiasSaturated { tensor, channels } => write!(
                f,
                "@{tensor}: the bias of channel{} {} does not fit i32 at scale S_w·S_x and is saturated",
                if channels.len() == 1 { "" } else { "s" },
                channel_list(channels)
            ),
        }
    }
}

/// Parameters with whatever is worth telling about them.
#[derive(Clone, Debug, PartialEq)]
pub struct Chosen {
    pub params: Params,
    pub warnings: Vec<Warning>,
}

/// u8 asymmetric per-tensor parameters for an activation whose observed range is `range`.
///
/// The range is first widened to contain 0 (zero must be exactly representable: padding, ReLU),
/// then `S = (rmax − rmin)/255` and `Z = round(255 − rmax/S)` (half to even), clamped to
/// `[0, 255]`. Degenerate ranges: all zeros gives `S = 1, Z = 0` ([`Warning::ZeroRange`]); a span
/// below `255·MIN_SCALE` gives `S = MIN_SCALE` ([`Warning::TinyRange`]). A non-finite or reversed
/// range is an error naming the tensor.
pub fn activation(tensor: &str, range: (f32, f32)) -> Result<Chosen> {
    activation_in(tensor, range, DType::U8)
}

/// [`activation`] for codes of `storage`: u8, or i16 for a tensor given 16 bits
/// (`--activation-bits-for`), whose 65,536 codes cut the rounding error 257-fold.
pub fn activation_in(tensor: &str, range: (f32, f32), storage: DType) -> Result<Chosen> {
    let (qmin, qmax) = runtime::qops::qrange(storage);
    let (lo, hi) = range;
    if !lo.is_finite() || !hi.is_finite() {
        return Err(Error::msg(format!(
            "%{tensor}: the range [{}, {}] is not finite",
            fmt_f32(lo),
            fmt_f32(hi)
        )));
    }
    if lo > hi {
        return Err(Error::msg(format!(
            "%{tensor}: the range [{}, {}] is reversed",
            fmt_f32(lo),
            fmt_f32(hi)
        )));
    }
    let (lo, hi) = (lo.min(0.0), hi.max(0.0));
    let span = hi as f64 - lo as f64;
    let mut warnings = vec![];
    if span == 0.0 {
        warnings.push(Warning::ZeroRange {
            tensor: tensor.to_string(),
        });
        return Ok(Chosen {
            params: Params::per_tensor(storage, ZERO_SCALE, qmin.max(0)),
            warnings,
        });
    }
    // At most 2·f32::MAX/255: always a finite f32.
    let mut scale = (span / (qmax as f64 - qmin as f64)) as f32;
    if scale < MIN_SCALE {
        warnings.push(Warning::TinyRange {
            tensor: tensor.to_string(),
            range: (lo, hi),
        });
        scale = MIN_SCALE;
    }
    // Z from the scale actually stored, so that the stored pair maps 0 to an exact code.
    let z = (qmax as f64 - hi as f64 / scale as f64).round_ties_even();
    let z = z.clamp(qmin as f64, qmax as f64) as i32;
    Ok(Chosen {
        params: Params::per_tensor(storage, scale, z),
        warnings,
    })
}

/// The first non-finite element of `a` in row-major order, with its index.
pub(crate) fn first_non_finite(a: &ArrayD<f32>) -> Option<(Vec<usize>, f32)> {
    // The fast scan first: the indexed one is only needed to name the culprit.
    if a.iter().all(|v| v.is_finite()) {
        return None;
    }
    a.indexed_iter()
        .find(|(_, v)| !v.is_finite())
        .map(|(i, &v)| (i.slice().to_vec(), v))
}

pub(crate) fn fmt_index(i: &[usize]) -> String {
    let s: Vec<String> = i.iter().map(|v| v.to_string()).collect();
    format!("[{}]", s.join(", "))
}

/// i8 symmetric parameters per output channel (`axis`) for a weight: `S_c = max|w_c| / qmax`,
/// zero point 0. An all-zero channel gets [`ZERO_SCALE`], a channel whose scale would fall below
/// [`MIN_SCALE`] gets `MIN_SCALE`; both are reported. NaN or ±∞ anywhere is an error naming the
/// tensor and the element.
pub fn weights(tensor: &str, w: &ArrayD<f32>, axis: usize, bits: WeightBits) -> Result<Chosen> {
    if axis >= w.ndim() {
        return Err(Error::msg(format!(
            "@{tensor}: no axis {axis} in a weight of rank {}",
            w.ndim()
        )));
    }
    if let Some((i, v)) = first_non_finite(w) {
        return Err(Error::msg(format!(
            "@{tensor} holds {} at {}: a weight must be finite to be quantized",
            fmt_f32(v),
            fmt_index(&i)
        )));
    }
    let qmax = bits.qmax() as f64;
    let (mut zero, mut tiny) = (vec![], vec![]);
    let scales: Vec<f32> = w
        .axis_iter(Axis(axis))
        .enumerate()
        .map(|(c, lane)| {
            let m = lane.iter().fold(0f32, |m, &v| m.max(v.abs()));
            if m == 0.0 {
                zero.push(c);
                return ZERO_SCALE;
            }
            let s = (m as f64 / qmax) as f32;
            if s < MIN_SCALE {
                tiny.push(c);
                return MIN_SCALE;
            }
            s
        })
        .collect();
    let mut warnings = vec![];
    if !zero.is_empty() {
        warnings.push(Warning::ZeroChannels {
            tensor: tensor.to_string(),
            channels: zero,
        });
    }
    if !tiny.is_empty() {
        warnings.push(Warning::TinyChannels {
            tensor: tensor.to_string(),
            channels: tiny,
        });
    }
    let n = scales.len();
    Ok(Chosen {
        params: Params {
            storage: DType::I8,
            scales,
            zero_points: vec![0; n],
            axis: Some(axis),
        },
        warnings,
    })
}

/// The weight codes for `params` (from [`weights`]): `round_half_even(w/S_c)` clamped to
/// `[-qmax, qmax]` of `bits`, the division in f32 as the runtime's `quantize` does it.
pub fn quantize_weights(w: &ArrayD<f32>, params: &Params, bits: WeightBits) -> ArrayD<i8> {
    let q = bits.qmax() as i8;
    match runtime::ops::quantize(w, &params.runtime(), DType::I8) {
        Tensor::I8(a) => a.mapv(|v| v.clamp(-q, q)),
        _ => unreachable!("quantize to i8 yields i8"),
    }
}

/// The headroom a bias code leaves in the i32 accumulator for the layer's products: its
/// magnitude stays within 2³⁰.
const BIAS_ROOM: f64 = (1u64 << 30) as f64;

/// Raises the scale of every weight channel whose bias `b` (one per channel) would not fit i32
/// at `S_b = S_w·S_x` with [`BIAS_ROOM`] to spare, to the smallest scale at which it does;
/// returns those channels. Such a channel's weights are tiny beside its bias (a channel that
/// BatchNorm folding nearly switched off, say): the coarser scale costs them little, where a
/// saturated bias would move the channel's every output.
pub fn fit_bias(params: &mut Params, b: &[f32], input_scale: f32) -> Vec<usize> {
    let mut raised = vec![];
    if params.scales.len() != b.len() || !(input_scale.is_finite() && input_scale > 0.0) {
        return raised;
    }
    for (c, (s, &v)) in params.scales.iter_mut().zip(b).enumerate() {
        let need = (v.abs() as f64 / (input_scale as f64 * BIAS_ROOM)) as f32;
        if need.is_finite() && need > *s {
            // The next float up: `need` was rounded to f32 and may sit just below the bound.
            *s = f32::from_bits(need.to_bits() + 1);
            raised.push(c);
        }
    }
    raised
}

/// A quantized bias: its parameters, its codes and what went wrong.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantizedBias {
    pub params: Params,
    pub values: Vec<i32>,
    pub warnings: Vec<Warning>,
}

/// Quantizes a bias to i32 with `S_b[c] = S_w[c]·S_x` (the f32 product) and zero point 0:
/// `round_half_even(b/S_b)` computed in f64 (exact enough that no f32 division rounds twice),
/// saturated to i32 ([`Warning::BiasSaturated`] names the channels). `weight_scales` has one
/// scale per channel or a single one for all. Non-finite biases or scales are errors.
pub fn bias(
    tensor: &str,
    b: &[f32],
    weight_scales: &[f32],
    input_scale: f32,
) -> Result<QuantizedBias> {
    if weight_scales.len() != b.len() && weight_scales.len() != 1 {
        return Err(Error::msg(format!(
            "@{tensor}: a bias of {} channels with {} weight scales (expected {} or 1)",
            b.len(),
            weight_scales.len(),
            b.len()
        )));
    }
    if !(input_scale.is_finite() && input_scale > 0.0) {
        return Err(Error::msg(format!(
            "@{tensor}: the input scale {} is not a positive number",
            fmt_f32(input_scale)
        )));
    }
    if let Some(c) = weight_scales
        .iter()
        .position(|s| !(s.is_finite() && *s > 0.0))
    {
        return Err(Error::msg(format!(
            "@{tensor}: the weight scale of channel {c} is {}, not a positive number",
            fmt_f32(weight_scales[c])
        )));
    }
    if let Some(c) = b.iter().position(|v| !v.is_finite()) {
        return Err(Error::msg(format!(
            "@{tensor} holds {} at [{c}]: a bias must be finite to be quantized",
            fmt_f32(b[c])
        )));
    }
    let scales: Vec<f32> = (0..b.len())
        .map(|c| weight_scales[c.min(weight_scales.len() - 1)] * input_scale)
        .collect();
    let mut saturated = vec![];
    let values: Vec<i32> = b
        .iter()
        .zip(&scales)
        .enumerate()
        .map(|(c, (&v, &s))| {
            let q = (v as f64 / s as f64).round_ties_even();
            if q < i32::MIN as f64 || q > i32::MAX as f64 {
                saturated.push(c);
            }
            q.clamp(i32::MIN as f64, i32::MAX as f64) as i32
        })
        .collect();
    let warnings = if saturated.is_empty() {
        vec![]
    } else {
        vec![Warning::BiasSaturated {
            tensor: tensor.to_string(),
            channels: saturated,
        }]
    };
    let n = scales.len();
    Ok(QuantizedBias {
        params: Params {
            storage: DType::I32,
            scales,
            zero_points: vec![0; n],
            axis: Some(0),
        },
        values,
        warnings,
    })
}
