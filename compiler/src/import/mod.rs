//! ONNX import: an `.onnx` protobuf becomes an [`ir::Model`](crate::ir::Model) with weights
//! loaded, every node typed, names made IR identifiers, and shape subgraphs folded away.
//!
//! Before: any bytes. After: either a model that passes the verifier, whose shapes are all
//! static, whose axes are non-negative and whose pads are explicit; or an error sentence naming
//! the node, tensor or input at fault. Nothing in between panics.
//!
//! How it works: ONNX value names map to graph nodes or to constants (`context.rs`). Constants
//! (initializers, `Constant`, and whatever the folding ops compute from them) stay out of the
//! graph until an IR op uses one, when it becomes a weight named after its ONNX value: so int64
//! shape arithmetic folds away, and only the int64 and bool values a model computes at run time
//! (indices, masks) reach the IR.
//!
//! Opset notes (opsets 6 to 28 of the default domain; other domains may be declared beside it):
//! - Add/Sub/Mul/Div before 7: `broadcast`/`axis` alignment becomes numpy's by unsqueezing.
//! - Clip: `min`/`max` attributes before 11, constant inputs from 11; a missing bound is none.
//! - Pad: `pads`/`value` attributes before 11, constant inputs from 11, `axes` input from 18;
//!   constant mode only, no negative pads.
//! - Squeeze/Unsqueeze: `axes` attribute before 13, constant input from 13.
//! - Reduce*: `axes` attribute before 18 (ReduceSum: 13), constant input and
//!   `noop_with_empty_axes` from then on. ReduceProd of a constant folds (any opset).
//! - Softmax, LogSoftmax: before 13 they coerce to 2-D at `axis` (default 1): flatten →
//!   normalise → reshape unless `axis` is the last; from 13 one axis (default −1).
//! - Conv, MaxPool, AveragePool on `[N, C, L]`: lifted to 2-D over a height of 1 (`ops/lift.rs`).
//! - GroupNormalization: scale and bias per group at 18, per channel from 21.
//! - Slice: attributes before 10, constant inputs from 10. Shape: `start`/`end` from 15.
//! - QuantizeLinear/DequantizeLinear: per tensor or per axis (`axis` from 13), u8/i8/i32,
//!   constant scale and zero point; `block_size` (21) must be 0.
//! - Folded on constants only: Shape, Size, Slice, ConstantOfShape, Range, ReduceProd
//!   (axes input from 18; on run-time data it is a `reduce`). Folded when every input is
//!   constant, run-time IR ops otherwise: Gather, Expand (its shape input constant), Cast,
//!   CastLike, Equal, Less, Greater, LessOrEqual, GreaterOrEqual, Not, And, Or, Xor, Where, Mod,
//!   and Add, Sub, Mul, Div, Concat, Reshape, Flatten, Squeeze, Unsqueeze, Transpose. ArgMax and
//!   ArgMin always run.
//! - Dropout: `training_mode` (12+) must be absent or a constant false.
//! - Vanish: Identity, Dropout (its mask output cannot be used).
//! - Graph inputs: a symbolic or missing batch size (axis 0) imports as 1; a declared 0 anywhere
//!   is refused (qcc holds no empty tensors), not taken for a symbolic batch.

mod constant;
pub use constant::MAX_FOLDED_ELEMENTS;
mod constant_logic;
pub(crate) mod context;
mod framing;
pub mod names;
pub(crate) mod node;
mod ops;
mod tensor;

pub(crate) use ops::{logic_onnx_op, reduce_onnx_op, unary_onnx_op};
pub(crate) use tensor::dtype;

pub use names::sanitize;

use crate::diag::{Error, IoContext, Result};
use crate::ir::verify::verify_or_error;
use crate::ir::{ElemType, Model, NodeKind, TensorType, WeightData};
use context::{check_shape, Importer, Val};
use node::OnnxNode;
use onnx_protobuf::tensor_shape_proto::dimension::Value as Dim;
use onnx_protobuf::type_proto::Value as TypeValue;
use onnx_protobuf::{Message, ModelProto, TensorShapeProto, ValueInfoProto};
use std::collections::BTreeMap;
use std::path::Path;

