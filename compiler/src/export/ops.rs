//! One IR op as ONNX nodes (default domain, opset [`OPSET`](super::OPSET)): attributes that
//! ONNX takes as inputs since opset 13/18 (shapes, axes, pads, bounds) become int64 or f32
//! initializers; a `unary` function becomes the ONNX op the importer reads it from.

use crate::diag::{Error, Result};
use crate::export::graph::{self, Graph};
use crate::export::quant;
use crate::import::dtype;
use crate::ir::{Model, NodeId, Op, OpKind};
use onnx_protobuf::AttributeProto;
use runtime::ops::UnaryFn;

/// A missing optional ONNX input.
const ABSENT: &str = "";

/// Writes the ONNX nodes of op `id`.
pub fn export(g: &mut Graph, m: &Model, id: NodeId) -> Result<()> {
    let node = m.node(id);
    let op = node.op().expect("export is called on op nodes");
    let operands = m.operands(id);
    let xs: Vec<String> = operands.iter().map(|&o| g.value(o)).collect();
    let out = g.value(id);
    let fail = |why: String| Error::msg(format!("%{} ({}): {why}", node.name, op.kind.name()));
    let ints = |name: &str| op.ints_of(name).map_err(fail);
    let simple = |g: &mut Graph, t: &str, attrs: Vec<AttributeProto>| {
        g.node(t, xs.clone(), vec![out.clone()], attrs)
    };
    use OpKind::*;
    match op.kind {
        Family(f) => f.def().export(g, op, xs.clone(), out.clone()).map_err(fail)?,
        Conv2d => simple(g, "Conv", conv_attrs(op, false).map_err(fail)?),
        ConvTranspose2d => simple(g, "ConvTranspose", conv_attrs(op, true).map_err(fail)?),
        BatchNorm => simple(
            g,
            "BatchNormalization",
            vec![graph::float("epsilon", float(op, "epsilon").map_err(fail)?)],
        ),
        Relu => simple(g, "Relu", vec![]),
        Sigmoid => simple(g, "Sigmoid", vec![]),
        HardSwish => simple(g, "HardSwish", vec![]),
        LeakyRelu => simple(
            g,
            "LeakyRelu",
            vec![graph::float("alpha", float(op, "alpha").map_err(fail)?)],
        ),
        HardSigmoid => simple(
            g,
            "HardSigmoid",
            vec![
                graph::float("alpha", float(op, "alpha").map_err(fail)?),
                graph::float("beta", float(op, "beta").map_err(fail)?),
            ],
        ),
        Clip => {
            let bound = |g: &mut Graph, name: &str| match op.float(name) {
                Some(v) => g.floats(&format!("{out}.{name}"), &[], &[v]),
                None => ABSENT.to_string(),
            };
            let (lo, hi) = (bound(g, "min"), bound(g, "max"));
            g.node("Clip", vec![xs[0].clone(), lo, hi], vec![out], vec![]);
        }
        Unary => unary(g, op, xs[0].clone(), out).map_err(fail)?,
        Add => simple(g, "Add", vec![]),
        Sub => simple(g, "Sub", vec![]),
        Mul => simple(g, "Mul", vec![]),
        Div => simple(g, "Div", vec![]),
        Max => simple(g, "Max", vec![]),
        Min => simple(g, "Min", vec![]),
        Mod => simple(g, "Mod", vec![graph::int("fmod", flag(op, "fmod").map_err(fail)?)]),
        Not => simple(g, "Not", vec![]),
        Where => simple(g, "Where", vec![]),
        Cast => {
            let to = op
                .str("to")
                .and_then(runtime::DType::from_name)
                .ok_or_else(|| fail("has no element type `to`".into()))?;
            simple(g, "Cast", vec![graph::int("to", graph::onnx_dtype(to) as i64)]);
        }
        Compare | Logic => {
            let f = op.str_of("fn").map_err(fail)?;
            let t = crate::import::logic_onnx_op(&f)
                .ok_or_else(|| fail(format!("has no function `{f}`")))?;
            simple(g, t, vec![]);
        }
        ArgMax | ArgMin => simple(
            g,
            if op.kind == ArgMax { "ArgMax" } else { "ArgMin" },
            vec![
                graph::int("axis", op.int_of("axis").map_err(fail)?),
                graph::int("keepdims", flag(op, "keepdims").map_err(fail)?),
                graph::int("select_last_index", flag(op, "select_last_index").map_err(fail)?),
            ],
        ),
        Gather => simple(
            g,
            "Gather",
            vec![graph::int("axis", op.int_of("axis").map_err(fail)?)],
        ),
        GatherElements => simple(
            g,
            "GatherElements",
            vec![graph::int("axis", op.int_of("axis").map_err(fail)?)],
        ),
        Expand => {
            let shape = g.ints(&format!("{out}.shape"), &ints("shape")?);
            g.node("Expand", vec![xs[0].clone(), shape], vec![out], vec![]);
        }
        Reduce => {
            let f = op.str_of("fn").map_err(fail)?;
            let t = crate::import::reduce_onnx_op(&f)
                .ok_or_else(|| fail(format!("has no function `{f}`")))?;
            // Every Reduce* takes its axes as an input from opset 18.
            let axes = g.ints(&format!("{out}.axes"), &ints("axes")?);
            g.node(
                t,
                vec![xs[0].clone(), axes],
                vec![out],
                vec![graph::int("keepdims", flag(op, "keepdims").map_err(fail)?)],
            );
        }
        Normalize => normalize(g, m, id, op, xs[0].clone(), out).map_err(fail)?,
        MaxPool => simple(
            g,
            "MaxPool",
            vec![
                graph::ints("kernel_shape", &ints("kernel_shape")?),
                graph::ints("strides", &ints("strides")?),
                graph::ints("pads", &ints("pads")?),
                graph::ints("dilations", &ints("dilations")?),
                graph::int("ceil_mode", flag(op, "ceil_mode").map_err(fail)?),
            ],
        ),
        AvgPool => simple(
            g,
            "AveragePool",
            vec![
                graph::ints("kernel_shape", &ints("kernel_shape")?),
                graph::ints("strides", &ints("strides")?),
                graph::ints("pads", &ints("pads")?),
                graph::int("ceil_mode", flag(op, "ceil_mode").map_err(fail)?),
                graph::int("count_include_pad", flag(op, "count_include_pad").map_err(fail)?),
            ],
        ),
        GlobalAvgPool => simple(g, "GlobalAveragePool", vec![]),
        Resize => resize(g, m, id, op, xs[0].clone(), out).map_err(fail)?,
        ReduceMean => {
            let axes = g.ints(&format!("{out}.axes"), &ints("axes")?);
            let keep = flag(op, "keepdims").map_err(fail)?;
            g.node(
                "ReduceMean",
                vec![xs[0].clone(), axes],
                vec![out],
                vec![graph::int("keepdims", keep)],
            );
        }
        Flatten => simple(
            g,
            "Flatten",
            vec![graph::int("axis", op.int_of("axis").map_err(fail)?)],
        ),
        Reshape | Squeeze | Unsqueeze => {
            let (t, what, v) = match op.kind {
                Reshape => ("Reshape", "shape", ints("shape")?),
                Squeeze => ("Squeeze", "axes", ints("axes")?),
                _ => ("Unsqueeze", "axes", ints("axes")?),
            };
            let v = g.ints(&format!("{out}.{what}"), &v);
            g.node(t, vec![xs[0].clone(), v], vec![out], vec![]);
        }
        Transpose => simple(g, "Transpose", vec![graph::ints("perm", &ints("perm")?)]),
        Slice => {
            // The IR's end −1 walking down means "past index 0"; ONNX reads −1 as the last
            // index, and clamps anything below −len to before the start.
            let ends: Vec<i64> = ints("ends")?
                .iter()
                .map(|&e| if e < 0 { i64::MIN } else { e })
                .collect();
            let inputs = vec![
                xs[0].clone(),
                g.ints(&format!("{out}.starts"), &ints("starts")?),
                g.ints(&format!("{out}.ends"), &ends),
                g.ints(&format!("{out}.axes"), &ints("axes")?),
                g.ints(&format!("{out}.steps"), &ints("steps")?),
            ];
            g.node("Slice", inputs, vec![out], vec![]);
        }
        Concat => simple(
            g,
            "Concat",
            vec![graph::int("axis", op.int_of("axis").map_err(fail)?)],
        ),
        Pad => pad(g, m, id, op, xs[0].clone(), out).map_err(fail)?,
        Gemm => simple(
            g,
            "Gemm",
            vec![
                graph::float("alpha", float(op, "alpha").map_err(fail)?),
                graph::float("beta", float(op, "beta").map_err(fail)?),
                graph::int("transA", flag(op, "trans_a").map_err(fail)?),
                graph::int("transB", flag(op, "trans_b").map_err(fail)?),
            ],
        ),
        MatMul => simple(g, "MatMul", vec![]),
        Softmax => simple(
            g,
            "Softmax",
            vec![graph::int("axis", op.int_of("axis").map_err(fail)?)],
        ),
        // ONNX has Attention only from opset 23; the export writes opset 21.
        // ONNX's losses are training ops, which the QDQ export has no use for.
        NllLoss => return Err(fail("is a training loss, which --emit onnx does not write".into())),
        Attention => {
            return Err(fail(
                "has no ONNX form at opset 21, which --emit onnx writes".into(),
            ))
        }
        Quantize => quant::quantize(g, m, id, xs[0].clone())?,
        Dequantize => quant::dequantize(g, m, id, operands[0])?,
        Requantize | QConv2d | QConvTranspose2d | QGemm | QAdd | QMul | QMatMul | QSoftmax | QAvgPool
        | QGlobalAvgPool | Lut => {
            return Err(fail(
                "is an op of the integer dialect, which has no ONNX form: --emit onnx writes the QDQ stage, so give it a float or QDQ model"
                    .into(),
            ))
        }
    }
    Ok(())
}

