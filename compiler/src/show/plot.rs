//! The report page's charts as inline SVG text: a horizontal bar chart of per-layer SQNR and a
//! small histogram of one tensor's calibration values with its chosen range marked. Written by
//! hand rather than with a plotting crate: two chart kinds of a few dozen lines each, whose
//! bytes depend only on the data (numbers rounded to one decimal), with no fonts to load.

use super::svg::{escape, sqnr_colour};
use crate::quant::histogram::Histogram;
use std::fmt::Write;

/// A number for an axis or a label: three significant decimals, exponent form outside
/// `[0.01, 1000)`.
pub fn num(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 {
        "0".into()
    } else if !(0.01..1000.0).contains(&a) {
        format!("{v:.2e}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// One bar of the SQNR chart.
pub struct SqnrBar {
    pub label: String,
    /// `inf` when the layer is exact.
    pub db: f64,
}

/// Row height of the SQNR chart.
const ROW: f64 = 15.0;
/// Monospace advance at 11 px.
const CHAR_W: f64 = 6.7;

/// The SQNR of each layer as a horizontal bar, in the order given (the model's), coloured as
/// `qcc show --color sqnr` colours boxes; the scale runs from 0 to 50 dB (or the largest
/// finite value), an exact layer's bar runs to the end.
pub fn sqnr_chart(bars: &[SqnrBar]) -> String {
    let label_w = bars
        .iter()
        .map(|b| b.label.chars().count())
        .max()
        .unwrap_or(0) as f64
        * CHAR_W
        + 12.0;
    let plot_w = 480.0;
    let top = 22.0;
    let max_db = bars
        .iter()
        .map(|b| b.db)
        .filter(|d| d.is_finite())
        .fold(50.0f64, f64::max);
    let max_db = (max_db / 10.0).ceil() * 10.0;
    let width = label_w + plot_w + 70.0;
    let height = top + ROW * bars.len() as f64 + 8.0;
    let x_of = |db: f64| label_w + plot_w * (db.clamp(0.0, max_db) / max_db);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg class=\"plot\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.1}\" height=\"{height:.1}\" viewBox=\"0 0 {width:.1} {height:.1}\">"
    );
    // The dB grid: a line and a label every 10 dB.
    let mut db = 0.0;
    while db <= max_db {
        let x = x_of(db);
        let _ = writeln!(
            s,
            "<line class=\"grid\" x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\"/><text class=\"axis\" x=\"{x:.1}\" y=\"14\" text-anchor=\"middle\">{db:.0} dB</text>",
            top - 4.0,
            height - 4.0
        );
        db += 10.0;
    }
    for (i, b) in bars.iter().enumerate() {
        let y = top + ROW * i as f64;
        let (end, value, fill) = if b.db.is_finite() {
            (x_of(b.db), format!("{:.1}", b.db), sqnr_colour(b.db))
        } else {
            (x_of(max_db), "exact".to_string(), sqnr_colour(f64::MAX))
        };
        let _ = writeln!(
            s,
            "<g class=\"bar\"><title>{} {value} dB</title><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text><rect x=\"{label_w:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" style=\"fill:{fill}\"/><text x=\"{:.1}\" y=\"{:.1}\">{value}</text></g>",
            escape(&b.label),
            label_w - 6.0,
            y + 11.0,
            escape(&b.label),
            y + 2.0,
            (end - label_w).max(0.5),
            ROW - 3.0,
            end + 4.0,
            y + 11.0
        );
    }
    s.push_str("</svg>\n");
    s
}

/// Bars of a tensor histogram.
const BARS: usize = 48;
const HIST_W: f64 = 300.0;
const HIST_H: f64 = 130.0;

/// One tensor's calibration histogram, rebinned to [`BARS`] bars over the span of its values
/// and its chosen range, heights on a log scale (activations are peaky: a ReLU's output is
/// mostly zeros), the range chosen for it drawn as two dashed lines with what lies outside
/// shaded, and the share of values it clips.
pub fn histogram(name: &str, op: &str, hist: &Histogram, chosen: Option<(f32, f32)>) -> String {
    let (min, max) = hist.min_max();
    let (lo, hi) = chosen.unwrap_or((min, max));
    let (mut x0, mut x1) = (min.min(lo) as f64, max.max(hi) as f64);
    if x1 - x0 <= 0.0 {
        // A constant tensor: some width, so it is a bar and not a division by zero.
        let pad = x0.abs().max(1.0) * 0.5;
        x0 -= pad;
        x1 += pad;
    }
    let mut counts = [0u64; BARS];
    let mut clipped = 0u64;
    let bar_of = |v: f64| (((v - x0) / (x1 - x0) * BARS as f64).floor() as usize).min(BARS - 1);
    if let Some(sg) = hist.signed() {
        for (k, &c) in sg.counts.iter().enumerate() {
            if c == 0 {
                continue;
            }
            // A fine bin is drawn at its centre, clamped to the data it holds.
            let v = ((k as f64 - sg.zero as f64 + 0.5) * sg.width).clamp(min as f64, max as f64);
            counts[bar_of(v)] += c;
            if v < lo as f64 || v > hi as f64 {
                clipped += c;
            }
        }
        if sg.zeros > 0 {
            counts[bar_of(0.0)] += sg.zeros;
        }
    } else {
        // No value but zeros (a tensor a ReLU zeroed on every sample).
        counts[bar_of(0.0)] += hist.count();
    }
    let total = hist.count().max(1);
    let peak = counts.iter().copied().max().unwrap_or(0).max(1);
    let (left, right, top, bottom) = (8.0, HIST_W - 8.0, 34.0, HIST_H - 30.0);
    let x_of = |v: f64| left + (right - left) * (v - x0) / (x1 - x0);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg class=\"plot hist\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{HIST_W:.0}\" height=\"{HIST_H:.0}\" viewBox=\"0 0 {HIST_W:.0} {HIST_H:.0}\">"
    );
    let _ = writeln!(
        s,
        "<title>%{} ({}): {} values in [{}, {}], range chosen [{}, {}]</title>",
        escape(name),
        escape(op),
        hist.count(),
        num(min as f64),
        num(max as f64),
        num(lo as f64),
        num(hi as f64)
    );
    let _ = writeln!(
        s,
        "<text x=\"{left:.1}\" y=\"13\" class=\"name\">%{}</text><text x=\"{left:.1}\" y=\"26\" class=\"axis\">{}, clips {:.3}% of values</text>",
        escape(name),
        escape(op),
        100.0 * clipped as f64 / total as f64
    );
    // What the chosen range clips, shaded.
    let (cl, ch) = (x_of(lo as f64), x_of(hi as f64));
    if cl > left {
        let _ = writeln!(
            s,
            "<rect class=\"clipped\" x=\"{left:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{:.1}\"/>",
            cl - left,
            bottom - top
        );
    }
    if ch < right {
        let _ = writeln!(
            s,
            "<rect class=\"clipped\" x=\"{ch:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{:.1}\"/>",
            right - ch,
            bottom - top
        );
    }
    let bar_w = (right - left) / BARS as f64;
    let log_peak = (peak as f64 + 1.0).ln();
    for (i, &c) in counts.iter().enumerate() {
        if c == 0 {
            continue;
        }
        let h = ((c as f64 + 1.0).ln() / log_peak * (bottom - top)).max(1.0);
        let _ = writeln!(
            s,
            "<rect class=\"count\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\"/>",
            left + bar_w * i as f64,
            bottom - h,
            bar_w
        );
    }
    let _ = writeln!(
        s,
        "<line class=\"base\" x1=\"{left:.1}\" y1=\"{bottom:.1}\" x2=\"{right:.1}\" y2=\"{bottom:.1}\"/>"
    );
    for x in [cl, ch] {
        let _ = writeln!(
            s,
            "<line class=\"clip\" x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{bottom:.1}\"/>",
            top - 2.0
        );
    }
    let _ = writeln!(
        s,
        "<text class=\"axis\" x=\"{left:.1}\" y=\"{:.1}\">{}</text><text class=\"axis\" x=\"{right:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
        bottom + 12.0,
        num(x0),
        bottom + 12.0,
        num(x1)
    );
    let _ = writeln!(
        s,
        "<text class=\"axis chosen\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">chosen [{}, {}]</text>",
        (left + right) / 2.0,
        bottom + 25.0,
        num(lo as f64),
        num(hi as f64)
    );
    s.push_str("</svg>\n");
    s
}
