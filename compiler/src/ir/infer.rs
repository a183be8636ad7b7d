//! Shape and element-type inference: the result type of an op from its operands' types, with
//! errors that name the operand and both shapes.

use crate::ir::attr::Attr;
use crate::ir::op::{Op, OpKind};
use crate::ir::types::{fmt_shape, TensorType};
use runtime::ops::geometry::{conv_transpose_full_len, conv_transpose_out_len};
use runtime::ops::SliceAxis;
use runtime::DType;

type R<T> = Result<T, String>;

fn show(t: &TensorType) -> String {
    t.to_string()
}

fn ints(op: &Op, name: &str) -> R<Vec<i64>> {
    match op.attr(name) {
        Some(Attr::Ints(v)) => Ok(v.clone()),
        Some(a) => Err(format!(
            "attribute `{name}` must be a list of integers, got {a}"
        )),
        None => Err(format!("attribute `{name}` is required")),
    }
}

fn usizes(op: &Op, name: &str, len: usize) -> R<Vec<usize>> {
    let v = ints(op, name)?;
    if v.len() != len {
        return Err(format!(
            "attribute `{name}` must have {len} entries, got {}",
            v.len()
        ));
    }
    v.iter()
        .map(|&x| {
            usize::try_from(x)
                .map_err(|_| format!("attribute `{name}` must not be negative, got {x}"))
        })
        .collect()
}

fn int(op: &Op, name: &str) -> R<i64> {
    op.int(name)
        .ok_or_else(|| format!("attribute `{name}` is required"))
}

fn axis(op: &Op, name: &str, rank: usize) -> R<usize> {
    let a = int(op, name)?;
    usize::try_from(a)
        .ok()
        .filter(|&a| a < rank)
        .ok_or_else(|| format!("attribute `{name}` = {a} is out of range for rank {rank}"))
}

fn expect_rank(what: &str, t: &TensorType, rank: usize) -> R<()> {
    if t.rank() != rank {
        return Err(format!(
            "operand `{what}` must have rank {rank}, got {}",
            show(t)
        ));
    }
    Ok(())
}

fn expect_float(what: &str, t: &TensorType) -> R<()> {
    if !t.elem.is_float() {
        return Err(format!("operand `{what}` must be f32, got {}", show(t)));
    }
    Ok(())
}

/// The output size of a sliding window along one axis. With `ceil`, the last window must still
/// start inside the input or its leading padding (ONNX Runtime and PyTorch agree on this).
fn window_out(
    input: usize,
    pads: [usize; 2],
    kernel: usize,
    stride: usize,
    dilation: usize,
    ceil: bool,
) -> R<usize> {
    let eff = dilation * (kernel - 1) + 1;
    let padded = input + pads[0] + pads[1];
    if padded < eff {
        return Err(format!(
            "a window of effective size {eff} does not fit the padded input size {padded}"
        ));
    }
    let span = padded - eff;
    let mut out = if ceil {
        span.div_ceil(stride)
    } else {
        span / stride
    } + 1;
    if ceil && out > 1 && (out - 1) * stride >= input + pads[0] {
        out -= 1;
    }
    Ok(out)
}

fn spatial(
    x: &TensorType,
    kernel: [usize; 2],
    strides: &[usize],
    pads: &[usize],
    dilations: &[usize],
    ceil: bool,
) -> R<[usize; 2]> {
    let mut out = [0; 2];
    for i in 0..2 {
        if strides[i] == 0 || dilations[i] == 0 || kernel[i] == 0 {
            return Err("strides, dilations and kernel sizes must be positive".into());
        }
        out[i] = window_out(
            x.shape[2 + i],
            [pads[i], pads[i + 2]],
            kernel[i],
            strides[i],
            dilations[i],
            ceil,
        )?;
    }
    Ok(out)
}

