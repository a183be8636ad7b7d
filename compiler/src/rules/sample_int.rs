//! Integer-dialect operands and results for the rule checker's instances: u8 activations, i8
//! weights per output channel, i32 biases at S_x·S_w, and for every op that declares its result
//! a random quantized result type with the multipliers, shifts, clamp bounds and tables that
//! valid quantization parameters give (docs/ir.md, "Integer semantics").

use crate::ir::attr::{Attr, Attrs};
use crate::ir::op::{Op, OpKind};
use crate::ir::types::{ElemType, QuantType, TensorType};
use crate::rules::sample::Rng;
use runtime::DType;

/// Scales of sampled quantized values: a spread wide enough that multipliers land on both
/// sides of 1 and shifts of either sign.
const SCALES: &[f32] = &[0.5, 0.25, 0.125, 0.05, 0.0078125, 2.0];

/// Whether `kind` belongs to the integer dialect (takes codes, declares its result).
pub fn is_int(kind: OpKind) -> bool {
    kind.declares_result() && !matches!(kind, OpKind::Quantize | OpKind::Dequantize)
}

/// A per-tensor quantized type of `storage` with a random scale and a valid zero point.
pub fn per_tensor(rng: &mut Rng, storage: DType) -> ElemType {
    let zp = match storage {
        DType::U8 => rng.pick(&[0, 3, 128, 255]),
        DType::I8 => rng.pick(&[0, -5, 7, -128]),
        _ => 0,
    };
    ElemType::Quant(QuantType {
        storage,
        scales: vec![rng.pick(SCALES)],
        zero_points: vec![zp],
        axis: None,
    })
}

/// The activation an integer op reads as operand 0 (u8, but either storage for the ops that
/// take both).
pub fn activation(rng: &mut Rng, kind: OpKind, c: usize, h: usize, w: usize) -> TensorType {
    let storage = match kind {
        OpKind::Requantize | OpKind::Lut if rng.coin() => DType::I8,
        _ => DType::U8,
    };
    let shape = match kind {
        OpKind::QGemm => vec![rng.range(1, 4), rng.range(1, 6)],
        _ => vec![1, c, h, w],
    };
    TensorType::new(shape, per_tensor(rng, storage))
}

fn per_axis(rng: &mut Rng, storage: DType, n: usize, axis: usize) -> ElemType {
    ElemType::Quant(QuantType {
        storage,
        scales: (0..n).map(|_| rng.pick(SCALES)).collect(),
        zero_points: vec![0; n],
        axis: Some(axis),
    })
}

/// The type of operand `slot` (≥ 1) of integer op `kind`: weights i8 per output channel, biases
/// i32 at S_x·S_w with zero point 0, the second operand of qadd/qmul a u8 of the same shape.
pub fn slot_type(
    rng: &mut Rng,
    kind: OpKind,
    slot: usize,
    x: &TensorType,
    attrs: &Attrs,
    prev: &[TensorType],
) -> Option<TensorType> {
    let int = |n: &str| attrs.get(n).and_then(|a| a.as_int()).unwrap_or(1) as usize;
    let c = x.shape.get(1).copied().unwrap_or(1);
    let sx = x.elem.quant()?.scales[0];
    let bias = |w: &TensorType, n: usize| {
        let sw = &w.elem.quant()?.scales;
        let scales = (0..n).map(|o| sx * sw[o.min(sw.len() - 1)]).collect();
        Some(TensorType::new(
            vec![n],
            ElemType::Quant(QuantType {
                storage: DType::I32,
                scales,
                zero_points: vec![0; n],
                axis: Some(0),
            }),
        ))
    };
    match (kind, slot) {
        (OpKind::QConv2d, 1) => {
            let g = int("groups").max(1);
            let k = rng.pick(&[1, 3]);
            let o = g * rng.range(1, 3);
            Some(TensorType::new(
                vec![o, c / g, k, k],
                per_axis(rng, DType::I8, o, 0),
            ))
        }
        (OpKind::QConvTranspose2d, 1) => {
            let k = rng.pick(&[1, 3]);
            let o = rng.range(1, 3);
            Some(TensorType::new(
                vec![c, o, k, k],
                per_axis(rng, DType::I8, o, 1),
            ))
        }
        (OpKind::QConv2d, 2) => bias(&prev[1], prev[1].shape[0]),
        (OpKind::QConvTranspose2d, 2) => bias(&prev[1], prev[1].shape[1] * int("groups")),
        (OpKind::QGemm, 1) => {
            let (kk, n) = (x.shape[1], rng.range(1, 5));
            let tb = attrs
                .get("trans_b")
                .and_then(|a| a.as_bool())
                .unwrap_or(false);
            Some(if tb {
                TensorType::new(vec![n, kk], per_axis(rng, DType::I8, n, 0))
            } else {
                TensorType::new(vec![kk, n], per_axis(rng, DType::I8, n, 1))
            })
        }
        (OpKind::QGemm, 2) => {
            let tb = attrs
                .get("trans_b")
                .and_then(|a| a.as_bool())
                .unwrap_or(false);
            let n = prev[1].shape[if tb { 0 } else { 1 }];
            bias(&prev[1], n)
        }
        (OpKind::QAdd | OpKind::QMul, 1) => {
            Some(TensorType::new(x.shape.clone(), per_tensor(rng, DType::U8)))
        }
        // [.., M, K] times [.., K, M]: the batch axes equal, the result square.
        (OpKind::QMatMul, 1) => {
            let mut shape = x.shape.clone();
            let r = shape.len();
            shape.swap(r - 2, r - 1);
            Some(TensorType::new(shape, per_tensor(rng, DType::U8)))
        }
        _ => None,
    }
}