/// The default-domain opsets qcc reads. Older ones predate the forms the converters know. Opsets
/// 22 to 28 (the newest onnx 1.23 knows) only widened the element types of the ops qcc imports,
/// besides three attributes the converters check: DequantizeLinear's `output_dtype` (23) and
/// QuantizeLinear's `precision` (23) must leave the float type alone, and Cast's `round_mode`
/// (24) applies to float8 only, which qcc never casts to.
pub const OPSETS: std::ops::RangeInclusive<i64> = 6..=28;

/// The ONNX ops qcc imports, in alphabetical order.
pub fn supported_ops() -> impl Iterator<Item = &'static str> {
    let mut all: Vec<&'static str> = ops::SUPPORTED.iter().map(|(name, _)| *name).collect();
    all.extend(ops::unary_onnx_names());
    all.extend(
        crate::ops::FAMILIES
            .iter()
            .flat_map(|f| f.onnx_ops().iter().copied()),
    );
    all.sort_unstable();
    all.into_iter()
}

/// Whether `import/ops` converts ONNX op `op_type` itself (not through an op family).
pub fn imports_builtin(op_type: &str) -> bool {
    ops::SUPPORTED.iter().any(|(name, _)| *name == op_type)
        || ops::unary_onnx_names().any(|name| name == op_type)
}

/// Shapes for graph inputs whose ONNX shape leaves dimensions open (a detector or an OCR model
/// exported for any image size has `N×3×H×W`): qcc compiles for one shape, so the caller fixes
/// them. Given shapes must agree with every static dimension; sample shapes only fill the open
/// ones.
#[derive(Clone, Debug, Default)]
pub struct InputShapes {
    /// Whole shapes by input name (`--input-shape NAME=1x3x640x640`); the empty name stands for
    /// a model's only input.
    pub given: BTreeMap<String, Vec<usize>>,
    /// The shapes of calibration arrays by input name (the empty name: the only input): either
    /// `[samples, …one input…]` or samples stacked along the batch axis, `[samples, C, H, W]`.
    pub samples: BTreeMap<String, Vec<usize>>,
}

/// Imports the ONNX model in `path`; external tensor data is read from beside it.
pub fn import_file(path: &Path) -> Result<Model> {
    import_file_with(path, &InputShapes::default())
}

/// [`import_file`] with the shapes of inputs whose dimensions the model leaves open.
pub fn import_file_with(path: &Path, shapes: &InputShapes) -> Result<Model> {
    let bytes = crate::readin::read_input(path).at(path)?;
    import(&bytes, &path.display().to_string(), path.parent(), shapes)
}

/// Imports an ONNX model from memory; `origin` names it in messages and gives the model its name
/// (its file stem).
pub fn import_bytes(bytes: &[u8], origin: &str) -> Result<Model> {
    import(bytes, origin, None, &InputShapes::default())
}

/// [`import_bytes`] with the shapes of inputs whose dimensions the model leaves open.
pub fn import_bytes_with(bytes: &[u8], origin: &str, shapes: &InputShapes) -> Result<Model> {
    import(bytes, origin, None, shapes)
}