/// Numpy broadcasting of two shapes.
/// A `slice`'s attributes resolved against its input shape: one [`SliceAxis`] per axis (the
/// whole axis where none is given), or why they are not normalized bounds.
pub fn slice_axes(op: &Op, shape: &[usize]) -> R<Vec<SliceAxis>> {
    let axes = ints(op, "axes")?;
    let (starts, ends, steps) = (ints(op, "starts")?, ints(op, "ends")?, ints(op, "steps")?);
    if starts.len() != axes.len() || ends.len() != axes.len() || steps.len() != axes.len() {
        return Err(format!(
            "attributes `axes`, `starts`, `ends` and `steps` must have one entry per sliced axis, got {}, {}, {} and {}",
            axes.len(),
            starts.len(),
            ends.len(),
            steps.len()
        ));
    }
    let mut out: Vec<SliceAxis> = shape.iter().map(|&d| SliceAxis::full(d)).collect();
    let mut prev = -1;
    for (i, &a) in axes.iter().enumerate() {
        if a <= prev || a >= shape.len() as i64 {
            return Err(format!(
                "attribute `axes` = {axes:?} must be ascending axes of {}",
                fmt_shape(shape)
            ));
        }
        prev = a;
        let d = shape[a as usize];
        let s = SliceAxis::new(d, starts[i], ends[i], steps[i]).ok_or_else(|| {
            format!(
                "slice bounds {}..{} by {} are not normalized for axis {a} of {} (length {d})",
                starts[i],
                ends[i],
                steps[i],
                fmt_shape(shape)
            )
        })?;
        if s.len == 0 {
            return Err(format!(
                "slice {}..{} by {} selects nothing along axis {a} of {}",
                starts[i],
                ends[i],
                steps[i],
                fmt_shape(shape)
            ));
        }
        out[a as usize] = s;
    }
    Ok(out)
}

pub fn broadcast(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let da = if i + a.len() >= n {
            a[i + a.len() - n]
        } else {
            1
        };
        let db = if i + b.len() >= n {
            b[i + b.len() - n]
        } else {
            1
        };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    Some(out)
}

fn same_shape_f32(x: &TensorType) -> R<TensorType> {
    expect_float("x", x)?;
    Ok(x.clone())
}