/// `normalize` over the trailing axes from `axis`: LayerNormalization with a unit scale, or
/// with `rms` (which ONNX has as an op only from opset 23) x / sqrt(mean(x²) + ε) spelled out.
fn normalize(
    g: &mut Graph,
    m: &Model,
    id: NodeId,
    op: &Op,
    x: String,
    out: String,
) -> std::result::Result<(), String> {
    let shape = &m.node(m.operands(id)[0]).ty.shape;
    let axis = op.int_of("axis")?;
    let eps = float(op, "epsilon")?;
    let trailing: Vec<usize> = shape[axis as usize..].to_vec();
    if !op.bool_of("rms")? {
        let n: usize = trailing.iter().product();
        let ones = g.floats(&format!("{out}.scale"), &trailing, &vec![1.0; n]);
        g.node(
            "LayerNormalization",
            vec![x, ones],
            vec![out],
            vec![graph::int("axis", axis), graph::float("epsilon", eps)],
        );
        return Ok(());
    }
    let axes: Vec<i64> = (axis..shape.len() as i64).collect();
    let sq = g.fresh(&format!("{out}.square"));
    g.node("Mul", vec![x.clone(), x.clone()], vec![sq.clone()], vec![]);
    let axes = g.ints(&format!("{out}.axes"), &axes);
    let mean = g.fresh(&format!("{out}.mean_square"));
    g.node(
        "ReduceMean",
        vec![sq, axes],
        vec![mean.clone()],
        vec![graph::int("keepdims", 1)],
    );
    let e = g.floats(&format!("{out}.epsilon"), &[], &[eps]);
    let var = g.fresh(&format!("{out}.plus_epsilon"));
    g.node("Add", vec![mean, e], vec![var.clone()], vec![]);
    let root = g.fresh(&format!("{out}.root"));
    g.node("Sqrt", vec![var], vec![root.clone()], vec![]);
    g.node("Div", vec![x, root], vec![out], vec![]);
    Ok(())
}

