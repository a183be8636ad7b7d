//! Errors qcc reports to people: spans in a source text rendered with file:line:col and a caret,
//! or plain messages; never a panic.

use codespan_reporting::diagnostic::{Diagnostic as CsDiagnostic, Label as CsLabel};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term::{self, Config};
use std::fmt;
use std::path::{Path, PathBuf};

/// A byte range in a source text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }
}

/// A named source text, kept so that diagnostics can show the offending line.
#[derive(Clone, Debug)]
pub struct Source {
    pub name: String,
    pub text: String,
}

/// One problem found in a source text.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    pub message: String,
    /// The primary span and what to say under it.
    pub span: Span,
    pub label: String,
    /// Further spans that explain the problem (where a name was first defined, say).
    pub secondary: Vec<(Span, String)>,
    pub notes: Vec<String>,
}

impl Diagnostic {
    pub fn new(message: impl Into<String>, span: Span, label: impl Into<String>) -> Diagnostic {
        Diagnostic {
            message: message.into(),
            span,
            label: label.into(),
            secondary: vec![],
            notes: vec![],
        }
    }
    pub fn with_secondary(mut self, span: Span, label: impl Into<String>) -> Diagnostic {
        self.secondary.push((span, label.into()));
        self
    }
    pub fn with_note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }
}

/// Renders diagnostics against their source, without colour (they go into snapshots too).
pub fn render(source: &Source, diags: &[Diagnostic]) -> String {
    let file = SimpleFile::new(source.name.as_str(), source.text.as_str());
    let config = Config::default();
    let mut out = String::new();
    for d in diags {
        let len = source.text.len();
        let clamp = |s: Span| s.start.min(len)..s.end.min(len).max(s.start.min(len));
        let mut labels = vec![CsLabel::primary((), clamp(d.span)).with_message(&d.label)];
        labels.extend(
            d.secondary
                .iter()
                .map(|(s, m)| CsLabel::secondary((), clamp(*s)).with_message(m)),
        );
        let cs = CsDiagnostic::error()
            .with_message(&d.message)
            .with_labels(labels)
            .with_notes(d.notes.clone());
        match term::emit_into_string(&config, &file, &cs) {
            Ok(s) => out.push_str(&s),
            Err(_) => out.push_str(&format!("error: {}\n", d.message)),
        }
    }
    out
}

/// Everything that can go wrong in qcc, ready to be shown to a person.
#[derive(Debug)]
pub enum Error {
    /// Problems located in a text (an IR or rules file): every one of them, with spans.
    Source {
        source: Source,
        diags: Vec<Diagnostic>,
    },
    /// A file could not be read or written.
    Io { path: PathBuf, err: std::io::Error },
    /// Any other problem, as a complete sentence naming what is wrong.
    Msg(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn msg(m: impl Into<String>) -> Error {
        Error::Msg(m.into())
    }
    pub fn io(path: &Path, err: std::io::Error) -> Error {
        Error::Io {
            path: path.to_path_buf(),
            err,
        }
    }
    pub fn source(source: Source, diags: Vec<Diagnostic>) -> Error {
        Error::Source { source, diags }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Source { source, diags } => f.write_str(render(source, diags).trim_end()),
            Error::Io { path, err } => write!(f, "error: {}: {err}", path.display()),
            Error::Msg(m) => write!(f, "error: {m}"),
        }
    }
}

impl std::error::Error for Error {}

/// `Result` helpers: attach the path to I/O errors.
pub trait IoContext<T> {
    fn at(self, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: &Path) -> Result<T> {
        self.map_err(|e| Error::io(path, e))
    }
}
