//! `qcc run --labels`: top-1 accuracy of a classifier's outputs against integer class labels read
//! from a text file (one class per line) or an `.npy` array of integers.

use crate::diag::{Diagnostic, Error, Result, Source, Span};
use crate::ir::types::fmt_shape;
use ndarray::{ArrayD, Axis};
use ndarray_npy::{ReadNpyError, ReadNpyExt, ReadableElement};
use std::fmt;
use std::path::{Path, PathBuf};

/// At most this many problems are listed for one labels file: a wrong file (an image, say) would
/// otherwise bury the terminal.
const MAX_DIAGS: usize = 10;

/// Class labels, one per sample, with where each came from so that errors can point at it.
#[derive(Debug)]
pub struct Labels {
    pub path: PathBuf,
    pub classes: Vec<i64>,
    /// For a text file: its text and each label's span in it.
    text: Option<(Source, Vec<Span>)>,
}

/// How many outputs named the labelled class first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TopOne {
    pub correct: usize,
    pub total: usize,
    /// Outputs holding a NaN: counted as wrong, and said so.
    pub nan: usize,
}

impl fmt::Display for TopOne {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pct = if self.total == 0 {
            0.0
        } else {
            100.0 * self.correct as f64 / self.total as f64
        };
        write!(f, "top-1: {}/{} = {pct:.1}%", self.correct, self.total)
    }
}

/// Splits `--labels name=FILE` or `--labels FILE`; returns the index of the labelled output.
pub fn labelled_output(arg: &str, outputs: &[String]) -> Result<(usize, PathBuf)> {
    match arg.split_once('=') {
        Some((name, path)) if !name.is_empty() => {
            let name = name.trim_start_matches('%');
            let i = outputs.iter().position(|o| o == name).ok_or_else(|| {
                Error::msg(format!("--labels: the model has no output named `{name}`; its outputs are: {}", outputs.join(", ")))
            })?;
            Ok((i, PathBuf::from(path)))
        }
        _ if outputs.len() == 1 => Ok((0, PathBuf::from(arg))),
        _ => Err(Error::msg(format!(
            "--labels: the model has {} outputs ({}): say which one the labels are for, as `--labels name={arg}`",
            outputs.len(),
            outputs.join(", ")
        ))),
    }
}

/// Reads labels: `.npy` files as an array of integers, anything else as text.
pub fn read_labels(path: &Path) -> Result<Labels> {
    if path.extension().is_some_and(|e| e == "npy") {
        read_npy(path)
    } else {
        read_text(path)
    }
}

fn read_text(path: &Path) -> Result<Labels> {
    let bytes = crate::readin::read_input(path).map_err(|e| Error::io(path, e))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        Error::msg(format!(
            "cannot read labels from {}: the byte at offset {} is not UTF-8; give one integer class per line, or an .npy array",
            path.display(),
            e.utf8_error().valid_up_to()
        ))
    })?;
    let mut classes = vec![];
    let mut spans = vec![];
    let mut diags = vec![];
    // Blank lines may only end the file: one in the middle would shift every later label by a sample.
    let body_end = text.trim_end().len();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        if start >= body_end {
            break;
        }
        let content = line.trim_end_matches(['\n', '\r']);
        let lead = content.len() - content.trim_start().len();
        let word = content.trim();
        let span = Span::new(start + lead, start + lead + word.len());
        if word.is_empty() {
            diags.push(
                Diagnostic::new(
                    "empty line among the labels",
                    Span::new(start, start),
                    "expected a class here",
                )
                .with_note(
                    "every line holds the class of one sample, in the order of the input's samples",
                ),
            );
            continue;
        }
        match word.parse::<i64>() {
            Ok(c) => {
                classes.push(c);
                spans.push(span);
            }
            Err(_) => diags.push(Diagnostic::new(
                format!("`{word}` is not a class"),
                span,
                "expected an integer (one class per line)",
            )),
        }
    }
    let source = Source {
        name: path.display().to_string(),
        text,
    };
    if !diags.is_empty() {
        return Err(Error::source(source, capped(diags)));
    }
    Ok(Labels {
        path: path.to_path_buf(),
        classes,
        text: Some((source, spans)),
    })
}

