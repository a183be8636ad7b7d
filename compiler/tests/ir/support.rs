//! Shared by the IR tests: fixture discovery, a structural dump of a model (to compare models
//! without spans), and the generator of `.safetensors` files that fixtures describe.

use qcc::diag::Source;
use qcc::ir::{Model, NodeKind, TensorType, WeightData};
use runtime::{DType, Tensor};
use safetensors::tensor::{Dtype, View};
use std::borrow::Cow;
use std::path::{Path, PathBuf};

/// Snapshots of fixture `tests/ir/<dir>/<stem>.ir` go to `compiler/tests/snapshots/`, named
/// after the fixture, with the fixture as their input file.
pub fn snapshot_settings(dir: &str, stem: &str) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../snapshots");
    settings.set_prepend_module_to_snapshot(false);
    let input = fixture_dir(dir).join(format!("{stem}.ir"));
    settings.set_input_file(input.canonicalize().unwrap_or(input));
    settings.set_omit_expression(true);
    settings
}

/// `tests/ir/<dir>` at the workspace root.
pub fn fixture_dir(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/ir")
        .join(dir)
}

/// Every `*.ir` file of a fixture directory, sorted, with its text.
pub fn fixtures(dir: &str) -> Vec<(String, String)> {
    let mut out = vec![];
    let entries = std::fs::read_dir(fixture_dir(dir)).expect("fixture directory exists");
    for e in entries {
        let path = e.expect("readable directory entry").path();
        if path.extension().is_some_and(|x| x == "ir") {
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("UTF-8 file name")
                .to_string();
            let text = std::fs::read_to_string(&path).expect("readable fixture");
            out.push((stem, text));
        }
    }
    out.sort();
    assert!(!out.is_empty(), "no fixtures in tests/ir/{dir}");
    out
}

/// The source of a fixture, named as in the repository (so snapshots show a stable file name).
pub fn source(dir: &str, stem: &str, text: &str) -> Source {
    Source {
        name: format!("tests/ir/{dir}/{stem}.ir"),
        text: text.to_string(),
    }
}

/// The model without spans and node ids, in a form two models can be compared in: one line per
/// node (sorted: names are unique) with its kind, type and operands by name, then the signature.
pub fn dump(m: &Model) -> Vec<String> {
    let name = |id| {
        let n = m.node(id);
        format!("{}{}", if n.is_weight() { '@' } else { '%' }, n.name)
    };
    let mut nodes = vec![];
    for id in m.graph.node_indices() {
        let n = m.node(id);
        let operands: Vec<String> = m.operands(id).into_iter().map(name).collect();
        let kind = match &n.kind {
            // Bytes, not values: NaN is not equal to itself.
            NodeKind::Weight(w) => {
                let place = match w {
                    WeightData::External => "external",
                    WeightData::Loaded(_) => "loaded",
                    WeightData::Inline(_) => "inline",
                };
                format!(
                    "weight {place} {:?}",
                    w.tensor()
                        .map(|t| (t.dtype(), t.shape().to_vec(), t.to_le_bytes()))
                )
            }
            other => format!("{other:?}"),
        };
        nodes.push(format!("{} = {kind} {operands:?} : {}", name(id), n.ty));
    }
    nodes.sort();
    let mut out = vec![format!("model @{} weights {:?}", m.name, m.weights_file)];
    out.extend(nodes);
    out.push(format!(
        "inputs {:?}",
        m.inputs.iter().map(|&i| name(i)).collect::<Vec<_>>()
    ));
    out.push(format!(
        "outputs {:?}",
        m.outputs.iter().map(|&i| name(i)).collect::<Vec<_>>()
    ));
    out
}

