//! Errors qcc reports to people: spans in a source text rendered with file:line:col and a caret,
//! or plain messages; never a panic.

use std::fmt;
use std::path::{Path, PathBuf};

pub use dsl::ast::Span;
/// One problem found in a source text: the rule language's diagnostic type, shared so that IR
/// and rules errors are one kind of thing, rendered one way.
pub use dsl::Diagnostic;

/// A named source text, kept so that diagnostics can show the offending line.
#[derive(Clone, Debug)]
pub struct Source {
    pub name: String,
    pub text: String,
}

/// Renders diagnostics against their source, without colour (they go into snapshots too), in
/// the order of their positions.
pub fn render(source: &Source, diags: &[Diagnostic]) -> String {
    dsl::Diagnostics::new(&source.name, &source.text, diags.to_vec()).render()
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
