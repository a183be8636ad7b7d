//! Diagnostics: every problem found in a rules file, with spans, rendered by codespan-reporting
//! as `file:line:col`, the offending line and a caret (no colour: they go into snapshots too).

use crate::ast::Span;
use crate::window::Window;
use codespan_reporting::diagnostic::{Diagnostic as CsDiagnostic, Label};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term::{self, Config};
use std::fmt;

/// One problem: a message, the primary span with its label, and what else explains it.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    pub message: String,
    pub span: Span,
    pub label: String,
    /// Further spans (where a name was first bound, say).
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

/// All the problems of one file, kept with the file's name and text so they can be rendered.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostics {
    pub file_name: String,
    pub source: String,
    pub diagnostics: Vec<Diagnostic>,
}

impl Diagnostics {
    /// Sorted by position, so that the rendering reads top to bottom.
    pub fn new(file_name: &str, source: &str, mut diagnostics: Vec<Diagnostic>) -> Diagnostics {
        diagnostics.sort_by_key(|d| d.span.start);
        Diagnostics {
            file_name: file_name.to_string(),
            source: source.to_string(),
            diagnostics,
        }
    }

    pub fn len(&self) -> usize {
        self.diagnostics.len()
    }

    pub fn is_empty(&self) -> bool {
        self.diagnostics.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.diagnostics.iter()
    }

    /// Every diagnostic, each as `error: message`, `┌─ file:line:col`, the line and a caret.
    pub fn render(&self) -> String {
        let file = SimpleFile::new(self.file_name.as_str(), self.source.as_str());
        let config = Config::default();
        let len = self.source.len();
        // A span past the end (or inside a UTF-8 character) would make codespan refuse to render.
        let fix = |s: Span| {
            let mut start = s.start.min(len);
            while !self.source.is_char_boundary(start) {
                start -= 1;
            }
            let mut end = s.end.clamp(start, len);
            while !self.source.is_char_boundary(end) {
                end += 1;
            }
            start..end
        };
        let mut out = String::new();
        for d in &self.diagnostics {
            // On an over-long line, a window around the span instead of the whole line.
            if let Some(w) = Window::new(&self.file_name, &self.source, fix(d.span)) {
                let primary = fix(d.span);
                let span = Span::new(primary.start, primary.end);
                let mut labels = vec![];
                labels.extend(
                    w.map(span)
                        .map(|r| Label::primary((), r).with_message(&d.label)),
                );
                labels.extend(d.secondary.iter().filter_map(|(s, m)| {
                    let r = fix(*s);
                    w.map(Span::new(r.start, r.end))
                        .map(|r| Label::secondary((), r).with_message(m))
                }));
                let cs = CsDiagnostic::error()
                    .with_message(&d.message)
                    .with_labels(labels)
                    .with_notes(d.notes.clone());
                match term::emit_into_string(&config, &w, &cs) {
                    Ok(s) => out.push_str(&s),
                    Err(_) => out.push_str(&format!("error: {}\n", d.message)),
                }
                continue;
            }
            let mut labels = vec![Label::primary((), fix(d.span)).with_message(&d.label)];
            labels.extend(
                d.secondary
                    .iter()
                    .map(|(s, m)| Label::secondary((), fix(*s)).with_message(m)),
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
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.render().trim_end())
    }
}

impl std::error::Error for Diagnostics {}
