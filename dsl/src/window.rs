//! A window onto one over-long source line, for rendering a diagnostic on it: codespan prints the
//! whole line and one caret per byte of the span, so a 50 MB line (a minified or generated
//! file) would print 50 MB of text and more of carets. The window keeps a short excerpt around
//! the span while `file:line:col` still names the place in the real file.

use crate::ast::Span;
use codespan_reporting::files::{Error, Files};
use std::ops::Range;

/// Lines up to this many bytes are shown whole.
pub const LONG_LINE: usize = 240;
/// Bytes of context kept before the span's start, and of the span and after it.
const BEFORE: usize = 60;
const AFTER: usize = 120;
const ELLIPSIS: &str = "…";

pub struct Window<'s> {
    name: &'s str,
    /// The excerpt, with an ellipsis wherever the real line goes on.
    text: String,
    line_number: usize,
    /// Characters of the real line before the excerpt.
    col_before: usize,
    /// Bytes of `text` before the excerpt (the leading ellipsis, if any).
    prefix: usize,
    /// The excerpt's byte range in the real source.
    range: Range<usize>,
}

fn floor(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl<'s> Window<'s> {
    /// A window when `span` (already within `source`, on character boundaries) lies on a line
    /// longer than [`LONG_LINE`] or is itself longer; `None` when the whole line can be shown.
    pub fn new(name: &'s str, source: &str, span: Range<usize>) -> Option<Window<'s>> {
        let line_start = source[..span.start].rfind('\n').map_or(0, |p| p + 1);
        let line_end = source[span.start..]
            .find('\n')
            .map_or(source.len(), |p| span.start + p);
        if line_end - line_start <= LONG_LINE && span.end - span.start <= LONG_LINE {
            return None;
        }
        let start = floor(source, span.start.saturating_sub(BEFORE).max(line_start));
        let end = floor(source, (span.start + AFTER).min(line_end));
        let mut text = String::new();
        if start > line_start {
            text.push_str(ELLIPSIS);
        }
        let prefix = text.len();
        text.push_str(&source[start..end]);
        if end < line_end {
            text.push_str(ELLIPSIS);
        }
        Some(Window {
            name,
            text,
            line_number: source[..line_start].matches('\n').count() + 1,
            col_before: source[line_start..start].chars().count(),
            prefix,
            range: start..end,
        })
    }

    /// `span` in the window's text, cut to the excerpt; `None` when it lies outside.
    pub fn map(&self, span: Span) -> Option<Range<usize>> {
        let (s, e) = (
            span.start.max(self.range.start),
            span.end.min(self.range.end),
        );
        if span.start > self.range.end || span.end < self.range.start || s > e {
            return None;
        }
        let at = |i: usize| i - self.range.start + self.prefix;
        Some(at(s)..at(e))
    }
}

impl<'a> Files<'a> for Window<'_> {
    type FileId = ();
    type Name = &'a str;
    type Source = &'a str;

    fn name(&'a self, (): ()) -> Result<&'a str, Error> {
        Ok(self.name)
    }
    fn source(&'a self, (): ()) -> Result<&'a str, Error> {
        Ok(&self.text)
    }
    fn line_index(&'a self, (): (), _byte_index: usize) -> Result<usize, Error> {
        Ok(0)
    }
    fn line_number(&'a self, (): (), _line_index: usize) -> Result<usize, Error> {
        Ok(self.line_number)
    }
    fn column_number(&'a self, (): (), _line: usize, byte_index: usize) -> Result<usize, Error> {
        let b = byte_index.clamp(self.prefix, self.text.len());
        let inside = self
            .text
            .get(self.prefix..b)
            .map_or(0, |s| s.chars().count());
        Ok(self.col_before + inside + 1)
    }
    fn line_range(&'a self, (): (), line_index: usize) -> Result<Range<usize>, Error> {
        match line_index {
            0 => Ok(0..self.text.len()),
            _ => Err(Error::LineTooLarge {
                given: line_index,
                max: 0,
            }),
        }
    }
}