/// A float attribute through the schema (its default, when not written, is the schema's).
fn float(op: &Op, name: &str) -> std::result::Result<f32, String> {
    op.float_of(name)
}

/// A boolean attribute as ONNX's 0/1 integer, through the schema.
fn flag(op: &Op, name: &str) -> std::result::Result<i64, String> {
    op.bool_of(name).map(i64::from)
}

fn conv_attrs(op: &Op, transposed: bool) -> std::result::Result<Vec<AttributeProto>, String> {
    let mut a = vec![
        graph::ints("strides", &op.ints_of("strides")?),
        graph::ints("pads", &op.ints_of("pads")?),
        graph::ints("dilations", &op.ints_of("dilations")?),
        graph::int("group", op.int_of("groups")?),
    ];
    if transposed {
        a.push(graph::ints(
            "output_padding",
            &op.ints_of("output_padding")?,
        ));
    }
    Ok(a)
}

/// `unary {fn, params}`: the ONNX op the importer reads the function from, its parameters as
/// that op's attributes; SiLU, which ONNX has no op for, as `x·Sigmoid(x)`.
fn unary(g: &mut Graph, op: &Op, x: String, out: String) -> std::result::Result<(), String> {
    let name = op.str_of("fn")?;
    let f = UnaryFn::from_name(&name).ok_or_else(|| format!("has no function `{name}`"))?;
    let params = f.params(&op.floats_of("params")?)?;
    match f {
        UnaryFn::Gelu | UnaryFn::GeluTanh => {
            let approximate = if f == UnaryFn::Gelu { "none" } else { "tanh" };
            g.node(
                "Gelu",
                vec![x],
                vec![out],
                vec![graph::string("approximate", approximate)],
            );
        }
        UnaryFn::Silu => {
            let s = g.fresh(&format!("{out}.sigmoid"));
            g.node("Sigmoid", vec![x.clone()], vec![s.clone()], vec![]);
            g.node("Mul", vec![x, s], vec![out], vec![]);
        }
        UnaryFn::Pow => {
            let e = g.floats(&format!("{out}.exponent"), &[], &params[..1]);
            g.node("Pow", vec![x, e], vec![out], vec![]);
        }
        _ => {
            let (t, names) = crate::import::unary_onnx_op(f)
                .ok_or_else(|| format!("has function `{name}`, which no ONNX op computes"))?;
            let attrs = names
                .iter()
                .zip(&params)
                .map(|(n, &v)| graph::float(n, v))
                .collect();
            g.node(t, vec![x], vec![out], attrs);
        }
    }
    Ok(())
}