/// The type of `op` applied to operands of the given types. The caller has checked the operand
/// count against the schema; attributes have their defaults filled in.
pub fn infer(op: &Op, operands: &[&TensorType]) -> R<TensorType> {
    use OpKind::*;
    let x = operands
        .first()
        .copied()
        .ok_or("an op needs at least one operand")?;
    if let Some(t) = super::infer_data::infer_data(op, operands) {
        return t;
    }
    match op.kind {
        Conv2d => {
            let w = operands[1];
            expect_rank("x", x, 4)?;
            expect_rank("w", w, 4)?;
            expect_float("x", x)?;
            let groups = usize::try_from(int(op, "groups")?)
                .ok()
                .filter(|&g| g > 0)
                .ok_or("attribute `groups` must be positive")?;
            let (n, c) = (x.shape[0], x.shape[1]);
            let o = w.shape[0];
            if !c.is_multiple_of(groups) || !o.is_multiple_of(groups) {
                return Err(format!("groups = {groups} must divide the input channels ({c}) and the output channels ({o})"));
            }
            if w.shape[1] * groups != c {
                return Err(format!(
                    "operand `w` has shape {} but `x` ({}) has {c} channels: with groups = {groups} the weight's axis 1 must be {}",
                    fmt_shape(&w.shape), show(x), c / groups
                ));
            }
            if let Some(b) = operands.get(2) {
                if b.shape != [o] {
                    return Err(format!(
                        "operand `b` must have shape {o} (the output channels), got {}",
                        show(b)
                    ));
                }
            }
            let hw = spatial(
                x,
                [w.shape[2], w.shape[3]],
                &usizes(op, "strides", 2)?,
                &usizes(op, "pads", 4)?,
                &usizes(op, "dilations", 2)?,
                false,
            )?;
            Ok(TensorType::f32(vec![n, o, hw[0], hw[1]]))
        }
        ConvTranspose2d => {
            let w = operands[1];
            expect_rank("x", x, 4)?;
            expect_rank("w", w, 4)?;
            expect_float("x", x)?;
            let groups = usize::try_from(int(op, "groups")?)
                .ok()
                .filter(|&g| g > 0)
                .ok_or("attribute `groups` must be positive")?;
            let c = x.shape[1];
            if w.shape[0] != c || c % groups != 0 {
                return Err(format!(
                    "operand `w` has shape {} but `x` ({}) has {c} channels: a transposed convolution's weight is [in, out/groups, kh, kw]",
                    fmt_shape(&w.shape), show(x)
                ));
            }
            if x.shape[2..].contains(&0) {
                return Err(format!(
                    "operand `x` ({}) has an empty spatial axis",
                    show(x)
                ));
            }
            let o = w.shape[1] * groups;
            if let Some(b) = operands.get(2) {
                if b.shape != [o] {
                    return Err(format!(
                        "operand `b` must have shape {o} (the output channels), got {}",
                        show(b)
                    ));
                }
            }
            let s = usizes(op, "strides", 2)?;
            let p = usizes(op, "pads", 4)?;
            let d = usizes(op, "dilations", 2)?;
            let op_ = usizes(op, "output_padding", 2)?;
            let mut hw = [0; 2];
            for i in 0..2 {
                if s[i] == 0 || d[i] == 0 {
                    return Err("strides and dilations must be positive".into());
                }
                let (len, k) = (x.shape[2 + i], w.shape[2 + i]);
                let full = conv_transpose_full_len(len, k, s[i], d[i], op_[i])
                    .ok_or_else(|| format!("input length {len} and kernel {k} give no output"))?;
                hw[i] = conv_transpose_out_len(len, k, s[i], (p[i], p[i + 2]), d[i], op_[i])
                    .ok_or_else(|| {
                        format!("pads {:?} remove the whole output (full size {full})", p)
                    })?;
            }
            Ok(TensorType::f32(vec![x.shape[0], o, hw[0], hw[1]]))
        }
        BatchNorm => {
            expect_float("x", x)?;
            if x.rank() < 2 {
                return Err(format!("operand `x` must have rank ≥ 2, got {}", show(x)));
            }
            let c = x.shape[1];
            for (i, name) in ["gamma", "beta", "mean", "var"].iter().enumerate() {
                let t = operands[i + 1];
                if t.shape != [c] {
                    return Err(format!(
                        "operand `{name}` must have shape {c} (the channels of {}), got {}",
                        show(x),
                        show(t)
                    ));
                }
            }
            Ok(x.clone())
        }
        Unary => {
            unary_fn(op)?;
            same_shape_f32(x)
        }
        Relu | Clip | LeakyRelu | Sigmoid | HardSigmoid | HardSwish | Softmax => {
            if op.kind == Softmax {
                axis(op, "axis", x.rank())?;
            }
            if op.kind == Relu && !x.elem.is_float() {
                return Ok(x.clone());
            }
            same_shape_f32(x)
        }
        Add | Sub | Mul | Div | Max | Min => {
            let (a, b) = (operands[0], operands[1]);
            if matches!(op.kind, Add | Sub | Mul | Div) && !a.elem.is_float() && a.elem == b.elem {
                return super::infer_data::arith(a, b);
            }
            // Max and min also take codes at one shared set of per-tensor parameters.
            let codes = matches!(op.kind, Max | Min) && !a.elem.is_float();
            if codes {
                per_tensor_codes("a", a)?;
                if b.elem != a.elem {
                    return Err(format!(
                        "operand `b` ({}) must have the element type of `a` ({})",
                        show(b),
                        show(a)
                    ));
                }
            } else {
                expect_float("a", a)?;
                expect_float("b", b)?;
            }
            let shape = broadcast(&a.shape, &b.shape).ok_or_else(|| {
                format!(
                    "operands `a` ({}) and `b` ({}) do not broadcast",
                    show(a),
                    show(b)
                )
            })?;
            Ok(TensorType::new(shape, a.elem.clone()))
        }
        MaxPool | AvgPool => {
            expect_rank("x", x, 4)?;
            let k = usizes(op, "kernel_shape", 2)?;
            let d = if op.kind == MaxPool {
                usizes(op, "dilations", 2)?
            } else {
                vec![1, 1]
            };
            let hw = spatial(
                x,
                [k[0], k[1]],
                &usizes(op, "strides", 2)?,
                &usizes(op, "pads", 4)?,
                &d,
                op.bool_of("ceil_mode")?,
            )?;
            if op.kind == AvgPool {
                expect_float("x", x)?;
            }
            Ok(TensorType::new(
                vec![x.shape[0], x.shape[1], hw[0], hw[1]],
                x.elem.clone(),
            ))
        }
        Resize => {
            expect_rank("x", x, 4)?;
            let p = resize_params(op)?;
            let storage = x.elem.storage();
            if p.mode == runtime::ops::ResizeMode::Linear
                && !matches!(storage, DType::F32 | DType::U8 | DType::I8)
            {
                return Err(format!(
                    "bilinear resize needs f32, u8 or i8 elements, got {}",
                    show(x)
                ));
            }
            if x.shape[2] == 0 || x.shape[3] == 0 {
                return Err(format!("operand `x` has an empty image: {}", show(x)));
            }
            Ok(TensorType::new(
                vec![x.shape[0], x.shape[1], p.out[0], p.out[1]],
                x.elem.clone(),
            ))
        }
        GlobalAvgPool => {
            expect_float("x", x)?;
            if x.rank() < 3 {
                return Err(format!("operand `x` must have rank ≥ 3, got {}", show(x)));
            }
            let mut s = x.shape.clone();
            s[2..].iter_mut().for_each(|d| *d = 1);
            Ok(TensorType::f32(s))
        }
        ReduceMean | Reduce => {
            use runtime::ops::ReduceFn;
            let codes = op.kind == Reduce
                && matches!(reduce_fn(op)?, ReduceFn::Max | ReduceFn::Min)
                && !x.elem.is_float();
            if codes {
                per_tensor_codes("x", x)?;
            } else {
                expect_float("x", x)?;
            }
            let axes = ints(op, "axes")?;
            let keep = op.bool_of("keepdims")?;
            // No axes: every axis, as the interpreter and the kernels read it.
            let mut seen = vec![axes.is_empty(); x.rank()];
            for &a in &axes {
                let a = usize::try_from(a)
                    .ok()
                    .filter(|&a| a < x.rank())
                    .ok_or_else(|| format!("axis {a} is out of range for {}", show(x)))?;
                if std::mem::replace(&mut seen[a], true) {
                    return Err(format!("axis {a} is listed twice"));
                }
            }
            let shape = (0..x.rank())
                .filter_map(|i| {
                    if seen[i] {
                        keep.then_some(1)
                    } else {
                        Some(x.shape[i])
                    }
                })
                .collect::<Vec<_>>();
            Ok(TensorType::new(shape, x.elem.clone()))
        }
        Normalize => {
            expect_float("x", x)?;
            let a = int(op, "axis")?;
            if !usize::try_from(a).is_ok_and(|a| a <= x.rank()) {
                return Err(format!("axis {a} is out of range for {}", show(x)));
            }
            Ok(x.clone())
        }
        Flatten => {
            let a = int(op, "axis")?;
            let a = usize::try_from(a)
                .ok()
                .filter(|&a| a <= x.rank())
                .ok_or_else(|| format!("axis {a} is out of range for {}", show(x)))?;
            let outer: usize = x.shape[..a].iter().product();
            let inner: usize = x.shape[a..].iter().product();
            Ok(TensorType::new(vec![outer, inner], x.elem.clone()))
        }
        Reshape => {
            let shape = ints(op, "shape")?;
            let shape: Vec<usize> = shape
                .iter()
                .map(|&d| {
                    usize::try_from(d)
                        .map_err(|_| format!("attribute `shape` must be fully resolved (no {d})"))
                })
                .collect::<R<_>>()?;
            let n: usize = shape.iter().product();
            if n != x.numel() {
                return Err(format!(
                    "cannot reshape {} ({} elements) to {} ({n} elements)",
                    show(x),
                    x.numel(),
                    fmt_shape(&shape)
                ));
            }
            Ok(TensorType::new(shape, x.elem.clone()))
        }
        Squeeze => {
            let axes = ints(op, "axes")?;
            let mut drop = vec![false; x.rank()];
            for &a in &axes {
                let i = usize::try_from(a)
                    .ok()
                    .filter(|&i| i < x.rank())
                    .ok_or_else(|| format!("axis {a} is out of range for {}", show(x)))?;
                if x.shape[i] != 1 {
                    return Err(format!(
                        "axis {a} of {} has size {}, not 1",
                        show(x),
                        x.shape[i]
                    ));
                }
                drop[i] = true;
            }
            let shape = (0..x.rank())
                .filter(|&i| !drop[i])
                .map(|i| x.shape[i])
                .collect::<Vec<_>>();
            Ok(TensorType::new(shape, x.elem.clone()))
        }
        Unsqueeze => {
            let axes = ints(op, "axes")?;
            let rank = x.rank() + axes.len();
            let mut new = vec![false; rank];
            for &a in &axes {
                let i = usize::try_from(a)
                    .ok()
                    .filter(|&i| i < rank)
                    .ok_or_else(|| {
                        format!("axis {a} is out of range for the output rank {rank}")
                    })?;
                if std::mem::replace(&mut new[i], true) {
                    return Err(format!("axis {a} is listed twice"));
                }
            }
            let mut it = x.shape.iter();
            let shape = (0..rank)
                .map(|i| if new[i] { 1 } else { *it.next().unwrap_or(&1) })
                .collect::<Vec<_>>();
            Ok(TensorType::new(shape, x.elem.clone()))
        }
        Transpose => {
            let perm = usizes(op, "perm", x.rank())?;
            let mut seen = vec![false; x.rank()];
            for &p in &perm {
                if p >= x.rank() || std::mem::replace(&mut seen[p], true) {
                    return Err(format!(
                        "attribute `perm` = {perm:?} is not a permutation of 0..{}",
                        x.rank()
                    ));
                }
            }
            Ok(TensorType::new(
                perm.iter().map(|&p| x.shape[p]).collect::<Vec<_>>(),
                x.elem.clone(),
            ))
        }
        Slice => {
            let axes = slice_axes(op, &x.shape)?;
            Ok(TensorType::new(
                axes.iter().map(|a| a.len).collect::<Vec<_>>(),
                x.elem.clone(),
            ))
        }
        Concat => {
            let a = axis(op, "axis", x.rank())?;
            let mut shape = x.shape.clone();
            for (i, t) in operands.iter().enumerate().skip(1) {
                let same_rest = t.rank() == x.rank()
                    && (0..x.rank()).all(|d| d == a || t.shape[d] == x.shape[d]);
                if !same_rest || t.elem != x.elem {
                    return Err(format!(
                        "operand {i} ({}) does not match operand 0 ({}) outside axis {a}",
                        show(t),
                        show(x)
                    ));
                }
                shape[a] += t.shape[a];
            }
            Ok(TensorType::new(shape, x.elem.clone()))
        }
        Pad => {
            let pads = usizes(op, "pads", 2 * x.rank())?;
            if let Some(Attr::Floats(v)) = op.attr("channel_values") {
                if x.rank() < 2 || v.len() != x.shape[1] || !x.elem.is_float() {
                    return Err(format!("attribute `channel_values` needs one value per channel (axis 1) of an f32 {}, got {}", show(x), v.len()));
                }
            }
            let shape = (0..x.rank())
                .map(|i| x.shape[i] + pads[i] + pads[i + x.rank()])
                .collect::<Vec<_>>();
            Ok(TensorType::new(shape, x.elem.clone()))
        }
        Gemm => {
            let (a, b) = (operands[0], operands[1]);
            expect_rank("a", a, 2)?;
            expect_rank("b", b, 2)?;
            expect_float("a", a)?;
            expect_float("b", b)?;
            let (m, k) = if op.bool_of("trans_a")? {
                (a.shape[1], a.shape[0])
            } else {
                (a.shape[0], a.shape[1])
            };
            let (k2, n) = if op.bool_of("trans_b")? {
                (b.shape[1], b.shape[0])
            } else {
                (b.shape[0], b.shape[1])
            };
            if k != k2 {
                return Err(format!(
                    "inner dimensions differ: op(a) is {m}x{k} ({}), op(b) is {k2}x{n} ({})",
                    show(a),
                    show(b)
                ));
            }
            if let Some(c) = operands.get(2) {
                if broadcast(&c.shape, &[m, n]).as_deref() != Some(&[m, n][..]) {
                    return Err(format!(
                        "operand `c` ({}) does not broadcast to {m}x{n}",
                        show(c)
                    ));
                }
            }
            Ok(TensorType::f32(vec![m, n]))
        }
        MatMul => {
            let (a, b) = (operands[0], operands[1]);
            expect_float("a", a)?;
            expect_float("b", b)?;
            if a.rank() == 0 || b.rank() == 0 {
                return Err("matmul operands must have rank ≥ 1".into());
            }
            let a2 = if a.rank() == 1 {
                vec![1, a.shape[0]]
            } else {
                a.shape.clone()
            };
            let b2 = if b.rank() == 1 {
                vec![b.shape[0], 1]
            } else {
                b.shape.clone()
            };
            let (m, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
            let (k2, n) = (b2[b2.len() - 2], b2[b2.len() - 1]);
            if k != k2 {
                return Err(format!(
                    "inner dimensions differ: `a` is {} and `b` is {}",
                    show(a),
                    show(b)
                ));
            }
            let batch = broadcast(&a2[..a2.len() - 2], &b2[..b2.len() - 2]).ok_or_else(|| {
                format!(
                    "batch dimensions of `a` ({}) and `b` ({}) do not broadcast",
                    show(a),
                    show(b)
                )
            })?;
            let mut shape = batch;
            if a.rank() > 1 {
                shape.push(m);
            }
            if b.rank() > 1 {
                shape.push(n);
            }
            Ok(TensorType::f32(shape))
        }
        Attention => super::attention::infer(op, operands),
        NllLoss => super::loss::infer(op, operands),
        Cast | Compare | Logic | Not | Where | Mod | ArgMax | ArgMin | Gather | GatherElements
        | Expand => {
            unreachable!("infer_data answered")
        }
        Family(f) => f.def().infer(op, operands),
        Quantize | Dequantize | Requantize | QConv2d | QConvTranspose2d | QGemm | QAdd | QMul
        | QMatMul | QSoftmax | QAvgPool | QGlobalAvgPool | Lut => Err(format!(
            "the result type of {} is declared, not inferred",
            op.kind.name()
        )),
    }
}

/// Checks a declared quantize/dequantize result type against its operand.
pub fn check_quant(op: &Op, operand: &TensorType, declared: &TensorType) -> R<()> {
    if operand.shape != declared.shape {
        return Err(format!(
            "{} keeps the shape: operand is {}, result declared {}",
            op.kind.name(),
            operand,
            declared
        ));
    }
    let (from, to) = (&operand.elem, &declared.elem);
    let q = match op.kind {
        OpKind::Quantize if from.is_float() => to.quant(),
        OpKind::Dequantize if to.is_float() => from.quant(),
        _ => None,
    };
    let q = q.ok_or_else(|| match op.kind {
        OpKind::Quantize => format!(
            "quantize takes f32 to a quantized type, not {} to {}",
            from, to
        ),
        _ => format!(
            "dequantize takes a quantized type to f32, not {} to {}",
            from, to
        ),
    })?;
    if let Some(a) = q.axis {
        let n = operand
            .shape
            .get(a)
            .copied()
            .ok_or_else(|| format!("quantization axis {a} is out of range for {operand}"))?;
        if q.scales.len() != n {
            return Err(format!(
                "per-axis quantization along axis {a} needs {n} scales, the type has {}",
                q.scales.len()
            ));
        }
    }
    Ok(())
}

/// The resize an op describes: its mode names resolved, `scales` and `size` checked (two
/// positive entries each).
pub fn resize_params(op: &Op) -> R<runtime::ops::ResizeParams> {
    use runtime::ops::{CoordMode, NearestMode, ResizeMode};
    fn named<T>(op: &Op, attr: &str, names: &[&str], parse: fn(&str) -> Option<T>) -> R<T> {
        let v = op
            .str(attr)
            .ok_or_else(|| format!("attribute `{attr}` is required"))?;
        parse(v).ok_or_else(|| {
            format!(
                "attribute `{attr}` = {v:?} is not one of {}",
                names.join(", ")
            )
        })
    }
    let mode = named(op, "mode", ResizeMode::NAMES, ResizeMode::from_name)?;
    let coord = named(
        op,
        "coordinate_transformation_mode",
        CoordMode::NAMES,
        CoordMode::from_name,
    )?;
    let nearest = named(
        op,
        "nearest_mode",
        NearestMode::NAMES,
        NearestMode::from_name,
    )?;
    let scales = match op.floats("scales") {
        Some(&[h, w]) if h > 0.0 && w > 0.0 && h.is_finite() && w.is_finite() => [h, w],
        Some(v) => {
            return Err(format!(
                "attribute `scales` must be two positive finite floats, got {v:?}"
            ))
        }
        None => return Err("attribute `scales` is required".into()),
    };
    let size = usizes(op, "size", 2)?;
    if size.contains(&0) {
        return Err(format!("attribute `size` must be positive, got {size:?}"));
    }
    Ok(runtime::ops::ResizeParams {
        mode,
        coord,
        nearest,
        scales,
        out: [size[0], size[1]],
    })
}

/// The type the verifier expects for a node: inferred, except for the ops that declare their
/// result (its quantization parameters); those are checked against their float analog's shape.
pub fn expected_type(op: &Op, operands: &[&TensorType], declared: &TensorType) -> R<TensorType> {
    match op.kind {
        OpKind::Quantize | OpKind::Dequantize => {
            let x = operands.first().ok_or("missing operand")?;
            check_quant(op, x, declared)?;
            Ok(declared.clone())
        }
        k if k.declares_result() => {
            if let Some((i, t)) = operands
                .iter()
                .enumerate()
                .find(|(_, t)| t.elem.quant().is_none())
            {
                return Err(format!(
                    "{} takes quantized operands, operand {i} is {t}",
                    k.name()
                ));
            }
            if declared.elem.is_float() {
                return Err(format!(
                    "{} produces a quantized type, not {declared}",
                    k.name()
                ));
            }
            let shape = result_shape(op, operands)?;
            if shape != declared.shape {
                return Err(format!(
                    "{} produces shape {} but {declared} is declared",
                    k.name(),
                    fmt_shape(&shape)
                ));
            }
            if k == OpKind::Lut {
                let n = op.ints_of("table")?.len();
                if n != 256 {
                    return Err(format!("a lookup table has 256 entries, this one {n}"));
                }
            }
            Ok(declared.clone())
        }
        _ => infer(op, operands),
    }
}

/// The shape an op that declares its result produces: its float analog's, or its operand's.
pub fn result_shape(op: &Op, operands: &[&TensorType]) -> R<Vec<usize>> {
    match op.kind.float_analog() {
        Some(f) => {
            let as_float: Vec<TensorType> = operands
                .iter()
                .map(|t| TensorType::f32(t.shape.clone()))
                .collect();
            let refs: Vec<&TensorType> = as_float.iter().collect();
            let analog = Op {
                kind: f,
                attrs: f.schema().with_defaults(&float_attrs(op, f)),
            };
            Ok(infer(&analog, &refs)?.shape)
        }
        None => Ok(operands.first().ok_or("missing operand")?.shape.clone()),
    }
}

/// The attributes of an integer op that its float analog understands.
fn float_attrs(op: &Op, analog: OpKind) -> crate::ir::attr::Attrs {
    let schema = analog.schema();
    op.attrs
        .iter()
        .filter(|(k, _)| schema.attr(k).is_some())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The function of a `unary` op and its parameters (defaults filled in), or why they are wrong.
pub fn unary_fn(op: &Op) -> Result<(runtime::ops::UnaryFn, Vec<f32>), String> {
    let name = match op.attr("fn") {
        Some(Attr::Str(s)) => s.as_str(),
        _ => return Err("unary needs a string attribute `fn`".into()),
    };
    let f = runtime::ops::UnaryFn::from_name(name).ok_or_else(|| {
        let known: Vec<&str> = runtime::ops::UNARY_FNS.iter().map(|d| d.name).collect();
        format!(
            "unknown unary function `{name}`; known: {}",
            known.join(", ")
        )
    })?;
    let given: &[f32] = match op.attr("params") {
        Some(Attr::Floats(v)) => v,
        _ => &[],
    };
    Ok((f, f.params(given)?))
}

/// Codes quantized per tensor (u8 or i8), the operands max/min and reduce max/min accept.
fn per_tensor_codes(name: &str, t: &TensorType) -> Result<(), String> {
    match t.elem.quant() {
        Some(q) if q.axis.is_none() && matches!(t.elem.storage(), DType::U8 | DType::I8) => Ok(()),
        _ => Err(format!(
            "operand `{name}` must be f32 or u8/i8 codes quantized per tensor, got {}",
            show(t)
        )),
    }
}

/// The function of a `reduce` op, or why its `fn` is not one.
pub fn reduce_fn(op: &Op) -> Result<runtime::ops::ReduceFn, String> {
    let name = match op.attr("fn") {
        Some(Attr::Str(s)) => s.as_str(),
        _ => return Err("reduce needs a string attribute `fn`".into()),
    };
    runtime::ops::ReduceFn::from_name(name).ok_or_else(|| {
        let known: Vec<&str> = runtime::ops::ReduceFn::ALL
            .iter()
            .map(|(_, n)| *n)
            .collect();
        format!(
            "unknown reduce function `{name}`; known: {}",
            known.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::attr::Attrs;

    fn slice(axes: &[i64], starts: &[i64], ends: &[i64], steps: &[i64]) -> Op {
        let list = |v: &[i64]| Attr::Ints(v.to_vec());
        let a: Attrs = [
            ("axes", list(axes)),
            ("starts", list(starts)),
            ("ends", list(ends)),
            ("steps", list(steps)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        Op::new(OpKind::Slice, a)
    }

    #[test]
    fn slice_shapes_and_refusals() {
        let x = TensorType::f32(vec![1, 3, 4, 4]);
        let shape = |op: &Op| infer(op, &[&x]).map(|t| t.shape);
        // Rows 3, 1 (down to "past 0"), columns 0 and 3.
        let ok = slice(&[2, 3], &[3, 0], &[-1, 4], &[-2, 3]);
        assert_eq!(shape(&ok), Ok(vec![1, 3, 2, 2]));
        let refused = [
            (slice(&[3], &[0], &[5], &[1]), "not normalized for axis 3"),
            (slice(&[2], &[0], &[2], &[0]), "by 0 are not normalized"),
            (
                slice(&[1], &[2], &[1], &[1]),
                "selects nothing along axis 1",
            ),
            (
                slice(&[3, 2], &[0, 0], &[2, 2], &[1, 1]),
                "must be ascending",
            ),
            (
                slice(&[2], &[0, 1], &[2], &[1]),
                "one entry per sliced axis",
            ),
        ];
        for (op, why) in refused {
            let e = shape(&op).expect_err(why);
            assert!(e.contains(why), "{e} does not say {why}");
            assert!(
                e.contains("1x3x4x4") || why.contains("entry"),
                "{e} names no shape"
            );
        }
    }
}
