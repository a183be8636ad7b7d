//! Resize (opsets 10–19) and Upsample (7–9) → `resize`: the scales or sizes folded to constants,
//! the spatial axes of NCHW only, the coordinate mapping kept as the model states it (ONNX maps
//! coordinates with the given scale, not out/in, so both are stored).

use super::attrs;
use crate::diag::Result;
use crate::import::context::{Importer, Val, MAX_DIM};
use crate::import::node::OnnxNode;
use crate::ir::{Attr, OpKind};

/// What every form of the op resolves to before it is emitted.
struct Spec {
    mode: &'static str,
    coord: String,
    nearest: String,
    /// Per axis of the input (rank 4).
    scales: Vec<f32>,
    out: Vec<usize>,
}

fn mode(n: &OnnxNode) -> Result<&'static str> {
    match n.string("mode")?.as_deref().unwrap_or("nearest") {
        "nearest" => Ok("nearest"),
        "linear" | "bilinear" => Ok("linear"),
        "cubic" => Err(n.fail(
            "uses mode `cubic`, which qcc does not support (it resizes with `nearest` or `linear`)",
        )),
        other => Err(n.fail(format!(
            "has mode `{other}`; ONNX defines nearest, linear and cubic"
        ))),
    }
}

/// The output size of scales: ⌊len·scale⌋ in f32, as ONNX Runtime computes it.
fn sized_by_scales(n: &OnnxNode, xs: &[usize], scales: &[f32]) -> Result<Vec<usize>> {
    xs.iter()
        .zip(scales)
        .map(|(&len, &s)| {
            if !(s.is_finite() && s > 0.0) {
                return Err(n.fail(format!(
                    "has scales {scales:?}; every scale must be a positive number"
                )));
            }
            let out = (len as f32 * s).floor();
            if out < 1.0 || out > MAX_DIM as f32 {
                return Err(n.fail(format!(
                    "would resize an axis of {len} by {s} to {out} elements"
                )));
            }
            Ok(out as usize)
        })
        .collect()
}

/// Resize-11+ scales/sizes over `axes` (opset 18) spread to every axis of a rank-4 input.
fn spread<T: Copy>(
    n: &OnnxNode,
    v: &[T],
    axes: &[usize],
    fill: &[T],
    what: &str,
) -> Result<Vec<T>> {
    if v.len() != axes.len() {
        return Err(n.fail(format!("has {} {what} for {} axes", v.len(), axes.len())));
    }
    let mut full = fill.to_vec();
    for (&a, &x) in axes.iter().zip(v) {
        full[a] = x;
    }
    Ok(full)
}