/// `resize`: by sizes when the IR's scale is size/len in f32 (what ORT maps with, given sizes;
/// a scale like 13/9 also makes ⌊9·s⌋ differ between f32 and the checker's f64), else by its
/// scales when ⌊len·scale⌋ gives the IR's size.
fn resize(
    g: &mut Graph,
    m: &Model,
    id: NodeId,
    op: &Op,
    x: String,
    out: String,
) -> std::result::Result<(), String> {
    let scales = op.floats_of("scales")?;
    let size = op.ints_of("size")?;
    let (mode, coord) = (
        op.str_of("mode")?,
        op.str_of("coordinate_transformation_mode")?,
    );
    let (mode, coord) = (mode.as_str(), coord.as_str());
    let nearest_mode = op.str_of("nearest_mode")?;
    let mut nearest = nearest_mode.as_str();
    let xs = &m.node(m.operands(id)[0]).ty.shape;
    let lens = &xs[2..];
    if nearest == "simple" {
        // Upsample's rule truncates upsampling and ceils downsampling: on asymmetric
        // (non-negative) coordinates those are ONNX's `floor` and `ceil`.
        nearest = match (scales.iter().all(|&s| s >= 1.0), scales.iter().all(|&s| s < 1.0)) {
            (true, _) => "floor",
            (_, true) => "ceil",
            _ => {
                return Err(format!(
                    "rounds with Upsample's rule on scales {scales:?}, up on one axis and down on the other, which no one ONNX nearest_mode does"
                ))
            }
        };
    }
    let by_scales = lens
        .iter()
        .zip(&scales)
        .zip(&size)
        .all(|((&l, &s), &o)| (l as f32 * s).floor() as i64 == o);
    let by_sizes = lens
        .iter()
        .zip(&scales)
        .zip(&size)
        .all(|((&l, &s), &o)| o as f32 / l as f32 == s);
    let (scales_in, sizes_in) = if by_sizes {
        let s = [xs[0] as i64, xs[1] as i64, size[0], size[1]];
        (ABSENT.into(), g.ints(&format!("{out}.sizes"), &s))
    } else if by_scales {
        let s = [1.0, 1.0, scales[0], scales[1]];
        (g.floats(&format!("{out}.scales"), &[4], &s), ABSENT.into())
    } else {
        return Err(format!(
            "maps coordinates with scales {scales:?} to size {size:?}; ONNX's Resize derives one from the other"
        ));
    };
    g.node(
        "Resize",
        vec![x, ABSENT.into(), scales_in, sizes_in],
        vec![out],
        vec![
            graph::string("mode", mode),
            graph::string("coordinate_transformation_mode", coord),
            graph::string("nearest_mode", nearest),
        ],
    );
    Ok(())
}