fn capped(mut diags: Vec<Diagnostic>) -> Vec<Diagnostic> {
    if diags.len() > MAX_DIAGS {
        let more = diags.len() - MAX_DIAGS;
        diags.truncate(MAX_DIAGS);
        let last = diags.pop().expect("MAX_DIAGS > 0");
        diags.push(last.with_note(format!("{more} more problems like these are not shown")));
    }
    diags
}

/// One attempt at reading an `.npy` file as elements of one integer type.
enum Attempt {
    Read(Vec<usize>, Vec<i64>),
    /// The file holds another element type: its descriptor (`'<f4'`, say).
    Other(String),
}

/// Reads an `.npy` file's bytes as one integer type.
type Reader = fn(&[u8]) -> Result<Attempt, ReadNpyError>;

fn attempt<T: ReadableElement + Copy>(
    bytes: &[u8],
    to_i64: impl Fn(T) -> i64,
) -> Result<Attempt, ReadNpyError> {
    match ArrayD::<T>::read_npy(bytes) {
        Ok(a) => Ok(Attempt::Read(
            a.shape().to_vec(),
            a.iter().map(|&v| to_i64(v)).collect(),
        )),
        Err(ReadNpyError::WrongDescriptor(d)) => Ok(Attempt::Other(d.to_string())),
        Err(e) => Err(e),
    }
}

fn read_npy(path: &Path) -> Result<Labels> {
    let bytes = crate::npy::read_checked(path)?;
    let fail =
        |why: String| Error::msg(format!("cannot read labels from {}: {why}", path.display()));
    // The header names the element type; every integer type is a fine label. A u64 beyond i64
    // saturates, and the range check then reports it.
    let readers: [Reader; 8] = [
        |b| attempt::<i64>(b, |v| v),
        |b| attempt::<i32>(b, i64::from),
        |b| attempt::<i16>(b, i64::from),
        |b| attempt::<i8>(b, i64::from),
        |b| attempt::<u64>(b, |v| i64::try_from(v).unwrap_or(i64::MAX)),
        |b| attempt::<u32>(b, i64::from),
        |b| attempt::<u16>(b, i64::from),
        |b| attempt::<u8>(b, i64::from),
    ];
    let mut descr = String::new();
    for read in readers {
        match read(&bytes) {
            Ok(Attempt::Read(shape, classes)) => return to_labels(path, &shape, classes),
            Ok(Attempt::Other(d)) => descr = d,
            Err(ReadNpyError::MissingData) => {
                return Err(fail(
                    "it is truncated: the header promises more data than the file holds".into(),
                ))
            }
            Err(ReadNpyError::ParseHeader(h)) => {
                return Err(fail(format!("it is not a valid .npy file ({h})")))
            }
            Err(e) => return Err(fail(e.to_string())),
        }
    }
    Err(fail(format!("it holds elements of type {descr}, labels are integers: convert them with `y.astype(numpy.int64)`")))
}

fn to_labels(path: &Path, shape: &[usize], classes: Vec<i64>) -> Result<Labels> {
    if shape.len() != 1 {
        return Err(Error::msg(format!(
            "cannot read labels from {}: it holds an array of shape {}, labels are one integer per sample (shape [N]): flatten it with `y.ravel()`",
            path.display(),
            fmt_shape(shape)
        )));
    }
    Ok(Labels {
        path: path.to_path_buf(),
        classes,
        text: None,
    })
}