/// The fixture text without its full-line comments and blank lines: what the printer writes.
pub fn without_comment_lines(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with("//"))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Deterministic data for a weight: small distinct values, with NaN and ±inf mixed into larger
/// f32 tensors (loading must accept them; quantization refuses them later).
pub fn pattern_bytes(dtype: Dtype, numel: usize) -> Vec<u8> {
    let f = |i: usize| -> f32 {
        match i {
            3 => f32::NAN,
            5 => f32::INFINITY,
            7 => f32::NEG_INFINITY,
            _ => (i as f32 - 4.0) * 0.25,
        }
    };
    match dtype {
        Dtype::F32 => (0..numel).flat_map(|i| f(i).to_le_bytes()).collect(),
        Dtype::I32 => (0..numel)
            .flat_map(|i| (i as i32 * 1000 - 7).to_le_bytes())
            .collect(),
        Dtype::I8 | Dtype::U8 => (0..numel).map(|i| (i * 37 % 256) as u8).collect(),
        // A bool byte is 0 or 1.
        Dtype::BOOL => (0..numel).map(|i| (i % 2) as u8).collect(),
        other => {
            let bits = other.bitsize() * numel;
            (0..bits.div_ceil(8)).map(|i| (i % 251) as u8).collect()
        }
    }
}

pub fn st_dtype(d: DType) -> Dtype {
    match d {
        DType::F32 => Dtype::F32,
        DType::I8 => Dtype::I8,
        DType::U8 => Dtype::U8,
        DType::I32 => Dtype::I32,
        DType::F64 => Dtype::F64,
        DType::F16 => Dtype::F16,
        DType::I16 => Dtype::I16,
        DType::U16 => Dtype::U16,
        DType::U32 => Dtype::U32,
        DType::I64 => Dtype::I64,
        DType::U64 => Dtype::U64,
        DType::Bool => Dtype::BOOL,
    }
}

/// The tensor a weight of this type gets from the generator.
pub fn pattern_tensor(ty: &TensorType) -> Tensor {
    let d = ty.elem.storage();
    Tensor::from_le_bytes(d, &ty.shape, &pattern_bytes(st_dtype(d), ty.numel()))
        .expect("pattern fits the type")
}

pub struct Raw {
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub bytes: Vec<u8>,
}

impl View for Raw {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

/// A safetensors file holding the generator's data for every external weight of `model`.
pub fn safetensors_for(model: &Model) -> Vec<u8> {
    let mut views = vec![];
    for id in model.weights() {
        let n = model.node(id);
        if let NodeKind::Weight(WeightData::External) = n.kind {
            let dtype = st_dtype(n.ty.elem.storage());
            views.push((
                n.name.clone(),
                Raw {
                    dtype,
                    shape: n.ty.shape.clone(),
                    bytes: pattern_bytes(dtype, n.ty.numel()),
                },
            ));
        }
    }
    safetensors::tensor::serialize(views, None).expect("serializable")
}

/// The weights file a fixture describes in its comments: `// safetensors: NAME DTYPE SHAPE`
/// lines (SHAPE like `16x3x5x5`, or `scalar`), or `// safetensors-bytes: TEXT` for a file that
/// is not safetensors at all. `None`: the fixture wants no file.
pub fn described_file(text: &str) -> Option<Vec<u8>> {
    let mut views = vec![];
    for line in text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("//"))
        .map(str::trim)
    {
        if let Some(raw) = line.strip_prefix("safetensors-bytes:") {
            return Some(raw.trim().as_bytes().to_vec());
        }
        let Some(spec) = line.strip_prefix("safetensors:") else {
            continue;
        };
        let [name, dtype, shape]: [&str; 3] = spec
            .split_whitespace()
            .collect::<Vec<_>>()
            .try_into()
            .expect("NAME DTYPE SHAPE");
        let dtype = match dtype {
            "f32" => Dtype::F32,
            "f16" => Dtype::F16,
            "f64" => Dtype::F64,
            "i8" => Dtype::I8,
            "u8" => Dtype::U8,
            "i32" => Dtype::I32,
            "i64" => Dtype::I64,
            other => panic!("unknown dtype {other} in a fixture"),
        };
        let shape: Vec<usize> = if shape == "scalar" {
            vec![]
        } else {
            shape
                .split('x')
                .map(|d| d.parse().expect("dimension"))
                .collect()
        };
        let numel = shape.iter().product();
        views.push((
            name.to_string(),
            Raw {
                dtype,
                shape,
                bytes: pattern_bytes(dtype, numel),
            },
        ));
    }
    (!views.is_empty()).then(|| safetensors::tensor::serialize(views, None).expect("serializable"))
}