/// `pad`: ONNX's constant Pad, or, with a value per channel, `Where(inside, Pad(x), values)`
/// with `inside` a constant mask of the result: exact, where `Pad(x − v) + v` would round.
fn pad(
    g: &mut Graph,
    m: &Model,
    id: NodeId,
    op: &Op,
    x: String,
    out: String,
) -> std::result::Result<(), String> {
    let x_ty = &m.node(m.operands(id)[0]).ty;
    if !x_ty.elem.is_float() {
        return Err(format!(
            "pads codes ({x_ty}); the exporter writes Pad on floats only"
        ));
    }
    let pads = op.ints_of("pads")?;
    let pads_in = g.ints(&format!("{out}.pads"), &pads);
    let Some(values) = op.floats("channel_values") else {
        let value = g.floats(&format!("{out}.value"), &[], &[float(op, "value")?]);
        g.node(
            "Pad",
            vec![x, pads_in, value],
            vec![out],
            vec![graph::string("mode", "constant")],
        );
        return Ok(());
    };
    let y_shape = &m.node(id).ty.shape;
    let rank = y_shape.len();
    if rank < 2 || values.len() != y_shape[1] {
        return Err(format!(
            "has {} channel values for a result of shape {y_shape:?}",
            values.len()
        ));
    }
    let zero = g.floats(&format!("{out}.zero"), &[], &[0.0]);
    let padded = g.fresh(&format!("{out}.padded"));
    g.node(
        "Pad",
        vec![x, pads_in, zero],
        vec![padded.clone()],
        vec![graph::string("mode", "constant")],
    );
    // Row-major walk over the result: an element is inside when every coordinate lies between
    // its begin and end padding.
    let numel: usize = y_shape.iter().product();
    let mut mask = Vec::with_capacity(numel);
    let mut idx = vec![0usize; rank];
    for _ in 0..numel {
        let inside = (0..rank).all(|a| {
            let begin = pads[a].max(0) as usize;
            idx[a] >= begin && idx[a] < y_shape[a] - pads[rank + a].max(0) as usize
        });
        mask.push(inside as u8);
        for a in (0..rank).rev() {
            idx[a] += 1;
            if idx[a] < y_shape[a] {
                break;
            }
            idx[a] = 0;
        }
    }
    let mask = g.initializer(&format!("{out}.inside"), dtype::BOOL, y_shape, mask);
    let mut v_shape = vec![1usize; rank];
    v_shape[1] = values.len();
    let values = g.floats(&format!("{out}.channel_values"), &v_shape, values);
    g.node("Where", vec![mask, padded, values], vec![out], vec![]);
    Ok(())
}