fn resize_spec(cx: &mut Importer, n: &OnnxNode, xs: &[usize]) -> Result<Spec> {
    let mode = mode(n)?;
    if n.opset < 11 {
        // Resize-10: X and scales; the mapping was x/scale and the rounding ONNX Runtime's
        // `simple` rule.
        let scales = cx
            .constant(n, 1, "scales")?
            .ok_or_else(|| n.fail("lacks its scales (input 1)"))?
            .floats();
        if scales.len() != xs.len() {
            return Err(n.fail(format!(
                "has {} scales for an input of shape {xs:?}",
                scales.len()
            )));
        }
        let out = sized_by_scales(n, xs, &scales)?;
        return Ok(Spec {
            mode,
            coord: "asymmetric".into(),
            nearest: "simple".into(),
            scales,
            out,
        });
    }
    // `cubic_coeff_a` and `exclude_outside` shape only the cubic kernel, `extrapolation_value`
    // only tf_crop_and_resize: both refused above, so exporters' defaults for them change nothing.
    n.no_effect(&["cubic_coeff_a", "exclude_outside", "extrapolation_value"]);
    let coord = n
        .string("coordinate_transformation_mode")?
        .unwrap_or_else(|| "half_pixel".into());
    if coord == "tf_crop_and_resize" {
        return Err(n.fail(
            "uses coordinate_transformation_mode `tf_crop_and_resize`, which qcc does not support (it needs a region of interest and an extrapolation value)",
        ));
    }
    let nearest = n
        .string("nearest_mode")?
        .unwrap_or_else(|| "round_prefer_floor".into());
    let axes = match n.ints("axes")? {
        Some(a) => n.axes(&a, xs.len(), "axes")?,
        None => (0..xs.len()).collect(),
    };
    let scales = cx
        .constant(n, 2, "scales")?
        .map(|c| c.floats())
        .filter(|s| !s.is_empty());
    let sizes = cx.constant_ints(n, 3, "sizes")?.filter(|s| !s.is_empty());
    let (scales, out) = match (scales, sizes) {
        (Some(_), Some(_)) => return Err(n.fail("gives both scales and sizes; ONNX allows one")),
        (None, None) => return Err(n.fail("gives neither scales nor sizes")),
        (Some(s), None) => {
            let scales = spread(n, &s, &axes, &vec![1.0; xs.len()], "scales")?;
            let out = sized_by_scales(n, xs, &scales)?;
            (scales, out)
        }
        (None, Some(s)) => {
            if let Some(&bad) = s.iter().find(|&&v| v < 1 || v > MAX_DIM as i64) {
                return Err(n.fail(format!("has sizes {s:?}; {bad} is not a valid size")));
            }
            let given: Vec<usize> = s.iter().map(|&v| v as usize).collect();
            let dims: Vec<usize> = axes.iter().map(|&a| xs[a]).collect();
            let mut scales: Vec<f32> = given
                .iter()
                .zip(&dims)
                .map(|(&o, &i)| o as f32 / i as f32)
                .collect();
            let mut out = given.clone();
            let policy = n
                .string("keep_aspect_ratio_policy")?
                .unwrap_or_else(|| "stretch".into());
            let pick = match policy.as_str() {
                "stretch" => None,
                "not_larger" => scales.iter().copied().reduce(f32::min),
                "not_smaller" => scales.iter().copied().reduce(f32::max),
                other => {
                    return Err(n.fail(format!(
                        "has keep_aspect_ratio_policy `{other}`; ONNX defines stretch, not_larger and not_smaller"
                    )))
                }
            };
            if let Some(s) = pick {
                scales.iter_mut().for_each(|v| *v = s);
                out = dims
                    .iter()
                    .map(|&i| (s * i as f32).round() as usize)
                    .collect();
            }
            let dims_in: Vec<usize> = xs.to_vec();
            (
                spread(n, &scales, &axes, &vec![1.0; xs.len()], "sizes")?,
                spread(n, &out, &axes, &dims_in, "sizes")?,
            )
        }
    };
    if n.int_or("antialias", 0)? != 0 && mode == "linear" && scales.iter().any(|&s| s < 1.0) {
        return Err(n.fail(
            "downscales with antialias = 1, which qcc does not support (it would widen the bilinear filter)",
        ));
    }
    Ok(Spec {
        mode,
        coord,
        nearest,
        scales,
        out,
    })
}

fn upsample_spec(cx: &mut Importer, n: &OnnxNode, xs: &[usize]) -> Result<Spec> {
    let mode = mode(n)?;
    let scales = match n.floats("scales")? {
        Some(s) => s,
        None => cx
            .constant(n, 1, "scales")?
            .ok_or_else(|| n.fail("has neither a scales attribute nor a scales input"))?
            .floats(),
    };
    if scales.len() != xs.len() {
        return Err(n.fail(format!(
            "has {} scales for an input of shape {xs:?}",
            scales.len()
        )));
    }
    let out = sized_by_scales(n, xs, &scales)?;
    Ok(Spec {
        mode,
        coord: "asymmetric".into(),
        nearest: "simple".into(),
        scales,
        out,
    })
}

fn emit(cx: &mut Importer, n: &OnnxNode, upsample: bool) -> Result<()> {
    let x = cx.operand(n, 0, "the input")?;
    let xs = cx.ty(x).shape.clone();
    if xs.len() != 4 {
        return Err(n.fail(format!(
            "resizes an input of shape {xs:?}; qcc resizes the two spatial axes of NCHW (rank 4) only"
        )));
    }
    let spec = if upsample {
        upsample_spec(cx, n, &xs)?
    } else {
        resize_spec(cx, n, &xs)?
    };
    if spec.out[..2] != xs[..2] || spec.scales[..2] != [1.0, 1.0] {
        return Err(n.fail(format!(
            "resizes {xs:?} to {:?} (scales {:?}); qcc resizes only the spatial axes of NCHW, with scale 1 on N and C",
            spec.out, spec.scales
        )));
    }
    let a = attrs([
        ("mode", Attr::Str(spec.mode.into())),
        ("coordinate_transformation_mode", Attr::Str(spec.coord)),
        ("nearest_mode", Attr::Str(spec.nearest)),
        ("scales", Attr::Floats(spec.scales[2..].to_vec())),
        (
            "size",
            Attr::Ints(spec.out[2..].iter().map(|&v| v as i64).collect()),
        ),
    ]);
    let out = n.output()?;
    let id = cx.emit(n, out, OpKind::Resize, a, &[x])?;
    cx.define(out, Val::Node(id));
    Ok(())
}

pub fn resize(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    emit(cx, n, false)
}

pub fn upsample(cx: &mut Importer, n: &OnnxNode) -> Result<()> {
    emit(cx, n, true)
}
