//! A model's files: the IR text and the `.safetensors` beside it that holds every weight the text
//! declares without `= dense<[…]>`. Reading checks each declared weight against the file (name,
//! dtype, shape); writing is atomic (temporary files renamed into place) and deterministic (the
//! same model gives the same bytes).

use crate::diag::{Diagnostic, Error, Result, Source, Span};
use crate::fsio::write_all_atomic;
use crate::ir::model::{Model, NodeId, NodeKind, WeightData};
use crate::ir::parse::parse;
use crate::ir::print::print_with_weights_file;
use crate::ir::suggest::closest;
use crate::ir::types::{fmt_shape, TensorType};
use runtime::{DType, Tensor};
use safetensors::tensor::{Dtype, SafeTensors, View};
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Reads an IR file and the weights it names.
pub fn read_model(ir_path: &Path) -> Result<Model> {
    let text = crate::readin::read_text(ir_path, "an IR model")?;
    let source = Source {
        name: ir_path.display().to_string(),
        text,
    };
    let mut model = parse(&source)?;
    match load(&mut model, ir_path) {
        Ok(()) => {}
        Err(Failure::File(e)) => return Err(e),
        Err(Failure::Weights(problems)) => {
            let diags = problems
                .into_iter()
                .map(|p| {
                    let span = model
                        .graph
                        .node_weight(p.node)
                        .and_then(|n| n.span)
                        .unwrap_or(Span::new(0, 0));
                    p.notes.into_iter().fold(
                        Diagnostic::new(p.message, span, "declared here"),
                        Diagnostic::with_note,
                    )
                })
                .collect();
            return Err(Error::source(source, diags));
        }
    }
    crate::ir::verify::verify_or_error(&model, Some(&source))?;
    Ok(model)
}

/// Loads every `External` weight of `model` from the `.safetensors` file it names, resolved
/// against the directory of `ir_path`. Nothing changes unless every weight loads.
pub fn load_weights(model: &mut Model, ir_path: &Path) -> Result<()> {
    match load(model, ir_path) {
        Ok(()) => Ok(()),
        Err(Failure::File(e)) => Err(e),
        Err(Failure::Weights(mut problems)) if problems.len() == 1 => {
            let p = problems.remove(0);
            Err(Error::msg(
                p.notes.iter().fold(p.message, |m, n| format!("{m}\n  {n}")),
            ))
        }
        Err(Failure::Weights(problems)) => {
            let file = model.weights_file.as_deref().unwrap_or("the weights file");
            let mut msg = format!(
                "{} weights of {} cannot be loaded from {file}:",
                problems.len(),
                ir_path.display()
            );
            for p in problems {
                msg.push_str(&format!("\n  {}", p.message));
                msg.extend(p.notes.iter().map(|n| format!("\n    {n}")));
            }
            Err(Error::msg(msg))
        }
    }
}

/// Writes the model's text to `ir_path` and its non-inline weights to `<stem>.safetensors` beside
/// it (the text names that file; a model without such weights gets neither file nor clause).
/// Each file is written to a temporary file in the same directory and renamed into place, so a
/// failure leaves the old files as they were.
pub fn save_model(model: &Model, ir_path: &Path) -> Result<()> {
    let stem = ir_path
        .file_stem()
        .and_then(|s| s.to_str())
        .ok_or_else(|| {
            Error::msg(format!(
                "cannot save a model to {}: it needs a file name",
                ir_path.display()
            ))
        })?;
    let st_name = format!("{stem}.safetensors");
    let dir = match ir_path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let st_path = dir.join(&st_name);
    if st_path.file_name() == ir_path.file_name() {
        return Err(Error::msg(format!(
            "cannot save a model to {}: its weights would overwrite it",
            ir_path.display()
        )));
    }

    let mut views: Vec<(String, Raw)> = vec![];
    for id in model.weights() {
        let n = model.node(id);
        let data = match &n.kind {
            NodeKind::Weight(WeightData::Inline(_)) => continue,
            NodeKind::Weight(WeightData::Loaded(t)) => t,
            _ => {
                return Err(Error::msg(format!(
                    "cannot save weight @{}: its data was never loaded (load the model's weights before saving it)",
                    n.name
                )))
            }
        };
        if data.dtype() != n.ty.elem.storage() || data.shape() != n.ty.shape.as_slice() {
            return Err(Error::msg(format!(
                "cannot save weight @{}: it is declared {} but its data is {} {}",
                n.name,
                n.ty,
                show_shape(data.shape()),
                data.dtype()
            )));
        }
        if views.last().is_some_and(|(last, _)| *last == n.name) {
            return Err(Error::msg(format!(
                "cannot save the model: two weights are named @{}",
                n.name
            )));
        }
        views.push((
            n.name.clone(),
            Raw {
                dtype: st_dtype(data.dtype()),
                shape: data.shape().to_vec(),
                bytes: data.to_le_bytes(),
            },
        ));
    }

    let weights_file = (!views.is_empty()).then_some(st_name.as_str());
    let text = print_with_weights_file(model, weights_file);
    let bytes = if views.is_empty() {
        None
    } else {
        Some(safetensors::tensor::serialize(views, None).map_err(|e| {
            Error::msg(format!(
                "cannot encode the weights for {}: {e}",
                st_path.display()
            ))
        })?)
    };
    // Weights first: an IR file never names weights that are not there yet.
    let mut files: Vec<(&Path, &[u8])> = vec![];
    if let Some(b) = &bytes {
        files.push((&st_path, b));
    }
    files.push((ir_path, text.as_bytes()));
    write_all_atomic(&files)
}