/// Scores `output` (`[N, classes]`, or `[N, 1, …, 1, classes]`) against the labels: sample `i`
/// is right when its largest output (the first, on ties) is at the index `labels[i]`.
pub fn top1(output_name: &str, output: &ArrayD<f32>, labels: &Labels) -> Result<TopOne> {
    let shape = output.shape();
    let name = labels.path.display();
    let classes = match shape {
        [_, middle @ .., c] if middle.iter().all(|&d| d == 1) && *c > 0 => *c,
        _ => {
            return Err(Error::msg(format!(
                "--labels: output %{output_name} has shape {}, not [N, classes]: top-1 accuracy needs one score per class for each sample",
                fmt_shape(shape)
            )))
        }
    };
    let n = shape[0];
    if labels.classes.len() != n {
        return Err(Error::msg(format!(
            "--labels: {name} holds {} labels but the model produced {n} outputs (output %{output_name} has shape {}): give one label per sample",
            labels.classes.len(),
            fmt_shape(shape)
        )));
    }
    check_range(output_name, classes, labels)?;
    let rows = output
        .to_shape((n, classes))
        .map_err(|e| Error::msg(format!("cannot view %{output_name} as [N, classes]: {e}")))?;
    let mut score = TopOne {
        correct: 0,
        total: n,
        nan: 0,
    };
    for (row, &label) in rows.axis_iter(Axis(0)).zip(&labels.classes) {
        if row.iter().any(|v| v.is_nan()) {
            score.nan += 1;
            continue;
        }
        let mut best = 0;
        for (j, &v) in row.iter().enumerate() {
            if v > row[best] {
                best = j;
            }
        }
        if best as i64 == label {
            score.correct += 1;
        }
    }
    Ok(score)
}

/// Every label must name one of the output's classes; otherwise the file belongs to another model.
fn check_range(output_name: &str, classes: usize, labels: &Labels) -> Result<()> {
    let bad: Vec<usize> = (0..labels.classes.len())
        .filter(|&i| !(0..classes as i64).contains(&labels.classes[i]))
        .collect();
    if bad.is_empty() {
        return Ok(());
    }
    let range = format!(
        "output %{output_name} has {classes} classes, 0 to {}",
        classes - 1
    );
    match &labels.text {
        Some((source, spans)) => {
            let diags = bad
                .iter()
                .map(|&i| {
                    Diagnostic::new(
                        format!("label {} is not a class of the model", labels.classes[i]),
                        spans[i],
                        range.clone(),
                    )
                })
                .collect();
            Err(Error::source(source.clone(), capped(diags)))
        }
        None => {
            let shown: Vec<String> = bad
                .iter()
                .take(MAX_DIAGS)
                .map(|&i| format!("[{i}] = {}", labels.classes[i]))
                .collect();
            let more = if bad.len() > MAX_DIAGS {
                format!(" and {} more", bad.len() - MAX_DIAGS)
            } else {
                String::new()
            };
            Err(Error::msg(format!(
                "--labels: {} holds labels that are not classes of the model ({range}): {}{more}",
                labels.path.display(),
                shown.join(", ")
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn labels(classes: Vec<i64>) -> Labels {
        Labels {
            path: PathBuf::from("y.txt"),
            classes,
            text: None,
        }
    }

    proptest! {
        /// Against the naive formula: a sample is right when its label is the index of the first
        /// maximum of its row (numpy's argmax). Small integer scores make ties common.
        #[test]
        fn top1_is_argmax_agreement(
            rows in proptest::collection::vec(proptest::collection::vec(-3i8..3, 4), 1..20),
            seed in proptest::collection::vec(0i64..4, 20),
        ) {
            let n = rows.len();
            let flat: Vec<f32> = rows.iter().flatten().map(|&v| v as f32).collect();
            let out = ArrayD::from_shape_vec(vec![n, 4], flat).unwrap();
            let ys: Vec<i64> = seed[..n].to_vec();
            let naive = rows.iter().zip(&ys).filter(|(r, &y)| {
                let first_max = r.iter().position(|v| v == r.iter().max().unwrap()).unwrap();
                first_max as i64 == y
            }).count();
            let got = top1("y", &out, &labels(ys)).unwrap();
            prop_assert_eq!(got, TopOne { correct: naive, total: n, nan: 0 });
        }
    }

    #[test]
    fn nan_rows_count_as_wrong() {
        let out = ArrayD::from_shape_vec(vec![3, 2], vec![f32::NAN, 1.0, 0.0, 1.0, 1.0, f32::NAN])
            .unwrap();
        let got = top1("y", &out, &labels(vec![1, 1, 0])).unwrap();
        assert_eq!(
            got,
            TopOne {
                correct: 1,
                total: 3,
                nan: 2
            }
        );
    }

    #[test]
    fn prints_as_a_percentage() {
        assert_eq!(
            TopOne {
                correct: 437,
                total: 450,
                nan: 0
            }
            .to_string(),
            "top-1: 437/450 = 97.1%"
        );
    }
}