fn import(
    bytes: &[u8],
    origin: &str,
    base_dir: Option<&Path>,
    shapes: &InputShapes,
) -> Result<Model> {
    let not_onnx = |why: String| Error::msg(format!("{origin} is not an ONNX model: {why}"));
    if bytes.is_empty() {
        return Err(not_onnx("it is empty".into()));
    }
    framing::check(bytes).map_err(not_onnx)?;
    let proto = ModelProto::parse_from_bytes(bytes)
        .map_err(|e| not_onnx(format!("it does not parse as a protobuf ({e})")))?;
    if proto.ir_version <= 0 {
        return Err(not_onnx("it has no IR version".into()));
    }
    let graph = proto
        .graph
        .as_ref()
        .ok_or_else(|| not_onnx("it has no graph".into()))?;
    let opset = default_opset(&proto, graph, origin)?;
    if !OPSETS.contains(&opset) {
        return Err(Error::msg(format!(
            "{origin} uses ONNX opset {opset}; qcc imports opsets {} to {}",
            OPSETS.start(),
            OPSETS.end()
        )));
    }

    let stem = Path::new(origin)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut cx = Importer::new(Model::new(sanitize(&stem)), base_dir);
    let mut seen = std::collections::BTreeSet::new();
    if let Some(t) = graph
        .initializer
        .iter()
        .find(|t| !seen.insert(t.name.as_str()))
    {
        return Err(Error::msg(format!(
            "{origin} has two initializers named `{}`",
            t.name
        )));
    }
    for t in &graph.initializer {
        cx.add_initializer(t);
    }
    for s in &graph.sparse_initializer {
        let name = s
            .values
            .as_ref()
            .map(|v| v.name.as_str())
            .unwrap_or_default();
        cx.define(
            name,
            Val::Unusable(format!(
                "`{name}` is a sparse initializer, which qcc does not import"
            )),
        );
    }
    // Before IR version 4 initializers were listed among the inputs too; they stay constants.
    let inputs: Vec<&ValueInfoProto> = graph
        .input
        .iter()
        .filter(|vi| !cx.is_initializer(&vi.name))
        .collect();
    let names = || {
        inputs
            .iter()
            .map(|vi| format!("`{}`", vi.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    // Sample arrays are only a fallback (their names are the IR's, which may differ): a name
    // that is no input here simply fills nothing.
    for key in shapes.given.keys() {
        if key.is_empty() && inputs.len() != 1 {
            return Err(Error::msg(format!(
                "{origin} has {} inputs ({}): name the one each --input-shape is for (NAME=…)",
                inputs.len(),
                names()
            )));
        }
        if !key.is_empty() && !inputs.iter().any(|vi| &vi.name == key) {
            return Err(Error::msg(format!(
                "--input-shape names `{key}`, which is not an input of {origin} (its inputs: {})",
                names()
            )));
        }
    }
    let single = inputs.len() == 1;
    let lookup = |map: &BTreeMap<String, Vec<usize>>, name: &str| -> Option<Vec<usize>> {
        map.get(name)
            .or_else(|| single.then(|| map.get("")).flatten())
            .cloned()
    };
    for vi in inputs.iter().copied() {
        let ty = input_type(
            vi,
            lookup(&shapes.given, &vi.name).as_deref(),
            lookup(&shapes.samples, &vi.name).as_deref(),
        )?;
        let name = cx.fresh_name(&vi.name);
        let id = cx.model.add_input(name, ty);
        cx.define(&vi.name, Val::Node(id));
    }
    for p in &graph.node {
        // ONNX values are assigned once; a second definition would silently replace the first.
        if let Some(o) = p.output.iter().find(|o| !o.is_empty() && cx.is_defined(o)) {
            return Err(OnnxNode::new(p, opset).fail(format!(
                "defines `{o}`, which an input, an initializer or an earlier node already defines"
            )));
        }
        ops::convert(&mut cx, &OnnxNode::new(p, opset))?;
    }
    let mut seen = std::collections::BTreeSet::new();
    if let Some(o) = graph.output.iter().find(|o| !seen.insert(o.name.as_str())) {
        return Err(Error::msg(format!(
            "{origin} lists graph output `{}` twice",
            o.name
        )));
    }
    if graph.output.is_empty() {
        return Err(Error::msg(format!("{origin} has a graph without outputs")));
    }
    for vi in &graph.output {
        let name = vi.name.as_str();
        let id = match cx.lookup(name) {
            Some(Val::Node(id)) => {
                cx.name_output(id, name);
                id
            }
            Some(Val::Const(c)) => {
                let elem = c
                    .to_tensor()
                    .map(|t| ElemType::from_storage(t.dtype()))
                    .ok_or_else(|| {
                        Error::msg(format!(
                            "graph output `{name}` is a {} constant, which the IR cannot hold",
                            c.ty().name()
                        ))
                    })?;
                cx.weight(name, &c, elem).map_err(|m| {
                    Error::msg(format!("graph output `{name}` cannot be returned: {m}"))
                })?
            }
            Some(Val::Unusable(why)) => {
                return Err(Error::msg(format!(
                    "graph output `{name}` cannot be returned: {why}"
                )))
            }
            None => {
                return Err(Error::msg(format!(
                    "graph output `{name}` is not defined by any node, input or initializer"
                )))
            }
        };
        cx.model.outputs.push(id);
    }

    let mut model = cx.model;
    model.remove_dead();
    let loaded = model
        .graph
        .node_weights()
        .any(|n| matches!(n.kind, NodeKind::Weight(WeightData::Loaded(_))));
    if loaded {
        model.weights_file = Some(format!("{}.safetensors", model.name));
    }
    verify_or_error(&model, None)?;
    Ok(model)
}

/// The version of the default domain (`""` or `ai.onnx`) the model imports. Other domains
/// (`ai.onnx.ml`, ...) may be declared beside it: a node that uses one is refused by name. A model
/// that declares no default domain imports only when none of its nodes needs one (the version
/// then does not matter: the newest is taken).
fn default_opset(
    proto: &ModelProto,
    graph: &onnx_protobuf::GraphProto,
    origin: &str,
) -> Result<i64> {
    if let Some(o) = proto
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
    {
        return Ok(o.version);
    }
    match graph
        .node
        .iter()
        .find(|n| n.domain.is_empty() || n.domain == "ai.onnx")
    {
        None => Ok(*OPSETS.end()),
        Some(n) => {
            let declared: Vec<String> = proto
                .opset_import
                .iter()
                .map(|o| format!("`{}` {}", o.domain, o.version))
                .collect();
            let declared = if declared.is_empty() {
                "none".to_string()
            } else {
                declared.join(", ")
            };
            Err(Error::msg(format!(
                "{origin} does not say which version of the default ONNX operator set it uses, \
                 but its node `{}` ({}) is from it (declared opsets: {declared})",
                if n.name.is_empty() {
                    n.output.first().map(String::as_str).unwrap_or("")
                } else {
                    &n.name
                },
                n.op_type
            )))
        }
    }
}

/// A shape as `--input-shape` writes it: `1x3x640x640`.
fn fmt_dims(s: &[usize]) -> String {
    s.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("x")
}

/// The declared shape with 1 for an open batch and each other open dimension by its name (`?`
/// when it has none): what `--input-shape` wants, with the names to replace.
fn open_example(shape: &TensorShapeProto) -> String {
    shape
        .dim
        .iter()
        .enumerate()
        .map(|(axis, d)| match &d.value {
            Some(Dim::DimValue(v)) if *v > 0 => v.to_string(),
            _ if axis == 0 => "1".to_string(),
            Some(Dim::DimParam(p)) if !p.is_empty() => p.to_uppercase(),
            _ => "?".to_string(),
        })
        .collect::<Vec<_>>()
        .join("x")
}

/// The static type of a graph input: its declared sizes, `given` (which must agree with them)
/// for the open ones, else the calibration arrays' (`samples`, one sample's shape: the array's
/// without its leading axis, or with it as 1 when samples are stacked along the batch axis),
/// else 1 for an open batch dimension (axis 0); any other open dimension is an error that says
/// how to fix it.
fn input_type(
    vi: &ValueInfoProto,
    given: Option<&[usize]>,
    samples: Option<&[usize]>,
) -> Result<TensorType> {
    let name = &vi.name;
    let Some(TypeValue::TensorType(t)) = vi.type_.as_ref().and_then(|t| t.value.as_ref()) else {
        return Err(Error::msg(format!(
            "input `{name}` is not a tensor; qcc imports tensor inputs only"
        )));
    };
    let elem = match tensor::ir_dtype(t.elem_type) {
        Some(d) => ElemType::from_storage(d),
        None => {
            return Err(Error::msg(format!(
                "input `{name}` has element type {}; qcc imports inputs of float, double, \
                 float16, int8/16/32/64, uint8/16/32/64 and bool",
                tensor::dtype_name(t.elem_type)
            )))
        }
    };
    let shape_proto = t.shape.as_ref().ok_or_else(|| {
        Error::msg(format!(
            "input `{name}` has no shape; qcc needs static shapes"
        ))
    })?;
    let rank = shape_proto.dim.len();
    let dims = |s: &[usize]| fmt_dims(s);
    if let Some(g) = given {
        if g.len() != rank {
            return Err(Error::msg(format!(
                "input `{name}` has {rank} dimensions; --input-shape gives it {} ({})",
                g.len(),
                dims(g)
            )));
        }
    }
    let sample: Option<Vec<usize>> = samples.and_then(|s| match s.len() {
        n if n == rank + 1 => Some(s[1..].to_vec()),
        n if n == rank && rank > 0 => Some([&[1], &s[1..]].concat()),
        _ => None,
    });
    let mut shape = Vec::with_capacity(rank);
    for (axis, d) in shape_proto.dim.iter().enumerate() {
        if let Some(g) = given {
            match &d.value {
                Some(Dim::DimValue(v)) if *v >= 0 && *v as u64 != g[axis] as u64 => {
                    return Err(Error::msg(format!(
                        "input `{name}` has size {v} at axis {axis}; --input-shape gives {} there ({})",
                        g[axis],
                        dims(g)
                    )))
                }
                _ => {}
            }
            if g[axis] == 0 {
                return Err(Error::msg(format!(
                    "--input-shape gives input `{name}` size 0 at axis {axis}; qcc holds no empty tensors"
                )));
            }
            shape.push(g[axis]);
            continue;
        }
        // Open: no size, or a negative one (a declared 0 stays, and is refused below).
        let open = !matches!(&d.value, Some(Dim::DimValue(v)) if *v >= 0);
        if let Some(s) = sample.as_ref().filter(|s| open && s[axis] > 0) {
            shape.push(s[axis]);
            continue;
        }
        let size = match &d.value {
            Some(Dim::DimValue(v)) if *v > 0 => usize::try_from(*v).unwrap_or(usize::MAX),
            // A declared 0 is a size, not a symbolic batch (`allowzero` reshapes use it): keeping
            // it means refusing the empty tensor, where taking it as 1 would compute another model.
            Some(Dim::DimValue(0)) => {
                return Err(Error::msg(format!(
                    "input `{name}` has size 0 at axis {axis}; qcc holds no empty tensors"
                )))
            }
            _ if axis == 0 => 1,
            Some(Dim::DimValue(v)) => {
                return Err(Error::msg(format!(
                    "input `{name}` has size {v} at axis {axis}; qcc needs positive static sizes"
                )))
            }
            Some(Dim::DimParam(p)) => {
                return Err(Error::msg(format!(
                "input `{name}` has a symbolic dimension `{p}` at axis {axis}; qcc compiles for \
                     one shape: give it with --input-shape {name}={}, or calibrate on samples of \
                     that shape (only the batch dimension, axis 0, may stay open: it imports as 1)",
                open_example(shape_proto)
            )))
            }
            // Value is non-exhaustive: a future kind of dimension is as unknown as a missing one.
            _ => {
                return Err(Error::msg(format!(
                    "input `{name}` has an unknown dimension at axis {axis}; qcc compiles for \
                     one shape: give it with --input-shape {name}={}, or calibrate on samples of \
                     that shape (only the batch dimension, axis 0, may stay open: it imports as 1)",
                    open_example(shape_proto)
                )))
            }
        };
        shape.push(size);
    }
    check_shape(&shape).map_err(|m| Error::msg(format!("input `{name}` {m}")))?;
    Ok(TensorType::new(shape, elem))
}