/// Why weights did not load: the file as a whole, or some weights in it.
enum Failure {
    File(Error),
    Weights(Vec<Problem>),
}

/// A declared weight that the file does not match.
struct Problem {
    node: NodeId,
    message: String,
    notes: Vec<String>,
}

fn load(model: &mut Model, ir_path: &Path) -> Result<(), Failure> {
    let external: Vec<NodeId> = model
        .weights()
        .into_iter()
        .filter(|&id| matches!(model.node(id).kind, NodeKind::Weight(WeightData::External)))
        .collect();
    if external.is_empty() {
        return Ok(());
    }
    let Some(file) = model.weights_file.clone() else {
        let problems = external
            .into_iter()
            .map(|node| Problem {
                node,
                message: format!(
                    "weight @{} has no data: the model names no weights file",
                    model.node(node).name
                ),
                notes: vec![],
            })
            .collect();
        return Err(Failure::Weights(problems));
    };
    let (path, bytes) = crate::readin::read_beside(
        ir_path.parent().unwrap_or(Path::new("")),
        &file,
        &format!("weight data of {}", ir_path.display()),
    )
    .map_err(|e| Failure::File(Error::msg(e)))?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| {
        Failure::File(Error::msg(format!(
            "{} (named by {}) is not a safetensors file: {e}",
            path.display(),
            ir_path.display()
        )))
    })?;
    // The header is JSON, whose parser keeps the last of two equal keys: two tensors under one
    // name would be one silently dropped.
    if let Some(name) = duplicate_key(&bytes) {
        return Err(Failure::File(Error::msg(format!(
            "{} (named by {}) holds two tensors named `{name}`",
            path.display(),
            ir_path.display()
        ))));
    }

    let mut problems = vec![];
    let mut loaded = vec![];
    for id in external {
        let n = model.node(id);
        match st.tensor(&n.name) {
            Err(_) => problems.push(missing(id, &n.name, &file, &st)),
            Ok(view) => match tensor_of(&n.ty, view.dtype(), view.shape(), view.data()) {
                Some(t) => loaded.push((id, t)),
                None => problems.push(Problem {
                    node: id,
                    message: format!(
                        "weight @{}: the IR declares {} but {file} holds {} {}",
                        n.name,
                        n.ty,
                        show_shape(view.shape()),
                        format!("{:?}", view.dtype()).to_lowercase()
                    ),
                    notes: vec![],
                }),
            },
        }
    }
    if !problems.is_empty() {
        return Err(Failure::Weights(problems));
    }
    for (id, t) in loaded {
        model.node_mut(id).kind = NodeKind::Weight(WeightData::Loaded(Arc::new(t)));
    }
    Ok(())
}

/// The first key of a safetensors header's top-level object that appears twice. Called on a file
/// `SafeTensors::deserialize` accepted, so the header is well-formed JSON within the file.
fn duplicate_key(bytes: &[u8]) -> Option<String> {
    let n = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
    let header = bytes.get(8..8usize.checked_add(usize::try_from(n).ok()?)?)?;
    let mut seen = std::collections::HashSet::new();
    let (mut depth, mut i) = (0usize, 0usize);
    while i < header.len() {
        match header[i] {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'"' => {
                let start = i;
                i += 1;
                while i < header.len() && header[i] != b'"' {
                    i += if header[i] == b'\\' { 2 } else { 1 };
                }
                let raw = header.get(start..=i)?;
                let rest = header.get(i + 1..)?;
                let is_key = rest.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b':');
                if depth == 1 && is_key {
                    let key: String = serde_json::from_slice(raw).ok()?;
                    if !seen.insert(key.clone()) {
                        return Some(key);
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The declared weight as a tensor, if the file's dtype and shape are the declared ones.
fn tensor_of(ty: &TensorType, dtype: Dtype, shape: &[usize], data: &[u8]) -> Option<Tensor> {
    let want = ty.elem.storage();
    (st_dtype(want) == dtype && shape == ty.shape.as_slice()).then_some(())?;
    Tensor::from_le_bytes(want, shape, data)
}

fn missing(node: NodeId, name: &str, file: &str, st: &SafeTensors<'_>) -> Problem {
    let mut names = st.names();
    names.sort();
    let near = closest(name, names.iter().copied(), 3);
    let note = if !near.is_empty() {
        let near: Vec<String> = near.iter().map(|n| format!("`{n}`")).collect();
        format!("help: close names in {file}: {}", near.join(", "))
    } else if names.is_empty() {
        format!("{file} holds no tensors")
    } else if names.len() <= 6 {
        let all: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
        format!("{file} holds {}", all.join(", "))
    } else {
        format!(
            "{file} holds {} tensors, none with a close name",
            names.len()
        )
    };
    Problem {
        node,
        message: format!("weight @{name} is not in {file}"),
        notes: vec![note],
    }
}

fn show_shape(shape: &[usize]) -> String {
    if shape.is_empty() {
        "a scalar".into()
    } else {
        fmt_shape(shape)
    }
}

fn st_dtype(d: DType) -> Dtype {
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

/// A tensor's bytes as safetensors wants them.
struct Raw {
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
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