fn fixed(m: f64) -> Result<(i64, i64), String> {
    runtime::ops::fixed_point::quantize_multiplier(m)
        .map(|(q, s)| (q as i64, s as i64))
        .ok_or_else(|| format!("the multiplier {m} has no fixed-point form"))
}

/// The declared result of integer op `kind` over operands `tys`, and the attributes that
/// quantization parameters decide (set only where the pattern did not fix them).
pub fn result(
    rng: &mut Rng,
    kind: OpKind,
    attrs: &mut Attrs,
    tys: &[TensorType],
    wanted: Option<ElemType>,
) -> Result<TensorType, String> {
    let storage = match kind {
        OpKind::Requantize | OpKind::Lut if rng.coin() => DType::I8,
        _ => DType::U8,
    };
    // A parent that decided this value's type (a requantize feeding a requantize) gets it.
    let same = matches!(kind, OpKind::Requantize | OpKind::Lut) && rng.range(0, 3) == 0;
    let elem = match wanted {
        Some(e @ ElemType::Quant(_)) => e,
        // Now and then the operand's own type, so that rules comparing the two see them equal.
        _ if same && tys[0].elem.quant().is_some_and(|q| q.axis.is_none()) => tys[0].elem.clone(),
        _ => per_tensor(rng, storage),
    };
    let storage = elem.storage();
    let q = elem.quant().cloned().ok_or("a quantized result")?;
    let (sy, zy) = (q.scales[0] as f64, q.zero_points[0] as i64);
    let (qmin, qmax) = runtime::qops::qrange(storage);
    let sx = |i: usize| -> Result<Vec<f64>, String> {
        let t = tys.get(i).ok_or("a missing operand")?;
        let q = t
            .elem
            .quant()
            .ok_or_else(|| format!("operand {i} is {t}, not quantized"))?;
        Ok(q.scales.iter().map(|&s| s as f64).collect())
    };
    let mut set = |name: &str, v: Attr| {
        attrs.entry(name.to_string()).or_insert(v);
    };
    // A clamp at the type's range, or at the zero point below (a fused ReLU).
    let lo = if rng.coin() {
        qmin as i64
    } else {
        zy.max(qmin as i64)
    };
    let per_channel = |ms: Vec<f64>| -> Result<(Vec<i64>, Vec<i64>), String> {
        let v: Vec<(i64, i64)> = ms.into_iter().map(fixed).collect::<Result<_, _>>()?;
        Ok(v.into_iter().unzip())
    };
    match kind {
        OpKind::Requantize
        | OpKind::QConv2d
        | OpKind::QConvTranspose2d
        | OpKind::QGemm
        | OpKind::QMul
        | OpKind::QMatMul => {
            let ms: Vec<f64> = match kind {
                OpKind::Requantize => sx(0)?.iter().map(|s| s / sy).collect(),
                OpKind::QMul | OpKind::QMatMul => vec![sx(0)?[0] * sx(1)?[0] / sy],
                _ => {
                    let x = sx(0)?[0];
                    sx(1)?.iter().map(|w| x * w / sy).collect()
                }
            };
            let (m, s) = per_channel(ms)?;
            set("multiplier", Attr::Ints(m));
            set("shift", Attr::Ints(s));
            set("lo", Attr::Int(lo));
            set("hi", Attr::Int(qmax as i64));
        }
        OpKind::QAdd => {
            let (a, b) = (sx(0)?[0], sx(1)?[0]);
            let twice = 2.0 * a.max(b);
            let (am, ash) = fixed(a / twice)?;
            let (bm, bsh) = fixed(b / twice)?;
            let (m, s) = fixed(twice / ((1u64 << 20) as f64 * sy))?;
            for (n, v) in [
                ("a_multiplier", am),
                ("a_shift", ash),
                ("b_multiplier", bm),
                ("b_shift", bsh),
                ("multiplier", m),
                ("shift", s),
                ("lo", lo),
                ("hi", qmax as i64),
            ] {
                set(n, Attr::Int(v));
            }
        }
        OpKind::Lut => {
            let table = (0..256).map(|_| rng.range(0, (qmax - qmin) as usize) as i64 + qmin as i64);
            set("table", Attr::Ints(table.collect()));
        }
        _ => {}
    }
    let refs: Vec<&TensorType> = tys.iter().collect();
    let op = Op {
        kind,
        attrs: kind.schema().with_defaults(attrs),
    };
    let shape = crate::ir::infer::result_shape(&op, &refs)?;
    Ok(TensorType::new(shape, elem))
}
